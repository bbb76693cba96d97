//! `vouch hash-password`: a password on standard input, its Argon2id hash out.

use crate::support::command;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use std::io::Write;
use std::process::Stdio;

/// Runs `vouch hash-password` with `input` piped in.
fn hash_password(input: &str) -> std::process::Output {
    let mut child = command(&["hash-password"], &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vouch");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn hash_password_prints_an_argon2id_hash_of_piped_input() {
    let out = hash_password("correct horse battery staple\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let hash = PasswordHash::new(printed.trim()).expect("a PHC string");
    assert_eq!(hash.algorithm.as_str(), "argon2id");
    assert!(argon2::Argon2::default().verify_password(b"correct horse battery staple", &hash).is_ok());
    assert!(argon2::Argon2::default().verify_password(b"correct horse battery staple\n", &hash).is_err());
    assert!(vouch::config::Users::parse(&format!(
        "[[users]]\nname = \"x\"\nrole = \"agent\"\npassword_hash = \"{}\"\n",
        printed.trim()
    ))
    .is_ok());

    let empty = hash_password("");
    assert_eq!(empty.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no password on standard input"));
}
