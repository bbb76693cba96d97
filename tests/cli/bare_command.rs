//! `vouch` with no subcommand is `vouch serve`: it binds `VOUCH_BIND` (it
//! used to bind 0.0.0.0 whatever the environment said) and takes `serve`'s
//! options, which before any other subcommand are refused.

use crate::support::{run, Serve, TempDir};
use std::net::TcpStream;

/// The address and port from the "vouch listening on {bind}:{port}" line.
fn listening_on(server: &Serve) -> String {
    let v: serde_json::Value = serde_json::from_str(&server.listening).expect("a JSON log line");
    let message = v["message"].as_str().expect("message field");
    message.strip_prefix("vouch listening on ").expect("the listening message").to_string()
}

#[test]
fn vouch_alone_binds_vouch_bind() {
    let server = Serve::spawn(&["--log-format", "json"], &[("VOUCH_BIND", "127.0.0.1")]);
    assert_eq!(listening_on(&server), format!("127.0.0.1:{}", server.port), "{}", server.listening);
    assert!(TcpStream::connect(("127.0.0.1", server.port)).is_ok(), "nothing listens on 127.0.0.1:{}", server.port);
}

#[test]
fn vouch_alone_takes_serves_options() {
    let dir = TempDir::new("bare-command");
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let file = dir.0.join("vouch.toml");
    std::fs::write(&file, "[lines.front]\nretries = 1\n").expect("write the configuration");
    let file = file.to_str().expect("utf-8 temp path");
    // An address no interface has: were the option ignored, binding would fail.
    let env = [("VOUCH_BIND", "192.0.2.1")];
    let server = Serve::spawn(&["--log-format", "json", "--bind", "127.0.0.1", "--config", file], &env);
    assert_eq!(listening_on(&server), format!("127.0.0.1:{}", server.port), "{}", server.listening);
    let v: serde_json::Value = serde_json::from_str(&server.listening).expect("a JSON log line");
    assert_eq!(v["lines"], "front", "the configuration file was not used: {}", server.listening);
}

#[test]
fn the_default_bind_is_still_every_interface() {
    let (out, stdout, stderr) = run(&["serve", "--help"], &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("--bind <BIND>") && stdout.contains("[env: VOUCH_BIND=] [default: 0.0.0.0]"), "{stdout}");
    // `vouch --help` is as it was: serve's options are listed under `serve`.
    let (out, stdout, stderr) = run(&["--help"], &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Usage: vouch [OPTIONS] [COMMAND]") && !stdout.contains("--bind"), "{stdout}");
}

#[test]
fn serves_options_before_another_subcommand_are_refused() {
    let (out, stdout, stderr) = run(&["--bind", "127.0.0.1", "check-config"], &[]);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("the subcommand 'check-config' cannot be used with '--bind <BIND>'"), "{stderr}");
    // The global option is still fine before a subcommand.
    let (out, stdout, stderr) = run(&["--log-format", "json", "check-config"], &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
}
