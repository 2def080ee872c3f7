//! Adapter tests: real SDK clients against a canned-response HTTP server on loopback, so the
//! SDK's own deserialisation of each service's wire format is what gets mapped.

use std::sync::{Arc, Mutex};

use aws_config::BehaviorVersion;
use aws_sdk_route53::config::{Credentials, Region};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{DynamoLocks, Ec2Instances, Route53Dns, SdkRoute53, SqsQueue};
use crate::error::Error;
use crate::lock::{Cas, Decision, Expect, LockWrite, Stamp};
use crate::marker::Marker;
use crate::model::{Change, ChangeAction, Home, InstanceState, RecordSet, RecordType, ZoneId};
use crate::name::Fqdn;
use crate::ports::{Applied, Dns, Locks, Queue, RetryLater};
use crate::testing::{home, owner};

/// One canned answer: status, content type, body.
type Canned = (u16, &'static str, String);

/// Serves `answers` in order, one per connection, on 127.0.0.1; records request bodies.
async fn stub(answers: Vec<Canned>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for (status, ctype, body) in answers {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            // Read headers, then the body named by content-length.
            loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        log.lock().unwrap().push(text[end + 4..].to_string());
                        break;
                    }
                }
            }
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nx-amzn-requestid: r1\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (url, seen)
}

