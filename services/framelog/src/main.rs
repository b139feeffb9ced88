use std::process::ExitCode;

use clap::Parser;
use framelog::cli::{Cli, Command, TenantCommand};
use framelog_core::settings::LogFormat;
use framelog_core::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    // Before any HTTP client (reqwest is built without a bundled TLS provider).
    framelog_core::tls::install_crypto_provider();
    let cli = Cli::parse();
    let otlp = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
    let result = match cli.command {
        Command::Serve(args) => {
            let _guard = telemetry::init("framelog", args.common.log_format, otlp, "info");
            framelog::serve::serve(args).await
        }
        Command::Upload(args) => {
            let _guard = telemetry::init("framelog-cli", LogFormat::Human, false, "warn");
            framelog::upload::upload(args).await
        }
        Command::Hook(args) => {
            let _guard = telemetry::init("framelog-cli", LogFormat::Human, false, "warn");
            framelog::hook::hook(args).await
        }
        Command::Projection(cmd) => {
            let _guard = telemetry::init("framelog-cli", LogFormat::Human, false, "warn");
            framelog::projection::run(cmd).await
        }
        Command::Secret(cmd) => framelog::secret::run(cmd),
        Command::Topology(cmd) => {
            let _guard = telemetry::init("framelog-cli", LogFormat::Human, false, "warn");
            framelog::topology::run(cmd).await
        }
        Command::Outbox(cmd) => {
            let _guard = telemetry::init("framelog-cli", LogFormat::Human, false, "warn");
            framelog::outbox::run(cmd).await
        }
        Command::Status(args) => {
            let _guard = telemetry::init("framelog-cli", LogFormat::Human, false, "error");
            return framelog::status::run(args).await;
        }
        Command::Key(cmd) => {
            let _guard = telemetry::init("framelog-cli", LogFormat::Human, false, "warn");
            framelog::key::run(cmd).await
        }
        Command::Tenant(cmd) => {
            let _guard = telemetry::init("framelog-cli", LogFormat::Human, false, "warn");
            match cmd {
                TenantCommand::Create { id, json, common } => {
                    framelog::tenant::create(&id, json, &common).await
                }
                TenantCommand::Key { id, json, common } => {
                    framelog::tenant::key(&id, json, &common).await
                }
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
