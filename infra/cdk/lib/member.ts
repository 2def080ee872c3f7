/**
 * The member side of an ec2-dns deployment for several accounts and regions: deployed in each
 * account and region whose instances a central Ec2Dns (its `accounts` and `regions`)
 * manages, besides the central account's own region.
 *
 * What it creates (the Terraform module ../terraform/modules/member creates the same; the
 * parity test in ../scripts/parity.py proves it):
 * - the member role (`memberRoleName`, default `ec2-dns-member`), once per account (IAM is
 *   global: `createMemberRole: false` in the account's other regions, and in the central
 *   account, whose reconciler uses its own role): trusted by exactly the reconciler's role,
 *   allowed ec2:DescribeInstances and ec2:CreateTags of the status tag only, in every region
 *   of the account: what the reconciler's own role may do in its account; with
 *   `operatorPrincipalArns`, also trusted by exactly those operators (the CLI ec2-dns-ctl
 *   assumes the member role for the account's instances, as the reconciler does), who get
 *   exactly the same rights there;
 * - in each region, three rules with the central rules' patterns (EC2 state changes, changes
 *   of the name tag, Elastic IP addresses associated with or disassociated from instances and
 *   IPv6 addresses assigned to or unassigned from network interfaces as CloudTrail records
 *   them) whose target is the central account's default event bus in the
 *   central region, and the role EventBridge uses to put them there (events:PutEvents on that
 *   bus only). Forwarded events keep their `account` and `region`: the function learns from
 *   them where an instance lives.
 * - with `lifecycleHooks` (Auto Scaling lifecycle hooks of this account's groups, docs/fleets.md):
 *   in each region a fourth rule forwarding the lifecycle actions of exactly those hooks, with
 *   the central lifecycle rule's pattern; and on the member role the rights to complete them:
 *   autoscaling:DescribeAutoScalingInstances and DescribeLifecycleHooks ("*"), and
 *   CompleteLifecycleAction and RecordLifecycleActionHeartbeat on the `lifecycleGroups` of this
 *   account only. Without hooks, neither.
 *
 * Deploy the central stack first (the member role's trust names its role, which IAM checks),
 * and give the central stack the member's account in `accounts` (its bus admits the
 * account's events) and its region in `regions`.
 */
