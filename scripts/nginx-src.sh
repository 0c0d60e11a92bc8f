#!/usr/bin/env bash
# Brings nginx's full source (Debian's orig tarball, as `apt-get source`
# fetches it) into build/nginx-src/nginx-<version>, once.  Prints the path.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dest="$top/build/nginx-src"
version=$(dpkg-query -W -f='${Version}' nginx 2>/dev/null | sed 's/-.*//')
[ -n "$version" ] || { echo "nginx-src.sh: Debian's nginx is not installed" >&2; exit 1; }

if [ -x "$dest/nginx-$version/configure" ]; then
    echo "$dest/nginx-$version"
    exit 0
fi

mkdir -p "$dest"
cd "$dest"

if ! ls nginx_"$version".orig.tar.gz >/dev/null 2>&1; then
    # apt-get source needs deb-src entries: add Debian's, once
    if ! grep -rqs '^Types: deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        cat > /etc/apt/sources.list.d/ngx-http-sse-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq >&2
    fi
    apt-get source --download-only -qq nginx >&2 2>/dev/null \
        || { apt-get update -qq >&2; apt-get source --download-only -qq nginx >&2; }
fi

tar xzf nginx_"$version".orig.tar.gz
echo "$dest/nginx-$version"
