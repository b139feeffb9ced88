//! What `framelog upload` accepts from the server: the server is not trusted to be honest.
//!
//! A hostile or broken server could answer a chunk size of 0 or of terabytes, a chunk count
//! that does not fit the file, or "missing" ranges past the end, out of order or billions of
//! chunks long. Every one of those used to reach arithmetic (`size - offset`, `total -
//! missing`) or an allocation (`vec![0; chunk_size]`, one `u64` per missing chunk). Here each
//! answer is checked against the file the client knows, before any IO, so a bad answer is a
//! clear error and memory stays bounded: chunks are iterated from ranges, never collected.

use anyhow::{Context, bail, ensure};
use futures::StreamExt;

/// The largest chunk the client will buffer (one buffer per chunk in flight).
pub const MAX_CHUNK_SIZE: u64 = 256 << 20;

/// The largest JSON answer the client reads from the server.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The chunks still to send, checked against the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub chunk_size: u64,
    pub total_chunks: u64,
    /// Inclusive, ascending, non-overlapping chunk ranges, each inside `0..total_chunks`.
    pub missing: Vec<(u64, u64)>,
}

impl Plan {
    /// Checks the server's `chunk_size`, `total_chunks` and `missing` for a file of `size`
    /// bytes. `missing` absent means every chunk is missing (a fresh upload).
    pub fn from_answer(v: &serde_json::Value, size: u64) -> anyhow::Result<Plan> {
        let chunk_size = v["chunk_size"].as_u64().context("the server sent no chunk_size")?;
        ensure!(
            (1..=MAX_CHUNK_SIZE).contains(&chunk_size),
            "the server asked for chunks of {chunk_size} bytes (accepted: 1 to {MAX_CHUNK_SIZE})"
        );
        let expected = size.div_ceil(chunk_size);
        let total_chunks = v["total_chunks"].as_u64().context("the server sent no total_chunks")?;
        ensure!(
            total_chunks == expected,
            "the server expects {total_chunks} chunks, but a file of {size} bytes in chunks \
             of {chunk_size} bytes has {expected}"
        );
        let missing = match v.get("missing") {
            None | Some(serde_json::Value::Null) => {
                if total_chunks == 0 {
                    vec![]
                } else {
                    vec![(0, total_chunks - 1)]
                }
            }
            Some(m) => ranges(m, total_chunks)?,
        };
        Ok(Plan { chunk_size, total_chunks, missing })
    }

    /// How many chunks are still to send.
    pub fn missing_chunks(&self) -> u64 {
        self.missing.iter().map(|(a, b)| b - a + 1).sum()
    }

    /// Bytes the server already has (for the progress bar).
    pub fn bytes_present(&self, size: u64) -> u64 {
        let present = self.total_chunks.saturating_sub(self.missing_chunks());
        present.saturating_mul(self.chunk_size).min(size)
    }

    /// Every missing chunk index, lazily.
    pub fn chunks(&self) -> impl Iterator<Item = u64> + use<> {
        self.missing.clone().into_iter().flat_map(|(a, b)| a..=b)
    }

    /// Offset and length of chunk `n` (only for `n < total_chunks`, as [`Plan::chunks`] gives).
    pub fn span(&self, n: u64, size: u64) -> (u64, usize) {
        let off = n * self.chunk_size;
        (off, self.chunk_size.min(size - off) as usize)
    }
}

fn ranges(m: &serde_json::Value, total: u64) -> anyhow::Result<Vec<(u64, u64)>> {
    let arr = m.as_array().context("the server's missing ranges are not a list")?;
    let mut out = Vec::with_capacity(arr.len().min(4096));
    let mut next_free = 0u64;
    for r in arr {
        let (a, b) = match r.as_array().map(Vec::as_slice) {
            Some([a, b]) => (a.as_u64(), b.as_u64()),
            _ => (None, None),
        };
        let (Some(a), Some(b)) = (a, b) else {
            bail!("the server sent a missing range that is not [first, last]: {r}")
        };
        ensure!(a <= b && b < total, "the server sent the range [{a}, {b}] of {total} chunks");
        ensure!(a >= next_free, "the server's missing ranges overlap or are out of order");
        next_free = b + 1;
        out.push((a, b));
    }
    Ok(out)
}

