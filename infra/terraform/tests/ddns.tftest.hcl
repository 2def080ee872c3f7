# Offline tests of the opt-in DDNS endpoint (ddns.tf), with the AWS provider mocked. Run with
# `terraform test -var lambda_zip=PATH -var ddns_lambda_zip=PATH` (make infra-test).

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
  mock_resource "aws_lambda_function_url" {
    defaults = { function_url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:ec2-dns-alerts" }
  }
  mock_resource "aws_cloudfront_distribution" {
    defaults = { domain_name = "d111111abcdef8.cloudfront.net" }
  }
}

# Valid ARNs for the reconciler's queues (their targets check them).
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

# Distinct ARNs for the two functions, so that a target pointing at the wrong one fails.
override_resource {
  target = aws_lambda_function.ddns
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns-ddns" }
}
override_resource {
  target = aws_lambda_function.this
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns" }
}

# The aliases: what every invoker must target instead of the function.
override_resource {
  target = aws_lambda_alias.ddns_live
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns-ddns:live" }
}
override_resource {
  target = aws_lambda_alias.live
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns:live" }
}

variables {
  allowed_domains = ["dyn.example.com", "Other.Example.ORG."]
  hosted_zone_ids = ["Z0123456789ABCDEFGHIJ", "/hostedzone/Z9876543210ZYXWVUTSRQ"]
}

run "disabled_by_default" {
  command = apply

  assert {
    condition = (
      length(aws_lambda_function.ddns) == 0 &&
      length(aws_lambda_alias.ddns_live) == 0 &&
      length(aws_lambda_function_url.ddns) == 0 &&
      length(aws_lambda_permission.ddns_url) == 0 &&
      length(aws_lambda_permission.ddns_sweep) == 0 &&
      length(aws_cloudformation_stack.ddns_url_invoke) == 0 &&
      length(aws_iam_role.ddns) == 0 &&
      length(aws_iam_role_policy.ddns) == 0 &&
      length(aws_cloudwatch_log_group.ddns) == 0 &&
      length(aws_sns_topic.alerts) == 0 &&
      length(aws_kms_key.alerts) == 0 &&
      length(aws_cloudwatch_event_rule.ddns_sweep) == 0 &&
      length(aws_cloudwatch_metric_alarm.ddns) == 0 &&
      length(aws_cloudfront_distribution.ddns) == 0
    )
    error_message = "Without enable_ddns there is no DDNS resource."
  }
  assert {
    condition = (
      output.ddns_function_name == null && output.ddns_function_url == null &&
      output.ddns_cloudfront_domain == null && output.ddns_alert_topic_arn == null &&
      output.ddns_live_alias_arn == null && output.ddns_rollback_command == null
    )
    error_message = "Without enable_ddns the DDNS outputs are null."
  }
  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      !strcontains(jsonencode(w.properties), "ec2-dns-ddns")
    ])
    error_message = "Without enable_ddns the dashboard has no DDNS line."
  }
}

