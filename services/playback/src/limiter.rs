//! [`BeaconLimiter`]: how many view beacons one viewer address may send, and how many distinct
//! sessions it may claim per view window. Pure (time is passed in), bounded in memory.
//!
//! - A token bucket per address: `burst` beacons at once, refilled at `rate` per second. Beyond
//!   it a beacon is refused (429) and counts nothing.
//! - At most `sessions` distinct sessions per address and window: a script that invents a new
//!   `session` for each beacon is one viewer per session only up to that cap, so one address
//!   can never mint more than `sessions` views of a window.
//! - At most `addresses` addresses are remembered; the one seen longest ago is forgotten first
//!   (forgetting only ever resets an address to a full bucket, it never refuses anyone).
//!
//! IPv6 addresses are keyed by their /64 (one host usually owns a whole /64, so keying by the
//! full address would give one attacker 2^64 buckets); v4-mapped v6 addresses as IPv4.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

/// Limits of the beacon limiter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterConfig {
    /// Beacons per second refilled per address (0 disables the limiter).
    pub rate: f64,
    /// Bucket size: beacons an address may send at once.
    pub burst: u32,
    /// Distinct sessions per address and view window.
    pub sessions: usize,
    /// Addresses remembered at most.
    pub addresses: usize,
}

/// Why a beacon is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address's bucket is empty; retry after this many seconds.
    Rate { retry_after_secs: u64 },
    /// The address already has its cap of sessions in this window.
    Sessions,
}

#[derive(Debug)]
struct Entry {
    tokens: f64,
    /// When `tokens` was last refilled, seconds.
    refilled: f64,
    /// Order of last use (key of `Inner::by_use`).
    used: u64,
    window: i64,
    /// Hashes of this window's sessions (at most `sessions`).
    sessions: Vec<u64>,
    /// Hashes of this window's sessions that sent their QoE summary (a subset of `sessions`).
    qoe: Vec<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<IpAddr, Entry>,
    by_use: BTreeMap<u64, IpAddr>,
    tick: u64,
}

/// The per-address beacon limiter; shared by the handlers of one process.
#[derive(Debug)]
pub struct BeaconLimiter {
    cfg: LimiterConfig,
    inner: Mutex<Inner>,
}

/// The key an address is limited by.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

fn session_hash(session: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(session)
}

impl BeaconLimiter {
    pub fn new(cfg: LimiterConfig) -> BeaconLimiter {
        BeaconLimiter { cfg, inner: Mutex::new(Inner::default()) }
    }

    /// Addresses currently remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("limiter poisoned").entries.len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one beacon from `ip`'s bucket at `now` (seconds, monotonic).
    pub fn take(&self, ip: IpAddr, now: f64) -> Result<(), Refusal> {
        if self.cfg.rate <= 0.0 {
            return Ok(());
        }
        let burst = f64::from(self.cfg.burst.max(1));
        let mut inner = self.inner.lock().expect("limiter poisoned");
        let e = self.touch(&mut inner, address_key(ip), now);
        e.tokens = (e.tokens + (now - e.refilled).max(0.0) * self.cfg.rate).min(burst);
        e.refilled = now;
        if e.tokens < 1.0 {
            let wait = ((1.0 - e.tokens) / self.cfg.rate).ceil().max(1.0);
            return Err(Refusal::Rate { retry_after_secs: wait as u64 });
        }
        e.tokens -= 1.0;
        Ok(())
    }

    /// Admits `session` of `ip` in view `window` under the per-window cap of distinct sessions
    /// (for a beacon that would count a view). A known session is always admitted.
    pub fn admit_session(&self, ip: IpAddr, session: &str, window: i64) -> Result<(), Refusal> {
        if self.cfg.rate <= 0.0 {
            return Ok(());
        }
        let mut inner = self.inner.lock().expect("limiter poisoned");
        let e = match inner.entries.get_mut(&address_key(ip)) {
            Some(e) => e,
            // Forgotten since its beacon was taken (a flood of other addresses): start again.
            None => self.touch(&mut inner, address_key(ip), 0.0),
        };
        if e.window != window {
            e.window = window;
            e.sessions.clear();
            e.qoe.clear();
        }
        let h = session_hash(session);
        if e.sessions.contains(&h) {
            return Ok(());
        }
        if e.sessions.len() >= self.cfg.sessions {
            return Err(Refusal::Sessions);
        }
        e.sessions.push(h);
        Ok(())
    }

    /// Whether `session` of `ip` may send its QoE summary of `window`: the first time in the
    /// window only (call after [`Self::admit_session`] admitted it). One summary per session
    /// and window is what bounds a session's weight in the averages (across replicas the
    /// event's deterministic id does the same, silently).
    pub fn admit_qoe(&self, ip: IpAddr, session: &str, window: i64) -> bool {
        if self.cfg.rate <= 0.0 {
            return true;
        }
        let mut inner = self.inner.lock().expect("limiter poisoned");
        let Some(e) = inner.entries.get_mut(&address_key(ip)) else { return true };
        if e.window != window {
            return true;
        }
        let h = session_hash(session);
        if e.qoe.contains(&h) {
            return false;
        }
        e.qoe.push(h);
        true
    }

