//! DynamoDB lock table. Item layout (documented in docs/contract.md):
//! - name lock: `pk` = name, `owner`, `version`, `records` (JSON), `intent` (JSON, only
//!   while a Route53 change is in flight), `since`, `updated`;
//! - owner index: `pk` = `owner#<instance-id>`, `names` (string set), written in the same
//!   transaction as the name lock.
//!
//! Every write is conditional on the owner and version that were read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::DateTime;

use super::sdk_error;
use crate::error::{Error, Result};
use crate::model::{InstanceId, Lock, RecordSet};
use crate::name::Fqdn;
use crate::plan::Expect;
use crate::ports::{Cas, Loaded, Locks};

const OWNER_PREFIX: &str = "owner#";
/// Hands a lock to a new owner with a new intent.
const TAKEOVER: &str = "SET #o = :new, #v = :v1, #i = :i, #s = :now, #u = :now";
/// Keys per BatchGetItem call.
const KEYS_PER_BATCH: usize = 100;
/// Attempts at keys DynamoDB returns unprocessed.
const UNPROCESSED_ATTEMPTS: u32 = 5;
/// Same-owner-and-version condition. Every attribute goes through a `#` alias: several of
/// our names (`owner`, `names`, ...) are DynamoDB reserved words.
const HELD: &str = "#o = :o AND #v = :v";
/// The aliases every expression may use.
const ALIASES: [(&str, &str); 7] = [
    ("#o", "owner"),
    ("#v", "version"),
    ("#r", "records"),
    ("#i", "intent"),
    ("#s", "since"),
    ("#u", "updated"),
    ("#n", "names"),
];

/// The aliases an expression uses (DynamoDB refuses unused ones).
fn aliases(expr: &str) -> HashMap<String, String> {
    ALIASES
        .iter()
        .filter(|(a, _)| expr.contains(a))
        .map(|(a, n)| (a.to_string(), n.to_string()))
        .collect()
}

pub struct DynamoLocks {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn owner_key(id: &InstanceId) -> String {
    format!("{OWNER_PREFIX}{id}")
}

fn now() -> String {
    DateTime::from(SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

fn json(records: &[RecordSet]) -> Result<String> {
    serde_json::to_string(records).map_err(|e| Error::Unexpected {
        service: "dynamodb",
        message: e.to_string(),
    })
}

fn unexpected(message: String) -> Error {
    Error::Unexpected {
        service: "dynamodb",
        message,
    }
}

/// Reads a name lock item; `None` for owner-index items.
fn parse_lock(item: &Item) -> Result<Option<Lock>> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok());
    let Some(pk) = text("pk") else {
        return Err(unexpected("lock item without pk".into()));
    };
    if pk.starts_with(OWNER_PREFIX) {
        return Ok(None);
    }
    let name = Fqdn::parse(pk).map_err(|e| unexpected(format!("lock {pk:?}: {e}")))?;
    let owner = text("owner")
        .ok_or_else(|| unexpected(format!("lock {pk:?} has no owner")))
        .and_then(|o| InstanceId::parse(o).map_err(unexpected))?;
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| unexpected(format!("lock {pk:?} has no version")))?;
    let sets = |k: &str| -> Result<Option<Vec<RecordSet>>> {
        text(k)
            .map(|j| {
                serde_json::from_str(j).map_err(|e| unexpected(format!("lock {pk:?} {k}: {e}")))
            })
            .transpose()
    };
    Ok(Some(Lock {
        name,
        owner,
        version,
        records: sets("records")?.unwrap_or_default(),
        intent: sets("intent")?,
        since: text("since").cloned(),
    }))
}

/// The owner a failed condition found, from the item DynamoDB returned with the failure.
fn holder(item: Option<&Item>) -> Option<InstanceId> {
    item?
        .get("owner")?
        .as_s()
        .ok()
        .and_then(|o| InstanceId::parse(o).ok())
}

impl DynamoLocks {
    pub fn new(client: Client, table: &str) -> Self {
        DynamoLocks {
            client,
            table: table.to_string(),
        }
    }

