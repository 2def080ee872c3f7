//! The token bucket, the one shape every AWS rate limit ec2-dns meets has (Route53's
//! requests and record changes, EC2's per-API buckets, DynamoDB's capacity), in tokio's
//! time so that a test with the clock paused runs minutes of pacing in an instant.
//!
//! One type serves both sides of a limit: the function pacing itself to stay under it
//! ([`TokenBucket::reserve`]: wait your turn) and a fake service enforcing it
//! ([`TokenBucket::try_take`]: refuse what the bucket cannot pay now).

use std::time::Duration;

use tokio::time::Instant;

/// A bucket of `capacity` tokens, refilled at `rate` tokens per second, full at its start.
///
/// Invariant: calls are paid in the order they reserve, each at the first instant the bucket
/// holds its tokens (a call larger than the bucket: a full bucket, which it overdraws), and
/// the level never rises above `capacity`. So over any interval of `t` seconds the calls
/// paid spend at most `capacity + rate * t` tokens (oversized calls excepted), which is
/// what AWS's own buckets allow.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    /// The level at `at`: just after the last call paid (or at the start).
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket, as of now. A rate or capacity below a thousandth is taken as one
    /// thousandth (a bucket that never refills would make callers wait forever).
    pub fn full(rate: f64, capacity: f64) -> TokenBucket {
        let capacity = capacity.max(0.001);
        TokenBucket {
            rate: rate.max(0.001),
            capacity,
            tokens: capacity,
            at: Instant::now(),
        }
    }

    /// Tokens per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The most tokens the bucket holds (the burst).
    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// The level at `t` (no earlier than the last payment).
    fn level_at(&self, t: Instant) -> f64 {
        let refill = t.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        (self.tokens + refill).min(self.capacity)
    }

    /// When a call of `n` tokens asked for at `now` would be paid: not before `now`, not
    /// before the last call paid, and once the bucket holds `n` (a call larger than the
    /// bucket: once it is full). Takes nothing.
    pub fn ready(&self, n: f64, now: Instant) -> Instant {
        let from = now.max(self.at);
        let need = n.min(self.capacity);
        let short = need - self.level_at(from);
        if short <= 0.0 {
            return from;
        }
        from + Duration::from_secs_f64(short / self.rate)
    }

    /// Pays `n` tokens at [`TokenBucket::ready`]; how long the caller must wait for it.
    pub fn reserve(&mut self, n: f64, now: Instant) -> Duration {
        let at = self.ready(n, now);
        self.tokens = self.level_at(at) - n;
        self.at = at;
        at - now
    }

    /// Takes `n` tokens if the bucket holds them now; whether it did (a service's refusal:
    /// nothing is taken from a refused call).
    pub fn try_take(&mut self, n: f64, now: Instant) -> bool {
        let at = now.max(self.at);
        let level = self.level_at(at);
        if level < n {
            return false;
        }
        self.tokens = level - n;
        self.at = at;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(d: Duration, ms: u64) {
        let want = Duration::from_millis(ms);
        let off = d.abs_diff(want);
        assert!(off < Duration::from_micros(1), "{d:?}, not {want:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_the_burst_are_paid_in_turn_as_the_bucket_refills() {
        let mut b = TokenBucket::full(5.0, 10.0);
        let now = Instant::now();
        about(b.reserve(10.0, now), 0);
        about(b.reserve(1.0, now), 200);
        about(b.reserve(1.0, now), 400);
        // A call larger than the bucket waits for a full bucket, then overdraws it: one
        // second later the bucket holds 3 of its 10 (the last call was paid at 0.4 s).
        let later = now + Duration::from_secs(1);
        about(b.reserve(20.0, later), 1400);
        // Asked for before the last payment, a call is paid after it.
        assert!(b.ready(0.0, now) >= later + Duration::from_millis(1400));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_call_takes_nothing_and_the_bucket_refills_to_its_capacity_only() {
        let mut b = TokenBucket::full(2.0, 4.0);
        let now = Instant::now();
        assert!(b.try_take(3.0, now));
        assert!(!b.try_take(2.0, now), "one token left");
        assert!(b.try_take(1.0, now), "the refusal took nothing");
        let much_later = now + Duration::from_secs(3600);
        assert!(!b.try_take(5.0, much_later), "never more than the capacity");
        assert!(b.try_take(4.0, much_later));
    }
}
