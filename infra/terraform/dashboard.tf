# The CloudWatch dashboard of ec2-dns (create_dashboard): what the functions did (their EMF
# metrics, namespace ec2-dns, dimension Function: lambda/src/metrics.rs) and how Lambda and
# the queues saw it. The CDK construct (../cdk/lib/dashboard.ts) renders the same widgets in
# the same places; ../scripts/parity.py compares the two bodies widget by widget.
#
# Two widgets per row, 12 columns by 6 rows each, five-minute periods. With the DDNS endpoint
# its function gets its own lines next to the reconciler's, its failed answers (Errors:
# dnserr, 911 and 5xx, which Lambda's Errors metric never sees) and a widget of its answers
# by outcome. The last row holds the Logs Insights widgets: AWS API calls by service (the
# per-operation counts of the EMF lines; only the total is a metric) and the DDNS answers.

locals {
  dashboard_period = 300

  # The AWS API operations the functions call, by service as the SDK names it (the keys of
  # the ApiCalls property of each EMF line are "<service>:<operation>"). Same list as
  # ../cdk/lib/dashboard.ts API_OPERATIONS: [column, service, operations].
  dashboard_api_operations = [
    ["EC2", "EC2", ["CreateTags", "DescribeInstances"]],
    ["Route53", "Route 53", ["ChangeResourceRecordSets", "ListHostedZones", "ListResourceRecordSets"]],
    ["DynamoDB", "DynamoDB", ["BatchGetItem", "DeleteItem", "DescribeTable", "GetItem", "PutItem", "Scan", "TransactWriteItems", "UpdateItem"]],
    # SendMessage and SendMessageBatch: the shards of a sharded reconcile, sent to the function's own queue.
    ["SQS", "SQS", ["ChangeMessageVisibilityBatch", "SendMessage", "SendMessageBatch"]],
    ["SSM", "SSM", ["GetParameter"]],
    ["SNS", "SNS", ["Publish"]],
    ["STS", "STS", ["GetCallerIdentity"]],
  ]
  # Logs Insights lines: AWS API calls per service and five minutes, from the EMF lines.
  dashboard_api_calls_query = [
    "filter ispresent(AwsApiCalls)",
    "fields ${join(", ", [for s in local.dashboard_api_operations : "${join(" + ", [for op in s[2] : "coalesce(`ApiCalls.${s[1]}:${op}`, 0)"])} as calls${s[0]}"])}",
    "stats ${join(", ", [for s in local.dashboard_api_operations : "sum(calls${s[0]}) as ${s[0]}"])} by bin(5m)",
  ]
  # Logs Insights lines: the DDNS endpoint's answers by outcome, from its JSON log (an
  # update's answer, e.g. good or dnserr, or why a request was refused).
  dashboard_ddns_answers_query = [
    "filter `fields.message` like /^(host update|update refused|update failed|request refused)/",
    "parse `fields.answer` /^(?<code>[0-9a-z]+)/",
    "fields coalesce(code, `fields.message`) as answer",
    "stats count(*) as requests by answer",
    "sort requests desc",
  ]
  dashboard_log_groups = concat([local.log_group_name], local.ddns ? [local.ddns_log_group_name] : [])

  # One line per metric: [namespace, metric, dimension, value, label, statistic].
  # The functions' own counts are summed per period: each invocation writes one value.
  dashboard_fn = var.name
  # The DDNS function's lines, when it exists.
  dashboard_ddns = local.ddns ? [local.ddns_function_name] : []

  dashboard_widgets = [
    {
      title = "Record changes"
      lines = [
        ["ec2-dns", "Creates", "Function", local.dashboard_fn, "Creates", "Sum"],
        ["ec2-dns", "Updates", "Function", local.dashboard_fn, "Updates", "Sum"],
        ["ec2-dns", "Deletes", "Function", local.dashboard_fn, "Deletes", "Sum"],
        ["ec2-dns", "Marks", "Function", local.dashboard_fn, "Marks (ownership markers alone)", "Sum"],
      ]
    },
    {
      title = "Conflicts and names left alone"
      lines = [
        ["ec2-dns", "Conflicts", "Function", local.dashboard_fn, "Conflicts (held by another owner)", "Sum"],
        ["ec2-dns", "Frozen", "Function", local.dashboard_fn, "Frozen (wait for an operator)", "Sum"],
        ["ec2-dns", "InvalidNames", "Function", local.dashboard_fn, "Invalid names in tags", "Sum"],
        ["ec2-dns", "Skipped", "Function", local.dashboard_fn, "Skipped (no zone, no address)", "Sum"],
      ]
    },
    {
      title = "Failures"
      lines = concat(
        [
          ["ec2-dns", "Failed", "Function", local.dashboard_fn, "Names that did not settle (retried)", "Sum"],
          ["ec2-dns", "Errors", "Function", local.dashboard_fn, "Reconciler invocations with an error", "Sum"],
        ],
        [for d in local.dashboard_ddns : ["ec2-dns", "Errors", "Function", d, "DDNS failed answers (dnserr, 911, 5xx)", "Sum"]],
      )
    },
    {
      title = "AWS API calls"
      lines = concat(
        [["ec2-dns", "AwsApiCalls", "Function", local.dashboard_fn, "Reconciler", "Sum"]],
        [for d in local.dashboard_ddns : ["ec2-dns", "AwsApiCalls", "Function", d, "DDNS", "Sum"]],
      )
    },
    {
      title = "Reconcile duration (ms)"
      lines = [
        ["ec2-dns", "ReconcileDuration", "Function", local.dashboard_fn, "p50", "p50"],
        ["ec2-dns", "ReconcileDuration", "Function", local.dashboard_fn, "p90", "p90"],
        ["ec2-dns", "ReconcileDuration", "Function", local.dashboard_fn, "Maximum", "Maximum"],
      ]
    },
    {
      title = "Lambda invocations"
      lines = concat(
        [["AWS/Lambda", "Invocations", "FunctionName", local.dashboard_fn, "Reconciler", "Sum"]],
        [for d in local.dashboard_ddns : ["AWS/Lambda", "Invocations", "FunctionName", d, "DDNS", "Sum"]],
      )
    },
    {
      title = "Lambda errors and throttles"
      lines = concat(
        [
          ["AWS/Lambda", "Errors", "FunctionName", local.dashboard_fn, "Reconciler errors", "Sum"],
          ["AWS/Lambda", "Throttles", "FunctionName", local.dashboard_fn, "Reconciler throttles", "Sum"],
        ],
        local.ddns ? [
          ["AWS/Lambda", "Errors", "FunctionName", local.ddns_function_name, "DDNS errors", "Sum"],
          ["AWS/Lambda", "Throttles", "FunctionName", local.ddns_function_name, "DDNS throttles (the cost cap)", "Sum"],
        ] : [],
      )
    },
    {
      title = "Lambda duration (ms)"
      lines = concat(
        [
          ["AWS/Lambda", "Duration", "FunctionName", local.dashboard_fn, "Reconciler p50", "p50"],
          ["AWS/Lambda", "Duration", "FunctionName", local.dashboard_fn, "Reconciler p90", "p90"],
          ["AWS/Lambda", "Duration", "FunctionName", local.dashboard_fn, "Reconciler maximum", "Maximum"],
        ],
        local.ddns ? [
          ["AWS/Lambda", "Duration", "FunctionName", local.ddns_function_name, "DDNS p90", "p90"],
          ["AWS/Lambda", "Duration", "FunctionName", local.ddns_function_name, "DDNS maximum", "Maximum"],
        ] : [],
      )
    },
    {
      title = "Dead-letter queues (messages)"
      lines = [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.dlq_name, "Failed repeatedly", "Maximum"],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.event_dlq_name, "Undelivered events", "Maximum"],
      ]
    },
    {
      title = "Event queue: age of the oldest message (s)"
      lines = [
        ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", local.queue_name, "Oldest message", "Maximum"],
      ]
    },
  ]
}

