//! The renderer's output read back with a real XML parser (quick-xml), not by string search.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

use super::*;

/// One element of a parsed document: its path of names from the root and its attributes.
#[derive(Debug)]
struct Element {
    path: Vec<String>,
    attrs: BTreeMap<String, String>,
    text: String,
}

/// Every element of `xml` in document order; panics on malformed XML.
fn parse(xml: &str) -> Vec<Element> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<usize> = Vec::new();
    let mut out: Vec<Element> = Vec::new();
    loop {
        let ev = reader.read_event().expect("well-formed XML");
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::End(_) => {
                stack.pop();
                (None, false)
            }
            Event::Text(t) => {
                if let Some(&i) = stack.last() {
                    out[i].text.push_str(&t.xml10_content().unwrap());
                }
                (None, false)
            }
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap();
                let c =
                    quick_xml::escape::resolve_predefined_entity(&name).expect("a known entity");
                if let Some(&i) = stack.last() {
                    out[i].text.push_str(c);
                }
                (None, false)
            }
            Event::Eof => break,
            _ => (None, false),
        };
        if let Some(e) = start {
            let mut path: Vec<String> =
                stack.last().map(|&i| out[i].path.clone()).unwrap_or_default();
            path.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
            let attrs = e
                .attributes()
                .map(|a| {
                    let a = a.unwrap();
                    let v = a.normalized_value(XmlVersion::Implicit1_0).unwrap().into_owned();
                    (String::from_utf8(a.key.as_ref().to_vec()).unwrap(), v)
                })
                .collect();
            out.push(Element { path, attrs, text: String::new() });
            if !empty {
                stack.push(out.len() - 1);
            }
        }
    }
    assert!(stack.is_empty(), "every element closed");
    out
}

fn named<'a>(doc: &'a [Element], name: &str) -> Vec<&'a Element> {
    doc.iter().filter(|e| e.path.last().is_some_and(|n| n == name)).collect()
}

fn video(id: &str, height: u32, bandwidth: u64, names: &[&str]) -> Track {
    Track {
        id: id.into(),
        base_url: format!("v/01/{id}/"),
        init: "init-f6.mp4".into(),
        segments: names.iter().zip([6.0, 6.0, 2.0]).map(|(n, d)| ((*n).to_owned(), d)).collect(),
        timescale: 15360,
        start: 0,
        bandwidth,
        kind: Kind::Video {
            codecs: "avc1.64001f".into(),
            width: height * 16 / 9,
            height,
            frame_rate: Some(29.97),
        },
    }
}

fn audio(lang: Option<&str>) -> Track {
    Track {
        id: "audio-0".into(),
        base_url: "v/01/a-1/audio/".into(),
        init: "init.mp4".into(),
        segments: vec![
            ("seg_00000.m4s".into(), 6.016),
            ("seg_00001.m4s".into(), 5.994667),
            ("seg_00002.m4s".into(), 2.010667),
        ],
        timescale: 48000,
        start: 0,
        bandwidth: 110_571,
        kind: Kind::Audio {
            codecs: "mp4a.40.2".into(),
            lang: lang.map(str::to_owned),
            label: "Track <1> & \"more\"".into(),
            channels: Some(2),
            main: true,
        },
    }
}

const CHUNKED: [&str; 3] = ["seg_00000-f6.m4s", "seg_00001-ac.m4s", "seg_00002-ac.m4s"];

#[test]
fn a_chunked_ladder_lists_its_segments_with_a_timeline_in_the_tracks_timescale() {
    let tracks = [video("720p", 720, 2_500_000, &CHUNKED), video("270p", 270, 300_000, &CHUNKED)];
    let doc = parse(&render(&tracks));
    let mpd = &named(&doc, "MPD")[0];
    assert_eq!(mpd.attrs["type"], "static");
    assert_eq!(mpd.attrs["profiles"], "urn:mpeg:dash:profile:full:2011");
    assert_eq!(mpd.attrs["mediaPresentationDuration"], "PT14.000S");
    let reps = named(&doc, "Representation");
    let ids: Vec<&str> = reps.iter().map(|r| r.attrs["id"].as_str()).collect();
    assert_eq!(ids, ["270p", "720p"], "one set, by ascending bandwidth");
    assert_eq!(reps[1].attrs["codecs"], "avc1.64001f");
    assert_eq!(
        (reps[1].attrs["width"].as_str(), reps[1].attrs["height"].as_str()),
        ("1280", "720")
    );
    assert_eq!(reps[1].attrs["frameRate"], "30000/1001");
    assert_eq!(named(&doc, "BaseURL")[1].text, "v/01/720p/");
    assert_eq!(named(&doc, "Initialization")[0].attrs["sourceURL"], "init-f6.mp4");
    let urls: Vec<&str> =
        named(&doc, "SegmentURL").iter().map(|u| u.attrs["media"].as_str()).collect();
    assert_eq!(&urls[..3], CHUNKED);
    let s = named(&doc, "S");
    let s: Vec<(Option<&str>, &str, Option<&str>)> = s[..2]
        .iter()
        .map(|e| {
            (
                e.attrs.get("t").map(String::as_str),
                e.attrs["d"].as_str(),
                e.attrs.get("r").map(String::as_str),
            )
        })
        .collect();
    assert_eq!(s, [(Some("0"), "92160", Some("1")), (None, "30720", None)]);
    assert_eq!(named(&doc, "SegmentList")[0].attrs["timescale"], "15360");
    assert!(named(&doc, "SegmentTemplate").is_empty());
}

