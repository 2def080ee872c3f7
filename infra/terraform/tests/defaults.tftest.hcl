# Offline tests of the module: the AWS provider is mocked, so `apply` computes values
# without calling AWS. Run with `terraform test -var lambda_zip=PATH` (make infra-test).

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mocked" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:mocked" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:mocked" }
  }
}

# The alias and the function have distinct ARNs, so that a trigger of the function fails.
override_resource {
  target = aws_lambda_alias.live
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns:live" }
}

# Distinct ARNs for the three queues, so that a target pointing at the wrong one fails.
override_resource {
  target = aws_sqs_queue.events
  values = { arn = "arn:aws:sqs:eu-west-1:123456789012:q-events", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q-events" }
}
override_resource {
  target = aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:eu-west-1:123456789012:q-dlq", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q-dlq" }
}
override_resource {
  target = aws_sqs_queue.event_dlq
  values = { arn = "arn:aws:sqs:eu-west-1:123456789012:q-event-dlq", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q-event-dlq" }
}

variables {
  allowed_domains = ["dyn.example.com", "Other.Example.ORG."]
  hosted_zone_ids = ["Z0123456789ABCDEFGHIJ", "/hostedzone/Z9876543210ZYXWVUTSRQ"]
}

run "defaults" {
  command = apply

  # ---- Lambda ----
  assert {
    condition = (
      aws_lambda_function.this.runtime == "provided.al2023" &&
      aws_lambda_function.this.architectures == tolist(["arm64"]) &&
      aws_lambda_function.this.handler == "bootstrap" &&
      aws_lambda_function.this.memory_size == 256 &&
      aws_lambda_function.this.timeout == 300
    )
    error_message = "The function must be provided.al2023 on arm64, 256 MB, 300 s."
  }
  assert {
    condition = aws_lambda_function.this.environment[0].variables == tomap({
      LOCK_TABLE      = "ec2-dns-locks"
      ALLOWED_DOMAINS = "dyn.example.com,other.example.org"
      NAME_TAG        = "dnsname"
      RECORD_TTL      = "60"
      QUEUE_URL       = "https://sqs.eu-west-1.amazonaws.com/123456789012/ec2-dns-events"
    })
    error_message = "The environment must follow the contract (normalised domains, defaults, the function's own queue)."
  }
  assert {
    condition = (
      aws_lambda_function.this.logging_config[0].log_format == "JSON" &&
      aws_lambda_function.this.logging_config[0].log_group == "/aws/lambda/ec2-dns" &&
      aws_cloudwatch_log_group.function.name == "/aws/lambda/ec2-dns" &&
      aws_cloudwatch_log_group.function.retention_in_days == 30
    )
    error_message = "The function must log JSON into its own log group with a retention."
  }

  # ---- Versions and the alias ----
  assert {
    condition = (
      aws_lambda_function.this.publish &&
      aws_lambda_alias.live.name == "live" &&
      aws_lambda_alias.live.function_name == "ec2-dns" &&
      aws_lambda_alias.live.function_version == aws_lambda_function.this.version
    )
    error_message = "Every change of code or configuration publishes a version; the alias live points at the latest."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.queue.function_name == aws_lambda_alias.live.arn
    error_message = "The queue invokes the alias live, not $LATEST."
  }

  # ---- Lock table ----
  assert {
    condition = (
      aws_dynamodb_table.locks.hash_key == "pk" &&
      aws_dynamodb_table.locks.range_key == null &&
      length(aws_dynamodb_table.locks.attribute) == 1 &&
      one(aws_dynamodb_table.locks.attribute).name == "pk" &&
      one(aws_dynamodb_table.locks.attribute).type == "S" &&
      length(aws_dynamodb_table.locks.global_secondary_index) == 0 &&
      length(aws_dynamodb_table.locks.local_secondary_index) == 0
    )
    error_message = "The lock table has partition key pk (String), no sort key and no index."
  }
  assert {
    condition = (
      aws_dynamodb_table.locks.billing_mode == "PAY_PER_REQUEST" &&
      aws_dynamodb_table.locks.point_in_time_recovery[0].enabled &&
      aws_dynamodb_table.locks.server_side_encryption[0].enabled &&
      aws_dynamodb_table.locks.deletion_protection_enabled
    )
    error_message = "The lock table is on demand, with PITR, encryption and deletion protection."
  }
  assert {
    condition = (
      aws_dynamodb_table.locks.ttl[0].enabled &&
      aws_dynamodb_table.locks.ttl[0].attribute_name == "expires"
    )
    error_message = "The lock table expires items by their expires attribute (the DDNS failed-login counters)."
  }

  # ---- Triggers ----
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.instance_state.event_pattern) == {
      source        = ["aws.ec2"]
      "detail-type" = ["EC2 Instance State-change Notification"]
    }
    error_message = "The state rule must match EC2 instance state changes."
  }
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.tag_change.event_pattern) == {
      source        = ["aws.tag"]
      "detail-type" = ["Tag Change on Resource"]
      detail = {
        service            = ["ec2"]
        "resource-type"    = ["instance"]
        "changed-tag-keys" = ["dnsname"]
      }
    }
    error_message = "The tag rule must match only changes of the name tag on EC2 instances."
  }
  assert {
    condition = (
      aws_cloudwatch_event_rule.address_change.name == "ec2-dns-address-change" &&
      aws_cloudwatch_event_rule.address_change.state == "ENABLED" &&
      jsondecode(aws_cloudwatch_event_rule.address_change.event_pattern) == {
        source        = ["aws.ec2"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["ec2.amazonaws.com"]
          eventName   = ["AssociateAddress", "DisassociateAddress", "AssignIpv6Addresses", "UnassignIpv6Addresses"]
        }
      }
    )
    error_message = "The address rule must match Elastic IP addresses associated with or disassociated from instances and IPv6 addresses assigned to or unassigned from network interfaces (CloudTrail API calls)."
  }
  assert {
    condition = (
      aws_cloudwatch_event_target.queue["address_change"].rule == aws_cloudwatch_event_rule.address_change.name &&
      aws_cloudwatch_event_target.queue["address_change"].arn == aws_sqs_queue.events.arn &&
      aws_cloudwatch_event_target.queue["address_change"].dead_letter_config[0].arn == aws_sqs_queue.event_dlq.arn
    )
    error_message = "The address rule sends to the queue like the others."
  }
  assert {
    condition     = aws_cloudwatch_event_rule.reconcile_all.schedule_expression == "rate(15 minutes)"
    error_message = "Reconcile-all runs every 15 minutes by default."
  }
  assert {
    condition = length(aws_cloudwatch_event_target.queue) == 4 && alltrue([
      for t in aws_cloudwatch_event_target.queue :
      t.arn == aws_sqs_queue.events.arn &&
      t.dead_letter_config[0].arn == aws_sqs_queue.event_dlq.arn &&
      t.retry_policy[0].maximum_retry_attempts == 8 &&
      t.retry_policy[0].maximum_event_age_in_seconds == 3600
    ])
    error_message = "Every rule sends to the queue, with a retry policy and a dead-letter queue."
  }
  assert {
    condition = toset([for t in aws_cloudwatch_event_target.queue : t.rule]) == toset([
      "ec2-dns-instance-state", "ec2-dns-tag-change", "ec2-dns-address-change", "ec2-dns-reconcile-all",
    ])
    error_message = "The four rules each have the queue as target."
  }

  # ---- Queue ----
  assert {
    condition = (
      aws_lambda_event_source_mapping.queue.event_source_arn == aws_sqs_queue.events.arn &&
      aws_lambda_event_source_mapping.queue.batch_size == 10 &&
      aws_lambda_event_source_mapping.queue.maximum_batching_window_in_seconds == 10 &&
      aws_lambda_event_source_mapping.queue.scaling_config[0].maximum_concurrency == 2 &&
      aws_lambda_event_source_mapping.queue.function_response_types == toset(["ReportBatchItemFailures"])
    )
    error_message = "The queue feeds the function with batching window, maximum concurrency and partial batch failures."
  }
  assert {
    condition     = aws_sqs_queue.events.visibility_timeout_seconds == 6 * 300
    error_message = "The queue's visibility timeout is six times the function timeout."
  }
  assert {
    condition = jsondecode(aws_sqs_queue.events.redrive_policy) == {
      deadLetterTargetArn = aws_sqs_queue.dlq.arn
      maxReceiveCount     = 8
    }
    error_message = "The queue redrives to its dead-letter queue after eight receives."
  }
  assert {
    # The function delays the retry of a failed message by 30 s, doubled per receive, at
    # most 15 minutes: 7 retries between 8 receives take 30+60+…+900+900 s.
    condition = (
      [for n in range(jsondecode(aws_sqs_queue.events.redrive_policy).maxReceiveCount - 1) : min(30 * pow(2, n), 900)] == [30, 60, 120, 240, 480, 900, 900] &&
      sum([for n in range(jsondecode(aws_sqs_queue.events.redrive_policy).maxReceiveCount - 1) : min(30 * pow(2, n), 900)]) == 2730
    )
    error_message = "By default a failed message is retried for about 45 minutes (2730 s) before the dead-letter queue."
  }
  assert {
    condition = (
      aws_sqs_queue.events.sqs_managed_sse_enabled &&
      aws_sqs_queue.dlq.sqs_managed_sse_enabled &&
      aws_sqs_queue.event_dlq.sqs_managed_sse_enabled
    )
    error_message = "All three queues are encrypted."
  }
  assert {
    condition = [
      for s in jsondecode(aws_sqs_queue_policy.events.policy).Statement : s if s.Effect == "Allow"
      ] == [{
        Sid       = "AllowEc2DnsRules"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = "arn:aws:sqs:eu-west-1:123456789012:ec2-dns-events"
        Condition = { ArnEquals = { "aws:SourceArn" = [
          "arn:aws:events:eu-west-1:123456789012:rule/ec2-dns-instance-state",
          "arn:aws:events:eu-west-1:123456789012:rule/ec2-dns-tag-change",
          "arn:aws:events:eu-west-1:123456789012:rule/ec2-dns-address-change",
          "arn:aws:events:eu-west-1:123456789012:rule/ec2-dns-reconcile-all",
        ] } }
    }]
    error_message = "Only the four rules may send to the queue."
  }
  assert {
    condition = alltrue([
      for p in [aws_sqs_queue_policy.events, aws_sqs_queue_policy.dlq, aws_sqs_queue_policy.event_dlq] :
      anytrue([for s in jsondecode(p.policy).Statement : s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"])
    ])
    error_message = "Every queue refuses requests without TLS."
  }
  assert {
    condition = [
      for s in jsondecode(aws_sqs_queue_policy.event_dlq.policy).Statement : [s.Principal, s.Action, s.Resource, s.Condition] if s.Effect == "Allow"
      ] == [[
        { Service = "events.amazonaws.com" }, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:ec2-dns-undelivered-events",
        { ArnEquals = { "aws:SourceArn" = [
          "arn:aws:events:eu-west-1:123456789012:rule/ec2-dns-instance-state",
          "arn:aws:events:eu-west-1:123456789012:rule/ec2-dns-tag-change",
          "arn:aws:events:eu-west-1:123456789012:rule/ec2-dns-address-change",
          "arn:aws:events:eu-west-1:123456789012:rule/ec2-dns-reconcile-all",
        ] } },
    ]]
    error_message = "Only the four rules may send to the event dead-letter queue."
  }

  # ---- IAM ----
  assert {
    condition = jsondecode(aws_iam_role_policy.function.policy).Statement == [
      { Sid = "DescribeInstances", Effect = "Allow", Action = "ec2:DescribeInstances", Resource = "*" },
      {
        Sid       = "WriteStatusTag", Effect = "Allow", Action = "ec2:CreateTags",
        Resource  = "arn:aws:ec2:*:123456789012:instance/*",
        Condition = { "ForAllValues:StringEquals" = { "aws:TagKeys" = ["dnsname-status"] } }
      },
      { Sid = "ListHostedZones", Effect = "Allow", Action = "route53:ListHostedZones", Resource = "*" },
      {
        Sid      = "ReadRecords", Effect = "Allow", Action = "route53:ListResourceRecordSets",
        Resource = ["arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ", "arn:aws:route53:::hostedzone/Z9876543210ZYXWVUTSRQ"]
      },
      {
        Sid      = "ChangeRecords", Effect = "Allow", Action = "route53:ChangeResourceRecordSets",
        Resource = ["arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ", "arn:aws:route53:::hostedzone/Z9876543210ZYXWVUTSRQ"]
        Condition = {
          "ForAllValues:StringLike" = {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames" = ["*.dyn.example.com", "*.other.example.org"]
          }
          "ForAllValues:StringEquals" = {
            "route53:ChangeResourceRecordSetsRecordTypes" = ["A", "AAAA", "TXT"]
            "route53:ChangeResourceRecordSetsActions"     = ["CREATE", "DELETE"]
          }
        }
      },
      {
        Sid      = "LockTable", Effect = "Allow",
        Action   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:Scan"]
        Resource = "arn:aws:dynamodb:eu-west-1:123456789012:table/ec2-dns-locks"
      },
      {
        Sid      = "WriteLogs", Effect = "Allow", Action = ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ec2-dns:*"
      },
      {
        Sid      = "ConsumeQueue", Effect = "Allow", Action = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        Resource = "arn:aws:sqs:eu-west-1:123456789012:ec2-dns-events"
      },
      {
        Sid      = "RetryFailedMessages", Effect = "Allow", Action = "sqs:ChangeMessageVisibility",
        Resource = "arn:aws:sqs:eu-west-1:123456789012:ec2-dns-events"
      },
      {
        Sid      = "SendShards", Effect = "Allow", Action = "sqs:SendMessage",
        Resource = "arn:aws:sqs:eu-west-1:123456789012:ec2-dns-events"
      },
      {
        Sid      = "DescribeLockTable", Effect = "Allow", Action = "dynamodb:DescribeTable",
        Resource = "arn:aws:dynamodb:eu-west-1:123456789012:table/ec2-dns-locks"
      },
    ]
    error_message = "The function's policy must grant exactly the calls the code makes."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Condition["ForAllValues:StringEquals"]
      if strcontains(jsonencode(s.Action), "route53:ChangeResourceRecordSets")
      ] == [{
        "route53:ChangeResourceRecordSetsRecordTypes" = ["A", "AAAA", "TXT"]
        "route53:ChangeResourceRecordSetsActions"     = ["CREATE", "DELETE"]
    }]
    error_message = "One statement changes records: only A, AAAA and the TXT ownership marker, only CREATE and DELETE."
  }
  assert {
    # ForAllValues:StringLike: every name of a batch must match one pattern; `*` matches any
    # characters, dots and underscores included (the patterns contain no other specials).
    condition = alltrue([
      for batch in [
        ["web.dyn.example.com", "_ec2-dns.web.dyn.example.com"],
        ["a.b.other.example.org", "_ec2-dns.a.b.other.example.org"],
        ] : alltrue([for n in batch : anytrue([
          for p in one([for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Condition["ForAllValues:StringLike"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"] if s.Sid == "ChangeRecords"]) : can(regex("^${replace(replace(p, ".", "\\."), "*", ".*")}$", n))
      ])])
    ])
    error_message = "The names condition must admit the ownership marker _ec2-dns.<name> next to <name>."
  }
  assert {
    condition = !anytrue([
      for n in ["dyn.example.com", "_ec2-dns.dyn.example.com.evil.net", "web.example.com", "xdyn.example.com"] : anytrue([
        for p in one([for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Condition["ForAllValues:StringLike"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"] if s.Sid == "ChangeRecords"]) : can(regex("^${replace(replace(p, ".", "\\."), "*", ".*")}$", n))
      ])
    ])
    error_message = "The names condition must admit nothing outside the allowed domains (nor their apex)."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.function.policy).Statement : [s.Sid, s.Action, s.Resource]
      if strcontains(jsonencode(s.Action), "sqs:ChangeMessageVisibility")
    ] == [["RetryFailedMessages", "sqs:ChangeMessageVisibility", "arn:aws:sqs:eu-west-1:123456789012:ec2-dns-events"]]
    error_message = "Only the event queue's messages may have their visibility changed, in one statement."
  }
  assert {
    condition = jsondecode(aws_iam_role.function.assume_role_policy).Statement == [{
      Effect = "Allow", Principal = { Service = "lambda.amazonaws.com" }, Action = "sts:AssumeRole"
    }]
    error_message = "Only Lambda may assume the role."
  }
  assert {
    condition     = aws_iam_role_policy.function.role == aws_iam_role.function.id && aws_lambda_function.this.role == aws_iam_role.function.arn
    error_message = "The policy belongs to the function's role."
  }

  # ---- Alarms ----
  assert {
    condition = toset([for a in aws_cloudwatch_metric_alarm.this : "${a.namespace}/${a.metric_name}/${jsonencode(a.dimensions)}"]) == toset([
      "AWS/SQS/ApproximateNumberOfMessagesVisible/${jsonencode({ QueueName = aws_sqs_queue.dlq.name })}",
      "AWS/SQS/ApproximateNumberOfMessagesVisible/${jsonencode({ QueueName = aws_sqs_queue.event_dlq.name })}",
      "AWS/Lambda/Errors/${jsonencode({ FunctionName = "ec2-dns" })}",
      "AWS/Lambda/Throttles/${jsonencode({ FunctionName = "ec2-dns" })}",
    ])
    error_message = "Alarms watch both dead-letter queues, errors and throttles."
  }
  assert {
    condition = alltrue([
      for a in aws_cloudwatch_metric_alarm.this :
      a.threshold == 0 && a.comparison_operator == "GreaterThanThreshold" && length(a.alarm_actions) == 0
    ])
    error_message = "Alarms fire above zero and have no actions without a topic."
  }

  # ---- Dashboard ----
  assert {
    condition = (
      aws_cloudwatch_dashboard.this[0].dashboard_name == "ec2-dns" &&
      [for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.title] == [
        "Record changes", "Conflicts and names left alone",
        "Failures", "AWS API calls",
        "Reconcile duration (ms)", "Lambda invocations",
        "Lambda errors and throttles", "Lambda duration (ms)",
        "Dead-letter queues (messages)", "Event queue: age of the oldest message (s)",
        "AWS API calls by service",
      ]
    )
    error_message = "The dashboard shows changes, conflicts, failures, API calls, durations, Lambda's metrics and the queues."
  }
  assert {
    condition = [for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [w.x, w.y, w.width, w.height]] == [
      [0, 0, 12, 6], [12, 0, 12, 6], [0, 6, 12, 6], [12, 6, 12, 6], [0, 12, 12, 6],
      [12, 12, 12, 6], [0, 18, 12, 6], [12, 18, 12, 6], [0, 24, 12, 6], [12, 24, 12, 6], [0, 30, 12, 6],
    ]
    error_message = "Two widgets per row, half the width each."
  }
  assert {
    # The EMF metrics of lambda/src/metrics.rs: namespace ec2-dns, dimension Function.
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [
        for m in try(w.properties.metrics, []) : "${m[1]}/${m[4].stat}" if m[0] == "ec2-dns" && m[2] == "Function" && m[3] == "ec2-dns"
      ]
      ])) == toset([
      "Creates/Sum", "Updates/Sum", "Deletes/Sum", "Marks/Sum", "Conflicts/Sum", "Frozen/Sum", "InvalidNames/Sum",
      "Skipped/Sum", "Failed/Sum", "Errors/Sum", "AwsApiCalls/Sum",
      "ReconcileDuration/p50", "ReconcileDuration/p90", "ReconcileDuration/Maximum",
    ])
    error_message = "The dashboard shows the function's own metrics: changes, conflicts, failures, API calls, reconcile duration."
  }
  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [
        for m in try(w.properties.metrics, []) : "${m[0]}/${m[1]}/${m[3]}" if m[0] != "ec2-dns"
      ]
      ])) == toset([
      "AWS/Lambda/Invocations/ec2-dns", "AWS/Lambda/Errors/ec2-dns", "AWS/Lambda/Throttles/ec2-dns",
      "AWS/Lambda/Duration/ec2-dns",
      "AWS/SQS/ApproximateNumberOfMessagesVisible/ec2-dns-events-dlq",
      "AWS/SQS/ApproximateNumberOfMessagesVisible/ec2-dns-undelivered-events",
      "AWS/SQS/ApproximateAgeOfOldestMessage/ec2-dns-events",
    ])
    error_message = "The dashboard shows Lambda's invocations, errors, throttles and duration, both dead-letter queues and the queue's oldest message."
  }
  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      w.properties.region == "eu-west-1" && (w.type == "log" || try(w.properties.period, 0) == 300)
    ])
    error_message = "Every widget graphs this region's metrics in five-minute periods."
  }
  assert {
    # Only the total is a metric: the per-service counts come from the EMF lines' ApiCalls
    # property (keys "<service>:<operation>", as the SDK names them).
    condition = [
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      [w.properties.view, w.properties.stacked, startswith(w.properties.query, "SOURCE '/aws/lambda/ec2-dns' | filter ispresent(AwsApiCalls)\n| fields ")]
      if w.type == "log"
    ] == [["timeSeries", true, true]]
    error_message = "The dashboard sums the AWS API calls by service from the function's log (Logs Insights), stacked over time."
  }
  assert {
    condition = alltrue([
      for call in [
        "EC2:DescribeInstances", "EC2:CreateTags", "Route 53:ChangeResourceRecordSets", "Route 53:ListHostedZones",
        "DynamoDB:TransactWriteItems", "DynamoDB:GetItem", "DynamoDB:DescribeTable", "SQS:ChangeMessageVisibilityBatch",
        "SQS:SendMessage", "SQS:SendMessageBatch", "STS:GetCallerIdentity",
      ] :
      strcontains(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[10].properties.query, "coalesce(`ApiCalls.${call}`, 0)")
      ]) && alltrue([
      for column in ["EC2", "Route53", "DynamoDB", "SQS", "SSM", "SNS", "STS"] :
      strcontains(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[10].properties.query, "sum(calls${column}) as ${column}")
    ])
    error_message = "The API calls widget counts every operation the functions call, one column per service."
  }

  # ---- Outputs ----
  assert {
    condition = (
      output.function_name == "ec2-dns" &&
      output.function_arn == aws_lambda_function.this.arn &&
      output.live_alias_arn == "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns:live" &&
      output.rollback_command == "aws lambda update-alias --region eu-west-1 --function-name ec2-dns --name live --function-version VERSION" &&
      output.dashboard_name == "ec2-dns" &&
      output.lock_table_name == "ec2-dns-locks" &&
      output.queue_url == aws_sqs_queue.events.url &&
      output.dead_letter_queue_url == aws_sqs_queue.dlq.url &&
      output.event_dead_letter_queue_url == aws_sqs_queue.event_dlq.url &&
      output.region == "eu-west-1"
    )
    error_message = "Outputs give function name and ARN, table name, region and queue URLs."
  }
  assert {
    condition = output.next_steps == join("\n", [
      "ec2-dns-ctl --function ec2-dns --region eu-west-1 status",
      "ec2-dns-ctl --function ec2-dns --region eu-west-1 plan",
      "aws lambda invoke --function-name ec2-dns --region eu-west-1 --cli-binary-format raw-in-base64-out --payload '{\"reconcile\":\"all\",\"dry_run\":true}' out.json",
    ])
    error_message = "next_steps gives the commands to run after the apply: status and plan through the function's configuration, a dry run of the function (the CDK construct's NextSteps)."
  }

  # ---- Configuration, recorded during the apply ----
  assert {
    condition = (
      aws_lambda_invocation.record_configuration.function_name == "ec2-dns" &&
      jsondecode(aws_lambda_invocation.record_configuration.input) == { record_configuration = true } &&
      # $LATEST, which the apply has just updated; never the alias, which may lag behind.
      coalesce(aws_lambda_invocation.record_configuration.qualifier, "$LATEST") == "$LATEST" &&
      # Invoked on create (and replace) only: the function answers nothing else.
      coalesce(aws_lambda_invocation.record_configuration.lifecycle_scope, "CREATE_ONLY") == "CREATE_ONLY"
    )
    error_message = "The apply asks the function ($LATEST) to record its configuration, with exactly {\"record_configuration\": true}."
  }
  assert {
    condition = (
      jsondecode(aws_lambda_invocation.record_configuration.triggers.environment) == {
        LOCK_TABLE      = "ec2-dns-locks"
        ALLOWED_DOMAINS = "dyn.example.com,other.example.org"
        NAME_TAG        = "dnsname"
        RECORD_TTL      = "60"
        QUEUE_URL       = "https://sqs.eu-west-1.amazonaws.com/123456789012/ec2-dns-events"
      } &&
      aws_lambda_invocation.record_configuration.triggers.code == filebase64sha256(var.lambda_zip) &&
      length(aws_lambda_invocation.record_configuration.triggers) == 2
    )
    error_message = "The configuration is recorded again whenever the function's environment or code changes (triggers)."
  }
}

