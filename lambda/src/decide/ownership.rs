//! Who holds a name, what of Route53 is ec2-dns's, and what one name's next decision is.
//! Every rule about ownership lives here; the engine only carries out what this returns.

use std::collections::{BTreeMap, BTreeSet};

use crate::decide::claims::Claim;
use crate::decide::outcome::{ConflictReason, Outcome, Release, ReleaseReason};
use crate::decide::protection::PREFIX as PROTECTED;
use crate::decide::shared::{self, Kind, SharedSet};
use crate::decide::{RowAction, Seen, SlotChange};
use crate::lock::{Blocked, Decision, Expect, Lock, LockWrite, Stamp};
use crate::marker::{is_ours, marker_for, DeploymentId, Marker, MarkerStyle};
use crate::model::{
    Change, ChangeAction, Home, Instance, InstanceState, Owner, RecordSet, RecordType, Slot,
    ZoneId, MAX_GEN, MAX_GEN_JUMP,
};
use crate::name::Fqdn;

/// Everything known about one name when deciding it.
pub struct NameView<'a> {
    pub name: &'a Fqdn,
    pub lock: Option<&'a Lock>,
    /// Running instances that claim the name, with their claims (any order).
    pub claimants: Vec<(&'a Instance, &'a Claim)>,
    /// Every instance EC2 was asked about (to know a waiter or a holder that stopped).
    pub known: &'a BTreeMap<Owner, Instance>,
    /// What Route53 holds for the name, per zone read; `None`: not read, the lock is trusted.
    pub seen: Option<&'a BTreeMap<ZoneId, Seen>>,
    pub now: i64,
    /// The lock's last write is this run's own (a recovery): it is not someone's change
    /// in flight.
    pub own_write: bool,
    /// In a recovery, the lock as the run read it before its own write: the sets of its
    /// generation are known exactly too.
    pub previous: Option<&'a Lock>,
    /// This deployment: only markers [`is_ours`] says are its count as ec2-dns's.
    pub deployment: &'a DeploymentId,
    /// How the markers of a new decision write the owner.
    pub style: MarkerStyle,
    /// Managed accounts and regions EC2 could not be asked about in this run, and why.
    pub unreachable: &'a BTreeMap<Home, String>,
    /// The name's shared set, when a claimant claims it as shared ([`shared::set_of`]).
    pub shared: Option<&'a SharedSet>,
}

/// Who should hold the name: the holder keeps it while it runs and claims it; otherwise the
/// longest-running claimant (earliest launch, then owner) takes it. A shared name
/// ([`shared`]) is held by its set: the winner is the member its markers name, and its claim
/// the union of the members'.
pub struct Desired<'a> {
    pub winner: Option<(&'a Instance, &'a Claim)>,
    pub losers: Vec<&'a Instance>,
    /// The members of a shared name (the winner among them); empty for a name held alone.
    pub members: BTreeSet<Owner>,
    /// Losers that claim the name as the other kind (shared or alone) than it is held.
    pub mismatched: BTreeSet<Owner>,
    /// Losers left out of a full shared set.
    pub full: BTreeSet<Owner>,
}

pub fn desired<'a>(view: &NameView<'a>) -> Desired<'a> {
    let mut claimants = view.claimants.clone();
    claimants.sort_by(|(a, _), (b, _)| (a.launch_time, &a.owner).cmp(&(b.launch_time, &b.owner)));
    let holder = view.lock.and_then(|l| l.holder.as_ref());
    let kind = shared::kind(view.lock, &claimants);
    let (alike, other): (Vec<&(&Instance, &Claim)>, Vec<_>) = claimants
        .iter()
        .partition(|(_, c)| c.shared == (kind == Kind::Shared));
    let mismatched: BTreeSet<Owner> = other.iter().map(|(i, _)| i.owner.clone()).collect();
    let set = view.shared.filter(|_| kind == Kind::Shared);
    let eligible: Vec<&(&Instance, &Claim)> = alike
        .into_iter()
        .filter(|(i, _)| set.is_none_or(|s| s.members.contains(&i.owner)))
        .collect();
    let winner = eligible
        .iter()
        .find(|(i, _)| Some(&i.owner) == holder)
        .or(eligible.first())
        .map(|(i, c)| (*i, set.map_or(*c, |s| &s.claim)));
    let members: BTreeSet<Owner> = set.map(|s| s.members.clone()).unwrap_or_default();
    let losers = claimants
        .iter()
        .map(|(i, _)| *i)
        .filter(|i| Some(&i.owner) != winner.map(|(w, _)| &w.owner))
        .filter(|i| !members.contains(&i.owner))
        .collect();
    Desired {
        winner,
        losers,
        members,
        mismatched,
        full: set.map(|s| s.full.clone()).unwrap_or_default(),
    }
}

