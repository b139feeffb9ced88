//! RFC 6381 `CODECS` strings read from an fMP4 init segment (pure). The H.264 string is copied
//! from the `avcC` box (profile, constraint flags, level), exactly what the decoder will see, so
//! it is right for every encoder, hardware ones included.

/// Why no codecs string could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecsError {
    #[error("the init segment has no avcC box (not H.264?)")]
    NoAvcC,
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

/// The `CODECS` value of a rendition: video, plus AAC-LC when the init segment has an audio
/// track (we always encode AAC-LC).
pub fn codecs(init: &[u8]) -> Result<String, CodecsError> {
    let video = avc1(init)?;
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
    fn an_init_segment_without_avcc_is_refused() {
        assert_eq!(codecs(b"\0\0\0\x18ftypiso6hvcC\x01\x01"), Err(CodecsError::NoAvcC));
        assert_eq!(avc1(b"avcC\x01\x64"), Err(CodecsError::NoAvcC), "truncated box");
    }
}
