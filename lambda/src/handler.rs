//! One invocation: parse, coalesce, reconcile, answer.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::value::{to_raw_value, RawValue};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::coalesce::{record, served};
use crate::engine::{Reconciler, Request};
use crate::error::{Error, Result};
use crate::fanout;
use crate::fleet::{finish as finish_actions, owners_to_reconcile, Finished, NoGroups};
use crate::input::{managed_only, opted_in, parse, Hint, Interface, Invocation, SqsItem};
use crate::model::{LifecycleAction, Scope};
use crate::ports::{Dns, Groups, Instances, Locks, Queue, RetryLater};
use crate::report::Report;
use crate::retry::{must_retry, sqs_delay};

/// The largest answer a report is given in whole. Lambda refuses a synchronous answer over
/// 6 MB; past this size (about 8,000 names with two zones), the answer gives the counts and
/// the rows an operator must act on, and says where the whole report is.
pub const MAX_ANSWER_BYTES: usize = 5_000_000;

/// What one invocation came to: the answer (JSON text, serialized once: a report of
/// thousands of rows as a `serde_json::Value` tree would take ten times its size), and what
/// the metrics need.
pub struct Handled {
    pub answer: Result<Box<RawValue>>,
    /// `event`, `sqs`, `manual` or `invalid`.
    pub trigger: &'static str,
    pub report: Option<Report>,
    /// An answer that must also be delivered elsewhere: a CloudFormation custom resource's
    /// response, sent to its `ResponseURL` (by the binary: this module does no I/O of its
    /// own).
    pub deliver: Option<Delivery>,
}

/// A response body and the URL it is PUT to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub url: String,
    pub body: Vec<u8>,
}

/// Handles one invocation payload; `deadline` (epoch seconds) is when the platform stops
/// the invocation.
///
/// - A manual command answers with the report (failures listed in it).
/// - An EventBridge event answers with the report, or an error when something must be
///   retried (the platform then retries the event).
/// - An SQS batch is coalesced into one reconcile and answers with `batchItemFailures`
///   naming exactly the messages whose owners did not settle; those come back soon.
/// - A reconcile of everything asked by events that an earlier one already served (it
///   started after they were emitted and finished without failures) is skipped at the cost
///   of one read ([`crate::coalesce`]).
/// - An event about a network interface (IPv6 addresses assigned or unassigned) costs one
///   EC2 read to find its instance first ([`resolve`]); an error of that read is retried
///   like a failed reconcile.
pub async fn handle<I: Instances, D: Dns, L: Locks, Q: Queue>(
    rec: &Reconciler<I, D, L>,
    queue: &Q,
    payload: Value,
    deadline: Option<i64>,
) -> Handled {
    handle_with(rec, queue, &NoGroups, payload, deadline).await
}

