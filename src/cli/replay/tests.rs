//! Reading curl commands and recordings, and filling redacted values.

use super::curl::{parse, split};
use super::{load, prepare};
use crate::recording::{Recording, REDACTED};

fn pairs(r: &Recording) -> Vec<(&str, &str)> {
    r.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn shell_quoting_is_read_like_a_shell() {
    let words = split("curl 'a b' \"c \\\"d\\\" \\$x\" e\\ f \\\n  g").unwrap();
    assert_eq!(words, ["curl", "a b", "c \"d\" $x", "e f", "g"]);
    assert!(split("curl 'open").is_err());
    assert!(split("curl \"$URL\"").unwrap_err().contains("shell variable"));
    assert!(split("curl $URL").unwrap_err().contains("shell variable"));
    assert_eq!(split("curl '$URL'").unwrap()[1], "$URL", "single quotes keep $ literal");
}

#[test]
fn a_copied_curl_command_becomes_a_recording() {
    let cmd = "curl -s 'https://abc.ngrok-free.app/voice/support/identify?state=x.y' \\\n  -H 'X-Twilio-Signature: OLDSIG=' \\\n  --data-urlencode 'From=+15551230001' \\\n  -d 'CallSid=CA0123&To=%2B15005550006' \\\n  --data \"Digits=87654321\" --data-urlencode=Caller=+1\n";
    let r = parse(cmd).unwrap();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/voice/support/identify?state=x.y");
    assert_eq!(
        pairs(&r),
        [
            ("From", "+15551230001"),
            ("CallSid", "CA0123"),
            ("To", "+15005550006"),
            ("Digits", "87654321"),
            ("Caller", "+1")
        ]
    );
}

#[test]
fn get_requests_and_bad_commands() {
    let r = parse("curl -G localhost:8080/voice -d CallSid=CA1 -X GET").unwrap();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/voice?CallSid=CA1"));
    assert_eq!(pairs(&r), [("CallSid", "CA1")]);
    for (cmd, why) in [
        ("wget http://x/voice", "not a curl command"),
        ("curl -d a=1", "no URL"),
        ("curl http://x/a http://x/b", "more than one URL"),
        ("curl http://x/voice -d @body.txt", "file"),
        ("curl http://x/voice -H 'Content-Type: application/json' -d '{}'", "JSON"),
        ("curl http://x/voice -H", "needs a value"),
    ] {
        let e = parse(cmd).unwrap_err();
        assert!(e.contains(why), "{cmd}: {e}");
    }
}

#[test]
fn recordings_load_and_redacted_digits_are_filled_or_dropped() {
    let json = format!(
        r#"{{"method":"POST","path":"/voice/support/verify?state=s","params":[["CallSid","CA1"],["Digits","{REDACTED}"]],"recorded_at":1}}"#
    );
    let rec = load(&json).unwrap();
    let silent = prepare(rec.clone(), None);
    assert_eq!(silent.params.get("Digits"), None);
    assert!(silent.notes[0].contains("silent try"), "{:?}", silent.notes);
    let keyed = prepare(rec, Some("1234"));
    assert_eq!(keyed.params.get("Digits"), Some("1234"));
    let unused = prepare(load("curl http://x/voice -d CallSid=CA1").unwrap(), Some("1"));
    assert!(unused.notes[0].contains("not used"));
    let get = Recording {
        method: "GET".into(),
        path: "/voice/support/verify?state=s&Digits=%5Bredacted%5D".into(),
        params: vec![("Digits".into(), REDACTED.into())],
        recorded_at: 0,
    };
    assert_eq!(prepare(get, Some("42")).path, "/voice/support/verify?state=s&Digits=42");
    assert!(load(r#"{"method":"DELETE","path":"/voice","params":[]}"#).is_err());
    assert!(load(r#"{"method":"POST","path":"voice","params":[]}"#).is_err());
    assert!(load("{not json").unwrap_err().contains("not a valid recording"));
}
