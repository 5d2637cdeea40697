//! Table-driven tests of a policy: `gatekey policy test`.
//!
//! A platform team that keeps policy in git wants its CI to fail when a change grants or revokes
//! something it did not mean to. A case file lists callers (issuer, subject, groups as the token
//! verifier produces them, prefixes included), what they ask for, and whether the policy must
//! allow it or deny it for a given reason. [`PolicyCases::run`] asks the same
//! [`Policy::decide_mint`] the service asks, so a case that passes here is a decision the service
//! makes.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::policy::{DenyReason, MintRequest, Policy};
use crate::principal::Principal;

/// The issuer given to a case's caller when the case names none. Decisions depend on groups,
/// which already carry the issuer's prefix; the issuer only matters to say who the caller is.
const DEFAULT_ISSUER: &str = "policy-test";

/// A case file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyCases {
    pub cases: Vec<PolicyCase>,
}

/// One caller, one request, one expected decision.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyCase {
    /// What the case checks, in words (shown in the report).
    pub name: String,
    pub caller: CaseCaller,
    /// The API id asked for.
    pub api: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The lifetime asked for; the API's default when absent.
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
    pub expect: Expected,
    /// With `expect: deny`, the reason the denial must give; any reason passes when absent.
    #[serde(default)]
    pub reason: Option<DenyReason>,
}

/// Who asks, as the token verifier would present them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CaseCaller {
    #[serde(default)]
    pub issuer: Option<String>,
    pub subject: String,
    /// The caller's groups with their issuer's `group_prefix`, as in the policy's grants.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The decision a case expects.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    Allow,
    Deny,
}

/// Why a case file was refused before any case ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CasesError {
    #[error("the case file is not valid YAML for a case list: {0}")]
    Syntax(String),
    #[error("cases[{index}] ({name}): {message}")]
    Invalid {
        index: usize,
        name: String,
        message: String,
    },
}

/// The decision the policy made for one case, and whether it was the expected one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    pub expected: Expected,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_reason: Option<DenyReason>,
    /// What the policy decided.
    pub actual: Expected,
    /// The denial's reason, when the policy denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_reason: Option<DenyReason>,
    /// The denial's sentence, or the granted scopes and lifetime.
    pub detail: String,
}

/// Every case's result, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CasesReport {
    pub results: Vec<CaseResult>,
}

impl PolicyCases {
    /// Parses a YAML case file and checks each case is well formed (a name, a subject, at least
    /// one scope, a reason only with `expect: deny`).
    pub fn from_yaml_str(text: &str) -> Result<Self, CasesError> {
        let cases: Self =
            serde_yaml_ng::from_str(text).map_err(|e| CasesError::Syntax(e.to_string()))?;
        for (index, case) in cases.cases.iter().enumerate() {
            let invalid = |message: &str| CasesError::Invalid {
                index,
                name: case.name.clone(),
                message: message.to_owned(),
            };
            if case.name.trim().is_empty() {
                return Err(invalid("`name` must not be empty"));
            }
            if case.caller.subject.trim().is_empty() {
                return Err(invalid("`caller.subject` must not be empty"));
            }
            if case.reason.is_some() && case.expect == Expected::Allow {
                return Err(invalid("`reason` goes with `expect: deny` only"));
            }
        }
        if cases.cases.is_empty() {
            return Err(CasesError::Syntax("`cases` lists no case".to_owned()));
        }
        Ok(cases)
    }

    /// Decides every case with `policy`.
    pub fn run(&self, policy: &Policy) -> CasesReport {
        CasesReport {
            results: self.cases.iter().map(|case| case.run(policy)).collect(),
        }
    }
}

impl PolicyCase {
    fn run(&self, policy: &Policy) -> CaseResult {
        let principal = Principal::new(
            self.caller
                .issuer
                .clone()
                .unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
            self.caller.subject.clone(),
            self.caller.groups.iter().cloned(),
        );
        let request = MintRequest {
            scopes: self.scopes.clone(),
            ttl_seconds: self.ttl_seconds,
        };
        let (actual, actual_reason, detail) =
            match policy.decide_mint(&principal, &self.api, &request) {
                Ok(grant) => (
                    Expected::Allow,
                    None,
                    format!(
                        "granted {} for {} s",
                        grant.scopes.join(", "),
                        grant.ttl_seconds
                    ),
                ),
                Err(denial) => (Expected::Deny, Some(denial.reason), denial.detail),
            };
        let passed =
            actual == self.expect && (self.reason.is_none() || self.reason == actual_reason);
        CaseResult {
            name: self.name.clone(),
            passed,
            expected: self.expect,
            expected_reason: self.reason,
            actual,
            actual_reason,
            detail,
        }
    }
}

