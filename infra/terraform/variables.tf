variable "name" {
  description = "Name of the function and prefix of every other resource's name."
  type        = string
  default     = "ec2-dns"

  validation {
    condition     = can(regex("^[A-Za-z0-9-_]{1,40}$", var.name))
    error_message = "name must be 1-40 letters, digits, hyphens or underscores (it prefixes queue, rule and table names)."
  }
}

variable "lambda_zip" {
  description = "Path of the Lambda package built by `make package` (target/lambda/ec2-dns/bootstrap.zip)."
  type        = string

  validation {
    condition     = endswith(var.lambda_zip, ".zip")
    error_message = "lambda_zip must be the path of a .zip file."
  }
}

variable "allowed_domains" {
  description = "Domains below which names may be written (ALLOWED_DOMAINS), e.g. [\"dyn.example.com\"]. Case and a trailing dot are normalised away."
  type        = list(string)

  validation {
    condition     = length(var.allowed_domains) > 0
    error_message = "allowed_domains must not be empty."
  }
  validation {
    condition = alltrue([
      for d in var.allowed_domains :
      length(trimsuffix(lower(d), ".")) <= 253 &&
      can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$", trimsuffix(lower(d), ".")))
    ])
    error_message = "Each of allowed_domains must be a domain name with at least two labels (letters, digits, hyphens)."
  }
}

variable "hosted_zone_ids" {
  description = "Ids of the Route53 hosted zones the function may read and change (Z… or /hostedzone/Z…)."
  type        = list(string)

  validation {
    condition     = length(var.hosted_zone_ids) > 0
    error_message = "hosted_zone_ids must not be empty."
  }
  validation {
    condition     = alltrue([for z in var.hosted_zone_ids : can(regex("^(/?hostedzone/)?[A-Z0-9]{1,32}$", z))])
    error_message = "Each of hosted_zone_ids must be a hosted zone id such as Z0123456789ABC."
  }
}

variable "name_tag" {
  description = "Tag holding the name(s) (NAME_TAG); the function writes <name_tag>-status."
  type        = string
  default     = "dnsname"

  validation {
    condition     = can(regex("^[A-Za-z0-9 _.:/=+@-]{1,120}$", var.name_tag)) && !startswith(lower(var.name_tag), "aws:")
    error_message = "name_tag must be a tag key of at most 120 characters (so that <name_tag>-status fits), not starting with aws:."
  }
}

variable "record_ttl" {
  description = "TTL in seconds of the records written (RECORD_TTL)."
  type        = number
  default     = 60

  validation {
    condition     = var.record_ttl >= 1 && var.record_ttl <= 172800 && floor(var.record_ttl) == var.record_ttl
    error_message = "record_ttl must be an integer in 1..172800."
  }
}

variable "deployment_id" {
  description = "The deployment's id (DEPLOYMENT_ID of both functions): every ownership marker the deployment writes carries it, and markers of another id are foreign. \"\" lets the function derive one from its account, region and lock table name; set it only to keep an id across a move (the new deployment takes the old one's, the last field of its TXT markers). See docs/deployments.md."
  type        = string
  default     = ""

  validation {
    condition     = var.deployment_id == "" || can(regex("^[a-z0-9][a-z0-9-]{0,23}$", var.deployment_id))
    error_message = "deployment_id must be 1-24 of lowercase letters, digits and hyphens, starting with a letter or digit (or \"\" to let the function derive one)."
  }
}

variable "marker_style" {
  description = "How the ownership markers of both functions name their holder (MARKER_STYLE): \"plain\" names account/region/instance-id in public DNS, \"opaque\" writes ~ and a hash of the deployment id and the holder instead (the lock table still knows the holder). \"\" leaves the function's default, plain. A change applies to each name's next decision. See docs/ownership.md."
  type        = string
  default     = ""

  validation {
    condition     = contains(["", "plain", "opaque"], var.marker_style)
    error_message = "marker_style must be \"plain\" or \"opaque\" (or \"\" for the function's default, plain)."
  }
}

variable "shared_names" {
  description = "Whether name tags may ask for shared names (SHARED_NAMES): shared:api.example.com puts every running member's addresses in one record set. Joining a set sends part of the name's traffic to the joiner, so it is off unless asked for. See docs/configuration.md."
  type        = bool
  default     = false
}

