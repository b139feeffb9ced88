#!/usr/bin/env bash
# Starts (or stops) the 3-node JetStream cluster of deploy/nats/cluster-*.conf on loopback, with
# stores under ./data/cluster/n<i>. Waits until JetStream has a meta leader.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
nats_server="$root/.tools/bin/nats-server"
dir="$root/data/cluster"
cmd=${1:-start}

stop() {
  for i in 1 2 3; do
    pidf="$dir/n$i.pid"
    if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
      kill "$(cat "$pidf")" && echo "stopped node $i"
    fi
    rm -f "$pidf"
  done
}

case $cmd in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

mkdir -p "$dir"
for i in 1 2 3; do
  pidf="$dir/n$i.pid"
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    echo "node $i already running (pid $(cat "$pidf"))"; continue
  fi
  mkdir -p "$dir/n$i"
  "$nats_server" -c "deploy/nats/cluster-$i.conf" -sd "$dir/n$i" >"$dir/n$i.log" 2>&1 &
  echo $! >"$pidf"
done
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:8222/jsz" 2>/dev/null | grep -q '"meta_cluster"' \
     && curl -fsS "http://127.0.0.1:8222/jsz" | python3 -c 'import json,sys; c=json.load(sys.stdin).get("meta_cluster",{}); sys.exit(0 if c.get("leader") and c.get("cluster_size")==3 else 1)'; then
    echo "3-node JetStream cluster ready (logs in $dir)."
    echo "  NATS URLs: nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
    echo "  Run: FRAMELOG_NATS_URL=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224 FRAMELOG_REPLICAS=3 framelog serve"
    exit 0
  fi
  sleep 0.2
done
echo "cluster did not elect a JetStream meta leader in 20 s; see $dir/n*.log" >&2
exit 1
