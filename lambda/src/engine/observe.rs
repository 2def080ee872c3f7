//! Observe: read what the decisions need, and no more. An event about owners reads their
//! instances, the locks of the names they claim or hold, and Route53 only for the names
//! whose lock cannot be trusted; everything else reads the whole lock table, every tagged
//! instance and every zone that ec2-dns manages or that a lock names.
//!
//! Observations are fenced in time (invariant 9): what EC2 says must be at least as new
//! as every lock decision it is weighed against. A reconcile of everything reads the lock
//! table first and EC2 after it, so a decision written after the table was read changes the
//! version the run's writes are conditional on, and they fail. An event about owners must
//! read EC2 first (their tags name the locks to read), so a lock stamped after that read
//! sends the run back to EC2 once more before it decides anything.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt};

use crate::decide::claims::names_of;
use crate::decide::zones::{is_managed, zones_to_check, zones_to_read};
use crate::decide::{reads, reverse, slots, Claims, Seen, Settings, World};
use crate::engine::{Reconciler, Request};
use crate::error::{Error, Result};
use crate::lock::Loaded;
use crate::model::{Home, Instance, InstanceState, Owner, Scope, ZoneId};
use crate::name::Fqdn;
use crate::ports::{Dns, Instances, Locks, ZONES_AT_ONCE};

impl<I: Instances, D: Dns, L: Locks> Reconciler<I, D, L> {
    pub(crate) async fn observe(&self, req: &Request) -> Result<World> {
        let settings = self.settings();
        let mut world = World {
            now: self.now(),
            homes: self.instances.homes(),
            ..World::default()
        };
        match &req.scope {
            Scope::All => {
                world.zones = self.dns.zones().await?;
                // The lock table before EC2: see the module's documentation.
                let loaded = self.locks.scan().await?;
                world.read_all = true;
                self.tagged_everywhere(&mut world).await?;
                // Hosts outside EC2 claim their names as instances do while their lease holds.
                let now = world.now;
                let hosts = loaded
                    .hosts
                    .iter()
                    .map(|h| h.as_claimant(now, &self.home))
                    .collect();
                add(&mut world, hosts);
                take(&mut world, loaded);
            }
            Scope::Owners(owners) => {
                let owners: Vec<Owner> = owners.iter().cloned().collect();
                let described = self.now();
                let mark = self.tokens.mark();
                let guessed = self.recent.names_of(&owners);
                // The hosted zones (listed once per container, then cached) beside EC2.
                if guessed.is_empty() {
                    let (zones, found) = tokio::join!(
                        self.dns.zones(),
                        self.describe_any(&mut world, &owners, true)
                    );
                    found?;
                    world.zones = zones?;
                    self.load_locks_of(&mut world, &owners, true).await?;
                } else {
                    // The lock items this container read for these owners last time, and
                    // their index items, beside EC2 too: a steady event needs nothing more.
                    world.asked.extend(guessed.iter().cloned());
                    let (zones, found, loaded) = tokio::join!(
                        self.dns.zones(),
                        self.describe_any(&mut world, &owners, true),
                        self.locks.load(&guessed, &owners)
                    );
                    found?;
                    world.zones = zones?;
                    take(&mut world, loaded?);
                    self.load_locks_of(&mut world, &owners, false).await?;
                }
                self.load_names(&mut world, &req.names).await?;
                self.load_slots(&mut world).await?;
                let newer = world.locks.values().any(|l| {
                    l.stamp
                        .is_some_and(|s| s.after(described, self.tokens.made_before(&s, mark)))
                });
                if newer {
                    // A decision was written after EC2 was asked (by another run, or by
                    // this container since): ask again, so that what EC2 says is newer
                    // than every lock read (then read the locks the fresh tags name, if
                    // they name more).
                    for o in &owners {
                        world.instances.remove(o);
                    }
                    self.describe_any(&mut world, &owners, true).await?;
                    self.load_locks_of(&mut world, &owners, false).await?;
                    self.load_slots(&mut world).await?;
                }
            }
        }
        let more: Vec<Owner> = reads::owners_to_describe(&world, &req.scope, &settings)
            .into_iter()
            .collect();
        if !more.is_empty() {
            self.describe_any(&mut world, &more, false).await?;
            if matches!(req.scope, Scope::Owners(_)) {
                // Holders and waiters with a template take part in the assignment too.
                self.load_slots(&mut world).await?;
            }
        }
        if settings.reverse && matches!(req.scope, Scope::Owners(_)) {
            self.load_reverse(&mut world, &req.scope).await?;
        }
        world.seen = self.read_dns(&world, req, &settings).await?;
        if let Scope::Owners(owners) = &req.scope {
            let owners: Vec<Owner> = owners.iter().cloned().collect();
            self.recent.remember(&world, &owners, &settings);
        }
        Ok(world)
    }