run "custom_settings" {
  command = apply

  variables {
    name                    = "dns-sync"
    name_tag                = "hostname"
    record_ttl              = 300
    reconcile_concurrency   = 4
    reconcile_schedule      = "rate(1 hour)"
    memory_size             = 512
    timeout_seconds         = 120
    batching_window_seconds = 30
    max_concurrency         = 5
    max_receive_count       = 3
    deletion_protection     = false
    alarm_topic_arn         = "arn:aws:sns:eu-west-1:123456789012:alarms"
    account_id              = "210987654321"
    create_dashboard        = false
    deployment_id           = "sync-1"
  }

  assert {
    condition     = length(aws_cloudwatch_dashboard.this) == 0 && output.dashboard_name == null
    error_message = "create_dashboard = false creates no dashboard."
  }
  assert {
    condition     = aws_lambda_alias.live.function_name == "dns-sync"
    error_message = "The alias belongs to the renamed function."
  }

  assert {
    condition = (
      aws_lambda_function.this.function_name == "dns-sync" &&
      aws_lambda_function.this.memory_size == 512 &&
      aws_lambda_function.this.timeout == 120 &&
      aws_lambda_function.this.environment[0].variables["NAME_TAG"] == "hostname" &&
      aws_lambda_function.this.environment[0].variables["RECORD_TTL"] == "300" &&
      aws_lambda_function.this.environment[0].variables["RECONCILE_CONCURRENCY"] == "4" &&
      aws_lambda_function.this.environment[0].variables["LOCK_TABLE"] == "dns-sync-locks" &&
      aws_lambda_function.this.environment[0].variables["DEPLOYMENT_ID"] == "sync-1" &&
      aws_lambda_function.this.environment[0].variables["QUEUE_URL"] == "https://sqs.eu-west-1.amazonaws.com/210987654321/dns-sync-events"
    )
    error_message = "Name, tag, TTL, concurrency, deployment id, the queue's URL, memory and timeout pass through."
  }
  assert {
    condition     = output.deployment.deployment_id == "sync-1" && output.deployment.names.function == "dns-sync"
    error_message = "The output deployment gives the id the function gets and the names."
  }
  assert {
    condition = (
      aws_lambda_invocation.record_configuration.function_name == "dns-sync" &&
      tomap(jsondecode(aws_lambda_invocation.record_configuration.triggers.environment)) == aws_lambda_function.this.environment[0].variables &&
      jsondecode(aws_lambda_invocation.record_configuration.triggers.environment)["LOCK_TABLE"] == "dns-sync-locks" &&
      jsondecode(aws_lambda_invocation.record_configuration.triggers.environment)["DEPLOYMENT_ID"] == "sync-1"
    )
    error_message = "A changed environment is recorded again by the renamed function."
  }
  assert {
    condition     = startswith(output.next_steps, "ec2-dns-ctl --function dns-sync --region eu-west-1 status\n")
    error_message = "next_steps names the renamed function."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.tag_change.event_pattern).detail["changed-tag-keys"] == ["hostname"]
    error_message = "The tag rule follows the name tag."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Condition if s.Sid == "WriteStatusTag"
    ] == [{ "ForAllValues:StringEquals" = { "aws:TagKeys" = ["hostname-status"] } }]
    error_message = "The function may write only <name_tag>-status."
  }
  assert {
    condition     = strcontains(aws_iam_role_policy.function.policy, "arn:aws:ec2:*:210987654321:instance/*")
    error_message = "ARNs use the given account."
  }
  assert {
    condition     = aws_cloudwatch_event_rule.reconcile_all.schedule_expression == "rate(1 hour)"
    error_message = "The schedule is configurable."
  }
  assert {
    condition = (
      aws_sqs_queue.events.visibility_timeout_seconds == 720 &&
      aws_lambda_event_source_mapping.queue.maximum_batching_window_in_seconds == 30 &&
      aws_lambda_event_source_mapping.queue.scaling_config[0].maximum_concurrency == 5 &&
      jsondecode(aws_sqs_queue.events.redrive_policy).maxReceiveCount == 3
    )
    error_message = "Visibility timeout follows the timeout; batching window, concurrency and receive count are configurable."
  }
  assert {
    condition     = aws_dynamodb_table.locks.deletion_protection_enabled == false
    error_message = "Deletion protection can be turned off."
  }
  assert {
    condition = alltrue([
      for a in aws_cloudwatch_metric_alarm.this :
      a.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:alarms"])
    ])
    error_message = "Alarms notify the topic."
  }
}

