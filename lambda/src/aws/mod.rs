//! Adapters: the only place SDK types appear. Each implements one port with the subset of
//! the service's API that ec2-dns uses, and maps SDK errors by variant.

mod autoscaling;
pub mod container;
mod dynamodb;
mod ec2;
pub mod https;
mod route53;
mod sns;
mod sqs;
mod ssm;

pub use autoscaling::AsgFleet;
pub use dynamodb::{DynamoLocks, LAYOUT};
pub use ec2::{Ec2Fleet, Ec2Instances};
#[cfg(test)]
pub(crate) use route53::sort_key;
pub use route53::{
    split_batches, Budget, Route53Dns, SdkRoute53, MAX_BATCH_CHARS, MAX_BATCH_VALUES,
};
pub use sns::SnsAlerts;
pub use sqs::SqsQueue;
pub use ssm::{SsmSecrets, DEFAULT_PREFIX as DEFAULT_SECRETS_PREFIX};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::{ErrorMetadata, ProvideErrorMetadata};

use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;

use crate::config::Config;
use crate::ddns::{Endpoint, EndpointConfig, NoInstances, DDNS_ROUTE53_CALL_MAX};
use crate::engine::{Reconciler, ROUTE53_CALL_MAX};
use crate::error::{Error, Result};
use crate::fleet::Grouped;
use crate::metrics::ApiCalls;
use crate::model::Home;

/// The production reconciler: EC2 as the Auto Scaling groups qualify it (warm pools).
pub type AwsReconciler =
    Reconciler<Grouped<Ec2Fleet, AsgFleet>, Route53Dns<SdkRoute53>, DynamoLocks>;

/// One SDK configuration from the standard sources (region, credentials chain,
/// `AWS_ENDPOINT_URL`), standard retries (5 attempts; throttling and
/// `PriorRequestNotComplete` back off) and bounded timeouts.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_for(None, None).await
}

/// For the functions: the one-line reason they cannot start, when the environment gives no
/// region (`AWS_REGION`, `AWS_DEFAULT_REGION`, or a profile's). Checked before the SDK is
/// loaded, which would otherwise ask the instance metadata service and log its refusals.
/// Lambda always sets `AWS_REGION`.
pub fn region_missing(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
    (!["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"]
        .iter()
        .any(|k| set(k)))
    .then(|| "no AWS region: set AWS_REGION (Lambda sets it)".to_string())
}

/// [`sdk_config`] with a named profile and a region that override the environment's (the
/// operator CLI's `--profile` and `--region`, as the AWS CLI's).
pub async fn sdk_config_for(profile: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await
}

/// The account and region of the function the platform invoked, from its ARN
/// (`arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`, the
/// invocation's `invoked_function_arn`), when it lies in the configured region: a function
/// acts in its own account, so this is what `sts:GetCallerIdentity` would answer, without
/// the round trip on the way to the first event.
pub fn home_of_function(sdk: &SdkConfig, arn: &str) -> Option<Home> {
    let region = sdk.region()?.to_string();
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", r, account, "function", _, ..] if *r == region => {
            Home::new(account, &region).ok()
        }
        _ => None,
    }
}

/// The account and region the credentials act in: `sts:GetCallerIdentity` (which needs no
/// permission) and the configured region.
pub async fn home(sdk: &SdkConfig, calls: &ApiCalls) -> Result<Home> {
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| Error::Config("no AWS region: set AWS_REGION".into()))?;
    let conf = aws_sdk_sts::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    let me = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_error("sts", "GetCallerIdentity", e))?;
    let account = me.account().unwrap_or_default();
    Home::new(account, &region).map_err(Error::Config)
}

/// The production reconciler: one client per service whose every attempt is counted in
/// `calls`. Route53 calls are bounded as a whole (retries included), so that no change is
/// still on its way when its lock stops being "in flight". Built once per container.
pub async fn reconciler(
    sdk: &SdkConfig,
    config: Config,
    home: Home,
    calls: &ApiCalls,
) -> AwsReconciler {
    Reconciler::new(
        ec2_fleet(sdk, &config, &home, calls).await,
        route53(sdk, calls, ROUTE53_CALL_MAX, &config),
        locks(sdk, &config, &home, calls),
        config,
        home,
    )
}

