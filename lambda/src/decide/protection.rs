//! Route53 record set protection (November 2026): a protected name and type in a zone
//! refuses every change, ours included, with `InvalidChangeBatch`, until an operator deletes
//! the protection. A protected slot is nobody's to change: it is taken out of what ec2-dns
//! holds and wants (a blocked slot, reported as a conflict saying "protected"), so that it
//! is never sent again and again.
//!
//! Route53 lists protections with an API the SDK does not speak yet, so ec2-dns learns a
//! protection from the refusal itself (the adapter reads it out of the message) and
//! remembers it in the lock's blocked slots. A read of Route53 cannot see a protection:
//! what the lock remembers is added to what was read, until [`RECHECK`] after the decision
//! that recorded it; then the next verified reconcile tries the slot once more (one refused
//! batch if the protection is still there, which is remembered again).

use std::collections::{BTreeMap, BTreeSet};

use crate::decide::Seen;
use crate::lock::{Blocked, Lock};
use crate::model::{RecordType, ZoneId};
use crate::name::Fqdn;

/// How long a protection learned from a refusal is believed without trying again.
pub const RECHECK: i64 = 24 * 3600;

/// What a blocked slot's `by` starts with when a protection blocks it: `protected A`,
/// `protected AAAA`, or `protected TXT at _ec2-dns.<name>` (the marker's protection, which
/// keeps ec2-dns out of the zone for that name).
pub const PREFIX: &str = "protected ";

/// The protected types of a name, per zone (`Txt`: its marker).
pub type Protections = BTreeMap<ZoneId, BTreeSet<RecordType>>;

/// Whether a blocked slot is blocked by a protection.
pub fn is_protection(b: &Blocked) -> bool {
    b.by.starts_with(PREFIX)
}

/// The protections a lock remembers, unless the decision that recorded them is older than
/// [`RECHECK`] (an item without a stamp is old).
pub fn remembered(lock: &Lock, now: i64) -> Protections {
    let fresh = lock.stamp.is_some_and(|s| now < s.at + RECHECK);
    let mut out = Protections::new();
    if !fresh {
        return out;
    }
    for b in lock.blocked.iter().filter(|b| is_protection(b)) {
        let what = &b.by[PREFIX.len()..];
        let rtype = match what.split_once(" at ") {
            Some(_) => RecordType::Txt,
            None => b.slot.rtype,
        };
        out.entry(b.slot.zone.clone()).or_default().insert(rtype);
    }
    out
}

/// What was read, with the protections applied: a protected address set is taken out of
/// the sets (so it is nobody's, never deleted nor replaced) and named among the others as
/// `protected A`; a protected marker makes the marker name taken, as `protected TXT at …`.
pub fn shield(
    name: &Fqdn,
    seen: &BTreeMap<ZoneId, Seen>,
    protections: &Protections,
) -> BTreeMap<ZoneId, Seen> {
    let mut out = seen.clone();
    for (zone, types) in protections {
        let s = out.entry(zone.clone()).or_default();
        for t in types {
            match t {
                RecordType::Txt => {
                    s.marker = None;
                    s.marker_taken = Some(format!("{PREFIX}TXT at {}", name.marker_name()));
                }
                t => {
                    s.sets.retain(|set| set.rtype != *t);
                    s.others.insert(format!("{PREFIX}{}", t.as_str()));
                }
            }
        }
    }
    out
}

/// Merges protections.
pub fn merge(into: &mut Protections, more: Protections) {
    for (zone, types) in more {
        into.entry(zone).or_default().extend(types);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::Stamp;
    use crate::model::{RecordSet, Slot};
    use crate::testing::{lock, name};

    #[test]
    fn a_protection_is_remembered_for_a_day_and_hides_the_set_it_covers() {
        let zone = ZoneId("ZPUBLIC".into());
        let mut l = lock("web.dyn.example.com", 1, "192.0.2.1");
        l.blocked = vec![
            Blocked {
                slot: Slot {
                    zone: zone.clone(),
                    rtype: RecordType::Aaaa,
                },
                by: "protected AAAA".into(),
            },
            Blocked {
                slot: Slot {
                    zone: ZoneId("ZOTHER".into()),
                    rtype: RecordType::A,
                },
                by: "CNAME".into(),
            },
        ];
        assert!(remembered(&l, 1_000).is_empty(), "no stamp: old");
        l.stamp = Some(Stamp {
            at: 1_000,
            token: 1,
        });
        let p = remembered(&l, 1_000 + RECHECK - 1);
        assert_eq!(
            p,
            Protections::from([(zone.clone(), [RecordType::Aaaa].into())])
        );
        assert!(remembered(&l, 1_000 + RECHECK).is_empty());

        let web = name("web.dyn.example.com");
        let set = |t| RecordSet::new(zone.clone(), t, 60, vec!["x".into()]);
        let seen = BTreeMap::from([(
            zone.clone(),
            Seen {
                sets: vec![set(RecordType::A), set(RecordType::Aaaa)],
                ..Seen::default()
            },
        )]);
        let shielded = shield(&web, &seen, &p);
        assert_eq!(shielded[&zone].sets, vec![set(RecordType::A)]);
        assert_eq!(
            shielded[&zone].others,
            BTreeSet::from(["protected AAAA".to_string()])
        );
        let marker = Protections::from([(zone.clone(), [RecordType::Txt].into())]);
        assert_eq!(
            shield(&web, &seen, &marker)[&zone].marker_taken.as_deref(),
            Some("protected TXT at _ec2-dns.web.dyn.example.com")
        );
    }
}
