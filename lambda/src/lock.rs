//! The lock table's view of a name: who holds it, under which generation, what Route53
//! holds for it, and the conditional writes that change that. docs/ownership.md tells the
//! protocol; docs/contract.md the item layout.

use std::collections::{BTreeMap, BTreeSet};

pub use crate::hosts::HostTouch;
use crate::hosts::{HostName, HostRecord};
use crate::marker::{marker_for, DeploymentId, MarkerStyle};
use crate::model::{Owner, RecordSet, Slot, ZoneId};
use crate::name::Fqdn;

/// The lock item of one name (layout 2, or a layout-1 item read in place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub name: Fqdn,
    /// Compare-and-swap counter: +1 on every write, and every write names the one it read.
    pub version: u64,
    /// Generation of the decision the lock records; Route53's markers carry it. Never
    /// repeats for a name: a released name keeps its item (free) and its generation while a
    /// change of it may still land ([`LockWrite::Forget`] deletes it after).
    pub gen: u64,
    /// Who holds the name; `None`: the name is free. For a shared name, the member its
    /// markers name.
    pub holder: Option<Owner>,
    /// For a shared name, every member whose addresses its sets hold, the holder among
    /// them; empty for a name held alone (or free).
    pub members: BTreeSet<Owner>,
    /// The address sets Route53 holds for the name under this generation (sorted).
    pub records: Vec<RecordSet>,
    /// Slots the holder claims but someone else's record occupies (reported as conflicts).
    pub blocked: Vec<Blocked>,
    /// Epoch seconds until which the writer of this generation may still send its Route53
    /// changes: until then, a generation that has not landed is a change in flight.
    pub until: i64,
    /// A change of this generation failed: read Route53 before trusting `records`.
    pub check: bool,
    /// The zones this generation's Route53 changes touch: where it writes, and where it
    /// deletes what the generation before it held. While the change may be in flight,
    /// reading these tells whether it landed. `None` for an item that does not record them
    /// (written before 0.3.0): every zone the name may have records in is read instead.
    pub zones: Option<BTreeSet<ZoneId>>,
    /// Claimants that lost to the holder: a release hands the name to one of them.
    pub waiting: BTreeSet<Owner>,
    /// When the holder took the name (RFC 3339), for operators.
    pub since: Option<String>,
    /// Set for an item written by layout 1, whose records carry no marker in Route53: the
    /// sets it lists, and those of its `intent` (a change that may have been in flight),
    /// are ec2-dns's.
    pub legacy: Option<Vec<RecordSet>>,
    /// When and by which write this generation was decided; `None` for an item written
    /// before 0.4.0 (decided long ago, as far as any run now cares).
    pub stamp: Option<Stamp>,
    /// The deployment this generation's markers name; `None` for an item written before
    /// 0.4.0, whose markers name none.
    pub deployment: Option<DeploymentId>,
    /// How this generation's markers write the owner (opaque since 0.4.0, when asked for).
    pub style: MarkerStyle,
}

/// When a decision was written, and a token no other write carries: a run whose answer
/// was lost reads the item back and knows it as its own by the token alone (another run
/// may have written the very same decision), and a run that observed EC2 before this time
/// knows its observation is older than the decision (invariant 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    /// Epoch seconds of the write.
    pub at: i64,
    pub token: u64,
}

/// A point in one writer's order of stamps ([`Tokens::mark`]): every stamp the writer
/// made before it is known to be older than it, whatever the clocks say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark(u64);

/// Where one writer's stamp tokens come from (a reconciler: one per container): a random
/// base and a counter, so that two writes never share a token, and the writer knows its
/// own stamps and their order.
#[derive(Debug)]
pub struct Tokens {
    base: u64,
    next: std::sync::atomic::AtomicU64,
}

impl Default for Tokens {
    fn default() -> Self {
        let mut b = [0u8; 8];
        // Without randomness the time of the start still tells writers apart.
        let base = match getrandom::getrandom(&mut b) {
            Ok(()) => u64::from_le_bytes(b),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default()
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
        };
        Tokens {
            base,
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }
}

impl Tokens {
    /// A new stamp at `at` (epoch seconds), with a token no other write carries.
    pub fn stamp(&self, at: i64) -> Stamp {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Stamp {
            at,
            token: self.base.wrapping_add(n),
        }
    }

