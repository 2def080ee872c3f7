//! SNS: alerts about hosts, published to the operator's topic (`ALERT_TOPIC_ARN`).

use aws_sdk_sns::Client;

use super::sdk_error;
use crate::error::Result;
use crate::ports::Alerts;

pub struct SnsAlerts {
    client: Client,
    /// No topic configured: alerts are only logged.
    topic: Option<String>,
}

impl SnsAlerts {
    pub fn new(client: Client, topic: Option<String>) -> Self {
        SnsAlerts { client, topic }
    }
}

impl Alerts for SnsAlerts {
    async fn alert(&self, subject: &str, message: &str) -> Result<()> {
        tracing::warn!(subject, message, "alert");
        let Some(topic) = &self.topic else {
            return Ok(());
        };
        // SNS subjects are at most 100 printable ASCII characters.
        let subject: String = subject
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(100)
            .collect();
        self.client
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| sdk_error("sns", "Publish", e))?;
        Ok(())
    }
}
