//! The retry schedule (pure): the Standard Webhooks spec's suggestion, with jitter, and the
//! rule that gives up on an endpoint that has failed for about five days.
//!
//! After attempt `n` fails, the next one waits `DELAYS[n-1]` (the spec: immediately, 5 s,
//! 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then 10 h again) ± 10 % jitter, so many deliveries
//! failing together do not come back together. Once the next attempt would fall more than
//! [`GIVE_UP_AFTER`] after the first one, the delivery is given up and the endpoint disabled.
//! `scale` (`--webhook-retry-scale`, 1.0 in production) multiplies every delay and the
//! give-up window, so tests run the real schedule in seconds.

use std::time::Duration;

/// Waits after failed attempts 1, 2, 3, ... (the first attempt is immediate); the last repeats.
pub const DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How long a delivery keeps being retried after its first attempt before the endpoint is
/// disabled (the spec's "about five days").
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);

/// Jitter: each delay is scaled by a factor in `[1 - JITTER, 1 + JITTER)`.
pub const JITTER: f64 = 0.1;

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Try again after this long.
    RetryIn(Duration),
    /// Stop: the endpoint has failed for the whole window; disable it.
    GiveUp,
}

/// The schedule, possibly scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Multiplies every delay and the give-up window (1.0: the spec's schedule).
    pub scale: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule { scale: 1.0 }
    }
}

impl Schedule {
    /// The delay after failed attempt `attempt` (1-based), before jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let i = (attempt.max(1) as usize - 1).min(DELAYS.len() - 1);
        DELAYS[i].mul_f64(self.scale)
    }

    /// The give-up window, scaled.
    pub fn give_up_after(&self) -> Duration {
        GIVE_UP_AFTER.mul_f64(self.scale)
    }

    /// What follows failed attempt `attempt`, `elapsed` after the first attempt; `jitter` is a
    /// uniform sample in `[0, 1)` (passed in so the rule stays pure).
    pub fn after_failure(&self, attempt: u32, elapsed: Duration, jitter: f64) -> Next {
        let factor = 1.0 - JITTER + 2.0 * JITTER * jitter.clamp(0.0, 1.0);
        let delay = self.base_delay(attempt).mul_f64(factor);
        if elapsed + delay > self.give_up_after() { Next::GiveUp } else { Next::RetryIn(delay) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MID: f64 = 0.5; // no jitter

    #[test]
    fn the_schedule_is_the_specs_suggestion() {
        let s = Schedule::default();
        let secs: Vec<u64> = (1..=9).map(|n| s.base_delay(n).as_secs()).collect();
        assert_eq!(secs, [5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000]);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let s = Schedule::default();
        let lo = s.after_failure(2, Duration::ZERO, 0.0);
        let hi = s.after_failure(2, Duration::ZERO, 0.999_999);
        assert_eq!(lo, Next::RetryIn(Duration::from_secs(270)));
        let Next::RetryIn(h) = hi else { panic!("{hi:?}") };
        assert!(h < Duration::from_secs(330) && h > Duration::from_secs(329), "{h:?}");
    }

    #[test]
    fn a_delivery_failing_for_five_days_is_given_up() {
        let s = Schedule::default();
        // Walk the schedule from the first attempt until it gives up.
        let (mut elapsed, mut attempt) = (Duration::ZERO, 1);
        while let Next::RetryIn(d) = s.after_failure(attempt, elapsed, MID) {
            elapsed += d;
            attempt += 1;
        }
        assert!(elapsed <= GIVE_UP_AFTER);
        assert!(elapsed > GIVE_UP_AFTER - Duration::from_secs(10 * 3600), "{elapsed:?}");
        // 8 spec steps (27.6 h) then a 10 h step per attempt up to ~5 days.
        assert_eq!(attempt, 17, "attempts before giving up");
    }

    #[test]
    fn a_scale_shrinks_delays_and_the_window_alike() {
        let s = Schedule { scale: 0.001 };
        assert_eq!(s.base_delay(1), Duration::from_millis(5));
        assert_eq!(s.give_up_after(), Duration::from_secs(432));
        assert_eq!(s.after_failure(1, Duration::from_secs(432), MID), Next::GiveUp);
    }
}
