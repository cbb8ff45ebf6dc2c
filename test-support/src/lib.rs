//! Test support: per-test databases cloned from a migrated template, the real
//! API on an ephemeral port, real worker processes, and a real SMTP server.

pub mod app;
pub mod db;
pub mod llm_server;
pub mod proxy;
pub mod python_sdk;
pub mod receiver;
pub mod seaweedfs;
pub mod smtp;
pub mod speech;
pub mod worker;

pub use app::{Json, TestApp, Tokens};
pub use db::TestDb;
pub use llm_server::{LlmServer, Reply as LlmReply};
pub use receiver::{Receiver, Reply};
pub use seaweedfs::SeaweedFs;
pub use smtp::SmtpSink;
pub use speech::SpeechServer;
pub use worker::WorkerProcess;

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
