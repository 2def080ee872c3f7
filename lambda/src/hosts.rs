//! Hosts outside AWS (a home router, an office line) that keep names through the DDNS
//! endpoint: their credentials, the rules their updates follow, and how a host looks to the
//! decisions (as an owner that "runs" while its lease lasts, so that one set of ownership
//! rules serves instances and hosts alike).

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{Home, Instance, InstanceState, Names, Owner};
use crate::name::Fqdn;

pub use crate::model::HostName;

/// How often a host's lease is refreshed when its addresses do not change: a fraction of
/// the lease, so that an unchanged update usually writes nothing.
pub const LEASE_REFRESH_FRACTION: i64 = 4;

/// A host credential and what its last updates left, as the lock table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    pub name: HostName,
    /// Compare-and-swap counter of the item.
    pub version: u64,
    /// The names this credential may update.
    pub names: BTreeSet<Fqdn>,
    /// PHC string of the password (a slow salted hash); never the password.
    pub password: String,
    /// The AWS serverless DDNS sample's protocol is allowed (its shared secret is kept
    /// encrypted in SSM, never here).
    pub sample: bool,
    /// Addresses must be the caller's own (default); `false` lets the caller name any.
    pub bound: bool,
    /// The networks the operator declared as the host's own (`host add --prefixes`,
    /// `host prefixes`): a bound host may also publish any address inside them, of either
    /// family, whichever family its request came over ([`check_binding`]). Empty for a
    /// credential made before they existed.
    pub prefixes: BTreeSet<Prefix>,
    /// Seconds after the last update after which the host's names are released (0: never).
    pub lease: i64,
    /// The addresses of the last accepted update.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// Epoch seconds of the last accepted update (0: never updated).
    pub updated: i64,
    /// Epoch seconds the credential was created (orders hosts among claimants).
    pub created: i64,
    /// Failed logins in the current window, when the window began, and until when the
    /// credential is locked out.
    pub failures: u32,
    pub failed_since: i64,
    pub locked_until: i64,
    /// The alert last sent about this host (`failing`, `silent`), cleared on recovery.
    pub alerted: Option<String>,
}

impl HostRecord {
    /// The host as an owner of the deployment of `home`.
    pub fn owner(&self, home: &Home) -> Owner {
        Owner::Host {
            home: home.clone(),
            name: self.name.clone(),
        }
    }

    /// Whether the lease still holds at `now`.
    pub fn live(&self, now: i64) -> bool {
        self.updated > 0 && (self.lease == 0 || now < self.updated + self.lease)
    }

    /// The host as the decisions see a claimant: "running" while its lease holds, launched
    /// when its credential was made (so it wins or loses a contested name by the same rule
    /// as an instance), with its last addresses (public only: a host has no private address
    /// in a VPC), claiming every name of its credential (at most
    /// [`crate::name::MAX_HOST_NAMES`]) with no tag in between.
    pub fn as_claimant(&self, now: i64, home: &Home) -> Instance {
        Instance {
            owner: self.owner(home),
            state: if self.live(now) {
                InstanceState::Running
            } else {
                InstanceState::Stopped
            },
            launch_time: self.created,
            names: Names::Host(self.names.clone()),
            status_tag: None,
            public_ipv4: self.ipv4,
            private_ipv4: None,
            ipv6: self.ipv6.into_iter().collect(),
            group: None,
        }
    }

    /// The record once `touch` is applied (what the table's update expression does).
    pub fn apply(&mut self, touch: &HostTouch) {
        if let Some((v4, v6, at)) = touch.addresses {
            (self.ipv4, self.ipv6, self.updated) = (v4, v6, at);
        }
        if let Some(at) = touch.refreshed {
            self.updated = at;
        }
        if let Some(alerted) = &touch.alerted {
            self.alerted = alerted.clone();
        }
        if let Some(f) = touch.failure {
            (self.failures, self.failed_since, self.locked_until) =
                (f.failures, f.failed_since, f.locked_until);
        }
    }

    /// Whether `source` is the address of the host's last accepted update: its lockout does
    /// not apply there, so that whoever guesses from elsewhere cannot lock the host out.
    pub fn from_last_address(&self, source: IpAddr) -> bool {
        match Addresses::of(source) {
            Addresses { ipv4: Some(a), .. } => self.ipv4 == Some(a),
            Addresses { ipv6: Some(a), .. } => self.ipv6 == Some(a),
            _ => false,
        }
    }

