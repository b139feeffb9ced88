//! `framelog outbox list|replay`: the events this data dir's process could not store because
//! JetStream refused them for good (`outbox_refused`), and sending them again once the cause is
//! fixed (see `framelog_core::outbox_replay`). Both open the local sled store, so the server
//! using that data dir must be stopped first.

use std::time::Duration;

use anyhow::Context;
use framelog_core::eventlog::{EventLog, OUTBOX_REFUSED_TREE, OUTBOX_TREE};
use framelog_core::outbox::RefusedEntry;
use framelog_core::outbox_replay::{ReplayError, ReplayOutcome, Replayed};
use framelog_core::publish_denied::PublishViolations;
use framelog_core::{CommonSettings, nats};

/// `framelog outbox ...`.
#[derive(Debug, clap::Subcommand)]
pub enum OutboxCommand {
    /// List the entries JetStream refused for good, oldest first, with their reasons.
    List {
        #[command(flatten)]
        common: CommonSettings,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send refused entries again, with their original event id and one-shot expectation (a
    /// fact already stored is not stored twice). An entry leaves the list once stored.
    Replay {
        #[command(flatten)]
        common: CommonSettings,
        /// Only the entries with this event id (repeatable); default: all of them.
        #[arg(long = "id")]
        ids: Vec<String>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn open_store(common: &CommonSettings) -> anyhow::Result<sled::Db> {
    let path = common.data_dir.join("state");
    if !path.exists() {
        anyhow::bail!("no local store in {} (is --data-dir right?)", common.data_dir.display());
    }
    sled::open(&path).map_err(|e| {
        anyhow::anyhow!(
            "opening the store in {}: {e}\n(it is in use: stop the `framelog serve` that uses \
             this data dir first)",
            path.display()
        )
    })
}

/// Runs an outbox command.
pub async fn run(cmd: OutboxCommand) -> anyhow::Result<()> {
    match cmd {
        OutboxCommand::List { common, json } => list(&common, json),
        OutboxCommand::Replay { common, ids, json } => replay(&common, &ids, json).await,
    }
}

fn list(common: &CommonSettings, json: bool) -> anyhow::Result<()> {
    let db = open_store(common)?;
    let refused = db.open_tree(OUTBOX_REFUSED_TREE)?;
    let mut n = 0;
    for item in refused.iter() {
        let (_, value) = item?;
        let rec: RefusedEntry =
            serde_json::from_slice(&value).context("a refused entry is corrupt")?;
        n += 1;
        if json {
            let line = serde_json::json!({
                "id": rec.msg_id, "subject": rec.subject,
                "reason": rec.reason, "refused_at_ms": rec.refused_at_ms,
            });
            println!("{line}");
        } else {
            println!("{}  {}  refused: {}", rec.msg_id, rec.subject, rec.reason);
        }
    }
    if !json {
        let waiting = db.open_tree(OUTBOX_TREE)?.len();
        println!("{n} refused, {waiting} waiting in the outbox");
    }
    Ok(())
}

async fn replay(common: &CommonSettings, ids: &[String], json: bool) -> anyhow::Result<()> {
    let db = open_store(common)?;
    let credentials = common.nats_credentials()?;
    let violations = PublishViolations::default();
    let client = nats::connect_watching(
        &common.nats_urls(),
        credentials.as_ref(),
        "framelog-cli",
        Duration::from_secs(10),
        Some(&violations),
    )
    .await?;
    let events = EventLog::new(client, db.clone())?.watch(violations);
    let (done, stopped) = match events.replay_refused(ids).await {
        Ok(done) => (done, None),
        Err(ReplayError::Stopped { subject, error, done }) => (done, Some((subject, error))),
        Err(e) => return Err(e.into()),
    };
    db.flush_async().await?;
    for r in &done {
        println!("{}", line(r, json)?);
    }
    let kept = done.iter().filter(|r| !matches!(r.outcome, ReplayOutcome::Stored { .. })).count();
    if !json {
        let stored = done.len() - kept;
        println!(
            "{stored} replayed, {kept} still refused, {} left in the list",
            events.refused_len()
        );
    }
    if let Some((subject, error)) = stopped {
        anyhow::bail!("replay stopped at {subject} (the rest is kept): {error}");
    }
    if kept > 0 {
        anyhow::bail!("{kept} entr(ies) still refused: fix the cause and replay again");
    }
    Ok(())
}

/// The printed line for one replayed entry.
pub fn line(r: &Replayed, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string(r)?);
    }
    Ok(match &r.outcome {
        ReplayOutcome::Stored { sequence, duplicate: false } => {
            format!("{}  {}  stored at {sequence}", r.msg_id, r.subject)
        }
        ReplayOutcome::Stored { sequence, duplicate: true } => {
            format!("{}  {}  already stored at {sequence} (not stored twice)", r.msg_id, r.subject)
        }
        ReplayOutcome::StillRefused { reason } => {
            format!("{}  {}  still refused: {reason}", r.msg_id, r.subject)
        }
        ReplayOutcome::Unreadable { reason } => {
            format!("{}  {}  unreadable entry, kept: {reason}", r.msg_id, r.subject)
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn replay_takes_repeated_ids() {
        let cli = Cli::try_parse_from([
            "framelog",
            "outbox",
            "replay",
            "--id",
            "a",
            "--id",
            "b",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        let Command::Outbox(OutboxCommand::Replay { ids, json, common }) = cli.command else {
            panic!("not outbox replay");
        };
        assert_eq!(ids, ["a", "b"]);
        assert!(!json);
        assert_eq!(common.data_dir, std::path::Path::new("/tmp/x"));
    }

    #[test]
    fn a_duplicate_is_said_to_be_not_stored_twice() {
        let r = Replayed {
            msg_id: "id1".into(),
            subject: "vid.t.upload.deleted.v".into(),
            outcome: ReplayOutcome::Stored { sequence: 7, duplicate: true },
        };
        assert!(line(&r, false).unwrap().contains("not stored twice"));
        let v: serde_json::Value = serde_json::from_str(&line(&r, true).unwrap()).unwrap();
        assert_eq!(v["outcome"], "stored");
        assert_eq!(v["duplicate"], true);
        assert_eq!(v["msg_id"], "id1");
    }
}
