//! Auto Scaling: lifecycle hooks and warm pools.
//!
//! - **Opt-in per hook.** Only the hooks named in `LIFECYCLE_HOOKS` are acted on; an event
//!   of any other hook is ignored, with its reason, before any AWS call ([`opted_in`]).
//! - **Launch** (`EC2 Instance-launch Lifecycle Action`, into the group): the instance is
//!   reconciled like after any event (same locks, markers, report and status tag), the
//!   function waits until Route53 says the changes it applied are `INSYNC` (`GetChange`,
//!   with `RecordLifecycleActionHeartbeat` if the wait could outlast the hook's timeout),
//!   then completes the action with `CONTINUE`. Whatever DNS came to (a conflict, an invalid
//!   tag, a failure), the action is completed with `CONTINUE`: DNS never holds up a
//!   scale-out, and a failure is retried by the ordinary path. Never `ABANDON`
//!   ([`Groups::complete`] cannot say it).
//! - **Terminate** (`EC2 Instance-terminate Lifecycle Action`, out of the group or back to
//!   its warm pool): the instance is reconciled first (the group says `Terminating:*` or
//!   `Warmed:*`, so its names are released), and the action is completed once that is
//!   settled; if it is not, the action is left to the retry of the event (bounded by the
//!   hook's own timeout, after which Auto Scaling goes on anyway).
//! - **Warm pools.** A launch into the warm pool (`Destination: WarmPool`) publishes
//!   nothing: the action is completed at once. An instance is published when it leaves the
//!   pool for the group (`Origin: WarmPool`, `Destination: AutoScalingGroup`). And every
//!   reconcile, of one instance or of everything, asks the group for the lifecycle state of
//!   the grouped instances it sees ([`Grouped`]): a `Warmed:*` instance never holds a name,
//!   whatever EC2 says of it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};

use crate::error::Result;
use crate::model::{
    Completion, Home, Instance, InstanceId, InstanceState, Intent, LifecycleAction, Owner,
};
use crate::ports::{Dns, Groups, Instances};

/// Instance ids per `DescribeAutoScalingInstances` call (Auto Scaling's limit).
pub const IDS_PER_CALL: usize = 50;

/// The owners whose reconcile the actions ask for (none for a launch into the warm pool).
pub fn owners_to_reconcile(actions: &[&LifecycleAction]) -> BTreeSet<Owner> {
    actions
        .iter()
        .filter(|a| a.intent() != Intent::Nothing)
        .map(|a| a.owner.clone())
        .collect()
}

/// No Auto Scaling at all (the DDNS endpoint, tests of other things): no instance is in a
/// group's lifecycle, and an action cannot be completed.
pub struct NoGroups;

impl Groups for NoGroups {
    async fn lifecycle_states(
        &self,
        _home: &Home,
        _ids: &[InstanceId],
    ) -> Result<BTreeMap<InstanceId, String>> {
        Ok(BTreeMap::new())
    }

    async fn hook_timeout(&self, _action: &LifecycleAction) -> Result<Option<i64>> {
        Ok(None)
    }

    async fn complete(&self, _action: &LifecycleAction) -> Result<Completion> {
        Err(crate::Error::Config(
            "no Auto Scaling client: lifecycle actions cannot be completed".into(),
        ))
    }

    async fn heartbeat(&self, action: &LifecycleAction) -> Result<Completion> {
        self.complete(action).await
    }
}

/// What an instance's group lifecycle state means for its names: `Warmed:*` and
/// `Terminating*` instances hold none, whatever EC2 says.
pub fn state_in_group(lifecycle: &str) -> Option<InstanceState> {
    if lifecycle.starts_with("Warmed:") {
        Some(InstanceState::Warmed)
    } else if lifecycle.starts_with("Terminating") || lifecycle == "Terminated" {
        Some(InstanceState::Terminating)
    } else {
        None
    }
}

/// EC2 as the decisions see it when instances belong to Auto Scaling groups: the
/// instances `inner` reports, those of a group that EC2 says are running (or pending) with
/// their group's lifecycle state applied ([`state_in_group`]). One
/// `DescribeAutoScalingInstances` per [`IDS_PER_CALL`] such instances of a place, none for
/// instances outside groups. Only while `enabled` (`LIFECYCLE_HOOKS` lists a hook: the
/// deployment opted in, and its roles may call Auto Scaling); otherwise EC2 as it is.
pub struct Grouped<I, G> {
    pub inner: I,
    pub groups: G,
    pub enabled: bool,
}

