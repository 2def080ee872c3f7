/**
 * Template tests of the opt-in DDNS endpoint (lib/ddns.ts), offline: off by default; when
 * on, a function without EC2 rights behind a public function URL, with the reconciler's
 * Route53 and lock-table permissions, its secrets and alert topic only, a sweep schedule,
 * alarms, and CloudFront only behind its own switch.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Construct } from 'constructs';
import { DDNS_DEFAULTS, Ec2Dns, Ec2DnsProps } from '../lib/ec2-dns';

const codeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ec2-dns-ddns-code-'));
fs.writeFileSync(path.join(codeDir, 'bootstrap'), 'placeholder');
after(() => fs.rmSync(codeDir, { recursive: true, force: true }));

const SECRET = 'test-origin-secret-0123456789';
const BASE: Ec2DnsProps = {
  allowedDomains: ['dyn.example.com', 'Other.Example.ORG.'],
  hostedZoneIds: ['Z0123456789ABCDEFGHIJ', '/hostedzone/Z9876543210ZYXWVUTSRQ'],
  codePath: codeDir,
};
const DDNS: Partial<Ec2DnsProps> = { enableDdns: true, ddnsCodePath: codeDir };
const CLOUDFRONT: Partial<Ec2DnsProps> = { ...DDNS, ddnsCloudfront: true, ddnsOriginSecret: SECRET };

function build(overrides: Partial<Ec2DnsProps> = {}) {
  const app = new App();
  const stack = new Stack(app, 'Test');
  const ec2dns = new Ec2Dns(stack, 'Ec2Dns', { ...BASE, ...overrides });
  const template = Template.fromStack(stack);
  const id = (c: Construct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
  return { app, stack, ec2dns, template, id };
}

/** The built endpoint's parts, by logical id. */
function parts(built: ReturnType<typeof build>) {
  const d = built.ec2dns.ddns;
  assert.ok(d, 'the DDNS endpoint exists');
  return {
    fn: built.id(d.function),
    role: built.id(d.function.role as unknown as Construct),
    logGroup: built.id(d.function.logGroup as unknown as Construct),
    url: built.id(d.functionUrl),
    alias: built.id(d.alias),
    topic: d.alertKey ? built.id(d.alertTopic as unknown as Construct) : undefined,
    key: d.alertKey ? built.id(d.alertKey) : undefined,
    rule: built.id(d.sweepRule),
    reconcilerRole: built.id(built.ec2dns.function.role as unknown as Construct),
    table: built.id(built.ec2dns.table),
  };
}

const resources = (t: Template, type: string) => Object.entries(t.findResources(type));
const roleStatements = (t: Template, roleId: string): any[] =>
  t.toJSON().Resources[roleId].Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
const bySid = (statements: any[], sid: string) => {
  const found = statements.filter((s) => s.Sid === sid);
  assert.equal(found.length, 1, `one statement ${sid}`);
  return found[0];
};
const actionsOf = (s: any): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
const P = { Ref: 'AWS::Partition' };
const R = { Ref: 'AWS::Region' };
const A = { Ref: 'AWS::AccountId' };

describe('DDNS endpoint: opt-in', () => {
  it('is off by default: no DDNS function, URL, permission, topic, key, schedule or distribution', () => {
    const { template } = build();
    assert.equal(resources(template, 'AWS::Lambda::Function').length, 1, 'only the reconciler');
    for (const type of ['AWS::Lambda::Url', 'AWS::Lambda::Permission', 'AWS::SNS::Topic', 'AWS::SNS::TopicPolicy',
      'AWS::KMS::Key', 'AWS::CloudFront::Distribution']) {
      assert.equal(resources(template, type).length, 0, type);
    }
    assert.equal(resources(template, 'AWS::IAM::Role').length, 1);
    assert.equal(resources(template, 'AWS::Logs::LogGroup').length, 1);
    assert.equal(resources(template, 'AWS::Events::Rule').length, 4, 'the reconciler\'s four');
    assert.equal(resources(template, 'AWS::CloudWatch::Alarm').length, 4);
    assert.ok(!Object.keys(template.toJSON().Outputs).some((k) => k.includes('Ddns')));
  });

  it('adds the DDNS resources when enabled, and CloudFront only behind its own switch', () => {
    const { template } = build(DDNS);
    assert.equal(resources(template, 'AWS::Lambda::Function').length, 2);
    assert.equal(resources(template, 'AWS::Lambda::Url').length, 1);
    assert.equal(resources(template, 'AWS::SNS::Topic').length, 1);
    assert.equal(resources(template, 'AWS::KMS::Key').length, 1);
    assert.equal(resources(template, 'AWS::Events::Rule').length, 5, 'the reconciler\'s four and the sweep');
    assert.equal(resources(template, 'AWS::CloudWatch::Alarm').length, 7);
    assert.equal(resources(template, 'AWS::CloudFront::Distribution').length, 0);
    assert.equal(resources(build(CLOUDFRONT).template, 'AWS::CloudFront::Distribution').length, 1);
  });
});

