//! What must be read before the names of a reconcile can be decided: which instances EC2
//! must describe beyond those asked about, and which names Route53 must be read for.

use std::collections::BTreeSet;

use crate::decide::ownership::{desired, must_read, NameView};
use crate::decide::{frozen, Claims, Settings, World};
use crate::model::{Owner, Scope};
use crate::name::Fqdn;

/// Owners to describe: holders of the names in scope that EC2 was not asked about, and the
/// waiters of names whose holder may give them up (one of them takes the name over).
pub fn owners_to_describe(world: &World, scope: &Scope, settings: &Settings) -> BTreeSet<Owner> {
    let claims = Claims::new(world, settings);
    let by_name = claims.by_name(world);
    let mut out = BTreeSet::new();
    for name in claims.names(world, scope) {
        let Some(lock) = world.locks.get(&name) else {
            continue;
        };
        let holder_claims = |h: &Owner| {
            by_name
                .get(&name)
                .is_some_and(|cs| cs.iter().any(|(i, _)| &i.owner == h))
        };
        // A shared name's members: the set keeps the addresses of every one that runs.
        out.extend(
            lock.members
                .iter()
                .filter(|m| !world.instances.contains_key(*m))
                .cloned(),
        );
        let gives_up = match &lock.holder {
            Some(h) if !world.instances.contains_key(h) => {
                out.insert(h.clone());
                true
            }
            Some(h) => !holder_claims(h),
            None => true,
        };
        if gives_up {
            out.extend(
                lock.waiting
                    .iter()
                    .filter(|w| !world.instances.contains_key(*w))
                    .cloned(),
            );
        }
    }
    out
}

/// Names whose Route53 must be read first: a change of theirs failed, one is wanted
/// while another run's change may still be in flight, or the lock names a hosted zone that
/// no longer exists (what it believes there is gone: a change built on it would fail).
/// Everything else trusts the lock (a fresh claim needs no read: its CREATE fails as a
/// whole if anything is in the way).
pub fn names_to_read(world: &World, scope: &Scope, settings: &Settings) -> BTreeSet<Fqdn> {
    let claims = Claims::new(world, settings);
    let by_name = claims.by_name(world);
    claims
        .names(world, scope)
        .into_iter()
        .filter(|name| frozen(world, name, settings).is_none())
        .filter(|name| {
            let Some(lock) = world.locks.get(name) else {
                return false;
            };
            let view = NameView {
                name,
                lock: Some(lock),
                claimants: by_name.get(name).cloned().unwrap_or_default(),
                known: &world.instances,
                seen: None,
                now: world.now,
                own_write: false,
                previous: None,
                deployment: &settings.deployment,
                style: settings.style,
                unreachable: &world.unreachable,
                shared: claims.shared.get(name),
            };
            must_read(lock, &desired(&view), world.now) || names_a_gone_zone(lock, world)
        })
        .collect()
}

/// Whether a lock's records or blocked slots lie in a hosted zone that no longer exists.
fn names_a_gone_zone(lock: &crate::lock::Lock, world: &World) -> bool {
    lock.records
        .iter()
        .map(|s| &s.zone_id)
        .chain(lock.blocked.iter().map(|b| &b.slot.zone))
        .any(|z| !world.zones.iter().any(|known| &known.id == z))
}
