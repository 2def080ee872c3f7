//! Changing the configuration never deletes or strands a record: what falls outside it is
//! frozen and reported until an operator releases it, and comes back as it was.

use crate::model::InstanceState;
use crate::name::Fqdn;
use crate::testing::{owner, World};

const WEB: &str = "web.dyn.example.com";
const APP: &str = "app.other.example.org";

fn domains(list: &str) -> Vec<Fqdn> {
    list.split(',').map(|d| Fqdn::parse(d).unwrap()).collect()
}

#[tokio::test]
async fn narrowing_the_allowed_domains_freezes_names_and_restoring_them_finds_them_intact() {
    let mut w = World::with_domains("dyn.example.com,other.example.org");
    w.launch(1, WEB);
    w.launch(2, APP);
    w.event(&[1, 2]).await;
    let other = crate::model::ZoneId("ZOTHER".into());
    assert_eq!(w.values(&other, APP, "A"), Some(vec!["203.0.113.2".into()]));

    w.reconfigure(|c| c.allowed_domains = domains("dyn.example.com"));
    for _ in 0..2 {
        let r = w.all().await;
        assert!(r.changes.is_empty() && r.failed.is_empty(), "{r:?}");
        assert_eq!(r.frozen.len(), 1, "{r:?}");
        assert_eq!(r.frozen[0].name.as_str(), APP);
        assert_eq!(w.values(&other, APP, "A"), Some(vec!["203.0.113.2".into()]));
        assert_eq!(w.owner(APP), Some(owner(2)));
        assert!(
            w.status(2).starts_with("frozen: app.other.example.org"),
            "{}",
            w.status(2)
        );
    }
    // An event about the holder leaves it frozen too, even when it stops.
    w.set_state(2, InstanceState::Stopped);
    let r = w.event(&[2]).await;
    assert_eq!(r.frozen.len(), 1);
    assert_eq!(w.values(&other, APP, "A"), Some(vec!["203.0.113.2".into()]));

    w.set_state(2, InstanceState::Running);
    w.ec2().update(&owner(2), |i| {
        i.public_ipv4 = Some("203.0.113.2".parse().unwrap())
    });
    w.reconfigure(|c| c.allowed_domains = domains("dyn.example.com,other.example.org"));
    let r = w.all().await;
    assert!(
        r.conflicts.is_empty() && r.changes.is_empty() && r.frozen.is_empty(),
        "{r:?}"
    );
    assert_eq!(w.status(2), "ok");
    w.assert_converged().await;
}

#[tokio::test]
async fn a_frozen_name_is_released_only_by_an_operator() {
    let mut w = World::with_domains("dyn.example.com,other.example.org");
    w.launch(2, APP);
    w.event(&[2]).await;
    w.reconfigure(|c| c.allowed_domains = domains("dyn.example.com"));
    w.set_state(2, InstanceState::Stopped);
    w.all().await;
    assert!(w.owner(APP).is_some(), "frozen, not released");
    let r = w
        .rec
        .release_name(&Fqdn::parse(APP).unwrap(), false)
        .await
        .unwrap();
    assert_eq!(r.changes.len(), 1, "{r:?}");
    assert!(w.route53().snapshot().is_empty());
    assert_eq!(w.owner(APP), None);
    w.assert_converged().await;
}

#[tokio::test]
async fn records_in_a_zone_the_configuration_no_longer_manages_are_frozen() {
    let mut w = World::new();
    w.launch(1, "web.sub.dyn.example.com");
    w.event(&[1]).await;
    // The allowed domain narrows below the zone the records are in: the name is still
    // allowed, its zone is not managed any more.
    w.reconfigure(|c| c.allowed_domains = domains("sub.dyn.example.com"));
    let r = w.all().await;
    assert!(r.changes.is_empty(), "{r:?}");
    assert_eq!(r.frozen.len(), 1);
    assert!(r.frozen[0].reason.contains("ZPUBLIC"), "{r:?}");
    assert_eq!(
        w.a("web.sub.dyn.example.com"),
        Some(vec!["203.0.113.1".into()])
    );
}

#[tokio::test]
async fn another_name_tag_in_the_cli_environment_cannot_release_the_fleet() {
    // The function records its configuration; an operator's shell with another NAME_TAG
    // acts with the recorded one (see cli::resolve_config), so a reconcile with the
    // deployed configuration keeps every name.
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    assert!(w.rec.record_deployed("ec2-dns").await);
    assert!(
        !w.rec.record_deployed("ec2-dns").await,
        "recorded once, until it changes"
    );
    let deployed = w.locks().deployed.lock().unwrap().clone().unwrap();
    let env = |k: &str| match k {
        "LOCK_TABLE" => Some("locks".to_string()),
        "NAME_TAG" => Some("Name".to_string()),
        _ => None,
    };
    assert!(crate::cli::resolve_config(&env, Some(&deployed), true).is_err());
    let (config, _) = crate::cli::resolve_config(&env, Some(&deployed), false).unwrap();
    assert_eq!(config.name_tag, "dnsname");
}

#[tokio::test]
async fn an_allowed_domain_no_zone_serves_is_warned_about_not_skipped_quietly() {
    // A typo: no hosted zone at or below dyn.exmaple.com.
    let w = World::with_domains("dyn.exmaple.com,dyn.example.com");
    w.launch(1, WEB);
    let r = w.all().await;
    assert_eq!(r.warnings.len(), 1, "{r:?}");
    assert!(
        r.warnings[0].contains("dyn.exmaple.com") && r.warnings[0].contains("ALLOWED_DOMAINS"),
        "{r:?}"
    );
    assert!(crate::cli::render_report(&r, &crate::testing::home())
        .contains("warning: no hosted zone serves"));
    // The domain that is served gets no warning.
    let w = World::new();
    w.launch(1, WEB);
    assert!(w.all().await.warnings.is_empty());
}
