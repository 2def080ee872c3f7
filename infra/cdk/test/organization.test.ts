/**
 * Template tests for several accounts and regions. The central side (Ec2Dns `accounts`,
 * `regions`, `memberRoleName`, `organizationId`): the function's environment, its grants
 * (exact ARNs), the default bus's policy, the outputs the member side needs, and the
 * validation of the new props. The member side (Ec2DnsMember): the member role (trust,
 * rights), the forwarding rules (the central rules' patterns, the central bus as target,
 * their role), the switch for the role, and the validation of its props. (One file: each
 * test file costs a process that loads aws-cdk-lib.)
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { App, Stack, StackProps, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Ec2Dns, Ec2DnsProps } from '../lib/ec2-dns';
// The member construct as the package exports it.
import { Ec2DnsMember, Ec2DnsMemberProps } from '../lib/index';

const codeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ec2-dns-code-'));
fs.writeFileSync(path.join(codeDir, 'bootstrap'), 'placeholder');
after(() => fs.rmSync(codeDir, { recursive: true, force: true }));

const BASE: Ec2DnsProps = {
  allowedDomains: ['dyn.example.com'],
  hostedZoneIds: ['Z0123456789ABCDEFGHIJ'],
  codePath: codeDir,
};
const ORG: Partial<Ec2DnsProps> = {
  accounts: ['345678901234', '210987654321', '345678901234'],
  regions: ['us-east-1', 'eu-west-1'],
};

function build(overrides: Partial<Ec2DnsProps> = {}, stackProps?: StackProps) {
  const app = new App();
  const stack = new Stack(app, 'Test', stackProps);
  const ec2dns = new Ec2Dns(stack, 'Ec2Dns', { ...BASE, ...overrides });
  return { stack, ec2dns, json: Template.fromStack(stack).toJSON() };
}
/** A synth costs about half a second: the tests that only read share one. */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}
const plain = once(() => build());
const org = once(() => build(ORG));

