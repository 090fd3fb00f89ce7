"""The control plane: /_world on both ports, /_proxy on the AWS port, /_standin on the GitHub port."""

import json
import re
import urllib.parse

from .log import compute_rounds


def handle(handler, port, path, query, body):
    """Answers a control request that reached `port` ("aws" or "github") and returns True, or
    returns False when `path` is no control endpoint of that port, for the port to serve it.
    Control requests get no latency, no faults and no freeze, and are never logged."""
    world = handler.server.world
    if path.startswith("/_world/"):
        world_endpoints(handler, world, path, query, body)
    elif port == "aws" and path.startswith("/_proxy/"):
        proxy_endpoints(handler, world, path, body)
    elif port == "github" and (path == "/_standin" or path.startswith("/_standin/")):
        standin_endpoints(handler, world, path, body)
    else:
        return False
    return True


def unknown(handler, path):
    return handler.send_json(404, {"error": "unknown control endpoint %s %s" % (handler.command, path)})


def world_endpoints(handler, world, path, query, body):
    """/_world/*: the request log, its summary and rounds, the freeze, the secrets seen."""
    method = handler.command
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
    elif path == "/_world/holds":
        if method == "GET":
            return handler.send_json(200, world.holds.listing())
        if method == "DELETE":
            world.holds.clear()
            return handler.send_json(200, {"cleared": True})
    elif path.startswith("/_world/holds/") and path.endswith("/release") and method == "POST":
        name = urllib.parse.unquote(path[len("/_world/holds/"):-len("/release")])
        return handler.send_json(200, world.holds.release(name))
    elif path == "/_world/wait" and method == "POST":
        return wait(handler, world, body)
    elif path == "/_world/age" and method == "POST":
        try:
            seconds = json.loads(body.decode("utf-8") or "{}")["seconds"]
            if not isinstance(seconds, int) or seconds < 0:
                raise ValueError("seconds must be a non-negative integer")
        except (ValueError, KeyError, TypeError) as e:
            return handler.send_json(400, {"error": "expected {\"seconds\": N}: %s" % e})
        return handler.send_json(200, age(world, seconds))
    elif path == "/_world/access-keys" and method == "GET":
        return handler.send_json(200, world.secrets.issued_pairs())
    elif path == "/_world/rounds" and method == "POST":
        try:
            recs = json.loads(body.decode("utf-8") or "[]")
            return handler.send_json(200, {"rounds": compute_rounds(recs)})
        except Exception as e:  # noqa: BLE001
            return handler.send_json(400, {"error": "expected a list of {start, end}: %s" % e})
    return unknown(handler, path)


def age(world, seconds):
    """Everything that exists now was made `seconds` earlier: the creation dates of moto's
    access keys and the stand-in's timestamps of secrets and variables move back. A test
    makes a delivery that happened long before the run under test without waiting."""
    import datetime
    from moto.iam.models import iam_backends

    delta = datetime.timedelta(seconds=seconds)
    keys = 0
    for account in list(iam_backends.values()):
        for backend in list(account.values()):
            for user in list(backend.users.values()):
                for key in user.access_keys:
                    key.create_date -= delta
                    keys += 1
    from .github import shift_iso
    items = 0
    gh = world.github
    with gh.lock:
        for repo in gh.repos.values():
            for scope in [repo] + list(repo.environments.values()):
                for item in list(scope.secrets.values()) + list(scope.variables.values()):
                    for field in ("created_at", "updated_at"):
                        item[field] = shift_iso(item[field], -seconds)
                    items += 1
    return {"access_keys": keys, "secrets_and_variables": items}


def wait(handler, world, body):
    """Blocks until the world has seen what the body names, so tests wait for events instead
    of sleeping: {"mutating": k} (k mutating requests logged), {"action": A, "count": n} (n
    requests of action A answered and logged) or {"held": NAME, "count": n} (n requests waiting
    in a hold); "timeout_s" (default 60). 200 when it happened, 408 if not."""
    try:
        d = json.loads(body.decode("utf-8") or "{}")
        timeout = float(d.get("timeout_s", 60))
        if "mutating" in d:
            ok = world.log.wait_mutating(int(d["mutating"]), timeout)
        elif "action" in d:
            ok = world.log.wait_mutating(int(d.get("count", 1)), timeout, action=str(d["action"]))
        elif "held" in d:
            ok = world.holds.wait(str(d["held"]), int(d.get("count", 1)), timeout)
        else:
            raise ValueError("expected mutating or held")
    except (ValueError, TypeError, KeyError) as e:
        return handler.send_json(400, {"error": "expected {\"mutating\": k} or {\"held\": name}: %s" % e})
    status = {"summary": world.log.summary(), "holds": world.holds.listing()}
    return handler.send_json(200 if ok else 408, status)


