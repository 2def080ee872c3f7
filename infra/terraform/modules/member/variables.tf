variable "central_account_id" {
  description = "Account id of the central deployment (the root module)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.central_account_id))
    error_message = "central_account_id must be an AWS account id (12 digits)."
  }
}

variable "central_region" {
  description = "Region of the central deployment: its default event bus receives the forwarded events."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", var.central_region))
    error_message = "central_region must be an AWS region such as eu-west-1."
  }
}

variable "reconciler_role_arn" {
  description = "ARN of the central reconciler's role (output role_arn of the root module, RoleArn of the CDK stack): the only principal the member role trusts."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", var.reconciler_role_arn))
    error_message = "reconciler_role_arn must be an IAM role ARN."
  }
  validation {
    condition     = try(split(":", var.reconciler_role_arn)[4] == var.central_account_id, false)
    error_message = "reconciler_role_arn must be a role of the central account (central_account_id)."
  }
}

variable "member_role_name" {
  description = "Name of the member role: the central deployment's member_role_name."
  type        = string
  default     = "ec2-dns-member"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.member_role_name))
    error_message = "member_role_name must be an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)."
  }
}

variable "name_tag" {
  description = "The central deployment's name tag: the forwarded tag changes are those of this tag, the member role may write <name_tag>-status only."
  type        = string
  default     = "dnsname"

  validation {
    condition     = can(regex("^[A-Za-z0-9 _.:/=+@-]{1,120}$", var.name_tag)) && !startswith(lower(var.name_tag), "aws:")
    error_message = "name_tag must be a tag key of at most 120 characters (so that <name_tag>-status fits), not starting with aws:."
  }
}

variable "operator_principal_arns" {
  description = "Operators whose ec2-dns-ctl may assume the member role too (exact IAM role or user ARNs, an SSO permission set's role with its path; no wildcards, no account roots): trusted by aws:PrincipalArn, they get exactly the member role's rights in this account. Only with create_member_role. Empty: the reconciler alone."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.operator_principal_arns : !can(regex("[*?]", arn))])
    error_message = "operator_principal_arns must name each operator exactly: no wildcards (* or ?)."
  }
  validation {
    condition = alltrue([for arn in var.operator_principal_arns :
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}$", arn)) || can(regex("[*?]", arn))
    ])
    error_message = "operator_principal_arns must be IAM role or user ARNs (arn:aws:iam::<account>:role/<path/name> or :user/<name>), not account roots or assumed-role sessions."
  }
}

variable "create_member_role" {
  description = "Create the member role. IAM is global: true in one region of each member account, false in its other regions and in the central account (whose reconciler uses its own role)."
  type        = bool
  default     = true
}

variable "lifecycle_hooks" {
  description = "The central deployment's lifecycle_hooks (LIFECYCLE_HOOKS), for groups of this account: their lifecycle actions are forwarded to the central bus (one more rule, the central lifecycle rule's pattern), and the member role may complete them. [] (the default): no lifecycle rule, no Auto Scaling right. See docs/fleets.md."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for h in var.lifecycle_hooks : can(regex("^[A-Za-z0-9_/-]{1,255}$", h))])
    error_message = "lifecycle_hooks: each hook name must be 1-255 of A-Z a-z 0-9 - _ /."
  }
}

variable "lifecycle_groups" {
  description = "The Auto Scaling groups of this account whose lifecycle actions the reconciler may complete (autoscaling:CompleteLifecycleAction and RecordLifecycleActionHeartbeat on these groups only, in any region of the account), on the member role. Required when lifecycle_hooks lists a hook and create_member_role is true. See docs/fleets.md."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for g in var.lifecycle_groups : length(g) >= 1 && length(g) <= 255 && !strcontains(g, "*")])
    error_message = "lifecycle_groups: each group name must be 1-255 characters, without *."
  }
}

variable "name" {
  description = "Prefix of the rules' and the forwarding role's names."
  type        = string
  default     = "ec2-dns"

  validation {
    condition     = can(regex("^[A-Za-z0-9-_]{1,40}$", var.name))
    error_message = "name must be 1-40 letters, digits, hyphens or underscores."
  }
}

variable "account_id" {
  description = "Account id of this member, used in ARNs; null looks it up with sts:GetCallerIdentity. Set it to plan without credentials."
  type        = string
  default     = null

  validation {
    condition     = var.account_id == null ? true : can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