    /// The counters once one more password check is counted at `now`; `None` while the
    /// credential is locked out, when nothing may be counted (or checked). A store applies
    /// this atomically to the item as it is ([`crate::ports::Locks::count_attempt`]), so
    /// that concurrent checks can never outnumber [`LOCKOUT_AFTER`] before the lockout.
    pub fn attempt(&self, now: i64) -> Option<Failure> {
        (self.locked_until <= now).then(|| after_failure(self, now))
    }

    /// How this host's addresses are checked ([`check_binding`]).
    pub fn binding(&self) -> Binding<'_> {
        match self.bound {
            true => Binding::Bound(&self.prefixes),
            false => Binding::Unbound,
        }
    }

    /// Whether an unchanged update should still refresh the lease.
    pub fn lease_due(&self, now: i64) -> bool {
        self.lease > 0 && now - self.updated >= self.lease / LEASE_REFRESH_FRACTION
    }
}

/// The addresses an update asks for, once checked against the binding rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Addresses {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

impl Addresses {
    /// `myip` as routers send it: one address or two (`v4,v6`), at most one per family.
    pub fn parse(raw: &str) -> Result<Addresses, String> {
        let mut out = Addresses::default();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) if out.ipv4.is_none() => out.ipv4 = Some(a),
                Ok(IpAddr::V6(a)) if out.ipv6.is_none() => out.ipv6 = Some(a),
                Ok(_) => return Err(format!("{raw:?} names two addresses of one family")),
                Err(_) => {
                    return Err(format!(
                        "{:?} is not an IP address",
                        crate::name::printable(part)
                    ))
                }
            }
        }
        if out.ipv4.is_none() && out.ipv6.is_none() {
            return Err("no address".into());
        }
        Ok(out)
    }

    /// The caller's own address, as the only address.
    pub fn of(source: IpAddr) -> Addresses {
        match source {
            IpAddr::V4(a) => Addresses {
                ipv4: Some(a),
                ipv6: None,
            },
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Addresses {
                    ipv4: Some(v4),
                    ipv6: None,
                },
                None => Addresses {
                    ipv4: None,
                    ipv6: Some(a),
                },
            },
        }
    }

    /// The addresses as the protocol echoes them: `v4`, `v6` or `v4,v6`.
    pub fn shown(&self) -> String {
        let parts: Vec<String> = self
            .ipv4
            .map(|a| a.to_string())
            .into_iter()
            .chain(self.ipv6.map(|a| a.to_string()))
            .collect();
        parts.join(",")
    }
}

/// Why an address may not be written for this caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unbound(pub String);

/// Prefixes a host may declare: at most this many, of both families together.
pub const MAX_PREFIXES: usize = 8;
/// The widest prefix a host may declare per family (a typo such as `/0` must not make a
/// bound host an unbound one): an IPv4 /16, an IPv6 /32 (a whole ISP's allocation; a
/// customer's delegation is a /48 to a /64).
pub const WIDEST_IPV4_PREFIX: u8 = 16;
pub const WIDEST_IPV6_PREFIX: u8 = 32;

/// A network the operator declared as a host's own, `198.51.100.0/24` or
/// `2001:db8:12::/48`: its address has no bits set past its length, and it is public
/// (its first address is one a host may publish), of at most [`WIDEST_IPV4_PREFIX`] or
/// [`WIDEST_IPV6_PREFIX`] bits of freedom. An address alone (`198.51.100.7`) is its /32
/// or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    network: IpAddr,
    len: u8,
}

