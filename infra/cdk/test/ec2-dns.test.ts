/**
 * Template tests of the ec2-dns construct: every point of the system's definition
 * (docs/deploy.md) is asserted on the synthesized CloudFormation, offline.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { App, CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULTS, Ec2Dns, Ec2DnsProps } from '../lib/ec2-dns';

// The template does not depend on the code inside the package: a directory with a
// placeholder bootstrap is enough.
const codeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ec2-dns-code-'));
fs.writeFileSync(path.join(codeDir, 'bootstrap'), 'placeholder');
after(() => fs.rmSync(codeDir, { recursive: true, force: true }));

const BASE: Ec2DnsProps = {
  allowedDomains: ['dyn.example.com', 'Other.Example.ORG.'],
  hostedZoneIds: ['Z0123456789ABCDEFGHIJ', '/hostedzone/Z9876543210ZYXWVUTSRQ'],
  codePath: codeDir,
};

function build(overrides: Partial<Ec2DnsProps> = {}, withTopic = false) {
  const app = new App();
  const stack = new Stack(app, 'Test');
  const topic = withTopic ? new sns.Topic(stack, 'Alarms') : undefined;
  const ec2dns = new Ec2Dns(stack, 'Ec2Dns', { ...BASE, alarmTopic: topic, ...overrides });
  return { app, stack, ec2dns, template: Template.fromStack(stack) };
}

function only<T = any>(template: Template, type: string): [string, T] {
  const found = Object.entries(template.findResources(type));
  assert.equal(found.length, 1, `expected one ${type}, found ${found.length}`);
  return found[0] as [string, T];
}

/** Logical ids of the construct's resources, to compare references with. */
function idsOf(built: ReturnType<typeof build>) {
  const id = (c: Construct) => built.stack.getLogicalId(c.node.defaultChild as CfnElement);
  const e = built.ec2dns;
  return {
    table: id(e.table),
    queue: id(e.queue),
    dlq: id(e.deadLetterQueue),
    eventDlq: id(e.eventDeadLetterQueue),
    logGroup: id(e.function.logGroup as unknown as Construct),
    fn: id(e.function),
    alias: id(e.alias),
  };
}

const partitionJoin = (suffix: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, suffix]] });
const ZONE_ARNS = [
  partitionJoin(':route53:::hostedzone/Z0123456789ABCDEFGHIJ'),
  partitionJoin(':route53:::hostedzone/Z9876543210ZYXWVUTSRQ'),
];

describe('Lambda function', () => {
  it('runs the packaged bootstrap on provided.al2023 arm64 with small memory and a reconcile-all timeout', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Architectures: ['arm64'],
      Handler: 'bootstrap',
      MemorySize: 256,
      Timeout: 300,
    });
  });

  it('gets the environment of the contract', () => {
    const built = build();
    const { template } = built;
    const { table, queue } = idsOf(built);
    const [, fn] = only(template, 'AWS::Lambda::Function');
    assert.deepEqual(fn.Properties.Environment.Variables, {
      LOCK_TABLE: { Ref: table },
      ALLOWED_DOMAINS: 'dyn.example.com,other.example.org',
      NAME_TAG: 'dnsname',
      RECORD_TTL: '60',
      QUEUE_URL: { Ref: queue },
    });
  });

  it('passes tag, TTL, concurrency, memory and timeout through', () => {
    const { template } = build({
      nameTag: 'dns', recordTtl: 300, reconcileConcurrency: 4, memorySize: 512, timeout: Duration.seconds(120),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      Timeout: 120,
      Environment: { Variables: Match.objectLike({ NAME_TAG: 'dns', RECORD_TTL: '300', RECONCILE_CONCURRENCY: '4' }) },
    });
  });

  it('logs JSON into its own log group with a retention', () => {
    const { template } = build();
    const [logGroup, lg] = only(template, 'AWS::Logs::LogGroup');
    assert.equal(lg.Properties.RetentionInDays, 30);
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logGroup } },
    });
  });
});

describe('lock table', () => {
  it('has partition key pk (String), no sort key, no index, on demand, PITR, encryption, deletion protection', () => {
    const { template } = build();
    const [, table] = only(template, 'AWS::DynamoDB::Table');
    const p = table.Properties;
    assert.deepEqual(p.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }]);
    assert.deepEqual(p.AttributeDefinitions, [{ AttributeName: 'pk', AttributeType: 'S' }]);
    assert.equal(p.GlobalSecondaryIndexes, undefined);
    assert.equal(p.LocalSecondaryIndexes, undefined);
    assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    assert.deepEqual(p.SSESpecification, { SSEEnabled: true });
    assert.equal(p.DeletionProtectionEnabled, true);
    assert.equal(table.DeletionPolicy, 'Retain');
  });

  it('expires items by their `expires` attribute (the DDNS failed-login counters), and nothing else', () => {
    const { template } = build();
    const [, table] = only(template, 'AWS::DynamoDB::Table');
    assert.deepEqual(table.Properties.TimeToLiveSpecification, { AttributeName: 'expires', Enabled: true });
    // `expires` is no key attribute: TTL needs no attribute definition.
    assert.deepEqual(table.Properties.AttributeDefinitions, [{ AttributeName: 'pk', AttributeType: 'S' }]);
  });

  it('can turn deletion protection off', () => {
    const { template } = build({ deletionProtection: false });
    template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
  });
});

describe('lifecycle hooks (docs/fleets.md)', () => {
  const policy = (template: Template) => {
    const [, role] = only<any>(template, 'AWS::IAM::Role');
    return role.Properties.Policies[0].PolicyDocument.Statement as any[];
  };
  const AUTOSCALING = /^(autoscaling|route53:GetChange)/;

  it('sets SHARED_NAMES only when shared names are asked for', () => {
    const env = (t: Template) => Object.values<any>(t.findResources('AWS::Lambda::Function'))
      .map((f) => f.Properties.Environment?.Variables ?? {})
      .find((v: any) => v.LOCK_TABLE !== undefined);
    assert.equal(env(build().template).SHARED_NAMES, undefined);
    assert.equal(env(build({ sharedNames: false }).template).SHARED_NAMES, undefined);
    assert.equal(env(build({ sharedNames: true }).template).SHARED_NAMES, 'true');
  });

  it('adds nothing without hooks: no rule, no Auto Scaling right, no LIFECYCLE_HOOKS', () => {
    const { template } = build();
    assert.equal(Object.keys(template.findResources('AWS::Events::Rule')).length, 4);
    const actions = policy(template).flatMap((st) => [st.Action].flat());
    assert.deepEqual(actions.filter((a: string) => AUTOSCALING.test(a)), []);
  });

  it('sends the listed hooks\' actions to the queue and may complete them on the listed groups only', () => {
    const { template } = build({ lifecycleHooks: ['web-terminate', 'web-launch', 'web-launch'], lifecycleGroups: ['web'] });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'source': ['aws.autoscaling'],
        'detail-type': ['EC2 Instance-launch Lifecycle Action', 'EC2 Instance-terminate Lifecycle Action'],
        'detail': { LifecycleHookName: ['web-terminate', 'web-launch', 'web-launch'] },
      },
    });
    const [, fn] = Object.entries(template.findResources('AWS::Lambda::Function'))[0] as [string, any];
    assert.equal(fn.Properties.Environment.Variables.LIFECYCLE_HOOKS, 'web-launch,web-terminate');
    const bySid = Object.fromEntries(policy(template).map((st) => [st.Sid, st]));
    assert.deepEqual(bySid.ReadGroupLifecycle.Action,
      ['autoscaling:DescribeAutoScalingInstances', 'autoscaling:DescribeLifecycleHooks']);
    assert.equal(bySid.ReadGroupLifecycle.Resource, '*');
    assert.deepEqual(bySid.CompleteLifecycleActions.Action,
      ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat']);
    assert.match(JSON.stringify(bySid.CompleteLifecycleActions.Resource),
      /:autoscaling:\*:.*:autoScalingGroup:\*:autoScalingGroupName\/web"/);
    assert.equal(bySid.WaitForChanges.Action, 'route53:GetChange');
    // The queue admits the lifecycle rule too.
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')) as any[];
    const sources = JSON.stringify(policies.map((q) => q.Properties.PolicyDocument));
    assert.match(sources, /LifecycleActionRule/);
  });

  it('refuses hooks without groups and names the function would refuse', () => {
    assert.throws(() => build({ lifecycleHooks: ['web-launch'] }), /lifecycleGroups names no group/);
    assert.throws(() => build({ lifecycleHooks: ['not a hook'], lifecycleGroups: ['web'] }),
      /lifecycleHooks: 'not a hook' must be 1-255/);
    assert.throws(() => build({ lifecycleHooks: ['h'], lifecycleGroups: ['*'] }), /lifecycleGroups: '\*'/);
  });
});

