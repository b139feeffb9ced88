//! One worker per job, attempts that mean failures: the job record of a video in the
//! `framelog_transcode_leases` KV bucket (key `<tenant>.<video>`).
//!
//! The record names the request it is about (its stream sequence), how many attempts of it
//! counted so far, whether it is settled, and the lease: the worker holding the job and until
//! when. A worker takes the lease with a compare-and-set on the entry's revision (`create` when
//! there is none, `update` with the revision it read), renews it with every in-progress ack and
//! loses it when someone else's write wins. So:
//!
//! - a second worker that receives a job whose lease is live (the server redelivered it because
//!   in-progress acks were lost, but the holder still works) does not run it: it hands it back
//!   until the lease ends, and that hand-back is no attempt;
//! - an expired lease may be taken over; the old holder fences itself before its lease expires
//!   (it stops when it could not renew and the lease would run out before its next renewal) or,
//!   at the latest, on its next renewal, which fails on the revision: either way it kills its
//!   ffmpeg and publishes nothing;
//! - attempts are counted here, not by the server's deliveries: taking the lease counts one;
//!   a graceful hand-back (shutdown, deploy) gives it back; a failure or a silent death keeps
//!   it. The count drives the back-off, the `attempt` field of events and dead-lettering.
//!
//! [`decide`] and [`Record::renewed`] are pure; [`Leases`] is the KV store.

use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use async_nats::jetstream::{self};
use serde::{Deserialize, Serialize};

/// KV bucket of job records, by `<tenant>.<video>`.
pub const KV_LEASES: &str = "framelog_transcode_leases";

/// Who holds a job, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The worker's name.
    pub worker: String,
    /// Unique per take, so a worker that lost and retook a lease never mistakes the two.
    pub token: String,
    /// Milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

/// The job record of one video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Stream sequence of the `transcode.requested` it is about.
    pub request_seq: u64,
    /// Attempts that counted: failures and attempts whose worker died (not hand-backs).
    pub attempts: u32,
    /// Settled for good (completed, failed permanently, dead-lettered): redeliveries are acked.
    #[serde(default)]
    pub done: bool,
    /// The lease, live or expired.
    #[serde(default)]
    pub holder: Option<Holder>,
}

/// What a worker that received a job does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write `record` (compare-and-set on the revision read) and run attempt `attempt`.
    Take { attempt: u32, record: Record },
    /// Another worker holds a live lease: hand the job back for `delay` (not an attempt).
    Busy { holder: String, delay: Duration },
    /// Settled already, or superseded by a newer request of the video: ack without work.
    Settled,
    /// Every attempt was used (the last one's worker died or it failed): dead-letter it.
    OutOfAttempts { attempts: u32 },
}

impl Holder {
    pub fn live(&self, now_ms: u64) -> bool {
        self.expires_at_ms > now_ms
    }
}

/// Decides for the delivery of the request at `seq`, given the video's record `current`,
/// at `now_ms`, as worker `me` taking with `token` for `ttl`, with `max_attempts` attempts.
pub fn decide(
    current: Option<&Record>,
    seq: u64,
    me: &str,
    token: &str,
    now_ms: u64,
    ttl: Duration,
    max_attempts: u32,
) -> Decision {
    let holder = Some(Holder {
        worker: me.to_owned(),
        token: token.to_owned(),
        expires_at_ms: now_ms.saturating_add(millis(ttl)),
    });
    let fresh = Record { request_seq: seq, attempts: 1, done: false, holder: holder.clone() };
    let Some(cur) = current else {
        return Decision::Take { attempt: 1, record: fresh };
    };
    if let Some(h) = cur.holder.as_ref().filter(|h| h.live(now_ms) && !cur.done) {
        // One job per video at a time, whichever request it is about.
        let left = Duration::from_millis(h.expires_at_ms - now_ms);
        return Decision::Busy { holder: h.worker.clone(), delay: left + Duration::from_secs(1) };
    }
    if seq < cur.request_seq {
        // A newer request of the video exists: this one is superseded.
        return Decision::Settled;
    }
    if seq > cur.request_seq {
        // A newer request: its own count.
        return Decision::Take { attempt: 1, record: fresh };
    }
    if cur.done {
        return Decision::Settled;
    }
    if cur.attempts >= max_attempts {
        return Decision::OutOfAttempts { attempts: cur.attempts };
    }
    let attempt = cur.attempts + 1;
    Decision::Take { attempt, record: Record { attempts: attempt, holder, ..cur.clone() } }
}

