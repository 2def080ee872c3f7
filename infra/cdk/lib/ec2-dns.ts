/**
 * The ec2-dns system as one reusable CDK construct.
 *
 * What it creates (the Terraform module in ../terraform creates the same; the parity test in
 * ../scripts/parity.py proves it):
 * - the Lambda function (provided.al2023, arm64) from the zip built by `make package` (or
 *   any `lambda.Code`, e.g. a release zip in S3), with its own log group (retention, JSON
 *   log format) and a role holding exactly the permissions the code uses;
 * - a version published on every change of code or configuration, and the alias `live`
 *   pointing at it, which the queue invokes (rollback: point the alias at an older version);
 * - the DynamoDB lock table (partition key `pk`, on demand, PITR, encryption, TTL on the
 *   attribute `expires`, which only the DDNS endpoint's failed-login counters carry);
 * - four EventBridge rules (EC2 state change, tag change of the name tag, Elastic IP address
 *   association or disassociation and IPv6 address assignment or unassignment as CloudTrail
 *   records them, schedule) that send to an SQS
 *   queue read by the function, with a dead-letter queue for the queue and one for the rule
 *   targets;
 * - alarms on both dead-letter queues and on the function's errors and throttles;
 * - a CloudWatch dashboard (./dashboard.ts), unless `dashboard` is false;
 * - opt-in (`enableDdns`), the DDNS endpoint for hosts outside AWS: see ./ddns.ts;
 * - for organisations (`accounts`, `regions`): the reconciler manages instances of other
 *   accounts and regions too. It assumes the member role (`memberRoleName`) of each listed
 *   account, and the default event bus admits their forwarded events (one statement per
 *   account, or one for `organizationId`). Each member account and extra region deploys the
 *   member side, ./member.ts (Ec2DnsMember): the member role and the forwarding rules.
 *
 * The domains, zone ids, name tag and TTL may be tokens (the release template's
 * CloudFormation parameters): they are then checked by CloudFormation and by the function at
 * start, not here.
 */
