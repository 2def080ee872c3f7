/**
 * The CloudWatch dashboard of ec2-dns: what the functions did (their EMF metrics, namespace
 * `ec2-dns`, dimension `Function`: lambda/src/metrics.rs) and how Lambda and the queues saw
 * it. The Terraform module's dashboard.tf renders the same widgets in the same places;
 * ../scripts/parity.py compares the two bodies widget by widget.
 *
 * Two widgets per row, 12 columns by 6 rows each, five-minute periods. With the DDNS endpoint
 * its function gets its own lines next to the reconciler's (invocations, errors, throttles,
 * duration, API calls), its failed answers (`Errors`: dnserr, 911 and 5xx, which reach the
 * router as HTTP 200 or 5xx and which Lambda's Errors metric never sees) and a widget of its
 * answers by outcome. The last row holds the Logs Insights widgets: AWS API calls by service
 * (the per-operation counts of the EMF lines) and the DDNS answers.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/** Namespace of the functions' own metrics (lambda/src/metrics.rs NAMESPACE). */
export const METRIC_NAMESPACE = 'ec2-dns';

const PERIOD = Duration.minutes(5);
const WIDTH = 12;
const HEIGHT = 6;

/**
 * The AWS API operations the functions call, by service as the SDK names it (the keys of the
 * `ApiCalls` property of each EMF line are `<service>:<operation>`). The per-service widget
 * sums them with CloudWatch Logs Insights, since only the total is a metric. The Terraform
 * module's dashboard.tf has the same list; the parity test compares the queries.
 */
export const API_OPERATIONS: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  // [column, service, operations]
  ['EC2', 'EC2', ['CreateTags', 'DescribeInstances']],
  ['Route53', 'Route 53', ['ChangeResourceRecordSets', 'ListHostedZones', 'ListResourceRecordSets']],
  ['DynamoDB', 'DynamoDB', ['BatchGetItem', 'DeleteItem', 'DescribeTable', 'GetItem', 'PutItem', 'Scan', 'TransactWriteItems', 'UpdateItem']],
  // SendMessage and SendMessageBatch: the shards of a sharded reconcile, sent to the function's own queue.
  ['SQS', 'SQS', ['ChangeMessageVisibilityBatch', 'SendMessage', 'SendMessageBatch']],
  ['SSM', 'SSM', ['GetParameter']],
  ['SNS', 'SNS', ['Publish']],
  ['STS', 'STS', ['GetCallerIdentity']],
];

/** Logs Insights lines: AWS API calls per service and five minutes, from the EMF lines. */
export const API_CALLS_QUERY: string[] = [
  'filter ispresent(AwsApiCalls)',
  'fields ' + API_OPERATIONS.map(([column, service, ops]) =>
    ops.map((op) => `coalesce(\`ApiCalls.${service}:${op}\`, 0)`).join(' + ') + ` as calls${column}`).join(', '),
  'stats ' + API_OPERATIONS.map(([column]) => `sum(calls${column}) as ${column}`).join(', ') + ' by bin(5m)',
];

/**
 * Logs Insights lines: the DDNS endpoint's answers by outcome, from its JSON log (an update's
 * answer, e.g. `good` or `dnserr`, or why a request was refused).
 */
export const DDNS_ANSWERS_QUERY: string[] = [
  'filter `fields.message` like /^(host update|update refused|update failed|request refused)/',
  'parse `fields.answer` /^(?<code>[0-9a-z]+)/',
  'fields coalesce(code, `fields.message`) as answer',
  'stats count(*) as requests by answer',
  'sort requests desc',
];

/** Names of what the dashboard watches; any of them may be a token. */
export interface DashboardInputs {
  readonly functionName: string;
  readonly logGroupName: string;
  readonly queueName: string;
  readonly deadLetterQueueName: string;
  readonly eventDeadLetterQueueName: string;
  /** The DDNS function, when the endpoint is deployed. */
  readonly ddnsFunctionName?: string;
  /** The DDNS function's log group, with ddnsFunctionName. */
  readonly ddnsLogGroupName?: string;
}

