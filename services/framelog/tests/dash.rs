//! MPEG-DASH over the HLS ladder's own segments, through the real binary: a ready video's
//! `manifest.mpd` opens in ffprobe (ffmpeg's DASH demuxer) with every rung and the audio track
//! and its language; every segment the manifest names resolves under the same token prefix,
//! and its `SegmentTimeline` entry agrees with the fragment as ffprobe reads it (decode time
//! steps, durations, timescale), for a chunked encode (`SegmentList`) and a whole-ladder
//! encode (`SegmentTemplate`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use framelog_tests::NatsServer;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

/// A 1280x720 30 fps source with a French AAC track.
fn source(dir: &Path, secs: u32) -> std::path::PathBuf {
    let out = dir.join("fr.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1280x720:rate=30:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=48000:duration={secs}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "64k", "-metadata:s:a:0", "language=fra"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// Uploads `file` with the CLI and waits until the video is ready; returns its record.
async fn ready_video(served: &Served, key: &str, file: &Path) -> serde_json::Value {
    let work = tempfile::tempdir().unwrap();
    let out = framelog()
        .args(["upload", "--server", &served.base, "--api-key", key, "--state-dir"])
        .arg(work.path())
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let video = text.lines().find_map(|l| l.strip_prefix("video_id: ")).unwrap().to_owned();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let url = format!("{}/v1/videos/{video}", served.base);
        let v: serde_json::Value =
            http.get(url).bearer_auth(key).send().await.unwrap().json().await.unwrap();
        if v["status"] == "ready" {
            return v;
        }
        assert_ne!(v["status"], "failed", "{v}");
        assert!(Instant::now() < deadline, "{video} not ready: {v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One Representation as the manifest describes it.
#[derive(Debug, Default)]
struct Rep {
    content_type: String,
    lang: Option<String>,
    id: String,
    base_url: String,
    timescale: u64,
    init: String,
    /// Segment URLs (listed, or expanded from the template), with their `t` and `d`.
    segments: Vec<(String, u64, u64)>,
}

/// Reads the Representations of `xml` (quick-xml), expanding timelines and templates.
fn representations(xml: &str) -> Vec<Rep> {
    let mut reader = Reader::from_str(xml);
    let (mut reps, mut set): (Vec<Rep>, BTreeMap<String, String>) = (Vec::new(), BTreeMap::new());
    // The current Representation's `(t, d)` entries, listed URLs, and template with its start.
    let mut timeline: Vec<(u64, u64)> = Vec::new();
    let mut urls: Vec<String> = Vec::new();
    let mut template: Option<(String, u64)> = None;
    let mut in_base = false;
    loop {
        let ev = reader.read_event().expect("well-formed MPD");
        let (e, closing) = match &ev {
            Event::Start(e) | Event::Empty(e) => (Some(e.clone()), matches!(ev, Event::Empty(_))),
            Event::Text(t) if in_base => {
                reps.last_mut().unwrap().base_url.push_str(&t.xml10_content().unwrap());
                (None, false)
            }
            Event::End(e) if e.name().as_ref() == b"BaseURL" => {
                in_base = false;
                (None, false)
            }
            Event::End(e) if e.name().as_ref() == b"Representation" => {
                let rep = reps.last_mut().unwrap();
                let mut at = timeline.iter();
                rep.segments = match template.take() {
                    Some((media, first)) => (first..)
                        .zip(&mut at)
                        .map(|(n, &(t, d))| {
                            (media.replace("$Number%05d$", &format!("{n:05}")), t, d)
                        })
                        .collect(),
                    None => urls.drain(..).zip(&mut at).map(|(u, &(t, d))| (u, t, d)).collect(),
                };
                assert_eq!(at.count(), 0, "as many URLs as timeline entries");
                timeline.clear();
                (None, false)
            }
            Event::Eof => break,
            _ => (None, false),
        };
        let Some(e) = e else { continue };
        let attrs: BTreeMap<String, String> = e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                let v = a.normalized_value(XmlVersion::Implicit1_0).unwrap().into_owned();
                (String::from_utf8(a.key.as_ref().to_vec()).unwrap(), v)
            })
            .collect();
        let num = |k: &str| attrs.get(k).map(|v| v.parse::<u64>().unwrap());
        match e.name().as_ref() {
            b"AdaptationSet" => set = attrs.clone(),
            b"Representation" => reps.push(Rep {
                content_type: set["contentType"].clone(),
                lang: set.get("lang").cloned(),
                id: attrs["id"].clone(),
                ..Rep::default()
            }),
            b"BaseURL" => in_base = !closing,
            b"SegmentTemplate" => {
                let rep = reps.last_mut().unwrap();
                rep.timescale = num("timescale").unwrap();
                rep.init = attrs["initialization"].clone();
                template = Some((attrs["media"].clone(), num("startNumber").unwrap_or(1)));
            }
            b"SegmentList" => reps.last_mut().unwrap().timescale = num("timescale").unwrap(),
            b"Initialization" => reps.last_mut().unwrap().init = attrs["sourceURL"].clone(),
            b"SegmentURL" => urls.push(attrs["media"].clone()),
            b"S" => {
                let t = num("t").unwrap_or_else(|| timeline.last().map_or(0, |&(t, d)| t + d));
                let d = num("d").unwrap();
                for k in 0..=num("r").unwrap_or(0) {
                    timeline.push((t + k * d, d));
                }
            }
            _ => {}
        }
    }
    reps
}

/// `ffprobe -show_packets` of one fragment (init + segment), edit list ignored (so decode times
/// are the fragment's `tfdt` and sample durations): the stream's time base denominator, the
/// first packet's dts and the span to the end of the last packet.
fn probe_fragment(bytes: &[u8], dir: &Path) -> (u64, i64, Option<u64>) {
    let file = dir.join(format!("frag-{}.mp4", uuid::Uuid::now_v7().simple()));
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-ignore_editlist", "1", "-select_streams", "0", "-show_entries"])
        .args(["stream=time_base:packet=dts,duration", "-of", "json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tb = v["streams"][0]["time_base"].as_str().unwrap();
    let den = tb.strip_prefix("1/").unwrap().parse().unwrap();
    let packets = v["packets"].as_array().unwrap();
    // The span from the first decode time to the end of the last packet; `None` when ffprobe
    // shows no duration for the last packet (it shows none for the first AAC packet of a
    // fragment, so none for a one-packet fragment).
    let dts = |p: &serde_json::Value| p["dts"].as_i64().unwrap();
    let first = packets.iter().map(dts).min().unwrap();
    let last = packets.iter().max_by_key(|p| dts(p)).unwrap();
    let span = last["duration"].as_i64().map(|d| (dts(last) + d - first) as u64);
    (den, first, span)
}

/// Everything a player needs from the manifest of the ready video `v`, checked with ffprobe.
async fn check_manifest(served: &Served, v: &serde_json::Value, listed: bool) {
    let http = reqwest::Client::new();
    let master = format!("{}{}", served.base, v["playback_url"].as_str().unwrap());
    let url = master.replace("/master.m3u8", "/manifest.mpd");
    let res = http.get(&url).header("Origin", "https://player.example").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "application/dash+xml");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["access-control-allow-origin"], "*", "CORS like the playlists");
    let xml = res.text().await.unwrap();
    let again = http.get(&url).header("If-None-Match", h["etag"].clone()).send().await.unwrap();
    assert_eq!(again.status(), 304, "the cached manifest keeps its ETag");

    // ffmpeg's DASH demuxer opens it and reads every stream.
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries"])
        .args(["stream=codec_type,codec_name,width,height,nb_read_packets:stream_tags=language"])
        .args(["-of", "json", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = p["streams"].as_array().unwrap();
    let mut heights: Vec<u64> = streams
        .iter()
        .filter(|s| s["codec_type"] == "video")
        .map(|s| s["height"].as_u64().unwrap())
        .collect();
    heights.sort();
    assert_eq!(heights, [270, 360, 480, 720], "every rung: {p}");
    let audio: Vec<&serde_json::Value> =
        streams.iter().filter(|s| s["codec_type"] == "audio").collect();
    assert_eq!(audio.len(), 1, "{p}");
    assert_eq!(
        (audio[0]["codec_name"].as_str(), audio[0]["tags"]["language"].as_str()),
        (Some("aac"), Some("fr"))
    );
    for s in streams.iter().filter(|s| s["codec_type"] == "video") {
        // 12 s at 30 fps: ffmpeg's DASH demuxer counts all but the first stream's probe packets.
        let n = s["nb_read_packets"].as_str().unwrap().parse::<u64>().unwrap();
        assert!((350..=360).contains(&n), "packets read of a rung: {n}: {p}");
    }

    // Every segment resolves under the token prefix, and the timeline is the fragments' own.
    let reps = representations(&xml);
    assert_eq!(reps.len(), 5, "{xml}");
    let dir = tempfile::tempdir().unwrap();
    let base = url.rsplit_once('/').unwrap().0;
    for rep in &reps {
        assert!(!rep.segments.is_empty(), "{rep:?}");
        assert_eq!(rep.lang.is_some(), rep.content_type == "audio");
        let names_listed = xml.contains("<SegmentURL");
        assert_eq!(names_listed, listed, "{xml}");
        let get = |name: &str| {
            let u = format!("{base}/{}{name}", rep.base_url);
            let http = http.clone();
            async move {
                let res = http.get(&u).send().await.unwrap();
                assert_eq!(res.status(), 200, "{u}");
                res.bytes().await.unwrap()
            }
        };
        let init = get(&rep.init).await;
        let mut spans = 0;
        for (name, t, d) in &rep.segments {
            let frag = [init.as_ref(), get(name).await.as_ref()].concat();
            let (den, dts, span) = probe_fragment(&frag, dir.path());
            assert_eq!(den, rep.timescale, "{} {name}: timescale", rep.id);
            assert_eq!(dts, *t as i64, "{} {name}: t is the fragment's tfdt", rep.id);
            if let Some(span) = span {
                assert_eq!(span, *d, "{} {name}: d is the fragment's duration", rep.id);
                spans += 1;
            }
        }
        assert!(spans + 1 >= rep.segments.len(), "{}: durations checked for {spans}", rep.id);
    }
}

#[tokio::test]
async fn a_chunked_ladder_plays_as_dash_with_listed_segments_whose_timeline_matches_the_fragments()
{
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let key = tenant(&nats.url(), "acme");
    let work = tempfile::tempdir().unwrap();
    let v = ready_video(&served, &key, &source(work.path(), 12)).await;
    check_manifest(&served, &v, true).await;
}

#[tokio::test]
async fn a_whole_ladder_plays_as_dash_with_a_segment_template() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &["--transcode-range-segments", "0"]);
    let key = tenant(&nats.url(), "acme");
    let work = tempfile::tempdir().unwrap();
    let v = ready_video(&served, &key, &source(work.path(), 12)).await;
    check_manifest(&served, &v, false).await;
}

#[tokio::test]
async fn the_manifest_is_refused_for_other_videos_tokens_and_missing_videos() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let key = tenant(&nats.url(), "acme");
    let other = tenant(&nats.url(), "globex");
    let work = tempfile::tempdir().unwrap();
    let v = ready_video(&served, &key, &source(work.path(), 4)).await;
    let http = reqwest::Client::new();
    let id = v["id"].as_str().or(v["video_id"].as_str()).unwrap().to_owned();
    let url = format!("{}{}", served.base, v["playback_url"].as_str().unwrap())
        .replace("/master.m3u8", "/manifest.mpd");
    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "application/dash+xml");
    // Another tenant cannot see the video, nor read its manifest with its own token.
    let res = http
        .get(format!("{}/v1/videos/{id}", served.base))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let forged = url.replacen("/hls/acme", "/hls/globex", 1);
    let res = http.get(&forged).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token");
    // A token for this video names no other: an unknown id is refused by the token, and the
    // public path of a video that is not public is a 404.
    let res = http.get(url.replace(&id, "vid_nope")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res =
        http.get(format!("{}/hls/public/{id}/manifest.mpd", served.base)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}
