//! `framelog topology apply [--replicas N] [--dry-run]`: the one way to change an existing
//! stream or bucket (a start only creates what is missing). Prints every change as
//! `<stream> <field>: <old> -> <new>`. Talks to NATS only, so it runs beside live servers.

use std::time::Duration;

use framelog_core::{CommonSettings, nats, topology};

/// `framelog topology ...`.
#[derive(Debug, clap::Subcommand)]
pub enum TopologyCommand {
    /// Bring existing streams and buckets to the declared configuration (--replicas, and
    /// --view-stream-max-bytes when given; other size limits on the server are kept).
    Apply {
        #[command(flatten)]
        common: CommonSettings,
        /// Print what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a topology command.
pub async fn run(cmd: TopologyCommand) -> anyhow::Result<()> {
    let TopologyCommand::Apply { common, dry_run } = cmd;
    let credentials = common.nats_credentials()?;
    let client = nats::connect_with(
        &common.nats_urls(),
        credentials.as_ref(),
        "framelog-cli",
        Duration::from_secs(10),
    )
    .await?;
    let js = async_nats::jetstream::new(client);
    // The transcoder's work-item queue and buckets, and ingest's session bucket, are declared
    // by their own crates.
    let mut streams = nats::declared_streams(common.replicas, common.view_stream_max_bytes);
    streams.push(framelog_transcoder::items::stream_config(common.replicas));
    streams.extend(framelog_delivery::stream_configs(common.replicas));
    let mut buckets = nats::kv_configs(common.replicas);
    buckets.extend(framelog_transcoder::items::bucket_configs(common.replicas));
    buckets.push(framelog_ingest::session::bucket_config(common.replicas));
    let changes =
        topology::apply(&js, streams, buckets, common.view_stream_max_bytes.is_none(), dry_run)
            .await?;
    for line in report(&changes, dry_run) {
        println!("{line}");
    }
    Ok(())
}

/// The printed lines: one per change, then a summary.
pub fn report(changes: &[topology::Change], dry_run: bool) -> Vec<String> {
    let verb = if dry_run { "would change" } else { "changed" };
    let mut lines: Vec<String> = changes.iter().map(|c| format!("{verb} {c}")).collect();
    lines.push(match changes.len() {
        0 => "topology already as declared".to_owned(),
        n => format!("{n} change(s){}", if dry_run { " (dry run: nothing changed)" } else { "" }),
    });
    lines
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn topology_apply_parses_replicas_and_dry_run() {
        let cli =
            Cli::try_parse_from(["framelog", "topology", "apply", "--replicas", "3", "--dry-run"])
                .unwrap();
        let Command::Topology(TopologyCommand::Apply { common, dry_run }) = cli.command else {
            panic!("not topology apply");
        };
        assert_eq!(common.replicas, 3);
        assert!(dry_run);
    }

    #[test]
    fn the_report_names_each_change_and_says_when_nothing_changed() {
        let c = topology::Change {
            stream: "VID".into(),
            field: "num_replicas",
            old: "1".into(),
            new: "3".into(),
            additive: false,
        };
        assert_eq!(
            report(std::slice::from_ref(&c), true),
            vec!["would change VID num_replicas: 1 -> 3", "1 change(s) (dry run: nothing changed)"]
        );
        assert_eq!(report(&[], false), vec!["topology already as declared"]);
    }
}
