//! Typed invocations, dispatched on the raw JSON so that a bad payload gets an error that
//! says what was wrong.

use std::collections::BTreeSet;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

use crate::error::Error;
use crate::model::InstanceId;
use crate::plan::Scope;

/// What one invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// An EventBridge event delivered directly.
    Event(Hint),
    /// An SQS batch of EventBridge events: per message, its id and what it says.
    Sqs(Vec<(String, Result<Hint, String>)>),
    /// `{"reconcile": ...}` from an operator.
    Manual { scope: Scope, dry_run: bool },
}

/// What an event tells us: which instances to look at again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    Instances(BTreeSet<InstanceId>),
    All,
    /// A well-formed event that needs no work (another tag changed, another resource type).
    Ignore(String),
}

const STATE_CHANGE: &str = "EC2 Instance State-change Notification";
const TAG_CHANGE: &str = "Tag Change on Resource";
const SCHEDULED: &str = "Scheduled Event";

/// Parses any supported payload. `name_tag` decides which tag changes matter.
pub fn parse(payload: &Value, name_tag: &str) -> Result<Invocation, Error> {
    let bad = |m: String| Error::InvalidInput(m);
    let Value::Object(map) = payload else {
        return Err(bad(format!(
            "expected a JSON object (an EventBridge event, an SQS event or {{\"reconcile\": ...}}), got {}",
            kind_of(payload)
        )));
    };
    if map.contains_key("reconcile") {
        return parse_manual(payload);
    }
    if map.contains_key("Records") {
        let event: SqsEvent = serde_json::from_value(payload.clone())
            .map_err(|e| bad(format!("not an SQS event: {e}")))?;
        let items = event
            .records
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let id = r.message_id.unwrap_or_else(|| format!("record-{i}"));
                let hint = match r.body.as_deref().map(serde_json::from_str::<Value>) {
                    None => Err("message has no body".to_string()),
                    Some(Err(e)) => Err(format!("message body is not JSON: {e}")),
                    Some(Ok(body)) => parse_eventbridge(&body, name_tag).map_err(|e| e.to_string()),
                };
                (id, hint)
            })
            .collect();
        return Ok(Invocation::Sqs(items));
    }
    if map.contains_key("detail-type") {
        return parse_eventbridge(payload, name_tag).map(Invocation::Event);
    }
    Err(bad(
        "unrecognised payload: expected an EventBridge event (\"detail-type\"), an SQS event (\"Records\") or {\"reconcile\": \"all\" | {\"instance_ids\": [...]}, \"dry_run\": bool}".into(),
    ))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_manual(payload: &Value) -> Result<Invocation, Error> {
    let bad = |m: &str| Err(Error::InvalidInput(format!("manual command: {m}")));
    let Some(map) = payload.as_object() else {
        return bad("expected an object");
    };
    if let Some(k) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "reconcile" | "dry_run"))
    {
        return bad(&format!(
            "unknown field {k:?} (allowed: \"reconcile\", \"dry_run\")"
        ));
    }
    let dry_run = match map.get("dry_run") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return bad("\"dry_run\" must be true or false"),
    };
    let scope = match map.get("reconcile") {
        Some(Value::String(s)) if s == "all" => Scope::All,
        Some(Value::Object(o)) => {
            if let Some(k) = o.keys().find(|k| k.as_str() != "instance_ids") {
                return bad(&format!(
                    "unknown field {k:?} in \"reconcile\" (allowed: \"instance_ids\")"
                ));
            }
            let Some(Value::Array(ids)) = o.get("instance_ids") else {
                return bad("\"instance_ids\" must be a list of instance ids");
            };
            if ids.is_empty() {
                return bad("\"instance_ids\" is empty");
            }
            let mut set = BTreeSet::new();
            for id in ids {
                let parsed = id
                    .as_str()
                    .ok_or_else(|| format!("{id} is not a string"))
                    .and_then(InstanceId::parse);
                match parsed {
                    Ok(i) => set.insert(i),
                    Err(e) => return bad(&e),
                };
            }
            Scope::Instances(set)
        }
        _ => return bad("\"reconcile\" must be \"all\" or {\"instance_ids\": [...]}"),
    };
    Ok(Invocation::Manual { scope, dry_run })
}

