//! Rendering with ffmpeg: the input (a rendition's init segment and the few segments that
//! hold the asked time or span, joined into one file in a scratch directory), the arguments
//! (pure: [`thumbnail_args`], [`animated_args`]) and one bounded run ([`run`]: a timeout, the
//! process killed when it passes or when the request goes away).
//!
//! ffmpeg reads only that scratch file (`-protocol_whitelist file`, the demuxer named), never
//! a URL. Without `-copyts` the joined file's first frame is at 0, so a time is given as its
//! offset from the first segment's start in the playlist.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::fit::Geometry;
use super::params::Format;

/// Half a millisecond less than the asked time still counts as at it (playlist durations are
/// printed to the microsecond, frame times are rationals).
const EPSILON: f64 = 0.0005;

/// Why a rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("ffmpeg failed ({status}): {stderr}")]
    Ffmpeg { status: String, stderr: String },
    #[error("ffmpeg ran longer than {0:?}")]
    Timeout(Duration),
    #[error("ffmpeg wrote no picture")]
    Empty,
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

impl RenderError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> RenderError {
        RenderError::Io { what: what.into(), source }
    }
}

/// The demuxer of a joined input: fMP4 when there is an init segment, else MPEG-TS.
pub fn demuxer(fmp4: bool) -> &'static str {
    if fmp4 { "mov" } else { "mpegts" }
}

fn head(input: &Path, fmp4: bool) -> Vec<String> {
    let mut a: Vec<String> = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        .into_iter()
        .map(String::from)
        .collect();
    a.extend(["-protocol_whitelist".into(), "file".into(), "-f".into(), demuxer(fmp4).into()]);
    a.push("-i".into());
    a.push(input.display().to_string());
    a.extend(["-map".into(), "0:v:0".into(), "-an".into(), "-sn".into(), "-dn".into()]);
    a
}

fn still_codec(format: Format) -> Vec<String> {
    let a: &[&str] = match format {
        Format::Jpg => &["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p", "-f", "image2"],
        Format::Png => &["-c:v", "png", "-f", "image2"],
        Format::Webp => &["-c:v", "libwebp", "-quality", "82", "-f", "webp"],
        Format::Gif => &["-c:v", "gif", "-f", "gif"],
    };
    a.iter().map(|s| s.to_string()).collect()
}

/// A thumbnail: the first frame at or after `offset` seconds into the input, through
/// `geometry`, one picture.
pub fn thumbnail_args(
    input: &Path,
    fmp4: bool,
    offset: f64,
    geometry: &Geometry,
    format: Format,
    out: &Path,
) -> Vec<String> {
    let mut a = head(input, fmp4);
    let at = (offset - EPSILON).max(0.0);
    a.push("-vf".into());
    a.push(format!("select='gte(t\\,{at:.6})',{}", geometry.filters()));
    a.extend(["-frames:v".into(), "1".into(), "-update".into(), "1".into()]);
    a.extend(still_codec(format));
    a.push(out.display().to_string());
    a
}

/// The last frame of the input (a time in the last frame's interval of the video, which no
/// frame at or after it holds): read from one second before the end, every frame written
/// over the same file.
pub fn last_frame_args(
    input: &Path,
    fmp4: bool,
    geometry: &Geometry,
    format: Format,
    out: &Path,
) -> Vec<String> {
    let mut a = head(input, fmp4);
    let i = a.iter().position(|s| s == "-i").expect("an input");
    a.splice(i..i, ["-sseof".to_string(), "-1".to_string()]);
    a.extend(["-vf".into(), geometry.filters(), "-update".into(), "1".into()]);
    a.extend(still_codec(format));
    a.push(out.display().to_string());
    a
}

/// The number of frames of an animation of `secs` at `fps`.
pub fn frame_count(secs: f64, fps: u32) -> u64 {
    ((secs * f64::from(fps)).round() as u64).max(1)
}

