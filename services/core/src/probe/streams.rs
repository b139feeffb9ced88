//! What each stream of a source is (pure): the video stream's colour, fields and pixel aspect,
//! every audio and subtitle stream with its language and disposition. Built from ffprobe's
//! `-show_streams` JSON by [`super::parse_inspection`].

use std::collections::HashMap;

use serde::Deserialize;

/// One stream as ffprobe prints it (the fields Framelog reads).
#[derive(Debug, Default, Deserialize)]
pub(super) struct FfStream {
    #[serde(default)]
    pub index: u32,
    pub codec_type: Option<String>,
    pub codec_name: Option<String>,
    pub profile: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub pix_fmt: Option<String>,
    pub bits_per_raw_sample: Option<String>,
    pub color_range: Option<String>,
    pub color_space: Option<String>,
    pub color_transfer: Option<String>,
    pub color_primaries: Option<String>,
    pub field_order: Option<String>,
    pub sample_aspect_ratio: Option<String>,
    pub avg_frame_rate: Option<String>,
    pub r_frame_rate: Option<String>,
    pub channels: Option<u32>,
    pub channel_layout: Option<String>,
    pub sample_rate: Option<String>,
    pub duration: Option<String>,
    #[serde(default)]
    pub tags: HashMap<String, String>,
    #[serde(default)]
    pub side_data_list: Vec<serde_json::Value>,
    #[serde(default)]
    pub disposition: HashMap<String, i64>,
}

impl FfStream {
    pub(super) fn kind(&self) -> Option<&str> {
        self.codec_type.as_deref()
    }

    pub(super) fn flag(&self, name: &str) -> bool {
        self.disposition.get(name).copied().unwrap_or(0) != 0
    }

    /// A tag, whatever the case of its name (Matroska writes `LANGUAGE`, MP4 `language`).
    fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn language(&self) -> Option<String> {
        self.tag("language").filter(|l| !l.eq_ignore_ascii_case("und")).map(str::to_owned)
    }

    fn duration_secs(&self) -> Option<f64> {
        self.duration.as_deref()?.parse::<f64>().ok().filter(|d| d.is_finite() && *d > 0.0)
    }
}

/// Colour description of a video stream, as ffprobe names it (`bt709`, `bt2020`,
/// `smpte2084`, `arib-std-b67`...). `None` where the stream does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Colour {
    /// `color_primaries`.
    pub primaries: Option<String>,
    /// `color_transfer`.
    pub transfer: Option<String>,
    /// `color_space` (the matrix coefficients).
    pub matrix: Option<String>,
    /// `color_range`: `tv` (limited) or `pc` (full).
    pub range: Option<String>,
}

/// Whether and how a stream is interlaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOrder {
    Progressive,
    /// `tt`, or `tb` (top coded first, bottom displayed first: still top-field timing).
    TopFirst,
    /// `bb` or `bt`.
    BottomFirst,
    /// Not said by the stream.
    Unknown,
}

impl FieldOrder {
    fn parse(s: Option<&str>) -> FieldOrder {
        match s {
            Some("progressive") => FieldOrder::Progressive,
            Some("tt" | "tb") => FieldOrder::TopFirst,
            Some("bb" | "bt") => FieldOrder::BottomFirst,
            _ => FieldOrder::Unknown,
        }
    }
}

/// The dynamic range a video stream is mastered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamicRange {
    Sdr,
    /// Hybrid log-gamma (`arib-std-b67`): broadcast and phone HDR.
    Hlg,
    /// Perceptual quantizer (`smpte2084`): HDR10, Dolby Vision base layers.
    Pq,
}

/// The video stream of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    /// Absolute stream index in the container (`-map 0:<index>`).
    pub index: u32,
    pub codec: String,
    pub profile: Option<String>,
    pub pix_fmt: Option<String>,
    /// Bits per sample: 8, 10, 12 (from `bits_per_raw_sample`, else the pixel format's name).
    pub bit_depth: u8,
    pub colour: Colour,
    pub field_order: FieldOrder,
    /// Sample (pixel) aspect ratio, reduced; 1:1 when the stream says none, `0:1` or `N/A`.
    pub sar: (u32, u32),
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Display rotation: 0, 90, 180 or 270.
    pub rotation: i32,
    /// `avg_frame_rate` (else `r_frame_rate`): what `Probe::fps` says.
    pub avg_fps: f64,
    /// `r_frame_rate`: the stream's base rate (the nominal rate of a VFR stream).
    pub r_fps: Option<f64>,
    /// How long before the source's end the video track stops (its own duration is shorter
    /// than the container's: a screen recording whose audio runs on). 0 when it does not, or
    /// when the stream does not say its duration.
    pub ends_early_secs: f64,
}