run "enabled" {
  command = apply

  variables {
    enable_ddns = true
  }

  # ---- Function ----
  assert {
    condition = (
      aws_lambda_function.ddns[0].function_name == "ec2-dns-ddns" &&
      aws_lambda_function.ddns[0].runtime == "provided.al2023" &&
      aws_lambda_function.ddns[0].architectures == tolist(["arm64"]) &&
      aws_lambda_function.ddns[0].handler == "bootstrap" &&
      aws_lambda_function.ddns[0].memory_size == 256 &&
      aws_lambda_function.ddns[0].timeout == 15 &&
      aws_lambda_function.ddns[0].reserved_concurrent_executions == 5
    )
    error_message = "The DDNS function is provided.al2023 on arm64, 256 MB, 15 s, reserved concurrency 5."
  }
  assert {
    condition = aws_lambda_function.ddns[0].environment[0].variables == tomap({
      LOCK_TABLE          = "ec2-dns-locks"
      ALLOWED_DOMAINS     = "dyn.example.com,other.example.org"
      NAME_TAG            = "dnsname"
      RECORD_TTL          = "60"
      HOST_SECRETS_PREFIX = "/ec2-dns/hosts/"
      ALERT_TOPIC_ARN     = "arn:aws:sns:eu-west-1:123456789012:ec2-dns-alerts"
    })
    error_message = "The DDNS function gets the reconciler's configuration, the secrets prefix and the topic; no ORIGIN_SECRET without CloudFront."
  }
  assert {
    condition = (
      aws_cloudwatch_log_group.ddns[0].name == "/aws/lambda/ec2-dns-ddns" &&
      aws_cloudwatch_log_group.ddns[0].retention_in_days == 30 &&
      aws_lambda_function.ddns[0].logging_config[0].log_format == "JSON" &&
      aws_lambda_function.ddns[0].logging_config[0].log_group == "/aws/lambda/ec2-dns-ddns"
    )
    error_message = "The DDNS function logs JSON into its own log group with the reconciler's retention."
  }

  # ---- Versions and the alias ----
  assert {
    condition = (
      aws_lambda_function.ddns[0].publish &&
      aws_lambda_alias.ddns_live[0].name == "live" &&
      aws_lambda_alias.ddns_live[0].function_name == "ec2-dns-ddns" &&
      aws_lambda_alias.ddns_live[0].function_version == aws_lambda_function.ddns[0].version
    )
    error_message = "Every change publishes a DDNS version; the alias live points at the latest."
  }

  # ---- Function URL ----
  assert {
    condition = (
      aws_lambda_function_url.ddns[0].authorization_type == "NONE" &&
      aws_lambda_function_url.ddns[0].function_name == "ec2-dns-ddns" &&
      aws_lambda_function_url.ddns[0].qualifier == "live"
    )
    error_message = "The function URL is public (AuthType NONE) and serves the alias live: the code authenticates requests."
  }
  assert {
    condition = (
      aws_lambda_permission.ddns_url[0].action == "lambda:InvokeFunctionUrl" &&
      aws_lambda_permission.ddns_url[0].principal == "*" &&
      aws_lambda_permission.ddns_url[0].function_url_auth_type == "NONE" &&
      aws_lambda_permission.ddns_url[0].function_name == "ec2-dns-ddns" &&
      aws_lambda_permission.ddns_url[0].qualifier == "live"
    )
    error_message = "Anyone may invoke the alias's function URL (lambda:InvokeFunctionUrl, FunctionUrlAuthType NONE)."
  }
  assert {
    condition = jsondecode(aws_cloudformation_stack.ddns_url_invoke[0].template_body).Resources == {
      InvokeViaFunctionUrl = {
        Type = "AWS::Lambda::Permission"
        Properties = {
          Action                = "lambda:InvokeFunction"
          FunctionName          = "ec2-dns-ddns:live"
          Principal             = "*"
          InvokedViaFunctionUrl = true
        }
      }
    }
    error_message = "The second grant of a public URL, on the alias: lambda:InvokeFunction, only when invoked via the function URL."
  }

  # ---- IAM ----
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.ddns[0].policy).Statement : alltrue([
        for a in flatten([s.Action]) : !startswith(lower(a), "ec2:") && a != "*"
      ])
    ])
    error_message = "The DDNS role has no EC2 action at all."
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.ddns[0].policy).Statement : s.Sid] == ["ListHostedZones", "ReadRecords", "ChangeRecords", "LockTable", "WriteLogs", "ReadHostSecrets", "PublishAlerts"]
    error_message = "The DDNS role grants Route53, the lock table, its logs, the secrets and the alert topic, nothing else."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.ddns[0].policy).Statement : s
      if contains(["ListHostedZones", "ReadRecords", "ChangeRecords", "LockTable"], s.Sid)
      ] == [
      for s in jsondecode(aws_iam_role_policy.function.policy).Statement : s
      if contains(["ListHostedZones", "ReadRecords", "ChangeRecords", "LockTable"], s.Sid)
    ]
    error_message = "The DDNS role holds the reconciler's Route53 and lock-table statements, conditions included."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.ddns[0].policy).Statement : s.Condition
      if s.Sid == "ChangeRecords"
      ] == [{
        "ForAllValues:StringLike" = {
          "route53:ChangeResourceRecordSetsNormalizedRecordNames" = ["*.dyn.example.com", "*.other.example.org"]
        }
        "ForAllValues:StringEquals" = {
          "route53:ChangeResourceRecordSetsRecordTypes" = ["A", "AAAA", "TXT"]
          "route53:ChangeResourceRecordSetsActions"     = ["CREATE", "DELETE"]
        }
    }]
    error_message = "The DDNS role changes only A, AAAA and TXT records below the allowed domains, CREATE and DELETE."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.ddns[0].policy).Statement : [s.Action, s.Resource]
      if strcontains(jsonencode(s.Action), "ssm:")
    ] == [["ssm:GetParameter", "arn:aws:ssm:eu-west-1:123456789012:parameter/ec2-dns/hosts/*"]]
    error_message = "The DDNS role reads only the parameters under the secrets prefix, with ssm:GetParameter only."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.ddns[0].policy).Statement : [s.Action, s.Resource]
      if strcontains(jsonencode(s.Action), "sns:")
    ] == [["sns:Publish", "arn:aws:sns:eu-west-1:123456789012:ec2-dns-alerts"]]
    error_message = "The DDNS role publishes only to the alert topic."
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.ddns[0].policy).Statement : s.Resource if s.Sid == "WriteLogs"
    ] == ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ec2-dns-ddns:*"]
    error_message = "The DDNS function writes only its own logs."
  }
  assert {
    condition = (
      aws_iam_role_policy.ddns[0].role == aws_iam_role.ddns[0].id &&
      aws_lambda_function.ddns[0].role == aws_iam_role.ddns[0].arn &&
      jsondecode(aws_iam_role.ddns[0].assume_role_policy).Statement == [{
        Effect = "Allow", Principal = { Service = "lambda.amazonaws.com" }, Action = "sts:AssumeRole"
      }]
    )
    error_message = "The DDNS function has its own role, which only Lambda may assume."
  }

  # ---- Alert topic ----
  assert {
    condition = (
      aws_sns_topic.alerts[0].name == "ec2-dns-alerts" &&
      aws_sns_topic.alerts[0].kms_master_key_id == aws_kms_key.alerts[0].arn &&
      aws_kms_key.alerts[0].enable_key_rotation
    )
    error_message = "The alert topic is encrypted with its own rotated customer managed key."
  }
  assert {
    condition = (
      [for s in jsondecode(aws_kms_key.alerts[0].policy).Statement : s.Sid] == ["AdministerKey", "AlarmsPublish", "PublishThroughSns"] &&
      [for s in jsondecode(aws_kms_key.alerts[0].policy).Statement : s.Principal if s.Sid == "AlarmsPublish"] == [{ Service = "cloudwatch.amazonaws.com" }] &&
      [for s in jsondecode(aws_kms_key.alerts[0].policy).Statement : s.Condition if s.Sid == "PublishThroughSns"] == [{
        StringEquals = { "kms:CallerAccount" = "123456789012", "kms:ViaService" = "sns.eu-west-1.amazonaws.com" }
      }]
    )
    error_message = "CloudWatch alarms, and this account's principals through SNS only, may use the key."
  }
  assert {
    condition = (
      aws_sns_topic_policy.alerts[0].arn == aws_sns_topic.alerts[0].arn &&
      [for s in jsondecode(aws_sns_topic_policy.alerts[0].policy).Statement : [s.Sid, s.Effect, s.Principal, s.Action]] == [
        ["DenyInsecureTransport", "Deny", { AWS = "*" }, "sns:Publish"],
        ["AllowAlarms", "Allow", { Service = "cloudwatch.amazonaws.com" }, "sns:Publish"],
      ]
    )
    error_message = "The topic refuses publishing without TLS and admits the account's CloudWatch alarms."
  }

  # ---- Sweep ----
  assert {
    condition = (
      aws_cloudwatch_event_rule.ddns_sweep[0].schedule_expression == "rate(15 minutes)" &&
      aws_cloudwatch_event_target.ddns_sweep[0].rule == "ec2-dns-ddns-sweep" &&
      aws_cloudwatch_event_target.ddns_sweep[0].arn == "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns-ddns:live"
    )
    error_message = "The sweep runs every 15 minutes on the DDNS function's alias live."
  }
  assert {
    condition = (
      aws_lambda_permission.ddns_sweep[0].principal == "events.amazonaws.com" &&
      aws_lambda_permission.ddns_sweep[0].action == "lambda:InvokeFunction" &&
      aws_lambda_permission.ddns_sweep[0].qualifier == "live" &&
      aws_lambda_permission.ddns_sweep[0].source_arn == "arn:aws:events:eu-west-1:123456789012:rule/ec2-dns-ddns-sweep"
    )
    error_message = "Only the sweep rule may invoke the alias through EventBridge."
  }

  # ---- Alarms ----
  assert {
    condition = toset([for a in aws_cloudwatch_metric_alarm.ddns : "${a.namespace}/${a.metric_name}/${jsonencode(a.dimensions)}"]) == toset([
      "AWS/Lambda/Errors/${jsonencode({ FunctionName = "ec2-dns-ddns" })}",
      "AWS/Lambda/Throttles/${jsonencode({ FunctionName = "ec2-dns-ddns" })}",
      "ec2-dns/Errors/${jsonencode({ Function = "ec2-dns-ddns" })}",
    ])
    error_message = "Alarms watch the DDNS function's errors, throttles and failed answers."
  }
  assert {
    # dyndns2 answers dnserr and 911 with HTTP 200: only the function's own metric sees them.
    condition = (
      aws_cloudwatch_metric_alarm.ddns["server_errors"].statistic == "Sum" &&
      aws_cloudwatch_metric_alarm.ddns["server_errors"].period == 300 &&
      aws_cloudwatch_metric_alarm.ddns["server_errors"].evaluation_periods == 1 &&
      strcontains(aws_cloudwatch_metric_alarm.ddns["server_errors"].alarm_description, "dnserr")
    )
    error_message = "The alarm on the function's Errors metric fires on any failed answer within five minutes."
  }

  # ---- Dashboard: the DDNS lines ----
  assert {
    condition = [
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      [for m in try(w.properties.metrics, []) : "${m[0]}/${m[1]}/${m[4].stat}" if m[3] == "ec2-dns-ddns"]
      ] == [
      [], [],
      ["ec2-dns/Errors/Sum"],
      ["ec2-dns/AwsApiCalls/Sum"],
      [],
      ["AWS/Lambda/Invocations/Sum"],
      ["AWS/Lambda/Errors/Sum", "AWS/Lambda/Throttles/Sum"],
      ["AWS/Lambda/Duration/p90", "AWS/Lambda/Duration/Maximum"],
      [], [],
      [], [],
    ]
    error_message = "With enable_ddns the dashboard shows the DDNS function's failed answers, API calls, invocations, errors, throttles and duration."
  }
  assert {
    condition = [
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      [w.properties.title, w.x, w.y, w.properties.view, split(" | filter", w.properties.query)[0]] if w.type == "log"
      ] == [
      ["AWS API calls by service", 0, 30, "timeSeries", "SOURCE '/aws/lambda/ec2-dns' | SOURCE '/aws/lambda/ec2-dns-ddns'"],
      ["DDNS answers", 12, 30, "bar", "SOURCE '/aws/lambda/ec2-dns-ddns'"],
    ]
    error_message = "With enable_ddns the API calls by service include the DDNS function's log, and a widget shows its answers by outcome."
  }
  assert {
    condition = strcontains(
      jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[11].properties.query,
      "stats count(*) as requests by answer"
    )
    error_message = "The DDNS answers widget counts requests by answer."
  }
  assert {
    condition = alltrue([
      for a in aws_cloudwatch_metric_alarm.ddns :
      a.threshold == 0 && a.comparison_operator == "GreaterThanThreshold" &&
      a.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:ec2-dns-alerts"]) &&
      a.ok_actions == toset(["arn:aws:sns:eu-west-1:123456789012:ec2-dns-alerts"])
    ])
    error_message = "The DDNS alarms fire above zero and notify the alert topic."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 4
    error_message = "The reconciler's alarms are unchanged."
  }

  # ---- No CloudFront without its switch; outputs ----
  assert {
    condition     = length(aws_cloudfront_distribution.ddns) == 0 && output.ddns_cloudfront_domain == null
    error_message = "CloudFront only with ddns_cloudfront."
  }
  assert {
    condition = (
      output.ddns_function_name == "ec2-dns-ddns" &&
      output.ddns_live_alias_arn == "arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns-ddns:live" &&
      output.ddns_rollback_command == "aws lambda update-alias --region eu-west-1 --function-name ec2-dns-ddns --name live --function-version VERSION" &&
      output.ddns_function_url == "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/" &&
      output.ddns_alert_topic_arn == "arn:aws:sns:eu-west-1:123456789012:ec2-dns-alerts"
    )
    error_message = "Outputs give the DDNS function name, its URL and the alert topic."
  }
}

