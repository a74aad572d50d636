#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# An FTP (or, with --cert and --key, explicit FTPS) server for curl.sh,
# from Debian's python3-pyftpdlib: one directory, read only, for the
# anonymous user and for user "u" with password "pw".  The port it
# listens on (127.0.0.1) is written to --port-file once it listens.
#
#   ftpd.py --dir D --port-file F [--cert C --key K]
import argparse
import logging
import os

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import ThreadedFTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--cert")
ap.add_argument("--key")
args = ap.parse_args()
logging.basicConfig(level=logging.CRITICAL)

auth = DummyAuthorizer()
auth.add_anonymous(args.dir, perm="elr")
auth.add_user("u", "pw", args.dir, perm="elr")
handler = FTPHandler
if args.cert:
    from pyftpdlib.handlers import TLS_FTPHandler
    handler = TLS_FTPHandler
    handler.certfile = args.cert
    handler.keyfile = args.key
    handler.tls_control_required = True
    handler.tls_data_required = True
handler.authorizer = auth
handler.passive_ports = None
srv = ThreadedFTPServer(("127.0.0.1", 0), handler)
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % srv.address[1])
os.rename(tmp, args.port_file)
srv.serve_forever(handle_exit=True)
