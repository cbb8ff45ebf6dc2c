//! The JSON schema sent as `response_format` (strict structured output), and
//! the parser that checks the model's answer against the same Rust type.
//!
//! Why schemars and not a hand-built schema: the schema is derived from the
//! very types the answer is deserialised into, so a field added to a type is
//! in the schema and in the parser at once. OpenAI's strict mode accepts a
//! subset of JSON Schema; [`strict_schema`] post-processes schemars' output
//! into it: every object closed (`additionalProperties: false`) with every
//! property required, subschemas inlined (no `$ref`), and keywords strict
//! mode rejects (`format`, `title`, `$schema`) removed.
//!
//! Validation on our side is the typed parse: `deny_unknown_fields`, no
//! defaults, exact types — a document the schema rejects is rejected here.

use schemars::{JsonSchema, generate::SchemaSettings};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The strict-mode JSON schema of `T`.
pub fn strict_schema<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    strictify(&mut v);
    v
}

/// Schema keywords OpenAI's strict mode does not accept here.
const DROPPED_KEYWORDS: &[&str] = &[
    "$schema",
    "title",
    "format",
    "$defs",
    "definitions",
    "default",
    "examples",
];

fn strictify(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    for k in DROPPED_KEYWORDS {
        map.remove(*k);
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for p in props.values_mut() {
            strictify(p);
        }
        let required: Vec<Value> = props.keys().cloned().map(Value::String).collect();
        map.insert("required".into(), Value::Array(required));
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(items) = map.get_mut("items") {
        strictify(items);
    }
    for k in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(alts)) = map.get_mut(k) {
            for a in alts {
                strictify(a);
            }
        }
    }
}

/// A type the model can be asked for: described by a strict schema, parsed
/// back with [`parse_answer`].
pub trait StructuredAnswer: DeserializeOwned {
    fn schema() -> Value;
}

impl<T: DeserializeOwned + JsonSchema> StructuredAnswer for T {
    fn schema() -> Value {
        strict_schema::<T>()
    }
}

/// Parses the model's answer into `T`: the whole content must be one JSON
/// document of exactly that shape. Tolerates a Markdown code fence around
/// it (some OpenAI-compatible servers add one). The error names what is wrong.
pub fn parse_answer<T: DeserializeOwned>(content: &str) -> Result<T, String> {
    let body = strip_fence(content.trim());
    if body.is_empty() {
        return Err("the answer is empty".into());
    }
    serde_json::from_str(body).map_err(|e| format!("the answer does not match the schema: {e}"))
}

fn strip_fence(s: &str) -> &str {
    let Some(rest) = s.strip_prefix("```") else {
        return s;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::ai::types::{ChunkSummaryAnswer, CopAdviceAnswer, MergedSummaryAnswer};

    /// Every object schema in `schema`.
    fn object_schemas(schema: &Value) -> Vec<&Map<String, Value>> {
        let mut out = vec![];
        collect(schema, &mut out);
        out
    }

    fn collect<'a>(v: &'a Value, out: &mut Vec<&'a Map<String, Value>>) {
        match v {
            Value::Object(m) => {
                if m.contains_key("properties") {
                    out.push(m);
                }
                for x in m.values() {
                    collect(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            _ => {}
        }
    }

    fn check_strict(schema: &Value) {
        assert!(
            !schema.to_string().contains("$ref"),
            "subschemas are inlined: {schema}"
        );
        let objects = object_schemas(schema);
        assert!(!objects.is_empty());
        for o in objects {
            assert_eq!(o["additionalProperties"], Value::Bool(false), "{o:?}");
            let props: Vec<&String> = o["properties"].as_object().unwrap().keys().collect();
            let required: Vec<&str> = o["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(props.len(), required.len());
            for p in props {
                assert!(required.contains(&p.as_str()));
                assert!(o["properties"][p].get("format").is_none());
            }
        }
    }

    #[test]
    fn schemas_follow_strict_mode_rules() {
        let s = strict_schema::<ChunkSummaryAnswer>();
        check_strict(&s);
        assert_eq!(s["type"], "object");
        assert_eq!(
            s["properties"]["working_well"]["items"]["properties"]["quotes"]["type"],
            "array"
        );
        // A property called `title` survives (only the keyword is dropped).
        let a = strict_schema::<CopAdviceAnswer>();
        check_strict(&a);
        assert!(a["properties"]["next_sessions"]["items"]["properties"]["title"].is_object());
        assert!(a["properties"]["roadmap"]["properties"]["q4"].is_object());
        check_strict(&strict_schema::<MergedSummaryAnswer>());
    }

    #[test]
    fn answers_must_match_exactly() {
        let ok = r#"{"working_well":[{"text":"Demos","quotes":["great demos"]}],"opportunities":[],
                     "top_actions":[],"positive_ids":[1],"negative_ids":[]}"#;
        let a: ChunkSummaryAnswer = parse_answer(ok).unwrap();
        assert_eq!(a.working_well[0].quotes, vec!["great demos"]);
        let fenced = format!("```json\n{ok}\n```");
        assert!(parse_answer::<ChunkSummaryAnswer>(&fenced).is_ok());

        let extra = ok.replacen('{', r#"{"hacked":true,"#, 1);
        let e = parse_answer::<ChunkSummaryAnswer>(&extra).unwrap_err();
        assert!(e.contains("unknown field `hacked`"), "{e}");
        let missing =
            r#"{"working_well":[],"opportunities":[],"top_actions":[],"positive_ids":[]}"#;
        assert!(
            parse_answer::<ChunkSummaryAnswer>(missing)
                .unwrap_err()
                .contains("negative_ids")
        );
        assert!(parse_answer::<ChunkSummaryAnswer>("Sure! Here is the summary").is_err());
        assert!(parse_answer::<ChunkSummaryAnswer>("  ").is_err());
    }
}
