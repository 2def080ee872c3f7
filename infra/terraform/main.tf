# ec2-dns: Route53 A/AAAA records for EC2 instances carrying a name tag.
#
# The CDK construct in ../cdk creates the same system; ../scripts/parity.py proves that the
# permissions, triggers and table of both are the same. The opt-in DDNS endpoint
# (enable_ddns) is in ddns.tf, the CloudWatch dashboard in dashboard.tf; the member side of
# several accounts and regions (accounts, regions) is the submodule modules/member.

# Every invoker targets the alias `live`, which points at the version the last apply
# published (publish = true publishes one on every change of code or configuration;
# versions are immutable snapshots of both). A rollback points the alias at an older
# version: aws lambda update-alias --function-name NAME --name live --function-version N.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {
  count = var.account_id == null ? 1 : 0
}

locals {
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  region     = data.aws_region.current.name
  account    = var.account_id != null ? var.account_id : data.aws_caller_identity.current[0].account_id

  # ARNs are built from names (not read from the resources) so that policies are known at
  # plan time: the plan shows, and the parity test checks, every permission before apply.

  # Route53 compares lowercase names without the trailing dot.
  allowed_domains = distinct([for d in var.allowed_domains : trimsuffix(lower(trimspace(d)), ".")])
  zone_ids        = distinct([for z in var.hosted_zone_ids : replace(trimspace(z), "/^/?hostedzone//", "")])
  zone_arns       = [for z in local.zone_ids : "arn:${local.partition}:route53:::hostedzone/${z}"]
  status_tag      = "${var.name_tag}-status"

  table_name     = "${var.name}-locks"
  queue_name     = "${var.name}-events"
  dlq_name       = "${var.name}-events-dlq"
  event_dlq_name = "${var.name}-undelivered-events"
  log_group_name = "/aws/lambda/${var.name}"
  rule_names     = { state = "${var.name}-instance-state", tag = "${var.name}-tag-change", address = "${var.name}-address-change", schedule = "${var.name}-reconcile-all", lifecycle = "${var.name}-lifecycle-action" }
  lifecycle_on   = length(var.lifecycle_hooks) > 0 # the lifecycle rule and rights (docs/fleets.md)
  rule_arns      = [for k in concat(["state", "tag", "address", "schedule"], local.lifecycle_on ? ["lifecycle"] : []) : "arn:${local.partition}:events:${local.region}:${local.account}:rule/${local.rule_names[k]}"]
  table_arn      = "arn:${local.partition}:dynamodb:${local.region}:${local.account}:table/${local.table_name}"
  queue_arn      = "arn:${local.partition}:sqs:${local.region}:${local.account}:${local.queue_name}"
  dlq_arn        = "arn:${local.partition}:sqs:${local.region}:${local.account}:${local.dlq_name}"
  event_dlq_arn  = "arn:${local.partition}:sqs:${local.region}:${local.account}:${local.event_dlq_name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${local.log_group_name}"
  # The queue's URL (QUEUE_URL), built from its name like the ARNs, so that the function's
  # environment, and with it the configuration request's trigger, is known at plan time.
  queue_url = "https://sqs.${local.region}.${local.dns_suffix}/${local.account}/${local.queue_name}"
  # Both functions get the same id, marker style and Route53 budget, each only when set (the
  # CDK construct does the same): unset, the function's own default applies.
  shared_env = merge(
    var.deployment_id == "" ? {} : { DEPLOYMENT_ID = var.deployment_id },
    var.marker_style == "" ? {} : { MARKER_STYLE = var.marker_style },
    var.route53_requests_per_second == null ? {} : { ROUTE53_REQUESTS_PER_SECOND = tostring(var.route53_requests_per_second) },
    var.route53_changes_per_second == null ? {} : { ROUTE53_CHANGES_PER_SECOND = tostring(var.route53_changes_per_second) },
  )
  # Completing lifecycle actions (docs/fleets.md): the groups' lifecycle states and hook
  # timeouts (Describe* take no resource restriction), the actions of the listed groups
  # only, and Route53's GetChange to wait for INSYNC. Only when a hook is listed.
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
    {
      Sid      = "WaitForChanges"
      Effect   = "Allow"
      Action   = "route53:GetChange"
      Resource = "arn:${local.partition}:route53:::change/*"
    },
  ] : st if local.lifecycle_on]
  event_retries    = 8
  event_max_age    = 3600
  alarm_period     = 300
  live_alias       = "live"
  alarm_action_arn = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}

