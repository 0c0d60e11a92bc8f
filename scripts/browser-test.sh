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

timeout 600 npm test
