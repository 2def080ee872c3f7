//! One retry policy for every way an input arrives: what a report leaves to retry for the
//! owners an input was about, and when a failed SQS message comes back.

use crate::input::Hint;
use crate::report::Report;

/// The first retry of a failed SQS message, in seconds; each further receive doubles it.
pub const FIRST_RETRY_S: i32 = 30;
/// The longest wait between two attempts of one message.
pub const MAX_RETRY_S: i32 = 900;

/// Whether an input must be tried again after its reconcile: something failed for one of
/// the owners it names (for "everything", anything failed).
pub fn must_retry(report: &Report, hint: &Hint) -> bool {
    match hint {
        Hint::Ignore(_) => false,
        Hint::All(_) => !report.failed.is_empty(),
        Hint::Owners(owners) => report.failed_owners().any(|o| owners.contains(o)),
    }
}

/// When a failed SQS message is received again: 30 s after its first receive, doubling
/// with each receive, at most 15 minutes. (The queue's own visibility timeout, six times
/// the function timeout, would make a DNS change wait half an hour.)
pub fn sqs_delay(receive_count: u32) -> i32 {
    let doublings = receive_count.saturating_sub(1).min(16);
    FIRST_RETRY_S
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_S)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_message_comes_back_within_a_minute_then_less_and_less_often() {
        let delays: Vec<i32> = (1..=8).map(sqs_delay).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(sqs_delay(0), 30);
        assert_eq!(sqs_delay(u32::MAX), 900);
    }
}
