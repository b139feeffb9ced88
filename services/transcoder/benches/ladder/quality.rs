//! Quality and size per rung, old rate control (the seed's one-pass ABR: `-b:v` at the rung's
//! nominal rate under the same VBV cap) against new (capped CRF), on two kinds of generated
//! 1080p30 content: static slides (a picture that changes every 3 s) and high motion (testsrc2
//! panning 25 px a frame under film-grain-like temporal noise). Each rung is encoded alone with
//! the arguments [`rate::stream_args`] gives, then compared with ffmpeg's `ssim` and `psnr`
//! filters against the source scaled to the rung.

use std::path::Path;
use std::process::Command;

use framelog_transcoder::Encoder;
use framelog_transcoder::ladder::{LadderSource, select_profiles};
use framelog_transcoder::profile::Profile;
use framelog_transcoder::rate::{self, RateControl};

const SECS: u32 = 6;

/// The two contents, as lavfi graphs.
const CONTENTS: [(&str, &str); 2] = [
    ("static slides", "testsrc2=s=1920x1080:r=1/3,fps=30"),
    ("high motion", "testsrc2=s=1920x1080:r=30,scroll=h=0.013:v=0.007,noise=alls=10:allf=t"),
];

/// One encode's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    bytes: u64,
    ssim: f64,
    psnr: f64,
}

fn scale(p: &Profile) -> String {
    format!("fps={},scale={}:{},format=yuv420p", p.fps, p.width, p.height)
}

fn encode(graph: &str, p: &Profile, rc: RateControl, out: &Path) -> u64 {
    let encoder = Encoder::libx264("veryfast");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph])
        .args(["-t", &SECS.to_string(), "-vf", &scale(p)])
        .args(rate::stream_args(&encoder, 0, p, rc))
        .args(["-sc_threshold", "0", "-an"])
        .arg(out)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "encoding {} failed", p.name);
    std::fs::metadata(out).unwrap().len()
}

/// The number after `key` on ffmpeg's summary line that contains `line`.
fn figure(stderr: &str, line: &str, key: &str) -> f64 {
    stderr
        .lines()
        .filter(|l| l.contains(line))
        .find_map(|l| l.split(key).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {line} {key} in ffmpeg's output:\n{stderr}"))
}

fn compare(graph: &str, p: &Profile, encoded: &Path) -> (f64, f64) {
    let lavfi = format!(
        "[1:v]{},split[r1][r2];[0:v]format=yuv420p,split[d1][d2];[d1][r1]ssim;[d2][r2]psnr",
        scale(p)
    );
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(encoded)
        .args(["-f", "lavfi", "-i", graph, "-lavfi", &lavfi])
        .args(["-t", &SECS.to_string(), "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "comparing {}: {stderr}", p.name);
    (figure(&stderr, "SSIM", "All:"), figure(&stderr, "PSNR", "average:"))
}

fn measure(dir: &Path, graph: &str, p: &Profile, rc: RateControl) -> Figures {
    let out = dir.join(format!("{}-{rc:?}.mp4", p.name));
    let bytes = encode(graph, p, rc, &out);
    let (ssim, psnr) = compare(graph, p, &out);
    Figures { bytes, ssim, psnr }
}

fn kbps(bytes: u64) -> f64 {
    bytes as f64 * 8.0 / f64::from(SECS) / 1000.0
}

/// Runs every content × rung × rate control; prints the table and the `TABLE|` lines.
pub fn run(dir: &Path) {
    let profiles =
        select_profiles(&LadderSource { width: 1920, height: 1080, fps: 30.0, nominal_fps: None });
    println!("\n== quality and size per rung: ABR (old) vs capped CRF (new), {SECS} s 1080p30 ==");
    println!(
        "| {:<13} | {:<5} | {:>9} | {:>9} | {:>6} | {:>9} | {:>9} | {:>6} | {:>6} | {:>8} |",
        "content",
        "rung",
        "ABR kB",
        "CRF kB",
        "size",
        "ABR SSIM",
        "CRF SSIM",
        "ABR dB",
        "CRF dB",
        "CRF kb/s"
    );
    println!(
        "|{:-<15}|{:-<7}|{:->11}|{:->11}|{:->8}|{:->11}|{:->11}|{:->8}|{:->8}|{:->10}|",
        "", "", "", "", "", "", "", "", "", ""
    );
    let mut lines = Vec::new();
    for (content, graph) in CONTENTS {
        for p in &profiles {
            let old = measure(dir, graph, p, RateControl::Abr);
            let new = measure(dir, graph, p, RateControl::CappedCrf);
            let ratio = new.bytes as f64 / old.bytes as f64;
            println!(
                "| {content:<13} | {:<5} | {:>9.1} | {:>9.1} | {:>5.0}% | {:>9.4} | {:>9.4} | {:>6.2} | {:>6.2} | {:>8.0} |",
                p.name,
                old.bytes as f64 / 1000.0,
                new.bytes as f64 / 1000.0,
                100.0 * ratio,
                old.ssim,
                new.ssim,
                old.psnr,
                new.psnr,
                kbps(new.bytes),
            );
            lines.push(format!(
                "TABLE|rung bytes, {content}, {}|{:.0} kB (SSIM {:.4}, PSNR {:.2} dB)|{:.0} kB \
                 (SSIM {:.4}, PSNR {:.2} dB; one-pass ABR)|{ratio:.2}|< 1 static, ~1 motion",
                p.name,
                new.bytes as f64 / 1000.0,
                new.ssim,
                new.psnr,
                old.bytes as f64 / 1000.0,
                old.ssim,
                old.psnr,
            ));
        }
    }
    for l in lines {
        println!("{l}");
    }
}
