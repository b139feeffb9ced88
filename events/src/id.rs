//! Validated identifiers. Tenant ids and aggregate ids become NATS subject tokens, so they are
//! restricted to `[a-z0-9_-]`, 1 to 64 characters: a `.`, `*`, `>` or white space is impossible
//! by construction, and a subject can never be widened by a crafted id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest id accepted (tenant or aggregate).
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id is longer than {MAX_ID_LEN} characters")]
    TooLong,
    #[error("id may only contain a-z, 0-9, '_' and '-' (found {0:?})")]
    BadChar(char),
}

/// Checks the id rule shared by tenants and aggregates.
pub fn validate_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    match s.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-')) {
        Some(c) => Err(IdError::BadChar(c)),
        None => Ok(()),
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                validate_id(&s)?;
                Ok(Self(s))
            }

            /// The id as a subject token.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A tenant: the unit of isolation. Every event, subject and query is scoped to one.
    TenantId
);
id_type!(
    /// The id of the thing an event is about: a video, an upload, a live stream.
    AggregateId
);

impl AggregateId {
    /// A fresh random id with a readable prefix, e.g. `vid_01jd...` (UUIDv7 simple form, so ids
    /// sort by creation time). `prefix` must itself be a valid id fragment.
    pub fn generate(prefix: &str, uuid: uuid::Uuid) -> Self {
        let s = format!("{prefix}_{}", uuid.simple());
        debug_assert!(validate_id(&s).is_ok());
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_are_accepted() {
        for ok in ["acme", "a", "tenant-1", "vid_0193", &"x".repeat(64)] {
            assert!(TenantId::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn ids_that_could_widen_a_subject_are_rejected() {
        assert_eq!(TenantId::new("a.b"), Err(IdError::BadChar('.')));
        assert_eq!(TenantId::new("*"), Err(IdError::BadChar('*')));
        assert_eq!(TenantId::new(">"), Err(IdError::BadChar('>')));
        assert_eq!(TenantId::new("a b"), Err(IdError::BadChar(' ')));
        assert_eq!(TenantId::new("a\tb"), Err(IdError::BadChar('\t')));
        assert_eq!(TenantId::new("Acme"), Err(IdError::BadChar('A')));
        assert_eq!(TenantId::new("é"), Err(IdError::BadChar('é')));
        assert_eq!(TenantId::new(""), Err(IdError::Empty));
        assert_eq!(TenantId::new("x".repeat(65)), Err(IdError::TooLong));
    }

    #[test]
    fn deserialising_an_invalid_id_fails() {
        assert!(serde_json::from_str::<AggregateId>("\"a.b\"").is_err());
        assert_eq!(serde_json::from_str::<AggregateId>("\"v1\"").unwrap().as_str(), "v1");
    }

    #[test]
    fn generated_ids_are_valid_and_prefixed() {
        let id = AggregateId::generate("vid", uuid::Uuid::now_v7());
        assert!(id.as_str().starts_with("vid_"));
        assert!(validate_id(id.as_str()).is_ok());
    }
}