/// One EC2 and one Auto Scaling client per managed account and region. In the
/// deployment's own account the
/// function's credentials serve every region; in another account, the role `MEMBER_ROLE`
/// there is assumed (one provider per account, shared by its regions through one identity
/// cache; the credentials are kept until shortly before they expire). Nothing is called
/// here: credentials are fetched on first use, so an account that cannot be reached fails
/// its own calls, not the start. (The `AssumeRole` calls are not counted in `calls`: one
/// per account per hour.)
pub async fn ec2_fleet(
    sdk: &SdkConfig,
    config: &Config,
    own: &Home,
    calls: &ApiCalls,
) -> Grouped<Ec2Fleet, AsgFleet> {
    let mut roles: std::collections::BTreeMap<String, (String, SharedCredentialsProvider)> =
        Default::default();
    // One cache for every client: the regions of an account share its session, and the
    // first listings, which start together, assume the role once.
    let cache = aws_config::identity::IdentityCache::lazy().build();
    let mut members = Vec::new();
    let mut groups = Vec::new();
    for home in config.homes(own) {
        let mut conf = aws_sdk_ec2::config::Builder::from(sdk)
            .region(aws_config::Region::new(home.region().to_string()))
            .identity_cache(cache.clone())
            .interceptor(calls.clone());
        let mut role = None;
        if home.account() != own.account() {
            if !roles.contains_key(home.account()) {
                let arn = member_role_arn(own, home.account(), &config.member_role);
                let provider = AssumeRoleProvider::builder(arn.clone())
                    .session_name("ec2-dns")
                    .configure(sdk)
                    .build()
                    .await;
                roles.insert(
                    home.account().to_string(),
                    (arn, SharedCredentialsProvider::new(provider)),
                );
            }
            if let Some((arn, provider)) = roles.get(home.account()) {
                // As it is: wrapping it again would give each client its own cache partition.
                conf.set_credentials_provider(Some(provider.clone()));
                role = Some(arn.clone());
            }
        }
        let mut asg = aws_sdk_autoscaling::config::Builder::from(sdk)
            .region(aws_config::Region::new(home.region().to_string()))
            .identity_cache(cache.clone())
            .interceptor(calls.clone());
        if let Some((_, provider)) = roles.get(home.account()).filter(|_| role.is_some()) {
            asg.set_credentials_provider(Some(provider.clone()));
        }
        groups.push((
            home.clone(),
            aws_sdk_autoscaling::Client::from_conf(asg.build()),
        ));
        let ec2 = Ec2Instances::new(
            aws_sdk_ec2::Client::from_conf(conf.build()),
            home,
            &config.name_tag,
            &config.status_tag,
        );
        members.push(match role {
            Some(arn) => ec2.through(arn),
            None => ec2,
        });
    }
    Grouped {
        inner: Ec2Fleet::new(members),
        groups: AsgFleet::new(groups),
        enabled: !config.lifecycle_hooks.is_empty(),
    }
}

/// `arn:<partition>:iam::<account>:role/<name>`, in the partition of the deployment's region.
pub fn member_role_arn(own: &Home, account: &str, role: &str) -> String {
    let partition = match own.region() {
        r if r.starts_with("cn-") => "aws-cn",
        r if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    };
    format!("arn:{partition}:iam::{account}:role/{role}")
}

