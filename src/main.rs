//! The samtykke binary: parse the command line, load configuration, and either
//! serve or run an operator command.

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;

use samtykke::cli::{self, Cli, Command};
use samtykke::config::Config;
use samtykke::telemetry;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("samtykke: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format, &config.settings.log_filter);
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let result = match args.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        other => cli::run(config, other).await.map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samtykke: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let listen = config.listen;
    let public = config.public_url.clone();
    if let Some(start) = &config.settings.dev_clock_start {
        println!("Development clock: starts at {start}");
    }
    let clock = config.clock();
    let app = samtykke::build(config, clock)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(token) = &app.first_admin_token {
        // Printed once, to the console only: the log never sees a credential.
        println!("First admin credential (store it now, it is not shown again):\n  {token}");
    }
    if let Some(demo) = &app.demo {
        println!(
            "Demo data seeded: network {} and partner clients {} (keys in data/demo-clients/)",
            demo.network_id,
            samtykke::demo::DEMO_CLIENTS.join(", ")
        );
    }
    #[cfg(unix)]
    tokio::spawn(reload_on_hangup(app.services.clone()));
    println!("samtykke is listening on {public} ({bound})");
    tracing::info!(%bound, "serving");
    app.serve(listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// `kill -HUP` re-reads the policy files; a file that does not parse is reported and
/// the policy in force stays.
#[cfg(unix)]
async fn reload_on_hangup(services: Arc<samtykke::service::Services>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        match services.reload_policy().await {
            Ok(n) => tracing::info!(rules = n, "policy reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "policy reload failed; the policy in force stays")
            }
        }
    }
}