    /// `key`'s entry, created with a full bucket (forgetting the least recently used address
    /// when the map is full), and marked as the most recently used.
    fn touch<'a>(&self, inner: &'a mut Inner, key: IpAddr, now: f64) -> &'a mut Entry {
        inner.tick += 1;
        let tick = inner.tick;
        match inner.entries.get(&key) {
            Some(e) => {
                let old = e.used;
                inner.by_use.remove(&old);
            }
            None => {
                while inner.entries.len() >= self.cfg.addresses.max(1) {
                    let Some((_, oldest)) = inner.by_use.pop_first() else { break };
                    inner.entries.remove(&oldest);
                }
                let tokens = f64::from(self.cfg.burst.max(1));
                let fresh = Entry {
                    tokens,
                    refilled: now,
                    used: tick,
                    window: i64::MIN,
                    sessions: Vec::new(),
                    qoe: Vec::new(),
                };
                inner.entries.insert(key, fresh);
            }
        }
        inner.by_use.insert(tick, key);
        let e = inner.entries.get_mut(&key).expect("present");
        e.used = tick;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LimiterConfig {
        LimiterConfig { rate: 2.0, burst: 5, sessions: 3, addresses: 4 }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_is_allowed_then_the_rate_applies() {
        let l = BeaconLimiter::new(cfg());
        let a = ip("1.2.3.4");
        for _ in 0..5 {
            assert_eq!(l.take(a, 0.0), Ok(()));
        }
        assert_eq!(l.take(a, 0.0), Err(Refusal::Rate { retry_after_secs: 1 }));
        assert_eq!(l.take(a, 0.49), Err(Refusal::Rate { retry_after_secs: 1 }));
        assert_eq!(l.take(a, 0.5), Ok(()), "one token after half a second at 2/s");
        assert!(l.take(a, 0.5).is_err());
        assert_eq!(l.take(ip("1.2.3.5"), 0.5), Ok(()), "another address, another bucket");
        for _ in 0..5 {
            assert_eq!(l.take(a, 100.0), Ok(()), "refilled up to the burst only");
        }
        assert!(l.take(a, 100.0).is_err());
    }

    #[test]
    fn fresh_sessions_beyond_the_cap_are_refused_until_the_next_window() {
        let l = BeaconLimiter::new(LimiterConfig { burst: 100, ..cfg() });
        let a = ip("9.9.9.9");
        for s in ["s1", "s2", "s3"] {
            assert_eq!(l.take(a, 0.0), Ok(()));
            assert_eq!(l.admit_session(a, s, 30), Ok(()));
        }
        assert_eq!(l.admit_session(a, "s4", 30), Err(Refusal::Sessions));
        assert_eq!(l.admit_session(a, "s2", 30), Ok(()), "a known session still beacons");
        assert_eq!(l.admit_session(ip("9.9.9.8"), "s4", 30), Ok(()), "caps are per address");
        assert_eq!(l.admit_session(a, "s4", 60), Ok(()), "the next window starts afresh");
        assert_eq!(l.admit_session(a, "s1", 30), Ok(()), "(an old window is a new one too)");
    }

    #[test]
    fn a_session_sends_one_qoe_summary_per_window() {
        let l = BeaconLimiter::new(LimiterConfig { burst: 100, ..cfg() });
        let a = ip("9.9.9.9");
        assert_eq!(l.take(a, 0.0), Ok(()));
        assert_eq!(l.admit_session(a, "s1", 30), Ok(()));
        assert!(l.admit_qoe(a, "s1", 30));
        assert!(!l.admit_qoe(a, "s1", 30), "a second summary in the window is refused");
        assert_eq!(l.admit_session(a, "s2", 30), Ok(()));
        assert!(l.admit_qoe(a, "s2", 30), "another session has its own summary");
        assert_eq!(l.admit_session(a, "s1", 60), Ok(()));
        assert!(l.admit_qoe(a, "s1", 60), "the next window takes one again");
    }

    #[test]
    fn memory_is_bounded_and_the_longest_unused_address_is_forgotten() {
        let l = BeaconLimiter::new(LimiterConfig { burst: 1, ..cfg() });
        for i in 0..4 {
            assert!(l.take(ip(&format!("10.0.0.{i}")), 0.0).is_ok());
        }
        assert!(l.take(ip("10.0.0.0"), 0.0).is_err(), "10.0.0.0 used again, refused");
        for i in 4..1000 {
            let _ = l.take(ip(&format!("10.0.{}.{}", i / 256, i % 256)), 0.0);
            assert!(l.len() <= 4);
        }
        assert_eq!(l.len(), 4);
        assert!(l.take(ip("10.0.0.1"), 0.0).is_ok(), "forgotten: a full bucket again");
    }

    #[test]
    fn ipv6_hosts_share_their_64_and_mapped_v4_is_v4() {
        let l = BeaconLimiter::new(LimiterConfig { burst: 1, ..cfg() });
        assert!(l.take(ip("2001:db8:1:2::1"), 0.0).is_ok());
        assert!(l.take(ip("2001:db8:1:2:ffff::9"), 0.0).is_err(), "same /64");
        assert!(l.take(ip("2001:db8:1:3::1"), 0.0).is_ok(), "another /64");
        assert!(l.take(ip("5.6.7.8"), 0.0).is_ok());
        assert!(l.take(ip("::ffff:5.6.7.8"), 0.0).is_err(), "v4-mapped is the v4 address");
    }

    #[test]
    fn a_zero_rate_disables_the_limiter() {
        let l = BeaconLimiter::new(LimiterConfig { rate: 0.0, ..cfg() });
        for i in 0..100 {
            assert!(l.take(ip("1.1.1.1"), 0.0).is_ok());
            assert!(l.admit_session(ip("1.1.1.1"), &i.to_string(), 0).is_ok());
        }
        assert!(l.is_empty());
    }
}
