"""The GitHub REST API stand-in: repositories, environments, secrets, variables, keys, tokens, routing, pages."""

import base64
import datetime
import json
import math
import re
import secrets as pysecrets
import threading
import time
import urllib.parse
import uuid

import nacl.exceptions
from nacl.public import PrivateKey, SealedBox

from . import control
from .faults import body_matches, fault_description, merge_headers
from .server import BaseHandler, err, jdump


DOCS = "https://docs.github.com/rest"
DOC_URLS = {
    "user": DOCS + "/users/users#get-the-authenticated-user",
    "repo": DOCS + "/repos/repos#get-a-repository",
    "oidc_sub": DOCS + "/actions/oidc",
    "org_oidc_sub": DOCS + "/actions/oidc#get-the-customization-template-for-an-oidc-subject-claim-for-an-organization",
    "envs": DOCS + "/deployments/environments#list-environments",
    "env": DOCS + "/deployments/environments",
    "env_policies": DOCS + "/deployments/branch-policies",
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
                   "environments": "write", "administration": "write",
                   "organization_administration": "write"}
# Classic tokens: scopes, and the scopes that include them.
IMPLIED_SCOPES = {"public_repo": ("repo",), "read:org": ("write:org", "admin:org"), "write:org": ("admin:org",)}

# Required fine-grained permission per route kind. (kind, is_write, in_environment) -> permission.
# Reads need "read", writes need "write". Environment create/delete need administration=write
# like GitHub; environment reads and environment secrets/variables need "environments".


def required_scope(kind, write, repo):
    """The classic-token scope a route needs (None: none). Everything under a repository needs
    `repo` (a public repository's metadata needs nothing); the org OIDC template read:org or
    write:org."""
    if kind == "org_oidc_sub":
        return "write:org" if write else "read:org"
    if kind == "repo" and repo is not None and not repo.private:
        return None
    return "repo"


def required_permission(kind, write, env):
    level = "write" if write else "read"
    if kind == "org_oidc_sub":
        return "organization_administration", level
    if kind == "repo":
        return "metadata", "read"
    if kind == "oidc_sub":
        return "actions", level
    if kind in ("env", "env_policies") and write:
        return "administration", "write"
    if kind in ("env", "envs", "env_policies"):
        return "environments", "read"
    if env is not None:
        return "environments", level
    if kind in ("pubkey", "secrets", "secret"):
        return "secrets", level
    if kind in ("variables", "variable"):
        return "variables", level
    return None


ALLOWED_METHODS = {
    "user": {"GET"}, "repo": {"GET"}, "oidc_sub": {"GET", "PUT"}, "org_oidc_sub": {"GET", "PUT"}, "envs": {"GET"},
    "env": {"GET", "PUT", "DELETE"}, "env_policies": {"GET", "POST"}, "pubkey": {"GET"}, "secrets": {"GET"},
    "secret": {"GET", "PUT", "DELETE"}, "variables": {"GET", "POST"},
    "variable": {"GET", "PATCH", "DELETE"},
}


