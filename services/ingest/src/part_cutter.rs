//! [`PartCutter`] (pure): cuts a stream of bytes that starts at an arbitrary offset into
//! fixed-size store parts. tus lets a client send any number of bytes per PATCH, while S3
//! wants every part but the last to be at least 5 MiB; so part `k` always holds bytes
//! `[k·P, (k+1)·P)` of the upload, and whatever is left past the last whole part (the
//! *tail*, shorter than `P`) waits in a small object until the next PATCH, on any replica,
//! prepends it to its body. Fixed positions mean a retried PATCH rewrites a part with the same
//! bytes (the same ETag), never a shifted one.

use bytes::{Bytes, BytesMut};

/// Cuts bytes into parts of `part_size`, starting at part `next_part` with `tail` already held.
#[derive(Debug)]
pub struct PartCutter {
    part_size: usize,
    next_part: usize,
    buf: BytesMut,
}

impl PartCutter {
    /// A cutter for an upload whose parts `0..next_part` are stored and whose `tail` (shorter
    /// than a part) follows them.
    pub fn new(part_size: u64, next_part: usize, tail: Bytes) -> PartCutter {
        let part_size = usize::try_from(part_size).expect("part size fits in memory");
        assert!(part_size > 0 && tail.len() < part_size, "a tail is shorter than a part");
        let mut buf = BytesMut::with_capacity(part_size);
        buf.extend_from_slice(&tail);
        PartCutter { part_size, next_part, buf }
    }

    /// Adds `bytes`; returns the parts that became whole, `(index, bytes)` in order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<(usize, Bytes)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let take = (self.part_size - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == self.part_size {
                let part =
                    std::mem::replace(&mut self.buf, BytesMut::with_capacity(self.part_size));
                out.push((self.next_part, part.freeze()));
                self.next_part += 1;
            }
        }
        out
    }

    /// The index of the next part and the bytes held for it (the new tail).
    pub fn finish(self) -> (usize, Bytes) {
        (self.next_part, self.buf.freeze())
    }
}

/// The part size of an upload of `size` bytes: at least `min` (and the configured chunk
/// size), and large enough that the upload needs at most `max_parts` parts, rounded up to
/// a whole MiB.
pub fn part_size_for(size: u64, chunk_size: u64, min: u64, max_parts: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let need = size.div_ceil(max_parts.max(1));
    let p = need.max(chunk_size).max(min).max(1);
    if p.is_multiple_of(MIB) { p } else { (p / MIB + 1) * MIB }
}

/// S3's most parts per upload.
pub const MAX_PARTS: u64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// Feeds `data` in PATCHes of the given sizes, each PATCH a fresh cutter resumed from the
    /// stored parts and tail, and checks every byte lands at its place exactly once.
    fn replay(data: &[u8], part: u64, patches: &[usize]) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut tail = Bytes::new();
        let mut at = 0;
        for &n in patches {
            let mut c = PartCutter::new(part, parts.len(), tail.clone());
            // A PATCH body arrives in frames of odd sizes.
            for frame in data[at..at + n].chunks(7_001) {
                for (k, p) in c.push(frame) {
                    assert_eq!(k, parts.len(), "parts come in order");
                    parts.push(p.to_vec());
                }
            }
            at += n;
            let (next, t) = c.finish();
            assert_eq!(next, parts.len());
            tail = t;
        }
        (parts, tail.to_vec())
    }

    #[test]
    fn patches_of_any_size_fill_fixed_parts_in_order() {
        let data = bytes(100_000);
        for patches in [
            vec![100_000],
            vec![30_000, 30_000, 40_000],
            vec![1, 29_999, 1, 69_999],
            vec![25_000, 25_000, 25_000, 25_000],
            vec![99_999, 1],
        ] {
            let (parts, tail) = replay(&data, 25_000, &patches);
            assert!(parts.iter().all(|p| p.len() == 25_000), "{patches:?}");
            let mut joined: Vec<u8> = parts.concat();
            joined.extend_from_slice(&tail);
            assert_eq!(joined, data, "{patches:?}");
            assert_eq!(parts.len(), 4, "{patches:?}");
            assert!(tail.is_empty());
        }
        let (parts, tail) = replay(&data[..60_000], 25_000, &[10_000, 50_000]);
        assert_eq!((parts.len(), tail.len()), (2, 10_000), "the rest waits as the tail");
    }

    #[test]
    fn part_sizes_respect_the_minimum_and_the_part_count() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(part_size_for(1_000, 5 * MIB, 5 * MIB, MAX_PARTS), 5 * MIB);
        assert_eq!(part_size_for(1_000, 8 * MIB, 5 * MIB, MAX_PARTS), 8 * MIB);
        let big = 100 * 1024 * MIB;
        let p = part_size_for(big, 5 * MIB, 5 * MIB, MAX_PARTS);
        assert!(big.div_ceil(p) <= MAX_PARTS && p.is_multiple_of(MIB), "{p}");
        assert_eq!(part_size_for(0, 0, 0, MAX_PARTS), MIB);
    }
}
