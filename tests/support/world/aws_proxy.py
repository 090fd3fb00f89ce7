"""The AWS proxy in front of moto: classifies each request, records it, injects faults, forwards it."""

import http.client
import json
import re
import time
import urllib.parse
import uuid
from xml.sax.saxutils import escape as xml_escape

from . import control, like_aws
from .faults import body_matches, fault_description, merge_headers
from .server import BaseHandler, err, jdump


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
READ_ONLY_AWS_PREFIXES = ("Get", "List", "Describe", "BatchGet", "BatchCheck", "Simulate")
# Headers of one hop, not forwarded either way; Content-Length is recomputed for the body sent.
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect", "content-length",
}


def aws_is_mutating(action):
    if not action:
        return True
    return not action.startswith(READ_ONLY_AWS_PREFIXES)


def classify_aws(path, query, headers, body):
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
            "mutating": aws_is_mutating(action), "params": params,
            "caller": m.group(1) if m else None}


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
    headers = merge_headers(headers, extra_headers)
    if raw_body is not None:
        body = raw_body.encode("utf-8")
    return headers, body


def default_aws_code(info, status, rule):
    if rule.get("throttle"):
        return "ThrottlingException" if info["style"] == "json" else "Throttling"
    if info["style"] == "json":
        return "ServerException" if status >= 500 else "InvalidParameterException"
    return "ServiceFailure" if status >= 500 else "ValidationError"


def aws_rule_matches(rule, method, info, body=b""):
    if "method" in rule and rule["method"] and rule["method"].upper() != method:
        return False
    if "mutating" in rule and rule["mutating"] is not None and bool(rule["mutating"]) != info["mutating"]:
        return False
    if not body_matches(rule, body):
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
    """The AWS port: every request that is not a control request is classified, may meet a fault
    or a consistency window, goes to moto otherwise, and is logged."""

    def handle_request(self):
        start = time.monotonic()
        world = self.server.world
        target, path, query = self.split_url()
        body = self.read_body()
        if control.handle(self, "aws", path, query, body):
            return
        world.add_latency()

        info = classify_aws(path, query, self.headers, body)
        if not world.freeze.gate(info["mutating"]):
            return self.drop()
        rec = {"protocol": "aws", "service": info["service"], "action": info["action"],
               "mutating": info["mutating"], "method": self.command, "path": path,
               "status": 0, "start": start, "end": None, "fault": None}
        rule = world.aws_faults.take(lambda r: aws_rule_matches(r, self.command, info, body))
        if rule is not None:
            rec["fault"] = fault_description(rule)
            if rule.get("hold"):
                world.holds.hold(rule["hold"], info["caller"] or "?", rule.get("until_callers"),
                                 rule.get("timeout_s", 60))
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
            status, headers, rbody = self.forward(target, like_aws.request(info, body, world.paging))
            if status == 200:
                rbody = like_aws.response(info, body, rbody, world.paging)
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