    /// The locks of the names `owners` claim or once claimed (a stopped instance's tag still
    /// names them), of the reverse names of their addresses ([`reverse::names_of`]) and of
    /// those they hold: through the owner index read now with `index`, or read before;
    /// names already asked for are not asked again (nothing at all, when none is new).
    /// Every name asked for is recorded ([`World::asked`]), found or not.
    async fn load_locks_of(&self, world: &mut World, owners: &[Owner], index: bool) -> Result<()> {
        let settings = self.settings();
        let held = owners.iter().filter_map(|o| world.index.get(o)).flatten();
        let tagged: BTreeSet<Fqdn> = owners
            .iter()
            .filter_map(|o| world.instances.get(o))
            .flat_map(|i| {
                names_of(i)
                    .into_iter()
                    .chain(reverse::names_of(i, &settings))
            })
            .chain(held.cloned())
            .filter(|n| !world.knows_lock(n))
            .collect();
        if !index && tagged.is_empty() {
            return Ok(());
        }
        let owners = if index { owners } else { &[] };
        world.asked.extend(tagged.iter().cloned());
        let loaded = self
            .locks
            .load(&tagged.iter().cloned().collect::<Vec<_>>(), owners)
            .await?;
        let extra: Vec<Fqdn> = loaded
            .index
            .values()
            .flatten()
            .filter(|n| {
                !tagged.contains(*n)
                    && !world.locks.contains_key(*n)
                    && !world.unreadable.contains_key(*n)
            })
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        take(world, loaded);
        if !extra.is_empty() {
            world.asked.extend(extra.iter().cloned());
            take(world, self.locks.load(&extra, &[]).await?);
        }
        Ok(())
    }

    /// The lock items of `names` not read yet, decided by this run whoever holds them
    /// ([`Request::names`]).
    async fn load_names(&self, world: &mut World, names: &BTreeSet<Fqdn>) -> Result<()> {
        world.sweep.extend(names.iter().cloned());
        let names: Vec<Fqdn> = names
            .iter()
            .filter(|n| !world.knows_lock(n))
            .cloned()
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        world.asked.extend(names.iter().cloned());
        take(world, self.locks.load(&names, &[]).await?);
        Ok(())
    }

    /// The lock items of the reverse names of every instance this run described (and, for
    /// a running one, of the names its tag lists, so that its PTR is judged from what it
    /// holds, not guessed), then EC2 once more for those instances and the new holders the
    /// items name: a name won in this run (a waiter taking over from a holder that stopped)
    /// brings its new holder's PTR with it, and no reverse name is decided without knowing
    /// who holds it ([`crate::decide::reverse`]).
    ///
    /// Observations stay fenced in time (invariant 9): these items are read after EC2 was
    /// asked about the instances out of scope, so those are asked again after the read,
    /// and what EC2 says of them is newer than every item weighed against it.
    async fn load_reverse(&self, world: &mut World, scope: &Scope) -> Result<()> {
        let settings = self.settings();
        let mut wanted: BTreeMap<Owner, Vec<Fqdn>> = BTreeMap::new();
        for inst in world.instances.values() {
            let mut names = reverse::names_of(inst, &settings);
            if names.is_empty() {
                continue;
            }
            if inst.state == InstanceState::Running {
                names.extend(names_of(inst));
            }
            names.retain(|n| !world.knows_lock(n));
            if !names.is_empty() {
                wanted.insert(inst.owner.clone(), names);
            }
        }
        let names: Vec<Fqdn> = wanted
            .values()
            .flatten()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        world.asked.extend(names.iter().cloned());
        take(world, self.locks.load(&names, &[]).await?);
        let mut again: BTreeSet<Owner> =
            wanted.into_keys().filter(|o| !scope.contains(o)).collect();
        again.extend(
            names
                .iter()
                .filter_map(|n| world.locks.get(n)?.holder.clone())
                .filter(|h| !world.instances.contains_key(h)),
        );
        if again.is_empty() {
            return Ok(());
        }
        for o in &again {
            world.instances.remove(o);
        }
        self.describe_any(world, &again.into_iter().collect::<Vec<_>>(), false)
            .await
    }

