//! The policy validator with trusted issuers' group prefixes (what the service runs on every
//! load and reload) on arbitrary YAML. A refused document must name each problem's place in the
//! document and its reason; an accepted one must hold every rule the validator promises (groups
//! that name an issuer, a group for every scope, lifetimes within Kong's bounds), and must come
//! back unchanged, with the same revision, when validated again from its own document (what
//! the server does when it merges the file with the catalog).
#![no_main]

use gatekey_core::policy::{
    GroupPrefixes, KONG_MAX_TTL_SECONDS, PolicyDocument, PolicyError, is_source_revision,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let prefixes = GroupPrefixes::new(["idp:".to_owned(), "ci:".to_owned()]);
    let validated = PolicyDocument::from_yaml_str(text)
        .and_then(|document| document.validate_for_issuers(&prefixes));
    match validated {
        Ok(policy) => {
            for group in policy.admin_groups() {
                assert!(
                    prefixes.qualifies(group),
                    "admin group {group} names no issuer"
                );
            }
            for api in policy.apis() {
                assert!(!api.scopes.is_empty(), "{}: no scope", api.id);
                assert!(api.min_ttl_seconds >= 1, "{}: min ttl 0", api.id);
                assert!(api.min_ttl_seconds <= api.default_ttl_seconds, "{}", api.id);
                assert!(api.default_ttl_seconds <= api.max_ttl_seconds, "{}", api.id);
                assert!(api.max_ttl_seconds <= KONG_MAX_TTL_SECONDS, "{}", api.id);
                for scope in &api.scopes {
                    assert!(
                        !scope.allowed_groups.is_empty(),
                        "{}: scope without groups",
                        api.id
                    );
                    for group in &scope.allowed_groups {
                        assert!(prefixes.qualifies(group), "{group} names no issuer");
                    }
                }
            }
            if let Some(source) = &policy.revision().source {
                assert!(
                    is_source_revision(source),
                    "source revision {source:?} accepted"
                );
            }
            let again = policy
                .to_document()
                .validate_for_issuers(&prefixes)
                .expect("an accepted policy validates again from its own document");
            assert_eq!(again, policy, "the round trip changes the policy");
        }
        Err(PolicyError::Invalid { problems }) => {
            assert!(!problems.is_empty(), "refused without a problem");
            for problem in problems {
                assert!(
                    !problem.location.is_empty(),
                    "a problem without a place: {problem:?}"
                );
                assert!(
                    !problem.message.is_empty(),
                    "a problem without a reason: {problem:?}"
                );
            }
        }
        Err(PolicyError::Syntax { message, .. }) => {
            assert!(!message.is_empty(), "a syntax error without a reason");
        }
    }
});