fn sdk(url: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_route53::config::SharedCredentialsProvider::new(
            Credentials::new("AKID", "secret", None, None, "test"),
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build()
}

fn name(s: &str) -> Fqdn {
    Fqdn::parse(s).unwrap()
}

fn set(v: &str) -> RecordSet {
    RecordSet::new(ZoneId("Z1".into()), RecordType::A, 60, vec![v.into()])
}

const R53_XML: &str = "text/xml";
const DDB_JSON: &str = "application/x-amz-json-1.0";
const CHANGED: &str = r#"<?xml version="1.0"?>
<ChangeResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>"#;

fn dns(url: &str) -> Route53Dns<SdkRoute53> {
    Route53Dns::new(SdkRoute53::new(aws_sdk_route53::Client::new(&sdk(url))))
}

fn locks(url: &str) -> DynamoLocks {
    DynamoLocks::new(aws_sdk_dynamodb::Client::new(&sdk(url)), "locks", home())
}

fn ec2(url: &str) -> Ec2Instances {
    Ec2Instances::new(
        aws_sdk_ec2::Client::new(&sdk(url)),
        home(),
        "dnsname",
        "dnsname-status",
    )
}

fn create(value: &str) -> Change {
    Change {
        action: ChangeAction::Create,
        name: name("web.dyn.example.com"),
        set: set(value),
    }
}

#[tokio::test]
async fn route53_invalid_change_batch_is_a_rejection_not_an_error() {
    let refused = r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>[Tried to delete resource record set [name='web.dyn.example.com.', type='A'] but it was not found]</Message></Error><RequestId>r2</RequestId></ErrorResponse>"#;
    let (url, _) = stub(vec![(400, R53_XML, refused.into())]).await;
    let out = dns(&url)
        .change(&[create("192.0.2.1")], &open_window())
        .await;
    match out.values().next() {
        Some(Applied::Rejected(m)) => assert!(m.contains("was not found"), "{m}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn route53_refusing_a_protected_set_names_it_as_protected() {
    // The message as modelled (see `testing::fakes::protection_message`): AWS documents the
    // refusal, not its text.
    let refused = r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>[Tried to create resource record set [name='web.dyn.example.com.', type='A'] but it is protected by a resource record set protection (comment: freeze)]</Message></Error><RequestId>r2</RequestId></ErrorResponse>"#;
    let (url, seen) = stub(vec![(400, R53_XML, refused.into())]).await;
    let out = dns(&url)
        .change(&[create("192.0.2.1")], &open_window())
        .await;
    match out.values().next() {
        Some(Applied::Protected { types, why }) => {
            assert_eq!(*types, [RecordType::A].into());
            assert!(why.contains("comment: freeze"), "{why}");
        }
        other => panic!("expected a protection, got {other:?}"),
    }
    assert_eq!(seen.lock().unwrap().len(), 1, "not sent again");
}

#[tokio::test]
async fn a_hosted_zone_deleted_meanwhile_is_read_as_empty() {
    let gone = r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>No hosted zone found with ID: Z1</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
    let (url, _) = stub(vec![
        (404, R53_XML, gone.into()),
        (404, R53_XML, gone.into()),
    ])
    .await;
    let zone = ZoneId("Z1".into());
    let dns = dns(&url);
    let web = name("web.dyn.example.com");
    let got = dns.read(&zone, std::slice::from_ref(&web)).await.unwrap();
    assert_eq!(got[&web], crate::decide::Seen::default());
    assert!(dns.read_zone(&zone).await.unwrap().is_empty());
}

#[tokio::test]
async fn route53_throttling_is_a_retryable_failure() {
    let body = r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>PriorRequestNotComplete</Code><Message>busy</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
    let (url, _) = stub(vec![(400, R53_XML, body.into())]).await;
    let out = dns(&url)
        .change(&[create("192.0.2.1")], &open_window())
        .await;
    match out.values().next() {
        Some(Applied::Failed(e)) => assert!(e.is_retryable(), "{e}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_swap_is_one_batch_deleting_first_with_the_marker_at_its_own_name() {
    let (url, seen) = stub(vec![(200, R53_XML, CHANGED.into())]).await;
    let n = name("web.dyn.example.com");
    let marker = |gen| {
        Marker {
            owner: crate::marker::Marked::Owner(owner(1)),
            gen,
            types: [RecordType::A].into(),
            deployment: None,
        }
        .set(&ZoneId("Z1".into()))
    };
    let changes = [
        Change {
            action: ChangeAction::Delete,
            name: n.clone(),
            set: marker(3),
        },
        Change {
            action: ChangeAction::Delete,
            name: n.clone(),
            set: set("192.0.2.1"),
        },
        Change {
            action: ChangeAction::Create,
            name: n.clone(),
            set: marker(4),
        },
        Change {
            action: ChangeAction::Create,
            name: n,
            set: set("192.0.2.2"),
        },
    ];
    let out = dns(&url).change(&changes, &open_window()).await;
    assert!(
        matches!(out.values().next(), Some(Applied::Done)),
        "{out:?}"
    );
    let body = seen.lock().unwrap()[0].clone();
    let (del, cre) = (
        body.find("<Action>DELETE</Action>").unwrap(),
        body.find("<Action>CREATE</Action>").unwrap(),
    );
    assert!(del < cre, "{body}");
    assert!(
        body.contains("<Name>_ec2-dns.web.dyn.example.com</Name><Type>TXT</Type>"),
        "{body}"
    );
    assert!(
        body.contains("&quot;123456789012/us-east-1/i-00000001 4 A&quot;"),
        "{body}"
    );
    assert!(body.contains("<Value>192.0.2.1</Value>") && body.contains("<Value>192.0.2.2</Value>"));
    assert!(!body.contains("UPSERT"));
}

#[tokio::test]
async fn hosted_zones_are_listed_with_ids_and_privacy() {
    let page = r#"<?xml version="1.0"?>
<ListHostedZonesResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HostedZones>
<HostedZone><Id>/hostedzone/ZPUB</Id><Name>dyn.example.com.</Name><CallerReference>a</CallerReference><Config><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>
<HostedZone><Id>/hostedzone/ZPRIV</Id><Name>dyn.example.com.</Name><CallerReference>b</CallerReference><Config><PrivateZone>true</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>
</HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesResponse>"#;
    let (url, _) = stub(vec![(200, R53_XML, page.into())]).await;
    let zones = dns(&url).zones().await.unwrap();
    let got: Vec<(String, String, bool)> = zones
        .iter()
        .map(|z| (z.id.to_string(), z.name.to_string(), z.private))
        .collect();
    assert_eq!(
        got,
        [
            ("ZPUB".into(), "dyn.example.com".into(), false),
            ("ZPRIV".into(), "dyn.example.com".into(), true)
        ]
    );
}

#[tokio::test]
async fn one_name_is_read_with_its_marker_in_one_listing_that_stops_past_the_marker() {
    let page = r#"<?xml version="1.0"?>
<ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ResourceRecordSets>
<ResourceRecordSet><Name>web.dyn.example.com.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
<ResourceRecordSet><Name>web.dyn.example.com.</Name><Type>MX</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>10 mail.example.com.</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
<ResourceRecordSet><Name>1.web.dyn.example.com.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.9</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
<ResourceRecordSet><Name>_ec2-dns.web.dyn.example.com.</Name><Type>TXT</Type><TTL>300</TTL><ResourceRecords><ResourceRecord><Value>"123456789012/us-east-1/i-00000001 2 A"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
<ResourceRecordSet><Name>a.web.dyn.example.com.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.8</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
</ResourceRecordSets><IsTruncated>true</IsTruncated><NextRecordName>b.web.dyn.example.com.</NextRecordName><NextRecordType>A</NextRecordType><MaxItems>10</MaxItems></ListResourceRecordSetsResponse>"#;
    let (url, seen) = stub(vec![(200, R53_XML, page.into())]).await;
    let zone = ZoneId("Z1".into());
    let got = dns(&url)
        .read(&zone, &[name("web.dyn.example.com")])
        .await
        .unwrap();
    let s = &got[&name("web.dyn.example.com")];
    assert_eq!(s.sets, vec![set("192.0.2.1")]);
    assert_eq!(s.others, ["MX".to_string()].into());
    let m = Marker::parse(&s.marker.as_ref().unwrap().values).unwrap();
    assert_eq!((m.owner.owner(), m.gen), (Some(&owner(1)), 2));
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the listing stopped past the marker"
    );
}

#[tokio::test]
async fn dynamodb_failed_condition_is_a_lost_race() {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#;
    let (url, _) = stub(vec![(400, DDB_JSON, body.into())]).await;
    let w = LockWrite::Settle {
        name: name("web.dyn.example.com"),
        version: 3,
    };
    assert_eq!(locks(&url).write(&w).await.unwrap(), Cas::Lost);
}

#[tokio::test]
async fn a_counted_check_that_lost_its_race_is_counted_again_on_the_item_as_it_is() {
    use crate::hosts::{Attempt, HostName, HostRecord, LOCKOUT_FOR};
    // Read with no failure; meanwhile four other checks were counted. The item comes back
    // inside the failed condition, and the next try swaps from there: the fifth, locking.
    let now = 1_800_000_000;
    let meanwhile = format!(
        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{{"pk":{{"S":"host#home"}},"version":{{"N":"1"}},"password":{{"S":"$argon2id$x"}},"failures":{{"N":"4"}},"failed_since":{{"N":"{}"}},"locked_until":{{"N":"0"}}}}}}"#,
        now - 10
    );
    let (url, seen) = stub(vec![
        (400, DDB_JSON, meanwhile),
        (200, DDB_JSON, "{}".into()),
    ])
    .await;
    let read = HostRecord {
        name: HostName::parse("home").unwrap(),
        version: 1,
        names: Default::default(),
        password: "$argon2id$x".into(),
        sample: false,
        bound: true,
        prefixes: Default::default(),
        lease: 0,
        ipv4: None,
        ipv6: None,
        updated: 0,
        created: 0,
        failures: 0,
        failed_since: 0,
        locked_until: 0,
        alerted: None,
    };
    let Attempt::Counted(f) = locks(&url).count_attempt(&read, now).await.unwrap() else {
        panic!("not counted");
    };
    assert_eq!(
        (f.failures, f.failed_since, f.locked_until),
        (5, now - 10, now + LOCKOUT_FOR)
    );
    let bodies = seen.lock().unwrap().clone();
    assert!(bodies[0].contains(r#""ReturnValuesOnConditionCheckFailure":"ALL_OLD""#));
    assert!(bodies[0].contains("attribute_not_exists(#fc) OR #fc = :fc0"));
    for part in [
        r#"":fc0":{"N":"4"}"#,
        r#"":fc":{"N":"5"}"#,
        &format!(r#"":lu":{{"N":"{}"}}"#, now + LOCKOUT_FOR),
        "#fc = :fc0 AND #fs = :fs0",
    ] {
        assert!(
            bodies[1].contains(part),
            "{part} missing from {}",
            bodies[1]
        );
    }
}

fn decision(previous: Option<u32>, legacy: bool, holder: Option<u32>) -> Decision {
    Decision {
        name: name("web.dyn.example.com"),
        expect: Expect::Version(4),
        previous: previous.map(owner),
        previous_legacy: legacy,
        holder: holder.map(owner),
        members: Default::default(),
        previous_members: Default::default(),
        gen: 5,
        records: vec![set("192.0.2.1")],
        blocked: Vec::new(),
        waiting: [owner(3)].into(),
        since: None,
        until: 1_800_000_120,
        zones: [ZoneId("Z1".into()), ZoneId("Z2".into())].into(),
        host: None,
        stamp: Stamp {
            at: 1_800_000_000,
            token: 77,
        },
        deployment: Some(crate::marker::DeploymentId::parse("prod").unwrap()),
        style: Default::default(),
    }
}

#[tokio::test]
async fn a_decision_writes_the_whole_item_conditional_on_the_version_read() {
    let (url, seen) = stub(vec![(200, DDB_JSON, "{}".into())]).await;
    let r = locks(&url)
        .write(&LockWrite::Decide(Box::new(decision(
            Some(1),
            false,
            Some(1),
        ))))
        .await
        .unwrap();
    assert_eq!(r, Cas::Won(5));
    let body = seen.lock().unwrap()[0].clone();
    for part in [
        r#""layout":{"N":"2"}"#,
        r#""version":{"N":"5"}"#,
        r#""gen":{"N":"5"}"#,
        r#""owner":{"S":"123456789012/us-east-1/i-00000001"}"#,
        r#""until":{"N":"1800000120"}"#,
        r#""zones":{"S":"[\"Z1\",\"Z2\"]"}"#,
        r#""waiting":{"SS":["123456789012/us-east-1/i-00000003"]}"#,
        r##""ConditionExpression":"#v = :v""##,
        r#"":v":{"N":"4"}"#,
    ] {
        assert!(body.contains(part), "{part} missing from {body}");
    }
    assert!(
        !body.contains("TransactItems"),
        "the holder stays: no index change, no transaction"
    );
}

#[tokio::test]
async fn a_handover_from_a_previous_release_item_moves_the_index_in_one_transaction() {
    let (url, seen) = stub(vec![(200, DDB_JSON, "{}".into())]).await;
    locks(&url)
        .write(&LockWrite::Decide(Box::new(decision(
            Some(1),
            true,
            Some(2),
        ))))
        .await
        .unwrap();
    let body = seen.lock().unwrap()[0].clone();
    assert!(body.contains("TransactItems"), "{body}");
    assert!(
        body.contains(r#""pk":{"S":"owner#i-00000001"}"#),
        "the legacy index key: {body}"
    );
    assert!(
        body.contains(r#""pk":{"S":"owner#123456789012/us-east-1/i-00000002"}"#),
        "{body}"
    );
}

#[tokio::test]
async fn a_cancelled_transaction_is_a_lost_race_only_when_the_lock_condition_failed() {
    let lost = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{"Code":"ConditionalCheckFailed"},{"Code":"None"}]}"#;
    let conflict = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}"#;
    let (url, _) = stub(vec![
        (400, DDB_JSON, lost.into()),
        (400, DDB_JSON, conflict.into()),
    ])
    .await;
    let l = locks(&url);
    let w = LockWrite::Decide(Box::new(decision(Some(1), false, Some(2))));
    assert_eq!(l.write(&w).await.unwrap(), Cas::Lost);
    let err = l.write(&w).await.unwrap_err();
    assert!(
        err.is_retryable() && err.to_string().contains("TransactionConflict"),
        "{err}"
    );
}

#[tokio::test]
async fn dynamodb_throttling_is_retryable_and_access_denied_is_not() {
    let throttled = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#;
    let denied = r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"no"}"#;
    let (url, _) = stub(vec![
        (400, DDB_JSON, throttled.into()),
        (400, DDB_JSON, denied.into()),
    ])
    .await;
    let l = locks(&url);
    assert!(l.scan().await.unwrap_err().is_retryable());
    let err = l.scan().await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(matches!(
        err,
        Error::Aws {
            operation: "Scan",
            ..
        }
    ));
}

#[tokio::test]
async fn items_of_both_layouts_are_read_and_a_malformed_one_is_reported_not_fatal() {
    let body = r#"{"Responses":{"locks":[
        {"pk":{"S":"web.dyn.example.com"},"layout":{"N":"2"},"owner":{"S":"210987654321/eu-west-1/i-0000000a"},"version":{"N":"7"},"gen":{"N":"6"},"until":{"N":"1800000000"},"check":{"BOOL":true},"waiting":{"SS":["123456789012/us-east-1/i-0000000b"]},"records":{"S":"[{\"zone_id\":\"Z1\",\"type\":\"A\",\"ttl\":60,\"values\":[\"192.0.2.1\"]}]"},"blocked":{"S":"[{\"zone\":\"Z1\",\"type\":\"AAAA\",\"by\":\"CNAME\"}]"},"zones":{"S":"[\"Z1\"]"}},
        {"pk":{"S":"old.dyn.example.com"},"owner":{"S":"i-0000000c"},"version":{"N":"3"},"records":{"S":"[]"},"intent":{"S":"[{\"zone_id\":\"Z1\",\"type\":\"A\",\"ttl\":60,\"values\":[\"192.0.2.3\"]}]"}},
        {"pk":{"S":"bad.dyn.example.com"},"version":{"N":"2"},"layout":{"N":"2"}},
        {"pk":{"S":"new.dyn.example.com"},"version":{"N":"2"},"layout":{"N":"3"},"gen":{"N":"1"}},
        {"pk":{"S":"big.dyn.example.com"},"version":{"N":"2"},"layout":{"N":"2"},"gen":{"N":"1000000000000001"}},
        {"pk":{"S":"owner#i-0000000c"},"names":{"SS":["old.dyn.example.com"]}},
        {"pk":{"S":"owner#123456789012/us-east-1/i-0000000d"}}
    ]},"UnprocessedKeys":{}}"#;
    let (url, seen) = stub(vec![(200, DDB_JSON, body.into())]).await;
    let got = locks(&url)
        .load(&[name("web.dyn.example.com")], &[])
        .await
        .unwrap();
    assert!(seen.lock().unwrap()[0].contains("\"ConsistentRead\":true"));
    assert_eq!(got.locks.len(), 2);
    let web = &got.locks[0];
    assert_eq!(
        web.holder.as_ref().unwrap().to_string(),
        "210987654321/eu-west-1/i-0000000a"
    );
    assert_eq!(
        (web.version, web.gen, web.until, web.check),
        (7, 6, 1_800_000_000, true)
    );
    assert_eq!(web.records, vec![set("192.0.2.1")]);
    assert_eq!(web.blocked[0].by, "CNAME");
    assert_eq!(web.zones, Some([ZoneId("Z1".into())].into()));
    let old = &got.locks[1];
    assert_eq!(
        old.holder.as_ref().unwrap().to_string(),
        "123456789012/us-east-1/i-0000000c"
    );
    assert!(
        old.check,
        "a previous release's intent must be read before it is trusted"
    );
    assert_eq!(old.legacy.as_ref().unwrap().len(), 1);
    assert_eq!(
        old.zones, None,
        "an item that does not say which zones: all are read"
    );
    let bad: Vec<(&str, &str)> = got
        .unreadable
        .iter()
        .map(|u| (u.key.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(
        bad[0].1.contains("no gen")
            && bad[1].1.contains("layout 3")
            && bad[2].1.contains("gen above 10^15"),
        "{bad:?}"
    );
    assert_eq!(
        got.index[&owner(12)].len(),
        1,
        "a previous release's index item"
    );
    assert_eq!(got.empty_index, ["owner#123456789012/us-east-1/i-0000000d"]);
}

#[tokio::test]
async fn host_items_keep_their_networks_and_items_without_them_have_none() {
    use crate::hosts::{parse_prefixes, HostName, HostRecord};
    let body = r#"{"Responses":{"locks":[
        {"pk":{"S":"host#old"},"version":{"N":"1"},"password":{"S":"$argon2id$x"},"names":{"SS":["old.dyn.example.com"]},"bound":{"BOOL":true}},
        {"pk":{"S":"host#home"},"version":{"N":"2"},"password":{"S":"$argon2id$x"},"names":{"SS":["home.dyn.example.com"]},"prefixes":{"SS":["2001:db8:12::/48","198.51.100.0/24"]}},
        {"pk":{"S":"host#bad"},"version":{"N":"1"},"password":{"S":"$argon2id$x"},"prefixes":{"SS":["::/0"]}}
    ]},"UnprocessedKeys":{}}"#;
    let (url, _) = stub(vec![(200, DDB_JSON, body.into())]).await;
    let host = |h: &str| crate::model::Owner::Host {
        home: home(),
        name: HostName::parse(h).unwrap(),
    };
    let got = locks(&url)
        .load(&[], &[host("old"), host("home"), host("bad")])
        .await
        .unwrap();
    let by = |h: &str| got.hosts.iter().find(|r| r.name.as_str() == h).unwrap();
    assert!(by("old").prefixes.is_empty(), "an item made before 0.4");
    assert_eq!(
        by("home").prefixes,
        parse_prefixes("198.51.100.0/24,2001:db8:12::/48").unwrap()
    );
    assert_eq!(
        got.unreadable_hosts,
        [HostName::parse("bad").unwrap()].into(),
        "a damaged network never widens the binding: the host cannot log in"
    );
    // Written back whole, the networks go with the item; none, no attribute.
    let (url, seen) = stub(vec![
        (200, DDB_JSON, "{}".into()),
        (200, DDB_JSON, "{}".into()),
    ])
    .await;
    let record: HostRecord = by("home").clone();
    locks(&url).put_host(&record, true).await.unwrap();
    let mut bare = record.clone();
    bare.prefixes.clear();
    locks(&url).put_host(&bare, true).await.unwrap();
    let bodies = seen.lock().unwrap().clone();
    assert!(
        bodies[0].contains(r#""prefixes":{"SS":["198.51.100.0/24","2001:db8:12::/48"]}"#),
        "{}",
        bodies[0]
    );
    assert!(!bodies[1].contains("prefixes"), "{}", bodies[1]);
}

