//! Framelog's real-server test harness, shared by the end-to-end tests in `tests/tests/` and by
//! service crates (as a dev-dependency).
//!
//! - [`NatsServer`]: the real `nats-server -js` on a random loopback port with a temporary store
//!   directory; killed and removed on drop; can be stopped and restarted on the same port and
//!   store (for outage tests). It requires credentials ([`auth`]: the roles of
//!   `deploy/nats/ROLES.md` with fresh passwords); `url()` carries the `framelog` user's.
//! - [`SeaweedFs`]: a real SeaweedFS (`weed server -s3`) on free loopback ports with a temporary
//!   directory, for the S3 media store; stopped (SIGTERM, SIGKILL after 3 s) and restarted on the
//!   same ports and data for outage tests; killed and removed on drop.
//! - [`TestApp`]: an axum router served on `127.0.0.1:0` with an HTTP client and the base URL.
//! - [`corpus`]: the real-world media corpus (issue 15), one generated source per class of
//!   upload (phone VFR/HDR, browser WebM, interlaced broadcast, ProRes, odd geometry and audio).
//! - [`process`]: the real `framelog serve` binary as a child process (a replica of a
//!   multi-process topology), SIGKILLed on drop.
//! - [`tools`]: where the project-local binaries are (`.tools/bin`, installed by bootstrap).
//!
//! Every test gets its own server, port and directories, so tests run in parallel.

pub mod app;
pub mod auth;
pub mod cluster;
pub mod corpus;
pub mod media;
pub mod nats;
pub mod nginx;
pub mod process;
pub mod promql;
pub mod seaweed;
pub mod tools;

pub use app::TestApp;
pub use nats::NatsServer;
pub use seaweed::SeaweedFs;

/// A [`framelog_core::Platform`] against `nats`, with its data dir in a fresh temp dir (kept
/// alive by the returned guard).
pub async fn platform(nats: &NatsServer) -> (framelog_core::Platform, tempfile::TempDir) {
    let dir = tempfile::Builder::new().prefix("framelog-data-").tempdir().expect("temp dir");
    let settings = framelog_core::CommonSettings::for_test(&nats.url(), dir.path().to_path_buf());
    let p = framelog_core::Platform::start(
        settings,
        "framelog-test",
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("platform start");
    (p, dir)
}