run "given_topic_prefix_and_cap" {
  command = apply

  variables {
    enable_ddns               = true
    ddns_alert_topic_arn      = "arn:aws:sns:eu-west-1:123456789012:ops-alerts"
    ddns_host_secrets_prefix  = "/dns/secrets/"
    ddns_reserved_concurrency = 2
    deployment_id             = "0-moved"
  }

  assert {
    condition     = length(aws_sns_topic.alerts) == 0 && length(aws_kms_key.alerts) == 0 && length(aws_sns_topic_policy.alerts) == 0
    error_message = "A given topic: no topic or key is created."
  }
  assert {
    condition = (
      [for s in jsondecode(aws_iam_role_policy.ddns[0].policy).Statement : s.Resource if s.Sid == "PublishAlerts"] == ["arn:aws:sns:eu-west-1:123456789012:ops-alerts"] &&
      [for s in jsondecode(aws_iam_role_policy.ddns[0].policy).Statement : s.Resource if s.Sid == "ReadHostSecrets"] == ["arn:aws:ssm:eu-west-1:123456789012:parameter/dns/secrets/*"] &&
      aws_lambda_function.ddns[0].environment[0].variables["ALERT_TOPIC_ARN"] == "arn:aws:sns:eu-west-1:123456789012:ops-alerts" &&
      aws_lambda_function.ddns[0].environment[0].variables["HOST_SECRETS_PREFIX"] == "/dns/secrets/" &&
      aws_lambda_function.ddns[0].reserved_concurrent_executions == 2
    )
    error_message = "Topic, prefix and concurrency cap pass through to the policy and the environment."
  }
  assert {
    condition = (
      aws_lambda_function.ddns[0].environment[0].variables["DEPLOYMENT_ID"] == "0-moved" &&
      aws_lambda_function.this.environment[0].variables["DEPLOYMENT_ID"] == "0-moved"
    )
    error_message = "The DDNS function gets the reconciler's deployment id."
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.ddns : a.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:ops-alerts"])])
    error_message = "The DDNS alarms notify the given topic."
  }
}

