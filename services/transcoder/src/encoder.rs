//! Video encoders: hardware detection by a real one-frame trial encode (NVENC, then AMF, QSV,
//! VAAPI), falling back to libx264. Listing `-encoders` is not enough: ffmpeg builds include
//! hardware encoders that fail on machines without the device (STACK.md).

use std::path::Path;
use std::time::Duration;

use tracing::instrument;

use crate::profile::VideoCodec;

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

    /// `-c:v` and the encoder's speed/quality options, for a one-stream encode (the trial).
    pub fn codec_args(&self) -> Vec<String> {
        self.options().into_iter().flat_map(|(k, v)| [format!("-{k}:v"), v]).collect()
    }

    /// [`Encoder::codec_args`] for output video stream `k` of a multi-stream encode
    /// (`-c:v:1 libx264 -preset:v:1 veryfast ...`), so renditions may differ in codec.
    pub fn stream_codec_args(&self, k: usize) -> Vec<String> {
        self.options().into_iter().flat_map(|(o, v)| [format!("-{o}:v:{k}"), v]).collect()
    }

    /// The same family's encoder for `codec`: `libx264` → `libx265`, `h264_nvenc` →
    /// `hevc_nvenc` ...; H.264 is this encoder itself. (Hardware HEVC is not trial-encoded.)
    pub fn for_codec(&self, codec: VideoCodec) -> Encoder {
        match codec {
            VideoCodec::H264 => self.clone(),
            VideoCodec::Hevc => {
                let name = match self.kind {
                    EncoderKind::Software => "libx265".to_owned(),
                    _ => self.codec.replacen("h264_", "hevc_", 1),
                };
                Encoder { codec: name, kind: self.kind, preset: self.preset.clone() }
            }
        }
    }

    /// Whether this encoder makes HEVC.
    pub fn is_hevc(&self) -> bool {
        self.codec == "libx265" || self.codec.starts_with("hevc_")
    }

    /// The `-level` value of H.264 level `idc` in this encoder's syntax: `4.2` for libx264,
    /// NVENC and AMF (named constants), `42` for QSV and VAAPI (the generic integer option).
    pub fn level_value(&self, idc: u8) -> String {
        match self.kind {
            EncoderKind::Qsv | EncoderKind::Vaapi => idc.to_string(),
            _ => format!("{}.{}", idc / 10, idc % 10),
        }
    }

    /// `(option, value)` pairs without their `-`: codec, preset, profile, rate-control mode.
    fn options(&self) -> Vec<(&'static str, String)> {
        let hevc = self.is_hevc();
        let profile = if hevc { "main" } else { "high" };
        let mut o = vec![("c", self.codec.clone())];
        let own = |o: &mut Vec<(&'static str, String)>, pairs: &[(&'static str, &str)]| {
            o.extend(pairs.iter().map(|(k, v)| (*k, v.to_string())));
        };
        match self.kind {
            EncoderKind::Software if self.codec == "libx264" || self.codec == "libx265" => {
                o.push(("preset", self.preset.clone()));
                own(&mut o, &[("profile", profile)]);
            }
            EncoderKind::Software => {}
            EncoderKind::Nvenc => {
                own(&mut o, &[("preset", "p4"), ("rc", "vbr"), ("profile", profile)])
            }
            EncoderKind::Amf => own(&mut o, &[("quality", "balanced"), ("rc", "vbr_peak")]),
            EncoderKind::Qsv => own(&mut o, &[("preset", "veryfast"), ("profile", profile)]),
            EncoderKind::Vaapi => own(&mut o, &[("profile", profile)]),
        }
        o
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
        assert_eq!(x.codec_args()[..4], ["-c:v", "libx264", "-preset:v", "veryfast"]);
    }

    #[test]
    fn each_stream_gets_its_own_codec_and_hevc_comes_from_the_same_family() {
        let x = Encoder::libx264("veryfast");
        assert_eq!(
            x.stream_codec_args(2),
            ["-c:v:2", "libx264", "-preset:v:2", "veryfast", "-profile:v:2", "high"]
        );
        let h = x.for_codec(VideoCodec::Hevc);
        assert_eq!(
            (h.codec.as_str(), h.kind, h.is_hevc()),
            ("libx265", EncoderKind::Software, true)
        );
        assert_eq!(h.stream_codec_args(0)[4..], ["-profile:v:0", "main"]);
        assert_eq!(x.for_codec(VideoCodec::H264), x);
        let nv = Encoder::named("h264_nvenc", "").for_codec(VideoCodec::Hevc);
        assert_eq!((nv.codec.as_str(), nv.kind), ("hevc_nvenc", EncoderKind::Nvenc));
        assert_eq!(
            Encoder::named("h264_vaapi", "").for_codec(VideoCodec::Hevc).codec,
            "hevc_vaapi"
        );
        assert_eq!(x.level_value(42), "4.2");
        assert_eq!(Encoder::named("h264_qsv", "").level_value(42), "42");
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
