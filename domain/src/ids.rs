//! Typed identifiers. Every resource has its own id type so that a `UserId`
//! can never be passed where a `CustomerId` is expected.

use std::{fmt, str::FromStr};

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

/// A job id: a ULID, shared with the apalis task that transports the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub ulid::Ulid);

impl JobId {
    pub fn new() -> Self {
        Self(ulid::Ulid::generate())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for JobId {
    type Err = ulid::DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(s).map(Self)
    }
}

impl serde::Serialize for JobId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl sqlx::Type<sqlx::Postgres> for JobId {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Postgres> for JobId {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<sqlx::Postgres>>::encode(self.0.to_string(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for JobId {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let s = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Ok(Self(ulid::Ulid::from_string(s)?))
    }
}

impl sqlx::postgres::PgHasArrayType for JobId {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

impl poem_openapi::types::Type for JobId {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "JobId".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        let mut schema = poem_openapi::registry::MetaSchema::new_with_format("string", "ulid");
        schema.description = Some("A ULID (26 characters, Crockford base32).");
        schema.example = Some(serde_json::Value::String(
            "01JD3ZJ8V4Q6Y4N5C7X2T0M9KA".into(),
        ));
        schema.min_length = Some(26);
        schema.max_length = Some(26);
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl poem_openapi::types::ParseFromJSON for JobId {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(s)) => Ok(s.parse()?),
            other => Err(poem_openapi::types::ParseError::expected_type(
                other.unwrap_or_default(),
            )),
        }
    }
}

impl poem_openapi::types::ParseFromParameter for JobId {
    fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
        Ok(value.parse()?)
    }
}

impl poem_openapi::types::ToJSON for JobId {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.to_string()))
    }
}

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
