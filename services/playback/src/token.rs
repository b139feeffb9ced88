//! The one token check of the `{token}` path slot (`/hls/{token}/...`, `/live/{token}/...`):
//! an HMAC token of [`framelog_core::signing`] (four fields; names its tenant), or a JWT
//! ([`crate::jwt`]; its key's record names the tenant). Every refusal is 403 `invalid_token`.
//!
//! A JWT is checked against the in-memory keys ([`crate::key_cache`], no NATS); 503 until they
//! are loaded. Once its signature verifies, the video (stream) must belong to the key's tenant:
//! that one lookup (media store, stream record) happens on the token's first use only, as
//! verified tokens are remembered ([`VerifiedTokens`]) until they expire. A remembered token
//! is still re-checked on every request for what can change: its key still exists (a deleted
//! key stops at once), `exp`, the path's audience and the `Referer`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use framelog_core::ApiError;
use framelog_core::media::hls_prefix;
use framelog_core::signing::verify_playback_token;
use http::{HeaderMap, StatusCode, header};

use crate::jwt::{self, Claims, JwtError};
use crate::state::PlaybackState;

/// Most tokens remembered; past it, expired ones are dropped, then all.
pub const MAX_VERIFIED: usize = 16_384;

/// What the token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Video,
    Stream,
}

/// A JWT that verified and whose subject belongs to its key's tenant.
#[derive(Debug)]
struct Verified {
    kid: String,
    tenant: String,
    claims: Claims,
}

/// Verified JWTs by token string; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct VerifiedTokens(Arc<RwLock<HashMap<String, Arc<Verified>>>>);

impl VerifiedTokens {
    fn get(&self, token: &str) -> Option<Arc<Verified>> {
        self.0.read().expect("verified tokens poisoned").get(token).cloned()
    }

    fn insert(&self, token: &str, v: Verified, now: i64) {
        let mut m = self.0.write().expect("verified tokens poisoned");
        if m.len() >= MAX_VERIFIED {
            m.retain(|_, v| v.claims.exp + jwt::LEEWAY_SECS >= now);
            if m.len() >= MAX_VERIFIED {
                m.clear();
            }
        }
        m.insert(token.to_owned(), Arc::new(v));
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.0.read().expect("verified tokens poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "invalid_token", message)
}

fn refused(e: JwtError) -> ApiError {
    forbidden(e.to_string())
}

/// The tenant `token` grants `path` of `id` (a video or a stream) to.
pub async fn authorize(
    st: &PlaybackState,
    token: &str,
    id: &str,
    path: &str,
    headers: &HeaderMap,
    target: Target,
) -> Result<String, ApiError> {
    let now = st.now().unix_timestamp();
    if !jwt::looks_like_jwt(token) {
        return verify_playback_token(&st.platform.secret, token, id, now)
            .map(str::to_owned)
            .map_err(|e| forbidden(e.to_string()));
    }
    if !st.keys.is_ready() {
        // A malformed token is refused whatever the keys' state; a well-formed one waits.
        jwt::parse(token).map_err(refused)?;
        return Err(ApiError::unavailable("signing keys are loading"));
    }
    let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok());
    if let Some(v) = st.verified.get(token) {
        let key = st.keys.get(&v.kid).filter(|k| k.tenant == v.tenant);
        key.ok_or_else(|| refused(JwtError::UnknownKey))?;
        jwt::check_claims(&v.claims, id, path, now, referer).map_err(refused)?;
        return Ok(v.tenant.clone());
    }
    let parsed = jwt::parse(token).map_err(refused)?;
    let key = st.keys.get(&parsed.kid).ok_or_else(|| refused(JwtError::UnknownKey))?;
    let claims = jwt::verify(&parsed, &key.key).map_err(refused)?;
    jwt::check_claims(&claims, id, path, now, referer).map_err(refused)?;
    if !belongs_to(st, &key.tenant, id, target).await? {
        return Err(forbidden(format!("{id} is not a video or stream of this key's tenant")));
    }
    let tenant = key.tenant.clone();
    st.verified.insert(token, Verified { kid: parsed.kid, tenant: tenant.clone(), claims }, now);
    Ok(tenant)
}

/// Whether `tenant` has a video (an HLS master) or a live stream named `id`.
async fn belongs_to(
    st: &PlaybackState,
    tenant: &str,
    id: &str,
    target: Target,
) -> Result<bool, ApiError> {
    if framelog_events::id::validate_id(id).is_err() {
        return Ok(false);
    }
    match target {
        Target::Stream => crate::viewers::stream_belongs_to(st, tenant, id).await,
        Target::Video => {
            let master = format!("{}/master.m3u8", hls_prefix(tenant, id));
            let master = crate::current::resolve(&st.media, tenant, id, "master.m3u8", master)
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
            st.media.exists(&master).await.map_err(|e| ApiError::unavailable(e.to_string()))
        }
    }
}