    /// The slot items that claimants with a `{slot}` template and no slot of it need, so
    /// that the assignment picks a free one ([`slots::to_read`]): a window of the lowest
    /// slots, doubled while too few of them are free. A slot left unread is never shared:
    /// a claim of it is a conditional write that fails if its item exists.
    async fn load_slots(&self, world: &mut World) -> Result<()> {
        let mut read = BTreeMap::new();
        loop {
            let names = slots::to_read(world, &mut read);
            if names.is_empty() {
                return Ok(());
            }
            world.asked.extend(names.iter().cloned());
            take(world, self.locks.load(&names, &[]).await?);
        }
    }

    /// The instances among `owners` (of any managed account and region) that EC2 knows;
    /// fails when one account or region cannot be asked. Owners of accounts and regions
    /// this deployment does not manage are absent.
    pub async fn describe_each(&self, owners: &[Owner]) -> Result<Vec<Instance>> {
        let managed = self.instances.homes();
        let mut per_home: BTreeMap<&Home, Vec<Owner>> = BTreeMap::new();
        for o in owners.iter().filter(|o| o.instance_id().is_some()) {
            per_home.entry(o.home()).or_default().push(o.clone());
        }
        let mut out = Vec::new();
        for (home, owners) in per_home {
            if managed.contains(home) {
                out.extend(self.instances.describe(home, &owners).await?);
            }
        }
        Ok(out)
    }