describe('reverse records', () => {
  const changeRecords = (template: Template) => {
    const roles = Object.values(template.findResources('AWS::IAM::Role')) as any[];
    return roles.flatMap((r) => (r.Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement))
      .filter((st: any) => st.Sid === 'ChangeRecords');
  };
  const types = (st: any) => st.Condition['ForAllValues:StringEquals']['route53:ChangeResourceRecordSetsRecordTypes'];

  it('is off by default: no REVERSE_RECORDS, no PTR right', () => {
    const { template } = build();
    const [, fn] = Object.entries(template.findResources('AWS::Lambda::Function'))[0] as [string, any];
    assert.equal(fn.Properties.Environment.Variables.REVERSE_RECORDS, undefined);
    for (const st of changeRecords(template)) assert.deepEqual(types(st), ['A', 'AAAA', 'TXT']);
  });

  it('sets REVERSE_RECORDS and admits PTR below the allowed domains, in both functions alike', () => {
    const { template } = build({
      allowedDomains: ['dyn.example.com', '10.in-addr.arpa'], reverseRecords: true, enableDdns: true, ddnsCodePath: codeDir,
    });
    const fns = Object.values(template.findResources('AWS::Lambda::Function')) as any[];
    const reconciler = fns.find((f) => f.Properties.Environment?.Variables?.REVERSE_RECORDS !== undefined);
    assert.equal(reconciler.Properties.Environment.Variables.REVERSE_RECORDS, 'true');
    const statements = changeRecords(template);
    assert.equal(statements.length, 2, 'the reconciler and the DDNS endpoint');
    for (const st of statements) {
      assert.deepEqual(types(st), ['A', 'AAAA', 'PTR', 'TXT']);
      assert.deepEqual(
        st.Condition['ForAllValues:StringLike']['route53:ChangeResourceRecordSetsNormalizedRecordNames'],
        ['*.dyn.example.com', '*.10.in-addr.arpa']);
    }
  });

  it('refuses reverse records without a reverse allowed domain, as the function would', () => {
    assert.throws(() => build({ reverseRecords: true }), /no allowedDomains entry is a reverse domain/);
  });
});

describe('sharded reconciles', () => {
  const reconcilerEnv = (t: Template) => Object.values<any>(t.findResources('AWS::Lambda::Function'))
    .map((f) => f.Properties.Environment?.Variables ?? {})
    .find((v: any) => v.NAME_TAG !== undefined && v.HOST_SECRETS_PREFIX === undefined);
  const rolesStatements = (t: Template) => Object.values<any>(t.findResources('AWS::IAM::Role'))
    .map((r) => (r.Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement));

  it('always gives the function its own queue\'s URL (QUEUE_URL), the DDNS function none', () => {
    const built = build({ enableDdns: true, ddnsCodePath: codeDir });
    const { queue } = idsOf(built);
    assert.deepEqual(reconcilerEnv(built.template).QUEUE_URL, { Ref: queue });
    const fns = Object.values<any>(built.template.findResources('AWS::Lambda::Function'));
    assert.equal(fns.length, 2);
    assert.equal(fns.filter((f) => f.Properties.Environment.Variables.QUEUE_URL !== undefined).length, 1);
  });

  it('sets SHARDED_RECONCILE only when asked for, and SHARD_SIZE only when given', () => {
    const env = (props: Partial<Ec2DnsProps>) => reconcilerEnv(build(props).template);
    assert.deepEqual([env({}).SHARDED_RECONCILE, env({}).SHARD_SIZE], [undefined, undefined]);
    assert.equal(env({ shardedReconcile: false }).SHARDED_RECONCILE, undefined);
    assert.equal(env({ shardedReconcile: true }).SHARDED_RECONCILE, 'true');
    assert.deepEqual([env({ shardSize: 5000 }).SHARD_SIZE, env({ shardSize: 5000 }).SHARDED_RECONCILE], ['5000', undefined]);
    assert.equal(env({ shardSize: 2000 }).SHARD_SIZE, '2000', 'given explicitly, passed as given');
  });

  it('may send to its own queue and describe its lock table, nothing more, whether sharded or not', () => {
    for (const props of [{}, { shardedReconcile: true, shardSize: 100 }]) {
      const built = build({ ...props, enableDdns: true, ddnsCodePath: codeDir });
      const { queue, table } = idsOf(built);
      const all = rolesStatements(built.template);
      const granting = (action: string) => all.flat().filter((st: any) => [st.Action].flat().includes(action));
      assert.deepEqual(granting('sqs:SendMessage'), [
        { Sid: 'SendShards', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [queue, 'Arn'] } },
      ]);
      assert.deepEqual(granting('dynamodb:DescribeTable'), [
        { Sid: 'DescribeLockTable', Effect: 'Allow', Action: 'dynamodb:DescribeTable', Resource: { 'Fn::GetAtt': [table, 'Arn'] } },
      ]);
      // Not what queue.grantSendMessages would add: no GetQueueUrl, no KMS (SQS-managed keys).
      const text = JSON.stringify(all);
      assert.ok(!text.includes('sqs:GetQueueUrl') && !text.includes('kms:'), text);
      // The DDNS function's role has neither.
      const ddns = all.find((sts: any[]) => sts.some((st) => st.Sid === 'ReadHostSecrets'))!;
      assert.ok(!ddns.some((st: any) => ['SendShards', 'DescribeLockTable'].includes(st.Sid)));
    }
  });

  it('refuses a shard size that is not a whole number in 100..20000, as the function would at start', () => {
    for (const ok of [100, 2000, 20000]) build({ shardSize: ok });
    for (const bad of [0, 99, 20001, 2500.5, NaN, -2000]) {
      assert.throws(() => build({ shardSize: bad }),
        new RegExp(`shardSize: ${bad} must be a whole number in 100\\.\\.20000`));
    }
  });
});

