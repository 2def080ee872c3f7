output "function_name" {
  description = "Name of the function (for `aws lambda invoke --function-name` and `ec2-dns-ctl --function`)."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "live_alias_arn" {
  description = "ARN of the alias live, which the queue invokes (roll back by pointing it at an older version)."
  value       = aws_lambda_alias.live.arn
}

output "rollback_command" {
  description = "Points the alias at an earlier version (aws lambda list-versions-by-function lists them)."
  value       = "aws lambda update-alias --region ${local.region} --function-name ${aws_lambda_function.this.function_name} --name ${local.live_alias} --function-version VERSION"
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard; null without create_dashboard."
  value       = var.create_dashboard ? aws_cloudwatch_dashboard.this[0].dashboard_name : null
}

output "lock_table_name" {
  description = "Name of the DynamoDB lock table (LOCK_TABLE), where the function recorded its configuration during the apply."
  value       = aws_dynamodb_table.locks.name
}

output "region" {
  description = "Region of the function and the lock table."
  value       = local.region
}

# The same commands as the CDK construct's output NextSteps (infra/cdk/lib/shared.ts nextSteps).
output "next_steps" {
  description = "What to run now, one command a line: status and plan with ec2-dns-ctl (which reads the deployed function's configuration, recorded during the apply), then a dry run of the reconcile of everything by the function."
  value = join("\n", [
    "ec2-dns-ctl --function ${aws_lambda_function.this.function_name} --region ${local.region} status",
    "ec2-dns-ctl --function ${aws_lambda_function.this.function_name} --region ${local.region} plan",
    "aws lambda invoke --function-name ${aws_lambda_function.this.function_name} --region ${local.region} --cli-binary-format raw-in-base64-out --payload '{\"reconcile\":\"all\",\"dry_run\":true}' out.json",
  ])
}

output "queue_url" {
  description = "URL of the queue the rules send to."
  value       = aws_sqs_queue.events.url
}

output "dead_letter_queue_url" {
  description = "URL of the queue's dead-letter queue (events the function failed on repeatedly)."
  value       = aws_sqs_queue.dlq.url
}

output "event_dead_letter_queue_url" {
  description = "URL of the rule targets' dead-letter queue (events EventBridge could not deliver)."
  value       = aws_sqs_queue.event_dlq.url
}

output "role_arn" {
  description = "ARN of the function's role: the reconciler's role, which member roles trust (reconciler_role_arn of modules/member)."
  value       = aws_iam_role.function.arn
}

output "event_bus_arn" {
  description = "ARN of this account's default event bus in this region, where members forward instance events."
  value       = local.event_bus_arn
}

output "ddns_function_name" {
  description = "Name of the DDNS function (enable_ddns); null without it."
  value       = local.ddns ? aws_lambda_function.ddns[0].function_name : null
}

output "ddns_live_alias_arn" {
  description = "ARN of the DDNS function's alias live, which the URL and the sweep invoke; null without enable_ddns."
  value       = local.ddns ? aws_lambda_alias.ddns_live[0].arn : null
}

output "ddns_rollback_command" {
  description = "Points the DDNS alias at an earlier version; null without enable_ddns."
  value       = local.ddns ? "aws lambda update-alias --region ${local.region} --function-name ${aws_lambda_function.ddns[0].function_name} --name ${local.live_alias} --function-version VERSION" : null
}

output "ddns_function_url" {
  description = "The DDNS endpoint, the function URL (HTTPS); null without enable_ddns."
  value       = local.ddns ? aws_lambda_function_url.ddns[0].function_url : null
}

output "ddns_cloudfront_domain" {
  description = "The DDNS endpoint through CloudFront (HTTP and HTTPS); null without ddns_cloudfront."
  value       = local.ddns_cloudfront ? aws_cloudfront_distribution.ddns[0].domain_name : null
}

output "ddns_alert_topic_arn" {
  description = "Topic of the DDNS alerts and alarms (created or given); null without enable_ddns."
  value       = local.ddns ? local.alert_topic_arn : null
}

output "deployment" {
  description = "What tells this deployment apart from another in the same account and region (docs/deployments.md): deployment_id, the DEPLOYMENT_ID both functions are given (\"\" when they derive it from account, region and lock table), and names, every name the deployment gives a resource there, with the default bus's statement ids and the SSM prefix the DDNS function reads. Two deployments side by side share none of them."
  value = {
    deployment_id = lookup(aws_lambda_function.this.environment[0].variables, "DEPLOYMENT_ID", "")
    names = merge(
      {
        function                = aws_lambda_function.this.function_name
        role                    = aws_iam_role.function.name
        log_group               = aws_cloudwatch_log_group.function.name
        lock_table              = aws_dynamodb_table.locks.name
        queue                   = aws_sqs_queue.events.name
        dead_letter_queue       = aws_sqs_queue.dlq.name
        event_dead_letter_queue = aws_sqs_queue.event_dlq.name
        "rule:state"            = aws_cloudwatch_event_rule.instance_state.name
        "rule:tag"              = aws_cloudwatch_event_rule.tag_change.name
        "rule:address"          = aws_cloudwatch_event_rule.address_change.name
        "rule:schedule"         = aws_cloudwatch_event_rule.reconcile_all.name
      },
      { for k, a in aws_cloudwatch_metric_alarm.this : "alarm:${k}" => a.alarm_name },
      { for k, p in aws_cloudwatch_event_permission.accounts : "bus_statement:${k}" => p.statement_id },
      { for p in aws_cloudwatch_event_permission.organization : "bus_statement:organization" => p.statement_id },
      { for d in aws_cloudwatch_dashboard.this : "dashboard" => d.dashboard_name },
      local.ddns ? {
        ddns_function         = aws_lambda_function.ddns[0].function_name
        ddns_role             = aws_iam_role.ddns[0].name
        ddns_log_group        = aws_cloudwatch_log_group.ddns[0].name
        "rule:ddns_sweep"     = aws_cloudwatch_event_rule.ddns_sweep[0].name
        ddns_url_invoke_stack = aws_cloudformation_stack.ddns_url_invoke[0].name
        host_secrets_prefix   = var.ddns_host_secrets_prefix
      } : {},
      { for k, a in aws_cloudwatch_metric_alarm.ddns : "alarm:ddns_${k}" => a.alarm_name },
      { for t in aws_sns_topic.alerts : "alert_topic" => t.name },
    )
  }
}
