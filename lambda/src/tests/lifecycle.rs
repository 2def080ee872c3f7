//! A name's life: claimed when its instance runs, swapped when the address changes,
//! released when the instance stops, is terminated, vanishes or drops the name.

use super::writes;
use crate::decide::RowAction;
use crate::engine::Request;
use crate::model::{InstanceState, RecordType, Scope};
use crate::testing::{instance, name, owner, World};

const WEB: &str = "web.dyn.example.com";

#[tokio::test]
async fn a_running_instance_gets_public_and_private_records_each_with_its_marker() {
    let w = World::new();
    w.launch(1, "Web.Dyn.Example.com");
    let r = w.event(&[1]).await;
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.private_a(WEB), Some(vec!["10.0.0.1".into()]));
    assert_eq!(w.owner(WEB), Some(owner(1)));
    for zone in [&w.public, &w.private] {
        let m = w.marker(zone, WEB).expect("a marker beside the records");
        assert_eq!(m.owner.to_string(), "123456789012/us-east-1/i-00000001");
        assert_eq!((m.gen, m.types), (1, [RecordType::A].into()));
    }
    assert_eq!(w.status(1), "ok");
    assert_eq!(r.changes.len(), 2);
    w.assert_converged().await;
}

#[tokio::test]
async fn ipv6_addresses_get_an_aaaa_record_in_the_public_zone_only() {
    let w = World::new();
    let mut i = instance(1, Some(WEB));
    i.ipv6 = vec![
        "2001:db8::2".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
    ];
    w.ec2().put(i);
    w.event(&[1]).await;
    assert_eq!(
        w.values(&w.public, WEB, "AAAA"),
        Some(vec!["2001:db8::1".into(), "2001:db8::2".into()])
    );
    assert_eq!(w.values(&w.private, WEB, "AAAA"), None);
    assert_eq!(
        w.marker(&w.public, WEB).unwrap().types,
        [RecordType::A, RecordType::Aaaa].into()
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn stopping_the_owner_deletes_its_records_and_markers_and_frees_the_name() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.set_state(1, InstanceState::Stopped);
    let r = w.event(&[1]).await;
    assert_eq!((w.a(WEB), w.private_a(WEB)), (None, None));
    assert_eq!(w.marker(&w.public, WEB), None);
    assert_eq!(w.owner(WEB), None);
    let lock = &w.locks().snapshot()[&name(WEB)];
    assert_eq!(
        (lock.holder.as_ref(), lock.gen),
        (None, 2),
        "the free item keeps the generation, so generations never repeat"
    );
    assert!(w.locks().index()[&owner(1)].is_empty());
    assert_eq!(w.status(1), "released (instance stopped)");
    assert_eq!(
        r.changes.iter().map(|c| c.action).collect::<Vec<_>>(),
        [RowAction::Delete, RowAction::Delete]
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_name_released_and_claimed_again_gets_a_new_generation() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    w.restart_with_ip(1, 9);
    w.event(&[1]).await;
    assert_eq!(w.marker(&w.public, WEB).unwrap().gen, 3);
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.9".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_terminated_owner_releases_its_name_and_is_not_tagged() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let before = w.status(1);
    w.set_state(1, InstanceState::Terminated);
    w.event(&[1]).await;
    assert_eq!((w.a(WEB), w.owner(WEB)), (None, None));
    assert_eq!(w.status(1), before);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_vanished_owner_is_released_by_reconcile_all() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.ec2().instances.lock().unwrap().remove(&owner(1));
    w.all().await;
    assert_eq!((w.a(WEB), w.owner(WEB)), (None, None));
    assert!(w.route53().snapshot().is_empty());
    w.assert_converged().await;
}

#[tokio::test]
async fn a_restart_with_a_new_address_swaps_the_record_and_marks_both_zones_anew() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.restart_with_ip(1, 9);
    let r = w.event(&[1]).await;
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.9".into()]));
    let rows: Vec<(RowAction, &str, bool)> = r
        .changes
        .iter()
        .map(|c| (c.action, c.rtype, c.private))
        .collect();
    assert_eq!(
        rows,
        [
            (RowAction::Mark, "TXT", true),
            (RowAction::Update, "A", false)
        ]
    );
    assert_eq!(r.changes[1].old_values, ["203.0.113.1"]);
    // Every zone carries the new generation: a batch decided under the old one can no
    // longer land anywhere.
    assert_eq!(w.marker(&w.public, WEB).unwrap().gen, 2);
    assert_eq!(w.marker(&w.private, WEB).unwrap().gen, 2);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_rename_releases_the_old_name_and_claims_the_new_one() {
    let w = World::new();
    w.launch(1, "old.dyn.example.com");
    w.event(&[1]).await;
    w.set_tag(1, Some("new.dyn.example.com"));
    w.event(&[1]).await;
    assert_eq!(w.a("old.dyn.example.com"), None);
    assert_eq!(w.owner("old.dyn.example.com"), None);
    assert_eq!(w.a("new.dyn.example.com"), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.owner("new.dyn.example.com"), Some(owner(1)));
    w.assert_converged().await;
}

#[tokio::test]
async fn several_names_in_one_tag_are_each_published_in_one_batch_per_zone() {
    let w = World::new();
    w.launch(1, "a.dyn.example.com, b.dyn.example.com");
    w.event(&[1]).await;
    assert_eq!(w.owner("a.dyn.example.com"), Some(owner(1)));
    assert_eq!(w.owner("b.dyn.example.com"), Some(owner(1)));
    assert_eq!(
        w.faults
            .count(crate::testing::faults::Op::ChangeResourceRecordSets),
        2
    );
    assert_eq!(w.status(1), "ok");
    w.assert_converged().await;
}

#[tokio::test]
async fn invalid_names_are_refused_with_a_reason_and_change_nothing() {
    let cases = [
        ("*.dyn.example.com", "wildcards are not allowed"),
        ("dyn.example.com", "not below an allowed domain"),
        ("evil.com", "not below an allowed domain"),
        (
            "web.dyn.example.com.evil.com",
            "not below an allowed domain",
        ),
        ("xdyn.example.com", "not below an allowed domain"),
        ("a..b.dyn.example.com", "empty label"),
        ("we_b.dyn.example.com", "character '_' is not allowed"),
        ("-a.dyn.example.com", "hyphen"),
    ];
    for (tag, reason) in cases {
        let w = World::new();
        w.launch(1, tag);
        let r = w.event(&[1]).await;
        assert!(w.route53().snapshot().is_empty(), "{tag}");
        assert!(w.locks().snapshot().is_empty(), "{tag}");
        assert_eq!(r.skipped.len(), 1, "{tag}");
        assert!(
            r.skipped[0].reason.contains(reason),
            "{tag}: {}",
            r.skipped[0].reason
        );
        assert!(
            w.status(1).starts_with("invalid: "),
            "{tag}: {}",
            w.status(1)
        );
    }
}

#[tokio::test]
async fn a_name_too_long_for_its_marker_is_refused() {
    let w = World::new();
    // 245 characters: a valid DNS name, but `_ec2-dns.` in front would exceed 253.
    let label = "a".repeat(58);
    let long = format!("{label}.{label}.{label}.{}.dyn.example.com", "b".repeat(52));
    assert_eq!(long.len(), 245);
    w.launch(1, &long);
    let r = w.event(&[1]).await;
    assert!(w.route53().snapshot().is_empty());
    assert!(
        r.skipped[0].reason.contains("limit is 244"),
        "{:?}",
        r.skipped
    );
}

#[tokio::test]
async fn a_zone_apex_below_an_allowed_domain_is_refused() {
    let w = World::new();
    w.route53().add_zone("ZSUB", "sub.dyn.example.com", false);
    w.launch(1, "sub.dyn.example.com");
    w.event(&[1]).await;
    assert!(w.route53().snapshot().is_empty());
    assert_eq!(
        w.status(1),
        "invalid: sub.dyn.example.com (a zone apex is never managed)"
    );
}

#[tokio::test]
async fn the_longest_matching_zone_gets_the_record() {
    let w = World::new();
    let sub = w.route53().add_zone("ZSUB", "sub.dyn.example.com", false);
    w.launch(1, "web.sub.dyn.example.com");
    w.event(&[1]).await;
    assert_eq!(
        w.values(&sub, "web.sub.dyn.example.com", "A"),
        Some(vec!["203.0.113.1".into()])
    );
    assert_eq!(w.a("web.sub.dyn.example.com"), None);
    assert_eq!(w.private_a("web.sub.dyn.example.com"), None);
    w.assert_converged().await;
}

#[tokio::test]
async fn an_instance_without_a_public_address_is_skipped_for_a_public_only_zone() {
    let w = World::with_domains("dyn.example.com,other.example.org");
    let mut i = instance(1, Some("web.other.example.org"));
    i.public_ipv4 = None;
    w.ec2().put(i);
    let r = w.event(&[1]).await;
    assert!(w.route53().snapshot().is_empty());
    assert_eq!(r.skipped[0].reason, "no public IPv4 or IPv6 address");
    assert_eq!(
        w.status(1),
        "skipped: web.other.example.org (no public IPv4 or IPv6 address)"
    );
}

#[tokio::test]
async fn a_dry_run_reports_the_plan_and_writes_nothing() {
    let w = World::new();
    w.launch(1, WEB);
    let r = w.dry_all().await;
    assert!(r.dry_run);
    assert_eq!(r.changes.len(), 2);
    assert_eq!(writes(&w), 0);
    assert!(w.route53().snapshot().is_empty());
    assert_eq!(w.status(1), "");
    let applied = w.all().await;
    assert_eq!(
        applied.changes, r.changes,
        "the dry run announced exactly what was applied"
    );
}

#[tokio::test]
async fn reconcile_all_repairs_a_deleted_record() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.route53().remove(&w.public, WEB, "A");
    let r = w.all().await;
    let rows: Vec<(RowAction, bool)> = r.changes.iter().map(|c| (c.action, c.private)).collect();
    assert_eq!(rows, [(RowAction::Mark, true), (RowAction::Create, false)]);
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn status_tags_are_written_only_when_they_change() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let tags = || w.faults.count(crate::testing::faults::Op::CreateTags);
    assert_eq!(tags(), 1);
    w.all().await;
    w.event(&[1]).await;
    assert_eq!(tags(), 1);
}

#[tokio::test]
async fn a_manual_reconcile_of_some_instances_reads_route53_for_their_names() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.route53().remove(&w.public, WEB, "A");
    // An event trusts the lock; a manual reconcile of the instance reads and repairs.
    w.event(&[1]).await;
    assert_eq!(w.a(WEB), None);
    w.run(Request {
        names: Default::default(),
        scope: Scope::Owners([owner(1)].into()),
        verify_dns: true,
        dry_run: false,
        deadline: None,
    })
    .await;
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn one_tag_with_placeholders_gives_each_instance_of_a_group_its_own_name() {
    // An Auto Scaling group propagates one tag to every instance it launches.
    let w = World::new();
    let tag = "web-{id}.dyn.example.com, {region}.{account}.dyn.example.com";
    w.launch(1, tag);
    w.launch(2, tag);
    let r = w.all().await;
    let one = "web-i-00000001.dyn.example.com";
    let two = "web-i-00000002.dyn.example.com";
    assert_eq!(w.owner(one), Some(owner(1)));
    assert_eq!(w.owner(two), Some(owner(2)));
    assert_eq!(w.a(two), Some(vec!["203.0.113.2".into()]));
    // The shared name made of the place alone is one name: the first instance holds it.
    let shared = "us-east-1.123456789012.dyn.example.com";
    assert_eq!(w.owner(shared), Some(owner(1)));
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert!(
        w.status(2).contains(&format!("conflict: {shared}")),
        "{}",
        w.status(2)
    );
    w.assert_converged().await;
    // Scaled in: the instance's own name goes with it.
    w.set_state(2, InstanceState::Terminated);
    w.event(&[2]).await;
    assert_eq!((w.owner(two), w.a(two)), (None, None));
    assert_eq!(w.owner(one), Some(owner(1)));
    // An unknown placeholder is refused with the ones there are.
    w.launch(3, "web-{name}.dyn.example.com");
    let r = w.event(&[3]).await;
    assert!(r.changes.is_empty(), "{r:?}");
    let status = w.status(3);
    assert!(
        status.starts_with("invalid: web-{name}.dyn.example.com")
            && status.contains("{id}, {region}, {account}"),
        "{status}"
    );
    w.assert_converged().await;
}
