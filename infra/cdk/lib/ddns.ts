/**
 * The DDNS endpoint of ec2-dns (opt-in, created by Ec2Dns when `enableDdns` is set): hosts
 * outside AWS keep names under the same fenced ownership as instances, with the protocols
 * their routers already speak (dyndns2 `/nic/update`, `/checkip`, the AWS serverless-DDNS
 * sample's `?mode=get|set`).
 *
 * What it creates (the Terraform module's ddns.tf creates the same; ../scripts/parity.py
 * proves it):
 * - the `ec2-dns-ddns` function (provided.al2023, arm64) with its own log group and a role
 *   without any EC2 right, a reserved concurrency as the cost cap of a public endpoint;
 * - a version published on every change of code or configuration and the alias `live`
 *   pointing at it, which the function URL and the sweep invoke;
 * - a function URL on the alias with AuthType NONE: routers cannot sign requests, the code
 *   authenticates them (HTTP Basic, or the sample protocol's hash), so the URL is public by
 *   design;
 * - the alert topic (or the operator's), encrypted with a customer managed KMS key;
 * - a schedule that runs the sweep (alerts about hosts silent past their lease);
 * - alarms on errors, throttles (the concurrency cap) and failed answers (dnserr, 911, 5xx:
 *   the function's own `Errors` metric, since dyndns2 failures are HTTP 200 to Lambda);
 * - optionally a CloudFront distribution in front of the URL, for routers that only speak
 *   plain HTTP or need a stable host name.
 */
import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, Tokenization, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE } from './dashboard';
import {
  check, DOMAIN_RE, LIVE_ALIAS, lockTableStatement, normaliseDomain, recordStatements, RecordPolicyInputs, rollbackCommand,
  skipCheckov,
} from './shared';

/** Defaults and fixed settings shared with the Terraform module (ddns.tf, variables.tf). */
export const DDNS_DEFAULTS = {
  reservedConcurrency: 5,
  hostSecretsPrefix: '/ec2-dns/hosts/',
  // A request is one credential check (Argon2id, 19 MiB) and a few DynamoDB/Route53 calls:
  // well below 15 s; a short timeout bounds what a stuck call can cost.
  timeoutSeconds: 15,
  memorySize: 256,
  sweepSchedule: 'rate(15 minutes)',
  // Namespace of the function's own metrics (lambda/src/metrics.rs): `Errors` counts failed
  // answers (dyndns2 `dnserr` and `911`, sent with HTTP 200 as the protocol wants, and any
  // 5xx) and a failed sweep; Lambda's Errors metric sees none of them.
  metricNamespace: METRIC_NAMESPACE,
  // The managed CloudFront policies (the same ids in every account).
  cachingDisabledPolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad',
  allViewerExceptHostHeaderPolicyId: 'b689b0a8-53d0-40ab-baf2-68738e2966ac',
  originVerifyHeader: 'x-origin-verify',
} as const;

/** The operator's choices for the endpoint (the `ddns*` props of Ec2Dns). */
export interface DdnsProps {
  /** Path of the zip; give this or `code`. */
  readonly codePath?: string;
  /** The code as any `lambda.Code`; give this or `codePath`. */
  readonly code?: lambda.Code;
  readonly reservedConcurrency?: number;
  readonly hostSecretsPrefix?: string;
  readonly alertTopic?: sns.ITopic;
  readonly cloudfront?: boolean;
  readonly originSecret?: string;
  readonly domainName?: string;
  readonly certificateArn?: string;
}

/** What the endpoint shares with the reconciler. */
export interface DdnsShared {
  readonly table: dynamodb.ITable;
  readonly domains: string[];
  readonly zoneIds: string[];
  readonly nameTag: string;
  readonly recordTtl: number;
  /** DEPLOYMENT_ID, the reconciler's (unset: derived by the function). */
  readonly deploymentId?: string;
  /** MARKER_STYLE, the reconciler's (unset: the function's default, plain). */
  readonly markerStyle?: string;
  /** ROUTE53_REQUESTS_PER_SECOND, the reconciler's (unset: the function's default). */
  readonly route53RequestsPerSecond?: number;
  /** ROUTE53_CHANGES_PER_SECOND, the reconciler's (unset: the function's default). */
  readonly route53ChangesPerSecond?: number;
  /** REVERSE_RECORDS of the reconciler: the record statements are the same for both. */
  readonly reverseRecords?: boolean;
  readonly logRetention: logs.RetentionDays;
  readonly functionName?: string;
}

