//! API key scopes and the one table that says which scope each tenant route needs.
//!
//! Enforcement lives in one place: the [`crate::tenants::Tenant`] extractor looks up
//! `(method, MatchedPath)` with [`required_scope`] and refuses a key that lacks it with 403
//! `insufficient_scope`. Handlers never check scopes. A route missing from [`ROUTE_SCOPES`]
//! needs [`Scope::Admin`]: a new route is closed until someone decides who may call it.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an API key may do. `admin` implies every other scope.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    #[serde(rename = "videos:read")]
    VideosRead,
    #[serde(rename = "videos:write")]
    VideosWrite,
    #[serde(rename = "uploads:write")]
    UploadsWrite,
    #[serde(rename = "live:read")]
    LiveRead,
    #[serde(rename = "live:write")]
    LiveWrite,
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    #[serde(rename = "signing_keys:write")]
    SigningKeysWrite,
    #[serde(rename = "billing:read")]
    BillingRead,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope, in the order the docs list them.
    pub const ALL: [Scope; 10] = [
        Scope::VideosRead,
        Scope::VideosWrite,
        Scope::UploadsWrite,
        Scope::LiveRead,
        Scope::LiveWrite,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
        Scope::SigningKeysWrite,
        Scope::BillingRead,
        Scope::Admin,
    ];

    /// The wire name (`videos:read` ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::VideosRead => "videos:read",
            Scope::VideosWrite => "videos:write",
            Scope::UploadsWrite => "uploads:write",
            Scope::LiveRead => "live:read",
            Scope::LiveWrite => "live:write",
            Scope::WebhooksRead => "webhooks:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::SigningKeysWrite => "signing_keys:write",
            Scope::BillingRead => "billing:read",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope string that names no scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {given:?}; valid scopes: {}", valid_list())]
pub struct UnknownScope {
    pub given: String,
}

fn valid_list() -> String {
    Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Scope, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownScope { given: s.chars().take(64).collect() })
    }
}

/// The scopes of one key (serialized as a sorted list of scope strings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Only `admin`: what keys created before scopes existed have.
    pub fn admin() -> ScopeSet {
        ScopeSet::from_iter([Scope::Admin])
    }

    /// Whether this set grants `needed` (`admin` grants everything).
    pub fn allows(&self, needed: Scope) -> bool {
        self.0.contains(&Scope::Admin) || self.0.contains(&needed)
    }

    /// Whether every scope of `other` is granted by this set (a key may not mint more than it
    /// has).
    pub fn covers(&self, other: &ScopeSet) -> bool {
        other.0.iter().all(|s| self.allows(*s))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> ScopeSet {
        ScopeSet(iter.into_iter().collect())
    }
}

/// `"*"` in the method column: every method of that path.
pub const ANY_METHOD: &str = "*";

/// The table: `(method, axum path pattern exactly as registered, scope)`. Keep it in step
/// with the routers; `services/framelog/tests/scope_table.rs` asks the real app for every row.
pub const ROUTE_SCOPES: &[(&str, &str, Scope)] = &[
    ("GET", "/v1/videos", Scope::VideosRead),
    ("GET", "/v1/videos/{id}", Scope::VideosRead),
    ("GET", "/v1/events", Scope::VideosRead),
    ("GET", "/v1/stats", Scope::VideosRead),
    ("GET", "/v1/videos/{id}/qoe", Scope::VideosRead),
    ("GET", "/v1/qoe", Scope::VideosRead),
    ("GET", "/v1/uploads/direct/{id}", Scope::VideosRead),
    ("DELETE", "/v1/videos/{id}", Scope::VideosWrite),
    ("PUT", "/v1/videos/{id}/visibility", Scope::VideosWrite),
    ("PUT", "/v1/videos/{id}/poster", Scope::VideosWrite),
    ("PUT", "/v1/videos/{id}/mp4", Scope::VideosWrite),
    ("GET", "/v1/settings/mp4", Scope::VideosRead),
    ("PUT", "/v1/settings/mp4", Scope::VideosWrite),
    ("POST", "/v1/videos", Scope::UploadsWrite),
    ("POST", "/v1/videos/upload", Scope::UploadsWrite),
    ("GET", "/v1/videos/upload/{id}", Scope::UploadsWrite),
    ("DELETE", "/v1/videos/upload/{id}", Scope::UploadsWrite),
    ("PUT", "/v1/videos/upload/{id}/chunk/{n}", Scope::UploadsWrite),
    ("POST", "/v1/videos/upload/{id}/complete", Scope::UploadsWrite),
    (ANY_METHOD, "/v1/tus", Scope::UploadsWrite),
    (ANY_METHOD, "/v1/tus/", Scope::UploadsWrite),
    (ANY_METHOD, "/v1/tus/{id}", Scope::UploadsWrite),
    ("POST", "/v1/uploads/direct", Scope::UploadsWrite),
    ("DELETE", "/v1/uploads/direct/{id}", Scope::UploadsWrite),
    ("GET", "/v1/streams", Scope::LiveRead),
    ("GET", "/v1/streams/{id}", Scope::LiveRead),
    ("GET", "/v1/live", Scope::LiveRead),
    ("GET", "/v1/live/{stream_id}/viewers", Scope::LiveRead),
    ("GET", "/v1/streams/{id}/playback", Scope::LiveRead),
    ("POST", "/v1/streams", Scope::LiveWrite),
    ("DELETE", "/v1/streams/{id}", Scope::LiveWrite),
    ("POST", "/v1/streams/{id}/key/reveal", Scope::LiveWrite),
    ("POST", "/v1/streams/{id}/key/rotate", Scope::LiveWrite),
    ("GET", "/v1/webhooks", Scope::WebhooksRead),
    ("GET", "/v1/webhooks/{id}", Scope::WebhooksRead),
    ("GET", "/v1/webhooks/{id}/attempts", Scope::WebhooksRead),
    ("POST", "/v1/webhooks", Scope::WebhooksWrite),
    ("PATCH", "/v1/webhooks/{id}", Scope::WebhooksWrite),
    ("DELETE", "/v1/webhooks/{id}", Scope::WebhooksWrite),
    ("POST", "/v1/webhooks/{id}/secret/rotate", Scope::WebhooksWrite),
    ("POST", "/v1/webhooks/{id}/replay", Scope::WebhooksWrite),
    ("POST", "/v1/webhooks/{id}/test", Scope::WebhooksWrite),
    ("GET", "/v1/signing-keys", Scope::SigningKeysWrite),
    ("POST", "/v1/signing-keys", Scope::SigningKeysWrite),
    ("GET", "/v1/signing-keys/{id}", Scope::SigningKeysWrite),
    ("DELETE", "/v1/signing-keys/{id}", Scope::SigningKeysWrite),
    ("GET", "/v1/billing/usage", Scope::BillingRead),
    ("GET", "/v1/api-keys", Scope::Admin),
    ("POST", "/v1/api-keys", Scope::Admin),
    ("DELETE", "/v1/api-keys/{id}", Scope::Admin),
    ("GET", "/v1/admin/projection/digest", Scope::Admin),
];

