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
    match parse(&payload, &rec.config.name_tag)? {
        Invocation::Manual { scope, dry_run } => {
            let report = rec
                .reconcile(&Request {
                    scope,
                    verify_dns: true,
                    dry_run,
                })
                .await?;
            Ok(serde_json::to_value(&report).unwrap_or_default())
        }
        Invocation::Event(Hint::Ignore(reason)) => {
            info!(reason, "event ignored");
            Ok(json!({ "ignored": reason }))
        }
        Invocation::Event(hint) => {
            let report = rec.reconcile(&request_for(&hint, None)).await?;
            if !report.failed.is_empty() {
                return Err(Error::Incomplete(
                    report
                        .failed
                        .iter()
                        .map(|f| format!("{}: {}", f.name, f.reason))
                        .collect::<Vec<_>>()
                        .join("; "),
                ));
            }
            Ok(serde_json::to_value(&report).unwrap_or_default())
        }
        Invocation::Sqs(items) => Ok(handle_sqs(rec, items).await),
    }
}

fn request_for(hint: &Hint, batch: Option<BTreeSet<InstanceId>>) -> Request {
    match (hint, batch) {
        (Hint::All, _) => Request {
            scope: Scope::All,
            verify_dns: true,
            dry_run: false,
        },
        (_, Some(ids)) => Request {
            scope: Scope::Instances(ids),
            verify_dns: false,
            dry_run: false,
        },
        (Hint::Instances(ids), None) => Request {
            scope: Scope::Instances(ids.clone()),
            verify_dns: false,
            dry_run: false,
        },
        (Hint::Ignore(_), None) => Request {
            scope: Scope::Instances(BTreeSet::new()),
            verify_dns: false,
            dry_run: false,
        },
    }
}

async fn handle_sqs<I: Instances, D: Dns, L: Locks>(
    rec: &Reconciler<I, D, L>,
    items: Vec<(String, std::result::Result<Hint, String>)>,
) -> Value {
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
        Some(request_for(&Hint::All, None))
    } else if !ids.is_empty() {
        Some(request_for(&Hint::Instances(BTreeSet::new()), Some(ids)))
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
    json!({ "batchItemFailures": failures.iter().map(|m| json!({ "itemIdentifier": m })).collect::<Vec<_>>() })
}
