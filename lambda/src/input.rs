//! Typed invocations, dispatched on the raw JSON so that a bad payload gets an error that
//! says what was wrong.

use std::collections::BTreeSet;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::model::{
    Home, InstanceId, InterfaceId, LifecycleAction, Owner, Place, Scope, Transition,
};

/// What one invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// An EventBridge event delivered directly.
    Event(Hint),
    /// An SQS batch of EventBridge events.
    Sqs(Vec<SqsItem>),
    /// `{"reconcile": ...}` from an operator; `sharded`: a reconcile of everything split
    /// into shards on the function's queue ([`crate::shard`]), answered with a run id.
    Manual {
        scope: Scope,
        dry_run: bool,
        sharded: bool,
    },
    /// Record the configuration now: `{"record_configuration": true}` (Terraform, while it
    /// deploys), or the CloudFormation custom resource's request.
    RecordConfiguration(Option<crate::custom_resource::Request>),
}

/// One message of an SQS batch: what it says, and what retrying it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsItem {
    pub message_id: String,
    pub receipt_handle: Option<String>,
    pub queue_arn: Option<String>,
    /// How often SQS has delivered it (1 on the first delivery).
    pub receive_count: u32,
    pub hint: Result<Hint, String>,
}

/// What an event tells us: which owners to look at again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    Owners(BTreeSet<Owner>),
    /// Everything, and who asked.
    All(Asked),
    /// A network interface whose IPv6 addresses changed: the instance it is attached to is
    /// looked at again, once one EC2 read has said which (see
    /// [`crate::handler`]; none, or one without the name tag: ignored).
    Interface(Interface),
    /// An Auto Scaling lifecycle action to complete ([`crate::fleet`]).
    Lifecycle(Box<LifecycleAction>),
    /// One shard of a sharded run (an SQS message the function sent itself).
    Shard(crate::shard::Task),
    /// A well-formed event that needs no work (another tag changed, another resource type).
    Ignore(String),
}

/// A network interface an event names (`AssignIpv6Addresses`, `UnassignIpv6Addresses`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub id: InterfaceId,
    /// Where it lives: the event's `account` and `region`.
    pub home: Home,
    /// Every place the event reports (`home`, and CloudTrail's `recipientAccountId` and
    /// `awsRegion` when they differ): all must be managed, or the event is ignored before
    /// any AWS call.
    pub from: Vec<Home>,
}

/// What an event that asks for a reconcile of everything says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    /// When it was emitted (its `time`, epoch seconds). `None`: it does not say, and is
    /// never taken as served by an earlier reconcile.
    pub at: Option<i64>,
    /// The accounts and regions whose change it reports (an address event: its envelope's
    /// and CloudTrail's); empty for the schedule, which is the deployment's own. Every one
    /// must be managed, or the event is ignored.
    pub from: Vec<Home>,
}

/// Keeps the owners of the accounts and regions this deployment manages. An event about an
/// instance elsewhere (a forwarding rule in an account that is not, or no longer, listed)
/// changes nothing: it is ignored, and said so in the log.
///
/// The same holds for an event that asks for everything: one reporting a change in a place
/// that is not managed is ignored before any AWS call, so that no account of the
/// organisation can make the reconciler read everything.
pub fn managed_only(hint: Hint, homes: &[Home]) -> Hint {
    let owners = match hint {
        Hint::Owners(owners) => owners,
        Hint::All(asked) => return all_managed(asked, homes),
        Hint::Interface(i) => {
            return match stranger(&i.from, homes) {
                Some(ignored) => ignored,
                None => Hint::Interface(i),
            }
        }
        Hint::Lifecycle(a) if !homes.contains(a.owner.home()) => {
            let o = &a.owner;
            tracing::warn!(owner = %o, "lifecycle action ignored: its account and region are not managed by this deployment (ACCOUNTS, REGIONS)");
            return Hint::Ignore(format!(
                "{o} is in account {} region {}, which this deployment does not manage (ACCOUNTS, REGIONS)",
                o.home().account(),
                o.home().region()
            ));
        }
        other => return other,
    };
    let (mine, elsewhere): (BTreeSet<Owner>, BTreeSet<Owner>) = owners
        .into_iter()
        .partition(|o| o.host().is_some() || homes.contains(o.home()));
    for o in &elsewhere {
        tracing::warn!(
            owner = %o,
            "event ignored: its account and region are not managed by this deployment (ACCOUNTS, REGIONS)"
        );
    }
    match (mine.is_empty(), elsewhere.first()) {
        (true, Some(o)) => Hint::Ignore(format!(
            "{o} is in account {} region {}, which this deployment does not manage (ACCOUNTS, REGIONS)",
            o.home().account(),
            o.home().region()
        )),
        _ => Hint::Owners(mine),
    }
}

