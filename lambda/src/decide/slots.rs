//! Slot names: a `{slot}` in the first label of a name tag's entry
//! (`web-{slot}.dyn.example.com`) gives each running claimant of that template the lowest
//! free number (`web-1`, `web-2`, ...), from 1 to [`MAX_SLOT`].
//!
//! A slot is nothing but a concrete name held through its ordinary lock item: fencing,
//! markers, handovers, the release on stop, the rebuild from markers and `status` apply to
//! it unchanged. What this module adds is the choice of which concrete name a claimant with
//! a template claims, and it is pure and level-triggered ([`assign`]):
//!
//! - a claimant that holds a slot of the template keeps it (the lowest, should a race have
//!   left it two: the other is no longer claimed, so it is released like any name a tag
//!   stopped naming); a running claimant never moves to a lower number because one was
//!   freed;
//! - the others take, in the order of their launch time and then owner, the lowest numbers
//!   whose lock item names no holder (a holder, running or not, keeps its slot until its
//!   release; an item that cannot be read counts as taken). One run assigns every claimant
//!   at once, so no two of its claimants pick one number;
//! - two runs deciding at once may pick one number: the lock's conditional write lets one
//!   win, the other's write fails as a whole, and its call looks at that claimant again
//!   ([`crate::engine::SLOT_ATTEMPTS`] looks in all, then its input is retried): the next
//!   look reads the slot as held and picks the next free one. A slot is never shared: only
//!   the lock's holder publishes it.
//!
//! A claimant never waits for a slot: a held slot is never picked, so a template claimant
//! is never a loser of one.

use std::collections::{BTreeMap, BTreeSet};

use crate::decide::World;
use crate::model::{Instance, InstanceState, Names, Owner};
use crate::name::{parse_tag, Fqdn, MAX_MANAGED_LEN};

/// The placeholder.
pub const SLOT: &str = "{slot}";

/// The highest slot number: a group of more running claimants than this gets
/// [`crate::decide::outcome::Outcome::NoSlot`] for the extra ones.
pub const MAX_SLOT: u32 = 999;

/// How many slot items a run about some owners reads first, when a claimant of the
/// template holds none (the window doubles while too few of them are free).
pub const FIRST_READ: u32 = 32;

/// A name tag's entry with one `{slot}` in its first label, normalised (lowercase, no
/// trailing dot).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Template {
    /// What comes before `{slot}`.
    prefix: String,
    /// What comes after it, the rest of the name included.
    suffix: String,
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{SLOT}{}", self.prefix, self.suffix)
    }
}

impl Template {
    /// Parses an entry that contains `{slot}`: exactly one, in the first label, and every
    /// number from 1 to [`MAX_SLOT`] must make a valid name ec2-dns can manage.
    pub fn parse(raw: &str) -> Result<Template, String> {
        let trimmed = raw.trim();
        let lower = trimmed
            .strip_suffix('.')
            .unwrap_or(trimmed)
            .to_ascii_lowercase();
        let count = lower.matches(SLOT).count();
        if count != 1 {
            return Err(format!("a slot name has exactly one {SLOT}, not {count}"));
        }
        let (prefix, suffix) = lower.split_once(SLOT).unwrap_or_default();
        if prefix.contains('.') {
            return Err(format!("{SLOT} must be in the first label"));
        }
        let template = Template {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        };
        for n in [1, MAX_SLOT] {
            let concrete = format!("{}{n}{}", template.prefix, template.suffix);
            let name = Fqdn::parse(&concrete)
                .map_err(|e| format!("{concrete} would not be a valid name: {e}"))?;
            if name.as_str().len() > MAX_MANAGED_LEN {
                return Err(format!(
                    "{concrete} would be {} characters long, the limit is {MAX_MANAGED_LEN}",
                    name.as_str().len()
                ));
            }
        }
        Ok(template)
    }

    /// The name of slot `n` (`None` outside 1..=[`MAX_SLOT`]).
    pub fn name(&self, n: u32) -> Option<Fqdn> {
        if !(1..=MAX_SLOT).contains(&n) {
            return None;
        }
        Fqdn::parse(&format!("{}{n}{}", self.prefix, self.suffix)).ok()
    }

    /// The slot number `name` has under this template (no leading zero, 1..=[`MAX_SLOT`]).
    pub fn number_of(&self, name: &Fqdn) -> Option<u32> {
        let digits = name
            .as_str()
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        if digits.is_empty()
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        digits
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_SLOT).contains(n))
    }
}

