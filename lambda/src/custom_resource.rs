//! The deployment's own CloudFormation custom resource (`Custom::Ec2DnsConfiguration`),
//! served by the reconciler function itself: on Create and Update it records the
//! function's configuration in the lock table, so that `ec2-dns-ctl` works as soon as the
//! stack is deployed rather than after the first event. Terraform asks for the same with
//! `{"record_configuration": true}`.
//!
//! CloudFormation waits for the answer at the request's `ResponseURL` (a presigned S3 URL),
//! up to an hour, whatever the function returns: every request gets exactly one answer, a
//! failure included, and a Delete never fails (nothing is removed: the configuration item
//! stays, as the lock table does).
//!
//! The request and response fields are those of AWS's custom resource reference
//! (`RequestType`, `ResponseURL`, `StackId`, `RequestId`, `LogicalResourceId`,
//! `PhysicalResourceId`; answered with `Status`, `Reason`, `PhysicalResourceId`, `StackId`,
//! `RequestId`, `LogicalResourceId`, `Data`). The body must stay under 4,096 bytes.

use serde_json::{json, Map, Value};

use crate::config::Deployed;
use crate::error::Error;

/// The physical id of the one configuration resource of a deployment.
pub const PHYSICAL_ID: &str = "ec2-dns-configuration";

/// Most bytes CloudFormation accepts in a response body.
pub const MAX_RESPONSE_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// One custom resource request: what the answer must echo, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub request_type: RequestType,
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Given on Update and Delete.
    pub physical_resource_id: Option<String>,
}

/// Whether a payload is a custom resource request (it names a `RequestType` and a
/// `ResponseURL`): then [`parse`] says whether it is a valid one.
pub fn is_request(map: &Map<String, Value>) -> bool {
    map.contains_key("RequestType") && map.contains_key("ResponseURL")
}