run "rejects_invalid_settings" {
  command = plan

  variables {
    allowed_domains = ["not a domain"]
    hosted_zone_ids = ["zone-1"]
    record_ttl      = 0
    max_concurrency = 1
    name_tag        = "aws:reserved"
    timeout_seconds = 901
    deployment_id   = "Prod_1"
  }

  expect_failures = [
    var.allowed_domains,
    var.hosted_zone_ids,
    var.record_ttl,
    var.max_concurrency,
    var.name_tag,
    var.timeout_seconds,
    var.deployment_id,
  ]
}

# Shared names (docs/configuration.md): SHARED_NAMES only when asked for.
run "shared_names" {
  command = apply

  variables {
    shared_names = true
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.SHARED_NAMES == "true"
    error_message = "shared_names = true must set SHARED_NAMES=true."
  }
}

run "shared_names_off_by_default" {
  command = apply

  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "SHARED_NAMES")
    error_message = "Without shared_names the function must not get SHARED_NAMES."
  }
}

# Lifecycle hooks (docs/fleets.md): a rule for the listed hooks' actions into the queue,
# the rights to complete them on the listed groups only, and LIFECYCLE_HOOKS.
run "lifecycle_hooks" {
  command = apply

  variables {
    lifecycle_hooks  = ["web-terminate", "web-launch", "web-launch"]
    lifecycle_groups = ["web"]
  }

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.lifecycle_action[0].event_pattern) == {
      source        = ["aws.autoscaling"]
      "detail-type" = ["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"]
      detail        = { LifecycleHookName = ["web-terminate", "web-launch", "web-launch"] }
    }
    error_message = "The lifecycle rule must match the listed hooks' launch and terminate actions."
  }
  assert {
    condition     = aws_cloudwatch_event_target.queue["lifecycle_action"].arn == aws_sqs_queue.events.arn
    error_message = "The lifecycle rule must send to the event queue."
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables.LIFECYCLE_HOOKS == "web-launch,web-terminate"
    error_message = "LIFECYCLE_HOOKS must list the hooks, sorted, once each."
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Resource if s.Sid == "CompleteLifecycleActions"]) == [
      "arn:aws:autoscaling:*:123456789012:autoScalingGroup:*:autoScalingGroupName/web"
    ]
    error_message = "Lifecycle actions may be completed on the listed groups only."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s if contains(["ReadGroupLifecycle", "WaitForChanges"], s.Sid)]) == 2
    error_message = "The reconciler must read the groups' lifecycle states and wait for Route53's INSYNC."
  }
}

