#!/usr/bin/env python3
"""Test world for skyecr-bootstrap: moto + recording/fault-injecting AWS proxy +
GitHub REST API stand-in, all in one process on 127.0.0.1.

    python tests/support/world.py [--seed-repo OWNER/REPO --seed-token TOKEN]
                                  [--account-id ID] [--no-stdin-watch] [--latency-ms MS]

When ready it prints exactly one JSON line on stdout and never writes to stdout
again (everything else, errors only, goes to stderr):

    {"moto": "http://127.0.0.1:P0", "aws": "http://127.0.0.1:P1", "github": "http://127.0.0.1:P2"}

It exits when stdin reaches EOF (unless --no-stdin-watch) and on SIGTERM/SIGINT/SIGHUP.
--latency-ms adds a fixed delay to every proxied AWS request and every GitHub stand-in
request (not to control endpoints, not to requests sent straight to moto).
See tests/support/README.md for the control endpoints.

Dependencies: standard library, moto[server] (werkzeug), PyNaCl.
"""

import argparse
import base64
import datetime
import email.utils
import http.client
import http.server
import json
import math
import os
import re
import secrets as pysecrets
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from xml.sax.saxutils import escape as xml_escape

import nacl.exceptions
from nacl.public import PrivateKey, SealedBox


# ---------------------------------------------------------------------------
# small helpers


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def err(*args):
    print(*args, file=sys.stderr, flush=True)


def jdump(obj):
    return json.dumps(obj).encode("utf-8")


# ---------------------------------------------------------------------------
# request log shared by the AWS proxy and the GitHub stand-in


READ_ONLY_AWS_PREFIXES = ("Get", "List", "Describe", "BatchGet", "BatchCheck", "Simulate")


def aws_is_mutating(action):
    if not action:
        return True
    return not action.startswith(READ_ONLY_AWS_PREFIXES)


def compute_rounds(records):
    """Length of the longest chain r1, r2, ... with r(k+1).start > r(k).end.

    Sort by start; dp[i] = 1 + max(dp[j] for j with end_j < start_i). Every such j
    has start_j <= end_j < start_i, so it is already computed when i is reached;
    the max over "ended before start_i" is kept incrementally (O(n log n))."""
    items = sorted(((float(r["start"]), float(r["end"])) for r in records), key=lambda t: t[0])
    n = len(items)
    dp = [0] * n
    by_end = sorted(range(n), key=lambda k: items[k][1])
    p = 0
    best_done = 0
    ans = 0
    for i, (s, _e) in enumerate(items):
        while p < n and items[by_end[p]][1] < s:
            best_done = max(best_done, dp[by_end[p]])
            p += 1
        dp[i] = best_done + 1
        ans = max(ans, dp[i])
    return ans


class RequestLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.seq = 0

    def add(self, rec):
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.items.append(rec)

    def list(self, protocol=None):
        with self.lock:
            items = [dict(r) for r in self.items]
        if protocol:
            items = [r for r in items if r["protocol"] == protocol]
        return items

    def clear(self):
        with self.lock:
            self.items = []

    def summary(self, protocol=None):
        items = self.list(protocol)
        return {
            "requests": len(items),
            "mutating": sum(1 for r in items if r["mutating"]),
            "rounds": compute_rounds(items),
        }


# ---------------------------------------------------------------------------
# fault rules (same engine for both sides)


class FaultBook:
    """Ordered rules. The first rule that matches a request and still has uses
    left is consumed. 'after': N lets the first N matching requests through."""

    def __init__(self, kind):
        self.kind = kind  # "github" | "aws"
        self.lock = threading.Lock()
        self.rules = []

    def add(self, raw):
        rules = raw if isinstance(raw, list) else [raw]
        parsed = [self._validate(r) for r in rules]
        with self.lock:
            self.rules.extend(parsed)
            return len(self.rules)

    def _validate(self, r):
        if not isinstance(r, dict):
            raise ValueError("a fault rule must be a JSON object")
        rule = dict(r)
        if "times" in r and r["times"] is not None:
            if not isinstance(r["times"], int) or r["times"] < 1:
                raise ValueError("times must be a positive integer or null (unlimited)")
        rule["remaining"] = r.get("times", 1)
        rule["skip"] = int(r.get("after", 0) or 0)
        rule["hits"] = 0
        if self.kind == "github":
            rule["_re"] = re.compile(r.get("path_regex", ".*"))
        else:
            if "action_regex" in r:
                rule["_re"] = re.compile(r["action_regex"])
        if "status" in r and not isinstance(r["status"], int):
            raise ValueError("status must be an integer")
        if "headers" in r and not isinstance(r["headers"], dict):
            raise ValueError("headers must be an object")
        if "body" in r and not isinstance(r["body"], str):
            raise ValueError("body must be a string (raw bytes sent as-is)")
        if "delay_ms" in r and not isinstance(r["delay_ms"], (int, float)):
            raise ValueError("delay_ms must be a number")
        return rule

    def listing(self):
        with self.lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.rules]

    def clear(self):
        with self.lock:
            self.rules = []

    def take(self, pred):
        with self.lock:
            for r in self.rules:
                if r["remaining"] is not None and r["remaining"] <= 0:
                    continue
                if not pred(r):
                    continue
                if r["skip"] > 0:
                    r["skip"] -= 1
                    continue
                if r["remaining"] is not None:
                    r["remaining"] -= 1
                r["hits"] += 1
                return dict(r)
        return None


def merge_headers(headers, extra):
    """Override/add the headers of a fault rule on top of a real response."""
    if not extra:
        return headers
    lower = {k.lower() for k in extra}
    return [(k, v) for k, v in headers if k.lower() not in lower] + [(k, str(v)) for k, v in extra.items()]


def fault_description(rule):
    return {k: v for k, v in rule.items() if not k.startswith("_") and k not in ("remaining", "skip", "hits")}


# ---------------------------------------------------------------------------
# IAM eventual consistency, freezes (crash tests), and the secrets the tool must never print


# Which request parameter names an IAM entity, and the create action that makes it.
ENTITY_PARAMS = (("RoleName", "role", "CreateRole"), ("UserName", "user", "CreateUser"),
                 ("PolicyArn", "policy", "CreatePolicy"))
INVALID_PRINCIPAL_ACTIONS = ("CreateRole", "UpdateAssumeRolePolicy")
ARN_RE = re.compile(r"<Arn>([^<]+)</Arn>")


class Consistency:
    """IAM's eventual consistency, simulated on the AWS proxy.

    - invalid_principal: for window_ms after a successful CreateOpenIDConnectProvider,
      CreateRole and UpdateAssumeRolePolicy answer 400 MalformedPolicyDocument
      "Invalid principal in policy" (IAM has not seen the new provider yet).
    - no_such_entity: for window_ms after a successful CreateRole/CreatePolicy/CreateUser,
      every other request naming that entity (RoleName, UserName or PolicyArn: reads,
      attaches, updates) answers 404 NoSuchEntity."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        with self.lock:
            self.windows = {"invalid_principal": 0.0, "no_such_entity": 0.0}
            self.hits = {"invalid_principal": 0, "no_such_entity": 0}
            self.provider_created = None
            self.created = {}  # (kind, name or arn) -> monotonic time of the create

    def add(self, rule):
        kind = rule.get("consistency")
        if kind not in self.windows:
            raise ValueError("consistency must be invalid_principal or no_such_entity")
        ms = rule.get("window_ms")
        if not isinstance(ms, (int, float)) or ms < 0:
            raise ValueError("window_ms must be a non-negative number")
        with self.lock:
            self.windows[kind] = float(ms) / 1000.0

    def listing(self):
        with self.lock:
            return [{"consistency": k, "window_ms": int(v * 1000), "hits": self.hits[k]}
                    for k, v in self.windows.items() if v > 0]

    def check(self, info):
        """-> (status, code, message) when the request falls into a window, else None."""
        action, params, nowt = info["action"], info.get("params") or {}, time.monotonic()
        with self.lock:
            win = self.windows["invalid_principal"]
            if (win and action in INVALID_PRINCIPAL_ACTIONS and self.provider_created is not None
                    and nowt - self.provider_created < win):
                self.hits["invalid_principal"] += 1
                return 400, "MalformedPolicyDocument", "Invalid principal in policy: \"Federated\""
            win = self.windows["no_such_entity"]
            if not win:
                return None
            for param, kind, create in ENTITY_PARAMS:
                name = params.get(param)
                if not isinstance(name, str) or action == create:
                    continue
                t = self.created.get((kind, name))
                if t is not None and nowt - t < win:
                    self.hits["no_such_entity"] += 1
                    return 404, "NoSuchEntity", "The %s with name %s cannot be found." % (kind, name)
        return None

    def note(self, info, status, body):
        """Remembers successful creates (the start of their windows)."""
        if not 200 <= status < 300:
            return
        action, params = info["action"], info.get("params") or {}
        with self.lock:
            nowt = time.monotonic()
            if action == "CreateOpenIDConnectProvider":
                self.provider_created = nowt
            elif action == "CreateRole" and isinstance(params.get("RoleName"), str):
                self.created[("role", params["RoleName"])] = nowt
            elif action == "CreateUser" and isinstance(params.get("UserName"), str):
                self.created[("user", params["UserName"])] = nowt
            elif action == "CreatePolicy":
                m = ARN_RE.search(body.decode("utf-8", "replace"))
                if m:
                    self.created[("policy", m.group(1))] = nowt


class Freeze:
    """Crash tests: after the k-th mutating request (AWS and GitHub together) every further
    request blocks until released, then its connection is dropped unanswered and unlogged.
    The harness waits until the summary shows k mutating requests, kills the client, and
    releases the freeze."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = False
        self.limit = 0
        self.count = 0
        self.blocked = 0
        self.released = threading.Event()

    def set(self, limit):
        with self.lock:
            self.released.set()
            self.released = threading.Event()
            self.active, self.limit, self.count, self.blocked = True, int(limit), 0, 0

    def release(self):
        with self.lock:
            self.active = False
            self.released.set()

    def status(self):
        with self.lock:
            return {"active": self.active, "after_mutating": self.limit, "mutating_passed": self.count,
                    "blocked": self.blocked}

    def gate(self, mutating):
        """True: go on. False: the request was frozen and released; drop it."""
        with self.lock:
            if not self.active:
                return True
            if self.count < self.limit:
                if mutating:
                    self.count += 1
                return True
            self.blocked += 1
            ev = self.released
        ev.wait(300)
        return False