def resolve_route(segs):
    if segs == ["user"]:
        return "user", {}
    if len(segs) == 6 and segs[0] == "orgs" and segs[1] and segs[2:] == ["actions", "oidc", "customization", "sub"]:
        return "org_oidc_sub", {"org": segs[1], "env": None}
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
        if sub == ["deployment-branch-policies"]:
            return "env_policies", p
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
        self.branch_policies = []  # [{"id", "node_id", "name", "type"}], with custom policies

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
    def __init__(self, token, permissions, repos, login, user_id, rate_limit, kind="fine-grained", scopes=()):
        self.token = token
        self.kind = kind
        self.scopes = list(scopes)
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

    def has_scope(self, scope):
        return scope in self.scopes or any(s in self.scopes for s in IMPLIED_SCOPES.get(scope, ()))


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
        self.orgs = {}     # login.lower() -> {"include_claim_keys": [...]}: the org's OIDC template
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
        kind = d.get("kind", "fine-grained")
        if kind not in ("fine-grained", "classic"):
            raise ValueError("kind must be fine-grained or classic")
        scopes = d.get("scopes", [])
        if not (isinstance(scopes, list) and all(isinstance(x, str) for x in scopes)):
            raise ValueError("scopes must be a list of strings (classic tokens)")
        t = Token(tok, perms, repos, d.get("login", "octocat"), int(d.get("user_id", 1)),
                  int(d.get("rate_limit", 5000)), kind, scopes)
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
            self.orgs.clear()
            CLOCK["offset"] = 0

    def rotate_key_for(self, path):
        """Rotates the key of the repository or environment a request path names."""
        r = resolve_route([urllib.parse.unquote(x) for x in path.split("/")[1:]])
        if r is None or r[0] in ("user", "org_oidc_sub"):
            return
        with self.lock:
            repo = self.get_repo(r[1]["owner"], r[1]["repo"])
            if repo is None:
                return
            scope = repo if r[1]["env"] is None else self.find_env(repo, r[1]["env"])
            if scope is not None:
                scope.keys.rotate()

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
        if token is not None and token.kind == "classic":
            common.append(("X-OAuth-Scopes", ", ".join(token.scopes)))
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
        if kind == "org_oidc_sub":
            return self.org_oidc_sub(p["org"], method, body, token)
        repo = self.get_repo(p["owner"], p["repo"])
        if token is None:
            if kind == "repo" and repo is not None and not repo.private:
                return 200, [], repo.to_json(base)
            if kind == "repo":
                raise GhError(404, "Not Found", doc=DOC_URLS["repo"])
            raise GhError(401, "Requires authentication", doc=DOC_URLS.get(kind, DOCS))
        if repo is None or not token.can_see(repo):
            raise GhError(404, "Not Found", doc=DOC_URLS.get(kind, DOCS))
        self.check_access(token, kind, write, p["env"], repo)
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
        if kind == "env_policies":
            return self.branch_policies(repo, p["env"], method, body)
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

    def check_access(self, token, kind, write, env, repo):
        """A fine-grained token's 403 names the permission it lacks (X-Accepted-GitHub-Permissions);
        a classic token's names the scope (X-Accepted-OAuth-Scopes) and no permission."""
        if token.kind == "classic":
            scope = required_scope(kind, write, repo)
            if scope is not None and not token.has_scope(scope):
                raise GhError(403, "Resource not accessible by personal access token",
                              headers=[("X-Accepted-OAuth-Scopes", scope)], doc=DOC_URLS.get(kind, DOCS))
            return
        perm, level = required_permission(kind, write, env)
        if not token.has(perm, level):
            raise GhError(403, "Resource not accessible by personal access token",
                          headers=[("X-Accepted-GitHub-Permissions", "%s=%s" % (perm, level))],
                          doc=DOC_URLS.get(kind, DOCS))

    def org_oidc_sub(self, org, method, body, token):
        """GET|PUT /orgs/{org}/actions/oidc/customization/sub: {"include_claim_keys": [...]}, the
        template the organization's repositories use when theirs says use_default false without
        keys of its own."""
        if token is None:
            raise GhError(401, "Requires authentication", doc=DOC_URLS["org_oidc_sub"])
        key = org.lower()
        if key not in self.orgs and not any(r.owner.lower() == key for r in self.repos.values()):
            raise GhError(404, "Not Found", doc=DOC_URLS["org_oidc_sub"])
        self.check_access(token, "org_oidc_sub", method != "GET", None, None)
        if method == "GET":
            return 200, [], {"include_claim_keys": list((self.orgs.get(key) or {}).get("include_claim_keys", []))}
        d = parse_json_object(body, required=True)
        keys = d.get("include_claim_keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and CLAIM_KEY_RE.match(k)
                                                             for k in keys) or len(set(keys)) != len(keys):
            raise GhError(422, "Invalid request.\n\ninclude_claim_keys must be a non-empty array of unique "
                          "claim key names.", doc=DOC_URLS["org_oidc_sub"])
        self.orgs[key] = {"include_claim_keys": list(keys)}
        return 201, [], {}

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
        if "use_immutable_subject" in d:
            if not isinstance(d["use_immutable_subject"], bool):
                raise GhError(422, "Invalid request.\n\nFor 'properties/use_immutable_subject', %s is not a "
                              "boolean." % json.dumps(d["use_immutable_subject"]), doc=DOC_URLS["oidc_sub"])
            repo.oidc_sub["use_immutable_subject"] = d["use_immutable_subject"]
        return 201, [], {}

    def branch_policies(self, repo, name, method, body):
        """GET|POST .../environments/{env}/deployment-branch-policies. Like GitHub: 404 unless
        the environment exists with custom branch policies; a name already there is a 303;
        `type` is `branch` (the default) or `tag`."""
        env = self.find_env(repo, name)
        custom = env is not None and (env.deployment_branch_policy or {}).get("custom_branch_policies")
        if not custom:
            raise GhError(404, "Not Found", doc=DOC_URLS["env_policies"])
        if method == "GET":
            return 200, [], {"total_count": len(env.branch_policies), "branch_policies": list(env.branch_policies)}
        d = parse_json_object(body, required=True)
        pattern, kind = d.get("name"), d.get("type", "branch")
        if not isinstance(pattern, str) or not pattern or kind not in ("branch", "tag"):
            raise GhError(422, "Invalid request.\n\nname must be a pattern and type branch or tag.",
                          doc=DOC_URLS["env_policies"])
        if any(bp["name"] == pattern and bp["type"] == kind for bp in env.branch_policies):
            raise GhError(303, "See Other", doc=DOC_URLS["env_policies"])
        policy = {"id": len(env.branch_policies) + 1, "node_id": "BP%d" % (len(env.branch_policies) + 1),
                  "name": pattern, "type": kind}
        env.branch_policies.append(policy)
        return 200, [], policy

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
            if not (env.deployment_branch_policy or {}).get("custom_branch_policies"):
                env.branch_policies = []
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
            if self.secret_book is not None:
                self.secret_book.github_variable(d["value"])
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
            if self.secret_book is not None:
                self.secret_book.github_variable(d["value"])
        v["name"] = new_name
        v["updated_at"] = now_iso()
        del scope.variables[uname]
        scope.variables[new_name] = v
        return 204, [], None