/// The scope a request to `matched_path` (the axum pattern, e.g. `/v1/videos/{id}`) with
/// `method` needs. `HEAD` counts as `GET`. Absent from the table: `admin` (fail closed).
pub fn required_scope(method: &str, matched_path: &str) -> Scope {
    let method = if method.eq_ignore_ascii_case("HEAD") { "GET" } else { method };
    ROUTE_SCOPES
        .iter()
        .find(|(m, p, _)| {
            *p == matched_path && (*m == ANY_METHOD || m.eq_ignore_ascii_case(method))
        })
        .map(|(_, _, s)| *s)
        .unwrap_or(Scope::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_serialize_as_their_interface_strings_and_parse_back() {
        for s in Scope::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), s);
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
        }
    }

    #[test]
    fn an_unknown_scope_is_refused_with_the_list_of_valid_ones() {
        let e = "videos:delete".parse::<Scope>().unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("videos:delete"), "{msg}");
        for s in Scope::ALL {
            assert!(msg.contains(s.as_str()), "{msg}");
        }
    }

    #[test]
    fn admin_implies_every_scope_and_others_only_themselves() {
        let admin = ScopeSet::admin();
        assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
        let read = ScopeSet::from_iter([Scope::VideosRead]);
        assert!(read.allows(Scope::VideosRead));
        assert!(!read.allows(Scope::VideosWrite));
        assert!(!read.allows(Scope::Admin));
        assert!(!ScopeSet::default().allows(Scope::VideosRead));
    }

    #[test]
    fn a_set_covers_only_subsets_of_what_it_grants() {
        let both = ScopeSet::from_iter([Scope::VideosRead, Scope::UploadsWrite]);
        assert!(both.covers(&ScopeSet::from_iter([Scope::UploadsWrite])));
        assert!(!both.covers(&ScopeSet::admin()));
        assert!(ScopeSet::admin().covers(&both));
    }

    #[test]
    fn a_scope_set_is_a_json_list_of_strings() {
        let set: ScopeSet = serde_json::from_str(r#"["uploads:write","videos:read"]"#).unwrap();
        assert!(set.allows(Scope::VideosRead));
        assert_eq!(serde_json::to_string(&set).unwrap(), r#"["videos:read","uploads:write"]"#);
        assert!(serde_json::from_str::<ScopeSet>(r#"["nope"]"#).is_err());
    }

    #[test]
    fn the_table_maps_methods_and_patterns_and_fails_closed() {
        assert_eq!(required_scope("GET", "/v1/videos/{id}"), Scope::VideosRead);
        assert_eq!(required_scope("HEAD", "/v1/videos/{id}"), Scope::VideosRead);
        assert_eq!(required_scope("DELETE", "/v1/videos/{id}"), Scope::VideosWrite);
        assert_eq!(required_scope("PATCH", "/v1/tus/{id}"), Scope::UploadsWrite);
        assert_eq!(required_scope("OPTIONS", "/v1/tus/"), Scope::UploadsWrite);
        assert_eq!(required_scope("POST", "/v1/videos"), Scope::UploadsWrite);
        assert_eq!(required_scope("GET", "/v1/billing/usage"), Scope::BillingRead);
        // Not listed: admin.
        assert_eq!(required_scope("POST", "/v1/videos/{id}"), Scope::Admin);
        assert_eq!(required_scope("GET", "/v1/something/new"), Scope::Admin);
        assert_eq!(required_scope("GET", "/v1/videos/{video_id}"), Scope::Admin);
    }

    #[test]
    fn no_route_appears_twice_in_the_table() {
        let mut seen = std::collections::HashSet::new();
        for (m, p, _) in ROUTE_SCOPES {
            assert!(seen.insert((*m, *p)), "{m} {p} twice");
        }
    }
}
