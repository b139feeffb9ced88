#!/usr/bin/env bash
# `just cluster` / `just cluster-down`: a multi-machine topology on one machine (loopback):
#   - 3 NATS nodes, one JetStream cluster (deploy/cluster.sh: ports 4222-4224, the roles and
#     passwords of deploy/nats/ROLES.md), every stream and bucket with 3 replicas;
#   - SeaweedFS (`weed server -s3`), the S3 media store, bucket `framelog`;
#   - framelog processes in roles, all `--media-store s3`, no shared disk:
#       ingest-1, ingest-2   --only ingest,playback   behind nginx round robin, no affinity
#       transcoder-1, -2     --only transcoder        (one job each: keeps 2 cores usable)
#       projection           --only projection,live   (query API, SSE, live API, web UI)
#   - nginx on 127.0.0.1:8150 routing each path to the role that serves it.
# State (logs, pids, data dirs, rendered configs) under $FRAMELOG_CLUSTER_DIR (default
# ./data/cluster-full); NATS under ./data/cluster. `stop` is idempotent; `status` lists pids.
# FRAMELOG_BIN picks the binary (default: build the release binary). FRAMELOG_CLUSTER_MEDIA=nats
# runs the same topology on the JetStream Object Store instead of SeaweedFS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
state="${FRAMELOG_CLUSTER_DIR:-$root/data/cluster-full}"
cmd=${1:-start}
lb_port=${FRAMELOG_CLUSTER_PORT:-8150}
# SeaweedFS listeners: master, volume, filer, S3 at base+0..3, their gRPC ports at +10000.
weed_base=${FRAMELOG_CLUSTER_WEED_BASE:-17300}
s3_port=$((weed_base + 3))
media=${FRAMELOG_CLUSTER_MEDIA:-s3}
# name:port:roles, in start order (the transcoders and projection need nothing from ingest).
procs=(
  "projection:8171:projection,live"
  "ingest-1:8151:ingest,playback"
  "ingest-2:8152:ingest,playback"
  "transcoder-1:8161:transcoder"
  "transcoder-2:8162:transcoder"
)

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stops the process in pid file $1: SIGTERM, SIGKILL after $2 seconds.
stop_pid() {
  local pidf=$1 grace=$2 name
  name=$(basename "$pidf" .pid)
  if alive "$pidf"; then
    local pid
    pid=$(cat "$pidf")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((grace * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      echo "killed $name (pid $pid) after ${grace}s"
    else
      echo "stopped $name"
    fi
  fi
  rm -f "$pidf"
}

stop() {
  stop_pid "$state/pids/nginx.pid" 5
  for p in "${procs[@]}"; do stop_pid "$state/pids/${p%%:*}.pid" 15; done
  # weed takes more than 8 s to stop on SIGTERM (STACK.md): give it 5, then SIGKILL.
  stop_pid "$state/pids/seaweedfs.pid" 5
  deploy/cluster.sh stop
}

status() {
  for f in "$state"/pids/*.pid; do
    [ -e "$f" ] || continue
    if alive "$f"; then echo "$(basename "$f" .pid): running (pid $(cat "$f"))"
    else echo "$(basename "$f" .pid): not running"; fi
  done
}

case $cmd in
  stop|down) stop; exit 0 ;;
  status) status; exit 0 ;;
  start|up) ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

wait_http() { # url seconds what
  for _ in $(seq 1 $(($2 * 5))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$3 did not answer $1 within $2 s" >&2
  return 1
}

mkdir -p "$state/pids" "$state/logs"
deploy/cluster.sh start >/dev/null
# After a restart the R3 streams elect leaders again: wait until every node reports its
# JetStream assets current (/healthz 200), or the first `serve` times out declaring them.
for p in 8222 8223 8224; do wait_http "http://127.0.0.1:$p/healthz" 60 "NATS node :$p"; done
auth="$root/data/cluster/auth"
nats_urls="nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"

if [ -n "${FRAMELOG_BIN:-}" ]; then
  bin=$FRAMELOG_BIN
else
  echo "[cluster] building framelog (release)..."
  cargo build --release --locked -p framelog
  bin="$root/target/release/framelog"
fi

# --- SeaweedFS: master, volume, filer and S3 gateway in one process, loopback only -----------
if [ "$media" = s3 ] && ! alive "$state/pids/seaweedfs.pid"; then
  mkdir -p "$state/seaweedfs"
  weed server -dir="$state/seaweedfs" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port=$weed_base -master.port.grpc=$((weed_base + 10000)) \
    -volume.port=$((weed_base + 1)) -volume.port.grpc=$((weed_base + 10001)) \
    -filer.port=$((weed_base + 2)) -filer.port.grpc=$((weed_base + 10002)) \
    -s3 -s3.port=$s3_port -s3.port.grpc=$((weed_base + 10003)) \
    -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false \
    -master.volumeSizeLimitMB=256 -volume.max=0 -volume.preStopSeconds=0 \
    >"$state/logs/seaweedfs.log" 2>&1 &
  echo $! >"$state/pids/seaweedfs.pid"
fi
if [ "$media" = s3 ]; then
  # Ready once the gateway answers at all (403/404 included); framelog creates the bucket.
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3_port/" || true)
    [ "$code" != 000 ] && break
    sleep 0.2
  done
  [ "$code" != 000 ] || { echo "SeaweedFS S3 did not start; see $state/logs/seaweedfs.log" >&2; exit 1; }
fi

# --- framelog processes: the same binary and settings, different --only ------------------
export FRAMELOG_NATS_URL=$nats_urls FRAMELOG_REPLICAS=3
export FRAMELOG_NATS_USER=framelog FRAMELOG_NATS_PASSWORD_FILE="$auth/framelog.pw"
export FRAMELOG_TRANSCODE_ENCODER=libx264   # no GPU here: skip the hardware trial encodes
export RUST_LOG=${RUST_LOG:-info}
# One HMAC master key for every process (playback tokens signed by the projection are checked
# by playback; stream keys): the first process generates it (0600), the others read it.
export FRAMELOG_SECRET_FILE="$state/secret.key"
media_args=(--media-store nats)
if [ "$media" = s3 ]; then
  # SeaweedFS accepts any credentials while S3 auth is not configured; these are placeholders.
  export AWS_ACCESS_KEY_ID=framelog-dev AWS_SECRET_ACCESS_KEY=framelog-dev-secret
  media_args=(--media-store s3 --s3-endpoint "http://127.0.0.1:$s3_port" --s3-bucket framelog
    --s3-region us-east-1 --s3-path-style --s3-create-bucket)
fi

if [ ! -s "$state/dev-tenant.json" ]; then
  # Right after an election a node may not take R3 placements yet ("peer offline"): retry.
  for i in $(seq 1 30); do
    (umask 077; "$bin" tenant create dev --json >"$state/dev-tenant.json.tmp" 2>"$state/logs/tenant.log") && break
    [ "$i" -lt 30 ] || { tail -3 "$state/logs/tenant.log" >&2; exit 1; }
    sleep 1
  done
  mv "$state/dev-tenant.json.tmp" "$state/dev-tenant.json"
fi
chmod 600 "$state/dev-tenant.json"
key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_key"])' "$state/dev-tenant.json")

for p in "${procs[@]}"; do
  IFS=: read -r name port roles <<<"$p"
  pidf="$state/pids/$name.pid"
  if alive "$pidf"; then echo "$name already running (pid $(cat "$pidf"))"; continue; fi
  extra=()
  case $roles in
    transcoder) extra=(--transcode-concurrency 1 --transcode-item-slots 1 --transcode-worker-name "$name") ;;
    projection*) extra=(--web-dir "$root/web/dist") ;;
    # nginx on loopback is the proxy whose X-Forwarded-For names the viewer; a modest cache.
    ingest*) extra=(--playback-trusted-proxies 127.0.0.1 --playback-cache-mb 64 --playback-instance-id "$name") ;;
  esac
  mkdir -p "$state/$name"
  # One at a time: the first start declares the topology; later ones find it. A start that
  # exits early (NATS still electing) is tried again.
  for attempt in 1 2 3; do
    "$bin" serve --only "$roles" --listen "127.0.0.1:$port" --data-dir "$state/$name" \
      "${media_args[@]}" "${extra[@]}" >"$state/logs/$name.out" 2>>"$state/logs/$name.log" &
    echo $! >"$pidf"
    for _ in $(seq 1 300); do
      curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
      alive "$pidf" || break
      sleep 0.2
    done
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
    stop_pid "$pidf" 5 >/dev/null
    if [ "$attempt" = 3 ]; then
      echo "$name did not become ready; see $state/logs/$name.log:" >&2
      tail -5 "$state/logs/$name.log" >&2
      exit 1
    fi
    echo "$name did not start (attempt $attempt); retrying" >&2
  done
done

# --- nginx: one entry point, round robin over the ingest/playback replicas -------------------
mkdir -p "$state/nginx"
sed -e "s#@STATE@#$state/nginx#g" -e "s#@PORT@#$lb_port#g" deploy/nginx/cluster.conf.in \
  >"$state/nginx/nginx.conf"
if ! alive "$state/pids/nginx.pid"; then
  nginx -e "$state/nginx/error.log" -p "$state/nginx" -c "$state/nginx/nginx.conf" >"$state/logs/nginx.log" 2>&1 &
  echo $! >"$state/pids/nginx.pid"
fi
wait_http "http://127.0.0.1:$lb_port/healthz" 10 nginx

cat <<TXT

  Framelog cluster is up (state, logs and pids in $state).
    Entry point (nginx)  http://127.0.0.1:$lb_port/   API, web UI, uploads, HLS
    ingest + playback    http://127.0.0.1:8151/  http://127.0.0.1:8152/   (round robin, no affinity)
    transcoders          http://127.0.0.1:8161/readyz  http://127.0.0.1:8162/readyz
    projection + live    http://127.0.0.1:8171/   (query API, SSE, live API, web UI)
    NATS                 $nats_urls   monitoring http://127.0.0.1:8222/
                         (user framelog, password in $auth/framelog.pw)
TXT
if [ "$media" = s3 ]; then
  echo "    SeaweedFS S3         http://127.0.0.1:$s3_port/   bucket framelog (path-style)"
fi
cat <<TXT
    Dev tenant           dev, API key $key
                         (kept in $state/dev-tenant.json)
  Stop it with: just cluster-down
TXT
