/**
 * The standalone CloudFormation template (bin/template.ts, `npm run template`): parameters
 * instead of props, code from S3, the DDNS endpoint under a condition, nothing that needs
 * the CDK (no bootstrap version, no assets, no CDK metadata). cfn-lint checks it in
 * `make infra-test`.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { buildTemplate } from '../bin/template';

const t: any = buildTemplate();
const R: Record<string, any> = t.Resources;
const ofType = (type: string) => Object.entries(R).filter(([, r]) => r.Type === type);

describe('standalone CloudFormation template', () => {
  it('takes the settings and the code location as parameters, and nothing for the CDK', () => {
    assert.deepEqual(Object.keys(t.Parameters), [
      'AllowedDomains', 'HostedZoneIds', 'NameTag', 'RecordTtl', 'DeploymentId', 'MarkerStyle', 'SharedNames', 'ReverseRecords',
      'Route53RequestsPerSecond', 'Route53ChangesPerSecond', 'ShardedReconcile', 'ShardSize', 'CodeBucket', 'CodeKey',
      'EnableDdns', 'DdnsCodeKey',
    ]);
    const grouped = t.Metadata['AWS::CloudFormation::Interface'].ParameterGroups.flatMap((g: any) => g.Parameters);
    assert.deepEqual([...grouped].sort(), Object.keys(t.Parameters).sort(), 'every parameter in one group of the console');
    assert.equal(t.Parameters.AllowedDomains.Type, 'CommaDelimitedList');
    assert.equal(t.Parameters.HostedZoneIds.Type, 'CommaDelimitedList');
    assert.deepEqual([t.Parameters.RecordTtl.MinValue, t.Parameters.RecordTtl.MaxValue], [1, 172800]);
    assert.equal(t.Rules?.CheckBootstrapVersion, undefined);
    assert.deepEqual(ofType('AWS::CDK::Metadata'), []);
    assert.ok(!JSON.stringify(t).includes('cdk-hnb659fds'), 'no bootstrap bucket or role');
  });

  it('runs both functions from the zips in S3', () => {
    const codes = ofType('AWS::Lambda::Function').map(([, f]) => f.Properties.Code);
    assert.deepEqual(codes.map((c) => [c.S3Bucket, c.S3Key]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), [
      [{ Ref: 'CodeBucket' }, { Ref: 'CodeKey' }],
      [{ Ref: 'CodeBucket' }, { Ref: 'DdnsCodeKey' }],
    ]);
  });

  it('passes domains, zones, tag and TTL to the function and joins the policies\' lists in CloudFormation', () => {
    const [[, fn]] = ofType('AWS::Lambda::Function').filter(([id]) => !id.includes('Ddns'));
    const env = fn.Properties.Environment.Variables;
    assert.deepEqual(env.ALLOWED_DOMAINS, { 'Fn::Join': [',', { Ref: 'AllowedDomains' }] });
    assert.deepEqual([env.NAME_TAG, env.RECORD_TTL], [{ Ref: 'NameTag' }, { Ref: 'RecordTtl' }]);
    const statements = ofType('AWS::IAM::Role').flatMap(([, r]) => (r.Properties.Policies ?? [])
      .flatMap((p: any) => p.PolicyDocument.Statement));
    const change = statements.filter((s: any) => s.Sid === 'ChangeRecords');
    assert.equal(change.length, 2, 'the reconciler\'s and the DDNS function\'s');
    for (const s of change) {
      assert.deepEqual(s.Resource, { 'Fn::Split': [',', { 'Fn::Join': ['', [
        'arn:aws:route53:::hostedzone/', { 'Fn::Join': [',arn:aws:route53:::hostedzone/', { Ref: 'HostedZoneIds' }] }]] }] });
      assert.deepEqual(s.Condition['ForAllValues:StringLike']['route53:ChangeResourceRecordSetsNormalizedRecordNames'],
        { 'Fn::Split': [',', { 'Fn::Join': ['', ['*.', { 'Fn::Join': [',*.', { Ref: 'AllowedDomains' }] }]] }] });
    }
  });

  it('creates the DDNS endpoint only with EnableDdns=true, and one dashboard either way', () => {
    assert.deepEqual(t.Conditions.DdnsEnabled, { 'Fn::Equals': [{ Ref: 'EnableDdns' }, 'true'] });
    const ddns = Object.entries(R).filter(([id]) => id.startsWith('Ec2DnsDdns'));
    assert.ok(ddns.length >= 10);
    for (const [id, r] of ddns) assert.equal(r.Condition, 'DdnsEnabled', id);
    for (const [id, r] of Object.entries(R)) {
      if (!id.startsWith('Ec2DnsDdns') && !id.startsWith('Dashboard')) assert.equal(r.Condition, undefined, id);
    }
    assert.deepEqual(ofType('AWS::CloudWatch::Dashboard').map(([, d]) => d.Condition).sort(), ['DdnsDisabled', 'DdnsEnabled']);
    assert.ok(t.Rules.DdnsNeedsCode, 'EnableDdns=true needs DdnsCodeKey');
  });

  it('has the construct\'s four rules, the Elastic IP address rule included, and the queue admits each', () => {
    const rules = ofType('AWS::Events::Rule').filter(([id]) => !id.startsWith('Ec2DnsDdns'));
    assert.deepEqual(rules.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort(), [
      'Ec2DnsAddressChangeRule', 'Ec2DnsInstanceStateChangeRule', 'Ec2DnsReconcileScheduleRule', 'Ec2DnsTagChangeRule',
    ]);
    const [, address] = rules.find(([id]) => id.startsWith('Ec2DnsAddressChangeRule'))!;
    assert.deepEqual(address.Properties.EventPattern, {
      'source': ['aws.ec2'],
      'detail-type': ['AWS API Call via CloudTrail'],
      'detail': { eventSource: ['ec2.amazonaws.com'], eventName: ['AssociateAddress', 'DisassociateAddress', 'AssignIpv6Addresses', 'UnassignIpv6Addresses'] },
    });
    const [[queueId]] = ofType('AWS::SQS::Queue').filter(([, q]) => q.Properties.RedrivePolicy);
    assert.deepEqual(address.Properties.Targets.map((t: any) => t.Arn), [{ 'Fn::GetAtt': [queueId, 'Arn'] }]);
    const allow = ofType('AWS::SQS::QueuePolicy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
      .filter((st: any) => st.Sid === 'AllowEc2DnsRules');
    assert.equal(allow.length, 2, 'the queue and the event dead-letter queue');
    for (const st of allow) {
      assert.deepEqual(st.Condition.ArnEquals['aws:SourceArn'].map((a: any) => a['Fn::GetAtt'][0]).sort(),
        rules.map(([id]) => id).sort());
    }
  });

  it('passes the optional DeploymentId to both functions as DEPLOYMENT_ID (empty: the function derives it)', () => {
    const p = t.Parameters.DeploymentId;
    assert.deepEqual([p.Type, p.Default, p.MaxLength], ['String', '', 24]);
    const pattern = new RegExp(p.AllowedPattern);
    for (const ok of ['', 'prod', '0', 'a-b-c', 'x'.repeat(24)]) assert.ok(pattern.test(ok) && ok.length <= 24, ok);
    for (const bad of ['-prod', 'Prod', 'prod_1', 'pr.od', ' prod']) assert.ok(!pattern.test(bad), bad);
    const fns = ofType('AWS::Lambda::Function');
    assert.equal(fns.length, 2);
    for (const [id, fn] of fns) assert.deepEqual(fn.Properties.Environment.Variables.DEPLOYMENT_ID, { Ref: 'DeploymentId' }, id);
    // The output names no resource of the endpoint, which may not exist.
    const [, output] = Object.entries(t.Outputs).find(([k]) => k.startsWith('Ec2DnsDeployment')) as [string, any];
    assert.equal(output.Condition, undefined);
    assert.ok(!JSON.stringify(output.Value).includes('Ddns'), JSON.stringify(output.Value));
    assert.ok(JSON.stringify(output.Value).includes('{"Ref":"DeploymentId"}'), JSON.stringify(output.Value));
  });

  it('passes MarkerStyle and the two Route53 rates to both functions, with the function\'s defaults', () => {
    const style = t.Parameters.MarkerStyle;
    assert.deepEqual([style.Type, style.Default, style.AllowedValues], ['String', 'plain', ['plain', 'opaque']]);
    const rates = [
      ['Route53RequestsPerSecond', '5', 100],
      ['Route53ChangesPerSecond', '50', 10000],
    ] as const;
    for (const [name, dflt, max] of rates) {
      const p = t.Parameters[name];
      assert.deepEqual([p.Type, p.Default], ['String', dflt], name);
      // Whole numbers in the function's range, and nothing else (lambda/src/config.rs).
      const pattern = new RegExp(p.AllowedPattern);
      for (let n = 0; n <= max + 1; n += n < 120 ? 1 : 97) {
        assert.equal(pattern.test(String(n)), n >= 1 && n <= max, `${name} ${n}`);
      }
      assert.ok(pattern.test(String(max)), `${name} ${max}`);
      assert.ok(!pattern.test(String(max + 1)), `${name} ${max + 1}`);
      for (const bad of ['', '05', '2.5', '-1', '1e2', ' 5', '5 ', 'x']) assert.ok(!pattern.test(bad), `${name} '${bad}'`);
    }
    const fns = ofType('AWS::Lambda::Function');
    assert.equal(fns.length, 2);
    for (const [id, fn] of fns) {
      const env = fn.Properties.Environment.Variables;
      assert.deepEqual([env.MARKER_STYLE, env.ROUTE53_REQUESTS_PER_SECOND, env.ROUTE53_CHANGES_PER_SECOND],
        [{ Ref: 'MarkerStyle' }, { Ref: 'Route53RequestsPerSecond' }, { Ref: 'Route53ChangesPerSecond' }], id);
    }
  });

  it('passes SharedNames, ReverseRecords and ShardedReconcile to the reconciler as given, false by default', () => {
    const flags = [['SharedNames', 'SHARED_NAMES'], ['ReverseRecords', 'REVERSE_RECORDS'], ['ShardedReconcile', 'SHARDED_RECONCILE']];
    const [[, fn]] = ofType('AWS::Lambda::Function').filter(([id]) => !id.includes('Ddns'));
    const [[, ddnsFn]] = ofType('AWS::Lambda::Function').filter(([id]) => id.includes('Ddns'));
    for (const [name, variable] of flags) {
      const p = t.Parameters[name];
      assert.deepEqual([p.Type, p.Default, p.AllowedValues], ['String', 'false', ['true', 'false']], name);
      assert.deepEqual(fn.Properties.Environment.Variables[variable], { Ref: name }, variable);
      assert.equal(ddnsFn.Properties.Environment.Variables[variable], undefined, `${variable}: the reconciler's only`);
    }
  });

  it('admits PTR in both functions\' ChangeRecords statements only with ReverseRecords=true', () => {
    assert.deepEqual(t.Conditions.ReverseRecordsOn, { 'Fn::Equals': [{ Ref: 'ReverseRecords' }, 'true'] });
    const change = ofType('AWS::IAM::Role').flatMap(([, r]) => (r.Properties.Policies ?? [])
      .flatMap((p: any) => p.PolicyDocument.Statement)).filter((s: any) => s.Sid === 'ChangeRecords');
    assert.equal(change.length, 2, 'the reconciler\'s and the DDNS function\'s');
    for (const s of change) {
      assert.deepEqual(s.Condition['ForAllValues:StringEquals'], {
        'route53:ChangeResourceRecordSetsRecordTypes': { 'Fn::If': ['ReverseRecordsOn', ['A', 'AAAA', 'PTR', 'TXT'], ['A', 'AAAA', 'TXT']] },
        'route53:ChangeResourceRecordSetsActions': ['CREATE', 'DELETE'],
      });
    }
  });

  it('passes ShardSize to the reconciler, with the function\'s default, and gives it its own queue', () => {
    const p = t.Parameters.ShardSize;
    assert.deepEqual([p.Type, p.Default], ['String', '2000']);
    // Whole numbers in the function's range, and nothing else.
    const pattern = new RegExp(p.AllowedPattern);
    for (let n = 0; n <= 20001; n += n < 1100 ? 1 : 97) assert.equal(pattern.test(String(n)), n >= 100 && n <= 20000, `${n}`);
    for (const n of [99, 100, 999, 1000, 9999, 10000, 19999, 20000, 20001, 30000, 100000]) {
      assert.equal(pattern.test(String(n)), n >= 100 && n <= 20000, `${n}`);
    }
    for (const bad of ['', '0100', '2000.5', '-2000', '2e3', ' 2000', '2000 ', 'x']) assert.ok(!pattern.test(bad), `'${bad}'`);
    const [[, fn]] = ofType('AWS::Lambda::Function').filter(([id]) => !id.includes('Ddns'));
    const [[queueId]] = ofType('AWS::SQS::Queue').filter(([, q]) => q.Properties.RedrivePolicy);
    assert.deepEqual(fn.Properties.Environment.Variables.SHARD_SIZE, { Ref: 'ShardSize' });
    assert.deepEqual(fn.Properties.Environment.Variables.QUEUE_URL, { Ref: queueId });
  });

  it('deploys one account and region: no accounts, regions or bus statements', () => {
    const [[, fn]] = ofType('AWS::Lambda::Function').filter(([id]) => !id.includes('Ddns'));
    for (const key of ['ACCOUNTS', 'REGIONS', 'MEMBER_ROLE']) assert.equal(fn.Properties.Environment.Variables[key], undefined, key);
    assert.deepEqual(ofType('AWS::Events::EventBusPolicy'), []);
    assert.ok(!JSON.stringify(t).includes('AssumeMemberRoles'));
  });

  it('has the reconciler record its configuration during the deploy, again whenever a parameter changes it', () => {
    const [[, cr]] = ofType('Custom::Ec2DnsConfiguration');
    const [[fnId, fn]] = ofType('AWS::Lambda::Function').filter(([id]) => !id.includes('Ddns'));
    // Served by the reconciler itself: nothing else to upload, whatever EnableDdns says.
    assert.deepEqual(cr.Properties.ServiceToken, { 'Fn::GetAtt': [fnId, 'Arn'] });
    assert.equal(cr.Condition, undefined);
    assert.deepEqual(cr.Properties.Code, { S3Bucket: { Ref: 'CodeBucket' }, S3Key: { Ref: 'CodeKey' } });
    assert.deepEqual(cr.Properties.Environment, fn.Properties.Environment.Variables);
    const properties = JSON.stringify(cr.Properties);
    for (const p of ['CodeBucket', 'CodeKey', 'RecordTtl', 'NameTag', 'AllowedDomains', 'DeploymentId', 'MarkerStyle',
      'Route53RequestsPerSecond', 'Route53ChangesPerSecond', 'SharedNames', 'ReverseRecords', 'ShardedReconcile', 'ShardSize']) {
      assert.ok(properties.includes(`"Ref":"${p}"`), p);
    }
    const [[roleId]] = ofType('AWS::IAM::Role').filter(([, r]) => JSON.stringify(r.Properties.Policies).includes('"LockTable"')
      && JSON.stringify(r.Properties.Policies).includes('DescribeInstances'));
    assert.ok(cr.DependsOn.includes(roleId), `${cr.DependsOn} includes the reconciler's role`);
  });

  it('outputs the function, the lock table, the region and the commands to run next', () => {
    const names = Object.keys(t.Outputs).map((k) => k.replace(/^Ec2Dns/, '').replace(/[0-9A-F]{8}$/, ''));
    for (const n of ['FunctionName', 'LockTableName', 'Region', 'NextSteps']) assert.ok(names.includes(n), `${n} in ${names}`);
    const [, next] = Object.entries(t.Outputs).find(([k]) => k.startsWith('Ec2DnsNextSteps')) as [string, any];
    assert.equal(next.Condition, undefined);
    assert.ok(JSON.stringify(next.Value).includes('ec2-dns-ctl --function '), JSON.stringify(next.Value));
  });

  it('publishes a new version when a parameter changes code or configuration', () => {
    for (const [id, v] of ofType('AWS::Lambda::Version')) {
      const description = JSON.stringify(v.Properties.Description);
      for (const p of ['CodeBucket', 'RecordTtl', 'NameTag', 'AllowedDomains', 'HostedZoneIds', 'DeploymentId', 'MarkerStyle',
        'Route53RequestsPerSecond', 'Route53ChangesPerSecond', 'SharedNames', 'ReverseRecords', 'ShardedReconcile', 'ShardSize']) {
        assert.ok(description.includes(`"Ref":"${p}"`), `${id}: ${p}`);
      }
      assert.equal(v.DeletionPolicy, 'Retain');
    }
    const invoked = ofType('AWS::Lambda::EventSourceMapping').map(([, e]) => JSON.stringify(e.Properties.FunctionName));
    assert.ok(invoked[0].includes(':live'), 'the queue invokes the alias');
  });
});
