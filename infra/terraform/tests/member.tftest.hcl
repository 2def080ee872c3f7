# Offline tests of the member side (modules/member), with the AWS provider mocked: the member
# role (trust, rights), the forwarding rules (the central rules' patterns, the central bus as
# target, their role), the switch for the role, and the validation. Each run tests the
# module through `module { source = "./modules/member" }`; make infra-test runs them with the
# root module's tests.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "210987654321" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::210987654321:role/mocked" }
  }
}

variables {
  central_account_id  = "123456789012"
  central_region      = "us-east-1"
  reconciler_role_arn = "arn:aws:iam::123456789012:role/ec2-dns-function"
}

run "member_defaults" {
  command = apply

  module {
    source = "./modules/member"
  }

  # ---- Member role ----
  assert {
    condition = (
      aws_iam_role.member[0].name == "ec2-dns-member" &&
      jsondecode(aws_iam_role.member[0].assume_role_policy).Statement == [{
        Effect = "Allow", Principal = { AWS = "arn:aws:iam::123456789012:role/ec2-dns-function" }, Action = "sts:AssumeRole"
      }]
    )
    error_message = "The member role is ec2-dns-member, trusted by exactly the reconciler's role (no operator by default)."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.member[0].policy).Statement == [
      { Sid = "DescribeInstances", Effect = "Allow", Action = "ec2:DescribeInstances", Resource = "*" },
      {
        Sid       = "WriteStatusTag", Effect = "Allow", Action = "ec2:CreateTags",
        Resource  = "arn:aws:ec2:*:210987654321:instance/*",
        Condition = { "ForAllValues:StringEquals" = { "aws:TagKeys" = ["dnsname-status"] } }
      },
    ]
    error_message = "The member role may read instances and write the status tag only, in every region of its account (the reconciler's own-account statements)."
  }
  assert {
    condition     = aws_iam_role_policy.member[0].role == aws_iam_role.member[0].id
    error_message = "The policy belongs to the member role."
  }

  # ---- Forwarding ----
  assert {
    condition = (
      jsondecode(aws_cloudwatch_event_rule.forward["instance_state"].event_pattern) == {
        source        = ["aws.ec2"]
        "detail-type" = ["EC2 Instance State-change Notification"]
      } &&
      jsondecode(aws_cloudwatch_event_rule.forward["tag_change"].event_pattern) == {
        source        = ["aws.tag"]
        "detail-type" = ["Tag Change on Resource"]
        detail        = { service = ["ec2"], "resource-type" = ["instance"], "changed-tag-keys" = ["dnsname"] }
      } &&
      jsondecode(aws_cloudwatch_event_rule.forward["address_change"].event_pattern) == {
        source        = ["aws.ec2"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail        = { eventSource = ["ec2.amazonaws.com"], eventName = ["AssociateAddress", "DisassociateAddress", "AssignIpv6Addresses", "UnassignIpv6Addresses"] }
      } &&
      length(aws_cloudwatch_event_rule.forward) == 3
    )
    error_message = "The rules forward the central rules' patterns (EC2 state changes, changes of the name tag, Elastic IP and IPv6 address changes)."
  }
  assert {
    condition = (
      length(aws_cloudwatch_event_target.forward) == 3 &&
      alltrue([for t in aws_cloudwatch_event_target.forward :
        t.arn == "arn:aws:events:us-east-1:123456789012:event-bus/default" &&
        t.role_arn == aws_iam_role.forward.arn &&
        t.retry_policy[0].maximum_retry_attempts == 8 &&
        t.retry_policy[0].maximum_event_age_in_seconds == 3600
      ]) &&
      toset([for t in aws_cloudwatch_event_target.forward : t.rule]) == toset([
        "ec2-dns-forward-instance-state", "ec2-dns-forward-tag-change", "ec2-dns-forward-address-change",
      ])
    )
    error_message = "The three rules send to the central default bus with their role and a retry policy."
  }
  assert {
    condition = (
      aws_iam_role.forward.name == "ec2-dns-forward-eu-west-1" &&
      jsondecode(aws_iam_role.forward.assume_role_policy).Statement == [{
        Effect    = "Allow", Principal = { Service = "events.amazonaws.com" }, Action = "sts:AssumeRole"
        Condition = { StringEquals = { "aws:SourceAccount" = "210987654321" } }
      }] &&
      jsondecode(aws_iam_role_policy.forward.policy).Statement == [{
        Sid      = "PutEventsOnCentralBus", Effect = "Allow", Action = "events:PutEvents",
        Resource = "arn:aws:events:us-east-1:123456789012:event-bus/default"
      }]
    )
    error_message = "The forwarding role (named per region) is for EventBridge of this account, and may put events on the central bus only."
  }
  assert {
    condition = (
      output.member_role_arn == aws_iam_role.member[0].arn &&
      output.forwarding_role_arn == aws_iam_role.forward.arn &&
      output.central_event_bus_arn == "arn:aws:events:us-east-1:123456789012:event-bus/default"
    )
    error_message = "The outputs give the member role, the forwarding role and the central bus."
  }
}

