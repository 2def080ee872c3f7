//! Pure decisions: what the world looks like in, what to write out. No I/O, no clock, no
//! SDK types, so every rule of the design is a property tests can check exhaustively.
//!
//! - [`claims`]: a claimant's names (an instance's tag, a host's credential) turned into claims.
//! - [`zones`]: which zones are managed, and which a name lives in.
//! - [`ownership`]: who holds a name, what of Route53 is ours, one name's next decision.
//! - [`reads`]: what must be read (instances, Route53) before deciding.
//! - [`protection`]: Route53 record set protections, learned from refusals and remembered.
//! - [`reverse`]: PTR records of the addresses of instances that hold names (opt-in).
//! - this module: the plan over every name of a reconcile.

pub mod claims;
pub mod outcome;
pub mod ownership;
pub mod protection;
pub mod reads;
pub mod reverse;
pub mod shared;
pub mod slots;
pub mod zones;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::lock::{Lock, LockWrite};
use crate::marker::{DeploymentId, MarkerStyle};
use crate::model::{Change, Home, Instance, Owner, RecordSet, Scope, Slot, Zone, ZoneId};
use crate::name::Fqdn;
use claims::{claims_of, names_of, Claim, Problem};
use outcome::{FrozenReason, Outcome, SkipReason};
use ownership::{decide, NameView, Verdict};

/// Route53's limits on one change batch: record values, and characters over all values
/// (an UPSERT counts twice; ec2-dns sends only CREATE and DELETE).
pub const MAX_BATCH_VALUES: usize = 1000;
pub const MAX_BATCH_CHARS: usize = 32_000;

/// The most addresses one record set of a name gets. Every change of a name in a zone is one
/// batch (DELETE the old sets, CREATE the new ones, and the markers), so the largest swap,
/// two full AAAA sets of 39-character addresses, an A swap and two markers, must fit one
/// batch: 2 × 350 × 39 = 27,300 characters and 704 values, which leaves room for markers of
/// up to 2,000 characters. A claimant with more addresses gets the numerically lowest 350
/// (docs/configuration.md), and the run says so.
pub const MAX_SET_VALUES: usize = 350;

/// Why a name's changes cannot be sent: in some zone they need more than one batch takes
/// (only sets written by a release without [`MAX_SET_VALUES`] can be that large).
pub fn too_large_for_a_batch(changes: &[Change]) -> Option<String> {
    let mut per_zone: BTreeMap<&ZoneId, (usize, usize)> = BTreeMap::new();
    for c in changes {
        let (values, chars) = per_zone.entry(&c.set.zone_id).or_default();
        *values += c.set.values.len();
        *chars += c.set.values.iter().map(String::len).sum::<usize>();
    }
    per_zone
        .into_iter()
        .find(|(_, (v, c))| *v > MAX_BATCH_VALUES || *c > MAX_BATCH_CHARS)
        .map(|(zone, (v, c))| {
            format!(
                "its change in zone {zone} needs {v} values and {c} characters, more than one Route53 change batch takes ({MAX_BATCH_VALUES} and {MAX_BATCH_CHARS}); left as it is"
            )
        })
}

/// Cuts a claim's record sets to [`MAX_SET_VALUES`] addresses (the numerically lowest);
/// what was cut, as a warning.
fn cap(claim: &mut Claim, owner: &Owner) -> Option<String> {
    let mut warning = None;
    for set in claim.records.iter_mut() {
        let had = set.values.len();
        if had <= MAX_SET_VALUES {
            continue;
        }
        let mut values = std::mem::take(&mut set.values);
        values.sort_by_cached_key(|v| (v.parse::<IpAddr>().ok(), v.clone()));
        values.truncate(MAX_SET_VALUES);
        *set = RecordSet::new(set.zone_id.clone(), set.rtype, set.ttl, values);
        let what = match set.rtype {
            crate::model::RecordType::Aaaa => "IPv6 addresses",
            _ => "addresses",
        };
        warning = Some(format!(
            "{}: {owner} has {had} {what}; its {} set publishes the lowest {MAX_SET_VALUES} (one Route53 change batch must hold the old set and the new one)",
            claim.name,
            set.rtype.as_str()
        ));
    }
    warning
}

/// What the decisions are told about the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub allowed_domains: Vec<Fqdn>,
    pub ttl: i64,
    /// Whose markers are ours: see [`crate::marker::is_ours`].
    pub deployment: DeploymentId,
    /// How new markers write their owner (`MARKER_STYLE`).
    pub style: MarkerStyle,
    /// Whether tags may ask for shared names (`SHARED_NAMES`).
    pub shared_names: bool,
    /// Whether instances claim the reverse names of their addresses (`REVERSE_RECORDS`,
    /// [`reverse`]).
    pub reverse: bool,
}

