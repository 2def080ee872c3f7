//! Time, in one place: how long a decision's Route53 changes may be on their way, how far
//! two runs' clocks may disagree, and the clock itself. Every rule that compares times
//! (a change in flight, an observation older than a decision, a batch too late to send)
//! takes its numbers from here.
//!
//! The protocol: a run writes a lock decision with `until` = the end of its change window.
//! Until then the generation may still be landing in Route53 (another run reads before it
//! acts); after it, no change of that generation can still land, because the run sends no
//! Route53 call that could outlast the window ([`SendWindow::open`], checked before every
//! call, batches of one change and name-by-name fallbacks included).

use std::time::{SystemTime, UNIX_EPOCH};

/// How long a decision's Route53 changes may take to be sent: a lock written now is a
/// change in flight for this long (plus [`WINDOW_MARGIN`]), unless the run's deadline is
/// nearer.
pub const CHANGE_WINDOW: i64 = 120;
/// Slack added to a window's end, for the last call's answer and the next run's clock.
pub const WINDOW_MARGIN: i64 = 15;
/// Longest a Route53 call may take, retries included (the client's operation timeout): no
/// call is sent later than this before the end of the window.
pub const ROUTE53_CALL_MAX: i64 = 40;
/// The furthest ahead an in-flight window is believed: runs write at most the change window
/// and its margin (135 s); the rest is room for clocks that disagree. A damaged or forged
/// item further ahead must not stall its name.
pub const MAX_IN_FLIGHT: i64 = 900;
/// How far apart, in whole seconds, a time one run wrote and a time another run read may
/// be and still be in either order: Lambda's clocks agree within milliseconds (Amazon Time
/// Sync), and both times are whole seconds, so one second would do; two leave room.
pub const CLOCK_SKEW: i64 = 2;

/// Where the time comes from (seconds since the epoch).
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// The end of the change window of decisions written at `now` by a run that must be done
/// by `deadline` (epoch seconds, the Lambda deadline).
pub fn window_end(now: i64, deadline: Option<i64>) -> i64 {
    (now + CHANGE_WINDOW).min(deadline.unwrap_or(i64::MAX)) + WINDOW_MARGIN
}

/// Whether a lock window ending at `until` may still have changes on their way at `now`.
pub fn in_flight(until: i64, now: i64) -> bool {
    now < until && until - now <= MAX_IN_FLIGHT
}

/// Until when a run may send Route53 changes for the locks it wrote: every call is sent
/// only while it cannot outlast the window, so that nothing of a generation lands after
/// the generation stopped being in flight (invariant 5).
#[derive(Clone, Copy)]
pub struct SendWindow<'a> {
    /// The end of the window the locks were written with.
    pub until: i64,
    /// The longest one Route53 call may take, retries included.
    pub call_max: i64,
    pub clock: &'a dyn Clock,
}

impl SendWindow<'_> {
    /// Whether a call sent now is sure to be over before the window ends.
    pub fn open(&self) -> bool {
        self.open_after(std::time::Duration::ZERO)
    }

    /// Whether a call sent after waiting `wait` (whole seconds, rounded up) is sure to be
    /// over before the window ends.
    pub fn open_after(&self, wait: std::time::Duration) -> bool {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        self.clock
            .now()
            .saturating_add(secs)
            .saturating_add(self.call_max)
            <= self.until
    }
}

/// The reason given for a change that was not sent because its window had closed.
pub const TOO_LATE: &str = "out of time before the Route53 change was sent";

#[cfg(test)]
mod tests {
    use super::*;

    struct At(i64);
    impl Clock for At {
        fn now(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn a_window_is_cut_by_the_deadline_and_believed_only_so_far_ahead() {
        assert_eq!(window_end(1000, None), 1135);
        assert_eq!(window_end(1000, Some(1030)), 1045);
        assert!(in_flight(1135, 1000));
        assert!(!in_flight(1135, 1135));
        assert!(!in_flight(1000 + MAX_IN_FLIGHT + 1, 1000));
    }

    #[test]
    fn a_call_is_sent_only_while_it_cannot_outlast_the_window() {
        let open = SendWindow {
            until: 1100,
            call_max: 40,
            clock: &At(1060),
        };
        assert!(open.open());
        assert!(open.open_after(std::time::Duration::ZERO));
        let late = SendWindow {
            clock: &At(1061),
            ..open
        };
        assert!(!late.open());
        // Sent after a wait: the wait counts, rounded up to a whole second.
        let early = SendWindow {
            clock: &At(1055),
            ..open
        };
        assert!(early.open_after(std::time::Duration::from_secs(5)));
        assert!(!early.open_after(std::time::Duration::from_millis(5_001)));
    }
}