impl CasesReport {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|result| !result.passed).count()
    }

    /// One line per case (`ok` or `FAIL`, with what was expected and what happened for a
    /// failure), then the totals.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for result in &self.results {
            if result.passed {
                let _ = writeln!(out, "ok    {}", result.name);
            } else {
                let _ = writeln!(
                    out,
                    "FAIL  {}\n      expected {}, got {}: {}",
                    result.name,
                    decision_text(result.expected, result.expected_reason),
                    decision_text(result.actual, result.actual_reason),
                    result.detail
                );
            }
        }
        let failed = self.failed();
        let _ = writeln!(
            out,
            "{} cases: {} passed, {failed} failed",
            self.results.len(),
            self.results.len() - failed
        );
        out
    }
}

fn decision_text(decision: Expected, reason: Option<DenyReason>) -> String {
    match (decision, reason) {
        (Expected::Allow, _) => "allow".to_owned(),
        (Expected::Deny, Some(reason)) => format!("deny ({reason})"),
        (Expected::Deny, None) => "deny".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r"
version: 1
apis:
  - id: orders
    title: Orders
    kong_service: orders
    gateway_url: https://gw.example/orders
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    scopes:
      - {name: read, acl_group: orders-read, allowed_groups: [idp:eng]}
      - {name: write, acl_group: orders-write, allowed_groups: [idp:payments]}
";

    const CASES: &str = r"
cases:
  - name: payments may write
    caller: {subject: jane, groups: [idp:payments]}
    api: orders
    scopes: [write]
    expect: allow
  - name: engineers may not write
    caller: {issuer: https://idp.example, subject: joe, groups: [idp:eng]}
    api: orders
    scopes: [write]
    expect: deny
    reason: scope_not_allowed
  - name: a day is too long (this case is wrong on purpose)
    caller: {subject: jane, groups: [idp:payments]}
    api: orders
    scopes: [write]
    ttl_seconds: 86400
    expect: allow
  - name: a day is too long, for any reason
    caller: {subject: jane, groups: [idp:payments]}
    api: orders
    scopes: [write]
    ttl_seconds: 86400
    expect: deny
";

    fn policy() -> Policy {
        Policy::parse("p.yaml", POLICY).unwrap()
    }

    #[test]
    fn each_case_is_decided_as_the_service_decides_and_failures_say_why() {
        let report = PolicyCases::from_yaml_str(CASES).unwrap().run(&policy());
        let passed: Vec<bool> = report.results.iter().map(|r| r.passed).collect();
        assert_eq!(passed, [true, true, false, true]);
        assert_eq!(report.failed(), 1);
        assert_eq!(
            report.results[2].actual_reason,
            Some(DenyReason::TtlAboveMax)
        );
        assert_eq!(
            report.to_text(),
            "ok    payments may write\n\
             ok    engineers may not write\n\
             FAIL  a day is too long (this case is wrong on purpose)\n      \
             expected allow, got deny (ttl_above_max): ttl_seconds 86400 exceeds the maximum \
             of 3600 for API 'orders'\n\
             ok    a day is too long, for any reason\n\
             4 cases: 3 passed, 1 failed\n"
        );
    }

    #[test]
    fn a_wrong_reason_fails_the_case() {
        let cases = CASES.replace("reason: scope_not_allowed", "reason: unknown_scope");
        let report = PolicyCases::from_yaml_str(&cases).unwrap().run(&policy());
        assert!(!report.results[1].passed);
        assert!(
            report
                .to_text()
                .contains("expected deny (unknown_scope), got deny (scope_not_allowed)")
        );
    }

    #[test]
    fn malformed_case_files_are_refused_with_the_case_and_the_reason() {
        for (text, message) in [
            ("cases: []", "lists no case"),
            (
                "cases:\n  - name: x\n    caller: {subject: a}\n    api: o\n    scopes: [r]\n    expect: maybe\n",
                "unknown variant `maybe`",
            ),
            (
                "cases:\n  - name: x\n    caller: {subject: a}\n    api: o\n    scopes: [r]\n    expect: allow\n    colour: red\n",
                "unknown field `colour`",
            ),
            (
                "cases:\n  - name: x\n    caller: {subject: a}\n    api: o\n    scopes: [r]\n    expect: allow\n    reason: unknown_api\n",
                "cases[0] (x): `reason` goes with `expect: deny` only",
            ),
            (
                "cases:\n  - name: x\n    caller: {subject: a}\n    api: o\n    scopes: [r]\n    expect: deny\n    reason: because\n",
                "unknown variant `because`",
            ),
            (
                "cases:\n  - name: ' '\n    caller: {subject: a}\n    api: o\n    scopes: [r]\n    expect: deny\n",
                "`name` must not be empty",
            ),
        ] {
            let error = PolicyCases::from_yaml_str(text).unwrap_err().to_string();
            assert!(error.contains(message), "{text}\n=> {error}");
        }
    }
}
