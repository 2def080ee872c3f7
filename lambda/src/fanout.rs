//! A sharded run end to end: started by one invocation (the schedule, or an operator's
//! `{"reconcile": "all", "sharded": true}`), which records the run and sends its parts to
//! the function's own queue; each part then handled by an ordinary SQS invocation, with
//! the queue's retries, dead-letter queue and alarms. What a part is: [`crate::shard`].

use std::collections::BTreeSet;

use serde_json::json;
use tracing::{info, warn};

use crate::engine::{Reconciler, Request};
use crate::error::{Error, Result};
use crate::model::{Owner, Scope};
use crate::ports::{Dns, Instances, Locks, Queue};
use crate::report::Report;
use crate::shard::{owners_named, plan, Counts, Part, PartDone, Run, Task};

/// The target of a run's summary line.
pub const RUN_LOG: &str = "ec2_dns::run";

/// What became of one part.
#[derive(Debug)]
pub enum PartOutcome {
    /// Its owners were reconciled and its result recorded (once: a delivery before this one
    /// may have recorded it already). Its rows are the caller's to log.
    Finished(Report),
    /// It was too large: its 16 parts were sent instead.
    Split(usize),
    /// It was recorded already (finished, or split and its parts sent again).
    Done,
    /// Something failed, or must be looked at again: its message must be retried (only a
    /// note, `why`, was recorded).
    Retry { report: Report, why: String },
}

fn queue_url<I, D, L>(rec: &Reconciler<I, D, L>) -> Result<&str> {
    rec.config.queue_url.as_deref().ok_or_else(|| {
        Error::InvalidInput(
            "QUEUE_URL is not set: a sharded run sends its shards to the function's own queue"
                .into(),
        )
    })
}