/// [`handle`], with Auto Scaling (`groups`) to complete the lifecycle actions of the hooks
/// the operator listed ([`crate::fleet`]).
pub async fn handle_with<I: Instances, D: Dns, L: Locks, Q: Queue, G: Groups>(
    rec: &Reconciler<I, D, L>,
    queue: &Q,
    groups: &G,
    payload: Value,
    deadline: Option<i64>,
) -> Handled {
    let homes = rec.instances.homes();
    let hooks = &rec.config.lifecycle_hooks;
    let invocation = match parse(&payload, &rec.config.name_tag, &rec.home) {
        Ok(Invocation::Event(hint)) => {
            Invocation::Event(opted_in(managed_only(hint, &homes), hooks))
        }
        Ok(Invocation::Sqs(items)) => Invocation::Sqs(
            items
                .into_iter()
                .map(|i| SqsItem {
                    hint: i.hint.map(|h| opted_in(managed_only(h, &homes), hooks)),
                    ..i
                })
                .collect(),
        ),
        Ok(i) => i,
        Err(e) => {
            warn!(error = %e, "invalid invocation");
            return Handled {
                answer: Err(e),
                trigger: "invalid",
                report: None,
                deliver: None,
            };
        }
    };
    let invocation = match invocation {
        Invocation::Event(Hint::Interface(i)) => match resolve(rec, &i).await {
            Ok(hint) => Invocation::Event(hint),
            Err(e) => {
                warn!(error = %e, interface = %i.id, "the instance of a network interface could not be read");
                return Handled {
                    answer: Err(e),
                    trigger: "event",
                    report: None,
                    deliver: None,
                };
            }
        },
        other => other,
    };
    match invocation {
        Invocation::RecordConfiguration(custom) => record_configuration(rec, custom).await,
        Invocation::Manual {
            scope: Scope::All,
            dry_run,
            sharded: true,
        } => {
            let id = fanout::new_run_id(rec.now());
            let started = fanout::start(rec, queue, &id, "manual", dry_run).await;
            Handled {
                answer: started.and_then(|run| raw(&fanout::started_answer(&run))),
                trigger: "manual",
                report: None,
                deliver: None,
            }
        }
        Invocation::Manual { scope, dry_run, .. } => {
            let req = Request {
                names: Default::default(),
                scope,
                verify_dns: true,
                dry_run,
                deadline,
            };
            finish("manual", rec.reconcile(&req).await, |r| {
                report_answer(r, MAX_ANSWER_BYTES)
            })
        }
        Invocation::Event(Hint::Ignore(reason)) => {
            info!(reason, "event ignored");
            Handled {
                answer: raw(&json!({ "ignored": reason })),
                trigger: "event",
                report: None,
                deliver: None,
            }
        }
        Invocation::Event(Hint::Lifecycle(action)) => {
            lifecycle_event(rec, groups, &action, deadline).await
        }
        Invocation::Event(Hint::Shard(_)) => Handled {
            answer: Err(Error::InvalidInput(
                "a shard of a sharded run is handled only as a message of the function's queue"
                    .into(),
            )),
            trigger: "invalid",
            report: None,
            deliver: None,
        },
        Invocation::Event(hint) => {
            if let Hint::All(asked) = &hint {
                if let Some(reason) = served(&rec.locks, &[asked]).await {
                    info!(reason, "event ignored");
                    return Handled {
                        answer: raw(&json!({ "ignored": reason })),
                        trigger: "event",
                        report: None,
                        deliver: None,
                    };
                }
                if rec.config.sharded_reconcile {
                    let id = fanout::new_run_id(rec.now());
                    let started = fanout::start(rec, queue, &id, "schedule", false).await;
                    return Handled {
                        answer: started.and_then(|run| raw(&fanout::started_answer(&run))),
                        trigger: "event",
                        report: None,
                        deliver: None,
                    };
                }
            }
            let scope = match &hint {
                Hint::Owners(owners) => Scope::Owners(owners.clone()),
                _ => Scope::All,
            };
            let result = reconcile_recorded(rec, &Request::for_event(scope, deadline)).await;
            finish("event", result, |report| {
                if !must_retry(report, &hint) {
                    return report_answer(report, MAX_ANSWER_BYTES);
                }
                Err(incomplete(report))
            })
        }
        Invocation::Sqs(items) => {
            let (answer, report) = handle_sqs(rec, queue, groups, items, deadline).await;
            Handled {
                answer: raw(&answer),
                trigger: "sqs",
                report,
                deliver: None,
            }
        }
    }
}

/// How a failed message of `item`'s comes back soon (`None`: the event carries no queue or
/// receipt handle, and it waits for the queue's visibility timeout).
fn retry_soon(item: &SqsItem) -> Option<RetryLater> {
    Some(RetryLater {
        queue_arn: item.queue_arn.clone()?,
        receipt_handle: item.receipt_handle.clone()?,
        delay_s: sqs_delay(item.receive_count),
    })
}

