//! Helpers of the real-world acceptance tests (`real_world_video.rs`, `real_world_audio.rs`):
//! one corpus source (`framelog_tests::corpus`) through the real transcoder, then the published
//! HLS asset read back with ffmpeg and ffprobe only (the master is split into lines here, but
//! every media property comes from ffprobe or a decode, never from our playlist parser).

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use framelog_core::media::source_key;
use framelog_events::Kind;
use framelog_tests::corpus::{self, Class, Source};
use framelog_transcoder::{Outcome, TranscoderSettings};
use serde_json::Value;

use super::common::{Env, run_to_end};

/// One AAC frame at 48 kHz: the audio's rounding in a duration.
pub const AAC_FRAME_SECS: f64 = 1024.0 / 48_000.0;

/// A published asset: the video's HLS root and what its master names.
pub struct Published {
    /// `hls/acme/<id>`: the master's URIs are relative to it.
    pub root: PathBuf,
    /// The master's text.
    pub master: String,
    /// `EXT-X-STREAM-INF` variants: (attributes, URI).
    pub variants: Vec<(BTreeMap<String, String>, String)>,
    /// `EXT-X-MEDIA` renditions (attributes, with `URI` when present), in master order.
    pub media: Vec<BTreeMap<String, String>>,
    scratch: tempfile::TempDir,
    /// Failed checks so far ([`Published::check`]).
    problems: RefCell<Vec<String>>,
}

/// Generates `class`, publishes its transcode request with ingest's probe (a probe failure is
/// the test's failure: ingest would refuse the upload), runs one job and asserts it completed
/// and the video was published.
pub async fn transcode(env: &Env, class: Class, settings: TranscoderSettings) -> Source {
    let source = corpus::generate(class, env.sources.path());
    let id = class.name();
    let probe = framelog_core::probe::probe(&source.path, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("ingest's probe refuses {id}: {e}"));
    let key = source_key("acme", id);
    env.store_source(&key, &source.path).await;
    env.publish_request("acme", id, &key, probe).await;
    let mut w = env.worker(settings, "w1").await;
    let outcome = run_to_end(&mut w).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{id}: {outcome:?}");
    assert_eq!(env.events(id, Kind::Ready, "published").await.len(), 1, "{id}: ready");
    source
}

/// Test settings with 2 s segments (GOPs are 2 s).
pub fn settings() -> TranscoderSettings {
    TranscoderSettings { segment_secs: 2, ..TranscoderSettings::for_test() }
}

/// Splits `NAME=value,NAME="quoted, value"` into a map (quotes removed).
pub fn attributes(list: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = list;
    while let Some((name, after)) = rest.split_once('=') {
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (&q[..end], q[end..].trim_start_matches('"').trim_start_matches(','))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], after[end..].trim_start_matches(','))
        };
        out.insert(name.trim().to_owned(), value.to_owned());
        rest = next;
    }
    out
}

/// Reads the live master of `id`.
pub fn published(env: &Env, id: &str) -> Published {
    let root = env.media(&format!("hls/acme/{id}"));
    let master = std::fs::read_to_string(env.live_dir(id).join("master.m3u8")).unwrap();
    let (mut variants, mut media) = (Vec::new(), Vec::new());
    let mut lines = master.lines();
    while let Some(line) = lines.next() {
        if let Some(a) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let uri = lines.next().expect("a URI after EXT-X-STREAM-INF").trim().to_owned();
            variants.push((attributes(a), uri));
        } else if let Some(a) = line.strip_prefix("#EXT-X-MEDIA:") {
            media.push(attributes(a));
        }
    }
    assert!(!variants.is_empty(), "{id}: a master with variants:\n{master}");
    let scratch = tempfile::tempdir().unwrap();
    Published { root, master, variants, media, scratch, problems: RefCell::default() }
}

/// The extent of one stream kind of a playlist: (first pts, end of the last packet).
#[derive(Debug, Clone, Copy)]
pub struct Extent {
    pub start: f64,
    pub end: f64,
    pub packets: usize,
}

impl Extent {
    pub fn secs(&self) -> f64 {
        self.end - self.start
    }
}

