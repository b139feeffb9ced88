//! The source-key fence (pure): a transcode request may only name a source of its own tenant.
//! Any process that can publish on `vid.<tenant>.transcode.requested.*` could otherwise name
//! another tenant's source (`sources/<other>/<video>/source`) and have it transcoded into its
//! own HLS, playable with its own tokens. The key is checked before anything is read.

use framelog_core::media::validate_key;
use framelog_events::TenantId;

use crate::error::JobError;

/// Accepts `key` only if it is a valid media key under `sources/<tenant>/` (no `..`, no
/// absolute path, no empty or odd segment, at least one segment below the tenant).
pub fn check_source_key(tenant: &TenantId, key: &str) -> Result<(), JobError> {
    let refuse = || JobError::ForeignSource { key: key.to_owned(), tenant: tenant.to_string() };
    validate_key(key).map_err(|_| refuse())?;
    let mut parts = key.split('/');
    let ours = parts.next() == Some("sources") && parts.next() == Some(tenant.as_str());
    if !ours || parts.next().is_none() {
        return Err(refuse());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(tenant: &str, key: &str) -> bool {
        check_source_key(&TenantId::new(tenant).unwrap(), key).is_ok()
    }

    #[test]
    fn a_tenant_may_name_its_own_sources_only() {
        assert!(ok("acme", "sources/acme/vid_1/source"));
        assert!(!ok("acme", "sources/globex/vid_1/source"), "another tenant's");
        assert!(!ok("acme", "sources/acmeco/vid_1/source"), "a tenant whose id starts the same");
        assert!(!ok("acme", "hls/acme/vid_1/master.m3u8"), "not a source");
        assert!(!ok("acme", "sources/acme"), "nothing below the tenant");
    }

    #[test]
    fn traversal_absolute_and_malformed_keys_are_refused() {
        for key in [
            "sources/acme/../globex/vid_1/source",
            "sources/acme/vid_1/../../globex/v/source",
            "/sources/acme/vid_1/source",
            "/etc/hostname",
            "sources//acme/vid_1/source",
            "sources/acme/./vid_1/source",
            "sources/acme/vid 1/source",
            "sources\\acme\\vid_1\\source",
            "file:sources/acme/vid_1/source",
            "",
        ] {
            assert!(!ok("acme", key), "{key:?}");
        }
    }
}
