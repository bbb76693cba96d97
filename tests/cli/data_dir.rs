//! A SQLite database in a directory Vouch cannot write (a volume mounted
//! read-only or owned by another user), or that is missing, stops start-up
//! with the directory and the fix, not SQLite's "unable to open database
//! file".

use crate::support::run;

fn serve_on(url: &str) -> (Option<i32>, String) {
    let (out, _, stderr) = run(&["serve", "--bind", "127.0.0.1"], &[("PORT", "0"), ("DATABASE_URL", url)]);
    (out.status.code(), stderr)
}

#[test]
fn an_unwritable_directory_is_named_with_the_fix() {
    // /sys takes no new files, even for root (tests may run as root, whom
    // file modes do not stop).
    let (code, stderr) = serve_on("sqlite:///sys/vouch.db");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("DATABASE_URL: Vouch cannot create files in /sys"), "{stderr}");
    assert!(stderr.contains("writable by the user Vouch runs as (uid "), "{stderr}");
    assert!(!stderr.contains("unable to open database file"), "{stderr}");
}

#[test]
fn a_missing_directory_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not/yet");
    let (code, stderr) = serve_on(&format!("sqlite://{}/vouch.db", missing.display()));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("mkdir -p {}", missing.display())), "{stderr}");
}