    /// Now, in this writer's order of stamps: taken before an observation, it tells the
    /// decisions this writer had made by then ([`Self::made_before`]).
    pub fn mark(&self) -> Mark {
        Mark(self.next.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Whether this writer made `stamp` before `mark`: that decision was taken from what
    /// was observed before the mark (a write's observations precede its stamp), so an
    /// observation begun after the mark is newer, to the instant, with no allowance for
    /// clocks. Another writer's token falls in this writer's range by chance only (about
    /// one in 2^64 per stamp made).
    pub fn made_before(&self, stamp: &Stamp, mark: Mark) -> bool {
        let n = stamp.token.wrapping_sub(self.base);
        n >= 1 && n < mark.0
    }
}

impl Stamp {
    /// A new stamp at `at` from this process's own tokens (writers other than a
    /// reconciler: the operator's commands).
    pub fn new(at: i64) -> Stamp {
        static PROCESS: std::sync::OnceLock<Tokens> = std::sync::OnceLock::new();
        PROCESS.get_or_init(Tokens::default).stamp(at)
    }

    /// Whether a decision stamped so may have been written after an observation taken at
    /// `observed` (epoch seconds): clocks of two runs may disagree by up to
    /// [`crate::window::CLOCK_SKEW`]. `ours_before`: the observer made this stamp itself
    /// before its observation began ([`Tokens::made_before`]): then it is older, however
    /// close the seconds.
    pub fn after(&self, observed: i64, ours_before: bool) -> bool {
        self.at + crate::window::CLOCK_SKEW >= observed && !ours_before
    }
}

/// A slot of the holder's claim that someone else's record occupies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Blocked {
    #[serde(flatten)]
    pub slot: Slot,
    /// What is there: `CNAME`, `A`, `AAAA`, `TXT at the marker name`, ...
    pub by: String,
}

impl Lock {
    /// The marker this lock's generation puts in `zone`, given the sets it lists there.
    pub fn marker_in(&self, zone: &ZoneId) -> Option<RecordSet> {
        if self.legacy.is_some() {
            return None;
        }
        let holder = self.holder.clone()?;
        marker_for(
            &holder,
            self.gen,
            self.deployment.as_ref(),
            self.style,
            zone,
            &self.records,
        )
    }

    /// What the lock says Route53 holds for the name, per zone: its records and markers.
    /// Trusted when Route53 was not read.
    pub fn believed(&self) -> BTreeMap<ZoneId, Vec<RecordSet>> {
        let mut out: BTreeMap<ZoneId, Vec<RecordSet>> = BTreeMap::new();
        for set in &self.records {
            out.entry(set.zone_id.clone())
                .or_default()
                .push(set.clone());
        }
        for (zone, sets) in out.iter_mut() {
            sets.extend(self.marker_in(zone));
            sets.sort();
        }
        out
    }

    /// Whether the writer of this generation may still be sending its changes. A window
    /// further ahead than any run can have written is not believed (a damaged or forged
    /// item must not stall the name).
    pub fn in_flight(&self, now: i64) -> bool {
        crate::window::in_flight(self.until, now)
    }

    /// The slots that are blocked.
    pub fn blocked_slots(&self) -> BTreeSet<Slot> {
        self.blocked.iter().map(|b| b.slot.clone()).collect()
    }

    /// Whether the name is shared ([`crate::decide::shared`]).
    pub fn shared(&self) -> bool {
        !self.members.is_empty()
    }

    /// Every owner the lock says takes part in the name: the holder, and a shared name's
    /// members.
    pub fn participants(&self) -> BTreeSet<&Owner> {
        self.holder.iter().chain(&self.members).collect()
    }
}

/// What a write expects to find (the compare half of compare-and-swap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No item for the name.
    Absent,
    /// The item at this version.
    Version(u64),
}

/// A new decision for a name: holder, generation and records, taken with one conditional
/// write before any Route53 change of that generation is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub name: Fqdn,
    pub expect: Expect,
    /// The holder before, for the owner index (and whether its item was layout 1).
    pub previous: Option<Owner>,
    pub previous_legacy: bool,
    pub holder: Option<Owner>,
    /// A shared name's members before and after ([`Lock::members`]), for the owner index.
    pub previous_members: BTreeSet<Owner>,
    pub members: BTreeSet<Owner>,
    pub gen: u64,
    pub records: Vec<RecordSet>,
    pub blocked: Vec<Blocked>,
    pub waiting: BTreeSet<Owner>,
    /// Kept from the lock when the holder does not change; otherwise the write's time.
    pub since: Option<String>,
    /// Filled in by the engine when it writes: see [`Lock::until`].
    pub until: i64,
    /// The zones of this generation's changes: see [`Lock::zones`].
    pub zones: BTreeSet<ZoneId>,
    /// A host's own item, changed in the same write (its new addresses, when the decision
    /// publishes them), so that a host update costs one write.
    pub host: Option<HostTouch>,
    /// Filled in by the engine when it writes: see [`Lock::stamp`].
    pub stamp: Stamp,
    /// The deployment whose markers this generation writes: see [`Lock::deployment`]
    /// (`None` only where `rebuild` records markers written before 0.4.0 as they are).
    pub deployment: Option<DeploymentId>,
    /// How its markers write the owner: see [`Lock::style`].
    pub style: MarkerStyle,
}