run "rejects_invalid_lifecycle_hooks" {
  command = plan

  variables {
    lifecycle_hooks  = ["web-launch", "not a hook"]
    lifecycle_groups = ["web", "*"]
  }

  expect_failures = [
    var.lifecycle_hooks,
    var.lifecycle_groups,
  ]
}

run "lifecycle_hooks_need_groups" {
  command = plan

  variables {
    lifecycle_hooks = ["web-launch"]
  }

  expect_failures = [
    aws_iam_role_policy.function,
  ]
}

# Reverse records (docs/configuration.md): REVERSE_RECORDS, and PTR among the record types
# of both functions' record statements (the names stay *.<allowed domain>).
run "reverse_records" {
  command = apply

  variables {
    allowed_domains = ["dyn.example.com", "10.in-addr.arpa"]
    reverse_records = true
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.REVERSE_RECORDS == "true"
    error_message = "reverse_records must set REVERSE_RECORDS."
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Condition["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsRecordTypes"] if s.Sid == "ChangeRecords"]) == [
      "A", "AAAA", "PTR", "TXT"
    ]
    error_message = "With reverse records, PTR must be among the record types the reconciler may change."
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Condition["ForAllValues:StringLike"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"] if s.Sid == "ChangeRecords"]) == [
      "*.dyn.example.com", "*.10.in-addr.arpa"
    ]
    error_message = "PTR names stay below the allowed domains."
  }
}

