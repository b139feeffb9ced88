//! Webhook endpoints in the NATS KV bucket `framelog_webhook_endpoints`, key
//! `<tenant>.<endpoint id>`, updated by compare-and-set on the revision so every replica (API
//! and workers) sees one truth.
//!
//! An endpoint holds its secrets: the current one (no `not_after`) and, during a rotation's
//! overlap, the previous ones with the time they stop signing. They must be readable to sign,
//! so they are stored as issued (the bucket is reachable only by the `framelog` NATS role) and
//! never logged (`Debug` leaves them out).

use async_nats::jetstream::{self, consumer, kv};
use bytes::Bytes;
use framelog_core::nats::KV_WEBHOOK_ENDPOINTS;
use framelog_events::TenantId;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One signing secret of an endpoint.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// `whsec_...`.
    pub secret: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops signing (set when a newer secret replaces it); `None`: current.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRecord").field("not_after", &self.not_after).finish()
    }
}

/// Why an endpoint stopped receiving deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// The tenant disabled it (`enabled: false`).
    Manual,
    /// It answered 410 Gone.
    Gone,
    /// A delivery failed for the whole retry window (~5 days).
    Failing,
}

/// An endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub tenant: TenantId,
    pub url: String,
    /// `VID_READY` (every phase of a type) or `VID_UPLOAD.completed`; empty: every event.
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    #[serde(default)]
    pub disabled_reason: Option<DisabledReason>,
    pub secrets: Vec<SecretRecord>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Endpoint {
    /// Whether an event of `event_type` (`VID_READY`) and `phase` goes to this endpoint.
    pub fn wants(&self, event_type: &str, phase: &str) -> bool {
        self.event_types.is_empty()
            || self.event_types.iter().any(|t| match t.split_once('.') {
                Some((ty, ph)) => ty == event_type && ph == phase,
                None => t == event_type,
            })
    }

    /// The secrets that sign at `now`: the current one and those still in their overlap.
    pub fn live_secrets(&self, now: OffsetDateTime) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.not_after.is_none_or(|t| t > now))
            .map(|s| s.secret.as_str())
            .collect()
    }

    /// Replaces the current secret by `new`, the old ones signing until `overlap_until`;
    /// secrets whose overlap ended are dropped.
    pub fn rotate(&mut self, new: String, now: OffsetDateTime, overlap_until: OffsetDateTime) {
        self.secrets.retain(|s| s.not_after.is_none_or(|t| t > now));
        for s in &mut self.secrets {
            s.not_after = Some(s.not_after.map_or(overlap_until, |t| t.min(overlap_until)));
        }
        self.secrets.push(SecretRecord { secret: new, created_at: now, not_after: None });
    }
}

/// Whether `s` is an event-type filter we accept: a known type, optionally `.<phase token>`.
pub fn valid_event_type(s: &str) -> bool {
    let (ty, phase) = match s.split_once('.') {
        Some((t, p)) => (t, Some(p)),
        None => (s, None),
    };
    let known = framelog_events::Kind::from_event_type(ty)
        .is_some_and(|k| k != framelog_events::Kind::View);
    known
        && phase.is_none_or(|p| {
            !p.is_empty() && p.len() <= 64 && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
}

/// Whether `id` can be an endpoint id (one KV key and subject token).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("webhook endpoint store: {0}")]
    Kv(String),
    #[error("the endpoint changed concurrently")]
    Conflict,
    #[error("corrupt endpoint record: {0}")]
    Corrupt(#[from] serde_json::Error),
}

fn kv_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Kv(e.to_string())
}

fn key(tenant: &TenantId, id: &str) -> String {
    format!("{tenant}.{id}")
}

/// The endpoint store.
#[derive(Clone)]
pub struct EndpointStore {
    kv: kv::Store,
    nats: async_nats::Client,
}

impl std::fmt::Debug for EndpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointStore")
    }
}

impl EndpointStore {
    pub async fn open(
        nats: async_nats::Client,
        js: &jetstream::Context,
    ) -> Result<EndpointStore, StoreError> {
        Ok(EndpointStore {
            kv: js.get_key_value(KV_WEBHOOK_ENDPOINTS).await.map_err(kv_err)?,
            nats,
        })
    }

    /// The bucket (for the fan-out's watch-fed copy).
    pub fn kv(&self) -> &kv::Store {
        &self.kv
    }

    /// Stores a new endpoint.
    pub async fn create(&self, e: &Endpoint) -> Result<(), StoreError> {
        let v = Bytes::from(serde_json::to_vec(e)?);
        self.kv.create(key(&e.tenant, &e.id), v).await.map_err(kv_err)?;
        Ok(())
    }