/// Whether the lock, trusted, already records exactly what is wanted.
pub fn lock_as_wanted(lock: &Lock, want: &Desired) -> bool {
    match want.winner {
        None => lock.holder.is_none(),
        Some((w, claim)) => {
            lock.holder.as_ref() == Some(&w.owner)
                && lock.members == want.members
                && lock.records == without(&claim.records, &lock.blocked_slots())
        }
    }
}

/// Whether Route53 must be read before this name can be decided: the lock says a change
/// failed, or a change is wanted while another run's change may still be in flight.
pub fn must_read(lock: &Lock, want: &Desired, now: i64) -> bool {
    lock.check || (lock.in_flight(now) && !lock_as_wanted(lock, want))
}

/// The outcome of deciding one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to write.
    Nothing,
    /// Route53 must be read first.
    Read,
    /// Another run's change is still in flight; retry later.
    Deferred,
    /// One write, then (for a decision) the Route53 changes of the new generation.
    Write {
        write: LockWrite,
        changes: Vec<Change>,
        rows: Vec<SlotChange>,
    },
}

pub struct Decided {
    pub verdict: Verdict,
    pub outcomes: Vec<(Owner, Outcome)>,
}

/// Decides one name.
pub fn decide(view: &NameView) -> Decided {
    let want = desired(view);
    let name = view.name;
    let mut outcomes: Vec<(Owner, Outcome)> = Vec::new();
    let lock = view.lock;

    // A holder this run could not observe (an instance, seen from the DDNS endpoint that
    // has no EC2 rights) keeps the name: nothing is decided without knowing it stopped.
    // When EC2 failed to answer about it, its claimants are not told it holds the name
    // (it may have stopped): they are retried.
    // The same holds for every member of a shared name: its addresses stay in the set.
    if let Some(h) = lock
        .into_iter()
        .flat_map(Lock::participants)
        .find(|h| !view.known.contains_key(*h))
    {
        for (i, _) in &view.claimants {
            let outcome = match view.unreachable.get(h.home()) {
                Some(why) => Outcome::Failed {
                    name: name.clone(),
                    reason: format!(
                        "its holder {} could not be observed ({why}); will retry",
                        h.short_for(&i.owner)
                    ),
                },
                None => Outcome::Conflict {
                    name: name.clone(),
                    holder: Some(h.clone()),
                    reason: ConflictReason::OwnedBy,
                },
            };
            outcomes.push((i.owner.clone(), outcome));
        }
        return Decided {
            verdict: Verdict::Nothing,
            outcomes,
        };
    }

    if view.seen.is_none() && !view.own_write && lock.is_some_and(|l| must_read(l, &want, view.now))
    {
        return Decided {
            verdict: Verdict::Read,
            outcomes,
        };
    }

    // What of Route53 is ours now, per zone, and which slots someone else occupies.
    let (before, blocked) = match view.seen {
        Some(seen) => classify_all(
            name,
            seen,
            &known_states(lock, view.previous),
            view.deployment,
        ),
        None => (
            lock.map(Lock::believed).unwrap_or_default(),
            lock.map(|l| l.blocked.clone()).unwrap_or_default(),
        ),
    };

    if let (Some(seen), Some(l)) = (view.seen, lock) {
        if l.in_flight(view.now) && !view.own_write && !landed(l, seen, view.deployment) {
            // Another run wrote this generation and may still be sending it.
            if lock_as_wanted(l, &want) {
                note_steady(name, l, &want, &mut outcomes);
                return Decided {
                    verdict: Verdict::Nothing,
                    outcomes,
                };
            }
            for owner in want
                .winner
                .map(|(w, _)| &w.owner)
                .into_iter()
                .chain(l.holder.as_ref())
                .collect::<BTreeSet<_>>()
            {
                outcomes.push((
                    owner.clone(),
                    Outcome::Failed {
                        name: name.clone(),
                        reason: "a change by another run is still in flight; will retry".into(),
                    },
                ));
            }
            return Decided {
                verdict: Verdict::Deferred,
                outcomes,
            };
        }
    }

    let blocked_slots: BTreeSet<Slot> = blocked.iter().map(|b| b.slot.clone()).collect();
    let target: Vec<RecordSet> = want
        .winner
        .map(|(_, c)| without(&c.records, &blocked_slots))
        .unwrap_or_default();
    // Only what stands in the way of the claim is worth reporting and remembering.
    let claimed: BTreeSet<Slot> = want
        .winner
        .map(|(_, c)| c.records.iter().map(RecordSet::slot).collect())
        .unwrap_or_default();
    let blocked: Vec<Blocked> = blocked
        .into_iter()
        .filter(|b| claimed.contains(&b.slot))
        .collect();

    note_outcomes(
        name,
        lock,
        &want,
        &target,
        &blocked,
        view.known,
        &mut outcomes,
    );

    let gen = next_gen(lock, view.seen);
    let winner = want.winner.map(|(w, _)| &w.owner);
    let after = after_state(winner, gen, view.deployment, view.style, &target);
    let route53_as_locked = |l: &Lock| view.seen.is_none() || same_zones(&before, &l.believed());
    let steady = lock.filter(|l| {
        l.holder.as_ref() == winner
            && l.members == want.members
            && l.records == target
            && l.blocked_slots() == blocked.iter().map(|b| b.slot.clone()).collect()
            && (l.legacy.is_none() || view.seen.is_none())
            && route53_as_locked(l)
    });

    let verdict = if let Some(l) = steady.filter(|l| forgettable(l, &before, view)) {
        Verdict::Write {
            write: LockWrite::Forget {
                name: name.clone(),
                version: l.version,
            },
            changes: Vec::new(),
            rows: Vec::new(),
        }
    } else if let Some(l) = steady {
        if l.check {
            Verdict::Write {
                write: LockWrite::Settle {
                    name: name.clone(),
                    version: l.version,
                },
                changes: Vec::new(),
                rows: Vec::new(),
            }
        } else {
            match missing_waiters(l, &want) {
                Some(waiting) => Verdict::Write {
                    write: LockWrite::Wait {
                        name: name.clone(),
                        version: l.version,
                        waiting,
                    },
                    changes: Vec::new(),
                    rows: Vec::new(),
                },
                None => Verdict::Nothing,
            }
        }
    } else if lock.is_none() && winner.is_none() && before.values().all(Vec::is_empty) {
        Verdict::Nothing
    } else {
        let changes = diff(name, &before, &after);
        let rows = rows(
            name,
            &before,
            &after,
            winner,
            lock.and_then(|l| l.holder.as_ref()),
        );
        let previous = lock.and_then(|l| l.holder.clone());
        let since = lock
            .filter(|l| l.holder.as_ref() == winner)
            .and_then(|l| l.since.clone());
        Verdict::Write {
            write: LockWrite::Decide(Box::new(Decision {
                name: name.clone(),
                expect: lock.map_or(Expect::Absent, |l| Expect::Version(l.version)),
                previous_legacy: lock.is_some_and(|l| l.legacy.is_some()),
                previous,
                holder: winner.cloned(),
                previous_members: lock.map(|l| l.members.clone()).unwrap_or_default(),
                members: want.members.clone(),
                gen,
                records: target,
                blocked,
                waiting: next_waiting(lock, &want, view.known),
                since,
                until: 0,
                zones: changes.iter().map(|c| c.set.zone_id.clone()).collect(),
                host: None,
                stamp: Stamp::default(),
                deployment: Some(view.deployment.clone()),
                style: view.style,
            })),
            changes,
            rows,
        }
    };
    Decided { verdict, outcomes }
}

