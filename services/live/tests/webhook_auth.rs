//! The webhook guard: a secret, not a location. Behind a reverse proxy on the same host every
//! caller is 127.0.0.1, so the address allow list alone let the internet in.

mod common;

use common::*;
use framelog_live::LiveSettings;
use serde_json::json;

#[tokio::test]
async fn webhooks_refuse_a_missing_or_wrong_secret_a_proxied_call_and_an_unlisted_address() {
    let secret = "s3cret-of-sixteen-chars";
    let env =
        env_with(LiveSettings { hook_secret: Some(secret.into()), ..Default::default() }).await;
    let body = json!({"action": "read", "path": "live/x"});
    let url = |q: &str| env.app.url(&format!("/v1/hooks/mediamtx/auth{q}"));
    let no = env.app.http.post(url("")).json(&body).send().await.unwrap();
    assert_eq!(code(no).await, (403, "forbidden".into()));
    let wrong = env.app.http.post(url("?secret=nope")).json(&body).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    let prefix = env.app.http.post(url("?secret=s3cret")).json(&body).send().await.unwrap();
    assert_eq!(prefix.status(), 403, "a prefix of the secret is not the secret");
    let ok = env.app.http.post(url(&format!("?secret={secret}"))).json(&body).send().await;
    assert_eq!(ok.unwrap().status(), 401, "past the guard: unknown stream");
    // The header and Bearer forms (what `framelog hook` uses) work too.
    let h = env.app.http.post(url("")).header("x-framelog-hook-secret", secret).json(&body);
    assert_eq!(h.send().await.unwrap().status(), 401);
    let b = env.app.http.post(url("")).bearer_auth(secret).json(&body);
    assert_eq!(b.send().await.unwrap().status(), 401);
    // The right secret through a proxy (which adds these headers) is refused: it came from
    // outside, though every proxied caller looks like 127.0.0.1.
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=203.0.113.9"),
        ("x-real-ip", "203.0.113.9"),
    ] {
        let res = env
            .app
            .http
            .post(url(&format!("?secret={secret}")))
            .header(name, value)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(code(res).await, (403, "forbidden".into()), "{name}");
    }
    let env2 =
        env_with(LiveSettings { hook_allow: vec!["10.9.9.9".into()], ..Default::default() }).await;
    assert_eq!(mtx_auth(&env2, body).await.status(), 403, "loopback is not in the allow list");
}

#[tokio::test]
async fn the_default_secret_is_generated_into_the_data_dir_with_mode_0600() {
    let env = env().await;
    let file = env.dir.path().join("hook-secret");
    let on_disk = std::fs::read_to_string(&file).unwrap();
    assert_eq!(on_disk.trim(), env.hook_secret);
    assert!(env.hook_secret.len() >= 32);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    // Required by default: no secret, no entry.
    let res = env
        .app
        .http
        .post(env.app.url("/v1/hooks/mediamtx/auth"))
        .json(&json!({"action": "read", "path": "live/x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
