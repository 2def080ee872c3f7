//! The DDNS endpoint over the same fakes as the reconciler: every answer code, brute force,
//! malformed input, the binding rule, the shared ownership with instances, alerts, costs.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use serde_json::Value;

use super::admin::{self, HostOptions};
use super::http::event;
use super::*;
use crate::aws::Route53Dns;
use crate::hosts::{LOCKOUT_AFTER, LOCKOUT_FOR};
use crate::model::InstanceState;
use crate::testing::fakes::{FakeAlerts, FakeLocks, FakeRoute53, FakeSecrets};
use crate::testing::faults::{Faulty, Op, Phase};
use crate::testing::{home, name, owner, World};

const HOME: &str = "home.dyn.example.com";
const ROUTER: &str = "198.51.100.7";

type TestEndpoint =
    Endpoint<Route53Dns<Faulty<FakeRoute53>>, Faulty<FakeLocks>, FakeSecrets, FakeAlerts>;

struct Ddns {
    w: World,
    ep: TestEndpoint,
}

impl Ddns {
    fn new() -> Ddns {
        Ddns::with(EndpointConfig::default())
    }

    fn with(config: EndpointConfig) -> Ddns {
        let w = World::new();
        let ep = container(&w, config);
        Ddns { w, ep }
    }

    async fn add(&self, host: &str, names: &[&str], opts: HostOptions) -> String {
        let names: BTreeSet<Fqdn> = names.iter().map(|n| name(n)).collect();
        let now = self.w.clock.0.load(Ordering::SeqCst);
        admin::add(
            &self.ep.rec.locks,
            &self.ep.secrets,
            &HostName::parse(host).unwrap(),
            names,
            &opts,
            now,
        )
        .await
        .unwrap()
        .secret
    }

    async fn call(&self, ev: Value) -> (u16, String, Value) {
        let out = handle_event(&self.ep, &ev, None).await.to_event();
        let status = out["statusCode"].as_u64().unwrap() as u16;
        let body = out["body"].as_str().unwrap().to_string();
        (status, body, out["headers"].clone())
    }

    async fn update(&self, user: &str, password: &str, query: &str, source: &str) -> String {
        let auth = basic(user, password);
        let ev = event(
            "GET",
            "/nic/update",
            query,
            &[("authorization", &auth)],
            source,
        );
        let (status, body, _) = self.call(ev).await;
        assert_eq!(status, 200, "{body}");
        body.trim_end().to_string()
    }

    fn host(&self, h: &str) -> crate::hosts::HostRecord {
        self.w.locks().host_now(h).expect("host")
    }

    fn alerts(&self) -> Vec<String> {
        self.ep.alerts.subjects()
    }
}

/// One more endpoint over the same table and zones: another Lambda container, with its own
/// memory.
fn container(w: &World, config: EndpointConfig) -> TestEndpoint {
    let rec = Reconciler::new(
        NoInstances {
            homes: vec![crate::testing::home()],
        },
        Route53Dns::new(w.rec.dns.api().clone()),
        w.rec.locks.clone(),
        w.rec.config.clone(),
        home(),
    )
    .with_clock(Box::new(w.clock.clone()));
    Endpoint::new(rec, FakeSecrets::default(), FakeAlerts::default(), config)
}

/// One dyndns2 update through `ep`: the answer's body.
async fn update_via(ep: &TestEndpoint, user: &str, password: &str, source: &str) -> String {
    let auth = basic(user, password);
    let ev = event(
        "GET",
        "/nic/update",
        &q(HOME),
        &[("authorization", &auth)],
        source,
    );
    let out = handle_event(ep, &ev, None).await.to_event();
    out["body"]
        .as_str()
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn q(names: &str) -> String {
    format!("hostname={names}")
}

#[tokio::test]
async fn a_router_update_publishes_its_address_and_an_unchanged_one_writes_nothing() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    assert_eq!(d.w.a(HOME), Some(vec![ROUTER.to_string()]));
    let marker = d.w.marker(&d.w.public, HOME).unwrap();
    assert_eq!(marker.owner.to_string(), "123456789012/us-east-1/host/home");
    assert_eq!(d.w.owner(HOME).as_ref(), marker.owner.owner());
    assert_eq!(d.host("home").ipv4, Some(ROUTER.parse().unwrap()));
    d.w.assert_invariants();

    // The router asks again (ddclient does, at its own interval): nothing is written, and
    // the credential, the lock and the host item come in one read.
    d.w.faults.reset_calls();
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("nochg {ROUTER}")
    );
    assert_eq!(d.w.faults.writes(), 0, "{:?}", d.w.faults.calls());
    assert_eq!(d.w.faults.calls(), [Op::LoadLocks]);

    // A new address, hours later: the check counted first (it does not come from the
    // last accepted address), one transaction (lock and host item, the counters cleared)
    // and one Route53 batch.
    d.w.advance(3600);
    d.w.faults.reset_calls();
    let new = "198.51.100.99";
    assert_eq!(
        d.update("home", &secret, &q(HOME), new).await,
        format!("good {new}")
    );
    assert_eq!(
        d.w.faults.calls(),
        [
            Op::LoadLocks,
            Op::CountAttempt,
            Op::Decide,
            Op::ChangeResourceRecordSets
        ]
    );
    assert_eq!(d.host("home").failures, 0);
    assert_eq!(d.w.a(HOME), Some(vec![new.to_string()]));
    assert_eq!(d.host("home").ipv4, Some(new.parse().unwrap()));
    // Another address while that change may still be in flight: Route53 is read first, in
    // the one zone the change wrote (the name's private zone holds nothing of a host).
    d.w.advance(5);
    d.w.faults.reset_calls();
    let new = "198.51.100.100";
    assert_eq!(
        d.update("home", &secret, &q(HOME), new).await,
        format!("good {new}")
    );
    assert_eq!(
        d.w.faults.calls(),
        [
            Op::LoadLocks,
            Op::CountAttempt,
            Op::ListResourceRecordSets,
            Op::Decide,
            Op::ChangeResourceRecordSets
        ]
    );
    assert_eq!(d.w.a(HOME), Some(vec![new.to_string()]));
    // The reconciler agrees: nothing to change, the host's name stays.
    d.w.assert_converged().await;
    assert_eq!(d.w.a(HOME), Some(vec![new.to_string()]));
}

