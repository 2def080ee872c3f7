output "function_name" {
  description = "Name of the function (for `aws lambda invoke`)."
  value       = module.ec2_dns.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = module.ec2_dns.function_arn
}

output "lock_table_name" {
  description = "Name of the lock table."
  value       = module.ec2_dns.lock_table_name
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