describe('DDNS function', () => {
  it('runs the DDNS bootstrap on provided.al2023 arm64, 256 MB, 15 s, reserved concurrency 5', () => {
    const built = build(DDNS);
    const f = built.template.toJSON().Resources[parts(built).fn].Properties;
    assert.equal(f.Runtime, 'provided.al2023');
    assert.deepEqual(f.Architectures, ['arm64']);
    assert.equal(f.Handler, 'bootstrap');
    assert.equal(f.MemorySize, 256);
    assert.equal(f.Timeout, 15);
    assert.equal(f.ReservedConcurrentExecutions, 5);
  });

  it('takes the reserved concurrency as a prop', () => {
    const built = build({ ...DDNS, ddnsReservedConcurrency: 2 });
    assert.equal(built.template.toJSON().Resources[parts(built).fn].Properties.ReservedConcurrentExecutions, 2);
  });

  it('gets the reconciler\'s configuration, the secrets prefix and the alert topic; no ORIGIN_SECRET without CloudFront', () => {
    const built = build(DDNS);
    const p = parts(built);
    assert.deepEqual(built.template.toJSON().Resources[p.fn].Properties.Environment.Variables, {
      LOCK_TABLE: { Ref: p.table },
      ALLOWED_DOMAINS: 'dyn.example.com,other.example.org',
      NAME_TAG: 'dnsname',
      RECORD_TTL: '60',
      HOST_SECRETS_PREFIX: '/ec2-dns/hosts/',
      ALERT_TOPIC_ARN: { Ref: p.topic },
    });
  });

  it('logs JSON into its own log group with the reconciler\'s retention', () => {
    const built = build({ ...DDNS });
    const p = parts(built);
    const res = built.template.toJSON().Resources;
    assert.deepEqual(res[p.fn].Properties.LoggingConfig, { LogFormat: 'JSON', LogGroup: { Ref: p.logGroup } });
    assert.equal(res[p.logGroup].Properties.RetentionInDays, 30);
  });
});