#[tokio::test]
async fn both_families_and_several_names_answer_one_line_each() {
    let d = Ddns::new();
    let unbound = HostOptions {
        bound: false,
        ..HostOptions::default()
    };
    let secret = d
        .add(
            "office",
            &["office.dyn.example.com", "vpn.dyn.example.com"],
            unbound,
        )
        .await;
    let body = d
        .update(
            "office",
            &secret,
            "hostname=office.dyn.example.com,vpn.dyn.example.com,other.dyn.example.com&myip=203.0.113.50,2001:db8::50",
            ROUTER,
        )
        .await;
    assert_eq!(
        body,
        "good 203.0.113.50,2001:db8::50\ngood 203.0.113.50,2001:db8::50\nnohost"
    );
    for n in ["office.dyn.example.com", "vpn.dyn.example.com"] {
        assert_eq!(d.w.a(n), Some(vec!["203.0.113.50".into()]));
        assert_eq!(
            d.w.values(&d.w.public, n, "AAAA"),
            Some(vec!["2001:db8::50".into()])
        );
    }
    assert_eq!(d.w.a("other.dyn.example.com"), None);
    d.w.assert_invariants();
}

#[tokio::test]
async fn a_bound_host_publishes_both_families_over_one_inside_its_declared_networks() {
    use crate::hosts::parse_prefixes;
    let d = Ddns::new();
    let opts = HostOptions {
        prefixes: parse_prefixes("2001:db8:12::/48").unwrap(),
        ..HostOptions::default()
    };
    let secret = d.add("home", &[HOME], opts).await;
    assert_eq!(
        d.host("home").prefixes,
        parse_prefixes("2001:db8:12::/48").unwrap()
    );
    // A stock router that reaches us over IPv4 only sends both of its addresses.
    let both = |v6: &str| format!("{}&myip={ROUTER},{v6}", q(HOME));
    let body = d
        .update("home", &secret, &both("2001:db8:12::7"), ROUTER)
        .await;
    assert_eq!(body, format!("good {ROUTER},2001:db8:12::7"));
    assert_eq!(d.w.a(HOME), Some(vec![ROUTER.to_string()]));
    assert_eq!(
        d.w.values(&d.w.public, HOME, "AAAA"),
        Some(vec!["2001:db8:12::7".into()])
    );
    // The same credential from elsewhere cannot point the name outside the network.
    let thief = "203.0.113.66";
    let body = d
        .update(
            "home",
            &secret,
            &format!("{}&myip={thief},2001:db8:66::1", q(HOME)),
            thief,
        )
        .await;
    assert_eq!(body, "abuse");
    let body = d
        .update("home", &secret, &both("2001:db8:66::1"), ROUTER)
        .await;
    assert_eq!(body, "abuse", "not from the router's own line either");
    assert_eq!(d.w.a(HOME), Some(vec![ROUTER.to_string()]));
    assert_eq!(
        d.w.values(&d.w.public, HOME, "AAAA"),
        Some(vec!["2001:db8:12::7".into()])
    );
    assert_eq!(
        d.host("home").failures,
        0,
        "a refused address is no failed login"
    );
    // The provider renumbers the line: the operator declares the new network, same secret.
    let host = HostName::parse("home").unwrap();
    admin::set_prefixes(
        &d.ep.rec.locks,
        &host,
        parse_prefixes("2001:db8:34::/48").unwrap(),
    )
    .await
    .unwrap();
    let body = d
        .update("home", &secret, &both("2001:db8:12::8"), ROUTER)
        .await;
    assert_eq!(body, "abuse", "the old network no longer counts");
    let body = d
        .update("home", &secret, &both("2001:db8:34::7"), ROUTER)
        .await;
    assert_eq!(body, format!("good {ROUTER},2001:db8:34::7"));
    assert_eq!(
        d.w.values(&d.w.public, HOME, "AAAA"),
        Some(vec!["2001:db8:34::7".into()])
    );
    d.w.assert_converged().await;
    assert_eq!(
        d.w.values(&d.w.public, HOME, "AAAA"),
        Some(vec!["2001:db8:34::7".into()])
    );
    // Networks limit a bound host only: an unbound one is refused them, when made and
    // later.
    let unbound = HostOptions {
        bound: false,
        prefixes: parse_prefixes("198.51.100.0/24").unwrap(),
        ..HostOptions::default()
    };
    let made = admin::add(
        &d.ep.rec.locks,
        &d.ep.secrets,
        &HostName::parse("lab").unwrap(),
        [name("lab.dyn.example.com")].into(),
        &unbound,
        0,
    )
    .await;
    assert!(made.is_err());
    assert!(d.w.locks().host_now("lab").is_none());
    let lab = d
        .add(
            "lab",
            &["lab.dyn.example.com"],
            HostOptions {
                bound: false,
                ..HostOptions::default()
            },
        )
        .await;
    assert!(!lab.is_empty());
    let lab = HostName::parse("lab").unwrap();
    assert!(admin::set_prefixes(
        &d.ep.rec.locks,
        &lab,
        parse_prefixes("198.51.100.0/24").unwrap()
    )
    .await
    .is_err());
    d.w.assert_invariants();
}

#[tokio::test]
async fn a_bound_host_may_write_only_its_own_address() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    let body = d
        .update(
            "home",
            &secret,
            &format!("{}&myip=203.0.113.9", q(HOME)),
            ROUTER,
        )
        .await;
    assert_eq!(body, "abuse");
    // An IPv6 address cannot be checked from an IPv4 request.
    let body = d
        .update(
            "home",
            &secret,
            &format!("{}&myip=2001:db8::9", q(HOME)),
            ROUTER,
        )
        .await;
    assert_eq!(body, "abuse");
    // Its own address, named explicitly, is fine.
    let body = d
        .update(
            "home",
            &secret,
            &format!("{}&myip={ROUTER}", q(HOME)),
            ROUTER,
        )
        .await;
    assert_eq!(body, format!("good {ROUTER}"));
    // Over IPv6 its IPv6 address; the IPv4 address it had is kept.
    let body = d.update("home", &secret, &q(HOME), "2001:db8::7").await;
    assert_eq!(body, format!("good {ROUTER},2001:db8::7"));
    assert_eq!(
        d.w.values(&d.w.public, HOME, "AAAA"),
        Some(vec!["2001:db8::7".into()])
    );
    // An unusable address is refused even for an unbound host.
    let unbound = HostOptions {
        bound: false,
        ..HostOptions::default()
    };
    let s2 = d.add("lab", &["lab.dyn.example.com"], unbound).await;
    let body = d
        .update(
            "lab",
            &s2,
            "hostname=lab.dyn.example.com&myip=10.0.0.5",
            ROUTER,
        )
        .await;
    assert_eq!(body, "abuse");
    assert_eq!(d.w.a("lab.dyn.example.com"), None);
}

