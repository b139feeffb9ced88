"""A webhook receiver for the delivery tests: every delivery is verified with the third-party
`standardwebhooks` package (Webhook(secret).verify(body, headers)), and recorded.

Control routes (JSON):
  POST /_config  {"path": "/a", "secrets": ["whsec_..."], "plan": [500, 500], "default": 200}
                 the next requests to `path` answer the codes of `plan` in turn, then `default`;
  GET  /_results every delivery so far: path, webhook headers, body, verified, verified_by
                 (indexes of the secrets that verify it alone), error, answered;
  POST /_verify  {"secret", "body", "headers"}: {"ok": bool, "error": str} for that input.
Prints "listening <port>" once bound to 127.0.0.1 on a free port.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

LOCK = threading.Lock()
CONFIG = {}
RESULTS = []


def verify(secret, body, headers):
    try:
        Webhook(secret).verify(body, headers)
        return True, None
    except Exception as e:  # the package's WebhookVerificationError, or a bad secret
        return False, f"{type(e).__name__}: {e}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, obj=None):
        data = json.dumps(obj if obj is not None else {}).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n)

    def do_GET(self):
        if self.path == "/_results":
            with LOCK:
                self.answer(200, list(RESULTS))
        else:
            self.answer(404)

    def do_POST(self):
        raw = self.body()
        if self.path == "/_config":
            c = json.loads(raw)
            with LOCK:
                CONFIG[c["path"]] = {
                    "secrets": c.get("secrets", []),
                    "plan": list(c.get("plan", [])),
                    "default": c.get("default", 200),
                }
            return self.answer(200)
        if self.path == "/_verify":
            c = json.loads(raw)
            ok, err = verify(c["secret"], c["body"].encode(), c["headers"])
            return self.answer(200, {"ok": ok, "error": err})
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            cfg = CONFIG.setdefault(self.path, {"secrets": [], "plan": [], "default": 200})
            code = cfg["plan"].pop(0) if cfg["plan"] else cfg["default"]
            secrets = list(cfg["secrets"])
        by, errors = [], []
        for i, s in enumerate(secrets):
            ok, err = verify(s, raw, headers)
            if ok:
                by.append(i)
            else:
                errors.append(err)
        rec = {
            "path": self.path,
            "headers": {k: headers.get(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type")},
            "body": raw.decode(),
            "verified": bool(by),
            "verified_by": by,
            "error": None if by else "; ".join(errors) or "no secret configured",
            "answered": code,
        }
        with LOCK:
            RESULTS.append(rec)
        self.answer(code, {"received": True})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
