//! Issue 15 acceptance, audio classes: short audio, mono 22.05 kHz, two languages, audio only.
//! Each through the real transcoder, read back with ffmpeg and ffprobe (see
//! `real_world_video.rs` for the video classes).

mod common;
#[path = "common/real_world.rs"]
mod real_world;

use common::env;
use framelog_tests::corpus::Class;
use real_world::{AAC_FRAME_SECS, published, settings, tone_hz, transcode};

#[tokio::test]
async fn audio_shorter_than_the_video_is_padded_to_the_video() {
    let env = env().await;
    let s = transcode(&env, Class::ShortAudio, settings()).await;
    let p = published(&env, Class::ShortAudio.name());
    // Includes: every audio playlist lasts the 3 s of video, not the source's 1.2 s.
    p.check_plays_whole(&s);
    let audio = p.audio_media();
    assert!(!audio.is_empty(), "an audio rendition:\n{}", p.master);
    let video = p.extent(&p.video_variants()[0], "v:0").unwrap();
    for m in audio {
        let a = p.extent(&m["URI"], "a:0").unwrap();
        // Durations, not end times: the video's first pts is late by x264's B-frame delay.
        let tolerance = 1.0 / 30.0 + 2.0 * AAC_FRAME_SECS;
        p.check(a.secs() >= video.secs() - tolerance, || {
            format!("{}: audio lasts {:.3} s, video {:.3} s", m["URI"], a.secs(), video.secs())
        });
    }
    p.finish();
}

#[tokio::test]
async fn mono_22_05_khz_audio_comes_out_at_48_khz() {
    let env = env().await;
    let s = transcode(&env, Class::MonoLowRate, settings()).await;
    let p = published(&env, Class::MonoLowRate.name());
    p.check_plays_whole(&s);
    let audio = p.audio_media();
    assert!(!audio.is_empty(), "an audio rendition:\n{}", p.master);
    for m in audio {
        let a = p.audio_stream(&m["URI"]);
        let uri = &m["URI"];
        p.check(a["sample_rate"] == "48000", || format!("{uri}: {} Hz", a["sample_rate"]));
        let (codec, profile) = (&a["codec_name"], &a["profile"]);
        p.check(*codec == "aac" && *profile == "LC", || format!("{uri}: {codec} {profile}"));
    }
    p.finish();
}

#[tokio::test]
async fn two_languages_become_two_renditions_the_default_flagged_one_first() {
    let env = env().await;
    let s = transcode(&env, Class::TwoLanguages, settings()).await;
    let p = published(&env, Class::TwoLanguages.name());
    p.check_plays_whole(&s);
    let audio = p.audio_media();
    p.check(audio.len() == 2, || {
        format!("{} audio EXT-X-MEDIA, not 2:\n{}", audio.len(), p.master)
    });
    if audio.len() == 2 {
        let attr = |i: usize, k: &str| audio[i].get(k).map(String::as_str);
        let langs = (attr(0, "LANGUAGE"), attr(1, "LANGUAGE"));
        p.check(langs == (Some("fr"), Some("en")), || {
            format!("LANGUAGE {langs:?}, not the default-flagged fra first, then eng")
        });
        p.check(attr(0, "DEFAULT") == Some("YES") && attr(1, "DEFAULT") != Some("YES"), || {
            "DEFAULT=YES on the first rendition only".into()
        });
        let names = (attr(0, "NAME"), attr(1, "NAME"));
        p.check(names.0.is_some_and(|n| !n.is_empty()) && names.0 != names.1, || {
            format!("NAME {names:?}: present and unique")
        });
        p.check(attr(0, "GROUP-ID") == attr(1, "GROUP-ID"), || "one audio group".into());
        // The renditions carry the right tracks: fra is the 660 Hz tone, eng the 440 Hz one.
        let (fr, en) = (tone_hz(&p.root, &audio[0]["URI"]), tone_hz(&p.root, &audio[1]["URI"]));
        p.check((fr - 660.0).abs() < 20.0 && (en - 440.0).abs() < 20.0, || {
            format!("first rendition {fr:.0} Hz (fra is 660), second {en:.0} Hz (eng is 440)")
        });
    }
    p.finish();
}

#[tokio::test]
async fn an_audio_only_source_becomes_an_audio_only_hls_asset() {
    let env = env().await;
    let s = transcode(&env, Class::AudioOnly, settings()).await;
    let p = published(&env, Class::AudioOnly.name());
    p.check_plays_whole(&s);
    p.check(p.video_variants().is_empty(), || format!("a video variant:\n{}", p.master));
    for uri in p.playlists() {
        p.check(p.extent(&uri, "v:0").is_none(), || format!("{uri}: has video"));
        p.check(p.extent(&uri, "a:0").is_some(), || format!("{uri}: has no audio"));
    }
    // ffprobe reads the master itself (as a player would) and finds audio only.
    let master = p.root.join("master-at-root.m3u8");
    std::fs::write(&master, &p.master).unwrap();
    let probed = framelog_tests::corpus::ffprobe_json(&master, &[]);
    let kinds: Vec<&str> = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap())
        .collect();
    p.check(!kinds.is_empty() && kinds.iter().all(|k| *k == "audio"), || {
        format!("the master's streams: {kinds:?}")
    });
    p.finish();
}
