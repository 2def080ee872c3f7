//! The operator's actions beyond a reconcile (`ec2-dns-ctl status`, `release`, `rebuild`),
//! through the same decisions and the same apply step as every reconcile.

use std::collections::{BTreeMap, BTreeSet};

use tracing::warn;

use crate::config::Deployed;
use crate::decide::claims::names_of;
use crate::decide::outcome::Outcome;
use crate::decide::ownership::{decide, NameView, Verdict};
use crate::decide::zones::{is_managed, zones_to_read};
use crate::decide::{Claims, NamePlan, Plan, Seen, World};
use crate::engine::{Reconciler, Request};
use crate::error::{Error, Result};
use crate::lock::{Decision, Expect, Lock, LockWrite, Stamp};
use crate::marker::Marker;
use crate::marker::{Marked, MarkerStyle};
use crate::model::{Instance, InstanceState, Owner, RecordSet, RecordType, Scope, Zone, ZoneId};
use crate::name::Fqdn;
use crate::ports::{Dns, Instances, Locks};
use crate::report::Report;

/// A name the lock table was rebuilt with (or, in a dry run, would be).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rebuilt {
    pub name: Fqdn,
    /// The holder the newest marker names (hidden, when an opaque one names no managed
    /// instance or host).
    pub holder: Marked,
    pub gen: u64,
    pub records: Vec<RecordSet>,
    /// Why it was left alone, when it was.
    pub skipped: Option<String>,
}

impl<I: Instances, D: Dns, L: Locks> Reconciler<I, D, L> {
    /// Records this function's configuration in the lock table when it differs from what
    /// is recorded, so that the operator CLI acts with it. Best effort: a failure is logged
    /// and the function serves anyway. Returns whether it wrote.
    pub async fn record_deployed(&self, function: &str) -> bool {
        match self.record_configuration(function).await {
            Ok((_, wrote)) => wrote,
            Err(e) => {
                warn!(error = %e, "could not record the configuration in the lock table");
                false
            }
        }
    }

    /// Records this function's configuration (when what is recorded differs: its settings,
    /// the function, the deployment id or the version) and answers what is recorded now,
    /// and whether this call wrote it. A deployment asks for it while it deploys
    /// (`{"record_configuration": true}`, or the CloudFormation custom resource), so that
    /// the CLI works before the first event.
    pub async fn record_configuration(&self, function: &str) -> Result<(Deployed, bool)> {
        let recorded = self.locks.deployed().await?;
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default();
        let ours = self.config.deployed(function, &now, &self.home);
        if let Some(d) = recorded.filter(|d| {
            self.config.same_as(d)
                && d.function == function
                && d.deployment == ours.deployment
                && d.version == ours.version
        }) {
            return Ok((d, false));
        }
        self.locks.record_deployed(&ours).await?;
        Ok((ours, true))
    }