/// Whether a free name's item can go: nobody claims the name or waits for it, Route53 was
/// read in this run and holds nothing of ours for it, nothing of its last change can still
/// land (its window closed more than a clock skew ago) and no change of it failed. Then no
/// marker of the name exists to repeat a generation of: the next claim starts afresh, and
/// one that finds something in the way is refused and recovers by reading.
fn forgettable(lock: &Lock, before: &BTreeMap<ZoneId, Vec<RecordSet>>, view: &NameView) -> bool {
    lock.holder.is_none()
        && view.claimants.is_empty()
        && lock.waiting.is_empty()
        && lock.records.is_empty()
        && lock.blocked.is_empty()
        && !lock.check
        && lock.legacy.is_none()
        && view.seen.is_some()
        && !view.own_write
        && before.values().all(Vec::is_empty)
        && view.now >= lock.until + crate::window::CLOCK_SKEW
}

/// The outcomes of a name the lock already records as wanted (nothing to write).
fn note_steady(name: &Fqdn, lock: &Lock, want: &Desired, out: &mut Vec<(Owner, Outcome)>) {
    let blocked = lock.blocked.clone();
    let target = lock.records.clone();
    let empty = BTreeMap::new();
    note_outcomes(name, Some(lock), want, &target, &blocked, &empty, out);
}

