//! Auto Scaling: `DescribeAutoScalingInstances` (the lifecycle states of grouped instances),
//! `DescribeLifecycleHooks` (a hook's timeout, read once per container),
//! `CompleteLifecycleAction` (always `CONTINUE`) and `RecordLifecycleActionHeartbeat`, one
//! client per managed account and region ([`AsgFleet`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_autoscaling::error::ProvideErrorMetadata;
use aws_sdk_autoscaling::Client;

use super::sdk_error;
use crate::error::{Error, Result};
use crate::model::{Completion, Home, InstanceId, LifecycleAction};
use crate::ports::Groups;

/// The Auto Scaling clients of every managed account and region.
pub struct AsgFleet {
    clients: BTreeMap<Home, Client>,
    /// Hook timeouts read so far: (place, group, hook) → seconds (`None`: no such hook).
    timeouts: Mutex<BTreeMap<(Home, String, String), Option<i64>>>,
}

impl AsgFleet {
    pub fn new(clients: impl IntoIterator<Item = (Home, Client)>) -> Self {
        AsgFleet {
            clients: clients.into_iter().collect(),
            timeouts: Mutex::default(),
        }
    }

    fn client(&self, home: &Home) -> Result<&Client> {
        self.clients.get(home).ok_or_else(|| {
            Error::InvalidInput(format!(
                "account {} region {} is not managed by this deployment (ACCOUNTS, REGIONS)",
                home.account(),
                home.region()
            ))
        })
    }
}

/// Auto Scaling answers a completion or heartbeat of an action it does not know (done
/// already, timed out, wrong token) with `ValidationError: No active Lifecycle Action
/// found…`.
fn not_active<E: ProvideErrorMetadata>(e: &E) -> Option<String> {
    let message = e.message().unwrap_or_default();
    (e.code() == Some("ValidationError") && message.contains("No active Lifecycle Action"))
        .then(|| message.to_string())
}

impl Groups for AsgFleet {
    async fn lifecycle_states(
        &self,
        home: &Home,
        ids: &[InstanceId],
    ) -> Result<BTreeMap<InstanceId, String>> {
        let mut out = BTreeMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let client = self.client(home)?;
        let mut token: Option<String> = None;
        loop {
            let page = client
                .describe_auto_scaling_instances()
                .set_instance_ids(Some(ids.iter().map(|i| i.as_str().to_string()).collect()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error("autoscaling", "DescribeAutoScalingInstances", e))?;
            for i in page.auto_scaling_instances() {
                let (Some(id), Some(state)) = (i.instance_id(), i.lifecycle_state()) else {
                    continue;
                };
                if let Ok(id) = InstanceId::parse(id) {
                    out.insert(id, state.to_string());
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn hook_timeout(&self, a: &LifecycleAction) -> Result<Option<i64>> {
        let key = (a.owner.home().clone(), a.group.clone(), a.hook.clone());
        if let Some(t) = self
            .timeouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(*t);
        }
        let out = self
            .client(a.owner.home())?
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(&a.group)
            .lifecycle_hook_names(&a.hook)
            .send()
            .await
            .map_err(|e| sdk_error("autoscaling", "DescribeLifecycleHooks", e))?;
        let t = out
            .lifecycle_hooks()
            .iter()
            .find(|h| h.lifecycle_hook_name() == Some(a.hook.as_str()))
            .and_then(|h| h.heartbeat_timeout())
            .map(i64::from);
        self.timeouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, t);
        Ok(t)
    }

    async fn complete(&self, a: &LifecycleAction) -> Result<Completion> {
        let sent = self
            .client(a.owner.home())?
            .complete_lifecycle_action()
            .auto_scaling_group_name(&a.group)
            .lifecycle_hook_name(&a.hook)
            .lifecycle_action_token(&a.token)
            .instance_id(a.instance_id().as_str())
            .lifecycle_action_result("CONTINUE")
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Completion::Completed),
            Err(e) => match e.as_service_error().and_then(not_active) {
                Some(why) => Ok(Completion::NotActive(why)),
                None => Err(sdk_error("autoscaling", "CompleteLifecycleAction", e)),
            },
        }
    }

    async fn heartbeat(&self, a: &LifecycleAction) -> Result<Completion> {
        let sent = self
            .client(a.owner.home())?
            .record_lifecycle_action_heartbeat()
            .auto_scaling_group_name(&a.group)
            .lifecycle_hook_name(&a.hook)
            .lifecycle_action_token(&a.token)
            .instance_id(a.instance_id().as_str())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Completion::Completed),
            Err(e) => match e.as_service_error().and_then(not_active) {
                Some(why) => Ok(Completion::NotActive(why)),
                None => Err(sdk_error(
                    "autoscaling",
                    "RecordLifecycleActionHeartbeat",
                    e,
                )),
            },
        }
    }
}
