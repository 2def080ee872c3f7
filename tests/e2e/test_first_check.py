"""The first check after deploying works: the deployment records the function's
configuration while it deploys (CloudFormation's custom resource, served by the function
itself, or Terraform's `{"record_configuration": true}`), and `ec2-dns-ctl --function NAME`
takes the lock table and the settings from the deployed function, so that nothing has to be
looked up or can differ by accident."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.moto import boto_client
from harness.runtime import LambdaError

CONFIG_PK = "config#reconciler"
STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/dns/5b6c1a10-0000-4000-8000-000000000000"


class ResponseUrl:
    """CloudFormation's side of a custom resource: the presigned URL its answer is PUT to,
    served on 127.0.0.1. `status` is what it answers (S3 answers 403 to a request whose
    signed headers differ)."""

    def __init__(self, status: int = 200):
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.headers.append(dict(self.headers))
                outer.bodies.append(json.loads(raw))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cfn-response?X-Amz-Signature=abc"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def response_url():
    served = []

    def start(status: int = 200) -> ResponseUrl:
        served.append(ResponseUrl(status))
        return served[-1]

    yield start
    for s in served:
        s.stop()


def request(kind: str, url: str, physical: str | None = None) -> dict:
    r = {
        "RequestType": kind, "ResponseURL": url, "StackId": STACK,
        "RequestId": f"req-{kind}", "ResourceType": "Custom::Ec2DnsConfiguration",
        "LogicalResourceId": "RecordedConfiguration",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:ec2-dns",
                               "Configuration": "ALLOWED_DOMAINS=dyn.example.com"},
    }
    if physical:
        r["PhysicalResourceId"] = physical
    return r


def forget_configuration(world):
    world.dynamodb.delete_item(TableName=world.lock_table, Key={"pk": {"S": CONFIG_PK}})
    assert world.recorded_config() is None


def test_the_stack_records_the_configuration_and_hears_back(world, dyn, fn, response_url):
    cfn = response_url()
    forget_configuration(world)
    answer = fn.invoke_ok(request("Create", cfn.url))
    [body] = cfn.bodies
    assert answer == body
    assert body["Status"] == "SUCCESS", body
    assert (body["PhysicalResourceId"], body["RequestId"], body["LogicalResourceId"], body["StackId"]) \
        == ("ec2-dns-configuration", "req-Create", "RecordedConfiguration", STACK)
    assert body["Data"]["LockTable"] == world.lock_table
    # The URL was signed for no content type: anything else is refused by S3.
    assert cfn.headers[0].get("Content-Type", "") == ""
    recorded = world.recorded_config()
    assert recorded["allowed_domains"] == "dyn.example.com"
    assert recorded["version"] == body["Data"]["Version"] != ""

    # Delete leaves the configuration (and the table) as they are, and says so at once.
    fn.invoke_ok(request("Delete", cfn.url, physical="ec2-dns-configuration"))
    assert cfn.bodies[-1]["Status"] == "SUCCESS"
    assert cfn.bodies[-1]["PhysicalResourceId"] == "ec2-dns-configuration"
    assert world.recorded_config() is not None


def test_a_failure_is_answered_too_and_a_lost_answer_fails_the_invocation(
        world, dyn, fn, response_url, proxy):
    cfn = response_url()
    proxy.add_fault(service="dynamodb", operation="GetItem", fault="access_denied", count=1)
    fn.invoke_ok(request("Update", cfn.url, physical="ec2-dns-configuration"))
    [body] = cfn.bodies
    assert body["Status"] == "FAILED", body
    assert body["Reason"].startswith(
        f"ec2-dns could not record its configuration in lock table {world.lock_table}: "), body

    # The stack waits for the answer, not for the invocation: if the answer cannot be
    # delivered, the invocation fails, and the platform retries it.
    refused = response_url(status=403)
    result = fn.invoke(request("Create", refused.url))
    assert isinstance(result, LambdaError), result
    assert "could not answer CloudFormation" in result.error_message
    assert "HTTP 403" in result.error_message


def test_terraform_records_it_with_a_plain_invocation(world, dyn, fn):
    forget_configuration(world)
    answer = fn.invoke_ok({"record_configuration": True})
    assert answer["recorded"]["allowed_domains"] == ["dyn.example.com"]
    assert answer["recorded"]["function"] == "ec2-dns"
    assert world.recorded_config()["function"] == "ec2-dns"
    bad = fn.invoke({"record_configuration": "yes"})
    assert isinstance(bad, LambdaError) and "record_configuration" in bad.error_message


def deploy_function(moto_url: str, name: str, variables: dict) -> str:
    """The function as a deployment leaves it: its configuration in its environment."""
    iam = boto_client("iam", moto_url)
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    return boto_client("lambda", moto_url).create_function(
        FunctionName=name, Runtime="provided.al2023", Role=role["Role"]["Arn"],
        Handler="bootstrap", Code={"ZipFile": code.getvalue()}, Architectures=["arm64"],
        Environment={"Variables": variables})["FunctionArn"]


def test_the_cli_finds_everything_from_the_function(world, dyn, moto, ctl, proxy):
    web = world.run_instance({"dnsname": "web.dyn.example.com"})
    arn = deploy_function(moto.url, "ec2dns-Reconciler-7QZ1", {
        "LOCK_TABLE": world.lock_table, "ALLOWED_DOMAINS": "dyn.example.com",
        "ROUTE53_REQUESTS_PER_SECOND": "100", "ROUTE53_CHANGES_PER_SECOND": "10000"})
    shell = {"LOCK_TABLE": None, "ALLOWED_DOMAINS": None}

    plan = ctl("--function", "ec2dns-Reconciler-7QZ1", "plan", env=shell)
    assert "CREATE  web.dyn.example.com" in plan.stdout, plan.stdout
    assert world.public_ip(web) in plan.stdout
    assert proxy.calls().get("lambda:GetFunctionConfiguration") == 1, proxy.calls()
    # By ARN, which also names the region; a shell that says otherwise is set aside, aloud.
    applied = ctl("apply", "--function", arn, env={**shell, "AWS_REGION": None,
                                                    "ALLOWED_DOMAINS": "other.example.com"})
    assert "ALLOWED_DOMAINS from this shell (\"other.example.com\") is set aside" in applied.stderr
    assert world.holder("web.dyn.example.com") == web

    # Not a reconciler, or no such function: one line that says so.
    deploy_function(moto.url, "ec2dns-Ddns-1", {"HOST_SECRETS_PREFIX": "/ec2-dns/hosts/"})
    wrong = ctl("--function", "ec2dns-Ddns-1", "status", env=shell, expect=1)
    assert "not an ec2-dns reconciler" in wrong.stderr
    missing = ctl("--function", "ec2-dns-typo", "status", env=shell, expect=1)
    lines = [l for l in missing.stderr.splitlines() if l.startswith("ec2-dns-ctl:")]
    assert len(lines) == 1 and "GetFunctionConfiguration" in lines[0], missing.stderr


def test_the_cli_warns_when_the_function_is_of_another_release(world, dyn, fn, ctl):
    world.dynamodb.update_item(TableName=world.lock_table, Key={"pk": {"S": CONFIG_PK}},
                               UpdateExpression="SET #v = :v",
                               ExpressionAttributeNames={"#v": "version"},
                               ExpressionAttributeValues={":v": {"S": "9.0.0"}})
    status = ctl("status")
    assert "warning: function ec2-dns is ec2-dns 9.0.0" in status.stderr, status.stderr
    assert "Use ec2-dns-ctl 9.x" in status.stderr
    # The function records its own version again (as at its next deployment or start), and
    # the warning goes.
    fn.invoke_ok({"record_configuration": True})
    assert world.recorded_config()["version"] != "9.0.0"
    assert "warning" not in ctl("status").stderr


def test_a_cold_container_asks_nothing_before_its_first_poll_and_its_first_event_records_it(
        world, dyn, proxy, ec2_dns_bin, tmp_path):
    from harness import ec2_state_change
    from harness.runtime import Ec2DnsFunction

    fn = Ec2DnsFunction(proxy.url, None, command=[ec2_dns_bin], workdir=str(tmp_path))
    try:
        proxy.reset_calls()
        fn.start().wait_ready()
        # Nothing before the first poll: no STS, no read of the recorded configuration.
        assert proxy.calls() == {}, proxy.calls()
        web = world.run_instance({"dnsname": "web.dyn.example.com"})
        fn.invoke_ok(ec2_state_change(web, "running"))
        calls = proxy.calls()
        # The account came from the invoked function's ARN, and the first invocation
        # recorded the configuration beside its own work.
        assert "sts:GetCallerIdentity" not in calls, calls
        assert calls.get("dynamodb:GetItem") == 1 and calls.get("dynamodb:PutItem") == 1, calls
        assert world.recorded_config()["function"] == "ec2-dns"
        assert world.holder("web.dyn.example.com") == web
        # Its metrics line counts them with the invocation; the next one has none of them.
        first = [l for l in fn.logs() if "ApiCalls" in l][-1]
        assert first["ApiCalls"].get("DynamoDB:GetItem") == 1, first
        proxy.reset_calls()
        fn.invoke_ok(ec2_state_change(web, "running"))
        assert "dynamodb:GetItem" not in proxy.calls() and "dynamodb:PutItem" not in proxy.calls()
    finally:
        fn.stop()
