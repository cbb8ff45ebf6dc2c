//! HTTP routes, one module per resource.

pub mod ai;
pub mod analytics;
pub mod assets;
pub mod auth;
pub mod certificates;
pub mod champions;
pub mod coaching;
pub mod cops;
pub mod credentials;
pub mod customers;
pub mod diagnostics;
pub mod events;
pub mod files;
pub mod jobs;
pub mod kpis;
pub mod lms_assignments;
pub mod lms_courses;
pub mod lms_library;
pub mod lms_paths;
pub mod lms_progress;
pub mod newsletters;
pub mod notifications;
pub mod ops;
pub mod surveys;
pub mod use_cases;
pub mod users;
pub mod webhooks;

/// Every API of the service, in one place.
pub fn all() -> impl poem_openapi::OpenApi {
    crate::list_query::Exploded((
        ops::OpsApi,
        auth::AuthApi,
        customers::CustomersApi,
        users::UsersApi,
        jobs::JobsApi,
        diagnostics::DiagnosticsApi,
        // The CoP portal (one tuple: poem-openapi implements up to 16 entries).
        (
            cops::CopsApi,
            events::EventsApi,
            assets::AssetsApi,
            surveys::SurveysApi,
            use_cases::UseCasesApi,
            champions::ChampionsApi,
            kpis::KpisApi,
            ai::AiApi,
            analytics::AnalyticsApi,
            newsletters::NewslettersApi,
        ),
        // The enablement portal (one tuple: poem-openapi implements up to 16 entries).
        (
            lms_courses::CoursesApi,
            lms_paths::PathsApi,
            lms_progress::ProgressApi,
            lms_assignments::AssignmentsApi,
            certificates::CertificatesApi,
            credentials::CredentialsApi,
            lms_library::LibraryApi,
        ),
        webhooks::WebhooksApi,
        files::FilesApi,
        notifications::NotificationsApi,
        coaching::CoachingApi,
    ))
}