fn note_outcomes(
    name: &Fqdn,
    lock: Option<&Lock>,
    want: &Desired,
    target: &[RecordSet],
    blocked: &[Blocked],
    known: &BTreeMap<Owner, Instance>,
    out: &mut Vec<(Owner, Outcome)>,
) {
    let winner = want.winner.map(|(w, _)| &w.owner);
    if let Some(w) = winner {
        if !target.is_empty() {
            for m in want.members.iter().filter(|m| *m != w) {
                out.push((m.clone(), published(name, target)));
            }
            out.push((w.clone(), published(name, target)));
        }
        let kinds: BTreeSet<&str> = blocked.iter().map(|b| b.by.as_str()).collect();
        for kind in kinds {
            out.push((
                w.clone(),
                Outcome::Conflict {
                    name: name.clone(),
                    holder: None,
                    reason: ConflictReason::Foreign(kind.to_string()),
                },
            ));
        }
    }
    for loser in &want.losers {
        let reason = if want.full.contains(&loser.owner) {
            ConflictReason::SharedFull
        } else if want.mismatched.contains(&loser.owner) && !want.members.is_empty() {
            ConflictReason::Shared
        } else if want.mismatched.contains(&loser.owner) {
            ConflictReason::Exclusive
        } else {
            ConflictReason::OwnedBy
        };
        out.push((
            loser.owner.clone(),
            Outcome::Conflict {
                name: name.clone(),
                holder: winner.cloned(),
                reason,
            },
        ));
    }
    let left = lock
        .into_iter()
        .flat_map(|l| &l.members)
        .filter(|m| Some(*m) != l_holder(lock) && !want.members.contains(*m));
    for member in left {
        out.push((
            member.clone(),
            Outcome::Released {
                name: name.clone(),
                reason: Release::new(release_reason(known.get(member))),
            },
        ));
    }
    if let Some(previous) = l_holder(lock) {
        if Some(previous) != winner && !want.members.contains(previous) {
            let mut reason = Release::new(release_reason(known.get(previous)));
            reason.handed_to = winner.map(|w| w.short_for(previous));
            out.push((
                previous.clone(),
                Outcome::Released {
                    name: name.clone(),
                    reason,
                },
            ));
        }
    }
}

fn l_holder(lock: Option<&Lock>) -> Option<&Owner> {
    lock.and_then(|l| l.holder.as_ref())
}

fn published(name: &Fqdn, records: &[RecordSet]) -> Outcome {
    let mut values: Vec<String> = records
        .iter()
        .flat_map(|r| r.values.iter().cloned())
        .collect();
    values.sort();
    values.dedup();
    Outcome::Published {
        name: name.clone(),
        values,
        slot: false,
    }
}

/// Why a holder no longer holds its name.
pub fn release_reason(holder: Option<&Instance>) -> ReleaseReason {
    match holder.map(|i| i.state) {
        None | Some(InstanceState::Gone) => ReleaseReason::Gone,
        Some(InstanceState::Running) => ReleaseReason::NoLongerClaimed,
        Some(s) => ReleaseReason::Instance(s),
    }
}

