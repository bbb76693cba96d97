//! Properties over hostile input: a state token survives no single-bit
//! change, and the flow, whatever the caller keys or Twilio sends, never
//! panics and always answers TwiML that Twilio would accept.

use proptest::prelude::*;
use vouch::call::Turn;
use vouch::config::{Config, Line};
use vouch::flow::{
    self, Attestation, CallerNumber, Customer, Entry, FlowState, IdvMethod, Input, Lookup, Stage, Verification,
};
use vouch::handoff::{HandoffTokens, Links};
use vouch::keyring::flow_state::FlowStates;
use vouch::keyring::links::ScreenPopLinks;
use vouch::keyring::Keyring;
use vouch::paths::Urls;
use vouch::render;

const SID: &str = "CA0123456789abcdef0123456789abcdef";

fn demo_lines() -> Vec<Line> {
    let env = std::collections::HashMap::new();
    let config = Config::from_toml(vouch::config::DEMO_CONFIG, &env).expect("demo config");
    config.lines.iter().cloned().collect()
}

fn any_customer() -> impl Strategy<Value = Customer> {
    ("[0-9]{1,12}", any::<String>()).prop_map(|(id, name)| Customer { id, name })
}

fn any_lookup() -> impl Strategy<Value = Lookup> {
    prop_oneof![
        Just(Lookup::NotAsked),
        Just(Lookup::NotFound),
        Just(Lookup::Ambiguous),
        Just(Lookup::Failed),
        any_customer().prop_map(Lookup::Found),
    ]
}

fn any_verification() -> impl Strategy<Value = Verification> {
    prop_oneof![
        Just(Verification::NotAsked),
        Just(Verification::Verified),
        Just(Verification::Rejected),
        Just(Verification::Failed),
        Just(Verification::Locked)
    ]
}

fn state_for(line: &Line, stage: Stage, i: u8, v: u8, customer: Option<Customer>) -> FlowState {
    let customer = if stage == Stage::Verify {
        Some(customer.unwrap_or(Customer { id: "1".into(), name: "x".into() }))
    } else {
        customer
    };
    FlowState {
        line: line.name.clone(),
        stage,
        identify_attempts: i,
        verify_attempts: v,
        customer,
        method: IdvMethod::Keyed,
        attestation: Attestation::None,
        lockout: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_single_bit_change_of_a_state_token_is_refused(
        customer in proptest::option::of(any_customer()),
        i in 0u8..5, v in 0u8..5, bit in any::<proptest::sample::Index>(),
    ) {
        let signer = FlowStates::new(&Keyring::single(&"p".repeat(32)), 600);
        let state = FlowState { line: "support".into(), stage: Stage::Identify, identify_attempts: i, verify_attempts: v, customer, method: IdvMethod::None, attestation: Attestation::A, lockout: true };
        let token = signer.seal(&state, SID, 1000);
        prop_assert_eq!(signer.open(&token, SID, 1000), Ok(state));
        let mut bytes = token.into_bytes();
        let n = bit.index(bytes.len() * 8);
        bytes[n / 8] ^= 1 << (n % 8);
        // A flipped bit may leave invalid UTF-8: that is refused before decoding.
        if let Ok(altered) = String::from_utf8(bytes) {
            prop_assert!(signer.open(&altered, SID, 1000).is_err(), "accepted {altered}");
        }
    }

    #[test]
    fn the_flow_never_panics_and_always_answers_valid_twiml(
        line_ix in 0usize..2,
        from in any::<Option<String>>(),
        stir in any::<Option<String>>(),
        digits in any::<Option<String>>(),
        speech in any::<Option<String>>(),
        stage_is_verify in any::<bool>(),
        i in any::<u8>(), v in any::<u8>(),
        customer in proptest::option::of(any_customer()),
        lookup in any_lookup(),
        verification in any_verification(),
        start in any::<bool>(),
        throttled in any::<bool>(),
    ) {
        let lines = demo_lines();
        let line = &lines[line_ix % lines.len()];
        // SpeechResult is not an input Vouch acts on; it must not matter.
        let _ = speech;
        let caller = CallerNumber::parse(from.as_deref());
        let attestation = Attestation::parse(stir.as_deref());
        let _ = line.rules.lookup_number(&caller, attestation);
        let stage = if stage_is_verify && line.rules.verification.is_some() { Stage::Verify } else { Stage::Identify };
        let state = state_for(line, stage, i, v, customer);
        let input = if start && throttled {
            Input::Throttled
        } else if start {
            Input::Start { ani: lookup }
        } else {
            match stage {
                Stage::Identify => Input::Identifier { entry: Entry::classify(digits.as_deref(), &line.rules.identifier), lookup },
                Stage::Verify => {
                    let rules = line.rules.verification.as_ref().unwrap_or(&line.rules.identifier);
                    Input::Factor { entry: Entry::classify(digits.as_deref(), rules), verification }
                }
            }
        };
        let state = if start { line.rules.fresh_state(attestation) } else { state };
        let reply = flow::step(&line.rules, state, input).expect("a consistent state and input never fail");
        let links = ScreenPopLinks::new(&Keyring::single(&"p".repeat(32)), 600);
        let tokens = HandoffTokens::new(&"h".repeat(32), 300);
        let urls = Urls::new("https://ivr.example.com");
        let links = Links { urls: &urls, call_sid: SID, now: 1000, screen_pops: &links, tokens: &tokens };
        let turn = Turn::of(line, reply, |s| FlowStates::new(&Keyring::single(&"p".repeat(32)), 600).seal(s, SID, 1000), false, 1000);
        let doc = render::document(line, &turn.preface, &turn.then, &links).render();
        prop_assert!(vouch::sim::twiml::parse(&doc).is_ok(), "{doc}");
    }
}
