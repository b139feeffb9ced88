//! `framelog status [--json] [--lag-warn N]`: the health of a deployment as NATS sees it (the
//! server, every stream with its replicas, every consumer with its pending and lag, the KV
//! buckets, the transcode workers' live leases). Talks to NATS only, so it runs anywhere the
//! CLI can reach NATS. Exit 0 healthy, 1 unhealthy ([`crate::status_report::problems`]),
//! 2 NATS unreachable. The reads are here; the shape, rules and layout in
//! [`crate::status_report`].

use std::process::ExitCode;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use framelog_core::{CommonSettings, nats};
use framelog_projection::heartbeat;
use framelog_transcoder::{items, lease};
use futures::TryStreamExt;

use crate::status_projection::{self, ProjectionStatus};
use crate::status_report::{
    self as report, BucketStatus, ClusterStatus, ConsumerStatus, LeaseStatus, OutboxStatus,
    PeerStatus, Report, ServerStatus, StreamStatus,
};

/// The description the projection gives its ordered consumers (services/projection).
const PROJECTION_DESCRIPTION: &str = "framelog projection";

/// `framelog status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: CommonSettings,
    /// Print the report as JSON (fields documented in the README).
    #[arg(long)]
    pub json: bool,
    /// A consumer with more pending messages than this is unhealthy.
    #[arg(long, env = "FRAMELOG_STATUS_LAG_WARN", default_value_t = 1000)]
    pub lag_warn: u64,
    /// How long to try reaching NATS, seconds.
    #[arg(long, default_value_t = 5)]
    pub connect_timeout: u64,
}