#[tokio::test]
async fn ec2_instances_are_read_with_tags_addresses_and_ipv6_from_interfaces() {
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId><ownerId>1</ownerId><instancesSet><item>
<instanceId>i-0123456789abcdef0</instanceId><instanceState><code>16</code><name>running</name></instanceState>
<privateIpAddress>10.0.0.5</privateIpAddress><ipAddress>203.0.113.5</ipAddress><launchTime>2026-11-01T10:00:00.000Z</launchTime>
<networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId><ipv6AddressesSet><item><ipv6Address>2001:db8::5</ipv6Address></item></ipv6AddressesSet></item></networkInterfaceSet>
<tagSet><item><key>dnsname</key><value>web.dyn.example.com</value></item><item><key>dnsname-status</key><value>ok</value></item></tagSet>
</item></instancesSet></item></reservationSet></DescribeInstancesResponse>"#;
    let (url, seen) = stub(vec![(200, R53_XML, body.into())]).await;
    let me = home().instance(crate::model::InstanceId::parse("i-0123456789abcdef0").unwrap());
    let elsewhere =
        crate::model::Owner::parse("210987654321/eu-west-1/i-0123456789abcdef1").unwrap();
    let got = ec2(&url).describe(&[me.clone(), elsewhere]).await.unwrap();
    assert_eq!(got.len(), 1);
    let i = &got[0];
    assert_eq!(i.owner, me);
    assert_eq!(
        (i.state, i.names.tag(), i.status_tag.as_deref()),
        (
            InstanceState::Running,
            Some("web.dyn.example.com"),
            Some("ok")
        )
    );
    assert_eq!(
        i.public_ipv4.map(|a| a.to_string()).as_deref(),
        Some("203.0.113.5")
    );
    assert_eq!(
        i.private_ipv4.map(|a| a.to_string()).as_deref(),
        Some("10.0.0.5")
    );
    assert_eq!(
        i.ipv6,
        vec!["2001:db8::5".parse::<std::net::Ipv6Addr>().unwrap()]
    );
    assert_eq!(i.launch_time, 1_793_527_200);
    let request = seen.lock().unwrap()[0].clone();
    assert!(
        request.contains("InstanceId.1=i-0123456789abcdef0"),
        "{request}"
    );
    assert!(
        !request.contains("InstanceId.2"),
        "another account's instance is not asked here: {request}"
    );
}