import { Aws, CfnOutput, CfnRule, Fn, Stack, Token, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import {
  acknowledgeLifecycleGroups, ACCOUNT_RE, check, checkLifecycle, DEFAULT_MEMBER_ROLE, defaultBusArn, instanceEventPatterns,
  instanceStatements, lifecycleEventPattern, lifecycleStatements, OPERATOR_ARN_RE, REGION_RE, ROLE_ARN_RE, ROLE_NAME_RE, TAG_KEY_RE,
} from './shared';

/** Defaults shared with the Terraform module (modules/member/variables.tf); keep them equal. */
export const MEMBER_DEFAULTS = {
  memberRoleName: DEFAULT_MEMBER_ROLE,
  nameTag: 'dnsname',
  // The central rules' retry policy (ec2-dns.ts DEFAULTS): a forwarded event is retried for
  // an hour; one still lost is healed by the central reconcile-all schedule.
  eventRetryAttempts: 8,
  eventMaxAgeSeconds: 3600,
} as const;

/** Where the central deployment is, and what this member creates. */
export interface Ec2DnsMemberProps {
  /** Account id of the central deployment (the stack with Ec2Dns). */
  readonly centralAccountId: string;
  /** Region of the central deployment: its default event bus receives the forwarded events. */
  readonly centralRegion: string;
  /**
   * ARN of the central reconciler's role (output RoleArn of Ec2Dns, role_arn of the
   * Terraform module): the only principal the member role trusts.
   */
  readonly reconcilerRoleArn: string;
  /** Name of the member role, the central deployment's memberRoleName. @default 'ec2-dns-member' */
  readonly memberRoleName?: string;
  /**
   * The central deployment's name tag: the forwarded tag changes are those of this tag, and
   * the member role may write `<nameTag>-status` only. @default 'dnsname'
   */
  readonly nameTag?: string;
  /**
   * Operators whose `ec2-dns-ctl` may assume the member role too, to read this account's
   * instances (`plan`, `status`) and write their status tag (`apply`, `release`): exact IAM
   * role or user ARNs (an SSO permission set's role with its path,
   * `arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_…`), no
   * wildcards, no account roots. One more trust statement (Sid `Operators`): principal the
   * accounts of these ARNs, condition `StringEquals` `aws:PrincipalArn` exactly these ARNs, so
   * they need not exist yet and a recreated role keeps working. They get exactly the member
   * role's rights in this account, a read-only operator included; each still needs
   * `sts:AssumeRole` on the role in its own policy (docs/security.md, "Operators' policies").
   * Only with the member role (createMemberRole). @default [] (the reconciler alone)
   */
  readonly operatorPrincipalArns?: string[];
  /**
   * Create the member role (IAM is global: once per account). False in the account's other
   * regions, and in the central account's other regions (its reconciler uses its own role).
   * @default true
   */
  readonly createMemberRole?: boolean;
  /**
   * The central deployment's lifecycleHooks (LIFECYCLE_HOOKS), for groups of this account:
   * their lifecycle actions are forwarded to the central bus (one more rule, the central
   * lifecycle rule's pattern), and the member role may complete them. Each 1-255 of
   * `A-Z a-z 0-9 - _ /`. See docs/fleets.md.
   * @default none: no lifecycle rule, no Auto Scaling right
   */
  readonly lifecycleHooks?: string[];
  /**
   * The Auto Scaling groups of this account whose lifecycle actions the reconciler may
   * complete (autoscaling:CompleteLifecycleAction and RecordLifecycleActionHeartbeat on these
   * groups only, in any region of the account), on the member role. Required with
   * lifecycleHooks where the member role is created (createMemberRole).
   * @default none
   */
  readonly lifecycleGroups?: string[];
}

/** Reports every invalid prop at once, like Ec2Dns does. */
export function validateMemberProps(props: Ec2DnsMemberProps): void {
  const p: string[] = [];
  check(p, ACCOUNT_RE.test(props.centralAccountId), `centralAccountId: '${props.centralAccountId}' is not an AWS account id (12 digits)`);
  check(p, REGION_RE.test(props.centralRegion), `centralRegion: '${props.centralRegion}' is not an AWS region such as eu-west-1`);
  const arn = ROLE_ARN_RE.exec(props.reconcilerRoleArn);
  check(p, arn !== null, `reconcilerRoleArn: '${props.reconcilerRoleArn}' is not an IAM role ARN`);
  check(p, arn === null || arn[1] === props.centralAccountId,
    `reconcilerRoleArn: '${props.reconcilerRoleArn}' is not a role of the central account ${props.centralAccountId}`);
  const role = props.memberRoleName ?? MEMBER_DEFAULTS.memberRoleName;
  check(p, ROLE_NAME_RE.test(role), `memberRoleName: '${role}' is not an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)`);
  const tag = props.nameTag ?? MEMBER_DEFAULTS.nameTag;
  check(p, TAG_KEY_RE.test(tag) && !tag.toLowerCase().startsWith('aws:') && tag.length <= 120,
    `nameTag: '${tag}' is not a valid tag key (at most 120 characters so that '<tag>-status' fits)`);
  checkLifecycle(p, props.lifecycleHooks, props.lifecycleGroups, props.createMemberRole ?? true);
  for (const op of props.operatorPrincipalArns ?? []) {
    if (/[*?]/.test(op)) {
      p.push(`operatorPrincipalArns: '${op}' has a wildcard: list each operator's role or user ARN exactly`);
    } else {
      check(p, OPERATOR_ARN_RE.test(op),
        `operatorPrincipalArns: '${op}' is not an IAM role or user ARN (arn:aws:iam::<account>:role/<path/name> or :user/<name>; not an account root or an assumed-role session)`);
    }
  }
  if (p.length > 0) throw new Error(`Invalid ec2-dns member configuration:\n  - ${p.join('\n  - ')}`);
}

/** An EventBridge target that puts events on another bus with a role, and retries. */
class BusTarget implements events.IRuleTarget {
  constructor(private readonly busArn: string, private readonly role: iam.IRole) {}

  bind(): events.RuleTargetConfig {
    return {
      arn: this.busArn,
      role: this.role,
      retryPolicy: {
        maximumRetryAttempts: MEMBER_DEFAULTS.eventRetryAttempts,
        maximumEventAgeInSeconds: MEMBER_DEFAULTS.eventMaxAgeSeconds,
      },
    };
  }
}

export class Ec2DnsMember extends Construct {
  /** The member role the reconciler assumes, unless createMemberRole is false. */
  public readonly memberRole?: iam.Role;
  /** The role EventBridge uses to put events on the central bus. */
  public readonly forwardingRole: iam.Role;
  /** Forwards EC2 instance state changes. */
  public readonly stateChangeRule: events.Rule;
  /** Forwards changes of the name tag on EC2 instances. */
  public readonly tagChangeRule: events.Rule;
  /**
   * Forwards Elastic IP address associations and disassociations, and IPv6 address
   * assignments and unassignments (CloudTrail events: only where a trail logs this account's
   * management events in this region).
   */
  public readonly addressChangeRule: events.Rule;
  /** Forwards the lifecycle actions of the listed hooks (only with lifecycleHooks). */
  public readonly lifecycleRule?: events.Rule;
  /** ARN of the central default event bus the rules send to. */
  public readonly centralEventBusArn: string;

  constructor(scope: Construct, id: string, props: Ec2DnsMemberProps) {
    super(scope, id);
    validateMemberProps(props);
    const stack = Stack.of(this);
    // Pseudo parameters even in a stack with a known environment: the ARNs (and cdk-nag's
    // acknowledgements below) do not change with it.
    const partition = Aws.PARTITION;
    const nameTag = props.nameTag ?? MEMBER_DEFAULTS.nameTag;
    const createMemberRole = props.createMemberRole ?? true;
    const hooks = props.lifecycleHooks ?? [];
    // The groups' rights only with hooks (as the central stack: groups alone grant nothing).
    const lifecycleGroups = hooks.length > 0 ? props.lifecycleGroups ?? [] : [];
    const here = (value: string) => (Token.isUnresolved(value) ? undefined : value);
    const centralRoleProblem = 'createMemberRole must be false in the central account: its reconciler uses its own role there';
    const loopProblem = 'the central account\'s central region needs no member: its own rules see its events (forwarding them to itself would loop)';
    if (here(stack.account) === props.centralAccountId) {
      const problems = [];
      if (createMemberRole) problems.push(centralRoleProblem);
      if (here(stack.region) === props.centralRegion) problems.push(loopProblem);
      if (problems.length > 0) throw new Error(`Invalid ec2-dns member configuration:\n  - ${problems.join('\n  - ')}`);
    }
    if (here(stack.account) === undefined || here(stack.region) === undefined) {
      // An environment-agnostic stack learns its account and region at deploy time.
      const inCentral = Fn.conditionEquals(Aws.ACCOUNT_ID, props.centralAccountId);
      new CfnRule(this, 'NotTheCentralRegion', {
        assertions: [
          {
            assert: Fn.conditionNot(Fn.conditionAnd(inCentral, Fn.conditionEquals(Aws.REGION, props.centralRegion))),
            assertDescription: loopProblem,
          },
          ...(createMemberRole ? [{ assert: Fn.conditionNot(inCentral), assertDescription: centralRoleProblem }] : []),
        ],
      });
    }

    // ---- Member role (once per account) ------------------------------------------------
    if (createMemberRole) {
      const memberRole = this.memberRole = new iam.Role(this, 'MemberRole', {
        roleName: props.memberRoleName ?? MEMBER_DEFAULTS.memberRoleName,
        // Exactly the reconciler's role (IAM checks that it exists: deploy the central stack
        // first), and the operators below.
        assumedBy: new iam.ArnPrincipal(props.reconcilerRoleArn),
        description: 'ec2-dns member: the central reconciler reads instances and writes their status tag (all regions)',
        inlinePolicies: {
          ec2dns: new iam.PolicyDocument({
            statements: [
              ...instanceStatements(partition, Aws.ACCOUNT_ID, nameTag),
              // Lifecycle actions of the listed groups (the reconciler's own statements for
              // its account, for this one).
              ...(lifecycleGroups.length > 0 ? lifecycleStatements(partition, Aws.ACCOUNT_ID, lifecycleGroups) : []),
            ],
          }),
        },
      });
      // Operators (ec2-dns-ctl), exactly by aws:PrincipalArn: the principal is their accounts
      // (IAM needs no principal to exist for that), the condition names each one.
      const operators = [...new Set(props.operatorPrincipalArns ?? [])].sort();
      if (operators.length > 0) {
        const roots = [...new Set(operators.map((arn) => {
          const [, part, account] = OPERATOR_ARN_RE.exec(arn) ?? [];
          return `arn:${part}:iam::${account}:root`;
        }))].sort();
        memberRole.assumeRolePolicy?.addStatements(new iam.PolicyStatement({
          sid: 'Operators',
          actions: ['sts:AssumeRole'],
          principals: roots.map((root) => new iam.ArnPrincipal(root)),
          conditions: { StringEquals: { 'aws:PrincipalArn': operators } },
        }));
      }
      Validations.of(memberRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ec2:DescribeInstances and (with lifecycle hooks) autoscaling:DescribeAutoScalingInstances and DescribeLifecycleHooks do not support resource-level permissions, so their resource must be "*".',
      });
      acknowledgeLifecycleGroups(memberRole, lifecycleGroups);
      Validations.of(memberRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*]',
        reason: 'ec2:CreateTags must reach any instance of this account that carries the name tag, in every managed region; it is limited to instances and, by an aws:TagKeys condition, to the status tag alone.',
      });
      new CfnOutput(this, 'MemberRoleArn', { value: memberRole.roleArn, description: 'the role the central reconciler assumes' });
    }

    // ---- Forwarding rules (per region) ---------------------------------------------------
    this.centralEventBusArn = defaultBusArn(partition, props.centralRegion, props.centralAccountId);
    this.forwardingRole = new iam.Role(this, 'ForwardingRole', {
      // Only EventBridge rules of this account.
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'ec2-dns member: EventBridge forwards instance events to the central event bus',
      inlinePolicies: {
        ec2dns: new iam.PolicyDocument({
          statements: [new iam.PolicyStatement({
            sid: 'PutEventsOnCentralBus',
            actions: ['events:PutEvents'],
            resources: [this.centralEventBusArn],
          })],
        }),
      },
    });
    const target = new BusTarget(this.centralEventBusArn, this.forwardingRole);
    const patterns = instanceEventPatterns(nameTag);
    this.stateChangeRule = new events.Rule(this, 'ForwardInstanceStateChangeRule', {
      description: 'ec2-dns member: forwards EC2 instance state changes to the central event bus',
      eventPattern: patterns.stateChange,
      targets: [target],
    });
    this.tagChangeRule = new events.Rule(this, 'ForwardTagChangeRule', {
      description: `ec2-dns member: forwards changes of the ${nameTag} tag of EC2 instances to the central event bus`,
      eventPattern: patterns.tagChange,
      targets: [target],
    });
    this.addressChangeRule = new events.Rule(this, 'ForwardAddressChangeRule', {
      description: 'ec2-dns member: forwards Elastic IP address associations and disassociations and IPv6 address assignments and unassignments (CloudTrail) to the central event bus',
      eventPattern: patterns.addressChange,
      targets: [target],
    });
    // Auto Scaling lifecycle actions of the listed hooks only (the central lifecycle rule's
    // pattern): the function completes them in this account through the member role.
    this.lifecycleRule = hooks.length > 0 ? new events.Rule(this, 'ForwardLifecycleActionRule', {
      description: 'ec2-dns member: forwards the Auto Scaling lifecycle actions of the listed hooks to the central event bus',
      eventPattern: lifecycleEventPattern(hooks),
      targets: [target],
    }) : undefined;
    new CfnOutput(this, 'ForwardingRoleArn', { value: this.forwardingRole.roleArn, description: 'EventBridge\'s role for the forwarding rules' });
    new CfnOutput(this, 'CentralEventBusArn', { value: this.centralEventBusArn, description: 'the central default event bus the rules forward to' });
  }
}
