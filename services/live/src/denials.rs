//! Bounding the `publish_denied` audit: a client retrying a wrong key in a loop must not grow
//! the `VID` stream (kept forever) without bound. At most one event per (stream, remote
//! address) per window; the next event carries how many were suppressed in between. The map is
//! capped, so memory stays bounded too (pure, no IO: the clock is a parameter).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Most (stream, address) pairs remembered at once.
pub const DEFAULT_CAP: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// When the last event of this pair was written.
    written: Instant,
    /// Denials since then that wrote no event.
    suppressed: u64,
}

/// The per-pair rate limit of `publish_denied` events.
#[derive(Debug)]
pub struct DenialLimiter {
    window: Duration,
    cap: usize,
    slots: HashMap<(String, String), Slot>,
}

impl DenialLimiter {
    pub fn new(window: Duration, cap: usize) -> DenialLimiter {
        DenialLimiter { window, cap: cap.max(1), slots: HashMap::new() }
    }

    /// Records one denial of `stream` from `addr` at `now`. `Some(n)`: write an event saying
    /// `n` denials were suppressed before it; `None`: write nothing.
    pub fn admit(&mut self, stream: &str, addr: &str, now: Instant) -> Option<u64> {
        let key = (stream.to_owned(), addr.to_owned());
        if let Some(s) = self.slots.get_mut(&key) {
            if now.saturating_duration_since(s.written) < self.window {
                s.suppressed += 1;
                return None;
            }
            let n = s.suppressed;
            *s = Slot { written: now, suppressed: 0 };
            return Some(n);
        }
        if self.slots.len() >= self.cap {
            let window = self.window;
            self.slots.retain(|_, s| now.saturating_duration_since(s.written) < window);
        }
        if self.slots.len() >= self.cap {
            // Still full of live pairs: forget the oldest (its suppressed count is lost).
            if let Some(oldest) =
                self.slots.iter().min_by_key(|(_, s)| s.written).map(|(k, _)| k.clone())
            {
                self.slots.remove(&oldest);
            }
        }
        self.slots.insert(key, Slot { written: now, suppressed: 0 });
        Some(0)
    }

    /// Pairs remembered now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// The address part of a remote address (`203.0.113.7:51234` → `203.0.113.7`), so a client
/// cannot escape the limit by changing its source port.
pub fn host_of(addr: &str) -> &str {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(std::net::SocketAddr::V4(_)) => addr.rsplit_once(':').map_or(addr, |(h, _)| h),
        Ok(std::net::SocketAddr::V6(_)) => {
            addr.strip_prefix('[').and_then(|a| a.split_once(']')).map_or(addr, |(h, _)| h)
        }
        Err(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_pair_and_window_then_the_count_of_the_suppressed() {
        let t0 = Instant::now();
        let mut l = DenialLimiter::new(Duration::from_secs(60), 16);
        assert_eq!(l.admit("s", "a", t0), Some(0));
        for i in 1..100 {
            assert_eq!(l.admit("s", "a", t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(l.admit("s", "b", t0), Some(0), "another address is another pair");
        assert_eq!(l.admit("t", "a", t0), Some(0), "another stream is another pair");
        assert_eq!(l.admit("s", "a", t0 + Duration::from_secs(61)), Some(99));
        assert_eq!(l.admit("s", "a", t0 + Duration::from_secs(62)), None);
    }

    #[test]
    fn the_map_never_holds_more_than_its_cap() {
        let t0 = Instant::now();
        let mut l = DenialLimiter::new(Duration::from_secs(60), 8);
        for i in 0..1000 {
            l.admit("s", &format!("10.0.0.{i}"), t0 + Duration::from_millis(i));
            assert!(l.len() <= 8);
        }
        // Expired pairs are dropped before live ones.
        let later = t0 + Duration::from_secs(120);
        assert_eq!(l.admit("s", "fresh", later), Some(0));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn the_port_does_not_make_a_new_pair() {
        assert_eq!(host_of("203.0.113.7:51234"), "203.0.113.7");
        assert_eq!(host_of("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(host_of("2001:db8::1"), "2001:db8::1");
        assert_eq!(host_of("203.0.113.7"), "203.0.113.7");
        assert_eq!(host_of(""), "");
    }
}