run "reverse_records_off_by_default" {
  command = apply

  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "REVERSE_RECORDS")
    error_message = "Without reverse_records, REVERSE_RECORDS must not be set."
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s.Condition["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsRecordTypes"] if s.Sid == "ChangeRecords"]) == [
      "A", "AAAA", "TXT"
    ]
    error_message = "Without reverse records, no PTR right."
  }
}

run "reverse_records_need_a_reverse_domain" {
  command = plan

  variables {
    reverse_records = true
  }

  expect_failures = [
    aws_iam_role_policy.function,
  ]
}

# Sharded reconciles (docs/configuration.md): SHARDED_RECONCILE only when asked for,
# SHARD_SIZE only when given; the rights to send shards to the function's own queue and to
# describe the lock table are there either way (a sharded run may be started by hand).
run "sharded_reconcile" {
  command = apply

  variables {
    sharded_reconcile = true
    shard_size        = 5000
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.SHARDED_RECONCILE == "true" &&
      aws_lambda_function.this.environment[0].variables.SHARD_SIZE == "5000" &&
      aws_lambda_function.this.environment[0].variables.QUEUE_URL == "https://sqs.eu-west-1.amazonaws.com/123456789012/ec2-dns-events"
    )
    error_message = "sharded_reconcile and shard_size must set SHARDED_RECONCILE and SHARD_SIZE; QUEUE_URL is the function's own queue."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.function.policy).Statement : [s.Sid, s.Action, s.Resource]
      if strcontains(jsonencode(s.Action), "sqs:SendMessage") || strcontains(jsonencode(s.Action), "dynamodb:DescribeTable")
      ] == [
      ["SendShards", "sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:ec2-dns-events"],
      ["DescribeLockTable", "dynamodb:DescribeTable", "arn:aws:dynamodb:eu-west-1:123456789012:table/ec2-dns-locks"],
    ]
    error_message = "The function may send to its own queue and describe its lock table, and nothing more."
  }
}

