#!/usr/bin/env bash
# Installs everything Obzvon needs on a fresh Debian machine, idempotently:
# Debian packages (servers, SIP peers, voices), the Python environment in .venv/, generated protobuf stubs.
# `setup.sh demo` leaves out what only the test suite needs (buf, kustomize, kubeconform: minutes to build).
set -euo pipefail
PURPOSE=${1:-test}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
log() { printf '[setup] %s\n' "$*" >&2; }

APT_PACKAGES=(redis-server sip-tester baresip-core espeak-ng festival festvox-ru festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k flite sox tshark maven default-jre-headless chromium-headless-shell)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  # java and mvn may come with the machine rather than from Debian
  if command -v java >/dev/null; then missing=("${missing[@]/default-jre-headless}"); fi
  if command -v mvn >/dev/null; then missing=("${missing[@]/maven}"); fi
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sed '/^$/d')
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.obzvon-installed
reqs=$(cat lib/obzvon/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml requirements-dev.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$reqs" ]; then
  log "pip install (editable: lib/obzvon, services/*, tools/*)"
  .venv/bin/pip install -q -U pip wheel setuptools >/dev/null
  editable=(-e lib/obzvon)
  for d in services/*/ tools/*/; do [ -f "$d/pyproject.toml" ] && editable+=(-e "$d"); done
  .venv/bin/pip install -q -r requirements-dev.txt "${editable[@]}"
  echo "$reqs" > "$stamp"
fi

tools/genproto.sh
# buf, kustomize, kubeconform (Go module proxy) and offline Kubernetes schemas, for tests/deploy
if [ "$PURPOSE" != demo ]; then tools/k8s-tools.sh >/dev/null; fi
log "ready: .venv/ ($(.venv/bin/python --version))"