import {
  Aws, CfnOutput, CfnRule, CustomResource, Duration, Fn, Lazy, RemovalPolicy, Stack, Token, Tokenization, Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { dashboardRows } from './dashboard';
import { Ddns, DdnsProps, validateDdnsProps } from './ddns';
import {
  acknowledgeLifecycleGroups, ACCOUNT_RE, boundedName, check, checkLifecycle, CONFIGURATION_RESOURCE_TYPE, DEFAULT_MEMBER_ROLE, defaultBusArn, DEPLOYMENT_ID_RE, DOMAIN_RE, instanceEventPatterns,
  instanceStatements, isReverseDomain, lifecycleEventPattern, lifecycleStatements, LIVE_ALIAS, lockTableStatement, MARKER_STYLES, nextSteps, normaliseDomain, normaliseZoneId, ORGANIZATION_ID_RE, recordStatements,
  REGION_RE, ROLE_NAME_RE, rollbackCommand, skipCheckov, TAG_KEY_RE, ZONE_ID_RE,
} from './shared';

export { DDNS_DEFAULTS, ddnsPolicyStatements } from './ddns';
export {
  CONFIGURATION_RESOURCE_TYPE, DEFAULT_MEMBER_ROLE, LIFECYCLE_HOOK_RE, lifecycleEventPattern, LIVE_ALIAS, normaliseDomain, normaliseZoneId,
} from './shared';

/** Everything an operator can choose. Only the domains, zones and the code are required. */
export interface Ec2DnsProps {
  /** Domains below which names may be written (ALLOWED_DOMAINS), e.g. `dyn.example.com`. */
  readonly allowedDomains: string[];
  /** Ids of the hosted zones the function may read and change, e.g. `Z0123456789ABC`. */
  readonly hostedZoneIds: string[];
  /**
   * Path of the Lambda zip (`make package` → target/lambda/ec2-dns/bootstrap.zip, or a
   * release's ec2-dns-<version>-lambda-arm64.zip). Give this or `code`.
   */
  readonly codePath?: string;
  /** The function's code as any `lambda.Code`, e.g. `Code.fromBucket(...)`. Give this or `codePath`. */
  readonly code?: lambda.Code;
  /** Tag holding the name(s) (NAME_TAG). @default 'dnsname' */
  readonly nameTag?: string;
  /** TTL of written records in seconds, 1..172800 (RECORD_TTL). @default 60 */
  readonly recordTtl?: number;
  /**
   * The deployment's id (DEPLOYMENT_ID of both functions): every ownership marker the
   * deployment writes carries it, and markers of another id are foreign (never touched).
   * 1-24 of lowercase letters, digits and hyphens, starting with a letter or digit. Set it
   * only to keep an id across a move (say from this stack to Terraform: the new deployment
   * takes the old one's id, the last field of its TXT markers); unset or empty, the function
   * derives one from its account, region and lock table name, so that two deployments never
   * share an id by accident. See docs/deployments.md.
   * @default unset: derived by the function
   */
  readonly deploymentId?: string;
  /**
   * How the ownership markers of both functions name their holder (MARKER_STYLE). `plain`:
   * `account/region/instance-id` (or `…/host/<name>`), readable by anyone who can resolve
   * the zone. `opaque`: `~` and 16 hex digits of a hash of the deployment id and the holder,
   * so that public DNS shows no account, region or instance id; the lock table still knows
   * the holder. A change applies to each name's next decision. See docs/ownership.md.
   * @default unset: the function's default, plain
   */
  readonly markerStyle?: 'plain' | 'opaque';
  /**
   * Route53 calls per second each function allows itself, a whole number 1..100
   * (ROUTE53_REQUESTS_PER_SECOND of both functions). Route53 allows 10 per second per
   * account, shared by everything in the account; a call over the budget waits instead of
   * being throttled. See docs/configuration.md.
   * @default unset: the function's default, 5
   */
  readonly route53RequestsPerSecond?: number;
  /**
   * Record changes (each CREATE or DELETE of a change batch) per second each function allows
   * itself, a whole number 1..10000 (ROUTE53_CHANGES_PER_SECOND of both functions): raise it
   * to your account's Route53 budget, less what other tools use. See docs/configuration.md.
   * @default unset: the function's default, 50
   */
  readonly route53ChangesPerSecond?: number;
  /**
   * Auto Scaling lifecycle hooks whose actions the reconciler completes (LIFECYCLE_HOOKS):
   * launch actions once the instance's names are published and in sync, terminate actions
   * once they are removed; warm-pool instances are never published. Each 1-255 of
   * `A-Z a-z 0-9 - _ /`. See docs/fleets.md.
   * @default none: no lifecycle rule, no Auto Scaling call or right
   */
  readonly lifecycleHooks?: string[];
  /**
   * The Auto Scaling groups whose lifecycle actions the reconciler may complete
   * (autoscaling:CompleteLifecycleAction and RecordLifecycleActionHeartbeat on these groups
   * only, in any region of the account). Required with lifecycleHooks.
   * @default none
   */
  readonly lifecycleGroups?: string[];
  /**
   * Whether name tags may ask for shared names (SHARED_NAMES): `shared:api.example.com`
   * puts every running member's addresses in one record set. Joining a set sends part of
   * the name's traffic to the joiner, so it is off unless asked for. See
   * docs/configuration.md.
   * @default false
   */
  readonly sharedNames?: boolean;
  /**
   * PTR records for the private IPv4 and the IPv6 addresses of instances that hold names
   * (REVERSE_RECORDS), in the private reverse zones: allowedDomains must list a reverse
   * domain (such as 10.in-addr.arpa) and hostedZoneIds its private zones. Adds PTR to the
   * record types both functions may change. See docs/configuration.md.
   * @default false
   */
  readonly reverseRecords?: boolean;
  /**
   * Whether the scheduled reconcile of everything runs in shards (SHARDED_RECONCILE): one
   * message per shard on the function's own queue (QUEUE_URL), instead of one invocation.
   * `maxConcurrency` caps how many shards run at once. See docs/configuration.md.
   * @default false
   */
  readonly shardedReconcile?: boolean;
  /**
   * The most owners (instances and hosts) one shard reconciles, a whole number 100..20000
   * (SHARD_SIZE); a larger place is split by instance-id prefix. See docs/configuration.md.
   * @default unset: the function's default, 2000
   */
  readonly shardSize?: number;
  /** Parallel lock/record work per invocation, 1..64 (RECONCILE_CONCURRENCY). @default unset (function default 16) */
  readonly reconcileConcurrency?: number;
  /** Schedule of the reconcile-all backstop. @default rate(15 minutes) */
  readonly reconcileSchedule?: events.Schedule;
  /** Topic that receives the alarms. @default no alarm actions */
  readonly alarmTopic?: sns.ITopic;
  /** Function memory in MB. @default 256 */
  readonly memorySize?: number;
  /** Function timeout; a reconcile of everything must fit. @default 300 seconds */
  readonly timeout?: Duration;
  /** How long the queue collects events before invoking the function (0..300 s). @default 10 seconds */
  readonly batchingWindow?: Duration;
  /** Maximum concurrent invocations from the queue (2..1000). @default 2 */
  readonly maxConcurrency?: number;
  /** Messages per invocation (1..10000; above 10 needs a batching window). @default 10 */
  readonly batchSize?: number;
  /** Receives of a message before it goes to the dead-letter queue (see DEFAULTS). @default 8 */
  readonly maxReceiveCount?: number;
  /** Deletion protection of the lock table. @default true */
  readonly deletionProtection?: boolean;
  /** Retention of the function's log group. @default one month */
  readonly logRetention?: logs.RetentionDays;
  /** Physical name of the function. @default generated by CloudFormation */
  readonly functionName?: string;
  /** A CloudWatch dashboard of both functions, the queues and the dead-letter queues. @default true */
  readonly dashboard?: boolean;
  /** Name of the dashboard. @default generated by CloudFormation */
  readonly dashboardName?: string;
  /**
   * The DDNS endpoint (the `ec2-dns-ddns` function behind a public function URL, its alert
   * topic, sweep schedule and alarms; optionally CloudFront), sharing the lock table, the
   * domains and the zones. The other `ddns*` props apply only with it. @default false
   */
  readonly enableDdns?: boolean;
  /** Path of the DDNS Lambda zip (target/lambda/ec2-dns-ddns/bootstrap.zip); with enableDdns, give this or ddnsCode. */
  readonly ddnsCodePath?: string;
  /** The DDNS function's code as any `lambda.Code`; with enableDdns, give this or ddnsCodePath. */
  readonly ddnsCode?: lambda.Code;
  /** Reserved concurrency of the DDNS function: the cost cap of a public endpoint (1..1000). @default 5 */
  readonly ddnsReservedConcurrency?: number;
  /** SSM parameter prefix of the hosts' shared secrets (HOST_SECRETS_PREFIX). @default '/ec2-dns/hosts/' */
  readonly ddnsHostSecretsPrefix?: string;
  /** Existing topic for the DDNS alerts and alarms. @default a topic created here, encrypted with its own KMS key */
  readonly ddnsAlertTopic?: sns.ITopic;
  /** A CloudFront distribution in front of the function URL (plain HTTP for old routers). @default false */
  readonly ddnsCloudfront?: boolean;
  /** Secret CloudFront sends in `x-origin-verify` (and the function's ORIGIN_SECRET); required with ddnsCloudfront. */
  readonly ddnsOriginSecret?: string;
  /** Custom host name of the distribution; only together with ddnsCertificateArn. @default the cloudfront.net name */
  readonly ddnsDomainName?: string;
  /** ACM certificate (us-east-1) for ddnsDomainName; only together with it. */
  readonly ddnsCertificateArn?: string;
  /**
   * Accounts (12-digit ids) whose instances this deployment manages besides its own
   * (ACCOUNTS). The reconciler assumes `memberRoleName` in each, and the default event bus
   * admits their forwarded events; each deploys Ec2DnsMember. Not the stack's own account.
   * @default none: only the stack's own account
   */
  readonly accounts?: string[];
  /**
   * Regions whose instances are managed, in every managed account (REGIONS). Each region
   * other than the stack's own needs an Ec2DnsMember that forwards its events (in the own
   * account without the member role). Listing only other regions leaves the stack's own
   * region unmanaged.
   * @default the stack's own region only (REGIONS unset)
   */
  readonly regions?: string[];
  /** Name of the role the reconciler assumes in each of `accounts` (MEMBER_ROLE). @default 'ec2-dns-member' */
  readonly memberRoleName?: string;
  /**
   * AWS Organizations id (`o-…`): the default event bus admits events from every account of
   * the organisation (aws:PrincipalOrgID) instead of one statement per account of
   * `accounts`. The reconciler still manages only `accounts`.
   * @default one bus policy statement per account
   */
  readonly organizationId?: string;
}

/** Defaults shared with the Terraform module (variables.tf); keep them equal. */
export const DEFAULTS = {
  nameTag: 'dnsname',
  recordTtl: 60,
  memorySize: 256,
  timeoutSeconds: 300,
  batchingWindowSeconds: 10,
  maxConcurrency: 2,
  batchSize: 10,
  // Receives of a message before SQS moves it to the dead-letter queue. When a reconcile
  // fails, the function itself sets the message's visibility (sqs:ChangeMessageVisibility)
  // so that it comes back after 30 s, doubled with each receive and capped at 15 minutes,
  // instead of after the queue's visibility timeout (6 × the function timeout, 30 minutes
  // by default). 8 receives are the first attempt and 7 retries, spread over
  // 30+60+120+240+480+900+900 s = 2730 s, about 45 minutes; the message moves to the DLQ
  // when it comes back after its 8th failure (15 minutes later). A message whose delay the
  // function could not set (timeout, crash) comes back after the visibility timeout.
  maxReceiveCount: 8,
  eventRetryAttempts: 8,
  eventMaxAgeSeconds: 3600,
  scheduleExpression: 'rate(15 minutes)',
} as const;

/** The lock table's TTL attribute (docs/contract.md): only `source#<prefix>` items carry it. */
export const TTL_ATTRIBUTE = 'expires';

const SSE_SQS_REASON = 'Encrypted with SQS-managed keys (SqsManagedSseEnabled), which this check does not recognise for CloudFormation; the AWS managed aws/sqs KMS key cannot be used because EventBridge could not send to the queue.';

/** Reports every invalid prop at once, like the function does with its environment. */
export function validateProps(props: Ec2DnsProps): void {
  const p: string[] = [];
  // Tokens (CloudFormation parameters) are checked by CloudFormation's parameter
  // constraints and by the function at start, not here.
  if (!Token.isUnresolved(props.allowedDomains)) {
    const domains = props.allowedDomains.map(normaliseDomain);
    check(p, domains.length > 0, 'allowedDomains must not be empty');
    for (const d of domains) check(p, DOMAIN_RE.test(d), `allowedDomains: '${d}' is not a domain name`);
    check(p, props.reverseRecords !== true || domains.some(isReverseDomain),
      'reverseRecords is true but no allowedDomains entry is a reverse domain: add the private reverse zones\' domain (such as 10.in-addr.arpa)');
  }
  if (!Token.isUnresolved(props.hostedZoneIds)) {
    const zones = props.hostedZoneIds.map(normaliseZoneId);
    check(p, zones.length > 0, 'hostedZoneIds must not be empty');
    for (const z of zones) check(p, ZONE_ID_RE.test(z), `hostedZoneIds: '${z}' is not a hosted zone id`);
  }
  check(p, (props.codePath !== undefined) !== (props.code !== undefined), 'give exactly one of codePath and code');
  const tag = props.nameTag ?? DEFAULTS.nameTag;
  if (!Token.isUnresolved(tag)) {
    check(p, TAG_KEY_RE.test(tag) && !tag.toLowerCase().startsWith('aws:') && tag.length <= 120,
      `nameTag: '${tag}' is not a valid tag key (at most 120 characters so that '<tag>-status' fits)`);
  }
  const ttl = props.recordTtl ?? DEFAULTS.recordTtl;
  if (!Token.isUnresolved(ttl)) {
    check(p, Number.isInteger(ttl) && ttl >= 1 && ttl <= 172800, 'recordTtl must be an integer in 1..172800');
  }
  if (props.deploymentId !== undefined && props.deploymentId !== '' && !Token.isUnresolved(props.deploymentId)) {
    check(p, DEPLOYMENT_ID_RE.test(props.deploymentId),
      `deploymentId: '${props.deploymentId}' must be 1-24 of lowercase letters, digits and hyphens, starting with a letter or digit (leave it out to let the function derive one)`);
  }
  // Checked as the function checks them (lambda/src/config.rs), so that a typo fails the
  // synth rather than both functions' start. Other languages see markerStyle as a string.
  const style: string | undefined = props.markerStyle;
  if (style !== undefined && style !== '' && !Token.isUnresolved(style)) {
    check(p, MARKER_STYLES.includes(style),
      `markerStyle: '${style}' must be plain or opaque (leave it out for the function's default, plain)`);
  }
  const rate = (name: string, value: number | undefined, max: number) => {
    if (value === undefined || Token.isUnresolved(value)) return;
    check(p, Number.isInteger(value) && value >= 1 && value <= max,
      `${name}: ${value} must be a whole number in 1..${max} (leave it out for the function's default)`);
  };
  rate('route53RequestsPerSecond', props.route53RequestsPerSecond, 100);
  rate('route53ChangesPerSecond', props.route53ChangesPerSecond, 10000);
  if (props.shardSize !== undefined && !Token.isUnresolved(props.shardSize)) {
    const size = props.shardSize;
    check(p, Number.isInteger(size) && size >= 100 && size <= 20000,
      `shardSize: ${size} must be a whole number in 100..20000 (leave it out for the function's default, 2000)`);
  }
  if (props.reconcileConcurrency !== undefined) {
    const c = props.reconcileConcurrency;
    check(p, Number.isInteger(c) && c >= 1 && c <= 64, 'reconcileConcurrency must be an integer in 1..64');
  }
  const mem = props.memorySize ?? DEFAULTS.memorySize;
  check(p, Number.isInteger(mem) && mem >= 128 && mem <= 10240, 'memorySize must be in 128..10240');
  const timeout = (props.timeout ?? Duration.seconds(DEFAULTS.timeoutSeconds)).toSeconds();
  check(p, timeout >= 1 && timeout <= 900, 'timeout must be in 1..900 seconds');
  const window = (props.batchingWindow ?? Duration.seconds(DEFAULTS.batchingWindowSeconds)).toSeconds();
  check(p, window >= 0 && window <= 300, 'batchingWindow must be in 0..300 seconds');
  const conc = props.maxConcurrency ?? DEFAULTS.maxConcurrency;
  check(p, Number.isInteger(conc) && conc >= 2 && conc <= 1000, 'maxConcurrency must be an integer in 2..1000');
  const batch = props.batchSize ?? DEFAULTS.batchSize;
  check(p, Number.isInteger(batch) && batch >= 1 && batch <= 10000, 'batchSize must be an integer in 1..10000');
  check(p, batch <= 10 || window > 0, 'batchSize above 10 needs a batchingWindow');
  const receives = props.maxReceiveCount ?? DEFAULTS.maxReceiveCount;
  check(p, Number.isInteger(receives) && receives >= 1 && receives <= 1000, 'maxReceiveCount must be in 1..1000');
  validateDdnsProps(props.enableDdns === true, ddnsProps(props), p);
  for (const a of props.accounts ?? []) {
    check(p, ACCOUNT_RE.test(a), `accounts: '${a}' is not an AWS account id (12 digits)`);
  }
  if (props.regions !== undefined) {
    check(p, props.regions.length > 0, 'regions must not be empty (leave it out for the stack\'s own region only)');
    for (const r of props.regions) check(p, REGION_RE.test(r), `regions: '${r}' is not an AWS region such as eu-west-1`);
  }
  const role = props.memberRoleName ?? DEFAULT_MEMBER_ROLE;
  check(p, ROLE_NAME_RE.test(role), `memberRoleName: '${role}' is not an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)`);
  if (props.organizationId !== undefined) {
    check(p, ORGANIZATION_ID_RE.test(props.organizationId),
      `organizationId: '${props.organizationId}' is not an AWS Organizations id such as o-a1b2c3d4e5`);
  }
  checkLifecycle(p, props.lifecycleHooks, props.lifecycleGroups, true);
  if (p.length > 0) throw new Error(`Invalid ec2-dns configuration:\n  - ${p.join('\n  - ')}`);
}

/**
 * An EventBridge target that sends to a queue, with a retry policy and a dead-letter queue.
 * Unlike the stock SQS target it grants nothing by itself: the queue policies are written
 * explicitly below (one statement naming exactly the four rules).
 */
class QueueTarget implements events.IRuleTarget {
  constructor(
    private readonly queue: sqs.IQueue,
    private readonly deadLetterQueue: sqs.IQueue,
  ) {}

  bind(): events.RuleTargetConfig {
    return {
      arn: this.queue.queueArn,
      deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
      retryPolicy: {
        maximumRetryAttempts: DEFAULTS.eventRetryAttempts,
        maximumEventAgeInSeconds: DEFAULTS.eventMaxAgeSeconds,
      },
    };
  }
}

/** The four rules that send to the queue. */
export interface Ec2DnsRules {
  /** EC2 instance state changes. */
  readonly stateChange: events.Rule;
  /** Changes of the name tag on EC2 instances. */
  readonly tagChange: events.Rule;
  /**
   * Elastic IP addresses associated with or disassociated from instances, and IPv6
   * addresses assigned to or unassigned from network interfaces (the CloudTrail events of
   * AssociateAddress, DisassociateAddress, AssignIpv6Addresses and UnassignIpv6Addresses:
   * only where a trail logs management events).
   */
  readonly addressChange: events.Rule;
  /** The reconcile-all backstop. */
  readonly schedule: events.Rule;
  /** Lifecycle actions of the listed hooks (only with lifecycleHooks). */
  readonly lifecycle?: events.Rule;
}

export class Ec2Dns extends Construct {
  /** The function ($LATEST); invokers use `alias`. */
  public readonly function: lambda.Function;
  /** The function's role: what member roles trust (output RoleArn). */
  public readonly role: iam.Role;
  /** ARN of this account's default event bus in this region, where members forward events (output EventBusArn). */
  public readonly eventBusArn: string;
  /** The alias `live`: the published version the queue invokes. */
  public readonly alias: lambda.Alias;
  /** The function's log group. */
  public readonly logGroup: logs.LogGroup;
  /**
   * The custom resource (Custom::Ec2DnsConfiguration) served by the function itself, through
   * which each deploy that changes the function's code or environment has it record its
   * configuration in the lock table, so that `ec2-dns-ctl plan` works right after the deploy.
   * Its attributes: `LockTable`, `DeploymentId`, `Version` (getAttString).
   */
  public readonly configuration: CustomResource;
  public readonly table: dynamodb.Table;
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly eventDeadLetterQueue: sqs.Queue;
  public readonly rules: Ec2DnsRules;
  public readonly alarms: cloudwatch.Alarm[];
  /** The dashboard, unless `dashboard` is false. */
  public readonly dashboard?: cloudwatch.Dashboard;
  /** The DDNS endpoint, with enableDdns. */
  public readonly ddns?: Ddns;
  /** DEPLOYMENT_ID of both functions, when set (unset: the function derives it). */
  public readonly deploymentId?: string;
  /** Output Deployment: `deploymentSummary()`. */
  public readonly deploymentOutput: CfnOutput;
  /** The default bus's statement ids, by account (or `organization`). */
  private readonly busStatementIds: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: Ec2DnsProps) {
    super(scope, id);
    validateProps(props);

    const stack = Stack.of(this);
    const partition = stack.partition;
    // Lists known at synth time are normalised here; list tokens (CommaDelimitedList
    // parameters) are used as given, their parameter's pattern admits only normal forms.
    const domains = Token.isUnresolved(props.allowedDomains)
      ? props.allowedDomains : [...new Set(props.allowedDomains.map(normaliseDomain))];
    const zoneIds = Token.isUnresolved(props.hostedZoneIds)
      ? props.hostedZoneIds : [...new Set(props.hostedZoneIds.map(normaliseZoneId))];
    const nameTag = props.nameTag ?? DEFAULTS.nameTag;
    const timeout = props.timeout ?? Duration.seconds(DEFAULTS.timeoutSeconds);
    // Accounts and regions sorted without repeats, as the function reads them.
    const accounts = [...new Set(props.accounts ?? [])].sort();
    const regions = props.regions === undefined ? undefined : [...new Set(props.regions)].sort();
    const memberRoleName = props.memberRoleName ?? DEFAULT_MEMBER_ROLE;
    if (!Token.isUnresolved(stack.account) && accounts.includes(stack.account)) {
      throw new Error(`Invalid ec2-dns configuration:\n  - accounts: '${stack.account}' is the stack's own account, which the reconciler manages with its own role; list only other accounts`);
    }
    this.eventBusArn = defaultBusArn(partition, stack.region, stack.account);

    // ---- Lock table ------------------------------------------------------------------
    this.table = new dynamodb.Table(this, 'LockTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: RemovalPolicy.RETAIN,
      // Only the failed logins of a source (`source#<prefix>` items of the DDNS endpoint)
      // carry `expires`, the end of their window in epoch seconds: DynamoDB deletes them
      // some time after it. Items without the attribute never expire.
      timeToLiveAttribute: TTL_ATTRIBUTE,
    });
    skipCheckov(this.table, {
      CKV_AWS_119: 'Encrypted with the AWS managed KMS key (aws/dynamodb); the table holds names and IP addresses that are also in DNS, a customer managed key adds cost without adding protection.',
    });

    // ---- Queues ----------------------------------------------------------------------
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Lambda's rule for SQS sources: at least six times the function timeout.
      visibilityTimeout: Duration.seconds(timeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        maxReceiveCount: props.maxReceiveCount ?? DEFAULTS.maxReceiveCount,
      },
    });
    // Events EventBridge could not deliver to the queue after its retries.
    this.eventDeadLetterQueue = new sqs.Queue(this, 'EventDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    for (const q of [this.deadLetterQueue, this.queue, this.eventDeadLetterQueue]) {
      skipCheckov(q, { CKV_AWS_27: SSE_SQS_REASON });
    }
    Validations.of(this.eventDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself a dead-letter queue: the one of the EventBridge rule targets (DeadLetterConfig), which cdk-nag does not recognise as such.',
    });

    // ---- Function --------------------------------------------------------------------
    const logGroup = this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    skipCheckov(logGroup, {
      CKV_AWS_158: 'CloudWatch Logs encrypts log data at rest by default; the logs hold instance ids, names and addresses, nothing secret.',
    });

    const role = this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'ec2-dns function: exactly the calls the code makes (see docs/deploy.md)',
      inlinePolicies: {
        ec2dns: new iam.PolicyDocument({
          statements: functionPolicyStatements({
            partition,
            account: stack.account,
            nameTag,
            domains,
            zoneIds,
            tableArn: this.table.tableArn,
            queueArn: this.queue.queueArn,
            logGroupArn: logGroup.logGroupArn,
            memberRoleArns: accounts.map((a) => `arn:${partition}:iam::${a}:role/${memberRoleName}`),
            lifecycleGroups: (props.lifecycleHooks ?? []).length > 0 ? props.lifecycleGroups ?? [] : [],
            reverseRecords: props.reverseRecords === true,
          }),
        }),
      },
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeInstances, route53:ListHostedZones and (with lifecycle hooks) autoscaling:DescribeAutoScalingInstances and DescribeLifecycleHooks do not support resource-level permissions, so their resource must be "*".',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*]',
      reason: 'ec2:CreateTags must reach any instance of this account that carries the name tag; it is limited to instances and, by an aws:TagKeys condition, to the status tag alone.',
    });
    if ((props.lifecycleHooks ?? []).length > 0) {
      acknowledgeLifecycleGroups(role, props.lifecycleGroups ?? []);
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:route53:::change/*]',
        reason: 'route53:GetChange of the change batches the function itself submitted: their ids are only known when Route53 answers.',
      });
    }

    const environment: Record<string, string> = {
      LOCK_TABLE: this.table.tableName,
      // Fn.join joins plain lists at synth time, list tokens in CloudFormation.
      ALLOWED_DOMAINS: Fn.join(',', domains),
      NAME_TAG: nameTag,
      RECORD_TTL: Tokenization.stringifyNumber(props.recordTtl ?? DEFAULTS.recordTtl),
      // The function's own queue, where a sharded reconcile sends its shards (always set: a
      // sharded run may also be started by hand).
      QUEUE_URL: this.queue.queueUrl,
    };
    // Only when set (a parameter of the release template is always passed; empty means
    // derived): both functions get the same id (the Terraform module does the same).
    const deploymentId = this.deploymentId =
      props.deploymentId === undefined || props.deploymentId === '' ? undefined : props.deploymentId;
    if (deploymentId !== undefined) environment.DEPLOYMENT_ID = deploymentId;
    // The same for both functions, each only when set (the Terraform module does the same):
    // the endpoint's markers look like the reconciler's, and both pace Route53 alike.
    const markerStyle = props.markerStyle === undefined || (props.markerStyle as string) === ''
      ? undefined : props.markerStyle;
    if (markerStyle !== undefined) environment.MARKER_STYLE = markerStyle;
    const { route53RequestsPerSecond, route53ChangesPerSecond } = props;
    if (route53RequestsPerSecond !== undefined) {
      environment.ROUTE53_REQUESTS_PER_SECOND = Tokenization.stringifyNumber(route53RequestsPerSecond);
    }
    if (route53ChangesPerSecond !== undefined) {
      environment.ROUTE53_CHANGES_PER_SECOND = Tokenization.stringifyNumber(route53ChangesPerSecond);
    }
    if (props.reconcileConcurrency !== undefined) {
      environment.RECONCILE_CONCURRENCY = String(props.reconcileConcurrency);
    }
    // Several accounts and regions: each variable only when it differs from the function's
    // default (the Terraform module does the same).
    if (accounts.length > 0) environment.ACCOUNTS = accounts.join(',');
    if (regions !== undefined) environment.REGIONS = regions.join(',');
    if (memberRoleName !== DEFAULT_MEMBER_ROLE) environment.MEMBER_ROLE = memberRoleName;
    const lifecycleHooks = [...new Set(props.lifecycleHooks ?? [])].sort();
    if (lifecycleHooks.length > 0) environment.LIFECYCLE_HOOKS = lifecycleHooks.join(',');
    if (props.sharedNames === true) environment.SHARED_NAMES = 'true';
    if (props.reverseRecords === true) environment.REVERSE_RECORDS = 'true';
    if (props.shardedReconcile === true) environment.SHARDED_RECONCILE = 'true';
    if (props.shardSize !== undefined) environment.SHARD_SIZE = Tokenization.stringifyNumber(props.shardSize);

    this.function = new lambda.Function(this, 'Function', {
      functionName: props.functionName,
      description: 'ec2-dns: Route53 A/AAAA records for EC2 instances tagged with ' + nameTag,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: props.code ?? lambda.Code.fromAsset(props.codePath as string),
      memorySize: props.memorySize ?? DEFAULTS.memorySize,
      timeout,
      role,
      environment,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      // Old versions stay when a deploy publishes a new one: they are what a rollback
      // points the alias back at. Deleting the function deletes them all.
      currentVersionOptions: { removalPolicy: RemovalPolicy.RETAIN },
    });
    skipCheckov(this.function, {
      CKV_AWS_115: 'Concurrency is bounded by the SQS event source mapping (ScalingConfig.MaximumConcurrency); reserving account concurrency would only take it from other functions.',
      CKV_AWS_116: 'The function is invoked synchronously by the SQS event source mapping; failed messages go to the queue\'s dead-letter queue, so a function DLQ (async invokes only) would never receive anything.',
      CKV_AWS_117: 'The function only calls AWS APIs (EC2, Route53, DynamoDB); it needs no VPC resources, and a VPC would add NAT or endpoints for nothing.',
      CKV_AWS_173: 'The environment holds no secrets (table name, domains, tag key, TTL); the default encryption at rest with the AWS managed key applies.',
    });

    // cfn-lint W3005: aws-cdk-lib adds a DependsOn on the role that the Role GetAtt already
    // implies; redundant, harmless, and not ours to remove.
    (this.function.node.defaultChild as lambda.CfnFunction).addMetadata('cfn-lint', {
      config: { ignore_checks: ['W3005'] },
    });

    // currentVersion is a version whose logical id hashes the function's code and
    // configuration: a deploy that changes either publishes a new version (versions are
    // immutable snapshots of both), and the alias moves to it.
    this.alias = new lambda.Alias(this, 'LiveAlias', {
      aliasName: LIVE_ALIAS,
      version: this.function.currentVersion,
      description: 'ec2-dns: the version the queue invokes; roll back with aws lambda update-alias',
    });

    // ---- Configuration, recorded during the deploy -------------------------------------
    // The function records its configuration (domains, name tag, table, deployment id, …)
    // in the lock table, where ec2-dns-ctl reads it, at its first cold start; an event may
    // be long in coming. So the deploy asks for it: a custom resource served by the function
    // itself (no provider function, no extra asset: the release template deploys it too).
    // CloudFormation invokes $LATEST, updated before this resource (the ServiceToken refers
    // to the function), with the deployer's rights (no invoke grant). The function records,
    // then answers SUCCESS (PhysicalResourceId ec2-dns-configuration, Data LockTable,
    // DeploymentId, Version) or FAILED with the reason, which fails the deploy; Delete
    // changes nothing. It ignores the properties: they are there to send an Update, and so a
    // new record, whenever the function's environment or code changes (the asset's S3 key is
    // its hash; from a bucket, the key and version).
    const cfnFunction = this.function.node.defaultChild as lambda.CfnFunction;
    const code = cfnFunction.code;
    this.configuration = new CustomResource(this, 'Configuration', {
      resourceType: CONFIGURATION_RESOURCE_TYPE,
      serviceToken: this.function.functionArn,
      properties: {
        // Resolved at synth, so that environment variables added later are in it too.
        Environment: Lazy.any({ produce: () => stack.resolve(cfnFunction.environment)?.variables ?? {} }),
        Code: Token.isUnresolved(code) ? code : {
          S3Bucket: (code as lambda.CfnFunction.CodeProperty).s3Bucket,
          S3Key: (code as lambda.CfnFunction.CodeProperty).s3Key,
          S3ObjectVersion: (code as lambda.CfnFunction.CodeProperty).s3ObjectVersion,
          ImageUri: (code as lambda.CfnFunction.CodeProperty).imageUri,
          ZipFile: (code as lambda.CfnFunction.CodeProperty).zipFile,
        },
      },
      // CloudFormation invokes the function asynchronously: a run that crashes or times out
      // answers nothing, Lambda tries it twice more, and without this limit the deploy would
      // wait an hour for an answer. Two runs and Lambda's retry delay fit.
      serviceTimeout: Duration.seconds(Math.min(3600, 2 * timeout.toSeconds() + 120)),
    });
    // The function's rights, the lock table's included, before it is asked to write (the
    // role and any policy attached to it later, e.g. by addToRolePolicy).
    this.configuration.node.addDependency(role);

    // Reads events from the queue into the alias; failed records are reported per message.
    new lambda.EventSourceMapping(this, 'QueueSource', {
      target: this.alias,
      eventSourceArn: this.queue.queueArn,
      batchSize: props.batchSize ?? DEFAULTS.batchSize,
      maxBatchingWindow: props.batchingWindow ?? Duration.seconds(DEFAULTS.batchingWindowSeconds),
      maxConcurrency: props.maxConcurrency ?? DEFAULTS.maxConcurrency,
      reportBatchItemFailures: true,
    });

    // ---- Triggers --------------------------------------------------------------------
    // The patterns match events of any account and region: those forwarded by members
    // (Ec2DnsMember) keep their own `account` and `region`.
    const target = new QueueTarget(this.queue, this.eventDeadLetterQueue);
    const patterns = instanceEventPatterns(nameTag);
    const stateChange = new events.Rule(this, 'InstanceStateChangeRule', {
      description: 'ec2-dns: an EC2 instance changed state',
      eventPattern: patterns.stateChange,
      targets: [target],
    });
    const tagChange = new events.Rule(this, 'TagChangeRule', {
      description: `ec2-dns: the ${nameTag} tag of an EC2 instance changed`,
      // Only changes of the name tag: the function's own writes of `<tag>-status` must not
      // trigger it again.
      eventPattern: patterns.tagChange,
      targets: [target],
    });
    const addressChange = new events.Rule(this, 'AddressChangeRule', {
      description: 'ec2-dns: an Elastic IP address was associated with or disassociated from an EC2 instance, or IPv6 addresses were assigned to or unassigned from a network interface (CloudTrail)',
      // An Elastic IP moved onto or off an instance changes its public IPv4 without a state
      // change, IPv6 addresses assigned to or unassigned from its network interface its AAAA
      // records. EventBridge receives these API calls only where a CloudTrail trail logs the
      // account's management events; without one the schedule below picks the change up.
      eventPattern: patterns.addressChange,
      targets: [target],
    });
    const schedule = new events.Rule(this, 'ReconcileScheduleRule', {
      description: 'ec2-dns: reconcile all instances (backstop for lost events)',
      schedule: props.reconcileSchedule ?? events.Schedule.expression(DEFAULTS.scheduleExpression),
      targets: [target],
    });
    // Auto Scaling lifecycle actions of the listed hooks only (LIFECYCLE_HOOKS).
    const hooks = props.lifecycleHooks ?? [];
    const lifecycle = hooks.length > 0 ? new events.Rule(this, 'LifecycleActionRule', {
      description: 'ec2-dns: an Auto Scaling lifecycle action of a listed hook waits for DNS',
      eventPattern: lifecycleEventPattern(hooks),
      targets: [target],
    }) : undefined;
    this.rules = { stateChange, tagChange, addressChange, schedule, lifecycle };

    // Only these rules may send, to the queue and to the event dead-letter queue.
    const ruleArns = [stateChange.ruleArn, tagChange.ruleArn, addressChange.ruleArn, schedule.ruleArn,
      ...(lifecycle ? [lifecycle.ruleArn] : [])];
    for (const q of [this.queue, this.eventDeadLetterQueue]) {
      q.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'AllowEc2DnsRules',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [q.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': ruleArns } },
      }));
    }

    // ---- Events of other accounts -----------------------------------------------------
    // The default bus admits the events the members forward: one statement per account, or
    // one for the organisation, each its own AWS::Events::EventBusPolicy, which adds it to
    // the bus's policy next to any others (the Terraform module's
    // aws_cloudwatch_event_permission does the same). A statement id is unique in the
    // account: it starts with the function name. Same-account forwarders (other regions)
    // need none: their role's policy suffices. Without a function name, the stack's name
    // (unique in the account and region), so that two deployments side by side, or a stack
    // and a Terraform deployment of the default name ec2-dns, never share a statement.
    const sidPrefix = boundedName(props.functionName && !Token.isUnresolved(props.functionName)
      ? props.functionName : (Token.isUnresolved(stack.stackName) ? 'ec2-dns' : stack.stackName), 40);
    const busStatement = (sid: string, principal: unknown, condition?: unknown) => {
      this.busStatementIds[sid.slice(sidPrefix.length + 1)] = sid;
      return busPolicy(sid, principal, condition);
    };
    const busPolicy = (sid: string, principal: unknown, condition?: unknown) => new events.CfnEventBusPolicy(this,
      `BusPolicy${sid.slice(sidPrefix.length + 1).replace(/^./, (c) => c.toUpperCase())}`, {
        eventBusName: 'default',
        statementId: sid,
        statement: {
          Sid: sid,
          Effect: 'Allow',
          Principal: principal,
          Action: 'events:PutEvents',
          Resource: this.eventBusArn,
          ...(condition ? { Condition: condition } : {}),
        },
      });
    if (props.organizationId !== undefined) {
      busStatement(`${sidPrefix}-organization`, '*', { StringEquals: { 'aws:PrincipalOrgID': props.organizationId } });
    } else {
      for (const account of accounts) {
        busStatement(`${sidPrefix}-${account}`, { AWS: `arn:${partition}:iam::${account}:root` });
      }
    }
    if (accounts.length > 0 && Token.isUnresolved(stack.account)) {
      // An environment-agnostic stack learns its account at deploy time.
      new CfnRule(this, 'OwnAccountNotListed', {
        assertions: [{
          assert: Fn.conditionNot(Fn.conditionContains(accounts, Aws.ACCOUNT_ID)),
          assertDescription: 'accounts must not list the stack\'s own account (the reconciler manages it with its own role)',
        }],
      });
    }

    // ---- Alarms ----------------------------------------------------------------------
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) => {
      const a = new cloudwatch.Alarm(this, id, {
        metric,
        alarmDescription: description,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (props.alarmTopic) {
        a.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
        a.addOkAction(new cwActions.SnsAction(props.alarmTopic));
      }
      return a;
    };
    const period = Duration.minutes(5);
    this.alarms = [
      alarm('DeadLetterQueueAlarm',
        this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
        'ec2-dns: events the function failed on repeatedly are waiting in the dead-letter queue'),
      alarm('EventDeadLetterQueueAlarm',
        this.eventDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
        'ec2-dns: EventBridge could not deliver events to the queue'),
      alarm('ErrorsAlarm', this.function.metricErrors({ period, statistic: 'Sum' }),
        'ec2-dns: the function returned errors'),
      alarm('ThrottlesAlarm', this.function.metricThrottles({ period, statistic: 'Sum' }),
        'ec2-dns: the function was throttled'),
    ];

    // ---- DDNS endpoint (opt-in) -------------------------------------------------------
    if (props.enableDdns) {
      this.ddns = new Ddns(this, 'Ddns', {
        table: this.table,
        domains,
        zoneIds,
        nameTag,
        recordTtl: props.recordTtl ?? DEFAULTS.recordTtl,
        deploymentId,
        markerStyle,
        route53RequestsPerSecond,
        route53ChangesPerSecond,
        reverseRecords: props.reverseRecords === true,
        logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        functionName: props.functionName,
      }, ddnsProps(props));
    }

    // ---- Dashboard -------------------------------------------------------------------
    if (props.dashboard ?? true) {
      this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
        dashboardName: props.dashboardName,
        widgets: dashboardRows({
          functionName: this.function.functionName,
          logGroupName: this.logGroup.logGroupName,
          queueName: this.queue.queueName,
          deadLetterQueueName: this.deadLetterQueue.queueName,
          eventDeadLetterQueueName: this.eventDeadLetterQueue.queueName,
          ddnsFunctionName: this.ddns?.function.functionName,
          ddnsLogGroupName: this.ddns?.logGroup.logGroupName,
        }),
      });
    }

    // ---- Outputs ---------------------------------------------------------------------
    new CfnOutput(this, 'FunctionName', { value: this.function.functionName, description: 'for aws lambda invoke' });
    new CfnOutput(this, 'FunctionArn', { value: this.function.functionArn });
    new CfnOutput(this, 'LiveAliasArn', { value: this.alias.functionArn, description: 'the alias the queue invokes' });
    new CfnOutput(this, 'RollbackCommand', {
      value: rollbackCommand(this.function.functionName),
      description: 'points the alias at an earlier version (aws lambda list-versions-by-function lists them)',
    });
    new CfnOutput(this, 'LockTableName', {
      value: this.table.tableName, description: 'the lock table (LOCK_TABLE), where the function recorded its configuration during the deploy',
    });
    new CfnOutput(this, 'Region', { value: Aws.REGION, description: 'the region of the function and the lock table' });
    new CfnOutput(this, 'NextSteps', {
      value: nextSteps(this.function.functionName),
      description: 'what to run now, one command a line: status and plan with ec2-dns-ctl, then a dry run of the reconcile of everything by the function',
    });
    new CfnOutput(this, 'QueueUrl', { value: this.queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'EventDeadLetterQueueUrl', { value: this.eventDeadLetterQueue.queueUrl });
    new CfnOutput(this, 'RoleArn', {
      value: role.roleArn, description: 'the reconciler\'s role, which member roles trust (reconcilerRoleArn of Ec2DnsMember)',
    });
    new CfnOutput(this, 'EventBusArn', {
      value: this.eventBusArn, description: 'the default event bus members forward instance events to',
    });
    if (this.dashboard) {
      new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboardName });
    }
    this.deploymentOutput = new CfnOutput(this, 'Deployment', {
      value: this.deploymentSummary(),
      description: 'the id both functions are given (DEPLOYMENT_ID; empty: derived by the function) and every name this deployment gives a resource in its account and region (docs/deployments.md)',
    });
  }

  /**
   * What tells this deployment apart from another in the same account and region, as JSON
   * (output Deployment; the Terraform module's output `deployment`, with the same keys):
   * `deployment_id`, the DEPLOYMENT_ID both functions are given (empty when they derive it),
   * and `names`, every name the deployment gives a resource there, with the default bus's
   * statement ids and the SSM prefix the DDNS function reads. Two deployments side by side
   * share none of them. `withDdns: false` leaves the DDNS endpoint's names out.
   */
  public deploymentSummary(withDdns = true): string {
    const alarmKeys = ['dlq', 'event_dlq', 'errors', 'throttles'];
    const ddnsAlarmKeys = ['errors', 'throttles', 'server_errors'];
    const ddns = withDdns ? this.ddns : undefined;
    const r = this.rules;
    const names: Record<string, string> = {
      function: this.function.functionName,
      role: this.role.roleName,
      log_group: this.logGroup.logGroupName,
      lock_table: this.table.tableName,
      queue: this.queue.queueName,
      dead_letter_queue: this.deadLetterQueue.queueName,
      event_dead_letter_queue: this.eventDeadLetterQueue.queueName,
      'rule:state': r.stateChange.ruleName,
      'rule:tag': r.tagChange.ruleName,
      'rule:address': r.addressChange.ruleName,
      'rule:schedule': r.schedule.ruleName,
      ...Object.fromEntries(this.alarms.map((a, i) => [`alarm:${alarmKeys[i]}`, a.alarmName])),
      ...Object.fromEntries(Object.entries(this.busStatementIds).map(([k, sid]) => [`bus_statement:${k}`, sid])),
      ...(this.dashboard ? { dashboard: this.dashboard.dashboardName } : {}),
      ...(ddns ? {
        ddns_function: ddns.function.functionName,
        ddns_role: ddns.role.roleName,
        ddns_log_group: ddns.logGroup.logGroupName,
        'rule:ddns_sweep': ddns.sweepRule.ruleName,
        host_secrets_prefix: ddns.hostSecretsPrefix,
        ...Object.fromEntries(ddns.alarms.map((a, i) => [`alarm:ddns_${ddnsAlarmKeys[i]}`, a.alarmName])),
        ...(ddns.alertKey ? { alert_topic: ddns.alertTopic.topicName } : {}),
      } : {}),
    };
    return Stack.of(this).toJsonString({ deployment_id: this.deploymentId ?? '', names });
  }
}