impl<I: Instances, G: Groups> Grouped<I, G> {
    async fn apply(&self, home: &Home, mut found: Vec<Instance>) -> Result<Vec<Instance>> {
        if !self.enabled {
            return Ok(found);
        }
        let ids: Vec<InstanceId> = found
            .iter()
            .filter(|i| i.group.is_some())
            .filter(|i| matches!(i.state, InstanceState::Running | InstanceState::Pending))
            .filter_map(|i| i.owner.instance_id().cloned())
            .collect();
        let mut states = BTreeMap::new();
        for chunk in ids.chunks(IDS_PER_CALL) {
            states.extend(self.groups.lifecycle_states(home, chunk).await?);
        }
        for inst in &mut found {
            let said = inst.owner.instance_id().and_then(|id| states.get(id));
            if let Some(state) = said.and_then(|s| state_in_group(s)) {
                inst.state = state;
            }
        }
        Ok(found)
    }
}

impl<I: Instances, G: Groups> Instances for Grouped<I, G> {
    fn homes(&self) -> Vec<Home> {
        self.inner.homes()
    }

    async fn describe(&self, home: &Home, owners: &[Owner]) -> Result<Vec<Instance>> {
        let found = self.inner.describe(home, owners).await?;
        self.apply(home, found).await
    }

    async fn tagged(&self, home: &Home, prefix: &str) -> Result<Vec<Instance>> {
        let found = self.inner.tagged(home, prefix).await?;
        self.apply(home, found).await
    }

    /// As EC2 says: the event becomes one about the instance, whose reconcile then reads it
    /// through [`Grouped::describe`] (a warmed instance publishes nothing).
    async fn attached_to(
        &self,
        home: &Home,
        interface: &crate::model::InterfaceId,
    ) -> Result<Option<Instance>> {
        self.inner.attached_to(home, interface).await
    }

    async fn set_status(&self, owners: &[Owner], value: &str) -> Result<()> {
        self.inner.set_status(owners, value).await
    }
}

/// How long a launch action waits for Route53.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Between two `GetChange` calls.
    pub poll: Duration,
    /// At most, whatever the deadline.
    pub max: Duration,
    /// Kept free before the invocation's deadline, to complete the actions.
    pub margin: Duration,
    /// How long one second of a hook's timeout lasts (one second; tests shrink time).
    pub second: Duration,
}

/// Route53 usually propagates within a minute.
pub const WAIT: Wait = Wait {
    poll: Duration::from_secs(5),
    max: Duration::from_secs(180),
    margin: Duration::from_secs(15),
    second: Duration::from_secs(1),
};

/// A hook's timeout when it cannot be read: Auto Scaling's smallest.
const MIN_HOOK_TIMEOUT_S: i64 = 30;

/// What became of one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finished {
    pub action: LifecycleAction,
    /// Whether the changes were seen `INSYNC` (`None`: not waited for).
    pub in_sync: Option<bool>,
    pub heartbeats: u32,
    /// `completed`, `not-active: …`, `left for the retry: …` or `failed: …`.
    pub result: String,
    /// The action must be tried again (its event retried): not completed, and completing
    /// it later is still useful.
    #[serde(skip)]
    pub retry: bool,
}