/// What Route53 holds for one name in one zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Plain A, AAAA and PTR sets at the name (sorted).
    pub sets: Vec<RecordSet>,
    /// The TXT set at the marker name, if there is one.
    pub marker: Option<RecordSet>,
    /// The types of everything else at the name: `CNAME`, an alias or routing-policy `A` or
    /// `AAAA`, `MX`, `TXT`, ..., and `protected A` for a type a record set protection
    /// covers (see [`protection::shield`]).
    pub others: BTreeSet<String>,
    /// Something other than one plain TXT set at the marker name (what it is; `protected
    /// TXT at …` when a protection covers the marker).
    pub marker_taken: Option<String>,
}

/// Everything observed for one reconcile.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// Epoch seconds of the observation.
    pub now: i64,
    /// The accounts and regions whose owners this deployment manages: a marker naming an
    /// owner elsewhere belongs to another deployment and is never touched.
    pub homes: Vec<Home>,
    /// Every instance EC2 was asked about (in-scope owners, holders, waiters, claimants).
    pub instances: BTreeMap<Owner, Instance>,
    /// Managed accounts and regions EC2 could not be asked about in this run, and why: their
    /// owners are neither running nor gone (unobserved), so they keep what they hold.
    pub unreachable: BTreeMap<Home, String>,
    pub locks: BTreeMap<Fqdn, Lock>,
    /// Names whose lock item cannot be read, and why.
    pub unreadable: BTreeMap<Fqdn, String>,
    /// The owner index of the owners asked about.
    pub index: BTreeMap<Owner, BTreeSet<Fqdn>>,
    /// Every hosted zone of the account.
    pub zones: Vec<Zone>,
    /// Route53 for the names that were read, per zone read.
    pub seen: BTreeMap<Fqdn, BTreeMap<ZoneId, Seen>>,
    /// Owner-index items left empty by releases (housekeeping, not a decision input).
    pub empty_index: Vec<String>,
    /// Whether `locks` holds every item of the lock table (a reconcile of everything reads
    /// it whole): a name absent from it has no item. Otherwise only the names `locks`,
    /// `unreadable` and `asked` list are known ([`World::knows_lock`]).
    pub read_all: bool,
    /// The names whose lock items a run about some owners asked for, found or not.
    pub asked: BTreeSet<Fqdn>,
    /// Names a run about some owners decides whoever holds them ([`Request::names`]: a
    /// shard of the lock table's, whose items name no owner).
    ///
    /// [`Request::names`]: crate::engine::Request::names
    pub sweep: BTreeSet<Fqdn>,
}

impl World {
    /// Whether this world knows the lock item of `name`: it was read, or it is known not
    /// to exist. What reverse records are decided from must be known (see
    /// [`reverse::claims`]).
    pub fn knows_lock(&self, name: &Fqdn) -> bool {
        self.read_all
            || self.locks.contains_key(name)
            || self.unreadable.contains_key(name)
            || self.asked.contains(name)
    }
}

/// What a report row says about one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RowAction {
    Create,
    /// Old values swapped for new ones in one atomic batch.
    Update,
    Delete,
    /// Only the ownership marker changes (a handover with equal addresses, an adoption).
    Mark,
}

/// One slot's change, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotChange {
    pub action: RowAction,
    pub name: Fqdn,
    pub slot: Slot,
    pub values: Vec<String>,
    pub old_values: Vec<String>,
    /// TTLs of the set after and before (`None` where there is none).
    pub ttl: Option<i64>,
    pub old_ttl: Option<i64>,
    pub owner: Option<Owner>,
}

/// One name's work: a lock write, then (for a decision) its Route53 changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePlan {
    pub name: Fqdn,
    pub write: LockWrite,
    pub changes: Vec<Change>,
    pub rows: Vec<SlotChange>,
    /// Owners whose outcome for this name depends on the work (sorted, once each; a
    /// `Vec`: most names have one or two, and one plan holds one per name).
    pub owners: Vec<Owner>,
}

/// A name left exactly as it is until an operator acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    pub name: Fqdn,
    pub holder: Option<Owner>,
    pub reason: FrozenReason,
}