variable "lifecycle_hooks" {
  description = "Auto Scaling lifecycle hooks whose actions the reconciler completes (LIFECYCLE_HOOKS): launch actions once the instance's names are published and in sync, terminate actions once they are removed; warm-pool instances are never published. [] (the default): none, and no Auto Scaling call or right. See docs/fleets.md."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for h in var.lifecycle_hooks : can(regex("^[A-Za-z0-9_/-]{1,255}$", h))])
    error_message = "lifecycle_hooks: each hook name must be 1-255 of A-Z a-z 0-9 - _ /."
  }
}

variable "reverse_records" {
  description = "PTR records for the private IPv4 and the IPv6 addresses of instances that hold names (REVERSE_RECORDS), in the private reverse zones: allowed_domains must list a reverse domain (such as 10.in-addr.arpa) and hosted_zone_ids its private zones. Adds PTR to the record types both functions may change. See docs/configuration.md."
  type        = bool
  default     = false
}

variable "sharded_reconcile" {
  description = "Whether the scheduled reconcile of everything runs in shards (SHARDED_RECONCILE): one message per shard on the function's own queue (QUEUE_URL), instead of one invocation. max_concurrency caps how many shards run at once. See docs/configuration.md."
  type        = bool
  default     = false
}

variable "shard_size" {
  description = "The most owners (instances and hosts) one shard of a sharded reconcile reconciles (SHARD_SIZE), 100..20000; a larger place is split by instance-id prefix. null leaves the function's default (2000). See docs/configuration.md."
  type        = number
  default     = null

  validation {
    condition     = var.shard_size == null ? true : (var.shard_size >= 100 && var.shard_size <= 20000 && floor(var.shard_size) == var.shard_size)
    error_message = "shard_size must be a whole number in 100..20000 (or null for the function's default, 2000)."
  }
}

variable "lifecycle_groups" {
  description = "The Auto Scaling groups whose lifecycle actions the reconciler may complete (autoscaling:CompleteLifecycleAction and RecordLifecycleActionHeartbeat on these groups only, in any region of the account). Required when lifecycle_hooks lists a hook. See docs/fleets.md."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for g in var.lifecycle_groups : length(g) >= 1 && length(g) <= 255 && !strcontains(g, "*")])
    error_message = "lifecycle_groups: each group name must be 1-255 characters, without *."
  }
}

variable "route53_requests_per_second" {
  description = "Route53 calls per second each function allows itself (ROUTE53_REQUESTS_PER_SECOND of both functions), 1..100; Route53 allows 10 per second per account, shared by everything in it. null leaves the function's default (5). See docs/configuration.md."
  type        = number
  default     = null

  validation {
    condition     = var.route53_requests_per_second == null ? true : (var.route53_requests_per_second >= 1 && var.route53_requests_per_second <= 100 && floor(var.route53_requests_per_second) == var.route53_requests_per_second)
    error_message = "route53_requests_per_second must be a whole number in 1..100 (or null for the function's default, 5)."
  }
}

variable "route53_changes_per_second" {
  description = "Record changes (each CREATE or DELETE of a change batch) per second each function allows itself (ROUTE53_CHANGES_PER_SECOND of both functions), 1..10000: your account's Route53 budget, less what other tools use. null leaves the function's default (50). See docs/configuration.md."
  type        = number
  default     = null

  validation {
    condition     = var.route53_changes_per_second == null ? true : (var.route53_changes_per_second >= 1 && var.route53_changes_per_second <= 10000 && floor(var.route53_changes_per_second) == var.route53_changes_per_second)
    error_message = "route53_changes_per_second must be a whole number in 1..10000 (or null for the function's default, 50)."
  }
}

variable "reconcile_concurrency" {
  description = "Parallel lock/record work per invocation (RECONCILE_CONCURRENCY); null leaves the function's default (16)."
  type        = number
  default     = null

  validation {
    condition     = var.reconcile_concurrency == null ? true : (var.reconcile_concurrency >= 1 && var.reconcile_concurrency <= 64 && floor(var.reconcile_concurrency) == var.reconcile_concurrency)
    error_message = "reconcile_concurrency must be an integer in 1..64."
  }
}

variable "reconcile_schedule" {
  description = "Schedule expression of the reconcile-all backstop."
  type        = string
  default     = "rate(15 minutes)"

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.reconcile_schedule))
    error_message = "reconcile_schedule must be rate(N unit) or cron(...)."
  }
}

variable "memory_size" {
  description = "Function memory in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be in 128..10240."
  }
}

