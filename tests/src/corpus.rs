//! The real-world media corpus (issue 15): one small generated source per kind of file people
//! actually upload (phone, browser and broadcast recordings, editing exports, odd geometry and
//! odd audio). Everything is made with ffmpeg lavfi (`testsrc2`, `sine`) in a few seconds; no
//! fixtures are checked in.
//!
//! [`generate`] writes one [`Class`] into a directory and returns a [`Source`] saying what a
//! correct transcode of it must keep (duration, display size, frame rate, audio).
//! [`ffprobe_json`] reads any file back with ffprobe, for tests that check a property with a
//! tool nobody here wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One kind of real-world source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A phone video: HEVC (`hvc1`) 640x360 coded, shown portrait (rotation 90 as a display
    /// matrix, written by a stream copy), variable frame rate averaging ~30.02 fps (jittered
    /// timestamps on a 1/90000 time base), AAC stereo. 6 s (180 frames): long enough for three
    /// 2 s GOPs, so GOPs a hair short of 2 s show as doubled segments.
    PhoneVfrRotated,
    /// A phone HDR video: 10-bit HEVC Main 10, HLG (`arib-std-b67`), BT.2020 primaries and
    /// matrix, with matching x265 VUI; the picture is converted to HLG by zscale, so a correct
    /// tone-map gives back something close to the SDR `testsrc2`. AAC. 2 s.
    HdrHlg,
    /// As [`Class::HdrHlg`] with PQ (`smpte2084`, 100 nits nominal peak).
    HdrPq,
    /// A browser recording (MediaRecorder): VP8 + Opus WebM written to a pipe, so the header
    /// carries no duration. 2 s.
    WebmVp8,
    /// As [`Class::WebmVp8`] with VP9 + Opus.
    WebmVp9,
    /// A broadcast capture: MPEG-2 1920x1080i50 in MPEG-TS, really interlaced (each frame
    /// weaves two fields 1/50 s apart, `tinterlace`), coded interlaced (`+ilme+ildct`), flagged
    /// top field first (`tt`); 5.1 AC-3. 2 s. A correct transcode is progressive 50p. (1080
    /// lines, not 576, so the top rung is one whose frame-rate cap lets 50p through.)
    InterlacedTs,
    /// An editing export: ProRes 422 Proxy (`prores_ks`) at 24000/1001 fps with 24-bit PCM in a
    /// QuickTime `.mov`. 2 s.
    ProResPcm,
    /// An anamorphic SD file: 720x576 coded with SAR 64:45 (displayed 1024x576, 16:9), H.264.
    /// 2 s.
    Anamorphic,
    /// An ultrawide film crop: 1920x800 (2.4:1), H.264. 2 s. A correct ladder has a 1920-wide
    /// top rung.
    Ultrawide,
    /// Audio shorter than video: 3 s of video, the audio ends at 1.2 s (40%).
    ShortAudio,
    /// Mono audio at 22.05 kHz (an old camera or a voice memo). 2 s.
    MonoLowRate,
    /// Two audio tracks, `eng` (440 Hz) then `fra` (660 Hz); the SECOND is flagged default.
    /// 2 s.
    TwoLanguages,
    /// Audio only (a podcast or a song): AAC in `.m4a`, 3 s, no video stream.
    AudioOnly,
    /// 4K60: 3840x2160 at 60 fps, 1 s, H.264 (upscaled `testsrc2`, so it is cheap to make).
    Uhd4k60,
    /// A sub-second clip: 0.4 s (12 frames at 30 fps) with audio.
    SubSecond,
}

impl Class {
    /// Every class, in the order of the issue.
    pub const ALL: [Class; 15] = [
        Class::PhoneVfrRotated,
        Class::HdrHlg,
        Class::HdrPq,
        Class::WebmVp8,
        Class::WebmVp9,
        Class::InterlacedTs,
        Class::ProResPcm,
        Class::Anamorphic,
        Class::Ultrawide,
        Class::ShortAudio,
        Class::MonoLowRate,
        Class::TwoLanguages,
        Class::AudioOnly,
        Class::Uhd4k60,
        Class::SubSecond,
    ];

