#!/usr/bin/env python3
"""A stand-in OTLP/HTTP collector for the tracing test: answers POST /v1/traces with 200 and appends each
body (protobuf) to OUT as one hex line. Usage: otlp_collector.py PORT OUT"""
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, out = int(sys.argv[1]), sys.argv[2]

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(out, "a") as f:
            f.write(self.path + " " + self.headers.get("Content-Type", "") + " " + body.hex() + "\n")
        self.send_response(200); self.send_header("Content-Type", "application/x-protobuf"); self.send_header("Content-Length", "0"); self.end_headers()

HTTPServer(("127.0.0.1", port), H).serve_forever()