# MARKER_STYLE and the Route53 budget: both functions alike, each only when set, so that an
# unset one keeps the function's own default.
run "marker_style_and_route53_budget" {
  command = apply

  variables {
    enable_ddns                 = true
    marker_style                = "opaque"
    route53_requests_per_second = 8
    route53_changes_per_second  = 200
  }

  assert {
    condition = alltrue([
      for f in [aws_lambda_function.this, aws_lambda_function.ddns[0]] :
      f.environment[0].variables["MARKER_STYLE"] == "opaque" &&
      f.environment[0].variables["ROUTE53_REQUESTS_PER_SECOND"] == "8" &&
      f.environment[0].variables["ROUTE53_CHANGES_PER_SECOND"] == "200"
    ])
    error_message = "Both functions get the marker style and the Route53 budget."
  }
}

run "marker_style_and_route53_budget_unset" {
  command = apply

  variables {
    enable_ddns = true
  }

  assert {
    condition = alltrue(flatten([
      for f in [aws_lambda_function.this, aws_lambda_function.ddns[0]] : [
        for k in ["MARKER_STYLE", "ROUTE53_REQUESTS_PER_SECOND", "ROUTE53_CHANGES_PER_SECOND"] :
        !contains(keys(f.environment[0].variables), k)
      ]
    ]))
    error_message = "Unset, neither function gets MARKER_STYLE or a Route53 budget: the function's defaults apply."
  }
}

