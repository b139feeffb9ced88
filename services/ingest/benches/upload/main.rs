//! `just bench upload`: Framelog's upload paths against what users would pick instead, in one
//! run, one table at the end (row, MiB/s ours, MiB/s baseline, ratio, goal):
//! - `fs.rs`: REST chunked (5 MiB chunks, 4 in flight) into the filesystem store against `dd
//!   conv=fsync` (goal ≥ 0.7×). `FRAMELOG_BENCH_UPLOAD_MIB` (default 1024).
//! - `tus.rs`: `/v1/tus/` against `@tus/server` + FileStore, the same tus-js-client driving
//!   both (goal ≥ 1.2×). `FRAMELOG_BENCH_TUS_MIB` (default 500).
//! - `s3.rs`: REST into `framelog serve --media-store s3` on SeaweedFS against a boto3
//!   multipart upload with the same part size and concurrency (goal ≥ 0.8×).
//!   `FRAMELOG_BENCH_S3_MIB` (default 500).
//!
//! `-- --only fs,tus,s3` picks rows. A row that cannot run prints `skipped: <why>`; the others
//! still run. `deploy/bench.sh upload` installs the Node and Python peers first.

mod fs;
mod s3;
mod table;
mod tus;

use std::path::PathBuf;
use std::sync::Arc;

use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_events::TenantId;
use framelog_ingest::{IngestSettings, IngestState};
use framelog_tests::{NatsServer, TestApp, platform};

/// REST chunk size, tus PATCH size and S3 part size.
pub const CHUNK: u64 = 5 * 1024 * 1024;
/// REST chunks (and S3 parts) in flight.
pub const PARALLEL: usize = 4;

/// The workspace root (this file is `services/ingest/benches/upload/main.rs`).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_mib(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The rows named by `--only a,b` (all by default); cargo's own `--bench` is ignored.
fn wanted() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--only") {
        Some(i) => args.get(i + 1).map(|v| v.split(',').map(str::to_owned).collect()),
        None => None,
    }
    .unwrap_or_else(|| vec!["fs".into(), "tus".into(), "s3".into()])
}

#[tokio::main]
async fn main() {
    let want = wanted();
    let nats = NatsServer::start();
    let (p, dir) = platform(&nats).await;
    let key = p.tenants.create(&TenantId::new("bench").unwrap()).await.unwrap();
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(dir.path().join("media")).unwrap());
    let st = IngestState::new(
        p.clone(),
        media,
        IngestSettings { chunk_size: CHUNK, ..Default::default() },
    )
    .await
    .unwrap();
    let app = TestApp::serve(framelog_ingest::router(st)).await;
    let mut rows = Vec::new();
    if want.iter().any(|w| w == "fs") {
        rows.push(
            fs::row(&app, &key, dir.path(), env_mib("FRAMELOG_BENCH_UPLOAD_MIB", 1024)).await,
        );
    }
    if want.iter().any(|w| w == "tus") {
        rows.push(tus::row(&app, &key, dir.path()).await);
    }
    if want.iter().any(|w| w == "s3") {
        rows.push(s3::row(&nats, dir.path(), env_mib("FRAMELOG_BENCH_S3_MIB", 500)).await);
    }
    table::print(&rows);
}