describe('DDNS function URL', () => {
  it('is public (AuthType NONE) on the alias live, with exactly the two grants a public URL needs, and the sweep rule\'s', () => {
    const built = build(DDNS);
    const p = parts(built);
    const [[, url]] = resources(built.template, 'AWS::Lambda::Url');
    assert.equal(url.Properties.AuthType, 'NONE');
    assert.deepEqual(url.Properties.TargetFunctionArn, { 'Fn::GetAtt': [p.fn, 'Arn'] });
    assert.equal(url.Properties.Qualifier, 'live');
    const grants = resources(built.template, 'AWS::Lambda::Permission').map(([, r]) => r.Properties)
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    // Every grant is on the alias (its Ref is the qualified ARN), none on $LATEST.
    const fn = { Ref: p.alias };
    assert.deepEqual(grants, [
      { Action: 'lambda:InvokeFunction', FunctionName: fn, InvokedViaFunctionUrl: true, Principal: '*' },
      { Action: 'lambda:InvokeFunction', FunctionName: fn, Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': [p.rule, 'Arn'] } },
      { Action: 'lambda:InvokeFunctionUrl', FunctionName: fn, FunctionUrlAuthType: 'NONE', Principal: '*' },
    ]);
  });
});

describe('DDNS versions and the alias live', () => {
  it('publishes a version that outlives the next deploy, and points the alias live at it', () => {
    const built = build(DDNS);
    const p = parts(built);
    const all = built.template.toJSON().Resources;
    const versions = Object.entries(all).filter(([, r]: [string, any]) =>
      r.Type === 'AWS::Lambda::Version' && r.Properties.FunctionName.Ref === p.fn);
    assert.equal(versions.length, 1);
    const [versionId, version] = versions[0] as [string, any];
    assert.equal(version.DeletionPolicy, 'Retain');
    assert.equal(version.UpdateReplacePolicy, 'Retain');
    assert.deepEqual(all[p.alias].Properties, {
      Name: 'live',
      FunctionName: { Ref: p.fn },
      FunctionVersion: { 'Fn::GetAtt': [versionId, 'Version'] },
      Description: all[p.alias].Properties.Description,
    });
  });

  it('gives the alias ARN and the rollback command as outputs', () => {
    const built = build(DDNS);
    const p = parts(built);
    const outputs = built.template.toJSON().Outputs;
    const value = (name: string) => Object.entries(outputs).find(([k]) => k.startsWith(`Ec2Dns${name}`))?.[1] as any;
    assert.deepEqual(value('DdnsLiveAliasArn').Value, { Ref: p.alias });
    assert.deepEqual(value('DdnsRollbackCommand').Value, join(
      'aws lambda update-alias --region ', R, ' --function-name ', { Ref: p.fn }, ' --name live --function-version VERSION'));
  });
});

describe('DDNS on the dashboard', () => {
  const body = (built: ReturnType<typeof build>): any => {
    const [[, dashboard]] = resources(built.template, 'AWS::CloudWatch::Dashboard');
    // The body is a Fn::Join of literals and references: render the references as ${id}.
    const parts: unknown[] = dashboard.Properties.DashboardBody['Fn::Join'][1];
    return JSON.parse(parts.map((x: any) => (typeof x === 'string' ? x : `\${${x.Ref ?? x['Fn::GetAtt']?.join('.')}}`)).join(''));
  };

  it('shows the DDNS function\'s failed answers, API calls, invocations, errors, throttles and duration', () => {
    const built = build(DDNS);
    const p = parts(built);
    const lines = body(built).widgets.map((w: any) => (w.properties.metrics ?? [])
      .filter((m: any[]) => m[3] === `\${${p.fn}}`).map((m: any[]) => `${m[0]}/${m[1]}/${m[4].stat}`));
    assert.deepEqual(lines, [
      [], [],
      ['ec2-dns/Errors/Sum'],
      ['ec2-dns/AwsApiCalls/Sum'],
      [],
      ['AWS/Lambda/Invocations/Sum'],
      ['AWS/Lambda/Errors/Sum', 'AWS/Lambda/Throttles/Sum'],
      ['AWS/Lambda/Duration/p90', 'AWS/Lambda/Duration/Maximum'],
      [], [],
      [], [],
    ]);
  });

  it('shows the DDNS answers by outcome and counts its API calls by service, from its log group', () => {
    const built = build(DDNS);
    const p = parts(built);
    const logs = body(built).widgets.filter((w: any) => w.type === 'log');
    assert.deepEqual(logs.map((w: any) => [w.properties.title, w.x, w.y]),
      [['AWS API calls by service', 0, 30], ['DDNS answers', 12, 30]]);
    assert.ok(logs[0].properties.query.includes(`SOURCE '\${${p.logGroup}}'`));
    assert.ok(logs[1].properties.query.startsWith(`SOURCE '\${${p.logGroup}}' | filter`));
    assert.match(logs[1].properties.query, /stats count\(\*\) as requests by answer/);
    assert.equal(logs[1].properties.view, 'bar');
  });

  it('has no DDNS line or widget without the endpoint', () => {
    const built = build();
    const b = body(built);
    assert.ok(!JSON.stringify(b).includes('Ddns'), 'no reference to a DDNS resource');
    assert.deepEqual(b.widgets.filter((w: any) => w.type === 'log').map((w: any) => w.properties.title),
      ['AWS API calls by service']);
  });
});

describe('DDNS role, least privilege', () => {
  it('has no EC2 action at all, in any policy of its role', () => {
    const built = build(CLOUDFRONT);
    const p = parts(built);
    const own = roleStatements(built.template, p.role);
    const attached = resources(built.template, 'AWS::IAM::Policy')
      .filter(([, r]) => JSON.stringify(r.Properties.Roles).includes(p.role))
      .flatMap(([, r]) => r.Properties.PolicyDocument.Statement);
    for (const s of [...own, ...attached]) {
      for (const a of actionsOf(s)) assert.ok(!a.toLowerCase().startsWith('ec2:') && a !== '*', `${s.Sid}: ${a}`);
    }
    assert.equal(built.template.toJSON().Resources[p.role].Properties.ManagedPolicyArns, undefined);
  });

  it('grants exactly: Route53, lock table, its logs, the secrets, the alert topic', () => {
    const built = build(DDNS);
    const p = parts(built);
    assert.deepEqual(roleStatements(built.template, p.role).map((s) => s.Sid),
      ['ListHostedZones', 'ReadRecords', 'ChangeRecords', 'LockTable', 'WriteLogs', 'ReadHostSecrets', 'PublishAlerts']);
  });

  it('holds the reconciler\'s Route53 and lock-table statements, conditions included, unchanged', () => {
    const built = build(DDNS);
    const p = parts(built);
    const mine = roleStatements(built.template, p.role);
    const reconciler = roleStatements(built.template, p.reconcilerRole);
    for (const sid of ['ListHostedZones', 'ReadRecords', 'ChangeRecords', 'LockTable']) {
      assert.deepEqual(bySid(mine, sid), bySid(reconciler, sid), sid);
    }
    assert.deepEqual(bySid(mine, 'ChangeRecords').Condition['ForAllValues:StringEquals']['route53:ChangeResourceRecordSetsRecordTypes'],
      ['A', 'AAAA', 'TXT']);
    assert.deepEqual(bySid(mine, 'LockTable').Resource, { 'Fn::GetAtt': [p.table, 'Arn'] });
  });

  it('reads only the parameters under the secrets prefix, with ssm:GetParameter only', () => {
    for (const prefix of [undefined, '/dns/secrets/']) {
      const built = build({ ...DDNS, ddnsHostSecretsPrefix: prefix });
      const s = roleStatements(built.template, parts(built).role).filter((x) => JSON.stringify(x.Action).includes('ssm:'));
      assert.deepEqual(s, [{
        Sid: 'ReadHostSecrets', Effect: 'Allow', Action: 'ssm:GetParameter',
        Resource: join('arn:', P, ':ssm:', R, ':', A, `:parameter${prefix ?? DDNS_DEFAULTS.hostSecretsPrefix}*`),
      }]);
      const env = built.template.toJSON().Resources[parts(built).fn].Properties.Environment.Variables;
      assert.equal(env.HOST_SECRETS_PREFIX, prefix ?? '/ec2-dns/hosts/');
    }
  });

  it('publishes only to the alert topic, created or given', () => {
    const built = build(DDNS);
    const p = parts(built);
    const publish = roleStatements(built.template, p.role).filter((x) => JSON.stringify(x.Action).includes('sns:'));
    assert.deepEqual(publish, [{ Sid: 'PublishAlerts', Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: p.topic } }]);

    const app = new App();
    const stack = new Stack(app, 'Given');
    const arn = 'arn:aws:sns:eu-west-1:123456789012:ops-alerts';
    const e = new Ec2Dns(stack, 'Ec2Dns', { ...BASE, ...DDNS, ddnsAlertTopic: sns.Topic.fromTopicArn(stack, 'Ops', arn) });
    const t = Template.fromStack(stack);
    assert.equal(resources(t, 'AWS::SNS::Topic').length, 0, 'no topic created');
    assert.equal(resources(t, 'AWS::KMS::Key').length, 0, 'no key created');
    const roleId = stack.getLogicalId(e.ddns!.function.role!.node.defaultChild as CfnElement);
    assert.deepEqual(bySid(roleStatements(t, roleId), 'PublishAlerts').Resource, arn);
    const fnId = stack.getLogicalId(e.ddns!.function.node.defaultChild as CfnElement);
    assert.equal(t.toJSON().Resources[fnId].Properties.Environment.Variables.ALERT_TOPIC_ARN, arn);
  });

  it('lets only Lambda assume the role', () => {
    const built = build(DDNS);
    assert.deepEqual(built.template.toJSON().Resources[parts(built).role].Properties.AssumeRolePolicyDocument.Statement,
      [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }]);
  });
});

