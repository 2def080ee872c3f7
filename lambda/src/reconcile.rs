//! read → plan → apply → report. One function for one instance, a batch of instances, or
//! everything; events are only hints about which instances to look at again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use tokio::sync::Mutex;
use tracing::{debug, info, instrument, warn};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{
    changes_between, Change, Instance, InstanceId, InstanceState, Lock, RecordSet, Zone, ZoneId,
};
use crate::name::{parse_tag, Fqdn};
use crate::plan::{
    ours, plan, status_value, Action, Expect, Outcome, Plan, Scope, Settings, World,
    FOREIGN_VALUES, UNMANAGED,
};
use crate::ports::{Applied, Cas, Dns, Instances, Locks};
use crate::report::{FailRow, Report};

/// How long the hosted-zone list is reused before it is read again.
const ZONE_CACHE: Duration = Duration::from_secs(300);
/// Route53 limits per change batch: record values, and characters of all values.
pub const MAX_BATCH_VALUES: usize = 1000;
pub const MAX_BATCH_CHARS: usize = 32_000;
/// Above this many names to read in one zone, the zone is listed once instead.
const WHOLE_ZONE_ABOVE: usize = 20;

/// What to reconcile and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub scope: Scope,
    /// Read Route53 instead of trusting the locks (manual and scheduled reconciles: this is
    /// what repairs drift).
    pub verify_dns: bool,
    /// Plan and report, write nothing.
    pub dry_run: bool,
}

/// The reconciler with its clients; built once per container and reused.
pub struct Reconciler<I, D, L> {
    pub instances: I,
    pub dns: D,
    pub locks: L,
    pub config: Config,
    zones: Mutex<Option<(Instant, Arc<Vec<Zone>>)>>,
}

/// A publish whose lock write won: the version to commit against.
struct Held<'a> {
    action: &'a Action,
    version: Option<u64>,
}

/// What became of one action after apply.
enum Done {
    Ok,
    Conflict(Option<InstanceId>, String),
    Failed(String),
}

impl<I: Instances, D: Dns, L: Locks> Reconciler<I, D, L> {
    pub fn new(instances: I, dns: D, locks: L, config: Config) -> Self {
        Reconciler {
            instances,
            dns,
            locks,
            config,
            zones: Mutex::new(None),
        }
    }

    fn settings(&self) -> Settings {
        Settings {
            allowed_domains: self.config.allowed_domains.clone(),
            ttl: self.config.ttl,
        }
    }

    /// Brings the instances in `req.scope` (and the names they hold or claim) to the desired
    /// state. Idempotent: safe to re-run after a partial failure, and a second run changes
    /// nothing. Errors only when the state could not be read; per-name failures are in the
    /// report (`failed`) and leave a state the next run converges from.
    #[instrument(skip_all, fields(scope = ?req.scope, dry_run = req.dry_run))]
    pub async fn reconcile(&self, req: &Request) -> Result<Report> {
        let started = Instant::now();
        let world = self.observe(req).await?;
        let settings = self.settings();
        let plan = plan(&world, &req.scope, &settings);
        let (mut report, outcomes) = self.execute(&world, &plan, req.dry_run).await;
        if !req.dry_run {
            self.write_statuses(&world, &plan, &outcomes, &mut report)
                .await;
        }
        info!(
            changes = report.changes.len(),
            conflicts = report.conflicts.len(),
            skipped = report.skipped.len(),
            failed = report.failed.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reconcile finished"
        );
        Ok(report)
    }

    async fn zones(&self) -> Result<Arc<Vec<Zone>>> {
        let mut cache = self.zones.lock().await;
        if let Some((at, zones)) = cache.as_ref() {
            if at.elapsed() < ZONE_CACHE {
                return Ok(zones.clone());
            }
        }
        let zones = Arc::new(self.dns.zones().await?);
        *cache = Some((Instant::now(), zones.clone()));
        Ok(zones)
    }

