"""The Runtime API host and the function process wrapper, with a Python stand-in function."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from harness import Ec2DnsFunction, LambdaError, ProcessExited
from harness.runtime import FUNCTION_ARN

STANDIN = [sys.executable, str(Path(__file__).with_name("standin_function.py"))]


@pytest.fixture
def standin(tmp_path):
    started = []

    def start(**kwargs):
        fn = Ec2DnsFunction("http://127.0.0.1:9", command=STANDIN, workdir=str(tmp_path), **kwargs)
        started.append(fn)
        return fn.start()

    yield start
    for fn in started:
        fn.stop()


def test_invocations_are_answered_in_order(standin):
    fn = standin()
    assert fn.invoke({"echo": {"n": 1}}) == {"n": 1}
    assert fn.invoke({"echo": [1, 2]}) == [1, 2]
    assert fn.invoke("x") == {"event": "x"}


def test_function_errors_come_back_as_lambda_errors_and_it_keeps_serving(standin):
    fn = standin()
    err = fn.invoke({"fail": "InvalidInput"})
    assert isinstance(err, LambdaError)
    assert (err.errorType, err.errorMessage) == ("InvalidInput", "asked to fail")
    assert fn.invoke({"echo": "still here"}) == "still here"


def test_invocation_headers_and_a_clean_environment(standin):
    # The environment is built from scratch (os.environ is not read), so the host's
    # AWS_PROFILE, AWS_SESSION_TOKEN, ... cannot leak: the child sees exactly what we set.
    fn = standin(config={"NAME_TAG": "hostname", "RECORD_TTL": 30, "LOCK_TABLE": None})
    answer = fn.invoke({"env": True})
    env, headers = answer["env"], answer["headers"]
    assert set(env) - {"PWD", "SHLVL", "_", "LC_CTYPE"} == set(fn.environment())
    assert env["AWS_LAMBDA_RUNTIME_API"] == fn.runtime.address
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    for key in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME",
                "AWS_LAMBDA_LOG_STREAM_NAME"):
        assert env[key]
    assert (env["ALLOWED_DOMAINS"], env["NAME_TAG"], env["RECORD_TTL"]) == (
        "dyn.example.com", "hostname", "30")
    assert "LOCK_TABLE" not in env
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == FUNCTION_ARN
    assert int(headers["Lambda-Runtime-Deadline-Ms"]) > time.time() * 1000
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")


def test_an_init_failure_is_reported_with_exit_code_and_output(standin):
    fn = standin(extra_env={"STANDIN_FAIL_INIT": "LOCK_TABLE"})
    result = fn.invoke({"echo": 1}, timeout=10)
    assert isinstance(result, ProcessExited)
    assert result.exit_code == 1
    assert result.init_error["errorMessage"] == "invalid configuration: LOCK_TABLE is not set"
    assert "LOCK_TABLE" in result.stderr


def test_a_process_that_dies_mid_invocation_is_detected(standin):
    fn = standin()
    result = fn.invoke({"exit": 3}, timeout=10)
    assert isinstance(result, ProcessExited) and result.exit_code == 3
    assert fn.invoke({"echo": 1}).exit_code == 3


def test_logs_are_captured_and_parsed(standin):
    fn = standin()
    fn.invoke({"echo": 1})
    assert any(line.get("message") == "invoked" for line in fn.logs())


def test_stop_ends_the_process(standin):
    fn = standin()
    proc = fn.proc
    fn.stop()
    assert proc.poll() is not None