    /// A short name (also the file stem), e.g. `phone-vfr-rotated`.
    pub fn name(self) -> &'static str {
        match self {
            Class::PhoneVfrRotated => "phone-vfr-rotated",
            Class::HdrHlg => "hdr-hlg",
            Class::HdrPq => "hdr-pq",
            Class::WebmVp8 => "webm-vp8",
            Class::WebmVp9 => "webm-vp9",
            Class::InterlacedTs => "interlaced-ts",
            Class::ProResPcm => "prores-pcm",
            Class::Anamorphic => "anamorphic",
            Class::Ultrawide => "ultrawide",
            Class::ShortAudio => "short-audio",
            Class::MonoLowRate => "mono-22k",
            Class::TwoLanguages => "two-languages",
            Class::AudioOnly => "audio-only",
            Class::Uhd4k60 => "uhd-4k60",
            Class::SubSecond => "sub-second",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Class::WebmVp8 | Class::WebmVp9 => "webm",
            Class::InterlacedTs => "ts",
            Class::ProResPcm => "mov",
            Class::AudioOnly => "m4a",
            _ => "mp4",
        }
    }
}

/// A generated source and what a correct transcode of it keeps.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where the file is.
    pub path: PathBuf,
    /// What it models.
    pub class: Class,
    /// The intended duration (of the video, or of the audio for an audio-only source).
    pub duration_secs: f64,
    /// The intended display size (after SAR and rotation); None for audio only.
    pub display_size: Option<(u32, u32)>,
    /// The frame rate a correct output keeps (VFR snapped, interlaced at the field rate);
    /// None for audio only.
    pub frame_rate: Option<f64>,
    /// How long the source's audio lasts (None: no audio).
    pub audio_secs: Option<f64>,
}