fn all_managed(asked: Asked, homes: &[Home]) -> Hint {
    stranger(&asked.from, homes).unwrap_or(Hint::All(asked))
}

/// `Some(Ignore)` when one of the places an event reports is not managed.
fn stranger(from: &[Home], homes: &[Home]) -> Option<Hint> {
    match from.iter().find(|h| !homes.contains(h)) {
        None => None,
        Some(h) => {
            tracing::warn!(
                account = h.account(),
                region = h.region(),
                "event ignored: it reports a change in an account and region not managed by this deployment (ACCOUNTS, REGIONS)"
            );
            Some(Hint::Ignore(format!(
                "the event reports a change in account {} region {}, which this deployment does not manage (ACCOUNTS, REGIONS)",
                h.account(),
                h.region()
            )))
        }
    }
}

const STATE_CHANGE: &str = "EC2 Instance State-change Notification";
const TAG_CHANGE: &str = "Tag Change on Resource";
const SCHEDULED: &str = "Scheduled Event";
const API_CALL: &str = "AWS API Call via CloudTrail";
const LAUNCH_ACTION: &str = "EC2 Instance-launch Lifecycle Action";
const TERMINATE_ACTION: &str = "EC2 Instance-terminate Lifecycle Action";
const LAUNCHING: &str = "autoscaling:EC2_INSTANCE_LAUNCHING";
const TERMINATING: &str = "autoscaling:EC2_INSTANCE_TERMINATING";

/// Parses any supported payload. `name_tag` decides which tag changes matter; the
/// instances of a manual command live in `home`.
pub fn parse(payload: &Value, name_tag: &str, home: &Home) -> Result<Invocation, Error> {
    let bad = |m: String| Error::InvalidInput(m);
    let Value::Object(map) = payload else {
        return Err(bad(format!(
            "expected a JSON object (an EventBridge event, an SQS event or {{\"reconcile\": ...}}), got {}",
            kind_of(payload)
        )));
    };
    if map.contains_key("reconcile") {
        return parse_manual(payload, home);
    }
    if map.contains_key("record_configuration") {
        return match (map.len(), map.get("record_configuration")) {
            (1, Some(Value::Bool(true))) => Ok(Invocation::RecordConfiguration(None)),
            _ => Err(bad(
                "expected exactly {\"record_configuration\": true}".into()
            )),
        };
    }
    if crate::custom_resource::is_request(map) {
        return crate::custom_resource::parse(map)
            .map(|r| Invocation::RecordConfiguration(Some(r)));
    }
    if map.contains_key("Records") {
        let event: SqsEvent = serde_json::from_value(payload.clone())
            .map_err(|e| bad(format!("not an SQS event: {e}")))?;
        let items = event
            .records
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let hint = match r.body.as_deref().map(serde_json::from_str::<Value>) {
                    None => Err("message has no body".to_string()),
                    Some(Err(e)) => Err(format!("message body is not JSON: {e}")),
                    Some(Ok(body)) => match crate::shard::Task::from_body(&body) {
                        Some(task) => task.map(Hint::Shard),
                        None => parse_eventbridge(&body, name_tag).map_err(|e| e.to_string()),
                    },
                };
                SqsItem {
                    message_id: r.message_id.unwrap_or_else(|| format!("record-{i}")),
                    receipt_handle: r.receipt_handle,
                    queue_arn: r.event_source_arn,
                    receive_count: r
                        .attributes
                        .get("ApproximateReceiveCount")
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                    hint,
                }
            })
            .collect();
        return Ok(Invocation::Sqs(items));
    }
    if map.contains_key("detail-type") {
        return parse_eventbridge(payload, name_tag).map(Invocation::Event);
    }
    Err(bad(
        "unrecognised payload: expected an EventBridge event (\"detail-type\"), an SQS event (\"Records\"), {\"reconcile\": \"all\" | {\"instance_ids\": [...]}, \"dry_run\": bool}, {\"record_configuration\": true} or a CloudFormation custom resource request".into(),
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

fn parse_manual(payload: &Value, home: &Home) -> Result<Invocation, Error> {
    let bad = |m: &str| Err(Error::InvalidInput(format!("manual command: {m}")));
    let Some(map) = payload.as_object() else {
        return bad("expected an object");
    };
    if let Some(k) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "reconcile" | "dry_run" | "sharded"))
    {
        return bad(&format!(
            "unknown field {k:?} (allowed: \"reconcile\", \"dry_run\", \"sharded\")"
        ));
    }
    let flag = |k: &str| match map.get(k) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Error::InvalidInput(format!(
            "manual command: \"{k}\" must be true or false"
        ))),
    };
    let dry_run = flag("dry_run")?;
    let sharded = flag("sharded")?;
    if sharded && map.get("reconcile") != Some(&Value::String("all".into())) {
        return bad("\"sharded\" applies to {\"reconcile\": \"all\"} only");
    }
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
                // `i-…` lives in the deployment's own account and region; an instance
                // elsewhere is named `account/region/i-…`.
                let parsed = id
                    .as_str()
                    .ok_or_else(|| format!("{id} is not a string"))
                    .and_then(|s| match s.contains('/') {
                        false => InstanceId::parse(s).map(|i| home.instance(i)),
                        true => Owner::parse(s).and_then(|o| match o.instance_id() {
                            Some(_) => Ok(o),
                            None => Err(format!("{s:?} is not an instance")),
                        }),
                    });
                match parsed {
                    Ok(o) => set.insert(o),
                    Err(e) => return bad(&e),
                };
            }
            Scope::Owners(set)
        }
        _ => return bad("\"reconcile\" must be \"all\" or {\"instance_ids\": [...]}"),
    };
    Ok(Invocation::Manual {
        scope,
        dry_run,
        sharded,
    })
}