variable "timeout_seconds" {
  description = "Function timeout in seconds; a reconcile of everything must fit. The queue's visibility timeout is six times this."
  type        = number
  default     = 300

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be in 1..900."
  }
}

variable "batching_window_seconds" {
  description = "How long the queue collects events before invoking the function."
  type        = number
  default     = 10

  validation {
    condition     = var.batching_window_seconds >= 0 && var.batching_window_seconds <= 300
    error_message = "batching_window_seconds must be in 0..300."
  }
}

variable "max_concurrency" {
  description = "Maximum concurrent invocations from the queue."
  type        = number
  default     = 2

  validation {
    condition     = var.max_concurrency >= 2 && var.max_concurrency <= 1000
    error_message = "max_concurrency must be in 2..1000."
  }
}

variable "batch_size" {
  description = "Messages per invocation (above 10 needs a batching window)."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be in 1..10000."
  }
}

# When a reconcile fails, the function itself sets the message's visibility
# (sqs:ChangeMessageVisibility) so that it comes back after 30 s, doubled with each receive
# and capped at 15 minutes, instead of after the queue's visibility timeout (6 × the
# function timeout, 30 minutes by default). 8 receives are the first attempt and 7 retries,
# spread over 30+60+120+240+480+900+900 s = 2730 s, about 45 minutes; the message moves to
# the DLQ when it comes back after its 8th failure (15 minutes later). A message whose
# delay the function could not set (timeout, crash) comes back after the visibility timeout.
variable "max_receive_count" {
  description = "Receives of a message before it moves to the dead-letter queue; 8 gives failed messages about 45 minutes of retries (30 s doubling to 15 min)."
  type        = number
  default     = 8

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be in 1..1000."
  }
}

variable "deletion_protection" {
  description = "Deletion protection of the lock table."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, …)."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic that receives the alarms; null for alarms without actions."
  type        = string
  default     = null
}

variable "account_id" {
  description = "Account id used in ARNs; null looks it up with sts:GetCallerIdentity. Set it to plan without credentials."
  type        = string
  default     = null

  validation {
    condition     = var.account_id == null ? true : can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "create_dashboard" {
  description = "Create a CloudWatch dashboard (named like the function) of both functions, the queue and the dead-letter queues."
  type        = bool
  default     = true
}

# ---- Several accounts and regions (modules/member deploys the member side) ----------------

variable "accounts" {
  description = "Accounts (12-digit ids) whose instances the deployment manages besides its own (ACCOUNTS): the reconciler assumes member_role_name in each, the default bus admits their events; each deploys modules/member. Not this deployment's own account."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.accounts : can(regex("^[0-9]{12}$", trimspace(a)))])
    error_message = "Each of accounts must be an AWS account id (12 digits)."
  }
  validation {
    condition     = var.account_id == null ? true : !contains([for a in var.accounts : trimspace(a)], var.account_id)
    error_message = "accounts must not list this deployment's own account (account_id): the reconciler manages it with its own role."
  }
}

variable "regions" {
  description = "Regions whose instances are managed, in every managed account (REGIONS); null: the deployment's own region only. Each region other than the own one needs modules/member (in this account with create_member_role = false). Listing only other regions leaves the own region unmanaged."
  type        = list(string)
  default     = null

  validation {
    condition     = var.regions == null ? true : length(var.regions) > 0
    error_message = "regions must not be empty (null for the deployment's own region only)."
  }
  validation {
    condition     = var.regions == null ? true : alltrue([for r in var.regions : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", trimspace(r)))])
    error_message = "Each of regions must be an AWS region such as eu-west-1."
  }
}

variable "member_role_name" {
  description = "Name of the role the reconciler assumes in each of accounts (MEMBER_ROLE, set only when not the default)."
  type        = string
  default     = "ec2-dns-member"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.member_role_name))
    error_message = "member_role_name must be an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)."
  }
}