# ---- Several accounts and regions ------------------------------------------------------

# The reconciler manages instances of var.accounts (through their member role) in
# var.regions, besides its own account; modules/member deploys the member role and the rules
# that forward instance events to this account's default bus. Accounts and regions sorted
# without repeats, as the function reads them.
locals {
  accounts         = sort(distinct([for a in var.accounts : trimspace(a)]))
  regions          = var.regions == null ? null : sort(distinct([for r in var.regions : trimspace(r)]))
  member_role_arns = [for a in local.accounts : "arn:${local.partition}:iam::${a}:role/${var.member_role_name}"]
  event_bus_arn    = "arn:${local.partition}:events:${local.region}:${local.account}:event-bus/default"
  # Bus statement ids are unique in the account: they start with the function's name.
  bus_statement_prefix = var.name
}

# The default bus admits the events the members forward: one statement per account, or one
# for the organisation. aws_cloudwatch_event_permission adds its statement to the bus's
# policy next to any others (aws_cloudwatch_event_bus_policy would replace the whole policy,
# removing statements someone else put there); the CDK construct's
# AWS::Events::EventBusPolicy does the same. Same-account forwarders (other regions) need no
# statement: their role's policy suffices.
resource "aws_cloudwatch_event_permission" "accounts" {
  for_each       = var.organization_id == null ? toset(local.accounts) : toset([])
  event_bus_name = "default"
  statement_id   = "${local.bus_statement_prefix}-${each.value}"
  action         = "events:PutEvents"
  principal      = each.value
}

resource "aws_cloudwatch_event_permission" "organization" {
  count          = var.organization_id == null ? 0 : 1
  event_bus_name = "default"
  statement_id   = "${local.bus_statement_prefix}-organization"
  action         = "events:PutEvents"
  principal      = "*"

  condition {
    type  = "StringEquals"
    key   = "aws:PrincipalOrgID"
    value = var.organization_id
  }
}

# ---- Lock table ----------------------------------------------------------------------

resource "aws_dynamodb_table" "locks" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS managed KMS key (aws/dynamodb); the table holds names and IP addresses that are also in DNS, a customer managed key adds cost without adding protection.
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  # Only the failed logins of a source (`source#<prefix>` items of the DDNS endpoint) carry
  # `expires`, the end of their window in epoch seconds: DynamoDB deletes them some time
  # after it. Items without the attribute never expire.
  ttl {
    attribute_name = "expires"
    enabled        = true
  }

  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = var.deletion_protection
  tags                        = var.tags
}

# ---- Queues --------------------------------------------------------------------------

resource "aws_sqs_queue" "dlq" {
  name                      = local.dlq_name
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 14 * 24 * 3600
  tags                      = var.tags
}

resource "aws_sqs_queue" "events" {
  name                    = local.queue_name
  sqs_managed_sse_enabled = true
  # Lambda's rule for SQS sources: at least six times the function timeout.
  visibility_timeout_seconds = 6 * var.timeout_seconds
  message_retention_seconds  = 4 * 24 * 3600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

# Events EventBridge could not deliver to the queue after its retries.
resource "aws_sqs_queue" "event_dlq" {
  name                      = local.event_dlq_name
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 14 * 24 * 3600
  tags                      = var.tags
}

locals {
  # Every queue refuses requests without TLS.
  deny_insecure_transport = {
    Effect    = "Deny"
    Principal = { AWS = "*" }
    Action    = "sqs:*"
    Condition = { Bool = { "aws:SecureTransport" = "false" } }
  }
  # Only the four rules of this system may send.
  allow_rules = {
    Sid       = "AllowEc2DnsRules"
    Effect    = "Allow"
    Principal = { Service = "events.amazonaws.com" }
    Action    = "sqs:SendMessage"
    Condition = { ArnEquals = { "aws:SourceArn" = local.rule_arns } }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      merge(local.deny_insecure_transport, { Resource = local.queue_arn }),
      merge(local.allow_rules, { Resource = local.queue_arn }),
    ]
  })
}

