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
/// Invariant: between two calls the level only rises, at `rate`, and never above
/// `capacity`; [`TokenBucket::reserve`] may take it below zero, which makes later callers
/// wait until the tokens they were promised have been refilled. So callers that wait as
/// told spend, over any interval of `t` seconds, at most `capacity + rate * t` tokens
/// (a single call larger than the bucket excepted: it waits for a full bucket, then
/// overdraws it).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
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

    fn refill(&mut self, now: Instant) {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.capacity);
        self.at = self.at.max(now);
    }

    /// Takes `n` tokens now; how long the caller must wait before it acts: until the bucket
    /// would have held `n` (or, for a call larger than the bucket, a full bucket).
    pub fn reserve(&mut self, n: f64, now: Instant) -> Duration {
        self.refill(now);
        let need = n.min(self.capacity);
        let wait = ((need - self.tokens) / self.rate).max(0.0);
        self.tokens -= n;
        Duration::from_secs_f64(wait)
    }

    /// Takes `n` tokens if the bucket holds them now; whether it did (a service's refusal:
    /// nothing is taken from a refused call).
    pub fn try_take(&mut self, n: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens < n {
            return false;
        }
        self.tokens -= n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_reservation_beyond_the_burst_waits_for_the_refill_of_what_it_overdraws() {
        let mut b = TokenBucket::full(5.0, 10.0);
        let now = Instant::now();
        assert_eq!(b.reserve(10.0, now), Duration::ZERO, "the burst is free");
        assert_eq!(b.reserve(1.0, now), Duration::from_millis(200));
        assert_eq!(b.reserve(1.0, now), Duration::from_millis(400));
        // A call larger than the bucket waits for a full bucket, then overdraws it: one
        // second later the bucket holds 3 of its 10.
        let later = now + Duration::from_secs(1);
        assert_eq!(b.reserve(20.0, later), Duration::from_millis(1400));
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
