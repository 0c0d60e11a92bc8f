
/*
 * Redis Sentinel (redis+sentinel://, rediss+sentinel://): where the primary
 * of SERVICE is, asked and followed for the data connections of a worker.
 *
 * Each worker keeps, per URL, two connections of its own to the sentinels
 * (the URL's hosts, taken in turn after each failure): one asks
 * "SENTINEL get-master-addr-by-name SERVICE", the other is subscribed to
 * +switch-master.  A data connection's pick hook gives the primary when it
 * is known, or NGX_AGAIN: the sentinels are asked, and the connection is
 * made when they answer.  The primary is asked for again whenever a data
 * connection fails (set-up checks ROLE: a replica is not taken for the
 * primary); on +switch-master the data connections to the old primary are
 * dropped and made again to the new one.  The protocol sees connections
 * that go down and come back up.
 */


#include "ngx_http_sse_redis.h"


#define NGX_HTTP_SSE_SENTINEL_USERS    4
#define NGX_HTTP_SSE_SENTINEL_TIMEOUT  3000


struct ngx_http_sse_sentinel_s {
    ngx_http_sse_redis_peer_t    *peer;
    ngx_log_t                    *log;
    ngx_http_sse_rconn_t          query;
    ngx_http_sse_rconn_t          watch;
    ngx_http_sse_rconn_t         *users[NGX_HTTP_SSE_SENTINEL_USERS];
    ngx_uint_t                    nusers;
    ngx_uint_t                    waiting;     /* users, one bit each */
    ngx_event_t                   qtimer;      /* the query's answer */
    ngx_event_t                   wtimer;      /* the watch's SUBSCRIBE */

    ngx_http_sse_redis_addr_t     primary;
    ngx_sockaddr_t                sockaddr;
    u_char                        host[NGX_SOCKADDR_STRLEN + 1];
    u_char                        name[NGX_SOCKADDR_STRLEN + 1];

    unsigned                      known:1;     /* primary: valid now */
    unsigned                      found:1;     /* primary: ever set */
    unsigned                      asking:1;
    unsigned                      started:1;
    unsigned                      switching:1;
    unsigned                      failing:1;   /* logged as failing */
};