run "member_trusts_the_listed_operators_exactly" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    operator_principal_arns = [
      "arn:aws:iam::123456789012:user/alice",
      "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Dns_0123456789abcdef",
      "arn:aws:iam::123456789012:role/ec2-dns-operator",
      "arn:aws:iam::123456789012:user/alice",
    ]
  }

  assert {
    condition = jsondecode(aws_iam_role.member[0].assume_role_policy).Statement == [
      { Effect = "Allow", Principal = { AWS = "arn:aws:iam::123456789012:role/ec2-dns-function" }, Action = "sts:AssumeRole" },
      {
        Sid       = "Operators", Effect = "Allow", Action = "sts:AssumeRole"
        Principal = { AWS = ["arn:aws:iam::111122223333:root", "arn:aws:iam::123456789012:root"] }
        Condition = { StringEquals = { "aws:PrincipalArn" = [
          "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Dns_0123456789abcdef",
          "arn:aws:iam::123456789012:role/ec2-dns-operator",
          "arn:aws:iam::123456789012:user/alice",
        ] } }
      },
    ]
    error_message = "The member role trusts the reconciler's role and exactly the listed operators (aws:PrincipalArn, their accounts as principal)."
  }
  assert {
    condition     = length(jsondecode(aws_iam_role_policy.member[0].policy).Statement) == 2
    error_message = "Operators get the member role's rights, no more: the policy is unchanged."
  }
}

run "member_trusts_an_operator_of_another_partition" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    central_region          = "us-gov-west-1"
    reconciler_role_arn     = "arn:aws-us-gov:iam::123456789012:role/ec2-dns-function"
    operator_principal_arns = ["arn:aws-us-gov:iam::123456789012:role/ops"]
  }

  assert {
    condition = jsondecode(aws_iam_role.member[0].assume_role_policy).Statement[1] == {
      Sid       = "Operators", Effect = "Allow", Action = "sts:AssumeRole"
      Principal = { AWS = ["arn:aws-us-gov:iam::123456789012:root"] }
      Condition = { StringEquals = { "aws:PrincipalArn" = ["arn:aws-us-gov:iam::123456789012:role/ops"] } }
    }
    error_message = "The operators' account principal keeps their ARN's partition."
  }
}

run "rejects_operators_by_wildcard" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    operator_principal_arns = ["arn:aws:iam::123456789012:role/ec2-dns-operator", "arn:aws:iam::123456789012:role/*"]
  }

  expect_failures = [var.operator_principal_arns]
}

run "rejects_operators_by_account_wildcard" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    operator_principal_arns = ["*"]
  }

  expect_failures = [var.operator_principal_arns]
}

run "rejects_operators_that_are_no_role_or_user" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    operator_principal_arns = ["arn:aws:iam::123456789012:root", "arn:aws:sts::123456789012:assumed-role/ops/alice"]
  }

  expect_failures = [var.operator_principal_arns]
}

