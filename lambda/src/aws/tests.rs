//! Adapter tests: real SDK clients against a canned-response HTTP server on loopback, so the
//! SDK's own deserialisation of each service's wire format is what gets mapped.

use std::sync::{Arc, Mutex};

use aws_config::BehaviorVersion;
use aws_sdk_route53::config::{Credentials, Region};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{DynamoLocks, Ec2Instances, Route53Dns};
use crate::error::Error;
use crate::model::{
    Change, ChangeAction, InstanceId, InstanceState, RecordSet, RecordType, ZoneId,
};
use crate::name::Fqdn;
use crate::plan::Expect;
use crate::ports::{Applied, Cas, Dns, Instances, Locks};

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

#[tokio::test]
async fn route53_invalid_change_batch_is_a_rejection_not_an_error() {
    let generic = r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>[Tried to delete resource record set [name='web.dyn.example.com.', type='A'] but it was not found]</Message></Error><RequestId>r2</RequestId></ErrorResponse>"#;
    // Route53's InvalidChangeBatch answer, in the standard error shape it uses.
    let (url, _) = stub(vec![(400, R53_XML, generic.into())]).await;
    let dns = Route53Dns::new(aws_sdk_route53::Client::new(&sdk(&url)));
    let change = [Change {
        action: ChangeAction::Create,
        name: name("web.dyn.example.com"),
        set: set("192.0.2.1"),
    }];
    for want in ["was not found"] {
        match dns.change(&ZoneId("Z1".into()), &change).await {
            Ok(Applied::Rejected(m)) => assert!(m.contains(want), "{m}"),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn route53_throttling_is_a_retryable_error() {
    let body = r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>PriorRequestNotComplete</Code><Message>busy</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
    let (url, _) = stub(vec![(400, R53_XML, body.into())]).await;
    let dns = Route53Dns::new(aws_sdk_route53::Client::new(&sdk(&url)));
    let change = [Change {
        action: ChangeAction::Create,
        name: name("web.dyn.example.com"),
        set: set("192.0.2.1"),
    }];
    let err = dns.change(&ZoneId("Z1".into()), &change).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_swap_is_sent_as_one_batch_with_exact_values() {
    let ok = r#"<?xml version="1.0"?>
<ChangeResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>"#;
    let (url, seen) = stub(vec![(200, R53_XML, ok.into())]).await;
    let dns = Route53Dns::new(aws_sdk_route53::Client::new(&sdk(&url)));
    let n = name("web.dyn.example.com");
    let changes = [
        Change {
            action: ChangeAction::Delete,
            name: n.clone(),
            set: set("192.0.2.1"),
        },
        Change {
            action: ChangeAction::Create,
            name: n,
            set: set("192.0.2.2"),
        },
    ];
    assert_eq!(
        dns.change(&ZoneId("Z1".into()), &changes).await.unwrap(),
        Applied::Done
    );
    let body = seen.lock().unwrap()[0].clone();
    let (del, cre) = (
        body.find("<Action>DELETE</Action>").unwrap(),
        body.find("<Action>CREATE</Action>").unwrap(),
    );
    assert!(del < cre, "{body}");
    assert!(body.contains("<Value>192.0.2.1</Value>") && body.contains("<Value>192.0.2.2</Value>"));
    assert!(body.contains("<TTL>60</TTL>") && !body.contains("UPSERT"));
}

#[tokio::test]
async fn hosted_zones_are_listed_with_ids_and_privacy() {
    let page = r#"<?xml version="1.0"?>
<ListHostedZonesResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HostedZones>
<HostedZone><Id>/hostedzone/ZPUB</Id><Name>dyn.example.com.</Name><CallerReference>a</CallerReference><Config><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>
<HostedZone><Id>/hostedzone/ZPRIV</Id><Name>dyn.example.com.</Name><CallerReference>b</CallerReference><Config><PrivateZone>true</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>
</HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesResponse>"#;
    let (url, _) = stub(vec![(200, R53_XML, page.into())]).await;
    let zones = Route53Dns::new(aws_sdk_route53::Client::new(&sdk(&url)))
        .zones()
        .await
        .unwrap();
    let got: Vec<(String, String, bool)> = zones
        .iter()
        .map(|z| (z.id.0.clone(), z.name.to_string(), z.private))
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
async fn dynamodb_failed_condition_is_a_lost_race_naming_the_owner() {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"pk":{"S":"web.dyn.example.com"},"owner":{"S":"i-0000000b"},"version":{"N":"4"}}}"#;
    let (url, _) = stub(vec![(400, DDB_JSON, body.into())]).await;
    let locks = DynamoLocks::new(aws_sdk_dynamodb::Client::new(&sdk(&url)), "locks");
    let me = InstanceId::parse("i-0000000a").unwrap();
    let r = locks
        .commit(&name("web.dyn.example.com"), &me, 3, &[set("192.0.2.1")])
        .await
        .unwrap();
    assert_eq!(r, Cas::Lost(Some(InstanceId::parse("i-0000000b").unwrap())));
}

#[tokio::test]
async fn dynamodb_cancelled_transaction_on_the_lock_is_a_lost_race() {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{"Code":"ConditionalCheckFailed","Item":{"owner":{"S":"i-0000000b"}}},{"Code":"None"}]}"#;
    let (url, _) = stub(vec![(400, DDB_JSON, body.into())]).await;
    let locks = DynamoLocks::new(aws_sdk_dynamodb::Client::new(&sdk(&url)), "locks");
    let me = InstanceId::parse("i-0000000a").unwrap();
    let r = locks
        .acquire(
            &name("web.dyn.example.com"),
            &me,
            &Expect::Absent,
            &[set("192.0.2.1")],
        )
        .await
        .unwrap();
    assert_eq!(r, Cas::Lost(Some(InstanceId::parse("i-0000000b").unwrap())));
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
    let locks = DynamoLocks::new(aws_sdk_dynamodb::Client::new(&sdk(&url)), "locks");
    let err = locks.scan(false).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let err = locks.scan(false).await.unwrap_err();
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
async fn lock_items_are_read_with_their_records_and_the_owner_index() {
    let body = r#"{"Responses":{"locks":[
        {"pk":{"S":"web.dyn.example.com"},"owner":{"S":"i-0000000a"},"version":{"N":"7"},"records":{"S":"[{\"zone_id\":\"Z1\",\"type\":\"A\",\"ttl\":60,\"values\":[\"192.0.2.1\"]}]"},"since":{"S":"2026-11-01T00:00:00Z"}},
        {"pk":{"S":"owner#i-0000000a"},"names":{"SS":["web.dyn.example.com","old.dyn.example.com"]}}
    ]},"UnprocessedKeys":{}}"#;
    let (url, seen) = stub(vec![(200, DDB_JSON, body.into())]).await;
    let locks = DynamoLocks::new(aws_sdk_dynamodb::Client::new(&sdk(&url)), "locks");
    let me = InstanceId::parse("i-0000000a").unwrap();
    let (got, index) = locks
        .load(&[name("web.dyn.example.com")], std::slice::from_ref(&me))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].version, &got[0].records),
        (7, &vec![set("192.0.2.1")])
    );
    assert_eq!(index[&me].len(), 2);
    assert!(seen.lock().unwrap()[0].contains("\"ConsistentRead\":true"));
}