/// The result of planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub names: Vec<NamePlan>,
    /// Outcomes per owner, assuming every write succeeds.
    pub outcomes: BTreeMap<Owner, Vec<Outcome>>,
    /// Owners whose every name was decided, so their status tag can be rewritten whole.
    pub statusable: BTreeSet<Owner>,
    pub frozen: Vec<Frozen>,
    /// What an operator should know about the claims (addresses left out of a set).
    pub warnings: Vec<String>,
}

/// The claims and the problems with the names of every running claimant of the world
/// (instances and hosts alike).
pub struct Claims<'a> {
    pub of: BTreeMap<&'a Owner, (Vec<Claim>, Vec<Problem>)>,
    /// Claims cut to [`MAX_SET_VALUES`] addresses per set, said as warnings.
    pub warnings: Vec<String>,
    /// The slot names the claimants' `{slot}` templates got ([`slots::assign`]).
    pub slots: slots::Assignment,
    /// The set of every name some claimant claims as shared ([`shared::sets`]).
    pub shared: BTreeMap<Fqdn, shared::SharedSet>,
    /// The reverse names of each instance's addresses ([`reverse::names_of`]): names it
    /// may claim or hold, decided in every run that knows their lock items.
    pub reverse: BTreeMap<&'a Owner, Vec<Fqdn>>,
    /// Reverse names this run must leave as they are ([`reverse::Reverse::undecided`]).
    pub undecided: BTreeSet<Fqdn>,
}

