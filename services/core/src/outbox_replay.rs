//! Replaying the entries the server refused for good (`outbox_refused`, see [`crate::outbox`]),
//! once an operator has fixed the cause (created the stream, granted the permission).
//!
//! An entry is sent exactly as it was first tried: the stored outbox entry keeps its
//! `Nats-Msg-Id` (the event id), its trace context and its one-shot flag, so a one-shot fact is
//! sent again with an expected last subject sequence of 0 and a copy already stored is reported
//! as a duplicate, never stored twice. Any other fact is first looked for as the last message
//! of its subject (by `Nats-Msg-Id`), which covers a replay that stored it and crashed before
//! removing it, after the duplicate window. An entry leaves `outbox_refused` only once the server
//! stored it (or said it already had it); a replay of an emptied list sends nothing. An entry
//! still refused stays, with the new reason. A transport failure or a full store stops the
//! replay (the rest stays for the next one).

use serde::Serialize;

use crate::eventlog::{EventLog, Outgoing, Published, SendError, now_ms};
use crate::outbox::RefusedEntry;

/// What a replay did with one refused entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReplayOutcome {
    /// Stored at `sequence` (`duplicate`: the server already had it), and removed from the list.
    Stored { sequence: u64, duplicate: bool },
    /// Refused again; kept, with this reason.
    StillRefused { reason: String },
    /// The stored entry cannot be read back as an event to send; kept for inspection.
    Unreadable { reason: String },
}

/// One replayed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    /// The event id (its `Nats-Msg-Id`).
    pub msg_id: String,
    pub subject: String,
    #[serde(flatten)]
    pub outcome: ReplayOutcome,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// NATS unreachable or JetStream full: the entries from `subject` on were not tried.
    #[error("replay stopped at {subject} after {} entries: {error}", done.len())]
    Stopped { subject: String, error: String, done: Vec<Replayed> },
    /// No refused entry has one of the ids asked for.
    #[error("no refused entry has the id(s) {}", .0.join(", "))]
    UnknownIds(Vec<String>),
    #[error(transparent)]
    Sled(#[from] sled::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl EventLog {
    /// Sends the refused entries again, oldest first: all of them when `ids` is empty, else
    /// those whose event id is in `ids` (an unknown id refuses the whole replay, before
    /// anything is sent).
    pub async fn replay_refused(&self, ids: &[String]) -> Result<Vec<Replayed>, ReplayError> {
        let tree = &self.inner().refused;
        let mut chosen = Vec::new();
        for item in tree.iter() {
            let (key, value) = item?;
            let rec: RefusedEntry = serde_json::from_slice(&value)?;
            if ids.is_empty() || ids.contains(&rec.msg_id) {
                chosen.push((key, rec));
            }
        }
        let unknown: Vec<String> = ids
            .iter()
            .filter(|id| !chosen.iter().any(|(_, r)| &r.msg_id == *id))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(ReplayError::UnknownIds(unknown));
        }

        let mut done = Vec::with_capacity(chosen.len());
        for (key, mut rec) in chosen {
            let out: Outgoing = match serde_json::from_value(rec.entry.clone()) {
                Ok(out) => out,
                Err(e) => {
                    let outcome = ReplayOutcome::Unreadable { reason: e.to_string() };
                    done.push(Replayed { msg_id: rec.msg_id, subject: rec.subject, outcome });
                    continue;
                }
            };
            let sent = match self.last_on_subject_is(&out).await {
                Some(sequence) => {
                    Ok(Published::Stored { stream_sequence: sequence, duplicate: true })
                }
                None => self.send(&out).await,
            };
            let outcome = match sent {
                Ok(Published::Stored { stream_sequence, duplicate }) => {
                    tree.remove(&key)?;
                    tree.flush_async().await?;
                    tracing::info!(subject = %out.subject, event_id = %out.msg_id,
                        stream_sequence, duplicate, "a refused outbox entry was replayed");
                    ReplayOutcome::Stored { sequence: stream_sequence, duplicate }
                }
                // `send` never queues; were it to, the entry would not be known stored.
                Ok(Published::Queued) => {
                    let error = "the event was queued, not stored".to_owned();
                    return Err(ReplayError::Stopped { subject: out.subject, error, done });
                }
                Err(SendError::Refused { message, .. }) => {
                    rec.reason.clone_from(&message);
                    rec.refused_at_ms = now_ms();
                    tree.insert(&key, serde_json::to_vec(&rec)?)?;
                    ReplayOutcome::StillRefused { reason: message }
                }
                Err(SendError::Transport(error) | SendError::Full(error)) => {
                    return Err(ReplayError::Stopped { subject: out.subject, error, done });
                }
            };
            done.push(Replayed { msg_id: out.msg_id, subject: out.subject, outcome });
        }
        self.inner().metrics.refresh(&self.inner().outbox);
        Ok(done)
    }

    /// The sequence of the last message on `out`'s subject when it carries `out`'s id: the
    /// entry was stored by an earlier replay that could not remove it (a crash between the ack
    /// and the removal). This guards a fact that may repeat per subject (no one-shot
    /// expectation) after the duplicate window; a one-shot fact is guarded by the server.
    async fn last_on_subject_is(&self, out: &Outgoing) -> Option<u64> {
        if out.once {
            return None;
        }
        let js = self.jetstream();
        let name = js.stream_by_subject(out.subject.as_str()).await.ok()?;
        let stream = js.get_stream_no_info(name).await.ok()?;
        let last = stream.get_last_raw_message_by_subject(&out.subject).await.ok()?;
        let id = last.headers.get(async_nats::header::NATS_MESSAGE_ID)?;
        (id.as_str() == out.msg_id).then_some(last.sequence)
    }
}
