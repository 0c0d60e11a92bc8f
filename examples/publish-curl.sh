#!/bin/sh
# Publish a workflow_update to channel user_123 with curl.
# SSE_URL: the nginx server (default http://127.0.0.1:8080, as make run)
set -eu
url=${SSE_URL:-http://127.0.0.1:8080}
curl -sS --fail-with-body -H 'Content-Type: application/json' \
  -d '{"channel":"user_123","event":"workflow_update","data":{"status":"processing","progress":45,"message":"Halfway"}}' \
  "$url/publish"
echo