/** The widgets, row by row (the Dashboard construct lays out rows from the top). */
export function dashboardRows(i: DashboardInputs): cloudwatch.IWidget[][] {
  const metric = (namespace: string, dimension: string, value: string, name: string, statistic: string, label: string) =>
    new cloudwatch.Metric({ namespace, metricName: name, dimensionsMap: { [dimension]: value }, statistic, period: PERIOD, label });
  // The functions' own counts are summed per period: each invocation writes one value.
  const own = (fn: string, name: string, label: string, statistic = 'Sum') =>
    metric(METRIC_NAMESPACE, 'Function', fn, name, statistic, label);
  const lambda = (fn: string, name: string, label: string, statistic = 'Sum') =>
    metric('AWS/Lambda', 'FunctionName', fn, name, statistic, label);
  const sqs = (queue: string, name: string, label: string) => metric('AWS/SQS', 'QueueName', queue, name, 'Maximum', label);
  const graph = (title: string, left: cloudwatch.IMetric[]) =>
    new cloudwatch.GraphWidget({ title, left, width: WIDTH, height: HEIGHT, period: PERIOD });

  const fn = i.functionName;
  const ddns = i.ddnsFunctionName;
  // Lines of the DDNS function, appended after the reconciler's when it exists.
  const withDdns = <T>(lines: (f: string) => T[]): T[] => (ddns === undefined ? [] : lines(ddns));

  return [
    [
      graph('Record changes', [
        own(fn, 'Creates', 'Creates'),
        own(fn, 'Updates', 'Updates'),
        own(fn, 'Deletes', 'Deletes'),
        own(fn, 'Marks', 'Marks (ownership markers alone)'),
      ]),
      graph('Conflicts and names left alone', [
        own(fn, 'Conflicts', 'Conflicts (held by another owner)'),
        own(fn, 'Frozen', 'Frozen (wait for an operator)'),
        own(fn, 'InvalidNames', 'Invalid names in tags'),
        own(fn, 'Skipped', 'Skipped (no zone, no address)'),
      ]),
    ],
    [
      graph('Failures', [
        own(fn, 'Failed', 'Names that did not settle (retried)'),
        own(fn, 'Errors', 'Reconciler invocations with an error'),
        ...withDdns((d) => [own(d, 'Errors', 'DDNS failed answers (dnserr, 911, 5xx)')]),
      ]),
      graph('AWS API calls', [
        own(fn, 'AwsApiCalls', 'Reconciler'),
        ...withDdns((d) => [own(d, 'AwsApiCalls', 'DDNS')]),
      ]),
    ],
    [
      graph('Reconcile duration (ms)', [
        own(fn, 'ReconcileDuration', 'p50', 'p50'),
        own(fn, 'ReconcileDuration', 'p90', 'p90'),
        own(fn, 'ReconcileDuration', 'Maximum', 'Maximum'),
      ]),
      graph('Lambda invocations', [
        lambda(fn, 'Invocations', 'Reconciler'),
        ...withDdns((d) => [lambda(d, 'Invocations', 'DDNS')]),
      ]),
    ],
    [
      graph('Lambda errors and throttles', [
        lambda(fn, 'Errors', 'Reconciler errors'),
        lambda(fn, 'Throttles', 'Reconciler throttles'),
        ...withDdns((d) => [lambda(d, 'Errors', 'DDNS errors'), lambda(d, 'Throttles', 'DDNS throttles (the cost cap)')]),
      ]),
      graph('Lambda duration (ms)', [
        lambda(fn, 'Duration', 'Reconciler p50', 'p50'),
        lambda(fn, 'Duration', 'Reconciler p90', 'p90'),
        lambda(fn, 'Duration', 'Reconciler maximum', 'Maximum'),
        ...withDdns((d) => [lambda(d, 'Duration', 'DDNS p90', 'p90'), lambda(d, 'Duration', 'DDNS maximum', 'Maximum')]),
      ]),
    ],
    [
      graph('Dead-letter queues (messages)', [
        sqs(i.deadLetterQueueName, 'ApproximateNumberOfMessagesVisible', 'Failed repeatedly'),
        sqs(i.eventDeadLetterQueueName, 'ApproximateNumberOfMessagesVisible', 'Undelivered events'),
      ]),
      graph('Event queue: age of the oldest message (s)', [
        sqs(i.queueName, 'ApproximateAgeOfOldestMessage', 'Oldest message'),
      ]),
    ],
    [
      new cloudwatch.LogQueryWidget({
        title: 'AWS API calls by service',
        logGroupNames: [i.logGroupName, ...withDdns(() => [i.ddnsLogGroupName as string])],
        queryLines: API_CALLS_QUERY,
        view: cloudwatch.LogQueryVisualizationType.STACKEDAREA,
        width: WIDTH,
        height: HEIGHT,
      }),
      ...withDdns(() => [new cloudwatch.LogQueryWidget({
        title: 'DDNS answers',
        logGroupNames: [i.ddnsLogGroupName as string],
        queryLines: DDNS_ANSWERS_QUERY,
        view: cloudwatch.LogQueryVisualizationType.BAR,
        width: WIDTH,
        height: HEIGHT,
      })]),
    ],
  ];
}
