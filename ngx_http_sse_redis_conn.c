
/*
 * A connection to Redis (ngx_http_sse_redis.h), the nginx way: an nginx
 * peer connection (ngx_event_connect_peer) with its own read and write
 * handlers, nginx's OpenSSL for rediss:// (ngx_ssl_create_connection,
 * ngx_ssl_handshake, the certificate and host name checked after it), a
 * timer over the whole set-up (connect, TLS, AUTH, SELECT), and
 * reconnection after a growing, jittered delay.  hiredis only formats
 * commands (redisFormatCommandArgv) and parses replies (redisReader).
 *
 * The set-up: AUTH when the URL has credentials, SELECT for a database
 * other than 0 (not on a subscriber: pub/sub is server-wide), then PING,
 * all pipelined; the connection is up when every one answered well.
 *
 * Also here: redis=URL and the redis_tls_* parameters of sse_zone.
 */


#include "ngx_http_sse_redis.h"


#define NGX_HTTP_SSE_REDIS_CONNECT_TIMEOUT  3000
#define NGX_HTTP_SSE_REDIS_BACKOFF_MIN      100
#define NGX_HTTP_SSE_REDIS_BACKOFF_MAX      5000
#define NGX_HTTP_SSE_REDIS_READ_SIZE        16384
#define NGX_HTTP_SSE_RQUERY_TIMEOUT         3000
#define NGX_HTTP_SSE_REDIS_DRAIN_TIMEOUT    1000

/* rc->state */
#define NGX_HTTP_SSE_RCONN_IDLE             0
#define NGX_HTTP_SSE_RCONN_CONNECTING       1
#define NGX_HTTP_SSE_RCONN_TLS              2
#define NGX_HTTP_SSE_RCONN_SETUP            3
#define NGX_HTTP_SSE_RCONN_UP               4

/* rc->setup[] */
#define NGX_HTTP_SSE_RSETUP_AUTH            0
#define NGX_HTTP_SSE_RSETUP_SELECT          1
#define NGX_HTTP_SSE_RSETUP_PING            2
#define NGX_HTTP_SSE_RSETUP_ROLE            3


static ngx_int_t ngx_http_sse_redis_url(ngx_conf_t *cf,
    ngx_http_sse_redis_peer_t *peer, ngx_str_t *url, const char **err);
static u_char *ngx_http_sse_redis_scheme(ngx_conf_t *cf,
    ngx_http_sse_redis_peer_t *peer, ngx_str_t *url);
static ngx_int_t ngx_http_sse_redis_userinfo(ngx_http_sse_redis_peer_t *peer,
    u_char *p, u_char *at, const char **err);
static ngx_int_t ngx_http_sse_redis_path(ngx_http_sse_redis_peer_t *peer,
    ngx_str_t *path, const char **err);
static ngx_int_t ngx_http_sse_redis_mask(ngx_conf_t *cf,
    ngx_http_sse_redis_peer_t *peer, ngx_str_t *url, u_char *at);
static ngx_int_t ngx_http_sse_redis_decode(ngx_str_t *s);
static ngx_int_t ngx_http_sse_redis_hosts(ngx_conf_t *cf,
    ngx_http_sse_redis_peer_t *peer, ngx_str_t *hosts, in_port_t port,
    const char **err);
#if (NGX_SSL)
static char *ngx_http_sse_redis_tls_conf(ngx_conf_t *cf,
    ngx_http_sse_redis_peer_t *peer, ngx_str_t *zone);
static ngx_int_t ngx_http_sse_redis_tls_file(ngx_conf_t *cf, ngx_str_t *file,
    const char *what, ngx_str_t *zone);