run "member_without_role_custom_tag" {
  command = apply

  module {
    source = "./modules/member"
  }

  variables {
    create_member_role = false
    name_tag           = "hostname"
    name               = "dns-sync"
  }

  assert {
    condition = (
      length(aws_iam_role.member) == 0 && length(aws_iam_role_policy.member) == 0 && output.member_role_arn == null &&
      length(aws_cloudwatch_event_target.forward) == 3
    )
    error_message = "create_member_role = false (the account's other regions, the central account) forwards without the member role."
  }
  assert {
    condition = (
      jsondecode(aws_cloudwatch_event_rule.forward["tag_change"].event_pattern).detail["changed-tag-keys"] == ["hostname"] &&
      aws_cloudwatch_event_rule.forward["tag_change"].name == "dns-sync-forward-tag-change" &&
      aws_cloudwatch_event_rule.forward["address_change"].name == "dns-sync-forward-address-change" &&
      aws_iam_role.forward.name == "dns-sync-forward-eu-west-1"
    )
    error_message = "The tag rule follows the name tag; names follow name."
  }
}

run "member_role_name_and_status_tag" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    member_role_name = "dns-reader"
    name_tag         = "hostname"
    account_id       = "345678901234"
  }

  assert {
    condition = (
      aws_iam_role.member[0].name == "dns-reader" &&
      jsondecode(aws_iam_role_policy.member[0].policy).Statement[1].Resource == "arn:aws:ec2:*:345678901234:instance/*" &&
      jsondecode(aws_iam_role_policy.member[0].policy).Statement[1].Condition == { "ForAllValues:StringEquals" = { "aws:TagKeys" = ["hostname-status"] } }
    )
    error_message = "The member role follows member_role_name, account_id and <name_tag>-status."
  }
}

run "member_in_central_account_other_region" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    account_id         = "123456789012"
    create_member_role = false
  }

  assert {
    condition     = length(aws_iam_role.member) == 0 && length(aws_cloudwatch_event_rule.forward) == 3
    error_message = "In another region of the central account, only the forwarding rules."
  }
}

run "rejects_member_role_in_central_account" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    account_id = "123456789012"
  }

  expect_failures = [aws_iam_role.member]
}

run "rejects_member_in_central_region_of_central_account" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    account_id         = "123456789012"
    create_member_role = false
    central_region     = "eu-west-1"
  }

  expect_failures = [aws_cloudwatch_event_rule.forward]
}

run "rejects_invalid_member_settings" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    central_account_id = "1234"
    central_region     = "Europe"
    member_role_name   = "a role"
    name_tag           = "aws:name"
  }

  expect_failures = [
    var.central_account_id,
    var.central_region,
    var.member_role_name,
    var.name_tag,
  ]
}

# (In its own run: Terraform skips the validations of a variable whose conditions read
# another variable that is itself invalid.)
run "rejects_reconciler_that_is_no_role_arn" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    reconciler_role_arn = "ec2-dns-function"
  }

  expect_failures = [var.reconciler_role_arn]
}

run "rejects_reconciler_of_another_account" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    reconciler_role_arn = "arn:aws:iam::999999999999:role/ec2-dns-function"
  }

  expect_failures = [var.reconciler_role_arn]
}

# ---- Auto Scaling lifecycle hooks of the member's groups (docs/fleets.md) ----------------

