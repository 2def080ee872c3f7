//! Domain types shared by the decisions, the ports and the adapters. No SDK types here.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::name::Fqdn;

/// The name of a host credential (the dyndns2 user name): 1–63 lowercase letters, digits
/// and hyphens, not starting or ending with a hyphen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostName(String);

impl HostName {
    pub fn parse(raw: &str) -> Result<HostName, String> {
        let ok = (1..=63).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(HostName(raw.to_string()))
        } else {
            Err(format!(
                "{:?} is not a host name (1-63 of a-z 0-9 -, not starting or ending with -)",
                crate::name::printable(raw)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An EC2 instance id (`i-` and 8 or 17 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(Arc<str>);

impl InstanceId {
    pub fn parse(raw: &str) -> Result<InstanceId, String> {
        let ok = raw.strip_prefix("i-").is_some_and(|hex| {
            (8..=17).contains(&hex.len())
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok {
            Ok(InstanceId(raw.into()))
        } else {
            Err(format!("{raw:?} is not an EC2 instance id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An EC2 network interface id (`eni-` and 8 or 17 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InterfaceId(String);

impl InterfaceId {
    pub fn parse(raw: &str) -> Result<InterfaceId, String> {
        let ok = raw.strip_prefix("eni-").is_some_and(|hex| {
            (8..=17).contains(&hex.len())
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok {
            Ok(InterfaceId(raw.to_string()))
        } else {
            Err(format!("{raw:?} is not an EC2 network interface id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InterfaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where instances live: an AWS account and a region. The deployment's own is its *home*.
/// Cheap to clone (every owner carries one): its text is shared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Home {
    account: Arc<str>,
    region: Arc<str>,
}

impl Home {
    /// `account` is 12 digits; `region` lowercase letters, digits and hyphens.
    pub fn new(account: &str, region: &str) -> Result<Home, String> {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{account:?} is not an AWS account id (12 digits)"));
        }
        let region_ok = (1..=32).contains(&region.len())
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(format!("{region:?} is not an AWS region"));
        }
        Ok(Home {
            account: account.into(),
            region: region.into(),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The qualified owner of an instance of this account and region.
    pub fn instance(&self, id: InstanceId) -> Owner {
        Owner::Instance {
            home: self.clone(),
            id,
        }
    }
}

impl fmt::Display for Home {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// Who holds a name: an EC2 instance qualified by account and region
/// (`123456789012/us-east-1/i-0abc…`), so that owners of several accounts and regions never
/// collide. Its text form is what lock items and ownership markers carry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    Instance {
        home: Home,
        id: InstanceId,
    },
    /// A host outside EC2 (a home router, an office server) that updates its own addresses
    /// through the DDNS endpoint with a credential of its own, in the deployment of `home`
    /// (qualified like an instance, so that deployments sharing a zone never mistake each
    /// other's hosts for their own).
    Host {
        home: Home,
        name: HostName,
    },
}

impl Owner {
    /// Parses the qualified text form `account/region/instance-id`.
    pub fn parse(raw: &str) -> Result<Owner, String> {
        let parts: Vec<&str> = raw.split('/').collect();
        match parts.as_slice() {
            [account, region, id] => {
                Ok(Home::new(account, region)?.instance(InstanceId::parse(id)?))
            }
            [account, region, "host", name] => Ok(Owner::Host {
                home: Home::new(account, region)?,
                name: HostName::parse(name)?,
            }),
            _ => Err(format!(
                "{raw:?} is not a qualified owner (account/region/instance-id or account/region/host/name)"
            )),
        }
    }

    pub fn instance_id(&self) -> Option<&InstanceId> {
        match self {
            Owner::Instance { id, .. } => Some(id),
            Owner::Host { .. } => None,
        }
    }

    /// The account and region of the owner (of the deployment, for a host).
    pub fn home(&self) -> &Home {
        match self {
            Owner::Instance { home, .. } | Owner::Host { home, .. } => home,
        }
    }

    pub fn host(&self) -> Option<&HostName> {
        match self {
            Owner::Host { name, .. } => Some(name),
            Owner::Instance { .. } => None,
        }
    }

    /// How a sentence for `reader` names this owner: the bare instance id (or `host/<name>`)
    /// when both live in the same account and region, the qualified form otherwise.
    pub fn short_for(&self, reader: &Owner) -> String {
        match self {
            Owner::Instance { home, id } if home == reader.home() => id.to_string(),
            Owner::Host { home, name } if home == reader.home() => format!("host/{name}"),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Instance { home, id } => write!(f, "{}/{}/{id}", home.account, home.region),
            Owner::Host { home, name } => {
                write!(f, "{}/{}/host/{name}", home.account, home.region)
            }
        }
    }
}

impl Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An instance's lifecycle state, plus `Gone` for an id EC2 no longer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
    Stopping,
    Stopped,
    /// Running (or not) in an Auto Scaling group's warm pool (`Warmed:*`): not serving, so
    /// never published. Said by the group, not by EC2 ([`crate::fleet::Grouped`]).
    Warmed,
    /// Being taken out of its Auto Scaling group (`Terminating*`, a terminate lifecycle
    /// hook's wait included): EC2 may still say running, but its names are released.
    Terminating,
    Gone,
}

impl InstanceState {
    pub fn parse(raw: &str) -> Option<InstanceState> {
        Some(match raw {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::Warmed => "warmed",
            InstanceState::Terminating => "terminating",
            InstanceState::Gone => "gone",
        }
    }

    /// Whether ec2-dns may still write tags on the instance.
    pub fn is_taggable(self) -> bool {
        !matches!(
            self,
            InstanceState::ShuttingDown | InstanceState::Terminated | InstanceState::Gone
        )
    }
}

/// Where a claimant's names come from. Each source keeps its own limit, and every name is
/// checked the same way when it is claimed (`crate::decide::claims`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    /// An EC2 instance's name tag as EC2 reports it (`None`: the instance has none): free
    /// text, at most [`crate::name::MAX_NAMES_PER_TAG`] entries, placeholders allowed.
    Tag(Option<String>),
    /// A host's names, straight from its credential: already parsed, at most
    /// [`crate::name::MAX_HOST_NAMES`] (what `host add` lets a credential hold).
    Host(BTreeSet<Fqdn>),
}

impl Names {
    /// The name tag's value, for an instance that has one.
    pub fn tag(&self) -> Option<&str> {
        match self {
            Names::Tag(tag) => tag.as_deref(),
            Names::Host(_) => None,
        }
    }
}

/// An owner that may claim names, as the decisions see it: an EC2 instance as EC2 reports it
/// now, or a host outside AWS as its credential describes it
/// ([`crate::hosts::HostRecord::as_claimant`]: "running" while its lease holds, launched when
/// its credential was made). Both kinds follow the same ownership rules; only where their
/// names come from differs ([`Names`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub owner: Owner,
    pub state: InstanceState,
    /// Launch time in seconds since the epoch; the longest-running claimant wins a name.
    pub launch_time: i64,
    /// The names it asks for.
    pub names: Names,
    /// The value of the status tag ec2-dns last wrote, if any.
    pub status_tag: Option<String>,
    pub public_ipv4: Option<Ipv4Addr>,
    pub private_ipv4: Option<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    /// The Auto Scaling group that launched it (its `aws:autoscaling:groupName` tag).
    pub group: Option<String>,
}

impl Instance {
    /// An instance EC2 did not return: terminated long ago or never existed.
    pub fn gone(owner: Owner) -> Instance {
        Instance {
            owner,
            state: InstanceState::Gone,
            launch_time: 0,
            names: Names::Tag(None),
            status_tag: None,
            public_ipv4: None,
            private_ipv4: None,
            ipv6: Vec::new(),
            group: None,
        }
    }
}

/// A Route53 hosted zone id without the `/hostedzone/` prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZoneId(pub Arc<str>);

impl fmt::Display for ZoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub id: ZoneId,
    pub name: Fqdn,
    pub private: bool,
    /// How many record sets the zone held when it was listed (`ListHostedZones`'
    /// `ResourceRecordSetCount`): what reading it whole costs. `None`: not known.
    pub records: Option<u64>,
}

/// The record types ec2-dns writes: addresses at the name, (`Ptr`) the forward names of
/// an address at its reverse name (`REVERSE_RECORDS`, [`crate::decide::reverse`]), and
/// (`Txt`) only its ownership marker, which lives at the marker name `_ec2-dns.<name>`,
/// never at the name itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "TXT")]
    Txt,
    /// Written only at reverse names (`d.c.b.a.in-addr.arpa`, nibbles in `ip6.arpa`), in
    /// private zones; its values are names with the trailing dot.
    #[serde(rename = "PTR")]
    Ptr,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Txt => "TXT",
            RecordType::Ptr => "PTR",
        }
    }

    /// The types ec2-dns may hold at a name itself (everything but the marker): what a
    /// CNAME, a marker it cannot write or a foreign set stands in the way of.
    pub const AT_NAME: [RecordType; 3] = [RecordType::A, RecordType::Aaaa, RecordType::Ptr];

    pub fn parse(raw: &str) -> Option<RecordType> {
        match raw {
            "A" => Some(RecordType::A),
            "AAAA" => Some(RecordType::Aaaa),
            "TXT" => Some(RecordType::Txt),
            "PTR" => Some(RecordType::Ptr),
            _ => None,
        }
    }
}

/// One Route53 record set of a name: zone, type, TTL and the exact values (sorted).
/// Kept in the lock item so that a DELETE can name exactly what was written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordSet {
    pub zone_id: ZoneId,
    #[serde(rename = "type")]
    pub rtype: RecordType,
    pub ttl: i64,
    pub values: Vec<String>,
}

impl RecordSet {
    pub fn new(zone_id: ZoneId, rtype: RecordType, ttl: i64, mut values: Vec<String>) -> Self {
        values.sort();
        values.dedup();
        RecordSet {
            zone_id,
            rtype,
            ttl,
            values,
        }
    }

    /// The (zone, type) slot this set occupies; a name has at most one set per slot.
    pub fn slot(&self) -> Slot {
        Slot {
            zone: self.zone_id.clone(),
            rtype: self.rtype,
        }
    }
}

/// A (zone, type) place where a name can hold one record set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Slot {
    pub zone: ZoneId,
    #[serde(rename = "type")]
    pub rtype: RecordType,
}

/// The highest generation a lock may carry: far above any real count of decisions, and
/// low enough that generations never overflow and repeat.
pub const MAX_GEN: u64 = 1_000_000_000_000_000;
/// The most a marker seen in Route53 may raise the next generation above the lock's: far
/// more than the decisions any real marker can be ahead of its lock by, and small enough
/// that a forged marker cannot push generations to [`MAX_GEN`], where every decision would
/// write the same marker and batches would stop being compare-and-swaps.
pub const MAX_GEN_JUMP: u64 = 1_000_000_000;

/// A Route53 change as ec2-dns makes it: only CREATE and DELETE (a swap is both, in one
/// batch, so it is atomic and fails if the old values are not exactly there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeAction {
    Delete,
    Create,
}

/// One change of one record set of `name` (a `Txt` set: of its marker).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub action: ChangeAction,
    pub name: Fqdn,
    pub set: RecordSet,
}

/// Which owners a reconcile is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Owners(BTreeSet<Owner>),
}

impl fmt::Display for Scope {
    /// For log lines: `all`, or the owners (the first five, then how many more).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all"),
            Scope::Owners(set) => {
                let shown: Vec<String> = set.iter().take(5).map(Owner::to_string).collect();
                f.write_str(&shown.join(","))?;
                match set.len().saturating_sub(5) {
                    0 => Ok(()),
                    more => write!(f, " and {more} more"),
                }
            }
        }
    }
}

impl Scope {
    pub fn contains(&self, owner: &Owner) -> bool {
        match self {
            Scope::All => true,
            Scope::Owners(set) => set.contains(owner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_checked() {
        assert!(InstanceId::parse("i-0123456789abcdef0").is_ok());
        assert!(InstanceId::parse("i-12345678").is_ok());
        for bad in [
            "",
            "i-",
            "i-XYZ12345",
            "vol-12345678",
            "i-0123456789abcdef01",
            "i-1234",
        ] {
            assert!(InstanceId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn owners_are_qualified_by_account_and_region() {
        let o = Owner::parse("123456789012/us-east-1/i-0123456789abcdef0").unwrap();
        assert_eq!(o.to_string(), "123456789012/us-east-1/i-0123456789abcdef0");
        assert_eq!(o.instance_id().unwrap().as_str(), "i-0123456789abcdef0");
        for bad in [
            "i-0123456789abcdef0",
            "12345678901/us-east-1/i-0123456789abcdef0",
            "123456789012/US-EAST-1/i-0123456789abcdef0",
            "123456789012/us-east-1/vol-12345678",
            "123456789012/us-east-1/i-12345678/x",
        ] {
            assert!(Owner::parse(bad).is_err(), "{bad}");
        }
        let host = Owner::parse("123456789012/us-east-1/host/home-router").unwrap();
        assert_eq!(host.to_string(), "123456789012/us-east-1/host/home-router");
        assert_eq!(host.instance_id(), None);
        assert_eq!(host.host().unwrap().as_str(), "home-router");
        assert_eq!(host.short_for(&o), "host/home-router");
        for bad in [
            "host/home-router",
            "123456789012/us-east-1/host/Home",
            "1/us-east-1/host/a",
        ] {
            assert!(Owner::parse(bad).is_err(), "{bad}");
        }
        let other = Owner::parse("210987654321/eu-west-1/i-12345678").unwrap();
        assert_eq!(other.short_for(&o), "210987654321/eu-west-1/i-12345678");
        let same = Owner::parse("123456789012/us-east-1/i-12345678").unwrap();
        assert_eq!(same.short_for(&o), "i-12345678");
    }
}

// ------------------------------------------------------------- Auto Scaling lifecycle

/// Which way an instance moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transition {
    Launching,
    Terminating,
}

/// Where an instance comes from or goes to (`Origin`, `Destination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Place {
    #[serde(rename = "EC2")]
    Ec2,
    AutoScalingGroup,
    WarmPool,
}

impl Place {
    pub fn parse(raw: &str) -> Option<Place> {
        Some(match raw {
            "EC2" => Place::Ec2,
            "AutoScalingGroup" => Place::AutoScalingGroup,
            "WarmPool" => Place::WarmPool,
            _ => return None,
        })
    }
}

/// One pending lifecycle action, as its event tells it: what completing it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LifecycleAction {
    pub owner: Owner,
    pub group: String,
    pub hook: String,
    pub token: String,
    pub transition: Transition,
    pub origin: Place,
    pub destination: Place,
}

/// What an action asks of DNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Into the group: publish, wait for `INSYNC`, complete.
    Publish,
    /// Out of the group (terminated, or back to the warm pool): remove, then complete.
    Remove,
    /// Into the warm pool: nothing is published; complete at once.
    Nothing,
}

impl LifecycleAction {
    pub fn intent(&self) -> Intent {
        match (self.transition, self.destination) {
            (Transition::Launching, Place::WarmPool) => Intent::Nothing,
            (Transition::Launching, _) => Intent::Publish,
            (Transition::Terminating, _) => Intent::Remove,
        }
    }

    pub fn instance_id(&self) -> &InstanceId {
        // An action is only ever built for an instance.
        self.owner
            .instance_id()
            .unwrap_or_else(|| unreachable!("a lifecycle action names an instance"))
    }
}

/// What completing an action came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Completed,
    /// Auto Scaling knows no such pending action (completed already, by an earlier delivery
    /// of the event, timed out, or a wrong token): nothing left to do.
    NotActive(String),
}
