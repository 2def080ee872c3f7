# The DDNS endpoint of ec2-dns, off unless enable_ddns: hosts outside AWS keep names under
# the same fenced ownership as instances, with the protocols their routers already speak
# (dyndns2 /nic/update, /checkip, the AWS serverless-DDNS sample's ?mode=get|set).
#
# The function (ec2-dns-ddns) has no EC2 right; it shares the lock table, the domains and
# the zones with the reconciler. It is served by a public function URL (routers cannot sign
# requests: the code authenticates every request) and capped by a reserved concurrency.
# The function URL and the sweep invoke the alias `live` (see main.tf).
# The CDK construct (../cdk/lib/ddns.ts) creates the same; ../scripts/parity.py proves it.

locals {
  ddns            = var.enable_ddns
  ddns_cloudfront = var.enable_ddns && var.ddns_cloudfront
  ddns_custom     = var.ddns_domain_name != null && var.ddns_certificate_arn != null

  ddns_function_name   = "${var.name}-ddns"
  ddns_log_group_name  = "/aws/lambda/${var.name}-ddns"
  ddns_log_group_arn   = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${local.ddns_log_group_name}"
  ddns_sweep_rule_name = "${var.name}-ddns-sweep"
  ddns_sweep_rule_arn  = "arn:${local.partition}:events:${local.region}:${local.account}:rule/${local.ddns_sweep_rule_name}"
  ddns_secrets_arn     = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${var.ddns_host_secrets_prefix}*"
  ddns_alarm_arns      = "arn:${local.partition}:cloudwatch:${local.region}:${local.account}:alarm:*"

  # The operator's topic, or the one created here.
  create_alert_topic = local.ddns && var.ddns_alert_topic_arn == null
  alert_topic_name   = "${var.name}-alerts"
  alert_topic_arn    = var.ddns_alert_topic_arn != null ? var.ddns_alert_topic_arn : "arn:${local.partition}:sns:${local.region}:${local.account}:${local.alert_topic_name}"

  # Fixed settings, the same in the CDK construct (DDNS_DEFAULTS).
  ddns_timeout_seconds = 15 # one credential check and a few calls; bounds a stuck call's cost
  ddns_memory_size     = 256
  ddns_sweep_schedule  = "rate(15 minutes)"
  # The function's own metrics (lambda/src/metrics.rs): Errors counts failed answers
  # (dyndns2 dnserr and 911, sent with HTTP 200 as the protocol wants, and any 5xx) and a
  # failed sweep; Lambda's Errors metric sees none of them.
  ddns_metric_namespace = "ec2-dns"
  # Managed CloudFront policies (the same ids in every account; see the distribution).
  caching_disabled_policy_id              = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  all_viewer_except_host_header_policy_id = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
  ddns_origin_id                          = "ddns-function-url"
}

# ---- Alert topic ---------------------------------------------------------------------

# A customer managed key: CloudWatch alarms cannot publish to a topic encrypted with the AWS
# managed aws/sns key (its policy cannot admit them).
resource "aws_kms_key" "alerts" {
  count               = local.create_alert_topic ? 1 : 0
  description         = "ec2-dns: encrypts the DDNS alert topic"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      # The account administers the key (without it the key could not be managed at all).
      {
        Sid       = "AdministerKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      # CloudWatch alarms of this account publish to the topic.
      {
        Sid       = "AlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account }
          ArnLike      = { "aws:SourceArn" = local.ddns_alarm_arns }
        }
      },
      # What aws/sns allows: principals of this account, through SNS only. Who may publish
      # to the topic is decided by sns:Publish (the function's role), not by the key.
      {
        Sid       = "PublishThroughSns"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = {
          StringEquals = {
            "kms:CallerAccount" = local.account
            "kms:ViaService"    = "sns.${local.region}.${local.dns_suffix}"
          }
        }
      },
    ]
  })
  tags = var.tags
}

resource "aws_sns_topic" "alerts" {
  count             = local.create_alert_topic ? 1 : 0
  name              = local.alert_topic_name
  display_name      = "ec2-dns alerts"
  kms_master_key_id = aws_kms_key.alerts[0].arn
  tags              = var.tags
}

resource "aws_sns_topic_policy" "alerts" {
  count = local.create_alert_topic ? 1 : 0
  arn   = aws_sns_topic.alerts[0].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "sns:Publish"
        Resource  = local.alert_topic_arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      # This policy replaces SNS's default one, which admitted the account's CloudWatch
      # alarms; this statement admits them again, and only them.
      {
        Sid       = "AllowAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = local.alert_topic_arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account }
          ArnLike      = { "aws:SourceArn" = local.ddns_alarm_arns }
        }
      },
    ]
  })
}