#[tokio::test]
async fn the_instance_of_a_network_interface_is_one_filtered_listing_and_none_is_none() {
    let one = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId><ownerId>1</ownerId><instancesSet><item>
<instanceId>i-0123456789abcdef0</instanceId><instanceState><code>16</code><name>running</name></instanceState>
<networkInterfaceSet><item><networkInterfaceId>eni-0123456789abcdef0</networkInterfaceId><ipv6AddressesSet><item><ipv6Address>2001:db8::5</ipv6Address></item></ipv6AddressesSet></item></networkInterfaceSet>
<tagSet><item><key>dnsname</key><value>web.dyn.example.com</value></item></tagSet>
</item></instancesSet></item></reservationSet></DescribeInstancesResponse>"#;
    let none = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>"#;
    let (url, seen) = stub(vec![
        (200, R53_XML, one.into()),
        (200, R53_XML, none.into()),
    ])
    .await;
    let eni = crate::model::InterfaceId::parse("eni-0123456789abcdef0").unwrap();
    let got = ec2(&url).attached_to(&eni).await.unwrap().unwrap();
    assert_eq!(
        got.owner.to_string(),
        "123456789012/us-east-1/i-0123456789abcdef0"
    );
    assert_eq!(got.names.tag(), Some("web.dyn.example.com"));
    assert_eq!(
        got.ipv6,
        vec!["2001:db8::5".parse::<std::net::Ipv6Addr>().unwrap()]
    );
    assert!(ec2(&url).attached_to(&eni).await.unwrap().is_none());
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0].contains("Action=DescribeInstances")
            && requests[0].contains("Filter.1.Name=network-interface.network-interface-id")
            && requests[0].contains("Filter.1.Value.1=eni-0123456789abcdef0"),
        "{}",
        requests[0]
    );
}