resource "aws_sqs_queue_policy" "event_dlq" {
  queue_url = aws_sqs_queue.event_dlq.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      merge(local.deny_insecure_transport, { Resource = local.event_dlq_arn }),
      merge(local.allow_rules, { Resource = local.event_dlq_arn }),
    ]
  })
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [merge(local.deny_insecure_transport, { Resource = local.dlq_arn })]
  })
}

# ---- Function ------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; the logs hold instance ids, names and addresses, nothing secret.
  #checkov:skip=CKV_AWS_338:Operational logs, not an audit trail: one month by default, configurable with log_retention_days.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_iam_role" "function" {
  name        = "${var.name}-function"
  description = "ec2-dns function: exactly the calls the code makes (see docs/deploy.md)"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

# Route53 and the lock table: the reconciler and the DDNS endpoint (ddns.tf) write names
# through the same fenced path, so both policies hold these statements, defined once.
locals {
  record_statements = [
    # Find the zones under the allowed domains. ListHostedZones has no resource-level
    # permissions.
    {
      Sid      = "ListHostedZones"
      Effect   = "Allow"
      Action   = "route53:ListHostedZones"
      Resource = "*"
    },
    # Observe: read records of the configured zones only.
    {
      Sid      = "ReadRecords"
      Effect   = "Allow"
      Action   = "route53:ListResourceRecordSets"
      Resource = local.zone_arns
    },
    # Apply: CREATE and DELETE (a swap is DELETE+CREATE in one batch; never UPSERT) of
    # A/AAAA records strictly below an allowed domain, and of the TXT ownership marker
    # `_ec2-dns.<name>` written in the same batch, in the configured zones only.
    # The names stay as they were: StringLike's `*` matches any characters, dots and
    # underscores included, and Route53 normalises names to lowercase without the
    # trailing dot (`_` and `-` are not escaped), so `*.dyn.example.com` already admits
    # `_ec2-dns.web.dyn.example.com`. IAM cannot pair a type with a name, so TXT is
    # admitted wherever A/AAAA are: below an allowed domain, never at its apex.
    {
      Sid      = "ChangeRecords"
      Effect   = "Allow"
      Action   = "route53:ChangeResourceRecordSets"
      Resource = local.zone_arns
      Condition = {
        "ForAllValues:StringLike" = {
          "route53:ChangeResourceRecordSetsNormalizedRecordNames" = [for d in local.allowed_domains : "*.${d}"]
        }
        "ForAllValues:StringEquals" = {
          "route53:ChangeResourceRecordSetsRecordTypes" = local.record_types
          "route53:ChangeResourceRecordSetsActions"     = ["CREATE", "DELETE"]
        }
      }
    },
  ]

  # Ownership locks: conditional reads and writes, transactions (TransactWriteItems is
  # authorised per item action: Put/Update/Delete/ConditionCheck) and the scans of
  # reconcile-all and of the DDNS sweep, on the lock table only.
  lock_table_statement = {
    Sid    = "LockTable"
    Effect = "Allow"
    Action = [
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:Scan",
    ]
    Resource = local.table_arn
  }
}