/// A fresh run id: the start time and 32 random bits.
pub fn new_run_id(now: i64) -> String {
    let mut bytes = [0u8; 4];
    // Without randomness the time alone names the run (two started in one second share
    // an id, and the second is taken as a retry of the first).
    let _ = getrandom::getrandom(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("r{now}-{hex}")
}

/// Starts run `id`: records it, then sends its parts. A start retried with the same id
/// (a redelivered schedule event) sends the parts still pending again, and nothing more.
pub async fn start<I: Instances, D: Dns, L: Locks, Q: Queue>(
    rec: &Reconciler<I, D, L>,
    queue: &Q,
    id: &str,
    trigger: &str,
    dry_run: bool,
) -> Result<Run> {
    crate::shard::valid_run_id(id).map_err(Error::InvalidInput)?;
    let url = queue_url(rec)?;
    let items = rec.locks.item_count().await?;
    let parts = plan(&rec.instances.homes(), items, rec.config.shard_size);
    let fresh = Run {
        id: id.to_string(),
        started: rec.now(),
        trigger: trigger.to_string(),
        dry_run,
        parts: parts.iter().map(Part::id).collect(),
        ..Run::default()
    };
    let run = match rec.locks.start_run(&fresh).await? {
        true => fresh,
        false => rec.locks.run(id).await?.ok_or_else(|| Error::Unexpected {
            service: "dynamodb",
            message: format!("run {id} exists and cannot be read"),
        })?,
    };
    let bodies: Vec<String> = run
        .pending()
        .into_iter()
        .map(|part| task(&run, part).body())
        .collect();
    queue.send(url, &bodies).await?;
    info!(
        target: RUN_LOG,
        run = %run.id,
        shards = bodies.len(),
        lock_items = items,
        dry_run,
        trigger,
        "sharded reconcile started"
    );
    Ok(run)
}

fn task(run: &Run, part: &str) -> Task {
    Task {
        run: run.id.clone(),
        part: part.to_string(),
        dry_run: run.dry_run,
    }
}

/// Handles one part of a run (see [`crate::shard`]).
pub async fn run_part<I: Instances, D: Dns, L: Locks, Q: Queue>(
    rec: &Reconciler<I, D, L>,
    queue: &Q,
    t: &Task,
    deadline: Option<i64>,
) -> Result<PartOutcome> {
    let part = t.part().map_err(Error::InvalidInput)?;
    let url = queue_url(rec)?;
    let Some(run) = rec.locks.run(&t.run).await? else {
        return Err(Error::InvalidInput(format!(
            "no sharded run {:?} in the lock table (it expires 30 days after its start)",
            t.run
        )));
    };
    if run.finished.contains(&t.part) {
        info!(run = %t.run, part = %t.part, "shard recorded already");
        return Ok(PartOutcome::Done);
    }
    let mut note = Vec::new();
    let mut names = BTreeSet::new();
    // Released names whose removal another run may still be sending: that run's retry may
    // no longer name them (its owner gave them up), so this part looks again once their
    // window has passed, rather than taking the change at its word.
    let mut in_flight = 0;
    let owners = match &part {
        Part::Place { home, prefix } => {
            if run.split.contains(&t.part) {
                // Split by an earlier delivery, whose sends may not all have gone out: its
                // parts are the run's parts below its own, as that delivery recorded them.
                let children: Vec<Part> = run
                    .pending()
                    .into_iter()
                    .filter(|p| p.len() > t.part.len() && p.starts_with(t.part.as_str()))
                    .filter_map(|p| Part::parse(p).ok())
                    .collect();
                send_parts(queue, url, &run, &children).await?;
                return Ok(PartOutcome::Done);
            }
            if !rec.instances.homes().contains(home) {
                note.push(format!(
                    "account {} region {} is not managed any more",
                    home.account(),
                    home.region()
                ));
                BTreeSet::new()
            } else {
                let owners: BTreeSet<Owner> = rec
                    .instances
                    .tagged(home, prefix.as_str())
                    .await?
                    .into_iter()
                    .filter(|i| i.owner.instance_id().is_some_and(|id| part.covers(id)))
                    .map(|i| i.owner)
                    .collect();
                if owners.len() > rec.config.shard_size {
                    if let Some(children) =
                        part.split_among(owners.iter().filter_map(Owner::instance_id))
                    {
                        let ids: Vec<String> = children.iter().map(Part::id).collect();
                        rec.locks.split_part(&t.run, &t.part, &ids).await?;
                        send_parts(queue, url, &run, &children).await?;
                        info!(run = %t.run, part = %t.part, owners = owners.len(), first = %ids[0], "shard split in 16");
                        return Ok(PartOutcome::Split(children.len()));
                    }
                }
                owners
            }
        }
        Part::Locks { segment, of } => {
            let loaded = rec.locks.scan_segment(*segment, *of).await?;
            let managed = rec.instances.homes();
            let (owners, elsewhere): (BTreeSet<Owner>, BTreeSet<Owner>) =
                owners_named(&loaded, &rec.home)
                    .into_iter()
                    .partition(|o| match o {
                        Owner::Instance { home, .. } => managed.contains(home),
                        Owner::Host { home, .. } => *home == rec.home,
                    });
            if !elsewhere.is_empty() {
                note.push(format!(
                    "{} owners of places this deployment does not manage left as they are",
                    elsewhere.len()
                ));
            }
            let owners = not_listed(rec, owners).await?;
            // Items that name no owner (a released name whose removal is unfinished) are
            // decided by name.
            let (now, holderless) = (
                rec.now(),
                loaded.locks.iter().filter(|l| l.participants().is_empty()),
            );
            in_flight = holderless.clone().filter(|l| l.in_flight(now)).count();
            names = holderless.map(|l| l.name.clone()).collect();
            if !loaded.unreadable.is_empty() {
                note.push(format!(
                    "{} items could not be read (see `ec2-dns-ctl status`)",
                    loaded.unreadable.len()
                ));
            }
            owners
        }
    };
    let report = match owners.is_empty() && names.is_empty() {
        true => Report {
            dry_run: t.dry_run,
            ..Report::default()
        },
        false => {
            // Route53 is read for every name of the part (by name, or by listing the zones
            // its names live in): the drift repair, and what finds a change a killed run
            // never sent.
            let req = Request {
                scope: Scope::Owners(owners.clone()),
                verify_dns: true,
                dry_run: t.dry_run,
                deadline,
                names,
            };
            rec.reconcile(&req).await?
        }
    };
    let counts = Counts::of(&report, owners.len());
    let finished = report.failed.is_empty() && (in_flight == 0 || t.dry_run);
    if in_flight > 0 && !t.dry_run {
        note.push(format!(
            "{in_flight} released names had a change in flight: looked at again after its window"
        ));
    }
    if let Some(first) = report.failed.first() {
        note.push(format!(
            "{} failed, to be retried (first: {}: {})",
            report.failed.len(),
            first.name,
            first.reason
        ));
    }
    for (n, what) in [
        (counts.conflicts, "conflicts"),
        (counts.frozen, "frozen"),
        (counts.skipped, "skipped"),
    ] {
        if n > 0 {
            note.push(format!("{n} {what}"));
        }
    }
    let note = (!note.is_empty()).then(|| {
        let stream = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default();
        match stream.is_empty() {
            true => note.join("; "),
            false => format!("{}; rows in log stream {stream}", note.join("; ")),
        }
    });
    let done = PartDone {
        part: t.part.clone(),
        finished,
        counts,
        note,
    };
    let recorded = rec.locks.record_part(&t.run, &done).await?;
    if !finished {
        let why = done.note.unwrap_or_default();
        return Ok(PartOutcome::Retry { report, why });
    }
    match recorded {
        Some(run) if run.complete() => finish(rec, &run).await,
        Some(_) => {}
        None => info!(run = %t.run, part = %t.part, "shard recorded already"),
    }
    Ok(PartOutcome::Finished(report))
}

/// The owners among `owners` that no place shard lists: instances EC2 no longer knows or
/// that lost the name tag, and hosts. A tagged instance is its place shard's (listing
/// includes every state), so a run reconciles it once, and its status tag says what that
/// one reconcile did.
async fn not_listed<I: Instances, D: Dns, L: Locks>(
    rec: &Reconciler<I, D, L>,
    owners: BTreeSet<Owner>,
) -> Result<BTreeSet<Owner>> {
    let mut per_home: std::collections::BTreeMap<crate::model::Home, Vec<Owner>> =
        Default::default();
    let mut out = BTreeSet::new();
    for o in owners {
        match o.host() {
            Some(_) => {
                out.insert(o);
            }
            None => per_home.entry(o.home().clone()).or_default().push(o),
        }
    }
    for (home, owners) in per_home {
        let tagged: BTreeSet<Owner> = rec
            .instances
            .describe(&home, &owners)
            .await?
            .into_iter()
            .filter(|i| i.names.tag().is_some())
            .map(|i| i.owner)
            .collect();
        out.extend(owners.into_iter().filter(|o| !tagged.contains(o)));
    }
    Ok(out)
}

async fn send_parts<Q: Queue>(queue: &Q, url: &str, run: &Run, parts: &[Part]) -> Result<()> {
    let bodies: Vec<String> = parts.iter().map(|p| task(run, &p.id()).body()).collect();
    queue.send(url, &bodies).await
}

/// The run's one summary line (and its metrics), logged by the part that completed it;
/// a scheduled run without failures is recorded as a clean reconcile of everything
/// ([`crate::coalesce`]), as an unsharded one is.
async fn finish<I: Instances, D: Dns, L: Locks>(rec: &Reconciler<I, D, L>, run: &Run) {
    let c = run.counts;
    let seconds = rec.now() - run.started;
    info!(
        target: RUN_LOG,
        run = %run.id,
        trigger = %run.trigger,
        dry_run = run.dry_run,
        shards = run.finished.len(),
        owners = c.owners,
        changes = c.changes,
        conflicts = c.conflicts,
        skipped = c.skipped,
        frozen = c.frozen,
        failed = c.failed,
        seconds,
        "sharded reconcile finished"
    );
    println!(
        "{}",
        crate::metrics::run_emf(&rec.function, run, seconds, now_ms())
    );
    if run.trigger == "schedule" && !run.dry_run && c.failed == 0 {
        if let Err(e) = rec.locks.record_swept(run.started).await {
            warn!(error = %e, "could not record the sharded reconcile of everything");
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The answer to an operator who started a run.
pub fn started_answer(run: &Run) -> serde_json::Value {
    json!({
        "run": run.id,
        "shards": run.pending().len(),
        "dry_run": run.dry_run,
        "status": format!("ec2-dns-ctl status --run {}", run.id),
    })
}
