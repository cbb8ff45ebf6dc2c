//! End-to-end tests of the job machinery: the real API over HTTP, real
//! worker processes, real Postgres.

mod account;
mod ai;
mod certificates;
mod coaching;
mod content;
mod email;
mod files;
mod harness;
mod kpi;
mod lifecycle;
mod line;
mod newsletters;
mod notifications;
mod recovery;
mod scale;
mod startup;
mod transcribe;
mod upgrade;
mod webhooks;
mod webhooks_portal;
