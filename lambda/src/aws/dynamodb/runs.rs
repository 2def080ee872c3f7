//! The item of a sharded run in the lock table, `pk` = `run#<id>` ([`crate::shard`]):
//! `started` (epoch seconds), `trigger`, `dry_run`, `parts`, `finished` and `split` (string
//! sets of part ids), the counts (`owners`, `changes`, `conflicts`, `skipped`, `frozen`,
//! `failed`: numbers, added to by each finished part), `notes` (a map: part id → what an
//! operator should know of it), `updated`, and `expires` (30 days after the start, for the
//! table's TTL).
//!
//! A part's result is added once: its update is conditional on the part not being in
//! `finished` yet, so a part delivered twice (SQS delivers at least once) counts once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_runtime_api::client::result::SdkError;

use super::{n, now_text, number, s, text, DynamoLocks, Item};
use crate::error::{Error, Result};
use crate::lock::Loaded;
use crate::shard::{Counts, PartDone, Run};

const RUN_PREFIX: &str = "run#";
/// How long a run's item is kept after its start.
const KEEP_S: i64 = 30 * 24 * 3600;

fn key(id: &str) -> AttributeValue {
    s(format!("{RUN_PREFIX}{id}"))
}

fn string_set(item: &Item, k: &str) -> BTreeSet<String> {
    item.get(k)
        .and_then(|v| v.as_ss().ok())
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

fn parse_run(item: &Item, id: &str) -> Run {
    Run {
        id: id.to_string(),
        started: number(item, "started").unwrap_or(0) as i64,
        trigger: text(item, "trigger").cloned().unwrap_or_default(),
        dry_run: item
            .get("dry_run")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        parts: string_set(item, "parts"),
        finished: string_set(item, "finished"),
        split: string_set(item, "split"),
        counts: Counts::from_fields(|k| number(item, k)),
        notes: item
            .get("notes")
            .and_then(|v| v.as_m().ok())
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
            .collect::<BTreeMap<_, _>>(),
    }
}

impl DynamoLocks {
    pub(super) async fn scan_pages(&self, segment: Option<(u32, u32)>) -> Result<Loaded> {
        let mut out = Loaded::default();
        let mut req = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true);
        if let Some((segment, of)) = segment {
            req = req.segment(segment as i32).total_segments(of as i32);
        }
        let mut pages = req.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.fail("Scan", e))?;
            for item in page.items() {
                let key = text(item, "pk").cloned().unwrap_or_default();
                super::absorb(&mut out, super::parse_item(item, &self.home), key, item);
            }
        }
        Ok(out)
    }

    pub(super) async fn count_items(&self) -> Result<Option<u64>> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.fail("DescribeTable", e))?;
        Ok(out
            .table()
            .and_then(|t| t.item_count())
            .map(|c| c.max(0) as u64))
    }

    pub(super) async fn put_run(&self, run: &Run) -> Result<bool> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", key(&run.id))
            .item("started", n(run.started))
            .item("trigger", s(&run.trigger))
            .item("dry_run", AttributeValue::Bool(run.dry_run))
            .item("notes", AttributeValue::M(HashMap::new()))
            .item("updated", s(now_text()))
            .item("expires", n(run.started + KEEP_S))
            .condition_expression("attribute_not_exists(pk)");
        if !run.parts.is_empty() {
            req = req.item(
                "parts",
                AttributeValue::Ss(run.parts.iter().cloned().collect()),
            );
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail("PutItem", e)),
        }
    }

    pub(super) async fn add_split(&self, run: &str, part: &str, children: &[String]) -> Result<()> {
        let mut expr = "ADD #sp :p SET #up = :now".to_string();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key(run))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#sp", "split")
            .expression_attribute_names("#up", "updated")
            .expression_attribute_values(":p", AttributeValue::Ss(vec![part.to_string()]))
            .expression_attribute_values(":now", s(now_text()));
        if !children.is_empty() {
            expr = "ADD #sp :p, #pa :c SET #up = :now".into();
            req = req
                .expression_attribute_names("#pa", "parts")
                .expression_attribute_values(":c", AttributeValue::Ss(children.to_vec()));
        }
        match self.unless_condition_failed(req.update_expression(expr).send().await)? {
            Some(_) => Ok(()),
            None => Err(no_run(run)),
        }
    }

    pub(super) async fn add_part(&self, run: &str, done: &PartDone) -> Result<Option<Run>> {
        let mut sets = vec!["#up = :now".to_string()];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key(run))
            .expression_attribute_names("#up", "updated")
            .expression_attribute_values(":now", s(now_text()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(note) = &done.note {
            sets.push("#notes.#part = :note".into());
            req = req
                .expression_attribute_names("#notes", "notes")
                .expression_attribute_names("#part", &done.part)
                .expression_attribute_values(":note", s(note));
        }
        let mut expr = format!("SET {}", sets.join(", "));
        let mut condition = "attribute_exists(pk)".to_string();
        if done.finished {
            let mut adds = vec!["#fin :ps".to_string()];
            req = req
                .expression_attribute_names("#fin", "finished")
                .expression_attribute_values(":ps", AttributeValue::Ss(vec![done.part.clone()]))
                .expression_attribute_values(":p", s(&done.part));
            for (i, (field, value)) in done.counts.fields().into_iter().enumerate() {
                adds.push(format!("#c{i} :c{i}"));
                req = req
                    .expression_attribute_names(format!("#c{i}"), field)
                    .expression_attribute_values(format!(":c{i}"), n(value));
            }
            expr = format!("{expr} ADD {}", adds.join(", "));
            condition = format!("{condition} AND NOT contains(#fin, :p)");
        }
        let out = req
            .update_expression(expr)
            .condition_expression(condition)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.attributes().map(|item| parse_run(item, run))),
            Err(SdkError::ServiceError(se)) => match se.err() {
                UpdateItemError::ConditionalCheckFailedException(e) if e.item().is_some() => {
                    Ok(None)
                }
                UpdateItemError::ConditionalCheckFailedException(_) => Err(no_run(run)),
                _ => Err(self.fail("UpdateItem", SdkError::ServiceError(se))),
            },
            Err(e) => Err(self.fail("UpdateItem", e)),
        }
    }

    pub(super) async fn get_run(&self, id: &str) -> Result<Option<Run>> {
        Ok(self
            .item(&format!("{RUN_PREFIX}{id}"))
            .await?
            .map(|item| parse_run(&item, id)))
    }
}

fn no_run(run: &str) -> Error {
    Error::InvalidInput(format!(
        "no sharded run {run:?} in the lock table (it expires 30 days after its start)"
    ))
}
