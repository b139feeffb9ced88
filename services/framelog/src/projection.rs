//! `framelog projection rebuild|digest|skip`.

use std::time::Duration;

use anyhow::Context;
use framelog_core::{CommonSettings, Platform};

use crate::cli::ProjectionCommand;

fn locked_hint(e: impl std::fmt::Display, common: &CommonSettings) -> anyhow::Error {
    anyhow::anyhow!(
        "{e}\n(the store in {} is in use: stop `framelog serve` first, or pass --data-dir with \
         another directory to rebuild into a fresh store)",
        common.data_dir.display()
    )
}

/// Runs a `framelog projection` command.
pub async fn run(cmd: ProjectionCommand) -> anyhow::Result<()> {
    match cmd {
        ProjectionCommand::Rebuild { common, json } => {
            let platform =
                Platform::start(common.clone(), "framelog-rebuild", Duration::from_secs(10))
                    .await
                    .map_err(|e| locked_hint(e, &common))?;
            let report = framelog_projection::rebuild(&platform, &platform.db).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "rebuilt {} log events and {} view events in {:.1} s (VID up to {}, VID_VIEW up to {})",
                    report.vid_events,
                    report.view_events,
                    report.seconds,
                    report.vid_seq,
                    report.view_seq
                );
                println!("{}", report.digest);
            }
            Ok(())
        }
        ProjectionCommand::Skip { common, stream, seq } => {
            let platform =
                Platform::start(common.clone(), "framelog-skip", Duration::from_secs(10))
                    .await
                    .map_err(|e| locked_hint(e, &common))?;
            let r = framelog_projection::skip(&platform, &stream, seq).await?;
            println!(
                "the projection will read past message {} of {} ({}) at its next start \
                 (applied up to {})",
                r.seq, r.stream, r.reason, r.applied
            );
            Ok(())
        }
        ProjectionCommand::Digest { common } => {
            let path = common.data_dir.join("state");
            let db = sled::open(&path)
                .map_err(|e| locked_hint(e, &common))
                .context("opening the store")?;
            println!("{}", framelog_projection::digest(&db)?);
            Ok(())
        }
    }
}