/// One EventBridge event to a hint.
pub fn parse_eventbridge(payload: &Value, name_tag: &str) -> Result<Hint, Error> {
    let bad = |m: String| Error::InvalidInput(m);
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
        .map_err(|e| bad(format!("not an EventBridge event: {e}")))?;
    let detail = event.detail.as_object();
    let at = event.time.map(|t| t.timestamp());
    match event.detail_type.as_str() {
        STATE_CHANGE => {
            let id = detail
                .and_then(|d| d.get("instance-id"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("{STATE_CHANGE} without detail.instance-id")))?;
            let id = InstanceId::parse(id).map_err(bad)?;
            let home = Home::new(
                event.account.as_deref().unwrap_or_default(),
                event.region.as_deref().unwrap_or_default(),
            )
            .map_err(|e| bad(format!("{STATE_CHANGE}: {e}")))?;
            Ok(Hint::Owners(BTreeSet::from([home.instance(id)])))
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
            let mut owners = BTreeSet::new();
            for arn in event.resources.iter().flatten() {
                owners.insert(instance_arn(arn).map_err(bad)?);
            }
            if owners.is_empty() {
                return Err(bad(format!("{TAG_CHANGE} without resources")));
            }
            Ok(Hint::Owners(owners))
        }
        SCHEDULED => Ok(Hint::All(Asked {
            at,
            from: Vec::new(),
        })),
        API_CALL => {
            let d = detail.ok_or_else(|| bad(format!("{API_CALL} without detail")))?;
            let home = Home::new(
                event.account.as_deref().unwrap_or_default(),
                event.region.as_deref().unwrap_or_default(),
            )
            .map_err(|e| bad(format!("{API_CALL}: {e}")))?;
            address_change(d, &home, at).map_err(bad)
        }
        LAUNCH_ACTION | TERMINATE_ACTION => {
            let home = Home::new(
                event.account.as_deref().unwrap_or_default(),
                event.region.as_deref().unwrap_or_default(),
            )
            .map_err(|e| bad(format!("{}: {e}", event.detail_type)))?;
            Ok(
                match lifecycle_action(&event.detail_type, &home, detail).map_err(bad)? {
                    Some(a) => Hint::Lifecycle(Box::new(a)),
                    None => Hint::Ignore("Auto Scaling test notification".into()),
                },
            )
        }
        other => Err(bad(format!(
            "unsupported detail-type {other:?} (expected {STATE_CHANGE:?}, {TAG_CHANGE:?}, {API_CALL:?}, {SCHEDULED:?}, {LAUNCH_ACTION:?} or {TERMINATE_ACTION:?})"
        ))),
    }
}

