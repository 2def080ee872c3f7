#!/usr/bin/env node
/**
 * Example app: the stack with the ec2-dns construct (Ec2Dns), and with centralAccountId the
 * member stack (Ec2DnsMember) for the other accounts and regions of an organisation.
 *
 *   npx cdk deploy -c allowedDomains=dyn.example.com -c hostedZoneIds=Z0123456789ABC \
 *     -c lambdaZip=../../target/lambda/ec2-dns/bootstrap.zip
 *
 * Context keys (or environment variables in brackets):
 *   allowedDomains (EC2DNS_ALLOWED_DOMAINS)   comma-separated, required
 *   hostedZoneIds  (EC2DNS_HOSTED_ZONE_IDS)   comma-separated, required
 *   lambdaZip      (LAMBDA_ZIP)               default ../../target/lambda/ec2-dns/bootstrap.zip
 *   nameTag, recordTtl, reconcileSchedule, memorySize, timeoutSeconds,
 *   batchingWindowSeconds, maxConcurrency, deletionProtection, alarmTopicArn, stackName
 *   deploymentId   (EC2DNS_DEPLOYMENT_ID)     default unset: the function derives it (docs/deployments.md)
 *   markerStyle                                plain or opaque; default unset (plain, docs/ownership.md)
 *   route53RequestsPerSecond, route53ChangesPerSecond
 *                                              default unset (the function's 5 and 50, docs/configuration.md)
 *   sharedNames                                true/false, default false (SHARED_NAMES, docs/configuration.md)
 *   shardedReconcile                           true/false, default false (SHARDED_RECONCILE, docs/configuration.md)
 *   shardSize                                  100..20000, default unset (the function's 2000; SHARD_SIZE)
 *   lifecycleHooks, lifecycleGroups            comma-separated Auto Scaling hooks the function completes
 *                                              and the groups it may complete them on; default none
 *                                              (docs/fleets.md). The member stack takes both too: the
 *                                              hooks it forwards, the member account's groups
 *
 * The DDNS endpoint (off unless enableDdns=true):
 *   enableDdns                                 true/false, default false
 *   ddnsLambdaZip  (DDNS_LAMBDA_ZIP)           default ../../target/lambda/ec2-dns-ddns/bootstrap.zip
 *   ddnsReservedConcurrency, ddnsHostSecretsPrefix, ddnsAlertTopicArn
 *   ddnsCloudfront                             true/false, default false
 *   ddnsOriginSecret (EC2DNS_DDNS_ORIGIN_SECRET) required with ddnsCloudfront
 *   ddnsDomainName, ddnsCertificateArn         both or neither
 *
 * Several accounts and regions (README: "Several accounts and regions"):
 *   accounts, regions                          comma-separated; default none / the stack's region
 *   memberRoleName                             default ec2-dns-member (also the member's)
 *   organizationId                             o-…: the bus admits the organisation's accounts
 * The member stack (only with centralAccountId; deploy it with `npx cdk deploy Ec2DnsMember`
 * in each member account and extra region):
 *   centralAccountId, centralRegion, reconcilerRoleArn (the central stack's output RoleArn)
 *   createMemberRole                           true/false, default true (false in the account's
 *                                              other regions and in the central account)
 *   operatorPrincipalArns                      comma-separated role or user ARNs the member role
 *                                              also trusts (ec2-dns-ctl); default none
 *   memberStackName                            default Ec2DnsMember
 * With centralAccountId and without allowedDomains, the app has the member stack only.
 */
import * as path from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
// The construct library by its package name (tsconfig.json maps it to lib/index.ts here; an
// app of your own gets it from npm: npm install ec2-dns-cdk).
import { Ec2Dns, Ec2DnsMember, Ec2DnsProps } from 'ec2-dns-cdk';

const app = new App();

function setting(key: string, env?: string): string | undefined {
  const fromContext = app.node.tryGetContext(key);
  if (fromContext !== undefined && fromContext !== '') return String(fromContext);
  const fromEnv = env ? process.env[env] : undefined;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
}
function list(key: string, env?: string): string[] {
  const value = setting(key, env);
  if (value === undefined) throw new Error(`ec2-dns: set -c ${key}=…${env ? ` (or ${env})` : ''}`);
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}
function num(key: string): number | undefined {
  const value = setting(key);
  return value === undefined ? undefined : Number(value);
}

const centralAccountId = setting('centralAccountId');
const optionalList = (key: string) => (setting(key) === undefined ? undefined : list(key));
// Environment-agnostic unless the CLI's account and region are known.
const env = process.env.CDK_DEFAULT_ACCOUNT
  ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
  : undefined;

