#!/usr/bin/env python3
"""An upstream app that publishes while answering: it does its work, then
answers with X-Accel-Redirect to an internal sse_publish location, and nginx
publishes the body of the request the app received (see nginx.conf)."""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class App(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)          # the job's input; nginx keeps it too
        job = self.path.rsplit("/", 1)[-1] or "job"
        self.send_response(200)
        self.send_header("X-Accel-Redirect",
                         f"/internal/publish?channel={job}&event=done")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "3000"))), App).serve_forever()