/// An address moved without any change of state, as CloudTrail records the EC2 call.
///
/// An Elastic IP (`AssociateAddress`, `DisassociateAddress`): the public IPv4 of an instance
/// changed. An association onto
/// an instance that takes the address from nobody names the one instance it changed; one
/// that may take the address from another instance (`allowReassociation`), one onto a
/// network interface, and a disassociation (whose event names no instance) change
/// instances the event does not name: everything is looked at again, provided that every
/// place the event names (`home`, from the envelope, and CloudTrail's `recipientAccountId`
/// and `awsRegion`) is managed (see [`managed_only`]).
///
/// IPv6 addresses assigned to or unassigned from a network interface
/// (`AssignIpv6Addresses`, `UnassignIpv6Addresses`): the AAAA records of the instance the
/// interface is attached to changed. The event names the interface, never the instance
/// ([`Hint::Interface`]); the addresses it lists are not needed (EC2 is read again).
fn address_change(
    d: &serde_json::Map<String, Value>,
    home: &Home,
    at: Option<i64>,
) -> Result<Hint, String> {
    let field = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default();
    if field("eventSource") != "ec2.amazonaws.com" {
        return Ok(Hint::Ignore(format!(
            "API call to {:?}, not EC2",
            field("eventSource")
        )));
    }
    if let Some(code) = d.get("errorCode").and_then(Value::as_str) {
        return Ok(Hint::Ignore(format!(
            "{} failed ({code}): nothing changed",
            field("eventName")
        )));
    }
    let mut from = vec![home.clone()];
    if let (Some(account), Some(region)) = (
        d.get("recipientAccountId").and_then(Value::as_str),
        d.get("awsRegion").and_then(Value::as_str),
    ) {
        let recorded = Home::new(account, region).map_err(|e| format!("{API_CALL}: {e}"))?;
        if recorded != *home {
            from.push(recorded);
        }
    }
    let all = Hint::All(Asked {
        at,
        from: from.clone(),
    });
    let params = d.get("requestParameters").and_then(Value::as_object);
    let param = |k: &str| params.and_then(|p| p.get(k));
    match field("eventName") {
        "AssociateAddress" => {
            let reassociates = param("allowReassociation").and_then(Value::as_bool) == Some(true);
            match param("instanceId").and_then(Value::as_str) {
                Some(id) if !reassociates => Ok(Hint::Owners(BTreeSet::from([
                    home.instance(InstanceId::parse(id)?)
                ]))),
                _ => Ok(all),
            }
        }
        "DisassociateAddress" => Ok(all),
        name @ ("AssignIpv6Addresses" | "UnassignIpv6Addresses") => {
            Ok(Hint::Interface(Interface {
                id: interface_of(name, d)?,
                home: home.clone(),
                from,
            }))
        }
        other => Ok(Hint::Ignore(format!(
            "API call {other:?} does not move an address"
        ))),
    }
}

/// The network interface of an IPv6 call: `requestParameters.networkInterfaceId`, or the
/// same in the wrapped form that EC2's newer calls are recorded in
/// (`requestParameters.<Call>Request.NetworkInterfaceId`), or, failing both, the one the
/// answer names (`responseElements.<Call>Response.networkInterfaceId`). Where several are
/// given they must agree.
fn interface_of(call: &str, d: &serde_json::Map<String, Value>) -> Result<InterfaceId, String> {
    fn at<'a>(v: Option<&'a Value>, path: &[&str]) -> Option<Result<&'a str, String>> {
        path.iter()
            .try_fold(v?, |v, k| v.get(k))
            .map(|v| v.as_str().ok_or_else(|| format!("{v} is not a string")))
    }
    let request = d.get("requestParameters");
    let response = d.get("responseElements");
    let (wrapped_request, wrapped_response) = (format!("{call}Request"), format!("{call}Response"));
    let found = [
        at(request, &["networkInterfaceId"]),
        at(request, &[&wrapped_request, "NetworkInterfaceId"]),
        at(response, &[&wrapped_response, "networkInterfaceId"]),
        at(response, &["networkInterfaceId"]),
    ];
    let mut ids = BTreeSet::new();
    for f in found.into_iter().flatten() {
        let raw = f.map_err(|e| format!("{call}: the network interface id {e}"))?;
        ids.insert(InterfaceId::parse(raw).map_err(|e| format!("{call}: {e}"))?);
    }
    let mut ids = ids.into_iter();
    match (ids.next(), ids.next()) {
        (Some(id), None) => Ok(id),
        (None, _) => Err(format!(
            "{call} without requestParameters.networkInterfaceId: the event names no network interface"
        )),
        (Some(a), Some(b)) => Err(format!(
            "{call} names two network interfaces ({a} and {b}): the event is inconsistent"
        )),
    }
}