    /// Every held name with its holder as EC2 reports it now (`None`: EC2 does not know it),
    /// and whether Route53 holds exactly what its lock says (read, never trusted).
    pub async fn status(&self) -> Result<Vec<StatusRow>> {
        let loaded = self.locks.scan().await?;
        let locks: Vec<Lock> = loaded
            .locks
            .into_iter()
            .filter(|l| l.holder.is_some())
            .collect();
        let holders: Vec<Owner> = locks
            .iter()
            .filter_map(|l| l.holder.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let instances: Vec<Owner> = holders
            .iter()
            .filter(|o| o.host().is_none())
            .cloned()
            .collect();
        let mut found = if instances.is_empty() {
            Vec::new()
        } else {
            self.describe_each(&instances).await?
        };
        // Hosts are in the same scan: "running" while their lease holds.
        let now = self.now();
        found.extend(loaded.hosts.iter().map(|h| h.as_claimant(now, &self.home)));
        // Route53, per zone the locks name: one read per zone (or per name, for few).
        let mut per_zone: BTreeMap<ZoneId, Vec<Fqdn>> = BTreeMap::new();
        for l in &locks {
            for zone in l.believed().into_keys() {
                per_zone.entry(zone).or_default().push(l.name.clone());
            }
        }
        let mut seen: BTreeMap<(Fqdn, ZoneId), Seen> = BTreeMap::new();
        for (zone, names) in per_zone {
            for (name, s) in self.dns.read(&zone, &names).await? {
                seen.insert((name, zone.clone()), s);
            }
        }
        let zones = self.dns.zones().await?;
        let mut out: Vec<StatusRow> = locks
            .into_iter()
            .map(|l| {
                let holder = found
                    .iter()
                    .find(|i| Some(&i.owner) == l.holder.as_ref())
                    .cloned();
                let dns = dns_check(&l, &seen, &zones);
                StatusRow {
                    lock: l,
                    holder,
                    dns,
                }
            })
            .collect();
        out.sort_by(|a, b| a.lock.name.cmp(&b.lock.name));
        Ok(out)
    }

    /// An operator's release of one name (a frozen one too), through the same decision and
    /// apply step as any release: the name's records that are provably ec2-dns's are
    /// deleted exactly (anything else is left alone and reported), and the name goes to its
    /// longest-running waiting claimant, or is freed. Refused while the holder runs and
    /// still claims the name (it would take it straight back). Audited: one warning line
    /// with the lock as it was.
    pub async fn release_name(&self, name: &Fqdn, dry_run: bool) -> Result<Report> {
        let not_held = || Error::InvalidInput(format!("{name} is not held: nothing to release"));
        let lock = self
            .locks
            .load(std::slice::from_ref(name), &[])
            .await?
            .locks
            .into_iter()
            .next()
            .ok_or_else(not_held)?;
        let Some(holder) = lock.holder.clone() else {
            return Err(not_held());
        };
        let asked: Vec<Owner> = std::iter::once(holder.clone())
            .chain(lock.members.iter().cloned())
            .chain(lock.waiting.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let settings = self.settings();
        let mut world = World {
            now: self.now(),
            homes: self.instances.homes(),
            zones: self.dns.zones().await?,
            ..World::default()
        };
        self.describe_any(&mut world, &asked, false).await?;
        // A holder of an account or region this deployment no longer manages cannot be
        // observed: the operator's release is what frees its names. The lock in this table
        // says its records are this deployment's, so its markers count as ours here.
        if holder.instance_id().is_some() && !world.homes.contains(holder.home()) {
            world.homes.push(holder.home().clone());
            world
                .instances
                .insert(holder.clone(), Instance::gone(holder.clone()));
        }
        if !world.instances.contains_key(&holder) {
            return Err(Error::Unexpected {
                service: "ec2",
                message: format!(
                    "{name}'s holder {holder} cannot be observed ({}); nothing was released",
                    world.unreachable.get(holder.home()).map_or(
                        "its host item is unreadable, or its account and region are not managed",
                        String::as_str
                    )
                ),
            });
        }
        for member in lock.participants() {
            if let Some(inst) = world.instances.get(member) {
                if inst.state == InstanceState::Running && names_of(inst).contains(name) {
                    return Err(Error::InvalidInput(format!(
                        "{name} is held by running instance {member} that still claims it; remove the name from its tag or stop it first"
                    )));
                }
            }
        }
        // A reverse name is claimed by its address: the holder would take it straight back
        // at its next run while it still holds names.
        let inst = &world.instances[&holder];
        if inst.state == InstanceState::Running
            && crate::decide::reverse::names_of(inst, &settings).contains(name)
        {
            return Err(Error::InvalidInput(format!(
                "{name} is the reverse name of an address of running instance {holder}; its PTR goes when the instance stops or holds no name any more (REVERSE_RECORDS)"
            )));
        }
        let mut seen: BTreeMap<ZoneId, Seen> = BTreeMap::new();
        for zone in zones_to_read(name, Some(&lock), &world.zones, &settings.allowed_domains) {
            let mut found = self.dns.read(&zone, std::slice::from_ref(name)).await?;
            seen.insert(zone, found.remove(name).unwrap_or_default());
        }
        let claims = Claims::new(&world, &settings);
        let by_name = claims.by_name(&world);
        let claimants: Vec<_> = by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(i, _)| !lock.participants().contains(&i.owner))
            .copied()
            .collect();
        let decided = decide(&NameView {
            name,
            lock: Some(&lock),
            claimants,
            known: &world.instances,
            seen: Some(&seen),
            now: world.now,
            // An operator's release does not wait for a change in flight: it is the way out
            // of a stuck one.
            own_write: true,
            previous: None,
            deployment: &settings.deployment,
            style: settings.style,
            unreachable: &world.unreachable,
            shared: None,
        });
        let mut plan = Plan::default();
        let mut owners = BTreeSet::new();
        for (owner, o) in decided.outcomes {
            let o = match o {
                Outcome::Released { name, reason } => Outcome::Released {
                    name,
                    reason: crate::decide::outcome::Release {
                        why: crate::decide::outcome::ReleaseReason::ByOperator,
                        ..reason
                    },
                },
                other => other,
            };
            owners.insert(owner.clone());
            plan.outcomes.entry(owner).or_default().push(o);
        }
        if let Verdict::Write {
            write,
            changes,
            rows,
        } = decided.verdict
        {
            plan.names.push(NamePlan {
                name: name.clone(),
                write,
                changes,
                rows,
                owners: owners.iter().cloned().collect(),
            });
        }
        // A status tag is rewritten whole: only for those whose tag names nothing else.
        for owner in owners {
            let alone = world
                .instances
                .get(&owner)
                .is_some_and(|i| i.state.is_taggable() && names_of(i).iter().all(|n| n == name));
            if alone {
                plan.statusable.insert(owner);
            }
        }
        world.locks.insert(name.clone(), lock.clone());
        world.seen.insert(name.clone(), seen);
        let req = Request {
            names: Default::default(),
            scope: Scope::Owners([holder.clone()].into()),
            verify_dns: true,
            dry_run,
            deadline: None,
        };
        if dry_run {
            return Ok(crate::engine::dry_run_report(&world, &plan));
        }
        let records: Vec<String> = lock
            .records
            .iter()
            .map(|s| format!("{} {} {}", s.rtype.as_str(), s.zone_id, s.values.join(",")))
            .collect();
        warn!(name = %name, holder = %holder, version = lock.version, gen = lock.gen, records = %records.join("; "), action = "manual-release", "name released by an operator");
        Ok(self.apply(&world, plan, &req).await)
    }

    /// Rebuilds lost lock items from the ownership markers in every managed zone: a name
    /// with a marker and no item gets an item naming the marker's holder and generation and
    /// the sets the marker lists. Existing items are never touched. With markers of
    /// different holders for one name, the newest generation wins; the others are stale and
    /// the next reconcile of everything removes them.
    ///
    /// Only this deployment's markers count: those naming its deployment id. A marker
    /// written before 0.4.0 names none; with no lock to tell whose it is, `rebuild` takes it
    /// when its owner is an instance in one of the managed accounts and regions
    /// (`ACCOUNTS` × `REGIONS`) or a host of the deployment's own account and region. Any
    /// other marker belongs to another deployment, whose names are not this one's to lock.
    pub async fn rebuild(&self, dry_run: bool) -> Result<Vec<Rebuilt>> {
        let settings = self.settings();
        let now = self.now();
        let homes = self.instances.homes();
        let ours = |m: &Marker| match (&m.deployment, m.owner.owner()) {
            (Some(d), _) => *d == settings.deployment,
            (None, Some(o)) if o.host().is_some() => *o.home() == self.home,
            (None, Some(o)) => homes.contains(o.home()),
            (None, None) => false,
        };
        let zones = self.dns.zones().await?;
        let loaded = self.locks.scan().await?;
        let existing: BTreeSet<Fqdn> = loaded
            .locks
            .iter()
            .map(|l| l.name.clone())
            .chain(loaded.unreadable.iter().filter_map(|u| u.name.clone()))
            .collect();
        // Opaque markers name their owner by a hash: the managed instances and the hosts
        // are the candidates, read only when such a marker is found.
        let mut hidden: Option<BTreeMap<Marked, Owner>> = None;
        let mut found: BTreeMap<Fqdn, Vec<(ZoneId, Marker, Vec<RecordSet>)>> = BTreeMap::new();
        for zone in zones
            .iter()
            .filter(|z| is_managed(z, &settings.allowed_domains))
        {
            for (name, s) in self.dns.read_zone(&zone.id).await? {
                // Only this deployment's markers: another's owners are not ours to lock.
                let Some(m) = s
                    .marker
                    .as_ref()
                    .and_then(|m| Marker::parse(&m.values))
                    .filter(|m| ours(m))
                else {
                    continue;
                };
                if matches!(m.owner, Marked::Hidden(_)) && hidden.is_none() {
                    hidden = Some(self.hidden_owners(&loaded, &settings.deployment).await?);
                }
                let sets: Vec<RecordSet> = s
                    .sets
                    .iter()
                    .filter(|x| m.types.contains(&x.rtype) && x.rtype != RecordType::Txt)
                    .cloned()
                    .collect();
                found
                    .entry(name)
                    .or_default()
                    .push((zone.id.clone(), m, sets));
            }
        }
        let mut out = Vec::new();
        for (name, marks) in found {
            let Some(newest) = marks.iter().map(|(_, m, _)| (m.gen, m.owner.clone())).max() else {
                continue;
            };
            let (gen, holder) = newest;
            let deployment = marks
                .iter()
                .find(|(_, m, _)| m.gen == gen && m.owner == holder)
                .and_then(|(_, m, _)| m.deployment.clone());
            let mut records: Vec<RecordSet> = marks
                .iter()
                .filter(|(_, m, _)| m.gen == gen && m.owner == holder)
                .flat_map(|(_, _, sets)| sets.iter().cloned())
                .collect();
            records.sort();
            let (owner, style) = match &holder {
                Marked::Owner(o) => (Some(o.clone()), MarkerStyle::Plain),
                Marked::Hidden(_) => (
                    hidden.as_ref().and_then(|h| h.get(&holder)).cloned(),
                    MarkerStyle::Opaque,
                ),
            };
            let mut row = Rebuilt {
                name: name.clone(),
                holder: owner.clone().map_or(holder, Marked::Owner),
                gen,
                records: records.clone(),
                skipped: None,
            };
            if existing.contains(&name) {
                row.skipped = Some("the table has an item for it".into());
            } else if owner.is_none() {
                row.skipped = Some(
                    "its opaque marker names no instance of the managed accounts and regions and no host: the next reconcile of everything releases it"
                        .into(),
                );
            } else if !dry_run {
                let write = LockWrite::Decide(Box::new(Decision {
                    name: name.clone(),
                    expect: Expect::Absent,
                    previous: None,
                    previous_legacy: false,
                    holder: owner,
                    members: Default::default(),
                    previous_members: Default::default(),
                    gen,
                    zones: records.iter().map(|r| r.zone_id.clone()).collect(),
                    records,
                    blocked: Vec::new(),
                    waiting: BTreeSet::new(),
                    since: None,
                    until: 0,
                    host: None,
                    stamp: Stamp::new(now),
                    deployment,
                    style,
                }));
                match self.locks.write(&write).await {
                    Ok(crate::lock::Cas::Won(_)) => {}
                    Ok(crate::lock::Cas::Lost) => {
                        row.skipped = Some("an item appeared meanwhile".into())
                    }
                    Err(e) => row.skipped = Some(format!("not written: {e}")),
                }
            }
            out.push(row);
        }
        Ok(out)
    }

    /// Every owner an opaque marker of this deployment may name, by its hidden form: the
    /// tagged instances of every managed account and region, and the hosts.
    async fn hidden_owners(
        &self,
        loaded: &crate::lock::Loaded,
        by: &crate::marker::DeploymentId,
    ) -> Result<BTreeMap<Marked, Owner>> {
        let mut out = BTreeMap::new();
        for home in self.instances.homes() {
            for i in self.instances.tagged(&home, "").await? {
                out.insert(Marked::hidden(&i.owner, by), i.owner);
            }
        }
        for h in &loaded.hosts {
            let owner = Owner::Host {
                home: self.home.clone(),
                name: h.name.clone(),
            };
            out.insert(Marked::hidden(&owner, by), owner);
        }
        Ok(out)
    }
}

/// One held name as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub lock: Lock,
    /// The holder as EC2 (or, for a host, its credential) reports it now.
    pub holder: Option<Instance>,
    /// What differs between Route53 and the lock, one sentence per slot; none when Route53
    /// holds exactly the lock's sets and marker.
    pub dns: Vec<String>,
}