    /// Reads what the plan needs: the instances, their locks, the owners of those locks,
    /// (when a name is to be released) the running instances that may be waiting for it,
    /// and (when asked) Route53.
    async fn observe(&self, req: &Request) -> Result<World> {
        let mut world = World {
            zones: self.zones().await?.as_ref().clone(),
            ..World::default()
        };
        match &req.scope {
            Scope::All => {
                add_instances(&mut world, self.instances.tagged(false).await?);
                for lock in self.locks.scan(!req.dry_run).await? {
                    world.locks.insert(lock.name.clone(), lock);
                }
            }
            Scope::Instances(ids) => {
                let ids: Vec<InstanceId> = ids.iter().cloned().collect();
                add_described(&mut world, &ids, self.instances.describe(&ids).await?);
                let claimed: BTreeSet<Fqdn> = ids
                    .iter()
                    .filter_map(|id| world.instances.get(id))
                    .flat_map(tag_names)
                    .collect();
                let claimed: Vec<Fqdn> = claimed.into_iter().collect();
                let (locks, index) = self.locks.load(&claimed, &ids).await?;
                let extra: Vec<Fqdn> = index
                    .values()
                    .flatten()
                    .filter(|n| !claimed.contains(n))
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let mut all_locks = locks;
                if !extra.is_empty() {
                    all_locks.extend(self.locks.load(&extra, &[]).await?.0);
                }
                for lock in all_locks {
                    world.locks.insert(lock.name.clone(), lock);
                }
            }
        }
        let unknown: Vec<InstanceId> = world
            .locks
            .values()
            .map(|l| l.owner.clone())
            .filter(|o| !world.instances.contains_key(o))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unknown.is_empty() {
            let found = self.instances.describe(&unknown).await?;
            add_described(&mut world, &unknown, found);
        }
        // A name about to be released may have a running instance waiting for it.
        if matches!(req.scope, Scope::Instances(_)) {
            let first = plan(&world, &req.scope, &self.settings());
            if first
                .actions
                .iter()
                .any(|a| matches!(a, Action::Release { .. }))
            {
                add_instances(&mut world, self.instances.tagged(true).await?);
            }
        }
        world.dns = self.observe_dns(&world, req).await?;
        Ok(world)
    }

    /// Route53's A/AAAA sets, per name read: whole zones for a verified full reconcile,
    /// the names in scope for a verified targeted one, and always the names whose lock
    /// carries an intent (a change was in flight when a run stopped: only Route53 knows
    /// whether it landed).
    async fn observe_dns(
        &self,
        world: &World,
        req: &Request,
    ) -> Result<BTreeMap<Fqdn, Vec<RecordSet>>> {
        let managed: Vec<&Zone> = world
            .zones
            .iter()
            .filter(|z| {
                self.config
                    .allowed_domains
                    .iter()
                    .any(|d| z.name.is_at_or_below(d))
            })
            .collect();
        let mut dns: BTreeMap<Fqdn, Vec<RecordSet>> = BTreeMap::new();
        let mut names: BTreeSet<Fqdn> = world
            .locks
            .values()
            .filter(|l| l.intent.is_some())
            .map(|l| l.name.clone())
            .collect();
        let first = plan(world, &req.scope, &self.settings());
        // A fresh claim looks first: a record already there is someone else's (a conflict,
        // before any write), and one that appears after our CREATE is provably ours.
        names.extend(first.actions.iter().filter_map(|a| match a {
            Action::Publish {
                name,
                expect: Expect::Absent,
                ..
            } => Some(name.clone()),
            _ => None,
        }));
        if req.verify_dns {
            names.extend(first.actions.iter().map(|a| a.name().clone()));
            for outcomes in first.outcomes.values() {
                names.extend(outcomes.iter().filter_map(|o| o.name().cloned()));
            }
            if req.scope == Scope::All {
                names.extend(world.locks.keys().cloned());
                for zone in &managed {
                    for (name, set) in self.dns.zone_records(&zone.id).await? {
                        dns.entry(name).or_default().push(set);
                    }
                }
                for name in names {
                    dns.entry(name).or_default();
                }
                names = BTreeSet::new();
            }
        }
        // Route53 reads are the scarce ones (5 per second per account): a zone with many
        // names to read is listed once instead of name by name.
        let mut per_zone: BTreeMap<ZoneId, Vec<Fqdn>> = BTreeMap::new();
        for name in names {
            for zone in self.zones_of(world, &name) {
                per_zone.entry(zone).or_default().push(name.clone());
            }
            dns.entry(name).or_default();
        }
        for (zone, names) in per_zone {
            if names.len() > WHOLE_ZONE_ABOVE {
                let wanted: BTreeSet<&Fqdn> = names.iter().collect();
                for (name, set) in self.dns.zone_records(&zone).await? {
                    if wanted.contains(&name) {
                        dns.entry(name).or_default().push(set);
                    }
                }
            } else {
                for name in names {
                    let sets = self.dns.name_records(&zone, &name).await?;
                    dns.entry(name).or_default().extend(sets);
                }
            }
        }
        for sets in dns.values_mut() {
            sets.sort();
        }
        Ok(dns)
    }