impl VideoStream {
    /// SDR, HLG or PQ, from the transfer characteristics.
    pub fn dynamic_range(&self) -> DynamicRange {
        match self.colour.transfer.as_deref() {
            Some("arib-std-b67") => DynamicRange::Hlg,
            Some("smpte2084") => DynamicRange::Pq,
            _ => DynamicRange::Sdr,
        }
    }

    /// Whether the stream says its frames are pairs of fields.
    pub fn is_interlaced(&self) -> bool {
        matches!(self.field_order, FieldOrder::TopFirst | FieldOrder::BottomFirst)
    }

    /// The size the picture is shown at: the width stretched by the pixel aspect (rounded to
    /// even), then the rotation applied.
    pub fn display_size(&self) -> (u32, u32) {
        let (n, d) = self.sar;
        let w = if n == d || n == 0 || d == 0 {
            self.width
        } else {
            let stretched = f64::from(self.width) * f64::from(n) / f64::from(d);
            (((stretched / 2.0).round() as u32) * 2).max(2)
        };
        if self.rotation % 180 == 90 { (self.height, w) } else { (w, self.height) }
    }
}

/// One audio stream of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioStream {
    /// Absolute stream index in the container (`-map 0:<index>`).
    pub index: u32,
    pub codec: String,
    pub channels: u32,
    pub channel_layout: Option<String>,
    /// Hz (0 when the stream does not say).
    pub sample_rate: u32,
    /// The `language` tag as written (ISO 639-2, e.g. `eng`); `None` when absent or `und`.
    pub language: Option<String>,
    pub title: Option<String>,
    /// Flagged as the default track.
    pub default: bool,
    pub duration_secs: Option<f64>,
}

/// One subtitle stream of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleStream {
    pub index: u32,
    pub codec: String,
    pub language: Option<String>,
    pub default: bool,
    pub forced: bool,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `4:3` → (4, 3) reduced; anything unusable → (1, 1).
fn parse_sar(s: Option<&str>) -> (u32, u32) {
    let parsed = s.and_then(|s| s.split_once(':')).and_then(|(n, d)| {
        let (n, d) = (n.trim().parse::<u32>().ok()?, d.trim().parse::<u32>().ok()?);
        (n > 0 && d > 0).then_some((n, d))
    });
    match parsed {
        Some((n, d)) => {
            let g = gcd(n, d).max(1);
            (n / g, d / g)
        }
        None => (1, 1),
    }
}

/// Bits per sample from `bits_per_raw_sample`, else the pixel format (`yuv420p10le` → 10).
fn bit_depth(raw: Option<&str>, pix_fmt: Option<&str>) -> u8 {
    if let Some(b) = raw.and_then(|r| r.parse::<u8>().ok()).filter(|b| (1..=16).contains(b)) {
        return b;
    }
    let Some(fmt) = pix_fmt else { return 8 };
    for depth in [16u8, 14, 12, 10, 9] {
        if fmt.contains(&format!("p{depth}")) || fmt.ends_with(&format!("{depth}le")) {
            return depth;
        }
    }
    8
}

impl FfStream {
    pub(super) fn video(&self, rotation: i32, avg_fps: f64, r_fps: Option<f64>) -> VideoStream {
        VideoStream {
            index: self.index,
            codec: self.codec_name.clone().unwrap_or_else(|| "unknown".into()),
            profile: self.profile.clone(),
            pix_fmt: self.pix_fmt.clone(),
            bit_depth: bit_depth(self.bits_per_raw_sample.as_deref(), self.pix_fmt.as_deref()),
            colour: Colour {
                primaries: known(&self.color_primaries),
                transfer: known(&self.color_transfer),
                matrix: known(&self.color_space),
                range: known(&self.color_range),
            },
            field_order: FieldOrder::parse(self.field_order.as_deref()),
            sar: parse_sar(self.sample_aspect_ratio.as_deref()),
            width: self.width.unwrap_or(0),
            height: self.height.unwrap_or(0),
            rotation,
            avg_fps,
            r_fps,
            ends_early_secs: 0.0,
        }
    }

