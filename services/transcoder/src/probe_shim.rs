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
