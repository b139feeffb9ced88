//! The command line. Every setting is a flag with a `FRAMELOG_*` environment fallback
//! (DESIGN §6).

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use framelog_core::CommonSettings;

/// Framelog: self-hostable multi-tenant video hosting and live streaming on NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "framelog", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in one process (or one service with --only).
    Serve(ServeArgs),
    /// Manage tenants and their API keys.
    #[command(subcommand)]
    Tenant(TenantCommand),
}

/// `framelog serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonSettings,

    /// Address the HTTP server listens on.
    #[arg(long, env = "FRAMELOG_LISTEN", default_value = "127.0.0.1:8145")]
    pub listen: SocketAddr,

    /// How long to keep retrying the first NATS connection, seconds.
    #[arg(long, env = "FRAMELOG_NATS_PATIENCE", default_value_t = 30)]
    pub nats_patience_secs: u64,
}

/// `framelog tenant ...`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print its first API key (shown once) as the last line.
    Create {
        /// Tenant id: 1-64 characters of a-z, 0-9, '_' and '-'.
        id: String,
        /// Print {"tenant":..,"api_key":..} instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonSettings,
    },
    /// Issue another API key for an existing tenant (printed once, as the last line).
    Key {
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonSettings,
    },
}
