//! Reverse records (`REVERSE_RECORDS`, opt-in): a PTR set at the reverse name of each
//! private IPv4 address and each IPv6 address of a running instance that holds names,
//! in the private reverse zone that serves it (`10.in-addr.arpa`, `…ip6.arpa`).
//!
//! A reverse name is nothing but one more claim of the instance: the same lock item,
//! marker, generations and fenced batches as a forward name, so ownership, handover (a
//! private address reused by a new instance once the old one is gone), release on stop or
//! terminate, conflicts, `status` and `rebuild` come from the existing machinery unchanged.
//! What this module adds is which reverse names an instance claims, and with which value
//! ([`claims`]); it is pure and level-triggered:
//!
//! - **Only what it wins.** The PTR of an address names the forward names its instance
//!   wins, by the one rule of [`crate::decide::ownership::desired`] (the holder keeps a
//!   name while it runs and claims it, otherwise the longest-running claimant takes it), as
//!   the plan of the same run decides them, less the names whose every record set is in
//!   someone else's way (a foreign set the lock remembers blocking it): sorted, each with
//!   its trailing dot. A forward name frozen, unreadable, or held by an owner this run
//!   could not observe is not won. An instance that wins no name claims no reverse name,
//!   so its reverse names are released as its forward names are: no PTR outlives the
//!   names it points at (beyond one run, should the forward write lose a race the reverse
//!   one won; the next run of that instance corrects it).
//! - **Only allowed places, private zones only.** The reverse name goes to the managed
//!   zones [`crate::decide::zones::zones_of`] picks (the longest suffix under the allowed
//!   domains), of which only the private ones: a public reverse zone is never written.
//!   An address no private reverse zone serves gets no PTR and no report (most addresses
//!   of most VPCs, when only some ranges have a reverse zone).
//! - **Instances only.** A DDNS host's addresses are public and its own: it gets none.
//! - **A name tag never claims a reverse name** ([`is_reverse`]; refused by
//!   [`crate::decide::claims::claims_of`]): the reverse names are derived from addresses,
//!   so one lock item is never fought over by a tag and an address.
//! - **The same address twice** (two VPCs with one range, or two accounts): the two
//!   instances claim one reverse name, and the ownership rule gives it to one; the other is
//!   told of the conflict, as for any name.
//! - **Never on a guess.** A run about some owners may describe an instance without
//!   reading all of its names; one it has not read seems to win them alone. Only an
//!   instance whose every forward name's lock item the world knows
//!   ([`crate::decide::World::knows_lock`]) is judged; the reverse names of a running one
//!   that is not are [`Reverse::undecided`] and left as they are. (The engine reads the
//!   names of every instance it meets, so this is rare: `engine::observe::load_reverse`.)
//!
//! Why a claim and not a second pass after the forward names: a PTR then needs no
//! ownership rule, lock layout, marker, recovery or operator command of its own, and every
//! invariant the forward names are tested for holds for it by construction. The price is
//! that the forward and reverse decisions of one run are separate writes: a PTR may land
//! while its name's own write lost a race, for one run.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::decide::claims::{Claim, Problem};
use crate::decide::ownership::{desired, without, NameView};
use crate::decide::zones::zones_of;
use crate::decide::{frozen, Settings, World};
use crate::model::{Instance, InstanceState, Owner, RecordSet, RecordType};
use crate::name::Fqdn;

/// The domain of IPv4 reverse names.
pub const IN_ADDR: &str = "in-addr.arpa";
/// The domain of IPv6 reverse names (one label per nibble).
pub const IP6: &str = "ip6.arpa";

/// Whether `name` is a reverse name or domain: `in-addr.arpa`, `ip6.arpa` or below.
pub fn is_reverse(name: &Fqdn) -> bool {
    [IN_ADDR, IP6]
        .iter()
        .any(|d| Fqdn::parse(d).is_ok_and(|d| name.is_at_or_below(&d)))
}

/// The reverse name of an address: `4.3.2.1.in-addr.arpa` for `1.2.3.4`, the 32 nibbles
/// of an IPv6 address, lowest first, under `ip6.arpa`.
pub fn reverse_name(ip: IpAddr) -> Fqdn {
    let text = match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{IN_ADDR}")
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> = v6
                .octets()
                .iter()
                .flat_map(|b| [b >> 4, b & 0xf])
                .map(|n| format!("{n:x}"))
                .collect();
            labels.reverse();
            format!("{}.{IP6}", labels.join("."))
        }
    };
    // Digits and hex letters in labels of one to three characters, at most 72 in all:
    // always a valid name.
    Fqdn::parse(&text).unwrap_or_else(|e| unreachable!("reverse name {text}: {e}"))
}

