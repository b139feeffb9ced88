//! Per-tenant fairness: one tenant cannot hold every slot of a worker while other work waits.
//! A worker pulls one job whenever a slot is free; if that job's tenant already runs its cap
//! ([`TranscoderSettings::tenant_cap`], by default concurrency − 1) and the queue holds jobs
//! never delivered yet, the job is handed back (`Nak` with a short delay) without running and
//! the worker pulls the next one, so another tenant's job behind it starts. With nothing else
//! queued it runs over the cap: a slot is never left idle for fairness' sake.
//!
//! The server lengthens a delayed `Nak` by the consumer's back-off step for that delivery minus
//! the ack wait (measured on nats-server 2.15 with ack wait 5 s and back-off 5, 10, 20 s: a 2 s
//! nak at the 2nd delivery came back after 7 s, a 3 s one at the 3rd after 18 s). That only
//! delays the handed-back job of the tenant over its cap, while another tenant uses the slot.
//!
//! A hand-back is a delivery, and deliveries are what JetStream counts against `max_deliver`.
//! Attempts are counted by the application instead ([`crate::lease`]: a hand-back never takes
//! the job's lease, so it is no attempt). Hand-backs still have a budget, counted per request
//! in the `framelog_transcode_handbacks` KV bucket (shared by every worker, surviving
//! restarts): a job out of budget runs even over its tenant's cap (fairness yields to
//! progress), and the server's `max_deliver` leaves room for it (see
//! [`TranscoderSettings::server_max_deliver`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use framelog_events::TenantId;

use crate::settings::TranscoderSettings;

/// KV bucket of hand-back counts, by the request's stream sequence.
pub const KV_HANDBACKS: &str = "framelog_transcode_handbacks";

/// What to do with a delivered job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Run it (if its lease can be taken).
    Run,
    /// Its tenant is at its cap: hand it back for `delay`.
    HandBack { delay: Duration },
}

/// Decides for a job at its `delivered`th delivery, `handbacks` of them hand-backs, while its
/// tenant runs `running` jobs on this worker and (`queued`) other jobs wait undelivered.
pub fn admit(
    s: &TranscoderSettings,
    delivered: i64,
    handbacks: i64,
    running: usize,
    queued: bool,
) -> Admission {
    if running >= s.tenant_cap() && queued && handbacks < s.max_handbacks {
        return Admission::HandBack { delay: s.handback_delay(delivered) };
    }
    Admission::Run
}

/// Jobs running per tenant on this worker.
#[derive(Debug, Clone, Default)]
pub struct TenantSlots(Arc<Mutex<HashMap<TenantId, usize>>>);

/// One running job of a tenant; dropping it frees the tenant's slot.
#[derive(Debug)]
pub struct TenantSlot {
    slots: TenantSlots,
    tenant: TenantId,
}

impl TenantSlots {
    /// Jobs of `tenant` running now.
    pub fn running(&self, tenant: &TenantId) -> usize {
        self.0.lock().expect("slots poisoned").get(tenant).copied().unwrap_or(0)
    }

    /// Counts one more job of `tenant` until the slot is dropped.
    pub fn take(&self, tenant: &TenantId) -> TenantSlot {
        *self.0.lock().expect("slots poisoned").entry(tenant.clone()).or_insert(0) += 1;
        TenantSlot { slots: self.clone(), tenant: tenant.clone() }
    }
}

impl Drop for TenantSlot {
    fn drop(&mut self) {
        let mut m = self.slots.0.lock().expect("slots poisoned");
        if let Some(n) = m.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.tenant);
            }
        }
    }
}

/// Hand-back counts in KV, by request stream sequence.
#[derive(Clone)]
pub struct HandBacks {
    kv: kv::Store,
}

impl std::fmt::Debug for HandBacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandBacks")
    }
}

impl HandBacks {
    /// Creates (or updates) the bucket and opens it. Counts expire after a week.
    pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<HandBacks, String> {
        let kv = js
            .create_or_update_key_value(kv::Config {
                bucket: KV_HANDBACKS.into(),
                description: "Framelog transcode hand-backs per request (stream sequence)".into(),
                history: 1,
                max_age: Duration::from_secs(7 * 24 * 3600),
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas.max(1),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("opening the {KV_HANDBACKS} bucket: {e}"))?;
        Ok(HandBacks { kv })
    }

    /// Hand-backs of the request at `seq` so far.
    pub async fn count(&self, seq: u64) -> Result<i64, String> {
        let v = self.kv.get(seq.to_string()).await.map_err(|e| e.to_string())?;
        Ok(v.and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok()).unwrap_or(0))
    }

    /// Records that the request at `seq` has been handed back `n` times.
    pub async fn record(&self, seq: u64, n: i64) -> Result<(), String> {
        self.kv
            .put(seq.to_string(), n.to_string().into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Forgets a settled request (best effort: counts expire anyway).
    pub async fn forget(&self, seq: u64) {
        if let Err(e) = self.kv.purge(seq.to_string()).await {
            tracing::debug!(seq, error = %e, "forgetting hand-backs failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TranscoderSettings {
        TranscoderSettings { concurrency: 2, max_deliver: 4, ..Default::default() }
    }

    #[test]
    fn a_tenant_at_its_cap_is_handed_back_while_other_work_waits() {
        let s = settings();
        assert_eq!(admit(&s, 1, 0, 0, true), Admission::Run);
        let back = Admission::HandBack { delay: Duration::from_secs(5) };
        assert_eq!(admit(&s, 1, 0, 1, true), back);
        assert_eq!(
            admit(&s, 3, 2, 1, true),
            Admission::HandBack { delay: Duration::from_secs(15) }
        );
        // Many deliveries are no reason to stop: attempts are the lease's business.
        assert_eq!(admit(&s, 10, 9, 0, true), Admission::Run);
    }

    #[test]
    fn with_nothing_else_queued_a_tenant_runs_over_its_cap() {
        assert_eq!(admit(&settings(), 1, 0, 1, false), Admission::Run);
    }

    #[test]
    fn a_job_out_of_hand_backs_runs_over_the_cap() {
        assert_eq!(admit(&settings(), 51, 50, 1, true), Admission::Run, "budget spent: runs");
    }

    #[test]
    fn slots_count_running_jobs_per_tenant_until_dropped() {
        let slots = TenantSlots::default();
        let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
        let one = slots.take(&a);
        let two = slots.take(&a);
        let _three = slots.take(&b);
        assert_eq!((slots.running(&a), slots.running(&b)), (2, 1));
        drop(one);
        assert_eq!(slots.running(&a), 1);
        drop(two);
        assert_eq!(slots.running(&a), 0);
    }
}
