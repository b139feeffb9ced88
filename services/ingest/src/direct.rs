//! Direct uploads: a one-use, expiring upload URL a tenant's backend asks for so an end user's
//! browser can upload one video with no API key.
//!
//! The URL carries a token (`fdu_` + 32 random bytes, base64url) that is stored only as its
//! sha256. Records live in the upload-session bucket ([`crate::session_kv::BUCKET`]) under two
//! prefixes, so direct uploads share that bucket's replication and its compare-and-set helper
//! and need no topology change of their own:
//!
//! - `d.<sha256 hex of the token>`: the [`DirectUpload`] record;
//! - `di.<tenant>.<direct upload id>`: the token hash, to find the record by its public id.
//!
//! The first upload created through the token binds the record to it by compare-and-set
//! ([`claim`]), so a second create loses even on another replica. The status the API shows is
//! derived ([`DirectUpload::status_at`]): stored `waiting`/`uploading`/`cancelled`, with
//! `expired` from the clock and `asset_created` from the bound upload's session.

use std::collections::BTreeMap;

use base64::Engine as _;
use framelog_core::ApiError;
use framelog_events::{AggregateId, TenantId};
use http::StatusCode;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::session::StoreError;
use crate::session_kv::{Cas, SessionStore};

/// Prefix of every direct-upload token.
pub const TOKEN_PREFIX: &str = "fdu_";
/// Default and longest lifetime of a direct upload URL (seconds).
pub const DEFAULT_EXPIRES_IN: u64 = 3600;
pub const MAX_EXPIRES_IN: u64 = 604_800;

/// The stored state of a direct upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stored {
    Waiting,
    Uploading,
    Cancelled,
}

/// One direct upload (the KV record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectUpload {
    pub id: String,
    pub tenant: TenantId,
    pub video_id: AggregateId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    pub status: Stored,
    /// The upload the token created (set by [`claim`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
}

/// The status shown by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Waiting,
    Uploading,
    AssetCreated,
    Cancelled,
    Expired,
}

impl DirectUpload {
    /// The status at `now`, given whether the bound upload completed. An upload already
    /// bound keeps going after the URL expires (expiry stops new uploads, not a running one).
    pub fn status_at(&self, now: OffsetDateTime, upload_completed: bool) -> Status {
        match self.status {
            Stored::Cancelled => Status::Cancelled,
            Stored::Uploading if upload_completed => Status::AssetCreated,
            Stored::Uploading => Status::Uploading,
            Stored::Waiting if now >= self.expires_at => Status::Expired,
            Stored::Waiting => Status::Waiting,
        }
    }
}

/// Why the token may not create an upload now (pure: the claim rule).
pub fn claim_refusal(d: &DirectUpload, now: OffsetDateTime) -> Option<ApiError> {
    match d.status {
        Stored::Cancelled => Some(cancelled()),
        Stored::Uploading => Some(ApiError::conflict(
            "direct_upload_used",
            "this direct upload URL was already used to create its video",
        )),
        Stored::Waiting if now >= d.expires_at => Some(expired()),
        Stored::Waiting => None,
    }
}

/// Why the token may not reach its bound upload now (pure).
pub fn use_refusal(d: &DirectUpload, now: OffsetDateTime) -> Option<ApiError> {
    match d.status {
        Stored::Cancelled => Some(cancelled()),
        Stored::Waiting if now >= d.expires_at => Some(expired()),
        Stored::Waiting | Stored::Uploading => None,
    }
}

pub fn expired() -> ApiError {
    ApiError::new(StatusCode::GONE, "direct_upload_expired", "this direct upload URL expired")
}

pub fn cancelled() -> ApiError {
    ApiError::new(StatusCode::GONE, "direct_upload_cancelled", "this direct upload was cancelled")
}

/// A new token: `fdu_` + 32 random bytes, base64url without padding.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token: hex sha256. `None` for anything that is not a token's shape, so
/// a malformed path costs no KV read.
pub fn token_hash(token: &str) -> Option<String> {
    let body = token.strip_prefix(TOKEN_PREFIX)?;
    if body.len() != 43
        || !body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some(hex::encode(Sha256::digest(token.as_bytes())))
}

fn record_key(hash: &str) -> String {
    format!("d.{hash}")
}

fn index_key(tenant: &TenantId, id: &str) -> String {
    format!("di.{tenant}.{id}")
}

/// Whether `id` is the shape of a direct upload id (checked before it becomes a key token).
fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Stores a new direct upload under its token's hash.
pub async fn insert(store: &SessionStore, hash: &str, d: &DirectUpload) -> Result<(), StoreError> {
    store.put(&index_key(&d.tenant, &d.id), &hash.to_owned()).await?;
    store.put(&record_key(hash), d).await
}