    /// The A/AAAA sets of one name, in every zone where they may be.
    async fn read_name(&self, world: &World, name: &Fqdn) -> Result<Vec<RecordSet>> {
        let mut sets = Vec::new();
        for zone in self.zones_of(world, name) {
            sets.extend(self.dns.name_records(&zone, name).await?);
        }
        sets.sort();
        Ok(sets)
    }

    /// The zones where a name's records may be: its longest-suffix managed zones, and
    /// every zone its lock's `records` or `intent` name.
    fn zones_of(&self, world: &World, name: &Fqdn) -> BTreeSet<ZoneId> {
        let managed = world.zones.iter().filter(|z| {
            self.config
                .allowed_domains
                .iter()
                .any(|d| z.name.is_at_or_below(d))
                && name.is_at_or_below(&z.name)
        });
        let best = managed.clone().map(|z| z.name.label_count()).max();
        let mut zones: BTreeSet<ZoneId> = managed
            .filter(|z| Some(z.name.label_count()) == best)
            .map(|z| z.id.clone())
            .collect();
        if let Some(lock) = world.locks.get(name) {
            zones.extend(
                lock.records
                    .iter()
                    .chain(lock.intent.iter().flatten())
                    .map(|s| s.zone_id.clone()),
            );
        }
        zones
    }

