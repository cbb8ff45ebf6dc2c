//! `JsonBody<T>`: a JSON request body parsed with serde so that every error
//! names the field (a JSON pointer), unlike poem-openapi's own `Json<T>`.

use launchpad_domain::error::FieldError;
use poem::{Request, RequestBody, http::StatusCode};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::Type,
};
use serde::de::DeserializeOwned;

/// A body that failed to parse; rendered as a 4xx problem with field errors.
#[derive(Debug, thiserror::Error)]
#[error("{title}")]
pub struct BodyError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub title: &'static str,
    pub errors: Vec<FieldError>,
}

impl poem::error::ResponseError for BodyError {
    fn status(&self) -> StatusCode {
        self.status
    }
}

pub struct JsonBody<T> {
    pub value: T,
    /// The body as parsed JSON (for idempotency fingerprints).
    pub raw: serde_json::Value,
}

pub(crate) fn invalid(pointer: String, message: String) -> poem::Error {
    BodyError {
        status: StatusCode::BAD_REQUEST,
        kind: "invalid-body",
        title: "Invalid request body",
        errors: vec![FieldError::new(pointer, message)],
    }
    .into()
}

/// Whether the request says its body is JSON (`application/json`, `…+json`).
pub(crate) fn is_json(request: &Request) -> bool {
    request
        .content_type()
        .and_then(|ct| ct.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == "application"
                && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
        })
}

fn unsupported_media_type() -> poem::Error {
    BodyError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        kind: "unsupported-media-type",
        title: "Unsupported Media Type",
        errors: vec![FieldError::new("/Content-Type", "must be application/json")],
    }
    .into()
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut p = String::new();
    for seg in path.iter() {
        p.push('/');
        match seg {
            Segment::Seq { index } => p.push_str(&index.to_string()),
            Segment::Map { key } => p.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => p.push_str(variant),
            Segment::Unknown => p.push('?'),
        }
    }
    p
}

/// Parses `bytes` as JSON into `T`, mapping every failure to a field pointer.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> poem::Result<(T, serde_json::Value)> {
    let raw = parse_raw(bytes)?;
    let value = from_value::<T>(&raw)?;
    Ok((value, raw))
}

/// Reads `bytes` as one JSON document.
fn parse_raw(bytes: &[u8]) -> poem::Result<serde_json::Value> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| invalid("/".into(), format!("body is not valid UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Err(invalid("/".into(), "a JSON body is required".into()));
    }
    // Through serde_path_to_error, so that an error inside the document
    // (a number out of range, `1e999`) points at its place.
    let mut de = serde_json::Deserializer::from_str(text);
    let malformed = |pointer: String, e: &serde_json::Error| {
        // Up to the last place known (a document cut inside an object has
        // no key yet).
        let pointer = match pointer.find("/?") {
            Some(i) => pointer[..i].to_string(),
            None => pointer,
        };
        let pointer = if pointer.is_empty() {
            "/".into()
        } else {
            pointer
        };
        invalid(pointer, format!("malformed JSON: {e}"))
    };
    let value: serde_json::Value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| malformed(pointer_of(e.path()), e.inner()))?;
    de.end().map_err(|e| malformed(String::new(), &e))?;
    Ok(value)
}

/// Whether `T` is documented as a JSON object. serde's derived structs also
/// accept an array of the fields in order, which the spec does not allow.
fn expects_object<T: Type>() -> bool {
    match T::schema_ref() {
        MetaSchemaRef::Inline(s) => s.ty == "object",
        MetaSchemaRef::Reference(name) => {
            let mut registry = Registry::new();
            T::register(&mut registry);
            registry
                .schemas
                .get(&name)
                .is_some_and(|s| s.ty == "object")
        }
    }
}

fn from_value<T: DeserializeOwned>(raw: &serde_json::Value) -> poem::Result<T> {
    serde_path_to_error::deserialize::<_, T>(raw).map_err(|e| {
        let mut pointer = pointer_of(e.path());
        let msg = e.inner().to_string();
        // serde reports a missing field at the parent; point at the field itself.
        if let Some(field) = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            pointer = format!("{}/{field}", pointer.trim_end_matches('/'));
        }
        if pointer.is_empty() {
            pointer = "/".into();
        }
        invalid(pointer, msg)
    })
}

impl<'a, T> ApiExtractor<'a> for JsonBody<T>
where
    T: Type + DeserializeOwned + Send,
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if !is_json(request) {
            return Err(unsupported_media_type());
        }
        let bytes = body.take()?.into_bytes().await.map_err(|e| {
            if matches!(e, poem::error::ReadBodyError::PayloadTooLarge) {
                poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                invalid("/".into(), format!("could not read the body: {e}"))
            }
        })?;
        let raw = parse_raw(&bytes)?;
        if !raw.is_object() && expects_object::<T>() {
            return Err(invalid("/".into(), "must be a JSON object".into()));
        }
        let value = from_value::<T>(&raw)?;
        Ok(Self { value, raw })
    }
}

/// An optional JSON body: none at all (or `null`) is `value: None`;
/// otherwise it is parsed like [`JsonBody`].
pub struct OptionalJsonBody<T> {
    pub value: Option<T>,
    /// The body as parsed JSON (`null` when absent), for idempotency fingerprints.
    pub raw: serde_json::Value,
}

impl<'a, T> ApiExtractor<'a> for OptionalJsonBody<T>
where
    T: Type + DeserializeOwned + Send,
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = body.take()?.into_bytes().await.map_err(|e| {
            if matches!(e, poem::error::ReadBodyError::PayloadTooLarge) {
                poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                invalid("/".into(), format!("could not read the body: {e}"))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                value: None,
                raw: serde_json::Value::Null,
            });
        }
        if !is_json(request) {
            return Err(unsupported_media_type());
        }
        let raw = parse_raw(&bytes)?;
        if raw.is_null() {
            return Ok(Self { value: None, raw });
        }
        if !raw.is_object() && expects_object::<T>() {
            return Err(invalid("/".into(), "must be a JSON object".into()));
        }
        let value = from_value::<T>(&raw)?;
        Ok(Self {
            value: Some(value),
            raw,
        })
    }
}

/// The schema of a body type (for docs of non-JSON payloads).
pub fn schema_of<T: Type>() -> MetaSchemaRef {
    T::schema_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    fn pointer(body: &str) -> String {
        let e = parse::<Outer>(body.as_bytes()).unwrap_err();
        e.downcast_ref::<BodyError>().unwrap().errors[0]
            .pointer
            .clone()
    }

    #[test]
    fn pointers_name_the_field() {
        assert_eq!(pointer(r#"{"name": 5, "items": []}"#), "/name");
        assert_eq!(
            pointer(r#"{"name": "x", "items": [{"n": 1}, {"n": 300}]}"#),
            "/items/1/n"
        );
        assert_eq!(pointer(r#"{"items": []}"#), "/name");
        assert_eq!(pointer(r#"{"name": "x", "items": [{}]}"#), "/items/0/n");
        assert_eq!(pointer(r#"{"name": "x""#), "/");
        assert!(parse::<Outer>(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn malformed_json_inside_the_document_points_at_its_place() {
        assert_eq!(
            pointer(r#"{"name": "x", "items": [{"n": 1e999}]}"#),
            "/items/0/n"
        );
        assert_eq!(pointer(r#"{"name": "x"} trailing"#), "/");
        assert_eq!(pointer(r#"{"name": "x", "items": [1,]}"#), "/items");
        assert_eq!(pointer(r#"{"name": "x", "items": [{"n": 1"#), "/items/0");
    }
}
