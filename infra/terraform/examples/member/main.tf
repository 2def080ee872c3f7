# Example root: the member side in one member account, in two of its regions. Apply it in each
# account of the central deployment's `accounts` (with that account's credentials), after the
# central deployment (../basic), whose outputs role_arn and region it needs:
#
#   terraform init
#   terraform apply -var central_account_id=123456789012 -var central_region=us-east-1 \
#     -var reconciler_role_arn="$(terraform -chdir=../basic output -raw role_arn)" \
#     -var 'operator_principal_arns=["arn:aws:iam::123456789012:role/ec2-dns-operator"]'
#
# operator_principal_arns (optional) lets those operators' ec2-dns-ctl assume the member role
# for this account's instances (docs/security.md, "Operators' policies"). lifecycle_hooks and
# lifecycle_groups (optional) forward the central deployment's Auto Scaling hooks of this
# account's groups and let the member role complete them (docs/fleets.md).
#
# The member role is global (IAM): the module in the first region creates it, the one in the
# second region only forwards (create_member_role = false). Add a provider and a module block
# per further region. In another region of the central account itself, use only the second
# form (create_member_role = false). `make infra-test` plans this root offline.

provider "aws" {
  region = var.region

  # Only for planning without an AWS account (the offline tests); never set in a deploy.
  skip_credentials_validation = var.offline
  skip_requesting_account_id  = var.offline
  skip_metadata_api_check     = var.offline
  skip_region_validation      = var.offline
}

provider "aws" {
  alias  = "secondary"
  region = var.secondary_region

  skip_credentials_validation = var.offline
  skip_requesting_account_id  = var.offline
  skip_metadata_api_check     = var.offline
  skip_region_validation      = var.offline
}

# The member role and the forwarding rules of the first region.
module "member" {
  # By path, so that `make infra-test` plans it; in a root of your own:
  #   source = "git::https://github.com/ec2-dns/ec2-dns.git//infra/terraform/modules/member?ref=v0.3.0"
  source = "../../modules/member"

  central_account_id  = var.central_account_id
  central_region      = var.central_region
  reconciler_role_arn = var.reconciler_role_arn
  member_role_name    = var.member_role_name
  name_tag            = var.name_tag
  account_id          = var.account_id
  # The operators whose ec2-dns-ctl may assume the member role too.
  operator_principal_arns = var.operator_principal_arns
  # The central deployment's lifecycle hooks, and this account's groups they are on.
  lifecycle_hooks  = var.lifecycle_hooks
  lifecycle_groups = var.lifecycle_groups

  tags = { project = "ec2-dns" }
}

# The forwarding rules of a second region: the account's member role exists already.
module "member_secondary" {
  source    = "../../modules/member"
  providers = { aws = aws.secondary }

  central_account_id  = var.central_account_id
  central_region      = var.central_region
  reconciler_role_arn = var.reconciler_role_arn
  member_role_name    = var.member_role_name
  name_tag            = var.name_tag
  account_id          = var.account_id
  create_member_role  = false
  # The lifecycle actions of this region's groups are forwarded too (the rights are the role's).
  lifecycle_hooks = var.lifecycle_hooks

  tags = { project = "ec2-dns" }
}