impl<'a> Claims<'a> {
    pub fn new(world: &'a World, settings: &Settings) -> Claims<'a> {
        let mut warnings = Vec::new();
        let slots = slots::assign(world);
        let none = BTreeMap::new();
        let mut of: BTreeMap<&Owner, (Vec<Claim>, Vec<Problem>)> = world
            .instances
            .values()
            .map(|i| {
                let given = slots.get(&i.owner).unwrap_or(&none);
                let (mut claims, problems) = claims_of(i, &world.zones, settings, given);
                warnings.extend(claims.iter_mut().filter_map(|c| cap(c, &i.owner)));
                (&i.owner, (claims, problems))
            })
            .collect();
        // Reverse claims follow from the forward ones (which names each instance wins), and
        // never from each other.
        let rev = reverse::claims(world, settings, &of);
        for (owner, claims) in rev.claims {
            if let Some((own, _)) = of.get_mut(&owner) {
                own.extend(claims);
            }
        }
        let reverse = world
            .instances
            .values()
            .map(|i| (&i.owner, reverse::names_of(i, settings)))
            .filter(|(_, names)| !names.is_empty())
            .collect();
        let mut claims = Claims {
            of,
            warnings,
            slots,
            reverse,
            undecided: rev.undecided,
            shared: BTreeMap::new(),
        };
        let mut shared = shared::sets(&claims.by_name(world), &world.locks);
        for set in shared.values_mut() {
            if let Some(first) = set.members.first().cloned() {
                claims.warnings.extend(cap(&mut set.claim, &first));
            }
        }
        claims.shared = shared;
        // A reconcile holds the claims of every claimant until its last name is decided:
        // lists built by pushes keep no spare room (most claimants have one claim of one or
        // two sets, and a pushed `Vec` has room for four).
        for (own, problems) in claims.of.values_mut() {
            own.shrink_to_fit();
            problems.shrink_to_fit();
            for c in own.iter_mut() {
                c.records.shrink_to_fit();
            }
        }
        claims
    }

    /// `o` as `owner` is told it: a published name that is one of its slots says so.
    pub fn mark(&self, owner: &Owner, mut o: Outcome) -> Outcome {
        if let Outcome::Published { name, slot, .. } = &mut o {
            *slot = self
                .slots
                .get(owner)
                .is_some_and(|given| given.values().any(|n| n.as_ref() == Some(name)));
        }
        o
    }

    /// Claimants per name.
    pub fn by_name(&self, world: &'a World) -> BTreeMap<&Fqdn, Vec<(&'a Instance, &Claim)>> {
        let mut out: BTreeMap<&Fqdn, Vec<(&Instance, &Claim)>> = BTreeMap::new();
        for (owner, (claims, _)) in &self.of {
            if let Some(inst) = world.instances.get(*owner) {
                for c in claims {
                    // Most names have one claimant (a pushed `Vec` has room for four).
                    out.entry(&c.name)
                        .or_insert_with(|| Vec::with_capacity(1))
                        .push((inst, c));
                }
            }
        }
        out
    }

    /// The names a reconcile of `scope` decides: claimed or held by an owner in scope (and
    /// for everything, every name the table or Route53 knows).
    pub fn names(&self, world: &World, scope: &Scope) -> BTreeSet<Fqdn> {
        let mut names = BTreeSet::new();
        for (owner, (claims, _)) in &self.of {
            if scope.contains(owner) {
                names.extend(claims.iter().map(|c| c.name.clone()));
            }
        }
        for inst in world
            .instances
            .values()
            .filter(|i| scope.contains(&i.owner))
        {
            // A stopped instance's tag (a silent host's credential) still names what it
            // may hold.
            names.extend(names_of(inst));
        }
        for (owner, held) in &world.index {
            if scope.contains(owner) {
                names.extend(held.iter().cloned());
            }
        }
        for lock in world.locks.values() {
            if matches!(scope, Scope::All)
                || lock.participants().iter().any(|p| scope.contains(p))
                || world.sweep.contains(&lock.name)
            {
                names.insert(lock.name.clone());
            }
        }
        if matches!(scope, Scope::All) {
            names.extend(world.seen.keys().cloned());
            names.extend(world.unreadable.keys().cloned());
        }
        // The reverse names of every instance the run knows the lock items of (an address
        // handed over with a name it won in this run), except those it must leave alone.
        for reverse_names in self.reverse.values() {
            names.extend(
                reverse_names
                    .iter()
                    .filter(|n| world.knows_lock(n))
                    .cloned(),
            );
        }
        names.retain(|n| !self.undecided.contains(n));
        names
    }
}

/// Why a name is frozen: its lock item cannot be read, or it holds records the
/// configuration no longer covers (a name outside the allowed domains, a zone no longer
/// managed). Changing the configuration never deletes or strands a record.
pub fn frozen(world: &World, name: &Fqdn, settings: &Settings) -> Option<FrozenReason> {
    if let Some(why) = world.unreadable.get(name) {
        return Some(FrozenReason::Unreadable(why.to_string()));
    }
    let lock = world.locks.get(name).filter(|l| l.holder.is_some())?;
    if !settings
        .allowed_domains
        .iter()
        .any(|d| name.is_strictly_below(d))
    {
        return Some(FrozenReason::OutsideAllowedDomains);
    }
    // A zone that no longer exists holds nothing: only existing zones can strand records.
    let stray: BTreeSet<&ZoneId> = lock
        .records
        .iter()
        .map(|s| &s.zone_id)
        .filter(|z| world.zones.iter().any(|known| &known.id == *z))
        .filter(|z| !zones::is_managed_id(z, &world.zones, &settings.allowed_domains))
        .collect();
    (!stray.is_empty())
        .then(|| FrozenReason::UnmanagedZones(stray.iter().map(|z| z.to_string()).collect()))
}

/// Claimants per name ([`Claims::by_name`]).
pub type ByName<'a> = BTreeMap<&'a Fqdn, Vec<(&'a Instance, &'a Claim)>>;

/// Decides every name of `scope`.
///
/// Deterministic and idempotent: planning the world that results from applying a plan
/// yields no work ("a second round changes nothing"). The same as a [`Planner`] asked for
/// everything at once.
pub fn plan(world: &World, scope: &Scope, settings: &Settings) -> Plan {
    let claims = Claims::new(world, settings);
    let by_name = claims.by_name(world);
    Planner::new(world, scope, settings, &claims, &by_name).finish()
}

/// The plan of one reconcile, decided a chunk of names at a time, so that a caller that
/// applies each chunk before asking for the next never holds the work of every name.
///
/// Invariants:
/// - the names are decided in order, each exactly once, each from the world and the
///   [`Claims`] alone (computed once, for the whole run, before any name): how the run is
///   cut into chunks changes no decision, and every cross-name rule (slots, shared names,
///   reverse records, who wins a name) lives in the claims, not in the order of decisions;
/// - what concerns the run rather than one name (outcomes, frozen names, warnings, which
///   status tags may be rewritten) stays here until [`Planner::finish`], which needs every
///   name decided and is the only place `statusable` is computed.
///
/// The claims are built by the caller and lent (the planner would otherwise borrow from
/// itself): `Claims::new(world, settings)`, then `claims.by_name(world)`.
pub struct Planner<'a> {
    world: &'a World,
    scope: &'a Scope,
    settings: &'a Settings,
    claims: &'a Claims<'a>,
    by_name: &'a ByName<'a>,
    /// Every name of the run, sorted; those before `next` are decided.
    names: Vec<Fqdn>,
    next: usize,
    /// The run's plan so far, without its names' work (handed out by chunk).
    out: Plan,
    /// The names each owner holds frozen (its tag problems about them are left out).
    frozen_for: BTreeMap<&'a Owner, BTreeSet<Fqdn>>,
}