describe('triggers', () => {
  const rules = (template: Template) => Object.values(template.findResources('AWS::Events::Rule'));

  it('has exactly four rules: state change, tag change, Elastic IP address change, schedule', () => {
    const { template } = build();
    assert.equal(rules(template).length, 4);
  });

  it('listens to EC2 instance state changes', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'source': ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'] },
    });
  });

  it('listens only to changes of the name tag on EC2 instances (not to its own status tag)', () => {
    const { template } = build();
    const tagRules = rules(template).filter((r) => r.Properties.EventPattern?.source?.[0] === 'aws.tag');
    assert.equal(tagRules.length, 1);
    assert.deepEqual(tagRules[0].Properties.EventPattern, {
      'source': ['aws.tag'],
      'detail-type': ['Tag Change on Resource'],
      'detail': { 'service': ['ec2'], 'resource-type': ['instance'], 'changed-tag-keys': ['dnsname'] },
    });
  });

  it('listens to Elastic IP addresses associated with or disassociated from instances and IPv6 addresses assigned to or unassigned from network interfaces (CloudTrail API calls)', () => {
    const built = build();
    const id = built.stack.getLogicalId(built.ec2dns.rules.addressChange.node.defaultChild as CfnElement);
    assert.match(id, /^Ec2DnsAddressChangeRule[0-9A-F]{8}$/);
    const rule = built.template.toJSON().Resources[id];
    assert.deepEqual(rule.Properties.EventPattern, {
      'source': ['aws.ec2'],
      'detail-type': ['AWS API Call via CloudTrail'],
      'detail': { eventSource: ['ec2.amazonaws.com'], eventName: ['AssociateAddress', 'DisassociateAddress', 'AssignIpv6Addresses', 'UnassignIpv6Addresses'] },
    });
    assert.equal(rule.Properties.State, 'ENABLED');
    // The only rule of its kind; the name tag does not change it.
    const cloudTrail = rules(build({ nameTag: 'hostname' }).template)
      .filter((r) => r.Properties.EventPattern?.['detail-type']?.[0] === 'AWS API Call via CloudTrail');
    assert.deepEqual(cloudTrail.map((r) => r.Properties.EventPattern), [rule.Properties.EventPattern]);
  });

  it('follows a custom name tag', () => {
    const { template } = build({ nameTag: 'hostname' });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ detail: Match.objectLike({ 'changed-tag-keys': ['hostname'] }) }),
    });
  });

  it('reconciles everything every 15 minutes by default, on a configurable schedule', () => {
    build().template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    build({ reconcileSchedule: events.Schedule.rate(Duration.hours(1)) })
      .template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
  });

  it('sends every rule to the queue with a retry policy and a dead-letter queue', () => {
    const built = build();
    const { template } = built;
    const { queue, eventDlq } = idsOf(built);
    assert.equal(rules(template).length, 4);
    for (const rule of rules(template)) {
      assert.equal(rule.Properties.Targets.length, 1);
      const t = rule.Properties.Targets[0];
      assert.deepEqual(t.Arn, { 'Fn::GetAtt': [queue, 'Arn'] });
      assert.deepEqual(t.DeadLetterConfig, { Arn: { 'Fn::GetAtt': [eventDlq, 'Arn'] } });
      assert.deepEqual(t.RetryPolicy, { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 });
    }
  });
});

describe('queue', () => {
  it('feeds the function with batching window, maximum concurrency and partial batch failures', () => {
    const built = build();
    const { template } = built;
    const { queue } = idsOf(built);
    const [, esm] = only(template, 'AWS::Lambda::EventSourceMapping');
    assert.deepEqual(esm.Properties.EventSourceArn, { 'Fn::GetAtt': [queue, 'Arn'] });
    assert.equal(esm.Properties.BatchSize, 10);
    assert.equal(esm.Properties.MaximumBatchingWindowInSeconds, 10);
    assert.deepEqual(esm.Properties.ScalingConfig, { MaximumConcurrency: 2 });
    assert.deepEqual(esm.Properties.FunctionResponseTypes, ['ReportBatchItemFailures']);
  });

  it('feeds the alias live, not $LATEST', () => {
    const built = build();
    const { alias } = idsOf(built);
    const [, esm] = only(built.template, 'AWS::Lambda::EventSourceMapping');
    // <function name>:live, the name taken from the alias's ARN.
    assert.deepEqual(esm.Properties.FunctionName, {
      'Fn::Join': ['', [{ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: alias }] }] }, ':live']],
    });
  });

  it('takes batching window and maximum concurrency as props', () => {
    const { template } = build({ batchingWindow: Duration.seconds(30), maxConcurrency: 5 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      MaximumBatchingWindowInSeconds: 30, ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it('has a visibility timeout of six times the function timeout', () => {
    for (const seconds of [300, 120]) {
      const built = build({ timeout: Duration.seconds(seconds) });
      const id = idsOf(built).queue;
      assert.equal(built.template.toJSON().Resources[id].Properties.VisibilityTimeout, seconds * 6);
    }
  });

  it('redrives to a dead-letter queue after eight receives, a configurable count', () => {
    const built = build();
    const { template } = built;
    const { queue, dlq } = idsOf(built);
    assert.deepEqual(template.toJSON().Resources[queue].Properties.RedrivePolicy, {
      deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] },
      maxReceiveCount: 8,
    });
    const custom = build({ maxReceiveCount: 3 });
    assert.equal(custom.template.toJSON().Resources[idsOf(custom).queue].Properties.RedrivePolicy.maxReceiveCount, 3);
  });

  it('gives a failed message about 45 minutes of retries before the dead-letter queue', () => {
    // The function delays the retry of a failed message by 30 s, doubled per receive,
    // at most 15 minutes: the delays between the receives are 30+60+…+900+900 s.
    const delays = Array.from({ length: DEFAULTS.maxReceiveCount - 1 }, (_, n) => Math.min(30 * 2 ** n, 900));
    assert.deepEqual(delays, [30, 60, 120, 240, 480, 900, 900]);
    assert.equal(delays.reduce((a, b) => a + b, 0), 2730);
  });

  it('encrypts all three queues', () => {
    const { template } = build();
    const queues = Object.values(template.findResources('AWS::SQS::Queue'));
    assert.equal(queues.length, 3);
    for (const q of queues) assert.equal(q.Properties.SqsManagedSseEnabled, true);
  });

  it('lets only the four rules send to the queue and to the event dead-letter queue', () => {
    const built = build();
    const { template } = built;
    const ruleArns = Object.keys(template.findResources('AWS::Events::Rule')).map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] }));
    assert.equal(ruleArns.length, 4);
    const ruleArn = (r: events.Rule) => ({ 'Fn::GetAtt': [built.stack.getLogicalId(r.node.defaultChild as CfnElement), 'Arn'] });
    const { stateChange, tagChange, addressChange, schedule } = built.ec2dns.rules;
    assert.deepEqual([...ruleArns].sort(byJson), [stateChange, tagChange, addressChange, schedule].map(ruleArn).sort(byJson));
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy'));
    const allows = policies.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((s: any) => s.Effect === 'Allow');
    assert.equal(allows.length, 2, 'one Allow on the queue, one on the event dead-letter queue');
    for (const s of allows) {
      assert.deepEqual(s.Principal, { Service: 'events.amazonaws.com' });
      assert.equal(s.Action, 'sqs:SendMessage');
      assert.deepEqual([...s.Condition.ArnEquals['aws:SourceArn']].sort(byJson), [...ruleArns].sort(byJson));
    }
    // Every queue refuses requests without TLS.
    for (const p of policies) {
      assert.ok(p.Properties.PolicyDocument.Statement.some((s: any) =>
        s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'));
    }
  });
});

