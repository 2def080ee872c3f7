//! EC2: DescribeInstances (by id, by tag key or by network interface, paginated) and
//! CreateTags for the status,
//! for the instances of one account and region ([`Ec2Instances`]), and for every managed
//! account and region, one client each ([`Ec2Fleet`]).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, Tag};
use aws_sdk_ec2::Client;

use super::sdk_error;
use crate::error::{Error, Result};
use crate::model::{Home, Instance, InstanceId, InstanceState, InterfaceId, Names, Owner};
use crate::ports::Instances;

/// Instance ids per DescribeInstances call.
const IDS_PER_CALL: usize = 1000;
/// Values per DescribeInstances filter.
const IDS_PER_FILTER: usize = 200;
/// Instances per DescribeInstances page.
const PAGE_SIZE: i32 = 1000;
/// The tag Auto Scaling puts on every instance it launches, naming its group.
pub const GROUP_TAG: &str = "aws:autoscaling:groupName";
/// Instances per CreateTags call (EC2 takes 1,000 and recommends fewer).
const TAGS_PER_CALL: usize = 500;

pub struct Ec2Instances {
    client: Client,
    home: Home,
    name_tag: String,
    status_tag: String,
    /// The role assumed to reach `home`, named in errors (`None`: the function's own).
    role: Option<String>,
}

impl Ec2Instances {
    /// The instances of `home` (the account and region the client's credentials reach).
    pub fn new(client: Client, home: Home, name_tag: &str, status_tag: &str) -> Self {
        Ec2Instances {
            client,
            home,
            name_tag: name_tag.to_string(),
            status_tag: status_tag.to_string(),
            role: None,
        }
    }

    /// The same, reached through an assumed role (named in its errors).
    pub fn through(self, role: String) -> Self {
        Ec2Instances {
            role: Some(role),
            ..self
        }
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    /// An error of this account and region says which, and through which role.
    fn located(&self, e: Error) -> Error {
        let Error::Aws {
            service,
            operation,
            message,
            retryable,
        } = e
        else {
            return e;
        };
        let through = self
            .role
            .as_ref()
            .map(|r| format!(" through role {r}"))
            .unwrap_or_default();
        Error::Aws {
            service,
            operation,
            message: format!(
                "{message} (account {}, region {}{through})",
                self.home.account(),
                self.home.region()
            ),
            retryable,
        }
    }

    /// The instance ids among `owners` that live here.
    fn ids<'a>(&self, owners: &'a [Owner]) -> Vec<&'a InstanceId> {
        owners
            .iter()
            .filter(|o| o.instance_id().is_some() && *o.home() == self.home)
            .filter_map(Owner::instance_id)
            .collect()
    }

    async fn list(&self, filters: Vec<Filter>) -> Result<Vec<Instance>> {
        self.list_ids_from(filters, "").await
    }

    /// [`Self::list`], keeping only the instances whose id, after `i-`, starts with
    /// `prefix`, as each page arrives (a shard holds its own instances only).
    async fn list_ids_from(&self, filters: Vec<Filter>, prefix: &str) -> Result<Vec<Instance>> {
        let wanted = format!("i-{prefix}");
        let mut out = Vec::new();
        let mut pages = self
            .client
            .describe_instances()
            .set_filters(Some(filters))
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("ec2", "DescribeInstances", e))?;
            for reservation in page.reservations() {
                out.extend(
                    reservation
                        .instances()
                        .iter()
                        .filter(|i| i.instance_id().is_some_and(|id| id.starts_with(&wanted)))
                        .filter_map(|i| self.convert(i)),
                );
            }
        }
        Ok(out)
    }

    /// The instances of `ids`, or `None` when EC2 says one of them does not exist. EC2's
    /// model defines no error shapes, so the code is the only way to tell.
    async fn by_ids(&self, ids: &[InstanceId]) -> Result<Option<Vec<Instance>>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let r = self
                .client
                .describe_instances()
                .set_instance_ids(Some(ids.iter().map(|i| i.as_str().to_string()).collect()))
                .set_next_token(token.take())
                .send()
                .await;
            let page = match r {
                Ok(page) => page,
                Err(e)
                    if matches!(
                        e.code(),
                        Some("InvalidInstanceID.NotFound" | "InvalidInstanceID.Malformed")
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(sdk_error("ec2", "DescribeInstances", e)),
            };
            for reservation in page.reservations() {
                out.extend(
                    reservation
                        .instances()
                        .iter()
                        .filter_map(|i| self.convert(i)),
                );
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(Some(out)),
            }
        }
    }

    fn convert(&self, i: &aws_sdk_ec2::types::Instance) -> Option<Instance> {
        let id = InstanceId::parse(i.instance_id()?).ok()?;
        let state = i
            .state()
            .and_then(|s| s.name())
            .and_then(|n| InstanceState::parse(n.as_str()))?;
        let tag = |key: &str| {
            i.tags()
                .iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
                .map(str::to_string)
        };
        let ipv6 = i
            .network_interfaces()
            .iter()
            .flat_map(|n| n.ipv6_addresses())
            .filter_map(|a| a.ipv6_address()?.parse::<Ipv6Addr>().ok())
            .collect();
        Some(Instance {
            owner: self.home.instance(id),
            state,
            launch_time: i.launch_time().map(|t| t.secs()).unwrap_or_default(),
            names: Names::Tag(tag(&self.name_tag)),
            status_tag: tag(&self.status_tag),
            public_ipv4: i
                .public_ip_address()
                .and_then(|a| a.parse::<Ipv4Addr>().ok()),
            private_ipv4: i
                .private_ip_address()
                .and_then(|a| a.parse::<Ipv4Addr>().ok()),
            ipv6,
            group: tag(GROUP_TAG),
        })
    }
}

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

