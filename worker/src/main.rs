//! `launchpad-worker`: runs jobs until SIGTERM/Ctrl-C.

use std::process::ExitCode;

use launchpad_domain::config as env;
use launchpad_worker::config::WorkerSettings;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        eprintln!(
            "usage: launchpad-worker (configured by environment variables; see .env.example)"
        );
        return ExitCode::from(2);
    }
    env::load_dotenv();
    let settings = match WorkerSettings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(78);
        }
    };
    env::init_tracing(settings.log_format);
    match launchpad_worker::run(settings, env::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "launchpad-worker failed");
            ExitCode::FAILURE
        }
    }
}
