/**
 * What the reconciler (ec2-dns.ts) and the DDNS endpoint (ddns.ts) have in common: the
 * permissions both hold on Route53 and on the lock table (one definition, so that the two
 * roles cannot drift apart), input checks and the checkov annotations.
 */
import { Aws, Fn, Token, Validations } from 'aws-cdk-lib';
import { EventPattern } from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * The alias every invoker targets (the event source mapping, the DDNS sweep and function
 * URL). Each deploy that changes code or configuration publishes a version and points the
 * alias at it; a rollback points it back: `aws lambda update-alias --name live
 * --function-version N`.
 */
export const LIVE_ALIAS = 'live';

/**
 * The rollback command of a function (an output of both flavours): VERSION is one of
 * `aws lambda list-versions-by-function --function-name NAME`.
 */
export function rollbackCommand(functionName: string): string {
  return Fn.join('', ['aws lambda update-alias --region ', Aws.REGION, ' --function-name ', functionName,
    ` --name ${LIVE_ALIAS} --function-version VERSION`]);
}

/**
 * What to run once a deploy is done (output NextSteps; the Terraform module's `next_steps`),
 * one command a line: the operator CLI reads LOCK_TABLE and the settings from the deployed
 * function's own configuration (`--function`, lambda:GetFunctionConfiguration), and the
 * configuration the CLI checks against was recorded during the deploy (the custom resource
 * Configuration), so `status` and `plan` work at once; then a dry run of the reconcile of
 * everything by the function itself. Keep the words equal to the Terraform module's.
 */
export function nextSteps(functionName: string): string {
  const where = [' --function ', functionName, ' --region ', Aws.REGION];
  return Fn.join('', [
    'ec2-dns-ctl', ...where, ' status\n',
    'ec2-dns-ctl', ...where, ' plan\n',
    'aws lambda invoke --function-name ', functionName, ' --region ', Aws.REGION,
    ' --cli-binary-format raw-in-base64-out --payload \'{"reconcile":"all","dry_run":true}\' out.json',
  ]);
}

/**
 * The custom resource type through which CloudFormation asks the reconciler to record its
 * configuration in the lock table (Ec2Dns's Configuration; the Terraform module's
 * aws_lambda_invocation.record_configuration asks the same with `{"record_configuration": true}`).
 */
export const CONFIGURATION_RESOURCE_TYPE = 'Custom::Ec2DnsConfiguration';

export const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
export const ZONE_ID_RE = /^[A-Z0-9]{1,32}$/;
export const TAG_KEY_RE = /^[A-Za-z0-9 _.:/=+@-]{1,120}$/;
/** A 12-digit AWS account id. */
export const ACCOUNT_RE = /^[0-9]{12}$/;
/** A region name such as us-east-1, eu-central-2 or us-gov-west-1. */
export const REGION_RE = /^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$/;
/** An IAM role name (without path), as the function checks MEMBER_ROLE. */
export const ROLE_NAME_RE = /^[A-Za-z0-9+=,.@_-]{1,64}$/;
/** An AWS Organizations id. */
export const ORGANIZATION_ID_RE = /^o-[a-z0-9]{10,32}$/;
/**
 * A deployment id (DEPLOYMENT_ID): 1-24 of lowercase letters, digits and hyphens, starting
 * with a letter or digit. Every ownership marker the deployment writes carries it.
 */
export const DEPLOYMENT_ID_RE = /^[a-z0-9][a-z0-9-]{0,23}$/;
/** The values of MARKER_STYLE (how markers name their holder; unset: plain). */
export const MARKER_STYLES: readonly string[] = ['plain', 'opaque'];
/** An IAM role ARN (any partition, with or without a path). */
export const ROLE_ARN_RE = /^arn:aws[a-z-]*:iam::([0-9]{12}):role\/[A-Za-z0-9+=,.@_/-]{1,512}$/;
/**
 * An operator the member role may trust: an IAM role (an SSO permission set's role included,
 * with its path) or user ARN, exactly (groups 1 and 2: partition and account). Not an account
 * root, an assumed-role session or a pattern: `aws:PrincipalArn` is matched with StringEquals.
 */
export const OPERATOR_ARN_RE = /^arn:(aws[a-z-]*):iam::([0-9]{12}):(role|user)\/[A-Za-z0-9+=,.@_/-]{1,512}$/;

