//! State-token decoding: never panics, and nothing but a token this signer
//! sealed opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch::keyring::flow_state::FlowStates;
use vouch::keyring::Keyring;

const SID: &str = "CA0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let signer = FlowStates::new(&Keyring::single("fuzz-state-key-0123456789abcdef0123"), 600);
    let token = String::from_utf8_lossy(data);
    // Without the key, forging a MAC is out of reach: every input is refused.
    assert!(signer.open(&token, SID, 1000).is_err());
});
