#!/usr/bin/env bash
# Starts (or stops) the 3-node JetStream cluster of deploy/nats/cluster-*.conf on loopback, with
# stores under ./data/cluster/n<i>. Waits until JetStream has a meta leader. Clients and routes
# log in (deploy/nats/ROLES.md): passwords are generated once into ./data/cluster/auth/*.pw (0600).
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
      pid=$(cat "$pidf")
      kill "$pid"
      # Wait until it has exited (and freed its ports), so a start right after works.
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
      echo "stopped node $i"
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
auth="$dir/auth"
mkdir -p "$auth" && chmod 700 "$auth"
for role in framelog dashboard route; do
  if [ ! -s "$auth/$role.pw" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$auth/$role.pw")
  fi
  chmod 600 "$auth/$role.pw"
done
route_pw=$(cat "$auth/route.pw")
# Only the nats-server processes get the passwords, in their environment.
export FRAMELOG_NATS_PASSWORD FRAMELOG_NATS_DASHBOARD_PASSWORD FRAMELOG_NATS_ROUTE_PASSWORD
FRAMELOG_NATS_PASSWORD=$(cat "$auth/framelog.pw")
FRAMELOG_NATS_DASHBOARD_PASSWORD=$(cat "$auth/dashboard.pw")
FRAMELOG_NATS_ROUTE_PASSWORD=$route_pw
for i in 1 2 3; do
  export "FRAMELOG_NATS_ROUTE_$i=nats-route://route:$route_pw@127.0.0.1:$((6221 + i))"
done
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
    echo "  Run: FRAMELOG_NATS_URL=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224 FRAMELOG_REPLICAS=3 \\"
    echo "       FRAMELOG_NATS_USER=framelog FRAMELOG_NATS_PASSWORD_FILE=$auth/framelog.pw framelog serve"
    exit 0
  fi
  sleep 0.2
done
echo "cluster did not elect a JetStream meta leader in 20 s; see $dir/n*.log" >&2
exit 1