/// An id the server named (upload or video): it goes into URLs and file names, so it must be
/// a plain id (`[a-z0-9_-]{1,64}`), never a path.
pub fn id<'a>(v: &'a serde_json::Value, field: &str) -> anyhow::Result<&'a str> {
    let s = v[field].as_str().with_context(|| format!("the server sent no {field}"))?;
    framelog_events::id::validate_id(s)
        .map_err(|e| anyhow::anyhow!("the server sent an invalid {field}: {e}"))?;
    Ok(s)
}

/// A server's text made safe for a terminal: no control characters, at most 300 characters.
pub fn printable(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).take(300).collect();
    if s.chars().count() > 300 { format!("{clean}…") } else { clean }
}

/// Reads a JSON answer of at most [`MAX_ANSWER_BYTES`]; a longer one is an error, not an
/// allocation.
pub async fn json(res: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    if res.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        bail!("the server's answer is larger than {MAX_ANSWER_BYTES} bytes");
    }
    let mut body = Vec::new();
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.context("reading the server's answer")?;
        ensure!(
            body.len() + chunk.len() <= MAX_ANSWER_BYTES,
            "the server's answer is larger than {MAX_ANSWER_BYTES} bytes"
        );
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).context("the server's answer is not JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fresh_plan_covers_every_chunk_of_the_file() {
        let p = Plan::from_answer(&json!({"chunk_size": 4, "total_chunks": 3}), 10).unwrap();
        assert_eq!(p.missing, vec![(0, 2)]);
        assert_eq!(p.chunks().collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(p.span(2, 10), (8, 2));
        assert_eq!(p.bytes_present(10), 0);
    }

    #[test]
    fn a_resumed_plan_counts_the_bytes_already_there() {
        let v = json!({"chunk_size": 4, "total_chunks": 3, "missing": [[1, 1]]});
        let p = Plan::from_answer(&v, 10).unwrap();
        assert_eq!(p.missing_chunks(), 1);
        assert_eq!(p.bytes_present(10), 8);
    }

    #[test]
    fn a_chunk_size_of_zero_or_of_terabytes_is_refused() {
        for cs in [0u64, MAX_CHUNK_SIZE + 1, u64::MAX] {
            let v = json!({"chunk_size": cs, "total_chunks": 1});
            assert!(Plan::from_answer(&v, 10).is_err(), "{cs}");
        }
    }

    #[test]
    fn a_chunk_count_that_does_not_fit_the_file_is_refused() {
        let v = json!({"chunk_size": 4, "total_chunks": 2});
        let e = Plan::from_answer(&v, 10).unwrap_err().to_string();
        assert!(e.contains("has 3"), "{e}");
    }

    #[test]
    fn missing_ranges_past_the_end_reversed_or_overlapping_are_refused() {
        for m in [
            json!([[0, 3]]),
            json!([[2, 1]]),
            json!([[0, 1], [1, 2]]),
            json!([[2, 2], [0, 0]]),
            json!([[0]]),
            json!([["0", 1]]),
            json!([[-1, 1]]),
            json!({"0": 1}),
            json!([[0, u64::MAX]]),
        ] {
            let v = json!({"chunk_size": 4, "total_chunks": 3, "missing": m});
            assert!(Plan::from_answer(&v, 10).is_err(), "{m}");
        }
    }

    #[test]
    fn a_huge_range_is_iterated_not_collected() {
        // 2^40 chunks of 1 byte: collecting them would need 8 TiB.
        let size = 1u64 << 40;
        let v = json!({"chunk_size": 1, "total_chunks": size, "missing": [[0, size - 1]]});
        let p = Plan::from_answer(&v, size).unwrap();
        assert_eq!(p.missing_chunks(), size);
        assert_eq!(p.chunks().nth(5), Some(5));
    }

    #[test]
    fn ids_from_the_server_must_be_plain_ids() {
        assert_eq!(id(&json!({"upload_id": "upl_1"}), "upload_id").unwrap(), "upl_1");
        for bad in [json!("../admin"), json!("a/b"), json!(""), json!(7), json!("A")] {
            assert!(id(&json!({ "upload_id": bad }), "upload_id").is_err(), "{bad}");
        }
    }

    #[test]
    fn server_text_loses_control_characters_and_is_bounded() {
        assert_eq!(printable("ok\x1b[2Jboom\n"), "ok[2Jboom");
        assert_eq!(printable(&"x".repeat(1000)).chars().count(), 301);
    }
}