/// Claimants that lost and are not yet waiting (they would be forgotten on release).
fn missing_waiters(lock: &Lock, want: &Desired) -> Option<BTreeSet<Owner>> {
    let missing: BTreeSet<Owner> = want
        .losers
        .iter()
        .map(|i| i.owner.clone())
        .filter(|o| !lock.waiting.contains(o))
        .collect();
    (!missing.is_empty() && lock.holder.is_some()).then_some(missing)
}

/// Waiters after a decision: the losers, plus earlier waiters not known to have given up.
fn next_waiting(
    lock: Option<&Lock>,
    want: &Desired,
    known: &BTreeMap<Owner, Instance>,
) -> BTreeSet<Owner> {
    let Some((w, _)) = want.winner else {
        return BTreeSet::new();
    };
    let losers: BTreeSet<&Owner> = want.losers.iter().map(|i| &i.owner).collect();
    let earlier = lock
        .map(|l| l.waiting.iter())
        .into_iter()
        .flatten()
        .filter(|o| !known.contains_key(*o) || losers.contains(o));
    losers
        .iter()
        .copied()
        .chain(earlier)
        .filter(|o| **o != w.owner)
        .cloned()
        .collect()
}

/// The generation of the next decision: above the lock's and above any marker seen, so
/// generations never repeat for a name; a marker raises it by at most [`MAX_GEN_JUMP`]
/// over the lock's (a forged marker must not pin generations at the cap).
fn next_gen(lock: Option<&Lock>, seen: Option<&BTreeMap<ZoneId, Seen>>) -> u64 {
    let base = lock.map_or(0, |l| l.gen);
    let marked = seen
        .into_iter()
        .flat_map(|s| s.values())
        .filter_map(|s| s.marker.as_ref())
        .filter_map(|m| Marker::parse(&m.values))
        .map(|m| m.gen.min(base.saturating_add(MAX_GEN_JUMP)))
        .max()
        .unwrap_or(0);
    base.max(marked)
        .saturating_add(1)
        // Unreachable in practice (one generation a second for 30 million years); the
        // table's reader refuses a larger one, so a marker is never written unreadable.
        .min(MAX_GEN)
}

/// `records` without the sets in `blocked` slots.
pub fn without(records: &[RecordSet], blocked: &BTreeSet<Slot>) -> Vec<RecordSet> {
    records
        .iter()
        .filter(|s| !blocked.contains(&s.slot()))
        .cloned()
        .collect()
}

/// What Route53 holds for the name once the decision has landed, per zone.
fn after_state(
    winner: Option<&Owner>,
    gen: u64,
    by: &DeploymentId,
    style: MarkerStyle,
    target: &[RecordSet],
) -> BTreeMap<ZoneId, Vec<RecordSet>> {
    let mut out: BTreeMap<ZoneId, Vec<RecordSet>> = BTreeMap::new();
    let Some(w) = winner else { return out };
    for set in target {
        out.entry(set.zone_id.clone())
            .or_default()
            .push(set.clone());
    }
    for (zone, sets) in out.iter_mut() {
        sets.extend(marker_for(w, gen, Some(by), style, zone, target));
        sets.sort();
    }
    out
}

fn same_zones(a: &BTreeMap<ZoneId, Vec<RecordSet>>, b: &BTreeMap<ZoneId, Vec<RecordSet>>) -> bool {
    let zones: BTreeSet<&ZoneId> = a.keys().chain(b.keys()).collect();
    zones.into_iter().all(|z| {
        a.get(z).map(Vec::as_slice).unwrap_or_default()
            == b.get(z).map(Vec::as_slice).unwrap_or_default()
    })
}

/// Whether Route53 holds the lock's generation: its marker in every zone where it has
/// records, and no older marker anywhere else.
pub fn landed(lock: &Lock, seen: &BTreeMap<ZoneId, Seen>, us: &DeploymentId) -> bool {
    let believed = lock.believed();
    // Another deployment's marker says nothing about this deployment's generations.
    let marked = |z: &ZoneId| {
        seen.get(z)
            .and_then(|s| s.marker.as_ref())
            .and_then(|m| Marker::parse(&m.values))
            .filter(|m| is_ours(m, us, Some(lock.gen)))
    };
    let current = believed
        .keys()
        .all(|z| match (marked(z), lock.marker_in(z)) {
            (Some(m), Some(want)) => Marker::parse(&want.values).is_some_and(|w| w == m),
            (None, None) => true,
            _ => false,
        });
    let no_older = seen
        .keys()
        .filter(|z| !believed.contains_key(*z))
        .all(|z| marked(z).is_none_or(|m| m.gen >= lock.gen));
    current && no_older
}