const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
const partition = { Ref: 'AWS::Partition' };
const memberRole = (account: string, name = 'ec2-dns-member') => join('arn:', partition, `:iam::${account}:role/${name}`);
const OWN_BUS = join('arn:', partition, ':events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':event-bus/default');

function reconcilerStatements(json: any): any[] {
  const roles = Object.entries(json.Resources).filter(([, r]: [string, any]) => r.Type === 'AWS::IAM::Role');
  assert.equal(roles.length, 1);
  return (roles[0][1] as any).Properties.Policies[0].PolicyDocument.Statement;
}
function environment(json: any): Record<string, unknown> {
  const fns = Object.values(json.Resources).filter((r: any) => r.Type === 'AWS::Lambda::Function') as any[];
  assert.equal(fns.length, 1);
  return fns[0].Properties.Environment.Variables;
}
function busPolicies(json: any): any[] {
  return Object.values(json.Resources).filter((r: any) => r.Type === 'AWS::Events::EventBusPolicy')
    .map((r: any) => r.Properties);
}
/** The template's rules besides the CDK's CheckBootstrapVersion. */
function templateRules(json: any): any[] {
  return Object.entries(json.Rules ?? {}).filter(([k]) => k !== 'CheckBootstrapVersion').map(([, v]) => v);
}
function output(json: any, name: string): any {
  const found = Object.entries(json.Outputs).filter(([k]) => k.replace(/[0-9A-F]{8}$/, '') === `Ec2Dns${name}`);
  assert.equal(found.length, 1, `output ${name}`);
  return (found[0][1] as any).Value;
}

describe('several accounts and regions: defaults', () => {
  it('sets none of ACCOUNTS, REGIONS, MEMBER_ROLE and grants no sts:AssumeRole', () => {
    const { json } = plain();
    const env = environment(json);
    for (const key of ['ACCOUNTS', 'REGIONS', 'MEMBER_ROLE']) assert.equal(env[key], undefined, key);
    assert.ok(!JSON.stringify(reconcilerStatements(json)).includes('sts:'));
  });

  it('leaves the default bus\'s policy alone and adds no template rule', () => {
    const { json } = plain();
    assert.deepEqual(busPolicies(json), []);
    assert.deepEqual(templateRules(json), []);
  });

  it('outputs the reconciler\'s role ARN and the default bus ARN, which the member side needs', () => {
    const built = plain();
    const roleId = built.stack.getLogicalId(built.ec2dns.role.node.defaultChild as any);
    assert.deepEqual(output(built.json, 'RoleArn'), { 'Fn::GetAtt': [roleId, 'Arn'] });
    assert.deepEqual(output(built.json, 'EventBusArn'), OWN_BUS);
  });
});

describe('several accounts and regions: accounts and regions', () => {
  it('tells the function ACCOUNTS and REGIONS, sorted without repeats; MEMBER_ROLE only when not the default', () => {
    const env = environment(org().json);
    assert.equal(env.ACCOUNTS, '210987654321,345678901234');
    assert.equal(env.REGIONS, 'eu-west-1,us-east-1');
    assert.equal(env.MEMBER_ROLE, undefined);
    assert.equal(environment(build({ ...ORG, memberRoleName: 'dns-reader' }).json).MEMBER_ROLE, 'dns-reader');
    // Regions alone (other regions of the own account): no account, no assume, no bus policy.
    const regionsOnly = build({ regions: ['eu-west-1'] }).json;
    assert.equal(environment(regionsOnly).REGIONS, 'eu-west-1');
    assert.equal(environment(regionsOnly).ACCOUNTS, undefined);
    assert.ok(!JSON.stringify(reconcilerStatements(regionsOnly)).includes('sts:'));
    assert.deepEqual(busPolicies(regionsOnly), []);
  });

  it('may assume exactly the member role of each listed account, no wildcard account', () => {
    const statements = reconcilerStatements(org().json);
    const assume = statements.filter((s) => JSON.stringify(s.Action).includes('sts:'));
    assert.deepEqual(assume, [{
      Sid: 'AssumeMemberRoles', Effect: 'Allow', Action: 'sts:AssumeRole',
      Resource: [memberRole('210987654321'), memberRole('345678901234')],
    }]);
    const custom = reconcilerStatements(build({ ...ORG, memberRoleName: 'dns-reader' }).json)
      .find((s) => s.Sid === 'AssumeMemberRoles');
    assert.deepEqual(custom.Resource, [memberRole('210987654321', 'dns-reader'), memberRole('345678901234', 'dns-reader')]);
  });

  it('keeps its own EC2 rights for every region of its account (status tag only)', () => {
    const statements = reconcilerStatements(org().json);
    assert.deepEqual(statements.slice(0, 2), [
      { Sid: 'DescribeInstances', Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' },
      {
        Sid: 'WriteStatusTag', Effect: 'Allow', Action: 'ec2:CreateTags',
        Resource: join('arn:', partition, ':ec2:*:', { Ref: 'AWS::AccountId' }, ':instance/*'),
        Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['dnsname-status'] } },
      },
    ]);
  });

  it('lets each listed account put events on the default bus, one statement each', () => {
    assert.deepEqual(busPolicies(org().json), ['210987654321', '345678901234'].map((a) => ({
      EventBusName: 'default',
      StatementId: `Test-${a}`,
      Statement: {
        Sid: `Test-${a}`, Effect: 'Allow', Principal: { AWS: join('arn:', partition, `:iam::${a}:root`) },
        Action: 'events:PutEvents', Resource: OWN_BUS,
      },
    })));
  });

  it('names the statements after the function, or else the stack, so that two deployments in one account do not collide', () => {
    const sids = busPolicies(build({ ...ORG, functionName: 'dns-sync' }).json).map((p) => p.StatementId);
    assert.deepEqual(sids, ['dns-sync-210987654321', 'dns-sync-345678901234']);
    // A stack name too long for a statement id is cut and ends in a hash of the whole name.
    const long = (suffix: string) => {
      const app = new App();
      const stack = new Stack(app, `ec2-dns-production-eu-central-1-platform-team-${suffix}`);
      new Ec2Dns(stack, 'Ec2Dns', { ...BASE, ...ORG });
      return busPolicies(Template.fromStack(stack).toJSON()).map((p) => p.StatementId);
    };
    const [a, b] = [long('a'), long('b')];
    for (const sid of [...a, ...b]) assert.ok(/^[A-Za-z0-9-]{1,53}$/.test(sid), sid);
    assert.ok(a[0].startsWith('ec2-dns-production-eu-central-') && a[0].endsWith('-210987654321'), a[0]);
    assert.notDeepEqual(a, b);
  });

  it('with an organisation id, admits the organisation in one statement instead', () => {
    const { json } = build({ ...ORG, organizationId: 'o-a1b2c3d4e5' });
    assert.deepEqual(busPolicies(json), [{
      EventBusName: 'default',
      StatementId: 'Test-organization',
      Statement: {
        Sid: 'Test-organization', Effect: 'Allow', Principal: '*', Action: 'events:PutEvents', Resource: OWN_BUS,
        Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } },
      },
    }]);
    // The reconciler still reaches only the listed accounts.
    assert.deepEqual(reconcilerStatements(json).find((s) => s.Sid === 'AssumeMemberRoles').Resource,
      [memberRole('210987654321'), memberRole('345678901234')]);
  });

  it('matches events of any account and region: the central rules restrict neither', () => {
    const { json } = org();
    const patterns = Object.values(json.Resources).filter((r: any) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern)
      .map((r: any) => r.Properties.EventPattern);
    assert.equal(patterns.length, 3, 'state change, tag change, Elastic IP address change');
    for (const p of patterns) {
      assert.equal(p.account, undefined);
      assert.equal(p.region, undefined);
    }
  });

  it('is clean under cdk-nag', () => {
    const app = new App();
    new Ec2Dns(new Stack(app, 'Nag'), 'Ec2Dns', { ...BASE, ...ORG });
    new Ec2Dns(new Stack(app, 'NagOrg'), 'Ec2Dns', { ...BASE, ...ORG, organizationId: 'o-a1b2c3d4e5' });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
  });
});

