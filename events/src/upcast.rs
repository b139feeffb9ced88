//! Reading older schema versions. Each type's data is decoded at the version it was written
//! with, then lifted step by step to the current version. Today every type is at version 1,
//! so this is the identity; a version 2 adds a `v1 -> v2` step here and keeps the v1 fixtures in
//! `schemas/fixtures/` passing.

use crate::data::{LiveData, ReadyData, TranscodeData, UploadData, ViewData};
use crate::envelope::EventData;
use crate::kind::Kind;

/// Decodes `data` written at schema `version` (already checked ≤ current) into today's type.
pub(crate) fn decode_data(
    kind: Kind,
    version: u32,
    data: &str,
) -> Result<EventData, serde_json::Error> {
    debug_assert!(version >= 1 && version <= kind.schema_version());
    Ok(match kind {
        Kind::Upload => EventData::Upload(serde_json::from_str::<UploadData>(data)?),
        Kind::Transcode => EventData::Transcode(serde_json::from_str::<TranscodeData>(data)?),
        Kind::Ready => EventData::Ready(serde_json::from_str::<ReadyData>(data)?),
        Kind::Live => EventData::Live(serde_json::from_str::<LiveData>(data)?),
        Kind::View => EventData::View(serde_json::from_str::<ViewData>(data)?),
    })
}
