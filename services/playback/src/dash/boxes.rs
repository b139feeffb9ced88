//! The two ISO BMFF figures a `SegmentTimeline` needs (pure): the track timescale of an init
//! segment (`moov/trak/mdia/mdhd`) and the decode time a media segment starts at (the first
//! `moof/traf/tfdt`), so the manifest's `t` values are the fragments' own.

/// Bytes that do not hold the box asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoxError {
    #[error("box `{0}` at byte {1} is malformed or runs past the data")]
    Malformed(String, usize),
    #[error("no `{0}` box")]
    Missing(&'static str),
}

/// `(type, body start, end)` of each box in `b[from..to]`; `truncated_ok`: a last box running
/// past `to` ends the list instead of failing (a segment read by its first bytes only).
fn children(
    b: &[u8],
    from: usize,
    to: usize,
    truncated_ok: bool,
) -> Result<Vec<([u8; 4], usize, usize)>, BoxError> {
    let mut out = Vec::new();
    let mut at = from;
    while at + 8 <= to {
        let kind: [u8; 4] = b[at + 4..at + 8].try_into().expect("4 bytes");
        let bad = || BoxError::Malformed(String::from_utf8_lossy(&kind).into_owned(), at);
        let size32 = u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        let (size, header) = match size32 {
            1 => {
                let Some(big) = b.get(at + 8..at + 16) else {
                    return if truncated_ok { Ok(out) } else { Err(bad()) };
                };
                let s = u64::from_be_bytes(big.try_into().expect("8 bytes"));
                (usize::try_from(s).map_err(|_| bad())?, 16)
            }
            0 => (to - at, 8),
            s => (s as usize, 8),
        };
        if size < header {
            return Err(bad());
        }
        if at.checked_add(size).is_none_or(|end| end > to) {
            return if truncated_ok { Ok(out) } else { Err(bad()) };
        }
        out.push((kind, at + header, at + size));
        at += size;
    }
    Ok(out)
}

fn find(
    b: &[u8],
    from: usize,
    to: usize,
    kind: &'static [u8; 4],
) -> Result<(usize, usize), BoxError> {
    children(b, from, to, false)?
        .into_iter()
        .find(|c| &c.0 == kind)
        .map(|c| (c.1, c.2))
        .ok_or(BoxError::Missing(std::str::from_utf8(kind).expect("ascii")))
}

/// The `mdhd` timescale of the first track of an init segment.
pub fn timescale(init: &[u8]) -> Result<u32, BoxError> {
    let (s, e) = find(init, 0, init.len(), b"moov")?;
    let (s, e) = find(init, s, e, b"trak")?;
    let (s, e) = find(init, s, e, b"mdia")?;
    let (s, e) = find(init, s, e, b"mdhd")?;
    let version = *init.get(s).ok_or(BoxError::Malformed("mdhd".into(), s))?;
    // version, flags, then creation and modification times (4 or 8 bytes each).
    let at = s + 4 + if version == 1 { 16 } else { 8 };
    let ts = init
        .get(at..at + 4)
        .filter(|_| at + 4 <= e)
        .ok_or(BoxError::Malformed("mdhd".into(), s))?;
    let ts = u32::from_be_bytes(ts.try_into().expect("4 bytes"));
    if ts == 0 {
        return Err(BoxError::Malformed("mdhd (timescale 0)".into(), s));
    }
    Ok(ts)
}

/// The `baseMediaDecodeTime` of the first fragment of `head` (the first bytes of a media
/// segment, or all of it); `Ok(None)` if its first `moof` runs past `head` (read more).
pub fn first_decode_time(head: &[u8]) -> Result<Option<u64>, BoxError> {
    let top = children(head, 0, head.len(), true)?;
    let Some(moof) = top.iter().find(|c| &c.0 == b"moof") else {
        // No complete moof: either the head is too short or the segment has none.
        let partial = head.len() >= 8 && top.last().is_none_or(|l| l.2 < head.len());
        return if partial { Ok(None) } else { Err(BoxError::Missing("moof")) };
    };
    let (s, e) = find(head, moof.1, moof.2, b"traf")?;
    let (s, e) = find(head, s, e, b"tfdt")?;
    let version = *head.get(s).ok_or(BoxError::Malformed("tfdt".into(), s))?;
    let bad = || BoxError::Malformed("tfdt".into(), s);
    let t = if version == 1 {
        u64::from_be_bytes(
            head.get(s + 4..s + 12).filter(|_| s + 12 <= e).ok_or_else(bad)?.try_into().expect("8"),
        )
    } else {
        u64::from(u32::from_be_bytes(
            head.get(s + 4..s + 8).filter(|_| s + 8 <= e).ok_or_else(bad)?.try_into().expect("4"),
        ))
    };
    Ok(Some(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn init(version: u8, timescale: u32) -> Vec<u8> {
        let mut mdhd = vec![version, 0, 0, 0];
        mdhd.extend(vec![0; if version == 1 { 16 } else { 8 }]);
        mdhd.extend_from_slice(&timescale.to_be_bytes());
        mdhd.extend(vec![0; 8]);
        let mdia = boxed(b"mdia", &[boxed(b"hdlr", &[0; 12]), boxed(b"mdhd", &mdhd)].concat());
        let trak = boxed(b"trak", &[boxed(b"tkhd", &[0; 20]), mdia].concat());
        [boxed(b"ftyp", b"iso6"), boxed(b"moov", &[boxed(b"mvhd", &[0; 20]), trak].concat())]
            .concat()
    }

    fn segment(version: u8, t: u64) -> Vec<u8> {
        let mut tfdt = vec![version, 0, 0, 0];
        if version == 1 {
            tfdt.extend_from_slice(&t.to_be_bytes());
        } else {
            tfdt.extend_from_slice(&(t as u32).to_be_bytes());
        }
        let traf = boxed(b"traf", &[boxed(b"tfhd", &[0; 8]), boxed(b"tfdt", &tfdt)].concat());
        let moof = boxed(b"moof", &[boxed(b"mfhd", &[0; 8]), traf].concat());
        [boxed(b"styp", b"msdh"), moof, boxed(b"mdat", &[7; 64])].concat()
    }

    #[test]
    fn the_timescale_is_read_from_the_first_tracks_mdhd() {
        assert_eq!(timescale(&init(0, 15360)).unwrap(), 15360);
        assert_eq!(timescale(&init(1, 48000)).unwrap(), 48000);
        assert!(timescale(&init(0, 0)).is_err());
        assert_eq!(timescale(&boxed(b"ftyp", b"iso6")), Err(BoxError::Missing("moov")));
        let mut cut = init(0, 90000);
        cut.truncate(cut.len() - 5);
        assert!(timescale(&cut).is_err(), "a truncated init is refused");
    }

    #[test]
    fn the_first_decode_time_is_the_first_tfdt_in_either_version() {
        assert_eq!(first_decode_time(&segment(0, 92160)).unwrap(), Some(92160));
        assert_eq!(first_decode_time(&segment(1, 1 << 40)).unwrap(), Some(1 << 40));
    }

    #[test]
    fn a_head_that_cuts_the_moof_asks_for_more_and_a_segment_without_one_is_refused() {
        let seg = segment(0, 5);
        assert_eq!(first_decode_time(&seg[..40]).unwrap(), None);
        assert_eq!(first_decode_time(&boxed(b"mdat", &[0; 16])), Err(BoxError::Missing("moof")));
        assert!(first_decode_time(&[0xff; 3]).is_err());
    }
}
