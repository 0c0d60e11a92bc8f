#!/usr/bin/env bash
# Installs the Debian packages the project needs, when they are missing.
# Idempotent and quiet when everything is there.  Usage: deps.sh [group...]
# groups: build (default), test, redis, browser, bench
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(build)

pkgs=()
for g in "${groups[@]}"; do
    case "$g" in
        build)   pkgs+=(gcc make nginx nginx-dev libcjson-dev libhiredis-dev dpkg-dev) ;;
        test)    pkgs+=(perl libtest-base-perl curl valgrind python3) ;;
        redis)   pkgs+=(redis-server redis-sentinel libhiredis-dev) ;;
        browser) pkgs+=(chromium)
                 # Node.js may come from elsewhere (nodesource): only when absent
                 command -v node >/dev/null || pkgs+=(nodejs)
                 command -v npm >/dev/null || pkgs+=(npm) ;;
        bench)   pkgs+=(libnginx-mod-nchan nghttp2-client) ;;
        fuzz)    pkgs+=(clang libclang-rt-14-dev libssl-dev libcjson-dev dpkg-dev) ;;
        asan)    pkgs+=(clang libclang-rt-14-dev libssl-dev libpcre2-dev zlib1g-dev dpkg-dev) ;;
        *) echo "deps.sh: unknown group $g" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]} (run as root to install)" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Debian starts the stock nginx service on install: the project never needs it.
if printf '%s\n' "${missing[@]}" | grep -qx nginx; then
    (service nginx stop || true) >/dev/null 2>&1
fi