#[tokio::test]
async fn ec2_instances_are_read_with_tags_addresses_and_ipv6_from_interfaces() {
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId><ownerId>1</ownerId><instancesSet><item>
<instanceId>i-0123456789abcdef0</instanceId><instanceState><code>16</code><name>running</name></instanceState>
<privateIpAddress>10.0.0.5</privateIpAddress><ipAddress>203.0.113.5</ipAddress><launchTime>2026-11-01T10:00:00.000Z</launchTime>
<networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId><ipv6AddressesSet><item><ipv6Address>2001:db8::5</ipv6Address></item></ipv6AddressesSet></item></networkInterfaceSet>
<tagSet><item><key>dnsname</key><value>web.dyn.example.com</value></item><item><key>dnsname-status</key><value>ok: x</value></item></tagSet>
</item></instancesSet></item></reservationSet></DescribeInstancesResponse>"#;
    let (url, seen) = stub(vec![(200, R53_XML, body.into())]).await;
    let ec2 = Ec2Instances::new(
        aws_sdk_ec2::Client::new(&sdk(&url)),
        "dnsname",
        "dnsname-status",
    );
    let id = InstanceId::parse("i-0123456789abcdef0").unwrap();
    let got = ec2.describe(std::slice::from_ref(&id)).await.unwrap();
    assert_eq!(got.len(), 1);
    let i = &got[0];
    assert_eq!(
        (i.state, i.name_tag.as_deref(), i.status_tag.as_deref()),
        (
            InstanceState::Running,
            Some("web.dyn.example.com"),
            Some("ok: x")
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
    let ec2 = Ec2Instances::new(
        aws_sdk_ec2::Client::new(&sdk(&url)),
        "dnsname",
        "dnsname-status",
    );
    assert!(ec2.tagged(false).await.unwrap_err().is_retryable());
    assert!(!ec2.tagged(false).await.unwrap_err().is_retryable());
}

#[tokio::test]
async fn a_malformed_lock_item_fails_the_read_instead_of_being_acted_on() {
    let body = r#"{"Responses":{"locks":[{"pk":{"S":"web.dyn.example.com"},"version":{"N":"2"}}]},"UnprocessedKeys":{}}"#;
    let (url, _) = stub(vec![(200, DDB_JSON, body.into())]).await;
    let locks = DynamoLocks::new(aws_sdk_dynamodb::Client::new(&sdk(&url)), "locks");
    let err = locks
        .load(&[name("web.dyn.example.com")], &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unexpected { .. }), "{err:?}");
    assert!(
        err.is_retryable() && err.to_string().contains("has no owner"),
        "{err}"
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
    let ec2 = Ec2Instances::new(
        aws_sdk_ec2::Client::new(&sdk(&url)),
        "dnsname",
        "dnsname-status",
    );
    let gone = InstanceId::parse("i-00000000deadbeef0").unwrap();
    assert!(ec2
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