variable "organization_id" {
  description = "AWS Organizations id (o-…): the default bus admits events from every account of the organisation (aws:PrincipalOrgID) instead of one statement per account. The reconciler still manages only accounts."
  type        = string
  default     = null

  validation {
    condition     = var.organization_id == null ? true : can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "organization_id must be an AWS Organizations id such as o-a1b2c3d4e5."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

# ---- DDNS endpoint (ddns.tf): off unless enable_ddns --------------------------------------

variable "enable_ddns" {
  description = "Deploy the DDNS endpoint: the ec2-dns-ddns function behind a public function URL, its alert topic, sweep schedule and alarms. The other ddns_* variables apply only with it."
  type        = bool
  default     = false
}

variable "ddns_lambda_zip" {
  description = "Path of the DDNS Lambda package (target/lambda/ec2-dns-ddns/bootstrap.zip); required with enable_ddns."
  type        = string
  default     = null

  validation {
    condition     = var.ddns_lambda_zip == null ? !var.enable_ddns : endswith(var.ddns_lambda_zip, ".zip")
    error_message = "ddns_lambda_zip must be the path of a .zip file, and is required with enable_ddns."
  }
}

variable "ddns_reserved_concurrency" {
  description = "Reserved concurrency of the DDNS function: the cost cap of a public endpoint (requests above it are throttled)."
  type        = number
  default     = 5

  validation {
    condition     = var.ddns_reserved_concurrency >= 1 && var.ddns_reserved_concurrency <= 1000 && floor(var.ddns_reserved_concurrency) == var.ddns_reserved_concurrency
    error_message = "ddns_reserved_concurrency must be an integer in 1..1000."
  }
}

variable "ddns_host_secrets_prefix" {
  description = "SSM parameter prefix of the hosts' shared secrets (HOST_SECRETS_PREFIX); the function may read only below it."
  type        = string
  default     = "/ec2-dns/hosts/"

  validation {
    # At least one level below the root: "/" would reach every parameter of the account.
    # SSM reserves names that begin with "aws" or "ssm".
    condition     = can(regex("^/([A-Za-z0-9_.-]+/)+$", var.ddns_host_secrets_prefix)) && length(var.ddns_host_secrets_prefix) <= 900 && !can(regex("^/(?i:aws|ssm)", var.ddns_host_secrets_prefix))
    error_message = "ddns_host_secrets_prefix must be an SSM path like /ec2-dns/hosts/ (leading and trailing slash, at least one level, not /aws… or /ssm…)."
  }
}

variable "ddns_alert_topic_arn" {
  description = "Existing SNS topic for the DDNS alerts and alarms; null creates one, encrypted with its own KMS key."
  type        = string
  default     = null

  validation {
    condition     = var.ddns_alert_topic_arn == null ? true : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.ddns_alert_topic_arn))
    error_message = "ddns_alert_topic_arn must be an SNS topic ARN."
  }
}

variable "ddns_cloudfront" {
  description = "Put a CloudFront distribution in front of the function URL (plain HTTP for routers without TLS, a stable host name)."
  type        = bool
  default     = false

  validation {
    condition     = !var.ddns_cloudfront || var.enable_ddns
    error_message = "ddns_cloudfront needs enable_ddns."
  }
}

variable "ddns_origin_secret" {
  description = "Secret CloudFront sends in x-origin-verify, and the function's ORIGIN_SECRET; required with ddns_cloudfront, unused without it."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.ddns_cloudfront ? (var.ddns_origin_secret == null ? false : can(regex("^[A-Za-z0-9_.~+/=-]{16,256}$", var.ddns_origin_secret))) : var.ddns_origin_secret == null
    error_message = "ddns_origin_secret is required with ddns_cloudfront (16..256 of A-Z a-z 0-9 _ . ~ + / = -), and only used with it."
  }
}

variable "ddns_domain_name" {
  description = "Custom host name of the CloudFront distribution; only together with ddns_certificate_arn."
  type        = string
  default     = null

  validation {
    condition     = (var.ddns_domain_name == null) == (var.ddns_certificate_arn == null)
    error_message = "ddns_domain_name and ddns_certificate_arn go together."
  }
  validation {
    condition = var.ddns_domain_name == null ? true : (
      var.ddns_cloudfront &&
      length(trimsuffix(lower(var.ddns_domain_name), ".")) <= 253 &&
      can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$", trimsuffix(lower(var.ddns_domain_name), ".")))
    )
    error_message = "ddns_domain_name must be a domain name, and needs ddns_cloudfront."
  }
}

variable "ddns_certificate_arn" {
  description = "ACM certificate for ddns_domain_name; CloudFront takes certificates from us-east-1 only."
  type        = string
  default     = null

  validation {
    condition     = var.ddns_certificate_arn == null ? true : can(regex("^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[A-Za-z0-9-]+$", var.ddns_certificate_arn))
    error_message = "ddns_certificate_arn must be an ACM certificate ARN in us-east-1."
  }
}