/// Route53, every call bounded as a whole (retries included), so that no change is still
/// on its way when its lock stops being "in flight", and paced to the configured budget.
fn route53(
    sdk: &SdkConfig,
    calls: &ApiCalls,
    call_max: i64,
    config: &Config,
) -> Route53Dns<SdkRoute53> {
    let attempt = call_max.min(10) as u64;
    let r53_timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3.min(attempt)))
        .operation_attempt_timeout(Duration::from_secs(attempt))
        .operation_timeout(Duration::from_secs(call_max as u64))
        .build();
    let r53 = aws_sdk_route53::config::Builder::from(sdk)
        .timeout_config(r53_timeouts)
        .interceptor(calls.clone())
        .build();
    Route53Dns::new(SdkRoute53::new(aws_sdk_route53::Client::from_conf(r53))).with_budget(
        Budget::per_second(
            config.route53_requests_per_second,
            config.route53_changes_per_second,
        ),
    )
}

/// The lock table.
pub fn locks(sdk: &SdkConfig, config: &Config, home: &Home, calls: &ApiCalls) -> DynamoLocks {
    let ddb = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    DynamoLocks::new(
        aws_sdk_dynamodb::Client::from_conf(ddb),
        &config.lock_table,
        home.clone(),
    )
}

/// The production DDNS endpoint.
pub type AwsEndpoint = Endpoint<Route53Dns<SdkRoute53>, DynamoLocks, SsmSecrets, SnsAlerts>;

/// The DDNS endpoint: no EC2 client at all; the lock table, Route53, the sample secrets
/// in SSM and the alert topic.
pub fn endpoint(
    sdk: &SdkConfig,
    config: Config,
    home: Home,
    calls: &ApiCalls,
    settings: EndpointConfig,
    secrets_prefix: &str,
    alert_topic: Option<String>,
) -> AwsEndpoint {
    let rec = Reconciler::new(
        NoInstances {
            homes: config.homes(&home),
        },
        route53(sdk, calls, DDNS_ROUTE53_CALL_MAX, &config),
        locks(sdk, &config, &home, calls),
        config,
        home,
    );
    Endpoint::new(
        rec,
        secrets(sdk, calls, secrets_prefix),
        alerts(sdk, calls, alert_topic),
        settings,
    )
}

/// The sample protocol's secrets in SSM.
pub fn secrets(sdk: &SdkConfig, calls: &ApiCalls, prefix: &str) -> SsmSecrets {
    let conf = aws_sdk_ssm::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    SsmSecrets::new(aws_sdk_ssm::Client::from_conf(conf), prefix)
}

pub fn alerts(sdk: &SdkConfig, calls: &ApiCalls, topic: Option<String>) -> SnsAlerts {
    let conf = aws_sdk_sns::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    SnsAlerts::new(aws_sdk_sns::Client::from_conf(conf), topic)
}

/// The environment of the deployed function `function` (a name or an ARN), for the CLI's
/// `--function`: its `LOCK_TABLE` and settings, as the function itself runs with them.
pub async fn function_environment(
    sdk: &SdkConfig,
    calls: &ApiCalls,
    function: &str,
) -> crate::Result<std::collections::BTreeMap<String, String>> {
    let conf = aws_sdk_lambda::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    let out = aws_sdk_lambda::Client::from_conf(conf)
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| sdk_error("lambda", "GetFunctionConfiguration", e))?;
    Ok(out
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// The event queue's client.
pub fn queue(sdk: &SdkConfig, calls: &ApiCalls) -> SqsQueue {
    let conf = aws_sdk_sqs::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    SqsQueue::new(aws_sdk_sqs::Client::from_conf(conf))
}

/// Error codes that mean "slow down or try again" on any of the three services.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "TooManyRequestsException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "Unavailable",
];

/// Maps an SDK error (after the SDK's own retries) to ours: timeouts, connection failures,
/// throttling and 5xx are retryable; everything else (access denied, validation) is not.
pub(crate) fn sdk_error<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, Response>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    sdk_error_on(service, operation, None, err)
}

