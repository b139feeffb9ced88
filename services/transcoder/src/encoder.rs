//! Video encoders: hardware detection by a real one-frame trial encode (NVENC, then AMF, QSV,
//! VAAPI), falling back to libx264. Listing `-encoders` is not enough: ffmpeg builds include
//! hardware encoders that fail on machines without the device (STACK.md).

use std::path::Path;
use std::time::Duration;

use tracing::instrument;

/// The render node VAAPI uses.
pub const VAAPI_DEVICE: &str = "/dev/dri/renderD128";

/// Families of encoders, which differ in options and frame upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderKind {
    Nvenc,
    Amf,
    Qsv,
    Vaapi,
    /// libx264 (or any other software encoder named in the settings).
    Software,
}

/// A video encoder and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoder {
    /// The ffmpeg encoder name (`libx264`, `h264_nvenc` ...).
    pub codec: String,
    pub kind: EncoderKind,
    /// x264 preset (software only).
    pub preset: String,
}

impl std::fmt::Display for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.codec)
    }
}

impl Encoder {
    /// libx264 with `preset`.
    pub fn libx264(preset: &str) -> Encoder {
        Encoder { codec: "libx264".into(), kind: EncoderKind::Software, preset: preset.into() }
    }

    /// The encoder named `codec` (kind inferred from the name).
    pub fn named(codec: &str, preset: &str) -> Encoder {
        let kind = match codec {
            c if c.ends_with("_nvenc") => EncoderKind::Nvenc,
            c if c.ends_with("_amf") => EncoderKind::Amf,
            c if c.ends_with("_qsv") => EncoderKind::Qsv,
            c if c.ends_with("_vaapi") => EncoderKind::Vaapi,
            _ => EncoderKind::Software,
        };
        Encoder { codec: codec.into(), kind, preset: preset.into() }
    }

    /// The hardware H.264 encoders in the order they are tried.
    pub fn hardware_candidates() -> Vec<Encoder> {
        ["h264_nvenc", "h264_amf", "h264_qsv", "h264_vaapi"]
            .into_iter()
            .map(|c| Encoder::named(c, ""))
            .collect()
    }

    /// Options that go before the input (device setup).
    pub fn input_args(&self) -> Vec<String> {
        match self.kind {
            EncoderKind::Vaapi => vec!["-vaapi_device".into(), VAAPI_DEVICE.into()],
            _ => Vec::new(),
        }
    }

    /// Filters appended to each rendition's chain (pixel format and upload to the device).
    pub fn filter_tail(&self) -> &'static str {
        match self.kind {
            EncoderKind::Vaapi => "format=nv12,hwupload",
            EncoderKind::Qsv => "format=nv12",
            _ => "format=yuv420p",
        }
    }

    /// `-c:v` and the encoder's speed/quality options (shared by every rendition).
    pub fn codec_args(&self) -> Vec<String> {
        let mut a = vec!["-c:v".to_owned(), self.codec.clone()];
        let extra: &[&str] = match self.kind {
            EncoderKind::Software if self.codec == "libx264" => {
                a.extend(["-preset".to_owned(), self.preset.clone()]);
                &["-profile:v", "high"]
            }
            EncoderKind::Software => &[],
            EncoderKind::Nvenc => &["-preset", "p4", "-rc", "vbr", "-profile:v", "high"],
            EncoderKind::Amf => &["-quality", "balanced", "-rc", "vbr_peak"],
            EncoderKind::Qsv => &["-preset", "veryfast", "-profile:v", "high"],
            EncoderKind::Vaapi => &["-profile:v", "high"],
        };
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }
}

/// The outcome of one trial encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    pub encoder: Encoder,
    /// `Err(reason)` when the encoder cannot be used here.
    pub result: Result<(), String>,
}

/// What detection found: the chosen encoder and every trial made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub chosen: Encoder,
    pub trials: Vec<Trial>,
}

/// Encodes one black frame with `encoder`; `Err` carries ffmpeg's last error line.
#[instrument(skip_all, fields(encoder = %encoder.codec))]
pub async fn trial(ffmpeg: &Path, encoder: &Encoder) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(ffmpeg);
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args(encoder.input_args())
        .args(["-f", "lavfi", "-i", "color=c=black:s=256x144:r=30:d=1", "-frames:v", "1"])
        .args(["-vf", encoder.filter_tail()])
        .args(encoder.codec_args())
        .args(["-f", "null", "-"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .map_err(|_| "the trial encode timed out".to_owned())?
        .map_err(|e| format!("cannot run {}: {e}", ffmpeg.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("unknown error");
    Err(line.chars().take(300).collect())
}

/// Tries `candidates` in order and picks the first that works, else `fallback` (which is tried
/// too, so a broken ffmpeg shows up in the trials).
pub async fn detect(ffmpeg: &Path, candidates: &[Encoder], fallback: Encoder) -> Detection {
    let mut trials = Vec::new();
    for c in candidates {
        let result = trial(ffmpeg, c).await;
        let ok = result.is_ok();
        tracing::debug!(encoder = %c, ?result, "encoder trial");
        trials.push(Trial { encoder: c.clone(), result });
        if ok {
            return Detection { chosen: c.clone(), trials };
        }
    }
    let result = trial(ffmpeg, &fallback).await;
    trials.push(Trial { encoder: fallback.clone(), result });
    Detection { chosen: fallback, trials }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_names_map_to_their_families() {
        assert_eq!(Encoder::named("h264_nvenc", "").kind, EncoderKind::Nvenc);
        assert_eq!(Encoder::named("h264_vaapi", "").kind, EncoderKind::Vaapi);
        assert_eq!(Encoder::named("libx264", "fast").kind, EncoderKind::Software);
        let names: Vec<String> =
            Encoder::hardware_candidates().into_iter().map(|e| e.codec).collect();
        assert_eq!(names, ["h264_nvenc", "h264_amf", "h264_qsv", "h264_vaapi"]);
    }

    #[test]
    fn vaapi_uploads_frames_to_the_device_and_x264_gets_its_preset() {
        let v = Encoder::named("h264_vaapi", "");
        assert_eq!(v.input_args(), ["-vaapi_device", VAAPI_DEVICE]);
        assert!(v.filter_tail().ends_with("hwupload"));
        let x = Encoder::libx264("veryfast");
        assert_eq!(x.codec_args()[..4], ["-c:v", "libx264", "-preset", "veryfast"]);
    }

    #[tokio::test]
    async fn a_failing_trial_is_reported_unavailable_and_libx264_is_chosen() {
        let ffmpeg = Path::new("ffmpeg");
        let bogus = Encoder::named("h264_no_such_encoder", "");
        let d = detect(ffmpeg, std::slice::from_ref(&bogus), Encoder::libx264("veryfast")).await;
        assert_eq!(d.chosen, Encoder::libx264("veryfast"));
        assert_eq!(d.trials.len(), 2);
        assert_eq!(d.trials[0].encoder, bogus);
        let reason = d.trials[0].result.clone().unwrap_err();
        assert!(reason.contains("h264_no_such_encoder"), "{reason}");
        assert_eq!(d.trials[1].result, Ok(()), "libx264 is available");
    }

    #[tokio::test]
    async fn a_missing_ffmpeg_makes_every_trial_fail() {
        let r = trial(Path::new("/nonexistent/ffmpeg"), &Encoder::libx264("veryfast")).await;
        assert!(r.unwrap_err().contains("cannot run"));
    }
}
