"""What the world records: the request log and its rounds, and every secret that passed through it."""

import re
import threading
import time


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
    """Every request of both ports but the control requests, numbered by seq in arrival order."""

    def __init__(self):
        self.lock = threading.Condition()
        self.items = []
        self.seq = 0

    def add(self, rec):
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.items.append(rec)
            self.lock.notify_all()

    def wait_mutating(self, count, timeout, action=None):
        """Blocks until the log holds `count` mutating requests, or with `action` that many
        requests of that action (True), or timeout (False)."""
        deadline = time.monotonic() + float(timeout)

        def counted(r):
            return r["action"] == action if action is not None else r["mutating"]

        with self.lock:
            while sum(1 for r in self.items if counted(r)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
            return True

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


SECRET_ACCESS_KEY_RE = re.compile(r"<SecretAccessKey>([^<]+)</SecretAccessKey>")
ACCESS_KEY_RE = re.compile(r"<AccessKey>(.*?)</AccessKey>", re.S)


def xml_field(text, name):
    m = re.search(r"<%s>([^<]*)</%s>" % (name, name), text)
    return m.group(1) if m else None


class SecretBook:
    """Every secret the tool handled, kept across resets: the secret access keys IAM issued,
    the plaintexts GitHub received for *SECRET_ACCESS_KEY secrets, and the GitHub tokens.
    Tests check that none of them ever appears in the tool's output (GET /_world/secrets).

    Also kept: every key pair IAM issued, in order (GET /_world/access-keys), and every value
    a client wrote into a GitHub variable (which must never hold a secret)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.aws_secret_access_keys = []
        self.github_secrets = []
        self.github_tokens = []
        self.issued = []  # {n, user_name, access_key_id, secret_access_key}, oldest first
        self.variable_values = []

    def _add(self, items, value):
        if isinstance(value, str) and value:
            with self.lock:
                if value not in items:
                    items.append(value)

    def aws_response(self, body):
        text = body.decode("utf-8", "replace")
        for m in SECRET_ACCESS_KEY_RE.finditer(text):
            self._add(self.aws_secret_access_keys, m.group(1))
        for m in ACCESS_KEY_RE.finditer(text):
            key = m.group(1)
            pair = {"user_name": xml_field(key, "UserName"), "access_key_id": xml_field(key, "AccessKeyId"),
                    "secret_access_key": xml_field(key, "SecretAccessKey")}
            if pair["access_key_id"] and pair["secret_access_key"]:
                with self.lock:
                    pair["n"] = len(self.issued) + 1
                    self.issued.append(pair)

    def issued_pairs(self):
        with self.lock:
            return [dict(p) for p in self.issued]

    def github_variable(self, value):
        self._add(self.variable_values, value)

    def github_secret(self, name, plaintext):
        if "SECRET_ACCESS_KEY" in name.upper():
            self._add(self.github_secrets, plaintext)

    def github_token(self, token):
        self._add(self.github_tokens, token)

    def listing(self):
        with self.lock:
            return {"aws_secret_access_keys": list(self.aws_secret_access_keys),
                    "github_secrets": list(self.github_secrets),
                    "github_tokens": list(self.github_tokens),
                    "variable_values": list(self.variable_values)}
