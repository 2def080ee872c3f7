//! Claims of the threat model (docs/security.md), each with its own test.

use super::HOSTILE_TAGS;
use crate::lock::Lock;
use crate::model::{InstanceState, RecordType};
use crate::testing::{instance, name, owner, World};

const WEB: &str = "web.dyn.example.com";

#[tokio::test]
async fn every_hostile_name_tag_is_refused_with_a_reason_and_changes_nothing() {
    let long_label = format!("{}.dyn.example.com", "a".repeat(64));
    let long_name = format!(
        "{}.dyn.example.com",
        ["abcdefghijklmnopqrstuvwxyz0123456789"; 7].join(".")
    );
    let many = (0..11)
        .map(|i| format!("n{i}.dyn.example.com"))
        .collect::<Vec<_>>()
        .join(",");
    let huge = "x".repeat(10_000);
    let mut corpus: Vec<String> = HOSTILE_TAGS.iter().map(|s| s.to_string()).collect();
    corpus.extend([long_label, long_name, many, huge]);
    assert!(corpus.len() >= 40);
    for tag in &corpus {
        let w = World::new();
        w.launch(1, tag);
        let r = w.event(&[1]).await;
        assert!(w.route53().snapshot().is_empty(), "{tag:?} wrote a record");
        assert!(w.locks().snapshot().is_empty(), "{tag:?} took a lock");
        assert!(
            !r.skipped.is_empty() && r.skipped.iter().all(|s| !s.reason.is_empty()),
            "{tag:?}: {:?}",
            r.skipped
        );
        let status = w.status(1);
        assert!(status.starts_with("invalid: "), "{tag:?}: {status:?}");
        assert!(
            status.chars().count() <= 256 && !status.chars().any(char::is_control),
            "{tag:?}: {status:?}"
        );
    }
}

#[tokio::test]
async fn a_tag_mixing_valid_and_hostile_names_publishes_only_the_valid_one() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com, *.dyn.example.com, evil.com");
    let r = w.event(&[1]).await;
    assert_eq!(w.owner(WEB), Some(owner(1)));
    assert_eq!(r.skipped.len(), 2);
    assert_eq!(
        w.status(1),
        "invalid: *.dyn.example.com (wildcards are not allowed); invalid: evil.com (not below an allowed domain); ok: web.dyn.example.com"
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn an_earlier_launched_claimant_does_not_displace_a_running_owner() {
    let w = World::new();
    w.launch(5, WEB);
    w.event(&[5]).await;
    // Instance 1 was launched before the owner (launch time grows with the number).
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.all().await;
    assert_eq!(w.owner(WEB), Some(owner(5)));
    assert!(w
        .status(1)
        .starts_with("conflict: web.dyn.example.com is owned by"));
}

#[tokio::test]
async fn a_forged_lock_deletes_nothing_it_cannot_prove_is_ec2_dns_s() {
    for legacy in [false, true] {
        let mut w = World::new();
        let public = w.public.clone();
        w.put_foreign(&public, WEB, "A", &["192.0.2.10"]);
        // Someone with write access to the table forges a lock for a gone instance, naming
        // other values than the record holds (and no marker is there).
        w.locks().put(Lock {
            legacy: legacy.then(Vec::new),
            ..crate::testing::lock(WEB, 9, "192.0.2.11")
        });
        w.all().await;
        assert_eq!(w.a(WEB), Some(vec!["192.0.2.10".into()]), "legacy={legacy}");
        assert_eq!(w.owner(WEB), None, "the forged lock is released");
        w.assert_invariants();
    }
}

#[tokio::test]
async fn a_zone_above_the_allowed_domains_is_never_used() {
    let w = World::new();
    w.route53().zones.lock().unwrap().clear();
    let parent = w.route53().add_zone("ZPARENT", "example.com", false);
    w.launch(1, WEB);
    let r = w.all().await;
    assert!(w.route53().snapshot().is_empty());
    assert_eq!(w.values(&parent, WEB, "A"), None);
    assert_eq!(r.skipped[0].reason, "no hosted zone for this name");
}

#[tokio::test]
async fn refused_tag_text_is_cut_to_80_characters_in_the_status() {
    let w = World::new();
    let raw = format!("{}_.dyn.example.com", "a".repeat(100));
    w.launch(1, &raw);
    w.event(&[1]).await;
    let status = w.status(1);
    assert!(
        status.starts_with(&format!("invalid: {}...", "a".repeat(80))),
        "{status}"
    );
    assert!(!status.contains(&"a".repeat(81)));
}

#[tokio::test]
async fn a_hand_written_status_tag_decides_nothing_and_is_replaced() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let mut forger = instance(2, Some(WEB));
    forger.status_tag = Some("ok".into());
    w.ec2().put(forger);
    w.event(&[2]).await;
    assert_eq!(w.owner(WEB), Some(owner(1)));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(
        w.status(2),
        "conflict: web.dyn.example.com is owned by i-00000001"
    );
}

