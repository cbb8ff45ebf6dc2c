//! launchpad-api: the HTTP layer. Validates requests, authorises, writes
//! domain rows and enqueues jobs in one transaction; serves results.

// `ApiError` carries a whole problem document by value; it is built at most
// once per request, so boxing it would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod app;
pub mod body;
pub mod config;
pub mod idempotency;
pub mod job_events;
pub mod list_query;
pub mod metrics;
pub mod middleware;
pub mod notification_hub;
pub mod nul;
pub mod problem;
pub mod rate_limit;
pub mod request_context;
pub mod routes;
pub mod security;
pub mod spec;
pub mod state;
pub mod types;

use std::net::SocketAddr;

use poem::{Server, listener::TcpAcceptor};

/// Serves the application on `listener` until `shutdown` resolves.
pub async fn serve(
    state: state::SharedState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = app::build(state);
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown, Some(std::time::Duration::from_secs(10)))
        .await
}

pub fn local_addr(l: &tokio::net::TcpListener) -> SocketAddr {
    l.local_addr().expect("bound listener has an address")
}