locals {
  dashboard_metric_widgets = [for w in local.dashboard_widgets : {
    type = "metric"
    properties = {
      view    = "timeSeries"
      title   = w.title
      region  = local.region
      metrics = [for l in w.lines : [l[0], l[1], l[2], l[3], { label = l[4], stat = l[5] }]]
      yAxis   = {}
      period  = local.dashboard_period
    }
  }]
  # Logs Insights widgets: the query names its log groups (SOURCE '<name>' | ...).
  dashboard_log_widgets = concat(
    [{
      type = "log"
      properties = {
        view    = "timeSeries"
        stacked = true
        title   = "AWS API calls by service"
        region  = local.region
        query   = "${join(" | ", [for g in local.dashboard_log_groups : "SOURCE '${g}'"])} | ${join("\n| ", local.dashboard_api_calls_query)}"
      }
    }],
    local.ddns ? [{
      type = "log"
      properties = {
        view   = "bar"
        title  = "DDNS answers"
        region = local.region
        query  = "SOURCE '${local.ddns_log_group_name}' | ${join("\n| ", local.dashboard_ddns_answers_query)}"
      }
    }] : [],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  count          = var.create_dashboard ? 1 : 0
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [for i, w in concat(local.dashboard_metric_widgets, local.dashboard_log_widgets) : {
      type       = w.type
      width      = 12
      height     = 6
      x          = (i % 2) * 12
      y          = floor(i / 2) * 6
      properties = w.properties
    }]
  })
}
