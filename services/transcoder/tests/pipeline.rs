//! The media a job makes, checked with real ffmpeg/ffprobe on small generated sources: which
//! renditions, playlists that parse, keyframe-aligned segments, a master whose attributes are
//! true, poster, storyboard sheets, I-frame playlists, and the events in order.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Env, env, ffprobe, run_to_end, segment_packets, video_stream};
use framelog_events::Kind;
use framelog_tests::media::VideoSpec;
use framelog_transcoder::master::is_video;
use framelog_transcoder::playlist::{
    attributes, parse_master, parse_master_media, parse_media_playlist,
};
use framelog_transcoder::storyboard::parse_vtt;
use framelog_transcoder::{Outcome, TranscoderSettings};

fn rate(s: &str) -> f64 {
    let (n, d) = s.split_once('/').unwrap();
    n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap()
}

/// The RFC 6381 string ffprobe's profile and level imply (x264 sets no constraint flags on High).
fn expected_avc1(stream: &serde_json::Value) -> String {
    let profile = match stream["profile"].as_str().unwrap() {
        "High" => "6400",
        "Main" => "4d40",
        other => panic!("unexpected profile {other}"),
    };
    format!("avc1.{profile}{:02x}", stream["level"].as_i64().unwrap())
}

/// A fragment with its init segment in front, so ffprobe sees codec parameters.
fn with_init(dir: &Path, init: &Path, segment: &str, out: &Path) -> serde_json::Value {
    let mut bytes = std::fs::read(init).unwrap();
    bytes.extend(std::fs::read(dir.join(segment)).unwrap());
    std::fs::write(out, bytes).unwrap();
    ffprobe(out)
}

fn stream_types(probe: &serde_json::Value) -> Vec<String> {
    let streams = probe["streams"].as_array().unwrap();
    streams.iter().map(|s| s["codec_type"].as_str().unwrap().to_owned()).collect()
}

/// Checks the shared audio rendition; returns its mean bit rate (0 without audio).
fn check_audio(root: &Path, master_text: &str, duration: f64, audio: bool, scratch: &Path) -> u64 {
    let media = parse_master_media(master_text);
    if !audio {
        assert!(media.is_empty(), "a silent source has no audio rendition: {media:?}");
        return 0;
    }
    assert_eq!(media.len(), 1, "one audio rendition, shared: {media:?}");
    assert_eq!((media[0]["TYPE"].as_str(), media[0]["DEFAULT"].as_str()), ("AUDIO", "YES"));
    let uri = &media[0]["URI"];
    let dir = root.join(Path::new(uri).parent().unwrap());
    let pl = parse_media_playlist(&std::fs::read_to_string(root.join(uri)).unwrap()).unwrap();
    assert!(pl.ended && (pl.duration() - duration).abs() < 0.5, "audio: {} s", pl.duration());
    let init = dir.join(pl.init.as_deref().unwrap());
    let probe = with_init(&dir, &init, &pl.segments[0].uri, &scratch.join("audio-first.mp4"));
    assert_eq!(stream_types(&probe), ["audio"], "audio only");
    assert_eq!(probe["streams"][0]["codec_name"], "aac");
    assert_eq!(probe["streams"][0]["channels"], 2);
    assert_eq!(probe["streams"][0]["sample_rate"], "48000");
    let bytes: u64 =
        pl.segments.iter().map(|s| std::fs::metadata(dir.join(&s.uri)).unwrap().len()).sum();
    (bytes as f64 * 8.0 / pl.duration()).ceil() as u64
}

