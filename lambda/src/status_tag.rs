//! The status tag (`<NAME_TAG>-status`) an owner gets: its outcomes as short sentences.
//!
//! The common answers are the same text for every instance (`ok`, `released (instance
//! stopped)`), so that one EC2 CreateTags call can tag many instances at once: EC2 throttles
//! tag writes hard, and a burst of a thousand claims must not need a thousand calls.

use crate::decide::outcome::{ConflictReason, Outcome};
use crate::model::Owner;

/// Most characters of an EC2 tag value.
pub const MAX_TAG_VALUE: usize = 256;

/// One outcome as a sentence, for the status tag of `reader`.
pub fn sentence(o: &Outcome, reader: &Owner) -> String {
    match o {
        Outcome::Published { name, .. } => format!("ok: {name}"),
        Outcome::Conflict {
            name,
            holder: Some(h),
            reason: ConflictReason::OwnedBy,
        } => format!("conflict: {name} is owned by {}", h.short_for(reader)),
        Outcome::Conflict {
            name,
            holder: Some(h),
            reason,
        } => format!("conflict: {name} {}", reason.text(Some(h), reader)),
        Outcome::Conflict {
            name,
            holder: None,
            reason,
        } => format!("conflict: {name} {}", reason.text(None, reader)),
        Outcome::Invalid { raw, reason } => format!("invalid: {} ({reason})", printable(raw)),
        Outcome::Skipped { name, reason } => format!("skipped: {name} ({reason})"),
        Outcome::Released { name, reason } => format!("released: {name} ({reason})"),
        Outcome::Frozen { name, reason } => format!("frozen: {name} ({reason})"),
        Outcome::Failed { name, reason } => format!("error: {name} ({reason})"),
        Outcome::NoSlot { template } => format!("skipped: {} ({})", printable(template), no_slot()),
    }
}

/// Why a `{slot}` template got no name.
pub fn no_slot() -> String {
    format!(
        "every slot from 1 to {} is held",
        crate::decide::slots::MAX_SLOT
    )
}

/// The status-tag value for an owner, or `None` when there is nothing to say (no names) or
/// an outcome is a transient failure (the tag keeps its last value until the retry).
///
/// Every name published: `ok`, or `ok: <slot names>` when some came from a `{slot}`
/// template (which number the instance got is worth saying). Every name released for one reason: `released (<reason>)`.
/// Anything else: one sentence per name, joined with `; `, cut to the tag limit.
pub fn status_value(reader: &Owner, outcomes: &[Outcome]) -> Option<String> {
    if outcomes.is_empty() || outcomes.iter().any(|o| matches!(o, Outcome::Failed { .. })) {
        return None;
    }
    if outcomes
        .iter()
        .all(|o| matches!(o, Outcome::Published { .. }))
    {
        let slots: Vec<String> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Published {
                    name, slot: true, ..
                } => Some(name.to_string()),
                _ => None,
            })
            .collect();
        if slots.is_empty() {
            return Some("ok".into());
        }
        return Some(cut(format!("ok: {}", slots.join(", "))));
    }
    let reasons: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Released { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
        .collect();
    if reasons.len() == outcomes.len() && reasons.windows(2).all(|w| w[0] == w[1]) {
        return Some(cut(format!("released ({})", reasons[0])));
    }
    Some(sentences(reader, outcomes))
}

/// One sentence per outcome, joined with `; `, cut to the tag limit; a transient failure
/// said as it is (`error: <name> (<reason>)`): the value of an owner whose tag this run
/// already wrote, when a failure makes it untrue.
pub fn sentences(reader: &Owner, outcomes: &[Outcome]) -> String {
    let value = outcomes
        .iter()
        .map(|o| sentence(o, reader))
        .collect::<Vec<_>>()
        .join("; ");
    cut(value)
}

fn cut(value: String) -> String {
    if value.chars().count() > MAX_TAG_VALUE {
        value.chars().take(MAX_TAG_VALUE - 3).collect::<String>() + "..."
    } else {
        value
    }
}

pub use crate::name::printable;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{name, owner};

    #[test]
    fn a_status_sentence_is_cut_to_the_tag_limit() {
        let outcomes: Vec<Outcome> = (0..10)
            .map(|i| Outcome::Conflict {
                name: name(&format!("host-with-a-long-name-{i}.dyn.example.com")),
                holder: Some(owner(1)),
                reason: crate::decide::outcome::ConflictReason::OwnedBy,
            })
            .collect();
        let v = status_value(&owner(2), &outcomes).unwrap();
        assert_eq!(v.chars().count(), MAX_TAG_VALUE);
        assert!(v.ends_with("..."));
    }

    #[test]
    fn control_characters_never_reach_a_status_tag() {
        let o = Outcome::Invalid {
            raw: "a\nb\u{7}.example.com".into(),
            reason: "x".into(),
        };
        assert_eq!(sentence(&o, &owner(1)), "invalid: a?b?.example.com (x)");
    }

    #[test]
    fn the_common_answers_are_the_same_text_for_every_instance() {
        let published = |n: &str| Outcome::Published {
            name: name(n),
            values: vec!["203.0.113.1".into()],
            slot: false,
        };
        let a = status_value(&owner(1), &[published("a.dyn.example.com")]);
        let b = status_value(
            &owner(2),
            &[
                published("b.dyn.example.com"),
                published("c.dyn.example.com"),
            ],
        );
        assert_eq!((a.as_deref(), b.as_deref()), (Some("ok"), Some("ok")));
        // A slot name is worth saying: which number the instance got.
        let slot = Outcome::Published {
            name: name("web-3.dyn.example.com"),
            values: vec!["203.0.113.1".into()],
            slot: true,
        };
        assert_eq!(
            status_value(&owner(1), &[published("a.dyn.example.com"), slot]).as_deref(),
            Some("ok: web-3.dyn.example.com")
        );
        let none = Outcome::NoSlot {
            template: "web-{slot}.dyn.example.com".into(),
        };
        assert_eq!(
            status_value(&owner(1), &[none]).as_deref(),
            Some("skipped: web-{slot}.dyn.example.com (every slot from 1 to 999 is held)")
        );
        let released = |n: &str| Outcome::Released {
            name: name(n),
            reason: crate::decide::outcome::Release::new(
                crate::decide::outcome::ReleaseReason::Instance(
                    crate::model::InstanceState::Stopped,
                ),
            ),
        };
        assert_eq!(
            status_value(&owner(1), &[released("a.dyn.example.com")]).as_deref(),
            Some("released (instance stopped)")
        );
        let mixed = status_value(
            &owner(1),
            &[
                published("a.dyn.example.com"),
                Outcome::Conflict {
                    name: name("b.dyn.example.com"),
                    holder: Some(owner(3)),
                    reason: crate::decide::outcome::ConflictReason::OwnedBy,
                },
            ],
        );
        assert_eq!(
            mixed.as_deref(),
            Some("ok: a.dyn.example.com; conflict: b.dyn.example.com is owned by i-00000003")
        );
        let failed = Outcome::Failed {
            name: name("a.dyn.example.com"),
            reason: "x".into(),
        };
        assert_eq!(status_value(&owner(1), &[failed]), None);
    }
}