# The function's permissions: one statement per thing the code does, nothing else.
# docs/deploy.md lists them as a table; the CDK construct has the same statements.
# The code's call of sts:GetCallerIdentity at start needs no permission (AWS allows it to
# every principal), so it has no statement.
resource "aws_iam_role_policy" "function" {
  name = "ec2dns"
  role = aws_iam_role.function.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        # Observe: read instances, their tags, state and addresses. DescribeInstances has
        # no resource-level permissions, so "*" is the only possible resource.
        {
          Sid      = "DescribeInstances"
          Effect   = "Allow"
          Action   = "ec2:DescribeInstances"
          Resource = "*"
        },
        # Report: write the status tag on instances of this account (any region), and no
        # other tag (modules/member gives each member role the same two statements).
        {
          Sid       = "WriteStatusTag"
          Effect    = "Allow"
          Action    = "ec2:CreateTags"
          Resource  = "arn:${local.partition}:ec2:*:${local.account}:instance/*"
          Condition = { "ForAllValues:StringEquals" = { "aws:TagKeys" = [local.status_tag] } }
        },
      ],
      # Other accounts: their member role, which holds the same two statements there (the
      # session name is ec2-dns). Exactly the listed accounts' roles, no wildcard.
      length(local.member_role_arns) == 0 ? [] : [{
        Sid      = "AssumeMemberRoles"
        Effect   = "Allow"
        Action   = "sts:AssumeRole"
        Resource = local.member_role_arns
      }],
      # Find zones, read records, change A/AAAA records and TXT markers.
      local.record_statements,
      # Auto Scaling lifecycle actions of the listed hooks (none unless lifecycle_hooks).
      local.lifecycle_statements,
      [
        local.lock_table_statement,
        # Logs of the function, into its own log group (its streams).
        {
          Sid      = "WriteLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${local.log_group_arn}:*"
        },
        # What the SQS event source mapping needs to poll the queue and delete handled
        # messages (the code's own SQS call is in RetryFailedMessages).
        {
          Sid      = "ConsumeQueue"
          Effect   = "Allow"
          Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
          Resource = local.queue_arn
        },
        # Retry: the function sets the visibility of each message it failed on (30 s
        # doubled per receive, at most 15 minutes; see var.max_receive_count), on the event
        # queue only. ChangeMessageVisibilityBatch is authorised by this action too.
        {
          Sid      = "RetryFailedMessages"
          Effect   = "Allow"
          Action   = "sqs:ChangeMessageVisibility"
          Resource = local.queue_arn
        },
        # Sharded reconciles: each shard is a message the function sends to its own queue
        # (QUEUE_URL; SendMessageBatch is authorised by this action too). The queue uses
        # SQS-managed keys, so no KMS right.
        {
          Sid      = "SendShards"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = local.queue_arn
        },
        # Sharded reconciles: the lock table's ItemCount sizes its segments (the reconciler
        # only: the DDNS endpoint shares local.lock_table_statement, not this).
        {
          Sid      = "DescribeLockTable"
          Effect   = "Allow"
          Action   = "dynamodb:DescribeTable"
          Resource = local.table_arn
        },
      ],
    )
  })

  lifecycle {
    precondition {
      condition     = !contains(local.accounts, local.account)
      error_message = "accounts must not list this deployment's own account (${local.account}): the reconciler manages it with its own role; list only other accounts."
    }
    precondition {
      condition     = length(var.lifecycle_hooks) == 0 || length(var.lifecycle_groups) > 0
      error_message = "lifecycle_hooks lists hooks but lifecycle_groups names no group: name the groups whose lifecycle actions the reconciler may complete."
    }
    precondition {
      condition     = !var.reverse_records || length(local.reverse_domains) > 0
      error_message = "reverse_records is true but no allowed_domains entry is a reverse domain: add the private reverse zones' domain (such as 10.in-addr.arpa)."
    }
  }
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_50:X-Ray tracing would need xray permissions the code does not use; the JSON logs carry the request id.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the SQS event source mapping (scaling_config.maximum_concurrency); reserving account concurrency would only take it from other functions.
  #checkov:skip=CKV_AWS_116:The function is invoked synchronously by the SQS event source mapping; failed messages go to the queue's dead-letter queue, so a function DLQ (async invokes only) would never receive anything.
  #checkov:skip=CKV_AWS_117:The function only calls AWS APIs (EC2, Route53, DynamoDB); it needs no VPC resources, and a VPC would add NAT or endpoints for nothing.
  #checkov:skip=CKV_AWS_173:The environment holds no secrets (table name, domains, tag key, TTL); the default encryption at rest with the AWS managed key applies.
  #checkov:skip=CKV_AWS_272:The code comes from the project's own build (make package); code signing is left to operators who run a signing profile.
  function_name    = var.name
  description      = "ec2-dns: Route53 A/AAAA records for EC2 instances tagged with ${var.name_tag}"
  role             = aws_iam_role.function.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = var.lambda_zip
  source_code_hash = filebase64sha256(var.lambda_zip)
  memory_size      = var.memory_size
  timeout          = var.timeout_seconds
  # A new version on every change of code or configuration; earlier versions stay (only
  # deleting the function deletes them), so that a rollback has somewhere to go.
  publish = true

  environment {
    variables = merge(
      {
        LOCK_TABLE      = aws_dynamodb_table.locks.name
        ALLOWED_DOMAINS = join(",", local.allowed_domains)
        NAME_TAG        = var.name_tag
        RECORD_TTL      = tostring(var.record_ttl)
        # The function's own queue, where a sharded reconcile sends its shards (always set:
        # a sharded run may also be started by hand).
        QUEUE_URL = local.queue_url
      },
      local.shared_env,
      var.reconcile_concurrency == null ? {} : { RECONCILE_CONCURRENCY = tostring(var.reconcile_concurrency) },
      # Several accounts and regions: each only when it differs from the function's default
      # (the CDK construct does the same).
      length(local.accounts) == 0 ? {} : { ACCOUNTS = join(",", local.accounts) },
      local.regions == null ? {} : { REGIONS = join(",", local.regions) },
      var.member_role_name == "ec2-dns-member" ? {} : { MEMBER_ROLE = var.member_role_name },
      local.lifecycle_on ? { LIFECYCLE_HOOKS = join(",", sort(distinct(var.lifecycle_hooks))) } : {},
      var.shared_names ? { SHARED_NAMES = "true" } : {},
      var.reverse_records ? { REVERSE_RECORDS = "true" } : {},
      var.sharded_reconcile ? { SHARDED_RECONCILE = "true" } : {},
      var.shard_size == null ? {} : { SHARD_SIZE = tostring(var.shard_size) },
    )
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function.name
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.function]
}

