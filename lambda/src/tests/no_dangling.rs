//! No dangling record (invariant 10): a public address is published only while it belongs
//! to the holder of the name. The scheduled reconcile of everything reads every managed
//! zone and every holder, so an address that left its holder without an event, or a late
//! write of ours that landed after its name was freed, is removed and reported.

use crate::decide::RowAction;
use crate::marker::Marker;
use crate::model::{InstanceState, RecordType};
use crate::testing::{name, owner, World};

const WEB: &str = "web.dyn.example.com";

#[tokio::test]
async fn a_late_write_of_ours_on_a_released_address_is_removed_and_reported() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let gen = w.locks().snapshot()[&name(WEB)].gen;
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    assert_eq!(w.a(WEB), None);
    // A CREATE of the claim's generation that was slow lands after the release (its
    // window aside): the address is no longer the instance's.
    let late = Marker {
        owner: crate::marker::Marked::Owner(owner(1)),
        gen,
        types: [RecordType::A].into(),
        deployment: Some(crate::testing::deployment()),
    };
    w.route53().put(&w.public, WEB, "A", 60, &["203.0.113.1"]);
    w.route53().put(
        &w.public,
        &name(WEB).marker_name(),
        "TXT",
        300,
        &[&late.value()],
    );
    w.advance(crate::engine::CHANGE_WINDOW + 60);
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    let removed: Vec<_> = r
        .changes
        .iter()
        .filter(|c| c.action == RowAction::Delete && c.name == name(WEB))
        .map(|c| {
            c.values
                .clone()
                .into_iter()
                .chain(c.old_values.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(removed, [vec!["203.0.113.1".to_string()]], "{r:?}");
    assert_eq!(w.a(WEB), None);
    assert_eq!(w.marker(&w.public, WEB), None);
    w.assert_converged().await;
}

#[tokio::test]
async fn an_address_that_left_its_holder_without_an_event_is_replaced_by_the_schedule() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    // The Elastic IP moved away (its event was lost): the instance has a new address.
    w.ec2().update(&owner(1), |i| {
        i.public_ipv4 = Some("198.51.100.40".parse().unwrap());
    });
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert!(
        r.changes
            .iter()
            .any(|c| c.action == RowAction::Update && c.old_values == ["203.0.113.1"]),
        "{r:?}"
    );
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.40".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_holder_left_without_a_public_address_keeps_no_public_record() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    // The address left the account (disassociated and released); the instance runs on,
    // private only.
    w.ec2().update(&owner(1), |i| i.public_ipv4 = None);
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(WEB), None, "{r:?}");
    assert_eq!(w.private_a(WEB), Some(vec!["10.0.0.1".into()]));
    assert_eq!(w.owner(WEB), Some(owner(1)));
    w.assert_converged().await;
}