#[tokio::test]
async fn ec2_request_limit_is_retryable_and_unauthorized_is_not() {
    let limit = r#"<?xml version="1.0"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow</Message></Error></Errors><RequestID>r</RequestID></Response>"#;
    let denied = r#"<?xml version="1.0"?><Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>"#;
    let (url, _) = stub(vec![
        (503, R53_XML, limit.into()),
        (403, R53_XML, denied.into()),
    ])
    .await;
    let e = ec2(&url);
    assert!(e.tagged("").await.unwrap_err().is_retryable());
    assert!(!e.tagged("").await.unwrap_err().is_retryable());
}

#[tokio::test]
async fn one_status_value_tags_many_instances_five_hundred_per_call() {
    let ok = r#"<?xml version="1.0" encoding="UTF-8"?><CreateTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><return>true</return></CreateTagsResponse>"#;
    let (url, seen) = stub(vec![(200, R53_XML, ok.into()); 3]).await;
    let owners: Vec<_> = (1..=1001).map(owner).collect();
    ec2(&url).set_status(&owners, "ok").await.unwrap();
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    assert!(requests[0].contains("ResourceId.500=") && !requests[0].contains("ResourceId.501="));
    assert!(
        requests[2].contains("ResourceId.1=i-000003e9"),
        "{}",
        requests[2]
    );
}

