//! Static MP4 renditions end to end through the real binary: a ready video's files are remuxed
//! from its HLS segments (no re-encode), stored under its version and served by playback with
//! ranges and `Content-Disposition`; every check is made with ffmpeg/ffprobe.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};
use serde_json::{Value, json};

async fn video(http: &reqwest::Client, base: &str, key: &str, id: &str) -> Value {
    let res = http.get(format!("{base}/v1/videos/{id}")).bearer_auth(key).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Polls the video until `done(video)` holds.
async fn wait_for(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = video(http, base, key, id).await;
        if done(&v) {
            return v;
        }
        assert_ne!(v["status"], "failed", "{v}");
        assert!(Instant::now() < deadline, "{id}: {what} not within {secs} s: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The tenant's stored bytes this month (`/v1/billing/usage`).
async fn storage(http: &reqwest::Client, base: &str, key: &str) -> u64 {
    let res = http.get(format!("{base}/v1/billing/usage")).bearer_auth(key).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["meters"]["storage_bytes"].as_u64().unwrap()
}

fn files_ready(v: &Value, n: usize) -> bool {
    let files = v["mp4"]["files"].as_array().cloned().unwrap_or_default();
    v["status"] == "ready" && files.len() == n && files.iter().all(|f| f["status"] == "ready")
}

fn upload(base: &str, key: &str, file: &Path, state: &Path) -> String {
    let out = framelog()
        .args(["upload", "--server", base, "--api-key", key, "--state-dir"])
        .arg(state)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().find_map(|l| l.strip_prefix("video_id: ")).unwrap().to_owned()
}

fn ffprobe(target: &str, args: &[&str]) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(target)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {target}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// ffmpeg's per-stream MD5 of the packets of `map` (data only: equal for a stream copy).
fn packet_hash(target: &str, map: &str) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i", target, "-map", map, "-c", "copy"])
        .args(["-f", "streamhash", "-hash", "md5", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The order of the top-level boxes as ffprobe's trace reports them.
fn box_order(file: &Path) -> (usize, usize) {
    let out = Command::new("ffprobe").args(["-v", "trace", "-i"]).arg(file).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let at = |t: &str| log.find(&format!("type:'{t}' parent:'root'")).unwrap_or(usize::MAX);
    (at("moov"), at("mdat"))
}

#[tokio::test]
async fn a_tenant_default_of_all_gives_a_faststart_mp4_and_an_m4a_remuxed_without_re_encoding() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let (base, key) = (served.base.clone(), tenant(&nats.url(), "acme"));
    let other = tenant(&nats.url(), "globex");
    let http = reqwest::Client::new();

    // The tenant default, set before the upload, applies when the video becomes ready.
    let res = http
        .put(format!("{base}/v1/settings/mp4"))
        .bearer_auth(&key)
        .json(&json!({"mp4": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http.get(format!("{base}/v1/settings/mp4")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["mp4"], "all");

    let work = tempfile::tempdir().unwrap();
    let src = generate_video(work.path(), "clip.mp4", &VideoSpec::new(1280, 720, 8.0));
    let id = upload(&base, &key, &src, &work.path().join("state"));
    let v = wait_for(&http, &base, &key, &id, 300, "two MP4 files", |v| files_ready(v, 2)).await;
    let duration = v["duration_secs"].as_f64().unwrap();
    let files = v["mp4"]["files"].as_array().unwrap().clone();
    assert_eq!(v["mp4"]["setting"], "all");
    assert_eq!(files[0]["name"], "capped-1080p.mp4");
    assert_eq!(files[0]["rendition"], "720p", "the highest rung at most 1080p: {v}");
    assert_eq!(files[1]["name"], "audio.m4a");
    let mp4_bytes: u64 = files.iter().map(|f| f["size"].as_u64().unwrap()).sum();
    let storage_with = storage(&http, &base, &key).await;

    // Downloads: whole, with a name, and resumed by a range.
    let url = format!("{base}{}", files[0]["url"].as_str().unwrap());
    let full = http.get(&url).send().await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "video/mp4");
    assert!(full.headers().get("content-disposition").is_none());
    let full = full.bytes().await.unwrap();
    assert_eq!(full.len() as u64, files[0]["size"].as_u64().unwrap());
    let mp4 = work.path().join("dl.mp4");
    std::fs::write(&mp4, &full).unwrap();
    let named = http
        .head(format!("{base}{}", files[0]["download_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        named.headers()["content-disposition"],
        format!("attachment; filename=\"{id}-capped-1080p.mp4\"").as_str()
    );
    let from = 1_000_000.min(full.len() / 2);
    let part = http.get(&url).header("range", format!("bytes={from}-")).send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes {from}-{}/{}", full.len() - 1, full.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &full[from..], "the tail of the file");

    // Plays end to end, lasts the video, moov before mdat.
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&mp4)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decode.status.success());
    assert_eq!(String::from_utf8_lossy(&decode.stderr), "", "ffmpeg decodes it cleanly");
    let probe = ffprobe(mp4.to_str().unwrap(), &["-show_format", "-show_streams"]);
    let got: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((got - duration).abs() <= 0.1, "duration {got} vs the video's {duration}");
    let (moov, mdat) = box_order(&mp4);
    assert!(moov < mdat && mdat != usize::MAX, "faststart: moov at {moov}, mdat at {mdat}");

    // No re-encode: the rung's own packets, codec and profile.
    let master_url = format!("{base}{}", v["playback_url"].as_str().unwrap());
    let master = http.get(&master_url).send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = master.lines().collect();
    let rung = lines
        .windows(2)
        .find(|w| w[0].contains("RESOLUTION=1280x720"))
        .map(|w| w[1])
        .unwrap_or_else(|| panic!("no 720p rung in {master}"));
    let rung_url = format!("{}/{rung}", master_url.rsplit_once('/').unwrap().0);
    let rung_probe = ffprobe(&rung_url, &["-show_streams", "-select_streams", "v:0"]);
    let (a, b) = (&probe["streams"][0], &rung_probe["streams"][0]);
    assert_eq!(a["codec_type"], "video");
    for field in ["codec_name", "profile", "width", "height", "pix_fmt"] {
        assert_eq!(a[field], b[field], "{field}");
    }
    assert_eq!(packet_hash(mp4.to_str().unwrap(), "0:v:0"), packet_hash(&rung_url, "0:v:0"));
    let mp4_rate: f64 = a["bit_rate"].as_str().unwrap().parse().unwrap();
    let rendition =
        v["renditions"].as_array().unwrap().iter().find(|r| r["name"] == "720p").unwrap();
    println!(
        "capped-1080p.mp4: {} bytes, video {mp4_rate} b/s (rung AVERAGE-BANDWIDTH with audio {})",
        full.len(),
        rendition["average_bandwidth"]
    );

    // audio.m4a: the audio alone.
    let m4a_url = format!("{base}{}", files[1]["url"].as_str().unwrap());
    let m4a = work.path().join("dl.m4a");
    std::fs::write(&m4a, http.get(&m4a_url).send().await.unwrap().bytes().await.unwrap()).unwrap();
    let p = ffprobe(m4a.to_str().unwrap(), &["-show_format", "-show_streams"]);
    let kinds: Vec<&str> = p["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["audio"], "no video stream in audio.m4a");
    let got: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((got - duration).abs() <= 0.1, "audio duration {got} vs {duration}");

    // CPU: the remux against the transcode, from the log.
    let js = async_nats::jetstream::new(nats.client().await);
    let stream = js.get_stream("VID").await.unwrap();
    let last = |phase: &str| format!("vid.acme.transcode.{phase}.{id}");
    let ready = stream.get_last_raw_message_by_subject(&last("mp4_ready")).await.unwrap();
    let done = stream.get_last_raw_message_by_subject(&last("completed")).await.unwrap();
    let ready: Value = serde_json::from_slice(&ready.payload).unwrap();
    let done: Value = serde_json::from_slice(&done.payload).unwrap();
    let (remux, transcode) = (
        ready["data"]["cpu_seconds"].as_f64().unwrap(),
        done["data"]["cpu_seconds"].as_f64().unwrap(),
    );
    println!("ffmpeg CPU seconds: remux {remux:.3} s, transcode {transcode:.3} s");
    assert!(remux > 0.0, "the remux's CPU is measured");
    assert!(remux < transcode / 10.0, "remux {remux} vs transcode {transcode}");

    // Another tenant cannot see or change it; a bad setting is a 422.
    let put = |k: &str, body: Value| {
        http.put(format!("{base}/v1/videos/{id}/mp4")).bearer_auth(k.to_owned()).json(&body).send()
    };
    let res = put(&other, json!({"mp4": "none"})).await.unwrap();
    assert_eq!(res.status(), 404);
    let res = put(&key, json!({"mp4": "highest"})).await.unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "invalid_mp4");

    // `none`: no files, the URL answers 404.
    let res = put(&key, json!({"mp4": "none"})).await.unwrap();
    assert_eq!(res.status(), 202);
    let v = wait_for(&http, &base, &key, &id, 60, "no MP4 files", |v| {
        v["mp4"]["setting"] == "none" && v["mp4"]["files"].as_array().is_some_and(|f| f.is_empty())
    })
    .await;
    assert_eq!(v["mp4"]["files"], json!([]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = http.get(&url).send().await.unwrap().status();
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Billed as storage: the files' bytes leave the tenant's stored bytes with them.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = storage(&http, &base, &key).await;
        if now == storage_with - mp4_bytes {
            println!("stored bytes: {storage_with} with the MP4s, {now} without ({mp4_bytes})");
            break;
        }
        assert!(Instant::now() < deadline, "storage {now}, was {storage_with}, MP4s {mp4_bytes}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Asked for again on the ready video: made at once.
    let res = put(&key, json!({"mp4": "audio-only"})).await.unwrap();
    assert_eq!(res.status(), 202);
    let v = wait_for(&http, &base, &key, &id, 60, "audio.m4a", |v| files_ready(v, 1)).await;
    assert_eq!(v["mp4"]["files"][0]["name"], "audio.m4a");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404, "no video file for audio-only");
}

#[tokio::test]
async fn an_audio_only_asset_asked_for_all_once_ready_gets_only_audio_m4a() {
    use framelog_tests::corpus::{Class, generate};
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let (base, key) = (served.base.clone(), tenant(&nats.url(), "acme"));
    let http = reqwest::Client::new();
    let work = tempfile::tempdir().unwrap();
    let src = generate(Class::AudioOnly, work.path());
    let id = upload(&base, &key, &src.path, &work.path().join("state"));
    let v = wait_for(&http, &base, &key, &id, 120, "ready", |v| v["status"] == "ready").await;
    assert_eq!(v["mp4"], json!({"setting": "none", "files": []}), "nothing by default");

    let res = http
        .put(format!("{base}/v1/videos/{id}/mp4"))
        .bearer_auth(&key)
        .json(&json!({"mp4": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let v = wait_for(&http, &base, &key, &id, 60, "audio.m4a", |v| files_ready(v, 1)).await;
    let file = &v["mp4"]["files"][0];
    assert_eq!(file["name"], "audio.m4a", "no video file for an audio-only asset: {v}");
    let url = format!("{base}{}", file["url"].as_str().unwrap());
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "audio/mp4");
    let m4a = work.path().join("dl.m4a");
    std::fs::write(&m4a, res.bytes().await.unwrap()).unwrap();
    let p = ffprobe(m4a.to_str().unwrap(), &["-show_format", "-show_streams"]);
    let kinds: Vec<&str> = p["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["audio"]);
    let got: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((got - src.duration_secs).abs() <= 0.1, "{got} vs {}", src.duration_secs);
    let video_url = url.replace("audio.m4a", "capped-1080p.mp4");
    assert_eq!(http.get(&video_url).send().await.unwrap().status(), 404);
}