/// Checks a published video's HLS tree; returns rendition name -> (width, height).
fn check_hls(env: &Env, id: &str, duration: f64, audio: bool) -> BTreeMap<String, (u32, u32)> {
    // The master names files from the video's root (`v/<version>/360p/...`).
    let root = env.media(&format!("hls/acme/{id}"));
    let live = env.live_dir(id);
    let scratch = tempfile::tempdir().unwrap();
    let master_text = std::fs::read_to_string(live.join("master.m3u8")).unwrap();
    assert!(master_text.contains("#EXT-X-INDEPENDENT-SEGMENTS"));
    let entries = parse_master(&master_text).unwrap();
    let audio_average = check_audio(&root, &master_text, duration, audio, scratch.path());
    // With audio, the last entry is the audio-only variant playing the default rendition.
    let (master, audio_only): (Vec<_>, Vec<_>) = entries.into_iter().partition(is_video);
    if audio {
        let default = &parse_master_media(&master_text)[0];
        assert_eq!(audio_only.len(), 1, "one audio-only variant: {audio_only:?}");
        assert_eq!(audio_only[0].1, default["URI"]);
        assert_eq!(audio_only[0].0["CODECS"], "mp4a.40.2");
        assert_eq!(audio_only[0].0["AUDIO"], default["GROUP-ID"]);
    } else {
        assert!(audio_only.is_empty(), "a silent source has no audio-only variant");
    }
    // A real HLS parser reads it too: ffprobe opens every variant.
    // (at the root, as playback serves it)
    let at_root = tempfile::tempdir().unwrap();
    std::fs::write(at_root.path().join("master.m3u8"), &master_text).unwrap();
    std::os::unix::fs::symlink(root.join("v"), at_root.path().join("v")).unwrap();
    let probed = ffprobe(&at_root.path().join("master.m3u8"));
    let variants =
        probed["streams"].as_array().unwrap().iter().filter(|s| s["codec_type"] == "video");
    assert_eq!(variants.count(), master.len(), "ffprobe sees every video variant");

    let mut sizes = BTreeMap::new();
    let mut starts: Vec<Vec<f64>> = Vec::new();
    let mut previous_bandwidth = 0;
    for (k, (attrs, uri)) in master.iter().enumerate() {
        let dir = root.join(Path::new(uri).parent().unwrap());
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let pl = parse_media_playlist(&std::fs::read_to_string(root.join(uri)).unwrap()).unwrap();
        assert!(pl.ended && pl.independent_segments, "{name}: a complete VOD playlist");
        assert!((pl.duration() - duration).abs() < 0.5, "{name}: {} s", pl.duration());
        let init = dir.join(pl.init.as_deref().unwrap());

        // Attributes are present and true.
        // A lone fragment has no codec parameters: probe it with its init segment.
        let first = scratch.path().join(format!("{name}-first.mp4"));
        let probe = with_init(&dir, &init, &pl.segments[0].uri, &first);
        let v = video_stream(&probe);
        let (w, h) = (v["width"].as_u64().unwrap() as u32, v["height"].as_u64().unwrap() as u32);
        assert_eq!(attrs["RESOLUTION"], format!("{w}x{h}"), "{name}");
        let fps = rate(v["avg_frame_rate"].as_str().unwrap());
        assert!((attrs["FRAME-RATE"].parse::<f64>().unwrap() - fps).abs() < 0.01, "{name}");
        assert_eq!(stream_types(&probe), ["video"], "{name}: video only, the audio is shared");
        assert_eq!(attrs.get("AUDIO").is_some(), audio, "{name}: names the audio group");
        let codecs =
            if audio { format!("{},mp4a.40.2", expected_avc1(v)) } else { expected_avc1(v) };
        assert_eq!(attrs["CODECS"], codecs, "{name}");
        assert_eq!(attrs["VIDEO-RANGE"], "SDR", "{name}");
        assert!(v["side_data_list"].is_null(), "{name}: no display matrix left to rotate again");

        let mut seg_bytes = 0u64;
        let bandwidth: u64 = attrs["BANDWIDTH"].parse().unwrap();
        let average: u64 = attrs["AVERAGE-BANDWIDTH"].parse().unwrap();
        let mut seg_starts = Vec::new();
        for s in &pl.segments {
            let len = std::fs::metadata(dir.join(&s.uri)).unwrap().len();
            seg_bytes += len;
            if s.duration >= 0.5 * f64::from(pl.target_duration) {
                let r = (len as f64 * 8.0 / s.duration) as u64;
                assert!(r <= bandwidth, "{name}: a segment at {r} b/s above BANDWIDTH {bandwidth}");
            }
            let packets = segment_packets(&init, &dir.join(&s.uri), scratch.path());
            assert!(packets[0].1, "{name}/{}: starts on a keyframe", s.uri);
            seg_starts.push(packets[0].0);
        }
        let measured = (seg_bytes as f64 * 8.0 / pl.duration()).ceil() as u64 + audio_average;
        assert!(
            measured.abs_diff(average) <= 2,
            "{name}: AVERAGE-BANDWIDTH {average} vs {measured} (video and audio)"
        );
        assert!(bandwidth >= average);
        // The mid rung comes first, then the rest by ascending bandwidth.
        if k == 0 {
            let heights = master
                .iter()
                .map(|(a, _)| a["RESOLUTION"].split_once('x').unwrap().1.parse::<u32>().unwrap());
            let mid = heights.clone().filter(|h| *h <= 720).max();
            assert_eq!(Some(h), mid.or(heights.min()), "{name}: the mid rung first");
        } else {
            assert!(bandwidth >= previous_bandwidth, "{name}: ascending after the first");
            previous_bandwidth = bandwidth;
        }
        starts.push(seg_starts);
        sizes.insert(name, (w, h));
    }
    assert!(starts.iter().all(|s| s.len() == starts[0].len()), "same segment count: {starts:?}");
    for s in &starts {
        for (a, b) in s.iter().zip(&starts[0]) {
            assert!((a - b).abs() < 0.002, "segments start at the same times: {starts:?}");
        }
    }

    // Poster (largest rendition's size), sprite sheet (10x10 thumbnails) and storyboard.
    let (top_w, top_h) = sizes.values().max_by_key(|(w, h)| w * h).copied().unwrap();
    let poster = video_stream(&ffprobe(&live.join("poster.jpg"))).clone();
    assert_eq!(
        (poster["width"].as_u64().unwrap(), poster["height"].as_u64().unwrap()),
        (top_w.into(), top_h.into())
    );
    let cues = parse_vtt(&std::fs::read_to_string(live.join("storyboard.vtt")).unwrap()).unwrap();
    // One thumbnail every 2 s at least (short videos), several sheets when needed.
    assert_eq!(cues.len() as f64, (duration / 2.0).ceil());
    assert_eq!(cues[0].0, 0);
    assert!(cues.windows(2).all(|c| c[0].1 == c[1].0), "no gaps");
    let end = cues.last().unwrap().1 as f64 / 1000.0;
    assert!((end - duration).abs() < 0.05, "covers the whole duration");
    let (uri, xywh) = cues.last().unwrap().2.split_once("#xywh=").unwrap();
    assert!(uri.ends_with("/sprites_0.jpg"), "{uri}");
    let sprites = video_stream(&ffprobe(&root.join(uri))).clone();
    let xywh: Vec<u64> = xywh.split(',').map(|n| n.parse().unwrap()).collect();
    assert_eq!(
        xywh[0] + xywh[2],
        sprites["width"].as_u64().unwrap(),
        "the last cue ends the sheet"
    );
    assert_eq!(xywh[1] + xywh[3], sprites["height"].as_u64().unwrap());
    check_iframes(&root, &master_text, master.len(), scratch.path());
    assert!(root.join("complete.json").exists(), "the completion marker");
    sizes
}

