//! `vouch serve --record-dir` writes redacted, replayable files, and
//! `vouch replay` sends them (or a copied curl command) again, re-signed.

use crate::leaks;
use crate::support::{Serve, TempDir};
use vouch::recording::{Recording, REDACTED};

/// A recording file, read back.
struct Recorded {
    path: std::path::PathBuf,
    text: String,
    recording: Recording,
}

impl Recorded {
    fn digits(&self) -> Option<&str> {
        self.recording.params.iter().find(|(k, _)| k == "Digits").map(|(_, v)| v.as_str())
    }

    fn file(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }
}

fn recordings(dir: &TempDir) -> Vec<Recorded> {
    let mut paths: Vec<_> = std::fs::read_dir(&dir.0).expect("record dir").map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let recording = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Recorded { path, text, recording }
        })
        .collect()
}

#[test]
fn recordings_redact_verification_digits_and_replay_against_the_server() {
    let dir = TempDir::new("record");
    // A state key of their own, so that another server can open the states.
    let key = [("VOUCH_STATE_SECRET", "replay-test-state-key-0123456789abcdef")];
    let server = Serve::start(&["--record-dir", dir.path()], &key);
    let sid = format!("CA{}", "ab".repeat(16));
    let (out, stdout, stderr) =
        server.run(&["simulate", "--from", "+15559990000", "--call-sid", &sid, "--keys", "24681357#,9087#,5555#"], &[]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("idv_status = verified"), "{stdout}");

    let files = recordings(&dir);
    let paths: Vec<&str> = files.iter().map(|f| f.recording.path.split('?').next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/voice",
            "/voice/support/identify",
            "/voice/support/verify",
            "/voice/support/verify",
            "/demo/self-service",
            "/status"
        ]
    );
    for f in &files {
        let name = f.path.file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with(".json") && name.contains(&format!("-{sid}-")), "{name}");
        assert_eq!(f.recording.method, "POST");
        let found = leaks::find_all(&f.text, &["9087", "5555"]);
        assert!(found.is_empty(), "{name} holds keyed PINs:\n{}\n{}", leaks::report(&found), f.text);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&f.path).unwrap().permissions().mode() & 0o777, 0o600, "{name}");
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&dir.0).unwrap().permissions().mode() & 0o777, 0o700);
    }
    assert_eq!(files[1].digits(), Some("24681357"), "identifiers are kept: replaying needs them");
    assert_eq!(files[2].digits(), Some(REDACTED));
    assert_eq!(files[3].digits(), Some(REDACTED));

    // The first webhook, replayed: the same answer, with its timing.
    let (out, stdout, stderr) = server.run(&["replay", files[0].file()], &[]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("POST {}/voice\n", server.public)), "{stdout}");
    assert!(stdout.contains("← HTTP 200 OK in ") && stdout.contains(" ms (text/xml"), "{stdout}");
    assert!(stdout.contains("account number") && stdout.contains("TwiML: valid"), "{stdout}");

    // A verification step, against the server that answered it: each state
    // is used once, so the replay gets the answer already given (to 9087),
    // whatever it sends.
    let (out, stdout, stderr) = server.run(&["replay", files[2].file()], &[]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("sending the request without it (a silent try)"), "{stdout}");
    assert!(stdout.contains("HTTP 200 OK") && stdout.contains("wasn&apos;t accepted"), "{stdout}");
    // Against another Vouch (the same secrets, its own store): with
    // --digits a keyed try.
    let other = Serve::start(&[], &key);
    let (out, stdout, stderr) = other.run(&["replay", files[2].file(), "--digits", "5555"], &[]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Verified: redirected with the customer only in the encrypted token.
    assert!(stdout.contains("/demo/self-service?idv_status=verified&amp;idv_method=keyed&amp;"), "{stdout}");
    assert!(!stdout.contains("24681357") && !stdout.contains("Brien"), "the customer in the clear: {stdout}");
    assert!(stdout.contains("  Digits = (the --digits value)\n"), "{stdout}");
    assert_eq!(leaks::find(&stdout, &["5555"]), None, "the PIN given with --digits is not printed: {stdout}");
}

#[test]
fn a_copied_curl_command_is_replayed_re_signed() {
    let dir = TempDir::new("curl");
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("call.sh");
    std::fs::write(
        &file,
        "curl -s 'https://old-tunnel.ngrok-free.app/voice' \\\n  -H 'X-Twilio-Signature: c3RhbGUgc2lnbmF0dXJl' \\\n  --data-urlencode 'CallSid=CA0123456789abcdef0123456789abcdef' \\\n  --data-urlencode \"From=+15551230002\" \\\n  -d 'To=%2B15005550006&CallStatus=ringing'\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let server = Serve::start(&[], &[]);
    let (out, stdout, stderr) = server.run(&["replay", file], &[]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("POST {}/voice\n", server.public)), "{stdout}");
    assert!(stdout.contains("  From = +15551230002\n"), "{stdout}");
    assert!(stdout.contains("← HTTP 200 OK in ") && stdout.contains("PIN"), "{stdout}");

    // Signed with a token the server does not have: a 403 and what to set.
    let other = Serve::start(&[], &[("TWILIO_AUTH_TOKEN", "another-token")]);
    let (out, stdout, stderr) = other.run(&["replay", file], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("← HTTP 403"), "{stdout}");
    assert!(stderr.contains("TWILIO_AUTH_TOKEN"), "{stderr}");
}
