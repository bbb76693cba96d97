//! `vouch crm-test` on each shipped `examples/crm/*.toml`, as the examples'
//! README tells an integrator to run it, against that CRM's double: the
//! caller found by phone, then by the account number and verified, each
//! step explained with the secrets masked.

use crate::crm_doubles::*;
use crate::support::run;

async fn crm_test(config: &std::path::Path, args: &[&str], env: Vec<(String, String)>) -> (i32, String, String) {
    let mut all = vec!["crm-test".to_string(), "--config".into(), config.to_str().unwrap().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (out, stdout, stderr) = run(&args, &env);
        (out.status.code().unwrap_or(-1), stdout, stderr)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_test_explains_each_example_against_its_crm() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [Kind::Salesforce, Kind::Hubspot, Kind::Zendesk, Kind::Dataverse, Kind::Freshdesk] {
        let double = Double::start(kind);
        let config = dir.path().join(format!("{}.toml", file_of(kind)));
        std::fs::write(&config, example_for(kind, &double)).unwrap();
        let mut env: Vec<(String, String)> = example_secrets(kind).into_iter().map(|(k, v)| (k.into(), v)).collect();
        env.push(("VOUCH_CRM_URL".into(), double.url.clone()));
        let secrets: Vec<String> = env.iter().filter(|(k, _)| k != "VOUCH_CRM_URL").map(|(_, v)| v.clone()).collect();

        let (code, stdout, stderr) = crm_test(&config, &["--phone", ADA.phone], env.clone()).await;
        assert_eq!(code, 0, "{kind:?}: {stdout}\n{stderr}");
        let found = format!("= 1 match → identified (id {:?})", double.id_of(&ADA));
        assert!(stdout.contains(&found), "{kind:?}: {stdout}");
        assert!(stdout.contains("← 200"), "{kind:?}: {stdout}");

        let (code, stdout, stderr) =
            crm_test(&config, &["--id", ADA.account, "--verify", &factor(kind, &ADA)], env.clone()).await;
        assert_eq!(code, 0, "{kind:?}: {stdout}\n{stderr}");
        assert!(stdout.contains(&found), "{kind:?}: {stdout}");
        assert!(stdout.contains("  = verified"), "{kind:?}: {stdout}");

        let (code, stdout, _) = crm_test(&config, &["--id", "99999999"], env).await;
        assert_eq!(code, 0, "{kind:?}: {stdout}");
        assert!(stdout.contains("= not found → failed try"), "{kind:?}: {stdout}");
        for secret in &secrets {
            assert!(!stdout.contains(secret.as_str()), "{kind:?}: a secret was shown: {stdout}");
        }
        double.assert_clean();
    }
}
