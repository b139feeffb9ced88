//! The CloudEvents 1.0 envelope (structured JSON mode) around every Framelog event.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::data::{LiveData, Phased, ReadyData, TranscodeData, UploadData, ViewData};
use crate::id::{AggregateId, TenantId};
use crate::kind::Kind;
use crate::subject::Subject;
use crate::upcast;

/// Namespace of deterministic (UUIDv5) event ids.
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f2b_3c1e_8d4a_4e7b_9a51_0c2d_7e8f_1a3b);

/// The `data` of an event, one variant per type.
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    Upload(UploadData),
    Transcode(TranscodeData),
    Ready(ReadyData),
    Live(LiveData),
    View(ViewData),
}

impl EventData {
    /// The event type.
    pub fn kind(&self) -> Kind {
        match self {
            EventData::Upload(_) => Kind::Upload,
            EventData::Transcode(_) => Kind::Transcode,
            EventData::Ready(_) => Kind::Ready,
            EventData::Live(_) => Kind::Live,
            EventData::View(_) => Kind::View,
        }
    }

    /// The phase token.
    pub fn phase(&self) -> &'static str {
        match self {
            EventData::Upload(d) => d.phase(),
            EventData::Transcode(d) => d.phase(),
            EventData::Ready(d) => d.phase(),
            EventData::Live(d) => d.phase(),
            EventData::View(d) => d.phase(),
        }
    }

    fn to_value_ser<S: Serializer>(&self, map: &mut S::SerializeMap) -> Result<(), S::Error> {
        match self {
            EventData::Upload(d) => map.serialize_entry("data", d),
            EventData::Transcode(d) => map.serialize_entry("data", d),
            EventData::Ready(d) => map.serialize_entry("data", d),
            EventData::Live(d) => map.serialize_entry("data", d),
            EventData::View(d) => map.serialize_entry("data", d),
        }
    }
}

macro_rules! from_data {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for EventData {
            fn from(d: $t) -> Self {
                EventData::$v(d)
            }
        }
    )*};
}
from_data!(UploadData => Upload, TranscodeData => Transcode, ReadyData => Ready, LiveData => Live, ViewData => View);

/// One fact, in its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UUIDv7 for one-off facts; UUIDv5 (deterministic) where a retry could repeat the fact.
    /// Also the `Nats-Msg-Id`, so the server drops a repeat.
    pub id: Uuid,
    /// The producing service, e.g. `framelog/ingest`.
    pub source: String,
    /// The aggregate the event is about (CloudEvents `subject`).
    pub subject: AggregateId,
    /// When it happened, UTC.
    pub time: OffsetDateTime,
    pub tenant: TenantId,
    /// Shared by every event of one story (one upload through transcode to ready).
    pub correlation_id: String,
    /// The id of the event that caused this one.
    pub causation_id: Option<String>,
    pub data: EventData,
}

impl Event {
    /// A new event. Correlation defaults to the aggregate id (one story per video or stream).
    pub fn new(
        id: Uuid,
        time: OffsetDateTime,
        source: impl Into<String>,
        tenant: TenantId,
        subject: AggregateId,
        data: impl Into<EventData>,
    ) -> Event {
        Event {
            id,
            source: source.into(),
            correlation_id: subject.to_string(),
            subject,
            time: time.to_offset(time::UtcOffset::UTC),
            tenant,
            causation_id: None,
            data: data.into(),
        }
    }

    /// Marks this event as caused by `cause` (same correlation id, causation = its id).
    pub fn caused_by(mut self, cause: &Event) -> Event {
        self.correlation_id = cause.correlation_id.clone();
        self.causation_id = Some(cause.id.to_string());
        self
    }

    /// The deterministic id of a fact that a retry could repeat: the same (tenant, aggregate,
    /// kind, phase, discriminator) always gives the same id, so the server's duplicate window
    /// drops the repeat. `discriminator` tells apart facts that may legitimately happen more than
    /// once for one aggregate (an attempt number, a window), or is empty.
    pub fn deterministic_id(
        tenant: &TenantId,
        subject: &AggregateId,
        kind: Kind,
        phase: &str,
        discriminator: &str,
    ) -> Uuid {
        let name = format!("{tenant}/{}/{phase}/{subject}/{discriminator}", kind.token());
        Uuid::new_v5(&ID_NAMESPACE, name.as_bytes())
    }

    /// The event type.
    pub fn kind(&self) -> Kind {
        self.data.kind()
    }

    /// The NATS subject this event is published on: `vid.<tenant>.<kind>.<phase>.<aggregate>`,
    /// with a sixth token for a live fact of one session or recording
    /// ([`crate::once::occurrence`]).
    pub fn nats_subject(&self) -> Subject {
        let s =
            Subject::new(self.tenant.clone(), self.kind(), self.data.phase(), self.subject.clone());
        match crate::once::occurrence(&self.data) {
            Some(o) => s.with_occurrence(o),
            None => s,
        }
    }

    /// `framelog:<type>/<version>`.
    pub fn dataschema(&self) -> String {
        let k = self.kind();
        format!("framelog:{}/{}", k.event_type(), k.schema_version())
    }

