//! Apply: lock writes first (each decision fenced by its generation), then Route53 (every
//! batch a compare-and-swap on the name's marker), then a recovery of the names whose
//! batch Route53 refused, then the status tags. Returns the report.
//!
//! A run is applied a chunk of names at a time ([`Reconciler::apply_chunk`], steps 1–3 and
//! the chunk's report rows), then finished once ([`Reconciler::apply_end`]: outcomes,
//! status tags, housekeeping), so that a reconcile of everything never holds the work of
//! every name ([`crate::decide::Planner`]). [`Reconciler::apply_with`] is one chunk of a
//! whole plan.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::stream::{self, StreamExt};
use tracing::{debug, info, warn};

use crate::decide::outcome::Outcome;
use crate::decide::ownership::Verdict;
use crate::decide::protection::Protections;
use crate::decide::zones::zones_to_read;
use crate::decide::{replan, Claims, NamePlan, Plan, Seen, SlotChange, World};
use crate::engine::{Reconciler, Request};
use crate::lock::{Cas, Decision, Expect, HostTouch, Lock, LockWrite};
use crate::model::{Change, Owner, Scope, ZoneId};
use crate::name::Fqdn;
use crate::ports::{Applied, Dns, Instances, Locks};
use crate::report::Report;
use crate::window::{window_end, SendWindow, TOO_LATE};

pub(crate) const LOCK_CHANGED: &str = "the lock changed meanwhile; will retry";

/// The report of a dry run: the plan, nothing written.
pub(crate) fn dry_run(world: &World, plan: &Plan) -> Report {
    let mut progress = Progress::default();
    dry_chunk(&mut progress, world, &plan.names);
    dry_end(progress, plan)
}

/// A dry run's rows of one chunk of names.
pub(crate) fn dry_chunk(progress: &mut Progress, world: &World, names: &[NamePlan]) {
    for np in names {
        progress.report.add_changes(&np.rows, &world.zones);
    }
}

/// The report of a dry run whose chunks are all in `progress`; `plan` is the run's (its
/// `names` are not looked at: they were the chunks').
pub(crate) fn dry_end(progress: Progress, plan: &Plan) -> Report {
    let mut report = progress.report;
    report.dry_run = true;
    finish(&mut report, &plan.outcomes);
    report.add_frozen(&plan.frozen);
    warn_all(&mut report, &plan.warnings);
    report
}

/// What the chunks of one run have settled so far, for its end ([`Reconciler::apply_end`],
/// [`dry_end`]). Grows with the names that changed or failed, not with every name.
#[derive(Default)]
pub(crate) struct Progress {
    /// The report so far: the change rows of the names settled, in the order they settled.
    report: Report,
    /// Names whose planned outcomes turned out otherwise, in the order they settled.
    turned: Vec<Turned>,
    /// Whether a decision carrying the host touch landed.
    touched: bool,
    /// The run's whole plan, known before its one chunk is written: its status tags go out
    /// beside its Route53 changes ([`Progress::expect`]).
    expected: Option<Expected>,
    /// The status values written so far in this run, per owner.
    written: BTreeMap<Owner, String>,
}

impl Progress {
    /// The run is `plan`, applied as one chunk: the chunk writes the status tags its lock
    /// writes leave beside its Route53 changes (see [`super::status`]).
    pub(crate) fn expect(&mut self, plan: &Plan) {
        self.expected = Some(Expected {
            outcomes: plan.outcomes.clone(),
            statusable: plan.statusable.clone(),
        });
    }
}

/// A whole plan's outcomes (assuming every write succeeds) and the owners whose tag they
/// say everything about.
struct Expected {
    outcomes: BTreeMap<Owner, Vec<Outcome>>,
    statusable: BTreeSet<Owner>,
}

/// One name's planned outcomes replaced: each of `owners` loses those about `name`, then
/// `outcomes` are added (what the run learned applying it: a failure, a new decision).
struct Turned {
    name: Fqdn,
    owners: Vec<Owner>,
    outcomes: Vec<(Owner, Outcome)>,
}

