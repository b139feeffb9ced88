//! NATS subjects (contract): `vid.<tenant>.<kind>.<phase>.<aggregate id>` for log facts and
//! `vidp.<tenant>.<kind>.<aggregate id>` for last-value progress.
//!
//! A live fact that happens once per *occurrence* of its stream rather than once per stream
//! carries that occurrence as a sixth token, `vid.<tenant>.live.<phase>.<stream id>.<occurrence>`:
//! the session of `started` and `ended`, the video of `recording_ready` (see
//! [`crate::once::occurrence`]). Its subject then names the fact, so it can be stored
//! once forever ([`crate::once`]). Events written before carry five tokens; both shapes parse,
//! and [`Subject::phase_filter`] of a live phase matches both.

use std::fmt;
use std::str::FromStr;

use crate::id::{AggregateId, IdError, TenantId, validate_id};
use crate::kind::{Kind, UnknownKind};

/// Prefix of every domain event subject.
pub const EVENT_PREFIX: &str = "vid";
/// Prefix of every progress subject.
pub const PROGRESS_PREFIX: &str = "vidp";

/// A parsed event subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    pub tenant: TenantId,
    pub kind: Kind,
    /// The phase token (`completed`, `started`...): validated like an id, not restricted to the
    /// phases this build knows, so an older reader still routes a newer event.
    pub phase: String,
    pub aggregate: AggregateId,
    /// The sixth token of a live fact that repeats per stream (its session, or the video of a
    /// recording); `None` for every other subject and for live events written before it.
    pub occurrence: Option<AggregateId>,
}

/// Why a string is not an event subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error(
        "a subject has 5 tokens vid.<tenant>.<kind>.<phase>.<id> (6 for live: .<occurrence>), found {0}"
    )]
    TokenCount(usize),
    #[error("a subject starts with 'vid'")]
    Prefix,
    #[error("bad tenant: {0}")]
    Tenant(IdError),
    #[error(transparent)]
    Kind(#[from] UnknownKind),
    #[error("bad phase: {0}")]
    Phase(IdError),
    #[error("bad aggregate id: {0}")]
    Aggregate(IdError),
    #[error("bad occurrence token: {0}")]
    Occurrence(IdError),
}

impl Subject {
    /// The subject of an event.
    pub fn new(tenant: TenantId, kind: Kind, phase: &str, aggregate: AggregateId) -> Self {
        debug_assert!(validate_id(phase).is_ok(), "phase {phase:?}");
        Subject { tenant, kind, phase: phase.to_owned(), aggregate, occurrence: None }
    }

    /// The same subject with `occurrence` as its sixth token (live facts only).
    pub fn with_occurrence(mut self, occurrence: AggregateId) -> Self {
        debug_assert_eq!(self.kind, Kind::Live, "only live subjects carry an occurrence");
        self.occurrence = Some(occurrence);
        self
    }

    /// Every event of one tenant: `vid.<tenant>.>`.
    pub fn tenant_filter(tenant: &TenantId) -> String {
        format!("{EVENT_PREFIX}.{tenant}.>")
    }

    /// One kind and phase for every tenant, e.g. `vid.*.transcode.requested.*`. A live phase
    /// ends in `>` (`vid.*.live.started.>`), so it matches the subjects with an occurrence and
    /// the five-token ones written before.
    pub fn phase_filter(kind: Kind, phase: &str) -> String {
        match kind {
            Kind::Live => format!("{EVENT_PREFIX}.*.{kind}.{phase}.>"),
            _ => format!("{EVENT_PREFIX}.*.{kind}.{phase}.*"),
        }
    }

    /// Every subject of one kind for all tenants, e.g. `vid.*.view.>`.
    pub fn kind_filter(kind: Kind) -> String {
        format!("{EVENT_PREFIX}.*.{kind}.>")
    }

    /// The last-value progress subject of an aggregate: `vidp.<tenant>.<kind>.<id>`.
    pub fn progress(tenant: &TenantId, kind: Kind, aggregate: &AggregateId) -> String {
        format!("{PROGRESS_PREFIX}.{tenant}.{kind}.{aggregate}")
    }

    /// Progress of one tenant: `vidp.<tenant>.>`.
    pub fn progress_tenant_filter(tenant: &TenantId) -> String {
        format!("{PROGRESS_PREFIX}.{tenant}.>")
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{EVENT_PREFIX}.{}.{}.{}.{}",
            self.tenant, self.kind, self.phase, self.aggregate
        )?;
        match &self.occurrence {
            Some(o) => write!(f, ".{o}"),
            None => Ok(()),
        }
    }
}

