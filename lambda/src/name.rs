//! Validated DNS names.
//!
//! Only valid names in allowed places: only normalised (lowercase, no trailing dot) RFC 1035 host
//! names get anywhere near Route53. [`Fqdn::parse`] is the only way to make an [`Fqdn`].

use std::fmt;
use std::sync::Arc;

/// Longest name we accept, in characters, without the trailing dot.
pub const MAX_NAME_LEN: usize = 253;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 63;
/// Most names one tag may carry; a longer list is refused as a whole.
pub const MAX_NAMES_PER_TAG: usize = 10;
/// Most names one host credential may hold (and one dyndns2 request may carry): `host add`
/// refuses more, and the decisions refuse a credential holding more as a whole, as they
/// refuse a tag over its own limit. A host's names never pass through a tag.
pub const MAX_HOST_NAMES: usize = 20;
/// The first label of every ownership marker name: `_ec2-dns.<name>`. A name tag can never
/// claim a marker name (`_` is not allowed in a name).
pub const MARKER_LABEL: &str = "_ec2-dns";
/// Longest name ec2-dns manages: its marker name must fit in 253 characters too.
pub const MAX_MANAGED_LEN: usize = MAX_NAME_LEN - MARKER_LABEL.len() - 1;

/// A fully qualified domain name: lowercase ASCII letters, digits and hyphens in labels of
/// 1–63 characters that neither start nor end with a hyphen, at most 253 characters, no
/// trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Fqdn(Arc<str>);

/// Why a name was refused. The `Display` text is what users see in status tags and reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name is {0} characters long, the limit is 253")]
    TooLong(usize),
    #[error("empty label")]
    EmptyLabel,
    #[error("label of {0} characters, the limit is 63")]
    LabelTooLong(usize),
    #[error("wildcards are not allowed")]
    Wildcard,
    #[error("character {0:?} is not allowed (letters, digits, hyphens and dots only)")]
    BadChar(char),
    #[error("a label starts or ends with a hyphen")]
    EdgeHyphen,
    #[error("a single-label name is not allowed")]
    SingleLabel,
}

impl Fqdn {
    /// Parses and normalises `raw`: surrounding whitespace and one trailing dot are dropped,
    /// letters are lowercased; everything else must already be valid.
    pub fn parse(raw: &str) -> Result<Fqdn, NameError> {
        let trimmed = raw.trim();
        let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
            return Err(NameError::BadChar(c));
        }
        let name = name.to_ascii_lowercase();
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong(name.len()));
        }
        for label in name.split('.') {
            check_label(label)?;
        }
        if !name.contains('.') {
            return Err(NameError::SingleLabel);
        }
        Ok(Fqdn(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `self` is `domain` itself or lies below it (label-wise, so
    /// `xdyn.example.com` is not below `dyn.example.com`).
    pub fn is_at_or_below(&self, domain: &Fqdn) -> bool {
        self == domain || self.is_strictly_below(domain)
    }

    /// True when `self` lies below `domain` and is not `domain` itself.
    pub fn is_strictly_below(&self, domain: &Fqdn) -> bool {
        self.0.len() > domain.0.len()
            && self.0.ends_with(&*domain.0)
            && self.0.as_bytes()[self.0.len() - domain.0.len() - 1] == b'.'
    }

    /// Where the ownership marker of this name lives: `_ec2-dns.<name>`.
    pub fn marker_name(&self) -> String {
        format!("{MARKER_LABEL}.{}", self.0)
    }

    /// The name whose marker `dns_name` is (`_ec2-dns.web.example.com` -> `web.example.com`).
    pub fn of_marker(dns_name: &str) -> Option<Fqdn> {
        let rest = dns_name.strip_prefix(MARKER_LABEL)?.strip_prefix('.')?;
        Fqdn::parse(rest).ok()
    }

    /// Number of labels, used to pick the longest matching zone.
    pub fn label_count(&self) -> usize {
        self.0.split('.').count()
    }
}

fn check_label(label: &str) -> Result<(), NameError> {
    if label.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong(label.len()));
    }
    if label.contains('*') {
        return Err(NameError::Wildcard);
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(NameError::BadChar(c));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(NameError::EdgeHyphen);
    }
    Ok(())
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The prefix of a tag entry that asks for a shared name (`shared:api.example.com`): one
/// record set holding every running member's addresses ([`crate::decide::shared`]).
pub const SHARED_PREFIX: &str = "shared:";

/// One entry of a name tag: the text as written and what it parsed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagEntry {
    pub raw: String,
    pub parsed: Result<Fqdn, NameError>,
    /// Written with [`SHARED_PREFIX`] (any case).
    pub shared: bool,
}