# ---- Function ------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "ddns" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; the logs hold host names, addresses and outcomes, never credentials.
  #checkov:skip=CKV_AWS_338:Operational logs, not an audit trail: one month by default, configurable with log_retention_days.
  count             = local.ddns ? 1 : 0
  name              = local.ddns_log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_iam_role" "ddns" {
  count       = local.ddns ? 1 : 0
  name        = "${var.name}-ddns-function"
  description = "ec2-dns DDNS endpoint: exactly the calls the code makes, no EC2 right"
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

# The endpoint's permissions: one statement per thing the code does. No EC2 right at all:
# the endpoint never describes an instance (a name an instance holds is simply not the
# host's). sts:GetCallerIdentity at start needs no permission.
resource "aws_iam_role_policy" "ddns" {
  count = local.ddns ? 1 : 0
  name  = "ec2dnsddns"
  role  = aws_iam_role.ddns[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      # Route53 and the lock table exactly as the reconciler: the same fenced write path.
      local.record_statements,
      [
        local.lock_table_statement,
        {
          Sid      = "WriteLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${local.ddns_log_group_arn}:*"
        },
        # The shared secrets of hosts that use the sample protocol, one SecureString
        # parameter per host under the prefix. They are encrypted with the account's AWS
        # managed key aws/ssm (ec2-dns-ctl writes them without a key id, and has no
        # customer key option), whose key policy lets every principal of the account
        # decrypt through SSM: no kms:Decrypt statement is needed, and none is given.
        {
          Sid      = "ReadHostSecrets"
          Effect   = "Allow"
          Action   = "ssm:GetParameter"
          Resource = local.ddns_secrets_arn
        },
        # Alerts about hosts (failed updates, silent past their lease). A topic created
        # here is encrypted with a key whose policy admits SNS on behalf of this account's
        # principals, so sns:Publish is all the role needs.
        {
          Sid      = "PublishAlerts"
          Effect   = "Allow"
          Action   = "sns:Publish"
          Resource = local.alert_topic_arn
        },
      ],
    )
  })
}

resource "aws_lambda_function" "ddns" {
  #checkov:skip=CKV_AWS_50:X-Ray tracing would need xray permissions the code does not use; the JSON logs carry the request id.
  #checkov:skip=CKV_AWS_116:Invoked synchronously by its function URL; the only asynchronous invocation is the sweep schedule, which runs again in 15 minutes, so a dead-letter queue would hold nothing worth keeping.
  #checkov:skip=CKV_AWS_117:The function only calls AWS APIs (Route53, DynamoDB, SSM, SNS); it needs no VPC resources, and a VPC would add NAT or endpoints for nothing.
  #checkov:skip=CKV_AWS_173:Only ORIGIN_SECRET is sensitive, and the same value is in the CloudFront distribution's configuration (its custom origin header), readable by whoever can read this function's; a customer managed key would not narrow that. It only proves that a request came through our distribution.
  #checkov:skip=CKV_AWS_272:The code comes from the project's own build (cargo lambda); code signing is left to operators who run a signing profile.
  count            = local.ddns ? 1 : 0
  function_name    = local.ddns_function_name
  description      = "ec2-dns DDNS endpoint: names for hosts outside AWS (dyndns2, serverless-DDNS sample protocol)"
  role             = aws_iam_role.ddns[0].arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = var.ddns_lambda_zip
  source_code_hash = filebase64sha256(var.ddns_lambda_zip)
  memory_size      = local.ddns_memory_size
  timeout          = local.ddns_timeout_seconds
  # A version on every change; earlier ones stay for rollbacks (see main.tf).
  publish = true
  # The cost cap: a public URL can be called by anyone; requests above the cap are
  # throttled (HTTP 429) instead of scaling the bill.
  reserved_concurrent_executions = var.ddns_reserved_concurrency

  environment {
    variables = merge(
      {
        # The reconciler's configuration: both functions decide names the same way.
        LOCK_TABLE          = aws_dynamodb_table.locks.name
        ALLOWED_DOMAINS     = join(",", local.allowed_domains)
        NAME_TAG            = var.name_tag
        RECORD_TTL          = tostring(var.record_ttl)
        HOST_SECRETS_PREFIX = var.ddns_host_secrets_prefix
        ALERT_TOPIC_ARN     = local.alert_topic_arn
      },
      # The reconciler's id and marker style: markers the endpoint writes are the
      # deployment's, and look alike. Its Route53 budget too: each process paces its own calls.
      local.shared_env,
      # Proves that a request came through our distribution, whose viewer-address header
      # then names the caller.
      local.ddns_cloudfront ? { ORIGIN_SECRET = var.ddns_origin_secret } : {},
    )
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.ddns[0].name
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.ddns]
}

