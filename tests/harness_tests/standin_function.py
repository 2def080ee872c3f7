"""A tiny stand-in function speaking the Lambda Runtime API, for testing the runtime host.

Payloads: {"echo": x} answers x; {"fail": "Type"} answers with an error of that type;
{"env": true} answers the environment it sees; {"exit": n} exits with code n. A function URL
event (it has "rawPath") is answered with an HTTP response whose body is the event as JSON
(path /fail: an error; path /binary: a base64-encoded body).
With STANDIN_FAIL_INIT set it reports an init error naming it and exits 1.
"""

import json
import os
import sys
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"


def post(path, data, headers=None):
    req = urllib.request.Request(API + path, data=json.dumps(data).encode(), method="POST",
                                 headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def main():
    if os.environ.get("STANDIN_FAIL_INIT"):
        msg = f"invalid configuration: {os.environ['STANDIN_FAIL_INIT']} is not set"
        print(json.dumps({"level": "ERROR", "message": msg}), file=sys.stderr, flush=True)
        post("/init/error", {"errorType": "InitError", "errorMessage": msg},
             {"Lambda-Runtime-Function-Error-Type": "Runtime.InitError"})
        sys.exit(1)
    while True:
        with urllib.request.urlopen(API + "/invocation/next", timeout=600) as r:
            rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
            meta = {k: r.headers.get(k) for k in (
                "Lambda-Runtime-Deadline-Ms", "Lambda-Runtime-Invoked-Function-Arn",
                "Lambda-Runtime-Trace-Id")}
            event = json.loads(r.read())
        print(json.dumps({"level": "INFO", "message": "invoked", "requestId": rid}), flush=True)
        if isinstance(event, dict) and "rawPath" in event:
            if event["rawPath"] == "/fail":
                post(f"/invocation/{rid}/error", {"errorType": "Boom", "errorMessage": "asked"},
                     {"Lambda-Runtime-Function-Error-Type": "Boom"})
                continue
            if event["rawPath"] == "/binary":
                answer = {"statusCode": 200, "isBase64Encoded": True, "body": "AAEC/w==",
                          "headers": {"content-type": "application/octet-stream"}}
            else:
                answer = {"statusCode": 201, "headers": {"content-type": "application/json",
                                                         "x-answer": "yes"},
                          "body": json.dumps(event)}
            post(f"/invocation/{rid}/response", answer)
            continue
        if isinstance(event, dict) and "exit" in event:
            sys.exit(event["exit"])
        if isinstance(event, dict) and "fail" in event:
            post(f"/invocation/{rid}/error",
                 {"errorType": event["fail"], "errorMessage": "asked to fail"},
                 {"Lambda-Runtime-Function-Error-Type": event["fail"]})
            continue
        if isinstance(event, dict) and event.get("env"):
            answer = {"env": dict(os.environ), "headers": meta}
        elif isinstance(event, dict) and "echo" in event:
            answer = event["echo"]
        else:
            answer = {"event": event}
        post(f"/invocation/{rid}/response", answer)


if __name__ == "__main__":
    main()