    fn index_update(&self, owner: &InstanceId, op: &str, name: &Fqdn) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(owner_key(owner)))
            .update_expression(format!("{op} #n :n"))
            .set_expression_attribute_names(Some(aliases("#n")))
            .expression_attribute_values(":n", AttributeValue::Ss(vec![name.to_string()]))
            .build()
            .map_err(|e| unexpected(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Runs a transaction whose first item is the name lock; a failed condition on it is
    /// a lost compare-and-swap, with the current owner.
    async fn transact(&self, items: Vec<TransactWriteItem>, won: u64) -> Result<Cas> {
        let r = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match r {
            Ok(_) => Ok(Cas::Won(won)),
            Err(SdkError::ServiceError(se))
                if matches!(
                    se.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                let TransactWriteItemsError::TransactionCanceledException(tc) = se.err() else {
                    return Err(unexpected("transaction cancelled".into()));
                };
                let first = tc.cancellation_reasons().first();
                if first.and_then(|r| r.code()) == Some("ConditionalCheckFailed") {
                    return Ok(Cas::Lost(holder(first.and_then(|r| r.item()))));
                }
                // Cancelled for another reason (a conflicting transaction, throttling): retry.
                Err(Error::Aws {
                    service: "dynamodb",
                    operation: "TransactWriteItems",
                    message: format!(
                        "transaction cancelled: {:?}",
                        tc.cancellation_reasons()
                            .iter()
                            .map(|r| r.code())
                            .collect::<Vec<_>>()
                    ),
                    retryable: true,
                })
            }
            Err(e) => Err(sdk_error("dynamodb", "TransactWriteItems", e)),
        }
    }

    /// Deletes owner-index items left empty by releases (DynamoDB drops an emptied set
    /// attribute but keeps the item), each only if it is still empty, so a claim that
    /// adds a name meanwhile is never lost. Best effort: a failure leaves a tiny item.
    async fn prune(&self, keys: Vec<String>) {
        for key in keys {
            let r = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(key.as_str()))
                .condition_expression("attribute_not_exists(#n)")
                .set_expression_attribute_names(Some(aliases("#n")))
                .send()
                .await;
            if let Err(e) = r {
                tracing::debug!(key, error = %DisplayErrorContext(&e), "empty owner index kept");
            }
        }
    }

    /// A conditional UpdateItem on the lock alone.
    async fn update_held(
        &self,
        name: &Fqdn,
        owner: &InstanceId,
        version: u64,
        expr: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Cas> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(name.as_str()))
            .update_expression(expr)
            .condition_expression(HELD)
            .set_expression_attribute_names(Some(aliases(&format!("{expr} {HELD}"))))
            .expression_attribute_values(":o", s(owner.as_str()))
            .expression_attribute_values(":v", n(version))
            .expression_attribute_values(":v1", n(version + 1))
            .expression_attribute_values(":now", s(now()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(Cas::Won(version + 1)),
            Err(SdkError::ServiceError(se))
                if matches!(
                    se.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                let item = match se.err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item(),
                    _ => None,
                };
                Ok(Cas::Lost(holder(item)))
            }
            Err(e) => Err(sdk_error("dynamodb", "UpdateItem", e)),
        }
    }
}

