# Example root: ec2-dns pinned to a release, for a deploy without this repository.
#
#   curl -LO https://github.com/ec2-dns/ec2-dns/releases/download/v0.3.0/ec2-dns-0.3.0-lambda-arm64.zip
#   terraform init
#   terraform apply -var 'allowed_domains=["dyn.example.com"]' -var 'hosted_zone_ids=["Z0123456789ABC"]'
#
# Upgrade: change the tag (and the zip) together, then apply; each apply that changes the
# function publishes a version and moves the alias live to it (rollback: the output
# rollback_command with an earlier version).

provider "aws" {
  region = var.region
}

module "ec2_dns" {
  #checkov:skip=CKV_TF_1:The example pins a release tag, which is what releases are named by; a policy that wants commit hashes can use ?ref=<commit of the tag>.
  # A git tag pins the module; once published to a registry:
  #   source  = "ec2-dns/ec2-dns/aws"
  #   version = "0.3.0"
  source = "git::https://github.com/ec2-dns/ec2-dns.git//infra/terraform?ref=v0.3.0"

  lambda_zip      = var.lambda_zip
  allowed_domains = var.allowed_domains
  hosted_zone_ids = var.hosted_zone_ids
}

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "lambda_zip" {
  description = "The release's Lambda zip (the same version as the module's tag)."
  type        = string
  default     = "ec2-dns-0.3.0-lambda-arm64.zip"
}

variable "allowed_domains" {
  description = "Domains below which names may be written."
  type        = list(string)
}

variable "hosted_zone_ids" {
  description = "Hosted zones the function may change."
  type        = list(string)
}

output "rollback_command" {
  description = "Points the alias live at an earlier version."
  value       = module.ec2_dns.rollback_command
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = module.ec2_dns.dashboard_name
}