/// The owner-index entries a decision changes: owners that no longer take part in the name
/// (its index loses the name) and owners that now do (theirs gains it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexMoves<'a> {
    pub removed: Vec<&'a Owner>,
    pub added: Vec<&'a Owner>,
}

impl Decision {
    /// See [`IndexMoves`]. A holder whose item was layout 1 is always moved: its index
    /// entry is under the legacy key.
    pub fn index_moves(&self) -> IndexMoves<'_> {
        let before: BTreeSet<&Owner> = self.previous.iter().chain(&self.previous_members).collect();
        let after: BTreeSet<&Owner> = self.holder.iter().chain(&self.members).collect();
        let mut moves = IndexMoves {
            removed: before.difference(&after).copied().collect(),
            added: after.difference(&before).copied().collect(),
        };
        if self.previous_legacy {
            moves
                .removed
                .extend(self.previous.iter().filter(|p| after.contains(p)));
            moves
                .added
                .extend(self.holder.iter().filter(|h| before.contains(h)));
        }
        moves
    }

    /// The lock as it is once this decision is written at `version`.
    pub fn lock(&self, version: u64) -> Lock {
        Lock {
            name: self.name.clone(),
            version,
            gen: self.gen,
            holder: self.holder.clone(),
            members: self.members.clone(),
            records: self.records.clone(),
            blocked: self.blocked.clone(),
            until: self.until,
            check: false,
            zones: Some(self.zones.clone()),
            waiting: self.waiting.clone(),
            since: self.since.clone(),
            legacy: None,
            stamp: Some(self.stamp),
            deployment: self.deployment.clone(),
            style: self.style,
        }
    }
}

/// Every write ec2-dns makes to a name's lock item; each is conditional on the version read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockWrite {
    /// A new generation (claim, update, takeover, release, adoption of a layout-1 item).
    Decide(Box<Decision>),
    /// Claimants that lost to the running holder wait for the name.
    Wait {
        name: Fqdn,
        version: u64,
        waiting: BTreeSet<Owner>,
    },
    /// Route53 was read and holds this generation exactly: `check` is cleared.
    Settle { name: Fqdn, version: u64 },
    /// A change of generation `gen` failed: `check` is set and the in-flight window closed
    /// (`until` = `now`), so the next run reads Route53 instead of trusting the lock.
    /// Conditional on the generation, not the version: a waiter registered meanwhile must
    /// not make the failure go unrecorded.
    Check { name: Fqdn, gen: u64, now: i64 },
    /// A free name nobody claims, whose last change can no longer land and of which
    /// Route53 holds nothing of ours: its item is deleted, conditional on the version read
    /// (and on being free). Without it the table, and every reconcile of everything, would
    /// grow with every name ever used (every `{id}` name after a scale-in).
    Forget { name: Fqdn, version: u64 },
}

impl LockWrite {
    pub fn name(&self) -> &Fqdn {
        match self {
            LockWrite::Decide(d) => &d.name,
            LockWrite::Wait { name, .. }
            | LockWrite::Settle { name, .. }
            | LockWrite::Check { name, .. }
            | LockWrite::Forget { name, .. } => name,
        }
    }
}

/// A conditional write either wins or finds the item changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cas {
    /// Written; the item's new version.
    Won(u64),
    /// The item is not as read: another run wrote it meanwhile.
    Lost,
}

/// An item of the lock table that cannot be read as a lock: it is reported, and its name
/// (when the key is one) is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub key: String,
    pub name: Option<Fqdn>,
    pub reason: String,
}

/// What a read of the lock table found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    pub locks: Vec<Lock>,
    /// Owner index: the names each asked-for owner holds.
    pub index: BTreeMap<Owner, BTreeSet<Fqdn>>,
    pub unreadable: Vec<Unreadable>,
    /// Owner-index items whose name list is empty (left by releases).
    pub empty_index: Vec<String>,
    /// Host credentials asked for (or, for a scan, all of them).
    pub hosts: Vec<HostRecord>,
    /// Hosts whose item exists but cannot be read (also listed in `unreadable`).
    pub unreadable_hosts: BTreeSet<HostName>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_knows_the_stamps_it_made_before_a_mark_and_no_others() {
        let (ours, theirs) = (Tokens::default(), Tokens::default());
        let early = ours.stamp(100);
        let mark = ours.mark();
        let late = ours.stamp(100);
        let other = theirs.stamp(90);
        assert!(ours.made_before(&early, mark));
        assert!(!ours.made_before(&late, mark));
        assert!(!ours.made_before(&other, mark));
        // Seconds apart by less than clocks may disagree: older only if made before.
        assert!(!early.after(101, true));
        assert!(early.after(101, false));
        assert!(other.after(91, ours.made_before(&other, mark)));
        assert!(!other.after(90 + crate::window::CLOCK_SKEW + 1, false));
    }
}