/// Every video variant has an I-frame playlist in the master, and each of its entries (the
/// byte range behind the rendition's init segment) decodes as one key frame.
fn check_iframes(root: &Path, master_text: &str, variants: usize, scratch: &Path) {
    let lines: Vec<_> = master_text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-I-FRAME-STREAM-INF:"))
        .map(attributes)
        .collect();
    assert_eq!(lines.len(), variants, "one I-frame playlist per variant");
    for attrs in lines {
        assert!(attrs["BANDWIDTH"].parse::<u64>().unwrap() > 0);
        assert!(!attrs["CODECS"].contains("mp4a"), "video only: {attrs:?}");
        let uri = &attrs["URI"];
        let dir = root.join(Path::new(uri).parent().unwrap());
        let text = std::fs::read_to_string(root.join(uri)).unwrap();
        assert!(text.contains("#EXT-X-I-FRAMES-ONLY"), "{uri}");
        let init = text.split("#EXT-X-MAP:URI=\"").nth(1).unwrap().split('"').next().unwrap();
        let init = std::fs::read(dir.join(init)).unwrap();
        let mut lines = text.lines();
        let mut entries = 0;
        while let Some(line) = lines.next() {
            let Some(range) = line.strip_prefix("#EXT-X-BYTERANGE:") else { continue };
            let (len, off) = range.split_once('@').unwrap();
            let (len, off): (usize, usize) = (len.parse().unwrap(), off.parse().unwrap());
            let seg = std::fs::read(dir.join(lines.next().unwrap())).unwrap();
            let mut bytes = init.clone();
            bytes.extend_from_slice(&seg[off..off + len]);
            let cut = scratch.join(format!("iframe-{entries}.mp4"));
            std::fs::write(&cut, bytes).unwrap();
            let out = std::process::Command::new("ffprobe")
                .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame"])
                .args(["-of", "csv=p=0"])
                .arg(&cut)
                .output()
                .unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            let frames: Vec<_> = text.split_whitespace().map(|f| f.split(',').next()).collect();
            assert_eq!(frames, [Some("1")], "{uri} #{entries}: one key frame");
            entries += 1;
        }
        assert!(entries > 0, "{uri}: entries");
    }
}

