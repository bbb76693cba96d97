//! Webhook form decoding: never panics; what decodes re-encodes to the same pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch::twilio::form::Params;

fuzz_target!(|data: &[u8]| {
    if let Ok(params) = Params::parse(data) {
        let again = Params::parse(params.encode().as_bytes()).expect("an encoding decodes");
        assert_eq!(again, params);
    }
});
