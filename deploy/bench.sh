#!/usr/bin/env bash
# `just bench [name...]`: runs the named benchmarks (default: all) in release mode. Each bench
# compares against a baseline in the same run, prints its own details, and one line per
# measure `TABLE|measure|ours|baseline|ratio|goal`; the summary at the end is one table of them.
# Arguments after `--` (or in FRAMELOG_BENCH_ARGS) go to every named bench, e.g.
# `deploy/bench.sh parallel -- --quick` or `FRAMELOG_BENCH_ARGS="--only workers" just bench parallel`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"

declare -A benches=(
  [upload]="-p framelog-ingest --bench upload"
  [projection]="-p framelog-projection --bench projection"
  [hls]="-p framelog-playback --bench hls"
  [auth]="-p framelog-live --bench auth"
  [ladder]="-p framelog-transcoder --bench ladder"
  [parallel]="-p framelog --bench parallel"
  [webhooks]="-p framelog-delivery --bench webhooks"
)
order=(upload ladder parallel projection hls auth webhooks)

# The upload bench's peers: @tus/server + tus-js-client (pinned by deploy/bench/tus-peer's lock
# file), boto3 (pinned) for the S3 baseline, and the release framelog binary the S3 row serves.
BOTO3_VERSION=1.44.5
prepare_upload() {
  local peer="$root/deploy/bench/tus-peer"
  if [ ! -d "$peer/node_modules" ] || [ "$peer/package-lock.json" -nt "$peer/node_modules/.package-lock.json" ]; then
    npm --prefix "$peer" ci --no-audit --no-fund
  fi
  "$root/.tools/venv/bin/pip" freeze 2>/dev/null | grep -qxi "boto3==$BOTO3_VERSION" ||
    "$root/.tools/venv/bin/pip" install --quiet "boto3==$BOTO3_VERSION"
  cargo build --release --locked -p framelog
  export FRAMELOG_BIN="$root/target/release/framelog"
}

want=()
extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then
    shift
    extra=("$@")
    break
  fi
  want+=("$1")
  shift
done
# shellcheck disable=SC2206
[ -n "${FRAMELOG_BENCH_ARGS:-}" ] && extra+=(${FRAMELOG_BENCH_ARGS})
[ ${#want[@]} -eq 0 ] || [ "${want[0]}" = "all" ] && want=("${order[@]}")
results=()
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for name in "${want[@]}"; do
  args=${benches[$name]:-}
  if [ -z "$args" ]; then
    echo "unknown bench '$name' (known: ${order[*]})" >&2
    exit 2
  fi
  echo "== bench $name =="
  [ "$name" = upload ] && prepare_upload
  # shellcheck disable=SC2086
  cargo bench --locked $args -- ${extra[@]+"${extra[@]}"} 2>/dev/null | tee "$tmp"
  while IFS= read -r line; do results+=("${line#TABLE}"); done < <(grep '^TABLE|' "$tmp" || true)
done
echo
echo "== summary =="
echo "| measure | ours | baseline | ratio | goal |"
echo "|---|---|---|---|---|"
for r in "${results[@]}"; do echo "${r}|"; done
