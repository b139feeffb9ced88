//! Sightings of MediaMTX sessions: MediaMTX sends no periodic hook (nginx-rtmp's `on_update`),
//! so live-auth polls its Control API, `GET /v3/paths/list`, every `--live-mediamtx-poll-every`
//! seconds at `--live-mediamtx-api-url`, and records a sighting (`last_seen`, see
//! [`crate::sessions::seen`]) of each MediaMTX session whose path is listed as publishing from
//! that session's connection. A session whose path is no longer listed, no longer
//! available/ready, or published by another connection is not seen, and the reaper ends it
//! once it has not been seen for `--live-reap-after` seconds, billed up to its last sight.
//!
//! While the API cannot be read (MediaMTX down, a bad answer), MediaMTX sessions are not
//! reaped at all ([`PollHealth::is_up`]): silence of the API says nothing about a publisher.
//! The first failure is logged as a warning (the repeats at debug), the recovery at info, and
//! the metrics `framelog_live_mediamtx_api_up` (0/1) and `framelog_live_mediamtx_poll_failures`
//! say it too.
//!
//! The answer (MediaMTX `api/openapi.yaml`, schemas `PathList`/`Path`, versions 1.x):
//! `{"pageCount": n, "itemCount": n, "items": [{"name": "live/<stream>", "ready": bool,
//! "available": bool, "source": {"type": "rtmpConn", "id": "<connection uuid>"} | null, ...}]}`,
//! paged with `?page=<0-based>&itemsPerPage=<n>`. `available` replaced `ready` (still sent,
//! deprecated) in 1.19.3: the newer field wins when both are there. Unknown fields are ignored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use framelog_events::MediaServer;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::mediamtx::stream_of_path;
use crate::state::LiveState;

/// Paths asked for per page.
pub const ITEMS_PER_PAGE: u64 = 100;
/// Most pages read in one poll (a guard against an answer whose `pageCount` never ends).
pub const MAX_PAGES: u64 = 1000;

/// One page of `GET /v3/paths/list`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathList {
    /// How many pages the whole list has (0 when there are no paths).
    #[serde(default)]
    pub page_count: u64,
    /// The paths of this page.
    #[serde(default)]
    pub items: Vec<ApiPath>,
}

/// One path in a [`PathList`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiPath {
    /// The path, e.g. `live/<stream id>`.
    #[serde(default)]
    pub name: String,
    /// Whether a stream is being published (before 1.19.3; deprecated after).
    #[serde(default)]
    pub ready: Option<bool>,
    /// Whether a stream is being published (1.19.3 on).
    #[serde(default)]
    pub available: Option<bool>,
    /// Who publishes it, if anyone.
    #[serde(default)]
    pub source: Option<PathSource>,
}

/// The publisher of an [`ApiPath`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PathSource {
    /// `rtmpConn`, `rtspSession`, `srtConn`, `webRTCSession`...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The connection or session id (the `MTX_SOURCE_ID` of the `available` hook).
    #[serde(default)]
    pub id: Option<String>,
}

impl ApiPath {
    /// Whether the path is being published now (`available`, else `ready`).
    pub fn is_publishing(&self) -> bool {
        self.available.or(self.ready).unwrap_or(false)
    }
}

/// Parses one page of the answer.
pub fn parse_page(body: &[u8]) -> Result<PathList, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The streams being published, each with its publisher's connection id when MediaMTX gave
/// one (pure).
pub fn publishing(paths: &[ApiPath]) -> HashMap<String, Option<String>> {
    paths
        .iter()
        .filter(|p| p.is_publishing())
        .map(|p| {
            let id = p.source.as_ref().and_then(|s| s.id.clone()).filter(|i| !i.is_empty());
            (stream_of_path(&p.name).to_owned(), id)
        })
        .filter(|(stream, _)| !stream.is_empty())
        .collect()
}

/// Whether `connection`'s session of `stream` is seen in `live` (from [`publishing`]): its path
/// is published, by that connection when MediaMTX names the publisher.
pub fn sighted(live: &HashMap<String, Option<String>>, stream: &str, connection: &str) -> bool {
    match live.get(stream) {
        Some(Some(id)) => id == connection,
        Some(None) => true,
        None => false,
    }
}

/// Why the API could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("the MediaMTX API is unreachable: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("the MediaMTX API answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the MediaMTX API answered something that is not a path list: {0}")]
    Body(#[from] serde_json::Error),
    #[error("recording a sighting failed: {0}")]
    Store(String),
}

