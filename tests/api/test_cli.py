"""The `obzvon` command line against a real scheduler: happy path and a bad CSV row named in the message."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import grpc
from obzvon_devstack.devstack import DevStack, bin_path

SCRIPT = Path(__file__).resolve().parents[2] / "deploy/local/demo/clinic-reminder.yaml"


def obzvon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bin_path("obzvon"), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_cli_creates_and_reports_bad_rows_by_line(scheduler: grpc.Channel, devstack: DevStack, tmp_path: Path) -> None:
    env = {"OBZVON_SCHEDULER_ADDR": devstack.scheduler_addr, "OBZVON_ADMIN_API_KEY": devstack.admin_api_key}
    tenant = obzvon(
        "tenant",
        "create",
        "--id",
        f"cli-{uuid.uuid4().hex[:6]}",
        "--name",
        "Клиника",
        "--caller-id",
        "+74950000000",
        env=env,
    )
    assert tenant.returncode == 0, tenant.stderr
    env["OBZVON_API_KEY"] = json.loads(tenant.stdout)["apiKey"]

    created = obzvon(
        "campaign",
        "create",
        "--id",
        "reminders",
        "--script",
        str(SCRIPT),
        "--caller-id",
        "+74950000000",
        "--trunk",
        "127.0.0.1:5070",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["state"] == "CAMPAIGN_STATE_DRAFT"
    assert json.loads(created.stdout)["trunk"] == {
        "host": "127.0.0.1",
        "port": 5070,
        "transport": "TRUNK_TRANSPORT_UDP",
        "numberFormat": "TRUNK_NUMBER_FORMAT_E164_NO_PLUS",
    }

    csv = tmp_path / "contacts.csv"
    csv.write_text("phone,name,time\n+74951234567,Анна,10:30\n+7 (495) ЖЖЖ,Борис,11:00\n", encoding="utf-8")
    bad = obzvon("contacts", "import", "--campaign", "reminders", str(csv), env=env)
    assert bad.returncode == 2
    assert "row 2 (line 3 of the file), field phone_number" in bad.stderr

    csv.write_text("phone,name,time\n+74951234567,Анна,10:30\n", encoding="utf-8")
    good = obzvon("contacts", "import", "--campaign", "reminders", str(csv), env=env)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["imported"] == "1"

    no_phone = tmp_path / "nophone.csv"
    no_phone.write_text("tel,name\n1,2\n", encoding="utf-8")
    missing = obzvon("contacts", "import", "--campaign", "reminders", str(no_phone), env=env)
    assert missing.returncode == 2 and "must have a 'phone' column" in missing.stderr
