//! Domain types shared by the planner, the ports and the adapters. No SDK types here.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::name::Fqdn;

/// An EC2 instance id (`i-` and 8 or 17 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(String);

impl InstanceId {
    pub fn parse(raw: &str) -> Result<InstanceId, String> {
        let ok = raw.strip_prefix("i-").is_some_and(|hex| {
            (8..=17).contains(&hex.len())
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok {
            Ok(InstanceId(raw.to_string()))
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

/// What ec2-dns needs to know about an instance, as EC2 reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: InstanceId,
    pub state: InstanceState,
    /// Launch time in seconds since the epoch; the longest-running claimant wins a name.
    pub launch_time: i64,
    /// The value of the name tag, if the instance has one.
    pub name_tag: Option<String>,
    /// The value of the status tag ec2-dns last wrote, if any.
    pub status_tag: Option<String>,
    pub public_ipv4: Option<Ipv4Addr>,
    pub private_ipv4: Option<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

impl Instance {
    /// An instance id EC2 did not return: terminated long ago or never existed.
    pub fn gone(id: InstanceId) -> Instance {
        Instance {
            id,
            state: InstanceState::Gone,
            launch_time: 0,
            name_tag: None,
            status_tag: None,
            public_ipv4: None,
            private_ipv4: None,
            ipv6: Vec::new(),
        }
    }
}

/// A Route53 hosted zone id without the `/hostedzone/` prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZoneId(pub String);

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
}

/// The only record types ec2-dns writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }

    pub fn parse(raw: &str) -> Option<RecordType> {
        match raw {
            "A" => Some(RecordType::A),
            "AAAA" => Some(RecordType::Aaaa),
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
    pub fn slot(&self) -> (&ZoneId, RecordType) {
        (&self.zone_id, self.rtype)
    }
}

/// The ownership lock of one name, as stored in DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub name: Fqdn,
    pub owner: InstanceId,
    /// Bumped on every write; every conditional write names the version it read.
    pub version: u64,
    /// What is in Route53 for this name now, as written by ec2-dns (sorted).
    pub records: Vec<RecordSet>,
    /// What ec2-dns was about to write when it last changed the lock: present only while a
    /// Route53 change may be in flight (a crash leaves it behind for recovery).
    pub intent: Option<Vec<RecordSet>>,
    /// When the owner took the name (RFC 3339), for operators.
    pub since: Option<String>,
}

impl Lock {
    /// Whether `set` is something ec2-dns wrote or meant to write for this name.
    pub fn wrote(&self, set: &RecordSet) -> bool {
        self.records.contains(set) || self.intent.as_ref().is_some_and(|i| i.contains(set))
    }
}

/// A Route53 change as ec2-dns makes it: only CREATE and DELETE (a swap is both, in one
/// batch, so it is atomic and fails if the old values are not exactly there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeAction {
    Create,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: ChangeAction,
    pub name: Fqdn,
    pub set: RecordSet,
}

/// The Route53 changes that turn `old` into `new` for one name: per (zone, type) slot,
/// DELETE what differs and CREATE what replaces it; nothing when a slot is unchanged.
pub fn changes_between(name: &Fqdn, old: &[RecordSet], new: &[RecordSet]) -> Vec<Change> {
    let mut out = Vec::new();
    for o in old {
        if !new.contains(o) {
            out.push(Change {
                action: ChangeAction::Delete,
                name: name.clone(),
                set: o.clone(),
            });
        }
    }
    for n in new {
        if !old.contains(n) {
            out.push(Change {
                action: ChangeAction::Create,
                name: name.clone(),
                set: n.clone(),
            });
        }
    }
    out
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
    fn a_swap_deletes_the_old_set_and_creates_the_new_one() {
        let n = Fqdn::parse("web.example.com").unwrap();
        let z = ZoneId("Z1".into());
        let old = RecordSet::new(z.clone(), RecordType::A, 60, vec!["192.0.2.1".into()]);
        let new = RecordSet::new(z, RecordType::A, 60, vec!["192.0.2.2".into()]);
        let c = changes_between(&n, std::slice::from_ref(&old), std::slice::from_ref(&new));
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].action, &c[0].set), (ChangeAction::Delete, &old));
        assert_eq!((c[1].action, &c[1].set), (ChangeAction::Create, &new));
        let same = std::slice::from_ref(&new);
        assert!(changes_between(&n, same, same).is_empty());
    }
}