#[tokio::test]
async fn wrong_passwords_lock_the_credential_out_and_write_no_record() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    for i in 1..=LOCKOUT_AFTER {
        assert_eq!(
            d.update("home", "guess", &q(HOME), "192.0.2.200").await,
            "badauth"
        );
        assert_eq!(d.host("home").failures, i);
    }
    // Locked: even the right password is refused, without being checked.
    assert_eq!(d.update("home", &secret, &q(HOME), ROUTER).await, "abuse");
    assert_eq!(d.w.a(HOME), None);
    assert_eq!(d.w.owner(HOME), None);
    d.w.advance(LOCKOUT_FOR + 1);
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    let h = d.host("home");
    assert_eq!(
        (h.failures, h.locked_until),
        (0, 0),
        "a success clears the counters"
    );
}

#[tokio::test]
async fn one_address_guessing_across_users_is_refused_with_bounded_state() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    for i in 0..auth::SOURCE_FAILURES {
        let user = format!("user{i}");
        assert_eq!(
            d.update(&user, "x", &q(HOME), "192.0.2.66").await,
            "badauth"
        );
    }
    // That address is now refused outright, even with a right credential...
    assert_eq!(
        d.update("home", &secret, &q(HOME), "192.0.2.66").await,
        "abuse"
    );
    // ... while the router, elsewhere, is not.
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    assert!(d.ep.limiter.len() <= auth::LIMIT_ADDRESSES);
    assert!(
        d.w.locks().host_now("user0").is_none(),
        "nothing is stored for unknown users"
    );
}

#[tokio::test]
async fn requests_without_credentials_or_with_bad_names_are_refused_before_any_write() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    d.w.faults.reset_calls();
    // No credentials: the challenge clients expect.
    let ev = event("GET", "/nic/update", &q(HOME), &[], ROUTER);
    let (status, body, headers) = d.call(ev).await;
    assert_eq!((status, body.as_str()), (401, "badauth"));
    assert_eq!(headers["www-authenticate"], "Basic realm=\"ec2-dns\"");
    // Unknown user, and a user name that cannot be a host.
    assert_eq!(
        d.update("nobody", &secret, &q(HOME), ROUTER).await,
        "badauth"
    );
    assert_eq!(
        d.update("Home/../x", &secret, &q(HOME), ROUTER).await,
        "badauth"
    );
    // Names: missing, malformed, too many.
    assert_eq!(
        d.update("home", &secret, "myip=1.2.3.4", ROUTER).await,
        "notfqdn"
    );
    assert_eq!(
        d.update("home", &secret, &q("bad..name"), ROUTER).await,
        "notfqdn"
    );
    assert_eq!(
        d.update("home", &secret, &q("*.dyn.example.com"), ROUTER)
            .await,
        "notfqdn"
    );
    let many: Vec<String> = (0..21).map(|i| format!("h{i}.dyn.example.com")).collect();
    assert_eq!(
        d.update("home", &secret, &q(&many.join(",")), ROUTER).await,
        "numhost"
    );
    // A name this credential does not have.
    assert_eq!(
        d.update("home", &secret, &q("else.dyn.example.com"), ROUTER)
            .await,
        "nohost"
    );
    // A malformed address.
    assert_eq!(
        d.update("home", &secret, &format!("{}&myip=1.2.3", q(HOME)), ROUTER)
            .await,
        "abuse"
    );
    let writes: Vec<Op> = d
        .w
        .faults
        .calls()
        .into_iter()
        .filter(|o| {
            o.writes() && !matches!(o, Op::TouchHost | Op::CountAttempt | Op::CountSourceFailure)
        })
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(d.w.a(HOME), None);
}

#[tokio::test]
async fn malformed_requests_are_answered_400_and_change_nothing() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    let auth = basic("home", &secret);
    d.w.faults.reset_calls();
    let long = format!("{}&x={}", q(HOME), "a".repeat(3000));
    let injected = format!("{auth}\r\nX-Injected: 1");
    let cases = [
        event(
            "GET",
            "/nic/update",
            &long,
            &[("authorization", &auth)],
            ROUTER,
        ),
        event(
            "GET",
            "/nic/update",
            &format!("{}%ff", q(HOME)),
            &[("authorization", &auth)],
            ROUTER,
        ),
        event(
            "GET",
            "/nic/update",
            &q(HOME),
            &[("authorization", &injected)],
            ROUTER,
        ),
        event("GET", &format!("/{}", "p".repeat(300)), "", &[], ROUTER),
        serde_json::json!({"not": "a function URL request"}),
    ];
    for ev in cases {
        let (status, body, _) = d.call(ev).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.starts_with("badrequest: "), "{body}");
    }
    assert!(d.w.faults.calls().is_empty(), "{:?}", d.w.faults.calls());
    // Not UTF-8 in the credentials: no user.
    let raw = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(b"home:\xff\xfe")
    );
    let ev = event(
        "GET",
        "/nic/update",
        &q(HOME),
        &[("authorization", &raw)],
        ROUTER,
    );
    let (status, body, _) = d.call(ev).await;
    assert_eq!((status, body.as_str()), (401, "badauth"));
}

