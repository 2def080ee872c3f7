/**
 * The public API of the ec2-dns construct library (the package's entry point, and what jsii
 * compiles for other languages). The helpers the template tests use stay in their modules.
 */
export { Ec2Dns, Ec2DnsProps, Ec2DnsRules } from './ec2-dns';
export { Ddns, DdnsProps, DdnsShared } from './ddns';
export { Ec2DnsMember, Ec2DnsMemberProps } from './member';
