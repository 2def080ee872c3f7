#!/usr/bin/env node
/**
 * The standalone CloudFormation template of ec2-dns, for people who use neither CDK nor
 * Terraform: the same construct, with CloudFormation Parameters instead of CDK props and the
 * Lambda zips taken from S3 (a release's assets uploaded to a bucket of the deploying
 * account, in the stack's region). No CDK bootstrap, no assets, no CDK metadata.
 *
 *   npm run template -- OUT.json [--partition aws|aws-cn|aws-us-gov]
 *
 * (run in infra/cdk; OUT.json is relative to the directory npm was started in). Then e.g.
 *
 *   aws cloudformation deploy --template-file OUT.json --stack-name ec2-dns \
 *     --s3-bucket my-artifacts --s3-prefix ec2-dns/1.0.0 \
 *     --capabilities CAPABILITY_IAM --parameter-overrides \
 *     AllowedDomains=dyn.example.com HostedZoneIds=Z0123456789ABC \
 *     CodeBucket=my-artifacts CodeKey=ec2-dns/ec2-dns-1.0.0-lambda-arm64.zip
 *
 * (`--s3-bucket`: the template is over the 51,200 bytes CloudFormation takes inline; docs/install.md
 * has the whole path, and tests/release_check.py keeps the documented commands to it.)
 *
 * The DDNS endpoint is a condition (EnableDdns=true, with DdnsCodeKey); CloudFront in front of
 * it is left to the CDK and Terraform flavours. So are several accounts and regions (Ec2Dns
 * `accounts`, `regions`, Ec2DnsMember): this template deploys one account and region (a list
 * of accounts needs a bus statement and a role ARN per account, which parameters cannot
 * make). The Route53 ARNs in the policies are built by CloudFormation from the zone list,
 * with the partition fixed when the template is made (`--partition`, default aws).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  App, Aspects, Aws, CfnCondition, CfnOutput, CfnParameter, CfnResource, CfnRule, DefaultStackSynthesizer, Fn, IAspect,
  Stack, StackProps, Token,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, IConstruct } from 'constructs';
import { Ec2Dns, Ec2DnsProps } from 'ec2-dns-cdk';
import { dashboardRows } from '../lib/dashboard';
import { recordTypes } from '../lib/shared';

/** DdnsCodeKey without the DDNS endpoint (an S3 key must not be empty). */
const NO_KEY = 'none';

/**
 * With ReverseRecords=true, PTR among the record types of both functions' ChangeRecords
 * statements (the construct's recordTypes(true)); otherwise the types without it. An override
 * of each role's inline policy: the construct decides the types at synth time from a boolean.
 */
function admitPtrWhen(stack: Stack, condition: CfnCondition): void {
  let patched = 0;
  for (const role of stack.node.findAll().filter((c): c is iam.CfnRole => c instanceof iam.CfnRole)) {
    const policies = (stack.resolve(role.policies) ?? []) as Array<{ policyDocument: { Statement: Array<{ Sid?: string }> } }>;
    policies.forEach((policy, i) => policy.policyDocument.Statement.forEach((st, j) => {
      if (st.Sid !== 'ChangeRecords') return;
      role.addPropertyOverride(
        `Policies.${i}.PolicyDocument.Statement.${j}.Condition.ForAllValues:StringEquals.route53:ChangeResourceRecordSetsRecordTypes`,
        Fn.conditionIf(condition.logicalId, recordTypes(true), recordTypes(false)));
      patched += 1;
    }));
  }
  // The reconciler's and the DDNS function's: a construct that grew or lost one must be seen.
  if (patched !== 2) throw new Error(`expected 2 ChangeRecords statements, found ${patched}`);
}

/** A stack whose partition is a literal (the policies' zone ARNs are joined from a list). */
class TemplateStack extends Stack {
  constructor(scope: Construct, id: string, private readonly fixedPartition: string, props?: StackProps) {
    super(scope, id, props);
  }

  public get partition(): string {
    return this.fixedPartition;
  }
}

/** Puts every resource and output below a construct under a condition. */
class Conditional implements IAspect {
  constructor(private readonly condition: CfnCondition) {}

  public visit(node: IConstruct): void {
    if (node instanceof CfnResource) node.cfnOptions.condition = this.condition;
    if (node instanceof CfnOutput) node.condition = this.condition;
  }
}

