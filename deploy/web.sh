#!/usr/bin/env bash
# Builds and tests the web UI. `deploy/web.sh build`: install packages (when the lock file
# changed) and build web/dist. `deploy/web.sh test`: that, plus the Vitest unit tests and the
# end-to-end tests in headless Chromium (they start nats-server and target/debug/framelog).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
web="$root/web"
export PATH="$root/.tools/bin:$PATH"

install() {
  # npm ci only when node_modules is missing or older than the lock file.
  if [ ! -d "$web/node_modules" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    npm --prefix "$web" ci --no-audit --no-fund
  fi
}

case "${1:-build}" in
  build)
    install
    npm --prefix "$web" run build
    ;;
  test)
    install
    npm --prefix "$web" test
    npm --prefix "$web" run build
    npm --prefix "$web" run e2e
    ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
