//! Issue #13 items 8 and 9 through the real binary: `framelog serve` logs in to NATS with its
//! credentials, refuses a secret file others can read, and honours `framelog secret rotate`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use framelog_core::secret::Secret;
use framelog_core::signing::playback_token;
use framelog_tests::NatsServer;
use framelog_tests::auth::FRAMELOG_USER;

mod common;
use common::{framelog, serve_in};

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Runs `framelog serve` expecting it to exit with an error; returns its stderr.
fn serve_fails(nats_url: &str, extra: &[&str]) -> String {
    let mut child = framelog()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--nats-url",
            nats_url,
            "--nats-patience-secs",
            "5",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn serve_logs_in_with_its_nats_user_and_password_file_and_fails_clearly_without() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("framelog.pw");
    private_file(&pw, nats.auth().credentials(FRAMELOG_USER).password());
    let data = dir.path().join("data");
    let (pw_s, data_s) = (pw.to_str().unwrap(), data.to_str().unwrap());

    let err = serve_fails(&nats.anonymous_url(), &["--data-dir", data_s]);
    assert!(err.contains("refused the connection") && err.contains("--nats-user"), "{err}");

    let served = serve_in(
        &nats.anonymous_url(),
        &["--data-dir", data_s, "--nats-user", FRAMELOG_USER, "--nats-password-file", pw_s],
    );
    let res = reqwest::get(format!("{}/readyz", served.base)).await.unwrap();
    assert_eq!(res.status(), 200);
}

#[test]
fn serve_refuses_a_secret_file_that_others_can_read() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let key = data.path().join("secret.key");
    std::fs::write(&key, "000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f")
        .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = serve_fails(&nats.url(), &["--data-dir", data.path().to_str().unwrap()]);
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains(&format!("chmod 600 {}", key.display())), "{err}");
    assert!(err.contains("0644"), "{err}");
}

#[tokio::test]
async fn after_secret_rotate_serve_accepts_old_and_new_tokens_and_lists_the_keys() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let data_s = data.path().to_str().unwrap();
    let key_file = data.path().join("secret.key");
    let before = Secret::load_or_create(&key_file).unwrap();
    let far = 4_000_000_000;
    let old = playback_token(&before, "acme", "vid_1", far);

    let out = framelog().args(["secret", "rotate", "--grace", "1d", "--data-dir", data_s]).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("new active key k1") && text.contains("k0  verifies until"), "{text}");
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let list = framelog().args(["secret", "list", "--data-dir", data_s]).output().unwrap();
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(listed.starts_with("k1  active"), "{listed}");
    let after = Secret::load_or_create(&key_file).unwrap();
    assert!(!listed.contains(&hex_of(after.as_bytes())), "list never prints a key");
    let new = playback_token(&after, "acme", "vid_1", far);
    assert!(new.contains(".k1.") && old.contains(".k0."));

    let media = data.path().join("media/hls/acme/vid_1");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("master.m3u8"), "#EXTM3U\n").unwrap();
    let served = serve_in(&nats.url(), &["--data-dir", data_s]);
    let get = |token: String| {
        let url = format!("{}/hls/{token}/vid_1/master.m3u8", served.base);
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(get(old.clone()).await, 200, "a token of k0 plays during the grace period");
    assert_eq!(get(new).await, 200);
    let unknown = old.replace(".k0.", ".k5.");
    assert_eq!(get(unknown).await, 403);
    let padded = old.replace(&format!(".{far}."), &format!(".0{far}."));
    assert_eq!(get(padded).await, 403, "a non-canonical expiry is refused");
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