const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));

/** IAM StringLike: case-sensitive, `*` any characters (dots included), `?` one character. */
function stringLike(pattern: string, value: string): boolean {
  const re = pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${re}$`).test(value);
}

describe('IAM, least privilege', () => {
  function statements(template: Template) {
    const [, role] = only(template, 'AWS::IAM::Role');
    assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no managed policies');
    assert.equal(role.Properties.Policies.length, 1);
    return role.Properties.Policies[0].PolicyDocument.Statement as any[];
  }

  it('grants exactly the calls the code makes, and nothing else', () => {
    const built = build();
    const { template } = built;
    const { table, queue, logGroup } = idsOf(built);
    assert.deepEqual(statements(template), [
      { Sid: 'DescribeInstances', Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' },
      {
        Sid: 'WriteStatusTag', Effect: 'Allow', Action: 'ec2:CreateTags',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:*:', { Ref: 'AWS::AccountId' }, ':instance/*']] },
        Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['dnsname-status'] } },
      },
      { Sid: 'ListHostedZones', Effect: 'Allow', Action: 'route53:ListHostedZones', Resource: '*' },
      { Sid: 'ReadRecords', Effect: 'Allow', Action: 'route53:ListResourceRecordSets', Resource: ZONE_ARNS },
      {
        Sid: 'ChangeRecords', Effect: 'Allow', Action: 'route53:ChangeResourceRecordSets', Resource: ZONE_ARNS,
        Condition: {
          'ForAllValues:StringLike': {
            'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['*.dyn.example.com', '*.other.example.org'],
          },
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'AAAA', 'TXT'],
            'route53:ChangeResourceRecordSetsActions': ['CREATE', 'DELETE'],
          },
        },
      },
      {
        Sid: 'LockTable', Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem',
          'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:Scan'],
        Resource: { 'Fn::GetAtt': [table, 'Arn'] },
      },
      {
        Sid: 'WriteLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logGroup, 'Arn'] },
      },
      {
        Sid: 'ConsumeQueue', Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Resource: { 'Fn::GetAtt': [queue, 'Arn'] },
      },
      {
        Sid: 'RetryFailedMessages', Effect: 'Allow', Action: 'sqs:ChangeMessageVisibility',
        Resource: { 'Fn::GetAtt': [queue, 'Arn'] },
      },
      { Sid: 'SendShards', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [queue, 'Arn'] } },
      { Sid: 'DescribeLockTable', Effect: 'Allow', Action: 'dynamodb:DescribeTable', Resource: { 'Fn::GetAtt': [table, 'Arn'] } },
    ]);
  });

  it('writes A, AAAA and the TXT ownership marker, only CREATE and DELETE, and no other type', () => {
    const { template } = build();
    const change = statements(template).filter((s) => JSON.stringify(s.Action).includes('route53:ChangeResourceRecordSets'));
    assert.equal(change.length, 1, 'one statement may change records');
    assert.deepEqual(change[0].Condition['ForAllValues:StringEquals'], {
      'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'AAAA', 'TXT'],
      'route53:ChangeResourceRecordSetsActions': ['CREATE', 'DELETE'],
    });
  });

  it('admits the marker _ec2-dns.<name> with the same names condition, and nothing outside the domains', () => {
    const { template } = build();
    const change = statements(template).find((s) => s.Action === 'route53:ChangeResourceRecordSets');
    const patterns: string[] = change.Condition['ForAllValues:StringLike']['route53:ChangeResourceRecordSetsNormalizedRecordNames'];
    assert.deepEqual(patterns, ['*.dyn.example.com', '*.other.example.org']);
    // ForAllValues:StringLike: every name of the batch must match one of the patterns.
    const batchAllowed = (names: string[]) => names.every((n) => patterns.some((p) => stringLike(p, n)));
    assert.ok(batchAllowed(['web.dyn.example.com', '_ec2-dns.web.dyn.example.com']));
    assert.ok(batchAllowed(['a.b.other.example.org', '_ec2-dns.a.b.other.example.org']));
    for (const outside of ['dyn.example.com', '_ec2-dns.dyn.example.com.evil.net', 'web.example.com', 'xdyn.example.com']) {
      assert.ok(!batchAllowed(['web.dyn.example.com', outside]), outside);
    }
  });

  it('lets the function change the visibility of messages of the event queue only', () => {
    const built = build();
    const { queue } = idsOf(built);
    const sqsStatements = statements(built.template).filter((s) => JSON.stringify(s.Action).includes('sqs:'));
    const retry = sqsStatements.filter((s) => JSON.stringify(s.Action).includes('sqs:ChangeMessageVisibility'));
    assert.deepEqual(retry, [{
      Sid: 'RetryFailedMessages', Effect: 'Allow', Action: 'sqs:ChangeMessageVisibility',
      Resource: { 'Fn::GetAtt': [queue, 'Arn'] },
    }]);
    for (const s of sqsStatements) {
      assert.deepEqual(s.Resource, { 'Fn::GetAtt': [queue, 'Arn'] }, `${s.Sid}: the event queue only`);
      assert.ok(!JSON.stringify(s.Action).includes('*'), `${s.Sid}: no wildcard action`);
    }
  });

  it('never allows UPSERT, other record types or names outside the allowed domains', () => {
    const { template } = build();
    const change = statements(template).find((s) => s.Action === 'route53:ChangeResourceRecordSets');
    const text = JSON.stringify(change);
    assert.ok(!text.includes('UPSERT'));
    assert.ok(!text.includes('"*"'), 'no wildcard resource or name');
  });

  it('lets the function tag only <name tag>-status', () => {
    const { template } = build({ nameTag: 'hostname' });
    const tag = statements(template).find((s) => s.Action === 'ec2:CreateTags');
    assert.deepEqual(tag.Condition, { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['hostname-status'] } });
  });

  it('grants lambda:InvokeFunction to nobody: no resource policy, no function URL', () => {
    const { template } = build();
    assert.deepEqual(Object.keys(template.findResources('AWS::Lambda::Permission')), []);
    assert.deepEqual(Object.keys(template.findResources('AWS::Lambda::Url')), []);
  });

  it('has no other role or policy: no instance role gets any Route53 permission', () => {
    const { template } = build();
    assert.equal(Object.keys(template.findResources('AWS::IAM::Role')).length, 1);
    assert.equal(Object.keys(template.findResources('AWS::IAM::Policy')).length, 0);
    assert.equal(Object.keys(template.findResources('AWS::IAM::ManagedPolicy')).length, 0);
    assert.equal(Object.keys(template.findResources('AWS::IAM::InstanceProfile')).length, 0);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
      },
    });
  });
});

describe('alarms', () => {
  const metricsOf = (template: Template) => Object.values(template.findResources('AWS::CloudWatch::Alarm'))
    .map((a) => `${a.Properties.Namespace}/${a.Properties.MetricName}`).sort();

  it('alarm on both dead-letter queues, errors and throttles', () => {
    const built = build();
    const { template } = built;
    assert.deepEqual(metricsOf(template), [
      'AWS/Lambda/Errors', 'AWS/Lambda/Throttles',
      'AWS/SQS/ApproximateNumberOfMessagesVisible', 'AWS/SQS/ApproximateNumberOfMessagesVisible',
    ]);
    for (const a of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      assert.equal(a.Properties.Threshold, 0);
      assert.equal(a.Properties.ComparisonOperator, 'GreaterThanThreshold');
      assert.equal(a.Properties.AlarmActions, undefined);
    }
    const dlqs = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .filter((a) => a.Properties.Namespace === 'AWS/SQS')
      .map((a) => a.Properties.Dimensions[0].Value['Fn::GetAtt'][0]).sort();
    assert.deepEqual(dlqs, [idsOf(built).dlq, idsOf(built).eventDlq].sort());
  });

  it('notify the optional topic', () => {
    const { template } = build({}, true);
    const [topic] = only(template, 'AWS::SNS::Topic');
    for (const a of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      assert.deepEqual(a.Properties.AlarmActions, [{ Ref: topic }]);
    }
  });
});

describe('outputs', () => {
  it('give function name and ARN, alias, rollback command, table name, queue URLs and dashboard', () => {
    const { template } = build();
    const outputs = Object.keys(template.toJSON().Outputs).map((k) => k.replace(/^Ec2Dns/, '').replace(/[0-9A-F]{8}$/, ''));
    for (const name of ['FunctionName', 'FunctionArn', 'LiveAliasArn', 'RollbackCommand', 'LockTableName', 'QueueUrl',
      'DeadLetterQueueUrl', 'EventDeadLetterQueueUrl', 'DashboardName']) {
      assert.ok(outputs.includes(name), `output ${name} in ${outputs}`);
    }
  });

  it('give the rollback as one command on the alias', () => {
    const built = build();
    const { fn, alias } = idsOf(built);
    const outputs = built.template.toJSON().Outputs;
    const value = (name: string) => (Object.entries(outputs).find(([k]) => k.startsWith(`Ec2Dns${name}`))?.[1] as any).Value;
    assert.deepEqual(value('LiveAliasArn'), { Ref: alias });
    assert.deepEqual(value('RollbackCommand'), { 'Fn::Join': ['', [
      'aws lambda update-alias --region ', { Ref: 'AWS::Region' }, ' --function-name ', { Ref: fn },
      ' --name live --function-version VERSION']] });
  });
});

describe('outputs for the first check after the deploy', () => {
  const outputsOf = (template: Template, prefix = 'Ec2Dns') => Object.fromEntries(
    Object.entries(template.toJSON().Outputs as Record<string, any>)
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => [k.slice(prefix.length).replace(/[0-9A-F]{8}$/, ''), v.Value]));

  it('give the region and the commands to run next, named by the function and region', () => {
    const built = build();
    const { fn, table } = idsOf(built);
    const out = outputsOf(built.template);
    assert.deepEqual(out.Region, { Ref: 'AWS::Region' });
    assert.deepEqual(out.LockTableName, { Ref: table });
    const [name, region] = [{ Ref: fn }, { Ref: 'AWS::Region' }];
    assert.deepEqual(out.NextSteps, { 'Fn::Join': ['', [
      'ec2-dns-ctl --function ', name, ' --region ', region, ' status\nec2-dns-ctl --function ', name, ' --region ', region,
      ' plan\naws lambda invoke --function-name ', name, ' --region ', region,
      ' --cli-binary-format raw-in-base64-out --payload \'{"reconcile":"all","dry_run":true}\' out.json']] });
  });

  it('come with the construct into a stack of the user\'s own, under any id and below other constructs', () => {
    const app = new App();
    const stack = new Stack(app, 'Mine');
    new Ec2Dns(new Construct(stack, 'Dns'), 'Prod', BASE);
    const out = outputsOf(Template.fromStack(stack), 'DnsProd');
    for (const name of ['FunctionName', 'LockTableName', 'Region', 'NextSteps']) {
      assert.ok(name in out, `output ${name} in ${Object.keys(out)}`);
    }
    assert.ok(JSON.stringify(out.NextSteps).includes('ec2-dns-ctl --function '));
  });
});

describe('configuration recorded during the deploy (custom resource served by the function)', () => {
  const configuration = (template: Template) => only(template, 'Custom::Ec2DnsConfiguration')[1];
  const fnOf = (template: Template) => Object.values(template.findResources('AWS::Lambda::Function'))[0] as any;

  it('asks the function itself ($LATEST, no provider, no extra asset) once its role is in place', () => {
    const built = build();
    const { fn } = idsOf(built);
    const cr = configuration(built.template);
    assert.deepEqual(cr.Properties.ServiceToken, { 'Fn::GetAtt': [fn, 'Arn'] });
    const roleId = built.stack.getLogicalId(built.ec2dns.role.node.defaultChild as CfnElement);
    assert.ok(cr.DependsOn.includes(roleId), `DependsOn ${cr.DependsOn} names the role ${roleId} (its inline policy)`);
    // Served by the stack's own function: the template has no other function, no other
    // asset than the function's zip, and no invoke grant (CloudFormation invokes it with the
    // deployer's rights).
    assert.equal(Object.keys(built.template.findResources('AWS::Lambda::Function')).length, 1);
    assert.deepEqual(Object.keys(built.template.findResources('AWS::Lambda::Permission')), []);
    const assets = JSON.stringify(built.template.toJSON()).match(/[0-9a-f]{64}\.zip/g) ?? [];
    assert.equal(new Set(assets).size, 1, `one asset, the function's zip: ${[...new Set(assets)]}`);
    // A crashed run answers nothing: the deploy waits for two runs at most, not an hour.
    assert.equal(Number(cr.Properties.ServiceTimeout), 2 * 300 + 120);
  });

  it('carries the function\'s environment and code, so that a change of either records again', () => {
    const built = build();
    const cr = configuration(built.template);
    const f = fnOf(built.template).Properties;
    assert.deepEqual(Object.keys(cr.Properties).sort(), ['Code', 'Environment', 'ServiceTimeout', 'ServiceToken']);
    assert.deepEqual(cr.Properties.Environment, f.Environment.Variables);
    assert.deepEqual(cr.Properties.Code, f.Code);

    // Another environment (the name tag) or another zip: other properties, so an Update.
    const otherTag = configuration(build({ nameTag: 'hostname' }).template);
    assert.equal(otherTag.Properties.Environment.NAME_TAG, 'hostname');
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ec2-dns-code-'));
    fs.writeFileSync(path.join(otherDir, 'bootstrap'), 'another build');
    try {
      const otherCode = configuration(build({ codePath: otherDir }).template);
      assert.notDeepEqual(otherCode.Properties.Code.S3Key, cr.Properties.Code.S3Key);
      assert.deepEqual(otherCode.Properties.Environment, cr.Properties.Environment);
    } finally {
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
    // Code from a bucket: its key (and version) are the code's identity.
    const app = new App();
    const stack = new Stack(app, 'FromBucket');
    const bucket = s3.Bucket.fromBucketName(stack, 'Releases', 'releases');
    new Ec2Dns(stack, 'Ec2Dns', { ...BASE, codePath: undefined, code: lambda.Code.fromBucket(bucket, 'ec2-dns/1.0.0.zip', 'v7') });
    assert.deepEqual(configuration(Template.fromStack(stack)).Properties.Code,
      { S3Bucket: 'releases', S3Key: 'ec2-dns/1.0.0.zip', S3ObjectVersion: 'v7' });
  });

  it('follows what is added to the function and its role after the construct', () => {
    const built = (() => {
      const app = new App();
      const stack = new Stack(app, 'Later');
      const ec2dns = new Ec2Dns(stack, 'Ec2Dns', BASE);
      ec2dns.function.addEnvironment('EXTRA', 'yes');
      ec2dns.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: ['*'] }));
      return { stack, template: Template.fromStack(stack) };
    })();
    const cr = configuration(built.template);
    assert.equal(cr.Properties.Environment.EXTRA, 'yes');
    const [policyId] = Object.keys(built.template.findResources('AWS::IAM::Policy'));
    assert.ok(cr.DependsOn.includes(policyId), `DependsOn ${cr.DependsOn} names the added policy ${policyId}`);
  });
});