impl<'a> Planner<'a> {
    /// A planner of every name of `scope` (see [`Claims::names`]); nothing decided yet.
    pub fn new(
        world: &'a World,
        scope: &'a Scope,
        settings: &'a Settings,
        claims: &'a Claims<'a>,
        by_name: &'a ByName<'a>,
    ) -> Planner<'a> {
        Planner {
            world,
            scope,
            settings,
            claims,
            by_name,
            names: claims.names(world, scope).into_iter().collect(),
            next: 0,
            out: Plan {
                warnings: claims.warnings.clone(),
                ..Plan::default()
            },
            frozen_for: BTreeMap::new(),
        }
    }

    /// How many names the run decides in all.
    pub fn count(&self) -> usize {
        self.names.len()
    }

    /// Decides the next `n` names (at least one) and returns the work of those that have
    /// some (often fewer than `n`, possibly none); `None` once every name is decided.
    pub fn next_chunk(&mut self, n: usize) -> Option<Vec<NamePlan>> {
        if self.next >= self.names.len() {
            return None;
        }
        let end = self.next.saturating_add(n.max(1)).min(self.names.len());
        let mut work = Vec::new();
        while self.next < end {
            let name = self.names[self.next].clone();
            self.next += 1;
            work.extend(self.decide_name(&name));
        }
        Some(work)
    }

    /// The plan of the run: the names not yet handed out by [`Self::next_chunk`] decided
    /// now (every name, if none was), with the run's outcomes, frozen names, warnings and
    /// the owners whose status tag can be rewritten whole.
    pub fn finish(mut self) -> Plan {
        let mut rest = Vec::new();
        while let Some(work) = self.next_chunk(usize::MAX) {
            rest.extend(work);
        }
        let Planner {
            world,
            scope,
            claims,
            names,
            mut out,
            frozen_for,
            ..
        } = self;
        out.names = rest;
        // An owner's status tag is rewritten whole, so only when every name it claims was
        // decided here; its tag problems then come first (except a name it holds frozen,
        // which the frozen outcome explains).
        for inst in world.instances.values() {
            let (own_claims, problems) = claims
                .of
                .get(&inst.owner)
                .map(|(c, p)| (c.as_slice(), p.as_slice()))
                .unwrap_or_default();
            let complete = scope.contains(&inst.owner)
                || own_claims
                    .iter()
                    .all(|c| names.binary_search(&c.name).is_ok());
            if !complete {
                continue;
            }
            let frozen_names = frozen_for.get(&inst.owner);
            let problems: Vec<Outcome> = problems
                .iter()
                .filter(|p| {
                    !p.name
                        .as_ref()
                        .is_some_and(|n| frozen_names.is_some_and(|f| f.contains(n)))
                })
                .map(|p| p.outcome.clone())
                .collect();
            if !problems.is_empty() {
                out.outcomes
                    .entry(inst.owner.clone())
                    .or_default()
                    .splice(0..0, problems);
            }
            // Hosts outside EC2 have no tags; their answer is the DDNS response.
            if inst.state.is_taggable() && inst.owner.instance_id().is_some() {
                out.statusable.insert(inst.owner.clone());
            }
        }
        out
    }

    /// Decides one name: its outcomes (and whether it is frozen) into the run's plan, its
    /// work returned.
    fn decide_name(&mut self, name: &Fqdn) -> Option<NamePlan> {
        let (world, settings, claims) = (self.world, self.settings, self.claims);
        let out = &mut self.out;
        let claimants = self.by_name.get(name).cloned().unwrap_or_default();
        if let Some(reason) = frozen(world, name, settings) {
            let holder = world.locks.get(name).and_then(|l| l.holder.clone());
            if let Some(h) = holder
                .as_ref()
                .and_then(|h| world.instances.get_key_value(h))
            {
                self.frozen_for.entry(h.0).or_default().insert(name.clone());
                note(
                    out,
                    h.0,
                    Outcome::Frozen {
                        name: name.clone(),
                        reason: reason.clone(),
                    },
                );
            }
            for (i, _) in claimants
                .iter()
                .filter(|(i, _)| Some(&i.owner) != holder.as_ref())
            {
                note(
                    out,
                    &i.owner,
                    Outcome::Frozen {
                        name: name.clone(),
                        reason: reason.clone(),
                    },
                );
            }
            out.frozen.push(Frozen {
                name: name.clone(),
                holder,
                reason,
            });
            return None;
        }
        let shielded = seen_with_protections(world, name);
        let view = NameView {
            name,
            lock: world.locks.get(name),
            claimants,
            known: &world.instances,
            seen: shielded.as_ref(),
            now: world.now,
            own_write: false,
            previous: None,
            deployment: &settings.deployment,
            style: settings.style,
            unreachable: &world.unreachable,
            shared: claims.shared.get(name),
        };
        let mut decided = decide(&view);
        let mut owners: Vec<Owner> = decided.outcomes.iter().map(|(o, _)| o.clone()).collect();
        owners.sort();
        owners.dedup();
        if let Verdict::Write { changes, .. } = &decided.verdict {
            if let Some(reason) = too_large_for_a_batch(changes) {
                // Route53 would refuse it on every run: nothing is sent, nothing written, and
                // what would have been published or released is said to be skipped.
                for (_, o) in decided.outcomes.iter_mut() {
                    if matches!(o, Outcome::Published { .. } | Outcome::Released { .. }) {
                        *o = Outcome::Skipped {
                            name: name.clone(),
                            reason: SkipReason::TooLarge(reason.clone()),
                        };
                    }
                }
                decided.verdict = Verdict::Nothing;
            }
        }
        for (owner, o) in decided.outcomes {
            let o = claims.mark(&owner, o);
            note(out, &owner, o);
        }
        match decided.verdict {
            Verdict::Nothing | Verdict::Deferred => None,
            Verdict::Read => {
                // Observation reads every name that needs it first; should one still need
                // a read, it is retried rather than decided blind.
                for owner in view_owners(world, name, self.by_name) {
                    note(
                        out,
                        &owner,
                        Outcome::Failed {
                            name: name.clone(),
                            reason: "Route53 must be read first; will retry".into(),
                        },
                    );
                }
                None
            }
            Verdict::Write {
                write,
                changes,
                rows,
            } => Some(NamePlan {
                name: name.clone(),
                write,
                changes,
                rows,
                owners,
            }),
        }
    }
}