impl StatusRow {
    /// `ok`, or what differs, in one line (`route53` of `status --json`).
    pub fn route53(&self) -> String {
        match self.dns.is_empty() {
            true => "ok".into(),
            false => self.dns.join("; "),
        }
    }
}

/// Compares what Route53 holds with what a lock says, slot by slot.
fn dns_check(lock: &Lock, seen: &BTreeMap<(Fqdn, ZoneId), Seen>, zones: &[Zone]) -> Vec<String> {
    let empty = Seen::default();
    let mut problems = Vec::new();
    for (zone, sets) in lock.believed() {
        let zone_name = zones
            .iter()
            .find(|z| z.id == zone)
            .map_or(zone.to_string(), |z| {
                format!(
                    "{} ({})",
                    z.name,
                    if z.private { "private" } else { "public" }
                )
            });
        let got = seen
            .get(&(lock.name.clone(), zone.clone()))
            .unwrap_or(&empty);
        for want in sets {
            let have = match want.rtype {
                RecordType::Txt => got.marker.as_ref(),
                t => got.sets.iter().find(|s| s.rtype == t),
            };
            let what = if want.rtype == RecordType::Txt {
                "marker"
            } else {
                want.rtype.as_str()
            };
            match have {
                None => problems.push(format!("{what} missing in {zone_name}")),
                Some(h) if h.values != want.values || h.ttl != want.ttl => problems.push(format!(
                    "{what} in {zone_name} is {} (ttl {}), the lock says {} (ttl {})",
                    h.values.join(","),
                    h.ttl,
                    want.values.join(","),
                    want.ttl
                )),
                Some(_) => {}
            }
        }
    }
    // A slot someone else's record occupies is not ok, even when every set the lock lists is
    // in place: the name does not point where its holder asked in that zone.
    for b in &lock.blocked {
        let zone_name =
            zones
                .iter()
                .find(|z| z.id == b.slot.zone)
                .map_or(b.slot.zone.to_string(), |z| {
                    format!(
                        "{} ({})",
                        z.name,
                        if z.private { "private" } else { "public" }
                    )
                });
        problems.push(format!(
            "{} blocked in {zone_name} by {}",
            b.slot.rtype.as_str(),
            b.by
        ));
    }
    problems
}