describe('versions and the alias live', () => {
  it('publishes a version on every change of code or configuration, kept when the next one comes', () => {
    const built = build();
    const { fn } = idsOf(built);
    const [versionId, version] = only(built.template, 'AWS::Lambda::Version');
    assert.deepEqual(version.Properties, { FunctionName: { Ref: fn } });
    assert.equal(version.DeletionPolicy, 'Retain');
    assert.equal(version.UpdateReplacePolicy, 'Retain');
    // The version's logical id hashes code and configuration: a change gives a new one.
    const other = build({ recordTtl: 300 });
    const [otherId] = only(other.template, 'AWS::Lambda::Version');
    assert.notEqual(otherId, versionId);
  });

  it('points the alias live at the published version, without weights or provisioned concurrency', () => {
    const built = build();
    const { fn, alias } = idsOf(built);
    const [versionId] = only(built.template, 'AWS::Lambda::Version');
    const [aliasId, a] = only(built.template, 'AWS::Lambda::Alias');
    assert.equal(aliasId, alias);
    assert.deepEqual(a.Properties, {
      Name: 'live',
      FunctionName: { Ref: fn },
      FunctionVersion: { 'Fn::GetAtt': [versionId, 'Version'] },
      Description: a.Properties.Description,
    });
  });

  it('grants nothing to the alias: the queue reads with the function\'s role', () => {
    const { template } = build();
    assert.deepEqual(Object.keys(template.findResources('AWS::Lambda::Permission')), []);
  });

  it('takes the code as any lambda.Code (e.g. a release zip in S3) instead of a path', () => {
    const app = new App();
    const stack = new Stack(app, 'S3Code');
    new Ec2Dns(stack, 'Ec2Dns', {
      ...BASE, codePath: undefined, code: lambda.Code.fromBucket(s3.Bucket.fromBucketName(stack, 'B', 'releases'), 'ec2-dns.zip'),
    });
    const [, fn] = only(Template.fromStack(stack), 'AWS::Lambda::Function');
    assert.deepEqual(fn.Properties.Code, { S3Bucket: 'releases', S3Key: 'ec2-dns.zip' });
    assert.throws(() => build({ code: lambda.Code.fromInline('x') }), /exactly one of codePath and code/);
  });
});

