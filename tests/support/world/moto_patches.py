"""moto in server mode, in this process: the two patches the tests need, its start, and its prewarm."""

import http.client
import threading

from .server import err

# moto is imported inside the functions below, not up here: it reads INITIAL_NO_AUTH_ACTION_COUNT
# (--iam-auth-after) once, on first import, and the entry point sets it before the first call.


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
    """Serves moto on a port the OS picks, in a daemon thread."""
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
