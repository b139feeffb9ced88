//! The JetStream topology that no ordinary process can shrink.
//!
//! At start-up every process calls [`ensure`]: a missing stream or bucket is created; an
//! existing one is left as it is, except for additions that cannot lose data (a subject the
//! code now needs); every other difference from the code's declaration is logged as a warning
//! naming the field. So a process started without `--replicas 3` never scales a cluster's
//! streams down, and an operator's limits (`nats stream edit VID_VIEW --max-bytes ...`) survive
//! restarts. Only the explicit `framelog topology apply` ([`apply`]) changes an existing
//! stream or bucket, and it says what it changes (field, old → new).
//!
//! [`diff_stream`] and [`diff_bucket`] are pure, so the rules are unit-tested without a server.

use async_nats::jetstream::{self, kv, stream};

use crate::nats::{MIN_STREAM_MAX_BYTES, NatsSetupError, ensure_stream_created};

/// One difference between the server's configuration and the wanted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The stream (a bucket's stream is `KV_<bucket>`).
    pub stream: String,
    /// The configuration field.
    pub field: &'static str,
    /// The server's value.
    pub old: String,
    /// The wanted value.
    pub new: String,
    /// Whether a running process applies it by itself (it only adds, it cannot lose data).
    pub additive: bool,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {} -> {}", self.stream, self.field, self.old, self.new)
    }
}

/// A size or count where 0 and negative both mean "unlimited" (the server answers -1).
fn limit(v: i64) -> String {
    if v <= 0 { "unlimited".into() } else { v.to_string() }
}

fn change(stream: &str, field: &'static str, old: String, new: String, add: bool) -> Change {
    Change { stream: stream.to_owned(), field, old, new, additive: add }
}

/// The differences between an existing stream's configuration and the wanted one, in the
/// fields the topology declares. Subjects the server lacks are additive; subjects the server
/// has beyond the wanted ones are an operator's and never listed.
pub fn diff_stream(existing: &stream::Config, wanted: &stream::Config) -> Vec<Change> {
    let name = wanted.name.as_str();
    let mut out = Vec::new();
    let missing: Vec<&String> =
        wanted.subjects.iter().filter(|s| !existing.subjects.contains(s)).collect();
    if !missing.is_empty() {
        let mut all = existing.subjects.clone();
        all.extend(missing.into_iter().cloned());
        out.push(change(name, "subjects", existing.subjects.join(","), all.join(","), true));
    }
    if existing.num_replicas.max(1) != wanted.num_replicas.max(1) {
        let (old, new) = (existing.num_replicas.max(1), wanted.num_replicas.max(1));
        out.push(change(name, "num_replicas", old.to_string(), new.to_string(), false));
    }
    for (field, old, new) in [
        ("max_bytes", existing.max_bytes, wanted.max_bytes),
        ("max_messages", existing.max_messages, wanted.max_messages),
        (
            "max_messages_per_subject",
            existing.max_messages_per_subject,
            wanted.max_messages_per_subject,
        ),
    ] {
        if limit(old) != limit(new) {
            out.push(change(name, field, limit(old), limit(new), false));
        }
    }
    if existing.max_age != wanted.max_age {
        let (old, new) = (existing.max_age.as_secs(), wanted.max_age.as_secs());
        out.push(change(name, "max_age", format!("{old}s"), format!("{new}s"), false));
    }
    // The server fills an unset duplicate window with its default (2 min).
    if !wanted.duplicate_window.is_zero() && existing.duplicate_window != wanted.duplicate_window {
        let (old, new) = (existing.duplicate_window.as_secs(), wanted.duplicate_window.as_secs());
        out.push(change(name, "duplicate_window", format!("{old}s"), format!("{new}s"), false));
    }
    if existing.discard != wanted.discard {
        let (old, new) = (format!("{:?}", existing.discard), format!("{:?}", wanted.discard));
        out.push(change(name, "discard", old, new, false));
    }
    if existing.allow_direct != wanted.allow_direct {
        let (old, new) = (existing.allow_direct.to_string(), wanted.allow_direct.to_string());
        out.push(change(name, "allow_direct", old, new, false));
    }
    out
}

/// The differences between a bucket's stream and the wanted bucket (replicas and history).
pub fn diff_bucket(existing: &stream::Config, wanted: &kv::Config) -> Vec<Change> {
    let name = existing.name.as_str();
    let mut out = Vec::new();
    if existing.num_replicas.max(1) != wanted.num_replicas.max(1) {
        let (old, new) = (existing.num_replicas.max(1), wanted.num_replicas.max(1));
        out.push(change(name, "num_replicas", old.to_string(), new.to_string(), false));
    }
    let history = wanted.history.max(1);
    if existing.max_messages_per_subject != history {
        let old = existing.max_messages_per_subject.to_string();
        out.push(change(name, "history", old, history.to_string(), false));
    }
    out
}