describe('DDNS alert topic', () => {
  it('is encrypted with a rotated customer managed key that CloudWatch alarms and SNS (for this account) may use', () => {
    const built = build(DDNS);
    const p = parts(built);
    const res = built.template.toJSON().Resources;
    assert.deepEqual(res[p.topic!].Properties.KmsMasterKeyId, { 'Fn::GetAtt': [p.key, 'Arn'] });
    const key = res[p.key!].Properties;
    assert.equal(key.EnableKeyRotation, true);
    const sids = key.KeyPolicy.Statement.map((s: any) => s.Sid);
    assert.deepEqual(sids, ['AdministerKey', 'AlarmsPublish', 'PublishThroughSns']);
    const alarms = bySid(key.KeyPolicy.Statement, 'AlarmsPublish');
    assert.deepEqual(alarms.Principal, { Service: 'cloudwatch.amazonaws.com' });
    assert.deepEqual(alarms.Action, ['kms:Decrypt', 'kms:GenerateDataKey']);
    const viaSns = bySid(key.KeyPolicy.Statement, 'PublishThroughSns');
    assert.deepEqual(viaSns.Condition.StringEquals, {
      'kms:CallerAccount': A,
      'kms:ViaService': join('sns.', R, '.', { Ref: 'AWS::URLSuffix' }),
    });
  });

  it('refuses publishing without TLS and admits the account\'s CloudWatch alarms', () => {
    const built = build(DDNS);
    const p = parts(built);
    const [[, policy]] = resources(built.template, 'AWS::SNS::TopicPolicy');
    assert.deepEqual(policy.Properties.Topics, [{ Ref: p.topic }]);
    const [deny, allow] = policy.Properties.PolicyDocument.Statement;
    assert.deepEqual(deny, {
      Sid: 'DenyInsecureTransport', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sns:Publish',
      Resource: { Ref: p.topic }, Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    assert.deepEqual(allow.Principal, { Service: 'cloudwatch.amazonaws.com' });
    assert.deepEqual(allow.Condition.ArnLike, { 'aws:SourceArn': join('arn:', P, ':cloudwatch:', R, ':', A, ':alarm:*') });
  });
});

describe('DDNS sweep and alarms', () => {
  it('runs the sweep every 15 minutes on the DDNS function\'s alias live', () => {
    const built = build(DDNS);
    const p = parts(built);
    const rule = built.template.toJSON().Resources[p.rule].Properties;
    assert.equal(rule.ScheduleExpression, 'rate(15 minutes)');
    assert.deepEqual(rule.Targets.map((t: any) => t.Arn), [{ Ref: p.alias }]);
  });

  it('alarms on errors, throttles and failed answers (dnserr, 911, 5xx), notifying the alert topic', () => {
    const built = build(DDNS);
    const p = parts(built);
    const mine = resources(built.template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties)
      .filter((a) => JSON.stringify(a.Dimensions).includes(p.fn));
    assert.deepEqual(mine.map((a) => `${a.Namespace}/${a.MetricName}/${a.Dimensions[0].Name}`).sort(),
      ['AWS/Lambda/Errors/FunctionName', 'AWS/Lambda/Throttles/FunctionName', 'ec2-dns/Errors/Function']);
    const own = mine.find((a) => a.Namespace === 'ec2-dns');
    assert.match(own.AlarmDescription, /dnserr/);
    assert.deepEqual([own.Statistic, own.Period, own.EvaluationPeriods], ['Sum', 300, 1]);
    for (const a of mine) {
      assert.equal(a.Threshold, 0);
      assert.equal(a.ComparisonOperator, 'GreaterThanThreshold');
      assert.deepEqual(a.AlarmActions, [{ Ref: p.topic }]);
      assert.deepEqual(a.OKActions, [{ Ref: p.topic }]);
    }
  });
});

describe('DDNS CloudFront', () => {
  const distribution = (t: Template) => {
    const found = resources(t, 'AWS::CloudFront::Distribution');
    assert.equal(found.length, 1);
    return found[0][1].Properties.DistributionConfig;
  };

  it('sends x-origin-verify with the same secret the function gets as ORIGIN_SECRET', () => {
    const built = build(CLOUDFRONT);
    const p = parts(built);
    const [origin] = distribution(built.template).Origins;
    assert.deepEqual(origin.OriginCustomHeaders, [{ HeaderName: 'x-origin-verify', HeaderValue: SECRET }]);
    const env = built.template.toJSON().Resources[p.fn].Properties.Environment.Variables;
    assert.equal(env.ORIGIN_SECRET, SECRET);
    assert.equal(env.ORIGIN_SECRET, origin.OriginCustomHeaders[0].HeaderValue);
  });

  it('reaches the function URL over HTTPS only and takes HTTP and HTTPS from viewers, never caching', () => {
    const built = build(CLOUDFRONT);
    const p = parts(built);
    const d = distribution(built.template);
    const [origin] = d.Origins;
    assert.deepEqual(origin.DomainName, { 'Fn::Select': [2, { 'Fn::Split': ['/', { 'Fn::GetAtt': [p.url, 'FunctionUrl'] }] }] });
    assert.equal(origin.CustomOriginConfig.OriginProtocolPolicy, 'https-only');
    assert.deepEqual(origin.CustomOriginConfig.OriginSSLProtocols, ['TLSv1.2']);
    const b = d.DefaultCacheBehavior;
    assert.equal(b.ViewerProtocolPolicy, 'allow-all');
    assert.equal(b.CachePolicyId, '4135ea2d-6df8-44a3-9df3-4b5a84be39ad', 'managed CachingDisabled');
    // AllViewerExceptHostHeader: Authorization, all query strings and CloudFront-Viewer-Address
    // reach the function; Host stays the function URL's.
    assert.equal(b.OriginRequestPolicyId, 'b689b0a8-53d0-40ab-baf2-68738e2966ac');
    assert.ok(b.AllowedMethods.includes('POST') && b.AllowedMethods.includes('GET'));
    assert.equal(d.Aliases, undefined);
    assert.equal(d.ViewerCertificate, undefined, 'the default certificate');
  });

  it('uses a custom host name and certificate only when both are given', () => {
    const cert = 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab';
    const d = distribution(build({ ...CLOUDFRONT, ddnsDomainName: 'DDNS.example.com', ddnsCertificateArn: cert }).template);
    assert.deepEqual(d.Aliases, ['ddns.example.com']);
    assert.deepEqual(d.ViewerCertificate, {
      AcmCertificateArn: cert, MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only',
    });
    assert.throws(() => build({ ...CLOUDFRONT, ddnsDomainName: 'ddns.example.com' }), /go together/);
    assert.throws(() => build({ ...CLOUDFRONT, ddnsCertificateArn: cert }), /go together/);
  });
});

describe('DDNS outputs', () => {
  const names = (t: Template) => Object.keys(t.toJSON().Outputs).map((k) => k.replace(/^Ec2Dns/, '').replace(/[0-9A-F]{8}$/, ''));

  it('give function name, URL and topic, and the CloudFront domain when there is one', () => {
    const plain = names(build(DDNS).template);
    for (const n of ['DdnsFunctionName', 'DdnsLiveAliasArn', 'DdnsRollbackCommand', 'DdnsFunctionUrl', 'DdnsAlertTopicArn']) {
      assert.ok(plain.includes(n), n);
    }
    assert.ok(!plain.includes('DdnsCloudfrontDomain'));
    assert.ok(names(build(CLOUDFRONT).template).includes('DdnsCloudfrontDomain'));
  });
});

describe('DDNS validation', () => {
  const fails = (overrides: Partial<Ec2DnsProps>, pattern: RegExp) =>
    assert.throws(() => build(overrides), (e: Error) => pattern.test(e.message));

  it('reports wrong settings', () => {
    fails({ enableDdns: true }, /ddnsCodePath is required/);
    fails({ ...DDNS, ddnsReservedConcurrency: 0 }, /ddnsReservedConcurrency/);
    fails({ ...DDNS, ddnsHostSecretsPrefix: '/' }, /ddnsHostSecretsPrefix/);
    fails({ ...DDNS, ddnsHostSecretsPrefix: 'hosts' }, /ddnsHostSecretsPrefix/);
    fails({ ...DDNS, ddnsCloudfront: true }, /ddnsOriginSecret is required/);
    fails({ ...DDNS, ddnsCloudfront: true, ddnsOriginSecret: 'short' }, /ddnsOriginSecret is required/);
    fails({ ...DDNS, ddnsOriginSecret: SECRET }, /only used with ddnsCloudfront/);
    fails({ ddnsCloudfront: true, ddnsOriginSecret: SECRET }, /ddnsCloudfront needs enableDdns/);
    fails({ ddnsOriginSecret: SECRET }, /only used with ddnsCloudfront/);
    fails({ ...CLOUDFRONT, ddnsDomainName: 'not a name', ddnsCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc' },
      /is not a domain name/);
    fails({ ...CLOUDFRONT, ddnsDomainName: 'ddns.example.com', ddnsCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/x' },
      /us-east-1/);
  });
});

describe('DDNS cdk-nag AwsSolutions', () => {
  it('reports nothing that is not acknowledged, with and without a custom domain', () => {
    for (const extra of [{}, {
      ddnsDomainName: 'ddns.example.com',
      ddnsCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab',
    }]) {
      const app = new App();
      new Ec2Dns(new Stack(app, 'Nag'), 'Ec2Dns', { ...BASE, ...CLOUDFRONT, ...extra });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      app.synth();
    }
  });
});