    /// The tenant's endpoint `id` with its revision; `None` if absent (or another tenant's).
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<(Endpoint, u64)>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let Some(entry) = self.kv.entry(key(tenant, id)).await.map_err(kv_err)? else {
            return Ok(None);
        };
        if !matches!(entry.operation, kv::Operation::Put) {
            return Ok(None);
        }
        let e: Endpoint = serde_json::from_slice(&entry.value)?;
        Ok((e.tenant == *tenant).then_some((e, entry.revision)))
    }

    /// Applies `change` to the endpoint by compare-and-set, retrying on a concurrent write.
    /// `None` if it does not exist.
    pub async fn modify(
        &self,
        tenant: &TenantId,
        id: &str,
        mut change: impl FnMut(&mut Endpoint),
    ) -> Result<Option<Endpoint>, StoreError> {
        for _ in 0..10 {
            let Some((mut e, rev)) = self.get(tenant, id).await? else { return Ok(None) };
            change(&mut e);
            e.updated_at = OffsetDateTime::now_utc();
            let v = Bytes::from(serde_json::to_vec(&e)?);
            match self.kv.update(key(tenant, id), v, rev).await {
                Ok(_) => return Ok(Some(e)),
                Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(err) => return Err(kv_err(err)),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Deletes the endpoint; `false` if it did not exist.
    pub async fn delete(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        if self.get(tenant, id).await?.is_none() {
            return Ok(false);
        }
        self.kv.delete(key(tenant, id)).await.map_err(kv_err)?;
        Ok(true)
    }

    /// Every endpoint of `tenant`, read through one ordered consumer (last value per key).
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Endpoint>, StoreError> {
        let prefix = format!("$KV.{KV_WEBHOOK_ENDPOINTS}.");
        let consumer = self
            .kv
            .stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.nats.new_inbox(),
                filter_subject: format!("{prefix}{tenant}.*"),
                replay_policy: consumer::ReplayPolicy::Instant,
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(kv_err)?;
        let mut out = Vec::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(out);
        }
        let mut msgs = consumer.messages().await.map_err(kv_err)?;
        loop {
            let m = match tokio::time::timeout(std::time::Duration::from_secs(5), msgs.next()).await
            {
                Ok(Some(m)) => m.map_err(kv_err)?,
                Ok(None) => break,
                Err(e) => return Err(kv_err(e)),
            };
            let pending = m.info().map(|i| i.pending).unwrap_or(0);
            let deleted = m
                .headers
                .as_ref()
                .and_then(|h| h.get("KV-Operation"))
                .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"));
            if !deleted {
                match serde_json::from_slice::<Endpoint>(&m.payload) {
                    Ok(e) if e.tenant == *tenant => out.push(e),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(subject = %m.subject, error = %e,
                        "unreadable webhook endpoint skipped"),
                }
            }
            if pending == 0 {
                break;
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn endpoint(types: &[&str]) -> Endpoint {
        let now = OffsetDateTime::now_utc();
        Endpoint {
            id: "whe_1".into(),
            tenant: TenantId::new("acme").unwrap(),
            url: "https://example.com/hook".into(),
            event_types: types.iter().map(|s| s.to_string()).collect(),
            description: String::new(),
            enabled: true,
            disabled_reason: None,
            secrets: vec![SecretRecord {
                secret: "whsec_a".into(),
                created_at: now,
                not_after: None,
            }],
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_type_filter_takes_every_phase_and_a_phase_filter_only_its_own() {
        assert!(endpoint(&[]).wants("VID_UPLOAD", "initiated"));
        let e = endpoint(&["VID_READY", "VID_UPLOAD.completed"]);
        assert!(e.wants("VID_READY", "published"));
        assert!(e.wants("VID_UPLOAD", "completed"));
        assert!(!e.wants("VID_UPLOAD", "initiated"));
        assert!(!e.wants("VID_TRANSCODE", "completed"));
    }

    #[test]
    fn filters_name_known_types_and_phase_tokens_only() {
        assert!(valid_event_type("VID_READY"));
        assert!(valid_event_type("VID_UPLOAD.completed"));
        assert!(!valid_event_type("VID_NOPE"));
        assert!(!valid_event_type("VID_VIEW"), "views are not delivered");
        assert!(!valid_event_type("VID_UPLOAD."));
        assert!(!valid_event_type("VID_UPLOAD.Completed!"));
    }

    #[test]
    fn after_a_rotation_both_secrets_sign_until_the_overlap_ends() {
        let mut e = endpoint(&[]);
        let now = OffsetDateTime::now_utc();
        e.rotate("whsec_b".into(), now, now + Duration::hours(1));
        assert_eq!(e.live_secrets(now), vec!["whsec_a", "whsec_b"]);
        assert_eq!(e.live_secrets(now + Duration::hours(2)), vec!["whsec_b"]);
        // A second rotation after the overlap drops the expired secret.
        e.rotate("whsec_c".into(), now + Duration::hours(2), now + Duration::hours(3));
        assert_eq!(e.secrets.len(), 2);
        assert_eq!(e.live_secrets(now + Duration::hours(2)), vec!["whsec_b", "whsec_c"]);
    }
}
