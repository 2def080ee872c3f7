//! One retry policy for every way an input arrives: what a report leaves to retry for the
//! owners an input was about, and when a failed SQS message comes back.
//!
//! Every layer that tries something again, innermost first, is listed in [`LAYERS`] with
//! the function that does it; a test checks that each still exists. None of them retries a
//! write blindly: each either repeats a call that is safe to repeat (reads, conditional
//! writes, batches that are compare-and-swaps), or reads before it tries again.

use crate::input::Hint;
use crate::report::Report;

/// One layer of retries: what is tried again, where, and what bounds it.
pub struct Layer {
    pub name: &'static str,
    /// `file: function` in lambda/src.
    pub at: &'static str,
    pub what: &'static str,
}

/// Every retry layer, innermost first.
pub const LAYERS: &[Layer] = &[
    Layer {
        name: "SDK",
        at: "aws/mod.rs: sdk_config",
        what: "every AWS call: standard retries, 5 attempts, back-off on throttling and PriorRequestNotComplete; each attempt at most 10 s",
    },
    Layer {
        name: "Route53 pacing",
        at: "aws/route53.rs: admit",
        what: "a call over the deployment's own request or change budget waits instead of being throttled; never past the change window",
    },
    Layer {
        name: "refused batch",
        at: "aws/route53.rs: send",
        what: "protected names are taken out and the rest sent again as one batch; otherwise each name alone; every call only while the change window is open (window.rs)",
    },
    Layer {
        name: "lost lock answer",
        at: "engine/apply.rs: write_lock",
        what: "a decision whose answer is not a win is read back, and known as this run's own by its token, before anything is concluded",
    },
    Layer {
        name: "recovery",
        at: "engine/apply.rs: recover",
        what: "names whose change Route53 refused are read and decided once more in the same run, from what Route53 holds",
    },
    Layer {
        name: "slot taken meanwhile",
        at: "engine/mod.rs: reconcile_limited",
        what: "a claimant whose fresh {slot} name another run won (its conditional write failed) is observed and decided again in the same call, reading the slot as held and picking the next free one; at most SLOT_ATTEMPTS (3) looks, then its input is retried",
    },
    Layer {
        name: "check flag",
        at: "lock.rs: LockWrite::Check",
        what: "a change that failed flags its lock item: the next run reads Route53 instead of trusting the lock",
    },
    Layer {
        name: "event retry",
        at: "retry.rs: sqs_delay",
        what: "an input whose owners failed is retried: an SQS message comes back after 30 s, doubling to 15 min; a direct invoke errors for the platform to retry",
    },
    Layer {
        name: "schedule",
        at: "handler.rs: handle",
        what: "the scheduled reconcile of everything, the backstop for lost events and anything the layers above gave up on",
    },
];

/// The first retry of a failed SQS message, in seconds; each further receive doubles it.
pub const FIRST_RETRY_S: i32 = 30;
/// The longest wait between two attempts of one message.
pub const MAX_RETRY_S: i32 = 900;

/// Whether an input must be tried again after its reconcile: something failed for one of
/// the owners it names (for "everything", anything failed).
pub fn must_retry(report: &Report, hint: &Hint) -> bool {
    match hint {
        Hint::Ignore(_) => false,
        // Still unresolved: its instance could not be read, so nothing was done for it.
        Hint::Interface(_) => true,
        Hint::All(_) => !report.failed.is_empty(),
        Hint::Owners(owners) => report.failed_owners().any(|o| owners.contains(o)),
        Hint::Lifecycle(a) => report.failed_owners().any(|o| *o == a.owner),
        // A shard's outcome is decided by `crate::fanout`, not by a report.
        Hint::Shard(_) => !report.failed.is_empty(),
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
    fn every_retry_layer_listed_is_where_the_list_says() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for layer in LAYERS {
            let (file, item) = layer.at.split_once(": ").expect("file: item");
            let text = std::fs::read_to_string(src.join(file))
                .unwrap_or_else(|e| panic!("{}: {file}: {e}", layer.name));
            let last = item.rsplit("::").next().unwrap_or(item);
            let defined = [
                format!("fn {last}("),
                format!("fn {last}<"),
                format!("    {last} {{"),
            ];
            assert!(
                defined.iter().any(|d| text.contains(d.as_str())),
                "{}: no {item} in {file}",
                layer.name
            );
        }
    }

    #[test]
    fn a_failed_message_comes_back_within_a_minute_then_less_and_less_often() {
        let delays: Vec<i32> = (1..=8).map(sqs_delay).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(sqs_delay(0), 30);
        assert_eq!(sqs_delay(u32::MAX), 900);
    }
}