/// The plan's warnings into the report and the log.
fn warn_all(report: &mut Report, warnings: &[String]) {
    for w in warnings {
        warn!(target: OUTCOME, "{w}");
        report.warnings.push(w.clone());
    }
}

/// Outcomes into report rows and log lines.
fn finish(report: &mut Report, outcomes: &BTreeMap<Owner, Vec<Outcome>>) {
    let changed: BTreeSet<Fqdn> = report.changes.iter().map(|c| c.name.clone()).collect();
    for (owner, list) in outcomes {
        for o in list {
            report.add_outcome(owner, o);
            log_outcome(owner, o, o.name().is_some_and(|n| changed.contains(n)));
        }
    }
}

/// One name's decision whose lock write won, on its way through Route53.
struct Attempt {
    plan: NamePlan,
    /// The lock as this run wrote it.
    lock: Lock,
}

/// How one name ended.
enum Settled {
    Done {
        rows: Vec<SlotChange>,
    },
    /// Recovered with a new decision: these outcomes replace the plan's.
    Redecided {
        rows: Vec<SlotChange>,
        outcomes: Vec<(Owner, Outcome)>,
    },
    Failed(String),
}

/// A host's new addresses go into the host's item in the same transaction as every lock
/// decision that publishes them: Route53 never holds addresses of a host that its item
/// does not (or the next reconcile would put the old ones back).
fn attach(d: &mut Decision, touch: Option<&HostTouch>) {
    if let Some(t) = touch {
        if d.holder.as_ref().and_then(Owner::host) == Some(&t.name) {
            d.host = Some(t.clone());
        }
    }
}

impl<I: Instances, D: Dns, L: Locks> Reconciler<I, D, L> {
    pub(crate) async fn apply(&self, world: &World, plan: Plan, req: &Request) -> Report {
        self.apply_with(world, plan, req, None).await.0
    }

    /// [`Self::apply`], with a host touch carried by the decisions that make the host the
    /// holder; also says whether one of those writes landed (and the touch with it).
    pub(crate) async fn apply_with(
        &self,
        world: &World,
        mut plan: Plan,
        req: &Request,
        touch: Option<&HostTouch>,
    ) -> (Report, bool) {
        let mut progress = Progress::default();
        progress.expect(&plan);
        let names = std::mem::take(&mut plan.names);
        self.apply_chunk(world, names, req, touch, None, &mut progress)
            .await;
        self.apply_end(world, plan, req, progress).await
    }