#[test]
fn numbered_segments_get_a_template_and_audio_its_own_set_with_lang() {
    let names = ["seg_00000.m4s", "seg_00001.m4s", "seg_00002.m4s"];
    let doc = parse(&render(&[video("360p", 360, 400_000, &names), audio(Some("en"))]));
    assert_eq!(named(&doc, "MPD")[0].attrs["profiles"], "urn:mpeg:dash:profile:isoff-live:2011");
    assert_eq!(named(&doc, "MPD")[0].attrs["mediaPresentationDuration"], "PT14.021S");
    let templates = named(&doc, "SegmentTemplate");
    assert_eq!(templates.len(), 2);
    assert_eq!(templates[0].attrs["media"], "seg_$Number%05d$.m4s");
    assert_eq!(templates[0].attrs["startNumber"], "0");
    assert_eq!(templates[1].attrs["initialization"], "init.mp4");
    assert_eq!(templates[1].attrs["timescale"], "48000");
    let sets = named(&doc, "AdaptationSet");
    assert_eq!(sets.len(), 2);
    assert_eq!(
        (sets[1].attrs["contentType"].as_str(), sets[1].attrs["lang"].as_str()),
        ("audio", "en")
    );
    assert_eq!(named(&doc, "Label")[0].text, "Track <1> & \"more\"", "escaped and read back");
    assert_eq!(named(&doc, "Role")[0].attrs["value"], "main");
    assert_eq!(named(&doc, "AudioChannelConfiguration")[0].attrs["value"], "2");
    // The audio timeline: 6.016 s = 288768, 5.994667 s = 287744, 2.010667 s = 96512 units,
    // exactly the fragments' tfdt steps (0, 288768, 576512).
    let d: Vec<&str> = named(&doc, "S")[2..].iter().map(|e| e.attrs["d"].as_str()).collect();
    assert_eq!(d, ["288768", "287744", "96512"]);
    assert!(named(&doc, "SegmentList").is_empty());
    let untagged = parse(&render(&[audio(None)]));
    assert_eq!(named(&untagged, "AdaptationSet")[0].attrs["lang"], "und");
}

#[test]
fn codec_families_get_separate_sets() {
    let mut uhd = video("2160p", 2160, 12_000_000, &CHUNKED);
    uhd.kind = Kind::Video {
        codecs: "hvc1.2.4.L153.90".into(),
        width: 3840,
        height: 2160,
        frame_rate: Some(60.0),
    };
    let doc = parse(&render(&[video("720p", 720, 2_500_000, &CHUNKED), uhd]));
    let sets = named(&doc, "AdaptationSet");
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[1].attrs["maxHeight"], "2160");
    assert_eq!(named(&doc, "Representation")[1].attrs["frameRate"], "60");
}

#[test]
fn a_timeline_never_drifts_from_the_sum_of_its_segments() {
    // 1,000 segments of 180 frames at 30000/1001 fps: 6.006 s each, 540540 units of 90 kHz.
    // Each d is rounded on its own, so the 1,000th segment starts exactly where the media is.
    let segs: Vec<(String, f64)> = (0..1000).map(|k| (format!("s{k}"), 6.006000)).collect();
    let t = timeline(900, &segs, 90_000);
    assert_eq!(t, [S { t: Some(900), d: 540_540, r: 999 }]);
    let total: u64 = t.iter().map(|s| s.d * (u64::from(s.r) + 1)).sum();
    assert_eq!(total, 1000 * 6006 * 90);
    let uneven = [
        ("a".to_owned(), 6.0),
        ("b".to_owned(), 6.0),
        ("c".to_owned(), 1.5),
        ("d".to_owned(), 6.0),
    ];
    let t = timeline(0, &uneven, 1000);
    assert_eq!(
        t,
        [
            S { t: Some(0), d: 6000, r: 1 },
            S { t: None, d: 1500, r: 0 },
            S { t: None, d: 6000, r: 0 }
        ]
    );
}

#[test]
fn only_names_counting_up_by_one_make_a_template() {
    let seg = |names: &[&str]| names.iter().map(|n| ((*n).to_owned(), 6.0)).collect::<Vec<_>>();
    assert_eq!(template_start(&seg(&["seg_00003.m4s", "seg_00004.m4s"])), Some(3));
    assert_eq!(template_start(&seg(&["seg_00000.m4s", "seg_00002.m4s"])), None, "a gap");
    assert_eq!(template_start(&seg(&["seg_00000-ab.m4s"])), None);
    assert_eq!(template_start(&seg(&["seg_0000.m4s"])), None, "four digits");
    assert_eq!(template_start(&seg(&["seg_+0000.m4s"])), None);
    assert_eq!(template_start(&[]), None);
}

#[test]
fn frame_rates_are_integers_or_exact_fractions() {
    assert_eq!(frame_rate(30.0).as_deref(), Some("30"));
    assert_eq!(frame_rate(29.97).as_deref(), Some("30000/1001"));
    assert_eq!(frame_rate(23.976).as_deref(), Some("24000/1001"));
    assert_eq!(frame_rate(59.94).as_deref(), Some("60000/1001"));
    assert_eq!(frame_rate(12.5).as_deref(), Some("25/2"));
    assert_eq!(frame_rate(0.0), None);
    assert_eq!(frame_rate(f64::NAN), None);
    assert_eq!(iso_duration(14.0156), "PT14.016S");
}