    /// Every tagged instance of every managed account and region, each asked on its own. One
    /// that cannot be asked is left unobserved (and reported), unless none answered: then
    /// nothing is known and the run fails.
    async fn tagged_everywhere(&self, world: &mut World) -> Result<()> {
        let homes = self.instances.homes();
        let answers: Vec<Result<Vec<Instance>>> = stream::iter(&homes)
            .map(|h| self.instances.tagged(h, ""))
            .buffered(self.config.concurrency)
            .collect()
            .await;
        let mut first_error = None;
        let mut answered = false;
        for (home, answer) in homes.iter().zip(answers) {
            match answer {
                Ok(found) => {
                    answered = true;
                    add(world, found);
                }
                Err(e) => {
                    world.unreachable.insert(home.clone(), e.to_string());
                    first_error.get_or_insert(e);
                }
            }
        }
        match (answered, first_error) {
            (false, Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Instances from EC2 (per account and region), hosts from their credential items in
    /// the lock table; an owner neither knows is gone. With `required`, every owner must be
    /// observed (the owners a run is about); otherwise those of an account or region EC2
    /// cannot be asked about, or that this deployment does not manage, are left unobserved.
    pub(crate) async fn describe_any(
        &self,
        world: &mut World,
        owners: &[Owner],
        required: bool,
    ) -> Result<()> {
        let (hosts, instances): (Vec<Owner>, Vec<Owner>) =
            owners.iter().cloned().partition(|o| o.host().is_some());
        let mut per_home: BTreeMap<Home, Vec<Owner>> = BTreeMap::new();
        for o in instances {
            per_home.entry(o.home().clone()).or_default().push(o);
        }
        let managed = self.instances.homes();
        for (home, owners) in per_home {
            let refused = match world.unreachable.get(&home) {
                Some(why) => Some(Error::Unexpected {
                    service: "ec2",
                    message: format!("the instances of {home} cannot be described: {why}"),
                }),
                None if !managed.contains(&home) => Some(Error::InvalidInput(format!(
                    "account {} region {} is not managed by this deployment (ACCOUNTS, REGIONS)",
                    home.account(),
                    home.region()
                ))),
                None => None,
            };
            if let Some(e) = refused {
                if required {
                    return Err(e);
                }
                continue;
            }
            match self.instances.describe(&home, &owners).await {
                Ok(found) => add_described(world, &owners, found),
                Err(e) if required => return Err(e),
                Err(e) => {
                    world.unreachable.insert(home, e.to_string());
                }
            }
        }
        if !hosts.is_empty() {
            let loaded = self.locks.load(&[], &hosts).await?;
            // A host whose item cannot be read is not known to be gone: left unobserved,
            // it keeps what it holds (see `decide::ownership::decide`).
            let hosts: Vec<Owner> = hosts
                .into_iter()
                .filter(|h| {
                    h.host()
                        .is_some_and(|n| !loaded.unreadable_hosts.contains(n))
                })
                .collect();
            let now = world.now;
            let found = loaded
                .hosts
                .iter()
                .map(|h| h.as_claimant(now, &self.home))
                .collect();
            add_described(world, &hosts, found);
        }
        Ok(())
    }

    /// Route53 for the names that need it: every managed zone and every zone a lock names,
    /// whole, for a verified reconcile of everything; the names in scope for a verified
    /// one of some owners; otherwise only the names whose lock cannot be trusted.
    async fn read_dns(
        &self,
        world: &World,
        req: &Request,
        settings: &Settings,
    ) -> Result<BTreeMap<Fqdn, BTreeMap<ZoneId, Seen>>> {
        let claims = Claims::new(world, settings);
        let zones_for = |name: &Fqdn| {
            zones_to_read(
                name,
                world.locks.get(name),
                &world.zones,
                &settings.allowed_domains,
            )
        };
        let mut seen: BTreeMap<Fqdn, BTreeMap<ZoneId, Seen>> = BTreeMap::new();
        if req.verify_dns && req.scope == Scope::All {
            let mut zones: BTreeSet<ZoneId> = world
                .zones
                .iter()
                .filter(|z| is_managed(z, &settings.allowed_domains))
                .map(|z| z.id.clone())
                .collect();
            let names = claims.names(world, &req.scope);
            for name in &names {
                zones.extend(zones_for(name));
            }
            for zone in &zones {
                for (name, s) in self.dns.read_zone(zone).await? {
                    seen.entry(name).or_default().insert(zone.clone(), s);
                }
            }
            // A name whose zones were read and hold nothing was read too.
            for name in names {
                let entry = seen.entry(name.clone()).or_default();
                for zone in zones_for(&name) {
                    entry.entry(zone).or_default();
                }
            }
            return Ok(seen);
        }
        if req.verify_dns {
            return self
                .read_names(world, claims.names(world, &req.scope), true)
                .await;
        }
        let names = reads::names_to_read(world, &req.scope, settings);
        self.read_names(world, names, false).await
    }

    /// Route53 for some names: with `verify`, in every zone each may have records in;
    /// otherwise a name whose change may be in flight only where that change writes.
    pub(crate) async fn read_names(
        &self,
        world: &World,
        names: BTreeSet<Fqdn>,
        verify: bool,
    ) -> Result<BTreeMap<Fqdn, BTreeMap<ZoneId, Seen>>> {
        let settings = self.settings();
        let mut seen: BTreeMap<Fqdn, BTreeMap<ZoneId, Seen>> = BTreeMap::new();
        let mut per_zone: BTreeMap<ZoneId, Vec<Fqdn>> = BTreeMap::new();
        for name in names {
            let (lock, zones, allowed) = (
                world.locks.get(&name),
                &world.zones,
                &settings.allowed_domains,
            );
            let zones = match verify {
                true => zones_to_read(&name, lock, zones, allowed),
                false => zones_to_check(&name, lock, zones, allowed, world.now),
            };
            for zone in zones {
                per_zone.entry(zone).or_default().push(name.clone());
            }
            seen.entry(name).or_default();
        }
        // The zones at once: a name in flight in a public and a private zone is one round
        // trip, not two.
        let reads: Vec<(ZoneId, Result<BTreeMap<Fqdn, Seen>>)> = stream::iter(per_zone)
            .map(|(zone, names)| async move {
                let found = self.dns.read(&zone, &names).await;
                (zone, found)
            })
            .buffer_unordered(ZONES_AT_ONCE)
            .collect()
            .await;
        for (zone, found) in reads {
            for (name, s) in found? {
                seen.entry(name).or_default().insert(zone.clone(), s);
            }
        }
        Ok(seen)
    }
}

/// Adds instances (the first answer about an owner wins).
pub(crate) fn add(world: &mut World, found: Vec<Instance>) {
    for inst in found {
        world.instances.entry(inst.owner.clone()).or_insert(inst);
    }
}

/// Adds what EC2 returned for `asked`, and marks the owners it did not return as gone.
pub(crate) fn add_described(world: &mut World, asked: &[Owner], found: Vec<Instance>) {
    add(world, found);
    for owner in asked {
        world
            .instances
            .entry(owner.clone())
            .or_insert_with(|| Instance::gone(owner.clone()));
    }
}

/// Adds what a read of the lock table found.
pub(crate) fn take(world: &mut World, loaded: Loaded) {
    for lock in loaded.locks {
        world.locks.insert(lock.name.clone(), lock);
    }
    for (owner, names) in loaded.index {
        world.index.entry(owner).or_default().extend(names);
    }
    world.empty_index.extend(loaded.empty_index);
    for bad in loaded.unreadable {
        if let Some(name) = bad.name {
            world.unreadable.insert(name, bad.reason);
        } else {
            tracing::warn!(
                key = bad.key,
                reason = bad.reason,
                "lock table item ignored"
            );
        }
    }
}