/// The addresses of an instance that get reverse names: its private IPv4 address and its
/// IPv6 addresses (public IPv4 addresses belong to AWS's reverse zones, see
/// docs/configuration.md).
fn addresses(inst: &Instance) -> Vec<IpAddr> {
    let v4 = inst.private_ipv4.map(IpAddr::V4);
    let v6 = inst.ipv6.iter().copied().map(IpAddr::V6);
    v4.into_iter().chain(v6).collect()
}

/// The reverse names of an instance's addresses below the allowed domains, whatever its
/// state (a stopped instance keeps its private address and may still hold the name):
/// what a run about the instance reads locks for and decides. Empty with reverse records
/// off, and for a host.
pub fn names_of(inst: &Instance, settings: &Settings) -> Vec<Fqdn> {
    if !settings.reverse || inst.owner.instance_id().is_none() {
        return Vec::new();
    }
    let mut out: Vec<Fqdn> = addresses(inst)
        .into_iter()
        .map(reverse_name)
        .filter(|n| {
            settings
                .allowed_domains
                .iter()
                .any(|d| n.is_strictly_below(d))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The PTR value naming `name`: lowercase, with the trailing dot.
pub fn ptr_value(name: &Fqdn) -> String {
    format!("{name}.")
}

/// The forward names each running instance wins in this world, by the rule the plan
/// decides them with, keeping only those with a record set not in someone's way.
fn winners<'a>(
    world: &'a World,
    settings: &'a Settings,
    forward: &'a BTreeMap<&'a Owner, (Vec<Claim>, Vec<Problem>)>,
) -> BTreeMap<&'a Owner, Vec<&'a Fqdn>> {
    let mut by_name: BTreeMap<&Fqdn, Vec<(&Instance, &Claim)>> = BTreeMap::new();
    for (owner, (claims, _)) in forward {
        let Some(inst) = world.instances.get(*owner) else {
            continue;
        };
        for c in claims {
            by_name.entry(&c.name).or_default().push((inst, c));
        }
    }
    let mut out: BTreeMap<&Owner, Vec<&Fqdn>> = BTreeMap::new();
    for (name, claimants) in by_name {
        if frozen(world, name, settings).is_some() {
            continue;
        }
        let lock = world.locks.get(name);
        // A holder this run could not observe keeps the name (`ownership::decide`).
        if lock
            .and_then(|l| l.holder.as_ref())
            .is_some_and(|h| !world.instances.contains_key(h))
        {
            continue;
        }
        let view = NameView {
            name,
            lock,
            claimants,
            known: &world.instances,
            seen: None,
            now: world.now,
            own_write: false,
            previous: None,
            deployment: &settings.deployment,
            style: settings.style,
            unreachable: &world.unreachable,
            // A shared name's PTR goes to the member its markers name, as if it held it alone.
            shared: None,
        };
        let Some((winner, claim)) = desired(&view).winner else {
            continue;
        };
        let blocked = lock
            .filter(|l| l.holder.as_ref() == Some(&winner.owner))
            .map(|l| l.blocked_slots())
            .unwrap_or_default();
        if !without(&claim.records, &blocked).is_empty() {
            out.entry(&winner.owner).or_default().push(name);
        }
    }
    out
}

/// What [`claims`] decides.
#[derive(Debug, Default)]
pub struct Reverse {
    /// The reverse claims of each judged instance.
    pub claims: BTreeMap<Owner, Vec<Claim>>,
    /// The reverse names of running instances this run cannot judge: left as they are.
    pub undecided: BTreeSet<Fqdn>,
}

/// Whether the world knows everything an instance's PTR value is decided from: the lock
/// item of every forward name it claims (a run about other owners may have described it
/// without reading its names: a name it seems to win alone may be someone else's).
fn judged(world: &World, claims: &[Claim]) -> bool {
    claims.iter().all(|c| world.knows_lock(&c.name))
}

/// The reverse claims of every running instance of the world, from the forward claims of
/// every claimant (`forward`, as [`crate::decide::Claims`] builds them): see the module's
/// documentation. Deterministic: the same world gives the same claims.
///
/// Only an instance the world knows enough about is judged ([`World::knows_lock`] of each
/// of its forward names); the reverse names of a running instance that is not are
/// `undecided`, so that no run takes a reverse name from it, or hands one to it, on a
/// guess. A later run about it (or of everything) decides them.
pub fn claims(
    world: &World,
    settings: &Settings,
    forward: &BTreeMap<&Owner, (Vec<Claim>, Vec<Problem>)>,
) -> Reverse {
    let mut out = Reverse::default();
    if !settings.reverse {
        return out;
    }
    for inst in world.instances.values() {
        let own = forward
            .get(&inst.owner)
            .map(|(c, _)| c.as_slice())
            .unwrap_or_default();
        if inst.state == InstanceState::Running && !judged(world, own) {
            out.undecided.extend(names_of(inst, settings));
        }
    }
    for (owner, mut won) in winners(world, settings, forward) {
        let Some(inst) = world.instances.get(owner) else {
            continue;
        };
        let own = forward
            .get(owner)
            .map(|(c, _)| c.as_slice())
            .unwrap_or_default();
        if inst.state != InstanceState::Running || !judged(world, own) {
            continue;
        }
        won.sort();
        won.dedup();
        let values: Vec<String> = won.iter().map(|n| ptr_value(n)).collect();
        for name in names_of(inst, settings) {
            let chosen = zones_of(&name, &world.zones, &settings.allowed_domains);
            if chosen.iter().any(|z| z.name == name) {
                continue;
            }
            let mut records: Vec<RecordSet> = chosen
                .iter()
                .filter(|z| z.private)
                .map(|z| {
                    RecordSet::new(z.id.clone(), RecordType::Ptr, settings.ttl, values.clone())
                })
                .collect();
            if records.is_empty() {
                continue;
            }
            records.sort();
            out.claims.entry(owner.clone()).or_default().push(Claim {
                name,
                records,
                shared: false,
            });
        }
    }
    out
}

/// The address a reverse name stands for (`None`: not a full reverse name).
pub fn address_of(name: &Fqdn) -> Option<IpAddr> {
    let labels: Vec<&str> = name.as_str().split('.').collect();
    match labels.as_slice() {
        [d, c, b, a, "in-addr", "arpa"] => {
            let octet = |s: &str| {
                (!s.is_empty() && s.len() <= 3 && (s == "0" || !s.starts_with('0')))
                    .then(|| s.parse::<u8>().ok())
                    .flatten()
            };
            Some(IpAddr::V4(Ipv4Addr::new(
                octet(a)?,
                octet(b)?,
                octet(c)?,
                octet(d)?,
            )))
        }
        [nibbles @ .., "ip6", "arpa"] if nibbles.len() == 32 => {
            let mut hex = String::with_capacity(32);
            for n in nibbles.iter().rev() {
                if n.len() != 1 || !n.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                hex.push_str(n);
            }
            u128::from_str_radix(&hex, 16)
                .ok()
                .map(|v| IpAddr::V6(Ipv6Addr::from(v)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::name;

    #[test]
    fn reverse_names_are_valid_names_and_map_back_to_their_address() {
        let table: Vec<(&str, &str)> = vec![
            ("10.0.1.5", "5.1.0.10.in-addr.arpa"),
            ("192.168.0.1", "1.0.168.192.in-addr.arpa"),
            (
                "2001:db8::567:89ab",
                "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
            ),
        ];
        for (ip, want) in table {
            let ip: IpAddr = ip.parse().unwrap();
            let got = reverse_name(ip);
            assert_eq!(got.as_str(), want);
            assert_eq!(Fqdn::parse(want).unwrap(), got, "parses as it is written");
            assert_eq!(address_of(&got), Some(ip));
            assert!(is_reverse(&got));
            // Its marker name fits, as every managed name's must.
            assert!(got.marker_name().len() <= crate::name::MAX_NAME_LEN);
            assert_eq!(Fqdn::of_marker(&got.marker_name()), Some(got.clone()));
        }
        for not in [
            "web.dyn.example.com",
            "in-addr.arpa.example.com",
            "arpa.dyn",
        ] {
            assert!(!is_reverse(&name(not)), "{not}");
        }
        for partial in [
            "1.0.10.in-addr.arpa",
            "256.0.0.10.in-addr.arpa",
            "05.0.0.10.in-addr.arpa",
            "1.ip6.arpa",
        ] {
            assert_eq!(address_of(&name(partial)), None, "{partial}");
        }
        assert!(is_reverse(&name("10.in-addr.arpa")));
        assert!(is_reverse(&name("8.b.d.0.1.0.0.2.ip6.arpa")));
    }
}
