# Two deployments side by side in one account and region (docs/deployments.md): the root
# module in ./side_by_side holds production (every default) and staging (its own name, id
# and secrets path). Their `deployment` outputs show that they share no name (function,
# roles, table, queues, rules, log groups, alarms, dashboard, topic, the default bus's
# statement ids, the CloudFormation stack of the URL's grant, the SSM path) and that each
# function gets its own DEPLOYMENT_ID.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mocked" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:mocked" }
  }
  mock_resource "aws_lambda_alias" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:mocked:live" }
  }
  mock_resource "aws_lambda_function_url" {
    defaults = { function_url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:mocked" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:mocked", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/mocked" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:mocked" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/mocked" }
  }
}

run "two_deployments_side_by_side" {
  command = apply

  module {
    source = "./tests/side_by_side"
  }

  assert {
    condition     = output.production.deployment_id == "prod" && output.staging.deployment_id == "staging"
    error_message = "Each deployment's functions get its own DEPLOYMENT_ID."
  }
  assert {
    condition     = keys(output.production.names) == keys(output.staging.names) && length(output.production.names) >= 25
    error_message = "Both deployments create the same kinds of resources (function, roles, table, queues, rules, log groups, alarms, dashboard, topic, bus statement, stack, secrets path)."
  }
  assert {
    condition = length(setintersection(
      toset(values(output.production.names)), toset(values(output.staging.names))
    )) == 0
    error_message = "Two deployments side by side share no name: ${jsonencode(setintersection(toset(values(output.production.names)), toset(values(output.staging.names))))}"
  }
  assert {
    condition = (
      output.production.names.function == "ec2-dns" &&
      output.production.names["bus_statement:210987654321"] == "ec2-dns-210987654321" &&
      output.production.names.host_secrets_prefix == "/ec2-dns/hosts/" &&
      output.staging.names.function == "ec2-dns-staging" &&
      output.staging.names["bus_statement:210987654321"] == "ec2-dns-staging-210987654321" &&
      output.staging.names.host_secrets_prefix == "/ec2-dns-staging/hosts/"
    )
    error_message = "Names follow each deployment's name; the secrets path is staging's own."
  }
}
