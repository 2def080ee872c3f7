# The member side of an ec2-dns deployment for several accounts and regions: deployed in each
# account and region whose instances the central deployment (the root module with accounts
# and regions) manages, besides the central account's own region.
#
# - The member role (create_member_role, once per account: IAM is global), trusted by exactly
#   the reconciler's role, allowed ec2:DescribeInstances and ec2:CreateTags of the status tag
#   only, in every region of the account: what the reconciler's own role may do in its
#   account. Not in the central account, whose reconciler uses its own role. With
#   operator_principal_arns also trusted by exactly those operators (ec2-dns-ctl assumes the
#   member role for the account's instances, as the reconciler does), who get the same rights.
# - In each region, three rules with the central rules' patterns (EC2 state changes, changes
#   of the name tag, Elastic IP addresses associated with or disassociated from instances and
#   IPv6 addresses assigned to or unassigned from network interfaces as CloudTrail records
#   them) whose target is the central account's default event bus in the
#   central region, and the role EventBridge uses to put them there (events:PutEvents on that
#   bus only). Forwarded events keep their account and region: the function learns from them
#   where an instance lives.
# - With lifecycle_hooks (Auto Scaling lifecycle hooks of this account's groups,
#   docs/fleets.md): in each region a fourth rule forwarding the lifecycle actions of exactly
#   those hooks, with the central lifecycle rule's pattern; and on the member role the rights
#   to complete them: autoscaling:DescribeAutoScalingInstances and DescribeLifecycleHooks
#   ("*"), and CompleteLifecycleAction and RecordLifecycleActionHeartbeat on the
#   lifecycle_groups of this account only. Without hooks, neither.
#
# The CDK construct Ec2DnsMember (../../cdk/lib/member.ts) creates the same; the parity test
# proves it. Apply the central deployment first: the member role's trust names its role,
# which IAM checks.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {
  count = var.account_id == null ? 1 : 0
}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account    = var.account_id != null ? var.account_id : data.aws_caller_identity.current[0].account_id
  status_tag = "${var.name_tag}-status"

  central_bus_arn = "arn:${local.partition}:events:${var.central_region}:${var.central_account_id}:event-bus/default"
  in_central      = local.account == var.central_account_id

  # Operators (ec2-dns-ctl), exactly by aws:PrincipalArn: the principal is their accounts
  # (IAM needs no principal to exist for that), the condition names each one. No statement
  # without operators.
  operator_arns = sort(distinct(var.operator_principal_arns))
  operator_trust = [for arns in [local.operator_arns] : {
    Sid       = "Operators"
    Effect    = "Allow"
    Principal = { AWS = sort(distinct([for a in arns : "arn:${split(":", a)[1]}:iam::${split(":", a)[4]}:root"])) }
    Action    = "sts:AssumeRole"
    Condition = { StringEquals = { "aws:PrincipalArn" = arns } }
  } if length(arns) > 0]

  # Auto Scaling lifecycle actions of the listed hooks (docs/fleets.md); the groups' rights
  # only with hooks, as in the central module (groups alone grant nothing).
  lifecycle_on = length(var.lifecycle_hooks) > 0
  # The reconciler's own lifecycle statements (../../main.tf), for this account's groups.
  lifecycle_statements = [for st in [
    {
      Sid      = "ReadGroupLifecycle"
      Effect   = "Allow"
      Action   = ["autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeLifecycleHooks"]
      Resource = "*"
    },
    {
      Sid      = "CompleteLifecycleActions"
      Effect   = "Allow"
      Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
      Resource = [for g in var.lifecycle_groups : "arn:${local.partition}:autoscaling:*:${local.account}:autoScalingGroup:*:autoScalingGroupName/${g}"]
    },
  ] : st if local.lifecycle_on]

  # The same patterns as the central rules (../../main.tf): neither restricts account or region.
  instance_patterns = {
    instance_state = {
      source        = ["aws.ec2"]
      "detail-type" = ["EC2 Instance State-change Notification"]
    }
    tag_change = {
      source        = ["aws.tag"]
      "detail-type" = ["Tag Change on Resource"]
      # Only changes of the name tag: the function's own writes of <name_tag>-status must
      # not trigger it again.
      detail = {
        service            = ["ec2"]
        "resource-type"    = ["instance"]
        "changed-tag-keys" = [var.name_tag]
      }
    }
    # EventBridge sees these API calls only where a CloudTrail trail logs this account's
    # management events in this region.
    address_change = {
      source        = ["aws.ec2"]
      "detail-type" = ["AWS API Call via CloudTrail"]
      detail = {
        eventSource = ["ec2.amazonaws.com"]
        eventName   = ["AssociateAddress", "DisassociateAddress", "AssignIpv6Addresses", "UnassignIpv6Addresses"]
      }
    }
  }
  lifecycle_pattern = {
    source        = ["aws.autoscaling"]
    "detail-type" = ["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"]
    detail = {
      LifecycleHookName = var.lifecycle_hooks
    }
  }
  patterns = merge(local.instance_patterns, local.lifecycle_on ? { lifecycle_action = local.lifecycle_pattern } : {})
  descriptions = {
    instance_state   = "ec2-dns member: forwards EC2 instance state changes to the central event bus"
    tag_change       = "ec2-dns member: forwards changes of the ${var.name_tag} tag of EC2 instances to the central event bus"
    address_change   = "ec2-dns member: forwards Elastic IP address associations and disassociations and IPv6 address assignments and unassignments (CloudTrail) to the central event bus"
    lifecycle_action = "ec2-dns member: forwards the Auto Scaling lifecycle actions of the listed hooks to the central event bus"
  }
  rule_names = {
    instance_state   = "${var.name}-forward-instance-state"
    tag_change       = "${var.name}-forward-tag-change"
    address_change   = "${var.name}-forward-address-change"
    lifecycle_action = "${var.name}-forward-lifecycle-action"
  }
  # As the central rules: a forwarded event is retried for an hour; one still lost is healed
  # by the central reconcile-all schedule.
  event_retries = 8
  event_max_age = 3600
}