/// Completes the actions of one invocation, after its reconcile: `settled(owner)` says
/// whether the reconcile settled the owner (no failure to retry); `applied` are the
/// Route53 changes the reconcile applied; `seconds_left` how long the invocation may still
/// run (`None`: no deadline).
///
/// Terminate actions first (their names are removed already), then launch actions once
/// `applied` is `INSYNC` (or the wait is over), each kept alive by heartbeats while it
/// waits.
pub async fn finish<D: Dns, G: Groups>(
    dns: &D,
    groups: &G,
    actions: &[&LifecycleAction],
    settled: impl Fn(&Owner) -> bool,
    applied: Vec<String>,
    seconds_left: Option<i64>,
    wait: Wait,
) -> Vec<Finished> {
    let mut out = Vec::new();
    let (launches, others): (Vec<&LifecycleAction>, Vec<&LifecycleAction>) = actions
        .iter()
        .copied()
        .partition(|a| a.intent() == Intent::Publish);
    for a in others {
        if a.intent() == Intent::Remove && !settled(&a.owner) {
            warn!(instance = %a.owner, hook = a.hook, "names not yet removed: the terminate action waits for the retry");
            out.push(Finished {
                action: a.clone(),
                in_sync: None,
                heartbeats: 0,
                result: "left for the retry: the names are not removed yet".into(),
                retry: true,
            });
            continue;
        }
        out.push(complete(groups, a, None, 0).await);
    }
    if launches.is_empty() {
        return out;
    }
    let budget = match seconds_left {
        Some(s) => Duration::from_secs(s.max(0) as u64)
            .saturating_sub(wait.margin)
            .min(wait.max),
        None => wait.max,
    };
    let mut timeouts: Option<BTreeMap<(Home, String, String), i64>> = None;
    let started = std::time::Instant::now();
    let mut beaten: Vec<(std::time::Instant, u32)> = vec![(started, 0); launches.len()];
    let mut pending: Vec<String> = applied;
    loop {
        let mut still = Vec::new();
        for id in pending {
            match dns.in_sync(&id).await {
                Ok(true) => {}
                Ok(false) => still.push(id),
                Err(e) => warn!(change = id, error = %e, "GetChange failed: not waited for"),
            }
        }
        pending = still;
        if pending.is_empty() || started.elapsed() + wait.poll > budget {
            break;
        }
        // Read only when the changes are not in sync at once.
        if timeouts.is_none() {
            timeouts = Some(hook_timeouts(groups, &launches).await);
        }
        tokio::time::sleep(wait.poll).await;
        // A heartbeat when the next poll could outlast half the hook's timeout.
        for (a, (last, n)) in launches.iter().zip(beaten.iter_mut()) {
            let timeout = timeouts
                .as_ref()
                .and_then(|t| t.get(&hook_key(a)))
                .copied()
                .unwrap_or(MIN_HOOK_TIMEOUT_S);
            let timeout = wait.second * timeout as u32;
            if last.elapsed() + wait.poll >= timeout / 2 {
                match groups.heartbeat(a).await {
                    Ok(_) => {}
                    Err(e) => warn!(instance = %a.owner, error = %e, "heartbeat failed"),
                }
                *last = std::time::Instant::now();
                *n += 1;
            }
        }
    }
    let in_sync = pending.is_empty();
    if !in_sync {
        warn!(
            changes = pending.len(),
            "Route53 changes not INSYNC in time: launch actions completed anyway"
        );
    }
    for (a, (_, n)) in launches.iter().zip(beaten) {
        out.push(complete(groups, a, Some(in_sync), n).await);
    }
    out
}

fn hook_key(a: &LifecycleAction) -> (Home, String, String) {
    (a.owner.home().clone(), a.group.clone(), a.hook.clone())
}

/// Each hook's timeout, read once (`DescribeLifecycleHooks`); one that cannot be read is
/// taken as Auto Scaling's shortest.
async fn hook_timeouts<G: Groups>(
    groups: &G,
    launches: &[&LifecycleAction],
) -> BTreeMap<(Home, String, String), i64> {
    let mut out = BTreeMap::new();
    for a in launches {
        if out.contains_key(&hook_key(a)) {
            continue;
        }
        let t = match groups.hook_timeout(a).await {
            Ok(Some(t)) => t,
            Ok(None) => MIN_HOOK_TIMEOUT_S,
            Err(e) => {
                warn!(error = %e, hook = a.hook, "hook timeout unknown: heartbeats as for the shortest");
                MIN_HOOK_TIMEOUT_S
            }
        };
        out.insert(hook_key(a), t.max(MIN_HOOK_TIMEOUT_S));
    }
    out
}

async fn complete<G: Groups>(
    groups: &G,
    a: &LifecycleAction,
    in_sync: Option<bool>,
    heartbeats: u32,
) -> Finished {
    let (result, retry) = match groups.complete(a).await {
        Ok(Completion::Completed) => ("completed".to_string(), false),
        Ok(Completion::NotActive(why)) => (format!("not-active: {why}"), false),
        // Left uncompleted, the hook would end with its default result: tried again.
        Err(e) => (format!("failed: {e}"), true),
    };
    info!(
        instance = %a.owner,
        group = a.group,
        hook = a.hook,
        transition = ?a.transition,
        result,
        "lifecycle action"
    );
    Finished {
        action: a.clone(),
        in_sync,
        heartbeats,
        result,
        retry,
    }
}
