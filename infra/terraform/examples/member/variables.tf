variable "region" {
  description = "Region of the first module (it creates the member role)."
  type        = string
  default     = "eu-west-1"
}

variable "secondary_region" {
  description = "A second region of this account whose instances the central deployment manages."
  type        = string
  default     = "eu-central-1"
}

variable "central_account_id" {
  description = "Account of the central deployment."
  type        = string
}

variable "central_region" {
  description = "Region of the central deployment."
  type        = string
}

variable "reconciler_role_arn" {
  description = "The central deployment's output role_arn."
  type        = string
}

variable "operator_principal_arns" {
  description = "Operators' role or user ARNs the member role also trusts (ec2-dns-ctl in this account); empty: the reconciler alone."
  type        = list(string)
  default     = []
}

variable "lifecycle_hooks" {
  description = "The central deployment's lifecycle_hooks, for this account's groups; [] none."
  type        = list(string)
  default     = []
}

variable "lifecycle_groups" {
  description = "This account's groups whose lifecycle actions the reconciler may complete; required with lifecycle_hooks."
  type        = list(string)
  default     = []
}

variable "member_role_name" {
  description = "The central deployment's member_role_name."
  type        = string
  default     = "ec2-dns-member"
}

variable "name_tag" {
  description = "The central deployment's name_tag."
  type        = string
  default     = "dnsname"
}

variable "account_id" {
  description = "This account's id for ARNs; null asks STS."
  type        = string
  default     = null
}

variable "offline" {
  description = "Plan without an AWS account: skip the provider's credential, account and metadata checks. For tests only."
  type        = bool
  default     = false
}
