//! Every branch of the call flow, with retry counting at the boundaries.

use super::*;

fn rules(retries: u8, verify: bool) -> LineRules {
    LineRules {
        name: "support".into(),
        caller_id: CallerIdUse::Always,
        identifier: EntryRules { min_digits: 8, max_digits: 8, opt_out_key: Some('*') },
        verification: verify.then_some(EntryRules { min_digits: 4, max_digits: 4, opt_out_key: Some('*') }),
        retries,
        identifier_first: false,
    }
}

fn ada() -> Customer {
    Customer { id: "12345678".into(), name: "Ada Lovelace".into(), attributes: Vec::new() }
}

fn digits(d: &str) -> Entry {
    Entry::Digits(d.into())
}

fn ask_state(reply: &Reply) -> &FlowState {
    match reply {
        Reply::Ask { state, .. } => state,
        other => panic!("expected a question, got {other:?}"),
    }
}

fn run(rules: &LineRules, state: FlowState, input: Input) -> Reply {
    step(rules, state, input).expect("valid step")
}

/// A state at the verification prompt for Ada, identified by `method`.
fn at_verify(rules: &LineRules, method: IdvMethod) -> FlowState {
    FlowState { stage: Stage::Verify, customer: Some(ada()), method, ..rules.fresh_state(Attestation::None) }
}

fn expect_handoff(reply: Reply) -> (Vec<Prompt>, Destination, Outcome, HandoffContext) {
    match reply {
        Reply::Handoff { preface, to, outcome, context, .. } => (preface, to, outcome, context),
        other => panic!("expected a handoff, got {other:?}"),
    }
}

#[test]
fn caller_id_match_goes_straight_to_verification() {
    let r = rules(3, true);
    let reply = run(&r, r.fresh_state(Attestation::None), Input::Start { ani: Lookup::Found(ada()) });
    let s = ask_state(&reply);
    assert_eq!(s.stage, Stage::Verify);
    assert_eq!(s.method, IdvMethod::Ani);
    assert_eq!(s.customer, Some(ada()));
    assert!(matches!(reply, Reply::Ask { ref preface, .. } if preface == &vec![Prompt::Welcome]));
}

#[test]
fn caller_id_match_without_verification_hands_on_identified() {
    let r = rules(3, false);
    let (preface, to, outcome, ctx) =
        expect_handoff(run(&r, r.fresh_state(Attestation::None), Input::Start { ani: Lookup::Found(ada()) }));
    assert_eq!(preface, vec![Prompt::Welcome, Prompt::Identified], "the caller hears what happens next");
    assert_eq!(to, Destination::Next);
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(ctx.idv_status, IdvStatus::Identified);
    assert_eq!(ctx.idv_method, IdvMethod::Ani);
    assert_eq!(ctx.customer_id.as_deref(), Some("12345678"));
}

#[test]
fn no_match_shared_phone_no_lookup_or_crm_failure_all_ask_for_the_identifier() {
    let r = rules(3, true);
    for ani in [Lookup::NotAsked, Lookup::NotFound, Lookup::Ambiguous, Lookup::Failed] {
        let reply = run(&r, r.fresh_state(Attestation::None), Input::Start { ani: ani.clone() });
        let s = ask_state(&reply);
        assert_eq!(s.stage, Stage::Identify, "{ani:?}");
        assert_eq!(s.identify_attempts, 0);
        assert_eq!(s.customer, None);
    }
}

#[test]
fn lookup_is_skipped_when_disabled_unusable_or_unattested() {
    let mut r = rules(3, true);
    let good = CallerNumber::parse(Some("+15551230001"));
    assert!(r.lookup_number(&good, Attestation::None).is_some());
    assert!(r.lookup_number(&CallerNumber::parse(Some("anonymous")), Attestation::A).is_none());
    r.caller_id = CallerIdUse::Attested;
    assert!(r.lookup_number(&good, Attestation::A).is_some());
    for weaker in [Attestation::B, Attestation::C, Attestation::Failed, Attestation::None] {
        assert!(r.lookup_number(&good, weaker).is_none(), "{weaker:?}");
    }
    r.caller_id = CallerIdUse::Never;
    assert!(r.lookup_number(&good, Attestation::A).is_none());
}