/// One shard message of a batch (the `index`th): its report when it reconciled owners,
/// `None` when it needed no reconcile (split, recorded already, or handed back), an error
/// when its message must be retried.
///
/// A shard other than a batch's first starts only while at least half of the time the
/// invocation had at `began` is left; otherwise it is handed back, sent to the queue again
/// as a new message (its receive count starts over: waiting for time is not a failure).
async fn shard_item<I: Instances, D: Dns, L: Locks, Q: Queue>(
    rec: &Reconciler<I, D, L>,
    queue: &Q,
    task: &crate::shard::Task,
    index: usize,
    began: i64,
    deadline: Option<i64>,
) -> Result<Option<Report>> {
    if let (true, Some(end)) = (index > 0, deadline) {
        if (end - rec.now()) * 2 < end - began {
            let url = rec.config.queue_url.as_deref().unwrap_or_default();
            queue.send(url, &[task.body()]).await?;
            info!(run = %task.run, part = %task.part, "shard handed back: too little time left");
            return Ok(None);
        }
    }
    // Every row of a shard's report goes to the log: no one reads its answer, and the run's
    // notes point to this log stream.
    match fanout::run_part(rec, queue, task, deadline).await? {
        fanout::PartOutcome::Finished(report) => {
            log_rows(&report);
            Ok(Some(report))
        }
        fanout::PartOutcome::Split(_) | fanout::PartOutcome::Done => Ok(None),
        fanout::PartOutcome::Retry { report, why } => {
            log_rows(&report);
            Err(Error::Incomplete(why))
        }
    }
}

/// Adds `more`'s rows to the batch's report (the invocation's metrics count them).
fn merge_into(result: &mut Option<Result<Report>>, more: Report) {
    match result {
        Some(Ok(r)) => {
            r.changes.extend(more.changes);
            r.conflicts.extend(more.conflicts);
            r.skipped.extend(more.skipped);
            r.frozen.extend(more.frozen);
            r.failed.extend(more.failed);
            r.warnings.extend(more.warnings);
        }
        _ => *result = Some(Ok(more)),
    }
}

/// The instance a network interface is attached to, read from EC2 (one DescribeInstances):
/// an event about the interface is an event about that instance. An interface attached to
/// no instance (or unknown: deleted since), or to one without the name tag, claims no name
/// and changes no record: the event is ignored, with the reason, and nothing is written.
async fn resolve<I: Instances, D: Dns, L: Locks>(
    rec: &Reconciler<I, D, L>,
    interface: &Interface,
) -> Result<Hint> {
    let Interface { id, home, .. } = interface;
    let hint = match rec.instances.attached_to(home, id).await? {
        None => Hint::Ignore(format!(
            "network interface {id} (account {} region {}) is not attached to an instance",
            home.account(),
            home.region()
        )),
        Some(inst) if inst.names.tag().is_none() => Hint::Ignore(format!(
            "network interface {id} is attached to {}, which has no {:?} tag: it claims no name",
            inst.owner, rec.config.name_tag
        )),
        Some(inst) => {
            info!(interface = %id, owner = %inst.owner, "network interface attached to a tagged instance");
            Hint::Owners(BTreeSet::from([inst.owner]))
        }
    };
    Ok(hint)
}

/// One lifecycle action delivered directly: its instance reconciled (unless it goes into
/// the warm pool), then the action completed ([`crate::fleet`]). The answer is the report
/// with what became of the action (`lifecycle`); an error when the reconcile must be tried
/// again, or the action could not be completed (the platform retries the event; an action
/// completed already is then simply not active any more).
async fn lifecycle_event<I: Instances, D: Dns, L: Locks, G: Groups>(
    rec: &Reconciler<I, D, L>,
    groups: &G,
    action: &LifecycleAction,
    deadline: Option<i64>,
) -> Handled {
    let owners = owners_to_reconcile(&[action]);
    let (result, finished) = reconcile_then_finish(rec, groups, &[action], owners, deadline).await;
    let retry = finished.iter().find(|f| f.retry).map(|f| f.result.clone());
    let hint = Hint::Lifecycle(Box::new(action.clone()));
    let answer = match (&result, retry) {
        (_, Some(why)) => Err(Error::Incomplete(format!(
            "lifecycle action of {} not completed: {why}",
            action.owner
        ))),
        (Some(Err(e)), None) => Err(Error::Incomplete(format!(
            "lifecycle action of {} completed, but its reconcile failed: {e}",
            action.owner
        ))),
        (Some(Ok(report)), None) if must_retry(report, &hint) => Err(incomplete(report)),
        (Some(Ok(report)), None) => serde_json::to_value(report)
            .map_err(|e| Error::Unexpected {
                service: "lambda",
                message: format!("the answer could not be serialized: {e}"),
            })
            .and_then(|mut v| {
                v["lifecycle"] = json!(finished);
                raw(&v)
            }),
        (None, None) => raw(&json!({ "lifecycle": finished })),
    };
    Handled {
        answer,
        trigger: "event",
        report: result.and_then(|r| r.ok()),
        deliver: None,
    }
}