/**
 * The role the reconciler assumes in each account of ACCOUNTS (its MEMBER_ROLE default), and
 * the role name of the member side (Ec2DnsMember, the Terraform module modules/member).
 */
export const DEFAULT_MEMBER_ROLE = 'ec2-dns-member';

/** The event patterns of the instance events the reconciler handles (instanceEventPatterns). */
export interface InstanceEventPatterns {
  /** EC2 instance state changes. */
  readonly stateChange: EventPattern;
  /** Changes of the name tag on EC2 instances. */
  readonly tagChange: EventPattern;
  /**
   * Elastic IP addresses associated with or disassociated from instances, and IPv6 addresses
   * assigned to or unassigned from network interfaces (CloudTrail).
   */
  readonly addressChange: EventPattern;
}

/**
 * The event patterns of the instance events the reconciler handles: EC2 state changes,
 * changes of the name tag on EC2 instances (only the name tag: the function's own writes of
 * `<tag>-status` must not trigger it again), and addresses moved without a state change, as
 * CloudTrail records the EC2 API calls: Elastic IPs moved onto or off an instance
 * (AssociateAddress, DisassociateAddress: its public IPv4 changes) and IPv6 addresses
 * assigned to or unassigned from a network interface (AssignIpv6Addresses,
 * UnassignIpv6Addresses: its instance's AAAA records change). EventBridge sees these events
 * only where a CloudTrail trail logs the account's management events. The central
 * rules send them to the queue; the member side forwards the same patterns from other
 * accounts and regions to the central bus. None restricts `account` or `region`: forwarded
 * events keep their own, which is how the function knows where an instance lives.
 */
export function instanceEventPatterns(nameTag: string): InstanceEventPatterns {
  return {
    stateChange: { source: ['aws.ec2'], detailType: ['EC2 Instance State-change Notification'] },
    tagChange: {
      source: ['aws.tag'],
      detailType: ['Tag Change on Resource'],
      detail: { 'service': ['ec2'], 'resource-type': ['instance'], 'changed-tag-keys': [nameTag] },
    },
    addressChange: {
      source: ['aws.ec2'],
      detailType: ['AWS API Call via CloudTrail'],
      detail: { eventSource: ['ec2.amazonaws.com'], eventName: ['AssociateAddress', 'DisassociateAddress', 'AssignIpv6Addresses', 'UnassignIpv6Addresses'] },
    },
  };
}

/**
 * What the reconciler does with the instances of an account, in every region: read them, and
 * write the status tag and no other tag. The reconciler's role holds these statements for
 * its own account, each member role for its account.
 */
export function instanceStatements(partition: string, account: string, nameTag: string): iam.PolicyStatement[] {
  return [
    // Observe: read instances, their tags, state and addresses. DescribeInstances has no
    // resource-level permissions, so "*" is the only possible resource.
    new iam.PolicyStatement({
      sid: 'DescribeInstances',
      actions: ['ec2:DescribeInstances'],
      resources: ['*'],
    }),
    // Report: write the status tag on instances of the account (any region), and no other tag.
    new iam.PolicyStatement({
      sid: 'WriteStatusTag',
      actions: ['ec2:CreateTags'],
      resources: [`arn:${partition}:ec2:*:${account}:instance/*`],
      conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [`${nameTag}-status`] } },
    }),
  ];
}

/** A lifecycle hook name, as the function checks LIFECYCLE_HOOKS (Auto Scaling's pattern). */
export const LIFECYCLE_HOOK_RE = /^[A-Za-z0-9_/-]{1,255}$/;

/**
 * The event pattern of the Auto Scaling lifecycle actions of `hooks` (docs/fleets.md): the
 * central rule sends them to the queue, the member side forwards the same pattern to the
 * central bus. Neither restricts `account` or `region`.
 */
export function lifecycleEventPattern(hooks: string[]): EventPattern {
  return {
    source: ['aws.autoscaling'],
    detailType: ['EC2 Instance-launch Lifecycle Action', 'EC2 Instance-terminate Lifecycle Action'],
    detail: { LifecycleHookName: hooks },
  };
}

