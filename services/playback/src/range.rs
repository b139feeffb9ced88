//! HTTP `Range` requests (RFC 9110 §14): one byte range per request. A multi-range request is
//! answered with the whole file (allowed: a server may ignore `Range`), which players never send.

/// What a `Range` header asks of a file of a known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: the whole file, 200.
    Full,
    /// Bytes `start..=end`, 206.
    Partial { start: u64, end: u64 },
    /// The range starts past the end, 416.
    Unsatisfiable,
}

/// Interprets a `Range` header value against a file of `len` bytes. Syntax errors and units
/// other than `bytes` are ignored (whole file), as RFC 9110 allows.
pub fn parse(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if first.is_empty() {
        // Suffix: the last N bytes.
        let Some(n) = num(last) else { return RangeRequest::Full };
        if n == 0 || len == 0 {
            return RangeRequest::Unsatisfiable;
        }
        return RangeRequest::Partial { start: len.saturating_sub(n), end: len - 1 };
    }
    let Some(start) = num(first) else { return RangeRequest::Full };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match num(last) {
            Some(e) if e >= start => e,
            _ => return RangeRequest::Full,
        }
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial { start, end: end.min(len - 1) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn ordinary_ranges_are_clamped_to_the_file() {
        assert_eq!(parse(Some("bytes=0-99"), 1000), Partial { start: 0, end: 99 });
        assert_eq!(parse(Some("bytes=900-"), 1000), Partial { start: 900, end: 999 });
        assert_eq!(parse(Some("bytes=900-5000"), 1000), Partial { start: 900, end: 999 });
        assert_eq!(parse(Some("bytes=-100"), 1000), Partial { start: 900, end: 999 });
        assert_eq!(parse(Some("bytes=-5000"), 1000), Partial { start: 0, end: 999 });
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(parse(Some("bytes=1000-"), 1000), Unsatisfiable);
        assert_eq!(parse(Some("bytes=5000-6000"), 1000), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 1000), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn malformed_or_multiple_ranges_mean_the_whole_file() {
        for h in ["items=0-1", "bytes=", "bytes=a-b", "bytes=5-1", "bytes=0-1,5-6", "bytes=+1-2"] {
            assert_eq!(parse(Some(h), 1000), Full, "{h}");
        }
        assert_eq!(parse(None, 1000), Full);
    }
}