impl Locks for DynamoLocks {
    async fn load(&self, names: &[Fqdn], owners: &[InstanceId]) -> Result<Loaded> {
        let keys: Vec<String> = names
            .iter()
            .map(|n| n.to_string())
            .chain(owners.iter().map(owner_key))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (mut locks, mut index) = (Vec::new(), BTreeMap::new());
        for chunk in keys.chunks(KEYS_PER_BATCH) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|k| HashMap::from([("pk".to_string(), s(k.as_str()))]))
                .collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == UNPROCESSED_ATTEMPTS {
                    return Err(Error::Aws {
                        service: "dynamodb",
                        operation: "BatchGetItem",
                        message: format!("{} keys still unprocessed", pending.len()),
                        retryable: true,
                    });
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                attempt += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| unexpected(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| sdk_error("dynamodb", "BatchGetItem", e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let pk = item
                        .get("pk")
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        .unwrap_or_default();
                    if let Some(id) = pk.strip_prefix(OWNER_PREFIX) {
                        let id = InstanceId::parse(id).map_err(unexpected)?;
                        let names = item
                            .get("names")
                            .and_then(|v| v.as_ss().ok())
                            .into_iter()
                            .flatten()
                            .filter_map(|n| Fqdn::parse(n).ok())
                            .collect();
                        index.insert(id, names);
                    } else if let Some(lock) = parse_lock(item)? {
                        locks.push(lock);
                    }
                }
                if let Some(left) = out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    pending = left.keys().to_vec();
                }
            }
        }
        Ok((locks, index))
    }

    async fn scan(&self, prune: bool) -> Result<Vec<Lock>> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut empty_index = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("dynamodb", "Scan", e))?;
            for item in page.items() {
                let pk = item.get("pk").and_then(|v| v.as_s().ok());
                if pk.is_some_and(|k| k.starts_with(OWNER_PREFIX)) && !item.contains_key("names") {
                    empty_index.extend(pk.cloned());
                }
                out.extend(parse_lock(item)?);
            }
        }
        if prune {
            self.prune(empty_index).await;
        }
        Ok(out)
    }

    async fn acquire(
        &self,
        name: &Fqdn,
        owner: &InstanceId,
        expect: &Expect,
        intent: &[RecordSet],
    ) -> Result<Cas> {
        let intent = s(json(intent)?);
        match expect {
            Expect::Absent => {
                let at = now();
                let put = Put::builder()
                    .table_name(&self.table)
                    .item("pk", s(name.as_str()))
                    .item("owner", s(owner.as_str()))
                    .item("version", n(1))
                    .item("records", s("[]"))
                    .item("intent", intent)
                    .item("since", s(at.as_str()))
                    .item("updated", s(at))
                    .condition_expression("attribute_not_exists(pk)")
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(|e| unexpected(e.to_string()))?;
                let items = vec![
                    TransactWriteItem::builder().put(put).build(),
                    self.index_update(owner, "ADD", name)?,
                ];
                self.transact(items, 1).await
            }
            Expect::Held {
                owner: current,
                version,
            } if current == owner => {
                self.update_held(
                    name,
                    owner,
                    *version,
                    "SET #i = :i, #v = :v1, #u = :now",
                    vec![(":i", intent)],
                )
                .await
            }
            Expect::Held {
                owner: current,
                version,
            } => {
                let update = Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(name.as_str()))
                    .update_expression(TAKEOVER)
                    .condition_expression(HELD)
                    .set_expression_attribute_names(Some(aliases(&format!("{TAKEOVER} {HELD}"))))
                    .expression_attribute_values(":o", s(current.as_str()))
                    .expression_attribute_values(":new", s(owner.as_str()))
                    .expression_attribute_values(":v", n(*version))
                    .expression_attribute_values(":v1", n(version + 1))
                    .expression_attribute_values(":i", intent)
                    .expression_attribute_values(":now", s(now()))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(|e| unexpected(e.to_string()))?;
                let items = vec![
                    TransactWriteItem::builder().update(update).build(),
                    self.index_update(current, "DELETE", name)?,
                    self.index_update(owner, "ADD", name)?,
                ];
                self.transact(items, version + 1).await
            }
        }
    }

    async fn commit(
        &self,
        name: &Fqdn,
        owner: &InstanceId,
        version: u64,
        records: &[RecordSet],
    ) -> Result<Cas> {
        self.update_held(
            name,
            owner,
            version,
            "SET #r = :r, #v = :v1, #u = :now REMOVE #i",
            vec![(":r", s(json(records)?))],
        )
        .await
    }

    async fn release(&self, name: &Fqdn, owner: &InstanceId, version: u64) -> Result<Cas> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(name.as_str()))
            .condition_expression(HELD)
            .set_expression_attribute_names(Some(aliases(HELD)))
            .expression_attribute_values(":o", s(owner.as_str()))
            .expression_attribute_values(":v", n(version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| unexpected(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.index_update(owner, "DELETE", name)?,
        ];
        self.transact(items, version).await
    }
}
