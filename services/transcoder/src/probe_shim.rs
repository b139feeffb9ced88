//! TEMPORARY stand-in for the `framelog_core::probe` stream types of INTERFACE.md until the
//! lead's "Probe:" commit lands on main; removed by the merge.
#![allow(missing_docs, dead_code)]

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Colour {
    pub primaries: Option<String>,
    pub transfer: Option<String>,
    pub matrix: Option<String>,
    pub range: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOrder {
    Progressive,
    TopFirst,
    BottomFirst,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamicRange {
    Sdr,
    Hlg,
    Pq,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    pub index: u32,
    pub codec: String,
    pub profile: Option<String>,
    pub pix_fmt: Option<String>,
    pub bit_depth: u8,
    pub colour: Colour,
    pub field_order: FieldOrder,
    pub sar: (u32, u32),
    pub width: u32,
    pub height: u32,
    pub rotation: i32,
    pub avg_fps: f64,
    pub r_fps: Option<f64>,
}

impl VideoStream {
    pub fn dynamic_range(&self) -> DynamicRange {
        match self.colour.transfer.as_deref() {
            Some("arib-std-b67") => DynamicRange::Hlg,
            Some("smpte2084") => DynamicRange::Pq,
            _ => DynamicRange::Sdr,
        }
    }
    pub fn is_interlaced(&self) -> bool {
        matches!(self.field_order, FieldOrder::TopFirst | FieldOrder::BottomFirst)
    }
}

impl VideoStream {
    pub fn display_size(&self) -> (u32, u32) {
        let w =
            (u64::from(self.width) * u64::from(self.sar.0) / u64::from(self.sar.1.max(1))) as u32;
        let w = w.div_ceil(2) * 2;
        if self.rotation % 180 == 90 { (self.height, w) } else { (w, self.height) }
    }

    /// From ffprobe's JSON stream object (stand-in for `probe::inspect`).
    pub fn from_ffprobe(s: &serde_json::Value) -> VideoStream {
        let st = |k: &str| s[k].as_str().map(str::to_owned).filter(|v| v != "unknown");
        let sar = st("sample_aspect_ratio")
            .and_then(|r| {
                let (a, b) = r.split_once(':')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .filter(|(a, b): &(u32, u32)| *a > 0 && *b > 0)
            .unwrap_or((1, 1));
        let rotation = s["side_data_list"]
            .as_array()
            .and_then(|l| l.iter().find_map(|d| d["rotation"].as_i64()))
            .map(|r| (r.rem_euclid(360)) as i32)
            .unwrap_or(0);
        let pix_fmt = st("pix_fmt");
        let bit_depth = if pix_fmt.as_deref().is_some_and(|p| p.contains("10")) { 10 } else { 8 };
        VideoStream {
            index: s["index"].as_u64().unwrap_or(0) as u32,
            codec: st("codec_name").unwrap_or_default(),
            profile: st("profile"),
            pix_fmt,
            bit_depth,
            colour: Colour {
                primaries: st("color_primaries"),
                transfer: st("color_transfer"),
                matrix: st("color_space"),
                range: st("color_range"),
            },
            field_order: match st("field_order").as_deref() {
                Some("tt" | "tb") => FieldOrder::TopFirst,
                Some("bb" | "bt") => FieldOrder::BottomFirst,
                Some("progressive") => FieldOrder::Progressive,
                _ => FieldOrder::Unknown,
            },
            sar,
            width: s["width"].as_u64().unwrap_or(0) as u32,
            height: s["height"].as_u64().unwrap_or(0) as u32,
            rotation,
            avg_fps: 0.0,
            r_fps: None,
        }
    }
}
