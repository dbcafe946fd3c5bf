"""mitmproxy addon of the Sidekey proxy benchmark: the same substitution as
Sidekey's injector for the benchmark request, so that mitmproxy does the
same work. Placeholders {{secrets.ALIAS[.FIELD]}} in header values and in a
JSON body are replaced by the run's values (JSON-string-escaped in the body);
an unknown reference answers 422 and nothing is forwarded (fail closed).

Run: mitmdump -s mitm_inject.py with SIDEKEY_BENCH_VALUES=values.json.
"""

import json
import os
import re

from mitmproxy import http

PATTERN = re.compile(rb"\{\{\s*secrets\.([a-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")


class Unknown(Exception):
    pass


class Inject:
    def __init__(self):
        with open(os.environ["SIDEKEY_BENCH_VALUES"], encoding="utf-8") as f:
            v = json.load(f)
        self.values = {
            b"bench_api_key": v["api_key"],
            b"bench_account.username": v["username"],
            b"bench_account.password": v["password"],
        }

    def _lookup(self, ref):
        try:
            return self.values[ref]
        except KeyError:
            raise Unknown(ref.decode("ascii", "replace")) from None

    def _header(self, m):
        return self._lookup(m.group(1)).encode()

    def _json(self, m):
        return json.dumps(self._lookup(m.group(1)))[1:-1].encode()

    def request(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        try:
            fields = []
            changed = False
            for name, value in req.headers.fields:
                if b"{{" in value:
                    value = PATTERN.sub(self._header, value)
                    changed = True
                fields.append((name, value))
            if changed:
                req.headers.fields = tuple(fields)
            body = req.raw_content
            if body and b"{{" in body:
                req.content = PATTERN.sub(self._json, body)
        except Unknown as e:
            flow.response = http.Response.make(
                422,
                json.dumps({"error": {"code": "secret_not_found", "message": str(e)}}),
                {"Content-Type": "application/json"},
            )


addons = [Inject()]
