#!/usr/bin/env bash
# Generates the Python protobuf/gRPC stubs of proto/obzvon/v1 into the shared library
# (lib/obzvon/src/obzvon/v1, git-ignored). Run by deploy/local/setup.sh; never edit the output.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/lib/obzvon/src
mkdir -p "$OUT/obzvon/v1"
cd "$ROOT/proto"
PATH="$ROOT/.venv/bin:$PATH" "$ROOT/.venv/bin/python" -m grpc_tools.protoc -I . \
  --python_out="$OUT" --grpc_python_out="$OUT" --mypy_out="$OUT" --mypy_grpc_out="$OUT" \
  obzvon/v1/*.proto
touch "$OUT/obzvon/v1/__init__.py"
