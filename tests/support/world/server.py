"""HTTP plumbing shared by the world's ports: the threaded server, the base handler, stderr and JSON helpers."""

import email.utils
import http.server
import json
import socket
import sys
import threading
import traceback
import urllib.parse


def err(*args):
    print(*args, file=sys.stderr, flush=True)


def jdump(obj):
    return json.dumps(obj).encode("utf-8")


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

    def base_url(self):
        """This server as the client addressed it, for the URLs inside answers."""
        return "http://%s" % (self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1])


def serve(handler_cls, world, **attrs):
    """Serves handler_cls on a port the OS picks, in a daemon thread; handlers reach `world` as
    self.server.world and each extra attribute as self.server.<name>."""
    srv = Server(("127.0.0.1", 0), handler_cls)
    srv.world = world
    for k, v in attrs.items():
        setattr(srv, k, v)
    threading.Thread(target=srv.serve_forever, name=handler_cls.__name__, daemon=True).start()
    return srv