SECRET_ACCESS_KEY_RE = re.compile(r"<SecretAccessKey>([^<]+)</SecretAccessKey>")


class SecretBook:
    """Every secret the tool handled, kept across resets: the secret access keys IAM issued,
    the plaintexts GitHub received for *SECRET_ACCESS_KEY secrets, and the GitHub tokens.
    Tests check that none of them ever appears in the tool's output (GET /_world/secrets)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.aws_secret_access_keys = []
        self.github_secrets = []
        self.github_tokens = []

    def _add(self, items, value):
        if isinstance(value, str) and value:
            with self.lock:
                if value not in items:
                    items.append(value)

    def aws_response(self, body):
        for m in SECRET_ACCESS_KEY_RE.finditer(body.decode("utf-8", "replace")):
            self._add(self.aws_secret_access_keys, m.group(1))

    def github_secret(self, name, plaintext):
        if "SECRET_ACCESS_KEY" in name.upper():
            self._add(self.github_secrets, plaintext)

    def github_token(self, token):
        self._add(self.github_tokens, token)

    def listing(self):
        with self.lock:
            return {"aws_secret_access_keys": list(self.aws_secret_access_keys),
                    "github_secrets": list(self.github_secrets),
                    "github_tokens": list(self.github_tokens)}


# ---------------------------------------------------------------------------
# HTTP plumbing


HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect", "content-length",
}


class BadRequest(Exception):
    pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout, OSError)):
            return
        err("world.py: error while handling a request from %s:" % (client_address,))
        traceback.print_exc(file=sys.stderr)


class BaseHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "world"
    sys_version = ""

    # silence access logs; malformed requests are answered with 400 by the base class
    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("EOF in chunked body")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BadRequest("bad chunk size")
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                data = self.rfile.read(size)
                if len(data) < size:
                    raise ConnectionError("EOF in chunk")
                chunks.append(data)
                self.rfile.readline(65537)
            return b"".join(chunks)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl.strip())
        except ValueError:
            raise BadRequest("bad Content-Length")
        if n < 0:
            raise BadRequest("bad Content-Length")
        data = self.rfile.read(n) if n else b""
        if len(data) < n:
            raise ConnectionError("EOF in body")
        return data

    def send_raw(self, status, headers, body=b"", reason=None):
        self._started = True
        self.send_response_only(status, reason)
        names = set()
        for k, v in headers:
            names.add(k.lower())
            self.send_header(k, str(v))
        no_body = status in (204, 304) or 100 <= status < 200
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        if "date" not in names:
            self.send_header("Date", email.utils.formatdate(usegmt=True))
        self.end_headers()
        if body and not no_body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def send_cut(self, status, headers, body, keep):
        """Announces the whole body, sends `keep` bytes of it, and closes the connection."""
        self._started = True
        self.close_connection = True
        self.send_response_only(status)
        for k, v in headers:
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:max(0, min(keep, len(body) - 1))])
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send_json(self, status, obj, headers=()):
        self.send_raw(status, [("Content-Type", "application/json")] + list(headers), jdump(obj))

    def drop(self):
        """Close the socket without any response."""
        self._started = True
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self):
        self._started = False
        try:
            self.handle_request()
        except BadRequest as e:
            self.close_connection = True
            if not self._started:
                try:
                    self.send_raw(400, [("Content-Type", "text/plain"), ("Connection", "close")],
                                  ("Bad Request: %s\n" % e).encode())
                except OSError:
                    pass
        except (ConnectionError, TimeoutError, socket.timeout):
            self.close_connection = True
        except Exception:
            err("world.py: internal error on %s %s" % (self.command, self.path))
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            if not self._started:
                try:
                    self.send_json(500, {"message": "world.py internal error"}, [("Connection", "close")])
                except OSError:
                    pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def split_url(self):
        target = self.path
        if not target.startswith("/"):
            # absolute-form; keep only path and query
            s = urllib.parse.urlsplit(target)
            target = (s.path or "/") + ("?" + s.query if s.query else "")
        path, _, query = target.partition("?")
        return target, path, query

    def json_body(self, body):
        if not body.strip():
            return None
        return json.loads(body.decode("utf-8"))


def handle_world_control(handler, world, method, path, query, body):
    """/_world/* endpoints (served on both the GitHub and the AWS port)."""
    q = urllib.parse.parse_qs(query)
    protocol = (q.get("protocol") or [None])[0]
    if path == "/_world/requests":
        if method == "GET":
            return handler.send_json(200, world.log.list(protocol))
        if method == "DELETE":
            world.log.clear()
            return handler.send_json(200, {"cleared": True})
    elif path == "/_world/summary" and method == "GET":
        return handler.send_json(200, world.log.summary(protocol))
    elif path == "/_world/freeze":
        if method == "POST":
            try:
                d = json.loads(body.decode("utf-8") or "{}")
                limit = d["after_mutating"]
                if not isinstance(limit, int) or limit < 0:
                    raise ValueError("after_mutating must be a non-negative integer")
            except (ValueError, KeyError, TypeError) as e:
                return handler.send_json(400, {"error": "expected {\"after_mutating\": k}: %s" % e})
            world.freeze.set(limit)
            return handler.send_json(201, world.freeze.status())
        if method == "GET":
            return handler.send_json(200, world.freeze.status())
        if method == "DELETE":
            world.freeze.release()
            return handler.send_json(200, world.freeze.status())
    elif path == "/_world/secrets" and method == "GET":
        return handler.send_json(200, world.secrets.listing())
    elif path == "/_world/rounds" and method == "POST":
        try:
            recs = json.loads(body.decode("utf-8") or "[]")
            return handler.send_json(200, {"rounds": compute_rounds(recs)})
        except Exception as e:  # noqa: BLE001
            return handler.send_json(400, {"error": "expected a list of {start, end}: %s" % e})
    return handler.send_json(404, {"error": "unknown control endpoint %s %s" % (method, path)})


# ---------------------------------------------------------------------------
# AWS side: recording / fault-injecting proxy in front of moto


CRED_RE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")
TARGET_SERVICES = {
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "AWSSecurityTokenServiceV20110615": "sts",
}
UNSIGNED_STS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}
QUERY_NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}


def classify_aws(method, path, query, headers, body):
    auth = headers.get("Authorization") or ""
    m = CRED_RE.search(auth)
    service = m.group(4).lower() if m else None
    target = headers.get("X-Amz-Target")
    ctype = (headers.get("Content-Type") or "").lower()
    action = None
    style = "query"
    params = {}
    if target:
        prefix, _, op = target.rpartition(".")
        action = op or target
        style = "json"
        if not service:
            service = TARGET_SERVICES.get(prefix)
    else:
        rpc = re.match(r"^/service/([^/]+)/operation/([^/]+)$", path)
        if rpc:
            action = urllib.parse.unquote(rpc.group(2))
            style = "json"
        else:
            params = urllib.parse.parse_qs(query, keep_blank_values=True)
            if "Action" not in params and body and ("x-www-form-urlencoded" in ctype or not ctype):
                try:
                    params = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                except Exception:  # noqa: BLE001
                    params = {}
            action = (params.get("Action") or [None])[0]
            params = {k: v[0] for k, v in params.items() if v}
        if "json" in ctype:
            style = "json"
    if not service:
        service = "sts" if action in UNSIGNED_STS else "unknown"
    if style == "json" and body:
        try:
            decoded = json.loads(body.decode("utf-8"))
            if isinstance(decoded, dict):
                params = decoded
        except ValueError:
            pass
    if not isinstance(params, dict):
        params = {}
    return {"service": service, "action": action, "style": style,
            "mutating": aws_is_mutating(action), "params": params}


def aws_error(info, status, code, message, extra_headers=None, raw_body=None):
    rid = str(uuid.uuid4())
    if info["style"] == "json":
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", rid),
                   ("x-amzn-ErrorType", code)]
        body = jdump({"__type": code, "message": message})
    else:
        typ = "Receiver" if status >= 500 else "Sender"
        ns = QUERY_NAMESPACES.get(info["service"], QUERY_NAMESPACES["iam"])
        body = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code>'
                '<Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>'
                % (ns, typ, xml_escape(code), xml_escape(message), rid)).encode("utf-8")
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
    if extra_headers:
        lower = {k.lower() for k in extra_headers}
        headers = [(k, v) for k, v in headers if k.lower() not in lower] + list(extra_headers.items())
    if raw_body is not None:
        body = raw_body.encode("utf-8")
    return headers, body


def default_aws_code(info, status, rule):
    if rule.get("throttle"):
        return "ThrottlingException" if info["style"] == "json" else "Throttling"
    if info["style"] == "json":
        return "ServerException" if status >= 500 else "InvalidParameterException"
    return "ServiceFailure" if status >= 500 else "ValidationError"


def aws_rule_matches(rule, method, info):
    if "method" in rule and rule["method"] and rule["method"].upper() != method:
        return False
    if "service" in rule and rule["service"] and rule["service"].lower() != info["service"]:
        return False
    if "action" in rule and rule["action"]:
        acts = rule["action"] if isinstance(rule["action"], list) else [rule["action"]]
        if info["action"] not in acts:
            return False
    if "_re" in rule and not rule["_re"].search(info["action"] or ""):
        return False
    return True


class AwsProxyHandler(BaseHandler):
    def handle_request(self):
        start = time.monotonic()
        world = self.server.world
        target, path, query = self.split_url()
        body = self.read_body()
        if path.startswith("/_proxy/") or path.startswith("/_world/"):
            return self.control(world, path, query, body)
        world.add_latency()

        info = classify_aws(self.command, path, query, self.headers, body)
        if not world.freeze.gate(info["mutating"]):
            return self.drop()
        rec = {"protocol": "aws", "service": info["service"], "action": info["action"],
               "mutating": info["mutating"], "method": self.command, "path": path,
               "status": 0, "start": start, "end": None, "fault": None}
        rule = world.aws_faults.take(lambda r: aws_rule_matches(r, self.command, info))
        if rule is not None:
            rec["fault"] = fault_description(rule)
            if rule.get("delay_ms"):
                time.sleep(float(rule["delay_ms"]) / 1000.0)
            if rule.get("drop_connection"):
                rec["end"] = time.monotonic()
                world.log.add(rec)
                return self.drop()
            if "status" in rule or "aws_error" in rule or "body" in rule or rule.get("throttle"):
                if rule.get("ok_body"):
                    # A successful answer whose body is malformed (e.g. a document that is not JSON).
                    rec["status"] = int(rule.get("status", 200))
                    rec["end"] = time.monotonic()
                    world.log.add(rec)
                    ctype = "application/x-amz-json-1.1" if info["style"] == "json" else "text/xml"
                    return self.send_raw(rec["status"], [("Content-Type", ctype)],
                                         rule.get("body", "").encode("utf-8"))
                status = int(rule.get("status", 400))
                code = rule.get("aws_error") or default_aws_code(info, status, rule)
                message = rule.get("message") or ("Rate exceeded" if rule.get("throttle") else "Injected fault")
                headers, rbody = aws_error(info, status, code, message, rule.get("headers"), rule.get("body"))
                rec["status"] = status
                rec["end"] = time.monotonic()
                world.log.add(rec)
                return self.send_raw(status, headers, rbody)
            # delay/headers-only/lose_response rule: fall through and forward

        window = world.consistency.check(info)
        if window is not None:
            status, code, message = window
            rec["fault"] = {"consistency": code}
            headers, rbody = aws_error(info, status, code, message)
            rec["status"] = status
            rec["end"] = time.monotonic()
            world.log.add(rec)
            return self.send_raw(status, headers, rbody)

        try:
            status, headers, rbody = self.forward(target, body)
        except Exception as e:  # noqa: BLE001 - moto unreachable or broken
            err("world.py: proxy to moto failed: %r" % (e,))
            status = 502
            headers, rbody = aws_error(info, 502, "ServiceUnavailable", "world.py proxy: moto failed: %s" % e)
        world.consistency.note(info, status, rbody)
        if info["action"] == "CreateAccessKey":
            world.secrets.aws_response(rbody)
        if rule is not None and rule.get("lose_response"):
            # The write happened, but the answer never reaches the client.
            rec["end"] = time.monotonic()
            world.log.add(rec)
            return self.drop()
        if rule is not None:
            headers = merge_headers(headers, rule.get("headers"))
        rec["status"] = status
        rec["end"] = time.monotonic()
        world.log.add(rec)
        self.send_raw(status, headers, rbody)

    def forward(self, target, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.moto_port, timeout=300)
        try:
            conn.putrequest(self.command, target, skip_host=True, skip_accept_encoding=True)
            has_host = False
            for k, v in self.headers.items():
                if k.lower() in HOP_BY_HOP:
                    continue
                if k.lower() == "host":
                    has_host = True
                conn.putheader(k, v)
            if not has_host:
                conn.putheader("Host", "127.0.0.1:%d" % self.server.server_address[1])
            if body or self.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            return resp.status, headers, data
        finally:
            conn.close()

    def control(self, world, path, query, body):
        method = self.command
        if path.startswith("/_world/"):
            return handle_world_control(self, world, method, path, query, body)
        if path == "/_proxy/faults":
            if method == "POST":
                try:
                    raw = json.loads(body.decode("utf-8"))
                    rules = raw if isinstance(raw, list) else [raw]
                    for r in rules:
                        if isinstance(r, dict) and "consistency" in r:
                            world.consistency.add(r)
                    n = world.aws_faults.add([r for r in rules
                                              if not (isinstance(r, dict) and "consistency" in r)])
                except (ValueError, re.error) as e:
                    return self.send_json(400, {"error": str(e)})
                return self.send_json(201, {"rules": n})
            if method == "GET":
                return self.send_json(200, world.aws_faults.listing() + world.consistency.listing())
            if method == "DELETE":
                world.aws_faults.clear()
                world.consistency.clear()
                return self.send_json(200, {"cleared": True})
        return self.send_json(404, {"error": "unknown control endpoint %s %s" % (method, path)})


# ---------------------------------------------------------------------------
# GitHub REST API stand-in


DOCS = "https://docs.github.com/rest"
DOC_URLS = {
    "user": DOCS + "/users/users#get-the-authenticated-user",
    "repo": DOCS + "/repos/repos#get-a-repository",
    "oidc_sub": DOCS + "/actions/oidc",
    "envs": DOCS + "/deployments/environments#list-environments",
    "env": DOCS + "/deployments/environments",
    "pubkey": DOCS + "/actions/secrets#get-a-repository-public-key",
    "secrets": DOCS + "/actions/secrets#list-repository-secrets",
    "secret": DOCS + "/actions/secrets",
    "variables": DOCS + "/actions/variables",
    "variable": DOCS + "/actions/variables",
}
SUPPORTED_API_VERSIONS = ("2022-11-28", "2026-03-10")
UA_FORBIDDEN = (
    "Request forbidden by administrative rules. Please make sure your request has a User-Agent "
    "header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). "
    "Check https://developer.github.com for other possible causes.\n"
)
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CLAIM_KEY_RE = re.compile(r"^[A-Za-z0-9_:.\-]+$")
LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
ALL_PERMISSIONS = {"metadata": "read", "actions": "write", "secrets": "write", "variables": "write",
                   "environments": "write", "administration": "write"}

# Required fine-grained permission per route kind. (kind, is_write, in_environment) -> permission.
# Reads need "read", writes need "write". Environment create/delete need administration=write
# like GitHub; environment reads and environment secrets/variables need "environments".


def required_permission(kind, write, env):
    level = "write" if write else "read"
    if kind == "repo":
        return "metadata", "read"
    if kind == "oidc_sub":
        return "actions", level
    if kind == "env" and write:
        return "administration", "write"
    if kind in ("env", "envs"):
        return "environments", "read"
    if env is not None:
        return "environments", level
    if kind in ("pubkey", "secrets", "secret"):
        return "secrets", level
    if kind in ("variables", "variable"):
        return "variables", level
    return None


ALLOWED_METHODS = {
    "user": {"GET"}, "repo": {"GET"}, "oidc_sub": {"GET", "PUT"}, "envs": {"GET"},
    "env": {"GET", "PUT", "DELETE"}, "pubkey": {"GET"}, "secrets": {"GET"},
    "secret": {"GET", "PUT", "DELETE"}, "variables": {"GET", "POST"},
    "variable": {"GET", "PATCH", "DELETE"},
}


def resolve_route(segs):
    if segs == ["user"]:
        return "user", {}
    if len(segs) < 3 or segs[0] != "repos" or not segs[1] or not segs[2]:
        return None
    p = {"owner": segs[1], "repo": segs[2], "env": None, "name": None}
    rest = segs[3:]
    if not rest:
        return "repo", p
    if rest == ["actions", "oidc", "customization", "sub"]:
        return "oidc_sub", p
    if rest == ["environments"]:
        return "envs", p
    if rest[0] == "environments":
        if len(rest) < 2 or not rest[1]:
            return None
        p["env"] = rest[1]
        sub = rest[2:]
        if not sub:
            return "env", p
    elif rest[0] == "actions":
        sub = rest[1:]
    else:
        return None
    if sub == ["secrets", "public-key"]:
        return "pubkey", p
    if sub == ["secrets"]:
        return "secrets", p
    if len(sub) == 2 and sub[0] == "secrets" and sub[1]:
        p["name"] = sub[1]
        return "secret", p
    if sub == ["variables"]:
        return "variables", p
    if len(sub) == 2 and sub[0] == "variables" and sub[1]:
        p["name"] = sub[1]
        return "variable", p
    return None


class KeyRing:
    """Current sealed-box key pair plus every previous one (so stored secrets stay readable)."""

    def __init__(self):
        self.keys = {}
        self.current = None
        self.rotate()

    def rotate(self):
        while True:
            kid = str(pysecrets.randbelow(9 * 10 ** 17) + 10 ** 17)  # 18 digits, like GitHub's
            if kid not in self.keys:
                break
        self.keys[kid] = PrivateKey.generate()
        self.current = kid
        return self.public()

    def public(self):
        pk = self.keys[self.current].public_key
        return {"key_id": self.current, "key": base64.b64encode(bytes(pk)).decode("ascii")}

    def decrypt(self, key_id, encrypted_b64):
        sk = self.keys.get(key_id)
        if sk is None:
            raise ValueError("unknown key_id")
        return SealedBox(sk).decrypt(base64.b64decode(encrypted_b64, validate=True))

    def encrypt(self, plaintext):
        box = SealedBox(self.keys[self.current].public_key)
        return base64.b64encode(box.encrypt(plaintext.encode("utf-8"))).decode("ascii"), self.current


class Scope:
    """Secrets + variables + key pair: a repository or one of its environments."""

    def __init__(self):
        self.secrets = {}    # NAME -> {encrypted_value, key_id, created_at, updated_at}
        self.variables = {}  # NAME -> {name, value, created_at, updated_at}
        self.keys = KeyRing()

    def state(self):
        secrets_out = {}
        for name, s in sorted(self.secrets.items()):
            try:
                value = self.keys.decrypt(s["key_id"], s["encrypted_value"]).decode("utf-8", "replace")
            except Exception as e:  # noqa: BLE001 - cannot happen for values we accepted
                value = None
                err("world.py: stored secret %s does not decrypt: %r" % (name, e))
            secrets_out[name] = {"value": value, "key_id": s["key_id"],
                                 "created_at": s["created_at"], "updated_at": s["updated_at"]}
        variables_out = {n: {"value": v["value"], "created_at": v["created_at"], "updated_at": v["updated_at"]}
                         for n, v in sorted(self.variables.items())}
        return {"secrets": secrets_out, "variables": variables_out}

    def seed(self, secrets=None, variables=None):
        ts = now_iso()
        for name, value in (secrets or {}).items():
            ev, kid = self.keys.encrypt(str(value))
            old = self.secrets.get(name.upper())
            self.secrets[name.upper()] = {"encrypted_value": ev, "key_id": kid,
                                          "created_at": old["created_at"] if old else ts, "updated_at": ts}
        for name, value in (variables or {}).items():
            old = self.variables.get(name.upper())
            self.variables[name.upper()] = {"name": name.upper(), "value": str(value),
                                            "created_at": old["created_at"] if old else ts, "updated_at": ts}


class Environment(Scope):
    def __init__(self, name, env_id):
        super().__init__()
        self.name = name
        self.id = env_id
        self.created_at = self.updated_at = now_iso()
        self.wait_timer = 0
        self.prevent_self_review = False
        self.reviewers = []
        self.deployment_branch_policy = None

    def to_json(self, base, repo):
        rules = []
        if self.wait_timer:
            rules.append({"id": self.id * 10 + 1, "node_id": "GA_wait%d" % self.id, "type": "wait_timer",
                          "wait_timer": self.wait_timer})
        if self.reviewers:
            rules.append({"id": self.id * 10 + 2, "node_id": "GA_rev%d" % self.id, "type": "required_reviewers",
                          "prevent_self_review": self.prevent_self_review, "reviewers": self.reviewers})
        if self.deployment_branch_policy:
            rules.append({"id": self.id * 10 + 3, "node_id": "GA_bp%d" % self.id, "type": "branch_policy"})
        q = urllib.parse.quote(self.name, safe="")
        return {
            "id": self.id,
            "node_id": base64.b64encode(b"Environment%d" % self.id).decode(),
            "name": self.name,
            "url": "%s/repos/%s/environments/%s" % (base, repo.full_name, q),
            "html_url": "https://github.com/%s/deployments/activity_log?environments_filter=%s" % (repo.full_name, q),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "can_admins_bypass": True,
            "protection_rules": rules,
            "deployment_branch_policy": self.deployment_branch_policy,
        }


class Repo(Scope):
    def __init__(self, owner, name, owner_id, repo_id, default_branch, private, owner_type):
        super().__init__()
        self.owner = owner
        self.name = name
        self.owner_id = owner_id
        self.id = repo_id
        self.default_branch = default_branch
        self.private = private
        self.owner_type = owner_type
        self.environments = {}  # lower(name) -> Environment
        self.oidc_sub = None
        self.created_at = now_iso()

    @property
    def full_name(self):
        return "%s/%s" % (self.owner, self.name)

    def to_json(self, base, perms=None):
        out = {
            "id": self.id,
            "node_id": base64.b64encode(b"010:Repository%d" % self.id).decode(),
            "name": self.name,
            "full_name": self.full_name,
            "private": self.private,
            "visibility": "private" if self.private else "public",
            "owner": {
                "login": self.owner, "id": self.owner_id,
                "node_id": base64.b64encode(b"04:%s%d" % (self.owner_type.encode(), self.owner_id)).decode(),
                "type": self.owner_type,
                "html_url": "https://github.com/%s" % self.owner,
                "url": "%s/users/%s" % (base, self.owner),
            },
            "html_url": "https://github.com/%s" % self.full_name,
            "url": "%s/repos/%s" % (base, self.full_name),
            "description": None,
            "fork": False,
            "archived": False,
            "disabled": False,
            "default_branch": self.default_branch,
            "created_at": self.created_at,
        }
        if perms is not None:
            admin = LEVELS.get(perms.get("administration", "none"), 0) >= 2
            out["permissions"] = {"admin": admin, "maintain": admin, "push": True, "triage": True, "pull": True}
        return out


class Token:
    def __init__(self, token, permissions, repos, login, user_id, rate_limit):
        self.token = token
        if permissions == "all" or permissions is None:
            permissions = dict(ALL_PERMISSIONS)
        self.permissions = {k: str(v).lower() for k, v in permissions.items()}
        self.permissions.setdefault("metadata", "read")  # every fine-grained token has it
        self.repos = None if repos is None else {r.lower() for r in repos}
        self.login = login
        self.user_id = user_id
        self.rate_limit = rate_limit

    def can_see(self, repo):
        return self.repos is None or repo.full_name.lower() in self.repos

    def has(self, perm, level):
        return LEVELS.get(self.permissions.get(perm, "none"), 0) >= LEVELS[level]


class GhError(Exception):
    def __init__(self, status, message, headers=(), errors=None, doc=DOCS):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)
        self.errors = errors
        self.doc = doc


class GitHubStandIn:
    def __init__(self):
        self.lock = threading.RLock()
        self.repos = {}    # "owner/name".lower() -> Repo
        self.tokens = {}   # token -> Token
        self.rate = {}     # identity -> [used, reset_epoch]
        self.next_repo_id = 5000
        self.next_owner_id = 9000
        self.next_env_id = 700000
        self.secret_book = None  # the world's SecretBook

    # ----- control
    def create_repo(self, d):
        owner, name = d.get("owner"), d.get("repo")
        if not isinstance(owner, str) or not isinstance(name, str) or not owner or not name:
            raise ValueError("owner and repo are required strings")
        with self.lock:
            key = ("%s/%s" % (owner, name)).lower()
            if key in self.repos:
                raise KeyError("repository %s/%s exists" % (owner, name))
            owner_id = d.get("owner_id")
            if owner_id is None:
                same = [r for r in self.repos.values() if r.owner.lower() == owner.lower()]
                owner_id = same[0].owner_id if same else self._next("next_owner_id")
            repo_id = d.get("repo_id")
            if repo_id is None:
                repo_id = self._next("next_repo_id")
            repo = Repo(owner, name, int(owner_id), int(repo_id), d.get("default_branch", "main"),
                        bool(d.get("private", False)), d.get("owner_type", "User"))
            # Tests pick the creation date: GitHub issues immutable subjects for new repositories.
            if isinstance(d.get("created_at"), str):
                repo.created_at = d["created_at"]
            self.repos[key] = repo
            return repo

    def _next(self, attr):
        v = getattr(self, attr) + 1
        setattr(self, attr, v)
        return v

    def create_token(self, d):
        tok = d.get("token")
        if not isinstance(tok, str) or not tok:
            raise ValueError("token is required")
        perms = d.get("permissions", {})
        if perms != "all" and not isinstance(perms, dict):
            raise ValueError("permissions must be an object or \"all\"")
        if isinstance(perms, dict):
            for k, v in perms.items():
                if str(v).lower() not in LEVELS:
                    raise ValueError("permission %s: level must be one of none/read/write/admin" % k)
        repos = d.get("repos")
        if repos is not None and not (isinstance(repos, list) and all(isinstance(r, str) for r in repos)):
            raise ValueError("repos must be a list of \"owner/repo\" or null (all)")
        t = Token(tok, perms, repos, d.get("login", "octocat"), int(d.get("user_id", 1)),
                  int(d.get("rate_limit", 5000)))
        if self.secret_book is not None:
            self.secret_book.github_token(tok)
        with self.lock:
            self.tokens[tok] = t
        return t

    def get_repo(self, owner, name):
        return self.repos.get(("%s/%s" % (owner, name)).lower())

    def find_env(self, repo, name):
        return repo.environments.get(name.lower())

    def ensure_env(self, repo, name):
        env = self.find_env(repo, name)
        if env is None:
            env = Environment(name, self._next("next_env_id"))
            repo.environments[name.lower()] = env
        return env

    def state(self, repo):
        out = repo.state()
        out["environments"] = {e.name: e.state() for e in repo.environments.values()}
        out["oidc_sub"] = repo.oidc_sub
        return out

    def seed(self, repo, d):
        if self.secret_book is not None:
            for name, value in (d.get("secrets") or {}).items():
                self.secret_book.github_secret(name, str(value))
            for ed in (d.get("environments") or {}).values():
                for name, value in ((ed or {}).get("secrets") or {}).items():
                    self.secret_book.github_secret(name, str(value))
        with self.lock:
            repo.seed(d.get("secrets"), d.get("variables"))
            for ename, ed in (d.get("environments") or {}).items():
                env = self.ensure_env(repo, ename)
                env.seed((ed or {}).get("secrets"), (ed or {}).get("variables"))
            if "oidc_sub" in d:
                repo.oidc_sub = d["oidc_sub"]

    def reset(self):
        with self.lock:
            self.repos.clear()
            self.tokens.clear()
            self.rate.clear()

    # ----- rate limit bookkeeping
    def ratelimit_headers(self, identity, limit, count=True, force_exhausted=None):
        with self.lock:
            nowt = int(time.time())
            st = self.rate.get(identity)
            if st is None or st[1] <= nowt:
                st = [0, nowt + 3600]
                self.rate[identity] = st
            exceeded = st[0] >= limit
            if count and not exceeded:
                st[0] += 1
            used, reset = st
        remaining = max(limit - used, 0)
        if force_exhausted is not None:
            remaining, used, reset = 0, limit, force_exhausted
        return [("x-ratelimit-limit", str(limit)), ("x-ratelimit-remaining", str(remaining)),
                ("x-ratelimit-reset", str(reset)), ("x-ratelimit-used", str(used)),
                ("x-ratelimit-resource", "core")], exceeded

    def identify(self, headers, client_ip):
        """-> (identity, limit, Token or None, auth_present, auth_valid)"""
        tok, present = parse_auth(headers.get("Authorization"))
        if present:
            t = self.tokens.get(tok) if tok else None
            if t is not None:
                return "token:" + tok, t.rate_limit, t, True, True
            return "bad:" + client_ip, 60, None, True, False
        return "anon:" + client_ip, 60, None, False, False

    # ----- the API
    def handle(self, method, path, query, headers, body, base, client_ip):
        """-> (status, headers, body bytes)."""
        identity, limit, token, present, valid = self.identify(headers, client_ip)
        common = [("Content-Type", "application/json; charset=utf-8"),
                  ("X-GitHub-Media-Type", "github.v3; format=json"),
                  ("X-GitHub-Request-Id", uuid.uuid4().hex[:8].upper() + ":" + uuid.uuid4().hex[:8].upper()),
                  ("Server", "github.com"),
                  ("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP"),
                  ("Access-Control-Allow-Origin", "*")]
        rl, exceeded = self.ratelimit_headers(identity, limit, count=not (present and not valid))
        try:
            api_version = headers.get("X-GitHub-Api-Version")
            if api_version is not None and api_version.strip() not in SUPPORTED_API_VERSIONS:
                raise GhError(400, "API version %s is not supported." % api_version.strip(),
                              doc="https://docs.github.com/rest/about-the-rest-api/api-versions")
            common.append(("X-GitHub-Api-Version-Selected", (api_version or SUPPORTED_API_VERSIONS[0]).strip()))
            if not (headers.get("User-Agent") or "").strip():
                return 403, [("Content-Type", "text/plain; charset=utf-8"), ("Server", "github.com")] + rl, \
                    UA_FORBIDDEN.encode()
            if present and not valid:
                raise GhError(401, "Bad credentials")
            if exceeded:
                raise GhError(403, "API rate limit exceeded for %s." % (
                    "user ID %d" % token.user_id if token else "%s. (But here's the good news: Authenticated "
                    "requests get a higher rate limit. Check out the documentation for more details.)" % client_ip),
                    doc="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
            segs = [urllib.parse.unquote(s) for s in path.split("/")[1:]]
            route = resolve_route(segs)
            if route is None or method not in ALLOWED_METHODS[route[0]]:
                raise GhError(404, "Not Found")
            kind, p = route
            with self.lock:
                status, extra, obj = self.dispatch(kind, p, method, query, body, token, base)
            out = b"" if obj is None else jdump(obj)
            return status, common + rl + extra, out
        except GhError as e:
            if e.status == 404 and route_kind_doc(path):
                e.doc = route_kind_doc(path)
            payload = {"message": e.message, "documentation_url": e.doc, "status": str(e.status)}
            if e.errors is not None:
                payload["errors"] = e.errors
            return e.status, common + rl + e.headers, jdump(payload)

    def dispatch(self, kind, p, method, query, body, token, base):
        write = method not in ("GET", "HEAD")
        if kind == "user":
            if token is None:
                raise GhError(401, "Requires authentication", doc=DOC_URLS["user"])
            return 200, [], {"login": token.login, "id": token.user_id,
                             "node_id": base64.b64encode(b"04:User%d" % token.user_id).decode(),
                             "type": "User", "site_admin": False, "name": None,
                             "html_url": "https://github.com/%s" % token.login,
                             "url": "%s/users/%s" % (base, token.login)}
        repo = self.get_repo(p["owner"], p["repo"])
        if token is None:
            if kind == "repo" and repo is not None and not repo.private:
                return 200, [], repo.to_json(base)
            if kind == "repo":
                raise GhError(404, "Not Found", doc=DOC_URLS["repo"])
            raise GhError(401, "Requires authentication", doc=DOC_URLS.get(kind, DOCS))
        if repo is None or not token.can_see(repo):
            raise GhError(404, "Not Found", doc=DOC_URLS.get(kind, DOCS))
        perm, level = required_permission(kind, write, p["env"])
        if not token.has(perm, level):
            raise GhError(403, "Resource not accessible by personal access token",
                          headers=[("X-Accepted-GitHub-Permissions", "%s=%s" % (perm, level))],
                          doc=DOC_URLS.get(kind, DOCS))
        if kind == "repo":
            return 200, [], repo.to_json(base, token.permissions)
        if kind == "oidc_sub":
            return self.oidc_sub(repo, method, body)
        if kind == "envs":
            envs = sorted(repo.environments.values(), key=lambda e: e.id)
            page, links = paginate([e.to_json(base, repo) for e in envs], query, 30, 100, base,
                                   "/repos/%s/environments" % repo.full_name)
            return 200, links, {"total_count": len(envs), "environments": page}
        if kind == "env":
            return self.environment(repo, p["env"], method, body, base)
        scope = repo
        if p["env"] is not None:
            scope = self.find_env(repo, p["env"])
            if scope is None:
                raise GhError(404, "Not Found", doc=DOC_URLS.get(kind, DOCS))
        prefix = "/repos/%s" % repo.full_name + (
            "/environments/%s" % urllib.parse.quote(scope.name, safe="") if p["env"] is not None else "/actions")
        if kind == "pubkey":
            return 200, [], scope.keys.public()
        if kind in ("secrets", "secret"):
            return self.secrets(scope, kind, p["name"], method, query, body, base, prefix + "/secrets")
        return self.variables(scope, kind, p["name"], method, query, body, base, prefix + "/variables")

    # --- endpoint groups
    def oidc_sub(self, repo, method, body):
        if method == "GET":
            if repo.oidc_sub is None:
                raise GhError(404, "Not Found", doc=DOC_URLS["oidc_sub"])
            return 200, [], dict(repo.oidc_sub)
        d = parse_json_object(body, required=True)
        if "use_default" not in d:
            raise GhError(422, 'Invalid request.\n\n"use_default" wasn\'t supplied.', doc=DOC_URLS["oidc_sub"])
        if not isinstance(d["use_default"], bool):
            raise GhError(422, "Invalid request.\n\nFor 'properties/use_default', %s is not a boolean."
                          % json.dumps(d["use_default"]), doc=DOC_URLS["oidc_sub"])
        keys = d.get("include_claim_keys", [])
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise GhError(422, "Invalid request.\n\nFor 'properties/include_claim_keys', %s is not an array "
                          "of strings." % json.dumps(keys), doc=DOC_URLS["oidc_sub"])
        if len(set(keys)) != len(keys) or not all(CLAIM_KEY_RE.match(k) for k in keys):
            raise GhError(422, "Invalid request.\n\ninclude_claim_keys must be unique claim key names.",
                          doc=DOC_URLS["oidc_sub"])
        if d["use_default"] is False and not keys:
            raise GhError(422, "Invalid request.\n\ninclude_claim_keys is required when use_default is false.",
                          doc=DOC_URLS["oidc_sub"])
        repo.oidc_sub = {"use_default": d["use_default"], "include_claim_keys": list(keys)}
        return 201, [], {}

    def environment(self, repo, name, method, body, base):
        env = self.find_env(repo, name)
        if method == "GET":
            if env is None:
                raise GhError(404, "Not Found", doc=DOC_URLS["env"])
            return 200, [], env.to_json(base, repo)
        if method == "DELETE":
            if env is None:
                raise GhError(404, "Not Found", doc=DOC_URLS["env"])
            del repo.environments[name.lower()]
            return 204, [], None
        d = parse_json_object(body, required=False) or {}
        if len(name) > 255:
            raise GhError(422, "Invalid request.\n\nEnvironment name is too long (maximum is 255 characters).",
                          doc=DOC_URLS["env"])
        wt = d.get("wait_timer", None)
        if wt is not None and (not isinstance(wt, int) or isinstance(wt, bool) or not 0 <= wt <= 43200):
            raise GhError(422, "Invalid request.\n\nwait_timer must be an integer between 0 and 43200.",
                          doc=DOC_URLS["env"])
        dbp = d.get("deployment_branch_policy", "__absent__")
        if dbp not in ("__absent__", None):
            if not isinstance(dbp, dict) or not isinstance(dbp.get("protected_branches"), bool) or \
                    not isinstance(dbp.get("custom_branch_policies"), bool):
                raise GhError(422, "Invalid request.\n\ndeployment_branch_policy needs boolean "
                              "protected_branches and custom_branch_policies.", doc=DOC_URLS["env"])
            if dbp["protected_branches"] and dbp["custom_branch_policies"]:
                raise GhError(422, "Invalid request.\n\nBoth protected_branches and custom_branch_policies "
                              "cannot be set to true.", doc=DOC_URLS["env"])
        env = self.ensure_env(repo, name)
        if wt is not None:
            env.wait_timer = wt
        if "prevent_self_review" in d:
            env.prevent_self_review = bool(d["prevent_self_review"])
        if "reviewers" in d:
            env.reviewers = d["reviewers"] or []
        if dbp != "__absent__":
            env.deployment_branch_policy = None if dbp is None else {
                "protected_branches": dbp["protected_branches"],
                "custom_branch_policies": dbp["custom_branch_policies"]}
        env.updated_at = now_iso()
        return 200, [], env.to_json(base, repo)

    def secrets(self, scope, kind, name, method, query, body, base, path):
        if kind == "secrets":
            items = [{"name": n, "created_at": s["created_at"], "updated_at": s["updated_at"]}
                     for n, s in sorted(scope.secrets.items())]
            page, links = paginate(items, query, 30, 100, base, path)
            return 200, links, {"total_count": len(items), "secrets": page}
        uname = name.upper()
        if method == "GET":
            s = scope.secrets.get(uname)
            if s is None:
                raise GhError(404, "Not Found", doc=DOC_URLS["secret"])
            return 200, [], {"name": uname, "created_at": s["created_at"], "updated_at": s["updated_at"]}
        if method == "DELETE":
            if uname not in scope.secrets:
                raise GhError(404, "Not Found", doc=DOC_URLS["secret"])
            del scope.secrets[uname]
            return 204, [], None
        # PUT
        check_name(name, "Secret")
        d = parse_json_object(body, required=True)
        ev, kid = d.get("encrypted_value"), d.get("key_id")
        if "encrypted_value" not in d:
            raise GhError(422, 'Invalid request.\n\n"encrypted_value" wasn\'t supplied.', doc=DOC_URLS["secret"])
        if "key_id" not in d:
            raise GhError(422, 'Invalid request.\n\n"key_id" wasn\'t supplied.', doc=DOC_URLS["secret"])
        if not isinstance(ev, str) or not isinstance(kid, str):
            raise GhError(422, "Invalid request.\n\nencrypted_value and key_id must be strings.",
                          doc=DOC_URLS["secret"])
        if kid != scope.keys.current:
            raise GhError(422, "Invalid request.\n\nkey_id does not match the current public key; "
                          "fetch the public key again.", doc=DOC_URLS["secret"])
        try:
            plaintext = scope.keys.decrypt(kid, ev)
        except (ValueError, TypeError, nacl.exceptions.CryptoError, base64.binascii.Error):
            raise GhError(422, "Invalid request.\n\nencrypted_value could not be decrypted with the "
                          "public key %s (expected a base64 libsodium sealed box)." % kid, doc=DOC_URLS["secret"])
        if self.secret_book is not None:
            self.secret_book.github_secret(uname, plaintext.decode("utf-8", "replace"))
        ts = now_iso()
        old = scope.secrets.get(uname)
        scope.secrets[uname] = {"encrypted_value": ev, "key_id": kid,
                                "created_at": old["created_at"] if old else ts, "updated_at": ts}
        if old is None:
            return 201, [], {}
        return 204, [], None

    def variables(self, scope, kind, name, method, query, body, base, path):
        if kind == "variables" and method == "GET":
            items = [dict(v) for _, v in sorted(scope.variables.items())]
            page, links = paginate(items, query, 10, 30, base, path)
            return 200, links, {"total_count": len(items), "variables": page}
        if kind == "variables":  # POST
            d = parse_json_object(body, required=True)
            for f in ("name", "value"):
                if f not in d:
                    raise GhError(422, 'Invalid request.\n\n"%s" wasn\'t supplied.' % f, doc=DOC_URLS["variables"])
                if not isinstance(d[f], str):
                    raise GhError(422, "Invalid request.\n\nFor 'properties/%s', %s is not a string."
                                  % (f, json.dumps(d[f])), doc=DOC_URLS["variables"])
            check_name(d["name"], "Variable")
            uname = d["name"].upper()
            if uname in scope.variables:
                raise GhError(409, "Already exists - Variable already exists", doc=DOC_URLS["variables"])
            ts = now_iso()
            scope.variables[uname] = {"name": uname, "value": d["value"], "created_at": ts, "updated_at": ts}
            return 201, [], {}
        uname = name.upper()
        v = scope.variables.get(uname)
        if v is None:
            raise GhError(404, "Not Found", doc=DOC_URLS["variable"])
        if method == "GET":
            return 200, [], dict(v)
        if method == "DELETE":
            del scope.variables[uname]
            return 204, [], None
        # PATCH
        d = parse_json_object(body, required=True)
        for f in ("name", "value"):
            if f in d and not isinstance(d[f], str):
                raise GhError(422, "Invalid request.\n\nFor 'properties/%s', %s is not a string."
                              % (f, json.dumps(d[f])), doc=DOC_URLS["variable"])
        new_name = uname
        if "name" in d:
            check_name(d["name"], "Variable")
            new_name = d["name"].upper()
            if new_name != uname and new_name in scope.variables:
                raise GhError(409, "Already exists - Variable already exists", doc=DOC_URLS["variable"])
        v = dict(v)
        if "value" in d:
            v["value"] = d["value"]
        v["name"] = new_name
        v["updated_at"] = now_iso()
        del scope.variables[uname]
        scope.variables[new_name] = v
        return 204, [], None


def route_kind_doc(path):
    segs = [urllib.parse.unquote(s) for s in path.split("/")[1:]]
    r = resolve_route(segs)
    return DOC_URLS.get(r[0]) if r else None


def parse_auth(value):
    """-> (token, present). Malformed headers count as present with an invalid token."""
    if value is None:
        return None, False
    parts = value.strip().split(None, 1)
    if len(parts) == 2 and parts[0].lower() in ("bearer", "token"):
        return parts[1].strip(), True
    if len(parts) == 2 and parts[0].lower() == "basic":
        try:
            user_pass = base64.b64decode(parts[1]).decode("utf-8")
            return user_pass.partition(":")[2] or user_pass.partition(":")[0], True
        except Exception:  # noqa: BLE001
            return "", True
    return "", True


def parse_json_object(body, required):
    if not body.strip():
        if required:
            raise GhError(400, "Problems parsing JSON")
        return None
    try:
        d = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise GhError(400, "Problems parsing JSON")
    if not isinstance(d, dict):
        raise GhError(400, "Problems parsing JSON")
    return d


def check_name(name, what):
    if not NAME_RE.match(name):
        raise GhError(422, "Invalid request.\n\n%s names can only contain alphanumeric characters ([a-z], [A-Z], "
                      "[0-9]) or underscores (_). Spaces are not allowed. Must start with a letter ([a-z], "
                      "[A-Z]) or underscores (_)." % what,
                      errors=[{"resource": what, "field": "name", "code": "invalid"}])
    if name.upper().startswith("GITHUB_"):
        raise GhError(422, "Invalid request.\n\n%s names must not start with GITHUB_." % what,
                      errors=[{"resource": what, "field": "name", "code": "invalid"}])


def paginate(items, query, default, maximum, base, path):
    q = urllib.parse.parse_qs(query)

    def intarg(name, dflt):
        try:
            return int((q.get(name) or [dflt])[0])
        except ValueError:
            return dflt

    per_page = intarg("per_page", default)
    if per_page < 1:
        per_page = default
    per_page = min(per_page, maximum)
    page = max(intarg("page", 1), 1)
    pages = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    links = []

    def url(pg):
        qq = {k: v[0] for k, v in q.items()}
        qq["per_page"] = str(per_page)
        qq["page"] = str(pg)
        return "%s%s?%s" % (base, path, urllib.parse.urlencode(qq))

    if page > 1:
        links.append('<%s>; rel="prev"' % url(min(page - 1, pages)))
    if page < pages:
        links.append('<%s>; rel="next"' % url(page + 1))
        links.append('<%s>; rel="last"' % url(pages))
    if page > 1:
        links.append('<%s>; rel="first"' % url(1))
    return chunk, ([("Link", ", ".join(links))] if links else [])


GITHUB_REASONS = {
    400: "Bad Request", 401: "Bad credentials", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
    422: "Validation Failed", 429: "Too Many Requests", 500: "Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


class GitHubHandler(BaseHandler):
    def handle_request(self):
        start = time.monotonic()
        world = self.server.world
        _target, path, query = self.split_url()
        body = self.read_body()
        if path.startswith("/_standin/") or path == "/_standin":
            return self.control(world, path, query, body)
        if path.startswith("/_world/"):
            return handle_world_control(self, world, self.command, path, query, body)
        world.add_latency()
        if path == "/api/v3" or path.startswith("/api/v3/"):  # GitHub Enterprise Server style base URL
            path = path[len("/api/v3"):] or "/"
        method = self.command
        if not world.freeze.gate(method not in ("GET", "HEAD")):
            return self.drop()
        rec = {"protocol": "github", "service": "github", "action": "%s %s" % (method, path),
               "mutating": method not in ("GET", "HEAD"), "method": method, "path": path,
               "status": 0, "start": start, "end": None, "fault": None}
        gh = world.github
        base = "http://%s" % (self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1])
        client_ip = self.client_address[0]

        rule = world.github_faults.take(
            lambda r: (not r.get("method") or r["method"].upper() == method) and r["_re"].search(path))
        if rule is not None:
            rec["fault"] = fault_description(rule)
            if rule.get("delay_ms"):
                time.sleep(float(rule["delay_ms"]) / 1000.0)
            if rule.get("drop_connection"):
                rec["end"] = time.monotonic()
                world.log.add(rec)
                return self.drop()
            if any(k in rule for k in ("status", "body")) or rule.get("rate_limit") or rule.get("secondary"):
                status, headers, rbody = self.fault_response(gh, rule, client_ip)
                rec["status"] = status
                rec["end"] = time.monotonic()
                world.log.add(rec)
                return self.send_raw(status, headers, rbody)
            # delay/headers-only/lose_response rule: continue normally

        status, headers, rbody = gh.handle(method, path, query, self.headers, body, base, client_ip)
        if rule is not None and rule.get("cut_body_at") is not None:
            # The connection breaks in the middle of the answer: full headers, part of the body.
            rec["status"] = status
            rec["end"] = time.monotonic()
            world.log.add(rec)
            return self.send_cut(status, headers, rbody, int(rule["cut_body_at"]))
        if rule is not None and rule.get("lose_response"):
            # The write happened, but the answer never reaches the client.
            rec["end"] = time.monotonic()
            world.log.add(rec)
            return self.drop()
        if rule is not None:
            headers = merge_headers(headers, rule.get("headers"))
        rec["status"] = status
        rec["end"] = time.monotonic()
        world.log.add(rec)
        self.send_raw(status, headers, rbody)

    def fault_response(self, gh, rule, client_ip):
        identity, limit, token, _present, _valid = gh.identify(self.headers, client_ip)
        reset_in = int(rule.get("reset_in", 2))
        headers = [("Content-Type", "application/json; charset=utf-8"), ("Server", "github.com"),
                   ("X-GitHub-Request-Id", uuid.uuid4().hex[:8].upper())]
        uid = token.user_id if token else 1
        if rule.get("secondary"):
            status = int(rule.get("status", 429))
            rl, _ = gh.ratelimit_headers(identity, limit)
            headers += rl + [("retry-after", str(reset_in))]
            payload = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
                                  "you try again. If you reach out to GitHub Support for help, please include "
                                  "the request ID %s." % headers[2][1],
                       "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/"
                                            "rate-limits-for-the-rest-api#about-secondary-rate-limits",
                       "status": str(status)}
        elif rule.get("rate_limit"):
            status = int(rule.get("status", 403))
            rl, _ = gh.ratelimit_headers(identity, limit, count=False,
                                         force_exhausted=int(time.time()) + reset_in)
            headers += rl
            payload = {"message": "API rate limit exceeded for user ID %d." % uid,
                       "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                       "status": str(status)}
        else:
            status = int(rule.get("status", 500))
            rl, _ = gh.ratelimit_headers(identity, limit)
            headers += rl
            payload = {"message": rule.get("message", GITHUB_REASONS.get(status, "Error")),
                       "documentation_url": DOCS, "status": str(status)}
        extra = rule.get("headers") or {}
        lower = {k.lower() for k in extra}
        headers = [(k, v) for k, v in headers if k.lower() not in lower] + [(k, str(v)) for k, v in extra.items()]
        rbody = rule["body"].encode("utf-8") if "body" in rule else jdump(payload)
        return status, headers, rbody

    def control(self, world, path, query, body):
        gh = world.github
        method = self.command
        segs = [urllib.parse.unquote(s) for s in path.split("/")[2:]]
        try:
            data = self.json_body(body)
        except ValueError as e:
            return self.send_json(400, {"error": "invalid JSON: %s" % e})
        base = "http://%s" % (self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1])
        try:
            if segs == ["repos"] and method == "POST":
                repo = gh.create_repo(data or {})
                return self.send_json(201, repo.to_json(base))
            if segs == ["repos"] and method == "GET":
                with gh.lock:
                    return self.send_json(200, [r.to_json(base) for r in gh.repos.values()])
            if segs == ["tokens"] and method == "POST":
                t = gh.create_token(data or {})
                return self.send_json(201, {"token": t.token, "permissions": t.permissions,
                                            "repos": None if t.repos is None else sorted(t.repos),
                                            "login": t.login, "user_id": t.user_id})
            if segs == ["faults"]:
                if method == "POST":
                    return self.send_json(201, {"rules": world.github_faults.add(data)})
                if method == "GET":
                    return self.send_json(200, world.github_faults.listing())
                if method == "DELETE":
                    world.github_faults.clear()
                    return self.send_json(200, {"cleared": True})
            if segs == ["reset"] and method == "POST":
                gh.reset()
                world.github_faults.clear()
                return self.send_json(200, {"reset": True})
            if len(segs) == 4 and segs[0] == "repos":
                with gh.lock:
                    repo = gh.get_repo(segs[1], segs[2])
                    if repo is None:
                        return self.send_json(404, {"error": "no repository %s/%s" % (segs[1], segs[2])})
                    action = segs[3]
                    if action == "state" and method == "GET":
                        return self.send_json(200, gh.state(repo))
                    if action == "rotate-key" and method == "POST":
                        envname = (data or {}).get("environment")
                        scope = repo
                        if envname is not None:
                            scope = gh.find_env(repo, envname)
                            if scope is None:
                                return self.send_json(404, {"error": "no environment %s" % envname})
                        return self.send_json(200, scope.keys.rotate())
                    if action == "seed" and method == "POST":
                        gh.seed(repo, data or {})
                        return self.send_json(200, gh.state(repo))
        except KeyError as e:
            return self.send_json(409, {"error": str(e.args[0])})
        except (ValueError, TypeError, re.error) as e:
            return self.send_json(400, {"error": str(e)})
        return self.send_json(404, {"error": "unknown control endpoint %s %s" % (method, path)})


# ---------------------------------------------------------------------------
# moto


def relax_moto_signatures():
    """With IAM enforcement on (--iam-auth-after, or POST /moto-api/reset-auth), moto recomputes
    each request's SigV4 signature from the form parameters it parsed, re-encoded its own way
    (the Rust SDK encodes a space as %20, moto does not), and so refuses valid requests as
    SignatureDoesNotMatch. Signatures are not what the tests check: skip that step. The access
    key must still exist, and the caller's policies are still enforced."""
    from moto.iam import access_control
    access_control.IAMRequestBase.check_signature = lambda self: None


def add_missing_moto_actions():
    """IAM actions the tool calls that moto does not implement, added to moto's IAM responder
    (so moto's own IAM enforcement still runs first)."""
    from moto.core.responses import EmptyResult
    from moto.iam.responses import IamResponse

    if not hasattr(IamResponse, "add_client_id_to_open_id_connect_provider"):
        def add_client_id_to_open_id_connect_provider(self):
            provider = self.backend.get_open_id_connect_provider(self._get_param("OpenIDConnectProviderArn"))
            client_id = self._get_param("ClientID")
            if client_id not in provider.client_id_list:
                provider.client_id_list.append(client_id)
            return EmptyResult()

        IamResponse.add_client_id_to_open_id_connect_provider = add_client_id_to_open_id_connect_provider


def start_moto():
    relax_moto_signatures()
    add_missing_moto_actions()
    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                               create_backend_app)

    class QuietMotoHandler(MotoRequestHandler):
        def log(self, type, message, *args):  # noqa: A002
            if type == "error":
                err("moto: " + (message % args if args else message))

        def log_request(self, *args, **kwargs):
            pass

    app = DomainDispatcherApplication(create_backend_app)
    srv = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietMotoHandler)
    t = threading.Thread(target=srv.serve_forever, name="moto", daemon=True)
    t.start()
    return srv


def prewarm_moto(port):
    """Load the IAM/STS/ECR backends once so the first real request is not slow."""
    calls = [
        ("iam", "Action=ListRoles&Version=2010-05-08", None),
        ("sts", "Action=GetCallerIdentity&Version=2011-06-15", None),
        ("ecr", "{}", "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"),
    ]
    for service, body, target in calls:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDWARMUP/20260101/us-east-1/%s/"
                                        "aws4_request, SignedHeaders=host, Signature=x" % service}
            if target:
                headers["X-Amz-Target"] = target
                headers["Content-Type"] = "application/x-amz-json-1.1"
            else:
                headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
            conn.request("POST", "/", body=body.encode(), headers=headers)
            conn.getresponse().read()
            conn.close()
        except Exception as e:  # noqa: BLE001
            err("world.py: moto prewarm %s failed: %r" % (service, e))


# ---------------------------------------------------------------------------
# main


class World:
    def __init__(self, latency_ms=0.0):
        self.log = RequestLog()
        self.github = GitHubStandIn()
        self.github_faults = FaultBook("github")
        self.aws_faults = FaultBook("aws")
        self.consistency = Consistency()
        self.freeze = Freeze()
        self.secrets = SecretBook()
        self.github.secret_book = self.secrets
        self.latency = max(float(latency_ms), 0.0) / 1000.0

    def add_latency(self):
        """The fixed --latency-ms of every logged request (inside its start..end)."""
        if self.latency:
            time.sleep(self.latency)


def serve(handler_cls, world, **attrs):
    srv = Server(("127.0.0.1", 0), handler_cls)
    srv.world = world
    for k, v in attrs.items():
        setattr(srv, k, v)
    threading.Thread(target=srv.serve_forever, name=handler_cls.__name__, daemon=True).start()
    return srv


def stdin_is_a_lifeline():
    """Watch stdin for EOF only when it is a pipe, socket or terminal. /dev/null or a file
    (e.g. `world.py &` in a non-interactive shell) would read EOF at once."""
    import stat
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed-repo", metavar="OWNER/REPO")
    ap.add_argument("--seed-token", metavar="TOKEN")
    ap.add_argument("--account-id", help="moto account id (default: $MOTO_ACCOUNT_ID or 123456789012)")
    ap.add_argument("--iam-auth-after", type=int, metavar="N",
                    help="moto checks signatures and IAM policies after N requests (sets "
                         "INITIAL_NO_AUTH_ACTION_COUNT; default: never). POST {moto}/moto-api/reset-auth "
                         "with a number changes it at run time")
    ap.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                    help="add MS milliseconds to every proxied AWS request and every GitHub stand-in request "
                         "(not to control endpoints or direct moto calls); default 0")
    ap.add_argument("--no-stdin-watch", action="store_true",
                    help="do not exit on stdin EOF (stdin that is /dev/null or a file is never watched)")
    args = ap.parse_args(argv)
    if args.seed_repo and "/" not in args.seed_repo:
        ap.error("--seed-repo must be OWNER/REPO")
    if args.account_id:
        os.environ["MOTO_ACCOUNT_ID"] = args.account_id
    if args.iam_auth_after is not None:
        os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(args.iam_auth_after)

    # Keep stdout for the ready line only: anything else printed (moto, libraries) goes to stderr.
    ready_fd = os.dup(1)
    os.dup2(2, 1)

    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    if args.latency_ms < 0:
        ap.error("--latency-ms must not be negative")
    world = World(args.latency_ms)
    moto_srv = start_moto()
    moto_port = moto_srv.server_port
    prewarm_moto(moto_port)
    aws_srv = serve(AwsProxyHandler, world, moto_port=moto_port)
    gh_srv = serve(GitHubHandler, world)

    if args.seed_repo:
        owner, name = args.seed_repo.split("/", 1)
        world.github.create_repo({"owner": owner, "repo": name, "owner_id": 1001, "repo_id": 2002})
    if args.seed_token:
        world.github.create_token({"token": args.seed_token, "permissions": "all", "repos": None,
                                   "login": args.seed_repo.split("/", 1)[0] if args.seed_repo else "octocat",
                                   "user_id": 1001 if args.seed_repo else 1})

    if not args.no_stdin_watch and stdin_is_a_lifeline():
        def watch_stdin():
            try:
                while True:
                    chunk = os.read(0, 65536)
                    if not chunk:
                        break
            except OSError:
                pass
            stop.set()

        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    ready = {"moto": "http://127.0.0.1:%d" % moto_port,
             "aws": "http://127.0.0.1:%d" % aws_srv.server_address[1],
             "github": "http://127.0.0.1:%d" % gh_srv.server_address[1]}
    try:
        os.write(ready_fd, (json.dumps(ready) + "\n").encode())
    except OSError:
        pass

    while not stop.wait(0.5):
        pass
    # Nothing to flush or persist: release the ports and leave at once (a graceful
    # serve_forever shutdown would cost up to 0.5 s per server).
    for s in (gh_srv, aws_srv, moto_srv):
        try:
            s.socket.close()
        except OSError:
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
