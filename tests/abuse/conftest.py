"""The hostile-tenant suite: the public API only, through the same scheduler process and tenants as tests/api."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# tests/ is not a package: load the API suite's conftest by path and re-export its fixtures, so both
# suites start the scheduler and create tenants the same way.
_spec = importlib.util.spec_from_file_location(
    "obzvon_tests_api_conftest", Path(__file__).parents[1] / "api" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api)

Metadata = _api.Metadata
scheduler = _api.scheduler
new_tenant = _api.new_tenant
