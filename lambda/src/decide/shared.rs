//! Shared names (`shared:api.example.com` in the name tag, with `SHARED_NAMES=true`): one
//! name whose record sets hold the addresses of every running member, instead of one
//! holder's.
//!
//! A shared name is held like any other, under the same lock and markers: the lock names
//! one member as its holder (the one the markers name) and lists every member; its records
//! are the union of the members' claims. A member joining or leaving changes the records, so
//! it is a new generation whose Route53 batch DELETEs the old sets with their exact values
//! and the old marker, and CREATEs the new ones: a compare-and-swap of the whole set, which
//! fails as a whole if anything changed meanwhile. A member that stops leaves the set at
//! the next decision of the name, as a stopped holder releases its name.
//!
//! Exclusive and shared claims never take each other's name: while a running holder claims
//! the name alone, shared claimants wait, and while a member of a shared name still claims
//! it, an exclusive claimant waits. A free name takes the kind of its longest-running
//! claimant.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::decide::claims::Claim;
use crate::lock::Lock;
use crate::model::{Instance, Owner, RecordSet};
use crate::name::Fqdn;

/// Most members one shared name has. A decision's lock write changes the owner index of
/// every member that joins or leaves in the same DynamoDB transaction (at most 100 items:
/// all members replaced, 2 × 32, plus the lock and a host), and a DNS answer of more than
/// about 70 A records no longer fits a 1,232-byte EDNS response. Claimants beyond it wait,
/// and are told so.
pub const MAX_MEMBERS: usize = 32;

/// The set of one shared name: who is in it and what it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSet {
    /// The running shared claimants the set holds: members the lock already lists first,
    /// then the longest-running, up to [`MAX_MEMBERS`].
    pub members: BTreeSet<Owner>,
    /// The union of the members' claims: one set per zone and type.
    pub claim: Claim,
    /// Shared claimants left out because the set is full.
    pub full: BTreeSet<Owner>,
}

/// The sets of every name some running claimant claims as shared.
pub fn sets<'a>(
    by_name: &BTreeMap<&'a Fqdn, Vec<(&'a Instance, &'a Claim)>>,
    locks: &BTreeMap<Fqdn, Lock>,
) -> BTreeMap<Fqdn, SharedSet> {
    by_name
        .iter()
        .filter_map(|(name, claimants)| {
            let set = set_of(claimants, locks.get(*name))?;
            Some(((*name).clone(), set))
        })
        .collect()
}

/// The set of one name from its claimants; `None` when none claims it as shared.
pub fn set_of(claimants: &[(&Instance, &Claim)], lock: Option<&Lock>) -> Option<SharedSet> {
    let mut shared: Vec<&(&Instance, &Claim)> =
        claimants.iter().filter(|(_, c)| c.shared).collect();
    let first = shared.first()?;
    let name = first.1.name.clone();
    let listed = |o: &Owner| lock.is_some_and(|l| l.members.contains(o));
    shared.sort_by(|(a, _), (b, _)| {
        (!listed(&a.owner), a.launch_time, &a.owner).cmp(&(
            !listed(&b.owner),
            b.launch_time,
            &b.owner,
        ))
    });
    let (kept, left) = shared.split_at(shared.len().min(MAX_MEMBERS));
    Some(SharedSet {
        members: kept.iter().map(|(i, _)| i.owner.clone()).collect(),
        claim: union(name, kept.iter().map(|(_, c)| *c)),
        full: left.iter().map(|(i, _)| i.owner.clone()).collect(),
    })
}

/// One claim holding every value of `claims`, one set per zone and type (values in address
/// order; the TTL of the first claim of that zone and type: every claim of a run has the
/// configured one).
fn union<'c>(name: Fqdn, claims: impl Iterator<Item = &'c Claim>) -> Claim {
    let mut sets: BTreeMap<
        (crate::model::ZoneId, crate::model::RecordType),
        (i64, BTreeSet<String>),
    > = BTreeMap::new();
    for set in claims.flat_map(|c| &c.records) {
        sets.entry((set.zone_id.clone(), set.rtype))
            .or_insert_with(|| (set.ttl, BTreeSet::new()))
            .1
            .extend(set.values.iter().cloned());
    }
    let records = sets
        .into_iter()
        .map(|((zone, rtype), (ttl, values))| {
            let mut values: Vec<String> = values.into_iter().collect();
            values.sort_by_cached_key(|v| (v.parse::<IpAddr>().ok(), v.clone()));
            RecordSet::new(zone, rtype, ttl, values)
        })
        .collect();
    Claim {
        name,
        records,
        shared: true,
    }
}

/// The kind a name is decided as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Exclusive,
    Shared,
}

/// The kind of a name: a running holder that claims the name alone keeps it exclusive; a
/// shared name stays shared while one of its members still claims it as shared; otherwise
/// (free, or whoever took part no longer claims it) the holder's new claim, or else the
/// longest-running claimant's, says. `claimants` are sorted longest-running first.
pub fn kind(lock: Option<&Lock>, claimants: &[(&Instance, &Claim)]) -> Kind {
    let claim_of = |o: &Owner| {
        claimants
            .iter()
            .find(|(i, _)| &i.owner == o)
            .map(|(_, c)| c.shared)
    };
    if let Some(l) = lock {
        if l.shared() && l.members.iter().any(|m| claim_of(m) == Some(true)) {
            return Kind::Shared;
        }
        if let Some(shared) = l.holder.as_ref().and_then(claim_of) {
            return if shared {
                Kind::Shared
            } else {
                Kind::Exclusive
            };
        }
    }
    match claimants.first() {
        Some((_, c)) if c.shared => Kind::Shared,
        _ => Kind::Exclusive,
    }
}