    /// Steps 1 to 3 for one chunk of a run's names, and their report rows and changed
    /// outcomes into `progress`.
    ///
    /// The chunk's lock writes open its own change window (`until`, from now), and its
    /// Route53 changes are sent only within it, so every change of a generation lands while
    /// its lock says it may be in flight, as for a whole plan. Route53 batches are per zone
    /// per chunk: a big run of fresh names makes a few more ChangeResourceRecordSets calls
    /// than one batch set for the whole run would (a chunk of [`super::CHUNK`] names still
    /// fills batches well). `claims`: the run's, for recovering refused names (built here
    /// when `None`).
    pub(crate) async fn apply_chunk(
        &self,
        world: &World,
        names: Vec<NamePlan>,
        req: &Request,
        touch: Option<&HostTouch>,
        claims: Option<&Claims<'_>>,
        progress: &mut Progress,
    ) {
        let touched = AtomicBool::new(false);
        let until = window_end(self.now(), req.deadline);
        let mut settled: Vec<(NamePlan, Settled)> = Vec::new();

        // 1. Lock writes: every decision is recorded before any of its changes is sent.
        let n = self.config.concurrency;
        let written: Vec<(NamePlan, Result<u64, String>)> = stream::iter(names)
            .map(|mut np| async move {
                if let LockWrite::Decide(d) = &mut np.write {
                    d.until = until;
                    d.stamp = self.tokens.stamp(self.now());
                    attach(d, touch);
                }
                let r = self.write_lock(&np.write).await;
                (np, r)
            })
            .buffer_unordered(n)
            .collect()
            .await;
        let mut attempts = Vec::new();
        for (np, r) in written {
            match (r, &np.write) {
                (Err(why), _) => settled.push((np, Settled::Failed(why))),
                (Ok(version), LockWrite::Decide(d)) => {
                    if d.host.is_some() {
                        touched.store(true, Ordering::Relaxed);
                    }
                    let lock = d.lock(version);
                    attempts.push(Attempt { plan: np, lock });
                }
                (Ok(_), _) => settled.push((np, Settled::Done { rows: Vec::new() })),
            }
        }

        // 2. Route53: one batch per zone (the adapter splits and isolates names); beside it,
        //    for a whole plan, the status tags as its lock writes leave them.
        let expected = progress.expected.take();
        let early = async {
            let mut written = BTreeMap::new();
            if let Some(Expected {
                mut outcomes,
                statusable,
            }) = expected
            {
                for (np, how) in &settled {
                    if let Settled::Failed(why) = how {
                        for owner in &np.owners {
                            drop_name(&mut outcomes, owner, &np.name);
                            outcomes
                                .entry(owner.clone())
                                .or_default()
                                .push(failed(&np.name, why));
                        }
                    }
                }
                self.write_statuses(world, &statusable, &outcomes, &mut written, None)
                    .await;
            }
            written
        };
        let changes = self.send(attempts.iter().flat_map(|a| a.plan.changes.iter()), until);
        let (results, written) = tokio::join!(changes, early);
        progress.written.extend(written);

        // 3. Per name: done, failed (Route53 may hold it: flag the lock), or refused (read
        //    what is there and decide once more).
        let mut refused = Vec::new();
        for a in attempts {
            match verdict_of(&a.plan.name, &a.plan.changes, &results) {
                Ok(()) => {
                    let mut plan = a.plan;
                    let rows = std::mem::take(&mut plan.rows);
                    settled.push((plan, Settled::Done { rows }));
                }
                Err(Trouble::Failed(why)) => {
                    self.flag(&a.lock).await;
                    settled.push((a.plan, Settled::Failed(why)));
                }
                Err(Trouble::Refused { why, protected }) => {
                    info!(name = %a.plan.name, reason = %why, "Route53 refused the change; reading what is there");
                    refused.push((a, protected));
                }
            }
        }
        if !refused.is_empty() {
            settled.extend(
                self.recover(world, refused, &results, until, touch, &touched, claims)
                    .await,
            );
        }

        // 4. The chunk's rows, and its outcomes as they turned out.
        for (np, how) in settled {
            match how {
                Settled::Done { rows } => progress.report.add_changes(&rows, &world.zones),
                Settled::Redecided { rows, outcomes } => {
                    progress.report.add_changes(&rows, &world.zones);
                    let mut owners = np.owners;
                    owners.extend(outcomes.iter().map(|(o, _)| o.clone()));
                    progress.turned.push(Turned {
                        name: np.name,
                        owners,
                        outcomes,
                    });
                }
                Settled::Failed(why) => {
                    warn!(target: OUTCOME, name = %np.name, reason = %why, "name not settled; will retry");
                    let outcomes = np
                        .owners
                        .iter()
                        .map(|owner| (owner.clone(), failed(&np.name, &why)))
                        .collect();
                    progress.turned.push(Turned {
                        name: np.name,
                        owners: np.owners,
                        outcomes,
                    });
                }
            }
        }
        progress.touched |= touched.into_inner();
    }