static void ngx_http_sse_sentinel_attach(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_sentinel_detach(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_sentinel_lost(ngx_http_sse_rconn_t *rc);
static ngx_int_t ngx_http_sse_sentinel_pick(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_sentinel_ask(ngx_http_sse_sentinel_t *s);
static void ngx_http_sse_sentinel_asked(ngx_http_sse_sentinel_t *s);
static void ngx_http_sse_sentinel_watching(ngx_http_sse_sentinel_t *s);
static void ngx_http_sse_sentinel_timeout(ngx_event_t *ev);
static const char *ngx_http_sse_sentinel_connected(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_sentinel_failed(ngx_http_sse_rconn_t *rc,
    const char *err);
static void ngx_http_sse_sentinel_answer(ngx_http_sse_rconn_t *rc,
    void *reply, void *privdata);
static void ngx_http_sse_sentinel_message(ngx_http_sse_rconn_t *rc,
    void *reply, void *privdata);
static ngx_int_t ngx_http_sse_sentinel_set(ngx_http_sse_sentinel_t *s,
    u_char *ip, size_t iplen, u_char *port, size_t portlen);
static void ngx_http_sse_sentinel_wake(ngx_http_sse_sentinel_t *s,
    ngx_uint_t all);


/* installed on Sentinel URLs' peers (ngx_http_sse_redis.c) */
ngx_http_sse_rconn_finder_t  ngx_http_sse_sentinel_finder = {
    ngx_http_sse_sentinel_attach,
    ngx_http_sse_sentinel_detach,
    ngx_http_sse_sentinel_lost
};


/* the worker is shutting down: nothing reconnects, nothing is logged */
#define ngx_http_sse_sentinel_stopping(s)                                    \
    (ngx_exiting || ngx_terminate || ngx_quit)


/* a data connection of a sentinel URL: the worker's sentinel state */

static void
ngx_http_sse_sentinel_attach(ngx_http_sse_rconn_t *rc)
{
    ngx_uint_t                  i;
    ngx_event_t                *ev;
    ngx_http_sse_rconn_t       *sc;
    ngx_http_sse_sentinel_t    *s;
    ngx_http_sse_redis_peer_t  *peer;

    peer = rc->peer;

    rc->pick = ngx_http_sse_sentinel_pick;

    s = peer->sentinel;

    if (s == NULL) {
        s = ngx_calloc(sizeof(ngx_http_sse_sentinel_t), rc->log);
        if (s == NULL) {
            /* pick finds none: the connection is retried, and fails */
            return;
        }

        s->peer = peer;
        s->log = rc->log;

        for (i = 0; i < 2; i++) {
            ev = i ? &s->wtimer : &s->qtimer;

            ev->handler = ngx_http_sse_sentinel_timeout;
            ev->data = s;
            ev->log = s->log;
            ev->cancelable = 1;
        }

        for (i = 0; i < 2; i++) {
            sc = i ? &s->watch : &s->query;

            sc->sentinel = 1;
            sc->subscriber = i;

            ngx_http_sse_rconn_init(sc, peer, s->log);

            sc->connected = ngx_http_sse_sentinel_connected;
            sc->failed = ngx_http_sse_sentinel_failed;
            sc->data = s;
        }

        peer->sentinel = s;
    }

    if (s->nusers == NGX_HTTP_SSE_SENTINEL_USERS) {
        ngx_log_error(NGX_LOG_ALERT, s->log, 0,
                      "sse_zone \"%V\": too many connections for one "
                      "sentinel URL", &peer->zone);
        return;
    }

    s->users[s->nusers++] = rc;
}


/* the worker closes its connection: the last one closes the sentinels' */

static void
ngx_http_sse_sentinel_detach(ngx_http_sse_rconn_t *rc)
{
    ngx_uint_t                i;
    ngx_http_sse_sentinel_t  *s;

    s = rc->peer->sentinel;

    if (s == NULL) {
        return;
    }

    for (i = 0; i < s->nusers; i++) {
        if (s->users[i] == rc) {
            s->users[i] = s->users[--s->nusers];
            s->users[s->nusers] = NULL;
            break;
        }
    }

    s->waiting = 0;

    if (s->nusers) {
        return;
    }

    ngx_http_sse_rconn_close(&s->query);
    ngx_http_sse_rconn_close(&s->watch);

    ngx_http_sse_sentinel_asked(s);
    ngx_http_sse_sentinel_watching(s);

    rc->peer->sentinel = NULL;

    ngx_free(s);
}


/* a data connection's address: the primary, or NGX_AGAIN while asked */

static ngx_int_t
ngx_http_sse_sentinel_pick(ngx_http_sse_rconn_t *rc)
{
    ngx_uint_t                i;
    ngx_http_sse_sentinel_t  *s;

    s = rc->peer->sentinel;

    if (s == NULL) {
        return NGX_ERROR;
    }

    if (s->known) {
        rc->addr = &s->primary;
        return NGX_OK;
    }

    for (i = 0; i < s->nusers; i++) {
        if (s->users[i] == rc) {
            s->waiting |= (ngx_uint_t) 1 << i;
        }
    }

    ngx_http_sse_sentinel_ask(s);

    return NGX_AGAIN;
}


static void
ngx_http_sse_sentinel_ask(ngx_http_sse_sentinel_t *s)
{
    size_t       argvlen[3];
    const char  *argv[3];

    if (!s->started) {
        s->started = 1;

        /* the query asks once connected */
        ngx_http_sse_rconn_connect(&s->query);
        ngx_http_sse_rconn_connect(&s->watch);
        return;
    }

    if (s->asking) {
        /* the answer comes, or the timer moves on to the next sentinel */
        return;
    }

    argv[0] = "SENTINEL";
    argvlen[0] = sizeof("SENTINEL") - 1;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = sizeof("get-master-addr-by-name") - 1;
    argv[2] = (char *) s->peer->service.data;
    argvlen[2] = s->peer->service.len;

    if (ngx_http_sse_rconn_send(&s->query, ngx_http_sse_sentinel_answer, s,
                                3, argv, argvlen)
        == NGX_OK)
    {
        s->asking = 1;
        ngx_add_timer(&s->qtimer, NGX_HTTP_SSE_SENTINEL_TIMEOUT);
    }

    /* not connected: asked when the query connection is up */
}


/* the question is answered, or its connection gone */

static void
ngx_http_sse_sentinel_asked(ngx_http_sse_sentinel_t *s)
{
    s->asking = 0;

    if (s->qtimer.timer_set) {
        ngx_del_timer(&s->qtimer);
    }
}


/* the watch is subscribed, or its connection gone */

static void
ngx_http_sse_sentinel_watching(ngx_http_sse_sentinel_t *s)
{
    if (s->wtimer.timer_set) {
        ngx_del_timer(&s->wtimer);
    }
}


/*
 * A sentinel that took the question or the SUBSCRIBE and does not answer
 * (it accepted the connection and answered PING, then hangs): that
 * connection is dropped, and goes to the next sentinel.  One that does not
 * even answer PING is the connection's own set-up timeout.
 */

static void
ngx_http_sse_sentinel_timeout(ngx_event_t *ev)
{
    ngx_http_sse_sentinel_t  *s;

    s = ev->data;

    if (ngx_http_sse_sentinel_stopping(s)) {
        return;
    }

    if (ev == &s->qtimer) {
        if (s->asking) {
            ngx_http_sse_rconn_drop(&s->query, "no answer to SENTINEL "
                                    "get-master-addr-by-name in time");
        }

        return;
    }

    if (s->watch.c && !s->watch.ready) {
        ngx_http_sse_rconn_drop(&s->watch, "no answer to SUBSCRIBE "
                                "+switch-master in time");
    }
}


/* a data connection failed: the primary may have moved */

static void
ngx_http_sse_sentinel_lost(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_sentinel_t  *s;

    s = rc->peer->sentinel;

    if (s == NULL || s->switching) {
        return;
    }

    s->known = 0;
}


static const char *
ngx_http_sse_sentinel_connected(ngx_http_sse_rconn_t *rc)
{
    size_t                    argvlen[2];
    const char               *argv[2];
    ngx_http_sse_sentinel_t  *s;

    s = rc->data;

    if (rc == &s->query) {
        ngx_http_sse_sentinel_asked(s);
        ngx_http_sse_sentinel_ask(s);
        return NULL;
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = sizeof("SUBSCRIBE") - 1;
    argv[1] = "+switch-master";
    argvlen[1] = sizeof("+switch-master") - 1;

    if (ngx_http_sse_rconn_send(rc, ngx_http_sse_sentinel_message, s, 2,
                                argv, argvlen)
        != NGX_OK)
    {
        return "cannot subscribe";
    }

    ngx_add_timer(&s->wtimer, NGX_HTTP_SSE_SENTINEL_TIMEOUT);

    return NULL;
}


/* one line when the sentinels stop answering, none per retry */

static void
ngx_http_sse_sentinel_failed(ngx_http_sse_rconn_t *rc, const char *err)
{
    ngx_http_sse_sentinel_t  *s;

    s = rc->data;

    if (rc == &s->query) {
        ngx_http_sse_sentinel_asked(s);

    } else {
        ngx_http_sse_sentinel_watching(s);
    }

    if (s->failing || ngx_http_sse_sentinel_stopping(s)) {
        return;
    }

    s->failing = 1;

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "sse_zone \"%V\": redis %V: sentinel %V failed (%s), "
                  "trying the next",
                  &s->peer->zone, &s->peer->url, &rc->addr->name, err);
}


/* SENTINEL get-master-addr-by-name: [ip, port], or nil when unknown */

static void
ngx_http_sse_sentinel_answer(ngx_http_sse_rconn_t *rc, void *reply,
    void *privdata)
{
    redisReply               *r, **e;
    ngx_http_sse_sentinel_t  *s;

    s = privdata;
    r = reply;

    ngx_http_sse_sentinel_asked(s);

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

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                     "it does not know \"%V\"%Z", &s->peer->service);
        rc->error[sizeof(rc->error) - 1] = '\0';
        ngx_http_sse_rconn_drop(rc, (char *) rc->error);
        return;
    }

    e = r->element;

    if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING
        || ngx_http_sse_sentinel_set(s, (u_char *) e[0]->str, e[0]->len,
                                     (u_char *) e[1]->str, e[1]->len)
           != NGX_OK)
    {
        ngx_http_sse_rconn_drop(rc, "a primary address that is not an IP "
                                    "address and port");
        return;
    }

    if (s->failing) {
        s->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "sse_zone \"%V\": redis %V: sentinel %V answers",
                      &s->peer->zone, &s->peer->url, &rc->addr->name);
    }
}