/// The lock states whose generations are known exactly.
fn known_states<'a>(lock: Option<&'a Lock>, previous: Option<&'a Lock>) -> Vec<&'a Lock> {
    lock.into_iter().chain(previous).collect()
}

/// Sorts what Route53 holds for the name into ours (per zone, markers included) and the
/// slots someone else occupies.
fn classify_all(
    name: &Fqdn,
    seen: &BTreeMap<ZoneId, Seen>,
    known: &[&Lock],
    us: &DeploymentId,
) -> (BTreeMap<ZoneId, Vec<RecordSet>>, Vec<Blocked>) {
    let mut ours = BTreeMap::new();
    let mut blocked = Vec::new();
    for (zone, s) in seen {
        let (mine, theirs) = classify(name, zone, s, known, us);
        if !mine.is_empty() {
            ours.insert(zone.clone(), mine);
        }
        blocked.extend(theirs);
    }
    blocked.sort();
    (ours, blocked)
}

/// One zone: a set is ec2-dns's when a marker of this deployment ([`is_ours`]) lists its type (and, when the marker's generation is one a known lock state
/// records, when it has exactly the values that state lists); for a layout-1 lock, when it
/// equals a set the lock lists. Everything else is someone else's, another deployment's
/// markers included.
pub fn classify(
    name: &Fqdn,
    zone: &ZoneId,
    seen: &Seen,
    known: &[&Lock],
    us: &DeploymentId,
) -> (Vec<RecordSet>, Vec<Blocked>) {
    let block = |rtype: RecordType, by: &str| Blocked {
        slot: Slot {
            zone: zone.clone(),
            rtype,
        },
        by: by.to_string(),
    };
    let mut mine = Vec::new();
    let mut theirs = Vec::new();
    let parsed = seen.marker.as_ref().and_then(|m| Marker::parse(&m.values));
    let lock_gen = known.iter().map(|l| l.gen).max();
    let elsewhere = parsed.as_ref().is_some_and(|m| !is_ours(m, us, lock_gen));
    let marker = parsed.filter(|_| !elsewhere);
    let marker_taken = match (&seen.marker_taken, &seen.marker, &marker) {
        (Some(what), _, _) => Some(what.clone()),
        (None, Some(_), None) if elsewhere => Some(format!(
            "TXT at {} of another deployment",
            name.marker_name()
        )),
        (None, Some(_), None) => Some(format!("TXT at {}", name.marker_name())),
        _ => None,
    };
    if let Some(what) = marker_taken {
        // ec2-dns cannot mark the name in this zone: nothing of it can be ours.
        theirs.extend(RecordType::AT_NAME.map(|t| block(t, &what)));
        return (mine, theirs);
    }
    // The lock state that wrote this marker, when one is known.
    let writer = marker.as_ref().and_then(|m| {
        known.iter().find(|l| {
            l.legacy.is_none() && l.holder.as_ref().is_some_and(|h| m.names(h)) && l.gen == m.gen
        })
    });
    let legacy = known.iter().find(|l| l.legacy.is_some());
    for set in &seen.sets {
        let is_ours = match (&marker, legacy) {
            (Some(m), _) if m.types.contains(&set.rtype) => {
                writer.is_none_or(|l| l.records.contains(set))
            }
            (Some(_), _) => false,
            (None, Some(l)) => {
                l.records.contains(set) || l.legacy.as_ref().is_some_and(|i| i.contains(set))
            }
            (None, None) => false,
        };
        if is_ours {
            mine.push(set.clone());
        } else {
            theirs.push(block(set.rtype, set.rtype.as_str()));
        }
    }
    for other in &seen.others {
        match other.as_str() {
            "CNAME" => {
                theirs.extend(RecordType::AT_NAME.map(|t| block(t, "CNAME")));
            }
            t => {
                // `protected A`: a record set protection (see `decide::protection`).
                let rtype = RecordType::parse(t.strip_prefix(PROTECTED).unwrap_or(t));
                if let Some(rtype) = rtype.filter(|r| RecordType::AT_NAME.contains(r)) {
                    theirs.push(block(rtype, t));
                }
            }
        }
    }
    if marker.is_some() {
        mine.extend(seen.marker.clone());
    }
    mine.sort();
    (mine, theirs)
}

