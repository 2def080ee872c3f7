"""Setup and assertions against moto, directly (not through the proxy, so the proxy's
call counters show only what the binary did)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer

from .moto import CREDENTIALS, REGION, boto_client

AMI = "ami-12345678"
STATUS_SUFFIX = "-status"
#: moto's default account; owners in locks and markers are qualified by account and region.
ACCOUNT = "123456789012"
MARKER_LABEL = "_ec2-dns"


def qualified(instance_id: str, account: str = ACCOUNT, region: str = REGION) -> str:
    """The owner ec2-dns writes for an instance: `account/region/instance-id`."""
    return f"{account}/{region}/{instance_id}"


def marker_name(name: str) -> str:
    return f"{MARKER_LABEL}.{norm_name(name)}"


def parse_marker(values: list[str]) -> dict | None:
    """{"owner", "gen", "types", "deployment"} of an ownership marker's TXT values, or None
    ("deployment" is None for a marker written before deployment ids)."""
    if len(values) != 1 or not (values[0].startswith('"') and values[0].endswith('"')):
        return None
    parts = values[0][1:-1].split(" ")
    if len(parts) not in (3, 4) or not parts[1].isdigit():
        return None
    return {"owner": parts[0], "gen": int(parts[1]), "types": parts[2].split(","),
            "deployment": parts[3] if len(parts) == 4 else None}


def norm_name(name: str) -> str:
    return name.replace("\\052", "*").rstrip(".").lower()


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class World:
    def __init__(self, moto_url: str, lock_table: str = "ec2-dns-locks"):
        self.url = moto_url
        self.ec2 = boto_client("ec2", moto_url)
        self.route53 = boto_client("route53", moto_url)
        self.dynamodb = boto_client("dynamodb", moto_url)
        self.sqs = boto_client("sqs", moto_url)
        self.ssm = boto_client("ssm", moto_url)
        self.lock_table = lock_table

    # ---------------------------------------------------------------- DynamoDB
    def create_lock_table(self, name: str | None = None) -> str:
        name = name or self.lock_table
        self.dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return name

    def lock_items(self, table: str | None = None) -> dict[str, dict]:
        """Every item of the lock table as {pk: plain dict}."""
        des = TypeDeserializer()
        items, kwargs = {}, {"TableName": table or self.lock_table, "ConsistentRead": True}
        while True:
            page = self.dynamodb.scan(**kwargs)
            for raw in page["Items"]:
                item = _plain({k: des.deserialize(v) for k, v in raw.items()})
                items[item["pk"]] = item
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def name_locks(self) -> dict[str, dict]:
        """Name locks only (owner index items `owner#…` and the recorded configuration
        `config#…` left out); free (released) names included."""
        return {k: v for k, v in self.lock_items().items() if "#" not in k}

    def held_locks(self) -> dict[str, dict]:
        """Name locks that somebody holds."""
        return {k: v for k, v in self.name_locks().items() if v.get("owner")}

    def lock(self, name: str) -> dict | None:
        return self.lock_items().get(norm_name(name))

    def holder(self, name: str) -> str | None:
        """The instance id holding `name` (None: no lock, or a free one)."""
        owner = (self.lock(name) or {}).get("owner")
        return owner.rsplit("/", 1)[-1] if owner else None

    def owner_index(self, instance_id: str) -> dict | None:
        return self.lock_items().get(f"owner#{qualified(instance_id)}")

    def recorded_config(self) -> dict | None:
        """The configuration the function recorded in the lock table at its start."""
        return self.lock_items().get("config#reconciler")

    @staticmethod
    def lock_records(item: dict) -> list[dict]:
        """The `records` attribute of a lock item, parsed from its JSON string."""
        raw = item.get("records")
        if raw is None:
            return []
        return json.loads(raw) if isinstance(raw, str) else raw

    # ---------------------------------------------------------------- Route53
    def default_vpc_id(self) -> str:
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        return vpcs[0]["VpcId"]

    def create_zone(self, name: str, private: bool = False, vpc_id: str | None = None) -> str:
        """Create a hosted zone; returns its id without the `/hostedzone/` prefix."""
        kwargs = {"Name": name, "CallerReference": str(uuid.uuid4())}
        if private:
            kwargs["HostedZoneConfig"] = {"PrivateZone": True, "Comment": "private"}
            kwargs["VPC"] = {"VPCRegion": REGION, "VPCId": vpc_id or self.default_vpc_id()}
        zone = self.route53.create_hosted_zone(**kwargs)["HostedZone"]
        return zone["Id"].split("/")[-1]

    def record_sets(self, zone_id: str) -> list[dict]:
        out, kwargs = [], {"HostedZoneId": zone_id}
        while True:
            page = self.route53.list_resource_record_sets(**kwargs)
            out.extend(page["ResourceRecordSets"])
            if not page.get("IsTruncated"):
                return out
            kwargs.update(StartRecordName=page["NextRecordName"],
                          StartRecordType=page["NextRecordType"])

    def records(self, zone_id: str, types=("A", "AAAA", "TXT", "CNAME")) -> dict:
        """{(name, type): (ttl, sorted values)} of a zone; SOA and NS left out by default.

        Two record sets with the same (name, type) (which moto allows and Route53 does not)
        would collapse here, so they are merged into one value list and flagged by
        `duplicate_record_sets`.
        """
        out: dict = {}
        for rr in self.record_sets(zone_id):
            if types and rr["Type"] not in types:
                continue
            key = (norm_name(rr["Name"]), rr["Type"])
            values = sorted(r["Value"] for r in rr.get("ResourceRecords", []))
            if key in out:
                values = sorted(set(out[key][1]) | set(values))
            out[key] = (rr.get("TTL"), values)
        return out

    def marker(self, zone_id: str, name: str) -> dict | None:
        """The ownership marker of `name` in a zone, parsed (None when there is none)."""
        rec = self.records(zone_id, types=("TXT",)).get((marker_name(name), "TXT"))
        return parse_marker(rec[1]) if rec else None

    def duplicate_record_sets(self, zone_id: str) -> list:
        seen, dups = set(), []
        for rr in self.record_sets(zone_id):
            key = (norm_name(rr["Name"]), rr["Type"])
            if key in seen:
                dups.append(key)
            seen.add(key)
        return dups

    def change_record(self, zone_id: str, action: str, name: str, rtype: str, ttl: int,
                      values: list[str]) -> None:
        self.route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
            "Action": action,
            "ResourceRecordSet": {"Name": name, "Type": rtype, "TTL": ttl,
                                  "ResourceRecords": [{"Value": v} for v in values]},
        }]})

    def put_record(self, zone_id: str, name: str, rtype: str, ttl: int, values: list[str]) -> None:
        """Write a record the way someone else would (UPSERT, straight into moto)."""
        self.change_record(zone_id, "UPSERT", name, rtype, ttl, values)

    def delete_record(self, zone_id: str, name: str, rtype: str) -> None:
        """Delete the current record set (name, type) exactly, behind ec2-dns's back.

        moto checks a DELETE against its journal of earlier requests (same value order,
        same spelling), so the exact record set is first re-stated with an UPSERT (no change
        to the zone's content) and then deleted.
        """
        for rr in self.record_sets(zone_id):
            if norm_name(rr["Name"]) == norm_name(name) and rr["Type"] == rtype:
                values = [r["Value"] for r in rr.get("ResourceRecords", [])]
                stored = rr["Name"].strip(".")
                self.change_record(zone_id, "UPSERT", stored, rtype, rr["TTL"], values)
                self.change_record(zone_id, "DELETE", stored, rtype, rr["TTL"], values)
                return
        raise KeyError(f"no {rtype} record {name} in zone {zone_id}")

    # ---------------------------------------------------------------- EC2
    def client_of(self, service: str, account: str | None, region: str = REGION):
        """A client of `service` for `account` (None: moto's default one) in `region`. moto
        maps an assumed role's credentials to the role's account."""
        if account is None and region == REGION:
            return boto_client(service, self.url)
        creds = dict(CREDENTIALS)
        if account:
            c = boto_client("sts", self.url).assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/test-setup", RoleSessionName="setup",
            )["Credentials"]
            creds = {"aws_access_key_id": c["AccessKeyId"],
                     "aws_secret_access_key": c["SecretAccessKey"],
                     "aws_session_token": c["SessionToken"]}
        return boto3.client(service, endpoint_url=self.url, region_name=region, **creds)

    def ec2_of(self, account: str | None, region: str = REGION):
        """An EC2 client of `account` (None: moto's default one) in `region`."""
        return self.client_of("ec2", account, region)

    def run_instance(self, tags: dict[str, str] | None = None, **kwargs) -> str:
        spec = {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}
        spec.update(kwargs)
        if tags:
            spec["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [
                {"Key": k, "Value": v} for k, v in tags.items()]}]
        return self.ec2.run_instances(**spec)["Instances"][0]["InstanceId"]

    def create_group(self, name: str, name_tag: str, desired: int, *, account: str | None = None,
                     region: str = REGION) -> list[str]:
        """An Auto Scaling group of `desired` instances from a launch template of its name,
        propagating `dnsname=<name_tag>` to them, in `account` (None: moto's default one)
        and `region`; their instance ids."""
        ec2 = self.ec2_of(account, region)
        asg = self.client_of("autoscaling", account, region)
        ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": "t3.micro"})
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": name},
            MinSize=0, MaxSize=3, DesiredCapacity=desired, VPCZoneIdentifier=subnet,
            Tags=[{"Key": "dnsname", "Value": name_tag, "PropagateAtLaunch": True,
                   "ResourceId": name, "ResourceType": "auto-scaling-group"}])
        return self.group_instances(name, account=account, region=region)

    def group_instances(self, name: str, *, account: str | None = None, region: str = REGION) -> list[str]:
        group = self.client_of("autoscaling", account, region).describe_auto_scaling_groups(
            AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return [i["InstanceId"] for i in group["Instances"]]

    def instance(self, instance_id: str) -> dict:
        res = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return res[0]["Instances"][0]

    def state(self, instance_id: str) -> str:
        return self.instance(instance_id)["State"]["Name"]

    def public_ip(self, instance_id: str) -> str | None:
        return self.instance(instance_id).get("PublicIpAddress")

    def private_ip(self, instance_id: str) -> str | None:
        return self.instance(instance_id).get("PrivateIpAddress")

    def ipv6_addresses(self, instance_id: str) -> list[str]:
        return sorted(a["Ipv6Address"] for ni in self.instance(instance_id).get("NetworkInterfaces", [])
                      for a in ni.get("Ipv6Addresses", []))

    def stop(self, instance_id: str) -> None:
        self.ec2.stop_instances(InstanceIds=[instance_id])

    def start(self, instance_id: str) -> None:
        self.ec2.start_instances(InstanceIds=[instance_id])

    def terminate(self, instance_id: str) -> None:
        self.ec2.terminate_instances(InstanceIds=[instance_id])

    def tags(self, instance_id: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.instance(instance_id).get("Tags", [])}

    def set_tags(self, instance_id: str, tags: dict[str, str]) -> None:
        self.ec2.create_tags(Resources=[instance_id],
                             Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def delete_tags(self, instance_id: str, keys: list[str]) -> None:
        self.ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": k} for k in keys])

    def status_tag(self, instance_id: str, name_tag: str = "dnsname") -> str | None:
        return self.tags(instance_id).get(name_tag + STATUS_SUFFIX)

    # ---------------------------------------------------------------- whole-world views
    def snapshot(self, zone_ids: list[str], instance_ids: list[str]) -> dict:
        """Everything a scenario asserts on: records of the zones, lock items, instance tags."""
        return {
            "records": {z: self.records(z) for z in zone_ids if z},
            "locks": self.lock_items(),
            "tags": {i: self.tags(i) for i in instance_ids},
        }