/// One EventBridge event to a hint.
pub fn parse_eventbridge(payload: &Value, name_tag: &str) -> Result<Hint, Error> {
    let bad = |m: String| Error::InvalidInput(m);
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
        .map_err(|e| bad(format!("not an EventBridge event: {e}")))?;
    let detail = event.detail.as_object();
    match event.detail_type.as_str() {
        STATE_CHANGE => {
            let id = detail
                .and_then(|d| d.get("instance-id"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("{STATE_CHANGE} without detail.instance-id")))?;
            let id = InstanceId::parse(id).map_err(bad)?;
            Ok(Hint::Instances(BTreeSet::from([id])))
        }
        TAG_CHANGE => {
            let d = detail.ok_or_else(|| bad(format!("{TAG_CHANGE} without detail")))?;
            let field = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default();
            if field("service") != "ec2" || field("resource-type") != "instance" {
                return Ok(Hint::Ignore(format!(
                    "tag change on {}/{}, not an EC2 instance",
                    field("service"),
                    field("resource-type")
                )));
            }
            let keys = d
                .get("changed-tag-keys")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(format!("{TAG_CHANGE} without detail.changed-tag-keys")))?;
            if !keys.iter().any(|k| k.as_str() == Some(name_tag)) {
                return Ok(Hint::Ignore(format!("tag {name_tag:?} did not change")));
            }
            let mut ids = BTreeSet::new();
            for arn in event.resources.iter().flatten() {
                let id = arn
                    .rsplit_once(":instance/")
                    .map(|(_, id)| id)
                    .ok_or_else(|| bad(format!("{arn:?} is not an EC2 instance ARN")))?;
                ids.insert(InstanceId::parse(id).map_err(bad)?);
            }
            if ids.is_empty() {
                return Err(bad(format!("{TAG_CHANGE} without resources")));
            }
            Ok(Hint::Instances(ids))
        }
        SCHEDULED => Ok(Hint::All),
        other => Err(bad(format!(
            "unsupported detail-type {other:?} (expected {STATE_CHANGE:?}, {TAG_CHANGE:?} or {SCHEDULED:?})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state_change(id: &str, state: &str) -> Value {
        json!({
            "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
            "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
            "resources": [format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}")],
            "detail": {"instance-id": id, "state": state}
        })
    }

    fn tag_change(id: &str, keys: &[&str]) -> Value {
        json!({
            "version": "0", "id": "ffd8a6fe-32f8-ef66-c85c-111111111111",
            "detail-type": "Tag Change on Resource", "source": "aws.tag",
            "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
            "resources": [format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}")],
            "detail": {"changed-tag-keys": keys, "service": "ec2", "resource-type": "instance", "version": 3, "tags": {"dnsname": "web.dyn.example.com"}}
        })
    }

    fn ids(list: &[&str]) -> BTreeSet<InstanceId> {
        list.iter().map(|i| InstanceId::parse(i).unwrap()).collect()
    }

    #[test]
    fn every_ec2_state_change_is_a_hint_about_its_instance() {
        for state in [
            "pending",
            "running",
            "stopping",
            "stopped",
            "shutting-down",
            "terminated",
        ] {
            let got = parse(&state_change("i-0123456789abcdef0", state), "dnsname").unwrap();
            assert_eq!(
                got,
                Invocation::Event(Hint::Instances(ids(&["i-0123456789abcdef0"])))
            );
        }
    }

    #[test]
    fn tag_changes_matter_only_for_the_name_tag_on_instances() {
        let got = parse(&tag_change("i-0123456789abcdef0", &["dnsname"]), "dnsname").unwrap();
        assert_eq!(
            got,
            Invocation::Event(Hint::Instances(ids(&["i-0123456789abcdef0"])))
        );
        let own_status = parse(
            &tag_change("i-0123456789abcdef0", &["dnsname-status"]),
            "dnsname",
        )
        .unwrap();
        assert!(
            matches!(own_status, Invocation::Event(Hint::Ignore(_))),
            "our own status writes must not loop"
        );
        let mut volume = tag_change("i-0123456789abcdef0", &["dnsname"]);
        volume["detail"]["resource-type"] = json!("volume");
        assert!(matches!(
            parse(&volume, "dnsname").unwrap(),
            Invocation::Event(Hint::Ignore(_))
        ));
    }

    #[test]
    fn a_scheduled_event_reconciles_everything() {
        let e = json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/ec2-dns-reconcile"], "detail": {}});
        assert_eq!(parse(&e, "dnsname").unwrap(), Invocation::Event(Hint::All));
    }

    #[test]
    fn sqs_bodies_are_parsed_one_by_one() {
        let e = json!({"Records": [
            {"messageId": "m1", "receiptHandle": "h", "body": state_change("i-0123456789abcdef0", "running").to_string(),
             "attributes": {}, "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"},
            {"messageId": "m2", "receiptHandle": "h", "body": "not json", "attributes": {}, "messageAttributes": {},
             "md5OfBody": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}
        ]});
        let Invocation::Sqs(items) = parse(&e, "dnsname").unwrap() else {
            panic!("not sqs")
        };
        assert_eq!(
            items[0],
            (
                "m1".into(),
                Ok(Hint::Instances(ids(&["i-0123456789abcdef0"])))
            )
        );
        assert_eq!(items[1].0, "m2");
        assert!(items[1].1.as_ref().unwrap_err().contains("not JSON"));
    }

    #[test]
    fn manual_commands_are_strict() {
        assert_eq!(
            parse(&json!({"reconcile": "all"}), "dnsname").unwrap(),
            Invocation::Manual {
                scope: Scope::All,
                dry_run: false
            }
        );
        assert_eq!(
            parse(
                &json!({"reconcile": {"instance_ids": ["i-0123456789abcdef0"]}, "dry_run": true}),
                "dnsname"
            )
            .unwrap(),
            Invocation::Manual {
                scope: Scope::Instances(ids(&["i-0123456789abcdef0"])),
                dry_run: true
            }
        );
        for (bad, says) in [
            (json!({"reconcile": "everything"}), "must be \"all\""),
            (
                json!({"reconcile": "all", "dryrun": true}),
                "unknown field \"dryrun\"",
            ),
            (
                json!({"reconcile": "all", "dry_run": "yes"}),
                "true or false",
            ),
            (json!({"reconcile": {"instance_ids": []}}), "empty"),
            (
                json!({"reconcile": {"instance_ids": ["vol-12345678"]}}),
                "not an EC2 instance id",
            ),
            (json!({"reconcile": 5}), "must be \"all\""),
        ] {
            let err = parse(&bad, "dnsname").unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)));
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn malformed_payloads_say_what_was_wrong() {
        let mut no_detail = state_change("i-0123456789abcdef0", "running");
        no_detail["detail"] = json!({});
        let mut other_type = state_change("i-0123456789abcdef0", "running");
        other_type["detail-type"] = json!("AWS API Call via CloudTrail");
        for (bad, says) in [
            (json!([]), "got an array"),
            (json!("x"), "got a string"),
            (json!(null), "got null"),
            (json!({}), "unrecognised payload"),
            (no_detail, "without detail.instance-id"),
            (other_type, "unsupported detail-type"),
            (
                json!({"detail-type": "Scheduled Event"}),
                "not an EventBridge event",
            ),
        ] {
            let err = parse(&bad, "dnsname").unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }
}