/* +switch-master: "SERVICE OLD-IP OLD-PORT NEW-IP NEW-PORT" */

static void
ngx_http_sse_sentinel_message(ngx_http_sse_rconn_t *rc, void *reply,
    void *privdata)
{
    u_char                   *p, *last, *f[5];
    size_t                    n[5];
    redisReply               *r, *m;
    ngx_uint_t                i;
    ngx_http_sse_sentinel_t  *s;

    s = privdata;
    r = reply;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3
        || r->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    if (ngx_strcmp(r->element[0]->str, "subscribe") == 0) {
        /* subscribed: a failover missed meanwhile is asked for */
        rc->ready = 1;
        ngx_http_sse_sentinel_watching(s);
        ngx_http_sse_sentinel_ask(s);
        return;
    }

    m = r->element[2];

    if (ngx_strcmp(r->element[0]->str, "message") != 0
        || m->type != REDIS_REPLY_STRING)
    {
        return;
    }

    p = (u_char *) m->str;
    last = p + m->len;

    for (i = 0; i < 5; i++) {
        while (p < last && *p == ' ') {
            p++;
        }

        f[i] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        n[i] = p - f[i];

        if (n[i] == 0) {
            return;
        }
    }

    if (n[0] != s->peer->service.len
        || ngx_strncmp(f[0], s->peer->service.data, n[0]) != 0)
    {
        return;
    }

    if (ngx_http_sse_sentinel_set(s, f[3], n[3], f[4], n[4]) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "sse_zone \"%V\": redis %V: failover of \"%V\" to "
                      "an address that is not an IP address: \"%*s\"",
                      &s->peer->zone, &s->peer->url, &s->peer->service,
                      m->len, m->str);
    }
}


