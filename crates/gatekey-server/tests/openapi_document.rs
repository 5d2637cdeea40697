//! The committed OpenAPI document is what clients are generated from: it must match the code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::path::Path;

const REGENERATE: &str = "cargo run -q -p gatekey -- openapi > openapi/gatekey.json";

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = gatekey_server::routes::openapi()
        .to_pretty_json()
        .expect("the document renders");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/gatekey.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/gatekey.json is stale or missing; regenerate it with:\n    {REGENERATE}"
    );
}

#[test]
fn document_names_operations_schemas_security_and_problem_responses() {
    let doc: serde_json::Value =
        serde_json::from_str(&gatekey_server::routes::openapi().to_json().expect("json"))
            .expect("valid JSON");
    let operation_ids: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("path item").values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    for id in [
        "getMe",
        "listApis",
        "getApi",
        "mintCredential",
        "listCredentials",
        "getCredential",
        "revokeCredential",
        "queryAudit",
        "healthz",
        "readyz",
    ] {
        assert!(operation_ids.contains(&id), "operation {id} missing");
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Problem",
        "MintCredentialRequest",
        "MintedCredential",
        "Credential",
        "ApiSummary",
        "AuditEvent",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mint = &doc["paths"]["/v1/apis/{id}/credentials"]["post"];
    assert!(mint["responses"]["403"]["content"]["application/problem+json"].is_object());
    assert_eq!(mint["security"][0]["bearer"], serde_json::json!([]));
}
