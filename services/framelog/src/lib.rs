//! The `framelog` binary's library: the CLI, the all-in-one server that composes every
//! service's routes and workers into one process, and the operator commands.
//!
//! # Layout
//! - [`cli`]: the command line (clap derive): `serve`, `tenant`.
//! - [`serve`]: [`serve::app`] builds the one router; [`serve::run`] runs it with the workers.
//! - [`tenant`]: `framelog tenant create|key`.
//! - [`key`]: `framelog key create|list|revoke` (scoped API keys).
//! - [`secret`]: `framelog secret rotate|list` (master keys, grace period).
//! - [`hook`]: `framelog hook <name>`, the MediaMTX runOn* → HTTP bridge.
//! - [`projection`]: `framelog projection rebuild|digest`.
//! - [`web`]: the built web UI as the router's fallback (SPA), never over API paths.
//! - [`topology`]: `framelog topology apply [--replicas N] [--dry-run]`.
//! - [`outbox`]: `framelog outbox list|replay [--id ...]` (entries JetStream refused).
//! - [`status`]: `framelog status [--json]` (deployment health from NATS); [`status_report`]
//!   its pure shape, health rules and tables.
//! - [`upload`]: `framelog upload <file>` (parallel chunks, progress, resume).

pub mod cli;
pub mod hook;
pub mod key;
pub mod outbox;
pub mod projection;
pub mod secret;
pub mod serve;
pub mod status;
pub mod status_projection;
pub mod status_report;
pub mod tenant;
pub mod topology;
pub mod upload;
pub mod web;