describe('dashboard', () => {
  const body = (built: ReturnType<typeof build>): any => {
    const [, dashboard] = only(built.template, 'AWS::CloudWatch::Dashboard');
    const parts: unknown[] = dashboard.Properties.DashboardBody['Fn::Join'][1];
    return JSON.parse(parts.map((x: any) => (typeof x === 'string' ? x : `\${${x.Ref ?? x['Fn::GetAtt']?.join('.')}}`)).join(''));
  };

  it('shows changes, conflicts, failures, API calls, durations, Lambda\'s metrics and the queues, two widgets a row', () => {
    const b = body(build());
    assert.deepEqual(b.widgets.map((w: any) => w.properties.title), [
      'Record changes', 'Conflicts and names left alone',
      'Failures', 'AWS API calls',
      'Reconcile duration (ms)', 'Lambda invocations',
      'Lambda errors and throttles', 'Lambda duration (ms)',
      'Dead-letter queues (messages)', 'Event queue: age of the oldest message (s)',
      'AWS API calls by service',
    ]);
    assert.deepEqual(b.widgets.map((w: any) => [w.x, w.y, w.width, w.height]), [
      [0, 0, 12, 6], [12, 0, 12, 6], [0, 6, 12, 6], [12, 6, 12, 6], [0, 12, 12, 6],
      [12, 12, 12, 6], [0, 18, 12, 6], [12, 18, 12, 6], [0, 24, 12, 6], [12, 24, 12, 6], [0, 30, 12, 6],
    ]);
  });

  it('graphs the function\'s own EMF metrics (namespace ec2-dns, dimension Function) in five-minute sums', () => {
    const built = build();
    const { fn } = idsOf(built);
    const own = body(built).widgets.flatMap((w: any) => (w.properties.metrics ?? [])
      .filter((m: any[]) => m[0] === 'ec2-dns').map((m: any[]) => `${m[2]}=${m[3]} ${m[1]}/${m[4].stat}`));
    assert.deepEqual(new Set(own), new Set([
      'Creates/Sum', 'Updates/Sum', 'Deletes/Sum', 'Marks/Sum', 'Conflicts/Sum', 'Frozen/Sum', 'InvalidNames/Sum',
      'Skipped/Sum', 'Failed/Sum', 'Errors/Sum', 'AwsApiCalls/Sum',
      'ReconcileDuration/p50', 'ReconcileDuration/p90', 'ReconcileDuration/Maximum',
    ].map((m) => `Function=\${${fn}} ${m}`)));
  });

  it('graphs Lambda\'s invocations, errors, throttles and duration, and both dead-letter queues', () => {
    const built = build();
    const { fn, queue, dlq, eventDlq } = idsOf(built);
    const other = body(built).widgets.flatMap((w: any) => (w.properties.metrics ?? [])
      .filter((m: any[]) => m[0] !== 'ec2-dns').map((m: any[]) => `${m[0]}/${m[1]}/${m[3]}`));
    assert.deepEqual(new Set(other), new Set([
      `AWS/Lambda/Invocations/\${${fn}}`, `AWS/Lambda/Errors/\${${fn}}`, `AWS/Lambda/Throttles/\${${fn}}`,
      `AWS/Lambda/Duration/\${${fn}}`,
      `AWS/SQS/ApproximateNumberOfMessagesVisible/\${${dlq}.QueueName}`,
      `AWS/SQS/ApproximateNumberOfMessagesVisible/\${${eventDlq}.QueueName}`,
      `AWS/SQS/ApproximateAgeOfOldestMessage/\${${queue}.QueueName}`,
    ]));
  });

  it('sums the AWS API calls by service from the function\'s log (Logs Insights)', () => {
    const built = build();
    const { logGroup } = idsOf(built);
    const [w] = body(built).widgets.filter((x: any) => x.type === 'log');
    assert.equal(w.properties.view, 'timeSeries');
    assert.equal(w.properties.stacked, true);
    const query: string = w.properties.query;
    assert.ok(query.startsWith(`SOURCE '\${${logGroup}}' | filter ispresent(AwsApiCalls)`), query);
    for (const column of ['EC2', 'Route53', 'DynamoDB', 'SQS', 'SSM', 'SNS', 'STS']) {
      assert.ok(query.includes(`sum(calls${column}) as ${column}`), column);
    }
    for (const call of ['EC2:DescribeInstances', 'Route 53:ChangeResourceRecordSets', 'DynamoDB:TransactWriteItems',
      'SQS:ChangeMessageVisibilityBatch', 'SQS:SendMessage', 'SQS:SendMessageBatch', 'DynamoDB:DescribeTable']) {
      assert.ok(query.includes(`coalesce(\`ApiCalls.${call}\`, 0)`), call);
    }
  });

  it('graphs this region in five-minute periods', () => {
    for (const w of body(build()).widgets) {
      assert.equal(w.properties.region, '${AWS::Region}');
      if (w.type === 'metric') assert.equal(w.properties.period, 300);
    }
  });

  it('can be left out, or named', () => {
    assert.equal(Object.keys(build({ dashboard: false }).template.findResources('AWS::CloudWatch::Dashboard')).length, 0);
    const [, named] = only(build({ dashboardName: 'dns' }).template, 'AWS::CloudWatch::Dashboard');
    assert.equal(named.Properties.DashboardName, 'dns');
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports nothing that is not acknowledged with a reason', () => {
    const app = new App();
    new Ec2Dns(new Stack(app, 'Nag'), 'Ec2Dns', { ...BASE, alarmTopic: undefined });
    new Ec2Dns(new Stack(app, 'NagLifecycle'), 'Ec2Dns',
      { ...BASE, lifecycleHooks: ['web-launch'], lifecycleGroups: ['web', 'api'] });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // Throws ValidationFailed (with the findings on stderr) if anything is reported.
    app.synth();
  });

  it('would report a finding that is not acknowledged (the check is live)', () => {
    const app = new App();
    const stack = new Stack(app, 'Bad');
    new Ec2Dns(stack, 'Ec2Dns', BASE);
    // A queue without DLQ and without a TLS-only policy must fail the synth.
    new sqs.Queue(stack, 'Plain');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    assert.throws(() => app.synth(), /Validation failed/);
  });
});

