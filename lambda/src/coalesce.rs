//! Reconciles of everything that events ask for are coalesced across invocations, the
//! level-triggered way: a reconcile of everything that *started* after an event was emitted
//! has read EC2, the lock table and Route53 after the event's change, so when it finished
//! without failures the event has been served, and may be skipped.
//!
//! The record is one item of the lock table (`swept#reconciler`, see
//! [`crate::ports::Locks::swept`]): the start, by the function's clock, of the last
//! reconcile of everything that finished without failures. Checking it costs one
//! `GetItem`; recording it, one conditional `PutItem` after each such reconcile.
//!
//! Skipping never loses an event: an event is skipped only when its time is known and more
//! than [`CLOCK_MARGIN_S`] before the recorded start (EventBridge's clock and the function's
//! differ a little, and EC2's answers may lag the call that CloudTrail recorded). When the
//! record cannot be read, or an event does not say when it was emitted, the reconcile runs.

use tracing::{info, warn};

use crate::error::Result;
use crate::input::Asked;
use crate::ports::Locks;
use crate::report::Report;

/// How much earlier than the recorded start an event must have been emitted to count as
/// served.
pub const CLOCK_MARGIN_S: i64 = 60;

/// Why every one of `asked` has already been served by the last reconcile of everything
/// that finished without failures, or `None` (reconcile) when one of them may not have
/// been, or the record cannot be read. One `GetItem` (none when `asked` is empty).
pub async fn served<L: Locks>(locks: &L, asked: &[&Asked]) -> Option<String> {
    if asked.is_empty() {
        return None;
    }
    // The latest event decides; one whose time is unknown is never served.
    let latest = asked
        .iter()
        .map(|a| a.at)
        .collect::<Option<Vec<i64>>>()?
        .into_iter()
        .max()?;
    let started = match locks.swept().await {
        Ok(Some(s)) => s,
        Ok(None) => return None,
        Err(e) => {
            warn!(error = %e, "the last reconcile of everything could not be read: reconciling");
            return None;
        }
    };
    (latest < started - CLOCK_MARGIN_S).then(|| {
        format!(
            "a reconcile of everything that started at {} (after this event was emitted, at {}) finished without failures",
            rfc3339(started),
            rfc3339(latest)
        )
    })
}

/// Records that the reconcile of everything that started at `started` finished without
/// failures, when it did (a dry run, a failed run or one with failures records nothing).
/// Best effort: a failure is logged, and only costs a later event a reconcile.
pub async fn record<L: Locks>(locks: &L, started: i64, result: &Result<Report>) {
    let Ok(report) = result else { return };
    if report.dry_run || !report.failed.is_empty() {
        return;
    }
    match locks.record_swept(started).await {
        Ok(()) => info!(started, "reconcile of everything recorded as clean"),
        Err(e) => warn!(error = %e, "could not record the reconcile of everything"),
    }
}

fn rfc3339(epoch: i64) -> String {
    aws_smithy_types::DateTime::from_secs(epoch)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| epoch.to_string())
}
