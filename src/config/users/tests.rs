use super::*;
use std::collections::HashMap;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dm91Y2gtZGVtby11c2Vy$SGdYIaLZT48Y4Gwl2VpqOZ5Daxy4VYmI5EsRpwy+M7E";
/// Any 64 hex digits: a well-formed token hash.
const TOKEN_SHA: &str = "fd4c2a4b9b8e9b5bb0a0e6d0ec7e7fd4f1d1b5ad6ccf6a0a5c4c8a9f3b6a1c2d";

fn doc(users: &str, tokens: &str) -> String {
    format!("{users}\n{tokens}")
}

fn user(name: &str, role: &str, hash: &str) -> String {
    format!("[[users]]\nname = \"{name}\"\nrole = \"{role}\"\npassword_hash = \"{hash}\"\n")
}

fn token(name: &str, role: &str, hash: &str) -> String {
    format!("[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_hash = \"{hash}\"\n")
}

fn refused(text: &str) -> ConfigError {
    Users::parse(text).expect_err("users should be refused")
}

#[test]
fn users_and_tokens_load() {
    let sha = hex::encode(Sha256::digest(b"machine-token-0123456789abcdef"));
    let u = Users::parse(&doc(&user("ada", "agent", HASH), &token("flex", "supervisor", &sha))).unwrap();
    assert_eq!(u.user("ada").map(|u| u.role), Some(Role::Agent));
    assert!(u.user("grace").is_none());
    assert_eq!(u.token("machine-token-0123456789abcdef").map(|t| t.name.as_str()), Some("flex"));
    assert!(u.token("machine-token-0123456789abcdeF").is_none());
    assert!(!u.demo);
}

#[test]
fn bad_entries_are_refused_naming_their_key() {
    let two = format!("{}{}", user("ada", "agent", HASH), user("bob", "boss", HASH));
    assert_eq!(refused(&two).key, "users[1].role");
    assert_eq!(refused(&user("ada", "agent", "hunter2")).key, "users[0].password_hash");
    assert_eq!(refused(&user("ada", "agent", "$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA")).key, "users[0].password_hash");
    assert_eq!(refused(&user("a|b", "agent", HASH)).key, "users[0].name");
    let dup = format!("{}{}", user("ada", "agent", HASH), user("ada", "supervisor", HASH));
    assert_eq!(refused(&dup).key, "users[1].name");
    assert_eq!(refused(&token("flex", "agent", "abc")).key, "tokens[0].token_hash");
    let dup = format!("{}{}", token("a", "agent", TOKEN_SHA), token("b", "agent", TOKEN_SHA));
    assert_eq!(refused(&dup).key, "tokens[1].token_hash");
    assert_eq!(refused("[[users]]\nname = \"ada\"\nrole = \"agent\"\npassword = \"x\"\n").key, "users[0].password");
}

#[test]
fn demo_mode_has_the_demo_user_unless_users_are_given() {
    let none: HashMap<String, String> = HashMap::new();
    let demo = Users::from_env(&none, true).unwrap();
    assert!(demo.demo);
    let u = demo.user(DEMO_USER).expect("demo user");
    assert!(crate::auth::password::verify("demo", &u.password_hash), "the demo password is `demo`");
    assert_eq!(Users::from_env(&none, false).unwrap().user_count(), 0);

    let given: HashMap<String, String> = [("VOUCH_USERS".to_string(), user("ada", "agent", HASH))].into();
    let u = Users::from_env(&given, true).unwrap();
    assert!(!u.demo && u.user(DEMO_USER).is_none() && u.user("ada").is_some());
    assert_eq!(u.source, Some("VOUCH_USERS"));
}

#[test]
fn the_file_must_exist_and_only_one_source_may_be_set() {
    let missing: HashMap<String, String> =
        [("VOUCH_USERS_FILE".to_string(), "/nonexistent/vouch-users.toml".to_string())].into();
    assert_eq!(Users::from_env(&missing, false).unwrap_err().key, "VOUCH_USERS_FILE");
    let both: HashMap<String, String> = [
        ("VOUCH_USERS_FILE".to_string(), "/nonexistent/vouch-users.toml".to_string()),
        ("VOUCH_USERS".to_string(), String::new() + "[[users]]"),
    ]
    .into();
    assert_eq!(Users::from_env(&both, false).unwrap_err().key, "VOUCH_USERS");
}
