output "function_name" {
  description = "Name of the function (for `aws lambda invoke`)."
  value       = module.ec2_dns.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = module.ec2_dns.function_arn
}

output "live_alias_arn" {
  description = "ARN of the alias the queue invokes."
  value       = module.ec2_dns.live_alias_arn
}

output "rollback_command" {
  description = "Points the alias at an earlier version."
  value       = module.ec2_dns.rollback_command
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = module.ec2_dns.dashboard_name
}

output "lock_table_name" {
  description = "Name of the lock table."
  value       = module.ec2_dns.lock_table_name
}

output "region" {
  description = "Region of the function and the lock table."
  value       = module.ec2_dns.region
}

output "next_steps" {
  description = "What to run now (ec2-dns-ctl status and plan, a dry run of the function)."
  value       = module.ec2_dns.next_steps
}

output "queue_url" {
  description = "URL of the event queue."
  value       = module.ec2_dns.queue_url
}

output "dead_letter_queue_url" {
  description = "URL of the queue's dead-letter queue."
  value       = module.ec2_dns.dead_letter_queue_url
}

output "event_dead_letter_queue_url" {
  description = "URL of the rule targets' dead-letter queue."
  value       = module.ec2_dns.event_dead_letter_queue_url
}

output "role_arn" {
  description = "ARN of the reconciler's role (reconciler_role_arn of ../member)."
  value       = module.ec2_dns.role_arn
}

output "event_bus_arn" {
  description = "The default bus members forward instance events to."
  value       = module.ec2_dns.event_bus_arn
}

output "ddns_function_name" {
  description = "Name of the DDNS function (null without enable_ddns)."
  value       = module.ec2_dns.ddns_function_name
}

output "ddns_live_alias_arn" {
  description = "ARN of the alias the DDNS URL and sweep invoke (null without enable_ddns)."
  value       = module.ec2_dns.ddns_live_alias_arn
}

output "ddns_rollback_command" {
  description = "Points the DDNS alias at an earlier version (null without enable_ddns)."
  value       = module.ec2_dns.ddns_rollback_command
}

output "ddns_function_url" {
  description = "The DDNS endpoint (function URL)."
  value       = module.ec2_dns.ddns_function_url
}

output "ddns_cloudfront_domain" {
  description = "The DDNS endpoint through CloudFront (null without ddns_cloudfront)."
  value       = module.ec2_dns.ddns_cloudfront_domain
}

output "ddns_alert_topic_arn" {
  description = "Topic of the DDNS alerts and alarms."
  value       = module.ec2_dns.ddns_alert_topic_arn
}

output "deployment" {
  description = "The deployment id the functions get (\"\": derived by them) and every name the deployment gives a resource in its account and region (docs/deployments.md)."
  value       = module.ec2_dns.deployment
}
