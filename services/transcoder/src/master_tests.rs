use super::*;

fn v(uri: &str, bw: u64, w: u32, h: u32) -> Variant {
    Variant {
        uri: uri.into(),
        bandwidth: bw,
        average_bandwidth: bw * 8 / 10,
        width: w,
        height: h,
        codecs: "avc1.64001f".into(),
        frame_rate: 30000.0 / 1001.0,
    }
}

fn a(uri: &str, group: &str, name: &str, lang: Option<&str>, ch: u32, bw: u64) -> AudioMedia {
    AudioMedia {
        uri: uri.into(),
        group: group.into(),
        name: name.into(),
        language: lang.map(str::to_owned),
        channels: ch,
        bandwidth: bw,
        average_bandwidth: bw - 1000,
        codecs: "mp4a.40.2".into(),
    }
}

fn ladder() -> Vec<Variant> {
    vec![
        v("1080p/playlist.m3u8", 6_000_000, 1920, 1080),
        v("480p/playlist.m3u8", 1_700_000, 854, 480),
        v("360p/playlist.m3u8", 900_000, 640, 360),
        v("720p/playlist.m3u8", 3_000_000, 1280, 720),
    ]
}

#[test]
fn the_mid_rung_comes_first_then_the_rest_ascending() {
    let order: Vec<_> = play_order(&ladder()).iter().map(|v| v.height).collect();
    assert_eq!(order, [720, 360, 480, 1080]);
    let small = [v("b", 2, 640, 360), v("a", 1, 426, 240)];
    let order: Vec<_> = play_order(&small).iter().map(|v| v.height).collect();
    assert_eq!(order, [360, 240], "the tallest at or under 720p");
    let big = [v("b", 2, 3840, 2160), v("a", 1, 1920, 1080)];
    let order: Vec<_> = play_order(&big).iter().map(|v| v.height).collect();
    assert_eq!(order, [1080, 2160], "none at or under 720p: the lowest");
    assert!(play_order(&[]).is_empty());
}

#[test]
fn every_language_is_a_rendition_of_one_group_and_the_first_is_the_default() {
    let audio = [
        a("audio/playlist.m3u8", "audio", "Français", Some("fr"), 2, 130_000),
        a("audio_1/playlist.m3u8", "audio", "English", Some("en"), 2, 140_000),
    ];
    let text = render_master(&ladder(), &audio);
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"));
    let media = parse_master_media(&text);
    assert_eq!(media.len(), 2);
    assert_eq!(media[0]["TYPE"], "AUDIO");
    assert_eq!(media[0]["GROUP-ID"], "audio");
    assert_eq!(media[0]["NAME"], "Français");
    assert_eq!(media[0]["LANGUAGE"], "fr");
    assert_eq!(media[0]["URI"], "audio/playlist.m3u8");
    assert_eq!((media[0]["DEFAULT"].as_str(), media[0]["CHANNELS"].as_str()), ("YES", "2"));
    assert_eq!((media[1]["DEFAULT"].as_str(), media[1]["AUTOSELECT"].as_str()), ("NO", "YES"));
    assert_eq!(media[1]["LANGUAGE"], "en");

    let entries = parse_master(&text).unwrap();
    assert_eq!(entries.len(), 5, "four video variants and one audio-only");
    assert!(entries.iter().all(|(a, _)| a["AUDIO"] == "audio"), "every variant names it");
    let (attrs, uri) = &entries[0];
    assert_eq!(uri, "720p/playlist.m3u8");
    assert_eq!(attrs["BANDWIDTH"], "3140000", "the video plus the largest audio peak");
    assert_eq!(attrs["AVERAGE-BANDWIDTH"], (2_400_000 + 139_000).to_string());
    assert_eq!(attrs["RESOLUTION"], "1280x720");
    assert_eq!(attrs["CODECS"], "avc1.64001f,mp4a.40.2", "quoted value with a comma");
    assert_eq!(attrs["FRAME-RATE"], "29.970");
    assert_eq!(attrs["VIDEO-RANGE"], "SDR");
    assert_eq!(entries[1].1, "360p/playlist.m3u8");
    let (attrs, uri) = &entries[4];
    assert!(!is_video(&entries[4]) && entries[..4].iter().all(is_video));
    assert_eq!(uri, "audio/playlist.m3u8", "the audio-only variant plays the default");
    assert_eq!((attrs["BANDWIDTH"].as_str(), attrs["CODECS"].as_str()), ("130000", "mp4a.40.2"));
    assert!(!attrs.contains_key("VIDEO-RANGE"));
}

#[test]
fn multichannel_is_a_second_group_with_every_variant_listed_again_after_stereo() {
    let audio = [
        a("audio/playlist.m3u8", "audio", "English", Some("en"), 2, 130_000),
        a("audio_mc/playlist.m3u8", "audio-mc", "English", Some("en"), 6, 390_000),
    ];
    let entries = parse_master(&render_master(&ladder(), &audio)).unwrap();
    let groups: Vec<_> = entries.iter().map(|(a, _)| a["AUDIO"].as_str()).collect();
    assert_eq!(
        groups,
        [
            "audio", "audio", "audio", "audio", "audio-mc", "audio-mc", "audio-mc", "audio-mc",
            "audio", "audio-mc"
        ]
    );
    assert_eq!(entries[4].1, "720p/playlist.m3u8");
    assert_eq!(entries[4].0["BANDWIDTH"], "3390000");
    assert_eq!(entries[9].1, "audio_mc/playlist.m3u8");
}

#[test]
fn a_silent_source_has_no_audio_and_an_audio_only_source_no_video() {
    let silent = render_master(&ladder(), &[]);
    assert!(parse_master_media(&silent).is_empty());
    let entries = parse_master(&silent).unwrap();
    assert_eq!(entries.len(), 4);
    assert!(entries.iter().all(|(a, _)| !a.contains_key("AUDIO") && a["CODECS"] == "avc1.64001f"));

    let audio = [a("audio/playlist.m3u8", "audio", "English", Some("en"), 2, 130_000)];
    let only = render_master(&[], &audio);
    let entries = parse_master(&only).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1, "audio/playlist.m3u8");
    assert!(!only.contains("RESOLUTION"));
}

#[test]
fn a_master_without_variants_or_header_is_refused() {
    assert_eq!(parse_master("#EXTM3U\n"), Err(PlaylistError::Empty));
    assert_eq!(parse_master("x\n"), Err(PlaylistError::NotHls));
    assert!(matches!(parse_master("#EXTM3U\nx.m3u8\n"), Err(PlaylistError::Bad { line: 2, .. })));
}
