//! The names a container's last look at each owner read the lock items of: the next event
//! about the same owner reads those items beside EC2 instead of after it (one round trip
//! instead of two for a steady event). Only a guess about what to read: whatever EC2 then
//! says the owner claims, and whatever the owner index says it holds, is read if the guess
//! missed it, so a wrong or empty guess costs a round trip, never a decision.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::decide::claims::names_of;
use crate::decide::{reverse, Settings, World};
use crate::model::Owner;
use crate::name::Fqdn;

/// Most owners remembered; past it, all but the half of it looked at last are forgotten
/// (a burst of thousands too). A few hundred kilobytes at most.
pub const RECENT_OWNERS: usize = 4096;

#[derive(Default)]
pub(crate) struct Recent {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Per owner: when it was last looked at (a counter) and the names read for it.
    names: HashMap<Owner, (u64, Vec<Fqdn>)>,
    looks: u64,
}

impl Recent {
    /// The names last read for any of `owners`, sorted and once each.
    pub fn names_of(&self, owners: &[Owner]) -> Vec<Fqdn> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        owners
            .iter()
            .filter_map(|o| inner.names.get(o))
            .flat_map(|(_, names)| names.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Remembers, for each of `owners`, the names whose lock items a look at it reads:
    /// those its tag claims or once claimed, the reverse names of its addresses and those
    /// the owner index says it holds. An owner with none is forgotten.
    pub fn remember(&self, world: &World, owners: &[Owner], settings: &Settings) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for owner in owners {
            let mut names: BTreeSet<Fqdn> = world.index.get(owner).cloned().unwrap_or_default();
            if let Some(inst) = world.instances.get(owner) {
                names.extend(names_of(inst));
                names.extend(reverse::names_of(inst, settings));
            }
            if names.is_empty() {
                inner.names.remove(owner);
                continue;
            }
            inner.looks += 1;
            let look = inner.looks;
            inner
                .names
                .insert(owner.clone(), (look, names.into_iter().collect()));
        }
        if inner.names.len() > RECENT_OWNERS {
            let mut looks: Vec<u64> = inner.names.values().map(|(l, _)| *l).collect();
            looks.sort_unstable();
            let cut = looks[looks.len() - RECENT_OWNERS / 2 - 1];
            inner.names.retain(|_, (l, _)| *l > cut);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.names.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instance;
    use crate::testing::{name, owner, settings};

    fn world_of(n: u32) -> World {
        let mut world = World::default();
        for i in 1..=n {
            let mut inst = Instance::gone(owner(i));
            inst.state = crate::model::InstanceState::Running;
            world.instances.insert(owner(i), inst);
            world.index.insert(
                owner(i),
                BTreeSet::from([name(&format!("n{i}.dyn.example.com"))]),
            );
        }
        world
    }

    #[test]
    fn what_was_read_for_an_owner_is_what_is_guessed_next_time() {
        let recent = Recent::default();
        let world = world_of(2);
        recent.remember(&world, &[owner(1)], &settings());
        assert_eq!(
            recent.names_of(&[owner(1), owner(2)]),
            vec![name("n1.dyn.example.com")]
        );
        // An owner that holds and claims nothing any more is forgotten.
        recent.remember(&World::default(), &[owner(1)], &settings());
        assert!(recent.names_of(&[owner(1)]).is_empty());
    }

    #[test]
    fn past_its_bound_the_owners_looked_at_longest_ago_are_forgotten() {
        let recent = Recent::default();
        let n = RECENT_OWNERS as u32 + 1;
        let world = world_of(n);
        for i in 1..=n {
            recent.remember(&world, &[owner(i)], &settings());
        }
        assert_eq!(recent.len(), RECENT_OWNERS / 2);
        assert!(recent.names_of(&[owner(1)]).is_empty());
        assert_eq!(recent.names_of(&[owner(n)]).len(), 1);
        // A burst of three times the bound in one look keeps the half of the bound too.
        let recent = Recent::default();
        let burst = 3 * RECENT_OWNERS as u32;
        let world = world_of(burst);
        let owners: Vec<Owner> = (1..=burst).map(owner).collect();
        recent.remember(&world, &owners, &settings());
        assert_eq!(recent.len(), RECENT_OWNERS / 2);
        assert_eq!(recent.names_of(&[owner(burst)]).len(), 1);
    }
}
