//! Generated test media (ffmpeg lavfi `testsrc2` + `sine`): small, deterministic, no fixtures
//! checked in.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What to generate.
#[derive(Debug, Clone)]
pub struct VideoSpec {
    pub width: u32,
    pub height: u32,
    pub secs: f64,
    pub fps: u32,
    pub audio: bool,
    /// Display rotation metadata (e.g. 90 for a portrait phone video), if any.
    pub rotation: Option<i32>,
}

impl VideoSpec {
    /// `w`x`h`, `secs` long, 30 fps, with audio, no rotation.
    pub fn new(width: u32, height: u32, secs: f64) -> VideoSpec {
        VideoSpec { width, height, secs, fps: 30, audio: true, rotation: None }
    }

    pub fn fps(mut self, fps: u32) -> Self {
        self.fps = fps;
        self
    }

    pub fn without_audio(mut self) -> Self {
        self.audio = false;
        self
    }

    pub fn rotated(mut self, degrees: i32) -> Self {
        self.rotation = Some(degrees);
        self
    }
}

/// Writes an H.264/AAC MP4 described by `spec` into `dir` and returns its path.
pub fn generate_video(dir: &Path, name: &str, spec: &VideoSpec) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"]).arg(format!(
        "testsrc2=size={}x{}:rate={}:duration={}",
        spec.width, spec.height, spec.fps, spec.secs
    ));
    if spec.audio {
        cmd.args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:sample_rate=48000:duration={}", spec.secs));
    }
    cmd.args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]);
    if spec.audio {
        cmd.args(["-c:a", "aac", "-b:a", "64k"]);
    }
    let encoded =
        if spec.rotation.is_some() { dir.join(format!("unrotated-{name}")) } else { out.clone() };
    cmd.arg(&encoded);
    let status = cmd.status().expect("running ffmpeg (install it with deploy/bootstrap.sh)");
    assert!(status.success(), "ffmpeg failed to generate {name}");
    if let Some(r) = spec.rotation {
        // ffmpeg 5.1 drops `rotate` metadata when encoding; a stream copy keeps it (as a
        // display matrix, like a phone's video).
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&encoded)
            .args(["-c", "copy", "-metadata:s:v:0", &format!("rotate={r}")])
            .arg(&out)
            .status()
            .expect("ffmpeg");
        assert!(status.success(), "ffmpeg failed to rotate {name}");
        let _ = std::fs::remove_file(&encoded);
    }
    out
}

/// Writes `len` bytes of deterministic pseudo-random data (not media) into `dir/name`.
pub fn generate_bytes(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    let out = dir.join(name);
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    buf.truncate(len);
    std::fs::write(&out, buf).expect("writing test bytes");
    out
}

/// A hostile source: a few KB of Matroska (three `w`x`h` frames at `fps`) whose last frame is
/// stamped at `declared_secs`, so ffprobe reports that duration and a transcoder that trusts
/// it encodes `declared_secs × fps` frames.
pub fn generate_duration_bomb(
    dir: &Path,
    name: &str,
    (width, height, fps): (u32, u32, u32),
    declared_secs: u64,
) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={width}x{height}:rate={fps}:duration={}", 3.0 / fps as f64))
        .arg("-vf")
        .arg(format!("setpts='if(eq(N,2),{declared_secs}/TB,PTS)'"))
        .args(["-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-pix_fmt", "yuv420p", "-f", "matroska"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg failed to generate {name}");
    out
}

/// A hostile "video": an HLS playlist naming `target` (a media file outside the upload) by
/// absolute path. ffmpeg with every demuxer enabled reads `target` through it.
pub fn write_hls_playlist_naming(dir: &Path, name: &str, target: &Path) -> PathBuf {
    let out = dir.join(name);
    let text = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\n{}\n#EXT-X-ENDLIST\n",
        target.display()
    );
    std::fs::write(&out, text).expect("writing the playlist");
    out
}

/// A hostile "video": an ffconcat list naming `target` (relative to `dir`, which the concat
/// demuxer's own `safe` check allows).
pub fn write_ffconcat_naming(dir: &Path, name: &str, target: &str) -> PathBuf {
    let out = dir.join(name);
    std::fs::write(&out, format!("ffconcat version 1.0\nfile '{target}'\n")).expect("writing");
    out
}

/// Writes a small MPEG-TS video (160x90, 1 s) into `dir/name`: a file some hostile input
/// points at.
pub fn generate_ts(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=160x90:rate=10:duration=1")
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg failed to generate {name}");
    out
}

/// Whether plain ffprobe (no fence) reads `path` as media with a video stream: proves a
/// hostile test input really is hostile before a test shows it refused.
pub fn unfenced_ffprobe_reads_video(path: &Path, extra: &[&str]) -> bool {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_type"])
        .args(extra)
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("video")
}

/// A tiny Matroska file (one 64x64 video frame) with `audio_streams` short silent audio tracks:
/// a container with more streams than any upload needs.
pub fn generate_many_streams(dir: &Path, name: &str, audio_streams: usize) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=64x64:rate=10:duration=0.2")
        .args(["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono"])
        .args(["-t", "0.2", "-map", "0:v"]);
    for _ in 0..audio_streams {
        cmd.args(["-map", "1:a"]);
    }
    cmd.args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "pcm_s16le", "-f", "matroska"])
        .arg(&out);
    assert!(cmd.status().expect("ffmpeg").success(), "ffmpeg failed to generate {name}");
    out
}
