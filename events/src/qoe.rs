//! A viewer's quality of experience over one window ([`QoeSample`], the `data` of `VID_VIEW
//! qoe`) and the pure bounds every sample is clamped to ([`QoeBounds::clamp`]) before it is
//! published (playback) and again before it is folded (the projection), so no one sample, true
//! or forged, can weigh more than a real viewer's window of watching.

use serde::{Deserialize, Serialize};

/// What one player session measured during one window (deltas since its previous summary),
/// already clamped by [`QoeBounds`]. Every field but `viewer` and `window` is optional on the
/// wire (absent = 0 / none), so older and newer writers read each other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QoeSample {
    /// Hash of (IP, player session), as in `counted`: no raw address is stored.
    pub viewer: String,
    /// Start of the window the summary was accepted in, unix seconds (one summary per viewer
    /// and window: the event id is deterministic over both).
    pub window: i64,
    /// The player's number of this summary in its session (0 = the session's first: a view
    /// with QoE).
    #[serde(default)]
    pub seq: u32,
    /// A live stream (then `latency_ms` may be set).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub live: bool,
    /// Milliseconds the viewer spent watching (playing, starting or rebuffering; not paused).
    #[serde(default)]
    pub watch_ms: u64,
    /// Play requested to first frame, milliseconds; only in the summary in which it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_ms: Option<u64>,
    /// Stalls after the first frame (not seeks).
    #[serde(default)]
    pub rebuffer_count: u32,
    /// Milliseconds spent in those stalls (≤ `watch_ms`).
    #[serde(default)]
    pub rebuffer_ms: u64,
    /// Rendition switches.
    #[serde(default)]
    pub switches: u32,
    /// Fatal playback errors.
    #[serde(default)]
    pub errors: u32,
    /// The last fatal error's code (hls.js `details`, or `media_error_<n>`), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Live only: the mean measured latency behind the live edge in the window, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

/// The bounds of one QoE summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QoeBounds {
    /// Longest watch time of one summary, ms (playback: the view window plus slack for one
    /// beacon interval; one summary per window, so a session can never claim more than the
    /// time that passed).
    pub max_watch_ms: u64,
}

/// Longest startup time kept, ms.
pub const MAX_STARTUP_MS: u64 = 60_000;
/// Most rebuffers, switches of one summary.
pub const MAX_COUNT: u32 = 100;
/// Most fatal errors of one summary.
pub const MAX_ERRORS: u32 = 10;
/// Longest live latency kept, ms.
pub const MAX_LATENCY_MS: u64 = 120_000;
/// Longest error code kept (longer or odd codes become `other`).
pub const MAX_CODE_LEN: usize = 48;
/// Slack added to the window for one summary's watch time, ms (a player sends on its next
/// heartbeat after the window opens: up to one 10 s interval late, plus network time).
pub const WATCH_SLACK_MS: u64 = 15_000;

impl QoeBounds {
    /// The bounds for a view window of `window_secs`.
    pub fn for_window(window_secs: i64) -> QoeBounds {
        let w = u64::try_from(window_secs.max(1)).unwrap_or(1);
        QoeBounds { max_watch_ms: w.saturating_mul(1000).saturating_add(WATCH_SLACK_MS) }
    }

    /// The bounds the fold re-applies whatever the writer's window was: an hour per summary
    /// (a window is at most that long), so a sample written outside playback still weighs at
    /// most one window.
    pub const FOLD: QoeBounds = QoeBounds { max_watch_ms: 3_600_000 + WATCH_SLACK_MS };

    /// `s` within the bounds: watch time capped; startup ≤ 60 s; rebuffer time ≤ watch time;
    /// counts capped (a rebuffer needs at least one stall counted, and no more stalls than
    /// half-seconds watched); error codes of a safe alphabet and length; latency only live.
    pub fn clamp(&self, mut s: QoeSample) -> QoeSample {
        s.watch_ms = s.watch_ms.min(self.max_watch_ms);
        s.startup_ms = s.startup_ms.map(|v| v.min(MAX_STARTUP_MS));
        s.rebuffer_ms = s.rebuffer_ms.min(s.watch_ms);
        let by_time = u32::try_from(s.watch_ms / 500 + 1).unwrap_or(u32::MAX);
        s.rebuffer_count = s.rebuffer_count.min(MAX_COUNT).min(by_time);
        if s.rebuffer_ms > 0 && s.rebuffer_count == 0 {
            s.rebuffer_count = 1;
        }
        s.switches = s.switches.min(MAX_COUNT);
        s.errors = s.errors.min(MAX_ERRORS);
        s.error_code = if s.errors == 0 { None } else { s.error_code.map(safe_code) };
        s.latency_ms = if s.live { s.latency_ms.map(|v| v.min(MAX_LATENCY_MS)) } else { None };
        s
    }
}

/// `code` if it is short and of `[A-Za-z0-9_.-]`, else `other`.
pub fn safe_code(code: String) -> String {
    let ok = !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok { code } else { "other".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn absurd() -> QoeSample {
        QoeSample {
            viewer: "v".into(),
            window: 30,
            seq: 0,
            live: false,
            watch_ms: u64::MAX,
            startup_ms: Some(10_000_000),
            rebuffer_count: u32::MAX,
            rebuffer_ms: u64::MAX,
            switches: 1_000_000,
            errors: 999,
            error_code: Some("<script>alert(1)</script>".into()),
            latency_ms: Some(5),
        }
    }

    #[test]
    fn absurd_values_are_clamped_to_the_bounds() {
        let s = QoeBounds::for_window(30).clamp(absurd());
        assert_eq!(s.watch_ms, 45_000, "30 s window + 15 s slack");
        assert_eq!(s.startup_ms, Some(MAX_STARTUP_MS));
        assert_eq!(s.rebuffer_ms, 45_000, "rebuffer time never exceeds watch time");
        assert_eq!(s.rebuffer_count, 91, "one stall per half second of 45 s, + 1");
        assert_eq!((s.switches, s.errors), (MAX_COUNT, MAX_ERRORS));
        assert_eq!(s.error_code.as_deref(), Some("other"));
        assert_eq!(s.latency_ms, None, "latency is a live measure");
    }

    #[test]
    fn an_honest_sample_is_kept_as_it_is() {
        let s = QoeSample {
            viewer: "v".into(),
            window: 60,
            seq: 3,
            live: true,
            watch_ms: 29_500,
            startup_ms: None,
            rebuffer_count: 2,
            rebuffer_ms: 1_800,
            switches: 1,
            errors: 1,
            error_code: Some("fragLoadError".into()),
            latency_ms: Some(7_400),
        };
        assert_eq!(QoeBounds::for_window(30).clamp(s.clone()), s);
    }

    #[test]
    fn stalls_are_bounded_by_the_time_watched_and_a_stall_time_needs_a_stall() {
        let b = QoeBounds::for_window(30);
        let s = b.clamp(QoeSample { watch_ms: 1_000, rebuffer_count: 50, ..Default::default() });
        assert_eq!(s.rebuffer_count, 3, "at most one stall per half second watched (+1)");
        let s = b.clamp(QoeSample { watch_ms: 5_000, rebuffer_ms: 900, ..Default::default() });
        assert_eq!(s.rebuffer_count, 1);
        let s =
            b.clamp(QoeSample { errors: 0, error_code: Some("x".into()), ..Default::default() });
        assert_eq!(s.error_code, None, "no code without an error");
    }
}
