//! H.264 levels (pure): the lowest level of ITU-T H.264 Table A-1 that a rendition fits (frame
//! size, macroblock rate, VBV rate and buffer at High profile's 1.25 factor). Every rung is
//! encoded with its level explicit, so the `avcC` box (and so `CODECS`) says what a player
//! must decode; the ladder keeps every H.264 rung within [`MAX_H264`] (Apple's HLS authoring
//! limit, what Chromecast and most TVs decode).

/// One row of Table A-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H264Level {
    /// `level_idc`: 10 × the level (`42` for 4.2).
    pub idc: u8,
    /// Max macroblocks per second.
    pub max_mbps: u64,
    /// Max frame size in macroblocks.
    pub max_fs: u64,
    /// Max VCL bit rate, 1000 bit/s units (Baseline/Main; High is 1.25 ×).
    pub max_br: u64,
    /// Max CPB size, 1000 bit units (Baseline/Main; High is 1.25 ×).
    pub max_cpb: u64,
}

impl H264Level {
    /// `4.2`, as libx264's, NVENC's and AMF's `-level` options take it.
    pub fn name(&self) -> String {
        format!("{}.{}", self.idc / 10, self.idc % 10)
    }
}

const fn l(idc: u8, max_mbps: u64, max_fs: u64, max_br: u64, max_cpb: u64) -> H264Level {
    H264Level { idc, max_mbps, max_fs, max_br, max_cpb }
}

/// Table A-1 (level 1b left out: it is not a level High profile uses).
pub const H264_LEVELS: [H264Level; 16] = [
    l(10, 1_485, 99, 64, 175),
    l(11, 3_000, 396, 192, 500),
    l(12, 6_000, 396, 384, 1_000),
    l(13, 11_880, 396, 768, 2_000),
    l(20, 11_880, 396, 2_000, 2_000),
    l(21, 19_800, 792, 4_000, 4_000),
    l(22, 20_250, 1_620, 4_000, 4_000),
    l(30, 40_500, 1_620, 10_000, 10_000),
    l(31, 108_000, 3_600, 14_000, 14_000),
    l(32, 216_000, 5_120, 20_000, 20_000),
    l(40, 245_760, 8_192, 20_000, 25_000),
    l(41, 245_760, 8_192, 50_000, 62_500),
    l(42, 522_240, 8_704, 50_000, 62_500),
    l(50, 589_824, 22_080, 135_000, 135_000),
    l(51, 983_040, 36_864, 240_000, 240_000),
    l(52, 2_073_600, 36_864, 240_000, 240_000),
];

/// The highest level an H.264 rung may have (High 4.2).
pub const MAX_H264: u8 = 42;

/// What a stream needs of a level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamDemand {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// VBV maximum rate, bits per second.
    pub maxrate_bps: u64,
    /// VBV buffer, bits.
    pub bufsize_bits: u64,
}

/// The lowest High-profile level that `d` fits, or `None` beyond level 5.2.
pub fn h264_level(d: StreamDemand) -> Option<H264Level> {
    let (mbw, mbh) = (u64::from(d.width.div_ceil(16)), u64::from(d.height.div_ceil(16)));
    let fs = mbw * mbh;
    let mbps = (fs as f64 * d.fps.max(0.0)).ceil() as u64;
    // High profile: cpbBrVclFactor 1250 against Baseline/Main's 1000.
    let (br, cpb) = (d.maxrate_bps.div_ceil(1250), d.bufsize_bits.div_ceil(1250));
    H264_LEVELS.iter().copied().find(|lv| {
        // A.3.1: neither side over sqrt(8 × MaxFS) macroblocks.
        let side = 8 * lv.max_fs;
        fs <= lv.max_fs
            && mbw * mbw <= side
            && mbh * mbh <= side
            && mbps <= lv.max_mbps
            && br <= lv.max_br
            && cpb <= lv.max_cpb
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(width: u32, height: u32, fps: f64, maxrate_bps: u64) -> Option<String> {
        let d = StreamDemand { width, height, fps, maxrate_bps, bufsize_bits: maxrate_bps * 3 / 2 };
        h264_level(d).map(|l| l.name())
    }

    #[test]
    fn common_sizes_get_the_levels_encoders_pick() {
        assert_eq!(level(480, 270, 30.0, 428_000).as_deref(), Some("2.1"));
        assert_eq!(level(640, 360, 30.0, 856_000).as_deref(), Some("3.0"));
        assert_eq!(level(854, 480, 30.0, 1_605_000).as_deref(), Some("3.1"));
        assert_eq!(level(1280, 720, 30.0, 3_210_000).as_deref(), Some("3.1"));
        assert_eq!(level(1280, 720, 60.0, 4_815_000).as_deref(), Some("3.2"));
        assert_eq!(level(1920, 1080, 30.0, 6_420_000).as_deref(), Some("4.0"));
        assert_eq!(level(1920, 1080, 60.0, 8_346_000).as_deref(), Some("4.2"));
        assert_eq!(level(1920, 1080, 60000.0 / 1001.0, 8_346_000).as_deref(), Some("4.2"));
    }

    #[test]
    fn the_bit_rate_and_buffer_can_raise_the_level() {
        // 1080p30 fits 4.0 by macroblocks; 30 Mb/s at High needs 4.1 (4.0 allows 25 Mb/s).
        assert_eq!(level(1920, 1080, 30.0, 18_000_000).as_deref(), Some("4.0"));
        assert_eq!(level(1920, 1080, 30.0, 30_000_000).as_deref(), Some("4.1"));
        let big_buffer = StreamDemand {
            width: 640,
            height: 360,
            fps: 30.0,
            maxrate_bps: 1,
            bufsize_bits: 13e6 as u64,
        };
        assert_eq!(h264_level(big_buffer).unwrap().name(), "3.1");
    }

    #[test]
    fn uhd_is_beyond_4_2_and_absurd_demands_have_no_level() {
        assert_eq!(level(3840, 2160, 30.0, 16_050_000).as_deref(), Some("5.1"));
        assert_eq!(level(3840, 2160, 60.0, 16_050_000).as_deref(), Some("5.2"));
        assert_eq!(level(7680, 4320, 30.0, 1_000_000), None);
        assert_eq!(level(1920, 1080, 30.0, 400_000_000), None);
        // A strip 8192 wide is one row of macroblocks but wider than sqrt(8 × MaxFS) at 4.2.
        assert_eq!(level(8192, 16, 1.0, 1_000).as_deref(), Some("5.1"));
    }
}
