//! What happened to one name of one owner: it becomes a report row, a log line and part of
//! the owner's status tag (`crate::status_tag`).

use std::fmt;

use crate::model::{InstanceState, Owner};
use crate::name::Fqdn;

/// Why a holder no longer holds its name: decided in one place, rendered in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseReason {
    /// The instance no longer exists (or was never found).
    Gone,
    /// The holder runs but its tag or credential no longer names the name.
    NoLongerClaimed,
    /// The instance is in this state (stopped, stopping, shutting-down, ...).
    Instance(InstanceState),
    /// `ec2-dns-ctl release`.
    ByOperator,
}

/// Why a claimant does not get a name, or a slot of it: decided in `ownership`, rendered
/// here for every reader (report rows, status tags, log lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictReason {
    /// Another owner holds the name (the outcome's `holder`).
    OwnedBy,
    /// A record ec2-dns did not write occupies a slot: what is there, as
    /// [`crate::lock::Blocked::by`] says it (`CNAME`, `TXT at _ec2-dns.… of another
    /// deployment`, a protected set, ...).
    Foreign(String),
    /// The name is shared and the claimant asks for it alone.
    Shared,
    /// The name is held alone and the claimant asks to share it.
    Exclusive,
    /// The name's shared set has [`crate::decide::shared::MAX_MEMBERS`] members already.
    SharedFull,
}

impl ConflictReason {
    /// The reason as `reader` (the claimant) is told it.
    pub fn text(&self, holder: Option<&Owner>, reader: &Owner) -> String {
        match (self, holder) {
            (ConflictReason::OwnedBy, Some(h)) => format!("owned by {}", h.short_for(reader)),
            (ConflictReason::OwnedBy, None) => "owned by another claimant".into(),
            (ConflictReason::Foreign(what), _) => foreign(what),
            (ConflictReason::Shared, _) => {
                "is shared by other instances (shared:<name> joins them)".into()
            }
            (ConflictReason::Exclusive, Some(h)) => format!(
                "is owned by {} alone; a shared claim never takes it",
                h.short_for(reader)
            ),
            (ConflictReason::Exclusive, None) => {
                "is owned alone by another claimant; a shared claim never takes it".into()
            }
            (ConflictReason::SharedFull, _) => format!(
                "is shared by a full set ({} members)",
                crate::decide::shared::MAX_MEMBERS
            ),
        }
    }
}

/// Why a valid name is not published for its claimant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// No managed hosted zone holds the name.
    NoZone,
    /// The claimant has no address for the zones of the name: none private (every zone is
    /// private), or none public.
    NoAddress { private_only: bool },
    /// The change would not fit one Route53 change batch: what it needs, said in full.
    TooLarge(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NoZone => f.write_str("no hosted zone for this name"),
            SkipReason::NoAddress { private_only: true } => f.write_str("no private IPv4 address"),
            SkipReason::NoAddress {
                private_only: false,
            } => f.write_str("no public IPv4 or IPv6 address"),
            SkipReason::TooLarge(what) => f.write_str(what),
        }
    }
}

/// Why a held name is left exactly as it is until an operator acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrozenReason {
    /// Its lock item cannot be read (why).
    Unreadable(String),
    /// The name is no longer below an allowed domain.
    OutsideAllowedDomains,
    /// It has records in these existing zones that the configuration no longer manages.
    UnmanagedZones(Vec<String>),
}

impl fmt::Display for FrozenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrozenReason::Unreadable(why) => write!(f, "its lock item cannot be read ({why})"),
            FrozenReason::OutsideAllowedDomains => f.write_str(
                "outside ALLOWED_DOMAINS; its records are kept until an operator releases it",
            ),
            FrozenReason::UnmanagedZones(zones) => write!(
                f,
                "it has records in zone {} that the configuration does not manage; they are kept until an operator releases it",
                zones.join(", ")
            ),
        }
    }
}

/// A release: why, and to whom the name was handed over (as the holder would name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub why: ReleaseReason,
    pub handed_to: Option<String>,
}

impl Release {
    pub fn new(why: ReleaseReason) -> Release {
        Release {
            why,
            handed_to: None,
        }
    }
}