# Seconds added to the stand-in's clock (POST /_standin/clock): timestamps one second apart
# without waiting a second.
CLOCK = {"offset": 0}


def now_iso():
    now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=CLOCK["offset"])
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def shift_iso(ts, seconds):
    """A timestamp of ours moved by `seconds`."""
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def body_name(body):
    """The "name" of a JSON request body (variables are created by name), for the log."""
    if not body or not body.strip().startswith(b"{"):
        return None
    try:
        d = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return d.get("name") if isinstance(d, dict) and isinstance(d.get("name"), str) else None


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
    """The GitHub port: every request that is not a control request may meet a fault, is answered
    by the stand-in otherwise, and is logged."""

    def handle_request(self):
        start = time.monotonic()
        world = self.server.world
        _target, path, query = self.split_url()
        body = self.read_body()
        if control.handle(self, "github", path, query, body):
            return
        world.add_latency()
        if path == "/api/v3" or path.startswith("/api/v3/"):  # GitHub Enterprise Server style base URL
            path = path[len("/api/v3"):] or "/"
        method = self.command
        if not world.freeze.gate(method not in ("GET", "HEAD")):
            return self.drop()
        rec = {"protocol": "github", "service": "github", "action": "%s %s" % (method, path),
               "mutating": method not in ("GET", "HEAD"), "method": method, "path": path,
               "status": 0, "start": start, "end": None, "fault": None, "name": body_name(body)}
        gh = world.github
        base = self.base_url()
        client_ip = self.client_address[0]

        rule = world.github_faults.take(
            lambda r: (not r.get("method") or r["method"].upper() == method) and r["_re"].search(path)
            and (r.get("mutating") is None or bool(r["mutating"]) == rec["mutating"])
            and body_matches(r, body))
        if rule is not None:
            rec["fault"] = fault_description(rule)
            if rule.get("hold"):
                caller = parse_auth(self.headers.get("Authorization"))[0] or client_ip
                world.holds.hold(rule["hold"], caller, rule.get("until_callers"), rule.get("timeout_s", 60))
            if rule.get("rotate_key"):
                # The key changes between the client's read of it and this write (422 path).
                gh.rotate_key_for(path)
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
            # GitHub's forms (docs: rate limits for the REST API, "exceeding the rate limit"):
            # 403 or 429; with retry-after, or with x-ratelimit-remaining 0 and the reset time,
            # or with neither ("wait for at least one minute").
            status = int(rule.get("status", 429))
            if rule.get("exhausted"):
                rl, _ = gh.ratelimit_headers(identity, limit, count=False,
                                             force_exhausted=int(time.time()) + reset_in)
            else:
                rl, _ = gh.ratelimit_headers(identity, limit)
            headers += rl
            if rule.get("retry_after", True):
                headers.append(("retry-after", str(reset_in)))
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
        headers = merge_headers(headers, rule.get("headers"))
        rbody = rule["body"].encode("utf-8") if "body" in rule else jdump(payload)
        return status, headers, rbody