/** The `ddns*` props, as the DDNS construct takes them. */
function ddnsProps(props: Ec2DnsProps): DdnsProps {
  return {
    codePath: props.ddnsCodePath,
    code: props.ddnsCode,
    reservedConcurrency: props.ddnsReservedConcurrency,
    hostSecretsPrefix: props.ddnsHostSecretsPrefix,
    alertTopic: props.ddnsAlertTopic,
    cloudfront: props.ddnsCloudfront,
    originSecret: props.ddnsOriginSecret,
    domainName: props.ddnsDomainName,
    certificateArn: props.ddnsCertificateArn,
  };
}

/** Inputs of the function's policy; all ARNs may be tokens. */
export interface FunctionPolicyInputs {
  readonly partition: string;
  readonly account: string;
  readonly nameTag: string;
  readonly domains: string[];
  readonly zoneIds: string[];
  readonly tableArn: string;
  readonly queueArn: string;
  readonly logGroupArn: string;
  /** The member roles of the other managed accounts (sts:AssumeRole on exactly these). */
  readonly memberRoleArns?: string[];
  /** The groups whose lifecycle actions it completes (none: no Auto Scaling right at all). */
  readonly lifecycleGroups?: string[];
  /** REVERSE_RECORDS: PTR among the record types it may change. */
  readonly reverseRecords?: boolean;
}

