//! Which hosted zones ec2-dns manages, and which of them a name lives in.

use std::collections::BTreeSet;

use crate::lock::Lock;
use crate::model::{Zone, ZoneId};
use crate::name::Fqdn;

/// A zone is managed when its name is an allowed domain or lies below one (a zone above
/// the allowed domains is never written).
pub fn is_managed(zone: &Zone, allowed: &[Fqdn]) -> bool {
    allowed.iter().any(|d| zone.name.is_at_or_below(d))
}

/// The allowed domains no visible hosted zone serves (no zone at or below them): a typo in
/// the configuration, or a zone in another account, leaves their names without records.
pub fn unserved_domains<'a>(zones: &[Zone], allowed: &'a [Fqdn]) -> Vec<&'a Fqdn> {
    allowed
        .iter()
        .filter(|d| !zones.iter().any(|z| z.name.is_at_or_below(d)))
        .collect()
}

/// Whether the zone with this id exists and is managed.
pub fn is_managed_id(id: &ZoneId, zones: &[Zone], allowed: &[Fqdn]) -> bool {
    zones.iter().any(|z| &z.id == id && is_managed(z, allowed))
}

/// The managed zones a name's records go to: those with the longest name the name lies at
/// or below (a public and a private zone of the same name both count).
pub fn zones_of<'a>(name: &Fqdn, zones: &'a [Zone], allowed: &[Fqdn]) -> Vec<&'a Zone> {
    let candidates = zones
        .iter()
        .filter(|z| is_managed(z, allowed) && name.is_at_or_below(&z.name));
    let best = candidates.clone().map(|z| z.name.label_count()).max();
    candidates
        .filter(|z| Some(z.name.label_count()) == best)
        .collect()
}

/// The zones to read to know everything ec2-dns may hold for a name: where its records
/// go now, and every existing zone its lock names (records, blocked slots, and the zones
/// its last change touched).
pub fn zones_to_read(
    name: &Fqdn,
    lock: Option<&Lock>,
    zones: &[Zone],
    allowed: &[Fqdn],
) -> BTreeSet<ZoneId> {
    let mut out: BTreeSet<ZoneId> = zones_of(name, zones, allowed)
        .into_iter()
        .map(|z| z.id.clone())
        .collect();
    out.extend(lock.map(|l| named_by(l, zones)).unwrap_or_default());
    out
}

/// The zones to read to learn whether another run's change, which may still be in flight,
/// landed: those the lock names, the zones the change touches among them. Every other zone
/// is as the lock says, as on any event that trusts the lock. A lock that does not record
/// the zones of its change, or whose change failed, is read in full ([`zones_to_read`]).
pub fn zones_to_check(
    name: &Fqdn,
    lock: Option<&Lock>,
    zones: &[Zone],
    allowed: &[Fqdn],
    now: i64,
) -> BTreeSet<ZoneId> {
    match lock {
        Some(l) if !l.check && l.in_flight(now) && l.zones.is_some() => named_by(l, zones),
        _ => zones_to_read(name, lock, zones, allowed),
    }
}

/// The existing zones a lock names.
fn named_by(lock: &Lock, zones: &[Zone]) -> BTreeSet<ZoneId> {
    lock.zones
        .iter()
        .flatten()
        .chain(lock.records.iter().map(|s| &s.zone_id))
        .chain(lock.blocked.iter().map(|b| &b.slot.zone))
        .filter(|z| zones.iter().any(|known| &known.id == *z))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::name;

    fn zone(id: &str, n: &str, private: bool) -> Zone {
        Zone {
            id: ZoneId(id.into()),
            name: name(n),
            private,
            records: None,
        }
    }

    #[test]
    fn a_name_goes_to_the_longest_managed_suffix_public_and_private() {
        let zones = vec![
            zone("Z1", "dyn.example.com", false),
            zone("Z2", "dyn.example.com", true),
            zone("Z3", "sub.dyn.example.com", false),
            zone("Z4", "example.com", false),
        ];
        let allowed = [name("dyn.example.com")];
        let ids = |n: &str| -> Vec<String> {
            zones_of(&name(n), &zones, &allowed)
                .iter()
                .map(|z| z.id.to_string())
                .collect()
        };
        assert_eq!(ids("web.dyn.example.com"), ["Z1", "Z2"]);
        assert_eq!(ids("a.sub.dyn.example.com"), ["Z3"]);
        assert!(
            ids("web.example.com").is_empty(),
            "example.com is above the allowed domain"
        );
        assert!(!is_managed_id(&ZoneId("Z4".into()), &zones, &allowed));
        assert!(!is_managed_id(&ZoneId("Z9".into()), &zones, &allowed));
    }

    #[test]
    fn a_change_in_flight_is_checked_in_the_zones_it_touches_unless_it_failed_or_does_not_say() {
        let zones = vec![
            zone("ZPUBLIC", "dyn.example.com", false),
            zone("ZPRIVATE", "dyn.example.com", true),
            zone("ZOLD", "old.example.com", false),
        ];
        let allowed = [name("dyn.example.com")];
        let web = name("web.dyn.example.com");
        let ids = |l: &Lock, now: i64| -> Vec<String> {
            zones_to_check(&web, Some(l), &zones, &allowed, now)
                .into_iter()
                .map(|z| z.to_string())
                .collect()
        };
        let mut l = crate::testing::lock("web.dyn.example.com", 1, "192.0.2.1");
        l.until = 1_000;
        // The change deletes what an earlier generation held in ZOLD; a gone zone is skipped.
        l.zones = Some(
            [ZoneId("ZOLD".into()), ZoneId("ZGONE".into())]
                .into_iter()
                .collect(),
        );
        assert_eq!(
            ids(&l, 900),
            ["ZOLD", "ZPUBLIC"],
            "in flight: touched and listed"
        );
        assert_eq!(
            ids(&l, 1_000),
            ["ZOLD", "ZPRIVATE", "ZPUBLIC"],
            "window over: every zone of the name and those the lock names"
        );
        l.check = true;
        assert_eq!(
            ids(&l, 900),
            ["ZOLD", "ZPRIVATE", "ZPUBLIC"],
            "a failed change"
        );
        l.check = false;
        l.zones = None;
        assert_eq!(
            ids(&l, 900),
            ["ZPRIVATE", "ZPUBLIC"],
            "an item that does not say"
        );
    }
}
