//! The server binary: read configuration, open the database, serve until Ctrl-C or SIGTERM. `gatehouse secret`
//! prints a new `SECRET_KEY` instead.

use std::process::ExitCode;

use gatehouse::server::{
    config::Config,
    secret_key::SecretKey,
    startup::{Application, shutdown_signal},
    telemetry,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status for configuration that cannot be used.
const EXIT_BAD_CONFIG: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    // `gatehouse` serves; `gatehouse secret` prints a new SECRET_KEY.
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("secret") => {
            println!("{}", SecretKey::generate());
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("gatehouse: unknown command {other:?}; usage: gatehouse [secret]");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("gatehouse: configuration error: {error}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    telemetry::init(&config.log);

    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("gatehouse: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %app.local_addr(), "listening on http://{}", app.local_addr());

    match app.run_until_stopped(shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "server error");
            ExitCode::FAILURE
        }
    }
}