    /// Structured-mode JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serialises")
    }

    /// Parses structured-mode JSON, upcasting older schema versions. An event of a type this
    /// build does not know is an error here ([`DecodeError::UnknownType`]); readers that must
    /// read past it use [`Event::decode`].
    pub fn from_json(bytes: &[u8]) -> Result<Event, DecodeError> {
        match Event::decode(bytes)? {
            Decoded::Event(e) => Ok(e),
            Decoded::Unknown(u) => Err(DecodeError::UnknownType(u.event_type)),
        }
    }

    /// Parses structured-mode JSON like [`Event::from_json`], but an event of a type this build
    /// does not know (a newer writer's) is [`Decoded::Unknown`], not an error. A known type with
    /// a phase this build does not know is an [`Event`] whose data is that type's `Unknown`.
    /// What stays an error is what no build of this major version could read: bytes that are
    /// not an envelope, a bad `data` for a known phase, a newer schema version of a known type.
    pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let wire: WireEvent<'_> = serde_json::from_slice(bytes).map_err(DecodeError::Json)?;
        wire.into_decoded()
    }

    /// Whether this build does not know the event's phase (`Unknown` data): folds ignore it.
    pub fn is_unknown(&self) -> bool {
        self.data.phase() == "unknown"
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.kind();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("specversion", "1.0")?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("source", &self.source)?;
        m.serialize_entry("type", kind.event_type())?;
        m.serialize_entry("subject", &self.subject)?;
        let time = self
            .time
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        m.serialize_entry("time", &time)?;
        m.serialize_entry("datacontenttype", "application/json")?;
        m.serialize_entry("dataschema", &self.dataschema())?;
        m.serialize_entry("tenant", &self.tenant)?;
        m.serialize_entry("correlationid", &self.correlation_id)?;
        if let Some(c) = &self.causation_id {
            m.serialize_entry("causationid", c)?;
        }
        self.data.to_value_ser::<S>(&mut m)?;
        m.end()
    }
}

/// What [`Event::decode`] read.
// Short-lived (matched right after decoding), and nearly always the large variant: boxing it
// would cost an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// An event of a known type (its phase may still be an `Unknown` one).
    Event(Event),
    /// An event of a type this build does not know, kept as read.
    Unknown(UnknownEvent),
}

/// The envelope of an event whose type this build does not know (a newer writer's).
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownEvent {
    pub id: Uuid,
    /// Its CloudEvents `type`.
    pub event_type: String,
    pub tenant: TenantId,
    pub subject: AggregateId,
    pub time: OffsetDateTime,
    /// Its `data`, as JSON text.
    pub data: String,
}

/// Why bytes are not a readable event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a JSON event envelope: {0}")]
    Json(serde_json::Error),
    #[error("unsupported specversion {0:?}")]
    SpecVersion(String),
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("bad dataschema {0:?}")]
    DataSchema(String),
    #[error("{event_type} schema version {version} is newer than this build reads")]
    TooNew { event_type: &'static str, version: u32 },
    #[error("bad data for {event_type}: {source}")]
    Data { event_type: &'static str, source: serde_json::Error },
}

#[derive(Deserialize)]
struct WireEvent<'a> {
    specversion: String,
    id: Uuid,
    source: String,
    #[serde(rename = "type")]
    event_type: String,
    subject: AggregateId,
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
    #[serde(default)]
    dataschema: Option<String>,
    tenant: TenantId,
    correlationid: String,
    #[serde(default)]
    causationid: Option<String>,
    #[serde(borrow)]
    data: &'a RawValue,
}

impl WireEvent<'_> {
    fn into_decoded(self) -> Result<Decoded, DecodeError> {
        if self.specversion != "1.0" {
            return Err(DecodeError::SpecVersion(self.specversion));
        }
        let Some(kind) = Kind::from_event_type(&self.event_type) else {
            return Ok(Decoded::Unknown(UnknownEvent {
                id: self.id,
                event_type: self.event_type,
                tenant: self.tenant,
                subject: self.subject,
                time: self.time.to_offset(time::UtcOffset::UTC),
                data: self.data.get().to_owned(),
            }));
        };
        let version = match &self.dataschema {
            None => 1,
            Some(s) => {
                parse_dataschema(s, kind).ok_or_else(|| DecodeError::DataSchema(s.clone()))?
            }
        };
        if version > kind.schema_version() {
            return Err(DecodeError::TooNew { event_type: kind.event_type(), version });
        }
        let data = upcast::decode_data(kind, version, self.data.get())
            .map_err(|source| DecodeError::Data { event_type: kind.event_type(), source })?;
        Ok(Decoded::Event(Event {
            id: self.id,
            source: self.source,
            subject: self.subject,
            time: self.time.to_offset(time::UtcOffset::UTC),
            tenant: self.tenant,
            correlation_id: self.correlationid,
            causation_id: self.causationid,
            data,
        }))
    }
}

fn parse_dataschema(s: &str, kind: Kind) -> Option<u32> {
    let rest = s.strip_prefix("framelog:")?;
    let (t, v) = rest.split_once('/')?;
    (t == kind.event_type()).then_some(())?;
    v.parse().ok()
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod decode_tests;
