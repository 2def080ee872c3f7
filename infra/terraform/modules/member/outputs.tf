output "member_role_arn" {
  description = "ARN of the member role the central reconciler assumes; null without create_member_role."
  value       = var.create_member_role ? aws_iam_role.member[0].arn : null
}

output "forwarding_role_arn" {
  description = "ARN of the role EventBridge uses for the forwarding rules."
  value       = aws_iam_role.forward.arn
}

output "central_event_bus_arn" {
  description = "ARN of the central default event bus the rules forward to."
  value       = local.central_bus_arn
}