    /// The end of a run whose chunks are all in `progress`, once: the outcomes as they
    /// turned out into the report (with the frozen names and warnings), then every status
    /// tag from all of them (step 5), then housekeeping. `plan` is the run's: its outcomes,
    /// frozen names, warnings and statusable owners (its `names` were the chunks', and are
    /// not looked at). Also says whether a decision carrying the host touch landed.
    pub(crate) async fn apply_end(
        &self,
        world: &World,
        plan: Plan,
        req: &Request,
        progress: Progress,
    ) -> (Report, bool) {
        let Progress {
            mut report,
            turned,
            touched,
            mut written,
            ..
        } = progress;
        let mut outcomes = plan.outcomes;
        for t in turned {
            for owner in &t.owners {
                drop_name(&mut outcomes, owner, &t.name);
            }
            for (owner, o) in t.outcomes {
                outcomes.entry(owner).or_default().push(o);
            }
        }
        finish(&mut report, &outcomes);
        report.add_frozen(&plan.frozen);
        warn_all(&mut report, &plan.warnings);

        // 5. Status tags, then housekeeping.
        self.write_statuses(
            world,
            &plan.statusable,
            &outcomes,
            &mut written,
            Some(&mut report),
        )
        .await;
        if req.scope == Scope::All && !world.empty_index.is_empty() {
            if let Err(e) = self.locks.prune_index(&world.empty_index).await {
                debug!(error = %e, "empty owner-index items kept");
            }
        }
        (report, touched)
    }

    /// One conditional write. A decision whose answer is not a win is read back before
    /// anything is concluded from it: after a lost answer the SDK sends the write again, and
    /// the repeat finds its own first attempt there, so an error and a failed condition
    /// alike may hide a write that landed. The item is ours only if it carries this write's
    /// token (another run may have written the very same decision).
    async fn write_lock(&self, w: &LockWrite) -> Result<u64, String> {
        let answer = self.locks.write(w).await;
        let why = match answer {
            Ok(Cas::Won(v)) => return Ok(v),
            Ok(Cas::Lost) => LOCK_CHANGED.to_string(),
            Err(e) => e.to_string(),
        };
        let LockWrite::Decide(d) = w else {
            return Err(why);
        };
        let expected = match d.expect {
            Expect::Absent => 1,
            Expect::Version(v) => v + 1,
        };
        match self.locks.load(std::slice::from_ref(&d.name), &[]).await {
            Ok(found) if found.locks.iter().any(|l| as_written(l, d, expected)) => {
                info!(name = %d.name, "lock write answer lost; the write had landed");
                Ok(expected)
            }
            Ok(_) => Err(why),
            Err(e) => Err(format!("{why}; reading it back failed too: {e}")),
        }
    }

