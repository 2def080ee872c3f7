//! One invocation: parse, coalesce, reconcile, answer.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tracing::{info, warn};

use crate::engine::{Reconciler, Request};
use crate::error::{Error, Result};
use crate::input::{parse, Hint, Invocation, SqsItem};
use crate::model::Scope;
use crate::ports::{Dns, Instances, Locks, Queue, RetryLater};
use crate::report::Report;
use crate::retry::{must_retry, sqs_delay};

/// What one invocation came to: the answer, and what the metrics need.
pub struct Handled {
    pub answer: Result<Value>,
    /// `event`, `sqs`, `manual` or `invalid`.
    pub trigger: &'static str,
    pub report: Option<Report>,
}

/// Handles one invocation payload; `deadline` (epoch seconds) is when the platform stops
/// the invocation.
///
/// - A manual command answers with the report (failures listed in it).
/// - An EventBridge event answers with the report, or an error when something must be
///   retried (the platform then retries the event).
/// - An SQS batch is coalesced into one reconcile and answers with `batchItemFailures`
///   naming exactly the messages whose owners did not settle; those come back soon.
pub async fn handle<I: Instances, D: Dns, L: Locks, Q: Queue>(
    rec: &Reconciler<I, D, L>,
    queue: &Q,
    payload: Value,
    deadline: Option<i64>,
) -> Handled {
    let invocation = match parse(&payload, &rec.config.name_tag, &rec.home) {
        Ok(i) => i,
        Err(e) => {
            warn!(error = %e, "invalid invocation");
            return Handled {
                answer: Err(e),
                trigger: "invalid",
                report: None,
            };
        }
    };
    match invocation {
        Invocation::Manual { scope, dry_run } => {
            let req = Request {
                scope,
                verify_dns: true,
                dry_run,
                deadline,
            };
            finish("manual", rec.reconcile(&req).await, |r| {
                Ok(serde_json::to_value(r).unwrap_or_default())
            })
        }
        Invocation::Event(Hint::Ignore(reason)) => {
            info!(reason, "event ignored");
            Handled {
                answer: Ok(json!({ "ignored": reason })),
                trigger: "event",
                report: None,
            }
        }
        Invocation::Event(hint) => {
            let scope = match &hint {
                Hint::Owners(owners) => Scope::Owners(owners.clone()),
                _ => Scope::All,
            };
            let result = rec.reconcile(&Request::for_event(scope, deadline)).await;
            finish("event", result, |report| {
                if !must_retry(report, &hint) {
                    return Ok(serde_json::to_value(report).unwrap_or_default());
                }
                Err(Error::Incomplete(
                    report
                        .failed
                        .iter()
                        .map(|f| format!("{}: {}", f.name, f.reason))
                        .collect::<Vec<_>>()
                        .join("; "),
                ))
            })
        }
        Invocation::Sqs(items) => {
            let (answer, report) = handle_sqs(rec, queue, items, deadline).await;
            Handled {
                answer: Ok(answer),
                trigger: "sqs",
                report,
            }
        }
    }
}

fn finish(
    trigger: &'static str,
    result: Result<Report>,
    answer: impl FnOnce(&Report) -> Result<Value>,
) -> Handled {
    match result {
        Ok(report) => Handled {
            answer: answer(&report),
            trigger,
            report: Some(report),
        },
        Err(e) => Handled {
            answer: Err(e),
            trigger,
            report: None,
        },
    }
}

async fn handle_sqs<I: Instances, D: Dns, L: Locks, Q: Queue>(
    rec: &Reconciler<I, D, L>,
    queue: &Q,
    items: Vec<SqsItem>,
    deadline: Option<i64>,
) -> (Value, Option<Report>) {
    let mut owners = BTreeSet::new();
    let mut all = false;
    for item in &items {
        match &item.hint {
            Err(reason) => {
                warn!(message_id = %item.message_id, reason, "SQS message is not a usable event")
            }
            Ok(Hint::All) => all = true,
            Ok(Hint::Owners(o)) => owners.extend(o.iter().cloned()),
            Ok(Hint::Ignore(_)) => {}
        }
    }
    // Every event of the batch is served by one reconcile: many events for one instance
    // cost one look at it.
    let scope = if all {
        Some(Scope::All)
    } else if !owners.is_empty() {
        Some(Scope::Owners(owners))
    } else {
        None
    };
    let result = match scope {
        Some(s) => Some(rec.reconcile(&Request::for_event(s, deadline)).await),
        None => None,
    };
    let mut failures: Vec<&str> = Vec::new();
    let mut soon: Vec<RetryLater> = Vec::new();
    for item in &items {
        let retry = match (&item.hint, &result) {
            (Err(_), _) => {
                // Unusable: back to the queue as it is, and on to the dead-letter queue.
                failures.push(&item.message_id);
                continue;
            }
            (Ok(_), None) => false,
            (Ok(Hint::Ignore(_)), _) => false,
            (Ok(_), Some(Err(e))) => {
                warn!(message_id = %item.message_id, error = %e, "reconcile failed");
                true
            }
            (Ok(hint), Some(Ok(report))) => must_retry(report, hint),
        };
        if retry {
            failures.push(&item.message_id);
            if let (Some(arn), Some(handle)) = (&item.queue_arn, &item.receipt_handle) {
                soon.push(RetryLater {
                    queue_arn: arn.clone(),
                    receipt_handle: handle.clone(),
                    delay_s: sqs_delay(item.receive_count),
                });
            }
        }
    }
    if !soon.is_empty() {
        if let Err(e) = queue.retry_later(&soon).await {
            warn!(error = %e, messages = soon.len(), "failed messages wait for the queue's visibility timeout");
        }
    }
    let answer = json!({ "batchItemFailures": failures.iter().map(|m| json!({ "itemIdentifier": m })).collect::<Vec<_>>() });
    (answer, result.and_then(|r| r.ok()))
}