impl FromStr for Subject {
    type Err = SubjectError;
    fn from_str(s: &str) -> Result<Subject, SubjectError> {
        let tokens: Vec<&str> = s.split('.').collect();
        let (head, rest) = tokens.split_at(tokens.len().min(5));
        let [prefix, tenant, kind, phase, aggregate] = head[..] else {
            return Err(SubjectError::TokenCount(tokens.len()));
        };
        if rest.len() > 1 {
            return Err(SubjectError::TokenCount(tokens.len()));
        }
        if prefix != EVENT_PREFIX {
            return Err(SubjectError::Prefix);
        }
        let tenant = TenantId::new(tenant).map_err(SubjectError::Tenant)?;
        let kind = kind.parse::<Kind>()?;
        validate_id(phase).map_err(SubjectError::Phase)?;
        let aggregate = AggregateId::new(aggregate).map_err(SubjectError::Aggregate)?;
        let occurrence = match rest {
            [] => None,
            // Only live facts repeat per occurrence of their aggregate.
            [o] if kind == Kind::Live => {
                Some(AggregateId::new(*o).map_err(SubjectError::Occurrence)?)
            }
            _ => return Err(SubjectError::TokenCount(tokens.len())),
        };
        Ok(Subject { tenant, kind, phase: phase.to_owned(), aggregate, occurrence })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }
    fn a(s: &str) -> AggregateId {
        AggregateId::new(s).unwrap()
    }

    #[test]
    fn a_subject_round_trips_through_its_string() {
        let s = Subject::new(t("acme"), Kind::Transcode, "completed", a("vid_1"));
        assert_eq!(s.to_string(), "vid.acme.transcode.completed.vid_1");
        assert_eq!(s.to_string().parse::<Subject>().unwrap(), s);
    }

    #[test]
    fn subjects_with_wildcards_dots_spaces_or_bad_lengths_are_rejected() {
        let bad = [
            "vid.a.b.upload.completed.v1", // dotted tenant = 6 tokens
            "vid.*.upload.completed.v1",
            "vid.>",
            "vid.acme.upload.completed.>",
            "vid.acme.upload.completed.a b",
            "vid.acme.upload.completed.",
            "vid..upload.completed.v1",
            "vid.acme.upload.compl*ted.v1",
            "vid.acme.films.completed.v1",
            "vidx.acme.upload.completed.v1",
        ];
        for s in bad {
            assert!(s.parse::<Subject>().is_err(), "{s} should be rejected");
        }
        let long = format!("vid.acme.upload.completed.{}", "x".repeat(65));
        assert_eq!(
            "vid.acme.upload.completed.v1.ses_1".parse::<Subject>(),
            Err(SubjectError::TokenCount(6)),
            "only live subjects have a sixth token"
        );
        assert!("vid.acme.live.ended.st_1.a b".parse::<Subject>().is_err());
        assert!("vid.acme.live.ended.st_1.ses_1.x".parse::<Subject>().is_err());
        assert_eq!(long.parse::<Subject>(), Err(SubjectError::Aggregate(IdError::TooLong)));
    }

    #[test]
    fn a_live_subject_with_its_occurrence_round_trips_and_the_old_shape_still_parses() {
        let s = Subject::new(t("acme"), Kind::Live, "ended", a("st_1")).with_occurrence(a("ses_9"));
        assert_eq!(s.to_string(), "vid.acme.live.ended.st_1.ses_9");
        assert_eq!(s.to_string().parse::<Subject>().unwrap(), s);
        let old = "vid.acme.live.ended.st_1".parse::<Subject>().unwrap();
        assert_eq!(old.occurrence, None);
        assert_eq!(old.aggregate, a("st_1"));
    }

    #[test]
    fn filters_have_the_documented_shape() {
        assert_eq!(Subject::phase_filter(Kind::Live, "started"), "vid.*.live.started.>");
        assert_eq!(Subject::tenant_filter(&t("acme")), "vid.acme.>");
        assert_eq!(
            Subject::phase_filter(Kind::Transcode, "completed"),
            "vid.*.transcode.completed.*"
        );
        assert_eq!(Subject::kind_filter(Kind::View), "vid.*.view.>");
        assert_eq!(
            Subject::progress(&t("acme"), Kind::Transcode, &a("v1")),
            "vidp.acme.transcode.v1"
        );
    }
}
