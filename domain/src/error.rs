//! The one error type of the domain layer. The API maps it to RFC 9457
//! problems in exactly one place (`api::problem`).

use std::time::Duration;

/// One failed field of an input: a JSON pointer (`/name`, `/questions/2/kind`)
/// and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        let mut pointer = pointer.into();
        if !pointer.starts_with('/') {
            pointer.insert(0, '/');
        }
        Self {
            pointer,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist *or* lies outside the caller's tenants.
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A 400 with a code of its own (a link's token that is expired or was
    /// used), naming the fields.
    #[error("{code}")]
    Rejected {
        code: &'static str,
        errors: Vec<FieldError>,
    },
    /// A well-formed request that the resource's state forbids (409).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// A well-formed request the server understood but will not process (422).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// A 422 with a code of its own that names the fields at fault (a
    /// relation between fields that the stored data does not allow).
    #[error("{code}")]
    UnprocessableFields {
        code: &'static str,
        errors: Vec<FieldError>,
    },
    /// The content (or the tenant's stored total) is larger than allowed (413).
    #[error("{detail}")]
    PayloadTooLarge { code: &'static str, detail: String },
    #[error("authentication required: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    /// The database (or another dependency) is unreachable; retry later.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(resource: &'static str) -> Self {
        Self::NotFound { resource }
    }

    pub fn field(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(pointer, message)])
    }

    /// A body field naming a row that does not exist is a 400 naming the
    /// field (the foreign-key violation of an insert is otherwise a 422
    /// `missing_reference` that names nothing).
    pub fn missing_reference_at(self, pointer: &str, message: &str) -> Self {
        match self {
            Self::Unprocessable {
                code: "missing_reference",
                ..
            } => Self::field(pointer, message),
            e => e,
        }
    }

    /// A 400 with `code`, naming the field at `pointer`.
    pub fn rejected(code: &'static str, pointer: &str, message: impl Into<String>) -> Self {
        Self::Rejected {
            code,
            errors: vec![FieldError::new(pointer, message)],
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            detail: detail.into(),
        }
    }

    /// A 422 with `code`, naming the field at `pointer`.
    pub fn unprocessable_at(code: &'static str, pointer: &str, message: impl Into<String>) -> Self {
        Self::UnprocessableFields {
            code,
            errors: vec![FieldError::new(pointer, message)],
        }
    }

    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }
}

/// Whether a sqlx error means "the database cannot be reached right now".
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
    ) || matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08") || c == "3D000" || c == "53300"
        // A deadlock or serialization failure: the same request can succeed when retried.
        || c == "40P01" || c == "40001"))
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::RowNotFound = e {
            return Self::NotFound {
                resource: "resource",
            };
        }
        if is_unavailable(&e) {
            return Self::Unavailable("database unavailable".into());
        }
        if let sqlx::Error::Database(db) = &e {
            match db.code().as_deref() {
                // unique_violation
                Some("23505") => {
                    return Self::conflict(
                        "already_exists",
                        format!(
                            "a resource with the same unique fields already exists{}",
                            db.constraint()
                                .map(|c| format!(" ({c})"))
                                .unwrap_or_default()
                        ),
                    );
                }
                // foreign_key_violation: a referenced row does not exist
                Some("23503") => {
                    return Self::unprocessable(
                        "missing_reference",
                        "a referenced resource does not exist",
                    );
                }
                // check_violation
                Some("23514") => {
                    return Self::unprocessable(
                        "constraint_violation",
                        format!(
                            "the request violates a constraint{}",
                            db.constraint()
                                .map(|c| format!(" ({c})"))
                                .unwrap_or_default()
                        ),
                    );
                }
                _ => {}
            }
        }
        Self::Internal(anyhow::Error::new(e))
    }
}

/// Collects field errors while parsing a whole input, so a client sees every
/// problem at once instead of one per round trip.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of `r` under `pointer` and returns its value.
    pub fn check<T>(&mut self, pointer: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(m) => {
                self.errors.push(FieldError::new(pointer, m));
                None
            }
        }
    }

    pub fn push(&mut self, pointer: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, message));
    }

    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}