    /// Sends changes, each Route53 call only while the window of their lock writes is open
    /// (a change must never land after its generation stopped being in flight): the adapter
    /// checks the window before every call it makes. The changes are copied for the
    /// adapter: those of one chunk of names at most.
    async fn send<'a>(
        &self,
        changes: impl Iterator<Item = &'a Change>,
        until: i64,
    ) -> BTreeMap<(Fqdn, ZoneId), Applied> {
        let changes: Vec<Change> = changes.cloned().collect();
        if changes.is_empty() {
            return BTreeMap::new();
        }
        let window = SendWindow {
            until,
            call_max: self.route53_call_max,
            clock: self.clock.as_ref(),
        };
        if !window.open() {
            return changes
                .iter()
                .map(|c| {
                    (
                        (c.name.clone(), c.set.zone_id.clone()),
                        Applied::Failed(crate::Error::Incomplete(TOO_LATE.into())),
                    )
                })
                .collect();
        }
        self.dns.change(&changes, &window).await
    }

    /// A change of the lock's generation failed: the lock must not be trusted any more.
    /// Best effort; if it fails too, the next reconcile of everything reads Route53 anyway.
    async fn flag(&self, lock: &Lock) {
        let w = LockWrite::Check {
            name: lock.name.clone(),
            gen: lock.gen,
            now: self.now(),
        };
        if let Err(e) = self.locks.write(&w).await {
            warn!(name = %lock.name, error = %e, "could not flag the lock for a read");
        }
    }

    /// Names whose batch Route53 refused: read them, decide again from what is there (the
    /// lock as this run wrote it, and the record set protections the refusal named, which a
    /// read cannot see), and apply that once. Refused twice: retried later. `claims`: the
    /// run's, if the caller has them (built here otherwise).
    #[allow(clippy::too_many_arguments)]
    async fn recover(
        &self,
        world: &World,
        refused: Vec<(Attempt, Protections)>,
        first: &BTreeMap<(Fqdn, ZoneId), Applied>,
        until: i64,
        touch: Option<&HostTouch>,
        touched: &AtomicBool,
        claims: Option<&Claims<'_>>,
    ) -> Vec<(NamePlan, Settled)> {
        let settings = self.settings();
        let mut per_zone: BTreeMap<ZoneId, Vec<Fqdn>> = BTreeMap::new();
        for (a, _) in &refused {
            let mut zones = zones_to_read(
                &a.plan.name,
                Some(&a.lock),
                &world.zones,
                &settings.allowed_domains,
            );
            zones.extend(a.plan.changes.iter().map(|c| c.set.zone_id.clone()));
            for z in zones {
                per_zone.entry(z).or_default().push(a.plan.name.clone());
            }
        }
        let mut seen: BTreeMap<Fqdn, BTreeMap<ZoneId, Seen>> = BTreeMap::new();
        let mut unread: BTreeMap<Fqdn, String> = BTreeMap::new();
        for (zone, names) in per_zone {
            match self.dns.read(&zone, &names).await {
                Ok(found) => {
                    for (name, s) in found {
                        seen.entry(name).or_default().insert(zone.clone(), s);
                    }
                }
                Err(e) => {
                    for name in names {
                        unread.insert(name, e.to_string());
                    }
                }
            }
        }
        let built;
        let claims = match claims {
            Some(claims) => claims,
            None => {
                built = Claims::new(world, &settings);
                &built
            }
        };
        let mut out = Vec::new();
        for (a, learned) in refused {
            let name = a.plan.name.clone();
            if let Some(why) = unread.get(&name) {
                self.flag(&a.lock).await;
                out.push((a.plan, Settled::Failed(why.clone())));
                continue;
            }
            let empty = BTreeMap::new();
            let now_seen = seen.get(&name).unwrap_or(&empty);
            let mut decided = replan(world, &name, &a.lock, now_seen, learned, claims, &settings);
            decided.outcomes = std::mem::take(&mut decided.outcomes)
                .into_iter()
                .map(|(owner, o)| {
                    let o = claims.mark(&owner, o);
                    (owner, o)
                })
                .collect();
            // What of the first batch landed (in the zones Route53 did not refuse).
            let landed: Vec<SlotChange> = a
                .plan
                .rows
                .iter()
                .filter(|r| {
                    matches!(
                        first.get(&(name.clone(), r.slot.zone.clone())),
                        Some(Applied::Done)
                    )
                })
                .cloned()
                .collect();
            let settled = match decided.verdict {
                Verdict::Nothing => Settled::Redecided {
                    rows: a.plan.rows.clone(),
                    outcomes: decided.outcomes,
                },
                Verdict::Write {
                    write,
                    changes,
                    rows,
                } => {
                    let mut write = write;
                    if let LockWrite::Decide(d) = &mut write {
                        d.until = until;
                        d.stamp = self.tokens.stamp(self.now());
                        attach(d, touch);
                    }
                    match self.write_lock(&write).await {
                        Err(why) => Settled::Failed(why),
                        Ok(version) => {
                            if matches!(&write, LockWrite::Decide(d) if d.host.is_some()) {
                                touched.store(true, Ordering::Relaxed);
                            }
                            let results = self.send(changes.iter(), until).await;
                            match verdict_of(&name, &changes, &results) {
                                Ok(()) => Settled::Redecided {
                                    rows: landed.into_iter().chain(rows).collect(),
                                    outcomes: decided.outcomes,
                                },
                                Err(trouble) => {
                                    if let LockWrite::Decide(d) = &write {
                                        self.flag(&d.lock(version)).await;
                                    }
                                    Settled::Failed(match trouble {
                                        Trouble::Failed(why) => why,
                                        Trouble::Refused { why, .. } => {
                                            format!("Route53 refused the change twice: {why}")
                                        }
                                    })
                                }
                            }
                        }
                    }
                }
                Verdict::Read | Verdict::Deferred => {
                    self.flag(&a.lock).await;
                    Settled::Failed("Route53 could not be read for a recovery".into())
                }
            };
            out.push((a.plan, settled));
        }
        out
    }
}

