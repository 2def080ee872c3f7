//! SQS: ChangeMessageVisibilityBatch, so that a failed message comes back within a minute
//! instead of after the queue's visibility timeout; SendMessageBatch, the shards of a
//! sharded run ([`crate::shard`]).

use std::collections::BTreeMap;

use aws_sdk_sqs::error::BuildError;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use super::sdk_error;
use crate::error::{Error, Result};
use crate::ports::{Queue, RetryLater};

/// Entries per ChangeMessageVisibilityBatch call (SQS's limit).
const ENTRIES_PER_CALL: usize = 10;

pub struct SqsQueue {
    client: Client,
}

impl SqsQueue {
    pub fn new(client: Client) -> Self {
        SqsQueue { client }
    }
}

/// The queue URL of a queue ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
pub fn queue_url(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [_, partition, "sqs", region, account, name] = parts.as_slice() else {
        return None;
    };
    let domain = if *partition == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Some(format!("https://sqs.{region}.{domain}/{account}/{name}"))
}

fn unbuilt(e: BuildError) -> Error {
    Error::Unexpected {
        service: "sqs",
        message: e.to_string(),
    }
}

/// The entries of a batch SQS did not take, as one error (the first one's reason).
fn refused(operation: &'static str, failed: &[BatchResultErrorEntry], sent: usize) -> Result<()> {
    let Some(f) = failed.first() else {
        return Ok(());
    };
    Err(Error::Aws {
        service: "sqs",
        operation,
        message: format!(
            "{} of {sent} entries not taken: {}: {}",
            failed.len(),
            f.code(),
            f.message().unwrap_or_default()
        ),
        retryable: !f.sender_fault(),
    })
}

impl Queue for SqsQueue {
    async fn retry_later(&self, messages: &[RetryLater]) -> Result<()> {
        let mut per_queue: BTreeMap<&str, Vec<&RetryLater>> = BTreeMap::new();
        for m in messages {
            per_queue.entry(m.queue_arn.as_str()).or_default().push(m);
        }
        for (arn, list) in per_queue {
            let url = queue_url(arn)
                .ok_or_else(|| Error::InvalidInput(format!("{arn:?} is not an SQS queue ARN")))?;
            for chunk in list.chunks(ENTRIES_PER_CALL) {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        ChangeMessageVisibilityBatchRequestEntry::builder()
                            .id(format!("m{i}"))
                            .receipt_handle(&m.receipt_handle)
                            .visibility_timeout(m.delay_s)
                            .build()
                            .map_err(unbuilt)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let out = self
                    .client
                    .change_message_visibility_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| sdk_error("sqs", "ChangeMessageVisibilityBatch", e))?;
                refused("ChangeMessageVisibilityBatch", out.failed(), chunk.len())?;
            }
        }
        Ok(())
    }

    async fn send(&self, url: &str, bodies: &[String]) -> Result<()> {
        for chunk in bodies.chunks(ENTRIES_PER_CALL) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(body)
                        .build()
                        .map_err(unbuilt)
                })
                .collect::<Result<Vec<_>>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("sqs", "SendMessageBatch", e))?;
            refused("SendMessageBatch", out.failed(), chunk.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_arn_gives_its_url() {
        assert_eq!(
            queue_url("arn:aws:sqs:us-east-1:123456789012:ec2-dns-events").as_deref(),
            Some("https://sqs.us-east-1.amazonaws.com/123456789012/ec2-dns-events")
        );
        assert_eq!(queue_url("arn:aws:sns:us-east-1:123456789012:x"), None);
    }
}