/// Reconciles `owners` (none: no reconcile), then completes `actions` once the changes it
/// applied are in sync.
async fn reconcile_then_finish<I: Instances, D: Dns, L: Locks, G: Groups>(
    rec: &Reconciler<I, D, L>,
    groups: &G,
    actions: &[&LifecycleAction],
    owners: BTreeSet<crate::model::Owner>,
    deadline: Option<i64>,
) -> (Option<Result<Report>>, Vec<Finished>) {
    // Changes applied by earlier invocations of this container are not waited for.
    rec.dns.take_applied();
    let result = match owners.is_empty() {
        true => None,
        false => Some(
            reconcile_recorded(rec, &Request::for_event(Scope::Owners(owners), deadline)).await,
        ),
    };
    let finished = finish_lifecycle(rec, groups, actions, &result, deadline).await;
    (result, finished)
}

async fn finish_lifecycle<I: Instances, D: Dns, L: Locks, G: Groups>(
    rec: &Reconciler<I, D, L>,
    groups: &G,
    actions: &[&LifecycleAction],
    result: &Option<Result<Report>>,
    deadline: Option<i64>,
) -> Vec<Finished> {
    let applied = rec.dns.take_applied();
    if actions.is_empty() {
        return Vec::new();
    }
    let settled = |o: &crate::model::Owner| match result {
        None => true,
        Some(Ok(r)) => !r.failed_owners().any(|f| f == o),
        Some(Err(_)) => false,
    };
    let left = deadline.map(|d| d - rec.now());
    finish_actions(
        &rec.dns,
        groups,
        actions,
        settled,
        applied,
        left,
        rec.lifecycle_wait,
    )
    .await
}

