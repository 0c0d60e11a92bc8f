#!/usr/bin/env python3
"""Publish from Python with the standard library only (urllib)."""
import json
import os
import sys
import urllib.request

url = os.environ.get("SSE_URL", "http://127.0.0.1:8080")
progress = int(sys.argv[1]) if len(sys.argv) > 1 else 80

body = json.dumps({
    "channel": "user_123",
    "event": "workflow_update",
    "data": {"status": "processing", "progress": progress,
             "message": f"Step at {progress}%"},
}).encode()

req = urllib.request.Request(url + "/publish", data=body, method="POST",
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as res:
    print(res.status, res.read().decode())