/**
 * Checks the lifecycle props (`lifecycleHooks`, `lifecycleGroups`) as both stacks take them:
 * hook names as the function checks LIFECYCLE_HOOKS, group names 1-255 characters without
 * `*` (they end an ARN), and, where the rights are granted (`groupsNeeded`), at least one
 * group when a hook is listed.
 */
export function checkLifecycle(p: string[], hooks: string[] | undefined, groups: string[] | undefined,
  groupsNeeded: boolean): void {
  for (const h of hooks ?? []) {
    if (Token.isUnresolved(h)) continue;
    check(p, LIFECYCLE_HOOK_RE.test(h), `lifecycleHooks: '${h}' must be 1-255 of A-Z a-z 0-9 - _ /`);
  }
  for (const g of groups ?? []) {
    if (Token.isUnresolved(g)) continue;
    check(p, g.length >= 1 && g.length <= 255 && !g.includes('*'), `lifecycleGroups: '${g}' must be 1-255 characters, without *`);
  }
  check(p, !groupsNeeded || (hooks ?? []).length === 0 || (groups ?? []).length > 0,
    'lifecycleHooks lists hooks but lifecycleGroups names no group: name the groups whose lifecycle actions the reconciler may complete');
}

/**
 * What completing lifecycle actions needs in an account (docs/fleets.md): the groups'
 * lifecycle states and the hooks' timeouts (DescribeAutoScalingInstances and
 * DescribeLifecycleHooks take no resource restriction, hence "*"), and completing and
 * heartbeating the actions of the listed groups only, in any region of the account. The
 * reconciler's role holds these for its own account, each member role for its account.
 */
export function lifecycleStatements(partition: string, account: string, groups: string[]): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'ReadGroupLifecycle',
      actions: ['autoscaling:DescribeAutoScalingInstances', 'autoscaling:DescribeLifecycleHooks'],
      resources: ['*'],
    }),
    new iam.PolicyStatement({
      sid: 'CompleteLifecycleActions',
      actions: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      resources: groups.map((g) => `arn:${partition}:autoscaling:*:${account}:autoScalingGroup:*:autoScalingGroupName/${g}`),
    }),
  ];
}

/**
 * cdk-nag's acknowledgements of `lifecycleStatements` on `role` (AwsSolutions-IAM5 names each
 * wildcard resource: the groups' ARNs have a wildcard region and group id).
 */
export function acknowledgeLifecycleGroups(role: Construct, groups: string[]): void {
  for (const g of groups) {
    if (Token.isUnresolved(g)) continue;
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:*:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/${g}]`,
      reason: 'Completing the lifecycle actions of this group (a listed one): its ARN carries a generated id, and the group may be in any region of the account.',
    });
  }
}

/** The default event bus of an account and region (where forwarded events go). */
export function defaultBusArn(partition: string, region: string, account: string): string {
  return `arn:${partition}:events:${region}:${account}:event-bus/default`;
}

/** Lowercase, no trailing dot: the form Route53's normalised record names use. */
export function normaliseDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

/** Accepts `Z123…` or `/hostedzone/Z123…`. */
export function normaliseZoneId(zoneId: string): string {
  return zoneId.trim().replace(/^\/?hostedzone\//, '');
}

/**
 * A name of at most `max` characters (letters, digits, hyphens) that stays unique for every
 * distinct `name`: a name too long is cut and ends in a hash of the whole (FNV-1a, 8 hex
 * digits).
 */
export function boundedName(name: string, max: number): string {
  const clean = name.replace(/[^A-Za-z0-9-]/g, '-');
  if (clean === name && name.length <= max) return name;
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${clean.slice(0, max - 9)}-${h.toString(16).padStart(8, '0')}`;
}

export function check(problems: string[], ok: boolean, message: string): void {
  if (!ok) problems.push(message);
}

/**
 * `prefix + item` for each item. A list token (a CommaDelimitedList parameter of the release
 * template) cannot be mapped at synth time, so CloudFormation does it: join with
 * `,<prefix>` and split again. Fn::Join takes only a literal delimiter, hence the literal
 * prefix.
 */
