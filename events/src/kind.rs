//! The five event types and their subject tokens.

use std::fmt;
use std::str::FromStr;

/// An event type (CloudEvents `type`). Each maps to one subject token (`kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Upload sessions and source files: `VID_UPLOAD`, subject token `upload`.
    Upload,
    /// Transcode jobs: `VID_TRANSCODE`, `transcode`.
    Transcode,
    /// A video fully published: `VID_READY`, `ready`.
    Ready,
    /// Live streams and sessions: `VID_LIVE`, `live`.
    Live,
    /// Views and egress usage: `VID_VIEW`, `view` (its own high-volume stream).
    View,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 5] = [Kind::Upload, Kind::Transcode, Kind::Ready, Kind::Live, Kind::View];

    /// The CloudEvents `type`, e.g. `VID_UPLOAD`.
    pub const fn event_type(self) -> &'static str {
        match self {
            Kind::Upload => "VID_UPLOAD",
            Kind::Transcode => "VID_TRANSCODE",
            Kind::Ready => "VID_READY",
            Kind::Live => "VID_LIVE",
            Kind::View => "VID_VIEW",
        }
    }

    /// The subject token, e.g. `upload`.
    pub const fn token(self) -> &'static str {
        match self {
            Kind::Upload => "upload",
            Kind::Transcode => "transcode",
            Kind::Ready => "ready",
            Kind::Live => "live",
            Kind::View => "view",
        }
    }

    /// The current schema version written for this type (`dataschema` = `framelog:<type>/<v>`).
    pub const fn schema_version(self) -> u32 {
        1
    }

    /// Parses a CloudEvents `type`.
    pub fn from_event_type(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.event_type() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Kind, UnknownKind> {
        Kind::ALL.into_iter().find(|k| k.token() == s).ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// A subject token that names no kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind {0:?}")]
pub struct UnknownKind(pub String);