describe('several accounts and regions: the own account', () => {
  it('refuses the stack\'s own account in accounts when the account is known', () => {
    assert.throws(() => build({ accounts: ['210987654321', '123456789012'] }, { env: { account: '123456789012', region: 'eu-west-1' } }),
      /accounts: '123456789012' is the stack's own account/);
    const ok = build(ORG, { env: { account: '123456789012', region: 'eu-west-1' } }).json;
    assert.deepEqual(templateRules(ok), [], 'no deploy-time rule when the account is known');
  });

  it('checks it at deploy time in an environment-agnostic stack (a template rule)', () => {
    const [rule] = templateRules(org().json);
    assert.deepEqual(rule.Assertions[0].Assert, {
      'Fn::Not': [{ 'Fn::Contains': [['210987654321', '345678901234'], { Ref: 'AWS::AccountId' }] }],
    });
  });
});

describe('several accounts and regions: validation', () => {
  it('reports every invalid setting at once, with what is wrong', () => {
    assert.throws(() => build({
      accounts: ['12345678901', 'abc'], regions: ['EU-WEST-1', 'eu_west_1'], memberRoleName: 'no spaces please',
      organizationId: 'org-1',
    }), (e: Error) => {
      for (const part of [
        "accounts: '12345678901' is not an AWS account id (12 digits)", "accounts: 'abc'",
        "regions: 'EU-WEST-1' is not an AWS region", "regions: 'eu_west_1'",
        "memberRoleName: 'no spaces please' is not an IAM role name",
        "organizationId: 'org-1' is not an AWS Organizations id",
      ]) {
        assert.ok(e.message.includes(part), `${part} in ${e.message}`);
      }
      return true;
    });
  });

  it('refuses an empty list of regions (leave it out for the own region)', () => {
    assert.throws(() => build({ regions: [] }), /regions must not be empty/);
  });

  it('accepts the regions of every partition', () => {
    build({ regions: ['us-gov-west-1', 'cn-northwest-1', 'ap-southeast-2', 'eu-central-2', 'il-central-1'] });
  });
});

// ---- member side -------------------------------------------------------------------------

const MEMBER: Ec2DnsMemberProps = {
  centralAccountId: '123456789012',
  centralRegion: 'us-east-1',
  reconcilerRoleArn: 'arn:aws:iam::123456789012:role/ec2-dns-function',
};

const memberDefault = once(() => buildMember());
function buildMember(overrides: Partial<Ec2DnsMemberProps> = {}, stackProps?: StackProps) {
  const app = new App();
  const stack = new Stack(app, 'Member', stackProps);
  const member = new Ec2DnsMember(stack, 'Ec2DnsMember', { ...MEMBER, ...overrides });
  const json = Template.fromStack(stack).toJSON();
  const id = (c: any) => stack.getLogicalId(c.node.defaultChild);
  return { stack, member, json, id };
}

const CENTRAL_BUS = join('arn:', partition, ':events:us-east-1:123456789012:event-bus/default');
const ofType = (json: any, type: string) => Object.entries(json.Resources).filter(([, r]: [string, any]) => r.Type === type) as [string, any][];

describe('member side: the member role', () => {
  it('is named ec2-dns-member and trusted by exactly the reconciler\'s role', () => {
    const { json, member, id } = memberDefault();
    const roles = ofType(json, 'AWS::IAM::Role');
    assert.equal(roles.length, 2, 'the member role and the forwarding role');
    const r = json.Resources[id(member.memberRole)].Properties;
    assert.equal(r.RoleName, 'ec2-dns-member');
    assert.deepEqual(r.AssumeRolePolicyDocument.Statement, [{
      Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:role/ec2-dns-function' },
    }]);
    assert.equal(r.ManagedPolicyArns, undefined);
  });

  it('may read instances and write the status tag only, in every region of its account', () => {
    const { json, member, id } = memberDefault();
    const r = json.Resources[id(member.memberRole)].Properties;
    assert.equal(r.Policies.length, 1);
    assert.deepEqual(r.Policies[0].PolicyDocument.Statement, [
      { Sid: 'DescribeInstances', Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' },
      {
        Sid: 'WriteStatusTag', Effect: 'Allow', Action: 'ec2:CreateTags',
        Resource: join('arn:', partition, ':ec2:*:', { Ref: 'AWS::AccountId' }, ':instance/*'),
        Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['dnsname-status'] } },
      },
    ]);
  });

  it('holds the same EC2 statements as the reconciler holds for its own account', () => {
    const app = new App();
    const central = new Stack(app, 'Central');
    new Ec2Dns(central, 'Ec2Dns', {
      allowedDomains: ['dyn.example.com'], hostedZoneIds: ['Z0123456789ABC'],
      codePath: codeDir, accounts: ['210987654321'],
    });
    const [[, role]] = ofType(Template.fromStack(central).toJSON(), 'AWS::IAM::Role');
    const own = role.Properties.Policies[0].PolicyDocument.Statement.filter((s: any) => s.Action.startsWith?.('ec2:'));
    const { json, member, id } = memberDefault();
    assert.deepEqual(json.Resources[id(member.memberRole)].Properties.Policies[0].PolicyDocument.Statement, own);
  });

  it('follows the name tag and the role name', () => {
    const { json, member, id } = buildMember({ nameTag: 'hostname', memberRoleName: 'dns-reader' });
    const r = json.Resources[id(member.memberRole)].Properties;
    assert.equal(r.RoleName, 'dns-reader');
    assert.deepEqual(r.Policies[0].PolicyDocument.Statement[1].Condition,
      { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['hostname-status'] } });
  });

  it('trusts no operator by default (the reconciler alone)', () => {
    const { json, member, id } = memberDefault();
    const trust = json.Resources[id(member.memberRole)].Properties.AssumeRolePolicyDocument.Statement;
    assert.equal(trust.length, 1);
    assert.ok(!JSON.stringify(trust).includes('PrincipalArn'));
  });

  it('trusts exactly the listed operators too, by aws:PrincipalArn, with their accounts as principal', () => {
    const sso = 'arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Dns_0123456789abcdef';
    const { json, member, id } = buildMember({
      operatorPrincipalArns: ['arn:aws:iam::123456789012:user/alice', sso, 'arn:aws:iam::123456789012:role/ec2-dns-operator', sso],
    });
    const r = json.Resources[id(member.memberRole)].Properties;
    assert.deepEqual(r.AssumeRolePolicyDocument.Statement, [
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:role/ec2-dns-function' } },
      {
        Sid: 'Operators', Action: 'sts:AssumeRole', Effect: 'Allow',
        Principal: { AWS: ['arn:aws:iam::111122223333:root', 'arn:aws:iam::123456789012:root'] },
        Condition: { StringEquals: { 'aws:PrincipalArn': [
          'arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Dns_0123456789abcdef',
          'arn:aws:iam::123456789012:role/ec2-dns-operator',
          'arn:aws:iam::123456789012:user/alice',
        ] } },
      },
    ]);
    // The rights stay the member role's: operators get exactly those.
    assert.deepEqual(r.Policies, memberDefault().json.Resources[id(member.memberRole)].Properties.Policies);
    const one = buildMember({ operatorPrincipalArns: ['arn:aws-us-gov:iam::123456789012:role/ops'], centralRegion: 'us-gov-west-1',
      reconcilerRoleArn: 'arn:aws-us-gov:iam::123456789012:role/ec2-dns-function' });
    const stmt = one.json.Resources[one.id(one.member.memberRole)].Properties.AssumeRolePolicyDocument.Statement[1];
    assert.deepEqual([stmt.Principal, stmt.Condition], [{ AWS: 'arn:aws-us-gov:iam::123456789012:root' },
      { StringEquals: { 'aws:PrincipalArn': ['arn:aws-us-gov:iam::123456789012:role/ops'] } }]);
  });

  it('refuses operators given by wildcard, as an account root, a session or no ARN, each named', () => {
    const bad = ['*', 'arn:aws:iam::123456789012:role/*', 'arn:aws:iam::123456789012:role/ops-?', 'arn:aws:iam::*:role/ops',
      'arn:aws:iam::123456789012:root', 'arn:aws:sts::123456789012:assumed-role/ops/alice', '123456789012', 'ops'];
    assert.throws(() => buildMember({ operatorPrincipalArns: bad }), (e: Error) => {
      for (const b of bad) assert.ok(e.message.includes(`operatorPrincipalArns: '${b}'`), `${b} in ${e.message}`);
      assert.equal((e.message.match(/has a wildcard/g) ?? []).length, 4);
      return true;
    });
  });

  it('is left out with createMemberRole: false (the account\'s other regions, the central account)', () => {
    const { json, member } = buildMember({ createMemberRole: false });
    assert.equal(member.memberRole, undefined);
    assert.equal(ofType(json, 'AWS::IAM::Role').length, 1, 'the forwarding role only');
    assert.equal(ofType(json, 'AWS::Events::Rule').length, 3);
    assert.ok(!Object.keys(json.Outputs).some((k) => k.includes('MemberRoleArn')));
  });
});