export function prefixEach(prefix: string, items: string[]): string[] {
  if (!Token.isUnresolved(items)) return items.map((item) => `${prefix}${item}`);
  if (Token.isUnresolved(prefix)) {
    throw new Error(`ec2-dns: cannot prefix a list token with '${prefix}', which is not known at synth time (give the stack a known partition)`);
  }
  return Fn.split(',', Fn.join('', [prefix, Fn.join(`,${prefix}`, items)]));
}

/** Inputs of the record statements; the partition may be a token, the lists list tokens. */
export interface RecordPolicyInputs {
  readonly partition: string;
  readonly domains: string[];
  readonly zoneIds: string[];
  /**
   * REVERSE_RECORDS: the reconciler also writes PTR sets at reverse names (in the private
   * reverse zones listed in zoneIds, below an allowed reverse domain). Both functions get
   * the same statements; the DDNS endpoint never writes a PTR.
   */
  readonly reverseRecords?: boolean;
}

/** The record types the functions write: A/AAAA, the TXT marker, and PTR with reverse records. */
export function recordTypes(reverseRecords?: boolean): string[] {
  return reverseRecords ? ['A', 'AAAA', 'PTR', 'TXT'] : ['A', 'AAAA', 'TXT'];
}

/** Whether a domain is a reverse domain (in-addr.arpa, ip6.arpa or below), as the function tells. */
export function isReverseDomain(d: string): boolean {
  return ['in-addr.arpa', 'ip6.arpa'].some((r) => d === r || d.endsWith(`.${r}`));
}

/**
 * Route53: find the zones, read their records, and change A/AAAA records and the TXT
 * ownership marker below the allowed domains. Both functions write names through the same
 * fenced path, so both get exactly these statements.
 */
export function recordStatements(i: RecordPolicyInputs): iam.PolicyStatement[] {
  const zoneArns = prefixEach(`arn:${i.partition}:route53:::hostedzone/`, i.zoneIds);
  return [
    // Find the zones under the allowed domains. ListHostedZones has no resource-level
    // permissions.
    new iam.PolicyStatement({
      sid: 'ListHostedZones',
      actions: ['route53:ListHostedZones'],
      resources: ['*'],
    }),
    // Observe: read records of the configured zones only.
    new iam.PolicyStatement({
      sid: 'ReadRecords',
      actions: ['route53:ListResourceRecordSets'],
      resources: zoneArns,
    }),
    // Apply: CREATE and DELETE (a swap is DELETE+CREATE in one batch; never UPSERT) of
    // A/AAAA records strictly below an allowed domain, and of the TXT ownership marker
    // `_ec2-dns.<name>` written in the same batch, in the configured zones only.
    // The names stay as they were: StringLike's `*` matches any characters, dots and
    // underscores included, and Route53 normalises names to lowercase without the trailing
    // dot (`_` and `-` are not escaped), so `*.dyn.example.com` already admits
    // `_ec2-dns.web.dyn.example.com`. IAM cannot pair a type with a name, so TXT is
    // admitted wherever A/AAAA are: below an allowed domain, never at its apex.
    new iam.PolicyStatement({
      sid: 'ChangeRecords',
      actions: ['route53:ChangeResourceRecordSets'],
      resources: zoneArns,
      conditions: {
        'ForAllValues:StringLike': {
          'route53:ChangeResourceRecordSetsNormalizedRecordNames': prefixEach('*.', i.domains),
        },
        'ForAllValues:StringEquals': {
          'route53:ChangeResourceRecordSetsRecordTypes': recordTypes(i.reverseRecords),
          'route53:ChangeResourceRecordSetsActions': ['CREATE', 'DELETE'],
        },
      },
    }),
  ];
}

/**
 * Ownership locks: conditional reads and writes, transactions (TransactWriteItems is
 * authorised per item action: Put/Update/Delete/ConditionCheck) and the scan of
 * reconcile-all and of the DDNS sweep, on the lock table only.
 */
export function lockTableStatement(tableArn: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'LockTable',
    actions: [
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:Scan',
    ],
    resources: [tableArn],
  });
}

/** Checkov reads skips from the resource's Metadata in the synthesized template. */
export function skipCheckov(construct: Construct, skips: Record<string, string>): void {
  const resource = construct.node.defaultChild as unknown as { addMetadata(key: string, value: unknown): void };
  resource.addMetadata('checkov', {
    skip: Object.entries(skips).map(([id, comment]) => ({ id, comment })),
  });
}
