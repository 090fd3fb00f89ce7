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
This file is the entry point; the world itself is the package world/ next to it.
See tests/support/README.md for the control endpoints and which module holds what.

Dependencies: standard library, moto[server] (werkzeug), PyNaCl.
"""

import argparse
import json
import os
import signal
import stat
import threading

# The package world/ next to this file: on import, a package wins over a module of the same name.
from world import World
from world.aws_proxy import AwsProxyHandler
from world.github import GitHubHandler
from world.moto_patches import prewarm_moto, start_moto
from world.server import serve


def stdin_is_a_lifeline():
    """Watch stdin for EOF only when it is a pipe, socket or terminal. /dev/null or a file
    (e.g. `world.py &` in a non-interactive shell) would read EOF at once."""
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