#[tokio::test]
async fn a_forged_marker_of_an_owner_that_does_not_claim_the_name_takes_nothing_over() {
    // Someone with Route53 write access writes a marker naming another owner: it can only
    // make ec2-dns treat the listed sets as its own, and delete them when nobody claims
    // the name. It never makes anyone the holder.
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let forged = crate::marker::Marker {
        owner: crate::marker::Marked::Owner(owner(7)),
        gen: 99,
        types: [RecordType::A].into(),
        deployment: Some(crate::testing::deployment()),
    };
    w.route53()
        .remove(&w.public, "_ec2-dns.web.dyn.example.com", "TXT");
    w.route53().put(
        &w.public,
        "_ec2-dns.web.dyn.example.com",
        "TXT",
        300,
        &[&forged.value()],
    );
    w.advance(crate::engine::CHANGE_WINDOW + 60);
    let r = w.all().await;
    assert_eq!(w.owner(WEB), Some(owner(1)), "{r:?}");
    assert_eq!(w.marker(&w.public, WEB).unwrap().owner, owner(1), "{r:?}");
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert!(
        w.locks().snapshot()[&name(WEB)].gen > 99,
        "generations stay above any seen"
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_forged_marker_at_the_generation_cap_cannot_pin_the_generation() {
    // A generation pinned at the cap would make every later decision write the same
    // marker: batches would stop being compare-and-swaps. A marker raises the next
    // generation by at most MAX_GEN_JUMP over the lock's.
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let public = w.public.clone();
    let forged = crate::marker::Marker {
        owner: crate::marker::Marked::Owner(owner(1)),
        gen: crate::model::MAX_GEN,
        types: [RecordType::A].into(),
        deployment: Some(crate::testing::deployment()),
    };
    w.route53()
        .remove(&public, "_ec2-dns.web.dyn.example.com", "TXT");
    w.route53().put(
        &public,
        "_ec2-dns.web.dyn.example.com",
        "TXT",
        300,
        &[&forged.value()],
    );
    w.advance(crate::engine::CHANGE_WINDOW + 60);
    w.all().await;
    let first = w.marker(&public, WEB).expect("marked").gen;
    assert!(first < crate::model::MAX_GEN, "{first}");
    assert!(first > 1, "generations stay above the lock's: {first}");
    for (octet, expected) in [(20u8, first + 1), (21, first + 2)] {
        w.restart_with_ip(1, octet);
        w.event(&[1]).await;
        assert_eq!(w.marker(&public, WEB).expect("marked").gen, expected);
        assert_eq!(w.a(WEB), Some(vec![format!("198.51.100.{octet}")]));
    }
    w.assert_converged().await;
}

#[tokio::test]
async fn a_marker_of_another_deployment_is_never_touched() {
    // Another deployment (of this very account and region) manages the same zone: its
    // marked record is someone else's here, never an orphan to remove.
    let mut w = World::new();
    let public = w.public.clone();
    let theirs = crate::marker::Marker {
        owner: crate::marker::Marked::Owner(
            crate::model::Owner::parse("123456789012/us-east-1/i-0123456789abcdef0").unwrap(),
        ),
        gen: 4,
        types: [RecordType::A].into(),
        deployment: Some(crate::testing::other_deployment()),
    };
    w.put_foreign(
        &public,
        "_ec2-dns.web.dyn.example.com",
        "TXT",
        &[&theirs.value()],
    );
    w.put_foreign(&public, WEB, "A", &["192.0.2.40"]);
    w.launch(1, WEB);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert!(
        w.status(1)
            .contains("_ec2-dns.web.dyn.example.com of another deployment"),
        "{}",
        w.status(1)
    );
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    w.advance(crate::engine::CHANGE_WINDOW + 60);
    w.all().await;
    assert_eq!(w.a(WEB), Some(vec!["192.0.2.40".into()]));
    assert!(w
        .route53()
        .get(&public, "_ec2-dns.web.dyn.example.com", "TXT")
        .is_some());
    w.assert_converged().await;
}

#[tokio::test]
async fn a_lock_claiming_a_change_in_flight_for_hours_does_not_stall_the_name() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let mut lock = w.locks().snapshot()[&name(WEB)].clone();
    lock.until = w.rec.now() + 86_400;
    w.locks().put(lock);
    w.set_state(1, InstanceState::Stopped);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.owner(WEB), None);
    w.assert_converged().await;
}