describe('validation of props', () => {
  it('reports every problem at once', () => {
    assert.throws(() => build({
      allowedDomains: ['not a domain'], hostedZoneIds: [], recordTtl: 0, maxConcurrency: 1, shardSize: 1,
    }), (e: Error) => {
      for (const part of ['allowedDomains', 'hostedZoneIds must not be empty', 'recordTtl', 'maxConcurrency', 'shardSize']) {
        assert.ok(e.message.includes(part), `${part} in ${e.message}`);
      }
      return true;
    });
  });
});

describe('marker style and Route53 budgets, the same for both functions', () => {
  const ddnsCode = { enableDdns: true, ddnsCodePath: codeDir };
  const environments = (template: Template) => Object.values(template.findResources('AWS::Lambda::Function'))
    .map((f: any) => f.Properties.Environment.Variables);
  const KEYS = ['MARKER_STYLE', 'ROUTE53_REQUESTS_PER_SECOND', 'ROUTE53_CHANGES_PER_SECOND'];

  it('passes markerStyle and the two rates to both functions, each only when set', () => {
    const envs = environments(build({
      ...ddnsCode, markerStyle: 'opaque', route53RequestsPerSecond: 8, route53ChangesPerSecond: 200,
    }).template);
    assert.equal(envs.length, 2);
    for (const env of envs) {
      assert.deepEqual(KEYS.map((k) => env[k]), ['opaque', '8', '200'], JSON.stringify(env));
    }
    // Unset: nothing, so that the function's own defaults apply (and a later release's).
    for (const env of environments(build(ddnsCode).template)) {
      for (const k of KEYS) assert.equal(env[k], undefined, `${k} in ${JSON.stringify(env)}`);
    }
    // One set, the others left out; plain given explicitly is passed as given.
    for (const env of environments(build({ ...ddnsCode, markerStyle: 'plain' }).template)) {
      assert.deepEqual(KEYS.map((k) => env[k]), ['plain', undefined, undefined], JSON.stringify(env));
    }
    for (const env of environments(build({ ...ddnsCode, route53ChangesPerSecond: 10000 }).template)) {
      assert.deepEqual(KEYS.map((k) => env[k]), [undefined, undefined, '10000'], JSON.stringify(env));
    }
  });

  it('takes an empty markerStyle (from a language without the union type) as unset', () => {
    for (const env of environments(build({ ...ddnsCode, markerStyle: '' as Ec2DnsProps['markerStyle'] }).template)) {
      assert.equal(env.MARKER_STYLE, undefined, JSON.stringify(env));
    }
  });

  it('refuses a marker style other than plain or opaque, as the function would at start', () => {
    for (const bad of ['Opaque', 'hidden', ' plain', 'plain ']) {
      assert.throws(() => build({ markerStyle: bad as Ec2DnsProps['markerStyle'] }),
        new RegExp(`markerStyle: '${bad}' must be plain or opaque`));
    }
  });

  it('refuses rates that are not whole numbers in the function\'s ranges', () => {
    for (const ok of [1, 5, 100]) build({ route53RequestsPerSecond: ok });
    for (const ok of [1, 50, 10000]) build({ route53ChangesPerSecond: ok });
    for (const bad of [0, -1, 101, 2.5, NaN]) {
      assert.throws(() => build({ route53RequestsPerSecond: bad }),
        new RegExp(`route53RequestsPerSecond: ${bad} must be a whole number in 1\\.\\.100`));
    }
    for (const bad of [0, 10001, 49.5, Infinity]) {
      assert.throws(() => build({ route53ChangesPerSecond: bad }),
        new RegExp(`route53ChangesPerSecond: ${bad} must be a whole number in 1\\.\\.10000`));
    }
    // Every problem at once, like the function's startup error.
    assert.throws(() => build({ markerStyle: 'x' as Ec2DnsProps['markerStyle'], route53RequestsPerSecond: 0, route53ChangesPerSecond: 0 }),
      (e: Error) => ['markerStyle', 'route53RequestsPerSecond', 'route53ChangesPerSecond'].every((k) => e.message.includes(k)));
  });
});