// At least one level below the root: a prefix of "/" would reach every parameter of the
// account. SSM reserves names that begin with "aws" or "ssm".
const PREFIX_RE = /^\/([A-Za-z0-9_.-]+\/)+$/;
// Printable, header-safe characters; long enough not to be guessed.
const ORIGIN_SECRET_RE = /^[A-Za-z0-9_.~+\/=-]{16,256}$/;
// CloudFront takes certificates from us-east-1 only.
const CERTIFICATE_RE = /^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate\/[A-Za-z0-9-]+$/;

/**
 * Adds every problem of the DDNS settings to `p` (reported with the other props). The same
 * rules as the Terraform variables' validations: the settings are checked even while the
 * endpoint is off, so that a setting that would be ignored is reported.
 */
export function validateDdnsProps(enabled: boolean, d: DdnsProps, p: string[]): void {
  check(p, !d.cloudfront || enabled, 'ddnsCloudfront needs enableDdns');
  check(p, !enabled || (d.codePath !== undefined && d.codePath !== '') || d.code !== undefined,
    'ddnsCodePath is required with enableDdns (or ddnsCode)');
  check(p, d.codePath === undefined || d.code === undefined, 'give at most one of ddnsCodePath and ddnsCode');
  const conc = d.reservedConcurrency ?? DDNS_DEFAULTS.reservedConcurrency;
  check(p, Number.isInteger(conc) && conc >= 1 && conc <= 1000, 'ddnsReservedConcurrency must be an integer in 1..1000');
  const prefix = d.hostSecretsPrefix ?? DDNS_DEFAULTS.hostSecretsPrefix;
  check(p, PREFIX_RE.test(prefix) && prefix.length <= 900 && !/^\/(aws|ssm)/i.test(prefix),
    `ddnsHostSecretsPrefix: '${prefix}' must be an SSM path like /ec2-dns/hosts/ (leading and trailing slash, at least one level, not /aws… or /ssm…)`);
  if (d.cloudfront) {
    check(p, d.originSecret !== undefined && ORIGIN_SECRET_RE.test(d.originSecret),
      'ddnsOriginSecret is required with ddnsCloudfront: 16..256 of A-Z a-z 0-9 _ . ~ + / = -');
  } else {
    check(p, d.originSecret === undefined, 'ddnsOriginSecret is only used with ddnsCloudfront');
  }
  check(p, (d.domainName === undefined) === (d.certificateArn === undefined),
    'ddnsDomainName and ddnsCertificateArn go together');
  if (d.domainName !== undefined) {
    check(p, d.cloudfront === true, 'ddnsDomainName needs ddnsCloudfront');
    check(p, DOMAIN_RE.test(normaliseDomain(d.domainName)), `ddnsDomainName: '${d.domainName}' is not a domain name`);
  }
  if (d.certificateArn !== undefined) {
    check(p, CERTIFICATE_RE.test(d.certificateArn), 'ddnsCertificateArn must be an ACM certificate ARN in us-east-1');
  }
}

/** Inputs of the endpoint's policy; all ARNs may be tokens. */
export interface DdnsPolicyInputs extends RecordPolicyInputs {
  readonly tableArn: string;
  readonly logGroupArn: string;
  /** `arn:…:parameter<prefix>*` */
  readonly secretsParameterArn: string;
  readonly alertTopicArn: string;
}

/**
 * The endpoint's permissions: one statement per thing the code does. No EC2 right at all:
 * the endpoint never describes an instance (a name an instance holds is simply not the
 * host's). sts:GetCallerIdentity at start needs no permission.
 */
