# make deb: the package holds the module and its load_module line, depends
# on the nginx ABI it was built for, and loads: extracted into a scratch
# root (dpkg -x), nginx -t accepts a configuration that uses it.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $top = abs_path(dirname(__FILE__) . '/..');
# a missing module or tool is a failure, not a skip (make test builds the
# module and installs dpkg-dev)
unless (-f "$top/build/ngx_http_sse_module.so") {
    fail('module built (make)');
    done_testing();
    exit;
}
unless (system('command -v dpkg-deb >/dev/null') == 0) {
    fail('dpkg-deb installed (scripts/deps.sh build)');
    done_testing();
    exit;
}

my $deb = `$top/scripts/deb.sh 2>&1`;
chomp $deb;
is($?, 0, 'scripts/deb.sh built a package') or diag($deb);
like($deb, qr{/libnginx-mod-http-sse_[\d.]+_\w+\.deb$}, 'named libnginx-mod-http-sse_<version>_<arch>.deb');

my $info = `dpkg-deb -f '$deb' Package Depends`;
like($info, qr/^Package: libnginx-mod-http-sse$/m, 'package name');
my ($abi) = `dpkg-query -W -f='\${Provides}' nginx` =~ /(nginx-abi-[^\s,]+)/;
like($info, qr/^Depends: .*\Q$abi\E/m, "depends on $abi");
like($info, qr/libcjson1/, 'depends on libcjson1');

my $root = tempdir(CLEANUP => 1);
is(system('dpkg', '-x', $deb, $root), 0, 'dpkg -x into a scratch root');
my $so = "$root/usr/lib/nginx/modules/ngx_http_sse_module.so";
ok(-f $so, 'module under /usr/lib/nginx/modules');
my $conf_line = do {
    open my $fh, '<', "$root/usr/share/nginx/modules-available/mod-http-sse.conf" or die $!;
    local $/; <$fh>;
};
is($conf_line, "load_module modules/ngx_http_sse_module.so;\n", 'mod-http-sse.conf holds the load_module line');

my $prefix = tempdir(CLEANUP => 1);
mkdir "$prefix/conf";
mkdir "$prefix/logs";
open my $fh, '>', "$prefix/conf/nginx.conf" or die $!;
print $fh <<"CONF";
load_module $so;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 64; }
http {
    client_body_temp_path $prefix/tmp;
    proxy_temp_path $prefix/tmp;
    fastcgi_temp_path $prefix/tmp;
    uwsgi_temp_path $prefix/tmp;
    scgi_temp_path $prefix/tmp;
    access_log off;
    sse_zone zone=events:1m;
    server {
        listen 127.0.0.1:1;
        location = /events { sse_subscribe; sse_connected_event connected; }
        location = /publish { sse_publish; }
        location = /status { sse_status; }
    }
}
CONF
close $fh;
my $out = `nginx -t -p '$prefix/' -c conf/nginx.conf -e stderr 2>&1`;
is($?, 0, 'nginx -t loads the packaged module') or diag($out);
like($out, qr/test is successful/, 'configuration with its directives is valid');

done_testing();
