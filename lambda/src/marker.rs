//! What of Route53 is ec2-dns's, in one place: the ownership marker's name, value,
//! generation, owner and deployment, and [`is_ours`], which every reader of markers
//! (decisions, landing checks, recovery, `rebuild`) asks.
//!
//! A marker is one TXT string at `_ec2-dns.<name>` in each zone where a holder has address
//! sets, written in the same batch as the sets it lists:
//!
//! ```text
//! "<owner> <generation> <types> <deployment>"
//! "123456789012/us-east-1/i-0abc… 7 A,AAAA prod"
//! ```
//!
//! With `MARKER_STYLE=opaque` the owner is written as `~` and 16 hex digits of a hash of
//! the deployment id and the owner (`"~5f0c…e1 7 A,AAAA prod"`): public DNS then shows no
//! account, region or instance id, and a reader that knows the owner (the lock, `rebuild`
//! looking through the managed instances and hosts) can still tell it.
//!
//! Markers written before 0.4.0 have no deployment field. Such a marker is this
//! deployment's only when its lock table holds the name at the marker's generation or a
//! later one (this table wrote it); otherwise it is someone else's.

use std::collections::BTreeSet;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::model::{Home, Owner, RecordSet, RecordType, ZoneId, MAX_GEN};

pub use crate::name::MARKER_LABEL;

/// TTL of every ownership marker (fixed, so that its exact DELETE never depends on the
/// configuration).
pub const MARKER_TTL: i64 = 300;

/// Longest deployment id: markers stay short (Route53 allows 32,000 characters of values
/// per batch, and every claimed name carries one marker per zone).
pub const MAX_DEPLOYMENT_LEN: usize = 24;

/// Which deployment wrote a marker: `DEPLOYMENT_ID`, or one derived from the account, the
/// region and the lock table, so that two deployments never share one by accident.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeploymentId(String);

impl DeploymentId {
    /// 1–24 of `a-z 0-9 -`, not starting with `-`.
    pub fn parse(s: &str) -> Result<DeploymentId, String> {
        let ok = !s.is_empty()
            && s.len() <= MAX_DEPLOYMENT_LEN
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        match ok {
            true => Ok(DeploymentId(s.to_string())),
            false => Err(format!(
                "{s:?} is not a deployment id (1-{MAX_DEPLOYMENT_LEN} of a-z 0-9 -, not starting with -)"
            )),
        }
    }

    /// The id of a deployment that set none: `d` and 8 hex digits of a hash of its account,
    /// region and lock table. A lock table's name is unique in its account and region, so
    /// two deployments differ; the same deployment redeployed keeps its id.
    pub fn derived(home: &Home, table: &str) -> DeploymentId {
        let digest = Sha256::digest(format!("{home}/{table}").as_bytes());
        let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        DeploymentId(format!("d{hex}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a deployment writes the owner in its markers (`MARKER_STYLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MarkerStyle {
    /// The qualified owner, `account/region/instance-id` (or `…/host/<name>`).
    #[default]
    Plain,
    /// `~` and a hash of the deployment id and the owner: no account or instance id in DNS.
    Opaque,
}

impl MarkerStyle {
    pub fn parse(s: &str) -> Result<MarkerStyle, String> {
        match s {
            "plain" => Ok(MarkerStyle::Plain),
            "opaque" => Ok(MarkerStyle::Opaque),
            other => Err(format!("{other:?} is not a marker style (plain or opaque)")),
        }
    }
}

/// The owner as a marker names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Marked {
    Owner(Owner),
    /// 16 hex digits of SHA-256 of `<deployment>/<owner>` ([`Marked::hidden`]).
    Hidden(String),
}

impl Marked {
    /// The opaque form of `owner` in the markers of deployment `by`.
    pub fn hidden(owner: &Owner, by: &DeploymentId) -> Marked {
        let digest = Sha256::digest(format!("{by}/{owner}").as_bytes());
        Marked::Hidden(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
    }

    /// The owner, when the marker shows it.
    pub fn owner(&self) -> Option<&Owner> {
        match self {
            Marked::Owner(o) => Some(o),
            Marked::Hidden(_) => None,
        }
    }

    fn parse(s: &str) -> Option<Marked> {
        match s.strip_prefix('~') {
            Some(h)
                if h.len() == 16 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Some(Marked::Hidden(h.to_string()))
            }
            Some(_) => None,
            None => Owner::parse(s).ok().map(Marked::Owner),
        }
    }
}

impl fmt::Display for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Marked::Owner(o) => write!(f, "{o}"),
            Marked::Hidden(h) => write!(f, "~{h}"),
        }
    }
}

