"""What the world records: the request log and its rounds, and every secret that passed through it."""

import re
import threading


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