/// A custom resource request, or what is wrong with it. Fields this resource does not use
/// (`ResourceProperties`, `ServiceToken`, `OldResourceProperties`, ...) are accepted as
/// they are: a template changes them to make CloudFormation send an Update.
pub fn parse(map: &Map<String, Value>) -> Result<Request, Error> {
    let text = |k: &str| -> Result<String, Error> {
        match map.get(k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(_) => Err(Error::InvalidInput(format!(
                "custom resource request: {k:?} must be a non-empty string"
            ))),
            None => Err(Error::InvalidInput(format!(
                "custom resource request: {k:?} is missing"
            ))),
        }
    };
    let request_type = match text("RequestType")?.as_str() {
        "Create" => RequestType::Create,
        "Update" => RequestType::Update,
        "Delete" => RequestType::Delete,
        other => {
            return Err(Error::InvalidInput(format!(
                "custom resource request: RequestType {other:?} is not Create, Update or Delete"
            )))
        }
    };
    let response_url = text("ResponseURL")?;
    if !(response_url.starts_with("https://") || response_url.starts_with("http://")) {
        return Err(Error::InvalidInput(format!(
            "custom resource request: ResponseURL {response_url:?} is not an HTTP(S) URL"
        )));
    }
    Ok(Request {
        request_type,
        response_url,
        stack_id: text("StackId")?,
        request_id: text("RequestId")?,
        logical_resource_id: text("LogicalResourceId")?,
        physical_resource_id: map
            .get("PhysicalResourceId")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The answer to `req`: SUCCESS with what is recorded (nothing, for a Delete), or FAILED
/// with the reason. A Delete keeps the physical id it was given (another id would make
/// CloudFormation think it replaced the resource).
pub fn response(
    req: &Request,
    outcome: &Result<Option<Deployed>, String>,
    lock_table: &str,
) -> Value {
    let physical = match req.request_type {
        RequestType::Create => PHYSICAL_ID.to_string(),
        RequestType::Update | RequestType::Delete => req
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| PHYSICAL_ID.to_string()),
    };
    let mut body = json!({
        "PhysicalResourceId": physical,
        "StackId": req.stack_id,
        "RequestId": req.request_id,
        "LogicalResourceId": req.logical_resource_id,
        "NoEcho": false,
    });
    match outcome {
        Ok(None) => body["Status"] = json!("SUCCESS"),
        Ok(Some(d)) => {
            body["Status"] = json!("SUCCESS");
            body["Data"] = json!({
                "LockTable": lock_table,
                "DeploymentId": d.deployment.as_ref().map(|x| x.as_str()).unwrap_or_default(),
                "Version": d.version.clone().unwrap_or_default(),
            });
        }
        Err(why) => {
            body["Status"] = json!("FAILED");
            body["Reason"] = json!(cut(&format!(
                "ec2-dns could not record its configuration in lock table {lock_table}: {why}"
            )));
        }
    }
    body
}

/// A reason short enough for the body's limit, whatever the rest says (the ids and URLs
/// CloudFormation gives are well under 1,500 bytes together).
fn cut(reason: &str) -> String {
    const MAX: usize = 2000;
    if reason.len() <= MAX {
        return reason.to_string();
    }
    let mut end = MAX - 3;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &reason[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::Home;

    fn request(kind: &str) -> Map<String, Value> {
        let v = json!({
            "RequestType": kind,
            "ResponseURL": "https://cloudformation-custom-resource-response.s3.amazonaws.com/x?sig=1",
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/dns/guid",
            "RequestId": "req-1",
            "ResourceType": "Custom::Ec2DnsConfiguration",
            "LogicalResourceId": "RecordedConfiguration",
            "PhysicalResourceId": "ec2-dns-configuration",
            "ResourceProperties": {"ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:f", "Configuration": "abc"}
        });
        v.as_object().unwrap().clone()
    }

    fn deployed() -> Deployed {
        let c = Config::from_lookup(|k| match k {
            "LOCK_TABLE" => Some("locks".into()),
            "ALLOWED_DOMAINS" => Some("dyn.example.com".into()),
            "DEPLOYMENT_ID" => Some("prod".into()),
            _ => None,
        })
        .unwrap();
        let home = Home::new("123456789012", "eu-west-1").unwrap();
        c.deployed("f", "2026-12-07T00:00:00Z", &home)
    }

    #[test]
    fn a_request_is_read_with_what_its_answer_echoes() {
        let r = parse(&request("Update")).unwrap();
        assert_eq!(r.request_type, RequestType::Update);
        assert_eq!(r.request_id, "req-1");
        assert_eq!(r.logical_resource_id, "RecordedConfiguration");
        assert_eq!(
            r.physical_resource_id.as_deref(),
            Some("ec2-dns-configuration")
        );
        assert!(is_request(&request("Create")));
    }

    #[test]
    fn a_bad_request_says_what_is_wrong() {
        let mut m = request("Replace");
        assert!(parse(&m).unwrap_err().to_string().contains("\"Replace\""));
        m = request("Create");
        m.remove("RequestId");
        assert!(parse(&m)
            .unwrap_err()
            .to_string()
            .contains("\"RequestId\" is missing"));
        m = request("Create");
        m.insert("ResponseURL".into(), json!("file:///etc/passwd"));
        assert!(parse(&m).unwrap_err().to_string().contains("not an HTTP"));
    }

    #[test]
    fn success_gives_the_table_and_the_deployment() {
        let r = parse(&request("Create")).unwrap();
        let body = response(&r, &Ok(Some(deployed())), "locks");
        assert_eq!(body["Status"], "SUCCESS");
        assert_eq!(body["PhysicalResourceId"], PHYSICAL_ID);
        assert_eq!(body["Data"]["LockTable"], "locks");
        assert_eq!(body["Data"]["DeploymentId"], "prod");
        assert_eq!(body["Data"]["Version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(body["StackId"], r.stack_id);
    }

    #[test]
    fn a_failure_is_answered_with_its_reason_within_the_limit() {
        let r = parse(&request("Update")).unwrap();
        let body = response(&r, &Err("x".repeat(10_000)), "locks");
        assert_eq!(body["Status"], "FAILED");
        assert!(body["Reason"]
            .as_str()
            .unwrap()
            .starts_with("ec2-dns could not record its configuration in lock table locks: x"));
        assert!(serde_json::to_vec(&body).unwrap().len() < MAX_RESPONSE_BYTES);
    }

    #[test]
    fn a_delete_keeps_the_id_it_was_given() {
        let mut m = request("Delete");
        m.insert("PhysicalResourceId".into(), json!("older-id"));
        let body = response(&parse(&m).unwrap(), &Ok(None), "locks");
        assert_eq!(body["PhysicalResourceId"], "older-id");
    }
}