resource "aws_lambda_alias" "live" {
  name             = local.live_alias
  description      = "ec2-dns: the version the queue invokes; roll back with aws lambda update-alias"
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version
}

# ---- Configuration, recorded during the apply ------------------------------------------

# The function records its configuration (domains, name tag, table, deployment id, …) in the
# lock table, where ec2-dns-ctl reads it, at its first cold start; an event may be long in
# coming. So the apply asks for it: one synchronous invocation of $LATEST (already updated:
# function_name refers to the function) with {"record_configuration": true}, answered with
# {"recorded": {…}}, or a function error, which fails the apply. Re-run (replaced) whenever
# the function's environment or code changes, like the CDK construct's custom resource
# Configuration. Nothing is invoked on destroy. The deployer's own credentials invoke it
# (lambda:InvokeFunction); the function needs no invoke grant.
resource "aws_lambda_invocation" "record_configuration" {
  function_name = aws_lambda_function.this.function_name
  input         = jsonencode({ record_configuration = true })

  triggers = {
    environment = jsonencode(aws_lambda_function.this.environment[0].variables)
    code        = aws_lambda_function.this.source_code_hash
  }

  # The function's rights, the lock table's included, before it is asked to write.
  depends_on = [aws_iam_role_policy.function]
}

# Reads events from the queue into the alias; failed records are reported per message.
resource "aws_lambda_event_source_mapping" "queue" {
  event_source_arn                   = aws_sqs_queue.events.arn
  function_name                      = aws_lambda_alias.live.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.max_concurrency
  }
}

# ---- Triggers ------------------------------------------------------------------------

# The patterns match events of any account and region: those forwarded by members
# (modules/member, the same patterns) keep their own `account` and `region`.
resource "aws_cloudwatch_event_rule" "instance_state" {
  name        = local.rule_names.state
  state       = "ENABLED"
  description = "ec2-dns: an EC2 instance changed state"
  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Instance State-change Notification"]
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "tag_change" {
  name        = local.rule_names.tag
  state       = "ENABLED"
  description = "ec2-dns: the ${var.name_tag} tag of an EC2 instance changed"
  # Only changes of the name tag: the function's own writes of <name_tag>-status must not
  # trigger it again.
  event_pattern = jsonencode({
    source        = ["aws.tag"]
    "detail-type" = ["Tag Change on Resource"]
    detail = {
      service            = ["ec2"]
      "resource-type"    = ["instance"]
      "changed-tag-keys" = [var.name_tag]
    }
  })
  tags = var.tags
}

# An Elastic IP moved onto or off an instance changes its public IPv4 without a state change,
# IPv6 addresses assigned to or unassigned from its network interface its AAAA records.
# EventBridge receives these API calls only where a CloudTrail trail logs the account's
# management events; without one the reconcile-all schedule picks the change up.
resource "aws_cloudwatch_event_rule" "address_change" {
  name        = local.rule_names.address
  state       = "ENABLED"
  description = "ec2-dns: an Elastic IP address was associated with or disassociated from an EC2 instance, or IPv6 addresses were assigned to or unassigned from a network interface (CloudTrail)"
  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["ec2.amazonaws.com"]
      eventName   = ["AssociateAddress", "DisassociateAddress", "AssignIpv6Addresses", "UnassignIpv6Addresses"]
    }
  })
  tags = var.tags
}