#[tokio::test]
async fn an_unknown_instance_id_falls_back_to_the_id_filter() {
    let not_found = r#"<?xml version="1.0"?><Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-00000000deadbeef0' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>"#;
    let empty = r#"<?xml version="1.0" encoding="UTF-8"?><DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>"#;
    let (url, seen) = stub(vec![
        (400, R53_XML, not_found.into()),
        (200, R53_XML, empty.into()),
    ])
    .await;
    let gone = home().instance(crate::model::InstanceId::parse("i-00000000deadbeef0").unwrap());
    assert!(ec2(&url)
        .describe(std::slice::from_ref(&gone))
        .await
        .unwrap()
        .is_empty());
    let requests = seen.lock().unwrap().clone();
    assert!(
        requests[0].contains("InstanceId.1=") && requests[1].contains("Filter.1.Name=instance-id"),
        "{requests:?}"
    );
}

#[tokio::test]
async fn the_home_account_comes_from_sts_and_the_region_from_the_configuration() {
    let body = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::210987654321:user/x</Arn><UserId>AID</UserId><Account>210987654321</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#;
    let (url, _) = stub(vec![(200, R53_XML, body.into())]).await;
    let got = super::home(&sdk(&url), &crate::metrics::ApiCalls::default())
        .await
        .unwrap();
    assert_eq!((got.account(), got.region()), ("210987654321", "us-east-1"));
}

