# Two deployments of the module side by side in one account and region, as a root module of
# an operator's would hold production and staging (tests/side_by_side.tftest.hcl applies it
# with the provider mocked). Production keeps every default; staging sets its name, its id
# and the SSM path of its hosts' secrets, the settings docs/deployments.md asks a second
# deployment for.

terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 6.0"
    }
  }
}

variable "lambda_zip" {
  type = string
}

variable "ddns_lambda_zip" {
  type = string
}

locals {
  shared = {
    allowed_domains = ["dyn.example.com"]
    hosted_zone_ids = ["Z0123456789ABCDEFGHIJ"]
    account_id      = "123456789012"
    accounts        = ["210987654321"]
  }
}

module "production" {
  source = "../.."

  lambda_zip      = var.lambda_zip
  ddns_lambda_zip = var.ddns_lambda_zip
  enable_ddns     = true
  allowed_domains = local.shared.allowed_domains
  hosted_zone_ids = local.shared.hosted_zone_ids
  account_id      = local.shared.account_id
  accounts        = local.shared.accounts
  deployment_id   = "prod"
}

module "staging" {
  source = "../.."

  name                     = "ec2-dns-staging"
  lambda_zip               = var.lambda_zip
  ddns_lambda_zip          = var.ddns_lambda_zip
  enable_ddns              = true
  allowed_domains          = local.shared.allowed_domains
  hosted_zone_ids          = local.shared.hosted_zone_ids
  account_id               = local.shared.account_id
  accounts                 = local.shared.accounts
  deployment_id            = "staging"
  ddns_host_secrets_prefix = "/ec2-dns-staging/hosts/"
}

output "production" {
  value = module.production.deployment
}

output "staging" {
  value = module.staging.deployment
}
