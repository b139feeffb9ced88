//! RFC 6381 `CODECS` strings read from an fMP4 init segment (pure). The H.264 string is copied
//! from the `avcC` box (profile, constraint flags, level) and the HEVC one from the `hvcC` box
//! (ISO/IEC 14496-15 Annex E: profile space and idc, compatibility flags, tier and level,
//! constraint bytes): exactly what the decoder will see, so it is right for every encoder,
//! hardware ones included.

/// Why no codecs string could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecsError {
    #[error("the init segment has no avcC box (not H.264?)")]
    NoAvcC,
    #[error("the init segment has no avcC or hvcC box (neither H.264 nor HEVC?)")]
    NoVideoConfig,
    #[error("the init segment's hvcC box is truncated or of an unknown version")]
    BadHvcC,
    #[error("the init segment has no mp4a sample entry (not AAC?)")]
    NoMp4a,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `avc1.PPCCLL` from the `avcC` box of an init segment.
pub fn avc1(init: &[u8]) -> Result<String, CodecsError> {
    let at = find(init, b"avcC").ok_or(CodecsError::NoAvcC)?;
    // avcC: configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication.
    let body = init.get(at + 4..at + 8).ok_or(CodecsError::NoAvcC)?;
    if body[0] != 1 {
        return Err(CodecsError::NoAvcC);
    }
    Ok(format!("avc1.{:02x}{:02x}{:02x}", body[1], body[2], body[3]))
}

/// `hvc1.<space><idc>.<compat>.<tier><level>[.<constraint>...]` from the `hvcC` box of an
/// init segment: the profile space as `A`/`B`/`C` (none for 0), the 32 compatibility flags
/// bit-reversed in hex without leading zeros, `L` or `H` and `general_level_idc`, then the six
/// constraint bytes in hex with trailing zero bytes left out.
pub fn hvc1(init: &[u8]) -> Result<String, CodecsError> {
    let at = find(init, b"hvcC").ok_or(CodecsError::NoVideoConfig)?;
    let body = init.get(at + 4..at + 17).ok_or(CodecsError::BadHvcC)?;
    if body[0] != 1 {
        return Err(CodecsError::BadHvcC);
    }
    let space = ["", "A", "B", "C"][usize::from(body[1] >> 6)];
    let tier = if body[1] & 0x20 != 0 { 'H' } else { 'L' };
    let idc = body[1] & 0x1f;
    let compat = u32::from_be_bytes([body[2], body[3], body[4], body[5]]).reverse_bits();
    let constraint = &body[6..12];
    let kept = constraint.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let mut s = format!("hvc1.{space}{idc}.{compat:X}.{tier}{}", body[12]);
    for b in &constraint[..kept] {
        s.push_str(&format!(".{b:X}"));
    }
    Ok(s)
}

/// The video part of `CODECS`: `avc1...` for an H.264 init segment, `hvc1...` for HEVC.
pub fn video_codecs(init: &[u8]) -> Result<String, CodecsError> {
    match avc1(init) {
        Err(CodecsError::NoAvcC) if find(init, b"hvcC").is_some() => hvc1(init),
        Err(CodecsError::NoAvcC) => Err(CodecsError::NoVideoConfig),
        other => other,
    }
}

/// The `CODECS` value of a rendition: video, plus AAC-LC when the init segment has an audio
/// track (we always encode AAC-LC).
pub fn codecs(init: &[u8]) -> Result<String, CodecsError> {
    let video = video_codecs(init)?;
    Ok(if find(init, b"mp4a").is_some() { format!("{video},mp4a.40.2") } else { video })
}

/// The `CODECS` value of an audio-only rendition: AAC-LC (the only audio we encode).
pub fn audio_codecs(init: &[u8]) -> Result<String, CodecsError> {
    find(init, b"mp4a").map(|_| "mp4a.40.2".to_owned()).ok_or(CodecsError::NoMp4a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init_with(avcc: &[u8], audio: bool) -> Vec<u8> {
        let mut v = b"\0\0\0\x18ftypiso6....moov....trak".to_vec();
        v.extend_from_slice(&(8 + avcc.len() as u32).to_be_bytes());
        v.extend_from_slice(b"avcC");
        v.extend_from_slice(avcc);
        if audio {
            v.extend_from_slice(b"\0\0\0\x24mp4a");
        }
        v
    }

    #[test]
    fn the_h264_string_is_copied_from_the_avcc_box() {
        let init = init_with(&[1, 0x64, 0x00, 0x1f, 0xff, 0xe1], true);
        assert_eq!(codecs(&init).unwrap(), "avc1.64001f,mp4a.40.2");
        let main = init_with(&[1, 0x4d, 0x40, 0x1e, 0xff], false);
        assert_eq!(codecs(&main).unwrap(), "avc1.4d401e", "no audio track, no mp4a");
    }

    #[test]
    fn an_audio_init_segment_is_aac_lc_and_a_video_one_is_not_audio() {
        assert_eq!(audio_codecs(b"\0\0\0\x18ftypiso6moovtrak\0\0\0\x24mp4a").unwrap(), "mp4a.40.2");
        let video = init_with(&[1, 0x64, 0x00, 0x1f, 0xff], false);
        assert_eq!(audio_codecs(&video), Err(CodecsError::NoMp4a));
    }

    #[test]
    fn an_init_segment_without_a_usable_video_config_is_refused() {
        assert_eq!(codecs(b"\0\0\0\x18ftypiso6mp4a"), Err(CodecsError::NoVideoConfig));
        assert_eq!(codecs(b"\0\0\0\x18ftypiso6hvcC\x01\x01"), Err(CodecsError::BadHvcC));
        assert_eq!(avc1(b"avcC\x01\x64"), Err(CodecsError::NoAvcC), "truncated box");
        let mut v2 = b"hvcC".to_vec();
        v2.extend([2u8; 13]);
        assert_eq!(hvc1(&v2), Err(CodecsError::BadHvcC), "unknown version");
    }

    /// Init segments ffmpeg 5.1 wrote (libx265 `-tag:v hvc1`, 3840x2160p60, and libx264 at
    /// 320x180 with `-level 2.1`), as the HLS muxer left them.
    const HEVC_2160P60: &[u8] = include_bytes!("testdata/hevc-2160p60-init.mp4");
    const H264_180P: &[u8] = include_bytes!("testdata/h264-180p-init.mp4");

    #[test]
    fn the_hevc_string_is_read_from_a_real_hvcc_box() {
        // Main (space 0, idc 1), compatibility flags 0x60000000 reversed = 6, Main tier,
        // level 5.1 (153), progressive and frame-only source flags (0x90), the rest zero.
        assert_eq!(codecs(HEVC_2160P60).unwrap(), "hvc1.1.6.L153.90");
        assert_eq!(codecs(H264_180P).unwrap(), "avc1.640015");
    }

    #[test]
    fn profile_space_tier_and_every_constraint_byte_are_written() {
        let mut b = b"....hvcC".to_vec();
        // version 1; space 1 (A), High tier, idc 2; compat 0x20000000; constraints; level 120.
        b.extend([1, 0x40 | 0x20 | 2, 0x20, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0x01, 120]);
        assert_eq!(hvc1(&b).unwrap(), "hvc1.A2.4.H120.B0.0.0.0.0.1");
        let mut zero = b"hvcC".to_vec();
        zero.extend([1, 1, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 93]);
        assert_eq!(hvc1(&zero).unwrap(), "hvc1.1.6.L93", "all-zero constraint bytes left out");
    }
}