run "sharded_reconcile_off_by_default" {
  command = apply

  assert {
    condition = (
      !contains(keys(aws_lambda_function.this.environment[0].variables), "SHARDED_RECONCILE") &&
      !contains(keys(aws_lambda_function.this.environment[0].variables), "SHARD_SIZE")
    )
    error_message = "Without sharded_reconcile and shard_size, neither SHARDED_RECONCILE nor SHARD_SIZE is set."
  }
  assert {
    condition = length([
      for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s if contains(["SendShards", "DescribeLockTable"], s.Sid)
    ]) == 2
    error_message = "The rights of a sharded run are there without sharded_reconcile: a run may be started by hand."
  }
}

run "shard_size_alone" {
  command = apply

  variables {
    shard_size = 100
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.SHARD_SIZE == "100" &&
      !contains(keys(aws_lambda_function.this.environment[0].variables), "SHARDED_RECONCILE")
    )
    error_message = "shard_size alone sets SHARD_SIZE only."
  }
}

run "rejects_shard_size_below_100" {
  command = plan

  variables {
    shard_size = 99
  }

  expect_failures = [
    var.shard_size,
  ]
}

run "rejects_shard_size_above_20000" {
  command = plan

  variables {
    shard_size = 20001
  }

  expect_failures = [
    var.shard_size,
  ]
}

run "rejects_fractional_shard_size" {
  command = plan

  variables {
    shard_size = 2500.5
  }

  expect_failures = [
    var.shard_size,
  ]
}