run "one_of_marker_style_and_route53_budget" {
  command = apply

  variables {
    enable_ddns                = true
    marker_style               = "plain"
    route53_changes_per_second = 10000
  }

  assert {
    condition = alltrue([
      for f in [aws_lambda_function.this, aws_lambda_function.ddns[0]] :
      f.environment[0].variables["MARKER_STYLE"] == "plain" &&
      !contains(keys(f.environment[0].variables), "ROUTE53_REQUESTS_PER_SECOND") &&
      f.environment[0].variables["ROUTE53_CHANGES_PER_SECOND"] == "10000"
    ])
    error_message = "Each of the three is passed when set, as given, and only then."
  }
}

run "rejects_invalid_marker_style_and_route53_budget" {
  command = plan

  variables {
    marker_style                = "Opaque"
    route53_requests_per_second = 0
    route53_changes_per_second  = 10001
  }

  expect_failures = [
    var.marker_style,
    var.route53_requests_per_second,
    var.route53_changes_per_second,
  ]
}

run "rejects_fractional_route53_budget" {
  command = plan

  variables {
    route53_requests_per_second = 2.5
    route53_changes_per_second  = 49.5
  }

  expect_failures = [
    var.route53_requests_per_second,
    var.route53_changes_per_second,
  ]
}

run "rejects_route53_requests_above_100" {
  command = plan

  variables {
    marker_style                = "hidden"
    route53_requests_per_second = 101
  }

  expect_failures = [
    var.marker_style,
    var.route53_requests_per_second,
  ]
}

