//! The policy file parser (`Policy::parse`, YAML or TOML by file name) on arbitrary text: it
//! must answer `Ok` or a `PolicyError`, never panic, and an accepted policy must be usable.
#![no_main]

use gatekey_core::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format, so one corpus covers both parsers.
    let Some((&format, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let file_name = if format % 2 == 0 {
        "policy.yaml"
    } else {
        "policy.toml"
    };
    if let Ok(policy) = Policy::parse(file_name, text) {
        for api in policy.apis() {
            assert!(
                policy.api(&api.id).is_some(),
                "an accepted API can be looked up"
            );
        }
    }
});