describe('deployment id, and two deployments side by side', () => {
  const ddnsCode = { enableDdns: true, ddnsCodePath: codeDir };
  const environments = (template: Template) => Object.values(template.findResources('AWS::Lambda::Function'))
    .map((f: any) => f.Properties.Environment.Variables);

  it('passes deploymentId to both functions as DEPLOYMENT_ID, and nothing when it is unset or empty', () => {
    const envs = environments(build({ ...ddnsCode, deploymentId: 'prod-eu' }).template);
    assert.equal(envs.length, 2);
    for (const env of envs) assert.equal(env.DEPLOYMENT_ID, 'prod-eu');
    for (const unset of [undefined, '']) {
      for (const env of environments(build({ ...ddnsCode, deploymentId: unset }).template)) {
        assert.equal(env.DEPLOYMENT_ID, undefined, JSON.stringify(env));
      }
    }
  });

  it('refuses a deployment id that is not 1-24 of a-z 0-9 - starting with a letter or digit', () => {
    for (const ok of ['0', 'prod', 'a'.repeat(24), 'eu-1-']) build({ deploymentId: ok });
    for (const bad of ['Prod', '-prod', 'prod_eu', 'prod.eu', 'a'.repeat(25), ' prod']) {
      assert.throws(() => build({ deploymentId: bad }),
        new RegExp(`deploymentId: '${bad.replace('.', '\\.')}' must be 1-24 of lowercase letters, digits and hyphens`));
    }
  });

  // The properties that give a resource a name in its account and region: given, they must
  // differ between the two stacks; left out, CloudFormation makes one from the stack's name.
  const NAME_PROPERTIES: Record<string, string[]> = {
    'AWS::Lambda::Function': ['FunctionName'],
    'AWS::IAM::Role': ['RoleName'],
    'AWS::IAM::Policy': ['PolicyName'],
    'AWS::DynamoDB::Table': ['TableName'],
    'AWS::SQS::Queue': ['QueueName'],
    'AWS::Events::Rule': ['Name'],
    'AWS::Events::EventBusPolicy': ['StatementId'],
    'AWS::Logs::LogGroup': ['LogGroupName'],
    'AWS::CloudWatch::Alarm': ['AlarmName'],
    'AWS::CloudWatch::Dashboard': ['DashboardName'],
    'AWS::SNS::Topic': ['TopicName'],
    'AWS::KMS::Alias': ['AliasName'],
    'AWS::SSM::Parameter': ['Name'],
    'AWS::CloudFront::Distribution': [],
  };
  const sideBySide = () => {
    const app = new App();
    const env = { account: '123456789012', region: 'eu-west-1' };
    const deployment = (stackName: string, props: Partial<Ec2DnsProps>) => {
      const stack = new Stack(app, stackName, { env });
      new Ec2Dns(stack, 'Ec2Dns', {
        ...BASE, ...ddnsCode, accounts: ['210987654321'], ddnsCloudfront: true,
        ddnsOriginSecret: 'example-origin-secret-offline-only', ...props,
      });
      return stack;
    };
    // Production keeps every default; staging sets only its id and its hosts' secrets path.
    const stacks = [
      deployment('Ec2DnsProduction', { deploymentId: 'prod' }),
      deployment('Ec2DnsStaging', { deploymentId: 'staging', ddnsHostSecretsPrefix: '/ec2-dns-staging/hosts/' }),
    ];
    return stacks.map((stack) => Template.fromStack(stack));
  };

  it('share no name in one account and region: each is given by the stack or generated from its name', () => {
    const [production, staging] = sideBySide();
    const names = (template: Template) => {
      const out = new Map<string, string>();
      for (const [id, r] of Object.entries(template.toJSON().Resources as Record<string, any>)) {
        for (const p of NAME_PROPERTIES[r.Type] ?? []) {
          if (r.Properties?.[p] !== undefined) out.set(`${r.Type} ${p} ${JSON.stringify(r.Properties[p])}`, id);
        }
      }
      return out;
    };
    const [a, b] = [names(production), names(staging)];
    const shared = [...a.keys()].filter((k) => b.has(k));
    assert.deepEqual(shared, [], `names both stacks would create: ${shared.join('; ')}`);
    // What is named explicitly: the bus statements (after the stack) and the inline policies
    // (which live inside their own role); everything else is CloudFormation's.
    const named = [...a.keys()].map((k) => k.split(' ').slice(0, 2).join(' '));
    assert.deepEqual([...new Set(named)].sort(), ['AWS::Events::EventBusPolicy StatementId']);
    const sids = [...a.keys(), ...b.keys()].filter((k) => k.includes('StatementId')).map((k) => JSON.parse(k.split(' ')[2]));
    assert.deepEqual(sids.sort(), ['Ec2DnsProduction-210987654321', 'Ec2DnsStaging-210987654321']);
    // Every resource type either stack creates is covered by the list above, so that a new
    // resource with a fixed name cannot slip past this test.
    const types = new Set([production, staging].flatMap((t) => Object.values(t.toJSON().Resources as Record<string, any>)
      .map((r) => r.Type)));
    const unnamed = ['AWS::Lambda::Version', 'AWS::Lambda::Alias', 'AWS::Lambda::EventSourceMapping', 'AWS::Lambda::Url',
      'AWS::Lambda::Permission', 'AWS::SQS::QueuePolicy', 'AWS::SNS::TopicPolicy', 'AWS::KMS::Key',
      'AWS::CloudFront::Distribution',
      // A request to the stack's own function: its physical id (ec2-dns-configuration, the
      // function's answer) names nothing in the account.
      'Custom::Ec2DnsConfiguration'];
    const unknown = [...types].filter((t) => !(t in NAME_PROPERTIES) && !unnamed.includes(t));
    assert.deepEqual(unknown, [], 'resource types whose name properties this test does not know');
  });

  it('give each function its own deployment id and read their hosts\' secrets under their own paths', () => {
    const [production, staging] = sideBySide();
    for (const [template, id] of [[production, 'prod'], [staging, 'staging']] as const) {
      const envs = environments(template);
      assert.equal(envs.length, 2);
      for (const env of envs) assert.equal(env.DEPLOYMENT_ID, id);
    }
    const secrets = (template: Template) => JSON.stringify(Object.values(template.findResources('AWS::IAM::Role'))
      .flatMap((r: any) => r.Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement)
      .filter((s: any) => s.Sid === 'ReadHostSecrets').map((s: any) => s.Resource));
    assert.ok(secrets(production).includes(':parameter/ec2-dns/hosts/*'), secrets(production));
    assert.ok(secrets(staging).includes(':parameter/ec2-dns-staging/hosts/*'), secrets(staging));
    // The output Deployment states both, for an operator to compare.
    const output = (template: Template) => JSON.stringify(Object.entries(template.toJSON().Outputs)
      .find(([k]) => k.startsWith('Ec2DnsDeployment'))![1]);
    assert.ok(output(production).includes('\\"deployment_id\\":\\"prod\\"'), output(production));
    assert.ok(output(staging).includes('/ec2-dns-staging/hosts/'), output(staging));
  });
});
