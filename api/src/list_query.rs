//! List queries: one type per list operation carrying its query parameters
//! (filters, `limit`, `cursor`), declared with [`list_query!`].
//!
//! poem-openapi 5 binds one parameter to each handler argument and has no
//! way for a struct to stand for several. A list query is one argument that
//! does: it parses each parameter exactly as `Query<T>` would (same errors),
//! validates `limit` into a [`PageRequest`], and declares its parameters in a
//! marker schema that [`Exploded`] writes into the spec one by one, as if they
//! were declared separately.

use launchpad_domain::pagination::{MAX_LIMIT, PageRequest};
use poem::{IntoResponse, Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ExtractParamOptions, OpenApi,
    param::Query,
    registry::{MetaApi, MetaOperationParam, MetaParamIn, MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromParameter, Type},
};

use crate::problem::ApiError;

/// The title of the schema that stands for a list query's parameters.
const MARKER: &str = "launchpad:list-query";

/// One query parameter of a list query.
pub struct Param {
    name: &'static str,
    description: String,
    schema: MetaSchemaRef,
    required: bool,
}

impl Param {
    /// A parameter of type `T`; `doc` holds the lines of its description.
    pub fn new<T: Type>(name: &'static str, doc: &[&str]) -> Self {
        let lines: Vec<&str> = doc.iter().map(|l| l.trim()).collect();
        Self {
            name,
            description: lines.join("\n"),
            schema: T::schema_ref(),
            required: T::IS_REQUIRED,
        }
    }

    /// `limit`, with its bounds in the schema.
    pub fn limit() -> Self {
        let bounds = MetaSchema {
            minimum: Some(1.0),
            maximum: Some(MAX_LIMIT as f64),
            ..MetaSchema::ANY
        };
        Self {
            schema: <Option<i64>>::schema_ref().merge(bounds),
            ..Self::new::<Option<i64>>("limit", &["Page size, 1–200 (default 50)."])
        }
    }

    pub fn cursor() -> Self {
        Self::new::<Option<String>>("cursor", &["The `next_cursor` of the previous page."])
    }
}

/// The schema a list query declares as its one argument: an object whose
/// properties are the parameters, each wrapping its schema (in `allOf`) with
/// its description (as `title`, which holds a `String`). Only [`Exploded`]
/// reads it.
pub fn marker_schema(params: Vec<Param>) -> MetaSchemaRef {
    let mut schema = MetaSchema::new("object");
    schema.title = Some(MARKER.into());
    for p in params {
        if p.required {
            schema.required.push(p.name);
        }
        let wrapped = MetaSchema {
            title: Some(p.description),
            all_of: vec![p.schema],
            ..MetaSchema::ANY
        };
        schema
            .properties
            .push((p.name, MetaSchemaRef::Inline(Box::new(wrapped))));
    }
    MetaSchemaRef::Inline(Box::new(schema))
}

/// Parses one query parameter as `Query<T>` does (same errors, naming it).
pub async fn parse<T: ParseFromParameter>(
    req: &Request,
    body: &mut RequestBody,
    name: &'static str,
) -> poem::Result<T> {
    let opts = ExtractParamOptions {
        name,
        ..Default::default()
    };
    Ok(<Query<T> as ApiExtractor>::from_request(req, body, opts)
        .await?
        .0)
}

/// Parses `limit` and `cursor`; a `limit` out of bounds answers the same
/// problem a handler would.
pub async fn page(req: &Request, body: &mut RequestBody) -> poem::Result<PageRequest> {
    let limit = parse::<Option<i64>>(req, body, "limit").await?;
    let cursor = parse::<Option<String>>(req, body, "cursor").await?;
    PageRequest::new(limit, cursor)
        .map_err(|e| poem::Error::from_response(ApiError::from(e).into_response()))
}