# ---- Member role (once per account) ------------------------------------------------------

resource "aws_iam_role" "member" {
  count       = var.create_member_role ? 1 : 0
  name        = var.member_role_name
  description = "ec2-dns member: the central reconciler reads instances and writes their status tag (all regions)"
  # Exactly the reconciler's role (IAM checks that it exists: apply the central deployment
  # first), and the operators (local.operator_trust).
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([{
      Effect    = "Allow"
      Principal = { AWS = var.reconciler_role_arn }
      Action    = "sts:AssumeRole"
    }], local.operator_trust)
  })
  tags = var.tags

  lifecycle {
    precondition {
      condition     = !local.in_central
      error_message = "create_member_role must be false in the central account (${var.central_account_id}): its reconciler uses its own role there."
    }
  }
}

# The reconciler's statements for its own account (../../main.tf), for this account.
resource "aws_iam_role_policy" "member" {
  count = var.create_member_role ? 1 : 0
  name  = "ec2dns"
  role  = aws_iam_role.member[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      # Observe: DescribeInstances has no resource-level permissions, so "*" is the only
      # possible resource.
      {
        Sid      = "DescribeInstances"
        Effect   = "Allow"
        Action   = "ec2:DescribeInstances"
        Resource = "*"
      },
      # Report: write the status tag on instances of this account (any region), and no
      # other tag.
      {
        Sid       = "WriteStatusTag"
        Effect    = "Allow"
        Action    = "ec2:CreateTags"
        Resource  = "arn:${local.partition}:ec2:*:${local.account}:instance/*"
        Condition = { "ForAllValues:StringEquals" = { "aws:TagKeys" = [local.status_tag] } }
      },
      ],
      # Lifecycle actions of the listed groups (none unless lifecycle_hooks).
      local.lifecycle_statements,
    )
  })

  lifecycle {
    precondition {
      condition     = !local.lifecycle_on || length(var.lifecycle_groups) > 0
      error_message = "lifecycle_hooks lists hooks but lifecycle_groups names no group: name the groups whose lifecycle actions the reconciler may complete."
    }
  }
}

# ---- Forwarding rules (per region) -------------------------------------------------------

# IAM is global: the role's name carries the region.
resource "aws_iam_role" "forward" {
  name        = "${var.name}-forward-${local.region}"
  description = "ec2-dns member: EventBridge forwards instance events to the central event bus"
  # Only EventBridge rules of this account.
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "forward" {
  name = "ec2dns"
  role = aws_iam_role.forward.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "PutEventsOnCentralBus"
      Effect   = "Allow"
      Action   = "events:PutEvents"
      Resource = local.central_bus_arn
    }]
  })
}

resource "aws_cloudwatch_event_rule" "forward" {
  for_each      = local.patterns
  name          = local.rule_names[each.key]
  state         = "ENABLED"
  description   = local.descriptions[each.key]
  event_pattern = jsonencode(each.value)
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = !(local.in_central && local.region == var.central_region)
      error_message = "The central account's central region (${var.central_region}) needs no member: its own rules see its events (forwarding them to itself would loop)."
    }
  }
}

resource "aws_cloudwatch_event_target" "forward" {
  for_each = aws_cloudwatch_event_rule.forward
  rule     = each.value.name
  arn      = local.central_bus_arn
  role_arn = aws_iam_role.forward.arn

  retry_policy {
    maximum_retry_attempts       = local.event_retries
    maximum_event_age_in_seconds = local.event_max_age
  }
}
