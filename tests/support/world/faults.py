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
        if "body_regex" in r:
            rule["_body_re"] = re.compile(r["body_regex"])
        if "hold" in r and not isinstance(r["hold"], str):
            raise ValueError("hold must be the name of the hold")
        if "until_callers" in r and (not isinstance(r["until_callers"], int) or r["until_callers"] < 1):
            raise ValueError("until_callers must be a positive integer")
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


def body_matches(rule, body):
    """A rule with body_regex matches only requests whose body (decoded as UTF-8) it finds."""
    rx = rule.get("_body_re")
    return rx is None or rx.search(body.decode("utf-8", "replace")) is not None


class Holds:
    """Named holds: a request meeting a rule with "hold": NAME waits until the hold is released
    (POST /_world/holds/NAME/release) or, with "until_callers": N, until requests of N different
    callers wait in it (then all go on at once: a race the tests produce instead of hoping for).
    A released hold stays open. A wait longer than timeout_s (default 60) goes on and is
    counted in timeouts."""

    def __init__(self):
        self.cond = threading.Condition()
        self.clear()

    def clear(self):
        """Lets every waiting request go on, and forgets every hold."""
        with self.cond:
            for h in getattr(self, "holds", {}).values():
                h["open"] = True
            self.holds = {}
            self.cond.notify_all()

    def _get(self, name):
        return self.holds.setdefault(name, {"open": False, "waiting": [], "held": 0, "callers": [],
                                            "timeouts": 0})

    def hold(self, name, caller, until_callers=None, timeout=60.0):
        deadline = time.monotonic() + float(timeout)
        with self.cond:
            h = self._get(name)
            if h["open"]:
                return
            h["waiting"].append(caller)
            h["held"] += 1
            if caller not in h["callers"]:
                h["callers"].append(caller)
            self.cond.notify_all()
            while not h["open"]:
                if until_callers and len(set(h["waiting"])) >= until_callers:
                    h["open"] = True
                    self.cond.notify_all()
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    h["timeouts"] += 1
                    break
                self.cond.wait(left)
            h["waiting"].remove(caller)

    def release(self, name):
        with self.cond:
            self._get(name)["open"] = True
            self.cond.notify_all()
            return self.status(name)

    def status(self, name):
        with self.cond:
            h = self._get(name)
            return {"name": name, "open": h["open"], "waiting": len(h["waiting"]), "held": h["held"],
                    "callers": len(h["callers"]), "timeouts": h["timeouts"]}

    def listing(self):
        with self.cond:
            return [self.status(n) for n in sorted(self.holds)]

    def wait(self, name, count, timeout):
        """Blocks until `count` requests are waiting in hold `name` (True), or timeout (False)."""
        deadline = time.monotonic() + float(timeout)
        with self.cond:
            while len(self._get(name)["waiting"]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True


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

    - invalid_principal: after a successful CreateOpenIDConnectProvider, CreateRole and
      UpdateAssumeRolePolicy answer 400 MalformedPolicyDocument "Invalid principal in policy"
      (IAM has not seen the new provider yet).
    - no_such_entity: after a successful CreateRole/CreatePolicy/CreateUser, every other
      request naming that entity (RoleName, UserName or PolicyArn: reads, attaches, updates)
      answers 404 NoSuchEntity.

    How long: "count": N for the next N such requests (null: until cleared), or "window_ms"
    for that long. A count does not depend on how fast the machine is; a window does."""

    KINDS = ("invalid_principal", "no_such_entity")

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        with self.lock:
            self.rules = {}  # kind -> {"window": seconds} | {"count": n or None}
            self.hits = {k: 0 for k in self.KINDS}
            self.provider = None  # {"at": monotonic, "left": count or None}
            self.created = {}  # (kind, name or arn) -> {"at": monotonic, "left": count or None}

    def add(self, rule):
        kind = rule.get("consistency")
        if kind not in self.KINDS:
            raise ValueError("consistency must be invalid_principal or no_such_entity")
        if "count" in rule:
            n = rule["count"]
            if n is not None and (not isinstance(n, int) or n < 0):
                raise ValueError("count must be a non-negative integer or null (until cleared)")
            spec = {"count": n}
        else:
            ms = rule.get("window_ms")
            if not isinstance(ms, (int, float)) or ms < 0:
                raise ValueError("window_ms must be a non-negative number (or give count)")
            spec = {"window": float(ms) / 1000.0}
        with self.lock:
            self.rules[kind] = spec

    def listing(self):
        with self.lock:
            out = []
            for k, spec in self.rules.items():
                item = {"consistency": k, "hits": self.hits[k]}
                if "window" in spec:
                    item["window_ms"] = int(spec["window"] * 1000)
                else:
                    item["count"] = spec["count"]
                out.append(item)
            return out

    def _start(self, kind, nowt):
        spec = self.rules.get(kind)
        if spec is None:
            return None
        return {"at": nowt, "left": spec.get("count")}

    def _open(self, kind, mark, nowt):
        """Whether the mark (set at a create) still makes requests fail; uses one up."""
        spec = self.rules.get(kind)
        if spec is None or mark is None:
            return False
        if "window" in spec:
            return nowt - mark["at"] < spec["window"]
        if mark["left"] is None:
            return True
        if mark["left"] > 0:
            mark["left"] -= 1
            return True
        return False

    def check(self, info):
        """-> (status, code, message) when the request falls into a window, else None."""
        action, params, nowt = info["action"], info.get("params") or {}, time.monotonic()
        with self.lock:
            if action in INVALID_PRINCIPAL_ACTIONS and self._open("invalid_principal", self.provider, nowt):
                self.hits["invalid_principal"] += 1
                return 400, "MalformedPolicyDocument", "Invalid principal in policy: \"Federated\""
            for param, kind, create in ENTITY_PARAMS:
                name = params.get(param)
                if not isinstance(name, str) or action == create:
                    continue
                if self._open("no_such_entity", self.created.get((kind, name)), nowt):
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
                self.provider = self._start("invalid_principal", nowt)
                return
            key = None
            if action == "CreateRole" and isinstance(params.get("RoleName"), str):
                key = ("role", params["RoleName"])
            elif action == "CreateUser" and isinstance(params.get("UserName"), str):
                key = ("user", params["UserName"])
            elif action == "CreatePolicy":
                m = ARN_RE.search(body.decode("utf-8", "replace"))
                if m:
                    key = ("policy", m.group(1))
            if key is not None:
                mark = self._start("no_such_entity", nowt)
                if mark is not None:
                    self.created[key] = mark


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
