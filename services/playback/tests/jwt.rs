//! JWT playback end to end, checked by a third-party minter: `jwt_playback.py` signs every
//! token with PyJWT against two playback processes (own NATS connections) serving a real
//! ffmpeg HLS ladder, and checks plays and refusals (see the script's docstring).

mod common;

use std::process::Command;

use common::*;
use framelog_playback::PlaybackSettings;
use framelog_tests::tools::workspace_root;

#[tokio::test]
async fn jwts_minted_by_pyjwt_play_and_every_bad_one_is_refused_on_every_replica() {
    let mut env = Env::new().await;
    let a = env.instance().await;
    let b = env.instance_with(PlaybackSettings::default(), true, None).await;
    ffmpeg_hls(&env, "acme", "vid_1");
    env.put("acme", "vid_1", "poster.jpg", b"\xff\xd8\xff\xe0 poster");
    eventually("signing keys loaded", || async { a.st.keys.is_ready() && b.st.keys.is_ready() })
        .await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jwt_playback.py");
    let (pa, pb) = (a.url(""), b.url(""));
    let (key_acme, key_globex) = (env.key_acme.clone(), env.key_globex.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(workspace_root().join(".tools/venv/bin/python"))
            .arg(script)
            .env("PB_A", pa.trim_end_matches('/'))
            .env("PB_B", pb.trim_end_matches('/'))
            .env("KEY_ACME", key_acme)
            .env("KEY_GLOBEX", key_globex)
            .env("VIDEO", "vid_1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "jwt_playback.py failed:\n{stdout}\n{stderr}");
    let checks: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ok ")?.strip_suffix(" checks")?.parse().ok())
        .expect("summary line");
    assert!(checks >= 40, "only {checks} checks ran");
    assert!(b.st.verified.len() >= 2, "verified tokens remembered on the second process");
}
