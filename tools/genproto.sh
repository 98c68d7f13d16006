#!/usr/bin/env bash
# Generates the Python protobuf/gRPC stubs of proto/obzvon/v1 into the shared library
# (lib/obzvon/src/obzvon/v1, git-ignored). Run by deploy/local/setup.sh and by every service's
# Dockerfile; never edit the output. PROTOC_PYTHON: a Python with grpcio-tools and mypy-protobuf
# (default: the checkout's .venv).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/lib/obzvon/src
mkdir -p "$OUT/obzvon/v1"
cd "$ROOT/proto"
PY=${PROTOC_PYTHON:-$ROOT/.venv/bin/python}
# protoc finds its plugin protoc-gen-mypy beside that Python
PATH="$(dirname "$PY"):$PATH" "$PY" -m grpc_tools.protoc -I . \
  --python_out="$OUT" --grpc_python_out="$OUT" --mypy_out="$OUT" --mypy_grpc_out="$OUT" \
  obzvon/v1/*.proto
touch "$OUT/obzvon/v1/__init__.py"