def proxy_endpoints(handler, world, path, body):
    """/_proxy/faults: the AWS fault rules, consistency windows among them."""
    method = handler.command
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
                return handler.send_json(400, {"error": str(e)})
            return handler.send_json(201, {"rules": n})
        if method == "GET":
            return handler.send_json(200, world.aws_faults.listing() + world.consistency.listing())
        if method == "DELETE":
            world.aws_faults.clear()
            world.consistency.clear()
            world.paging.clear()
            return handler.send_json(200, {"cleared": True})
    if path == "/_proxy/paging":
        if method == "POST":
            try:
                d = json.loads(body.decode("utf-8") or "{}")
                if not isinstance(d, dict) or not all(isinstance(v, int) and v > 0 for v in d.values()):
                    raise ValueError("expected {ACTION: most items per page}")
            except ValueError as e:
                return handler.send_json(400, {"error": str(e)})
            world.paging.update(d)
            return handler.send_json(201, dict(world.paging))
        if method == "GET":
            return handler.send_json(200, dict(world.paging))
    return unknown(handler, path)


def standin_endpoints(handler, world, path, body):
    """/_standin/*: repositories, tokens, keys, seeded values and fault rules of the GitHub side."""
    gh = world.github
    method = handler.command
    segs = [urllib.parse.unquote(s) for s in path.split("/")[2:]]
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
    except ValueError as e:
        return handler.send_json(400, {"error": "invalid JSON: %s" % e})
    base = handler.base_url()
    try:
        if segs == ["repos"] and method == "POST":
            repo = gh.create_repo(data or {})
            return handler.send_json(201, repo.to_json(base))
        if segs == ["repos"] and method == "GET":
            with gh.lock:
                return handler.send_json(200, [r.to_json(base) for r in gh.repos.values()])
        if segs == ["tokens"] and method == "POST":
            t = gh.create_token(data or {})
            return handler.send_json(201, {"token": t.token, "permissions": t.permissions,
                                           "repos": None if t.repos is None else sorted(t.repos),
                                           "login": t.login, "user_id": t.user_id})
        if segs == ["faults"]:
            if method == "POST":
                return handler.send_json(201, {"rules": world.github_faults.add(data)})
            if method == "GET":
                return handler.send_json(200, world.github_faults.listing())
            if method == "DELETE":
                world.github_faults.clear()
                return handler.send_json(200, {"cleared": True})
        if segs == ["orgs"] and method == "POST":
            d = data or {}
            org, tmpl = d.get("org"), d.get("oidc_sub")
            if not isinstance(org, str) or not org:
                raise ValueError("org is required")
            keys = (tmpl or {}).get("include_claim_keys", []) if isinstance(tmpl, (dict, type(None))) else None
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ValueError("oidc_sub must be {\"include_claim_keys\": [...]}")
            with gh.lock:
                gh.orgs[org.lower()] = {"include_claim_keys": list(keys)}
            return handler.send_json(201, {"org": org, "oidc_sub": {"include_claim_keys": list(keys)}})
        if segs == ["clock"] and method == "POST":
            from .github import CLOCK  # github imports this module: import at use
            d = data or {}
            if "offset_s" in d:
                if not isinstance(d["offset_s"], int):
                    raise ValueError("offset_s must be an integer (seconds, negative for the past)")
                CLOCK["offset"] = d["offset_s"]
            else:
                step = d.get("advance_s")
                if not isinstance(step, int) or step < 0:
                    raise ValueError("advance_s must be a non-negative integer")
                CLOCK["offset"] += step
            return handler.send_json(200, {"offset_s": CLOCK["offset"]})
        if segs == ["reset"] and method == "POST":
            gh.reset()
            world.github_faults.clear()
            return handler.send_json(200, {"reset": True})
        if len(segs) == 4 and segs[0] == "repos":
            with gh.lock:
                repo = gh.get_repo(segs[1], segs[2])
                if repo is None:
                    return handler.send_json(404, {"error": "no repository %s/%s" % (segs[1], segs[2])})
                action = segs[3]
                if action == "state" and method == "GET":
                    return handler.send_json(200, gh.state(repo))
                if action == "rotate-key" and method == "POST":
                    envname = (data or {}).get("environment")
                    scope = repo
                    if envname is not None:
                        scope = gh.find_env(repo, envname)
                        if scope is None:
                            return handler.send_json(404, {"error": "no environment %s" % envname})
                    return handler.send_json(200, scope.keys.rotate())
                if action == "seed" and method == "POST":
                    gh.seed(repo, data or {})
                    return handler.send_json(200, gh.state(repo))
    except KeyError as e:
        return handler.send_json(409, {"error": str(e.args[0])})
    except (ValueError, TypeError, re.error) as e:
        return handler.send_json(400, {"error": str(e)})
    return unknown(handler, path)
