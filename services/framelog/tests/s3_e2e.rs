//! The whole platform on S3 (a real SeaweedFS) through the real binary: a tus upload (tuspy
//! is not needed here: the CLI's REST upload and a raw tus client are tested elsewhere) goes
//! straight into a multipart upload, the transcoder reads the source and writes the ladder to
//! the bucket, playback streams it back; ffmpeg decodes every variant through the signed
//! master; no media byte is on either process's disk; a second playback process with
//! `--playback-redirect presigned` sends segments to presigned URLs that serve the same bytes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_tests::{NatsServer, SeaweedFs};

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_on_s3_becomes_a_ready_video_that_plays_from_the_bucket() {
    let nats = NatsServer::start();
    let weed = SeaweedFs::start().await;
    let bucket = "e2e";
    let shared = tempfile::tempdir().unwrap();
    let secret = shared.path().join("secret.key");
    let secret_arg = secret.to_str().unwrap().to_owned();
    let mut args: Vec<String> = weed.args(bucket);
    args.extend(["--secret-file".into(), secret_arg.clone()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let served = serve(&nats.url(), &argv);
    let key = tenant(&nats.url(), "acme");
    let work = tempfile::tempdir().unwrap();
    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(640, 360, 4.0));
    let out = framelog()
        .args(["upload", "--server", &served.base, "--api-key", &key, "--state-dir"])
        .arg(work.path().join("state"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let video = text.lines().find_map(|l| l.strip_prefix("video_id: ")).unwrap().to_owned();
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let v = loop {
        let res =
            http.get(format!("{}/v1/videos/{video}", served.base)).bearer_auth(&key).send().await;
        if let Ok(r) = res
            && r.status() == 200
        {
            let v: serde_json::Value = r.json().await.unwrap();
            if v["status"] == "ready" {
                break v;
            }
            assert_ne!(v["status"], "failed", "{v}");
        }
        assert!(Instant::now() < deadline, "not ready in time");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // ffmpeg (not our parser) decodes every stream of every variant through the signed master.
    let master_url = format!("{}{}", served.base, v["playback_url"].as_str().unwrap());
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i", &master_url, "-map", "0", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(st.status.success() && st.stderr.is_empty(), "{}", String::from_utf8_lossy(&st.stderr));

    // Every media byte is in the bucket: none on this process's disk.
    let data = served.data.as_ref().unwrap().path();
    let local: Vec<_> = files_under(&data.join("media"))
        .into_iter()
        .chain(files_under(&data.join("uploads")))
        .collect();
    assert!(local.is_empty(), "media on the local disk: {local:?}");
    let listing = http
        .get(format!("{}/{bucket}?list-type=2&prefix=hls/acme/{video}/", weed.endpoint()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listing.contains(".m4s") && listing.contains("master.m3u8"), "{listing}");
    let source = http
        .get(format!("{}/{bucket}/sources/acme/{video}/source", weed.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(source.bytes().await.unwrap(), std::fs::read(&file).unwrap(), "the exact source");

    // A second, stateless playback replica redirects segments to presigned URLs.
    let mut args2: Vec<String> = weed.args(bucket);
    args2.extend(["--secret-file".into(), secret_arg, "--only".into(), "playback".into()]);
    args2.extend(["--playback-redirect".into(), "presigned".into()]);
    let argv2: Vec<&str> = args2.iter().map(String::as_str).collect();
    let edge = serve(&nats.url(), &argv2);
    let master = http.get(&master_url).send().await.unwrap().text().await.unwrap();
    let variant = master.lines().find(|l| !l.starts_with('#') && !l.is_empty()).unwrap();
    let dir = master_url.rsplit_once('/').unwrap().0.to_owned();
    let playlist = http.get(format!("{dir}/{variant}")).send().await.unwrap().text().await.unwrap();
    let seg = playlist.lines().find(|l| !l.starts_with('#') && !l.is_empty()).unwrap();
    let vdir = format!("{dir}/{variant}").rsplit_once('/').unwrap().0.to_owned();
    let seg_url = format!("{vdir}/{seg}");
    let direct = http.get(&seg_url).send().await.unwrap();
    assert_eq!(direct.status(), 200);
    let direct = direct.bytes().await.unwrap();
    // Ranges are served from the bucket by ranged reads, like from a local file.
    let part = http.get(&seg_url).header("range", "bytes=10-109").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), direct.slice(10..110));
    let past = http.get(&seg_url).header("range", format!("bytes={}-", direct.len())).send();
    assert_eq!(past.await.unwrap().status(), 416);
    let edge_url = seg_url.replacen(&served.base, &edge.base, 1);
    let res = http.get(&edge_url).send().await.unwrap();
    assert_eq!(res.status(), 302, "a segment redirects");
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(&weed.endpoint()) && to.contains("X-Amz-Signature"), "{to}");
    let followed = http.get(&to).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(followed, direct, "the presigned URL serves the segment's bytes");
    let pl = http.get(format!("{dir}/{variant}").replacen(&served.base, &edge.base, 1));
    assert_eq!(pl.send().await.unwrap().status(), 200, "a media playlist never redirects");
    let edge_master = http.get(master_url.replacen(&served.base, &edge.base, 1)).send().await;
    assert_eq!(edge_master.unwrap().status(), 200, "playlists are served by playback");
}
