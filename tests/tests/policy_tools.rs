//! `gatekey policy test|diff|explain` as a platform team's CI runs them: the real binary on real
//! files, judged by output and exit status (0 clean, 1 findings, 2 bad input).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use gatekey_e2e::rig::gatekey_binary;
use serde_json::Value;

/// What one run printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn gatekey(args: &[&str]) -> Run {
    let output = Command::new(gatekey_binary().expect("gatekey binary"))
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("run gatekey");
    Run {
        code: output.status.code().expect("exit status"),
        stdout: String::from_utf8(output.stdout).expect("utf-8"),
        stderr: String::from_utf8(output.stderr).expect("utf-8"),
    }
}

/// `gatekey policy test` of `policy` with `cases`, plus `extra` arguments.
fn policy_test(policy: &str, cases: &str, extra: &[&str]) -> Run {
    gatekey(
        &[
            &["policy", "test", "--policy", policy, "--cases", cases],
            extra,
        ]
        .concat(),
    )
}

const LOCAL_POLICY: &str = "deploy/local/policy.yaml";

#[test]
fn the_shipped_cases_pass_against_the_local_policy() {
    let run = policy_test(LOCAL_POLICY, "deploy/local/policy.tests.yaml", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("ok    the orders team may write orders\n")
    );
    assert!(
        run.stdout.ends_with("10 cases: 10 passed, 0 failed\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_case_the_policy_breaks_fails_the_run_with_what_was_expected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = dir.path().join("cases.yaml");
    std::fs::write(
        &cases,
        "cases:\n  - name: payments may write orders\n    caller: {subject: bob, groups: [payments-team]}\n    api: orders\n    scopes: [write]\n    expect: allow\n",
    )
    .expect("write cases");
    let cases = cases.to_str().expect("utf-8 path");
    let run = policy_test(LOCAL_POLICY, cases, &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "FAIL  payments may write orders\n      expected allow, got deny (scope_not_allowed): none \
         of your groups may request scope 'write' of API 'orders'\n1 cases: 0 passed, 1 failed\n"
    );
    let json = policy_test(LOCAL_POLICY, cases, &["--format", "json"]);
    assert_eq!(json.code, 1);
    let report: Value = serde_json::from_str(&json.stdout).expect("JSON report");
    assert_eq!(report["results"][0]["passed"], false);
    assert_eq!(report["results"][0]["actual_reason"], "scope_not_allowed");
}

#[test]
fn invalid_policies_and_case_files_exit_2_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("policy.yaml");
    let local = std::fs::read_to_string(repo(LOCAL_POLICY)).expect("local policy");
    std::fs::write(
        &policy,
        local.replace("allowed_groups: [orders-team]", "allowed_groups: []"),
    )
    .expect("write policy");
    let run = policy_test(
        policy.to_str().expect("utf-8 path"),
        "deploy/local/policy.tests.yaml",
        &[],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("policy.yaml"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "apis[0] (orders).scopes[1] (write).allowed_groups: a scope needs at least one group"
        ),
        "{}",
        run.stderr
    );

    let run = policy_test(LOCAL_POLICY, LOCAL_POLICY, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown field `version`"),
        "{}",
        run.stderr
    );

    let run = gatekey(&[
        "policy",
        "diff",
        "no-such-file.yaml",
        "deploy/local/policy.yaml",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read no-such-file.yaml"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_diff_of_the_fixtures_is_exactly_the_committed_comment() {
    let args = [
        "policy",
        "diff",
        "tests/fixtures/policy/before.yaml",
        "tests/fixtures/policy/after.yaml",
    ];
    let run = gatekey(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected =
        std::fs::read_to_string(repo("tests/fixtures/policy/diff.md")).expect("expected diff");
    assert_eq!(run.stdout, expected);

    let json = gatekey(&[&args[..], &["--format", "json", "--exit-code"]].concat());
    assert_eq!(json.code, 1, "a change with --exit-code");
    let diff: Value = serde_json::from_str(&json.stdout).expect("JSON diff");
    assert_eq!(diff["apis_added"], serde_json::json!(["billing"]));
    assert_eq!(
        diff["groups"]["idp:payments-team"]["gained"],
        serde_json::json!([{"api": "orders", "scope": "write"}])
    );

    let same = gatekey(&["policy", "diff", LOCAL_POLICY, LOCAL_POLICY, "--exit-code"]);
    assert_eq!(same.code, 0);
    assert!(same.stdout.contains("No change"), "{}", same.stdout);
}

#[test]
fn explain_names_the_groups_of_a_discoverable_api_and_refuses_unknown_ones() {
    let run = gatekey(&[
        "policy",
        "explain",
        "--policy",
        LOCAL_POLICY,
        "--api",
        "orders",
        "--group",
        "payments-team",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "read: you may request it\nwrite: ask to join orders-team to request it\n"
    );
    let run = gatekey(&[
        "policy",
        "explain",
        "--policy",
        LOCAL_POLICY,
        "--api",
        "billing",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no API 'billing'"), "{}", run.stderr);
}