export function buildTemplate(partition = 'aws'): Record<string, unknown> {
  const app = new App({ analyticsReporting: false });
  const stack = new TemplateStack(app, 'Ec2Dns', partition, {
    description: 'ec2-dns: Route53 records for tagged EC2 instances (standalone template)',
    synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
    analyticsReporting: false,
  });

  const param = (id: string, props: ConstructorParameters<typeof CfnParameter>[2]) => new CfnParameter(stack, id, props);
  // A `true`/`false` parameter, `false` by default as in the function.
  const flag = (id: string, description: string) =>
    param(id, { type: 'String', default: 'false', allowedValues: ['true', 'false'], description });
  const domains = param('AllowedDomains', {
    type: 'CommaDelimitedList',
    // Checked item by item; the function checks the rest (e.g. the length of each label).
    allowedPattern: '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$',
    constraintDescription: 'domain names in lower case, without a final dot',
    description: 'Domains below which names may be written, lower case without a final dot, e.g. dyn.example.com,lab.example.org',
  });
  const zones = param('HostedZoneIds', {
    type: 'CommaDelimitedList',
    allowedPattern: '^[A-Z0-9]{1,32}$',
    constraintDescription: 'hosted zone ids such as Z0123456789ABC, without /hostedzone/',
    description: 'Ids of the hosted zones the function may read and change, e.g. Z0123456789ABC (without /hostedzone/)',
  });
  const nameTag = param('NameTag', {
    type: 'String', default: 'dnsname', minLength: 1, maxLength: 120,
    allowedPattern: '^[A-Za-z0-9 _.:/=+@-]+$',
    description: 'Tag holding the name(s) of an instance',
  });
  const ttl = param('RecordTtl', {
    type: 'Number', default: 60, minValue: 1, maxValue: 172800, description: 'TTL of written records, seconds',
  });
  // Optional: empty (the default) lets the function derive the id from account, region and
  // lock table name. Always passed (DEPLOYMENT_ID empty counts as unset for the function).
  const deploymentId = param('DeploymentId', {
    type: 'String', default: '', maxLength: 24,
    allowedPattern: '^([a-z0-9][a-z0-9-]*)?$',
    constraintDescription: '1-24 of lowercase letters, digits and hyphens, starting with a letter or digit, or empty',
    description: 'The deployment id every ownership marker carries (DEPLOYMENT_ID); empty: derived from account, region and lock table. Set it only to keep the id of a deployment this one replaces (docs/deployments.md)',
  });
  // Always passed, with the function's defaults: CloudFormation cannot leave a variable out
  // of the environment by a parameter's value without a condition per variable.
  const markerStyle = param('MarkerStyle', {
    type: 'String', default: 'plain', allowedValues: ['plain', 'opaque'],
    description: 'How ownership markers name their holder (MARKER_STYLE): plain names account, region and instance id in public DNS; opaque writes a hash instead (docs/ownership.md)',
  });
  // Always passed too, `false` by default as in the function.
  const sharedNames = flag('SharedNames',
    'Whether name tags may ask for shared names (SHARED_NAMES): shared:api.example.com puts every running member\'s addresses in one record set (docs/configuration.md)',
  );
  const reverseRecords = flag('ReverseRecords',
    'PTR records for the private IPv4 and IPv6 addresses of instances that hold names (REVERSE_RECORDS), in the private reverse zones: AllowedDomains must then list a reverse domain (such as 10.in-addr.arpa), or the function refuses to start and the deploy fails; adds PTR to the record types both functions may change (docs/configuration.md)',
  );
  // Strings, so that a pattern admits whole numbers only (a Number parameter takes 2.5, which
  // the functions would refuse at start).
  const requestsPerSecond = param('Route53RequestsPerSecond', {
    type: 'String', default: '5', allowedPattern: '^([1-9][0-9]?|100)$',
    constraintDescription: 'a whole number from 1 to 100',
    description: 'Route53 calls per second each function allows itself (ROUTE53_REQUESTS_PER_SECOND), 1-100; Route53 allows 10 per account. Default 5, the function\'s',
  });
  const changesPerSecond = param('Route53ChangesPerSecond', {
    type: 'String', default: '50', allowedPattern: '^([1-9][0-9]{0,3}|10000)$',
    constraintDescription: 'a whole number from 1 to 10000',
    description: 'Record changes per second each function allows itself (ROUTE53_CHANGES_PER_SECOND), 1-10000: your account\'s Route53 budget, less what other tools use. Default 50, the function\'s',
  });
  const shardedReconcile = flag('ShardedReconcile',
    'Whether the scheduled reconcile of everything runs in shards (SHARDED_RECONCILE), one message per shard on the function\'s own queue; the event source mapping\'s maximum concurrency (2) caps how many run at once (docs/configuration.md)',
  );
  const shardSize = param('ShardSize', {
    type: 'String', default: '2000', allowedPattern: '^([1-9][0-9]{2,3}|1[0-9]{4}|20000)$',
    constraintDescription: 'a whole number from 100 to 20000',
    description: 'The most owners (instances and hosts) one shard reconciles (SHARD_SIZE), 100-20000; a larger place is split by instance-id prefix. Default 2000, the function\'s',
  });
  const bucket = param('CodeBucket', {
    type: 'String', minLength: 3, maxLength: 63, allowedPattern: '^[a-z0-9][a-z0-9.-]*[a-z0-9]$',
    description: 'S3 bucket (in this region) holding the release zips',
  });
  const key = param('CodeKey', {
    type: 'String', minLength: 1, description: 'S3 key of the function zip, e.g. ec2-dns/ec2-dns-1.0.0-lambda-arm64.zip',
  });
  const enableDdns = param('EnableDdns', {
    type: 'String', default: 'false', allowedValues: ['true', 'false'],
    description: 'Deploy the DDNS endpoint for hosts outside AWS (a public function URL)',
  });
  const ddnsKey = param('DdnsCodeKey', {
    type: 'String', default: NO_KEY, minLength: 1,
    description: `S3 key of the DDNS function zip, required with EnableDdns=true (${NO_KEY}: none)`,
  });

  const ddnsOn = new CfnCondition(stack, 'DdnsEnabled', { expression: Fn.conditionEquals(enableDdns.valueAsString, 'true') });
  const ddnsOff = new CfnCondition(stack, 'DdnsDisabled', { expression: Fn.conditionNot(ddnsOn) });
  new CfnRule(stack, 'DdnsNeedsCode', {
    ruleCondition: Fn.conditionEquals(enableDdns.valueAsString, 'true'),
    assertions: [{
      assert: Fn.conditionNot(Fn.conditionEquals(ddnsKey.valueAsString, NO_KEY)),
      assertDescription: 'EnableDdns=true needs DdnsCodeKey, the S3 key of the DDNS function zip',
    }],
  });
  const codeBucket = s3.Bucket.fromBucketName(stack, 'CodeBucketRef', bucket.valueAsString);

  const ec2dns = new Ec2Dns(stack, 'Ec2Dns', {
    allowedDomains: domains.valueAsList,
    hostedZoneIds: zones.valueAsList,
    nameTag: nameTag.valueAsString,
    recordTtl: ttl.valueAsNumber,
    deploymentId: deploymentId.valueAsString,
    markerStyle: markerStyle.valueAsString as Ec2DnsProps['markerStyle'],
    route53RequestsPerSecond: Token.asNumber(requestsPerSecond.valueAsString),
    route53ChangesPerSecond: Token.asNumber(changesPerSecond.valueAsString),
    shardSize: Token.asNumber(shardSize.valueAsString),
    code: lambda.Code.fromBucket(codeBucket, key.valueAsString),
    enableDdns: true,
    ddnsCode: lambda.Code.fromBucket(codeBucket, ddnsKey.valueAsString),
    // One dashboard per case below: CloudFormation cannot drop widgets under a condition.
    dashboard: false,
  });
  const ddns = ec2dns.ddns as NonNullable<typeof ec2dns.ddns>;
  Aspects.of(ddns).add(new Conditional(ddnsOn));
  // The reconciler's flags, as given (the construct sets each only when true at synth time;
  // the function reads `false` as off). The configuration request carries them too.
  ec2dns.function.addEnvironment('SHARED_NAMES', sharedNames.valueAsString);
  ec2dns.function.addEnvironment('REVERSE_RECORDS', reverseRecords.valueAsString);
  ec2dns.function.addEnvironment('SHARDED_RECONCILE', shardedReconcile.valueAsString);
  admitPtrWhen(stack, new CfnCondition(stack, 'ReverseRecordsOn', {
    expression: Fn.conditionEquals(reverseRecords.valueAsString, 'true'),
  }));

  // Versions are immutable: a new one is published only when its properties change. The
  // parameters change code and configuration without changing the template, so they go into
  // the description (at most 256 characters), and a stack update publishes a new version.
  const settings = Fn.join('', [
    ' ttl=', ttl.valueAsString, ' tag=', nameTag.valueAsString, ' id=', deploymentId.valueAsString,
    ' markers=', markerStyle.valueAsString, ' r53=', requestsPerSecond.valueAsString, '/', changesPerSecond.valueAsString,
    ' shared=', sharedNames.valueAsString, ' ptr=', reverseRecords.valueAsString,
    ' shards=', shardedReconcile.valueAsString, '/', shardSize.valueAsString,
    ' domains=', Fn.join(',', domains.valueAsList), ' zones=', Fn.join(',', zones.valueAsList),
  ]);
  const describe = (fn: lambda.Function, codeKey: string) => {
    (fn.currentVersion.node.defaultChild as lambda.CfnVersion).description =
      Fn.join('', ['code=s3://', bucket.valueAsString, '/', codeKey, settings]);
  };
  describe(ec2dns.function, key.valueAsString);
  describe(ddns.function, ddnsKey.valueAsString);

  const inputs = {
    functionName: ec2dns.function.functionName,
    logGroupName: ec2dns.logGroup.logGroupName,
    queueName: ec2dns.queue.queueName,
    deadLetterQueueName: ec2dns.deadLetterQueue.queueName,
    eventDeadLetterQueueName: ec2dns.eventDeadLetterQueue.queueName,
  };
  // Either dashboard has the same name: only one of them exists.
  const dashboardName = Fn.join('-', [Aws.STACK_NAME, Aws.REGION]);
  const plain = new cloudwatch.Dashboard(stack, 'Dashboard', { dashboardName, widgets: dashboardRows(inputs) });
  (plain.node.defaultChild as CfnResource).cfnOptions.condition = ddnsOff;
  const withDdns = new cloudwatch.Dashboard(stack, 'DashboardWithDdns', {
    dashboardName,
    widgets: dashboardRows({
      ...inputs, ddnsFunctionName: ddns.function.functionName, ddnsLogGroupName: ddns.logGroup.logGroupName,
    }),
  });
  (withDdns.node.defaultChild as CfnResource).cfnOptions.condition = ddnsOn;
  new CfnOutput(stack, 'DashboardName', { value: dashboardName });
  // Without the DDNS endpoint's names: an output cannot name resources that may not exist
  // (theirs are generated by CloudFormation from the stack's name anyway).
  ec2dns.deploymentOutput.value = ec2dns.deploymentSummary(false);

  stack.templateOptions.metadata = {
    'AWS::CloudFormation::Interface': {
      ParameterGroups: [
        {
          Label: { default: 'Names' },
          Parameters: ['AllowedDomains', 'HostedZoneIds', 'NameTag', 'RecordTtl', 'DeploymentId', 'MarkerStyle', 'SharedNames',
            'ReverseRecords'],
        },
        { Label: { default: 'Route53 budget' }, Parameters: ['Route53RequestsPerSecond', 'Route53ChangesPerSecond'] },
        { Label: { default: 'Reconcile of everything' }, Parameters: ['ShardedReconcile', 'ShardSize'] },
        { Label: { default: 'Code (release zips in S3)' }, Parameters: ['CodeBucket', 'CodeKey'] },
        { Label: { default: 'DDNS endpoint' }, Parameters: ['EnableDdns', 'DdnsCodeKey'] },
      ],
    },
  };
  return app.synth().getStackByName(stack.stackName).template;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--partition');
  const partition = at >= 0 ? args.splice(at, 2)[1] : 'aws';
  const [out] = args;
  if (!out || !['aws', 'aws-cn', 'aws-us-gov'].includes(partition)) {
    console.error('usage: npm run template -- OUT.json [--partition aws|aws-cn|aws-us-gov]');
    process.exit(2);
  }
  const file = path.resolve(process.env.INIT_CWD ?? process.cwd(), out);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(buildTemplate(partition), null, 1) + '\n');
  console.error(`ec2-dns: wrote the CloudFormation template ${file}`);
}