# Auto Scaling lifecycle actions of the listed hooks only (LIFECYCLE_HOOKS): the function
# completes them once the instance's names are published or removed (docs/fleets.md).
resource "aws_cloudwatch_event_rule" "lifecycle_action" {
  count       = local.lifecycle_on ? 1 : 0
  name        = local.rule_names.lifecycle
  state       = "ENABLED"
  description = "ec2-dns: an Auto Scaling lifecycle action of a listed hook waits for DNS"
  event_pattern = jsonencode({
    source        = ["aws.autoscaling"]
    "detail-type" = ["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"]
    detail = {
      LifecycleHookName = var.lifecycle_hooks
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "reconcile_all" {
  name                = local.rule_names.schedule
  state               = "ENABLED"
  description         = "ec2-dns: reconcile all instances (backstop for lost events)"
  schedule_expression = var.reconcile_schedule
  tags                = var.tags
}

locals {
  event_rules = {
    instance_state = aws_cloudwatch_event_rule.instance_state.name
    tag_change     = aws_cloudwatch_event_rule.tag_change.name
    address_change = aws_cloudwatch_event_rule.address_change.name
    reconcile_all  = aws_cloudwatch_event_rule.reconcile_all.name
  }
}

locals {
  rules = merge(local.event_rules, local.lifecycle_on ? {
    lifecycle_action = aws_cloudwatch_event_rule.lifecycle_action[0].name
  } : {})
}

resource "aws_cloudwatch_event_target" "queue" {
  for_each = local.rules
  rule     = each.value
  arn      = aws_sqs_queue.events.arn

  retry_policy {
    maximum_retry_attempts       = local.event_retries
    maximum_event_age_in_seconds = local.event_max_age
  }

  dead_letter_config {
    arn = aws_sqs_queue.event_dlq.arn
  }
}

# ---- Alarms --------------------------------------------------------------------------

locals {
  alarms = {
    dlq = {
      description = "ec2-dns: events the function failed on repeatedly are waiting in the dead-letter queue"
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      statistic   = "Maximum"
      dimensions  = { QueueName = aws_sqs_queue.dlq.name }
    }
    event_dlq = {
      description = "ec2-dns: EventBridge could not deliver events to the queue"
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      statistic   = "Maximum"
      dimensions  = { QueueName = aws_sqs_queue.event_dlq.name }
    }
    errors = {
      description = "ec2-dns: the function returned errors"
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      statistic   = "Sum"
      dimensions  = { FunctionName = aws_lambda_function.this.function_name }
    }
    throttles = {
      description = "ec2-dns: the function was throttled"
      namespace   = "AWS/Lambda"
      metric      = "Throttles"
      statistic   = "Sum"
      dimensions  = { FunctionName = aws_lambda_function.this.function_name }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  dimensions          = each.value.dimensions
  period              = local.alarm_period
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_action_arn
  ok_actions          = local.alarm_action_arn
  tags                = var.tags
}

# Reverse records (docs/configuration.md): A/AAAA, the TXT ownership marker, and PTR at
# reverse names with reverse_records. Both functions get the same record statements (the
# CDK construct's recordTypes); the DDNS endpoint never writes a PTR.
locals {
  record_types    = var.reverse_records ? ["A", "AAAA", "PTR", "TXT"] : ["A", "AAAA", "TXT"]
  reverse_domains = [for d in local.allowed_domains : d if d == "in-addr.arpa" || d == "ip6.arpa" || endswith(d, ".in-addr.arpa") || endswith(d, ".ip6.arpa")]
}