#[tokio::test]
async fn a_host_never_takes_an_instance_name_and_an_instance_never_a_host_name() {
    let d = Ddns::new();
    // An instance holds web; the host's credential names it too (an operator's slip).
    d.w.launch(1, "web.dyn.example.com");
    d.w.event(&[1]).await;
    let secret = d
        .add(
            "home",
            &[HOME, "web.dyn.example.com"],
            HostOptions::default(),
        )
        .await;
    let body = d
        .update("home", &secret, "hostname=web.dyn.example.com", ROUTER)
        .await;
    assert_eq!(body, "nohost");
    assert_eq!(
        d.w.a("web.dyn.example.com"),
        Some(vec!["203.0.113.1".into()])
    );
    assert_eq!(d.w.owner("web.dyn.example.com"), Some(owner(1)));

    // The host holds home; an instance tagged with it loses, and learns who holds it.
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    d.w.launch(2, HOME);
    d.w.event(&[2]).await;
    assert_eq!(d.w.a(HOME), Some(vec![ROUTER.to_string()]));
    assert_eq!(
        d.w.status(2),
        format!("conflict: {HOME} is owned by host/home")
    );
    // A reconcile of everything agrees with both.
    d.w.all().await;
    assert_eq!(d.w.owner(HOME).unwrap().host().unwrap().as_str(), "home");
    assert_eq!(d.w.owner("web.dyn.example.com"), Some(owner(1)));
    d.w.assert_invariants();
}

#[tokio::test]
async fn a_silent_host_loses_its_name_after_its_lease_and_alerts_once() {
    let d = Ddns::new();
    let lease = HostOptions {
        lease: 3600,
        ..HostOptions::default()
    };
    let secret = d.add("home", &[HOME], lease).await;
    d.w.launch(1, HOME);
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    d.w.event(&[1]).await;
    assert!(d.w.status(1).starts_with("conflict:"), "{}", d.w.status(1));
    // Within the lease nothing changes.
    d.w.advance(3000);
    d.w.all().await;
    assert_eq!(d.w.owner(HOME).unwrap().host().unwrap().as_str(), "home");
    assert!(d.ep.sweep().await.unwrap().is_empty());
    // Past it the scheduled reconcile hands the name to the waiting instance...
    d.w.advance(700);
    d.w.all().await;
    assert_eq!(d.w.owner(HOME), Some(owner(1)));
    assert_eq!(d.w.a(HOME), Some(vec!["203.0.113.1".into()]));
    // ... and the sweep alerts once.
    let ev =
        serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let (status, body, _) = d.call(ev.clone()).await;
    assert_eq!((status, body.as_str()), (200, r#"{"silent":["home"]}"#));
    let (_, body, _) = d.call(ev).await;
    assert_eq!(body, r#"{"silent":[]}"#);
    assert_eq!(d.alerts(), ["ec2-dns: host home went silent"]);
    // Back, it finds its name taken; its alert stays until an update of its succeeds.
    assert_eq!(d.update("home", &secret, &q(HOME), ROUTER).await, "nohost");
    assert_eq!(d.host("home").alerted.as_deref(), Some("silent"));
}

#[tokio::test]
async fn an_unchanged_update_refreshes_the_lease_only_when_due() {
    let d = Ddns::new();
    let lease = HostOptions {
        lease: 4000,
        ..HostOptions::default()
    };
    let secret = d.add("home", &[HOME], lease).await;
    d.update("home", &secret, &q(HOME), ROUTER).await;
    let first = d.host("home").updated;
    d.w.advance(600);
    d.w.faults.reset_calls();
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("nochg {ROUTER}")
    );
    assert_eq!(d.w.faults.writes(), 0);
    assert_eq!(d.host("home").updated, first);
    d.w.advance(500);
    d.w.faults.reset_calls();
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("nochg {ROUTER}")
    );
    assert_eq!(d.w.faults.calls(), [Op::LoadLocks, Op::TouchHost]);
    assert_eq!(d.host("home").updated, first + 1100);
}

#[tokio::test]
async fn a_failing_update_answers_dnserr_alerts_once_and_the_next_one_recovers() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    let f =
        d.w.faults
            .fail(Op::ChangeResourceRecordSets, Phase::Before, 2);
    assert_eq!(d.update("home", &secret, &q(HOME), ROUTER).await, "dnserr");
    assert_eq!(d.update("home", &secret, &q(HOME), ROUTER).await, "dnserr");
    assert_eq!(f.fired(), 2);
    assert_eq!(d.alerts(), ["ec2-dns: updates of host home fail"]);
    assert_eq!(d.host("home").alerted.as_deref(), Some("failing"));
    d.w.assert_marked();
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    assert_eq!(d.w.a(HOME), Some(vec![ROUTER.to_string()]));
    assert_eq!(
        d.alerts(),
        [
            "ec2-dns: updates of host home fail",
            "ec2-dns: host home recovered"
        ]
    );
    assert_eq!(d.host("home").alerted, None);
    d.w.assert_converged().await;
}

#[tokio::test]
async fn a_route53_failure_after_the_lock_write_is_repaired_by_the_schedule() {
    // The change may or may not have landed: the host's item already holds the new address
    // (written with the lock), so the scheduled reconcile finishes the job.
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    let f =
        d.w.faults
            .fail(Op::ChangeResourceRecordSets, Phase::After, 1);
    assert_eq!(d.update("home", &secret, &q(HOME), ROUTER).await, "dnserr");
    assert_eq!(f.fired(), 1);
    assert_eq!(d.host("home").ipv4, Some(ROUTER.parse().unwrap()));
    d.w.advance(crate::engine::CHANGE_WINDOW + 60);
    d.w.all().await;
    assert_eq!(d.w.a(HOME), Some(vec![ROUTER.to_string()]));
    d.w.assert_converged().await;
}

#[tokio::test]
async fn a_lock_table_failure_answers_911_and_writes_nothing() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    let f = d.w.faults.fail(Op::LoadLocks, Phase::Before, 1);
    assert_eq!(d.update("home", &secret, &q(HOME), ROUTER).await, "911");
    assert_eq!(f.fired(), 1);
    assert_eq!(d.w.a(HOME), None);
}