static void ngx_http_sse_rconn_tls(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_rconn_tls_done(ngx_connection_t *c);
#endif

static void ngx_http_sse_rconn_failed(ngx_http_sse_rconn_t *rc,
    const char *err);
static void ngx_http_sse_rconn_free(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_rconn_timer_handler(ngx_event_t *ev);
static void ngx_http_sse_rconn_capture(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);
static void ngx_http_sse_rconn_connecting(ngx_event_t *ev);
static void ngx_http_sse_rconn_setup(ngx_http_sse_rconn_t *rc);
static ngx_int_t ngx_http_sse_rconn_setup_reply(ngx_http_sse_rconn_t *rc,
    redisReply *reply);
static void ngx_http_sse_rconn_up(ngx_http_sse_rconn_t *rc);
static ngx_int_t ngx_http_sse_rconn_append(ngx_http_sse_rconn_t *rc,
    int argc, const char **argv, const size_t *argvlen);
static ngx_int_t ngx_http_sse_rconn_out(ngx_http_sse_rconn_t *rc,
    u_char *data, size_t len);
static ngx_http_sse_rcmd_t *ngx_http_sse_rconn_cmd(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_rconn_reply_pt fn, void *data);
static ngx_int_t ngx_http_sse_rconn_put(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_rcmd_t *cmd);
static void ngx_http_sse_rconn_flush(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_rconn_unhold(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_rconn_move(ngx_http_sse_rconn_t *rc);
static ngx_uint_t ngx_http_sse_rconn_count(ngx_queue_t *cmds);
static void ngx_http_sse_rconn_read_handler(ngx_event_t *ev);
static void ngx_http_sse_rconn_write_handler(ngx_event_t *ev);
static void ngx_http_sse_rconn_reply(ngx_http_sse_rconn_t *rc,
    redisReply *reply);
static void ngx_http_sse_rconn_sent(ngx_http_sse_rconn_t *rc);
static const char *ngx_http_sse_rconn_error(ngx_http_sse_rconn_t *rc,
    const char *what);
static const char *ngx_http_sse_rconn_what(ngx_http_sse_rconn_t *rc,
    ngx_connection_t *c);

static ngx_int_t ngx_http_sse_rfind_add(ngx_http_sse_rfind_t *f,
    ngx_http_sse_rconn_t *rc);
static ngx_uint_t ngx_http_sse_rfind_remove(ngx_http_sse_rfind_t *f,
    ngx_http_sse_rconn_t *rc);
static ngx_int_t ngx_http_sse_rfind_pick(ngx_http_sse_rfind_t *f,
    ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_rfind_lost(ngx_http_sse_rfind_t *f);
static void ngx_http_sse_rfind_switch(ngx_http_sse_rfind_t *f,
    const char *why, u_char *old);
static void ngx_http_sse_rfind_wake(ngx_http_sse_rfind_t *f, ngx_uint_t all);
static void ngx_http_sse_rquery_attach(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_rquery_detach(ngx_http_sse_rconn_t *rc);
static ngx_int_t ngx_http_sse_rquery_pick(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_rquery_lost(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_rquery_asked(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_rquery_timeout(ngx_event_t *ev);
static const char *ngx_http_sse_rquery_connected(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_rquery_failed(ngx_http_sse_rconn_t *rc,
    const char *err);
static void ngx_http_sse_rquery_answer(ngx_http_sse_rconn_t *rc,
    void *reply, void *privdata);


/* the worker is shutting down: no reconnection, no completion */
static ngx_uint_t  ngx_http_sse_rconn_stopping;


/*
 * redis=URL and redis_tls_ca=, redis_tls_verify=, redis_tls_cert=,
 * redis_tls_key= of sse_zone, in any order; checked together by
 * ngx_http_sse_redis_peer_done.
 */

char *
ngx_http_sse_redis_peer_conf(ngx_conf_t *cf, ngx_http_sse_redis_peer_t *peer,
    ngx_str_t *value)
{
    ngx_str_t    v;
    const char  *err;

    if (ngx_strncmp(value->data, "redis=", 6) == 0) {

        if (peer->url.data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate \"%V\" in sse_zone", value);
            return NGX_CONF_ERROR;
        }

        v.data = value->data + 6;
        v.len = value->len - 6;

        err = NULL;

        if (ngx_http_sse_redis_url(cf, peer, &v, &err) != NGX_OK) {
            if (err) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%s in redis URL \"%V\" in sse_zone",
                                   err, value);
            }

            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "redis_tls_ca=", 13) == 0) {
        peer->tls_ca.data = value->data + 13;
        peer->tls_ca.len = value->len - 13;

    } else if (ngx_strncmp(value->data, "redis_tls_cert=", 15) == 0) {
        peer->tls_cert.data = value->data + 15;
        peer->tls_cert.len = value->len - 15;

    } else if (ngx_strncmp(value->data, "redis_tls_key=", 14) == 0) {
        peer->tls_key.data = value->data + 14;
        peer->tls_key.len = value->len - 14;

    } else if (ngx_strcmp(value->data, "redis_tls_verify=on") == 0) {
        peer->tls_verify = 1;

    } else if (ngx_strcmp(value->data, "redis_tls_verify=off") == 0) {
        peer->tls_verify = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in sse_zone", value);
        return NGX_CONF_ERROR;
    }

    if (value->data[value->len - 1] == '=') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty \"%V\" in sse_zone", value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* all parameters seen: the TLS context */

char *
ngx_http_sse_redis_peer_done(ngx_conf_t *cf, ngx_http_sse_redis_peer_t *peer,
    ngx_str_t *zone)
{
    if (peer->url.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis_tls_* parameters of sse_zone \"%V\" "
                           "need redis=rediss://...", zone);
        return NGX_CONF_ERROR;
    }

    peer->zone = *zone;

    if (peer->tls_verify == NGX_CONF_UNSET) {
        peer->tls_verify = 1;
    }

    if (!peer->tls && (peer->tls_ca.len || peer->tls_cert.len
                       || peer->tls_key.len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis_tls_* parameters of sse_zone \"%V\" "
                           "need a rediss:// URL, not \"%V\"",
                           zone, &peer->url);
        return NGX_CONF_ERROR;
    }

    if (peer->type == NGX_HTTP_SSE_REDIS_CLUSTER && zone->data[0] == '}') {
        /* "sse:{}...": no hash tag, the zone's keys in different slots */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "sse_zone \"%V\": a zone name that starts with "
                           "\"}\" cannot be used with Redis Cluster", zone);
        return NGX_CONF_ERROR;
    }

    if ((peer->tls_cert.len == 0) != (peer->tls_key.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "sse_zone \"%V\": redis_tls_cert and "
                           "redis_tls_key go together", zone);
        return NGX_CONF_ERROR;
    }

    if (!peer->tls) {
        return NGX_CONF_OK;
    }

#if (NGX_SSL)
    return ngx_http_sse_redis_tls_conf(cf, peer, zone);
#else
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "sse_zone \"%V\": rediss:// needs nginx built with "
                       "OpenSSL", zone);
    return NGX_CONF_ERROR;
#endif
}


/*
 * SCHEME://[USER[:PASSWORD]@]HOST[:PORT][,HOST[:PORT]]...[/PATH]; on
 * error *err says why (NULL: already logged)
 */

static ngx_int_t
ngx_http_sse_redis_url(ngx_conf_t *cf, ngx_http_sse_redis_peer_t *peer,
    ngx_str_t *url, const char **err)
{
    u_char     *p, *last, *at, *slash;
    in_port_t   port;
    ngx_str_t   hosts, path;

    p = ngx_http_sse_redis_scheme(cf, peer, url);

    if (p == NULL) {
        return NGX_ERROR;
    }

    last = url->data + url->len;

    /* credentials: up to the last "@" (a password has its "@" encoded) */

    for (at = last - 1; at >= p && *at != '@'; at--) { /* void */ }

    if (at >= p) {
        if (ngx_http_sse_redis_userinfo(peer, p, at, err) != NGX_OK) {
            return NGX_ERROR;
        }

        p = at + 1;

    } else {
        at = NULL;
    }

    /* hosts, then the path */

    slash = ngx_strlchr(p, last, '/');

    hosts.data = p;
    hosts.len = (slash ? slash : last) - p;

    if (slash) {
        path.data = slash + 1;
        path.len = last - slash - 1;

    } else {
        ngx_str_null(&path);
    }

    if (ngx_http_sse_redis_path(peer, &path, err) != NGX_OK) {
        return NGX_ERROR;
    }

    if (hosts.len == 0) {
        *err = "no host";
        return NGX_ERROR;
    }

    if (peer->type == NGX_HTTP_SSE_REDIS_SINGLE
        && ngx_strlchr(hosts.data, hosts.data + hosts.len, ',')
        && hosts.data[0] != '[')
    {
        *err = "several hosts (for Sentinel or Cluster, use "
               "redis+sentinel:// or redis+cluster://)";
        return NGX_ERROR;
    }

    port = (peer->type == NGX_HTTP_SSE_REDIS_SENTINEL) ? 26379 : 6379;

    if (ngx_http_sse_redis_hosts(cf, peer, &hosts, port, err) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_sse_redis_mask(cf, peer, url, at);
}


/* the scheme sets the type and TLS; the text after "://", or NULL */

static u_char *
ngx_http_sse_redis_scheme(ngx_conf_t *cf, ngx_http_sse_redis_peer_t *peer,
    ngx_str_t *url)
{
    ngx_uint_t  i;

    static struct {
        ngx_str_t    scheme;
        ngx_uint_t   type;
        ngx_uint_t   tls;
    } schemes[] = {
        { ngx_string("redis://"), NGX_HTTP_SSE_REDIS_SINGLE, 0 },
        { ngx_string("rediss://"), NGX_HTTP_SSE_REDIS_SINGLE, 1 },
        { ngx_string("redis+sentinel://"), NGX_HTTP_SSE_REDIS_SENTINEL, 0 },
        { ngx_string("rediss+sentinel://"), NGX_HTTP_SSE_REDIS_SENTINEL, 1 },
        { ngx_string("redis+cluster://"), NGX_HTTP_SSE_REDIS_CLUSTER, 0 },
        { ngx_string("rediss+cluster://"), NGX_HTTP_SSE_REDIS_CLUSTER, 1 }
    };

    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (url->len >= schemes[i].scheme.len
            && ngx_strncasecmp(url->data, schemes[i].scheme.data,
                               schemes[i].scheme.len) == 0)
        {
            peer->type = schemes[i].type;
            peer->tls = schemes[i].tls;
            return url->data + schemes[i].scheme.len;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid redis URL \"redis=%V\" in sse_zone, use "
                       "redis://host:port[/db], rediss://..., "
                       "redis+sentinel://..., rediss+sentinel://..., "
                       "redis+cluster://... or rediss+cluster://...",
                       url);
    return NULL;
}


/* USER[:PASSWORD] from p to at (the "@"), decoded in place */

static ngx_int_t
ngx_http_sse_redis_userinfo(ngx_http_sse_redis_peer_t *peer, u_char *p,
    u_char *at, const char **err)
{
    u_char      *q;
    ngx_uint_t   colon;

    peer->user.data = p;
    peer->user.len = at - p;

    q = ngx_strlchr(p, at, ':');

    if (q) {
        peer->password.data = q + 1;
        peer->password.len = at - q - 1;
        peer->user.len = q - p;
        colon = 1;

    } else {
        colon = 0;
    }

    if (ngx_http_sse_redis_decode(&peer->user) != NGX_OK
        || ngx_http_sse_redis_decode(&peer->password) != NGX_OK)
    {
        *err = "invalid percent-encoding of the credentials";
        return NGX_ERROR;
    }

    if (!colon || peer->password.len == 0) {
        *err = peer->user.len ? "a user without a password"
                              : "an empty password";
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* after the hosts: [DB], SERVICE[/DB] (Sentinel), nothing (Cluster) */

static ngx_int_t
ngx_http_sse_redis_path(ngx_http_sse_redis_peer_t *peer, ngx_str_t *path,
    const char **err)
{
    u_char     *q;
    ngx_int_t   db;

    switch (peer->type) {

    case NGX_HTTP_SSE_REDIS_SENTINEL:

        if (path->len == 0) {
            *err = "no service name (redis+sentinel://host/SERVICE[/DB])";
            return NGX_ERROR;
        }

        q = ngx_strlchr(path->data, path->data + path->len, '/');

        peer->service.data = path->data;
        peer->service.len = (q ? q : path->data + path->len) - path->data;

        if (peer->service.len == 0) {
            *err = "no service name (redis+sentinel://host/SERVICE[/DB])";
            return NGX_ERROR;
        }

        if (q) {
            path->len = path->data + path->len - q - 1;
            path->data = q + 1;

        } else {
            path->len = 0;
        }

        break;

    case NGX_HTTP_SSE_REDIS_CLUSTER:

        if (path->len) {
            *err = "a database number (Redis Cluster has database 0 only)";
            return NGX_ERROR;
        }

        break;
    }

    db = 0;

    if (path->len) {
        db = ngx_atoi(path->data, path->len);

        if (db == NGX_ERROR) {
            *err = "invalid database number";
            return NGX_ERROR;
        }
    }

    peer->db = db;

    return NGX_OK;
}


/* for the logs: the URL without its password (at: its "@", or NULL) */

static ngx_int_t
ngx_http_sse_redis_mask(ngx_conf_t *cf, ngx_http_sse_redis_peer_t *peer,
    ngx_str_t *url, u_char *at)
{
    u_char  *p, *start;

    if (at == NULL) {
        peer->url = *url;
        return NGX_OK;
    }

    peer->url.data = ngx_pnalloc(cf->pool, url->len + sizeof(":***") - 1);
    if (peer->url.data == NULL) {
        return NGX_ERROR;
    }

    /* the scheme, then the user as decoded (in place) */

    start = ngx_strlchr(url->data, url->data + url->len, ':') + 3;

    p = ngx_cpymem(peer->url.data, url->data, start - url->data);
    p = ngx_cpymem(p, peer->user.data, peer->user.len);
    p = ngx_cpymem(p, ":***", sizeof(":***") - 1);
    p = ngx_cpymem(p, at, url->data + url->len - at);

    peer->url.len = p - peer->url.data;

    return NGX_OK;
}


/* percent-decoding in place */

static ngx_int_t
ngx_http_sse_redis_decode(ngx_str_t *s)
{
    u_char      *p, *d, *last;
    ngx_int_t    hi, lo;

    if (s->len == 0) {
        /* nothing to decode, and s->data may be NULL */
        return NGX_OK;
    }

    p = s->data;
    d = s->data;
    last = s->data + s->len;

    while (p < last) {

        if (*p != '%') {
            *d++ = *p++;
            continue;
        }

        if (last - p < 3) {
            return NGX_ERROR;
        }

        hi = ngx_hextoi(p + 1, 1);
        lo = ngx_hextoi(p + 2, 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        *d++ = (u_char) (hi * 16 + lo);
        p += 3;
    }

    s->len = d - s->data;

    return NGX_OK;
}


/* each HOST[:PORT] resolved now: a worker never waits for DNS */

static ngx_int_t
ngx_http_sse_redis_hosts(ngx_conf_t *cf, ngx_http_sse_redis_peer_t *peer,
    ngx_str_t *hosts, in_port_t port, const char **err)
{
    u_char                     *p, *q, *last;
    ngx_url_t                   u;
    ngx_uint_t                  i;
    ngx_http_sse_redis_addr_t  *a;

    if (ngx_array_init(&peer->addrs, cf->pool, 2,
                       sizeof(ngx_http_sse_redis_addr_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = hosts->data;
    last = hosts->data + hosts->len;

    while (p < last) {

        q = (*p == '[') ? ngx_strlchr(p, last, ']') : p;

        q = ngx_strlchr(q ? q : p, last, ',');

        if (q == NULL) {
            q = last;
        }

        if (q == p) {
            *err = "an empty host";
            return NGX_ERROR;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url.data = p;
        u.url.len = q - p;
        u.default_port = port;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
            *err = u.err ? u.err : "invalid host";
            return NGX_ERROR;
        }

        if (u.naddrs == 0) {
            *err = "host not found";
            return NGX_ERROR;
        }

        /* "[::1]": the certificate names the address without brackets */

        if (u.family == AF_INET6 && u.host.len > 2 && u.host.data[0] == '[') {
            u.host.data++;
            u.host.len -= 2;
        }

        for (i = 0; i < u.naddrs; i++) {
            a = ngx_array_push(&peer->addrs);
            if (a == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(a, sizeof(ngx_http_sse_redis_addr_t));

            a->host.data = ngx_pnalloc(cf->pool, u.host.len + 1);
            if (a->host.data == NULL) {
                return NGX_ERROR;
            }

            a->host.len = u.host.len;
            (void) ngx_cpystrn(a->host.data, u.host.data, u.host.len + 1);

            a->name = u.addrs[i].name;
            a->sockaddr = u.addrs[i].sockaddr;
            a->socklen = u.addrs[i].socklen;
            a->literal = (u.family == AF_INET6
                          || ngx_inet_addr(u.host.data, u.host.len)
                             != INADDR_NONE);
        }

        p = (q < last) ? q + 1 : last;

        if (q + 1 == last) {
            *err = "an empty host";
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


#if (NGX_SSL)

/* the zone's TLS context, made once at configuration */

static char *
ngx_http_sse_redis_tls_conf(ngx_conf_t *cf, ngx_http_sse_redis_peer_t *peer,
    ngx_str_t *zone)
{
    ngx_ssl_t           *ssl;
    ngx_pool_cleanup_t  *cln;

    ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    ssl->log = cf->log;

    if (ngx_ssl_create(ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ssl;

    if (peer->tls_cert.len) {
        if (ngx_http_sse_redis_tls_file(cf, &peer->tls_cert,
                                        "redis_tls_cert", zone)
            != NGX_OK
            || ngx_http_sse_redis_tls_file(cf, &peer->tls_key,
                                           "redis_tls_key", zone)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (ngx_ssl_certificate(cf, ssl, &peer->tls_cert, &peer->tls_key,
                                NULL)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (peer->tls_ca.len) {
        if (ngx_http_sse_redis_tls_file(cf, &peer->tls_ca, "redis_tls_ca",
                                        zone)
            != NGX_OK
            || ngx_ssl_trusted_certificate(cf, ssl, &peer->tls_ca, 8)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

    } else if (SSL_CTX_set_default_verify_paths(ssl->ctx) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "sse_zone \"%V\": SSL_CTX_set_default_verify_paths() "
                      "failed", zone);
        return NGX_CONF_ERROR;
    }

    peer->ssl = ssl;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_sse_redis_tls_file(ngx_conf_t *cf, ngx_str_t *file,
    const char *what, ngx_str_t *zone)
{
    ngx_file_info_t  fi;

    if (ngx_conf_full_name(cf->cycle, file, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_file_info(file->data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "sse_zone \"%V\": %s \"%V\" cannot be read",
                           zone, what, file);
        return NGX_ERROR;
    }

    return NGX_OK;
}

#endif


void
ngx_http_sse_rconn_init(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_redis_peer_t *peer, ngx_log_t *log)
{
    rc->peer = peer;
    rc->log = log;

    rc->timer.handler = ngx_http_sse_rconn_timer_handler;
    rc->timer.data = rc;
    rc->timer.log = log;
    rc->timer.cancelable = 1;

    ngx_queue_init(&rc->waiting);
    ngx_queue_init(&rc->held);
    ngx_queue_init(&rc->free);

    /* a data connection of a Sentinel or Cluster URL: led by a query */

    if (peer->finder && !rc->lookup) {
        ngx_http_sse_rquery_attach(rc);
    }
}


void
ngx_http_sse_rconn_exiting(ngx_uint_t exiting)
{
    ngx_http_sse_rconn_stopping = exiting;
}


/*
 * IP and PORT as a server names them (a sentinel, CLUSTER SLOTS) into a
 * node: NGX_OK, changed; NGX_DECLINED, the same as before; NGX_ERROR, not
 * an IP address and port
 */

ngx_int_t
ngx_http_sse_redis_node_set(ngx_http_sse_redis_node_t *node, u_char *ip,
    size_t iplen, u_char *port, size_t portlen)
{
    size_t           len;
    in_addr_t        inaddr;
    ngx_int_t        n;
    ngx_sockaddr_t   sa;
#if (NGX_HAVE_INET6)
    u_char           inaddr6[16];
#endif

    n = ngx_atoi(port, portlen);

    if (n < 1 || n > 65535 || iplen > NGX_SOCKADDR_STRLEN - 8) {
        return NGX_ERROR;
    }

    ngx_memzero(&sa, sizeof(ngx_sockaddr_t));

    inaddr = ngx_inet_addr(ip, iplen);

    if (inaddr != INADDR_NONE) {
        sa.sockaddr_in.sin_family = AF_INET;
        sa.sockaddr_in.sin_addr.s_addr = inaddr;
        len = sizeof(struct sockaddr_in);

#if (NGX_HAVE_INET6)
    } else if (ngx_inet6_addr(ip, iplen, inaddr6) == NGX_OK) {
        sa.sockaddr_in6.sin6_family = AF_INET6;
        ngx_memcpy(sa.sockaddr_in6.sin6_addr.s6_addr, inaddr6, 16);
        len = sizeof(struct sockaddr_in6);
#endif

    } else {
        return NGX_ERROR;
    }

    ngx_inet_set_port(&sa.sockaddr, (in_port_t) n);

    if (node->addr.sockaddr && node->addr.socklen == len
        && ngx_memcmp(&node->sockaddr, &sa, len) == 0)
    {
        return NGX_DECLINED;
    }

    node->sockaddr = sa;
    (void) ngx_cpystrn(node->host, ip, iplen + 1);

    node->addr.sockaddr = &node->sockaddr.sockaddr;
    node->addr.socklen = len;
    node->addr.host.data = node->host;
    node->addr.host.len = iplen;
    node->addr.name.data = node->name;
    node->addr.name.len = ngx_sock_ntop(&node->sockaddr.sockaddr, len,
                                        node->name, NGX_SOCKADDR_STRLEN, 1);
    node->name[node->addr.name.len] = '\0';
    node->addr.literal = 1;

    return NGX_OK;
}


/*
 * The data connections a finder leads (ngx_http_sse_rfind_t): a finder
 * keeps where the primary is, these connect to it or wait until it is
 * known, and are moved when it changes
 */

static ngx_int_t
ngx_http_sse_rfind_add(ngx_http_sse_rfind_t *f, ngx_http_sse_rconn_t *rc)
{
    if (f->nusers == NGX_HTTP_SSE_RFIND_USERS) {
        ngx_log_error(NGX_LOG_ALERT, rc->log, 0,
                      "sse_zone \"%V\": too many connections for one "
                      "redis URL", &rc->peer->zone);
        return NGX_ERROR;
    }

    f->users[f->nusers++] = rc;

    return NGX_OK;
}


/* the users left */

static ngx_uint_t
ngx_http_sse_rfind_remove(ngx_http_sse_rfind_t *f, ngx_http_sse_rconn_t *rc)
{
    ngx_uint_t  i;

    for (i = 0; i < f->nusers; i++) {
        if (f->users[i] == rc) {
            f->users[i] = f->users[--f->nusers];
            f->users[f->nusers] = NULL;
            break;
        }
    }

    f->waiting = 0;

    return f->nusers;
}


/* rc->addr: the primary, NGX_OK; or NGX_AGAIN: rc waits to be woken */

static ngx_int_t
ngx_http_sse_rfind_pick(ngx_http_sse_rfind_t *f, ngx_http_sse_rconn_t *rc)
{
    ngx_uint_t  i;

    if (f->known) {
        rc->addr = &f->primary.addr;
        return NGX_OK;
    }

    for (i = 0; i < f->nusers; i++) {
        if (f->users[i] == rc) {
            f->waiting |= (ngx_uint_t) 1 << i;
        }
    }

    return NGX_AGAIN;
}


/* a user failed: the primary may have moved, it is asked for again */

static void
ngx_http_sse_rfind_lost(ngx_http_sse_rfind_t *f)
{
    if (!f->switching) {
        f->known = 0;
    }
}


/* the primary changed: the users connected to the old one go and come */

static void
ngx_http_sse_rfind_switch(ngx_http_sse_rfind_t *f, const char *why,
    u_char *old)
{
    ngx_uint_t             i;
    ngx_http_sse_rconn_t  *rc;

    f->switching = 1;

    for (i = 0; i < f->nusers; i++) {
        rc = f->users[i];

        if (rc->c == NULL) {
            continue;
        }

        if (rc->keep && !rc->moving) {
            /*
             * its replies are awaited (a MOVED one sends its command to
             * the new primary), new commands held; it moves when the last
             * reply is in, or after 1 s, what the old primary has left
             * unanswered (NULL: 503)
             */

            if (ngx_queue_empty(&rc->waiting)) {
                ngx_http_sse_rconn_move(rc);
                continue;
            }

            if (!rc->draining) {
                rc->draining = 1;
                ngx_add_timer(&rc->timer, NGX_HTTP_SSE_REDIS_DRAIN_TIMEOUT);

                /* its address, for the log if it stays silent */
                (void) ngx_cpystrn(rc->error, old, sizeof(rc->error));
            }

            continue;
        }

        ngx_snprintf(rc->error, sizeof(rc->error) - 1, "%s %V%Z",
                     why, &f->primary.addr.name);
        rc->error[sizeof(rc->error) - 1] = '\0';
        ngx_http_sse_rconn_drop(rc, (char *) rc->error);
    }

    f->switching = 0;

    ngx_http_sse_rfind_wake(f, 1);
}


/* waiting users connect; all: the retrying ones too, at once */

static void
ngx_http_sse_rfind_wake(ngx_http_sse_rfind_t *f, ngx_uint_t all)
{
    ngx_uint_t             i, bit;
    ngx_http_sse_rconn_t  *rc;

    if (ngx_exiting || ngx_terminate || ngx_quit
        || ngx_http_sse_rconn_stopping)
    {
        return;
    }

    for (i = 0; i < f->nusers; i++) {
        rc = f->users[i];
        bit = (ngx_uint_t) 1 << i;

        if (!(f->waiting & bit) && !(all && rc->c == NULL)) {
            continue;
        }

        f->waiting &= ~bit;

        if (rc->c) {
            continue;
        }

        if (all) {
            /* a new primary: no back-off left from the old one */

            if (rc->timer.timer_set) {
                ngx_del_timer(&rc->timer);
            }

            rc->backoff = 0;
        }

        ngx_http_sse_rconn_connect(rc);

        if (!f->known) {
            /* that connection failed already and asks again */
            return;
        }
    }
}


/* the same node elsewhere: its address points into the copy */

void
ngx_http_sse_redis_node_copy(ngx_http_sse_redis_node_t *dst,
    ngx_http_sse_redis_node_t *src)
{
    *dst = *src;

    dst->addr.sockaddr = &dst->sockaddr.sockaddr;
    dst->addr.host.data = dst->host;
    dst->addr.name.data = dst->name;
}


/*
 * A finder's question (ngx_http_sse_rquery_t): a data connection of a
 * Sentinel or Cluster URL is led by the worker's query, made with the
 * first of them with the finder's own state after it
 */

static void
ngx_http_sse_rquery_attach(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_rquery_t      *q;
    ngx_http_sse_redis_peer_t  *peer;

    peer = rc->peer;

    rc->pick = ngx_http_sse_rquery_pick;

    /* a reply may send a command elsewhere (Cluster: MOVED, ASK) */
    rc->keep = (peer->finder->redirect && !rc->subscriber);

    q = peer->query;

    if (q == NULL) {
        q = ngx_calloc(peer->finder->size, rc->log);
        if (q == NULL) {
            /* pick finds none: the connection is retried, and fails */
            return;
        }

        q->peer = peer;
        q->log = rc->log;

        q->timer.handler = ngx_http_sse_rquery_timeout;
        q->timer.data = q;
        q->timer.log = q->log;
        q->timer.cancelable = 1;

        q->conn.lookup = 1;

        ngx_http_sse_rconn_init(&q->conn, peer, q->log);

        q->conn.connected = ngx_http_sse_rquery_connected;
        q->conn.failed = ngx_http_sse_rquery_failed;
        q->conn.data = q;

        peer->finder->init(q);

        peer->query = q;
    }

    (void) ngx_http_sse_rfind_add(&q->find, rc);
}


/* the worker closes its connection: the last one closes the query */

static void
ngx_http_sse_rquery_detach(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_rquery_t  *q;

    q = rc->peer->query;

    if (q == NULL || ngx_http_sse_rfind_remove(&q->find, rc)) {
        return;
    }

    if (rc->peer->finder->done) {
        rc->peer->finder->done(q);
    }

    ngx_http_sse_rconn_close(&q->conn);

    ngx_http_sse_rquery_asked(q);

    rc->peer->query = NULL;

    ngx_free(q);
}


/* a data connection's address: the primary, or NGX_AGAIN while asked */

static ngx_int_t
ngx_http_sse_rquery_pick(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_rquery_t  *q;

    q = rc->peer->query;

    if (q == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_sse_rfind_pick(&q->find, rc) == NGX_OK) {
        return NGX_OK;
    }

    ngx_http_sse_rquery_ask(q);

    return NGX_AGAIN;
}


/* a data connection failed: the primary may have moved */

static void
ngx_http_sse_rquery_lost(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_rquery_t  *q;

    q = rc->peer->query;

    if (q == NULL) {
        return;
    }

    ngx_http_sse_rfind_lost(&q->find);

    if (rc->peer->finder->lost) {
        rc->peer->finder->lost(q);
    }
}


void
ngx_http_sse_rquery_ask(ngx_http_sse_rquery_t *q)
{
    if (!q->started) {
        q->started = 1;

        /* the query asks once connected */
        ngx_http_sse_rconn_connect(&q->conn);

        if (q->peer->finder->start) {
            q->peer->finder->start(q);
        }

        return;
    }

    if (q->asking) {
        /* the answer comes, or the timer moves on to the next server */
        return;
    }

    if (ngx_http_sse_rconn_send(&q->conn, ngx_http_sse_rquery_answer, q,
                                q->argc, q->argv, q->argvlen)
        == NGX_OK)
    {
        q->asking = 1;
        ngx_add_timer(&q->timer, NGX_HTTP_SSE_RQUERY_TIMEOUT);
    }

    /* not connected: asked when the query connection is up */
}


/* the question is answered, or its connection gone */

static void
ngx_http_sse_rquery_asked(ngx_http_sse_rquery_t *q)
{
    q->asking = 0;

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }
}


/*
 * A server that took the question and does not answer (it accepted the
 * connection and answered PING, then hangs): the connection is dropped,
 * and goes to the next.  One that does not even answer PING is the
 * connection's own set-up timeout.
 */

static void
ngx_http_sse_rquery_timeout(ngx_event_t *ev)
{
    ngx_http_sse_rquery_t  *q;

    q = ev->data;

    if (q->asking && !ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_http_sse_rconn_drop(&q->conn, q->peer->finder->late);
    }
}


static const char *
ngx_http_sse_rquery_connected(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_rquery_t  *q;

    q = rc->data;

    ngx_http_sse_rquery_asked(q);
    ngx_http_sse_rquery_ask(q);

    return NULL;
}


static void
ngx_http_sse_rquery_failed(ngx_http_sse_rconn_t *rc, const char *err)
{
    ngx_http_sse_rquery_t  *q;

    q = rc->data;

    ngx_http_sse_rquery_asked(q);
    ngx_http_sse_rquery_failing(q, rc, err);
}


/* one line when the servers stop answering, none per retry */

void
ngx_http_sse_rquery_failing(ngx_http_sse_rquery_t *q,
    ngx_http_sse_rconn_t *rc, const char *err)
{
    if (q->failing || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    q->failing = 1;

    ngx_log_error(NGX_LOG_ERR, q->log, 0,
                  "sse_zone \"%V\": redis %V: %s %V failed (%s), "
                  "trying the next",
                  &q->peer->zone, &q->peer->url, q->peer->finder->server,
                  &rc->addr->name, err);
}


/* the answer: the finder takes the primary from it */

static void
ngx_http_sse_rquery_answer(ngx_http_sse_rconn_t *rc, void *reply,
    void *privdata)
{
    const char                 *why;
    redisReply                 *r;
    ngx_http_sse_rquery_t      *q;
    ngx_http_sse_redis_node_t   primary;

    q = privdata;
    r = reply;

    ngx_http_sse_rquery_asked(q);

    if (r == NULL) {
        return;
    }

    ngx_http_sse_rconn_replied(rc);

    if (r->type == REDIS_REPLY_ERROR) {
        ngx_snprintf(rc->error, sizeof(rc->error) - 1, "%s%Z", r->str);
        rc->error[sizeof(rc->error) - 1] = '\0';
        ngx_http_sse_rconn_drop(rc, (char *) rc->error);
        return;
    }

    primary.addr.sockaddr = NULL;

    why = q->peer->finder->answer(q, r, &primary);

    if (why) {
        ngx_http_sse_rconn_drop(rc, why);
        return;
    }

    if (q->failing) {
        q->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, q->log, 0,
                      "sse_zone \"%V\": redis %V: %s %V answers",
                      &q->peer->zone, &q->peer->url, q->peer->finder->server,
                      &rc->addr->name);
    }

    ngx_http_sse_rquery_set(q, &primary);
}


/*
 * The primary, from an answer (or Sentinel's +switch-master).  Changed: the
 * finder logs it, the data connections to the old one are dropped; the
 * ones waiting for it connect now.
 */

void
ngx_http_sse_rquery_set(ngx_http_sse_rquery_t *q,
    ngx_http_sse_redis_node_t *primary)
{
    u_char                 old[NGX_SOCKADDR_STRLEN + 1];
    ngx_http_sse_rfind_t  *f;

    f = &q->find;

    f->known = 1;

    if (f->found && f->primary.addr.socklen == primary->addr.socklen
        && ngx_memcmp(&f->primary.sockaddr, &primary->sockaddr,
                      primary->addr.socklen)
           == 0)
    {
        ngx_http_sse_rfind_wake(f, 0);
        return;
    }

    (void) ngx_cpystrn(old, f->primary.name, sizeof(old));

    ngx_http_sse_redis_node_copy(&f->primary, primary);

    if (!f->found) {
        f->found = 1;
        q->peer->finder->found(q, NULL);
        ngx_http_sse_rfind_wake(f, 1);
        return;
    }

    q->peer->finder->found(q, old);

    ngx_http_sse_rfind_switch(f, q->peer->finder->moved, old);
}


void
ngx_http_sse_rconn_connect(ngx_http_sse_rconn_t *rc)
{
    ngx_int_t                    n;
    ngx_pool_t                  *pool;
    ngx_connection_t            *c;
    ngx_peer_connection_t        pc;
    ngx_http_sse_redis_addr_t   *addrs;

    if (rc->pick) {
        n = rc->pick(rc);

        if (n == NGX_AGAIN) {
            /* the hook connects again when it knows where */
            rc->state = NGX_HTTP_SSE_RCONN_IDLE;
            return;
        }

        if (n != NGX_OK) {
            ngx_http_sse_rconn_failed(rc, "no server found");
            return;
        }

    } else {
        addrs = rc->peer->addrs.elts;
        rc->addr = &addrs[rc->next % rc->peer->addrs.nelts];
    }

    rc->detail[0] = '\0';

    /* nginx's messages about this socket are kept for ours */

    rc->clog = *rc->log;
    rc->clog.log_level = NGX_LOG_INFO;
    rc->clog.writer = ngx_http_sse_rconn_capture;
    rc->clog.wdata = rc;
    rc->clog.handler = NULL;
    rc->clog.action = NULL;
    rc->clog.next = NULL;

    ngx_memzero(&pc, sizeof(ngx_peer_connection_t));

    pc.sockaddr = rc->addr->sockaddr;
    pc.socklen = rc->addr->socklen;
    pc.name = &rc->addr->name;
    pc.get = ngx_event_get_peer;
    pc.log = &rc->clog;
    pc.log_error = NGX_ERROR_ERR;

    /* a peer gone without a word is noticed in about a minute */
    pc.so_keepalive = 1;

    n = ngx_event_connect_peer(&pc);

    if (n == NGX_ERROR || n == NGX_BUSY || n == NGX_DECLINED) {
        ngx_http_sse_rconn_failed(rc,
                                  ngx_http_sse_rconn_error(rc,
                                                       "connection failed"));
        return;
    }

    c = pc.connection;

    pool = ngx_create_pool(1024, rc->log);
    if (pool == NULL) {
        ngx_close_connection(c);
        ngx_http_sse_rconn_failed(rc, "out of memory");
        return;
    }

    c->pool = pool;
    c->data = rc;
    c->read->handler = ngx_http_sse_rconn_connecting;
    c->write->handler = ngx_http_sse_rconn_connecting;

    rc->c = c;
    rc->state = NGX_HTTP_SSE_RCONN_CONNECTING;

    rc->reader = redisReaderCreate();
    if (rc->reader == NULL) {
        ngx_http_sse_rconn_failed(rc, "out of memory");
        return;
    }

    ngx_add_timer(&rc->timer, NGX_HTTP_SSE_REDIS_CONNECT_TIMEOUT);

    if (n == NGX_OK) {
        ngx_http_sse_rconn_connecting(c->write);
    }
}


/* nginx's own error lines on this socket: the last one says what failed */

static void
ngx_http_sse_rconn_capture(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    ngx_http_sse_rconn_t  *rc = log->wdata;

    u_char  *p, *last;

    if (level > NGX_LOG_INFO) {
        return;
    }

    last = buf + len;

    while (last > buf && (last[-1] == LF || last[-1] == CR)) {
        last--;
    }

    /* "TIME [level] PID#TID: *N message" */

    p = ngx_strlchr(buf, last, '#');
    p = p ? ngx_strlchr(p, last, ':') : NULL;

    if (p == NULL || last - p < 2) {
        return;
    }

    p += 2;

    if (p < last && *p == '*') {
        p = ngx_strlchr(p, last, ' ');

        if (p == NULL) {
            return;
        }

        p++;
    }

    len = ngx_min((size_t) (last - p), sizeof(rc->detail) - 1);

    if (level <= NGX_LOG_ALERT) {
        /* what cannot happen is not kept for later */
        ngx_log_error(level, rc->log, 0, "%*s", len, p);
    }

    ngx_memcpy(rc->detail, p, len);
    rc->detail[len] = '\0';
}


/* "what: nginx's last message", or just "what" */

static const char *
ngx_http_sse_rconn_error(ngx_http_sse_rconn_t *rc, const char *what)
{
    if (rc->detail[0] == '\0') {
        return what;
    }

    ngx_snprintf(rc->error, sizeof(rc->error) - 1, "%s: %s%Z",
                 what, rc->detail);
    rc->error[sizeof(rc->error) - 1] = '\0';

    return (char *) rc->error;
}


/*
 * A TLS session that fails before Redis answered anything was refused at
 * the TLS level (e.g. Redis wants a client certificate: with TLS 1.3 the
 * client learns it on its first read or write)
 */

static const char *
ngx_http_sse_rconn_what(ngx_http_sse_rconn_t *rc, ngx_connection_t *c)
{
    if (c->ssl && rc->state == NGX_HTTP_SSE_RCONN_SETUP
        && rc->setup_next == 0)
    {
        return "TLS session refused by Redis";
    }

    return "connection lost";
}


/* the connect(2) finished, one way or the other */

static void
ngx_http_sse_rconn_connecting(ngx_event_t *ev)
{
    int                    err;
    socklen_t              len;
    ngx_connection_t      *c;
    ngx_http_sse_rconn_t  *rc;

    c = ev->data;
    rc = c->data;

    if (rc->state != NGX_HTTP_SSE_RCONN_CONNECTING) {
        return;
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        (void) ngx_connection_error(c, err, "connect() failed");
        ngx_http_sse_rconn_failed(rc,
                                  ngx_http_sse_rconn_error(rc,
                                                       "connection failed"));
        return;
    }

    c->read->handler = ngx_http_sse_rconn_read_handler;
    c->write->handler = ngx_http_sse_rconn_write_handler;

#if (NGX_SSL)
    if (rc->peer->tls) {
        ngx_http_sse_rconn_tls(rc);
        return;
    }
#endif

    ngx_http_sse_rconn_setup(rc);
}


#if (NGX_SSL)

static void
ngx_http_sse_rconn_tls(ngx_http_sse_rconn_t *rc)
{
    ngx_int_t          n;
    ngx_connection_t  *c;

    c = rc->c;

    rc->state = NGX_HTTP_SSE_RCONN_TLS;

    if (ngx_ssl_create_connection(rc->peer->ssl, c, NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_http_sse_rconn_failed(rc, ngx_http_sse_rconn_error(rc, "TLS"));
        return;
    }

    /* SNI: names only, never addresses (RFC 6066) */

    if (!rc->addr->literal
        && SSL_set_tlsext_host_name(c->ssl->connection,
                                    (char *) rc->addr->host.data)
           != 1)
    {
        ngx_http_sse_rconn_failed(rc, "TLS: cannot set the server name");
        return;
    }

    n = ngx_ssl_handshake(c);

    if (n == NGX_AGAIN) {
        c->ssl->handler = ngx_http_sse_rconn_tls_done;
        return;
    }

    ngx_http_sse_rconn_tls_done(c);
}


static void
ngx_http_sse_rconn_tls_done(ngx_connection_t *c)
{
    long                   n;
    X509                  *cert;
    ngx_int_t              ok;
    ngx_http_sse_rconn_t  *rc;

    rc = c->data;

    if (!c->ssl->handshaked) {
        ngx_http_sse_rconn_failed(rc,
                                  ngx_http_sse_rconn_error(rc,
                                                   "TLS handshake failed"));
        return;
    }

    c->read->handler = ngx_http_sse_rconn_read_handler;
    c->write->handler = ngx_http_sse_rconn_write_handler;

    if (rc->peer->tls_verify) {
        n = SSL_get_verify_result(c->ssl->connection);

        if (n != X509_V_OK) {
            ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                         "TLS verification failed: certificate verify "
                         "error: (%l:%s)%Z",
                         n, X509_verify_cert_error_string(n));
            ngx_http_sse_rconn_failed(rc, (char *) rc->error);
            return;
        }

        if (rc->addr->literal) {
            cert = SSL_get_peer_certificate(c->ssl->connection);
            ok = (cert && X509_check_ip_asc(cert,
                                            (char *) rc->addr->host.data, 0)
                          == 1);
            if (cert) {
                X509_free(cert);
            }

        } else {
            ok = (ngx_ssl_check_host(c, &rc->addr->host) == NGX_OK);
        }

        if (!ok) {
            ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                         "TLS verification failed: the certificate does "
                         "not match \"%V\"%Z", &rc->addr->host);
            ngx_http_sse_rconn_failed(rc, (char *) rc->error);
            return;
        }
    }

    ngx_http_sse_rconn_setup(rc);
}

#endif


/* AUTH, SELECT, PING: pipelined, answered before anything else */

static void
ngx_http_sse_rconn_setup(ngx_http_sse_rconn_t *rc)
{
    int                         argc;
    size_t                      argvlen[3];
    u_char                      db[NGX_INT_T_LEN];
    const char                 *argv[3];
    ngx_http_sse_redis_peer_t  *peer;

    peer = rc->peer;

    rc->state = NGX_HTTP_SSE_RCONN_SETUP;
    rc->nsetup = 0;
    rc->setup_next = 0;

    if (peer->password.len) {
        argc = 0;
        argv[argc] = "AUTH";
        argvlen[argc++] = sizeof("AUTH") - 1;

        if (peer->user.len) {
            argv[argc] = (char *) peer->user.data;
            argvlen[argc++] = peer->user.len;
        }

        argv[argc] = (char *) peer->password.data;
        argvlen[argc++] = peer->password.len;

        if (ngx_http_sse_rconn_append(rc, argc, argv, argvlen) != NGX_OK) {
            goto failed;
        }

        rc->setup[rc->nsetup++] = NGX_HTTP_SSE_RSETUP_AUTH;
    }

    if (peer->db && !rc->subscriber && !rc->lookup) {
        argv[0] = "SELECT";
        argvlen[0] = sizeof("SELECT") - 1;
        argv[1] = (char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", peer->db) - db;

        if (ngx_http_sse_rconn_append(rc, 2, argv, argvlen) != NGX_OK) {
            goto failed;
        }

        rc->setup[rc->nsetup++] = NGX_HTTP_SSE_RSETUP_SELECT;
    }

    /* without a password too: a Redis that wants one says so here */

    argv[0] = "PING";
    argvlen[0] = sizeof("PING") - 1;

    if (ngx_http_sse_rconn_append(rc, 1, argv, argvlen) != NGX_OK) {
        goto failed;
    }

    rc->setup[rc->nsetup++] = NGX_HTTP_SSE_RSETUP_PING;

    /* a primary named by Sentinel or Cluster: is it still the primary? */

    if (peer->type != NGX_HTTP_SSE_REDIS_SINGLE && !rc->lookup) {
        argv[0] = "ROLE";
        argvlen[0] = sizeof("ROLE") - 1;

        if (ngx_http_sse_rconn_append(rc, 1, argv, argvlen) != NGX_OK) {
            goto failed;
        }

        rc->setup[rc->nsetup++] = NGX_HTTP_SSE_RSETUP_ROLE;
    }

    ngx_http_sse_rconn_write_handler(rc->c->write);

    return;

failed:

    ngx_http_sse_rconn_failed(rc, "out of memory");
}


/* NGX_OK: go on; NGX_ERROR: the connection failed and is gone */

static ngx_int_t
ngx_http_sse_rconn_setup_reply(ngx_http_sse_rconn_t *rc, redisReply *reply)
{
    ngx_uint_t  what;

    what = rc->setup[rc->setup_next++];

    if (what == NGX_HTTP_SSE_RSETUP_AUTH && rc->lookup
        && reply->type == REDIS_REPLY_ERROR
        && (ngx_strstr(reply->str, "without any password configured")
            || ngx_strstr(reply->str, "no password is set")))
    {
        /* a sentinel without a password: the URL's are the primary's */
        goto next;
    }

    if (what == NGX_HTTP_SSE_RSETUP_ROLE && reply->type != REDIS_REPLY_ERROR)
    {
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
            || reply->element[0]->type != REDIS_REPLY_STRING)
        {
            ngx_http_sse_rconn_failed(rc, "not the primary (ROLE: an "
                                          "unexpected reply)");
            return NGX_ERROR;
        }

        if (ngx_strcmp(reply->element[0]->str, "master") != 0) {
            ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                         "not the primary (ROLE: %s)%Z",
                         reply->element[0]->str);
            rc->error[sizeof(rc->error) - 1] = '\0';
            ngx_http_sse_rconn_failed(rc, (char *) rc->error);
            return NGX_ERROR;
        }
    }

    if (reply->type == REDIS_REPLY_ERROR) {

        switch (what) {

        case NGX_HTTP_SSE_RSETUP_AUTH:
            ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                         "authentication failed: %s%Z", reply->str);
            break;

        case NGX_HTTP_SSE_RSETUP_SELECT:
            ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                         "SELECT %ui failed: %s%Z", rc->peer->db,
                         reply->str);
            break;

        case NGX_HTTP_SSE_RSETUP_ROLE:
            ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                         "ROLE failed: %s%Z", reply->str);
            break;

        default: /* PING */
            if (ngx_strncmp(reply->str, "NOAUTH", 6) == 0) {
                ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                             "authentication required: %s%Z", reply->str);

            } else {
                ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                             "PING failed: %s%Z", reply->str);
            }
        }

        rc->error[sizeof(rc->error) - 1] = '\0';
        ngx_http_sse_rconn_failed(rc, (char *) rc->error);

        return NGX_ERROR;
    }

next:

    if (rc->setup_next == rc->nsetup) {
        ngx_http_sse_rconn_up(rc);
    }

    return NGX_OK;
}


static void
ngx_http_sse_rconn_up(ngx_http_sse_rconn_t *rc)
{
    const char  *err;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    rc->state = NGX_HTTP_SSE_RCONN_UP;
    rc->backoff = 0;
    rc->moving = 0;

    /* a subscriber is ready once Redis confirms its subscription */
    rc->ready = !rc->subscriber;

    err = rc->connected(rc);

    if (err && rc->state == NGX_HTTP_SSE_RCONN_UP) {
        ngx_http_sse_rconn_failed(rc, err);
        return;
    }

    /* after the protocol's first commands */

    if (rc->state == NGX_HTTP_SSE_RCONN_UP && !ngx_queue_empty(&rc->held)) {
        ngx_http_sse_rconn_flush(rc);
    }
}


/*
 * A command; fn(rc, reply, privdata) gets its reply, or a NULL reply when
 * the connection goes first; on a subscriber, fn gets every reply from
 * then on.  The command leaves from the write handler, later in this
 * event loop round: no reply handler runs within the call.
 * NGX_DECLINED: not connected.
 */

ngx_int_t
ngx_http_sse_rconn_send(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_rconn_reply_pt fn, void *privdata, int argc,
    const char **argv, const size_t *argvlen)
{
    int                   len;
    char                 *data;
    ngx_http_sse_rcmd_t  *cmd;

    if (rc->subscriber) {
        if (rc->c == NULL || rc->state != NGX_HTTP_SSE_RCONN_UP
            || ngx_http_sse_rconn_append(rc, argc, argv, argvlen) != NGX_OK)
        {
            return NGX_DECLINED;
        }

        rc->push = fn;
        rc->push_data = privdata;

        if (!rc->c->write->posted) {
            ngx_post_event(rc->c->write, &ngx_posted_events);
        }

        return NGX_OK;
    }

    if (!rc->ready) {
        return NGX_DECLINED;
    }

    len = redisFormatCommandArgv(&data, argc, argv, argvlen);

    if (len < 0) {
        return NGX_DECLINED;
    }

    cmd = ngx_http_sse_rconn_cmd(rc, fn, privdata);

    if (cmd == NULL) {
        redisFreeCommand(data);
        return NGX_DECLINED;
    }

    cmd->cmd = data;
    cmd->len = len;
    cmd->origin = rc;

    if (ngx_http_sse_rconn_resend(rc, cmd, 0) != NGX_OK) {
        redisFreeCommand(data);
        cmd->cmd = NULL;
        ngx_queue_insert_head(&rc->free, &cmd->queue);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A command (again) on a connection: sent when it is up; held while it
 * connects if it holds (rc->hold), or moves or drains; NGX_DECLINED: not
 * connected.  asking: ASKING goes first (Cluster: the slot is being
 * migrated to that node), its reply dropped.
 */

ngx_int_t
ngx_http_sse_rconn_resend(ngx_http_sse_rconn_t *rc, ngx_http_sse_rcmd_t *cmd,
    ngx_uint_t asking)
{
    cmd->asking = asking;

    if (rc->moving || rc->draining
        || (rc->hold && rc->c && rc->state != NGX_HTTP_SSE_RCONN_UP))
    {
        ngx_queue_insert_tail(&rc->held, &cmd->queue);
        ngx_http_sse_rconn_sent(rc);
        return NGX_OK;
    }

    if (rc->c == NULL || rc->state != NGX_HTTP_SSE_RCONN_UP || !rc->ready) {
        return NGX_DECLINED;
    }

    if (ngx_http_sse_rconn_put(rc, cmd) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (!rc->c->write->posted) {
        ngx_post_event(rc->c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/* a command into the output buffer, its reply awaited */

static ngx_int_t
ngx_http_sse_rconn_put(ngx_http_sse_rconn_t *rc, ngx_http_sse_rcmd_t *cmd)
{
    static u_char         asking[] = "*1\r\n$6\r\nASKING\r\n";

    ngx_http_sse_rcmd_t  *ask;

    if (cmd->asking) {
        ask = ngx_http_sse_rconn_cmd(rc, NULL, NULL);

        if (ask == NULL
            || ngx_http_sse_rconn_out(rc, asking, sizeof(asking) - 1)
               != NGX_OK)
        {
            if (ask) {
                ngx_queue_insert_head(&rc->free, &ask->queue);
            }

            return NGX_ERROR;
        }

        ngx_queue_insert_tail(&rc->waiting, &ask->queue);
        ngx_http_sse_rconn_sent(rc);
    }

    if (ngx_http_sse_rconn_out(rc, (u_char *) cmd->cmd, cmd->len) != NGX_OK) {
        /* an ASKING before it is answered and dropped */
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&rc->waiting, &cmd->queue);
    ngx_http_sse_rconn_sent(rc);

    if (!rc->keep) {
        redisFreeCommand(cmd->cmd);
        cmd->cmd = NULL;
    }

    return NGX_OK;
}


/* a command object, from the connection's free list */

static ngx_http_sse_rcmd_t *
ngx_http_sse_rconn_cmd(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_rconn_reply_pt fn, void *data)
{
    ngx_queue_t          *q;
    ngx_http_sse_rcmd_t  *cmd;

    if (!ngx_queue_empty(&rc->free)) {
        q = ngx_queue_head(&rc->free);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_http_sse_rcmd_t, queue);

    } else {
        cmd = ngx_alloc(sizeof(ngx_http_sse_rcmd_t), rc->log);
        if (cmd == NULL) {
            return NULL;
        }
    }

    ngx_memzero(cmd, sizeof(ngx_http_sse_rcmd_t));

    cmd->fn = fn;
    cmd->data = data;

    return cmd;
}


/*
 * The command's reply (NULL: none will come), its object back to rc's
 * free list first: fn may send again
 */

void
ngx_http_sse_rconn_answer(ngx_http_sse_rconn_t *rc, ngx_http_sse_rcmd_t *cmd,
    redisReply *reply)
{
    void                         *data;
    ngx_http_sse_rconn_reply_pt   fn;

    fn = cmd->fn;
    data = cmd->data;

    if (cmd->cmd) {
        redisFreeCommand(cmd->cmd);
        cmd->cmd = NULL;
    }

    ngx_queue_insert_head(&rc->free, &cmd->queue);

    if (fn) {
        fn(rc, reply, data);
    }
}


/* a command formatted into the output buffer (set-up, subscriber) */

static ngx_int_t
ngx_http_sse_rconn_append(ngx_http_sse_rconn_t *rc, int argc,
    const char **argv, const size_t *argvlen)
{
    int         len;
    char       *cmd;
    ngx_int_t   rv;

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);

    if (len < 0) {
        return NGX_ERROR;
    }

    rv = ngx_http_sse_rconn_out(rc, (u_char *) cmd, len);

    redisFreeCommand(cmd);

    return rv;
}


/* bytes into the output buffer */

static ngx_int_t
ngx_http_sse_rconn_out(ngx_http_sse_rconn_t *rc, u_char *data, size_t len)
{
    size_t   size;
    u_char  *out;

    if (rc->out_pos && rc->out_pos == rc->out_len) {
        rc->out_pos = 0;
        rc->out_len = 0;
    }

    if (rc->out_len + len > rc->out_size) {
        size = ngx_max(rc->out_size * 2,
                       ngx_max(rc->out_len - rc->out_pos + len, 4096));

        out = ngx_alloc(size, rc->log);
        if (out == NULL) {
            return NGX_ERROR;
        }

        if (rc->out) {
            ngx_memcpy(out, rc->out + rc->out_pos,
                       rc->out_len - rc->out_pos);
            ngx_free(rc->out);
        }

        rc->out_len -= rc->out_pos;
        rc->out_pos = 0;
        rc->out = out;
        rc->out_size = size;
    }

    ngx_memcpy(rc->out + rc->out_len, data, len);
    rc->out_len += len;

    return NGX_OK;
}


static void
ngx_http_sse_rconn_write_handler(ngx_event_t *ev)
{
    ssize_t                n;
    ngx_connection_t      *c;
    ngx_http_sse_rconn_t  *rc;

    c = ev->data;
    rc = c->data;

    while (rc->out_pos < rc->out_len) {

        n = c->send(c, rc->out + rc->out_pos, rc->out_len - rc->out_pos);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_sse_rconn_failed(rc, "cannot watch the socket");
            }

            return;
        }

        if (n == NGX_ERROR || n <= 0) {
            ngx_http_sse_rconn_failed(rc,
                                ngx_http_sse_rconn_error(rc,
                                    ngx_http_sse_rconn_what(rc, c)));
            return;
        }

        rc->out_pos += n;
    }

    rc->out_pos = 0;
    rc->out_len = 0;
}


static void
ngx_http_sse_rconn_read_handler(ngx_event_t *ev)
{
    void                  *reply;
    u_char                 buf[NGX_HTTP_SSE_REDIS_READ_SIZE];
    ssize_t                n;
    ngx_connection_t      *c;
    ngx_http_sse_rconn_t  *rc;

    c = ev->data;
    rc = c->data;

    for ( ;; ) {

        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR || n < 0) {
            ngx_http_sse_rconn_failed(rc,
                                ngx_http_sse_rconn_error(rc,
                                    ngx_http_sse_rconn_what(rc, c)));
            return;
        }

        if (redisReaderFeed(rc->reader, (char *) buf, n) != REDIS_OK) {
            ngx_http_sse_rconn_failed(rc, "out of memory");
            return;
        }

        for ( ;; ) {
            reply = NULL;

            if (redisReaderGetReply(rc->reader, &reply) != REDIS_OK) {
                ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                             "protocol error: %s%Z", rc->reader->errstr);
                ngx_http_sse_rconn_failed(rc, (char *) rc->error);
                return;
            }

            if (reply == NULL) {
                break;
            }

            ngx_http_sse_rconn_reply(rc, reply);

            freeReplyObject(reply);

            if (rc->c != c) {
                /* a handler closed the connection */
                return;
            }

            if (rc->draining && ngx_queue_empty(&rc->waiting)) {
                /* the old primary answered all: to the new one */
                ngx_http_sse_rconn_move(rc);
                return;
            }
        }
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_sse_rconn_failed(rc, "cannot watch the socket");
    }
}


static void
ngx_http_sse_rconn_reply(ngx_http_sse_rconn_t *rc, redisReply *reply)
{
    ngx_int_t             rv;
    ngx_queue_t          *q;
    ngx_http_sse_rcmd_t  *cmd;

    if (rc->state == NGX_HTTP_SSE_RCONN_SETUP) {
        (void) ngx_http_sse_rconn_setup_reply(rc, reply);
        return;
    }

    if (!ngx_queue_empty(&rc->waiting)) {
        q = ngx_queue_head(&rc->waiting);
        ngx_queue_remove(q);

        rc->pending--;
        rc->progress = ngx_current_msec;

        cmd = ngx_queue_data(q, ngx_http_sse_rcmd_t, queue);

        if (reply->type == REDIS_REPLY_ERROR && cmd->cmd) {
            /* kept: MOVED, ASK... it may go elsewhere */

            rv = rc->peer->finder->redirect(rc, reply, cmd);

            if (rv == NGX_OK) {
                return;
            }

            if (rv == NGX_ERROR) {
                /* not done there: what waits is answered with NULL */
                ngx_queue_insert_head(&rc->waiting, q);
                rc->pending++;
                ngx_http_sse_rconn_failed(rc, (char *) rc->error);
                return;
            }
        }

        ngx_http_sse_rconn_answer(rc, cmd, reply);
        return;
    }

    if (rc->push) {
        rc->push(rc, reply, rc->push_data);
        return;
    }

    ngx_http_sse_rconn_failed(rc, "a reply to no command");
}


/*
 * Not connected, or the connection goes: what waits for a reply gets a
 * NULL one, the protocol is told, and we try again after a while.
 */

static void
ngx_http_sse_rconn_failed(ngx_http_sse_rconn_t *rc, const char *err)
{
    ngx_msec_t  delay;

    if ((u_char *) err != rc->error) {
        ngx_cpystrn(rc->error, (u_char *) err, sizeof(rc->error));
    }

    ngx_http_sse_rconn_free(rc);
    ngx_http_sse_rconn_unhold(rc);

    /* the next address, if the URL leads to several */
    rc->next++;

    rc->failed(rc, (char *) rc->error);

    if (rc->peer->finder && !rc->lookup && rc->c == NULL) {
        /* the primary may have moved: it is asked for again */
        ngx_http_sse_rquery_lost(rc);
    }

    if (ngx_exiting || ngx_terminate || ngx_quit
        || ngx_http_sse_rconn_stopping || rc->c || rc->once)
    {
        return;
    }

    if (rc->backoff == 0) {
        rc->backoff = NGX_HTTP_SSE_REDIS_BACKOFF_MIN;

    } else {
        rc->backoff = ngx_min(rc->backoff * 2,
                              NGX_HTTP_SSE_REDIS_BACKOFF_MAX);
    }

    delay = rc->backoff / 2 + (ngx_msec_t) ngx_random() % (rc->backoff / 2);

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    ngx_add_timer(&rc->timer, delay);
}


/* the socket, its TLS, the parser and the buffers go; waiters get NULL */

static void
ngx_http_sse_rconn_free(ngx_http_sse_rconn_t *rc)
{
    ngx_pool_t           *pool;
    ngx_queue_t           waiting, *q;
    ngx_connection_t     *c;
    ngx_http_sse_rcmd_t  *w;

    c = rc->c;

    rc->c = NULL;
    rc->ready = 0;
    rc->pending = 0;
    rc->draining = 0;
    rc->state = NGX_HTTP_SSE_RCONN_IDLE;
    rc->push = NULL;
    rc->push_data = NULL;
    rc->out_pos = 0;
    rc->out_len = 0;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    if (rc->reader) {
        redisReaderFree(rc->reader);
        rc->reader = NULL;
    }

    if (c) {
        pool = c->pool;

#if (NGX_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif

        ngx_close_connection(c);
        ngx_destroy_pool(pool);
    }

    /* what waited: told now, with nothing of the connection left */

    ngx_queue_init(&waiting);

    if (!ngx_queue_empty(&rc->waiting)) {
        waiting = rc->waiting;
        waiting.next->prev = &waiting;
        waiting.prev->next = &waiting;
        ngx_queue_init(&rc->waiting);
    }

    while (!ngx_queue_empty(&waiting)) {
        q = ngx_queue_head(&waiting);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_sse_rcmd_t, queue);
        ngx_http_sse_rconn_answer(rc, w, NULL);
    }

    /* what is held stays (a move), and waits */

    rc->pending = ngx_http_sse_rconn_count(&rc->held);
}


static ngx_uint_t
ngx_http_sse_rconn_count(ngx_queue_t *cmds)
{
    ngx_uint_t    n;
    ngx_queue_t  *q;

    n = 0;

    for (q = ngx_queue_head(cmds);
         q != ngx_queue_sentinel(cmds);
         q = ngx_queue_next(q))
    {
        n++;
    }

    return n;
}


/* what is held gets a NULL reply: it will not be sent */

static void
ngx_http_sse_rconn_unhold(ngx_http_sse_rconn_t *rc)
{
    ngx_queue_t          *q;
    ngx_http_sse_rcmd_t  *cmd;

    rc->moving = 0;

    while (!ngx_queue_empty(&rc->held)) {
        q = ngx_queue_head(&rc->held);
        ngx_queue_remove(q);

        rc->pending--;

        cmd = ngx_queue_data(q, ngx_http_sse_rcmd_t, queue);
        ngx_http_sse_rconn_answer(rc, cmd, NULL);
    }
}


/* what is held is sent: the connection is up */

static void
ngx_http_sse_rconn_flush(ngx_http_sse_rconn_t *rc)
{
    ngx_queue_t          *q;
    ngx_http_sse_rcmd_t  *cmd;

    while (!ngx_queue_empty(&rc->held)) {
        q = ngx_queue_head(&rc->held);
        ngx_queue_remove(q);

        rc->pending--;

        cmd = ngx_queue_data(q, ngx_http_sse_rcmd_t, queue);

        if (ngx_http_sse_rconn_put(rc, cmd) != NGX_OK) {
            ngx_http_sse_rconn_answer(rc, cmd, NULL);
        }
    }

    if (rc->out_len && !rc->c->write->posted) {
        ngx_post_event(rc->c->write, &ngx_posted_events);
    }
}


/*
 * The primary moved and every reply of the old one is in: the connection
 * goes to the new one without a word to the protocol, which sees it
 * ready and sends on; what it sends is held until the new one is up.  A
 * failure on the way is an ordinary one.
 */

static void
ngx_http_sse_rconn_move(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_rconn_free(rc);

    rc->moving = 1;
    rc->ready = 1;
    rc->backoff = 0;
    rc->progress = ngx_current_msec;

    ngx_http_sse_rconn_connect(rc);
}


/* closes a connection that misbehaves; it is opened again */

void
ngx_http_sse_rconn_drop(ngx_http_sse_rconn_t *rc, const char *why)
{
    if (rc->c == NULL && !rc->moving) {
        return;
    }

    ngx_http_sse_rconn_failed(rc, why);
}


/* the worker exits: pending commands get a NULL reply, nothing retries */

void
ngx_http_sse_rconn_close(ngx_http_sse_rconn_t *rc)
{
    ngx_queue_t          *q;
    ngx_http_sse_rcmd_t  *w;

    ngx_http_sse_rconn_free(rc);
    ngx_http_sse_rconn_unhold(rc);

    if (rc->peer->finder && !rc->lookup) {
        ngx_http_sse_rquery_detach(rc);
    }

    while (!ngx_queue_empty(&rc->free)) {
        q = ngx_queue_head(&rc->free);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_sse_rcmd_t, queue);
        ngx_free(w);
    }

    if (rc->out) {
        ngx_free(rc->out);
        rc->out = NULL;
        rc->out_size = 0;
    }
}


static void
ngx_http_sse_rconn_timer_handler(ngx_event_t *ev)
{
    ngx_http_sse_rconn_t  *rc;

    rc = ev->data;

    if (rc->draining) {
        /*
         * the old primary keeps what was sent to it: those commands get
         * NULL (503: run or not, nobody knows); what is held was sent
         * nowhere and goes to the new one
         */

        ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                      "sse_zone \"%V\": redis %V: the old primary %s did "
                      "not answer in time, %ui commands left unanswered",
                      &rc->peer->zone, &rc->peer->url, rc->error,
                      ngx_http_sse_rconn_count(&rc->waiting));

        ngx_http_sse_rconn_move(rc);
        return;
    }

    if (rc->c) {
        switch (rc->state) {

        case NGX_HTTP_SSE_RCONN_CONNECTING:
            ngx_http_sse_rconn_failed(rc, "connection timed out");
            return;

        case NGX_HTTP_SSE_RCONN_TLS:
            ngx_http_sse_rconn_failed(rc, "TLS handshake timed out");
            return;

        default:
            ngx_http_sse_rconn_failed(rc, "no reply to AUTH, SELECT or "
                                          "PING in time");
            return;
        }
    }

    if (ngx_exiting || ngx_terminate || ngx_quit
        || ngx_http_sse_rconn_stopping)
    {
        return;
    }

    ngx_http_sse_rconn_connect(rc);
}


static void
ngx_http_sse_rconn_sent(ngx_http_sse_rconn_t *rc)
{
    if (rc->pending++ == 0) {
        rc->progress = ngx_current_msec;
    }
}


/* a reply handler's: the connection makes progress */

void
ngx_http_sse_rconn_replied(ngx_http_sse_rconn_t *rc)
{
    rc->progress = ngx_current_msec;
}