run "member_lifecycle_hooks" {
  command = apply

  module {
    source = "./modules/member"
  }

  variables {
    lifecycle_hooks  = ["web-terminate", "web-launch"]
    lifecycle_groups = ["web", "api"]
  }

  assert {
    condition = (
      length(aws_cloudwatch_event_rule.forward) == 4 &&
      aws_cloudwatch_event_rule.forward["lifecycle_action"].name == "ec2-dns-forward-lifecycle-action" &&
      jsondecode(aws_cloudwatch_event_rule.forward["lifecycle_action"].event_pattern) == {
        source        = ["aws.autoscaling"]
        "detail-type" = ["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"]
        detail        = { LifecycleHookName = ["web-terminate", "web-launch"] }
      }
    )
    error_message = "A fourth rule forwards the lifecycle actions of exactly the listed hooks, with the central lifecycle rule's pattern."
  }
  assert {
    condition = (
      aws_cloudwatch_event_target.forward["lifecycle_action"].rule == "ec2-dns-forward-lifecycle-action" &&
      aws_cloudwatch_event_target.forward["lifecycle_action"].arn == "arn:aws:events:us-east-1:123456789012:event-bus/default" &&
      aws_cloudwatch_event_target.forward["lifecycle_action"].role_arn == aws_iam_role.forward.arn &&
      aws_cloudwatch_event_target.forward["lifecycle_action"].retry_policy[0].maximum_retry_attempts == 8 &&
      aws_cloudwatch_event_target.forward["lifecycle_action"].retry_policy[0].maximum_event_age_in_seconds == 3600
    )
    error_message = "The lifecycle rule sends to the central default bus with the forwarding role and the retry policy."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.member[0].policy).Statement == [
      { Sid = "DescribeInstances", Effect = "Allow", Action = "ec2:DescribeInstances", Resource = "*" },
      {
        Sid       = "WriteStatusTag", Effect = "Allow", Action = "ec2:CreateTags",
        Resource  = "arn:aws:ec2:*:210987654321:instance/*",
        Condition = { "ForAllValues:StringEquals" = { "aws:TagKeys" = ["dnsname-status"] } }
      },
      {
        Sid    = "ReadGroupLifecycle", Effect = "Allow", Resource = "*",
        Action = ["autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeLifecycleHooks"]
      },
      {
        Sid    = "CompleteLifecycleActions", Effect = "Allow",
        Action = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
        Resource = [
          "arn:aws:autoscaling:*:210987654321:autoScalingGroup:*:autoScalingGroupName/web",
          "arn:aws:autoscaling:*:210987654321:autoScalingGroup:*:autoScalingGroupName/api",
        ]
      },
    ]
    error_message = "With hooks the member role may read the groups' lifecycle states and hook timeouts (*), and complete the actions of the listed groups of its own account only."
  }
  assert {
    condition     = jsondecode(aws_iam_role.member[0].assume_role_policy).Statement[0].Principal.AWS == "arn:aws:iam::123456789012:role/ec2-dns-function"
    error_message = "The trust is unchanged by the hooks."
  }
}

run "member_lifecycle_groups_without_hooks_grant_nothing" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    lifecycle_groups = ["web"]
  }

  assert {
    condition = (
      length(aws_cloudwatch_event_rule.forward) == 3 &&
      !contains(keys(aws_cloudwatch_event_rule.forward), "lifecycle_action") &&
      length(regexall("autoscaling:", aws_iam_role_policy.member[0].policy)) == 0
    )
    error_message = "Without hooks: no lifecycle rule and no Auto Scaling statement, groups or not."
  }
}

run "member_lifecycle_hooks_without_role" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    create_member_role = false
    lifecycle_hooks    = ["web-launch"]
  }

  assert {
    condition = (
      length(aws_iam_role_policy.member) == 0 &&
      jsondecode(aws_cloudwatch_event_rule.forward["lifecycle_action"].event_pattern).detail.LifecycleHookName == ["web-launch"]
    )
    error_message = "In the account's other regions (no member role) the hooks' actions are forwarded, and no group is needed."
  }
}

run "rejects_lifecycle_hooks_without_groups" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    lifecycle_hooks = ["web-launch"]
  }

  expect_failures = [aws_iam_role_policy.member]
}

run "rejects_invalid_lifecycle_names" {
  command = plan

  module {
    source = "./modules/member"
  }

  variables {
    lifecycle_hooks  = ["not a hook"]
    lifecycle_groups = ["web*"]
  }

  expect_failures = [var.lifecycle_hooks, var.lifecycle_groups]
}
