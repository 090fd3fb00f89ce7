"""What the world does to requests: fault rules, IAM consistency windows, the freeze after the k-th write."""

import re
import threading
import time


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
    """Override/add the headers of a fault rule on top of a response's own."""
    if not extra:
        return headers
    lower = {k.lower() for k in extra}
    return [(k, v) for k, v in headers if k.lower() not in lower] + [(k, str(v)) for k, v in extra.items()]


def fault_description(rule):
    return {k: v for k, v in rule.items() if not k.startswith("_") and k not in ("remaining", "skip", "hits")}


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