/// The Route53 changes from `before` to `after`: per zone, DELETE what goes and CREATE what
/// comes (the marker always changes, so every batch is a compare-and-swap).
fn diff(
    name: &Fqdn,
    before: &BTreeMap<ZoneId, Vec<RecordSet>>,
    after: &BTreeMap<ZoneId, Vec<RecordSet>>,
) -> Vec<Change> {
    let mut out = Vec::new();
    let zones: BTreeSet<&ZoneId> = before.keys().chain(after.keys()).collect();
    for z in zones {
        let b = before.get(z).map(Vec::as_slice).unwrap_or_default();
        let a = after.get(z).map(Vec::as_slice).unwrap_or_default();
        for set in b.iter().filter(|s| !a.contains(s)) {
            out.push(Change {
                action: ChangeAction::Delete,
                name: name.clone(),
                set: set.clone(),
            });
        }
        for set in a.iter().filter(|s| !b.contains(s)) {
            out.push(Change {
                action: ChangeAction::Create,
                name: name.clone(),
                set: set.clone(),
            });
        }
    }
    out.sort();
    out
}

/// The report's rows: one per address slot that changes, and a `MARK` row for a zone where
/// only the marker changes (a takeover with equal addresses, an adoption).
fn rows(
    name: &Fqdn,
    before: &BTreeMap<ZoneId, Vec<RecordSet>>,
    after: &BTreeMap<ZoneId, Vec<RecordSet>>,
    winner: Option<&Owner>,
    holder: Option<&Owner>,
) -> Vec<SlotChange> {
    let mut out = Vec::new();
    let zones: BTreeSet<&ZoneId> = before.keys().chain(after.keys()).collect();
    for z in zones {
        let b = before.get(z).map(Vec::as_slice).unwrap_or_default();
        let a = after.get(z).map(Vec::as_slice).unwrap_or_default();
        let find = |sets: &[RecordSet], t: RecordType| sets.iter().find(|s| s.rtype == t).cloned();
        let owner_of = |sets: &[RecordSet]| {
            find(sets, RecordType::Txt)
                .and_then(|m| Marker::parse(&m.values))
                // An opaque marker does not say; the lock's holder wrote it.
                .and_then(|m| m.owner.owner().cloned().or_else(|| holder.cloned()))
        };
        let mut addressed = false;
        for t in RecordType::AT_NAME {
            let (o, n) = (find(b, t), find(a, t));
            let action = match (&o, &n) {
                (Some(o), Some(n)) if o == n => continue,
                (Some(_), Some(_)) => RowAction::Update,
                (None, Some(_)) => RowAction::Create,
                (Some(_), None) => RowAction::Delete,
                (None, None) => continue,
            };
            addressed = true;
            out.push(SlotChange {
                action,
                name: name.clone(),
                slot: Slot {
                    zone: z.clone(),
                    rtype: t,
                },
                ttl: n.as_ref().map(|s| s.ttl),
                old_ttl: o.as_ref().map(|s| s.ttl),
                values: n.map(|s| s.values).unwrap_or_default(),
                old_values: o.map(|s| s.values).unwrap_or_default(),
                owner: if action == RowAction::Delete {
                    owner_of(b)
                } else {
                    winner.cloned()
                },
            });
        }
        let (om, nm) = (find(b, RecordType::Txt), find(a, RecordType::Txt));
        if !addressed && om != nm {
            out.push(SlotChange {
                action: RowAction::Mark,
                name: name.clone(),
                slot: Slot {
                    zone: z.clone(),
                    rtype: RecordType::Txt,
                },
                ttl: nm.as_ref().map(|s| s.ttl),
                old_ttl: om.as_ref().map(|s| s.ttl),
                values: nm.map(|s| s.values).unwrap_or_default(),
                old_values: om.map(|s| s.values).unwrap_or_default(),
                owner: winner.cloned().or_else(|| owner_of(b)),
            });
        }
    }
    out
}
