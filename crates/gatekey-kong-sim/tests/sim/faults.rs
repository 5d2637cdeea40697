//! Simulator-only controls: fault injection (in process and over `/_sim/faults`) and the request
//! counter.

use reqwest::{Method, StatusCode};
use serde_json::json;

use gatekey_kong_sim::Fault;

use crate::support::Harness;

#[tokio::test]
async fn injected_500_answers_kongs_database_error_then_clears() {
    let h = Harness::start().await;
    h.sim.inject_fault(Fault {
        method: Method::POST,
        path_contains: "/key-auth".to_owned(),
        status: 500,
        times: 2,
    });
    let (status, _) = h
        .admin(Method::POST, "/consumers", Some(json!({"username": "x"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "other paths are unaffected");
    for _ in 0..2 {
        assert_eq!(
            h.admin(Method::POST, "/consumers/x/key-auth", Some(json!({})))
                .await,
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "An unexpected error occurred"})
            )
        );
    }
    assert_eq!(
        h.admin(Method::GET, "/consumers/x/key-auth", None).await.0,
        StatusCode::OK,
        "GET is unaffected"
    );
    let (status, _) = h
        .admin(Method::POST, "/consumers/x/key-auth", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "fault cleared after `times`");
    h.stop().await;
}

#[tokio::test]
async fn faults_can_be_armed_over_http_and_requests_are_counted() {
    let h = Harness::start().await;
    let before = h.sim.admin_request_count();
    let response = h
        .http
        .post(format!("{}/_sim/faults", h.sim.admin_url()))
        .json(&json!({"method": "GET", "path_contains": "/status", "status": 503, "times": 1}))
        .send()
        .await
        .expect("arm");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        h.admin(Method::GET, "/status", None).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"message": "Service Unavailable"})
        )
    );
    assert_eq!(
        h.admin(Method::GET, "/status", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        h.sim.admin_request_count() - before,
        2,
        "`/_sim/` calls are not counted"
    );
    h.stop().await;
}
