//! One invocation: parse, coalesce, reconcile, answer.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::input::{parse, Hint, Invocation};
use crate::model::InstanceId;
use crate::plan::Scope;
use crate::ports::{Dns, Instances, Locks};
use crate::reconcile::{Reconciler, Request};
use crate::report::Report;

/// What one invocation came to: the answer, and what the metrics need.
pub struct Handled {
    pub answer: Result<Value>,
    /// `event`, `sqs`, `manual` or `invalid`.
    pub trigger: &'static str,
    pub report: Option<Report>,
}

/// Handles one invocation payload.
///
/// - A manual command answers with the report (failures listed in it).
/// - An EventBridge event answers with the report, or an error when something must be
///   retried (the platform then retries the event).
/// - An SQS batch is coalesced into one reconcile and answers with `batchItemFailures`
///   naming exactly the messages whose instances did not settle.
pub async fn handle<I: Instances, D: Dns, L: Locks>(
    rec: &Reconciler<I, D, L>,
    payload: Value,
) -> Result<Value> {
    handle_full(rec, payload).await.answer
}

/// [`handle`], with the report and trigger kept for the metrics.
pub async fn handle_full<I: Instances, D: Dns, L: Locks>(
    rec: &Reconciler<I, D, L>,
    payload: Value,
) -> Handled {
    let invocation = match parse(&payload, &rec.config.name_tag) {
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
            let result = rec
                .reconcile(&Request {
                    scope,
                    verify_dns: true,
                    dry_run,
                })
                .await;
            finish("manual", result, |r| {
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
            let scope = match hint {
                Hint::Instances(ids) => Scope::Instances(ids),
                _ => Scope::All,
            };
            let result = rec.reconcile(&request_for(scope)).await;
            finish("event", result, |report| {
                if report.failed.is_empty() {
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
            let (answer, report) = handle_sqs(rec, items).await;
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

/// What an event asks for: a full reconcile reads Route53 (it is the drift repair and the
/// backstop for lost events); an instance event trusts the locks.
fn request_for(scope: Scope) -> Request {
    Request {
        verify_dns: scope == Scope::All,
        scope,
        dry_run: false,
    }
}

async fn handle_sqs<I: Instances, D: Dns, L: Locks>(
    rec: &Reconciler<I, D, L>,
    items: Vec<(String, std::result::Result<Hint, String>)>,
) -> (Value, Option<Report>) {
    let mut failures: Vec<String> = Vec::new();
    let mut ids: BTreeSet<InstanceId> = BTreeSet::new();
    let mut all = false;
    for (msg, hint) in &items {
        match hint {
            Err(reason) => {
                warn!(message_id = %msg, reason, "SQS message is not a usable event");
                failures.push(msg.clone());
            }
            Ok(Hint::All) => all = true,
            Ok(Hint::Instances(i)) => ids.extend(i.iter().cloned()),
            Ok(Hint::Ignore(_)) => {}
        }
    }
    // Every event of the batch is served by one reconcile: many events for one instance
    // cost one look at it.
    let request = if all {
        Some(request_for(Scope::All))
    } else if !ids.is_empty() {
        Some(request_for(Scope::Instances(ids)))
    } else {
        None
    };
    let result = match &request {
        Some(r) => Some(rec.reconcile(r).await),
        None => None,
    };
    for (msg, hint) in &items {
        let Ok(hint) = hint else { continue };
        let failed = match (&result, hint) {
            (_, Hint::Ignore(_)) | (None, _) => false,
            (Some(Err(e)), _) => {
                warn!(message_id = %msg, error = %e, "reconcile failed");
                true
            }
            (Some(Ok(report)), Hint::All) => !report.failed.is_empty(),
            (Some(Ok(report)), Hint::Instances(i)) => {
                i.iter().any(|id| report.failed_instances.contains(id))
            }
        };
        if failed {
            failures.push(msg.clone());
        }
    }
    let answer = json!({ "batchItemFailures": failures.iter().map(|m| json!({ "itemIdentifier": m })).collect::<Vec<_>>() });
    (answer, result.and_then(|r| r.ok()))
}