#[tokio::test]
async fn the_reflector_answers_the_callers_address_and_cloudfront_only_when_proved() {
    let d = Ddns::with(EndpointConfig {
        origin_secret: Some("s3cret-origin".into()),
    });
    let (status, body, _) = d.call(event("GET", "/checkip", "", &[], ROUTER)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "Current IP Address: 198.51.100.7\n")
    );
    let (_, body, _) = d.call(event("GET", "/checkip.json", "", &[], ROUTER)).await;
    assert_eq!(body, r#"{"ip":"198.51.100.7"}"#);
    let viewer = [("cloudfront-viewer-address", "[2001:db8::44]:51000")];
    let (_, body, _) = d
        .call(event("GET", "/checkip", "", &viewer, "130.176.0.1"))
        .await;
    assert_eq!(
        body, "Current IP Address: 130.176.0.1\n",
        "not proved: the header is ignored"
    );
    let proved = [
        ("cloudfront-viewer-address", "203.0.113.44:51000"),
        ("x-origin-verify", "s3cret-origin"),
    ];
    let (_, body, _) = d
        .call(event("GET", "/checkip", "", &proved, "130.176.0.1"))
        .await;
    assert_eq!(body, "Current IP Address: 203.0.113.44\n");
    let (status, _, _) = d.call(event("GET", "/elsewhere", "", &[], ROUTER)).await;
    assert_eq!(status, 404);
    let (status, _, _) = d
        .call(event("DELETE", "/nic/update", "", &[], ROUTER))
        .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn the_aws_sample_protocol_works_unchanged_for_a_host_that_opts_in() {
    let d = Ddns::new();
    let sample = HostOptions {
        sample: true,
        ..HostOptions::default()
    };
    let secret = d.add("pi", &[HOME], sample).await;
    assert_eq!(
        d.ep.secrets
            .secrets
            .lock()
            .unwrap()
            .get(&HostName::parse("pi").unwrap()),
        Some(&secret),
        "kept in SSM, not in the lock table"
    );
    let (status, body, _) = d.call(event("GET", "/", "mode=get", &[], ROUTER)).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"return_status": "success", "return_message": ROUTER})
    );
    let hash = protocol::sample_token(ROUTER, HOME, &secret);
    let set = format!("mode=set&hostname={HOME}&hash={hash}");
    let (status, body, _) = d.call(event("GET", "/", &set, &[], ROUTER)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(d.w.a(HOME), Some(vec![ROUTER.to_string()]));
    let (status, _, _) = d.call(event("GET", "/", &set, &[], ROUTER)).await;
    assert_eq!(status, 200);
    // The token is bound to the address: replayed from elsewhere it fails.
    let (status, _, _) = d.call(event("GET", "/", &set, &[], "203.0.113.3")).await;
    assert_eq!(status, 403);
    let bad = format!("mode=set&hostname={HOME}&hash={}", "0".repeat(64));
    let (status, body, _) = d.call(event("GET", "/", &bad, &[], ROUTER)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(d.host("pi").failures, 2);
    let (status, _, _) = d.call(event("GET", "/", "mode=other", &[], ROUTER)).await;
    assert_eq!(status, 400);
    // A host that did not opt in cannot be reached this way.
    let plain = d
        .add("plain", &["plain.dyn.example.com"], HostOptions::default())
        .await;
    let hash = protocol::sample_token(ROUTER, "plain.dyn.example.com", &plain);
    let set = format!("mode=set&hostname=plain.dyn.example.com&hash={hash}");
    let (status, _, _) = d.call(event("GET", "/", &set, &[], ROUTER)).await;
    assert_eq!(status, 403);
    assert_eq!(d.w.a("plain.dyn.example.com"), None);
}

#[tokio::test]
async fn rotating_a_secret_stops_the_old_one_and_removing_a_host_releases_its_names() {
    let d = Ddns::new();
    let old = d.add("home", &[HOME], HostOptions::default()).await;
    d.update("home", &old, &q(HOME), ROUTER).await;
    let new = admin::rotate(
        &d.ep.rec.locks,
        &d.ep.secrets,
        &HostName::parse("home").unwrap(),
    )
    .await
    .unwrap()
    .secret;
    assert_ne!(old, new);
    assert_eq!(d.update("home", &old, &q(HOME), ROUTER).await, "badauth");
    assert_eq!(
        d.update("home", &new, &q(HOME), ROUTER).await,
        format!("nochg {ROUTER}")
    );
    let rows = admin::list(&d.ep.rec.locks).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        !serde_json::to_string(&rows).unwrap().contains("argon2"),
        "never the hash"
    );
    admin::remove(
        &d.ep.rec.locks,
        &d.ep.secrets,
        &HostName::parse("home").unwrap(),
    )
    .await
    .unwrap();
    // The operator CLI reconciles the host at once; a removed host is gone.
    d.w.run(crate::engine::Request {
        names: Default::default(),
        scope: Scope::Owners(
            [Owner::Host {
                home: home(),
                name: HostName::parse("home").unwrap(),
            }]
            .into(),
        ),
        verify_dns: true,
        dry_run: false,
        deadline: None,
    })
    .await;
    assert_eq!(d.w.a(HOME), None);
    assert_eq!(d.w.owner(HOME), None);
    assert_eq!(d.update("home", &new, &q(HOME), ROUTER).await, "badauth");
    d.w.assert_invariants();
}

#[tokio::test]
async fn credentials_are_checked_when_they_are_made() {
    let d = Ddns::new();
    let allowed = d.ep.rec.config.allowed_domains.clone();
    assert!(admin::check_names(&[], &allowed).is_err());
    let outside = admin::check_names(&[name("a.example.org")], &allowed).unwrap_err();
    assert!(
        outside.to_string().contains("not below an allowed domain"),
        "{outside}"
    );
    let many: Vec<Fqdn> = (0..21)
        .map(|i| name(&format!("h{i}.dyn.example.com")))
        .collect();
    assert!(admin::check_names(&many, &allowed).is_err());
    d.add("home", &[HOME], HostOptions::default()).await;
    let again = admin::add(
        &d.ep.rec.locks,
        &d.ep.secrets,
        &HostName::parse("home").unwrap(),
        [name(HOME)].into(),
        &HostOptions::default(),
        0,
    )
    .await
    .unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");
    assert!(d.host("home").password.starts_with("$argon2id$"));
}

#[tokio::test]
async fn a_stopped_instance_holding_a_name_is_not_seen_here_and_keeps_it_until_the_reconciler_acts()
{
    // The endpoint has no EC2 rights: a holder it cannot observe keeps the name.
    let d = Ddns::new();
    d.w.launch(1, HOME);
    d.w.event(&[1]).await;
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    d.w.set_state(1, InstanceState::Stopped);
    assert_eq!(d.update("home", &secret, &q(HOME), ROUTER).await, "nohost");
    assert_eq!(d.w.owner(HOME), Some(owner(1)));
    // Once the reconciler releases it (the stop event), the host's next update takes it.
    d.w.event(&[1]).await;
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    d.w.assert_invariants();
}