export function ddnsPolicyStatements(i: DdnsPolicyInputs): iam.PolicyStatement[] {
  return [
    // Route53 and the lock table exactly as the reconciler: the same fenced write path.
    ...recordStatements(i),
    lockTableStatement(i.tableArn),
    new iam.PolicyStatement({
      sid: 'WriteLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [i.logGroupArn], // the log group's ARN ends in `:*` (its streams)
    }),
    // The shared secrets of hosts that use the sample protocol, one SecureString parameter
    // per host under the prefix. They are encrypted with the account's AWS managed key
    // aws/ssm (ec2-dns-ctl writes them without a key id, and has no customer key option),
    // whose key policy lets every principal of the account decrypt through SSM: no
    // kms:Decrypt statement is needed, and none is given.
    new iam.PolicyStatement({
      sid: 'ReadHostSecrets',
      actions: ['ssm:GetParameter'],
      resources: [i.secretsParameterArn],
    }),
    // Alerts about hosts (failed updates, silent past their lease). A topic created here is
    // encrypted with a key whose policy admits SNS on behalf of this account's principals,
    // so sns:Publish is all the role needs.
    new iam.PolicyStatement({
      sid: 'PublishAlerts',
      actions: ['sns:Publish'],
      resources: [i.alertTopicArn],
    }),
  ];
}

/** The key of the alert topic: administered by the account, usable through SNS only. */
export function alertKeyPolicyStatements(partition: string, region: string, account: string, urlSuffix: string): iam.PolicyStatement[] {
  const alarms = `arn:${partition}:cloudwatch:${region}:${account}:alarm:*`;
  return [
    // The account administers the key (without it the key could not be managed at all).
    new iam.PolicyStatement({
      sid: 'AdministerKey',
      principals: [new iam.ArnPrincipal(`arn:${partition}:iam::${account}:root`)],
      actions: ['kms:*'],
      resources: ['*'],
    }),
    // CloudWatch alarms of this account publish to the topic. This is why the key is a
    // customer managed one: the policy of the AWS managed key aws/sns cannot admit
    // CloudWatch, and alarms could not notify a topic encrypted with it.
    new iam.PolicyStatement({
      sid: 'AlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: ['*'],
      conditions: {
        StringEquals: { 'aws:SourceAccount': account },
        ArnLike: { 'aws:SourceArn': alarms },
      },
    }),
    // What aws/sns allows: principals of this account, through SNS only. Who may publish
    // to the topic is decided by sns:Publish (the function's role), not by the key.
    new iam.PolicyStatement({
      sid: 'PublishThroughSns',
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: ['*'],
      conditions: {
        StringEquals: { 'kms:CallerAccount': account, 'kms:ViaService': `sns.${region}.${urlSuffix}` },
      },
    }),
  ];
}

export class Ddns extends Construct {
  /** The function ($LATEST); invokers use `alias`. */
  public readonly function: lambda.Function;
  /** The function's role (no EC2 right). */
  public readonly role: iam.Role;
  /** The SSM parameter prefix of the hosts' shared secrets (HOST_SECRETS_PREFIX). */
  public readonly hostSecretsPrefix: string;
  /** The alias `live`: the published version the function URL and the sweep invoke. */
  public readonly alias: lambda.Alias;
  /** The function's log group. */
  public readonly logGroup: logs.LogGroup;
  public readonly functionUrl: lambda.FunctionUrl;
  public readonly alertTopic: sns.ITopic;
  /** The key of the alert topic, when the topic is created here. */
  public readonly alertKey?: kms.Key;
  public readonly sweepRule: events.Rule;
  public readonly alarms: cloudwatch.Alarm[];
  public readonly distribution?: cloudfront.Distribution;

