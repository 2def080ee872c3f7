//! Route53: ListHostedZones, ListResourceRecordSets, ChangeResourceRecordSets.

use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types::{self as r53, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use aws_sdk_route53::Client;
use aws_smithy_runtime_api::client::result::SdkError;

use super::sdk_error;
use crate::error::{Error, Result};
use crate::model::{Change, ChangeAction, RecordSet, RecordType, Zone, ZoneId};
use crate::name::Fqdn;
use crate::ports::{Applied, Dns};

pub struct Route53Dns {
    client: Client,
}

impl Route53Dns {
    pub fn new(client: Client) -> Self {
        Route53Dns { client }
    }

    /// Pages through a zone's A and AAAA sets: all of them, or only those of `only`
    /// (starting at that name and stopping at the first other name).
    async fn records(&self, zone: &ZoneId, only: Option<&Fqdn>) -> Result<Vec<(Fqdn, RecordSet)>> {
        let mut out = Vec::new();
        let mut start: Option<(String, Option<RrType>, Option<String>)> =
            only.map(|n| (n.to_string(), None, None));
        loop {
            let mut req = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&zone.0);
            if let Some((name, rtype, ident)) = start.take() {
                req = req
                    .start_record_name(name)
                    .set_start_record_type(rtype)
                    .set_start_record_identifier(ident);
            }
            if only.is_some() {
                req = req.max_items(10);
            }
            let page = req
                .send()
                .await
                .map_err(|e| sdk_error("route53", "ListResourceRecordSets", e))?;
            let mut past = false;
            for set in page.resource_record_sets() {
                let name = Fqdn::parse(set.name()).ok();
                if only.is_some() && name.as_ref() != only {
                    past = true;
                    break;
                }
                if let (Some(name), Some(rs)) = (name, convert(zone, set)) {
                    out.push((name, rs));
                }
            }
            if past || !page.is_truncated() {
                break;
            }
            match page.next_record_name() {
                Some(n) => {
                    start = Some((
                        n.to_string(),
                        page.next_record_type().cloned(),
                        page.next_record_identifier().map(str::to_string),
                    ))
                }
                None => break,
            }
        }
        Ok(out)
    }
}

fn convert(zone: &ZoneId, set: &ResourceRecordSet) -> Option<RecordSet> {
    let rtype = RecordType::parse(set.r#type().as_str())?;
    let values = set
        .resource_records()
        .iter()
        .map(|r| r.value().to_string())
        .collect();
    // Alias and routing-policy sets are never ours; give them values that cannot match.
    let ttl = if set.alias_target().is_some() || set.set_identifier().is_some() {
        -1
    } else {
        set.ttl().unwrap_or(-1)
    };
    Some(RecordSet::new(zone.clone(), rtype, ttl, values))
}

fn build_change(c: &Change) -> Result<r53::Change> {
    let bad = |e: aws_sdk_route53::error::BuildError| Error::Unexpected {
        service: "route53",
        message: e.to_string(),
    };
    let rtype = match c.set.rtype {
        RecordType::A => RrType::A,
        RecordType::Aaaa => RrType::Aaaa,
    };
    let mut records = Vec::new();
    for v in &c.set.values {
        records.push(ResourceRecord::builder().value(v).build().map_err(bad)?);
    }
    let set = ResourceRecordSet::builder()
        .name(c.name.as_str())
        .r#type(rtype)
        .ttl(c.set.ttl)
        .set_resource_records(Some(records))
        .build()
        .map_err(bad)?;
    let action = match c.action {
        ChangeAction::Create => r53::ChangeAction::Create,
        ChangeAction::Delete => r53::ChangeAction::Delete,
    };
    r53::Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(bad)
}

impl Dns for Route53Dns {
    async fn zones(&self) -> Result<Vec<Zone>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_hosted_zones()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error("route53", "ListHostedZones", e))?;
            for z in page.hosted_zones() {
                let Ok(name) = Fqdn::parse(z.name()) else {
                    continue;
                };
                let id = z.id().trim_start_matches("/hostedzone/").to_string();
                out.push(Zone {
                    id: ZoneId(id),
                    name,
                    private: z.config().is_some_and(|c| c.private_zone()),
                });
            }
            match page.next_marker() {
                Some(m) if page.is_truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn zone_records(&self, zone: &ZoneId) -> Result<Vec<(Fqdn, RecordSet)>> {
        self.records(zone, None).await
    }

    async fn name_records(&self, zone: &ZoneId, name: &Fqdn) -> Result<Vec<RecordSet>> {
        Ok(self
            .records(zone, Some(name))
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    async fn change(&self, zone: &ZoneId, changes: &[Change]) -> Result<Applied> {
        if changes.is_empty() {
            return Ok(Applied::Done);
        }
        let built = changes
            .iter()
            .map(build_change)
            .collect::<Result<Vec<_>>>()?;
        let batch = ChangeBatch::builder()
            .comment("ec2-dns")
            .set_changes(Some(built))
            .build()
            .map_err(|e| Error::Unexpected {
                service: "route53",
                message: e.to_string(),
            })?;
        let sent = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&zone.0)
            .change_batch(batch)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Applied::Done),
            Err(SdkError::ServiceError(se))
                if matches!(
                    se.err(),
                    ChangeResourceRecordSetsError::InvalidChangeBatch(_)
                ) =>
            {
                let msg = match se.err() {
                    ChangeResourceRecordSetsError::InvalidChangeBatch(e) => {
                        let mut m: Vec<String> = e.messages().to_vec();
                        m.extend(e.message().map(str::to_string));
                        m.join("; ")
                    }
                    _ => String::new(),
                };
                Ok(Applied::Rejected(msg))
            }
            Err(e) => Err(sdk_error("route53", "ChangeResourceRecordSets", e)),
        }
    }
}
