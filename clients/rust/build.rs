//! Generates the client from the committed OpenAPI document on every build, so it can never be
//! stale. utoipa writes OpenAPI 3.1 and progenitor reads 3.0, so the few 3.1 forms the document
//! uses are first rewritten to their 3.0 equivalents (see `to_openapi_30`).

#![expect(
    clippy::expect_used,
    reason = "a build script reports failure by panicking, with the message cargo prints"
)]

use std::path::Path;

use serde_json::{Map, Value, json};

fn main() {
    // Read when the script runs, not baked in when it is compiled: a moved checkout keeps working.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let spec_path = Path::new(&manifest_dir).join("../../openapi/gatekey.json");
    println!("cargo::rerun-if-changed={}", spec_path.display());
    let text = std::fs::read_to_string(&spec_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", spec_path.display()));
    let mut document: Value = serde_json::from_str(&text).expect("openapi/gatekey.json is JSON");
    to_openapi_30(&mut document);
    let spec: openapiv3::OpenAPI =
        serde_json::from_value(document).expect("the rewritten document is OpenAPI 3.0");
    let mut generator = progenitor::Generator::new(
        progenitor::GenerationSettings::default()
            .with_interface(progenitor::InterfaceStyle::Builder)
            .with_tag(progenitor::TagStyle::Merged),
    );
    let tokens = generator
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor cannot generate the client: {e}"));
    let file: syn::File = syn::parse2(tokens).expect("generated code parses");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("gatekey_client.rs");
    std::fs::write(&out, prettyplease::unparse(&file)).expect("write the generated client");
}

/// Rewrites the OpenAPI 3.1 forms utoipa emits into OpenAPI 3.0: the version, the SPDX license
/// `identifier`, `type: [T, "null"]` and `oneOf: [{type: null}, S]` (both become `nullable`).
/// Problem responses are declared as `application/json` too: progenitor types only that media
/// type, and with it the errors decode into `types::Problem` instead of a byte stream.
fn to_openapi_30(document: &mut Value) {
    document["openapi"] = json!("3.0.3");
    if let Some(license) = document
        .pointer_mut("/info/license")
        .and_then(Value::as_object_mut)
    {
        license.remove("identifier");
    }
    rewrite(document);
}

fn rewrite(value: &mut Value) {
    match value {
        Value::Object(object) => {
            rewrite_schema(object);
            if let Some(Value::Object(content)) = object.get_mut("content")
                && let Some(problem) = content.remove("application/problem+json")
            {
                content.insert("application/json".to_owned(), problem);
            }
            object.values_mut().for_each(rewrite);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite),
        _ => {}
    }
}

fn is_null_type(value: &Value) -> bool {
    value.get("type") == Some(&json!("null"))
}

fn rewrite_schema(schema: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = schema.get("type") {
        let non_null: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if non_null.len() == 1 && non_null.len() < types.len() {
            schema.insert("type".to_owned(), non_null[0].clone());
            schema.insert("nullable".to_owned(), json!(true));
        }
    }
    if let Some(Value::Array(variants)) = schema.get("oneOf")
        && variants.len() == 2
        && variants.iter().any(is_null_type)
    {
        let other = variants
            .iter()
            .find(|v| !is_null_type(v))
            .cloned()
            .expect("one non-null variant");
        schema.remove("oneOf");
        schema.insert("allOf".to_owned(), json!([other]));
        schema.insert("nullable".to_owned(), json!(true));
    }
}