#[tokio::test]
async fn a_host_marker_of_another_deployment_is_someone_elses() {
    let mut d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    // Another deployment of the same account and region has a host of the same name on
    // the same name.
    let theirs = crate::marker::Marker {
        owner: crate::marker::Marked::Owner(
            Owner::parse("123456789012/us-east-1/host/home").unwrap(),
        ),
        gen: 3,
        types: [crate::model::RecordType::A].into(),
        deployment: Some(crate::testing::other_deployment()),
    };
    let public = d.w.public.clone();
    d.w.put_foreign(
        &public,
        &name(HOME).marker_name(),
        "TXT",
        &[&theirs.value()],
    );
    d.w.put_foreign(&public, HOME, "A", &["192.0.2.9"]);
    assert_eq!(d.update("home", &secret, &q(HOME), ROUTER).await, "nohost");
    assert_eq!(d.w.a(HOME), Some(vec!["192.0.2.9".into()]));
    assert_eq!(d.w.marker(&public, HOME), Some(theirs));
}

#[tokio::test]
async fn guessing_from_elsewhere_cannot_lock_a_host_out_of_its_own_line() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    for _ in 0..LOCKOUT_AFTER {
        assert_eq!(
            d.update("home", "guess", &q(HOME), "192.0.2.200").await,
            "badauth"
        );
    }
    assert!(d.host("home").locked_until > 0);
    // The guesser is locked out; the router, from its last accepted address, is not.
    assert_eq!(
        d.update("home", &secret, &q(HOME), "192.0.2.200").await,
        "abuse"
    );
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("nochg {ROUTER}")
    );
    let h = d.host("home");
    assert_eq!(
        (h.failures, h.locked_until),
        (0, 0),
        "its success clears the lockout"
    );
}

#[tokio::test]
async fn a_host_whose_item_cannot_be_read_keeps_its_names() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    d.update("home", &secret, &q(HOME), ROUTER).await;
    d.w.locks()
        .bad_hosts
        .lock()
        .unwrap()
        .insert(HostName::parse("home").unwrap());
    d.w.all().await;
    d.w.launch(1, HOME);
    d.w.event(&[1]).await;
    assert_eq!(d.w.a(HOME), Some(vec![ROUTER.to_string()]));
    assert_eq!(d.w.owner(HOME).unwrap().host().unwrap().as_str(), "home");
    assert!(d.w.status(1).starts_with("conflict:"), "{}", d.w.status(1));
}

#[tokio::test]
async fn a_sample_secret_that_cannot_be_stored_leaves_no_half_made_credential() {
    let d = Ddns::new();
    let sample = HostOptions {
        sample: true,
        ..HostOptions::default()
    };
    let secret = d.add("pi", &[HOME], sample.clone()).await;
    d.ep.secrets.fail_puts.store(true, Ordering::SeqCst);
    let pi = HostName::parse("pi").unwrap();
    // Adding: the credential is taken back.
    let err = admin::add(
        &d.ep.rec.locks,
        &d.ep.secrets,
        &HostName::parse("pi2").unwrap(),
        [name("pi2.dyn.example.com")].into(),
        &sample,
        0,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("PutParameter"), "{err}");
    assert!(d.w.locks().host_now("pi2").is_none());
    // Rotating: both stores keep the old secret, which still works.
    assert!(admin::rotate(&d.ep.rec.locks, &d.ep.secrets, &pi)
        .await
        .is_err());
    assert_eq!(d.ep.secrets.secrets.lock().unwrap().get(&pi), Some(&secret));
    assert_eq!(
        d.update("pi", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    // An existing host is refused before its secret is touched.
    d.ep.secrets.fail_puts.store(false, Ordering::SeqCst);
    assert!(admin::add(
        &d.ep.rec.locks,
        &d.ep.secrets,
        &pi,
        [name(HOME)].into(),
        &sample,
        0
    )
    .await
    .is_err());
    assert_eq!(d.ep.secrets.secrets.lock().unwrap().get(&pi), Some(&secret));
}

#[tokio::test]
async fn failures_on_our_side_count_as_errors_whatever_the_protocol_status() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    let auth = basic("home", &secret);
    let ev = event(
        "GET",
        "/nic/update",
        &q(HOME),
        &[("authorization", &auth)],
        ROUTER,
    );
    let f =
        d.w.faults
            .fail(Op::ChangeResourceRecordSets, Phase::Before, 1);
    let r = handle_event(&d.ep, &ev, None).await;
    assert_eq!(
        (r.status, r.body.as_str(), r.failed),
        (200, "dnserr\n", true)
    );
    assert_eq!(f.fired(), 1);
    let r = handle_event(&d.ep, &ev, None).await;
    assert_eq!(
        (r.body.as_str(), r.failed),
        (format!("good {ROUTER}\n").as_str(), false)
    );
    let r = handle_event(
        &d.ep,
        &event(
            "GET",
            "/nic/update",
            &q(HOME),
            &[("authorization", &basic("home", "x"))],
            ROUTER,
        ),
        None,
    )
    .await;
    assert_eq!(
        (r.body.as_str(), r.failed),
        ("badauth\n", false),
        "the caller's mistake is not ours"
    );
}

#[tokio::test]
async fn a_change_fits_in_the_short_time_the_function_runs() {
    // The deployed function has 15 s: its window is short, and its Route53 calls are
    // bounded to fit, so a change is sent rather than refused for want of time.
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    let now = d.w.clock.0.load(Ordering::SeqCst);
    let auth = basic("home", &secret);
    let ev = event(
        "GET",
        "/nic/update",
        &q(HOME),
        &[("authorization", &auth)],
        ROUTER,
    );
    let r = handle_event(&d.ep, &ev, Some(now + 15)).await;
    assert_eq!(r.body, format!("good {ROUTER}\n"));
    assert_eq!(d.w.a(HOME), Some(vec![ROUTER.to_string()]));
    // With the reconciler's bound (40 s) the same change would not fit in 15 s.
    let slow = Ddns::new();
    let secret = slow.add("home", &[HOME], HostOptions::default()).await;
    let mut ep = slow.ep;
    ep.rec = ep
        .rec
        .with_route53_call_max(crate::engine::ROUTE53_CALL_MAX);
    let ev = event(
        "GET",
        "/nic/update",
        &q(HOME),
        &[("authorization", &basic("home", &secret))],
        ROUTER,
    );
    let r = handle_event(&ep, &ev, Some(now + 15)).await;
    assert_eq!(r.body, "dnserr\n");
}

#[tokio::test]
async fn a_host_whose_item_cannot_be_read_is_listed_and_can_be_removed() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    d.update("home", &secret, &q(HOME), ROUTER).await;
    let home = HostName::parse("home").unwrap();
    d.w.locks().bad_hosts.lock().unwrap().insert(home.clone());
    let rows = admin::list(&d.ep.rec.locks).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].unreadable, "{rows:?}");
    assert!(crate::cli::render_hosts(&rows).contains("UNREADABLE"));
    admin::remove(&d.ep.rec.locks, &d.ep.secrets, &home)
        .await
        .unwrap();
    assert!(admin::list(&d.ep.rec.locks).await.unwrap().is_empty());
    // With the credential gone, the name is released by the next reconcile.
    d.w.all().await;
    assert_eq!(d.w.a(HOME), None);
    assert!(d.w.owner(HOME).is_none());
}