impl Prefix {
    pub fn parse(raw: &str) -> Result<Prefix, String> {
        let raw = raw.trim();
        let (addr, len) = match raw.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (raw, None),
        };
        let shown = crate::name::printable(raw);
        let network: IpAddr = addr.parse().map_err(|_| {
            format!("{shown:?} is not a prefix (198.51.100.0/24, 2001:db8:12::/48)")
        })?;
        let max = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{shown:?}: the length must be 0 to {max}"))?,
        };
        let widest = match network {
            IpAddr::V4(_) => WIDEST_IPV4_PREFIX,
            IpAddr::V6(_) => WIDEST_IPV6_PREFIX,
        };
        if len < widest {
            return Err(format!(
                "{shown:?} is wider than a /{widest}: declare the host's own network, or make it --unbound"
            ));
        }
        let prefix = Prefix { network, len };
        if prefix.masked() != network {
            return Err(format!(
                "{shown:?} has bits set past its length: did you mean {}?",
                Prefix {
                    network: prefix.masked(),
                    len
                }
            ));
        }
        if !usable(network) {
            return Err(format!("{shown:?} is not a public network"));
        }
        Ok(prefix)
    }

    /// The network's address with every bit past the length cleared.
    fn masked(&self) -> IpAddr {
        match self.network {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }

    /// Whether `a` is inside this network (an address of the other family never is).
    pub fn contains(&self, a: IpAddr) -> bool {
        let inside = Prefix {
            network: a,
            len: self.len,
        };
        matches!(
            (self.network, a),
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_))
        ) && inside.masked() == self.network
    }
}

/// `198.51.100.0/24`, `2001:db8:12::/48`.
impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// `--prefixes` as the operator writes it: comma-separated prefixes (a prefix given twice
/// counts once), at most [`MAX_PREFIXES`]; `none` (or nothing) for none.
pub fn parse_prefixes(raw: &str) -> Result<BTreeSet<Prefix>, String> {
    if raw.trim() == "none" {
        return Ok(BTreeSet::new());
    }
    let set = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(Prefix::parse)
        .collect::<Result<BTreeSet<_>, _>>()?;
    if set.len() > MAX_PREFIXES {
        return Err(format!(
            "{} prefixes; a host may have at most {MAX_PREFIXES}",
            set.len()
        ));
    }
    Ok(set)
}

/// How a host's addresses are checked: bound (the default) to the request's source and
/// the networks the operator declared for it, or unbound (any public address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding<'a> {
    Bound(&'a BTreeSet<Prefix>),
    Unbound,
}

/// The binding rule. Every address must be public unicast. A bound host (the default) may
/// write, in each family, the address its request came from, or an address inside a
/// network the operator declared for it ([`HostRecord::prefixes`]); nothing else. So an
/// IPv4 address is accepted from a request over IPv4 that came from it, and an IPv6
/// address from a request over IPv6 that came from it; an address of the other family than
/// the request's cannot be checked against the source, and is accepted only inside a
/// declared network: a stock router that reaches us over IPv4 only publishes its IPv6
/// address too, and a stolen credential can point the names only at the owner's declared
/// networks, or at the thief's own address. An unbound host (its operator's explicit
/// choice) may write any public address.
pub fn check_binding(
    asked: Addresses,
    source: IpAddr,
    binding: Binding<'_>,
) -> Result<Addresses, Unbound> {
    let each = || {
        asked
            .ipv4
            .map(IpAddr::V4)
            .into_iter()
            .chain(asked.ipv6.map(IpAddr::V6))
    };
    for a in each() {
        if !usable(a) {
            return Err(Unbound(format!("{a} is not a public unicast address")));
        }
    }
    let Binding::Bound(prefixes) = binding else {
        return Ok(asked);
    };
    let source = match source {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    for a in each() {
        if a == source || prefixes.iter().any(|p| p.contains(a)) {
            continue;
        }
        let declared: Vec<String> = prefixes
            .iter()
            .filter(|p| same_family(p.network, a))
            .map(|p| p.to_string())
            .collect();
        return Err(Unbound(match declared.is_empty() {
            true if same_family(a, source) => {
                format!("{a} is not the address the request came from ({source})")
            }
            true => format!(
                "{a} is of the other family than the request ({source}) and the host has no network of that family"
            ),
            false => format!(
                "{a} is neither the address the request came from ({source}) nor inside the host's networks ({})",
                declared.join(",")
            ),
        }));
    }
    Ok(asked)
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Addresses a host's name may point at: public unicast ones. Refused: unspecified,
/// "this network" (0/8), private, shared (CGNAT, 100.64/10), loopback, link-local, IETF
/// protocol assignments (192.0.0/24), benchmarking (198.18/15), multicast, reserved (240/4)
/// and broadcast; for IPv6 unspecified, loopback, link-local, unique local, multicast and
/// IPv4-mapped. Names published here are for the internet; a LAN address belongs in a
/// private zone. (The documentation ranges stay allowed: they are what examples use.)
fn usable(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || a == 0
                || v4.is_private()
                || (a == 100 && (64..128).contains(&b))
                || v4.is_loopback()
                || v4.is_link_local()
                || (a, b, c) == (192, 0, 0)
                || (a == 198 && (18..20).contains(&b))
                || v4.is_multicast()
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_loopback()
                || (first & 0xffc0) == 0xfe80
                || (first & 0xfe00) == 0xfc00
                || v6.to_ipv4_mapped().is_some())
        }
    }
}