fn small(settings: TranscoderSettings) -> TranscoderSettings {
    TranscoderSettings { segment_secs: 2, ..settings }
}

#[tokio::test]
async fn a_480x270_source_becomes_one_270p_rendition_with_poster_storyboard_and_events() {
    let env = env().await;
    env.request("v360", &VideoSpec::new(480, 270, 3.0).fps(15)).await;
    let mut w = env.worker(small(TranscoderSettings::for_test()), "w1").await;
    let Outcome::Completed { renditions, cpu_seconds, .. } = run_to_end(&mut w).await else {
        panic!("not completed")
    };
    assert_eq!(renditions, ["270p"]);
    assert!(cpu_seconds > 0.0, "CPU time measured");
    let sizes = check_hls(&env, "v360", 3.0, true);
    assert_eq!(sizes.into_iter().collect::<Vec<_>>(), [("270p".to_string(), (480, 270))]);
    assert_eq!(
        env.phases("v360").await,
        [
            "transcode.requested",
            "transcode.started",
            // Playable first, by stream copy of the H.264 source, then the encoded rung.
            "transcode.playable",
            "transcode.rendition_completed",
            "transcode.completed",
            "ready.published"
        ]
    );
    let completed = &env.events("v360", Kind::Transcode, "completed").await[0]["data"];
    assert_eq!(completed["encoder"], "libx264");
    assert!(completed["renditions"][0]["bytes"].as_u64().unwrap() > 10_000);
    let audio = &completed["audio"];
    assert_eq!(audio["codecs"], "mp4a.40.2", "the shared audio is billed once: {completed}");
    let audio_bytes = audio["bytes"].as_u64().unwrap();
    // The audio item's files carry its attempt's token: `a-<token>/audio/`.
    let live = env.live_dir("v360");
    let item = std::fs::read_dir(&live)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("a-"))
        .expect("the audio item's dir");
    let on_disk = common::dir_bytes(&item.join("audio"));
    assert_eq!(audio_bytes, on_disk, "audio bytes as written");
    assert!((completed["source_duration_secs"].as_f64().unwrap() - 3.0).abs() < 0.1);
    let ready = &env.events("v360", Kind::Ready, "published").await[0]["data"];
    assert_eq!(ready["poster"], "hls/acme/v360/poster.jpg");
    assert_eq!(ready["storyboard"], "hls/acme/v360/storyboard.vtt");
    let progress = env.last_progress("v360").await;
    assert_eq!(
        (progress["percent"].as_f64(), progress["stage"].as_str()),
        (Some(100.0), Some("done"))
    );
    assert_eq!(common::assert_events_match_schemas(&env).await, 5);
}