#[tokio::test]
async fn concurrent_wrong_passwords_across_containers_are_checked_no_more_often_than_the_limit() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    // Four containers, forty wrong passwords at once, from one guesser.
    let containers: Vec<std::sync::Arc<TestEndpoint>> = (0..4)
        .map(|_| std::sync::Arc::new(container(&d.w, EndpointConfig::default())))
        .collect();
    const GUESSES: usize = 40;
    // The worst interleaving: every request has read the credential before any is checked.
    let gates: Vec<_> = (0..GUESSES)
        .map(|_| d.w.faults.hold(Op::LoadLocks, None, Phase::After))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..GUESSES {
        let ep = containers[i % containers.len()].clone();
        tasks.spawn(async move { update_via(&ep, "home", "guess", "192.0.2.200").await });
    }
    for g in &gates {
        g.wait_held().await;
    }
    for g in &gates {
        g.release();
    }
    let mut answers = Vec::new();
    while let Some(a) = tasks.join_next().await {
        answers.push(a.unwrap());
    }
    // A password that was checked (and was wrong) is answered `badauth`; a request refused
    // by the lockout `abuse`, unchecked.
    let checked = answers.iter().filter(|a| *a == "badauth").count();
    let refused = answers.iter().filter(|a| *a == "abuse").count();
    assert_eq!(checked + refused, GUESSES, "{answers:?}");
    assert_eq!(
        checked, LOCKOUT_AFTER as usize,
        "at most the limit is checked: {answers:?}"
    );
    let h = d.host("home");
    let now = d.w.clock.0.load(Ordering::SeqCst);
    assert_eq!(h.failures, LOCKOUT_AFTER);
    assert_eq!(h.locked_until, now + LOCKOUT_FOR);
    // Locked out: the right password is refused too, in every container, and nothing is
    // published.
    for ep in &containers {
        assert_eq!(update_via(ep, "home", &secret, ROUTER).await, "abuse");
    }
    assert_eq!(d.w.a(HOME), None);
    assert_eq!(
        d.host("home").failures,
        LOCKOUT_AFTER,
        "refusals are not counted"
    );
}

#[tokio::test]
async fn sources_in_one_ipv6_64_share_one_limit_and_other_64s_do_not() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    // A guesser rotating through the addresses of its /64, across users.
    for i in 0..auth::SOURCE_FAILURES {
        let source = format!("2001:db8:aa:1::{:x}", i + 1);
        assert_eq!(
            update_via(&d.ep, &format!("user{i}"), "x", &source).await,
            "badauth"
        );
    }
    // Its next address in that /64 is refused unchecked, even with a right credential.
    assert_eq!(
        update_via(&d.ep, "home", &secret, "2001:db8:aa:1:ffff:ffff:ffff:fffe").await,
        "abuse"
    );
    // The /64 next door is another source, and so is every IPv4 address.
    assert_eq!(
        update_via(&d.ep, "nobody", "x", "2001:db8:aa:2::1").await,
        "badauth"
    );
    assert_eq!(
        update_via(&d.ep, "home", &secret, "2001:db8:aa:2::1").await,
        "good 2001:db8:aa:2::1"
    );
    assert_eq!(
        update_via(&d.ep, "nobody", "x", "192.0.2.201").await,
        "badauth"
    );
}

#[tokio::test]
async fn one_source_guessing_over_two_containers_meets_one_limit() {
    let d = Ddns::new();
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    let other = container(&d.w, EndpointConfig::default());
    for i in 0..auth::SOURCE_FAILURES {
        let ep = if i % 2 == 0 { &d.ep } else { &other };
        assert_eq!(
            update_via(ep, &format!("user{i}"), "x", "192.0.2.66").await,
            "badauth"
        );
    }
    // Neither container saw the limit's worth of failures itself; the table did.
    for ep in [&d.ep, &other] {
        assert_eq!(update_via(ep, "home", &secret, "192.0.2.66").await, "abuse");
    }
    assert_eq!(
        update_via(&other, "home", &secret, ROUTER).await,
        format!("good {ROUTER}")
    );
}

fn many(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("h{i}.dyn.example.com"))
        .collect()
}

fn host_owner(h: &str) -> Owner {
    Owner::Host {
        home: home(),
        name: HostName::parse(h).unwrap(),
    }
}

