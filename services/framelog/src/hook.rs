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

/// The webhook secret: the file if given, else the value.
pub fn secret(args: &HookArgs) -> anyhow::Result<String> {
    if let Some(p) = &args.secret_file {
        let s = std::fs::read_to_string(p)
            .with_context(|| format!("reading the webhook secret file {}", p.display()))?;
        let s = s.trim();
        if s.is_empty() {
            bail!("the webhook secret file {} is empty", p.display());
        }
        return Ok(s.to_owned());
    }
    match args.secret.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Ok(s.to_owned()),
        None => bail!(
            "live-auth needs its webhook secret: pass --secret-file <data dir>/hook-secret \
             (or set FRAMELOG_LIVE_HOOK_SECRET_FILE)"
        ),
    }
}

/// Runs `framelog hook`. The secret travels in a header, never in the URL (URLs end up in
/// logs).
pub async fn hook(args: HookArgs) -> anyhow::Result<()> {
    let b = body(args.event, |k| std::env::var(k).ok())?;
    let secret = secret(&args)?;
    let url = format!("{}/v1/hooks/mediamtx/event", args.server.trim_end_matches('/'));
    framelog_core::tls::install_crypto_provider();
    let res = reqwest::Client::new()
        .post(&url)
        .header("x-framelog-hook-secret", secret)
        .json(&b)
        .send()
        .await
        .context("reaching live-auth")?;
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

    #[test]
    fn the_secret_comes_from_the_file_first_and_is_required() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hook-secret");
        std::fs::write(&file, "from-the-file\n").unwrap();
        let args = |secret_file: Option<std::path::PathBuf>, secret: Option<&str>| HookArgs {
            event: HookName::Available,
            server: "http://127.0.0.1:1".into(),
            secret_file,
            secret: secret.map(str::to_owned),
        };
        assert_eq!(secret(&args(Some(file.clone()), Some("v"))).unwrap(), "from-the-file");
        assert_eq!(secret(&args(None, Some("v"))).unwrap(), "v");
        assert!(secret(&args(None, None)).is_err());
        assert!(secret(&args(Some(dir.path().join("missing")), None)).is_err());
    }
}
