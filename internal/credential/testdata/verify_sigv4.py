"""Recompute a SigV4 signature with botocore, as an AWS service verifies it.

Reads one JSON object on stdin:
  {"method", "url", "headers": [[name, value], ...], "body_b64",
   "access_key_id", "secret_access_key", "session_token"}
Prints "ok" and exits 0 when the request's Authorization header carries the
signature botocore computes over the signed headers it names; prints why
and exits 1 otherwise. Runs with Debian's python3-botocore.
"""
import base64
import hashlib
import json
import os
import sys

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def fail(msg):
    print(msg)
    sys.exit(1)


def main():
    req = json.load(sys.stdin)
    headers = {}
    for name, value in req["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    authz = headers.get("authorization", [""])[0]
    if not authz.startswith("AWS4-HMAC-SHA256 "):
        fail("no SigV4 Authorization header")
    parts = dict(p.strip().split("=", 1) for p in authz[len("AWS4-HMAC-SHA256 "):].split(","))
    akid, date, region, service, term = parts["Credential"].split("/")
    if akid != req["access_key_id"] or term != "aws4_request":
        fail("credential scope names another key")
    signed = parts["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        fail("host and x-amz-date must be signed")
    amz_date = headers["x-amz-date"][0]
    if amz_date[:8] != date:
        fail("x-amz-date and scope date differ")
    body = base64.b64decode(req["body_b64"])
    declared = headers.get("x-amz-content-sha256", [None])[0]
    if declared not in (None, "UNSIGNED-PAYLOAD") and declared != hashlib.sha256(body).hexdigest():
        fail("x-amz-content-sha256 does not match the body")
    if req.get("session_token") and headers.get("x-amz-security-token", [None])[0] != req["session_token"]:
        fail("session token missing or different")

    aws_req = AWSRequest(method=req["method"], url=req["url"], data=body)
    for name in signed:
        if name not in headers:
            fail("signed header %s is absent" % name)
        aws_req.headers[name] = ",".join(" ".join(v.split()) for v in headers[name])
    aws_req.context["timestamp"] = amz_date
    creds = Credentials(req["access_key_id"], req["secret_access_key"], req.get("session_token") or None)
    auth_cls = S3SigV4Auth if service == "s3" else SigV4Auth
    auth = auth_cls(creds, service, region)
    canonical = auth.canonical_request(aws_req)
    expected = auth.signature(auth.string_to_sign(aws_req, canonical), aws_req)
    if expected != parts["Signature"]:
        if os.environ.get("SIGV4_DEBUG"):
            sys.stderr.write(canonical + "\n")
        fail("signature mismatch")
    print("ok")


main()