#[tokio::test]
async fn a_host_with_more_names_than_a_tag_may_hold_gets_every_one_published_and_kept() {
    for count in [15, 20] {
        let d = Ddns::new();
        let names = many(count);
        let listed: Vec<&str> = names.iter().map(String::as_str).collect();
        let secret = d.add("home", &listed, HostOptions::default()).await;
        let body = d
            .update("home", &secret, &q(&names.join(",")), ROUTER)
            .await;
        assert_eq!(body, vec![format!("good {ROUTER}"); count].join("\n"));
        // Every name answered `good` is published, held by the host.
        for n in &names {
            assert_eq!(d.w.a(n), Some(vec![ROUTER.to_string()]), "{count}: {n}");
            assert_eq!(d.w.owner(n), Some(host_owner("home")), "{count}: {n}");
        }
        d.w.assert_invariants();

        // The reconciler's reconcile of everything keeps them all.
        let report = d.w.all().await;
        assert!(
            report.changes.is_empty() && report.skipped.is_empty() && report.failed.is_empty(),
            "{count}: {report:?}"
        );
        for n in &names {
            assert_eq!(d.w.a(n), Some(vec![ROUTER.to_string()]), "{count}: {n}");
            assert_eq!(d.w.owner(n), Some(host_owner("home")), "{count}: {n}");
        }
        d.w.assert_converged().await;
        assert_eq!(
            d.update("home", &secret, &q(&names.join(",")), ROUTER)
                .await,
            vec![format!("nochg {ROUTER}"); count].join("\n")
        );

        // Removed, the host lets go of every one of them.
        admin::remove(
            &d.ep.rec.locks,
            &d.ep.secrets,
            &HostName::parse("home").unwrap(),
        )
        .await
        .unwrap();
        d.w.run(crate::engine::Request {
            names: Default::default(),
            scope: Scope::Owners([host_owner("home")].into()),
            verify_dns: true,
            dry_run: false,
            deadline: None,
        })
        .await;
        for n in &names {
            assert_eq!((d.w.a(n), d.w.owner(n)), (None, None), "{count}: {n}");
        }
        d.w.assert_invariants();
    }
}

#[tokio::test]
async fn a_credential_with_more_names_than_a_host_may_have_is_refused_when_made() {
    let d = Ddns::new();
    let names: BTreeSet<Fqdn> = many(21).iter().map(|n| name(n)).collect();
    let refused = admin::add(
        &d.ep.rec.locks,
        &d.ep.secrets,
        &HostName::parse("big").unwrap(),
        names,
        &HostOptions::default(),
        0,
    )
    .await
    .unwrap_err();
    assert_eq!(
        refused.to_string(),
        Error::InvalidInput("21 names; a host may have at most 20".into()).to_string()
    );
    assert!(d.w.locks().host_now("big").is_none(), "nothing written");
    // Duplicates count once: 21 entries naming 20 names make a credential.
    let mut twenty: Vec<Fqdn> = many(20).iter().map(|n| name(n)).collect();
    twenty.push(twenty[0].clone());
    let allowed = d.ep.rec.config.allowed_domains.clone();
    assert_eq!(admin::check_names(&twenty, &allowed).unwrap().len(), 20);
}

#[test]
fn an_answer_is_good_only_for_a_name_its_decision_publishes() {
    let me = host_owner("home");
    let a = Addresses::parse(ROUTER).unwrap();
    let published: BTreeSet<Fqdn> = [name(HOME)].into();
    let nothing = BTreeSet::new();
    let refused = Report {
        skipped: vec![crate::report::SkipRow {
            instance: None,
            owner: me.clone(),
            name: HOME.into(),
            reason: "not below an allowed domain".into(),
            invalid: true,
        }],
        ..Report::default()
    };
    let failed = Report {
        failed: vec![crate::report::FailRow {
            name: HOME.into(),
            instance: None,
            owner: Some(me.clone()),
            reason: "Route53 refused the change".into(),
        }],
        ..Report::default()
    };
    // (case, report, names the plan publishes for the host, addresses changed, answer)
    let table = [
        (
            "published, changed",
            Report::default(),
            &published,
            true,
            Answer::Good(a),
        ),
        (
            "published, already so",
            Report::default(),
            &published,
            false,
            Answer::Nochg(a),
        ),
        (
            "decided for nobody",
            Report::default(),
            &nothing,
            true,
            Answer::Dnserr,
        ),
        ("refused", refused, &nothing, true, Answer::Nohost),
        (
            "published, then failed",
            failed,
            &published,
            true,
            Answer::Dnserr,
        ),
    ];
    for (case, report, decided, changed, expected) in table {
        assert_eq!(
            answer_for(&report, decided, &me, &name(HOME), changed, a),
            expected,
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_host_keeps_its_name_when_regions_leave_out_the_deployments_own() {
    // REGIONS=eu-west-1 for a deployment in us-east-1: its hosts live in its own account
    // and region all the same, and their markers stay this deployment's.
    let west = crate::model::Home::new("123456789012", "eu-west-1").unwrap();
    let mut w = World::new();
    w.reconfigure(|c| c.regions = vec!["eu-west-1".into()]);
    *w.ec2().homes.lock().unwrap() = vec![west.clone()];
    let rec = Reconciler::new(
        NoInstances {
            homes: vec![west.clone()],
        },
        Route53Dns::new(w.rec.dns.api().clone()),
        w.rec.locks.clone(),
        w.rec.config.clone(),
        home(),
    )
    .with_clock(Box::new(w.clock.clone()));
    let ep = Endpoint::new(
        rec,
        FakeSecrets::default(),
        FakeAlerts::default(),
        EndpointConfig::default(),
    );
    let d = Ddns { w, ep };
    let secret = d.add("home", &[HOME], HostOptions::default()).await;
    assert_eq!(
        d.update("home", &secret, &q(HOME), ROUTER).await,
        format!("good {ROUTER}")
    );
    // At once (the first change may still be in flight: Route53 is read) and later.
    assert_eq!(
        d.update("home", &secret, &q(HOME), "198.51.100.9").await,
        "good 198.51.100.9"
    );
    d.w.advance(crate::engine::CHANGE_WINDOW + 60);
    assert_eq!(
        d.update("home", &secret, &q(HOME), "198.51.100.8").await,
        "good 198.51.100.8"
    );
    assert_eq!(d.w.a(HOME), Some(vec!["198.51.100.8".into()]));
    // The reconciler, managing eu-west-1 only, keeps the host's name too.
    let r = d.w.all().await;
    assert!(r.changes.is_empty() && r.failed.is_empty(), "{r:?}");
    assert_eq!(d.w.a(HOME), Some(vec!["198.51.100.8".into()]));
    d.w.assert_invariants();
}