/// [`sdk_error`] for a call on a named resource (`lock table "x"`), so that "not found"
/// names it.
pub(crate) fn sdk_error_on<E>(
    service: &'static str,
    operation: &'static str,
    resource: Option<&str>,
    err: SdkError<E, Response>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(se) => {
            se.raw().status().is_server_error()
                || se
                    .err()
                    .code()
                    .is_some_and(|c| TRANSIENT_CODES.contains(&c))
        }
        // Without credentials no attempt can succeed.
        SdkError::DispatchFailure(_) if credentials_problem(&err).is_some() => false,
        _ => true,
    };
    // The whole chain, for whoever turns the log level up; the error itself says one line.
    tracing::debug!(service, operation, error = %DisplayErrorContext(&err), "AWS call failed");
    Error::Aws {
        service,
        operation,
        message: readable(service, operation, resource, &err),
        retryable,
    }
}

/// Codes that mean the caller's identity may not make the call.
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
];

/// Codes that mean the credentials themselves are bad or stale.
const BAD_CREDENTIAL_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "AuthFailure",
];

/// What went wrong getting credentials, when that is why the call failed: none found, or a
/// provider that failed (an assumed role refused, say), with its reason.
fn credentials_problem<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_credential_types::provider::error::CredentialsError;
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(c) = s.downcast_ref::<CredentialsError>() {
            return Some(match c {
                CredentialsError::CredentialsNotLoaded(_) => "no AWS credentials found (tried the environment, the shared profile, web identity, the container and instance metadata): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                other => {
                    // The service's own code and message (an assumed role refused, say).
                    let mut said = None;
                    let mut inner = std::error::Error::source(other);
                    while let Some(x) = inner {
                        if let Some(m) = x.downcast_ref::<ErrorMetadata>() {
                            said = Some(format!(
                                "{}: {}",
                                m.code().unwrap_or("error"),
                                m.message().unwrap_or_default()
                            ));
                            break;
                        }
                        inner = x.source();
                    }
                    format!(
                        "the credentials could not be obtained ({other}){}",
                        said.map(|s| format!(": {s}")).unwrap_or_default()
                    )
                }
            });
        }
        source = s.source();
    }
    None
}

/// One line a person can act on: what failed, on what, and the likely fix. Never the SDK's
/// debug dump.
fn readable<E>(
    service: &str,
    operation: &str,
    resource: Option<&str>,
    err: &SdkError<E, Response>,
) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let first_line = |text: String| text.lines().next().unwrap_or_default().trim().to_string();
    match err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("unknown error");
            let said = first_line(se.err().message().unwrap_or_default().to_string());
            let detail = match said.is_empty() {
                true => code.to_string(),
                false => format!("{code}: {said}"),
            };
            if DENIED_CODES.contains(&code) {
                format!(
                    "access denied: the credentials in use may not call {service}:{operation} ({detail}); grant it to them (see the operators' policies in docs/security.md)"
                )
            } else if BAD_CREDENTIAL_CODES.contains(&code) {
                format!(
                    "the AWS credentials were refused ({detail}): they are wrong or expired; renew them (aws sso login, or new keys) and try again"
                )
            } else if code == "ResourceNotFoundException" && resource.is_some() {
                format!(
                    "{} does not exist in this account and region: check LOCK_TABLE and AWS_REGION (or deploy the stack)",
                    resource.unwrap_or_default()
                )
            } else {
                detail
            }
        }
        SdkError::DispatchFailure(_) if credentials_problem(err).is_some() => {
            credentials_problem(err).unwrap_or_default()
        }
        SdkError::DispatchFailure(d) => {
            let why = if d.is_timeout() {
                "timed out".to_string()
            } else {
                d.as_other()
                    .map(|o| format!("{o:?}"))
                    .unwrap_or_else(|| "connection failed".into())
            };
            format!("could not reach {service} ({why}): check the network, AWS_REGION and AWS_ENDPOINT_URL if set")
        }
        SdkError::TimeoutError(_) => format!("{service} did not answer in time"),
        SdkError::ResponseError(_) => format!("{service} answered something unreadable"),
        _ => first_line(DisplayErrorContext(err).to_string()),
    }
}

#[cfg(test)]
mod tests;
