terraform {
  # mock_provider in `terraform test` needs 1.7; validations that read other variables (the
  # ddns_* settings) need 1.9.
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # logging_config and scaling_config exist since 5.x; tested with 5.100.
      version = ">= 5.70, < 6.0"
    }
  }
}