/// `raw` without [`SHARED_PREFIX`], and whether it had it.
fn strip_shared(raw: &str) -> (bool, &str) {
    match raw.get(..SHARED_PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(SHARED_PREFIX) => {
            (true, raw[SHARED_PREFIX.len()..].trim())
        }
        _ => (false, raw),
    }
}

/// Why a whole tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("more than {MAX_NAMES_PER_TAG} names in one tag")]
    TooManyNames,
}

/// Splits a name tag (`web.example.com` or `a.example.com, shared:b.example.com`) into
/// entries. Empty entries are ignored and duplicates (after normalisation) collapse into
/// the first, whatever their prefix.
pub fn parse_tag(value: &str) -> Result<Vec<TagEntry>, TagError> {
    let raws: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if raws.len() > MAX_NAMES_PER_TAG {
        return Err(TagError::TooManyNames);
    }
    let mut entries: Vec<TagEntry> = Vec::with_capacity(raws.len());
    for raw in raws {
        let (shared, body) = strip_shared(raw);
        let parsed = Fqdn::parse(body);
        let duplicate =
            matches!(&parsed, Ok(n) if entries.iter().any(|e| e.parsed.as_ref() == Ok(n)));
        if !duplicate {
            entries.push(TagEntry {
                raw: raw.to_string(),
                parsed,
                shared,
            });
        }
    }
    Ok(entries)
}

/// User text made safe for a tag and a log line: control characters become `?`, and it is
/// cut short.
pub fn printable(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect();
    if raw.chars().count() > 80 {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_to_lowercase_without_trailing_dot() {
        assert_eq!(
            Fqdn::parse(" Web.Dyn.Example.COM. ").unwrap().as_str(),
            "web.dyn.example.com"
        );
    }

    #[test]
    fn invalid_names_are_refused_with_their_reason() {
        let long_label = "a".repeat(64);
        let long_name = format!("{}.example.com", ["abcdefghi"; 25].join("."));
        let cases: &[(&str, NameError)] = &[
            ("", NameError::Empty),
            (".", NameError::Empty),
            ("a..b.example.com", NameError::EmptyLabel),
            (
                &format!("{long_label}.example.com"),
                NameError::LabelTooLong(64),
            ),
            (&long_name, NameError::TooLong(long_name.len())),
            ("*.example.com", NameError::Wildcard),
            ("a*b.example.com", NameError::Wildcard),
            ("we_b.example.com", NameError::BadChar('_')),
            ("wéb.example.com", NameError::BadChar('é')),
            ("web\n.example.com", NameError::BadChar('\n')),
            ("-web.example.com", NameError::EdgeHyphen),
            ("web-.example.com", NameError::EdgeHyphen),
            ("localhost", NameError::SingleLabel),
            ("web.example.com..", NameError::EmptyLabel),
        ];
        for (raw, want) in cases {
            assert_eq!(Fqdn::parse(raw).as_ref(), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn below_compares_whole_labels() {
        let d = Fqdn::parse("dyn.example.com").unwrap();
        assert!(Fqdn::parse("a.dyn.example.com")
            .unwrap()
            .is_strictly_below(&d));
        assert!(!Fqdn::parse("xdyn.example.com")
            .unwrap()
            .is_strictly_below(&d));
        assert!(!d.is_strictly_below(&d));
        assert!(d.is_at_or_below(&d));
        assert!(!Fqdn::parse("dyn.example.com.evil.com")
            .unwrap()
            .is_at_or_below(&d));
    }

    #[test]
    fn a_tag_splits_on_commas_and_collapses_duplicates() {
        let entries = parse_tag("a.example.com, B.example.com,,a.example.com.").unwrap();
        let names: Vec<_> = entries
            .iter()
            .map(|e| e.parsed.clone().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a.example.com", "b.example.com"]);
        assert!(parse_tag("  ").unwrap().is_empty());
    }

    #[test]
    fn a_tag_with_too_many_names_is_refused_whole() {
        let many: Vec<String> = (0..11).map(|i| format!("n{i}.example.com")).collect();
        assert_eq!(parse_tag(&many.join(",")), Err(TagError::TooManyNames));
    }
}