#[test]
fn the_attestation_travels_to_the_handoff_but_never_verifies() {
    let r = rules(0, true);
    let state = r.fresh_state(Attestation::A);
    let reply = run(&r, state, Input::Start { ani: Lookup::Found(ada()) });
    let s = ask_state(&reply).clone();
    assert_eq!(s.stage, Stage::Verify, "caller ID alone never verifies, even with A attestation");
    let (_, _, _, ctx) =
        expect_handoff(run(&r, s, Input::Factor { entry: Entry::Silence, verification: Verification::NotAsked }));
    assert_eq!((ctx.idv_status, ctx.ani_attestation), (IdvStatus::Identified, Attestation::A));
}

#[test]
fn a_known_identifier_moves_to_verification() {
    let r = rules(3, true);
    let reply = run(
        &r,
        r.fresh_state(Attestation::None),
        Input::Identifier { entry: digits("12345678"), lookup: Lookup::Found(ada()) },
    );
    let s = ask_state(&reply);
    assert_eq!((s.stage, s.method, s.identify_attempts), (Stage::Verify, IdvMethod::Keyed, 1));
}

#[test]
fn a_known_identifier_without_verification_hands_on_identified() {
    let r = rules(3, false);
    let (preface, to, _, ctx) = expect_handoff(run(
        &r,
        r.fresh_state(Attestation::None),
        Input::Identifier { entry: digits("12345678"), lookup: Lookup::Found(ada()) },
    ));
    assert_eq!(preface, vec![Prompt::Identified], "not a silent hand-off");
    assert_eq!(to, Destination::Next);
    assert_eq!((ctx.idv_status, ctx.idv_method), (IdvStatus::Identified, IdvMethod::Keyed));
}