/// `wanted` with the fields an explicit apply keeps from `existing`: a size limit when the
/// caller gave none (`keep_max_bytes`), and subjects an operator added.
pub fn merged_for_apply(
    existing: &stream::Config,
    wanted: &stream::Config,
    keep_max_bytes: bool,
) -> stream::Config {
    let mut cfg = existing.clone();
    cfg.description = wanted.description.clone();
    for s in &wanted.subjects {
        if !cfg.subjects.contains(s) {
            cfg.subjects.push(s.clone());
        }
    }
    cfg.num_replicas = wanted.num_replicas;
    let keep = keep_max_bytes && existing.max_bytes > 0 && wanted.max_bytes > 0;
    if !keep {
        cfg.max_bytes =
            if wanted.max_bytes > 0 { wanted.max_bytes.max(MIN_STREAM_MAX_BYTES) } else { -1 };
    }
    cfg.max_messages = wanted.max_messages;
    cfg.max_messages_per_subject = wanted.max_messages_per_subject;
    cfg.max_age = wanted.max_age;
    if !wanted.duplicate_window.is_zero() {
        cfg.duplicate_window = wanted.duplicate_window;
    }
    cfg.discard = wanted.discard;
    cfg.allow_direct = wanted.allow_direct;
    cfg
}

fn topology_error(
    what: String,
    e: impl std::error::Error + Send + Sync + 'static,
) -> NatsSetupError {
    NatsSetupError::Topology { what, source: Box::new(e) }
}

/// The server's configuration of `name`, or `None` when the stream does not exist.
async fn existing(
    js: &jetstream::Context,
    name: &str,
) -> Result<Option<stream::Config>, NatsSetupError> {
    match js.get_stream(name).await {
        Ok(s) => Ok(Some(s.cached_info().config.clone())),
        Err(e) => match e.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(j)
                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(None)
            }
            _ => Err(topology_error(format!("reading stream {name}"), e)),
        },
    }
}

/// Start-up: creates what is missing, adds missing subjects, and only warns about any other
/// difference (never lowers replicas, never reverts limits). Returns the differences found.
pub async fn ensure(
    js: &jetstream::Context,
    streams: Vec<stream::Config>,
    buckets: Vec<kv::Config>,
    keep_max_bytes: bool,
) -> Result<Vec<Change>, NatsSetupError> {
    let mut found = Vec::new();
    for cfg in streams {
        let Some(have) = existing(js, &cfg.name).await? else {
            ensure_stream_created(js, cfg).await?;
            continue;
        };
        let changes = diff_stream(&have, &merged_for_apply(&have, &cfg, keep_max_bytes));
        if changes.iter().any(|c| c.additive) {
            let mut add = have.clone();
            add.subjects = merged_for_apply(&have, &cfg, keep_max_bytes).subjects;
            js.update_stream(&add).await.map_err(|e| {
                topology_error(format!("adding subjects to stream {}", cfg.name), e)
            })?;
            tracing::info!(stream = %cfg.name, subjects = ?add.subjects, "added missing subjects");
        }
        warn_kept(&changes);
        found.extend(changes);
    }
    for cfg in buckets {
        let stream_name = format!("KV_{}", cfg.bucket);
        let Some(have) = existing(js, &stream_name).await? else {
            let name = cfg.bucket.clone();
            if let Err(e) = js.create_key_value(cfg).await {
                // Another replica may have created it meanwhile.
                if existing(js, &stream_name).await?.is_none() {
                    return Err(topology_error(format!("KV bucket {name}"), e));
                }
            }
            continue;
        };
        let changes = diff_bucket(&have, &cfg);
        warn_kept(&changes);
        found.extend(changes);
    }
    Ok(found)
}

fn warn_kept(changes: &[Change]) {
    for c in changes.iter().filter(|c| !c.additive) {
        tracing::warn!(stream = %c.stream, field = c.field, server = %c.old, declared = %c.new,
            "the server's configuration differs from the declared topology; kept as it is \
             (`framelog topology apply` changes it)");
    }
}

/// `framelog topology apply`: brings every existing stream and bucket to the declared
/// configuration (creating what is missing) and returns what it changed; with `dry_run` it
/// only returns what it would change. `keep_max_bytes`: keep the server's size limits (no
/// explicit `--view-stream-max-bytes`).
pub async fn apply(
    js: &jetstream::Context,
    streams: Vec<stream::Config>,
    buckets: Vec<kv::Config>,
    keep_max_bytes: bool,
    dry_run: bool,
) -> Result<Vec<Change>, NatsSetupError> {
    let mut out = Vec::new();
    for cfg in streams {
        let Some(have) = existing(js, &cfg.name).await? else {
            out.push(change(&cfg.name, "stream", "absent".into(), "created".into(), true));
            if !dry_run {
                ensure_stream_created(js, cfg).await?;
            }
            continue;
        };
        let target = merged_for_apply(&have, &cfg, keep_max_bytes);
        let changes = diff_stream(&have, &target);
        if !changes.is_empty() && !dry_run {
            js.update_stream(&target)
                .await
                .map_err(|e| topology_error(format!("updating stream {}", cfg.name), e))?;
        }
        out.extend(changes);
    }
    for cfg in buckets {
        let stream_name = format!("KV_{}", cfg.bucket);
        let Some(have) = existing(js, &stream_name).await? else {
            out.push(change(&stream_name, "bucket", "absent".into(), "created".into(), true));
            if !dry_run {
                let name = cfg.bucket.clone();
                js.create_key_value(cfg)
                    .await
                    .map_err(|e| topology_error(format!("KV bucket {name}"), e))?;
            }
            continue;
        };
        let changes = diff_bucket(&have, &cfg);
        if !changes.is_empty() && !dry_run {
            let mut target = have.clone();
            target.num_replicas = cfg.num_replicas.max(1);
            target.max_messages_per_subject = cfg.history.max(1);
            js.update_stream(&target)
                .await
                .map_err(|e| topology_error(format!("updating bucket {}", cfg.bucket), e))?;
        }
        out.extend(changes);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "topology_tests.rs"]
mod tests;