impl Record {
    /// The record with `token`'s lease extended to `now_ms + ttl`, or `None` if `token` no
    /// longer holds it (taken over, released or settled): the holder is fenced.
    pub fn renewed(&self, token: &str, now_ms: u64, ttl: Duration) -> Option<Record> {
        let h = self.holder.as_ref().filter(|h| h.token == token && !self.done)?;
        let holder = Holder { expires_at_ms: now_ms.saturating_add(millis(ttl)), ..h.clone() };
        Some(Record { holder: Some(holder), ..self.clone() })
    }

    /// The record after a graceful hand-back by `token`: lease released, its attempt given back.
    pub fn handed_back(&self, token: &str) -> Option<Record> {
        self.holder.as_ref().filter(|h| h.token == token)?;
        Some(Record { attempts: self.attempts.saturating_sub(1), holder: None, ..self.clone() })
    }

    /// The record after a failed attempt by `token` (retried later): lease released, the
    /// attempt kept.
    pub fn failed(&self, token: &str) -> Option<Record> {
        self.holder.as_ref().filter(|h| h.token == token)?;
        Some(Record { holder: None, ..self.clone() })
    }

    /// The record once its request is settled for good.
    pub fn settled(&self) -> Record {
        Record { done: true, holder: None, ..self.clone() }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    millis(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default())
}

/// The record key of a video.
pub fn key(tenant: &str, video: &str) -> String {
    format!("{tenant}.{video}")
}

/// Why a compare-and-set did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// Someone else wrote the record since it was read.
    #[error("the job record changed meanwhile")]
    Conflict,
    #[error("job record store: {0}")]
    Store(String),
}

/// The job records in KV.
#[derive(Clone)]
pub struct Leases {
    kv: kv::Store,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Leases")
    }
}

