#!/usr/bin/env bash
# `just up`: builds Framelog (release), starts a local single-node NATS JetStream (data under
# ./data/nats), creates a dev tenant on first run, prints the URLs, and runs `framelog serve` in
# the foreground. Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
data="${FRAMELOG_DATA_DIR:-$root/data}"
listen="${FRAMELOG_LISTEN:-127.0.0.1:8145}"
mkdir -p "$data/nats"

# NATS passwords (deploy/nats/ROLES.md): generated once into $data/nats-auth (0700, files 0600),
# never committed; nats-server gets them in its environment, framelog reads its own file.
auth="$data/nats-auth"
mkdir -p "$auth" && chmod 700 "$auth"
for role in framelog dashboard; do
  if [ ! -s "$auth/$role.pw" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$auth/$role.pw")
  fi
  chmod 600 "$auth/$role.pw"
done
nats_args=(--nats-user framelog --nats-password-file "$auth/framelog.pw")

echo "[up] building framelog (release)..."
cargo build --release --locked -p framelog
if command -v npm >/dev/null 2>&1; then
  echo "[up] building the web UI..."
  deploy/web.sh build
else
  echo "[up] npm not found: the web UI is not built (deploy/bootstrap.sh --with-browser installs Node)" >&2
fi
bin="$root/target/release/framelog"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if curl -fsS http://127.0.0.1:8222/healthz >/dev/null 2>&1; then
  echo "[up] a NATS server already answers on 127.0.0.1:4222; using it"
else
  FRAMELOG_NATS_PASSWORD=$(cat "$auth/framelog.pw") \
  FRAMELOG_NATS_DASHBOARD_PASSWORD=$(cat "$auth/dashboard.pw") \
    nats-server -c deploy/nats/single.conf -sd "$data/nats" >"$data/nats.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:8222/healthz?js-enabled-only=true" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:8222/healthz?js-enabled-only=true" >/dev/null \
    || { echo "[up] nats-server did not start; see $data/nats.log" >&2; exit 1; }
fi

# The webhook secret the media servers prove themselves with: made here, before nginx starts,
# where `framelog serve` looks for it (<data dir>/hook-secret; serve would make the same file).
hook_secret_file="$data/hook-secret"
if [ ! -s "$hook_secret_file" ]; then
  (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$hook_secret_file.tmp" \
    && mv "$hook_secret_file.tmp" "$hook_secret_file")
fi
hook_secret=$(tr -d ' \n' <"$hook_secret_file")

# nginx-rtmp for live ingest (RTMP 1935, control 8081), rendered from the shared template.
live="$data/live"
mkdir -p "$live/hls" "$live/recordings" "$live/tmp"
rtmp_port=${FRAMELOG_RTMP_PORT:-1935}
nginx_args=()
if (exec 3<>"/dev/tcp/127.0.0.1/$rtmp_port") 2>/dev/null; then
  echo "[up] port $rtmp_port is taken; not starting nginx-rtmp (live ingest needs it)" >&2
else
  # The rendered config carries the secret: private to this user.
  (umask 077 && sed -e "s#@DIR@#$live#g" -e "s#@RECORDINGS@#$live/recordings#g" \
      -e "s#@RTMP_PORT@#$rtmp_port#g" -e "s#@HTTP_PORT@#8081#g" \
      -e "s#@HOOK_SECRET@#$hook_secret#g" \
      -e "s#@HOOKS@#http://$listen/v1/hooks/nginx-rtmp#g" deploy/nginx/nginx-rtmp.conf.in >"$live/nginx.conf")
  nginx -p "$live" -c "$live/nginx.conf" >"$live/nginx.out" 2>&1 &
  pids+=($!)
  nginx_args=(--live-rtmp-url "rtmp://127.0.0.1:$rtmp_port/live" --live-nginx-control-url "http://127.0.0.1:8081/control")
fi

# The dev tenant's API key is a secret: the file is private (0600), also when it predates this.
if [ ! -s "$data/dev-tenant.json" ]; then
  (umask 077; "$bin" tenant create dev --json "${nats_args[@]}" >"$data/dev-tenant.json.tmp")
  mv "$data/dev-tenant.json.tmp" "$data/dev-tenant.json"
fi
chmod 600 "$data/dev-tenant.json"
key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_key"])' "$data/dev-tenant.json")

"$bin" serve --data-dir "$data" --listen "$listen" "${nats_args[@]}" "${nginx_args[@]}" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://$listen/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

cat <<TXT

  Framelog is up.
    API and web UI    http://$listen/
    Health            http://$listen/readyz   metrics http://$listen/metrics
    NATS              nats://127.0.0.1:4222   monitoring http://127.0.0.1:8222/
                      users framelog (all-in-one) and dashboard (read-only); passwords in
                      $auth/<user>.pw (see deploy/nats/ROLES.md)
    RTMP ingest       rtmp://127.0.0.1:$rtmp_port/live/<stream id>?key=<stream key>
    Dev tenant        dev
    Dev API key       $key
                      (kept in $data/dev-tenant.json; try:
                       curl -H "Authorization: Bearer $key" http://$listen/readyz)

  Ctrl-C stops everything.
TXT
wait "${pids[-1]}"