run "cloudfront" {
  command = apply

  variables {
    enable_ddns        = true
    ddns_cloudfront    = true
    ddns_origin_secret = "test-origin-secret-0123456789"
  }

  assert {
    condition = (
      one(aws_cloudfront_distribution.ddns[0].origin).custom_header == toset([{ name = "x-origin-verify", value = "test-origin-secret-0123456789" }]) &&
      aws_lambda_function.ddns[0].environment[0].variables["ORIGIN_SECRET"] == "test-origin-secret-0123456789"
    )
    error_message = "CloudFront sends x-origin-verify with the same secret the function gets as ORIGIN_SECRET."
  }
  assert {
    condition = (
      one(aws_cloudfront_distribution.ddns[0].origin).domain_name == "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws" &&
      one(one(aws_cloudfront_distribution.ddns[0].origin).custom_origin_config).origin_protocol_policy == "https-only" &&
      one(one(aws_cloudfront_distribution.ddns[0].origin).custom_origin_config).origin_ssl_protocols == toset(["TLSv1.2"])
    )
    error_message = "CloudFront reaches the function URL's host over HTTPS only."
  }
  assert {
    condition = (
      aws_cloudfront_distribution.ddns[0].default_cache_behavior[0].viewer_protocol_policy == "allow-all" &&
      aws_cloudfront_distribution.ddns[0].default_cache_behavior[0].cache_policy_id == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" &&
      aws_cloudfront_distribution.ddns[0].default_cache_behavior[0].origin_request_policy_id == "b689b0a8-53d0-40ab-baf2-68738e2966ac" &&
      contains(aws_cloudfront_distribution.ddns[0].default_cache_behavior[0].allowed_methods, "POST")
    )
    error_message = "Viewers may use HTTP and HTTPS; nothing is cached; Authorization, query strings and CloudFront-Viewer-Address reach the function (AllViewerExceptHostHeader)."
  }
  assert {
    condition = (
      aws_cloudfront_distribution.ddns[0].viewer_certificate[0].cloudfront_default_certificate &&
      length(coalesce(aws_cloudfront_distribution.ddns[0].aliases, [])) == 0 &&
      output.ddns_cloudfront_domain == "d111111abcdef8.cloudfront.net"
    )
    error_message = "Without a custom name the distribution uses the cloudfront.net name and certificate."
  }
}

run "cloudfront_custom_domain" {
  command = apply

  variables {
    enable_ddns          = true
    ddns_cloudfront      = true
    ddns_origin_secret   = "test-origin-secret-0123456789"
    ddns_domain_name     = "DDNS.example.com."
    ddns_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
  }

  assert {
    condition = (
      aws_cloudfront_distribution.ddns[0].aliases == toset(["ddns.example.com"]) &&
      !aws_cloudfront_distribution.ddns[0].viewer_certificate[0].cloudfront_default_certificate &&
      aws_cloudfront_distribution.ddns[0].viewer_certificate[0].acm_certificate_arn == "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab" &&
      aws_cloudfront_distribution.ddns[0].viewer_certificate[0].ssl_support_method == "sni-only" &&
      aws_cloudfront_distribution.ddns[0].viewer_certificate[0].minimum_protocol_version == "TLSv1.2_2021"
    )
    error_message = "With a name and a certificate the distribution answers for the name, TLS 1.2 at least."
  }
}

# A validation that reads another, invalid, variable is not evaluated: the runs below keep
# the variables each one reads valid.
run "rejects_invalid_ddns_settings" {
  command = plan

  variables {
    enable_ddns               = true
    ddns_cloudfront           = true
    ddns_origin_secret        = "short"
    ddns_reserved_concurrency = 0
    ddns_host_secrets_prefix  = "/"
    ddns_domain_name          = "ddns.example.com" # without a certificate
  }

  expect_failures = [
    var.ddns_origin_secret,
    var.ddns_reserved_concurrency,
    var.ddns_host_secrets_prefix,
    var.ddns_domain_name,
  ]
}

run "rejects_cloudfront_without_ddns" {
  command = plan

  variables {
    ddns_cloudfront = true
  }

  expect_failures = [var.ddns_cloudfront]
}

run "rejects_missing_zip_stray_secret_and_foreign_certificate" {
  command = plan

  variables {
    enable_ddns          = true
    ddns_lambda_zip      = null
    ddns_alert_topic_arn = "not-an-arn"
    ddns_origin_secret   = "test-origin-secret-0123456789" # without ddns_cloudfront
    ddns_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d"
  }

  expect_failures = [
    var.ddns_lambda_zip,
    var.ddns_alert_topic_arn,
    var.ddns_origin_secret,
    var.ddns_certificate_arn,
  ]
}
