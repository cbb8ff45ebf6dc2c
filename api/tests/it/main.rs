//! API integration tests: the real API on an ephemeral port, over HTTP,
//! against a fresh database cloned from the migrated template.

mod audit_users;
mod auth;
mod authz;
mod bad_inputs;
mod bearer;
mod binary;
mod group_commit;
mod kpi_analytics;
mod kpi_common;
mod kpi_triggers;
mod limits;
mod lms_assignments;
mod lms_certificates;
mod lms_common;
mod lms_courses;
mod lms_library;
mod lms_paths;
mod lms_progress;
mod lms_seed;
mod openapi;
mod ops;
mod paging;
mod portal_access;
mod portal_assets;
mod portal_common;
mod portal_cops;
mod portal_events;
mod portal_recognition;
mod portal_seed;
mod portal_surveys;
mod problems;
mod sdk;
mod self_service;
mod tenancy;
mod validation;
