/**
 * Template tests for several accounts and regions. The central side (Ec2Dns `accounts`,
 * `regions`, `memberRoleName`, `organizationId`): the function's environment, its grants
 * (exact ARNs), the default bus's policy, the outputs the member side needs, and the
 * validation of the new props.
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
      StatementId: `ec2-dns-${a}`,
      Statement: {
        Sid: `ec2-dns-${a}`, Effect: 'Allow', Principal: { AWS: join('arn:', partition, `:iam::${a}:root`) },
        Action: 'events:PutEvents', Resource: OWN_BUS,
      },
    })));
  });

  it('names the statements after the function, so that two deployments in one account do not collide', () => {
    const sids = busPolicies(build({ ...ORG, functionName: 'dns-sync' }).json).map((p) => p.StatementId);
    assert.deepEqual(sids, ['dns-sync-210987654321', 'dns-sync-345678901234']);
  });

  it('with an organisation id, admits the organisation in one statement instead', () => {
    const { json } = build({ ...ORG, organizationId: 'o-a1b2c3d4e5' });
    assert.deepEqual(busPolicies(json), [{
      EventBusName: 'default',
      StatementId: 'ec2-dns-organization',
      Statement: {
        Sid: 'ec2-dns-organization', Effect: 'Allow', Principal: '*', Action: 'events:PutEvents', Resource: OWN_BUS,
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
    assert.equal(patterns.length, 2);
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
