#!/usr/bin/env bash
# make test-browser: real clients: Debian's Chromium driven by playwright-core
# (no browser download), and Node clients; installs what is missing.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

"$top/scripts/deps.sh" browser

cd "$top/browser"

# npm ci from the lockfile, again only when the lockfile changed
stamp="node_modules/.lock-stamp"
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
fi

# a skipped test hides what it was meant to check: it fails the run, as a
# missing tool does (the tests themselves read nginx's error.log after each
# test and its exit status at stop: browser/lib/nginx.js)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
timeout 600 npm test 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
if grep -Eq '^# (skipped|todo) [1-9]' "$out"; then
    echo "browser-test.sh: skipped or todo tests count as failures" >&2
    exit 1
fi
exit "$status"