impl serde::Serialize for Marked {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl PartialEq<Owner> for Marked {
    fn eq(&self, other: &Owner) -> bool {
        self.owner() == Some(other)
    }
}

/// The ownership marker of a name in one zone: which owner holds the name's address sets
/// there, under which generation, which of the address types are its, and which deployment
/// wrote it. A record set is provably ec2-dns's exactly when a marker that
/// [`is_ours`] lists its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub owner: Marked,
    pub gen: u64,
    pub types: BTreeSet<RecordType>,
    /// `None`: written before deployment ids (0.3 and earlier).
    pub deployment: Option<DeploymentId>,
}

impl Marker {
    /// Whether this marker names `owner`, openly or hidden.
    pub fn names(&self, owner: &Owner) -> bool {
        match (&self.owner, &self.deployment) {
            (Marked::Owner(o), _) => o == owner,
            (hidden @ Marked::Hidden(_), Some(by)) => *hidden == Marked::hidden(owner, by),
            (Marked::Hidden(_), None) => false,
        }
    }

    pub fn value(&self) -> String {
        let types: Vec<&str> = self.types.iter().map(|t| t.as_str()).collect();
        match &self.deployment {
            Some(d) => format!("\"{} {} {} {d}\"", self.owner, self.gen, types.join(",")),
            None => format!("\"{} {} {}\"", self.owner, self.gen, types.join(",")),
        }
    }

    /// The marker's record set in `zone`.
    pub fn set(&self, zone: &ZoneId) -> RecordSet {
        RecordSet::new(
            zone.clone(),
            RecordType::Txt,
            MARKER_TTL,
            vec![self.value()],
        )
    }

    /// Reads a marker from the values of a TXT set; `None` when they are not a marker.
    pub fn parse(values: &[String]) -> Option<Marker> {
        let [value] = values else { return None };
        let inner = value.strip_prefix('"')?.strip_suffix('"')?;
        let mut parts = inner.split(' ');
        let owner = Marked::parse(parts.next()?)?;
        let gen = parts
            .next()?
            .parse::<u64>()
            .ok()
            .filter(|g| *g <= MAX_GEN)?;
        let mut types = BTreeSet::new();
        for t in parts.next()?.split(',') {
            match RecordType::parse(t)? {
                RecordType::Txt => return None,
                t => types.insert(t),
            };
        }
        let deployment = match parts.next() {
            Some(d) => Some(DeploymentId::parse(d).ok()?),
            None => None,
        };
        let hidden_without_deployment = matches!(owner, Marked::Hidden(_)) && deployment.is_none();
        if parts.next().is_some() || types.is_empty() || hidden_without_deployment {
            return None;
        }
        let marker = Marker {
            owner,
            gen,
            types,
            deployment,
        };
        (marker.value() == *value).then_some(marker)
    }
}

/// Whether `marker` is this deployment's (`us`): it names `us`; or it names no deployment
/// (written before 0.4.0) and this deployment's lock of the name is at its generation or
/// later (`lock_gen`: the highest generation of the lock states known for the name).
/// Everything else, another deployment's markers above all, is never touched.
pub fn is_ours(marker: &Marker, us: &DeploymentId, lock_gen: Option<u64>) -> bool {
    match &marker.deployment {
        Some(d) => d == us,
        None => lock_gen.is_some_and(|g| g >= marker.gen),
    }
}

