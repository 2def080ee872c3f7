//! SSM Parameter Store: the shared secrets of hosts that use the AWS sample's protocol, as
//! SecureString parameters (encrypted at rest with KMS), one per host under a prefix.

use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::delete_parameter::DeleteParameterError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

use super::sdk_error;
use crate::error::Result;
use crate::hosts::HostName;
use crate::ports::Secrets;

/// The default prefix of the parameters (`HOST_SECRETS_PREFIX`).
pub const DEFAULT_PREFIX: &str = "/ec2-dns/hosts/";

pub struct SsmSecrets {
    client: Client,
    prefix: String,
}

impl SsmSecrets {
    pub fn new(client: Client, prefix: &str) -> Self {
        let mut prefix = prefix.trim().to_string();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        SsmSecrets { client, prefix }
    }

    fn parameter(&self, host: &HostName) -> String {
        format!("{}{host}", self.prefix)
    }
}

impl Secrets for SsmSecrets {
    async fn secret(&self, host: &HostName) -> Result<Option<String>> {
        match self
            .client
            .get_parameter()
            .name(self.parameter(host))
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => Ok(out.parameter().and_then(|p| p.value()).map(str::to_string)),
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), GetParameterError::ParameterNotFound(_)) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error("ssm", "GetParameter", e)),
        }
    }

    async fn put_secret(&self, host: &HostName, secret: &str) -> Result<()> {
        self.client
            .put_parameter()
            .name(self.parameter(host))
            .value(secret)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .description(format!("ec2-dns: shared secret of host {host}"))
            .send()
            .await
            .map_err(|e| sdk_error("ssm", "PutParameter", e))?;
        Ok(())
    }

    async fn delete_secret(&self, host: &HostName) -> Result<()> {
        match self
            .client
            .delete_parameter()
            .name(self.parameter(host))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), DeleteParameterError::ParameterNotFound(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("ssm", "DeleteParameter", e)),
        }
    }
}
