variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "lambda_zip" {
  description = "Path of the Lambda package built by `make package`."
  type        = string
  default     = "../../../../target/lambda/ec2-dns/bootstrap.zip"
}

variable "allowed_domains" {
  description = "Domains below which names may be written."
  type        = list(string)
}

variable "hosted_zone_ids" {
  description = "Ids of the hosted zones the function may change."
  type        = list(string)
}

variable "name_tag" {
  description = "Tag holding the name(s)."
  type        = string
  default     = "dnsname"
}

variable "record_ttl" {
  description = "TTL of the records written, in seconds."
  type        = number
  default     = 60
}

variable "deployment_id" {
  description = "The deployment id (DEPLOYMENT_ID); \"\" lets the function derive it. Set it only to keep the id of a deployment this one replaces."
  type        = string
  default     = ""
}

variable "marker_style" {
  description = "How markers name their holder (MARKER_STYLE): \"plain\" or \"opaque\" (no account, region or instance id in public DNS); \"\" leaves the function's default, plain."
  type        = string
  default     = ""
}

variable "route53_requests_per_second" {
  description = "Route53 calls per second each function allows itself (ROUTE53_REQUESTS_PER_SECOND), 1..100; null: the function's default (5)."
  type        = number
  default     = null
}

variable "route53_changes_per_second" {
  description = "Record changes per second each function allows itself (ROUTE53_CHANGES_PER_SECOND), 1..10000; null: the function's default (50)."
  type        = number
  default     = null
}

variable "alarm_topic_arn" {
  description = "SNS topic for the alarms (optional)."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Deletion protection of the lock table."
  type        = bool
  default     = true
}

variable "account_id" {
  description = "Account id for ARNs; null asks STS."
  type        = string
  default     = null
}

variable "enable_ddns" {
  description = "Deploy the DDNS endpoint for hosts outside AWS."
  type        = bool
  default     = false
}

variable "ddns_lambda_zip" {
  description = "Path of the DDNS Lambda package."
  type        = string
  default     = "../../../../target/lambda/ec2-dns-ddns/bootstrap.zip"
}

variable "ddns_cloudfront" {
  description = "CloudFront in front of the DDNS function URL."
  type        = bool
  default     = false
}

variable "ddns_origin_secret" {
  description = "Secret of the x-origin-verify header (required with ddns_cloudfront)."
  type        = string
  default     = null
  sensitive   = true
}

variable "ddns_domain_name" {
  description = "Custom host name of the distribution (with ddns_certificate_arn)."
  type        = string
  default     = null
}

variable "ddns_certificate_arn" {
  description = "ACM certificate in us-east-1 for ddns_domain_name."
  type        = string
  default     = null
}

variable "accounts" {
  description = "Other accounts whose instances the deployment manages (each applies ../member)."
  type        = list(string)
  default     = []
}

variable "regions" {
  description = "Regions whose instances are managed; null: this region only."
  type        = list(string)
  default     = null
}

variable "member_role_name" {
  description = "Role the reconciler assumes in each of accounts."
  type        = string
  default     = "ec2-dns-member"
}

variable "organization_id" {
  description = "Organisation whose accounts may forward events (instead of one bus statement per account)."
  type        = string
  default     = null
}

variable "lifecycle_hooks" {
  description = "Auto Scaling lifecycle hooks whose actions the reconciler completes (LIFECYCLE_HOOKS); [] none."
  type        = list(string)
  default     = []
}

variable "lifecycle_groups" {
  description = "The groups whose lifecycle actions the reconciler may complete; required with lifecycle_hooks."
  type        = list(string)
  default     = []
}

variable "sharded_reconcile" {
  description = "Whether the scheduled reconcile of everything runs in shards (SHARDED_RECONCILE); false: one invocation."
  type        = bool
  default     = false
}

variable "shard_size" {
  description = "The most owners one shard reconciles (SHARD_SIZE), 100..20000; null: the function's default (2000)."
  type        = number
  default     = null
}

variable "offline" {
  description = "Plan without an AWS account: skip the provider's credential, account and metadata checks. For tests only."
  type        = bool
  default     = false
}