/// An animation of `[from, to)` seconds into the input at `fps`, `size` pixels, looping.
pub fn animated_args(
    input: &Path,
    fmp4: bool,
    (from, to): (f64, f64),
    size: (u32, u32),
    fps: u32,
    format: Format,
    out: &Path,
) -> Vec<String> {
    let mut a = head(input, fmp4);
    let (w, h) = size;
    let base = format!(
        "trim=start={:.6}:end={:.6},setpts=PTS-STARTPTS,fps={fps},scale={w}:{h}:flags=lanczos,setsar=1",
        (from - EPSILON).max(0.0),
        to
    );
    let frames = frame_count(to - from, fps).to_string();
    a.push("-vf".into());
    match format {
        Format::Webp => {
            a.push(base);
            a.extend(
                ["-frames:v", &frames, "-c:v", "libwebp_anim", "-quality", "75"].map(String::from),
            );
            a.extend(["-loop", "0", "-f", "webp"].map(String::from));
        }
        _ => {
            a.push(format!(
                "{base},split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=3"
            ));
            a.extend(["-frames:v", &frames, "-loop", "0", "-f", "gif"].map(String::from));
        }
    }
    a.push(out.display().to_string());
    a
}

/// Runs ffmpeg with `args` for at most `timeout`, then reads `out`.
#[tracing::instrument(skip_all, fields(out = %out.display()), err)]
pub async fn run(args: &[String], out: &Path, timeout: Duration) -> Result<Vec<u8>, RenderError> {
    let child = tokio::process::Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| RenderError::io("starting ffmpeg", e))?;
    let done = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| RenderError::Timeout(timeout))?
        .map_err(|e| RenderError::io("running ffmpeg", e))?;
    if !done.status.success() {
        let text = String::from_utf8_lossy(&done.stderr);
        let tail: String = text.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(RenderError::Ffmpeg { status: done.status.to_string(), stderr: tail });
    }
    match tokio::fs::read(out).await {
        Ok(b) if !b.is_empty() => Ok(b),
        Ok(_) => Err(RenderError::Empty),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RenderError::Empty),
        Err(e) => Err(RenderError::io(out.display().to_string(), e)),
    }
}

/// A scratch directory for one rendering, removed on drop.
pub fn scratch(root: &Path) -> Result<tempfile::TempDir, RenderError> {
    std::fs::create_dir_all(root).map_err(|e| RenderError::io(root.display().to_string(), e))?;
    tempfile::Builder::new()
        .prefix("img-")
        .tempdir_in(root)
        .map_err(|e| RenderError::io(root.display().to_string(), e))
}

/// The joined input's path in `dir`.
pub fn input_path(dir: &Path, fmp4: bool) -> PathBuf {
    dir.join(if fmp4 { "in.mp4" } else { "in.ts" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::fit::geometry;
    use crate::image::params::Fit;

    #[test]
    fn a_thumbnail_selects_the_frame_at_its_offset_and_reads_only_the_scratch_file() {
        let g = geometry((640, 360), Some(320), None, Fit::Preserve);
        let a = thumbnail_args(
            Path::new("/s/in.mp4"),
            true,
            1.5,
            &g,
            Format::Jpg,
            Path::new("/s/o.jpg"),
        );
        let line = a.join(" ");
        assert!(line.contains("-protocol_whitelist file -f mov -i /s/in.mp4"), "{line}");
        assert!(line.contains("select='gte(t\\,1.499500)',scale=320:180"), "{line}");
        assert!(line.ends_with(
            "-frames:v 1 -update 1 -c:v mjpeg -q:v 2 -pix_fmt yuvj420p -f image2 /s/o.jpg"
        ));
    }

    #[test]
    fn an_animation_has_exactly_its_frame_count() {
        assert_eq!(frame_count(2.0, 10), 20);
        assert_eq!(frame_count(0.05, 10), 1);
        let a = animated_args(
            Path::new("/s/in.ts"),
            false,
            (0.5, 2.5),
            (320, 180),
            10,
            Format::Gif,
            Path::new("/s/o.gif"),
        );
        let line = a.join(" ");
        assert!(line.contains("-f mpegts -i /s/in.ts"), "{line}");
        assert!(
            line.contains("trim=start=0.499500:end=2.500000,setpts=PTS-STARTPTS,fps=10"),
            "{line}"
        );
        assert!(line.contains("-frames:v 20 -loop 0 -f gif /s/o.gif"), "{line}");
    }
}