/// The lockout policy: after [`LOCKOUT_AFTER`] failed logins within [`LOCKOUT_WINDOW`]
/// seconds a credential is locked out for [`LOCKOUT_FOR`] seconds (answered `abuse`
/// without even checking the password), then starts afresh.
pub const LOCKOUT_AFTER: u32 = 5;
pub const LOCKOUT_WINDOW: i64 = 900;
pub const LOCKOUT_FOR: i64 = 900;

/// What a failed login does to a credential's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub failures: u32,
    pub failed_since: i64,
    pub locked_until: i64,
}

/// What counting one password check against a credential found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted, before the check: the counters after it (locked out when it was the last
    /// one allowed). A right password then clears them.
    Counted(Failure),
    /// Locked out: nothing was counted, and the password must not be checked.
    Locked,
    /// The credential is gone (removed meanwhile).
    Gone,
}

/// The part of a caller's address that the per-source limit counts: an IPv4 address whole,
/// an IPv6 address by its /64 (one customer's network: a caller can rotate through its
/// /64 at will), and an IPv4-mapped IPv6 address as its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourcePrefix(IpAddr);

impl SourcePrefix {
    pub fn of(source: IpAddr) -> SourcePrefix {
        match Addresses::of(source) {
            Addresses { ipv4: Some(a), .. } => SourcePrefix(IpAddr::V4(a)),
            Addresses { ipv6: Some(a), .. } => {
                let bits = u128::from(a) & !((1u128 << 64) - 1);
                SourcePrefix(IpAddr::V6(Ipv6Addr::from(bits)))
            }
            _ => SourcePrefix(source),
        }
    }
}

/// `203.0.113.9`, or `2001:db8:1:2::/64`.
impl fmt::Display for SourcePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => write!(f, "{a}/64"),
        }
    }
}

/// Failed logins of one source prefix, as counted by every container together: `failures`
/// in the window that began at `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceCount {
    pub failures: u32,
    pub since: i64,
}

impl SourceCount {
    /// The count after one more failure at `now`, with windows of `window` seconds.
    pub fn after_failure(self, now: i64, window: i64) -> SourceCount {
        if self.failures == 0 || now - self.since >= window {
            SourceCount {
                failures: 1,
                since: now,
            }
        } else {
            SourceCount {
                failures: self.failures.saturating_add(1),
                since: self.since,
            }
        }
    }
}

/// The counters after one more failed login at `now`.
pub fn after_failure(host: &HostRecord, now: i64) -> Failure {
    let fresh = now - host.failed_since >= LOCKOUT_WINDOW;
    let failures = if fresh { 1 } else { host.failures + 1 };
    Failure {
        failures,
        failed_since: if fresh { now } else { host.failed_since },
        locked_until: if failures >= LOCKOUT_AFTER {
            now + LOCKOUT_FOR
        } else {
            host.locked_until
        },
    }
}

/// A change of a host's item: what its last accepted update was, and its alert state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTouch {
    pub name: HostName,
    /// New addresses (both families; `None` in a family clears it), with the update's time.
    pub addresses: Option<(Option<Ipv4Addr>, Option<Ipv6Addr>, i64)>,
    /// Only the lease: the time of an unchanged update.
    pub refreshed: Option<i64>,
    /// `Some(None)` clears the alert, `Some(Some(kind))` records one sent.
    pub alerted: Option<Option<String>>,
    /// Failed-login counters after a failure (all zero to reset them after a success).
    pub failure: Option<Failure>,
}

