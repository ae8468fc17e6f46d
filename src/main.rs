//! The server binary: read configuration, open the database, serve until Ctrl-C or SIGTERM. `gatehouse secret`
//! prints a new `SECRET_KEY` instead; `gatehouse clients …` and `gatehouse keys rotate` are the operator's commands
//! (see `src/server/cli.rs`).

use std::process::ExitCode;

use gatehouse::server::{
    cli,
    platform::{config::Config, secret_key::SecretKey, telemetry},
    startup::{Application, shutdown_signal},
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status for configuration that cannot be used.
const EXIT_BAD_CONFIG: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    // `gatehouse` serves; `gatehouse secret` prints a new SECRET_KEY; other words are operator commands.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("secret") {
        println!("{}", SecretKey::generate());
        return ExitCode::SUCCESS;
    }
    match args.first().map(String::as_str) {
        None => {}
        Some("help" | "--help" | "-h") => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Some(word) if cli::is_command(word) => {}
        Some(other) => {
            eprintln!("gatehouse: unknown command {other:?}; {}", cli::SHORT_USAGE);
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
    if !args.is_empty() {
        return match cli::run(&config, &args).await {
            Ok(output) => {
                println!("{output}");
                ExitCode::SUCCESS
            }
            Err(cli::Failure::Usage(message)) => {
                eprintln!("gatehouse: {message}");
                ExitCode::from(EXIT_BAD_CONFIG)
            }
            Err(cli::Failure::Found(message)) => {
                eprintln!("gatehouse: {message}");
                ExitCode::FAILURE
            }
        };
    }
    telemetry::init(&config.log);

    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("gatehouse: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Ctrl-C and SIGTERM are handled from before the address is announced: whoever reads it may stop us at once.
    let shutdown = shutdown_signal();
    tracing::info!(address = %app.local_addr(), "listening on http://{}", app.local_addr());

    match app.run_until_stopped(shutdown).await {
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