  constructor(scope: Construct, id: string, shared: DdnsShared, props: DdnsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { partition, region, account, urlSuffix } = stack;
    const prefix = this.hostSecretsPrefix = props.hostSecretsPrefix ?? DDNS_DEFAULTS.hostSecretsPrefix;

    // ---- Alert topic -----------------------------------------------------------------
    if (props.alertTopic) {
      this.alertTopic = props.alertTopic;
    } else {
      this.alertKey = new kms.Key(this, 'AlertKey', {
        description: 'ec2-dns: encrypts the DDNS alert topic',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.DESTROY,
        policy: new iam.PolicyDocument({ statements: alertKeyPolicyStatements(partition, region, account, urlSuffix) }),
      });
      skipCheckov(this.alertKey, {
        CKV_AWS_33: 'The wildcard principal is limited by kms:CallerAccount to this account and by kms:ViaService to SNS: the access the AWS managed aws/sns key gives. Who may publish is decided by sns:Publish.',
      });
      const topic = new sns.Topic(this, 'AlertTopic', {
        displayName: 'ec2-dns alerts',
        masterKey: this.alertKey,
      });
      topic.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'DenyInsecureTransport',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: { Bool: { 'aws:SecureTransport': 'false' } },
      }));
      // The topic policy replaces SNS's default one, which admitted CloudWatch alarms of
      // the account; this statement admits them again, and only them.
      topic.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'AllowAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
        },
      }));
      this.alertTopic = topic;
    }

    // ---- Function --------------------------------------------------------------------
    const logGroup = this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: shared.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    skipCheckov(logGroup, {
      CKV_AWS_158: 'CloudWatch Logs encrypts log data at rest by default; the logs hold host names, addresses and outcomes, never credentials.',
    });

    const secretsParameterArn = `arn:${partition}:ssm:${region}:${account}:parameter${prefix}*`;
    const role = this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'ec2-dns DDNS endpoint: exactly the calls the code makes, no EC2 right',
      inlinePolicies: {
        ec2dnsddns: new iam.PolicyDocument({
          statements: ddnsPolicyStatements({
            partition,
            domains: shared.domains,
            zoneIds: shared.zoneIds,
            reverseRecords: shared.reverseRecords,
            tableArn: shared.table.tableArn,
            logGroupArn: logGroup.logGroupArn,
            secretsParameterArn,
            alertTopicArn: this.alertTopic.topicArn,
          }),
        }),
      },
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'route53:ListHostedZones does not support resource-level permissions, so its resource must be "*".',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${prefix}*]`,
      reason: 'One SecureString parameter per host under the prefix; ssm:GetParameter only, on that prefix only.',
    });

    const environment: Record<string, string> = {
      // The reconciler's configuration: both functions decide names the same way.
      LOCK_TABLE: shared.table.tableName,
      ALLOWED_DOMAINS: Fn.join(',', shared.domains),
      NAME_TAG: shared.nameTag,
      RECORD_TTL: Tokenization.stringifyNumber(shared.recordTtl),
      HOST_SECRETS_PREFIX: prefix,
      ALERT_TOPIC_ARN: this.alertTopic.topicArn,
    };
    // The reconciler's id: markers the endpoint writes are the deployment's.
    if (shared.deploymentId !== undefined) environment.DEPLOYMENT_ID = shared.deploymentId;
    // The reconciler's marker style and Route53 budget: each process paces its own calls.
    if (shared.markerStyle !== undefined) environment.MARKER_STYLE = shared.markerStyle;
    if (shared.route53RequestsPerSecond !== undefined) {
      environment.ROUTE53_REQUESTS_PER_SECOND = Tokenization.stringifyNumber(shared.route53RequestsPerSecond);
    }
    if (shared.route53ChangesPerSecond !== undefined) {
      environment.ROUTE53_CHANGES_PER_SECOND = Tokenization.stringifyNumber(shared.route53ChangesPerSecond);
    }
    if (props.cloudfront) {
      // Proves that a request came through our distribution, whose viewer-address header
      // then names the caller.
      environment.ORIGIN_SECRET = props.originSecret as string;
    }

    this.function = new lambda.Function(this, 'Function', {
      functionName: shared.functionName ? `${shared.functionName}-ddns` : undefined,
      description: 'ec2-dns DDNS endpoint: names for hosts outside AWS (dyndns2, serverless-DDNS sample protocol)',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: props.code ?? lambda.Code.fromAsset(props.codePath as string),
      memorySize: DDNS_DEFAULTS.memorySize,
      timeout: Duration.seconds(DDNS_DEFAULTS.timeoutSeconds),
      // The cost cap: a public URL can be called by anyone; requests above the cap are
      // throttled (HTTP 429) instead of scaling the bill.
      reservedConcurrentExecutions: props.reservedConcurrency ?? DDNS_DEFAULTS.reservedConcurrency,
      role,
      environment,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      // Old versions stay for rollbacks (see Ec2Dns).
      currentVersionOptions: { removalPolicy: RemovalPolicy.RETAIN },
    });
    skipCheckov(this.function, {
      CKV_AWS_116: 'Invoked synchronously by its function URL; the only asynchronous invocation is the sweep schedule, which runs again in 15 minutes, so a dead-letter queue would hold nothing worth keeping.',
      CKV_AWS_117: 'The function only calls AWS APIs (Route53, DynamoDB, SSM, SNS); it needs no VPC resources, and a VPC would add NAT or endpoints for nothing.',
      CKV_AWS_173: 'Only ORIGIN_SECRET is sensitive, and the same value is in the CloudFront distribution\'s configuration (its custom origin header), readable by whoever can read this function\'s; a customer managed key would not narrow that. It only proves that a request came through our distribution.',
    });
    (this.function.node.defaultChild as lambda.CfnFunction).addMetadata('cfn-lint', {
      config: { ignore_checks: ['W3005'] },
    });

    // A deploy that changes code or configuration publishes a version; the alias moves to it.
    this.alias = new lambda.Alias(this, 'LiveAlias', {
      aliasName: LIVE_ALIAS,
      version: this.function.currentVersion,
      description: 'ec2-dns DDNS: the version the function URL and the sweep invoke; roll back with aws lambda update-alias',
    });

    // Public by design: routers cannot sign requests; the code authenticates each one.
    // On the alias (the URL's Qualifier), so that requests reach the published version.
    // addFunctionUrl grants both permissions a public URL needs since October 2025, on the
    // alias: lambda:InvokeFunctionUrl (FunctionUrlAuthType NONE) and lambda:InvokeFunction
    // when invoked via the function URL, both to any principal.
    this.functionUrl = this.alias.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    skipCheckov(this.functionUrl, {
      CKV_AWS_258: 'Routers cannot sign requests with SigV4: the function authenticates every request itself (HTTP Basic against Argon2id hashes, or the sample protocol\'s hash), rate-limits failures, and its reserved concurrency caps the cost.',
    });

    // ---- Sweep -----------------------------------------------------------------------
    this.sweepRule = new events.Rule(this, 'SweepRule', {
      description: 'ec2-dns: DDNS sweep, alerts about hosts silent past their lease',
      schedule: events.Schedule.expression(DDNS_DEFAULTS.sweepSchedule),
      targets: [new targets.LambdaFunction(this.alias)],
    });

    // ---- Alarms ----------------------------------------------------------------------
    const period = Duration.minutes(5);
    const alarm = (alarmId: string, metric: cloudwatch.IMetric, description: string) => {
      const a = new cloudwatch.Alarm(this, alarmId, {
        metric,
        alarmDescription: description,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(new cwActions.SnsAction(this.alertTopic));
      a.addOkAction(new cwActions.SnsAction(this.alertTopic));
      return a;
    };
    this.alarms = [
      alarm('ErrorsAlarm', this.function.metricErrors({ period, statistic: 'Sum' }),
        'ec2-dns DDNS: the function failed'),
      alarm('ThrottlesAlarm', this.function.metricThrottles({ period, statistic: 'Sum' }),
        'ec2-dns DDNS: requests were refused at the reserved concurrency (the cost cap)'),
      alarm('ServerErrorsAlarm', new cloudwatch.Metric({
        namespace: DDNS_DEFAULTS.metricNamespace,
        metricName: 'Errors',
        dimensionsMap: { Function: this.function.functionName },
        period,
        statistic: 'Sum',
      }), 'ec2-dns DDNS: the endpoint gave failed answers (dnserr or 911 with HTTP 200, or a 5xx), or the sweep failed'),
    ];

    // ---- CloudFront ------------------------------------------------------------------
    if (props.cloudfront) {
      this.distribution = this.cloudfront(props);
    }

    // ---- Outputs ---------------------------------------------------------------------
    new CfnOutput(this, 'FunctionName', { value: this.function.functionName, description: 'the DDNS function' });
    new CfnOutput(this, 'LiveAliasArn', { value: this.alias.functionArn, description: 'the alias the URL and the sweep invoke' });
    new CfnOutput(this, 'RollbackCommand', {
      value: rollbackCommand(this.function.functionName),
      description: 'points the DDNS alias at an earlier version (aws lambda list-versions-by-function lists them)',
    });
    new CfnOutput(this, 'FunctionUrl', { value: this.functionUrl.url, description: 'the DDNS endpoint (HTTPS)' });
    if (this.distribution) {
      new CfnOutput(this, 'CloudfrontDomain', {
        value: this.distribution.distributionDomainName,
        description: 'the DDNS endpoint through CloudFront (HTTP and HTTPS)',
      });
    }
    new CfnOutput(this, 'AlertTopicArn', { value: this.alertTopic.topicArn, description: 'alerts and alarms of the DDNS endpoint' });
  }

  /**
   * CloudFront in front of the function URL. What AWS allows for the Authorization header
   * decides the policies: an origin request policy cannot list it (CloudFront refuses such
   * a policy with HTTP 400), and a cache policy may put it in the cache key only when
   * caching is on. With caching off (the managed CachingDisabled policy: nothing here may
   * ever be cached), the managed AllViewerExceptHostHeader origin request policy is AWS's
   * way to pass it on: every viewer header except Host (Authorization included), all
   * query strings, and CloudFront's viewer headers (CloudFront-Viewer-Address included).
   * It is the policy AWS made for function URL origins, which route on their own Host.
   */
  private cloudfront(props: DdnsProps): cloudfront.Distribution {
    const custom = props.domainName !== undefined && props.certificateArn !== undefined;
    const distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'ec2-dns DDNS endpoint',
      defaultBehavior: {
        // HTTPS to the origin (the URL has no plain HTTP), TLS 1.2.
        origin: new origins.FunctionUrlOrigin(this.functionUrl, {
          customHeaders: { [DDNS_DEFAULTS.originVerifyHeader]: props.originSecret as string },
        }),
        // Plain HTTP from viewers too: many routers' DDNS clients speak nothing else.
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.ALLOW_ALL,
        // The endpoint answers GET and POST.
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.fromCachePolicyId(this, 'CachingDisabled', DDNS_DEFAULTS.cachingDisabledPolicyId),
        originRequestPolicy: cloudfront.OriginRequestPolicy.fromOriginRequestPolicyId(
          this, 'AllViewerExceptHostHeader', DDNS_DEFAULTS.allViewerExceptHostHeaderPolicyId),
        compress: false,
      },
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      httpVersion: cloudfront.HttpVersion.HTTP2,
      enableIpv6: true,
      ...(custom ? {
        domainNames: [normaliseDomain(props.domainName as string)],
        certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn as string),
        minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
      } : {}),
    });
    const reasons: Record<string, string> = {
      CKV_AWS_34: 'Routers that only speak plain HTTP are the reason for the distribution, and the operator opts into it; such a router\'s credential crosses the network in clear either way. Credentials are per host, limited to its names and revocable; clients that speak HTTPS use it.',
      CKV_AWS_68: 'No WAF by default: the function rate-limits failed authentications itself and its reserved concurrency caps the cost; a web ACL costs more per month than the endpoint.',
      CKV_AWS_86: 'No access logs by default (they would need a log bucket); the function logs every request with its outcome.',
    };
    if (!custom) {
      reasons.CKV_AWS_174 = 'With the default *.cloudfront.net certificate CloudFront fixes the minimum protocol at TLSv1; with ddnsDomainName and ddnsCertificateArn it is TLSv1.2_2021.';
    }
    skipCheckov(distribution, reasons);
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason: 'Hosts may be anywhere; geo restrictions would lock out travelling or moved hosts.',
    });
    Validations.of(distribution).acknowledge({ id: 'AwsSolutions-CFR2', reason: reasons.CKV_AWS_68 });
    Validations.of(distribution).acknowledge({ id: 'AwsSolutions-CFR3', reason: reasons.CKV_AWS_86 });
    if (!custom) {
      Validations.of(distribution).acknowledge({ id: 'AwsSolutions-CFR4', reason: reasons.CKV_AWS_174 });
    }
    return distribution;
  }
}