#[test]
fn each_identifier_failure_is_a_try_with_its_own_prompt() {
    let r = rules(3, true);
    for (entry, lookup, prompt) in [
        (Entry::Silence, Lookup::NotAsked, Prompt::NoInput),
        (Entry::Malformed, Lookup::NotAsked, Prompt::InvalidIdentifier),
        (digits("87654321"), Lookup::NotFound, Prompt::NotFound),
        (digits("87654321"), Lookup::Ambiguous, Prompt::NotFound),
    ] {
        let reply = run(&r, r.fresh_state(Attestation::None), Input::Identifier { entry, lookup });
        match reply {
            Reply::Ask { preface, state } => {
                assert_eq!(preface, vec![prompt]);
                assert_eq!((state.stage, state.identify_attempts), (Stage::Identify, 1));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn identifier_retries_allow_exactly_retries_plus_one_tries() {
    for retries in [0u8, 1, 3, 5] {
        let r = rules(retries, true);
        let mut state = r.fresh_state(Attestation::None);
        for attempt in 1..=retries {
            let reply = run(&r, state, Input::Identifier { entry: Entry::Silence, lookup: Lookup::NotAsked });
            state = ask_state(&reply).clone();
            assert_eq!(state.identify_attempts, attempt);
        }
        let (preface, to, outcome, ctx) =
            expect_handoff(run(&r, state, Input::Identifier { entry: Entry::Silence, lookup: Lookup::NotAsked }));
        assert_eq!(to, Destination::Agent, "retries={retries}");
        assert_eq!(outcome, Outcome::Agent);
        assert_eq!(preface, vec![Prompt::NoInput, Prompt::TooManyTries, Prompt::ToAgent]);
        assert_eq!((ctx.idv_status, ctx.idv_method), (IdvStatus::Unidentified, IdvMethod::None));
        assert_eq!(ctx.customer_id, None);
    }
}

#[test]
fn the_last_try_can_still_succeed() {
    let r = rules(3, true);
    let state = FlowState { identify_attempts: 3, ..r.fresh_state(Attestation::None) };
    let reply = run(&r, state, Input::Identifier { entry: digits("12345678"), lookup: Lookup::Found(ada()) });
    assert_eq!(ask_state(&reply).stage, Stage::Verify);
}

#[test]
fn opting_out_at_the_identifier_goes_down_the_unauthenticated_path() {
    let r = rules(3, true);
    let (preface, to, outcome, ctx) = expect_handoff(run(
        &r,
        r.fresh_state(Attestation::None),
        Input::Identifier { entry: Entry::OptOut, lookup: Lookup::NotAsked },
    ));
    assert_eq!((to, outcome), (Destination::OptOut, Outcome::OptedOut));
    assert_eq!(preface, vec![Prompt::OptedOut]);
    assert!(ctx.opted_out);
    assert_eq!(ctx.idv_status, IdvStatus::Unidentified);
}

#[test]
fn crm_failure_on_the_identifier_goes_to_an_agent_with_an_apology() {
    let r = rules(3, true);
    for lookup in [Lookup::Failed, Lookup::NotAsked] {
        let (preface, to, outcome, ctx) = expect_handoff(run(
            &r,
            r.fresh_state(Attestation::None),
            Input::Identifier { entry: digits("12345678"), lookup },
        ));
        assert_eq!((to, outcome), (Destination::Agent, Outcome::CrmUnavailable));
        assert_eq!(preface, vec![Prompt::CrmUnavailable, Prompt::ToAgent]);
        assert_eq!(ctx.idv_status, IdvStatus::Unidentified);
    }
}

#[test]
fn a_correct_factor_verifies_and_hands_on_to_the_next_step() {
    let r = rules(3, true);
    for method in [IdvMethod::Ani, IdvMethod::Keyed] {
        let (preface, to, outcome, ctx) = expect_handoff(run(
            &r,
            at_verify(&r, method),
            Input::Factor { entry: digits("1234"), verification: Verification::Verified },
        ));
        assert_eq!((to, outcome), (Destination::Next, Outcome::Completed));
        assert_eq!(preface, vec![Prompt::Verified]);
        assert_eq!(ctx.idv_status, IdvStatus::Verified);
        assert_eq!(ctx.idv_method, method);
        assert_eq!(ctx.customer_name.as_deref(), Some("Ada Lovelace"));
        assert!(!ctx.opted_out);
    }
}

#[test]
fn factor_failures_retry_then_reach_an_agent_identified_only() {
    for retries in [0u8, 3] {
        let r = rules(retries, true);
        let mut state = at_verify(&r, IdvMethod::Keyed);
        let failures = [
            (Entry::Silence, Verification::NotAsked, Prompt::NoInput),
            (Entry::Malformed, Verification::NotAsked, Prompt::FactorRejected),
            (digits("9999"), Verification::Rejected, Prompt::FactorRejected),
        ];
        for attempt in 1..=retries {
            let (entry, verification, prompt) = failures[usize::from(attempt) % failures.len()].clone();
            match run(&r, state, Input::Factor { entry, verification }) {
                Reply::Ask { preface, state: next } => {
                    assert_eq!(preface, vec![prompt]);
                    assert_eq!((next.stage, next.verify_attempts), (Stage::Verify, attempt));
                    state = next;
                }
                other => panic!("{other:?}"),
            }
        }
        let (preface, to, outcome, ctx) = expect_handoff(run(
            &r,
            state,
            Input::Factor { entry: digits("9999"), verification: Verification::Rejected },
        ));
        assert_eq!((to, outcome), (Destination::Agent, Outcome::Agent));
        assert_eq!(preface, vec![Prompt::FactorRejected, Prompt::TooManyTries, Prompt::ToAgent]);
        assert_eq!((ctx.idv_status, ctx.customer_id.as_deref()), (IdvStatus::Identified, Some("12345678")));
    }
}

#[test]
fn crm_failure_on_verification_keeps_the_identification() {
    let r = rules(3, true);
    let (_, to, outcome, ctx) = expect_handoff(run(
        &r,
        at_verify(&r, IdvMethod::Ani),
        Input::Factor { entry: digits("1234"), verification: Verification::Failed },
    ));
    assert_eq!((to, outcome), (Destination::Agent, Outcome::CrmUnavailable));
    assert_eq!((ctx.idv_status, ctx.idv_method), (IdvStatus::Identified, IdvMethod::Ani));
}

#[test]
fn opting_out_at_verification_keeps_the_identification() {
    let r = rules(3, true);
    let (_, to, outcome, ctx) = expect_handoff(run(
        &r,
        at_verify(&r, IdvMethod::Keyed),
        Input::Factor { entry: Entry::OptOut, verification: Verification::NotAsked },
    ));
    assert_eq!((to, outcome), (Destination::OptOut, Outcome::OptedOut));
    assert!(ctx.opted_out);
    assert_eq!(ctx.idv_status, IdvStatus::Identified);
}

#[test]
fn entries_for_the_wrong_stage_or_line_are_refused() {
    let r = rules(3, true);
    let at_identify = r.fresh_state(Attestation::None);
    assert_eq!(
        step(&r, at_identify.clone(), Input::Factor { entry: digits("1234"), verification: Verification::Verified }),
        Err(FlowError::WrongStage("verify"))
    );
    assert_eq!(
        step(&r, at_verify(&r, IdvMethod::Ani), Input::Identifier { entry: Entry::Silence, lookup: Lookup::NotAsked }),
        Err(FlowError::WrongStage("identify"))
    );
    let other = FlowState { line: "sales".into(), ..at_identify };
    assert!(matches!(step(&r, other, Input::Start { ani: Lookup::NotAsked }), Err(FlowError::WrongLine { .. })));
}

#[test]
fn attempts_never_overflow() {
    let r = rules(u8::MAX, true);
    let state = FlowState { identify_attempts: u8::MAX, ..r.fresh_state(Attestation::None) };
    let reply = run(&r, state, Input::Identifier { entry: Entry::Silence, lookup: Lookup::NotAsked });
    assert!(matches!(reply, Reply::Handoff { .. }));
}

#[test]
fn a_locked_customer_sounds_rejected_and_reaches_an_agent_identified_with_the_lockout() {
    let r = rules(1, true);
    let state = at_verify(&r, IdvMethod::Ani);
    let reply = run(&r, state, Input::Factor { entry: digits("1234"), verification: Verification::Locked });
    let next = match reply {
        Reply::Ask { preface, state } => {
            assert_eq!(preface, vec![Prompt::FactorRejected], "the same words as a wrong PIN: no oracle");
            assert!(state.lockout);
            state
        }
        other => panic!("{other:?}"),
    };
    let (preface, to, outcome, ctx) =
        expect_handoff(run(&r, next, Input::Factor { entry: digits("1234"), verification: Verification::Locked }));
    assert_eq!(preface, vec![Prompt::FactorRejected, Prompt::TooManyTries, Prompt::ToAgent]);
    assert_eq!((to, outcome), (Destination::Agent, Outcome::Agent));
    assert_eq!((ctx.idv_status, ctx.lockout), (IdvStatus::Identified, true));
}

#[test]
fn a_throttled_caller_goes_straight_to_an_agent_unidentified() {
    let r = rules(3, true);
    let (preface, to, outcome, ctx) =
        expect_handoff(run(&r, r.fresh_state(Attestation::A), Input::Throttled { keyed: false }));
    assert_eq!(preface, vec![Prompt::Welcome, Prompt::ToAgent]);
    assert_eq!((to, outcome), (Destination::Agent, Outcome::Agent));
    assert_eq!((ctx.idv_status, ctx.customer_id), (IdvStatus::Unidentified, None));
}

#[test]
fn a_throttled_identifier_try_goes_to_an_agent_unidentified_with_the_words_of_any_agent_handoff() {
    let r = rules(3, true);
    let at_identify = FlowState { identify_attempts: 1, ..r.fresh_state(Attestation::None) };
    let reply = run(&r, at_identify, Input::Throttled { keyed: true });
    let Reply::Handoff { preface, to, outcome, context, identify_attempts, .. } = reply else { panic!("{reply:?}") };
    assert_eq!(preface, vec![Prompt::ToAgent], "no welcome again, no word of a throttle");
    assert_eq!((to, outcome, identify_attempts), (Destination::Agent, Outcome::Agent, 2), "the keyed try counts");
    assert_eq!((context.idv_status, context.customer_id), (IdvStatus::Unidentified, None));
    assert_eq!(
        step(&r, at_verify(&r, IdvMethod::Ani), Input::Throttled { keyed: true }),
        Err(FlowError::WrongStage("identify")),
        "only at the identifier prompt"
    );
}

#[test]
fn an_unreachable_lockout_counter_sends_the_caller_to_an_agent_identified_without_a_try_spent() {
    let r = rules(3, true);
    let reply = run(
        &r,
        at_verify(&r, IdvMethod::Ani),
        Input::Factor { entry: digits("1234"), verification: Verification::Unavailable },
    );
    let Reply::Handoff { preface, to, outcome, context, .. } = reply else { panic!("{reply:?}") };
    assert_eq!(preface, vec![Prompt::ToAgent], "the words of any agent hand-off");
    assert_eq!((to, outcome), (Destination::Agent, Outcome::VerificationUnavailable), "recorded as such, not verified");
    assert_eq!(
        (context.idv_status, context.customer_id.as_deref(), context.lockout),
        (IdvStatus::Identified, Some("12345678"), false)
    );
}

/// An identifier-first line: the caller's number only cross-checks.
fn identifier_first(verify: bool) -> LineRules {
    LineRules { identifier_first: true, ..rules(3, verify) }
}

fn grace() -> Customer {
    Customer { id: "87654321".into(), name: "Grace Hopper".into(), attributes: Vec::new() }
}

/// Every answer the caller-ID lookup can give.
fn every_ani() -> [Lookup; 5] {
    [Lookup::Found(ada()), Lookup::NotAsked, Lookup::NotFound, Lookup::Ambiguous, Lookup::Failed]
}

#[test]
fn identifier_first_asks_the_same_whatever_the_number_says() {
    for verify in [true, false] {
        let r = identifier_first(verify);
        let replies: Vec<Reply> =
            every_ani().into_iter().map(|ani| run(&r, r.fresh_state(Attestation::A), Input::Start { ani })).collect();
        for (ani, reply) in every_ani().iter().zip(&replies) {
            let Reply::Ask { preface, state } = reply else { panic!("{ani:?}: {reply:?}") };
            assert_eq!(preface, &vec![Prompt::Welcome], "{ani:?}");
            assert_eq!((state.stage, state.identify_attempts, state.method), (Stage::Identify, 0, IdvMethod::None));
            assert_eq!(state.customer, None, "{ani:?}: nobody is identified by the number");
            let digest = state.caller_id.as_deref().expect("the cross-check is remembered");
            assert_eq!(digest.len(), NO_CALLER_ID_DIGEST.len(), "{ani:?}: the state is as long either way");
            let expected = match ani {
                Lookup::Found(c) => caller_id_digest(&c.id),
                _ => NO_CALLER_ID_DIGEST.to_string(),
            };
            assert_eq!(digest, expected, "{ani:?}");
        }
        // Only the sealed cross-check differs between a number on file and any other.
        let strip = |reply: &Reply| match reply {
            Reply::Ask { preface, state } => (preface.clone(), FlowState { caller_id: None, ..state.clone() }),
            other => panic!("{other:?}"),
        };
        assert!(replies.iter().all(|r| strip(r) == strip(&replies[0])));
    }
}

#[test]
fn identifier_first_cross_checks_the_keyed_identifier_with_the_number() {
    for verify in [true, false] {
        let r = identifier_first(verify);
        for ani in every_ani() {
            let asked = ask_state(&run(&r, r.fresh_state(Attestation::A), Input::Start { ani: ani.clone() })).clone();
            for keyed in [ada(), grace()] {
                let reply = run(
                    &r,
                    asked.clone(),
                    Input::Identifier { entry: digits(&keyed.id), lookup: Lookup::Found(keyed.clone()) },
                );
                let matches = ani == Lookup::Found(keyed.clone());
                let want = if matches { IdvMethod::KeyedAni } else { IdvMethod::Keyed };
                let (preface, method, customer) = match &reply {
                    Reply::Ask { preface, state } => {
                        assert_eq!(state.stage, Stage::Verify);
                        assert_eq!(state.caller_id, None, "dropped once identified");
                        (preface.clone(), state.method, state.customer.clone())
                    }
                    Reply::Handoff { preface, context, to, .. } => {
                        assert_eq!((*to, context.idv_status), (Destination::Next, IdvStatus::Identified));
                        (preface.clone(), context.idv_method, Some(keyed.clone()))
                    }
                };
                assert_eq!(method, want, "{ani:?}, keyed {}", keyed.id);
                assert_eq!(customer, Some(keyed.clone()), "the keyed identifier decides who the caller is");
                // A match or a mismatch sounds the same: nothing before the
                // PIN prompt, or (no verification) the one `Identified`.
                let said = if verify { vec![] } else { vec![Prompt::Identified] };
                assert_eq!(preface, said, "{ani:?}: a match or a mismatch sounds the same");
            }
            // An identifier that matches nobody is a failed try, as on any line.
            let reply =
                run(&r, asked.clone(), Input::Identifier { entry: digits("55554444"), lookup: Lookup::NotFound });
            assert!(matches!(reply, Reply::Ask { ref preface, .. } if preface == &vec![Prompt::NotFound]));
        }
    }
}

#[test]
fn identifier_first_keeps_the_cross_check_across_failed_tries_and_verifies_as_usual() {
    let r = identifier_first(true);
    let mut state =
        ask_state(&run(&r, r.fresh_state(Attestation::None), Input::Start { ani: Lookup::Found(ada()) })).clone();
    for entry in [Entry::Silence, Entry::Malformed, digits("55554444")] {
        state = ask_state(&run(&r, state, Input::Identifier { entry, lookup: Lookup::NotFound })).clone();
        assert_eq!(state.caller_id, Some(caller_id_digest(&ada().id)));
    }
    let at_verify =
        ask_state(&run(&r, state, Input::Identifier { entry: digits("12345678"), lookup: Lookup::Found(ada()) }))
            .clone();
    assert_eq!((at_verify.method, at_verify.identify_attempts), (IdvMethod::KeyedAni, 4));
    let (_, to, _, ctx) = expect_handoff(run(
        &r,
        at_verify,
        Input::Factor { entry: digits("1234"), verification: Verification::Verified },
    ));
    assert_eq!((to, ctx.idv_status, ctx.idv_method), (Destination::Next, IdvStatus::Verified, IdvMethod::KeyedAni));
    assert_eq!(IdvMethod::KeyedAni.as_str(), "keyed_ani");
}

#[test]
fn without_identifier_first_a_number_on_file_skips_the_identifier_as_before() {
    let r = rules(3, true);
    let s = ask_state(&run(&r, r.fresh_state(Attestation::None), Input::Start { ani: Lookup::Found(ada()) })).clone();
    assert_eq!((s.stage, s.method, s.caller_id), (Stage::Verify, IdvMethod::Ani, None));
    let s = ask_state(&run(&r, r.fresh_state(Attestation::None), Input::Start { ani: Lookup::NotFound })).clone();
    assert_eq!((s.stage, s.caller_id.clone()), (Stage::Identify, None));
    let s =
        ask_state(&run(&r, s, Input::Identifier { entry: digits("12345678"), lookup: Lookup::Found(ada()) })).clone();
    assert_eq!(s.method, IdvMethod::Keyed);
}

#[test]
fn the_customers_attributes_are_handed_on_with_them() {
    let tiered = Customer { attributes: vec![("tier".into(), "Gold".into())], ..ada() };
    let r = rules(3, false);
    let reply = run(&r, r.fresh_state(Attestation::None), Input::Start { ani: Lookup::Found(tiered.clone()) });
    let (_, _, _, context) = expect_handoff(reply);
    assert_eq!(context.attributes, tiered.attributes);
    // At the verification prompt the state holds the customer as the web
    // layer restored it (the sealed state never carries the attributes).
    let r = rules(3, true);
    let state = FlowState { customer: Some(tiered.clone()), ..at_verify(&r, IdvMethod::Ani) };
    let reply = run(&r, state, Input::Factor { entry: digits("1234"), verification: Verification::Verified });
    let (_, _, _, context) = expect_handoff(reply);
    assert_eq!(context.attributes, tiered.attributes);
    let unknown = expect_handoff(run(&r, r.fresh_state(Attestation::None), Input::Throttled { keyed: false })).3;
    assert!(unknown.attributes.is_empty());
}