/// What Route53 holds for `name` as read, with the protections its lock remembers applied
/// (a read cannot see them); `None`: not read.
fn seen_with_protections(world: &World, name: &Fqdn) -> Option<BTreeMap<ZoneId, Seen>> {
    let seen = world.seen.get(name)?;
    let remembered = world
        .locks
        .get(name)
        .map(|l| protection::remembered(l, world.now))
        .unwrap_or_default();
    Some(protection::shield(name, seen, &remembered))
}

/// Everyone whose outcome for `name` this run would report: the holder and the claimants.
fn view_owners(world: &World, name: &Fqdn, by_name: &ByName<'_>) -> BTreeSet<Owner> {
    let taking_part = world
        .locks
        .get(name)
        .map(|l| l.participants().into_iter().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let claimants = by_name
        .get(name)
        .into_iter()
        .flatten()
        .map(|(i, _)| i.owner.clone());
    taking_part.into_iter().chain(claimants).collect()
}

/// Adds an outcome of `owner`. Most owners get one outcome in a run, so an owner's list
/// starts with room for one (a `Vec` grows to four at its first push, and a reconcile of
/// everything holds a list per owner until its end).
fn note(out: &mut Plan, owner: &Owner, o: Outcome) {
    out.outcomes
        .entry(owner.clone())
        .or_insert_with(|| Vec::with_capacity(1))
        .push(o);
}

/// Plans one name again after a rejected change, from what Route53 holds now and the lock
/// as this run wrote it, with the protections the refusal named (`learned`) and those the
/// lock remembers.
pub fn replan(
    world: &World,
    name: &Fqdn,
    lock: &Lock,
    seen: &BTreeMap<ZoneId, Seen>,
    learned: protection::Protections,
    claims: &Claims,
    settings: &Settings,
) -> ownership::Decided {
    let claimants = claims.by_name(world).remove(name).unwrap_or_default();
    let mut protections = learned;
    protection::merge(&mut protections, protection::remembered(lock, world.now));
    let seen = protection::shield(name, seen, &protections);
    decide(&NameView {
        name,
        lock: Some(lock),
        claimants,
        known: &world.instances,
        seen: Some(&seen),
        now: world.now,
        own_write: true,
        previous: world.locks.get(name),
        deployment: &settings.deployment,
        style: settings.style,
        unreachable: &world.unreachable,
        shared: claims.shared.get(name),
    })
}