/// From a lifecycle action event's `detail` (`detail_type` says which way), in `home`
/// (the event's account and region). `Ok(None)`: a well-formed event that is no action
/// (Auto Scaling's test notification).
fn lifecycle_action(
    detail_type: &str,
    home: &Home,
    detail: Option<&Map<String, Value>>,
) -> std::result::Result<Option<LifecycleAction>, String> {
    let d = detail.ok_or_else(|| format!("{detail_type} without detail"))?;
    let field = |k: &str| -> std::result::Result<String, String> {
        d.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("{detail_type} without detail.{k}"))
    };
    let transition = match (detail_type, field("LifecycleTransition")?.as_str()) {
        (LAUNCH_ACTION, LAUNCHING) => Transition::Launching,
        (TERMINATE_ACTION, TERMINATING) => Transition::Terminating,
        (_, "autoscaling:TEST_NOTIFICATION") => return Ok(None),
        (_, other) => {
            return Err(format!(
                "{detail_type} with LifecycleTransition {other:?}, expected {:?}",
                match detail_type {
                    LAUNCH_ACTION => LAUNCHING,
                    _ => TERMINATING,
                }
            ))
        }
    };
    let place = |k: &str, default: Place| match d.get(k).and_then(Value::as_str) {
        None => Ok(default),
        Some(raw) => Place::parse(raw).ok_or_else(|| {
            format!("{detail_type}: detail.{k} {raw:?} is not EC2, AutoScalingGroup or WarmPool")
        }),
    };
    // Events of groups without a warm pool may say neither.
    let (origin, destination) = match transition {
        Transition::Launching => (
            place("Origin", Place::Ec2)?,
            place("Destination", Place::AutoScalingGroup)?,
        ),
        Transition::Terminating => (
            place("Origin", Place::AutoScalingGroup)?,
            place("Destination", Place::Ec2)?,
        ),
    };
    let id = InstanceId::parse(&field("EC2InstanceId")?)?;
    Ok(Some(LifecycleAction {
        owner: home.instance(id),
        group: field("AutoScalingGroupName")?,
        hook: field("LifecycleHookName")?,
        token: field("LifecycleActionToken")?,
        transition,
        origin,
        destination,
    }))
}

/// Keeps the actions of the hooks the operator listed (`LIFECYCLE_HOOKS`); any other is
/// ignored, with its reason, before any AWS call.
pub fn opted_in(hint: Hint, hooks: &[String]) -> Hint {
    match hint {
        Hint::Lifecycle(a) if !hooks.contains(&a.hook) => {
            let reason = format!(
                "lifecycle hook {:?} of group {:?} is not one ec2-dns acts on (LIFECYCLE_HOOKS)",
                a.hook, a.group
            );
            tracing::info!(reason, "event ignored");
            Hint::Ignore(reason)
        }
        other => other,
    }
}

