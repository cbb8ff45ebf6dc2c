//! `launchpad-api serve [--migrate] | migrate | openapi | seed-demo`

use std::process::ExitCode;

use launchpad_api::{app, config::Settings};
use launchpad_domain::{config as env, db, demo};

fn usage() -> ExitCode {
    eprintln!(
        "usage: launchpad-api <command>\n\n\
         commands:\n  \
         serve [--migrate]  run the HTTP API (apply migrations first with --migrate)\n  \
         migrate            apply database migrations and exit\n  \
         openapi            print the OpenAPI document (JSON) and exit\n  \
         seed-demo          create the demo tenant, its data, KPI rows and queued\n                     invitations (idempotent) and exit"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("serve");
    if cmd == "openapi" {
        println!("{}", app::spec_json(true));
        return ExitCode::SUCCESS;
    }
    if !matches!(cmd, "serve" | "migrate" | "seed-demo")
        || args.iter().skip(1).any(|a| a != "--migrate")
    {
        return usage();
    }
    env::load_dotenv();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(78);
        }
    };
    env::init_tracing(settings.log_format);
    match run(cmd, args.iter().any(|a| a == "--migrate"), settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "launchpad-api failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(cmd: &str, migrate_first: bool, settings: Settings) -> anyhow::Result<()> {
    let pool = db::connect_lazy(
        &settings.database_url,
        &db::PoolSettings {
            max_connections: settings.db_max_connections,
            ..Default::default()
        },
    )?;
    match cmd {
        "migrate" => {
            db::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        "seed-demo" => {
            bootstrap(&pool, &settings).await?;
            let c = demo::seed(&pool).await?;
            tracing::info!(customer_id = %c, "demo tenant ready");
            Ok(())
        }
        _ => {
            let signal = env::shutdown_signal();
            let shutdown = async move {
                signal.await;
                tracing::info!("shutting down");
            };
            if migrate_first {
                db::migrate(&pool).await?;
            }
            if let Err(e) = bootstrap(&pool, &settings).await {
                // Startup must not depend on the database being up; /ready reports it.
                tracing::warn!(error = %e, "could not check the bootstrap admin");
            }
            for var in settings.development_keys() {
                tracing::warn!(
                    "{var} is not set: a built-in development key, which anyone can read in the \
                     source, is used (coaching notes are sealed, credentials signed with it); set it \
                     in production"
                );
            }
            let listener = tokio::net::TcpListener::bind(settings.http_addr).await?;
            tracing::info!(addr = %settings.http_addr, "launchpad-api listening; docs at /docs");
            let state = app::state(pool, settings);
            launchpad_api::serve(state, listener, shutdown).await?;
            tracing::info!("launchpad-api stopped");
            Ok(())
        }
    }
}

async fn bootstrap(pool: &sqlx::PgPool, settings: &Settings) -> anyhow::Result<()> {
    if let Some((email, password)) = &settings.bootstrap_admin
        && launchpad_domain::users::bootstrap_admin(pool, email, password).await?
    {
        tracing::info!("created the bootstrap admin user");
    }
    Ok(())
}