impl Ec2Instances {
    /// Up to 1,000 ids per call. EC2 fails the whole call when one id is unknown
    /// (terminated long ago): that chunk is then read by `instance-id` filter, where an
    /// unknown id is simply absent.
    pub async fn describe(&self, owners: &[Owner]) -> Result<Vec<Instance>> {
        self.describe_here(owners)
            .await
            .map_err(|e| self.located(e))
    }

    async fn describe_here(&self, owners: &[Owner]) -> Result<Vec<Instance>> {
        let ids: Vec<InstanceId> = self.ids(owners).into_iter().cloned().collect();
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_CALL) {
            match self.by_ids(chunk).await? {
                Some(found) => out.extend(found),
                None => {
                    for small in chunk.chunks(IDS_PER_FILTER) {
                        let values = small.iter().map(|i| i.as_str().to_string());
                        out.extend(self.list(vec![filter("instance-id", values)]).await?);
                    }
                }
            }
        }
        Ok(out)
    }

    /// With a `prefix`, only the instances whose id starts with it are kept, page by page.
    /// (EC2's `instance-id` filter is not documented to take wildcards: the listing is of
    /// the whole place, its memory that of the shard's own instances.)
    pub async fn tagged(&self, prefix: &str) -> Result<Vec<Instance>> {
        let filters = vec![filter("tag-key", [self.name_tag.clone()])];
        self.list_ids_from(filters, prefix)
            .await
            .map_err(|e| self.located(e))
    }

    /// One DescribeInstances filtered by `network-interface.network-interface-id`: the
    /// instance comes with its tags and addresses, which DescribeNetworkInterfaces would
    /// not give (and that call would need one more permission). An interface attached to
    /// no instance, or unknown, matches nothing.
    pub async fn attached_to(&self, interface: &InterfaceId) -> Result<Option<Instance>> {
        let found = self
            .list(vec![filter(
                "network-interface.network-interface-id",
                [interface.as_str().to_string()],
            )])
            .await
            .map_err(|e| self.located(e))?;
        Ok(found.into_iter().next())
    }

    /// One call for up to 500 instances: the same value goes to all of them.
    pub async fn set_status(&self, owners: &[Owner], value: &str) -> Result<()> {
        self.set_status_here(owners, value)
            .await
            .map_err(|e| self.located(e))
    }

    async fn set_status_here(&self, owners: &[Owner], value: &str) -> Result<()> {
        let ids = self.ids(owners);
        for chunk in ids.chunks(TAGS_PER_CALL) {
            self.client
                .create_tags()
                .set_resources(Some(chunk.iter().map(|i| i.to_string()).collect()))
                .tags(Tag::builder().key(&self.status_tag).value(value).build())
                .send()
                .await
                .map_err(|e| sdk_error("ec2", "CreateTags", e))?;
        }
        Ok(())
    }
}

/// Every managed account and region, one client each: the function's own credentials in its
/// own account, an assumed role in the others.
pub struct Ec2Fleet {
    members: BTreeMap<Home, Ec2Instances>,
}

impl Ec2Fleet {
    pub fn new(members: impl IntoIterator<Item = Ec2Instances>) -> Self {
        Ec2Fleet {
            members: members.into_iter().map(|m| (m.home().clone(), m)).collect(),
        }
    }

    fn member(&self, home: &Home) -> Result<&Ec2Instances> {
        self.members.get(home).ok_or_else(|| {
            Error::InvalidInput(format!(
                "account {} region {} is not managed by this deployment (ACCOUNTS, REGIONS)",
                home.account(),
                home.region()
            ))
        })
    }
}

impl Instances for Ec2Fleet {
    fn homes(&self) -> Vec<Home> {
        self.members.keys().cloned().collect()
    }

    async fn describe(&self, home: &Home, owners: &[Owner]) -> Result<Vec<Instance>> {
        self.member(home)?.describe(owners).await
    }

    async fn tagged(&self, home: &Home, prefix: &str) -> Result<Vec<Instance>> {
        self.member(home)?.tagged(prefix).await
    }

    async fn attached_to(&self, home: &Home, interface: &InterfaceId) -> Result<Option<Instance>> {
        self.member(home)?.attached_to(interface).await
    }

    /// Per account and region; every one is tried, and the first failure is returned.
    async fn set_status(&self, owners: &[Owner], value: &str) -> Result<()> {
        let mut first_error = None;
        for member in self.members.values() {
            let here: Vec<Owner> = owners
                .iter()
                .filter(|o| o.home() == member.home())
                .cloned()
                .collect();
            if here.is_empty() {
                continue;
            }
            if let Err(e) = member.set_status(&here, value).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
