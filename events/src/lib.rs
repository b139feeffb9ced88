//! Framelog's event contract: the CloudEvents envelope, the five event types with their phases,
//! NATS subjects and validated ids, and (from the projection issue on) the pure folds that build
//! views from the log.
//!
//! # Layout
//! - [`id`]: tenant and aggregate ids, `[a-z0-9_-]{1,64}`, safe as subject tokens.
//! - [`kind`]: the five types (`VID_UPLOAD` ...) and their subject tokens.
//! - [`subject`]: `vid.<tenant>.<kind>.<phase>.<id>` building and parsing, filters, progress subjects.
//! - [`data`]: the `data` of each type, tagged by `phase`.
//! - [`envelope`]: [`Event`], its JSON form and deterministic ids.
//! - [`once`]: which facts are stored at most once per subject, forever.
//! - [`mp4`]: static MP4 renditions: settings, file names, the capped rung (pure).
//! - [`qoe`]: a viewer's QoE summary of one window and the bounds it is clamped to.
//!
//! Architecture invariant: this crate does no IO and depends on no runtime (no tokio, NATS, sled
//! or axum). Time and ids are passed in, so everything here is deterministic and unit-testable.

pub mod data;
pub mod envelope;
pub mod fold;
pub mod id;
pub mod kind;
pub mod mp4;
pub mod once;
pub mod qoe;
pub mod subject;
mod upcast;

pub use data::{
    AudioRendition, LiveData, MediaServer, MonthTotals, Phased, Probe, ReadyData, Rendition,
    SourceKind, TranscodeData, UploadData, UploadProtocol, ViewData,
};
pub use envelope::{DecodeError, Decoded, Event, EventData, UnknownEvent};
pub use id::{AggregateId, IdError, TenantId};
pub use kind::Kind;
pub use subject::{Subject, SubjectError};