impl Leases {
    /// Creates (or updates) the bucket and opens it. Records of untouched videos expire after a
    /// week (the sweeper's threshold is far below it).
    pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<Leases, String> {
        let kv = js
            .create_or_update_key_value(kv::Config {
                bucket: KV_LEASES.into(),
                description: "Framelog transcode job records: request, attempts, lease".into(),
                history: 1,
                max_age: Duration::from_secs(7 * 24 * 3600),
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas.max(1),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("opening the {KV_LEASES} bucket: {e}"))?;
        Ok(Leases { kv })
    }

    /// Records in an already opened bucket.
    pub fn from_store(kv: kv::Store) -> Leases {
        Leases { kv }
    }

    /// The record at `key` and its revision (0 if none).
    pub async fn read(&self, key: &str) -> Result<(Option<Record>, u64), LeaseError> {
        let entry = self.kv.entry(key).await.map_err(|e| LeaseError::Store(e.to_string()))?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                let r = serde_json::from_slice(&e.value)
                    .map_err(|e| LeaseError::Store(format!("unreadable record: {e}")))?;
                Ok((Some(r), e.revision))
            }
            Some(e) => Ok((None, e.revision)),
            None => Ok((None, 0)),
        }
    }

    /// Writes `record` if the entry is still at `revision` (0: absent); the new revision.
    pub async fn write(
        &self,
        key: &str,
        record: &Record,
        revision: u64,
    ) -> Result<u64, LeaseError> {
        let value = serde_json::to_vec(record).expect("a record serialises").into();
        if revision == 0 {
            return self.kv.create(key, value).await.map_err(|e| match e.kind() {
                CreateErrorKind::AlreadyExists => LeaseError::Conflict,
                _ => LeaseError::Store(e.to_string()),
            });
        }
        self.kv.update(key, value, revision).await.map_err(|e| match e.kind() {
            UpdateErrorKind::WrongLastRevision => LeaseError::Conflict,
            _ => LeaseError::Store(e.to_string()),
        })
    }

    /// Applies `change` to the current record until it sticks (a few tries); `None` from
    /// `change` means nothing to write.
    pub async fn modify(
        &self,
        key: &str,
        change: impl Fn(&Record) -> Option<Record>,
    ) -> Result<Option<Record>, LeaseError> {
        for _ in 0..5 {
            let (Some(cur), rev) = self.read(key).await? else { return Ok(None) };
            let Some(next) = change(&cur) else { return Ok(None) };
            match self.write(key, &next, rev).await {
                Ok(_) => return Ok(Some(next)),
                Err(LeaseError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(LeaseError::Conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(10);

    fn take(cur: Option<&Record>, seq: u64, me: &str, now: u64) -> Decision {
        decide(cur, seq, me, &format!("{me}-{now}"), now, TTL, 4)
    }

    fn taken(d: Decision) -> (u32, Record) {
        match d {
            Decision::Take { attempt, record } => (attempt, record),
            other => panic!("not taken: {other:?}"),
        }
    }

    #[test]
    fn a_first_delivery_takes_the_lease_as_attempt_one() {
        let (attempt, r) = taken(take(None, 7, "a", 1000));
        assert_eq!((attempt, r.request_seq, r.attempts), (1, 7, 1));
        assert_eq!(r.holder.unwrap().expires_at_ms, 11_000);
    }

    #[test]
    fn a_live_lease_of_another_worker_is_not_taken_and_costs_no_attempt() {
        let (_, r) = taken(take(None, 7, "a", 1000));
        let d = take(Some(&r), 7, "b", 5000);
        assert_eq!(d, Decision::Busy { holder: "a".into(), delay: Duration::from_secs(7) });
        // Even for another request of the same video: one job per video at a time.
        assert!(matches!(take(Some(&r), 9, "b", 5000), Decision::Busy { .. }));
    }

    #[test]
    fn an_expired_lease_is_taken_over_as_the_next_attempt_and_the_old_holder_is_fenced() {
        let (_, a) = taken(take(None, 7, "a", 1000));
        let (attempt, b) = taken(take(Some(&a), 7, "b", 11_000));
        assert_eq!((attempt, b.attempts), (2, 2), "the silent attempt counted");
        assert_eq!(b.renewed("a-1000", 12_000, TTL), None, "a cannot renew: fenced");
        let renewed = b.renewed("b-11000", 12_000, TTL).unwrap();
        assert_eq!(renewed.holder.unwrap().expires_at_ms, 22_000);
    }

    #[test]
    fn graceful_hand_backs_give_their_attempt_back_so_restarts_never_use_attempts_up() {
        let mut cur: Option<Record> = None;
        for i in 0..10u64 {
            let token = format!("w{i}-{i}");
            let (attempt, r) = taken(decide(cur.as_ref(), 7, &format!("w{i}"), &token, i, TTL, 4));
            assert_eq!(attempt, 1, "restart {i}");
            cur = r.handed_back(&token);
        }
        assert_eq!(cur.unwrap().attempts, 0);
    }

    #[test]
    fn failures_and_silent_deaths_use_attempts_up_then_the_job_is_out_of_attempts() {
        let (_, r) = taken(take(None, 7, "a", 0));
        let r = r.failed("a-0").unwrap();
        let (attempt, r) = taken(take(Some(&r), 7, "b", 1));
        assert_eq!(attempt, 2);
        // b dies silently: its lease expires, the attempt stays counted.
        let (attempt, r) = taken(take(Some(&r), 7, "c", 20_000));
        assert_eq!(attempt, 3);
        let (attempt, r) = taken(take(Some(&r), 7, "d", 40_000));
        assert_eq!(attempt, 4);
        assert_eq!(take(Some(&r), 7, "e", 60_000), Decision::OutOfAttempts { attempts: 4 });
    }

    #[test]
    fn a_settled_request_is_acked_and_a_new_request_starts_its_own_count() {
        let (_, r) = taken(take(None, 7, "a", 0));
        let done = r.settled();
        assert_eq!(take(Some(&done), 7, "b", 1), Decision::Settled);
        assert_eq!(done.renewed("a-0", 1, TTL), None, "settled: nothing to renew");
        let (attempt, r) = taken(take(Some(&done), 12, "b", 1));
        assert_eq!((attempt, r.request_seq, r.done), (1, 12, false));
        // The old request come back (a lost ack) is superseded by the newer one.
        assert_eq!(take(Some(&r.failed("b-1").unwrap()), 7, "c", 2), Decision::Settled);
    }

    #[test]
    fn only_the_holder_hands_back_or_fails() {
        let (_, r) = taken(take(None, 7, "a", 0));
        assert_eq!(r.handed_back("someone-else"), None);
        assert_eq!(r.failed("someone-else"), None);
        assert_eq!(r.handed_back("a-0").unwrap().holder, None);
    }
}