/// The record of a token hash.
pub async fn by_hash(store: &SessionStore, hash: &str) -> Result<Option<DirectUpload>, StoreError> {
    store.read(&record_key(hash)).await
}

/// A tenant's direct upload by id, with its token hash; another tenant's is `None`.
pub async fn by_id(
    store: &SessionStore,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<(String, DirectUpload)>, StoreError> {
    if !is_id(id) {
        return Ok(None);
    }
    let Some(hash) = store.read::<String>(&index_key(tenant, id)).await? else { return Ok(None) };
    Ok(by_hash(store, &hash).await?.filter(|d| d.tenant == *tenant).map(|d| (hash, d)))
}

/// Binds the token to `upload_id` if it may still create its upload; the refusal otherwise.
pub async fn claim(
    store: &SessionStore,
    hash: &str,
    upload_id: &str,
    now: OffsetDateTime,
) -> Result<Result<DirectUpload, ApiError>, StoreError> {
    store
        .cas::<DirectUpload, _>(&record_key(hash), |cur| {
            let Some(mut d) = cur else {
                return Ok(Cas::Keep(Err(ApiError::not_found("direct upload"))));
            };
            if let Some(e) = claim_refusal(&d, now) {
                return Ok(Cas::Keep(Err(e)));
            }
            d.status = Stored::Uploading;
            d.upload_id = Some(upload_id.to_owned());
            Ok(Cas::Write(d.clone(), Ok(d)))
        })
        .await
}

/// Undoes a [`claim`] whose upload could not be opened (quota, store down), so the URL can be
/// tried again.
pub async fn unclaim(store: &SessionStore, hash: &str, upload_id: &str) -> Result<(), StoreError> {
    store
        .cas::<DirectUpload, _>(&record_key(hash), |cur| match cur {
            Some(mut d) if d.upload_id.as_deref() == Some(upload_id) => {
                d.status = Stored::Waiting;
                d.upload_id = None;
                Ok(Cas::Write(d, ()))
            }
            _ => Ok(Cas::Keep(())),
        })
        .await
}

/// Marks the direct upload cancelled; the record as it was before.
pub async fn cancel(store: &SessionStore, hash: &str) -> Result<Option<DirectUpload>, StoreError> {
    store
        .cas::<DirectUpload, _>(&record_key(hash), |cur| match cur {
            Some(d) if d.status != Stored::Cancelled => {
                let before = d.clone();
                Ok(Cas::Write(DirectUpload { status: Stored::Cancelled, ..d }, Some(before)))
            }
            other => Ok(Cas::Keep(other)),
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Stored) -> DirectUpload {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        DirectUpload {
            id: "du_1".into(),
            tenant: TenantId::new("acme").unwrap(),
            video_id: AggregateId::new("vid_1").unwrap(),
            cors_origin: None,
            max_size: None,
            created_at: t,
            expires_at: t + time::Duration::hours(1),
            title: None,
            external_id: None,
            metadata: BTreeMap::new(),
            status,
            upload_id: None,
        }
    }

    #[test]
    fn a_token_is_fdu_and_43_base64url_characters_and_hashes_to_hex() {
        let t = new_token();
        assert!(t.starts_with("fdu_") && t.len() == 47, "{t}");
        assert_eq!(token_hash(&t).unwrap().len(), 64);
        assert_ne!(new_token(), t);
        assert!(token_hash("fdu_short").is_none());
        assert!(token_hash(&t.replace("fdu_", "flk_")).is_none());
        assert!(token_hash(&format!("{}.", &t[..46])).is_none());
    }

    #[test]
    fn only_a_waiting_unexpired_upload_may_be_claimed() {
        let d = record(Stored::Waiting);
        let before = d.created_at;
        let after = d.expires_at;
        assert!(claim_refusal(&d, before).is_none());
        assert_eq!(claim_refusal(&d, after).unwrap().code, "direct_upload_expired");
        let used = claim_refusal(&record(Stored::Uploading), before).unwrap();
        assert_eq!((used.status.as_u16(), used.code), (409, "direct_upload_used"));
        let gone = claim_refusal(&record(Stored::Cancelled), before).unwrap();
        assert_eq!((gone.status.as_u16(), gone.code), (410, "direct_upload_cancelled"));
    }

    #[test]
    fn a_bound_upload_outlives_the_url_and_shows_asset_created_when_done() {
        let d = record(Stored::Uploading);
        let late = d.expires_at + time::Duration::hours(1);
        assert!(use_refusal(&d, late).is_none());
        assert_eq!(d.status_at(late, false), Status::Uploading);
        assert_eq!(d.status_at(late, true), Status::AssetCreated);
        assert_eq!(record(Stored::Waiting).status_at(late, false), Status::Expired);
        assert_eq!(record(Stored::Cancelled).status_at(late, true), Status::Cancelled);
    }
}