/// Declares a list query: a struct with the given filter fields (each
/// documented, optionally renamed in the query string with `as "name"`) and
/// `page` (`limit` and `cursor`, declared last), usable as one handler argument.
#[macro_export]
macro_rules! list_query {
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $crate::query_params! { @with page $(#[$meta])* pub struct $name { $($fields)* } }
    };
}

/// Declares the query parameters of an operation as one struct (see
/// [`list_query!`] for lists).
#[macro_export]
macro_rules! query_params {
    (
        $(@with $page:ident)?
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident $(as $query_name:literal)? : $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(pub $field: $ty,)*
            $(pub $page: launchpad_domain::pagination::PageRequest,)?
        }

        impl $name {
            fn params() -> Vec<$crate::list_query::Param> {
                #[allow(unused_mut)]
                let mut params = vec![
                    $($crate::list_query::Param::new::<$ty>(
                        $crate::query_params!(@name $field $($query_name)?),
                        &[$($doc),+],
                    ),)*
                ];
                $(
                    let _ = stringify!($page);
                    params.push($crate::list_query::Param::limit());
                    params.push($crate::list_query::Param::cursor());
                )?
                params
            }
        }

        impl<'a> poem_openapi::ApiExtractor<'a> for $name {
            const TYPES: &'static [poem_openapi::ApiExtractorType] =
                &[poem_openapi::ApiExtractorType::Parameter];
            type ParamType = ();
            type ParamRawType = ();

            fn register(_registry: &mut poem_openapi::registry::Registry) {
                $(<$ty as poem_openapi::types::Type>::register(_registry);)*
            }

            fn param_in() -> Option<poem_openapi::registry::MetaParamIn> {
                Some(poem_openapi::registry::MetaParamIn::Query)
            }

            fn param_schema_ref() -> Option<poem_openapi::registry::MetaSchemaRef> {
                Some($crate::list_query::marker_schema(Self::params()))
            }

            async fn from_request(
                req: &'a poem::Request,
                body: &mut poem::RequestBody,
                _: poem_openapi::ExtractParamOptions<()>,
            ) -> poem::Result<Self> {
                Ok(Self {
                    $($field: $crate::list_query::parse::<$ty>(
                        req,
                        body,
                        $crate::query_params!(@name $field $($query_name)?),
                    )
                    .await?,)*
                    $($page: $crate::list_query::page(req, body).await?,)?
                })
            }
        }
    };
    (@name $field:ident $query_name:literal) => { $query_name };
    (@name $field:ident) => { stringify!($field) };
}

list_query! {
    /// A list without filters: `limit` and `cursor` only.
    pub struct Paging {}
}

/// An API whose list queries are written into the spec as the separate query
/// parameters they stand for.
pub struct Exploded<A>(pub A);

impl<A: OpenApi> OpenApi for Exploded<A> {
    fn meta() -> Vec<MetaApi> {
        let mut apis = A::meta();
        for op in apis
            .iter_mut()
            .flat_map(|a| a.paths.iter_mut())
            .flat_map(|p| p.operations.iter_mut())
        {
            op.params = std::mem::take(&mut op.params)
                .into_iter()
                .flat_map(explode)
                .collect();
        }
        apis
    }

    fn register(registry: &mut Registry) {
        A::register(registry);
    }

    fn add_routes(
        self,
        route_table: &mut std::collections::HashMap<
            String,
            std::collections::HashMap<poem::http::Method, poem::endpoint::BoxEndpoint<'static>>,
        >,
    ) {
        self.0.add_routes(route_table);
    }
}

fn explode(param: MetaOperationParam) -> Vec<MetaOperationParam> {
    let MetaSchemaRef::Inline(schema) = &param.schema else {
        return vec![param];
    };
    if schema.title.as_deref() != Some(MARKER) {
        return vec![param];
    }
    schema
        .properties
        .iter()
        .filter_map(|(name, wrapped)| {
            let MetaSchemaRef::Inline(wrapped) = wrapped else {
                return None;
            };
            Some(MetaOperationParam {
                name: name.to_string(),
                schema: wrapped.all_of.first()?.clone(),
                in_type: MetaParamIn::Query,
                description: wrapped.title.clone().filter(|d| !d.is_empty()),
                required: schema.required.contains(name),
                deprecated: false,
                explode: true,
                style: None,
            })
        })
        .collect()
}