#[test]
fn the_home_account_comes_from_the_invoked_functions_arn_in_its_own_region() {
    let sdk = sdk("http://127.0.0.1:9");
    let of = |arn: &str| super::home_of_function(&sdk, arn).map(|h| h.to_string());
    assert_eq!(
        of("arn:aws:lambda:us-east-1:210987654321:function:ec2-dns"),
        Some(Home::new("210987654321", "us-east-1").unwrap().to_string())
    );
    assert_eq!(
        of("arn:aws:lambda:us-east-1:210987654321:function:ec2-dns:live"),
        Some(Home::new("210987654321", "us-east-1").unwrap().to_string()),
        "an alias's ARN"
    );
    // Anything else is asked of STS instead.
    for arn in [
        "arn:aws:lambda:eu-west-1:210987654321:function:ec2-dns",
        "arn:aws:lambda:us-east-1:2109876543:function:ec2-dns",
        "arn:aws:sqs:us-east-1:210987654321:queue",
        "",
    ] {
        assert_eq!(of(arn), None, "{arn}");
    }
}

#[tokio::test]
async fn failed_messages_are_made_visible_again_in_one_batch_call_per_queue() {
    let ok = r#"{"Successful":[{"Id":"m0"},{"Id":"m1"}],"Failed":[]}"#;
    let (url, seen) = stub(vec![(200, "application/x-amz-json-1.0", ok.into())]).await;
    let conf = aws_sdk_sqs::config::Builder::from(&sdk(&url)).build();
    let q = SqsQueue::new(aws_sdk_sqs::Client::from_conf(conf));
    let later = |h: &str, d| RetryLater {
        queue_arn: "arn:aws:sqs:us-east-1:123456789012:events".into(),
        receipt_handle: h.into(),
        delay_s: d,
    };
    q.retry_later(&[later("h1", 30), later("h2", 60)])
        .await
        .unwrap();
    let body = seen.lock().unwrap()[0].clone();
    assert!(
        body.contains("https://sqs.us-east-1.amazonaws.com/123456789012/events"),
        "{body}"
    );
    assert!(
        body.contains("\"ReceiptHandle\":\"h2\"") && body.contains("\"VisibilityTimeout\":60"),
        "{body}"
    );
}

/// An error as a person reads it: one line, no SDK debug output.
fn one_line(e: &Error) -> String {
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(
        !text.contains("ServiceError") && !text.contains("DispatchFailure") && text.len() < 400,
        "{text}"
    );
    text
}

