//! Usage entries and counters: a batch stores its new entries and moves each credential's
//! counters once, a batch posted again (or an entry twice in one batch) changes nothing, the
//! latest calls come newest first, and summaries of many credentials are one query.

use std::collections::HashMap;

use gatekey_core::issuance::IssuanceId;
use gatekey_core::usage::{Latencies, UsageEntry, UsageSummary};
use gatekey_store::Recorded;
use mongodb::bson::doc;

use crate::support::{TestDb, t};

fn call(id: &str, issuance_id: IssuanceId, secs: i64, status: u16) -> UsageEntry {
    UsageEntry {
        id: id.to_owned(),
        issuance_id,
        at: t(secs),
        method: "GET".to_owned(),
        route: Some("orders-read".to_owned()),
        service: Some("orders".to_owned()),
        path: format!("/orders/{secs}"),
        status,
        latencies: Latencies {
            request_ms: 5,
            upstream_ms: Some(3),
            gateway_ms: 1,
        },
        client_ip: Some("10.0.0.1".to_owned()),
    }
}

#[tokio::test]
async fn a_batch_counts_once_however_often_it_is_recorded() {
    let db = TestDb::start().await;
    let usage = db.store.usage();
    let (a, b, never) = (IssuanceId::new(), IssuanceId::new(), IssuanceId::new());
    let expiries = HashMap::from([(a, t(3600)), (b, t(3600))]);
    let batch = vec![
        call("e1", a, 20, 200),
        call("e2", a, 10, 403),
        call("e3", b, 15, 502),
        call("e1", a, 20, 200),
    ];
    assert_eq!(
        usage.record(&batch, &expiries).await.expect("record"),
        Recorded {
            stored: 3,
            duplicates: 1
        }
    );
    assert_eq!(
        usage.record(&batch, &expiries).await.expect("record again"),
        Recorded {
            stored: 0,
            duplicates: 4
        }
    );
    let more = [call("e4", a, 30, 201)];
    assert_eq!(
        usage
            .record(&more, &expiries)
            .await
            .expect("record more")
            .stored,
        1
    );

    let summary = usage.summary(&a).await.expect("summary");
    assert_eq!(
        summary,
        UsageSummary {
            calls: 3,
            success: 2,
            redirect: 0,
            client_error: 1,
            server_error: 0,
            first_used_at: Some(t(10)),
            last_used_at: Some(t(30)),
        }
    );
    assert_eq!(
        usage.summary(&never).await.expect("summary"),
        UsageSummary::default()
    );
    let summaries = usage.summaries(&[a, b, never]).await.expect("summaries");
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[&b].server_error, 1);

    let recent = usage.recent(&a, 2).await.expect("recent");
    let ids: Vec<&str> = recent.iter().map(|entry| entry.id.as_str()).collect();
    assert_eq!(ids, ["e4", "e1"]);
    assert_eq!(recent[0], more[0]);

    // The summary carries the credential's expiry, for its TTL index.
    let stored = db
        .raw("usage_summaries")
        .find_one(doc! { "_id": a.to_string() })
        .await
        .expect("read")
        .expect("summary document");
    assert!(stored.get_datetime("expires_at").is_ok(), "{stored}");
}

#[tokio::test]
async fn a_counter_the_server_refuses_fails_the_batch_and_names_its_credential() {
    let db = TestDb::start().await;
    let usage = db.store.usage();
    let (good, broken) = (IssuanceId::new(), IssuanceId::new());
    // A counter document `$inc` cannot add to: the server refuses that statement only.
    db.raw("usage_summaries")
        .insert_one(doc! { "_id": broken.to_string(), "calls": "not a number" })
        .await
        .expect("insert");
    let batch = [call("g1", good, 10, 200), call("b1", broken, 11, 200)];
    let err = usage
        .record(&batch, &HashMap::new())
        .await
        .expect_err("the broken counter is refused");
    match err {
        gatekey_store::StoreError::WriteRefused { collection, id, .. } => {
            assert_eq!((collection, id), ("usage_summaries", broken.to_string()));
        }
        other => panic!("expected WriteRefused, got {other:?}"),
    }
    // The statements are unordered: the other credential's counters moved, and every entry is
    // stored, so the batch posted again counts nothing twice.
    assert_eq!(usage.summary(&good).await.expect("summary").calls, 1);
    assert_eq!(
        usage.record(&batch, &HashMap::new()).await.expect("again"),
        Recorded {
            stored: 0,
            duplicates: 2
        }
    );
}