impl fmt::Display for ReleaseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseReason::Gone | ReleaseReason::Instance(InstanceState::Gone) => {
                f.write_str("instance gone")
            }
            ReleaseReason::NoLongerClaimed | ReleaseReason::Instance(InstanceState::Running) => {
                f.write_str("no longer claimed by the instance")
            }
            ReleaseReason::Instance(s) => write!(f, "instance {}", s.as_str()),
            ReleaseReason::ByOperator => f.write_str("released by an operator"),
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.handed_to {
            Some(to) => write!(f, "{}; handed over to {to}", self.why),
            None => write!(f, "{}", self.why),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The name points at the owner (all of `values`, over its zones); `slot`: the name is
    /// the slot a `{slot}` template of the owner's tag gave it (the status tag names it).
    Published {
        name: Fqdn,
        values: Vec<String>,
        slot: bool,
    },
    /// Someone else holds the name: another owner (`holder`), or a record ec2-dns did not
    /// write (`holder` is `None`). Reported once per run, never retried.
    Conflict {
        name: Fqdn,
        holder: Option<Owner>,
        reason: ConflictReason,
    },
    /// A tag entry that is not a name ec2-dns may manage.
    Invalid { raw: String, reason: String },
    /// A valid name that cannot be published (no zone, no address).
    Skipped { name: Fqdn, reason: SkipReason },
    /// The owner's name was released or handed over.
    Released { name: Fqdn, reason: Release },
    /// The name is left exactly as it is until an operator acts (outside the configuration,
    /// or its lock item cannot be read).
    Frozen { name: Fqdn, reason: FrozenReason },
    /// Not settled this time; the input is retried.
    Failed { name: Fqdn, reason: String },
    /// Every slot of a `{slot}` template (`template`, as normalised) is held by another
    /// claimant: nothing is claimed for it until one is freed.
    NoSlot { template: String },
}

impl Outcome {
    pub fn name(&self) -> Option<&Fqdn> {
        match self {
            Outcome::Invalid { .. } | Outcome::NoSlot { .. } => None,
            Outcome::Published { name, .. }
            | Outcome::Conflict { name, .. }
            | Outcome::Skipped { name, .. }
            | Outcome::Released { name, .. }
            | Outcome::Frozen { name, .. }
            | Outcome::Failed { name, .. } => Some(name),
        }
    }
}

/// Reason of a conflict with a record ec2-dns did not write, naming what is there: a type
/// at the name (`A`, `CNAME`), or a type at another place (`TXT at _ec2-dns.web…`).
pub fn foreign(what: &str) -> String {
    if let Some(protected) = what.strip_prefix(crate::decide::protection::PREFIX) {
        return match protected.split_once(" at ") {
            Some((rtype, place)) => format!(
                "has a protected {rtype} record at {place} (Route53 record set protection): ec2-dns changes nothing of the name in that zone"
            ),
            None => format!(
                "has a protected {protected} record set (Route53 record set protection): ec2-dns leaves it as it is"
            ),
        };
    }
    match what.split_once(" at ") {
        Some((rtype, place)) => format!(
            "has {} record at {place} that ec2-dns did not write",
            article(rtype)
        ),
        None => format!("has {} record ec2-dns did not write", article(what)),
    }
}

fn article(what: &str) -> String {
    let vowel = what
        .chars()
        .next()
        .is_some_and(|c| "AEIOUaeiou".contains(c));
    // "an A", "an AAAA", "a CNAME", "an MX" (letters read by name).
    let spelled_vowel = vowel || what.starts_with(['M', 'N', 'S', 'F', 'H', 'L', 'R', 'X']);
    format!("{} {what}", if spelled_vowel { "an" } else { "a" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_record_is_named_with_its_article() {
        assert_eq!(foreign("A"), "has an A record ec2-dns did not write");
        assert_eq!(foreign("CNAME"), "has a CNAME record ec2-dns did not write");
        assert_eq!(foreign("MX"), "has an MX record ec2-dns did not write");
        assert_eq!(foreign("TXT"), "has a TXT record ec2-dns did not write");
        assert_eq!(
            foreign("protected A"),
            "has a protected A record set (Route53 record set protection): ec2-dns leaves it as it is"
        );
        assert_eq!(
            foreign("TXT at _ec2-dns.web.example.com"),
            "has a TXT record at _ec2-dns.web.example.com that ec2-dns did not write"
        );
    }
}
