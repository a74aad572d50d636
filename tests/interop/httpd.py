#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# A small HTTP(S) file server for curl.sh: serves one directory with byte
# ranges (GET with "Range: bytes=A-B" answers 206), so that qemu-img's and
# qimg's http driver can read images from it.  Switches make it behave as
# servers that break things: no ranges, a required cookie or basic-auth
# login, redirects, a wrong length.  Every request is logged (method, path,
# range, user) to --log, one line each, so tests can count them.
#
#   httpd.py --dir D --port-file F [--log L] [--cert C --key K]
#            [--no-ranges] [--auth USER:PASS] [--cookie NAME=VALUE]
#            [--ignore-range] [--short]
# The port it listens on (on 127.0.0.1) is written to F once it listens.
import argparse
import base64
import http.server
import os
import re
import ssl
import sys
import threading

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--log")
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--no-ranges", action="store_true",
                help="no Accept-Ranges header, Range ignored")
ap.add_argument("--ignore-range", action="store_true",
                help="say Accept-Ranges but answer every GET with 200")
ap.add_argument("--short", action="store_true",
                help="answer ranges with one byte less than asked")
ap.add_argument("--auth")
ap.add_argument("--cookie")
args = ap.parse_args()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def note(self, status):
        if not args.log:
            return
        user = "-"
        h = self.headers.get("Authorization", "")
        if h.startswith("Basic "):
            try:
                user = base64.b64decode(h[6:]).decode().split(":")[0]
            except Exception:
                user = "?"
        with lock, open(args.log, "a") as f:
            f.write("%s %s %s %s %s\n" % (self.command, self.path,
                    self.headers.get("Range", "-"), user, status))

    def refuse(self, code, extra=None):
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.note(code)

    def serve(self, body):
        path = self.path.split("?", 1)[0]
        if path.startswith("/redirect/"):
            self.refuse(302, {"Location": path[len("/redirect"):]})
            return
        if args.auth:
            want = "Basic " + base64.b64encode(args.auth.encode()).decode()
            if self.headers.get("Authorization") != want:
                self.refuse(401, {"WWW-Authenticate": 'Basic realm="qimg"'})
                return
        if args.cookie:
            jar = self.headers.get("Cookie", "")
            if args.cookie not in [c.strip() for c in jar.split(";")]:
                self.refuse(403)
                return
        name = os.path.join(args.dir, path.lstrip("/"))
        if "/../" in "/" + path + "/" or not os.path.isfile(name):
            self.refuse(404)
            return
        size = os.path.getsize(name)
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if args.no_ranges or args.ignore_range or not m:
            start, end, code = 0, size, 200
        else:
            start = int(m.group(1))
            end = min(int(m.group(2)) + 1 if m.group(2) else size, size)
            if start >= size:
                self.refuse(416, {"Content-Range": "bytes */%d" % size})
                return
            code = 206
            if args.short and end - start > 1:
                end -= 1
        self.send_response(code)
        if not args.no_ranges:
            self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range",
                             "bytes %d-%d/%d" % (start, end - 1, size))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        self.note(code)
        if not body:
            return
        with open(name, "rb") as f:
            f.seek(start)
            left = end - start
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    def do_HEAD(self):
        self.serve(False)

    def do_GET(self):
        self.serve(True)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that closes a connection mid-body (it had what it
        # wanted) is no error.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


srv = Server(("127.0.0.1", 0), Handler)
if args.cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(tmp, args.port_file)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