/// The slot templates of a running claimant's name tag (a host's credential has none);
/// entries that are not valid templates are left to [`crate::decide::claims::claims_of`]
/// to report.
pub fn templates_of(inst: &Instance) -> Vec<Template> {
    if inst.state != InstanceState::Running || !matches!(inst.names, Names::Tag(_)) {
        return Vec::new();
    }
    let Some(tag) = crate::decide::claims::name_tag_of(inst) else {
        return Vec::new();
    };
    let Ok(entries) = parse_tag(&tag) else {
        return Vec::new();
    };
    let mut out: Vec<Template> = entries
        .iter()
        .filter(|e| e.raw.contains(SLOT))
        .filter_map(|e| Template::parse(&e.raw).ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What every running claimant of the world gets for each of its templates: a slot name,
/// or `None` when every slot is taken.
pub type Assignment = BTreeMap<Owner, BTreeMap<Template, Option<Fqdn>>>;

/// The names running instances' tags spell out (slot names among them are not free).
fn spelled(world: &World) -> BTreeSet<Fqdn> {
    world
        .instances
        .values()
        .filter(|i| i.state == InstanceState::Running)
        .flat_map(crate::decide::claims::names_of)
        .collect()
}

/// Whether slot `name` can be given to a claimant that does not hold it: its item names
/// no holder (or there is none), it can be read, and no running instance's tag spells it
/// out (`spelled`: that instance claims it as any name, and would take it from the newcomer
/// given it, which would then wait instead of getting the next free slot).
fn free(world: &World, name: &Fqdn, spelled: &BTreeSet<Fqdn>) -> bool {
    !spelled.contains(name)
        && !world.unreadable.contains_key(name)
        && world
            .locks
            .get(name)
            .is_none_or(|l| l.holder.is_none() && l.waiting.is_empty())
}

/// Assigns every running claimant's templates at once (see the module's documentation).
/// Deterministic: the same world gives the same assignment.
pub fn assign(world: &World) -> Assignment {
    let mut claimants: BTreeMap<Template, Vec<&Instance>> = BTreeMap::new();
    for inst in world.instances.values() {
        for t in templates_of(inst) {
            claimants.entry(t).or_default().push(inst);
        }
    }
    let spelled = spelled(world);
    let mut out: Assignment = BTreeMap::new();
    for (template, mut group) in claimants {
        group.sort_by(|a, b| (a.launch_time, &a.owner).cmp(&(b.launch_time, &b.owner)));
        // The slots the lock items give their holders.
        let mut held: BTreeMap<&Owner, u32> = BTreeMap::new();
        for lock in world.locks.values() {
            if let (Some(h), Some(n)) = (&lock.holder, template.number_of(&lock.name)) {
                let lowest = held.entry(h).or_insert(n);
                *lowest = (*lowest).min(n);
            }
        }
        let mut given: BTreeSet<u32> = BTreeSet::new();
        let mut fresh = Vec::new();
        for inst in &group {
            match held.get(&inst.owner) {
                Some(n) => {
                    given.insert(*n);
                    let name = template.name(*n);
                    out.entry(inst.owner.clone())
                        .or_default()
                        .insert(template.clone(), name);
                }
                None => fresh.push(*inst),
            }
        }
        let mut next = 1;
        for inst in fresh {
            let pick = (next..=MAX_SLOT).find(|n| {
                !given.contains(n)
                    && template
                        .name(*n)
                        .is_some_and(|name| free(world, &name, &spelled))
            });
            if let Some(n) = pick {
                given.insert(n);
                next = n + 1;
            } else {
                next = MAX_SLOT + 1;
            }
            out.entry(inst.owner.clone())
                .or_default()
                .insert(template.clone(), pick.and_then(|n| template.name(n)));
        }
    }
    out
}

/// The slots this world gives in-scope claimants that do not hold them yet: their claim
/// is a fresh conditional write another run may win (then they are looked at again).
pub fn fresh(world: &World, scope: &crate::model::Scope) -> BTreeMap<Owner, Vec<Fqdn>> {
    assign(world)
        .into_iter()
        .filter(|(o, _)| scope.contains(o))
        .filter_map(|(o, given)| {
            let names: Vec<Fqdn> = given
                .into_values()
                .flatten()
                .filter(|n| {
                    world
                        .locks
                        .get(n)
                        .is_none_or(|l| l.holder.as_ref() != Some(&o))
                })
                .collect();
            (!names.is_empty()).then_some((o, names))
        })
        .collect()
}

/// The slot items a run about some owners should read next, so that [`assign`] finds a
/// free, read slot for every running claimant of the world that holds none: for every
/// template, the next window of slots above `read` (the highest slot read so far, per
/// template, which this updates) while fewer than the claimants that need one are free
/// among those read. Empty when nothing more is worth reading.
///
/// Every claimant of the world counts, not only those in scope: [`assign`] gives a holder
/// or waiter the run described a number too (one it may hold unread), and in launch order
/// it may come first; counted here, it never leaves an in-scope claimant a slot nobody
/// read, whose claim would fail on every look.
pub fn to_read(world: &World, read: &mut BTreeMap<Template, u32>) -> Vec<Fqdn> {
    let mut need: BTreeMap<Template, usize> = BTreeMap::new();
    for inst in world.instances.values() {
        for t in templates_of(inst) {
            let holds = world
                .locks
                .values()
                .any(|l| l.holder.as_ref() == Some(&inst.owner) && t.number_of(&l.name).is_some());
            if !holds {
                *need.entry(t).or_default() += 1;
            }
        }
    }
    let spelled = spelled(world);
    let mut out = Vec::new();
    for (t, wanted) in need {
        // Windows whose items the world already has (from the owner index) are skipped.
        loop {
            let upto = read.get(&t).copied().unwrap_or(0);
            let free_read = (1..=upto)
                .filter_map(|n| t.name(n))
                .filter(|n| free(world, n, &spelled))
                .count();
            if free_read >= wanted || upto >= MAX_SLOT {
                break;
            }
            let next = (upto * 2).clamp(FIRST_READ, MAX_SLOT);
            let before = out.len();
            out.extend(
                (upto + 1..=next)
                    .filter_map(|n| t.name(n))
                    .filter(|n| !world.locks.contains_key(n) && !world.unreadable.contains_key(n)),
            );
            read.insert(t.clone(), next);
            if out.len() > before {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InstanceState;
    use crate::testing::{instance, lock, name, owner};

    const WEB: &str = "web-{slot}.dyn.example.com";

    /// A world of instances (number, state) tagged with [`WEB`] and slots held (slot,
    /// holder, waiting).
    fn world(instances: &[(u32, InstanceState)], held: &[(u32, Option<u32>)]) -> World {
        let mut w = World::default();
        for (n, state) in instances {
            let mut i = instance(*n, Some(WEB));
            i.state = *state;
            w.instances.insert(i.owner.clone(), i);
        }
        for (slot, holder) in held {
            let mut l = lock(&format!("web-{slot}.dyn.example.com"), 1, "203.0.113.1");
            l.holder = holder.map(owner);
            if l.holder.is_none() {
                l.records.clear();
            }
            w.locks.insert(l.name.clone(), l);
        }
        w
    }

    fn got(w: &World) -> Vec<(u32, Option<String>)> {
        let t = Template::parse(WEB).unwrap();
        assign(w)
            .into_iter()
            .map(|(o, m)| {
                let n = u32::from_str_radix(&o.instance_id().unwrap().as_str()[2..], 16).unwrap();
                let slot = m[&t]
                    .as_ref()
                    .map(|f| f.as_str()[..f.as_str().find('.').unwrap()].to_string());
                (n, slot)
            })
            .collect()
    }

    #[test]
    fn the_assignment_keeps_held_slots_and_gives_the_lowest_free_ones_in_launch_order() {
        use InstanceState::{Running, Stopped};
        let web = |n: u32| Some(format!("web-{n}"));
        // (case, instances, slots held, expected)
        type Row = (
            &'static str,
            Vec<(u32, InstanceState)>,
            Vec<(u32, Option<u32>)>,
            Vec<(u32, Option<String>)>,
        );
        let table: Vec<Row> = vec![
            (
                "a group takes 1, 2, 3 in launch order",
                vec![(3, Running), (1, Running), (2, Running)],
                vec![],
                vec![(1, web(1)), (2, web(2)), (3, web(3))],
            ),
            (
                "a holder keeps its slot even when a lower one is free",
                vec![(1, Running), (2, Running)],
                vec![(1, None), (3, Some(1))],
                vec![(1, web(3)), (2, web(1))],
            ),
            (
                "a stopped holder keeps its slot until it is released; a free item is reused",
                vec![(1, Stopped), (2, Running), (3, Running)],
                vec![(1, Some(1)), (2, None)],
                vec![(2, web(2)), (3, web(3))],
            ),
            (
                "a holder of another template's slot does not count, a holder of two keeps the lowest",
                vec![(1, Running), (2, Running)],
                vec![(4, Some(1)), (2, Some(1)), (1, Some(9))],
                vec![(1, web(2)), (2, web(3))],
            ),
        ];
        for (case, instances, held, expected) in table {
            let w = world(&instances, &held);
            assert_eq!(got(&w), expected, "{case}");
            assert_eq!(got(&w), got(&w.clone()), "{case}: deterministic");
        }
    }

    #[test]
    fn when_every_slot_is_held_the_newcomer_gets_none_and_the_first_freed_one_after() {
        let mut w = world(&[(1, InstanceState::Running)], &[]);
        for n in 1..=MAX_SLOT {
            let mut l = lock(&format!("web-{n}.dyn.example.com"), 2, "203.0.113.2");
            l.holder = Some(owner(1000 + n));
            w.locks.insert(l.name.clone(), l);
        }
        assert_eq!(got(&w), vec![(1, None)]);
        w.locks
            .get_mut(&name("web-500.dyn.example.com"))
            .unwrap()
            .holder = None;
        assert_eq!(got(&w), vec![(1, Some("web-500".into()))]);
        // An item that cannot be read is never given away.
        w.unreadable
            .insert(name("web-500.dyn.example.com"), "denied".into());
        assert_eq!(got(&w), vec![(1, None)]);
    }

    #[test]
    fn an_event_reads_a_window_of_slots_and_more_only_while_too_few_are_free() {
        let w = world(&[(1, InstanceState::Running)], &[]);
        let mut read = BTreeMap::new();
        assert_eq!(to_read(&w, &mut read).len(), FIRST_READ as usize);
        assert!(to_read(&w, &mut read).is_empty(), "slot 1 is free");
        let held: Vec<(u32, Option<u32>)> = (1..=FIRST_READ).map(|n| (n, Some(7))).collect();
        let w = world(&[(1, InstanceState::Running)], &held);
        let mut read = BTreeMap::new();
        // The first window is in the world already: the next one is read.
        assert_eq!(to_read(&w, &mut read).len(), FIRST_READ as usize);
        assert_eq!(
            read.values().copied().collect::<Vec<_>>(),
            vec![2 * FIRST_READ]
        );
        assert!(to_read(&w, &mut read).is_empty(), "a free one was read");
        // A claimant that holds a slot reads nothing more.
        let w = world(&[(7, InstanceState::Running)], &held);
        assert!(to_read(&w, &mut BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_template_has_one_slot_in_its_first_label_and_makes_valid_names() {
        let t = Template::parse("Web-{slot}.Dyn.Example.com.").unwrap();
        assert_eq!(t.to_string(), "web-{slot}.dyn.example.com");
        assert_eq!(t.name(3), Some(name("web-3.dyn.example.com")));
        assert_eq!(t.name(0), None);
        assert_eq!(t.name(MAX_SLOT + 1), None);
        assert_eq!(t.number_of(&name("web-42.dyn.example.com")), Some(42));
        for not_a_slot in [
            "web-042.dyn.example.com",
            "web-0.dyn.example.com",
            "web-1000.dyn.example.com",
            "web-x.dyn.example.com",
            "web-1.other.example.com",
        ] {
            assert_eq!(t.number_of(&name(not_a_slot)), None, "{not_a_slot}");
        }
        assert_eq!(
            Template::parse("{slot}.dyn.example.com")
                .unwrap()
                .name(7)
                .unwrap()
                .as_str(),
            "7.dyn.example.com"
        );

        let long = format!("{}{{slot}}.dyn.example.com", "a".repeat(61));
        let table: Vec<(&str, String)> = vec![
            (
                "web-{slot}-{slot}.dyn.example.com",
                "a slot name has exactly one {slot}, not 2".into(),
            ),
            (
                "web.{slot}.example.com",
                "{slot} must be in the first label".into(),
            ),
            (
                "-{slot}.dyn.example.com",
                "-1.dyn.example.com would not be a valid name: a label starts or ends with a hyphen"
                    .into(),
            ),
            (
                "web_{slot}.dyn.example.com",
                "web_1.dyn.example.com would not be a valid name: character '_' is not allowed (letters, digits, hyphens and dots only)".into(),
            ),
            (
                "{slot}",
                "1 would not be a valid name: a single-label name is not allowed".into(),
            ),
            (
                &long,
                format!(
                    "{}999.dyn.example.com would not be a valid name: label of 64 characters, the limit is 63",
                    "a".repeat(61)
                ),
            ),
        ];
        for (raw, reason) in table {
            assert_eq!(Template::parse(raw), Err(reason), "{raw}");
        }
    }
}
