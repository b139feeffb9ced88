//! A whole job on a PQ HDR source (real nats-server, real ffmpeg): the job hands the probed
//! stream to its stages, so the published rendition, poster and sprite sheet are tone-mapped
//! 8-bit BT.709.

mod common;

use std::path::Path;
use std::process::Command;

use common::{env, ffprobe, run_to_end, video_stream};
use framelog_transcoder::{Outcome, TranscoderSettings};

/// Mean `SATAVG` of `path`'s frames (through `vf`).
fn saturation(path: &Path, vf: &str) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-vf", &format!("{vf}signalstats,metadata=print:file=-"), "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("lavfi.signalstats.SATAVG=")?.parse().ok())
        .collect();
    assert!(!v.is_empty());
    v.iter().sum::<f64>() / v.len() as f64
}

#[tokio::test]
async fn a_pq_source_is_published_tone_mapped_with_bt709_tags_poster_and_sprites_included() {
    let env = env().await;
    let source = env.sources.path().join("pq.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=25:duration=2")
        .args([
            "-vf",
            "zscale=tin=bt709:pin=bt709:min=bt709:rin=tv:t=smpte2084:p=bt2020:\
                m=bt2020nc:r=tv:npl=100,format=yuv420p10le",
        ])
        .args(["-c:v", "libx265", "-preset", "ultrafast", "-x265-params"])
        .arg("log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc")
        .args(["-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc"])
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    env.request_file("vpq", &source).await;
    let settings = TranscoderSettings { segment_secs: 2, ..TranscoderSettings::for_test() };
    let mut w = env.worker(settings, "w1").await;
    let Outcome::Completed { renditions, .. } = run_to_end(&mut w).await else {
        panic!("not completed")
    };
    assert_eq!(renditions, ["270p", "360p"]);
    let live = env.live_dir("vpq");
    let playlist = live.join("360p").join("playlist.m3u8");
    let probe = ffprobe(&playlist);
    let s = video_stream(&probe);
    assert_eq!(s["pix_fmt"], "yuv420p", "{s}");
    for key in ["color_primaries", "color_transfer", "color_space"] {
        assert_eq!(s[key], "bt709", "{key}: {s}");
    }
    // The source's samples merely cut to 8 bits: what the old ladder published.
    let untouched = saturation(&source, "format=yuv420p,");
    let rendition = saturation(&playlist, "");
    let poster = saturation(&live.join("poster.jpg"), "");
    let sprites = saturation(&live.join("sprites_0.jpg"), "");
    eprintln!("saturation: untouched {untouched:.1} rendition {rendition:.1} poster {poster:.1}");
    for (what, sat) in [("rendition", rendition), ("poster", poster), ("sprites", sprites)] {
        assert!(sat > 1.6 * untouched, "{what} saturation {sat} vs untouched {untouched}");
    }
}