/// Every path MediaMTX lists, page by page.
pub async fn list_paths(http: &reqwest::Client, base: &str) -> Result<Vec<ApiPath>, PollError> {
    let base = base.trim_end_matches('/');
    let mut all = Vec::new();
    let mut page = 0;
    loop {
        let url = format!("{base}/v3/paths/list?page={page}&itemsPerPage={ITEMS_PER_PAGE}");
        let res = http.get(url).send().await?;
        if !res.status().is_success() {
            return Err(PollError::Status(res.status()));
        }
        let list = parse_page(&res.bytes().await?)?;
        all.extend(list.items);
        page += 1;
        if page >= list.page_count || page >= MAX_PAGES {
            return Ok(all);
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Streams whose MediaMTX session was seen.
    pub seen: Vec<String>,
    /// Streams whose MediaMTX session was not listed as publishing from its connection.
    pub unseen: Vec<String>,
}

/// One poll at `now`: reads the path list and records a sighting of every MediaMTX session
/// this replica knows of that it lists. Does nothing without `--live-mediamtx-api-url`.
pub async fn poll_once(st: &LiveState, now: OffsetDateTime) -> Result<PollReport, PollError> {
    let Some(base) = &st.settings.mediamtx_api_url else { return Ok(PollReport::default()) };
    let live = publishing(&list_paths(&st.http, base).await?);
    let mut report = PollReport::default();
    for r in st.streams.cached_live() {
        let Some(s) = r.session.as_ref().filter(|s| s.server == MediaServer::Mediamtx) else {
            continue;
        };
        let stream = r.stream_id.as_str();
        if sighted(&live, stream, &s.connection_id) {
            crate::sessions::seen(st, stream, &s.connection_id, now)
                .await
                .map_err(|e| PollError::Store(e.to_string()))?;
            report.seen.push(stream.to_owned());
        } else {
            report.unseen.push(stream.to_owned());
        }
    }
    Ok(report)
}

/// Whether the last poll read the API, reported to the reaper, the log and the metrics.
#[derive(Debug, Default)]
pub struct PollHealth {
    up: AtomicBool,
    /// Whether the current outage was logged already.
    warned: AtomicBool,
    up_gauge: Gauge<i64, AtomicI64>,
    failures: Counter,
}

impl PollHealth {
    /// A health that registers its metrics in `metrics`.
    pub fn registered(metrics: &framelog_core::metrics::Metrics) -> PollHealth {
        let h = PollHealth::default();
        metrics.register(
            "live_mediamtx_api_up",
            "Whether the last poll of the MediaMTX API succeeded (MediaMTX sessions are reaped only then)",
            h.up_gauge.clone(),
        );
        metrics.register(
            "live_mediamtx_poll_failures",
            "Polls of the MediaMTX API that failed",
            h.failures.clone(),
        );
        h
    }

    /// Whether MediaMTX sessions may be reaped: the last poll read the API (never before the
    /// first poll, never while it fails).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Polls read so far that failed.
    pub fn failures(&self) -> u64 {
        self.failures.get()
    }

    /// Records a successful poll.
    pub fn succeeded(&self) {
        self.up.store(true, Ordering::Release);
        self.up_gauge.set(1);
        if self.warned.swap(false, Ordering::AcqRel) {
            tracing::info!("the MediaMTX API answers again; its sessions are reaped again");
        }
    }

    /// Records a failed poll (logged once per outage).
    pub fn failed(&self, e: &PollError) {
        self.up.store(false, Ordering::Release);
        self.up_gauge.set(0);
        self.failures.inc();
        if self.warned.swap(true, Ordering::AcqRel) {
            tracing::debug!(error = %e, "MediaMTX API poll failed again");
        } else {
            tracing::warn!(error = %e,
                "MediaMTX API poll failed; its sessions are not reaped until it answers");
        }
    }
}

/// One step of the poller: [`poll_once`], its outcome recorded in [`PollHealth`] (what the
/// reaper asks). `None` when the API failed, or is not configured (then nothing is recorded:
/// MediaMTX sessions are never reaped).
pub async fn poll(st: &LiveState, now: OffsetDateTime) -> Option<PollReport> {
    st.settings.mediamtx_api_url.as_ref()?;
    match poll_once(st, now).await {
        Ok(report) => {
            st.mediamtx_poll.succeeded();
            Some(report)
        }
        Err(e) => {
            st.mediamtx_poll.failed(&e);
            None
        }
    }
}

/// Polls every `--live-mediamtx-poll-every` seconds until `shutdown` (nothing without an API
/// URL, or when the period is 0).
pub async fn run(st: LiveState, shutdown: CancellationToken) {
    if st.settings.mediamtx_api_url.is_none() || st.settings.mediamtx_poll_every_secs == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(st.settings.mediamtx_poll_every_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        poll(&st, OffsetDateTime::now_utc()).await;
    }
}

#[cfg(test)]
#[path = "mediamtx_poll_tests.rs"]
mod tests;
