//! Rewriting fMP4 media segments in place (pure): a range encoded on its own starts at time 0,
//! so before its segments join the others their decode times are moved to where the range
//! starts (`tfdt.baseMediaDecodeTime` + offset) and their fragment sequence numbers
//! (`mfhd.sequence_number`) made global. Neither changes a box's size, so sample offsets and
//! byte ranges stay valid. Also: the timescale of an init segment and a fingerprint of what it
//! says about playback (its `edts` left out).

use sha2::{Digest, Sha256};

/// fMP4 bytes that cannot be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoxError {
    #[error("box `{0}` at byte {1} runs past the end of the data")]
    Truncated(String, u64),
    #[error("no `{0}` box")]
    Missing(&'static str),
    #[error("the tfdt at byte {0} cannot hold its time plus the offset (version 0, 32 bits)")]
    Overflow(u64),
    #[error(transparent)]
    Init(#[from] crate::iframes::BoxError),
}

/// `(type, start, header length, end)` of one box.
type Span = ([u8; 4], usize, usize, usize);

/// Every box in `b[from..to]`.
fn boxes(b: &[u8], from: usize, to: usize) -> Result<Vec<Span>, BoxError> {
    let mut out = Vec::new();
    let mut at = from;
    while at + 8 <= to {
        let kind: [u8; 4] = b[at + 4..at + 8].try_into().expect("4 bytes");
        let truncated =
            || BoxError::Truncated(String::from_utf8_lossy(&kind).into_owned(), at as u64);
        let size32 = u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        let (size, header) = match size32 {
            1 => {
                let big = b.get(at + 8..at + 16).ok_or_else(truncated)?;
                let s = u64::from_be_bytes(big.try_into().expect("8 bytes"));
                (usize::try_from(s).map_err(|_| truncated())?, 16)
            }
            0 => (to - at, 8),
            s => (s as usize, 8),
        };
        if size < header || at + size > to {
            return Err(truncated());
        }
        out.push((kind, at, header, at + size));
        at += size;
    }
    if at != to {
        return Err(BoxError::Truncated("(trailing bytes)".into(), at as u64));
    }
    Ok(out)
}

/// The full-box payload (after version and flags) of `span`, checking it holds `len` bytes.
fn payload(span: &Span, len: usize) -> Result<usize, BoxError> {
    let (kind, start, header, end) = *span;
    let body = start + header;
    if body + 4 + len > end {
        return Err(BoxError::Truncated(String::from_utf8_lossy(&kind).into_owned(), start as u64));
    }
    Ok(body + 4)
}

/// Adds `offset` (track timescale units) to every `tfdt` in `segment` and sets the `mfhd`
/// sequence numbers from `first_sequence` on, one per `moof`, in place. Returns the next
/// sequence number. Errors on a malformed box or a version-0 `tfdt` that would overflow.
pub fn shift_fragments(
    segment: &mut [u8],
    offset: u64,
    first_sequence: u32,
) -> Result<u32, BoxError> {
    let mut sequence = first_sequence;
    for moof in boxes(segment, 0, segment.len())?.into_iter().filter(|s| &s.0 == b"moof") {
        let children = boxes(segment, moof.1 + moof.2, moof.3)?;
        let mfhd = children.iter().find(|s| &s.0 == b"mfhd").ok_or(BoxError::Missing("mfhd"))?;
        let at = payload(mfhd, 4)?;
        segment[at..at + 4].copy_from_slice(&sequence.to_be_bytes());
        sequence = sequence.wrapping_add(1);
        for traf in children.iter().filter(|s| &s.0 == b"traf") {
            let inner = boxes(segment, traf.1 + traf.2, traf.3)?;
            let tfdt = inner.iter().find(|s| &s.0 == b"tfdt").ok_or(BoxError::Missing("tfdt"))?;
            let version = segment[tfdt.1 + tfdt.2];
            if version == 1 {
                let at = payload(tfdt, 8)?;
                let t = u64::from_be_bytes(segment[at..at + 8].try_into().expect("8 bytes"));
                let t = t.checked_add(offset).ok_or(BoxError::Overflow(tfdt.1 as u64))?;
                segment[at..at + 8].copy_from_slice(&t.to_be_bytes());
            } else {
                let at = payload(tfdt, 4)?;
                let t = u32::from_be_bytes(segment[at..at + 4].try_into().expect("4 bytes"));
                let t = u64::from(t) + offset;
                let t = u32::try_from(t).map_err(|_| BoxError::Overflow(tfdt.1 as u64))?;
                segment[at..at + 4].copy_from_slice(&t.to_be_bytes());
            }
        }
    }
    Ok(sequence)
}

/// The `mdhd` timescale of the (first) track of an init segment.
pub fn track_timescale(init: &[u8]) -> Result<u32, BoxError> {
    Ok(crate::iframes::parse_init(init)?.timescale)
}

/// Boxes whose children are hashed one by one (so a child left out does not show in the
/// parent's size).
const CONTAINERS: [&[u8; 4]; 8] =
    [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"dinf", b"udta"];

fn feed(b: &[u8], from: usize, to: usize, h: &mut Sha256) -> Result<(), BoxError> {
    for span in boxes(b, from, to)? {
        let (kind, start, header, end) = span;
        if &kind == b"edts" {
            continue;
        }
        if CONTAINERS.contains(&&kind) {
            h.update(kind);
            h.update(b"{");
            feed(b, start + header, end, h)?;
            h.update(b"}");
        } else {
            h.update(&b[start..end]);
        }
    }
    Ok(())
}

/// sha256 (hex) of the init segment without its `edts` box (the edit list, which only says
/// where presentation starts): equal for inits that play the same. Container boxes are hashed
/// as their type and children, never their size.
pub fn init_fingerprint(init: &[u8]) -> Result<String, BoxError> {
    let mut h = Sha256::new();
    feed(init, 0, init.len(), &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
#[path = "fmp4_tests.rs"]
mod tests;