impl Published {
    /// Records a failed check and goes on, so one run lists every problem of a class (see
    /// [`Published::finish`]).
    pub fn check(&self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.problems.borrow_mut().push(problem());
        }
    }

    /// Fails the test with every problem recorded.
    pub fn finish(self) {
        let problems = self.problems.into_inner();
        assert!(problems.is_empty(), "{} problem(s):\n- {}", problems.len(), problems.join("\n- "));
    }

    /// Every media playlist the master names: the variants', then the renditions'.
    pub fn playlists(&self) -> Vec<String> {
        let mut out: Vec<String> = self.variants.iter().map(|(_, u)| u.clone()).collect();
        for m in &self.media {
            if let Some(u) = m.get("URI")
                && !out.contains(u)
            {
                out.push(u.clone());
            }
        }
        out
    }

    /// Video variants (those with a RESOLUTION), highest BANDWIDTH last.
    pub fn video_variants(&self) -> Vec<String> {
        let mut v: Vec<_> =
            self.variants.iter().filter(|(a, _)| a.contains_key("RESOLUTION")).collect();
        v.sort_by_key(|(a, _)| a["BANDWIDTH"].parse::<u64>().unwrap_or(0));
        v.into_iter().map(|(_, u)| u.clone()).collect()
    }

    /// The `EXT-X-MEDIA TYPE=AUDIO` renditions, in master order.
    pub fn audio_media(&self) -> Vec<&BTreeMap<String, String>> {
        self.media.iter().filter(|m| m.get("TYPE").map(String::as_str) == Some("AUDIO")).collect()
    }

    /// Decodes `uri` with `ffmpeg -v error -i <uri> -f null -` from the HLS root; checks exit 0
    /// and nothing on stderr.
    pub fn check_decodes(&self, uri: &str) {
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-i", uri, "-f", "null", "-"])
            .current_dir(&self.root)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        self.check(out.status.success() && err.trim().is_empty(), || {
            format!("{uri} decodes with errors: {}", err.trim())
        });
    }

    /// ffprobe of the playlist's packets of `select` (`v:0`, `a:0`); None when it has none.
    pub fn extent(&self, uri: &str, select: &str) -> Option<Extent> {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", select])
            .args(["-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", uri])
            .current_dir(&self.root)
            .output()
            .unwrap();
        assert!(out.status.success(), "ffprobe {uri}: {}", String::from_utf8_lossy(&out.stderr));
        let (mut start, mut end, mut packets) = (f64::MAX, f64::MIN, 0);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut f = line.split(',');
            let (Some(Ok(pts)), d) = (f.next().map(str::parse::<f64>), f.next()) else { continue };
            let d = d.and_then(|d| d.parse::<f64>().ok()).unwrap_or(0.0);
            start = start.min(pts);
            end = end.max(pts + d);
            packets += 1;
        }
        (packets > 0).then_some(Extent { start, end, packets })
    }

    /// Keyframe times of the playlist's video.
    pub fn keyframes(&self, uri: &str) -> Vec<f64> {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", uri])
            .current_dir(&self.root)
            .output()
            .unwrap();
        let mut k: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(','))
            .filter(|(_, flags)| flags.contains('K'))
            .filter_map(|(pts, _)| pts.parse().ok())
            .collect();
        k.sort_by(f64::total_cmp);
        k
    }

    /// The playlist's `#EXTINF` durations (plain text lines, not our parser).
    pub fn segment_durations(&self, uri: &str) -> Vec<f64> {
        let text = std::fs::read_to_string(self.root.join(uri)).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|d| d.split(',').next().unwrap().parse().unwrap())
            .collect()
    }

    /// ffprobe (streams, format and the first frame) of the playlist's init segment followed by
    /// its first media segment: the codec parameters and tags as written.
    pub fn first_segment(&self, uri: &str) -> Value {
        let path = self.root.join(uri);
        let dir = path.parent().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let init = text
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MAP:"))
            .map(|a| attributes(a)["URI"].clone())
            .expect("an fMP4 playlist with EXT-X-MAP");
        let first = text.lines().find(|l| !l.starts_with('#') && !l.trim().is_empty()).unwrap();
        let mut bytes = std::fs::read(dir.join(&init)).unwrap();
        bytes.extend(std::fs::read(dir.join(first)).unwrap());
        let joined = self.scratch.path().join(format!("{}.mp4", uri.replace('/', "_")));
        std::fs::write(&joined, bytes).unwrap();
        corpus::ffprobe_json(&joined, &["-read_intervals", "%+#1", "-show_frames"])
    }

    /// The first segment's video stream (with a `frame` field: its first decoded frame).
    pub fn video_stream(&self, uri: &str) -> Value {
        let p = self.first_segment(uri);
        let mut v = p["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == "video")
            .unwrap_or_else(|| panic!("{uri}: a video stream"))
            .clone();
        let frame =
            p["frames"].as_array().and_then(|f| f.iter().find(|f| f["media_type"] == "video"));
        v["frame"] = frame.cloned().unwrap_or(Value::Null);
        v
    }

    /// The first segment's audio stream.
    pub fn audio_stream(&self, uri: &str) -> Value {
        let p = self.first_segment(uri);
        p["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == "audio")
            .unwrap_or_else(|| panic!("{uri}: an audio stream"))
            .clone()
    }

    /// The checks every class shares: every playlist the master names decodes with no ffmpeg
    /// error, and its video and audio each last the source's duration, within one frame of the
    /// output plus two AAC frames (an encoder's padding and priming): `tolerance`.
    pub fn check_plays_whole(&self, source: &Source) {
        let frame = source.frame_rate.map_or(0.0, |f| 1.0 / f);
        let tolerance = frame + 2.0 * AAC_FRAME_SECS;
        let want = source.duration_secs;
        for uri in self.playlists() {
            self.check_decodes(&uri);
            let video = self.extent(&uri, "v:0");
            let audio = self.extent(&uri, "a:0");
            self.check(video.is_some() || audio.is_some(), || format!("{uri}: no packets"));
            for (kind, e) in [("video", video), ("audio", audio)] {
                if let Some(e) = e {
                    self.check((e.secs() - want).abs() <= tolerance, || {
                        format!(
                            "{uri}: {kind} lasts {:.3} s, the source {want:.3} s (± {tolerance:.3})",
                            e.secs()
                        )
                    });
                }
            }
        }
    }
}

/// `num/den` or a plain number.
pub fn rate(v: &Value) -> f64 {
    let s = v.as_str().unwrap_or("0/1");
    match s.split_once('/') {
        Some((n, d)) => n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap().max(1e-9),
        None => s.parse().unwrap(),
    }
}

/// (width, height) of an ffprobe stream.
pub fn size(v: &Value) -> (u32, u32) {
    (v["width"].as_u64().unwrap() as u32, v["height"].as_u64().unwrap() as u32)
}

/// signalstats of the first decoded frame of `input` through `filter` (e.g. a reference
/// tone-map): (YAVG, SATAVG), 8-bit scale.
pub fn frame_stats(input: &Path, filter: &str, cwd: &Path) -> (f64, f64) {
    let vf = format!("{filter}signalstats,metadata=print:file=-");
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-frames:v", "1", "-vf", &vf, "-f", "null", "-"])
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(out.status.success(), "signalstats: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |key: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("lavfi.signalstats.{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .parse()
            .unwrap()
    };
    (get("YAVG"), get("SATAVG"))
}

/// The dominant tone of the playlist's audio, from zero crossings of its decoded mono PCM.
pub fn tone_hz(root: &Path, uri: &str) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i", uri, "-map", "0:a:0"])
        .args(["-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "decoding {uri}: {}", String::from_utf8_lossy(&out.stderr));
    let samples: Vec<i16> =
        out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let loud: Vec<i16> = samples.iter().copied().filter(|s| s.unsigned_abs() > 64).collect();
    let crossings = loud.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (loud.len() as f64 / 48_000.0)
}

/// ffmpeg `idet`'s multi-frame verdict on the playlist's video: (interlaced frames, progressive
/// frames). Combing (fields 1/50 s apart woven in one frame) counts as interlaced.
pub fn idet(root: &Path, uri: &str) -> (u64, u64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "info", "-i", uri, "-map", "0:v:0"])
        .args(["-vf", "idet", "-f", "null", "-"])
        .current_dir(root)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("Multi frame detection:")).expect("idet's verdict");
    let count = |key: &str| -> u64 {
        let after = line.split(key).nth(1).unwrap().trim_start();
        after.split_whitespace().next().unwrap().parse().unwrap()
    };
    (count("TFF:") + count("BFF:"), count("Progressive:"))
}
