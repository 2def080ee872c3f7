# Offline tests of the central side for several accounts and regions (accounts, regions,
# member_role_name, organization_id), with the AWS provider mocked. Run with
# `terraform test -var lambda_zip=PATH` (make infra-test). The member side: member.tftest.hcl.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/ec2-dns-function" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:mocked" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:mocked", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/mocked" }
  }
  mock_resource "aws_lambda_alias" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns:live" }
  }
}

variables {
  allowed_domains = ["dyn.example.com"]
  hosted_zone_ids = ["Z0123456789ABCDEFGHIJ"]
}

run "single_account_by_default" {
  command = apply

  assert {
    condition = alltrue([
      for k in ["ACCOUNTS", "REGIONS", "MEMBER_ROLE"] : !contains(keys(aws_lambda_function.this.environment[0].variables), k)
    ])
    error_message = "Without accounts, regions or a member role name the function gets none of ACCOUNTS, REGIONS, MEMBER_ROLE."
  }
  assert {
    condition     = !strcontains(aws_iam_role_policy.function.policy, "sts:")
    error_message = "Without accounts the reconciler may assume no role."
  }
  assert {
    condition     = length(aws_cloudwatch_event_permission.accounts) == 0 && length(aws_cloudwatch_event_permission.organization) == 0
    error_message = "Without accounts or an organisation the default bus's policy is left alone."
  }
  assert {
    condition = (
      output.event_bus_arn == "arn:aws:events:eu-west-1:123456789012:event-bus/default" &&
      output.role_arn == aws_iam_role.function.arn
    )
    error_message = "The outputs give the default bus and the reconciler's role, which the member side needs."
  }
}

run "accounts_and_regions" {
  command = apply

  variables {
    accounts = ["345678901234", "210987654321", " 345678901234"]
    regions  = ["us-east-1", "eu-west-1"]
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["ACCOUNTS"] == "210987654321,345678901234" &&
      aws_lambda_function.this.environment[0].variables["REGIONS"] == "eu-west-1,us-east-1" &&
      !contains(keys(aws_lambda_function.this.environment[0].variables), "MEMBER_ROLE")
    )
    error_message = "ACCOUNTS and REGIONS are sorted without repeats; MEMBER_ROLE only when not the default."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s if strcontains(jsonencode(s.Action), "sts:")
      ] == [{
        Sid      = "AssumeMemberRoles", Effect = "Allow", Action = "sts:AssumeRole",
        Resource = ["arn:aws:iam::210987654321:role/ec2-dns-member", "arn:aws:iam::345678901234:role/ec2-dns-member"]
    }]
    error_message = "The reconciler may assume exactly the member role of each listed account, no wildcard account."
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Sid] == [
      "DescribeInstances", "WriteStatusTag", "AssumeMemberRoles", "ListHostedZones", "ReadRecords", "ChangeRecords",
      "LockTable", "WriteLogs", "ConsumeQueue", "RetryFailedMessages", "SendShards", "DescribeLockTable",
    ]
    error_message = "The assume statement comes after the EC2 statements, the rest is unchanged."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.function.policy).Statement : [s.Resource, s.Condition] if s.Sid == "WriteStatusTag"
    ] == [["arn:aws:ec2:*:123456789012:instance/*", { "ForAllValues:StringEquals" = { "aws:TagKeys" = ["dnsname-status"] } }]]
    error_message = "In its own account the reconciler writes the status tag in every region (the region is a wildcard)."
  }
  assert {
    condition = {
      for k, p in aws_cloudwatch_event_permission.accounts : k => [p.event_bus_name, p.statement_id, p.action, p.principal, length(p.condition)]
      } == {
      "210987654321" = ["default", "ec2-dns-210987654321", "events:PutEvents", "210987654321", 0]
      "345678901234" = ["default", "ec2-dns-345678901234", "events:PutEvents", "345678901234", 0]
    }
    error_message = "The default bus admits each listed account, one statement each, named after the function."
  }
  assert {
    condition     = length(aws_cloudwatch_event_permission.organization) == 0
    error_message = "Without an organisation id there is no organisation statement."
  }
  assert {
    condition = alltrue([
      for p in [
        aws_cloudwatch_event_rule.instance_state.event_pattern, aws_cloudwatch_event_rule.tag_change.event_pattern,
        aws_cloudwatch_event_rule.address_change.event_pattern,
      ] :
      !contains(keys(jsondecode(p)), "account") && !contains(keys(jsondecode(p)), "region")
    ])
    error_message = "The central rules match events of any account and region (forwarded events keep theirs)."
  }
}

run "regions_only" {
  command = apply

  variables {
    regions = ["eu-west-1", "eu-central-1"]
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["REGIONS"] == "eu-central-1,eu-west-1" &&
      !contains(keys(aws_lambda_function.this.environment[0].variables), "ACCOUNTS") &&
      !strcontains(aws_iam_role_policy.function.policy, "sts:") &&
      length(aws_cloudwatch_event_permission.accounts) == 0
    )
    error_message = "Other regions of the own account alone: REGIONS, no assume, no bus statement (same-account forwarding needs none)."
  }
}

run "organization_member_role_and_name" {
  command = apply

  variables {
    name             = "dns-sync"
    accounts         = ["210987654321", "345678901234"]
    member_role_name = "dns-reader"
    organization_id  = "o-a1b2c3d4e5"
  }

  assert {
    condition = (
      length(aws_cloudwatch_event_permission.accounts) == 0 &&
      aws_cloudwatch_event_permission.organization[0].event_bus_name == "default" &&
      aws_cloudwatch_event_permission.organization[0].statement_id == "dns-sync-organization" &&
      aws_cloudwatch_event_permission.organization[0].action == "events:PutEvents" &&
      aws_cloudwatch_event_permission.organization[0].principal == "*" &&
      aws_cloudwatch_event_permission.organization[0].condition[0].type == "StringEquals" &&
      aws_cloudwatch_event_permission.organization[0].condition[0].key == "aws:PrincipalOrgID" &&
      aws_cloudwatch_event_permission.organization[0].condition[0].value == "o-a1b2c3d4e5"
    )
    error_message = "With an organisation id the default bus admits the organisation in one statement instead, named after the function (two deployments in one account do not collide)."
  }
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["MEMBER_ROLE"] == "dns-reader" &&
      one([for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Resource if s.Sid == "AssumeMemberRoles"]) == [
        "arn:aws:iam::210987654321:role/dns-reader", "arn:aws:iam::345678901234:role/dns-reader",
      ]
    )
    error_message = "MEMBER_ROLE and the assumed ARNs follow member_role_name; the reconciler still reaches only the listed accounts."
  }
}

run "rejects_invalid_organization_settings" {
  command = plan

  variables {
    accounts         = ["12345678901", "abc"]
    regions          = ["EU-WEST-1"]
    member_role_name = "no spaces please"
    organization_id  = "org-1"
  }

  expect_failures = [
    var.accounts,
    var.regions,
    var.member_role_name,
    var.organization_id,
  ]
}

run "rejects_empty_regions" {
  command = plan

  variables {
    regions = []
  }

  expect_failures = [var.regions]
}

run "rejects_own_account_given" {
  command = plan

  variables {
    account_id = "210987654321"
    accounts   = ["210987654321", "345678901234"]
  }

  expect_failures = [var.accounts]
}

run "rejects_own_account_looked_up" {
  command = plan

  variables {
    accounts = ["123456789012"]
  }

  expect_failures = [aws_iam_role_policy.function]
}
