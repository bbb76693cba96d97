//! Properties over hostile input: a state token survives no single-bit
//! change, and the flow, whatever the caller keys or Twilio sends, never
//! panics, always answers TwiML that Twilio would accept, and identifies a
//! caller by their number only where the line's caller-ID rule allows it.
//!
//! (No speech input: Vouch acts on `Digits` alone, and the flow has no
//! input for `SpeechResult`, so none is generated.)

use proptest::prelude::*;
use vouch::call::Turn;
use vouch::config::{Config, Line};
use vouch::flow::{
    self, Attestation, CallerNumber, Customer, Entry, FlowState, IdvMethod, Input, Lookup, Reply, Stage, Verification,
    E164,
};
use vouch::handoff::{HandoffTokens, Links};
use vouch::keyring::flow_state::FlowStates;
use vouch::keyring::links::ScreenPopLinks;
use vouch::keyring::Keyring;
use vouch::paths::Urls;
use vouch::render;

const SID: &str = "CA0123456789abcdef0123456789abcdef";

/// How a line may use the caller's number, as its configuration says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallerIdRule {
    Always,
    /// Only with full STIR/SHAKEN attestation.
    Attested,
    Never,
}

/// The demo's lines (support looks numbers up, sales does not) and the
/// support line again with `caller_id_lookup = "attested"`, each with the
/// rule its configuration states.
fn lines() -> Vec<(Line, CallerIdRule)> {
    let env = std::collections::HashMap::new();
    let demo = Config::from_toml(vouch::config::DEMO_CONFIG, &env).expect("demo config");
    let attested_toml =
        vouch::config::DEMO_CONFIG.replace("caller_id_lookup = true", "caller_id_lookup = \"attested\"");
    assert_ne!(attested_toml, vouch::config::DEMO_CONFIG, "the demo's support line looks numbers up");
    let attested = Config::from_toml(&attested_toml, &env).expect("attested config");
    let line = |config: &Config, name: &str| config.lines.iter().find(|l| l.name == name).expect("a demo line").clone();
    vec![
        (line(&demo, "support"), CallerIdRule::Always),
        (line(&demo, "sales"), CallerIdRule::Never),
        (line(&attested, "support"), CallerIdRule::Attested),
    ]
}

/// What Twilio may send as `From`: E.164 numbers, withheld numbers, Voice
/// SDK clients, SIP addresses, numbers without their `+`, and anything.
fn any_from() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        3 => "\\+[1-9][0-9]{6,14}",
        1 => "\\+0[0-9]{6,14}",
        1 => "\\+[1-9][0-9]{15,17}",
        1 => prop_oneof![
            Just("anonymous".to_string()),
            Just("Restricted".to_string()),
            Just("Unknown".to_string()),
            Just("+266696687".to_string()),
        ],
        1 => "client:[a-z]{1,8}",
        1 => "sip:[a-z]{1,8}@example\\.com",
        1 => "[1-9][0-9]{9,11}",
        1 => " \\+1555[0-9]{7} ",
        2 => any::<String>(),
    ])
}

/// What Twilio may send as `StirVerstat`.
fn any_stir() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        2 => Just("TN-Validation-Passed-A".to_string()),
        1 => Just("TN-Validation-Passed-A-Diverted".to_string()),
        1 => Just("TN-Validation-Passed-B".to_string()),
        1 => Just("TN-Validation-Passed-C".to_string()),
        1 => Just("TN-Validation-Failed-A".to_string()),
        1 => Just("No-TN-Validation".to_string()),
        1 => any::<String>(),
    ])
}