    /// The stream's own duration, when it says one.
    pub(super) fn own_duration(&self) -> Option<f64> {
        self.duration_secs()
    }

    pub(super) fn audio(&self) -> AudioStream {
        AudioStream {
            index: self.index,
            codec: self.codec_name.clone().unwrap_or_else(|| "unknown".into()),
            channels: self.channels.unwrap_or(0),
            channel_layout: known(&self.channel_layout),
            sample_rate: self.sample_rate.as_deref().and_then(|r| r.parse().ok()).unwrap_or(0),
            language: self.language(),
            title: self.tag("title").map(str::to_owned),
            default: self.flag("default"),
            duration_secs: self.duration_secs(),
        }
    }

    pub(super) fn subtitle(&self) -> SubtitleStream {
        SubtitleStream {
            index: self.index,
            codec: self.codec_name.clone().unwrap_or_else(|| "unknown".into()),
            language: self.language(),
            default: self.flag("default"),
            forced: self.flag("forced"),
        }
    }
}

/// A value ffprobe printed, without its "unknown" spellings.
fn known(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && !matches!(*s, "unknown" | "unspecified" | "N/A" | "reserved"))
        .map(str::to_owned)
}

/// ISO 639-2 codes (B and T forms) and ISO 639-1 codes of the languages most uploads carry:
/// (639-2 forms, BCP 47 tag, name in the language itself).
const LANGUAGES: &[(&[&str], &str, &str)] = &[
    (&["eng", "en"], "en", "English"),
    (&["fra", "fre", "fr"], "fr", "Français"),
    (&["deu", "ger", "de"], "de", "Deutsch"),
    (&["spa", "es"], "es", "Español"),
    (&["ita", "it"], "it", "Italiano"),
    (&["por", "pt"], "pt", "Português"),
    (&["nld", "dut", "nl"], "nl", "Nederlands"),
    (&["swe", "sv"], "sv", "Svenska"),
    (&["nor", "nob", "no", "nb"], "no", "Norsk"),
    (&["dan", "da"], "da", "Dansk"),
    (&["fin", "fi"], "fi", "Suomi"),
    (&["pol", "pl"], "pl", "Polski"),
    (&["ces", "cze", "cs"], "cs", "Čeština"),
    (&["rus", "ru"], "ru", "Русский"),
    (&["ukr", "uk"], "uk", "Українська"),
    (&["tur", "tr"], "tr", "Türkçe"),
    (&["ell", "gre", "el"], "el", "Ελληνικά"),
    (&["ara", "ar"], "ar", "العربية"),
    (&["heb", "he"], "he", "עברית"),
    (&["hin", "hi"], "hi", "हिन्दी"),
    (&["jpn", "ja"], "ja", "日本語"),
    (&["kor", "ko"], "ko", "한국어"),
    (&["zho", "chi", "zh"], "zh", "中文"),
    (&["vie", "vi"], "vi", "Tiếng Việt"),
    (&["tha", "th"], "th", "ไทย"),
    (&["ind", "id"], "id", "Bahasa Indonesia"),
];

/// The BCP 47 tag HLS's `LANGUAGE` wants for a language tag as sources write it: ISO 639-2 (B
/// or T form) or 639-1 codes of common languages map to their two-letter tag (`eng` → `en`,
/// `fre`/`fra` → `fr`); anything else is kept, lower-cased, if it is a plausible tag (letters,
/// digits and `-`), else `und`.
pub fn language_tag(code: &str) -> String {
    let code = code.trim().to_ascii_lowercase();
    if let Some((_, tag, _)) = LANGUAGES.iter().find(|(codes, _, _)| codes.contains(&code.as_str()))
    {
        return (*tag).to_owned();
    }
    let plausible = !code.is_empty()
        && code.len() <= 35
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if plausible { code } else { "und".into() }
}

