//! The unverified JWS reader of `gatekey-auth` (the header, `kid`, `alg` and claims read before any
//! signature check) on arbitrary bearer tokens: it must answer `Ok` or `Malformed`, never panic.
#![no_main]

use gatekey_auth::AuthError;
use gatekey_auth::jws::Unverified;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    match Unverified::parse(token) {
        Ok(unverified) => {
            let _ = (unverified.issuer(), unverified.audiences());
            assert_eq!(
                token.matches('.').count(),
                2,
                "a compact JWS has three segments"
            );
        }
        Err(err) => assert_eq!(err, AuthError::Malformed),
    }
});
