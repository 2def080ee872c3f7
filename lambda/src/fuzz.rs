//! Structured random fuzzing of everything that parses outside input: invocation payloads
//! (arbitrary JSON, and real events with fields swapped for arbitrary JSON), names, tags
//! and status sentences. No input may panic; accepted names must satisfy every rule and
//! parse to themselves. `EC2_DNS_FUZZ_CASES` sets the cases per target (`make fuzz`).

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::decide::outcome::Outcome;
use crate::error::Error;
use crate::input::parse;
use crate::name::{parse_tag, Fqdn, MAX_NAMES_PER_TAG};
use crate::status_tag::{status_value, MAX_TAG_VALUE};
use crate::testing::{home, owner};

fn cases() -> u32 {
    std::env::var("EC2_DNS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

const KEYS: &[&str] = &[
    "reconcile",
    "dry_run",
    "instance_ids",
    "Records",
    "messageId",
    "body",
    "eventSource",
    "detail-type",
    "detail",
    "source",
    "resources",
    "instance-id",
    "state",
    "changed-tag-keys",
    "service",
    "resource-type",
    "tags",
    "version",
    "id",
    "time",
    "region",
    "account",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => proptest::sample::select(KEYS).prop_map(str::to_string), 1 => ".{0,12}"]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("all".to_string()),
        Just("i-0123456789abcdef0".to_string()),
        Just("EC2 Instance State-change Notification".to_string()),
        Just("Tag Change on Resource".to_string()),
        Just("Scheduled Event".to_string()),
        Just("dnsname".to_string()),
        Just("arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0".to_string()),
        "[a-z0-9.*_-]{0,70}",
        ".{0,40}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn real_events() -> Vec<Value> {
    let state = json!({"version": "0", "id": "1", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"],
        "detail": {"instance-id": "i-0123456789abcdef0", "state": "running"}});
    let tag = json!({"version": "0", "id": "2", "detail-type": "Tag Change on Resource", "source": "aws.tag",
        "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"],
        "detail": {"changed-tag-keys": ["dnsname"], "service": "ec2", "resource-type": "instance", "version": 1, "tags": {}}});
    let sqs = json!({"Records": [{"messageId": "m1", "receiptHandle": "h", "body": state.to_string(), "attributes": {},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"}]});
    vec![
        state,
        tag,
        sqs,
        json!({"reconcile": "all", "dry_run": true}),
        json!({"reconcile": {"instance_ids": ["i-0123456789abcdef0"]}}),
    ]
}

/// Replaces the value at a path of object keys (chosen by index) with `v`.
fn mutate(mut base: Value, path: &[usize], v: Value) -> Value {
    let mut cur = &mut base;
    for (depth, i) in path.iter().enumerate() {
        let next = match cur {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(i % m.len()).cloned().unwrap_or_default();
                if depth + 1 == path.len() {
                    m.insert(k, v);
                    return base;
                }
                m.get_mut(&k)
            }
            Value::Array(a) if !a.is_empty() => {
                let n = a.len();
                a.get_mut(i % n)
            }
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return base,
        }
    }
    base
}

fn check_payload(v: &Value) {
    match parse(v, "dnsname", &home()) {
        Ok(_) | Err(Error::InvalidInput(_)) => {}
        Err(e) => panic!("unexpected error kind for {v}: {e:?}"),
    }
}

fn check_name(raw: &str) {
    if let Ok(n) = Fqdn::parse(raw) {
        let s = n.as_str();
        assert!(s.len() <= 253 && s.contains('.'), "{raw:?} -> {s:?}");
        for label in s.split('.') {
            assert!((1..=63).contains(&label.len()), "{raw:?}");
            assert!(
                label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{raw:?}"
            );
            assert!(!label.starts_with('-') && !label.ends_with('-'), "{raw:?}");
        }
        assert_eq!(Fqdn::parse(s).as_ref(), Ok(&n), "not idempotent: {raw:?}");
    }
    if let Ok(entries) = parse_tag(raw) {
        assert!(entries.len() <= MAX_NAMES_PER_TAG);
        let outcomes: Vec<Outcome> = entries
            .into_iter()
            .map(|e| match e.parsed {
                Ok(name) => Outcome::Skipped {
                    name,
                    reason: crate::decide::outcome::SkipReason::NoZone,
                },
                Err(err) => Outcome::Invalid {
                    raw: e.raw,
                    reason: err.to_string(),
                },
            })
            .collect();
        if let Some(v) = status_value(&owner(1), &outcomes) {
            assert!(
                v.chars().count() <= MAX_TAG_VALUE && !v.chars().any(char::is_control),
                "{v:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_payloads_never_panic(v in json_value()) {
        check_payload(&v);
    }

    #[test]
    fn real_events_with_a_field_replaced_never_panic(which in 0usize..5, path in proptest::collection::vec(any::<usize>(), 1..4), v in json_value()) {
        check_payload(&mutate(real_events()[which].clone(), &path, v));
    }

    #[test]
    fn arbitrary_names_and_tags_never_panic_and_accepted_names_obey_every_rule(raw in prop_oneof![".{0,300}", "[a-zA-Z0-9.*_ ,-]{0,300}", "([a-z0-9-]{0,70}\\.){0,6}dyn\\.example\\.com\\.?"]) {
        check_name(&raw);
    }
}