/// A name to show for a BCP 47 tag (the language's own name for common ones, else the tag).
pub fn language_name(tag: &str) -> String {
    let primary = tag.split('-').next().unwrap_or(tag).to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|(_, t, _)| *t == primary)
        .map(|(_, _, name)| (*name).to_owned())
        .unwrap_or_else(|| tag.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_aspect_ratios_are_reduced_and_unusable_ones_are_square() {
        assert_eq!(parse_sar(Some("4:3")), (4, 3));
        assert_eq!(parse_sar(Some("32:27")), (32, 27));
        assert_eq!(parse_sar(Some("16:12")), (4, 3));
        assert_eq!(parse_sar(Some("0:1")), (1, 1));
        assert_eq!(parse_sar(Some("N/A")), (1, 1));
        assert_eq!(parse_sar(None), (1, 1));
    }

    #[test]
    fn bit_depth_comes_from_the_raw_sample_size_or_the_pixel_format() {
        assert_eq!(bit_depth(Some("10"), Some("yuv420p10le")), 10);
        assert_eq!(bit_depth(None, Some("yuv420p10le")), 10);
        assert_eq!(bit_depth(None, Some("p010le")), 10);
        assert_eq!(bit_depth(None, Some("yuv422p12le")), 12);
        assert_eq!(bit_depth(None, Some("yuv420p")), 8);
        assert_eq!(bit_depth(Some("N/A"), None), 8);
    }

    fn video(width: u32, height: u32, sar: (u32, u32), rotation: i32) -> VideoStream {
        VideoStream {
            index: 0,
            codec: "h264".into(),
            profile: None,
            pix_fmt: None,
            bit_depth: 8,
            colour: Colour::default(),
            field_order: FieldOrder::Progressive,
            sar,
            width,
            height,
            rotation,
            avg_fps: 25.0,
            r_fps: Some(25.0),
            ends_early_secs: 0.0,
        }
    }

    #[test]
    fn the_display_size_applies_the_pixel_aspect_then_the_rotation() {
        assert_eq!(video(1440, 1080, (4, 3), 0).display_size(), (1920, 1080));
        assert_eq!(video(720, 576, (16, 15), 0).display_size(), (768, 576));
        assert_eq!(video(720, 576, (64, 45), 0).display_size(), (1024, 576));
        assert_eq!(video(1920, 1080, (1, 1), 90).display_size(), (1080, 1920));
        assert_eq!(video(1440, 1080, (4, 3), 270).display_size(), (1080, 1920));
    }

    #[test]
    fn the_transfer_says_the_dynamic_range() {
        let mut v = video(1920, 1080, (1, 1), 0);
        assert_eq!(v.dynamic_range(), DynamicRange::Sdr);
        v.colour.transfer = Some("arib-std-b67".into());
        assert_eq!(v.dynamic_range(), DynamicRange::Hlg);
        v.colour.transfer = Some("smpte2084".into());
        assert_eq!(v.dynamic_range(), DynamicRange::Pq);
    }

    #[test]
    fn field_orders_say_whether_a_stream_is_interlaced() {
        assert_eq!(FieldOrder::parse(Some("tt")), FieldOrder::TopFirst);
        assert_eq!(FieldOrder::parse(Some("tb")), FieldOrder::TopFirst);
        assert_eq!(FieldOrder::parse(Some("bb")), FieldOrder::BottomFirst);
        assert_eq!(FieldOrder::parse(Some("progressive")), FieldOrder::Progressive);
        assert_eq!(FieldOrder::parse(None), FieldOrder::Unknown);
        let mut v = video(720, 576, (1, 1), 0);
        v.field_order = FieldOrder::BottomFirst;
        assert!(v.is_interlaced());
    }

    #[test]
    fn languages_map_to_bcp47_tags_and_names() {
        assert_eq!(language_tag("eng"), "en");
        assert_eq!(language_tag("fre"), "fr");
        assert_eq!(language_tag("FRA"), "fr");
        assert_eq!(language_tag("ger"), "de");
        assert_eq!(language_tag("en"), "en");
        assert_eq!(language_tag("tlh"), "tlh", "an unknown code is kept");
        assert_eq!(language_tag("en\"US"), "und", "never an unsafe attribute value");
        assert_eq!(language_name("fr"), "Français");
        assert_eq!(language_name("pt-BR"), "Português");
        assert_eq!(language_name("tlh"), "tlh");
    }
}
