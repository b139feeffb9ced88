//! Who an upload request acts for: the [`Principal`] the REST and tus handlers take instead of
//! a bare API-key tenant.
//!
//! An API key gives a tenant that may open any upload and reach all of its own. A direct-upload
//! token (see [`crate::direct`]) gives a [`Grant`]: the same tenant, but it may open exactly one
//! upload, for the video id chosen when the URL was made, no larger than its `max_size`, and
//! reach only that upload. The grant is put in the request's extensions by
//! [`crate::direct_gate`] (the only code that reads a token), so a route outside
//! `/v1/direct/..` never sees one.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use framelog_core::ApiError;
use framelog_core::tenants::{Tenant, TenantStore};
use framelog_events::TenantId;
use http::StatusCode;
use time::OffsetDateTime;

use crate::direct::{self, DirectUpload};
use crate::lifecycle::{self, NewUpload, Preset, store_err};
use crate::session::UploadSession;
use crate::state::IngestState;

/// A direct-upload token's rights, resolved from its record.
#[derive(Debug, Clone)]
pub struct Grant {
    /// sha256 of the token (the record's key).
    pub hash: String,
    pub record: DirectUpload,
}

/// The tenant an upload request acts for, and the direct upload limiting it, if any.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: TenantId,
    pub direct: Option<Grant>,
}

impl<S> FromRequestParts<S> for Principal
where
    TenantStore: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(g) = parts.extensions.get::<Grant>() {
            return Ok(Principal { tenant: g.record.tenant.clone(), direct: Some(g.clone()) });
        }
        let Tenant(tenant) = Tenant::from_request_parts(parts, state).await?;
        Ok(Principal { tenant, direct: None })
    }
}

/// Opens an upload for `p`. Through a token: refused unless the URL is unused and unexpired and
/// the size fits `max_size`; then the URL is bound to the new upload (compare-and-set, so a
/// second create loses on any replica) and the upload gets the URL's video id and catalog
/// fields.
pub async fn open_upload(
    st: &IngestState,
    p: &Principal,
    mut new: NewUpload,
) -> Result<(UploadSession, framelog_core::eventlog::Published), ApiError> {
    let Some(g) = &p.direct else { return lifecycle::open(st, new).await };
    let now = OffsetDateTime::now_utc();
    if let Some(e) = direct::claim_refusal(&g.record, now) {
        return Err(e);
    }
    if let Some(max) = g.record.max_size
        && new.size > max
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload_too_large",
            format!("{} bytes is over this direct upload's max_size of {max} bytes", new.size),
        ));
    }
    let upload_id = framelog_core::new_id("up").to_string();
    let d = direct::claim(&st.sessions, &g.hash, &upload_id, now).await.map_err(store_err)??;
    new.preset = Some(Preset {
        upload_id: upload_id.clone(),
        video_id: Some(d.video_id),
        title: d.title,
        external_id: d.external_id,
        metadata: d.metadata,
    });
    match lifecycle::open(st, new).await {
        Ok(done) => Ok(done),
        Err(e) => {
            if let Err(u) = direct::unclaim(&st.sessions, &g.hash, &upload_id).await {
                tracing::warn!(error = %u, "could not release a direct upload after a failed open");
            }
            Err(e)
        }
    }
}

/// An upload `p` may reach: the tenant's own, and through a token only the one it created.
pub async fn load_for(
    st: &IngestState,
    p: &Principal,
    id: &str,
) -> Result<UploadSession, ApiError> {
    if let Some(g) = &p.direct {
        if let Some(e) = direct::use_refusal(&g.record, OffsetDateTime::now_utc()) {
            return Err(e);
        }
        if g.record.upload_id.as_deref() != Some(id) {
            return Err(ApiError::not_found("upload"));
        }
    }
    lifecycle::load(st, &p.tenant, id).await
}
