# Example root: ec2-dns from the module in ../.. with a provider.
#
#   terraform init
#   terraform apply -var-file=example.tfvars
#
# `make infra-test` plans this root offline (offline = true, fake credentials, account_id set).

provider "aws" {
  region = var.region

  # Only for planning without an AWS account (the offline tests); never set in a deploy.
  skip_credentials_validation = var.offline
  skip_requesting_account_id  = var.offline
  skip_metadata_api_check     = var.offline
  skip_region_validation      = var.offline
}

module "ec2_dns" {
  # This example uses the module by path, so that `make infra-test` plans it. In a root of
  # your own, pin a release instead, by git tag:
  #   source = "git::https://github.com/ec2-dns/ec2-dns.git//infra/terraform?ref=v0.3.0"
  # or from a registry the module is published to:
  #   source  = "ec2-dns/ec2-dns/aws"
  #   version = "0.3.0"
  source = "../.."

  lambda_zip          = var.lambda_zip
  allowed_domains     = var.allowed_domains
  hosted_zone_ids     = var.hosted_zone_ids
  name_tag            = var.name_tag
  record_ttl          = var.record_ttl
  deployment_id       = var.deployment_id
  alarm_topic_arn     = var.alarm_topic_arn
  deletion_protection = var.deletion_protection
  account_id          = var.account_id

  # How markers name their holder, and each function's Route53 budget ("" and null: the
  # function's defaults, plain, 5 and 50; make infra-test sets all three).
  marker_style                = var.marker_style
  route53_requests_per_second = var.route53_requests_per_second
  route53_changes_per_second  = var.route53_changes_per_second

  # Sharded reconciles of everything (false and null: one invocation, the function's
  # default shard size 2000; make infra-test sets both).
  sharded_reconcile = var.sharded_reconcile
  shard_size        = var.shard_size

  # The DDNS endpoint, off unless enable_ddns (make infra-test plans it with CloudFront).
  enable_ddns          = var.enable_ddns
  ddns_lambda_zip      = var.enable_ddns ? var.ddns_lambda_zip : null
  ddns_cloudfront      = var.ddns_cloudfront
  ddns_origin_secret   = var.ddns_origin_secret
  ddns_domain_name     = var.ddns_domain_name
  ddns_certificate_arn = var.ddns_certificate_arn

  # Several accounts and regions (make infra-test plans two accounts and three regions);
  # each member account and extra region applies ../member.
  accounts         = var.accounts
  regions          = var.regions
  member_role_name = var.member_role_name
  organization_id  = var.organization_id

  # Auto Scaling lifecycle hooks (docs/fleets.md; make infra-test lists two hooks and two groups).
  lifecycle_hooks  = var.lifecycle_hooks
  lifecycle_groups = var.lifecycle_groups

  tags = { project = "ec2-dns" }
}
