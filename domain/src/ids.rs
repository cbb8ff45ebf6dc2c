//! Typed identifiers. Every resource has its own id type so that a `UserId`
//! can never be passed where a `CustomerId` is expected.

/// Declares a UUID-backed id newtype usable in SQL, JSON and the OpenAPI spec.
#[macro_export]
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, sqlx::Type, poem_openapi::NewType,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[oai(to_header = false, from_multipart = false)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new, time-ordered (v7) id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(u: uuid::Uuid) -> Self {
                Self(u)
            }
        }

        impl From<$name> for sea_query::Value {
            fn from(id: $name) -> Self {
                id.0.into()
            }
        }
    };
}

uuid_id!(
    /// A customer (tenant).
    CustomerId
);
uuid_id!(
    /// A user account.
    UserId
);

uuid_id!(
    /// A job (UUIDv7). Jobs created before 2026-12 carry their former ULID's
    /// 128 bits, which sort by time the same way.
    JobId
);

uuid_id!(
    /// A course of the enablement portal.
    CourseId
);
uuid_id!(
    /// A lesson of a course.
    LessonId
);
uuid_id!(
    /// A learning path: an ordered list of courses.
    PathId
);
uuid_id!(
    /// A course or path assigned to a user.
    AssignmentId
);
uuid_id!(
    /// A certificate of course completion.
    CertificateId
);

uuid_id!(
    /// A community of practice (CoP).
    CopId
);
uuid_id!(
    /// A CoP event (a session: training, office hours, ...).
    EventId
);
uuid_id!(
    /// A content asset of a CoP's library.
    AssetId
);
uuid_id!(
    /// A survey of a CoP.
    SurveyId
);
uuid_id!(
    /// A question of a survey.
    QuestionId
);
uuid_id!(
    /// One member's response to a survey.
    ResponseId
);
uuid_id!(
    /// A use case (success story) submitted to a CoP.
    UseCaseId
);
uuid_id!(
    /// A champion recognition.
    ChampionId
);
uuid_id!(
    /// An item of the enablement portal's content library.
    ContentItemId
);
uuid_id!(
    /// A term of a customer's metadata hierarchy (product suite, concept, ...).
    MetadataTermId
);
uuid_id!(
    /// A notification in a person's inbox.
    NotificationId
);