/// Generates `class` into `dir` (file `<name>.<ext>`) and returns it.
///
/// Panics with ffmpeg's message if ffmpeg fails (a broken install, not a test outcome).
pub fn generate(class: Class, dir: &Path) -> Source {
    let path = dir.join(format!("{}.{}", class.name(), class.extension()));
    let mut s = Source {
        path: path.clone(),
        class,
        duration_secs: 2.0,
        display_size: None,
        frame_rate: Some(30.0),
        audio_secs: Some(2.0),
    };
    match class {
        Class::PhoneVfrRotated => {
            let coded = dir.join(format!("{}-unrotated.mp4", class.name()));
            let mut c = ffmpeg();
            video_in(&mut c, "640x360", "30", 6.0);
            tone_in(&mut c, 440, 48000, 6.0);
            // Jittered timestamps (±4 ms) at an average of 30.02 fps on a 90 kHz clock.
            c.args(["-vf", "settb=1/90000,setpts='(N/30.02+0.004*sin(N*1.7))/TB'"])
                .args(["-fps_mode", "passthrough", "-enc_time_base", "1:90000"])
                .args(["-video_track_timescale", "90000"]);
            x265(&mut c, "yuv420p", "");
            aac(&mut c, 2);
            run(c.arg(&coded), class);
            // ffmpeg 5.1 drops `rotate` when encoding; a stream copy keeps it.
            let mut c = ffmpeg();
            c.arg("-i").arg(&coded).args(["-c", "copy", "-metadata:s:v:0", "rotate=90"]);
            run(c.arg(&path), class);
            let _ = std::fs::remove_file(&coded);
            s.duration_secs = 180.0 / 30.02;
            s.display_size = Some((360, 640));
            s.audio_secs = Some(6.0);
        }
        Class::HdrHlg | Class::HdrPq => {
            let trc = if class == Class::HdrHlg { "arib-std-b67" } else { "smpte2084" };
            let mut c = ffmpeg();
            video_in(&mut c, "640x360", "30", 2.0);
            tone_in(&mut c, 440, 48000, 2.0);
            c.arg("-vf").arg(format!(
                "zscale=tin=bt709:pin=bt709:min=bt709:t={trc}:p=bt2020:m=bt2020nc:r=tv:npl=100,\
                 format=yuv420p10le"
            ));
            x265(
                &mut c,
                "yuv420p10le",
                &format!(":colorprim=bt2020:transfer={trc}:colormatrix=bt2020nc"),
            );
            c.args(["-color_trc", trc, "-color_primaries", "bt2020"]).args([
                "-colorspace",
                "bt2020nc",
                "-color_range",
                "tv",
            ]);
            aac(&mut c, 2);
            run(c.arg(&path), class);
            s.display_size = Some((640, 360));
        }
        Class::WebmVp8 | Class::WebmVp9 => {
            let codec = if class == Class::WebmVp8 { "libvpx" } else { "libvpx-vp9" };
            let mut c = ffmpeg();
            video_in(&mut c, "320x240", "30", 2.0);
            tone_in(&mut c, 440, 48000, 2.0);
            c.args(["-c:v", codec, "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"])
                .args(["-c:a", "libopus", "-b:a", "48k", "-ac", "2", "-f", "webm", "pipe:1"]);
            // Written to a pipe as MediaRecorder does: the muxer cannot seek back to write
            // the duration (or cues).
            let file = std::fs::File::create(&path).expect("creating the WebM");
            c.stdout(Stdio::from(file));
            run(&mut c, class);
            s.display_size = Some((320, 240));
        }
        Class::InterlacedTs => {
            let mut c = ffmpeg();
            video_in(&mut c, "1920x1080", "50", 2.0);
            tone_in(&mut c, 440, 48000, 2.0);
            c.args([
                "-filter_complex",
                "[0:v]tinterlace=mode=interleave_top,setfield=tff[v];\
                 [1:a]pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0[a]",
                "-map",
                "[v]",
                "-map",
                "[a]",
            ])
            .args(["-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-top", "1", "-b:v", "8M"])
            .args(["-pix_fmt", "yuv420p", "-c:a", "ac3", "-b:a", "384k", "-f", "mpegts"]);
            run(c.arg(&path), class);
            s.display_size = Some((1920, 1080));
            s.frame_rate = Some(50.0);
        }
        Class::ProResPcm => {
            let mut c = ffmpeg();
            video_in(&mut c, "640x360", "24000/1001", 2.0);
            tone_in(&mut c, 440, 48000, 2.0);
            c.args(["-c:v", "prores_ks", "-profile:v", "0", "-pix_fmt", "yuv422p10le"]).args([
                "-c:a",
                "pcm_s24le",
                "-ac",
                "2",
            ]);
            run(c.arg(&path), class);
            s.duration_secs = 48.0 / (24000.0 / 1001.0);
            s.display_size = Some((640, 360));
            s.frame_rate = Some(24000.0 / 1001.0);
        }
        Class::Anamorphic => {
            let mut c = ffmpeg();
            video_in(&mut c, "720x576", "25", 2.0);
            tone_in(&mut c, 440, 48000, 2.0);
            c.args(["-vf", "setsar=64/45"]);
            x264(&mut c);
            aac(&mut c, 2);
            run(c.arg(&path), class);
            s.display_size = Some((1024, 576));
            s.frame_rate = Some(25.0);
        }
        Class::Ultrawide => {
            let mut c = ffmpeg();
            video_in(&mut c, "1920x800", "30", 2.0);
            tone_in(&mut c, 440, 48000, 2.0);
            x264(&mut c);
            aac(&mut c, 2);
            run(c.arg(&path), class);
            s.display_size = Some((1920, 800));
        }
        Class::ShortAudio => {
            let mut c = ffmpeg();
            video_in(&mut c, "640x360", "30", 3.0);
            tone_in(&mut c, 440, 48000, 1.2);
            x264(&mut c);
            aac(&mut c, 2);
            run(c.arg(&path), class);
            s.duration_secs = 3.0;
            s.display_size = Some((640, 360));
            s.audio_secs = Some(1.2);
        }
        Class::MonoLowRate => {
            let mut c = ffmpeg();
            video_in(&mut c, "640x360", "30", 2.0);
            tone_in(&mut c, 440, 22050, 2.0);
            x264(&mut c);
            aac(&mut c, 1);
            run(c.arg(&path), class);
            s.display_size = Some((640, 360));
        }
        Class::TwoLanguages => {
            let mut c = ffmpeg();
            video_in(&mut c, "640x360", "30", 2.0);
            tone_in(&mut c, 440, 48000, 2.0);
            tone_in(&mut c, 660, 48000, 2.0);
            c.args(["-map", "0:v", "-map", "1:a", "-map", "2:a"]);
            x264(&mut c);
            aac(&mut c, 2);
            c.args(["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra"]).args([
                "-disposition:a:0",
                "0",
                "-disposition:a:1",
                "default",
            ]);
            run(c.arg(&path), class);
            s.display_size = Some((640, 360));
        }
        Class::AudioOnly => {
            let mut c = ffmpeg();
            tone_in(&mut c, 440, 44100, 3.0);
            aac(&mut c, 2);
            run(c.arg(&path), class);
            s.duration_secs = 3.0;
            s.frame_rate = None;
            s.audio_secs = Some(3.0);
        }
        Class::Uhd4k60 => {
            let mut c = ffmpeg();
            video_in(&mut c, "960x540", "60", 1.0);
            tone_in(&mut c, 440, 48000, 1.0);
            c.args(["-vf", "scale=3840:2160:flags=neighbor", "-crf", "30"]);
            x264(&mut c);
            aac(&mut c, 2);
            run(c.arg(&path), class);
            s.duration_secs = 1.0;
            s.display_size = Some((3840, 2160));
            s.frame_rate = Some(60.0);
            s.audio_secs = Some(1.0);
        }
        Class::SubSecond => {
            let mut c = ffmpeg();
            video_in(&mut c, "640x360", "30", 0.4);
            tone_in(&mut c, 440, 48000, 0.4);
            x264(&mut c);
            aac(&mut c, 2);
            run(c.arg(&path), class);
            s.duration_secs = 0.4;
            s.display_size = Some((640, 360));
            s.audio_secs = Some(0.4);
        }
    }
    s
}