/**
 * The function's permissions: one statement per thing the code does, nothing else.
 * docs/deploy.md has the same list as a table; the Terraform module has the same statements.
 * The code's call of sts:GetCallerIdentity at start needs no permission (AWS allows it to
 * every principal), so it has no statement.
 */
export function functionPolicyStatements(i: FunctionPolicyInputs): iam.PolicyStatement[] {
  const memberRoleArns = i.memberRoleArns ?? [];
  return [
    // Observe and report, in every region of this account (shared.ts: each member role holds
    // the same statements for its account).
    ...instanceStatements(i.partition, i.account, i.nameTag),
    // Other accounts: their member role, which holds the same two statements there (the
    // session name is ec2-dns). Exactly the listed accounts' roles, no wildcard.
    ...(memberRoleArns.length > 0 ? [new iam.PolicyStatement({
      sid: 'AssumeMemberRoles',
      actions: ['sts:AssumeRole'],
      resources: memberRoleArns,
    })] : []),
    // Find zones, read records, change A/AAAA records and TXT markers (shared.ts: the DDNS
    // endpoint holds the same statements).
    ...recordStatements(i),
    lockTableStatement(i.tableArn),
    // Logs of the function, into its own log group.
    new iam.PolicyStatement({
      sid: 'WriteLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [i.logGroupArn], // the log group's ARN ends in `:*` (its streams)
    }),
    // What the SQS event source mapping needs to poll the queue and delete handled
    // messages (the code's own SQS call is in RetryFailedMessages).
    new iam.PolicyStatement({
      sid: 'ConsumeQueue',
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      resources: [i.queueArn],
    }),
    // Completing lifecycle actions (docs/fleets.md), only when hooks are listed: the groups'
    // lifecycle states and hook timeouts, the actions of the listed groups only (shared.ts:
    // each member role holds the same statements for its account's groups), and Route53's
    // GetChange to wait for INSYNC.
    ...((i.lifecycleGroups ?? []).length > 0 ? [
      ...lifecycleStatements(i.partition, i.account, i.lifecycleGroups ?? []),
      new iam.PolicyStatement({
        sid: 'WaitForChanges',
        actions: ['route53:GetChange'],
        resources: [`arn:${i.partition}:route53:::change/*`],
      }),
    ] : []),
    // Retry: the function sets the visibility of each message it failed on (30 s doubled
    // per receive, at most 15 minutes; see DEFAULTS.maxReceiveCount), on the event queue
    // only. ChangeMessageVisibilityBatch is authorised by this action too.
    new iam.PolicyStatement({
      sid: 'RetryFailedMessages',
      actions: ['sqs:ChangeMessageVisibility'],
      resources: [i.queueArn],
    }),
    // Sharded reconciles: each shard is a message the function sends to its own queue
    // (QUEUE_URL; SendMessageBatch is authorised by this action too). Not queue.grantSendMessages,
    // which adds GetQueueUrl (never called) and GetQueueAttributes (ConsumeQueue has it); the
    // queue is encrypted with SQS-managed keys, so no KMS right either.
    new iam.PolicyStatement({
      sid: 'SendShards',
      actions: ['sqs:SendMessage'],
      resources: [i.queueArn],
    }),
    // Sharded reconciles: the lock table's ItemCount sizes its segments. Only the reconciler:
    // the DDNS endpoint shares lockTableStatement, not this.
    new iam.PolicyStatement({
      sid: 'DescribeLockTable',
      actions: ['dynamodb:DescribeTable'],
      resources: [i.tableArn],
    }),
  ];
}
