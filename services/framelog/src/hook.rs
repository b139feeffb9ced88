//! `framelog hook <name>`: MediaMTX runs shell commands on stream events (`runOnReady`,
//! `runOnNotReady`, `runOnRecordSegmentComplete`...), not webhooks. This command is the bridge:
//! it reads the `MTX_*` environment MediaMTX sets and posts it to live-auth's
//! `/v1/hooks/mediamtx/event`.

use anyhow::{Context, bail};
use serde_json::json;

use crate::cli::{HookArgs, HookName};

/// The event body built from a hook's environment (`env` is a lookup, for testing).
pub fn body(
    event: HookName,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<serde_json::Value> {
    let path = env("MTX_PATH")
        .filter(|p| !p.is_empty())
        .context("MTX_PATH is not set: run this from a MediaMTX hook")?;
    let name = match event {
        HookName::Available => "available",
        HookName::Unavailable => "unavailable",
        HookName::RecordSegmentComplete => "record_segment_complete",
    };
    let mut b = json!({"event": name, "path": path});
    for (var, field) in [
        ("MTX_QUERY", "query"),
        ("MTX_SOURCE_TYPE", "source_type"),
        ("MTX_SOURCE_ID", "source_id"),
        ("MTX_SEGMENT_PATH", "segment_path"),
        ("MTX_SEGMENT_DURATION", "segment_duration"),
    ] {
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            b[field] = json!(v);
        }
    }
    if event == HookName::RecordSegmentComplete && b.get("segment_path").is_none() {
        bail!("MTX_SEGMENT_PATH is not set");
    }
    Ok(b)
}

/// Runs `framelog hook`.
pub async fn hook(args: HookArgs) -> anyhow::Result<()> {
    let b = body(args.event, |k| std::env::var(k).ok())?;
    let mut url = format!("{}/v1/hooks/mediamtx/event", args.server.trim_end_matches('/'));
    if let Some(s) = &args.secret {
        url.push_str(&format!("?secret={s}"));
    }
    let res =
        reqwest::Client::new().post(&url).json(&b).send().await.context("reaching live-auth")?;
    if !res.status().is_success() {
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        bail!("live-auth answered {status}: {text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mtx_environment_becomes_the_event_body() {
        let env = |k: &str| match k {
            "MTX_PATH" => Some("live/str_1".to_owned()),
            "MTX_SOURCE_TYPE" => Some("rtmpConn".to_owned()),
            "MTX_SOURCE_ID" => Some("abc".to_owned()),
            "MTX_QUERY" => Some(String::new()),
            _ => None,
        };
        let b = body(HookName::Available, env).unwrap();
        assert_eq!(
            b,
            json!({"event": "available", "path": "live/str_1", "source_type": "rtmpConn", "source_id": "abc"})
        );
        assert!(body(HookName::RecordSegmentComplete, env).is_err(), "needs MTX_SEGMENT_PATH");
        assert!(body(HookName::Available, |_| None).is_err(), "needs MTX_PATH");
    }
}