/// ffprobe's `-show_format -show_streams` JSON of `path` (plus `extra` arguments, e.g.
/// `-show_frames`). Panics if ffprobe cannot read it.
pub fn ffprobe_json(path: &Path, extra: &[&str]) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_format", "-show_streams"])
        .args(extra)
        .arg(path)
        .output()
        .expect("running ffprobe (install it with deploy/bootstrap.sh)");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]);
    c
}

fn video_in(c: &mut Command, size: &str, rate: &str, secs: f64) {
    c.args(["-f", "lavfi", "-i"]).arg(format!("testsrc2=size={size}:rate={rate}:duration={secs}"));
}

fn tone_in(c: &mut Command, hz: u32, sample_rate: u32, secs: f64) {
    c.args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:sample_rate={sample_rate}:duration={secs}"));
}

fn x264(c: &mut Command) {
    c.args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]);
}

fn x265(c: &mut Command, pix_fmt: &str, params: &str) {
    c.args(["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", pix_fmt, "-tag:v", "hvc1"])
        .arg("-x265-params")
        .arg(format!("log-level=error{params}"));
}

fn aac(c: &mut Command, channels: u32) {
    c.args(["-c:a", "aac", "-b:a", "64k", "-ac", &channels.to_string()]);
}

fn run(c: &mut Command, class: Class) {
    let out = c
        .stderr(Stdio::piped())
        .output()
        .expect("running ffmpeg (install it with deploy/bootstrap.sh)");
    assert!(
        out.status.success(),
        "ffmpeg failed to generate {}: {}",
        class.name(),
        String::from_utf8_lossy(&out.stderr)
    );
}