#[tokio::test]
async fn aws_errors_are_one_line_naming_the_resource_the_action_and_the_fix() {
    let missing = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#;
    let denied = r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/op is not authorized to perform: dynamodb:Scan on resource: arn:aws:dynamodb:us-east-1:123456789012:table/locks"}"#;
    let expired = r#"{"__type":"com.amazon.coral.service#ExpiredTokenException","message":"The security token included in the request is expired"}"#;
    let r53_denied = r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/op is not authorized to perform: route53:ChangeResourceRecordSets</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
    let ec2_denied = r#"<?xml version="1.0"?><Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r</RequestID></Response>"#;
    let (url, _) = stub(vec![
        (400, DDB_JSON, missing.into()),
        (400, DDB_JSON, denied.into()),
        (400, DDB_JSON, expired.into()),
        (403, R53_XML, r53_denied.into()),
        (403, R53_XML, ec2_denied.into()),
    ])
    .await;
    let l = locks(&url);
    let text = one_line(&l.scan().await.unwrap_err());
    assert!(
        text.contains("lock table \"locks\" does not exist") && text.contains("LOCK_TABLE"),
        "{text}"
    );
    let text = one_line(&l.scan().await.unwrap_err());
    assert!(
        text.starts_with("dynamodb Scan failed: access denied")
            && text.contains("may not call dynamodb:Scan"),
        "{text}"
    );
    let text = one_line(&l.scan().await.unwrap_err());
    assert!(
        text.contains("credentials were refused") && text.contains("expired"),
        "{text}"
    );
    let out = dns(&url)
        .change(&[create("192.0.2.1")], &open_window())
        .await;
    let Some(Applied::Failed(e)) = out.values().next() else {
        panic!("expected a failure, got {out:?}");
    };
    let text = one_line(e);
    assert!(
        text.contains("may not call route53:ChangeResourceRecordSets"),
        "{text}"
    );
    let text = one_line(&ec2(&url).tagged("").await.unwrap_err());
    assert!(
        text.contains("may not call ec2:DescribeInstances"),
        "{text}"
    );
}

#[tokio::test]
async fn an_endpoint_that_cannot_be_reached_is_named_as_such() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = locks(&format!("http://127.0.0.1:{port}"))
        .scan()
        .await
        .unwrap_err();
    let text = one_line(&err);
    assert!(
        text.contains("could not reach dynamodb") && err.is_retryable(),
        "{text}"
    );
}

#[derive(Debug)]
struct NoCredentials;

impl aws_credential_types::provider::ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded("none found"),
        ))
    }
}

#[tokio::test]
async fn missing_credentials_say_how_to_give_them_and_are_not_retried() {
    let (url, seen) = stub(vec![]).await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk(&url))
        .credentials_provider(NoCredentials)
        .build();
    let l = DynamoLocks::new(aws_sdk_dynamodb::Client::from_conf(conf), "locks", home());
    let err = l.scan().await.unwrap_err();
    let text = one_line(&err);
    assert!(
        text.contains("no AWS credentials found") && text.contains("AWS_PROFILE"),
        "{text}"
    );
    assert!(!err.is_retryable());
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}

/// A send window that stays open (a test whose clock never moves).
fn open_window() -> crate::window::SendWindow<'static> {
    crate::window::SendWindow {
        until: i64::MAX,
        call_max: 0,
        clock: &crate::window::SystemClock,
    }
}

#[tokio::test]
async fn the_last_clean_reconcile_of_everything_is_read_and_only_moved_forward() {
    let item = r#"{"Item":{"pk":{"S":"swept#reconciler"},"started":{"N":"1800000000"},"updated":{"S":"2027-01-15T08:00:00Z"}}}"#;
    let failed = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#;
    let (url, seen) = stub(vec![
        (200, DDB_JSON, item.into()),
        (200, DDB_JSON, "{}".into()),
        (400, DDB_JSON, failed.into()),
    ])
    .await;
    let l = locks(&url);
    assert_eq!(l.swept().await.unwrap(), Some(1_800_000_000));
    l.record_swept(1_800_000_300).await.unwrap();
    // A later start is recorded already: nothing to do, and no error.
    l.record_swept(1_800_000_100).await.unwrap();
    let bodies = seen.lock().unwrap().clone();
    assert!(
        bodies[0].contains(r#""ConsistentRead":true"#),
        "{}",
        bodies[0]
    );
    for part in [
        r#""pk":{"S":"swept#reconciler"}"#,
        r#""started":{"N":"1800000300"}"#,
        r##""ConditionExpression":"attribute_not_exists(#k) OR #st < :st""##,
        r#"":st":{"N":"1800000300"}"#,
    ] {
        assert!(
            bodies[1].contains(part),
            "{part} missing from {}",
            bodies[1]
        );
    }
}