/// The marker `owner` writes in `zone` under `gen` for deployment `by` in `style`, for the
/// address sets of `records` there; `None` when it has none in that zone.
pub fn marker_for(
    owner: &Owner,
    gen: u64,
    by: Option<&DeploymentId>,
    style: MarkerStyle,
    zone: &ZoneId,
    records: &[RecordSet],
) -> Option<RecordSet> {
    let types: BTreeSet<RecordType> = records
        .iter()
        .filter(|s| &s.zone_id == zone && s.rtype != RecordType::Txt)
        .map(|s| s.rtype)
        .collect();
    (!types.is_empty()).then(|| {
        let marked = match (style, by) {
            (MarkerStyle::Opaque, Some(by)) => Marked::hidden(owner, by),
            _ => Marked::Owner(owner.clone()),
        };
        Marker {
            owner: marked,
            gen,
            types,
            deployment: by.cloned(),
        }
        .set(zone)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::parse("123456789012/us-east-1/i-0123456789abcdef0").unwrap()
    }

    #[test]
    fn a_marker_reads_back_exactly_what_it_wrote_and_nothing_else() {
        let prod = DeploymentId::parse("prod").unwrap();
        for deployment in [None, Some(prod)] {
            let m = Marker {
                owner: Marked::Owner(owner()),
                gen: 7,
                types: [RecordType::Aaaa, RecordType::A].into(),
                deployment,
            };
            let v = m.value();
            assert_eq!(Marker::parse(std::slice::from_ref(&v)), Some(m));
        }
        assert_eq!(
            Marker {
                owner: Marked::Owner(owner()),
                gen: 7,
                types: [RecordType::A, RecordType::Aaaa].into(),
                deployment: Some(DeploymentId::parse("prod").unwrap()),
            }
            .value(),
            "\"123456789012/us-east-1/i-0123456789abcdef0 7 A,AAAA prod\""
        );
        for bad in [
            "\"123456789012/us-east-1/i-0123456789abcdef0 7\"",
            "\"123456789012/us-east-1/i-0123456789abcdef0 7 A,TXT\"",
            "\"123456789012/us-east-1/i-0123456789abcdef0 x A\"",
            "\"123456789012/us-east-1/i-0123456789abcdef0 07 A\"",
            "\"123456789012/us-east-1/i-0123456789abcdef0 7 AAAA,A\"",
            "\"123456789012/us-east-1/i-0123456789abcdef0 7 A Prod\"",
            "\"123456789012/us-east-1/i-0123456789abcdef0 7 A prod x\"",
            "\"123456789012/us-east-1/i-0123456789abcdef0 7 A \"",
            "123456789012/us-east-1/i-0123456789abcdef0 7 A",
            "\"v=spf1 -all\"",
        ] {
            assert_eq!(Marker::parse(&[bad.to_string()]), None, "{bad}");
        }
        let v = "\"123456789012/us-east-1/i-0123456789abcdef0 7 A\"".to_string();
        assert_eq!(Marker::parse(&[v.clone(), v]), None);
        let absurd = format!(
            "\"123456789012/us-east-1/i-0123456789abcdef0 {} A\"",
            u64::MAX
        );
        assert_eq!(
            Marker::parse(&[absurd]),
            None,
            "generations stay far from overflow"
        );
    }

    #[test]
    fn deployment_ids_are_checked_and_derived_ones_differ_per_table_and_place() {
        for good in ["prod", "staging-2", "0", "abcdefghijklmnopqrstuvwx"] {
            assert!(DeploymentId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-x",
            "Prod",
            "a b",
            "a_b",
            "abcdefghijklmnopqrstuvwxy",
            "a.b",
        ] {
            assert!(DeploymentId::parse(bad).is_err(), "{bad}");
        }
        let home = Home::new("123456789012", "us-east-1").unwrap();
        let a = DeploymentId::derived(&home, "ec2-dns-locks");
        assert_eq!(a, DeploymentId::derived(&home, "ec2-dns-locks"), "stable");
        assert_eq!(DeploymentId::parse(a.as_str()), Ok(a.clone()), "valid");
        assert_ne!(a, DeploymentId::derived(&home, "ec2-dns-staging"));
        let west = Home::new("123456789012", "eu-west-1").unwrap();
        assert_ne!(a, DeploymentId::derived(&west, "ec2-dns-locks"));
    }

    #[test]
    fn ours_is_our_deployment_or_an_old_marker_our_table_wrote() {
        let us = DeploymentId::parse("prod").unwrap();
        let them = DeploymentId::parse("staging").unwrap();
        let marker = |gen, deployment| Marker {
            owner: Marked::Owner(owner()),
            gen,
            types: [RecordType::A].into(),
            deployment,
        };
        assert!(is_ours(&marker(3, Some(us.clone())), &us, None));
        assert!(!is_ours(&marker(3, Some(them.clone())), &us, Some(9)));
        // An old marker: ours only when our table holds the name at its generation or later.
        assert!(is_ours(&marker(3, None), &us, Some(3)));
        assert!(is_ours(&marker(3, None), &us, Some(4)));
        assert!(!is_ours(&marker(3, None), &us, Some(2)));
        assert!(!is_ours(&marker(3, None), &us, None));
    }

    #[test]
    fn an_opaque_marker_shows_no_account_or_instance_and_still_names_its_owner() {
        let prod = DeploymentId::parse("prod").unwrap();
        let zone = ZoneId("Z1".into());
        let a =
            crate::model::RecordSet::new(zone.clone(), RecordType::A, 60, vec!["192.0.2.1".into()]);
        let set = marker_for(&owner(), 7, Some(&prod), MarkerStyle::Opaque, &zone, &[a]).unwrap();
        let value = &set.values[0];
        assert!(
            !value.contains("123456789012") && !value.contains("i-0123"),
            "{value}"
        );
        assert!(
            value.starts_with("\"~") && value.ends_with(" 7 A prod\""),
            "{value}"
        );
        let m = Marker::parse(&set.values).unwrap();
        assert!(m.names(&owner()));
        let other = Owner::parse("123456789012/us-east-1/i-0123456789abcdef1").unwrap();
        assert!(!m.names(&other));
        // The same owner is hidden differently by another deployment.
        assert_ne!(
            Marked::hidden(&owner(), &prod),
            Marked::hidden(&owner(), &DeploymentId::parse("staging").unwrap())
        );
        for bad in [
            "\"~0123456789abcdef 7 A\"",
            "\"~0123456789ABCDEF 7 A prod\"",
            "\"~0123456789abcde 7 A prod\"",
        ] {
            assert_eq!(Marker::parse(&[bad.to_string()]), None, "{bad}");
        }
    }
}