#[tokio::test]
async fn a_720p_source_gets_270p_to_720p_aligned_and_is_playable_before_the_ladder_ends() {
    let env = env().await;
    env.request("v720", &VideoSpec::new(1280, 720, 4.0).fps(15)).await;
    let mut w = env.worker(small(TranscoderSettings::for_test()), "w1").await;
    let Outcome::Completed { renditions, time_to_playable, wall, .. } = run_to_end(&mut w).await
    else {
        panic!("not completed")
    };
    assert_eq!(renditions, ["270p", "360p", "480p", "720p"]);
    assert!(time_to_playable < wall, "{time_to_playable:?} < {wall:?}");
    let sizes = check_hls(&env, "v720", 4.0, true);
    assert_eq!(sizes["480p"], (854, 480));
    assert_eq!(sizes["720p"], (1280, 720));
    // Playable (the source packaged by stream copy) before any rung was done.
    let phases = env.phases("v720").await;
    let playable = phases.iter().position(|p| p == "transcode.playable").unwrap();
    let renditions_done: Vec<usize> = phases
        .iter()
        .enumerate()
        .filter(|(_, p)| *p == "transcode.rendition_completed")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(renditions_done.len(), 4);
    assert!(playable < renditions_done[0], "{phases:?}");
    let ev = &env.events("v720", Kind::Transcode, "playable").await[0];
    assert_eq!(ev["data"]["renditions"], serde_json::json!(["source"]));
    assert_eq!(common::assert_events_match_schemas(&env).await, 8);
}

#[tokio::test]
async fn a_rotated_phone_video_gets_portrait_renditions() {
    let env = env().await;
    let coded = framelog_tests::media::generate_video(
        env.sources.path(),
        "phone.mp4",
        &VideoSpec::new(1280, 720, 2.0).fps(10),
    );
    let rotated = common::rotate(&coded, 90);
    env.request_file("vphone", &rotated).await;
    let mut w = env.worker(small(TranscoderSettings::for_test()), "w1").await;
    let Outcome::Completed { renditions, .. } = run_to_end(&mut w).await else {
        panic!("not completed")
    };
    assert_eq!(renditions, ["270p", "360p", "480p", "720p"]);
    let sizes = check_hls(&env, "vphone", 2.0, true);
    assert_eq!(sizes["360p"], (360, 640));
    assert_eq!(sizes["720p"], (720, 1280));
}

#[tokio::test]
async fn a_source_without_audio_is_transcoded_without_audio() {
    let env = env().await;
    env.request("vsilent", &VideoSpec::new(854, 480, 2.0).fps(10).without_audio()).await;
    let mut w = env.worker(small(TranscoderSettings::for_test()), "w1").await;
    let Outcome::Completed { renditions, .. } = run_to_end(&mut w).await else {
        panic!("not completed")
    };
    assert_eq!(renditions, ["270p", "360p", "480p"]);
    check_hls(&env, "vsilent", 2.0, false);
    let completed = &env.events("vsilent", Kind::Transcode, "completed").await[0]["data"];
    assert!(completed.get("audio").is_none(), "no audio rendition: {completed}");
    assert!(!env.live_dir("vsilent").join("audio").exists());
}