/// Whether a lock read back is exactly the decision this run wrote: its version, and the
/// token of this very write.
fn as_written(l: &Lock, d: &Decision, version: u64) -> bool {
    l.version == version && l.stamp.is_some_and(|s| s.token == d.stamp.token)
}

enum Trouble {
    /// The call failed: the change may or may not have landed.
    Failed(String),
    /// Route53 refused it as a whole; `protected`: the types record set protections cover,
    /// per zone, as the refusal named them.
    Refused { why: String, protected: Protections },
}

/// The worst of a name's per-zone results.
fn verdict_of(
    name: &Fqdn,
    changes: &[Change],
    results: &BTreeMap<(Fqdn, ZoneId), Applied>,
) -> Result<(), Trouble> {
    let zones: BTreeSet<&ZoneId> = changes.iter().map(|c| &c.set.zone_id).collect();
    let mut refused = None;
    let mut protected = Protections::new();
    for z in zones {
        match results.get(&(name.clone(), z.clone())) {
            Some(Applied::Done) => {}
            Some(Applied::Failed(e)) => return Err(Trouble::Failed(e.to_string())),
            Some(Applied::Rejected(why)) => refused = Some(why.clone()),
            Some(Applied::Protected { types, why }) => {
                protected.insert(z.clone(), types.clone());
                refused = Some(why.clone());
            }
            None => return Err(Trouble::Failed("no answer for the change".into())),
        }
    }
    refused.map_or(Ok(()), |why| Err(Trouble::Refused { why, protected }))
}

/// A name not settled, to be retried.
fn failed(name: &Fqdn, why: &str) -> Outcome {
    Outcome::Failed {
        name: name.clone(),
        reason: why.to_string(),
    }
}

fn drop_name(outcomes: &mut BTreeMap<Owner, Vec<Outcome>>, owner: &Owner, name: &Fqdn) {
    if let Some(list) = outcomes.get_mut(owner) {
        list.retain(|o| o.name() != Some(name));
    }
}

/// One log line per decision; an unchanged published name is only worth a debug line.
/// The target of the lines that repeat a report's rows (outcomes, warnings): the CLI,
/// which prints the report, leaves them out unless `EC2DNS_LOG` asks for them.
pub const OUTCOME: &str = "ec2_dns::outcome";

pub fn log_outcome(owner: &Owner, o: &Outcome, changed: bool) {
    let name = o.name().map(|n| n.to_string()).unwrap_or_default();
    match o {
        Outcome::Published { values, .. } if changed => {
            info!(target: OUTCOME, owner = %owner, name, action = "publish", values = %values.join(","), "name published")
        }
        Outcome::Published { .. } => {
            debug!(target: OUTCOME, owner = %owner, name, action = "keep", "name unchanged")
        }
        Outcome::Released { reason, .. } => {
            info!(target: OUTCOME, owner = %owner, name, action = "release", reason = %reason, "name released")
        }
        Outcome::Conflict { holder, reason, .. } => {
            let reason = reason.text(holder.as_ref(), owner);
            let holder = holder
                .as_ref()
                .map_or("a record ec2-dns did not write".to_string(), |h| {
                    h.to_string()
                });
            warn!(target: OUTCOME, owner = %owner, name, action = "conflict", holder, reason, "name not published")
        }
        Outcome::Invalid { raw, reason } => {
            warn!(target: OUTCOME, owner = %owner, name = raw, action = "invalid", reason, "name refused")
        }
        Outcome::NoSlot { template } => {
            info!(target: OUTCOME, owner = %owner, name = template, action = "skip", reason = %crate::status_tag::no_slot(), "no free slot")
        }
        Outcome::Skipped { reason, .. } => {
            info!(target: OUTCOME, owner = %owner, name, action = "skip", reason = %reason, "name skipped")
        }
        Outcome::Frozen { reason, .. } => {
            warn!(target: OUTCOME, owner = %owner, name, action = "frozen", reason = %reason, "name frozen")
        }
        Outcome::Failed { reason, .. } => {
            warn!(target: OUTCOME, owner = %owner, name, action = "failed", reason, "name not settled; will retry")
        }
    }
}