if (centralAccountId === undefined || setting('allowedDomains', 'EC2DNS_ALLOWED_DOMAINS') !== undefined) {
  const stack = new Stack(app, setting('stackName') ?? 'Ec2Dns', {
    description: 'ec2-dns: Route53 records for tagged EC2 instances',
    env,
  });

  const alarmTopicArn = setting('alarmTopicArn');
  const timeoutSeconds = num('timeoutSeconds');
  const batchingWindowSeconds = num('batchingWindowSeconds');
  const schedule = setting('reconcileSchedule');
  const flag = (key: string) => setting(key) === 'true';
  const ddnsAlertTopicArn = setting('ddnsAlertTopicArn');

  new Ec2Dns(stack, 'Ec2Dns', {
    allowedDomains: list('allowedDomains', 'EC2DNS_ALLOWED_DOMAINS'),
    hostedZoneIds: list('hostedZoneIds', 'EC2DNS_HOSTED_ZONE_IDS'),
    codePath: path.resolve(setting('lambdaZip', 'LAMBDA_ZIP') ?? path.join(__dirname, '../../../target/lambda/ec2-dns/bootstrap.zip')),
    nameTag: setting('nameTag'),
    recordTtl: num('recordTtl'),
    deploymentId: setting('deploymentId', 'EC2DNS_DEPLOYMENT_ID'),
    // Checked by the construct (plain or opaque).
    markerStyle: setting('markerStyle') as Ec2DnsProps['markerStyle'],
    route53RequestsPerSecond: num('route53RequestsPerSecond'),
    route53ChangesPerSecond: num('route53ChangesPerSecond'),
    sharedNames: flag('sharedNames'),
    shardedReconcile: flag('shardedReconcile'),
    shardSize: num('shardSize'),
    reconcileSchedule: schedule ? events.Schedule.expression(schedule) : undefined,
    memorySize: num('memorySize'),
    timeout: timeoutSeconds === undefined ? undefined : Duration.seconds(timeoutSeconds),
    batchingWindow: batchingWindowSeconds === undefined ? undefined : Duration.seconds(batchingWindowSeconds),
    maxConcurrency: num('maxConcurrency'),
    deletionProtection: setting('deletionProtection') === undefined ? undefined : setting('deletionProtection') === 'true',
    alarmTopic: alarmTopicArn ? sns.Topic.fromTopicArn(stack, 'AlarmTopic', alarmTopicArn) : undefined,
    enableDdns: flag('enableDdns'),
    ddnsCodePath: path.resolve(setting('ddnsLambdaZip', 'DDNS_LAMBDA_ZIP') ?? path.join(__dirname, '../../../target/lambda/ec2-dns-ddns/bootstrap.zip')),
    ddnsReservedConcurrency: num('ddnsReservedConcurrency'),
    ddnsHostSecretsPrefix: setting('ddnsHostSecretsPrefix'),
    ddnsAlertTopic: ddnsAlertTopicArn ? sns.Topic.fromTopicArn(stack, 'DdnsAlertTopic', ddnsAlertTopicArn) : undefined,
    ddnsCloudfront: flag('ddnsCloudfront'),
    ddnsOriginSecret: setting('ddnsOriginSecret', 'EC2DNS_DDNS_ORIGIN_SECRET'),
    ddnsDomainName: setting('ddnsDomainName'),
    ddnsCertificateArn: setting('ddnsCertificateArn'),
    accounts: optionalList('accounts'),
    regions: optionalList('regions'),
    memberRoleName: setting('memberRoleName'),
    organizationId: setting('organizationId'),
    lifecycleHooks: optionalList('lifecycleHooks'),
    lifecycleGroups: optionalList('lifecycleGroups'),
  });
}

if (centralAccountId !== undefined) {
  const member = new Stack(app, setting('memberStackName') ?? 'Ec2DnsMember', {
    description: 'ec2-dns member: the member role and the rules that forward instance events to the central account',
    env,
  });
  new Ec2DnsMember(member, 'Ec2DnsMember', {
    centralAccountId,
    centralRegion: setting('centralRegion') ?? '',
    reconcilerRoleArn: setting('reconcilerRoleArn') ?? '',
    memberRoleName: setting('memberRoleName'),
    nameTag: setting('nameTag'),
    createMemberRole: setting('createMemberRole') === undefined ? undefined : setting('createMemberRole') === 'true',
    operatorPrincipalArns: optionalList('operatorPrincipalArns'),
    lifecycleHooks: optionalList('lifecycleHooks'),
    lifecycleGroups: optionalList('lifecycleGroups'),
  });
}

// cdk-nag: every finding fails the synth unless acknowledged with a reason next to the
// resource (lib/ec2-dns.ts); acknowledgements are copied into the template's Metadata.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