/// The number a caller-ID lookup may use, by PRODUCT.md: a usable E.164
/// number (`+`, a non-zero first digit, 7 to 15 digits), not Twilio's
/// stand-in for a withheld one.
fn usable_number(from: Option<&str>) -> Option<&str> {
    let number = from?.trim();
    let digits = number.strip_prefix('+')?;
    let e164 =
        (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    (e164 && number != "+266696687").then_some(number)
}

/// How the reply says the caller was identified so far.
fn method_of(reply: &Reply) -> IdvMethod {
    match reply {
        Reply::Ask { state, .. } => state.method,
        Reply::Handoff { context, .. } => context.idv_method,
    }
}

fn any_customer() -> impl Strategy<Value = Customer> {
    ("[0-9]{1,12}", any::<String>()).prop_map(|(id, name)| Customer { id, name, attributes: Vec::new() })
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
        Just(Verification::Locked),
        Just(Verification::Unavailable)
    ]
}

fn state_for(line: &Line, stage: Stage, i: u8, v: u8, customer: Option<Customer>) -> FlowState {
    let customer = if stage == Stage::Verify {
        Some(customer.unwrap_or(Customer { id: "1".into(), name: "x".into(), attributes: Vec::new() }))
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
        caller_id: None,
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
        let state = FlowState { line: "support".into(), stage: Stage::Identify, identify_attempts: i, verify_attempts: v, customer, method: IdvMethod::None, attestation: Attestation::A, lockout: true, caller_id: None };
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
        line_ix in 0usize..3,
        from in any_from(),
        stir in any_stir(),
        digits in any::<Option<String>>(),
        stage_is_verify in any::<bool>(),
        i in any::<u8>(), v in any::<u8>(),
        customer in proptest::option::of(any_customer()),
        lookup in any_lookup(),
        verification in any_verification(),
        start in any::<bool>(),
        throttled in any::<bool>(),
    ) {
        let lines = lines();
        let (line, rule) = &lines[line_ix % lines.len()];
        let caller = CallerNumber::parse(from.as_deref());
        let attestation = Attestation::parse(stir.as_deref());
        // The caller-ID lookup happens where the line's rule allows it, for
        // a usable number, and looks up that very number.
        let number = line.rules.lookup_number(&caller, attestation);
        let fully_attested = stir.as_deref().map(str::trim) == Some("TN-Validation-Passed-A");
        let expected = match rule {
            CallerIdRule::Always => usable_number(from.as_deref()),
            CallerIdRule::Attested if fully_attested => usable_number(from.as_deref()),
            CallerIdRule::Attested | CallerIdRule::Never => None,
        };
        prop_assert_eq!(number.map(E164::as_str), expected, "{:?} on the {:?} line, {:?}", from, rule, stir);

        let stage = if stage_is_verify && line.rules.verification.is_some() { Stage::Verify } else { Stage::Identify };
        let state = state_for(line, stage, i, v, customer);
        // As the web layer does: the CRM is asked (and `lookup` is its
        // answer) only for the number the rule gave.
        let ani = if number.is_some() { lookup.clone() } else { Lookup::NotAsked };
        let input = if start && throttled {
            Input::Throttled { keyed: false }
        } else if start {
            Input::Start { ani: ani.clone() }
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
        if start && !throttled {
            // Identified by caller ID exactly when the number was looked up and found.
            let by_number = matches!(ani, Lookup::Found(_));
            prop_assert_eq!(method_of(&reply) == IdvMethod::Ani, by_number, "{:?}", reply);
        }
        let links = ScreenPopLinks::new(&Keyring::single(&"p".repeat(32)), 600);
        let tokens = HandoffTokens::new(&"h".repeat(32), 300);
        let urls = Urls::new("https://ivr.example.com");
        let links = Links { urls: &urls, call_sid: SID, now: 1000, screen_pops: &links, tokens: &tokens };
        let turn = Turn::of(line, reply, |s| FlowStates::new(&Keyring::single(&"p".repeat(32)), 600).seal(s, SID, 1000), false, 1_000_000);
        let doc = render::document(line, &turn.preface, &turn.then, &links).render();
        prop_assert!(vouch::sim::twiml::parse(&doc).is_ok(), "{doc}");
    }
}
