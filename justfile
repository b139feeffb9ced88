# Framelog tasks. `./just <recipe>` installs what is missing first; `just <recipe>` works too
# once .tools/bin is set up (recipes put it on PATH themselves).

export PATH := justfile_directory() / ".tools/bin" + ":" + env_var('PATH')

# List the recipes.
default:
    @just --list

# Install what is missing (apt packages, nats-server, just). Idempotent.
bootstrap *args:
    deploy/bootstrap.sh {{args}}

# Run the whole platform on this machine: NATS JetStream + every service, URLs printed.
up: (bootstrap "--with-browser")
    deploy/up.sh

# Run every test: Rust unit and integration tests (real nats-server, ffmpeg, nginx-rtmp,
# tuspy), then the web UI's unit tests and its end-to-end tests in headless Chromium against a
# real framelog serve.
test: (bootstrap "--with-browser")
    cargo test --workspace --locked
    cargo build --locked -p framelog
    deploy/web.sh test

# The fault suite: NATS down mid-upload, cluster node killed under load, projection and
# transcoder killed with SIGKILL, disk full, unwritable media root (each asserts nothing is lost).
faults: bootstrap
    cargo test --workspace --locked -- fault_ killed --test-threads 2

# A 10-minute mixed soak (uploads, transcodes, views, SSE) against the release binary;
# FRAMELOG_SOAK_SECS shortens or lengthens it.
soak: bootstrap
    cargo build --release --locked -p framelog
    cargo bench --locked -p framelog-tests --bench soak

# A multi-machine topology on loopback: 3 NATS nodes, SeaweedFS (S3), nginx round robin (no
# affinity) over 2 ingest+playback processes, 2 transcoders, projection+live; URLs printed.
# FRAMELOG_BIN=target/debug/framelog skips the release build. `just cluster-down` stops it.
cluster: bootstrap
    deploy/cluster-full.sh start

# Stop everything `just cluster` started (idempotent).
cluster-down:
    deploy/cluster-full.sh stop

# Which processes of `just cluster` run.
cluster-status:
    deploy/cluster-full.sh status

# Only the 3-node JetStream cluster on loopback (ports 4222-4224); `just cluster-nats-stop`.
cluster-nats: bootstrap
    deploy/cluster.sh start

# Stop the NATS-only cluster.
cluster-nats-stop:
    deploy/cluster.sh stop

# Run benchmarks (release): `just bench` for all, or `just bench upload` ...
bench *names: bootstrap
    deploy/bench.sh {{names}}

# Release build of the framelog binary.
build:
    cargo build --release --locked -p framelog

# Format and lint.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