impl HostTouch {
    pub fn new(name: HostName) -> HostTouch {
        HostTouch {
            name,
            addresses: None,
            refreshed: None,
            alerted: None,
            failure: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::home;

    fn host() -> HostRecord {
        HostRecord {
            name: HostName::parse("home").unwrap(),
            version: 1,
            names: [Fqdn::parse("home.dyn.example.com").unwrap()].into(),
            password: String::new(),
            sample: false,
            bound: true,
            prefixes: BTreeSet::new(),
            lease: 3600,
            ipv4: Some(Ipv4Addr::new(198, 51, 100, 7)),
            ipv6: None,
            updated: 1_000,
            created: 10,
            failures: 0,
            failed_since: 0,
            locked_until: 0,
            alerted: None,
        }
    }

    #[test]
    fn host_names_are_checked() {
        assert!(HostName::parse("home-router-2").is_ok());
        for bad in ["", "-a", "a-", "Home", "a b", "a.b", &"a".repeat(64), "é"] {
            assert!(HostName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_host_runs_while_its_lease_holds_with_public_addresses_only() {
        let h = host();
        assert_eq!(h.as_claimant(4_599, &home()).state, InstanceState::Running);
        assert_eq!(h.as_claimant(4_600, &home()).state, InstanceState::Stopped);
        let i = h.as_claimant(2_000, &home());
        assert_eq!((i.public_ipv4, i.private_ipv4), (h.ipv4, None));
        assert_eq!(i.names, Names::Host(h.names.clone()));
        assert_eq!(i.launch_time, h.created);
        assert_eq!(i.owner.to_string(), "123456789012/us-east-1/host/home");
        let never = HostRecord {
            updated: 0,
            ..host()
        };
        assert_eq!(never.as_claimant(0, &home()).state, InstanceState::Stopped);
        let forever = HostRecord { lease: 0, ..host() };
        assert_eq!(
            forever.as_claimant(i64::MAX / 2, &home()).state,
            InstanceState::Running
        );
        assert!(!host().lease_due(1_899) && host().lease_due(1_900));
    }

    #[test]
    fn myip_holds_one_address_per_family() {
        let a = Addresses::parse("203.0.113.9, 2001:db8::9").unwrap();
        assert_eq!(a.shown(), "203.0.113.9,2001:db8::9");
        for bad in [
            "",
            "x",
            "203.0.113.9,203.0.113.10",
            "2001:db8::1,2001:db8::2",
            "1.2.3.4.5",
        ] {
            assert!(Addresses::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn prefixes(raw: &str) -> BTreeSet<Prefix> {
        parse_prefixes(raw).unwrap()
    }

    #[test]
    fn a_bound_host_writes_only_the_address_its_request_came_from() {
        let none = BTreeSet::new();
        let bound = Binding::Bound(&none);
        let v4: IpAddr = "203.0.113.9".parse().unwrap();
        let v6: IpAddr = "2001:db8::9".parse().unwrap();
        let own4 = Addresses::parse("203.0.113.9").unwrap();
        let other4 = Addresses::parse("203.0.113.10").unwrap();
        let own6 = Addresses::parse("2001:db8::9").unwrap();
        let both = Addresses::parse("203.0.113.9,2001:db8::9").unwrap();
        assert_eq!(check_binding(own4, v4, bound), Ok(own4));
        assert!(check_binding(other4, v4, bound).is_err());
        assert_eq!(check_binding(own6, v6, bound), Ok(own6));
        assert!(
            check_binding(both, v4, bound).is_err(),
            "without a declared network the IPv6 cannot be checked over IPv4"
        );
        assert_eq!(
            check_binding(both, v4, Binding::Unbound),
            Ok(both),
            "an unbound host may name any"
        );
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(check_binding(own4, mapped, bound), Ok(own4));
        let multicast = Addresses::parse("224.0.0.1").unwrap();
        assert!(check_binding(multicast, v4, Binding::Unbound).is_err());
    }

    /// The dual-stack rule, case by case: (declared networks, source, addresses asked,
    /// accepted).
    #[test]
    fn a_bound_host_may_also_write_inside_the_networks_declared_for_it() {
        let cases: &[(&str, &str, &str, bool)] = &[
            // No network declared: only the source, as before.
            ("none", "198.51.100.7", "198.51.100.7", true),
            ("none", "198.51.100.7", "198.51.100.7,2001:db8:12::7", false),
            // A stock router over IPv4 sends both: the IPv6 inside its declared /48.
            (
                "2001:db8:12::/48",
                "198.51.100.7",
                "198.51.100.7,2001:db8:12::7",
                true,
            ),
            (
                "2001:db8:12::/48",
                "198.51.100.7",
                "198.51.100.7,2001:db8:12:ff:1:2:3:4",
                true,
            ),
            // ... and outside it: refused, the whole update.
            (
                "2001:db8:12::/48",
                "198.51.100.7",
                "198.51.100.7,2001:db8:13::7",
                false,
            ),
            // Over IPv6, an IPv4 address inside the declared IPv4 network.
            (
                "198.51.100.0/24",
                "2001:db8:12::7",
                "198.51.100.99,2001:db8:12::7",
                true,
            ),
            (
                "198.51.100.0/24",
                "2001:db8:12::7",
                "203.0.113.99,2001:db8:12::7",
                false,
            ),
            // The source's own family may also name another address of the declared
            // network (a privacy address as source, the stable one published; a block).
            (
                "2001:db8:12::/48",
                "2001:db8:12:1::abcd",
                "2001:db8:12::7",
                true,
            ),
            ("198.51.100.0/29", "198.51.100.1", "198.51.100.6", true),
            ("198.51.100.0/29", "198.51.100.1", "198.51.100.8", false),
            // A stolen credential used from elsewhere: its own address, yes (as today),
            // the owner's network, yes, anything else, no.
            ("2001:db8:12::/48", "203.0.113.66", "203.0.113.66", true),
            (
                "2001:db8:12::/48",
                "203.0.113.66",
                "203.0.113.66,2001:db8:12::7",
                true,
            ),
            (
                "2001:db8:12::/48",
                "203.0.113.66",
                "203.0.113.66,2001:db8:66::1",
                false,
            ),
            ("2001:db8:12::/48", "203.0.113.66", "198.51.100.7", false),
            // A network of one family says nothing about the other.
            ("198.51.100.0/24", "203.0.113.66", "2001:db8:12::7", false),
            // Both families declared; an IPv4-mapped source counts as IPv4.
            (
                "198.51.100.0/24,2001:db8:12::/48",
                "::ffff:198.51.100.7",
                "198.51.100.7,2001:db8:12::7",
                true,
            ),
            // A declared network never admits a non-public address.
            (
                "2001:db8:12::/48",
                "198.51.100.7",
                "198.51.100.7,fe80::1",
                false,
            ),
            // Exactly one address declared (a /128).
            ("2001:db8:12::7", "198.51.100.7", "2001:db8:12::7", true),
            ("2001:db8:12::7", "198.51.100.7", "2001:db8:12::8", false),
        ];
        for (declared, source, asked, ok) in cases {
            let declared = prefixes(declared);
            let source: IpAddr = source.parse().unwrap();
            let asked = Addresses::parse(asked).unwrap();
            let got = check_binding(asked, source, Binding::Bound(&declared));
            assert_eq!(got.is_ok(), *ok, "{declared:?} {source} {asked:?}: {got:?}");
            if *ok {
                assert_eq!(got, Ok(asked));
            }
        }
    }

    #[test]
    fn a_changed_network_takes_effect_at_the_next_update() {
        let source: IpAddr = "198.51.100.7".parse().unwrap();
        let asked = Addresses::parse("198.51.100.7,2001:db8:12::7").unwrap();
        let moved = Addresses::parse("198.51.100.7,2001:db8:34::7").unwrap();
        let mut h = HostRecord {
            prefixes: prefixes("2001:db8:12::/48"),
            ..host()
        };
        assert!(check_binding(asked, source, h.binding()).is_ok());
        assert!(check_binding(moved, source, h.binding()).is_err());
        // The provider renumbered the line: the operator declares the new network.
        h.prefixes = prefixes("2001:db8:34::/48");
        assert!(check_binding(asked, source, h.binding()).is_err());
        assert!(check_binding(moved, source, h.binding()).is_ok());
        // Cleared: back to the source alone.
        h.prefixes = prefixes("none");
        assert!(check_binding(moved, source, h.binding()).is_err());
        // An unbound host ignores networks (none may be declared for it, see admin).
        h.bound = false;
        assert_eq!(h.binding(), Binding::Unbound);
    }

    #[test]
    fn declared_networks_are_checked_when_written() {
        let p = |raw: &str| Prefix::parse(raw).map(|p| p.to_string());
        assert_eq!(p("198.51.100.0/24"), Ok("198.51.100.0/24".into()));
        assert_eq!(p(" 2001:db8:12::/48 "), Ok("2001:db8:12::/48".into()));
        assert_eq!(p("2001:db8:12::7"), Ok("2001:db8:12::7/128".into()));
        assert_eq!(p("198.51.100.7"), Ok("198.51.100.7/32".into()));
        let why = p("198.51.100.7/24").unwrap_err();
        assert!(why.contains("did you mean 198.51.100.0/24"), "{why}");
        for bad in [
            "",
            "x/24",
            "198.51.100.0/33",
            "2001:db8::/129",
            "0.0.0.0/0",
            "::/0",
            "198.0.0.0/8",
            "2001::/16",
            "10.1.0.0/16",
            "192.168.1.0/24",
            "fd00:1::/48",
            "fe80::/64",
            "198.51.100.0/-1",
        ] {
            assert!(Prefix::parse(bad).is_err(), "{bad:?}");
        }
        let many = (0..9)
            .map(|i| format!("198.51.{i}.0/24"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_prefixes(&many).unwrap_err().contains("at most 8"));
        assert_eq!(
            parse_prefixes("198.51.100.0/24, 198.51.100.0/24,2001:db8:12::/48")
                .unwrap()
                .len(),
            2
        );
        assert!(parse_prefixes("none").unwrap().is_empty());
        let net = Prefix::parse("2001:db8:12::/48").unwrap();
        assert!(net.contains("2001:db8:12:ffff::1".parse().unwrap()));
        assert!(!net.contains("2001:db8:13::1".parse().unwrap()));
        assert!(!net.contains("198.51.100.7".parse().unwrap()));
    }

    #[test]
    fn five_failures_within_the_window_lock_a_credential_out() {
        let mut h = host();
        for i in 0..4 {
            let f = after_failure(&h, 10_000 + i);
            assert_eq!(f.locked_until, 0);
            (h.failures, h.failed_since, h.locked_until) =
                (f.failures, f.failed_since, f.locked_until);
        }
        let f = after_failure(&h, 10_010);
        assert_eq!((f.failures, f.locked_until), (5, 10_010 + LOCKOUT_FOR));
        // A failure after the window starts a new count.
        let later = after_failure(
            &HostRecord {
                failures: 4,
                failed_since: 10_000,
                ..host()
            },
            10_000 + LOCKOUT_WINDOW,
        );
        assert_eq!((later.failures, later.locked_until), (1, 0));
    }

    #[test]
    fn a_source_is_an_ipv4_address_or_an_ipv6_64() {
        let of = |a: &str| SourcePrefix::of(a.parse().unwrap()).to_string();
        assert_eq!(of("203.0.113.9"), "203.0.113.9");
        assert_eq!(of("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(of("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
        assert_eq!(of("2001:db8:1:2::1"), of("2001:db8:1:2:ffff::"));
        assert_ne!(of("2001:db8:1:2::1"), of("2001:db8:1:3::1"));
        let c = SourceCount::default().after_failure(100, 600);
        assert_eq!(
            c.after_failure(699, 600),
            SourceCount {
                failures: 2,
                since: 100
            }
        );
        assert_eq!(
            c.after_failure(700, 600),
            SourceCount {
                failures: 1,
                since: 700
            }
        );
    }

    #[test]
    fn a_locked_out_credential_counts_no_attempt() {
        let locked = HostRecord {
            failures: LOCKOUT_AFTER,
            failed_since: 9_000,
            locked_until: 10_000,
            ..host()
        };
        assert_eq!(locked.attempt(9_999), None);
        let after = locked.attempt(10_000).unwrap();
        assert_eq!((after.failures, after.failed_since), (1, 10_000));
    }

    #[test]
    fn only_public_unicast_addresses_are_ever_published() {
        let src: IpAddr = "198.51.100.7".parse().unwrap();
        for bad in [
            "0.1.2.3",
            "10.0.0.5",
            "100.64.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "192.0.0.8",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:203.0.113.5",
        ] {
            let asked = Addresses::parse(bad).unwrap();
            assert!(
                check_binding(asked, src, Binding::Unbound).is_err(),
                "{bad}"
            );
        }
        for good in ["203.0.113.5", "2001:db8::5", "8.8.8.8"] {
            let asked = Addresses::parse(good).unwrap();
            assert_eq!(
                check_binding(asked, src, Binding::Unbound),
                Ok(asked),
                "{good}"
            );
        }
    }
}