describe('member side: forwarding rules', () => {
  it('forward exactly the central rules\' event patterns', () => {
    const app = new App();
    const central = new Stack(app, 'Central');
    new Ec2Dns(central, 'Ec2Dns', {
      allowedDomains: ['dyn.example.com'], hostedZoneIds: ['Z0123456789ABC'], nameTag: 'hostname',
      codePath: codeDir,
    });
    const centralPatterns = ofType(Template.fromStack(central).toJSON(), 'AWS::Events::Rule')
      .map(([, r]) => r.Properties.EventPattern).filter(Boolean);
    const patterns = ofType(buildMember({ nameTag: 'hostname' }).json, 'AWS::Events::Rule').map(([, r]) => r.Properties.EventPattern);
    assert.equal(patterns.length, 3);
    assert.deepEqual(patterns, centralPatterns);
    assert.deepEqual(patterns[1].detail['changed-tag-keys'], ['hostname']);
  });

  it('forward Elastic IP address associations and disassociations and IPv6 address assignments and unassignments (CloudTrail) with the central rule\'s pattern', () => {
    const { json, member, id } = memberDefault();
    const rule = json.Resources[id(member.addressChangeRule)];
    assert.match(id(member.addressChangeRule), /^Ec2DnsMemberForwardAddressChangeRule[0-9A-F]{8}$/);
    assert.deepEqual(rule.Properties.EventPattern, {
      'source': ['aws.ec2'],
      'detail-type': ['AWS API Call via CloudTrail'],
      'detail': { eventSource: ['ec2.amazonaws.com'], eventName: ['AssociateAddress', 'DisassociateAddress', 'AssignIpv6Addresses', 'UnassignIpv6Addresses'] },
    });
    assert.deepEqual(rule.Properties.Targets, [{
      Id: 'Target0', Arn: CENTRAL_BUS,
      RoleArn: { 'Fn::GetAtt': [id(member.forwardingRole), 'Arn'] },
      RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
    }]);
  });

  it('send to the central default bus with their role and a retry policy', () => {
    const { json, member, id } = memberDefault();
    for (const [, rule] of ofType(json, 'AWS::Events::Rule')) {
      assert.equal(rule.Properties.State, 'ENABLED');
      assert.deepEqual(rule.Properties.Targets, [{
        Id: 'Target0', Arn: CENTRAL_BUS,
        RoleArn: { 'Fn::GetAtt': [id(member.forwardingRole), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
      }]);
    }
  });

  it('use a role that EventBridge of this account may assume and that may put events on that bus only', () => {
    const { json, member, id } = memberDefault();
    const r = json.Resources[id(member.forwardingRole)].Properties;
    assert.deepEqual(r.AssumeRolePolicyDocument.Statement, [{
      Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
    }]);
    assert.deepEqual(r.Policies[0].PolicyDocument.Statement, [
      { Sid: 'PutEventsOnCentralBus', Effect: 'Allow', Action: 'events:PutEvents', Resource: CENTRAL_BUS },
    ]);
  });

  it('create nothing else', () => {
    const types = Object.values(memberDefault().json.Resources).map((r: any) => r.Type).filter((t) => t !== 'AWS::CDK::Metadata').sort();
    assert.deepEqual(types, ['AWS::Events::Rule', 'AWS::Events::Rule', 'AWS::Events::Rule', 'AWS::IAM::Role', 'AWS::IAM::Role']);
  });

  it('output the member role and the forwarding role', () => {
    const { json, member, id } = memberDefault();
    const value = (name: string) => (Object.entries(json.Outputs).find(([k]) => k.startsWith(`Ec2DnsMember${name}`))?.[1] as any)?.Value;
    assert.deepEqual(value('MemberRoleArn'), { 'Fn::GetAtt': [id(member.memberRole), 'Arn'] });
    assert.deepEqual(value('ForwardingRoleArn'), { 'Fn::GetAtt': [id(member.forwardingRole), 'Arn'] });
  });
});

describe('member side: lifecycle hooks (docs/fleets.md)', () => {
  const HOOKS: Partial<Ec2DnsMemberProps> = { lifecycleHooks: ['web-terminate', 'web-launch'], lifecycleGroups: ['web', 'api'] };
  const hooked = once(() => buildMember(HOOKS));
  const memberStatements = (b: ReturnType<typeof buildMember>) =>
    b.json.Resources[b.id(b.member.memberRole)].Properties.Policies[0].PolicyDocument.Statement as any[];
  const AUTOSCALING = /^autoscaling:/;
  /** The central stack built with the same hooks and groups. */
  const central = once(() => {
    const app = new App();
    const stack = new Stack(app, 'Central');
    new Ec2Dns(stack, 'Ec2Dns', { ...BASE, accounts: ['210987654321'], ...HOOKS });
    return Template.fromStack(stack).toJSON();
  });

  it('adds nothing without hooks: no rule, no Auto Scaling statement (groups alone grant nothing)', () => {
    for (const b of [memberDefault(), buildMember({ lifecycleGroups: ['web'] })]) {
      assert.equal(ofType(b.json, 'AWS::Events::Rule').length, 3);
      assert.equal(b.member.lifecycleRule, undefined);
      const actions = memberStatements(b).flatMap((st) => [st.Action].flat());
      assert.deepEqual(actions.filter((a: string) => AUTOSCALING.test(a)), []);
    }
  });

  it('forwards the lifecycle actions of exactly the listed hooks, with the central lifecycle rule\'s pattern, to the central bus', () => {
    const b = hooked();
    assert.equal(ofType(b.json, 'AWS::Events::Rule').length, 4);
    const rule = b.json.Resources[b.id(b.member.lifecycleRule)];
    assert.match(b.id(b.member.lifecycleRule), /^Ec2DnsMemberForwardLifecycleActionRule[0-9A-F]{8}$/);
    assert.deepEqual(rule.Properties.EventPattern, {
      'source': ['aws.autoscaling'],
      'detail-type': ['EC2 Instance-launch Lifecycle Action', 'EC2 Instance-terminate Lifecycle Action'],
      'detail': { LifecycleHookName: ['web-terminate', 'web-launch'] },
    });
    const centralLifecycle = ofType(central(), 'AWS::Events::Rule')
      .map(([, r]) => r.Properties.EventPattern).filter((p) => p?.source?.[0] === 'aws.autoscaling');
    assert.deepEqual([rule.Properties.EventPattern], centralLifecycle);
    assert.deepEqual(rule.Properties.Targets, [{
      Id: 'Target0', Arn: CENTRAL_BUS,
      RoleArn: { 'Fn::GetAtt': [b.id(b.member.forwardingRole), 'Arn'] },
      RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
    }]);
  });

  it('lets the member role complete the actions of the listed groups of its own account only', () => {
    const statements = memberStatements(hooked());
    const groupArn = (g: string) => join('arn:', partition, ':autoscaling:*:', { Ref: 'AWS::AccountId' },
      `:autoScalingGroup:*:autoScalingGroupName/${g}`);
    assert.deepEqual(statements.slice(2), [
      {
        Sid: 'ReadGroupLifecycle', Effect: 'Allow', Resource: '*',
        Action: ['autoscaling:DescribeAutoScalingInstances', 'autoscaling:DescribeLifecycleHooks'],
      },
      {
        Sid: 'CompleteLifecycleActions', Effect: 'Allow', Resource: [groupArn('web'), groupArn('api')],
        Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      },
    ]);
    // The reconciler's own statements for its account, equal (route53:GetChange stays central).
    const own = reconcilerStatements(central()).filter((s) => [s.Action].flat().some((a: string) => AUTOSCALING.test(a)));
    assert.deepEqual(statements.slice(2), own);
    // The operators the role trusts get these rights too: the trust is unchanged.
    assert.deepEqual(hooked().json.Resources[hooked().id(hooked().member.memberRole)].Properties.AssumeRolePolicyDocument,
      memberDefault().json.Resources[memberDefault().id(memberDefault().member.memberRole)].Properties.AssumeRolePolicyDocument);
  });

  it('forwards without the member role (the account\'s other regions), and needs no groups there', () => {
    const b = buildMember({ createMemberRole: false, lifecycleHooks: ['web-launch'] });
    assert.equal(ofType(b.json, 'AWS::Events::Rule').length, 4);
    assert.ok(b.member.lifecycleRule);
    assert.equal(ofType(b.json, 'AWS::IAM::Role').length, 1, 'the forwarding role only');
  });

  it('refuses hooks without groups where the role is made, and names the function would refuse, all at once', () => {
    assert.throws(() => buildMember({ lifecycleHooks: ['web-launch'] }), /lifecycleGroups names no group/);
    assert.throws(() => buildMember({ lifecycleHooks: ['not a hook', 'ok'], lifecycleGroups: ['web', 'w*'] }), (e: Error) => {
      for (const part of ["lifecycleHooks: 'not a hook' must be 1-255", "lifecycleGroups: 'w*' must be 1-255 characters, without *"]) {
        assert.ok(e.message.includes(part), `${part} in ${e.message}`);
      }
      assert.ok(!e.message.includes("'ok'"), e.message);
      return true;
    });
  });
});

describe('member side: where a member may be', () => {
  it('refuses the member role in the central account, and any member in the central region there', () => {
    assert.throws(() => buildMember({}, { env: { account: '123456789012', region: 'eu-west-1' } }),
      /createMemberRole must be false in the central account/);
    buildMember({ createMemberRole: false }, { env: { account: '123456789012', region: 'eu-west-1' } });
    assert.throws(() => buildMember({ createMemberRole: false }, { env: { account: '123456789012', region: 'us-east-1' } }),
      /central region needs no member/);
    assert.deepEqual(templateRules(buildMember({}, { env: { account: '210987654321', region: 'us-east-1' } }).json), []);
  });

  it('checks the same at deploy time in an environment-agnostic stack', () => {
    const inCentral = { 'Fn::Equals': [{ Ref: 'AWS::AccountId' }, '123456789012'] };
    const [rule] = templateRules(memberDefault().json);
    assert.deepEqual(rule.Assertions.map((a: any) => a.Assert), [
      { 'Fn::Not': [{ 'Fn::And': [inCentral, { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'] }] }] },
      { 'Fn::Not': [inCentral] },
    ]);
    const [withoutRole] = templateRules(buildMember({ createMemberRole: false }).json);
    assert.equal(withoutRole.Assertions.length, 1);
  });

  it('reports every invalid prop at once', () => {
    assert.throws(() => buildMember({
      centralAccountId: '1234', centralRegion: 'Europe', reconcilerRoleArn: 'ec2-dns-function',
      memberRoleName: 'a role', nameTag: 'aws:name',
    }), (e: Error) => {
      for (const part of ["centralAccountId: '1234'", "centralRegion: 'Europe'", "reconcilerRoleArn: 'ec2-dns-function' is not an IAM role ARN",
        "memberRoleName: 'a role'", "nameTag: 'aws:name'"]) {
        assert.ok(e.message.includes(part), `${part} in ${e.message}`);
      }
      return true;
    });
  });

  it('refuses a reconciler role of another account than the central one', () => {
    assert.throws(() => buildMember({ reconcilerRoleArn: 'arn:aws:iam::999999999999:role/ec2-dns-function' }),
      /is not a role of the central account 123456789012/);
    buildMember({ reconcilerRoleArn: 'arn:aws-us-gov:iam::123456789012:role/path/ec2-dns-function', centralRegion: 'us-gov-west-1' });
  });
});

describe('cdk-nag AwsSolutions (member)', () => {
  it('reports nothing that is not acknowledged, with or without the member role or lifecycle hooks', () => {
    const app = new App();
    new Ec2DnsMember(new Stack(app, 'WithRole'), 'Ec2DnsMember', MEMBER);
    new Ec2DnsMember(new Stack(app, 'RulesOnly'), 'Ec2DnsMember', { ...MEMBER, createMemberRole: false });
    new Ec2DnsMember(new Stack(app, 'WithOperators'), 'Ec2DnsMember',
      { ...MEMBER, operatorPrincipalArns: ['arn:aws:iam::123456789012:role/ec2-dns-operator'] });
    new Ec2DnsMember(new Stack(app, 'WithLifecycleHooks'), 'Ec2DnsMember',
      { ...MEMBER, lifecycleHooks: ['web-launch'], lifecycleGroups: ['web', 'api'] });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
  });
});