/// The owner an EC2 instance ARN names (`arn:aws:ec2:REGION:ACCOUNT:instance/ID`).
fn instance_arn(arn: &str) -> Result<Owner, String> {
    let not = || format!("{arn:?} is not an EC2 instance ARN");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, "ec2", region, account, resource] = parts.as_slice() else {
        return Err(not());
    };
    let id = resource.strip_prefix("instance/").ok_or_else(not)?;
    Ok(Home::new(account, region)?.instance(InstanceId::parse(id)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::home;
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

    /// An Elastic IP call as CloudTrail records it and EventBridge delivers it.
    fn api_call(name: &str, params: Value) -> Value {
        json!({
            "version": "0", "id": "3c5d9a0b-1111-2222-3333-444444444444",
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
            "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
            "resources": [],
            "detail": {"eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": name,
                       "awsRegion": "us-east-1", "requestParameters": params,
                       "responseElements": {"requestId": "r-1", "_return": true},
                       "recipientAccountId": "123456789012"}
        })
    }

    /// 2026-11-23T12:00:00Z, when the test events were emitted.
    const EMITTED: i64 = 1_795_435_200;

    /// A reconcile of everything asked by an event of the deployment's own place.
    fn all_from_home() -> Hint {
        Hint::All(Asked {
            at: Some(EMITTED),
            from: vec![home()],
        })
    }

    #[test]
    fn an_elastic_ip_move_is_a_hint_about_the_instances_it_can_change() {
        let hint = |e: Value| match parse(&e, "dnsname", &home()).unwrap() {
            Invocation::Event(h) => h,
            other => panic!("{other:?}"),
        };
        let onto = json!({"allocationId": "eipalloc-1", "instanceId": "i-0123456789abcdef0"});
        assert_eq!(
            hint(api_call("AssociateAddress", onto)),
            Hint::Owners(ids(&["i-0123456789abcdef0"]))
        );
        // It may have been taken from another instance, or went onto an interface, or off
        // an instance the event does not name: everything is looked at again.
        for params in [
            json!({"allocationId": "eipalloc-1", "instanceId": "i-0123456789abcdef0", "allowReassociation": true}),
            json!({"allocationId": "eipalloc-1", "networkInterfaceId": "eni-1"}),
        ] {
            assert_eq!(hint(api_call("AssociateAddress", params)), all_from_home());
        }
        assert_eq!(
            hint(api_call(
                "DisassociateAddress",
                json!({"associationId": "eipassoc-1"})
            )),
            all_from_home()
        );
        let mut failed = api_call(
            "AssociateAddress",
            json!({"instanceId": "i-0123456789abcdef0"}),
        );
        failed["detail"]["errorCode"] = json!("Client.InvalidAllocationID.NotFound");
        assert!(matches!(hint(failed), Hint::Ignore(why) if why.contains("failed")));
        assert!(matches!(
            hint(api_call("RunInstances", json!({}))),
            Hint::Ignore(_)
        ));
        let bad = api_call("AssociateAddress", json!({"instanceId": "vol-1"}));
        assert!(parse(&bad, "dnsname", &home()).is_err());
    }

    #[test]
    fn an_address_event_names_the_places_it_reports_and_is_ignored_unless_all_are_managed() {
        let hint = |e: &Value| match parse(e, "dnsname", &home()).unwrap() {
            Invocation::Event(h) => h,
            other => panic!("{other:?}"),
        };
        let stranger = Home::new("999999999999", "us-east-1").unwrap();
        let member = Home::new("210987654321", "eu-west-1").unwrap();
        let homes = [home(), member.clone()];
        let mut e = api_call(
            "DisassociateAddress",
            json!({"associationId": "eipassoc-1"}),
        );
        assert_eq!(managed_only(hint(&e), &homes), all_from_home());
        // A managed member's own event.
        for (k, v) in [("account", "210987654321"), ("region", "eu-west-1")] {
            e[k] = json!(v);
        }
        e["detail"]["recipientAccountId"] = json!("210987654321");
        e["detail"]["awsRegion"] = json!("eu-west-1");
        assert!(
            matches!(managed_only(hint(&e), &homes), Hint::All(a) if a.from == [member.clone()])
        );
        // A stranger's, by its envelope or by what CloudTrail recorded.
        let mut by_envelope = e.clone();
        by_envelope["account"] = json!("999999999999");
        by_envelope["region"] = json!("us-east-1");
        let mut by_trail = e.clone();
        by_trail["detail"]["recipientAccountId"] = json!("999999999999");
        by_trail["detail"]["awsRegion"] = json!("us-east-1");
        for stranger_event in [by_envelope, by_trail] {
            let Hint::All(asked) = hint(&stranger_event) else {
                panic!("{stranger_event}")
            };
            assert!(asked.from.contains(&stranger), "{asked:?}");
            match managed_only(Hint::All(asked), &homes) {
                Hint::Ignore(why) => assert!(
                    why.contains("999999999999") && why.contains("does not manage"),
                    "{why}"
                ),
                other => panic!("{other:?}"),
            }
        }
        // An event without a time is never taken as served by an earlier reconcile.
        let mut timeless = api_call(
            "DisassociateAddress",
            json!({"associationId": "eipassoc-1"}),
        );
        timeless.as_object_mut().unwrap().remove("time");
        assert!(matches!(hint(&timeless), Hint::All(Asked { at: None, .. })));
    }

    /// An IPv6 call as CloudTrail records it: the interface in the request, the addresses
    /// EC2 chose in the answer.
    fn ipv6_call(name: &str, eni: &str) -> Value {
        let mut e = api_call(
            name,
            json!({"networkInterfaceId": eni, "ipv6AddressCount": 1}),
        );
        e["detail"]["responseElements"] = json!({format!("{name}Response"): {
            "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/", "requestId": "r-1",
            "networkInterfaceId": eni,
            "assignedIpv6Addresses": {"item": ["2001:db8::1"]}}});
        e
    }

    const ENI: &str = "eni-0123456789abcdef0";

    fn on_interface(from: Vec<Home>) -> Hint {
        Hint::Interface(Interface {
            id: InterfaceId::parse(ENI).unwrap(),
            home: home(),
            from,
        })
    }

    #[test]
    fn an_ipv6_call_is_a_hint_about_the_network_interface_it_changed() {
        let hint = |e: &Value| match parse(e, "dnsname", &home()) {
            Ok(Invocation::Event(h)) => Ok(h),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        };
        for name in ["AssignIpv6Addresses", "UnassignIpv6Addresses"] {
            assert_eq!(
                hint(&ipv6_call(name, ENI)),
                Ok(on_interface(vec![home()])),
                "{name}"
            );
            // The interface in the request alone, in the wrapped form, or only in the answer.
            let mut bare = ipv6_call(name, ENI);
            bare["detail"]["responseElements"] = json!({"requestId": "r-1", "_return": true});
            let mut wrapped = bare.clone();
            wrapped["detail"]["requestParameters"] = json!({format!("{name}Request"):
                {"NetworkInterfaceId": ENI, "Ipv6Addresses": {"tag": 1, "Item": "2001:db8::1"}}});
            let mut answered = ipv6_call(name, ENI);
            answered["detail"]["requestParameters"] = json!({"ipv6Addresses": {}});
            for e in [bare, wrapped, answered] {
                assert_eq!(hint(&e), Ok(on_interface(vec![home()])), "{e}");
            }
            // A call that failed changed nothing.
            let mut failed = ipv6_call(name, ENI);
            failed["detail"]["errorCode"] = json!("Client.InvalidNetworkInterfaceID.NotFound");
            failed["detail"]["responseElements"] = Value::Null;
            assert!(matches!(hint(&failed), Ok(Hint::Ignore(why)) if why.contains("failed")));
        }
        // Bad input says what was wrong.
        let mut none = ipv6_call("AssignIpv6Addresses", ENI);
        none["detail"]["requestParameters"] = json!({"ipv6AddressCount": 1});
        none["detail"]["responseElements"] = Value::Null;
        let mut two = ipv6_call("AssignIpv6Addresses", ENI);
        two["detail"]["requestParameters"]["networkInterfaceId"] = json!("eni-0aaaaaaaaaaaaaaa0");
        let mut number = ipv6_call("UnassignIpv6Addresses", ENI);
        number["detail"]["requestParameters"]["networkInterfaceId"] = json!(5);
        for (bad, says) in [
            (
                ipv6_call("AssignIpv6Addresses", "vol-0123456789abcdef0"),
                "is not an EC2 network interface id",
            ),
            (
                none,
                "AssignIpv6Addresses without requestParameters.networkInterfaceId",
            ),
            (two, "names two network interfaces"),
            (
                number,
                "UnassignIpv6Addresses: the network interface id 5 is not a string",
            ),
        ] {
            let err = hint(&bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn an_ipv6_call_is_ignored_unless_every_place_it_reports_is_managed() {
        let hint = |e: &Value| match parse(e, "dnsname", &home()).unwrap() {
            Invocation::Event(h) => h,
            other => panic!("{other:?}"),
        };
        let member = Home::new("210987654321", "eu-west-1").unwrap();
        let homes = [home(), member.clone()];
        let e = ipv6_call("AssignIpv6Addresses", ENI);
        assert_eq!(managed_only(hint(&e), &homes), on_interface(vec![home()]));
        // A managed member's interface lives in the member's account and region.
        let mut m = e.clone();
        m["account"] = json!("210987654321");
        m["region"] = json!("eu-west-1");
        m["detail"]["recipientAccountId"] = json!("210987654321");
        m["detail"]["awsRegion"] = json!("eu-west-1");
        match managed_only(hint(&m), &homes) {
            Hint::Interface(i) => assert_eq!((i.home, i.from), (member.clone(), vec![member])),
            other => panic!("{other:?}"),
        }
        // A stranger's, by its envelope or by what CloudTrail recorded.
        let mut by_envelope = e.clone();
        by_envelope["account"] = json!("999999999999");
        let mut by_trail = e.clone();
        by_trail["detail"]["awsRegion"] = json!("ap-south-1");
        for (stranger_event, says) in [(by_envelope, "999999999999"), (by_trail, "ap-south-1")] {
            match managed_only(hint(&stranger_event), &homes) {
                Hint::Ignore(why) => {
                    assert!(
                        why.contains(says) && why.contains("does not manage"),
                        "{why}"
                    )
                }
                other => panic!("{other:?}"),
            }
        }
    }

    fn ids(list: &[&str]) -> BTreeSet<Owner> {
        list.iter()
            .map(|i| home().instance(InstanceId::parse(i).unwrap()))
            .collect()
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
            let got = parse(
                &state_change("i-0123456789abcdef0", state),
                "dnsname",
                &home(),
            )
            .unwrap();
            assert_eq!(
                got,
                Invocation::Event(Hint::Owners(ids(&["i-0123456789abcdef0"])))
            );
        }
    }

    #[test]
    fn tag_changes_matter_only_for_the_name_tag_on_instances() {
        let got = parse(
            &tag_change("i-0123456789abcdef0", &["dnsname"]),
            "dnsname",
            &home(),
        )
        .unwrap();
        assert_eq!(
            got,
            Invocation::Event(Hint::Owners(ids(&["i-0123456789abcdef0"])))
        );
        let own_status = parse(
            &tag_change("i-0123456789abcdef0", &["dnsname-status"]),
            "dnsname",
            &home(),
        )
        .unwrap();
        assert!(
            matches!(own_status, Invocation::Event(Hint::Ignore(_))),
            "our own status writes must not loop"
        );
        let mut volume = tag_change("i-0123456789abcdef0", &["dnsname"]);
        volume["detail"]["resource-type"] = json!("volume");
        assert!(matches!(
            parse(&volume, "dnsname", &home()).unwrap(),
            Invocation::Event(Hint::Ignore(_))
        ));
    }

    #[test]
    fn an_event_names_its_owner_in_its_own_account_and_region() {
        let mut e = state_change("i-0123456789abcdef0", "running");
        e["account"] = json!("210987654321");
        e["region"] = json!("eu-west-1");
        let Invocation::Event(Hint::Owners(owners)) = parse(&e, "dnsname", &home()).unwrap() else {
            panic!("not an event about owners")
        };
        let o = owners.into_iter().next().unwrap();
        assert_eq!(o.to_string(), "210987654321/eu-west-1/i-0123456789abcdef0");
        let mut t = tag_change("i-0123456789abcdef0", &["dnsname"]);
        t["resources"] = json!(["arn:aws:ec2:eu-west-1:210987654321:instance/i-0123456789abcdef0"]);
        let Invocation::Event(Hint::Owners(owners)) = parse(&t, "dnsname", &home()).unwrap() else {
            panic!("not an event about owners")
        };
        assert_eq!(owners.into_iter().next(), Some(o));
        e["account"] = json!("not-an-account");
        assert!(parse(&e, "dnsname", &home()).is_err());
    }

    #[test]
    fn a_scheduled_event_reconciles_everything() {
        let e = json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/ec2-dns-reconcile"], "detail": {}});
        assert_eq!(
            parse(&e, "dnsname", &home()).unwrap(),
            Invocation::Event(Hint::All(Asked {
                at: Some(EMITTED),
                from: Vec::new(),
            }))
        );
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
        let Invocation::Sqs(items) = parse(&e, "dnsname", &home()).unwrap() else {
            panic!("not sqs")
        };
        assert_eq!(items[0].message_id, "m1");
        assert_eq!(
            items[0].hint,
            Ok(Hint::Owners(ids(&["i-0123456789abcdef0"])))
        );
        assert_eq!(items[0].receipt_handle.as_deref(), Some("h"));
        assert_eq!(
            items[0].queue_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:q")
        );
        assert_eq!(items[0].receive_count, 1);
        assert_eq!(items[1].message_id, "m2");
        assert!(items[1].hint.as_ref().unwrap_err().contains("not JSON"));
    }

    #[test]
    fn manual_commands_are_strict() {
        assert_eq!(
            parse(&json!({"reconcile": "all"}), "dnsname", &home()).unwrap(),
            Invocation::Manual {
                scope: Scope::All,
                dry_run: false,
                sharded: false,
            }
        );
        assert_eq!(
            parse(
                &json!({"reconcile": "all", "sharded": true, "dry_run": true}),
                "dnsname",
                &home()
            )
            .unwrap(),
            Invocation::Manual {
                scope: Scope::All,
                dry_run: true,
                sharded: true,
            }
        );
        assert_eq!(
            parse(
                &json!({"reconcile": {"instance_ids": ["i-0123456789abcdef0"]}, "dry_run": true}),
                "dnsname",
                &home(),
            )
            .unwrap(),
            Invocation::Manual {
                scope: Scope::Owners(ids(&["i-0123456789abcdef0"])),
                dry_run: true,
                sharded: false,
            }
        );
        // An instance of another account and region is named with them.
        let elsewhere = "210987654321/eu-west-1/i-0123456789abcdef0";
        assert_eq!(
            parse(
                &json!({"reconcile": {"instance_ids": [elsewhere]}}),
                "dnsname",
                &home(),
            )
            .unwrap(),
            Invocation::Manual {
                scope: Scope::Owners([Owner::parse(elsewhere).unwrap()].into()),
                dry_run: false,
                sharded: false,
            }
        );
        for (bad, says) in [
            (
                json!({"reconcile": {"instance_ids": ["123456789012/us-east-1/host/home"]}}),
                "is not an instance",
            ),
            (
                json!({"reconcile": {"instance_ids": ["12345/us-east-1/i-0123456789abcdef0"]}}),
                "not an AWS account id",
            ),
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
            (
                json!({"reconcile": {"instance_ids": ["i-0123456789abcdef0"]}, "sharded": true}),
                "applies to {\"reconcile\": \"all\"} only",
            ),
            (json!({"reconcile": "all", "sharded": 1}), "true or false"),
        ] {
            let err = parse(&bad, "dnsname", &home()).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)));
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn malformed_payloads_say_what_was_wrong() {
        let mut no_detail = state_change("i-0123456789abcdef0", "running");
        no_detail["detail"] = json!({});
        let mut other_type = state_change("i-0123456789abcdef0", "running");
        other_type["detail-type"] = json!("AWS Health Event");
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
            let err = parse(&bad, "dnsname", &home()).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }
}
