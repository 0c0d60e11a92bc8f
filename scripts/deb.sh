#!/usr/bin/env bash
# make deb: build/libnginx-mod-http-sse_<version>_amd64.deb for Debian's
# nginx, with dpkg-deb: the module under /usr/lib/nginx/modules, its
# load_module line under /usr/share/nginx/modules-available, enabled in
# /etc/nginx/modules-enabled as Debian's own libnginx-mod-* packages do.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
so="$top/build/ngx_http_sse_module.so"
[ -f "$so" ] || { echo "deb.sh: build the module first (make)" >&2; exit 1; }

version=${SSE_VERSION:-0.1.0}
arch=$(dpkg --print-architecture)

# the nginx ABI this module was built for, as Debian's nginx provides it
abi=$(dpkg-query -W -f='${Provides}' nginx | tr ',' '\n' | grep -o 'nginx-abi-[^ ]*' | head -1)
[ -n "$abi" ] || { echo "deb.sh: cannot tell nginx's ABI (dpkg-query nginx)" >&2; exit 1; }

# shared libraries the module links, as packages
libs=""
for lib in $(ldd "$so" | awk '/=> \// { print $3 }'); do
    pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) || true
    case "$pkg" in ""|libc6) continue ;; esac
    case ",$libs," in *",$pkg,"*) ;; *) libs="$libs${libs:+, }$pkg" ;; esac
done

root="$top/build/deb/root"
rm -rf "$top/build/deb"
mkdir -p "$root/DEBIAN" "$root/usr/lib/nginx/modules" \
         "$root/usr/share/nginx/modules-available" \
         "$root/usr/share/doc/libnginx-mod-http-sse"

install -m 0644 "$so" "$root/usr/lib/nginx/modules/ngx_http_sse_module.so"
echo "load_module modules/ngx_http_sse_module.so;" \
    > "$root/usr/share/nginx/modules-available/mod-http-sse.conf"
gzip -9n -c "$top/README.md" > "$root/usr/share/doc/libnginx-mod-http-sse/README.md.gz"

cat > "$root/DEBIAN/control" <<CTL
Package: libnginx-mod-http-sse
Version: $version
Architecture: $arch
Maintainer: ngx_http_sse_module developers <sse@localhost>
Section: httpd
Priority: optional
Depends: $abi, libc6${libs:+, $libs}
Installed-Size: $(du -k -s "$root" | cut -f1)
Description: Server-Sent Events publish/subscribe hub for nginx
 ngx_http_sse_module turns nginx into a Server-Sent Events hub: backends
 publish with an HTTP POST, browsers subscribe with EventSource, per
 channel, with resume across reconnects, shared by all workers and, with
 Redis, by several servers.
CTL

cat > "$root/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    mkdir -p /etc/nginx/modules-enabled
    ln -sf /usr/share/nginx/modules-available/mod-http-sse.conf \
        /etc/nginx/modules-enabled/50-mod-http-sse.conf
fi
SH
cat > "$root/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = purge ]; then
    rm -f /etc/nginx/modules-enabled/50-mod-http-sse.conf
fi
SH
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"

out="$top/build/libnginx-mod-http-sse_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