/// Runs `framelog status` and returns its exit code.
pub async fn run(args: StatusArgs) -> ExitCode {
    let client = match connect(&args).await {
        Ok(c) => c,
        Err(e) => {
            let message = format!("NATS unreachable: {e:#}");
            if args.json {
                let err = serde_json::json!({"schema": report::SCHEMA, "healthy": false,
                    "error": {"code": "nats_unreachable", "message": message}});
                println!("{err}");
            }
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let r = match read(&client, &args.common.nats_urls(), args.lag_warn).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: reading JetStream: {e:#}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r).expect("the report serialises"));
    } else {
        for line in report::render(&r) {
            println!("{line}");
        }
    }
    if r.healthy { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

async fn connect(args: &StatusArgs) -> anyhow::Result<async_nats::Client> {
    let credentials = args.common.nats_credentials()?;
    let client = nats::connect_with(
        &args.common.nats_urls(),
        credentials.as_ref(),
        "framelog-status",
        Duration::from_secs(args.connect_timeout),
    )
    .await?;
    Ok(client)
}

/// Reads everything and judges it.
pub async fn read(
    client: &async_nats::Client,
    dialed: &[String],
    lag_warn: u64,
) -> anyhow::Result<Report> {
    let info = client.server_info();
    let server = ServerStatus {
        server_name: info.server_name.clone(),
        version: info.version.clone(),
        cluster: info.cluster.clone(),
        connected_url: connected_url(&info.host, info.port, dialed),
        jetstream: info.jetstream,
        connect_urls: info.connect_urls.clone(),
    };
    let js = jetstream::new(client.clone());
    // The stream list is answered by the meta leader: a read during an election may time out.
    let mut infos: Vec<stream::Info> = Vec::new();
    for attempt in 1..=3 {
        match js.streams().try_collect().await {
            Ok(list) => {
                infos = list;
                break;
            }
            Err(e) if attempt == 3 => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    // What could not be read is itself a problem of the deployment, not a failed command.
    let mut unreadable = Vec::new();
    let mut streams = Vec::new();
    let mut buckets = Vec::new();
    let mut consumers = Vec::new();
    for s in &infos {
        let name = &s.config.name;
        let kind = if name.starts_with("KV_") {
            Some("kv")
        } else if name.starts_with("OBJ_") {
            Some("object_store")
        } else {
            None
        };
        if let Some(kind) = kind {
            buckets.push(BucketStatus {
                name: name[name.find('_').unwrap_or(0) + 1..].to_owned(),
                kind,
                values: s.state.messages,
                bytes: s.state.bytes,
                replicas: s.config.num_replicas,
            });
            continue;
        }
        streams.push(stream_status(s));
        let handle = js.get_stream_no_info(name).await?;
        match handle.consumers().try_collect::<Vec<_>>().await {
            Ok(mut list) => {
                list.sort_by(|a, b| a.name.cmp(&b.name));
                consumers.extend(list.iter().map(consumer_status));
            }
            Err(e) => {
                unreadable.push(format!("stream {name}: its consumers could not be read ({e})"))
            }
        }
    }
    streams.sort_by(|a, b| a.name.cmp(&b.name));
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    consumers.sort_by(|a, b| a.stream.cmp(&b.stream));
    let mut leases = Vec::new();
    for bucket in [lease::KV_LEASES, items::KV_ITEMS] {
        if buckets.iter().any(|b| b.name == bucket) {
            match live_leases(&js, bucket).await {
                Ok(l) => leases.extend(l),
                Err(e) => {
                    unreadable.push(format!("bucket {bucket}: leases could not be read ({e:#})"))
                }
            }
        }
    }
    let mut projections = Vec::new();
    if buckets.iter().any(|b| b.name == heartbeat::KV_PROGRESS) {
        match projection_progress(&js, &streams).await {
            Ok(p) => projections = p,
            Err(e) => unreadable.push(format!(
                "bucket {}: projection heartbeats could not be read ({e:#})",
                heartbeat::KV_PROGRESS
            )),
        }
    }
    let mut r = Report {
        schema: report::SCHEMA,
        healthy: true,
        problems: Vec::new(),
        servers: vec![server],
        streams,
        consumers,
        buckets,
        workers: report::workers(&leases),
        leases,
        outbox: OutboxStatus::not_visible(),
        projections,
    };
    r.problems = report::problems(&r, lag_warn);
    r.problems.extend(unreadable);
    r.healthy = r.problems.is_empty();
    Ok(r)
}

/// The server's advertised address, or (when it listens on every interface) the URL dialed on
/// its port, without credentials.
fn connected_url(host: &str, port: u16, dialed: &[String]) -> String {
    let unspecified = host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified());
    let suffix = format!(":{port}");
    let pick = dialed.iter().map(|u| strip_credentials(u)).find(|u| u.ends_with(&suffix));
    match pick {
        Some(u) if unspecified => u,
        _ => format!("nats://{host}:{port}"),
    }
}

fn strip_credentials(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("nats://{}", hostport.trim_end_matches('/'))
}

fn stream_status(s: &stream::Info) -> StreamStatus {
    StreamStatus {
        name: s.config.name.clone(),
        messages: s.state.messages,
        bytes: s.state.bytes,
        first_seq: s.state.first_sequence,
        last_seq: s.state.last_sequence,
        consumers: s.state.consumer_count,
        replicas: s.config.num_replicas,
        // A single server reports a cluster block with neither leader nor peers: not clustered.
        cluster: s.cluster.as_ref().filter(|c| c.leader.is_some() || !c.replicas.is_empty()).map(
            |c| ClusterStatus {
                leader: c.leader.clone(),
                peers: c
                    .replicas
                    .iter()
                    .map(|p| PeerStatus {
                        name: p.name.clone(),
                        current: p.current,
                        offline: p.offline,
                        lag: p.lag,
                    })
                    .collect(),
            },
        ),
    }
}

fn consumer_status(c: &async_nats::jetstream::consumer::Info) -> ConsumerStatus {
    let description = c.config.description.clone();
    let role = description
        .as_deref()
        .filter(|d| d.starts_with(PROJECTION_DESCRIPTION))
        .map(|_| "projection".to_owned());
    ConsumerStatus {
        stream: c.stream_name.clone(),
        name: c.name.clone(),
        durable: c.config.durable_name.is_some(),
        description,
        role,
        num_pending: c.num_pending,
        num_ack_pending: c.num_ack_pending as u64,
        num_redelivered: c.num_redelivered as u64,
        num_waiting: c.num_waiting as u64,
        delivered_stream_seq: c.delivered.stream_sequence,
        ack_floor_stream_seq: c.ack_floor.stream_sequence,
        lag: c.num_pending + c.num_ack_pending as u64,
    }
}

/// Every projection replica's heartbeat against its stream's last sequence (the streams are
/// read first: a heartbeat newer than that read may be past it, which counts as no lag).
async fn projection_progress(
    js: &jetstream::Context,
    streams: &[StreamStatus],
) -> anyhow::Result<Vec<ProjectionStatus>> {
    let kv = js.get_key_value(heartbeat::KV_PROGRESS).await?;
    let keys: Vec<String> = kv.keys().await?.try_collect().await?;
    let now = lease::now_ms();
    let mut out = Vec::new();
    for key in keys {
        let Some(value) = kv.get(&key).await? else { continue };
        let Ok(p) = serde_json::from_slice::<heartbeat::Progress>(&value) else { continue };
        let Some(s) = streams.iter().find(|s| s.name == p.stream) else { continue };
        out.push(status_projection::status(&p, s.last_seq, now));
    }
    out.sort_by(|a, b| (&a.stream, &a.replica).cmp(&(&b.stream, &b.replica)));
    Ok(out)
}

/// The live leases of a transcoder lease bucket (job records or work items).
async fn live_leases(js: &jetstream::Context, bucket: &str) -> anyhow::Result<Vec<LeaseStatus>> {
    let kv = js.get_key_value(bucket).await?;
    let keys: Vec<String> = kv.keys().await?.try_collect().await?;
    let now = lease::now_ms();
    let mut out = Vec::new();
    for key in keys {
        let Some(value) = kv.get(&key).await? else { continue };
        let Ok(record) = serde_json::from_slice::<lease::Record>(&value) else { continue };
        let Some(holder) = record.holder.filter(|h| !record.done && h.live(now)) else {
            continue;
        };
        out.push(LeaseStatus {
            bucket: bucket.to_owned(),
            key,
            worker: holder.worker,
            attempts: record.attempts,
            expires_in_ms: holder.expires_at_ms.saturating_sub(now),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connected_url_is_the_dialed_one_without_credentials_when_the_server_binds_everything() {
        let dialed = ["nats://framelog:secret@10.0.0.5:4222".to_owned()];
        assert_eq!(connected_url("0.0.0.0", 4222, &dialed), "nats://10.0.0.5:4222");
        assert_eq!(connected_url("10.0.0.7", 4222, &dialed), "nats://10.0.0.7:4222");
    }
}