/// Records the configuration now. Asked directly, the answer is what is recorded (or the
/// error); asked by CloudFormation, the answer is also delivered to its `ResponseURL`, a
/// failure included (the stack would otherwise wait an hour for it), and a Delete records
/// nothing and succeeds.
async fn record_configuration<I: Instances, D: Dns, L: Locks>(
    rec: &Reconciler<I, D, L>,
    custom: Option<crate::custom_resource::Request>,
) -> Handled {
    use crate::custom_resource::{response, RequestType};
    let result = match custom.as_ref().map(|r| r.request_type) {
        Some(RequestType::Delete) => {
            info!("custom resource deleted: the recorded configuration stays");
            Ok(None)
        }
        _ => match rec.record_configuration(&rec.function).await {
            Ok((d, wrote)) => {
                info!(wrote, "configuration recorded");
                Ok(Some(d))
            }
            Err(e) => {
                warn!(error = %e, "could not record the configuration");
                Err(e)
            }
        },
    };
    let Some(req) = custom else {
        return Handled {
            answer: result.and_then(|d| raw(&json!({ "recorded": d.as_ref().map(deployed_json) }))),
            trigger: "deployment",
            report: None,
            deliver: None,
        };
    };
    let outcome = result.map_err(|e| e.to_string());
    let body = response(&req, &outcome, &rec.config.lock_table);
    Handled {
        answer: raw(&body),
        trigger: "deployment",
        report: None,
        deliver: Some(Delivery {
            url: req.response_url.clone(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
        }),
    }
}

/// The recorded configuration as the answer shows it.
fn deployed_json(d: &crate::config::Deployed) -> Value {
    json!({
        "function": d.function,
        "allowed_domains": d.allowed_domains.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        "name_tag": d.name_tag,
        "ttl": d.ttl,
        "accounts": d.accounts,
        "regions": d.regions,
        "member_role": d.member_role,
        "deployment": d.deployment.as_ref().map(|x| x.as_str()),
        "marker_style": crate::config::style_name(d.marker_style),
        "version": d.version,
        "updated": d.updated,
    })
}

/// The error that has the platform retry an event: the names that did not settle, and why.
fn incomplete(report: &Report) -> Error {
    Error::Incomplete(
        report
            .failed
            .iter()
            .map(|f| format!("{}: {}", f.name, f.reason))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// An event's reconcile; one of everything that finishes without failures is recorded, so
/// that the events it served are not reconciled again (see [`crate::coalesce`]). (A manual
/// reconcile records nothing: on a converged fleet it writes nothing at all.)
async fn reconcile_recorded<I: Instances, D: Dns, L: Locks>(
    rec: &Reconciler<I, D, L>,
    req: &Request,
) -> Result<Report> {
    // Taken before anything is read: the run sees every change made before it.
    let started = rec.now();
    let result = rec.reconcile(req).await;
    if req.scope == Scope::All {
        record(&rec.locks, started, &result).await;
    }
    result
}

fn finish(
    trigger: &'static str,
    result: Result<Report>,
    answer: impl FnOnce(&Report) -> Result<Box<RawValue>>,
) -> Handled {
    match result {
        Ok(report) => Handled {
            answer: answer(&report),
            trigger,
            report: Some(report),
            deliver: None,
        },
        Err(e) => Handled {
            answer: Err(e),
            trigger,
            report: None,
            deliver: None,
        },
    }
}

fn raw<T: serde::Serialize + ?Sized>(v: &T) -> Result<Box<RawValue>> {
    to_raw_value(v).map_err(|e| Error::Unexpected {
        service: "lambda",
        message: format!("the answer could not be serialized: {e}"),
    })
}

/// Most rows of each list (conflicts, failures, ...) a summary answer carries.
pub const SUMMARY_ROWS: usize = 1_000;

/// Where the log lines of this invocation go: the function's log group and stream, as the
/// platform names them (`null` outside Lambda).
fn log_place() -> Value {
    let var = |k: &str| std::env::var(k).ok();
    json!({
        "log_group": var("AWS_LAMBDA_LOG_GROUP_NAME"),
        "log_stream": var("AWS_LAMBDA_LOG_STREAM_NAME"),
    })
}

/// The number of bytes `v` takes as JSON, counted without keeping the text.
fn json_len<T: serde::Serialize + ?Sized>(v: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => usize::MAX,
    }
}

/// The target of the `report row` lines: the whole report of an answer that could only
/// summarise it, one row a line.
pub const REPORT_ROWS: &str = "ec2_dns::report";

/// Every row of `r` as one log line each (`report row`, with `list` and the row as JSON):
/// written one at a time, so the whole report is never held as one text.
fn log_rows(r: &Report) {
    fn each<T: serde::Serialize>(list: &str, rows: &[T]) {
        for row in rows {
            let row = serde_json::to_string(row).unwrap_or_default();
            info!(target: REPORT_ROWS, list, row, "report row");
        }
    }
    each("changes", &r.changes);
    each("conflicts", &r.conflicts);
    each("skipped", &r.skipped);
    each("frozen", &r.frozen);
    each("failed", &r.failed);
}

/// The report as the answer. Past `max` bytes (Lambda refuses a synchronous answer over 6
/// MB) a summary instead: `summary: true`, the counts (changes by action too), the rows an
/// operator acts on (conflicts, failures, frozen and skipped names, and the first changes),
/// up to [`SUMMARY_ROWS`] of each list with how many more there are (`omitted`), and
/// `report`: where the whole report went, one `report row` log line a row in the
/// function's log stream.
pub fn report_answer(r: &Report, max: usize) -> Result<Box<RawValue>> {
    let size = json_len(r);
    if size <= max {
        return raw(r);
    }
    warn!(
        bytes = size,
        changes = r.changes.len(),
        "the report is too large for a Lambda answer: answering with a summary; the whole report follows as `report row` lines"
    );
    log_rows(r);
    let first = |n: usize| n.min(SUMMARY_ROWS);
    let by_action =
        |a: crate::decide::RowAction| r.changes.iter().filter(|c| c.action == a).count();
    use crate::decide::RowAction::{Create, Delete, Mark, Update};
    let rows =
        r.changes.len() + r.conflicts.len() + r.skipped.len() + r.frozen.len() + r.failed.len();
    let mut place = log_place();
    place["rows"] = json!(rows);
    place["query"] = json!(format!(
        "fields @timestamp, fields.list, fields.row | filter fields.message = \"report row\" | sort @timestamp asc | limit {}",
        rows.min(10_000)
    ));
    raw(&json!({
        "dry_run": r.dry_run,
        "summary": true,
        "note": format!(
            "the whole report ({size} bytes) is larger than a Lambda answer may be: every row of it is in the function's log stream (report.query), and `ec2-dns-ctl plan` (or `apply`) prints it whole"
        ),
        "report": place,
        "counts": {
            "changes": r.changes.len(),
            "creates": by_action(Create),
            "updates": by_action(Update),
            "deletes": by_action(Delete),
            "marks": by_action(Mark),
            "conflicts": r.conflicts.len(),
            "skipped": r.skipped.len(),
            "frozen": r.frozen.len(),
            "failed": r.failed.len(),
        },
        "omitted": {
            "changes": r.changes.len() - first(r.changes.len()),
            "conflicts": r.conflicts.len() - first(r.conflicts.len()),
            "skipped": r.skipped.len() - first(r.skipped.len()),
            "frozen": r.frozen.len() - first(r.frozen.len()),
            "failed": r.failed.len() - first(r.failed.len()),
        },
        "failed": &r.failed[..first(r.failed.len())],
        "conflicts": &r.conflicts[..first(r.conflicts.len())],
        "frozen": &r.frozen[..first(r.frozen.len())],
        "skipped": &r.skipped[..first(r.skipped.len())],
        "changes": &r.changes[..first(r.changes.len())],
        "warnings": r.warnings,
    }))
}

async fn handle_sqs<I: Instances, D: Dns, L: Locks, Q: Queue, G: Groups>(
    rec: &Reconciler<I, D, L>,
    queue: &Q,
    groups: &G,
    items: Vec<SqsItem>,
    deadline: Option<i64>,
) -> (Value, Option<Report>) {
    let began = rec.now();
    let (shards, mut items): (Vec<SqsItem>, Vec<SqsItem>) = items
        .into_iter()
        .partition(|i| matches!(i.hint, Ok(Hint::Shard(_))));
    // Interfaces to their instances first, each once (`None`: its read failed); one that
    // cannot be read stays an interface, and its message comes back soon.
    let mut resolved: BTreeMap<(crate::model::Home, crate::model::InterfaceId), Option<Hint>> =
        BTreeMap::new();
    for item in &mut items {
        let Ok(Hint::Interface(i)) = &item.hint else {
            continue;
        };
        let key = (i.home.clone(), i.id.clone());
        let found = match resolved.get(&key) {
            Some(known) => known.clone(),
            None => {
                let found = match resolve(rec, i).await {
                    Ok(h) => Some(h),
                    Err(e) => {
                        warn!(message_id = %item.message_id, error = %e, interface = %i.id, "the instance of a network interface could not be read");
                        None
                    }
                };
                resolved.insert(key, found.clone());
                found
            }
        };
        let Some(hint) = found else {
            continue;
        };
        if let Hint::Ignore(reason) = &hint {
            info!(message_id = %item.message_id, reason, "event ignored");
        }
        item.hint = Ok(hint);
    }
    let mut owners = BTreeSet::new();
    let mut asked = Vec::new();
    let mut actions: Vec<&LifecycleAction> = Vec::new();
    for item in &items {
        match &item.hint {
            Err(reason) => {
                warn!(message_id = %item.message_id, reason, "SQS message is not a usable event")
            }
            Ok(Hint::All(a)) => asked.push(a),
            Ok(Hint::Owners(o)) => owners.extend(o.iter().cloned()),
            Ok(Hint::Lifecycle(a)) => {
                owners.extend(owners_to_reconcile(&[a]));
                actions.push(a);
            }
            Ok(Hint::Ignore(_)) | Ok(Hint::Interface(_)) | Ok(Hint::Shard(_)) => {}
        }
    }
    // Every event of the batch is served by one reconcile: many events for one instance
    // cost one look at it, and many asking for everything one reconcile of everything,
    // or none when an earlier one already served them all.
    let served_all = served(&rec.locks, &asked).await;
    if let Some(reason) = &served_all {
        info!(
            reason,
            events = asked.len(),
            "reconcile of everything skipped"
        );
    }
    let all = !asked.is_empty() && served_all.is_none();
    // A sharded schedule starts a run (named after the first message asking for it, so
    // that a redelivery resends its pending shards instead of starting another run).
    let run = match (
        all && rec.config.sharded_reconcile,
        items.iter().find(|i| matches!(i.hint, Ok(Hint::All(_)))),
    ) {
        (true, Some(first)) => {
            let id = format!("s-{}", first.message_id);
            let started = fanout::start(rec, queue, &id, "schedule", false).await;
            if let Err(e) = &started {
                warn!(error = %e, "the sharded reconcile could not be started");
            }
            Some(started.is_ok())
        }
        _ => None,
    };
    let all = all && run.is_none();
    let scope = if all {
        Some(Scope::All)
    } else if !owners.is_empty() {
        Some(Scope::Owners(owners))
    } else {
        None
    };
    // Changes applied by earlier invocations of this container are not waited for.
    rec.dns.take_applied();
    let result = match scope {
        Some(s) => Some(reconcile_recorded(rec, &Request::for_event(s, deadline)).await),
        None => None,
    };
    let finished = finish_lifecycle(rec, groups, &actions, &result, deadline).await;
    let unfinished = |a: &LifecycleAction| {
        finished
            .iter()
            .any(|f| f.retry && f.action.token == a.token)
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
            // Its instance could not be read: nothing was done for it.
            (Ok(Hint::Interface(_)), _) => true,
            (Ok(Hint::Lifecycle(a)), _) if unfinished(a) => true,
            (Ok(_), None) => false,
            (Ok(Hint::Ignore(_)), _) => false,
            (Ok(Hint::All(_)), _) if served_all.is_some() => false,
            (Ok(Hint::All(_)), _) if run.is_some() => run == Some(false),
            (Ok(_), Some(Err(e))) => {
                warn!(message_id = %item.message_id, error = %e, "reconcile failed");
                true
            }
            (Ok(hint), Some(Ok(report))) => must_retry(report, hint),
        };
        if retry {
            failures.push(&item.message_id);
            soon.extend(retry_soon(item));
        }
    }
    let mut result = result;
    for (i, item) in shards.iter().enumerate() {
        let Ok(Hint::Shard(task)) = &item.hint else {
            continue;
        };
        let retry = match shard_item(rec, queue, task, i, began, deadline).await {
            Ok(Some(report)) => {
                merge_into(&mut result, report);
                false
            }
            Ok(None) => false,
            Err(e) => {
                warn!(message_id = %item.message_id, run = %task.run, part = %task.part, error = %e, "shard failed");
                true
            }
        };
        if retry {
            failures.push(&item.message_id);
            soon.extend(retry_soon(item));
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