resource "aws_lambda_alias" "ddns_live" {
  count            = local.ddns ? 1 : 0
  name             = local.live_alias
  description      = "ec2-dns DDNS: the version the function URL and the sweep invoke; roll back with aws lambda update-alias"
  function_name    = aws_lambda_function.ddns[0].function_name
  function_version = aws_lambda_function.ddns[0].version
}

# ---- Function URL --------------------------------------------------------------------

# Public by design: routers cannot sign requests; the code authenticates each one. On the
# alias (qualifier), so that requests reach the published version; the grants are the
# alias's too. Since October 2025 a public URL needs two grants to any principal:
# lambda:InvokeFunctionUrl with FunctionUrlAuthType NONE (below), and
# lambda:InvokeFunction when invoked via the function URL (the stack after it).
resource "aws_lambda_function_url" "ddns" {
  #checkov:skip=CKV_AWS_258:Routers cannot sign requests with SigV4: the function authenticates every request itself (HTTP Basic against Argon2id hashes, or the sample protocol's hash), rate-limits failures, and its reserved concurrency caps the cost.
  count              = local.ddns ? 1 : 0
  function_name      = aws_lambda_function.ddns[0].function_name
  qualifier          = aws_lambda_alias.ddns_live[0].name
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "ddns_url" {
  #checkov:skip=CKV_AWS_301:The function URL is public by design (AuthType NONE): the grant is limited to lambda:InvokeFunctionUrl with FunctionUrlAuthType NONE, and the function authenticates every request itself.
  count                  = local.ddns ? 1 : 0
  statement_id           = "FunctionURLAllowPublicAccess"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.ddns[0].function_name
  qualifier              = aws_lambda_alias.ddns_live[0].name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# The second grant: hashicorp/aws 5.x cannot express it (aws_lambda_permission has no
# invoked_via_function_url before 6.x), CloudFormation's AWS::Lambda::Permission can; this
# one-resource stack holds it. Its condition (lambda:InvokedViaFunctionUrl) admits
# invocations through the URL only: a direct Invoke call by anyone else stays refused. The
# function name carries the alias (name:live), as Lambda::Permission allows.
resource "aws_cloudformation_stack" "ddns_url_invoke" {
  #checkov:skip=CKV_AWS_124:A one-resource stack that holds the function URL's second permission; its events need no notification topic.
  count = local.ddns ? 1 : 0
  name  = "${var.name}-ddns-url-invoke"
  template_body = jsonencode({
    AWSTemplateFormatVersion = "2010-09-09"
    Description              = "ec2-dns: lambda:InvokeFunction through the DDNS function URL"
    Resources = {
      InvokeViaFunctionUrl = {
        Type = "AWS::Lambda::Permission"
        Properties = {
          Action                = "lambda:InvokeFunction"
          FunctionName          = "${local.ddns_function_name}:${local.live_alias}"
          Principal             = "*"
          InvokedViaFunctionUrl = true
        }
      }
    }
  })
  tags       = var.tags
  depends_on = [aws_lambda_alias.ddns_live]
}

# ---- Sweep ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "ddns_sweep" {
  count               = local.ddns ? 1 : 0
  name                = local.ddns_sweep_rule_name
  state               = "ENABLED"
  description         = "ec2-dns: DDNS sweep, alerts about hosts silent past their lease"
  schedule_expression = local.ddns_sweep_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "ddns_sweep" {
  count = local.ddns ? 1 : 0
  rule  = aws_cloudwatch_event_rule.ddns_sweep[0].name
  arn   = aws_lambda_alias.ddns_live[0].arn
}

resource "aws_lambda_permission" "ddns_sweep" {
  count         = local.ddns ? 1 : 0
  statement_id  = "AllowDdnsSweepRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.ddns[0].function_name
  qualifier     = aws_lambda_alias.ddns_live[0].name
  principal     = "events.amazonaws.com"
  source_arn    = local.ddns_sweep_rule_arn
}

# ---- Alarms --------------------------------------------------------------------------

locals {
  ddns_alarms = {
    errors = {
      description = "ec2-dns DDNS: the function failed"
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      dimensions  = { FunctionName = local.ddns_function_name }
    }
    throttles = {
      description = "ec2-dns DDNS: requests were refused at the reserved concurrency (the cost cap)"
      namespace   = "AWS/Lambda"
      metric      = "Throttles"
      dimensions  = { FunctionName = local.ddns_function_name }
    }
    server_errors = {
      description = "ec2-dns DDNS: the endpoint gave failed answers (dnserr or 911 with HTTP 200, or a 5xx), or the sweep failed"
      namespace   = local.ddns_metric_namespace
      metric      = "Errors"
      dimensions  = { Function = local.ddns_function_name }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "ddns" {
  for_each            = local.ddns ? local.ddns_alarms : {}
  alarm_name          = "${var.name}-ddns-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = "Sum"
  dimensions          = each.value.dimensions
  period              = local.alarm_period
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alert_topic_arn]
  ok_actions          = [local.alert_topic_arn]
  tags                = var.tags
}

# ---- CloudFront (ddns_cloudfront) ----------------------------------------------------

# What AWS allows for the Authorization header decides the policies: an origin request
# policy cannot list it (CloudFront refuses such a policy with HTTP 400), and a cache policy
# may put it in the cache key only when caching is on. With caching off (the managed
# CachingDisabled policy: nothing here may ever be cached), the managed
# AllViewerExceptHostHeader origin request policy is AWS's way to pass it on: every viewer
# header except Host (Authorization included), all query strings, and CloudFront's viewer
# headers (CloudFront-Viewer-Address included). It is the policy AWS made for function URL
# origins, which route on their own Host.
resource "aws_cloudfront_distribution" "ddns" {
  #checkov:skip=CKV_AWS_34:Routers that only speak plain HTTP are the reason for the distribution, and the operator opts into it; such a router's credential crosses the network in clear either way. Credentials are per host, limited to its names and revocable; clients that speak HTTPS use it.
  #checkov:skip=CKV_AWS_68:No WAF by default: the function rate-limits failed authentications itself and its reserved concurrency caps the cost; a web ACL costs more per month than the endpoint.
  #checkov:skip=CKV2_AWS_47:No WAF by default (see CKV_AWS_68); the origin is a Rust function, not a Java application.
  #checkov:skip=CKV_AWS_86:No access logs by default (they would need a log bucket); the function logs every request with its outcome.
  #checkov:skip=CKV_AWS_174:With the default *.cloudfront.net certificate CloudFront fixes the minimum protocol at TLSv1; with ddns_domain_name and ddns_certificate_arn it is TLSv1.2_2021.
  #checkov:skip=CKV2_AWS_32:The endpoint's answers are plain text or JSON for routers, not pages for browsers; browser security headers protect nothing here.
  #checkov:skip=CKV_AWS_310:One origin: the function URL; there is nothing to fail over to.
  #checkov:skip=CKV_AWS_305:No default root object: the origin is a function, not a bucket of files.
  #checkov:skip=CKV_AWS_374:Hosts may be anywhere; geo restrictions would lock out travelling or moved hosts.
  count           = local.ddns_cloudfront ? 1 : 0
  enabled         = true
  comment         = "ec2-dns DDNS endpoint"
  price_class     = "PriceClass_100"
  http_version    = "http2"
  is_ipv6_enabled = true
  aliases         = local.ddns_custom ? [trimsuffix(lower(var.ddns_domain_name), ".")] : []

  origin {
    origin_id = local.ddns_origin_id
    # The host of https://<id>.lambda-url.<region>.on.aws/
    domain_name = split("/", aws_lambda_function_url.ddns[0].function_url)[2]

    # HTTPS to the origin (the URL has no plain HTTP), TLS 1.2.
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }

    custom_header {
      name  = "x-origin-verify"
      value = var.ddns_origin_secret
    }
  }

  default_cache_behavior {
    target_origin_id = local.ddns_origin_id
    # Plain HTTP from viewers too: many routers' DDNS clients speak nothing else.
    viewer_protocol_policy = "allow-all"
    # The endpoint answers GET and POST.
    allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
    cached_methods           = ["GET", "HEAD"]
    cache_policy_id          = local.caching_disabled_policy_id
    origin_request_policy_id = local.all_viewer_except_host_header_policy_id
    compress                 = false
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = !local.ddns_custom
    acm_certificate_arn            = local.ddns_custom ? var.ddns_certificate_arn : null
    ssl_support_method             = local.ddns_custom ? "sni-only" : null
    minimum_protocol_version       = local.ddns_custom ? "TLSv1.2_2021" : "TLSv1"
  }

  tags = var.tags
}