    /// Every name lock with its owner as EC2 reports it now (`None`: EC2 does not know it).
    pub async fn status(&self) -> Result<Vec<(Lock, Option<Instance>)>> {
        let locks = self.locks.scan(false).await?;
        let owners: Vec<InstanceId> = locks
            .iter()
            .map(|l| l.owner.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let found = if owners.is_empty() {
            Vec::new()
        } else {
            self.instances.describe(&owners).await?
        };
        let mut out: Vec<(Lock, Option<Instance>)> = locks
            .into_iter()
            .map(|l| {
                let owner = found.iter().find(|i| i.id == l.owner).cloned();
                (l, owner)
            })
            .collect();
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(out)
    }

    /// An operator's release of one name, through the same apply step as any release: the
    /// name's records that ec2-dns wrote are deleted exactly (anything else is left alone
    /// and reported), then the lock with the owner-and-version condition. Refused while the
    /// owner runs and still claims the name (it would take it straight back). Audited: one
    /// warning line with the lock as it was.
    pub async fn release_name(&self, name: &Fqdn, dry_run: bool) -> Result<Report> {
        let lock = self
            .locks
            .load(std::slice::from_ref(name), &[])
            .await?
            .0
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::InvalidInput(format!("{name} has no lock: nothing to release"))
            })?;
        let owner = self
            .instances
            .describe(std::slice::from_ref(&lock.owner))
            .await?
            .into_iter()
            .next();
        if let Some(o) = owner
            .as_ref()
            .filter(|o| o.state == InstanceState::Running && tag_names(o).contains(name))
        {
            return Err(Error::InvalidInput(format!(
                "{name} is held by running instance {} that still claims it; remove the name from its tag or stop it first",
                o.id
            )));
        }
        let mut world = World {
            zones: self.zones().await?.as_ref().clone(),
            ..World::default()
        };
        world.locks.insert(name.clone(), lock.clone());
        let seen = self.read_name(&world, name).await?;
        let (old, foreign) = ours(&lock, Some(&seen), &[]);
        world.dns.insert(name.clone(), seen);
        world.instances.insert(
            lock.owner.clone(),
            owner.unwrap_or_else(|| Instance::gone(lock.owner.clone())),
        );
        let mut plan = Plan::default();
        plan.actions.push(Action::Release {
            name: name.clone(),
            owner: lock.owner.clone(),
            version: lock.version,
            old: old.clone(),
        });
        let mut outcomes = vec![Outcome::Released {
            name: name.clone(),
            reason: "released by an operator".into(),
        }];
        if !foreign.is_empty() {
            outcomes.push(Outcome::Conflict {
                name: name.clone(),
                owner: None,
                reason: FOREIGN_VALUES.into(),
            });
        }
        plan.outcomes.insert(lock.owner.clone(), outcomes);
        if !dry_run {
            warn!(name = %name, owner = %lock.owner, version = lock.version, records = ?lock.records, action = "manual-release", "name released by an operator");
        }
        Ok(self.execute(&world, &plan, dry_run).await.0)
    }

    /// Applies a plan (or, in a dry run, only reports it) and logs one line per decision.
    /// Returns the report and the outcomes as they turned out.
    async fn execute(
        &self,
        world: &World,
        plan: &Plan,
        dry_run: bool,
    ) -> (Report, BTreeMap<InstanceId, Vec<Outcome>>) {
        let mut report = Report {
            dry_run,
            ..Report::default()
        };
        let outcomes = if dry_run {
            for action in &plan.actions {
                let (name, owner, old, new) = parts(action);
                report.add_changes(name, owner, old, new);
            }
            plan.outcomes.clone()
        } else {
            self.apply(world, plan, &mut report).await
        };
        let changed: BTreeSet<Fqdn> = report.changes.iter().map(|c| c.name.clone()).collect();
        for (id, list) in &outcomes {
            for o in list {
                report.add_outcome(id, o);
                log_outcome(id, o, o.name().is_some_and(|n| changed.contains(n)));
            }
        }
        (report, outcomes)
    }

    /// Lock writes, then Route53 (batched per zone), then lock commits and releases.
    /// Returns the outcomes, corrected for what did not go as planned.
    async fn apply(
        &self,
        world: &World,
        plan: &Plan,
        report: &mut Report,
    ) -> BTreeMap<InstanceId, Vec<Outcome>> {
        let n = self.config.concurrency;
        // 1. Locks first for publishes: claim, take over or record the intent.
        let held: Vec<(Held, Option<Done>)> = stream::iter(&plan.actions)
            .map(|action| async move {
                match action {
                    Action::Publish {
                        name,
                        owner,
                        expect,
                        old,
                        new,
                    } => {
                        // The intent names everything Route53 may hold for the name after
                        // this change, whether it lands, fails, or half-lands across zones.
                        let mut intent: Vec<RecordSet> = old.iter().chain(new).cloned().collect();
                        intent.sort();
                        intent.dedup();
                        match self.locks.acquire(name, owner, expect, &intent).await {
                            Ok(Cas::Won(v)) => (
                                Held {
                                    action,
                                    version: Some(v),
                                },
                                None,
                            ),
                            Ok(Cas::Lost(Some(o))) if &o != owner => (
                                Held {
                                    action,
                                    version: None,
                                },
                                Some(Done::Conflict(
                                    Some(o.clone()),
                                    format!("owned by instance {o}"),
                                )),
                            ),
                            Ok(Cas::Lost(_)) => (
                                Held {
                                    action,
                                    version: None,
                                },
                                Some(Done::Failed(
                                    "the lock changed meanwhile; will retry".into(),
                                )),
                            ),
                            Err(e) => (
                                Held {
                                    action,
                                    version: None,
                                },
                                Some(Done::Failed(e.to_string())),
                            ),
                        }
                    }
                    Action::Release { version, .. } => (
                        Held {
                            action,
                            version: Some(*version),
                        },
                        None,
                    ),
                }
            })
            .buffer_unordered(n)
            .collect()
            .await;
        let mut done: BTreeMap<Fqdn, Done> = BTreeMap::new();
        let mut ready: Vec<Held> = Vec::new();
        for (h, d) in held {
            match d {
                Some(d) => {
                    done.insert(h.action.name().clone(), d);
                }
                None => ready.push(h),
            }
        }

        // 2. Route53: one batch per zone (split by the limits); per name on rejection.
        let mut by_name: BTreeMap<Fqdn, Vec<Change>> = BTreeMap::new();
        for h in &ready {
            let (name, _, old, new) = parts(h.action);
            by_name.insert(name.clone(), changes_between(name, old, new));
        }
        let dns_results = self.change_dns(&by_name).await;
        let mut commits: Vec<(&Held, Vec<RecordSet>)> = Vec::new();
        for h in &ready {
            let (name, _, _, new) = parts(h.action);
            // The worst of the name's per-zone results; and what this run did land.
            let mut worst: Option<&DnsTrouble> = None;
            let mut landed: Vec<&ZoneId> = Vec::new();
            for ((n, zone), r) in dns_results.range((name.clone(), ZoneId(String::new()))..) {
                if n != name {
                    break;
                }
                match r {
                    Ok(()) => landed.push(zone),
                    Err(t @ DnsTrouble::Transient(_)) => worst = Some(t),
                    Err(t @ DnsTrouble::Rejected(_)) => {
                        if worst.is_none() {
                            worst = Some(t);
                        }
                    }
                }
            }
            match worst {
                None => commits.push((h, new.to_vec())),
                Some(DnsTrouble::Transient(e)) => {
                    done.insert(name.clone(), Done::Failed(e.clone()));
                }
                Some(DnsTrouble::Rejected(why)) => {
                    // Route53 holds something else than we thought: look, then decide.
                    info!(name = %name, reason = %why, "Route53 refused the change; reading what is there");
                    match self
                        .recover(world, h.action, &landed, h.version.unwrap_or_default())
                        .await
                    {
                        Ok(Recovered::Applied) => commits.push((h, new.to_vec())),
                        Ok(Recovered::Superseded) => {
                            done.insert(
                                name.clone(),
                                Done::Failed("the lock changed meanwhile; will retry".into()),
                            );
                        }
                        Ok(Recovered::Foreign(kept)) => {
                            let fresh = !world.locks.contains_key(name);
                            let reason = if fresh { UNMANAGED } else { FOREIGN_VALUES };
                            done.insert(name.clone(), Done::Conflict(None, reason.into()));
                            if let (Action::Publish { owner, .. }, Some(v)) = (h.action, h.version)
                            {
                                // Give a fresh claim back; keep a held lock, recording what is ours.
                                let r = if fresh {
                                    self.locks.release(name, owner, v).await
                                } else {
                                    self.locks.commit(name, owner, v, &kept).await
                                };
                                if let Err(e) = r {
                                    warn!(name = %name, error = %e, "could not settle the lock after a conflict");
                                }
                            } else if let Action::Release { .. } = h.action {
                                // Ours is gone; what is left is not ours: the lock can go.
                                commits.push((h, Vec::new()));
                            }
                        }
                        Err(e) => {
                            done.insert(name.clone(), Done::Failed(e.to_string()));
                        }
                    }
                }
            }
        }

        // 3. Commit what Route53 now holds, or drop released locks.
        let settled: Vec<(Fqdn, Option<String>)> = stream::iter(commits)
            .map(|(h, records)| async move {
                let name = h.action.name().clone();
                let version = h.version.unwrap_or_default();
                let r = match h.action {
                    Action::Publish { owner, .. } => {
                        self.locks.commit(&name, owner, version, &records).await
                    }
                    Action::Release { owner, .. } => {
                        self.locks.release(&name, owner, version).await
                    }
                };
                let failure = match r {
                    Ok(Cas::Won(_)) => None,
                    Ok(Cas::Lost(_)) => Some("the lock changed meanwhile; will retry".to_string()),
                    Err(e) => Some(e.to_string()),
                };
                (name, failure)
            })
            .buffer_unordered(n)
            .collect()
            .await;
        for (name, failure) in settled {
            if let Some(f) = failure {
                done.insert(name, Done::Failed(f));
            } else {
                done.entry(name).or_insert(Done::Ok);
            }
        }

        // Outcomes: the plan's, corrected by what happened.
        let mut outcomes = plan.outcomes.clone();
        for action in &plan.actions {
            let (name, owner, old, new) = parts(action);
            let corrected = match done.get(name) {
                Some(Done::Ok) => {
                    report.add_changes(name, owner, old, new);
                    continue;
                }
                Some(Done::Conflict(holder, reason)) => Outcome::Conflict {
                    name: name.clone(),
                    owner: holder.clone(),
                    reason: reason.clone(),
                },
                Some(Done::Failed(reason)) => Outcome::Failed {
                    name: name.clone(),
                    reason: reason.clone(),
                },
                None => Outcome::Failed {
                    name: name.clone(),
                    reason: "not applied".into(),
                },
            };
            if matches!(corrected, Outcome::Failed { .. }) {
                if let Action::Publish {
                    expect: Expect::Held { owner: prev, .. },
                    ..
                } = action
                {
                    report.failed_instances.insert(prev.clone());
                }
            }
            set_outcome(&mut outcomes, owner, name, corrected);
        }
        outcomes
    }

    /// Submits the changes of many names, grouped per zone and split by Route53's limits; a
    /// rejected batch is retried name by name so one bad name cannot hold up the others.
    async fn change_dns(
        &self,
        by_name: &BTreeMap<Fqdn, Vec<Change>>,
    ) -> BTreeMap<(Fqdn, ZoneId), std::result::Result<(), DnsTrouble>> {
        let mut per_zone: BTreeMap<ZoneId, Vec<(Fqdn, Vec<Change>)>> = BTreeMap::new();
        for (name, changes) in by_name {
            let mut zones: BTreeMap<ZoneId, Vec<Change>> = BTreeMap::new();
            for c in changes {
                zones
                    .entry(c.set.zone_id.clone())
                    .or_default()
                    .push(c.clone());
            }
            for (zone, cs) in zones {
                per_zone.entry(zone).or_default().push((name.clone(), cs));
            }
        }
        let mut results: BTreeMap<(Fqdn, ZoneId), std::result::Result<(), DnsTrouble>> =
            BTreeMap::new();
        for (zone, names) in per_zone {
            for batch in split_batches(names) {
                let changes: Vec<Change> = batch
                    .iter()
                    .flat_map(|(_, cs)| cs.iter().cloned())
                    .collect();
                let outcome = self.dns.change(&zone, &changes).await;
                match outcome {
                    Ok(Applied::Done) => {
                        for (name, _) in &batch {
                            results.insert((name.clone(), zone.clone()), Ok(()));
                        }
                    }
                    Ok(Applied::Rejected(msg)) if batch.len() == 1 => {
                        results.insert(
                            (batch[0].0.clone(), zone.clone()),
                            Err(DnsTrouble::Rejected(msg)),
                        );
                    }
                    Ok(Applied::Rejected(_)) => {
                        for (name, cs) in &batch {
                            let r = match self.dns.change(&zone, cs).await {
                                Ok(Applied::Done) => Ok(()),
                                Ok(Applied::Rejected(m)) => Err(DnsTrouble::Rejected(m)),
                                Err(e) => Err(DnsTrouble::Transient(e.to_string())),
                            };
                            results.insert((name.clone(), zone.clone()), r);
                        }
                    }
                    Err(e) => {
                        for (name, _) in &batch {
                            results.insert(
                                (name.clone(), zone.clone()),
                                Err(DnsTrouble::Transient(e.to_string())),
                            );
                        }
                    }
                }
            }
        }
        results
    }

    /// After Route53 refused a name's change: read what is there. Sets ec2-dns wrote (the
    /// lock's records or intent, or what it was writing now) are ours and are swapped; any
    /// other set in a slot we use is left alone and reported.
    async fn recover(
        &self,
        world: &World,
        action: &Action,
        landed: &[&ZoneId],
        held: u64,
    ) -> Result<Recovered> {
        let (name, owner, old, new) = parts(action);
        // Only the holder of the lock at the version it wrote may touch the name's records:
        // a run that was overtaken (another run took or updated the lock) backs off.
        let current = self.locks.load(std::slice::from_ref(name), &[]).await?.0;
        if !current
            .iter()
            .any(|l| &l.owner == owner && l.version == held)
        {
            return Ok(Recovered::Superseded);
        }
        let lock = world.locks.get(name);
        // Ours: what the lock says was written or meant, what we were replacing, and new
        // values where this run landed them or where the slot was ours or seen empty before
        // this run wrote (a CREATE whose answer was lost and retried). A record that merely
        // equals what we would write, in a slot we never saw empty, is not ours.
        let slot_was_free = |s: &RecordSet| {
            old.iter().any(|o| o.slot() == s.slot())
                || world
                    .dns
                    .get(name)
                    .is_some_and(|seen| !seen.iter().any(|o| o.slot() == s.slot()))
        };
        let ours = |s: &RecordSet| {
            old.contains(s)
                || lock.is_some_and(|l| l.wrote(s))
                || (new.contains(s) && (landed.contains(&&s.zone_id) || slot_was_free(s)))
        };
        let slots: BTreeSet<_> = old
            .iter()
            .chain(new)
            .chain(
                lock.map(|l| l.records.iter().chain(l.intent.iter().flatten()))
                    .into_iter()
                    .flatten(),
            )
            .map(|s| (s.zone_id.clone(), s.rtype))
            .collect();
        let zones: BTreeSet<ZoneId> = slots.iter().map(|(z, _)| z.clone()).collect();
        let mut actual = Vec::new();
        for zone in &zones {
            actual.extend(self.dns.name_records(zone, name).await?);
        }
        actual.retain(|s| slots.contains(&(s.zone_id.clone(), s.rtype)));
        let (mine, foreign): (Vec<RecordSet>, Vec<RecordSet>) =
            actual.into_iter().partition(|s| ours(s));
        let release = matches!(action, Action::Release { .. });
        // A release deletes whatever of ours is there; a publish changes nothing when a slot
        // it needs holds someone else's values.
        // A fresh claim that meets someone else's record backs out whatever of its own
        // change landed (in another zone's batch) before the lock is given back.
        let fresh = lock.is_none();
        let fix = match (release, foreign.is_empty()) {
            (true, _) => changes_between(name, &mine, &[]),
            (false, true) => changes_between(name, &mine, new),
            (false, false) if fresh => changes_between(name, &mine, &[]),
            (false, false) => Vec::new(),
        };
        let mut by_zone: BTreeMap<ZoneId, Vec<Change>> = BTreeMap::new();
        for c in fix {
            by_zone.entry(c.set.zone_id.clone()).or_default().push(c);
        }
        for (zone, changes) in by_zone {
            match self.dns.change(&zone, &changes).await? {
                Applied::Done => {}
                Applied::Rejected(m) => {
                    return Err(Error::Incomplete(format!(
                        "{name}: Route53 refused the change twice: {m}"
                    )));
                }
            }
        }
        if foreign.is_empty() {
            Ok(Recovered::Applied)
        } else {
            Ok(Recovered::Foreign(if release || fresh {
                Vec::new()
            } else {
                mine
            }))
        }
    }

    /// Writes the status tag of every instance whose sentence changed.
    async fn write_statuses(
        &self,
        world: &World,
        plan: &Plan,
        outcomes: &BTreeMap<InstanceId, Vec<Outcome>>,
        report: &mut Report,
    ) {
        let writes: Vec<(&Instance, String)> = plan
            .statusable
            .iter()
            .filter_map(|id| {
                let inst = world.instances.get(id)?;
                let value = status_value(outcomes.get(id).map(Vec::as_slice).unwrap_or(&[]))?;
                (inst.status_tag.as_deref() != Some(value.as_str())).then_some((inst, value))
            })
            .collect();
        let results: Vec<(InstanceId, Result<()>)> = stream::iter(writes)
            .map(|(inst, value)| async move {
                (
                    inst.id.clone(),
                    self.instances.set_status(&inst.id, &value).await,
                )
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        for (id, r) in results {
            if let Err(e) = r {
                warn!(instance = %id, error = %e, "status tag not written");
                report.failed.push(FailRow {
                    name: self.config.status_tag.clone(),
                    instance: Some(id.clone()),
                    reason: e.to_string(),
                });
                report.failed_instances.insert(id);
            }
        }
    }
}

enum DnsTrouble {
    Transient(String),
    Rejected(String),
}

enum Recovered {
    Applied,
    /// The lock is no longer ours at the version we wrote: nothing was touched.
    Superseded,
    /// Someone else's values sit in a slot we use; what of ours is still there.
    Foreign(Vec<RecordSet>),
}

fn parts(action: &Action) -> (&Fqdn, &InstanceId, &[RecordSet], &[RecordSet]) {
    match action {
        Action::Publish {
            name,
            owner,
            old,
            new,
            ..
        } => (name, owner, old, new),
        Action::Release {
            name, owner, old, ..
        } => (name, owner, old, &[]),
    }
}

fn set_outcome(
    outcomes: &mut BTreeMap<InstanceId, Vec<Outcome>>,
    id: &InstanceId,
    name: &Fqdn,
    new: Outcome,
) {
    let list = outcomes.entry(id.clone()).or_default();
    list.retain(|o| o.name() != Some(name));
    list.push(new);
}

/// Splits the changes of a zone into batches within Route53's limits, never splitting one
/// name's changes (its DELETE and CREATE must land together).
pub fn split_batches(names: Vec<(Fqdn, Vec<Change>)>) -> Vec<Vec<(Fqdn, Vec<Change>)>> {
    let mut batches: Vec<Vec<(Fqdn, Vec<Change>)>> = Vec::new();
    let (mut values, mut chars) = (0usize, 0usize);
    for (name, changes) in names {
        let v: usize = changes.iter().map(|c| c.set.values.len()).sum();
        let c: usize = changes
            .iter()
            .flat_map(|c| c.set.values.iter())
            .map(String::len)
            .sum();
        let full = values + v > MAX_BATCH_VALUES || chars + c > MAX_BATCH_CHARS;
        if batches.is_empty() || full {
            batches.push(Vec::new());
            (values, chars) = (0, 0);
        }
        values += v;
        chars += c;
        if let Some(last) = batches.last_mut() {
            last.push((name, changes));
        }
    }
    batches
}

fn add_instances(world: &mut World, found: Vec<Instance>) {
    for inst in found {
        world.instances.entry(inst.id.clone()).or_insert(inst);
    }
}

/// Adds what EC2 returned for `asked`, and marks the ids it did not return as gone.
fn add_described(world: &mut World, asked: &[InstanceId], found: Vec<Instance>) {
    add_instances(world, found);
    for id in asked {
        world
            .instances
            .entry(id.clone())
            .or_insert_with(|| Instance::gone(id.clone()));
    }
}

/// The valid names in an instance's tag (zones and addresses are the planner's business).
fn tag_names(inst: &Instance) -> Vec<Fqdn> {
    inst.name_tag
        .as_deref()
        .and_then(|t| parse_tag(t).ok())
        .map(|entries| entries.into_iter().filter_map(|e| e.parsed.ok()).collect())
        .unwrap_or_default()
}

/// One log line per decision; an unchanged published name is only worth a debug line.
fn log_outcome(id: &InstanceId, o: &Outcome, changed: bool) {
    let name = o.name().map(|n| n.to_string()).unwrap_or_default();
    match o {
        Outcome::Published { values, .. } if changed => {
            info!(instance = %id, name, action = "publish", values = %values.join(","), "name published")
        }
        Outcome::Published { .. } => {
            debug!(instance = %id, name, action = "keep", "name unchanged")
        }
        Outcome::Released { reason, .. } => {
            info!(instance = %id, name, action = "release", reason, "name released")
        }
        Outcome::Conflict { owner, reason, .. } => {
            let owner = owner
                .as_ref()
                .map(InstanceId::as_str)
                .unwrap_or("unmanaged record");
            warn!(instance = %id, name, action = "conflict", owner, reason, "name not published")
        }
        Outcome::Invalid { raw, reason } => {
            warn!(instance = %id, name = raw, action = "invalid", reason, "name refused")
        }
        Outcome::Skipped { reason, .. } => {
            info!(instance = %id, name, action = "skip", reason, "name skipped")
        }
        Outcome::Failed { reason, .. } => {
            warn!(instance = %id, name, action = "failed", reason, "name not settled; will retry")
        }
    }
}
