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
    p.assert_plays_whole(&s);
    let audio = p.audio_media();
    assert!(!audio.is_empty(), "an audio rendition:\n{}", p.master);
    let video = p.extent(&p.video_variants()[0], "v:0").unwrap();
    for m in audio {
        let a = p.extent(&m["URI"], "a:0").unwrap();
        assert!(
            a.end >= video.end - 2.0 * AAC_FRAME_SECS,
            "{}: audio ends at {:.3} s, video at {:.3} s",
            m["URI"],
            a.end,
            video.end
        );
    }
}

#[tokio::test]
async fn mono_22_05_khz_audio_comes_out_at_48_khz() {
    let env = env().await;
    let s = transcode(&env, Class::MonoLowRate, settings()).await;
    let p = published(&env, Class::MonoLowRate.name());
    p.assert_plays_whole(&s);
    let audio = p.audio_media();
    assert!(!audio.is_empty(), "an audio rendition:\n{}", p.master);
    for m in audio {
        let a = p.audio_stream(&m["URI"]);
        assert_eq!(a["sample_rate"], "48000", "{}: {a}", m["URI"]);
        assert_eq!(a["codec_name"], "aac");
        assert_eq!(a["profile"], "LC");
    }
}

#[tokio::test]
async fn two_languages_become_two_renditions_the_default_flagged_one_first() {
    let env = env().await;
    let s = transcode(&env, Class::TwoLanguages, settings()).await;
    let p = published(&env, Class::TwoLanguages.name());
    p.assert_plays_whole(&s);
    let audio = p.audio_media();
    assert_eq!(audio.len(), 2, "one EXT-X-MEDIA per language:\n{}", p.master);
    let lang = |i: usize| audio[i].get("LANGUAGE").map(String::as_str);
    assert_eq!((lang(0), lang(1)), (Some("fr"), Some("en")), "the default-flagged fra first");
    assert_eq!(audio[0].get("DEFAULT").map(String::as_str), Some("YES"));
    assert_ne!(audio[1].get("DEFAULT").map(String::as_str), Some("YES"), "one default");
    assert!(audio.iter().all(|m| m.get("NAME").is_some_and(|n| !n.is_empty())));
    assert_ne!(audio[0]["NAME"], audio[1]["NAME"], "names are unique");
    assert_eq!(audio[0].get("GROUP-ID"), audio[1].get("GROUP-ID"), "one group");
    // The renditions carry the right tracks: fra is the 660 Hz tone, eng the 440 Hz one.
    let (fr, en) = (tone_hz(&p.root, &audio[0]["URI"]), tone_hz(&p.root, &audio[1]["URI"]));
    assert!((fr - 660.0).abs() < 20.0 && (en - 440.0).abs() < 20.0, "fr {fr} Hz, en {en} Hz");
}

#[tokio::test]
async fn an_audio_only_source_becomes_an_audio_only_hls_asset() {
    let env = env().await;
    let s = transcode(&env, Class::AudioOnly, settings()).await;
    let p = published(&env, Class::AudioOnly.name());
    p.assert_plays_whole(&s);
    assert!(p.video_variants().is_empty(), "no video variant:\n{}", p.master);
    for uri in p.playlists() {
        assert!(p.extent(&uri, "v:0").is_none(), "{uri}: no video");
        assert!(p.extent(&uri, "a:0").is_some(), "{uri}: audio");
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
    assert!(!kinds.is_empty() && kinds.iter().all(|k| *k == "audio"), "{kinds:?}");
}
