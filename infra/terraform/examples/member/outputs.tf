output "member_role_arn" {
  description = "The member role the central reconciler assumes."
  value       = module.member.member_role_arn
}

output "forwarding_role_arn" {
  description = "EventBridge's role for the forwarding rules of the first region."
  value       = module.member.forwarding_role_arn
}

output "central_event_bus_arn" {
  description = "The central default bus the rules forward to."
  value       = module.member.central_event_bus_arn
}

output "secondary_forwarding_role_arn" {
  description = "EventBridge's role for the forwarding rules of the second region."
  value       = module.member_secondary.forwarding_role_arn
}