/*
 * The primary is IP:PORT.  Changed (a failover, learnt from +switch-master
 * or from an answer, whichever comes first): logged, the data connections
 * to the old one dropped; the ones waiting for it connect now.
 */

static ngx_int_t
ngx_http_sse_sentinel_set(ngx_http_sse_sentinel_t *s, u_char *ip,
    size_t iplen, u_char *port, size_t portlen)
{
    u_char           old[NGX_SOCKADDR_STRLEN + 1];
    u_char           host[NGX_SOCKADDR_STRLEN + 1];
    size_t           len;
    in_addr_t        inaddr;
    ngx_int_t        n;
    ngx_uint_t       i, changed;
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

    changed = !s->found || s->primary.socklen != len
              || ngx_memcmp(&s->sockaddr, &sa, len) != 0;

    if (changed) {
        (void) ngx_cpystrn(old, s->name, sizeof(old));
        (void) ngx_cpystrn(host, ip, iplen + 1);

        s->sockaddr = sa;
        (void) ngx_cpystrn(s->host, host, sizeof(s->host));

        s->primary.sockaddr = &s->sockaddr.sockaddr;
        s->primary.socklen = len;
        s->primary.host.data = s->host;
        s->primary.host.len = ngx_strlen(s->host);
        s->primary.name.data = s->name;
        s->primary.name.len = ngx_sock_ntop(&s->sockaddr.sockaddr, len,
                                            s->name, NGX_SOCKADDR_STRLEN, 1);
        s->name[s->primary.name.len] = '\0';
        s->primary.literal = 1;

        if (!s->found) {
            ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                          "sse_zone \"%V\": redis %V: the primary of "
                          "\"%V\" is %V",
                          &s->peer->zone, &s->peer->url, &s->peer->service,
                          &s->primary.name);

        } else {
            ngx_log_error(NGX_LOG_WARN, s->log, 0,
                          "sse_zone \"%V\": redis %V: failover of \"%V\": "
                          "primary %s -> %V",
                          &s->peer->zone, &s->peer->url, &s->peer->service,
                          old, &s->primary.name);
        }
    }

    s->found = 1;
    s->known = 1;

    if (!changed) {
        ngx_http_sse_sentinel_wake(s, 0);
        return NGX_OK;
    }

    /* connections to the old primary go, and come again to the new one */

    s->switching = 1;

    for (i = 0; i < s->nusers; i++) {
        if (s->users[i]->c) {
            ngx_snprintf(s->users[i]->error,
                         sizeof(s->users[i]->error) - 1,
                         "failover of \"%V\" to %V%Z",
                         &s->peer->service, &s->primary.name);
            s->users[i]->error[sizeof(s->users[i]->error) - 1] = '\0';
            ngx_http_sse_rconn_drop(s->users[i],
                                    (char *) s->users[i]->error);
        }
    }

    s->switching = 0;

    ngx_http_sse_sentinel_wake(s, 1);

    return NGX_OK;
}


/* waiting connections connect; all: the retrying ones too, at once */

static void
ngx_http_sse_sentinel_wake(ngx_http_sse_sentinel_t *s, ngx_uint_t all)
{
    ngx_uint_t             i, bit;
    ngx_http_sse_rconn_t  *rc;

    if (ngx_http_sse_sentinel_stopping(s)) {
        return;
    }

    for (i = 0; i < s->nusers; i++) {
        rc = s->users[i];
        bit = (ngx_uint_t) 1 << i;

        if (!(s->waiting & bit) && !(all && rc->c == NULL)) {
            continue;
        }

        s->waiting &= ~bit;

        if (rc->c) {
            continue;
        }

        if (all) {
            /* a failover: no back-off left from the old primary */

            if (rc->timer.timer_set) {
                ngx_del_timer(&rc->timer);
            }

            rc->backoff = 0;
        }

        ngx_http_sse_rconn_connect(rc);

        if (!s->known) {
            /* that connection failed already and asks again */
            return;
        }
    }
}
