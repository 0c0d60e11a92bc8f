
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


#define NGX_HTTP_SSE_SENTINEL_TIMEOUT  3000


struct ngx_http_sse_sentinel_s {
    ngx_http_sse_redis_peer_t    *peer;
    ngx_log_t                    *log;
    ngx_http_sse_rconn_t          query;
    ngx_http_sse_rconn_t          watch;
    ngx_http_sse_rfind_t          find;        /* the data connections */
    ngx_event_t                   qtimer;      /* the query's answer */
    ngx_event_t                   wtimer;      /* the watch's SUBSCRIBE */

    unsigned                      asking:1;
    unsigned                      started:1;
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


/* installed on Sentinel URLs' peers (ngx_http_sse_redis.c) */
ngx_http_sse_rconn_finder_t  ngx_http_sse_sentinel_finder = {
    ngx_http_sse_sentinel_attach,
    ngx_http_sse_sentinel_detach,
    ngx_http_sse_sentinel_lost,
    NULL
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

            sc->lookup = 1;
            sc->subscriber = i;

            ngx_http_sse_rconn_init(sc, peer, s->log);

            sc->connected = ngx_http_sse_sentinel_connected;
            sc->failed = ngx_http_sse_sentinel_failed;
            sc->data = s;
        }

        peer->sentinel = s;
    }

    (void) ngx_http_sse_rfind_add(&s->find, rc);
}


/* the worker closes its connection: the last one closes the sentinels' */

static void
ngx_http_sse_sentinel_detach(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_sentinel_t  *s;

    s = rc->peer->sentinel;

    if (s == NULL || ngx_http_sse_rfind_remove(&s->find, rc)) {
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
    ngx_http_sse_sentinel_t  *s;

    s = rc->peer->sentinel;

    if (s == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_sse_rfind_pick(&s->find, rc) == NGX_OK) {
        return NGX_OK;
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
    if (rc->peer->sentinel) {
        ngx_http_sse_rfind_lost(&rc->peer->sentinel->find);
    }
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
    u_char                 old[NGX_SOCKADDR_STRLEN + 1];
    ngx_int_t              rc;
    ngx_http_sse_rfind_t  *f;

    f = &s->find;

    (void) ngx_cpystrn(old, f->primary.name, sizeof(old));

    rc = ngx_http_sse_redis_node_set(&f->primary, ip, iplen, port, portlen);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    f->known = 1;

    if (rc == NGX_DECLINED) {
        ngx_http_sse_rfind_wake(f, 0);
        return NGX_OK;
    }

    if (!f->found) {
        f->found = 1;
        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "sse_zone \"%V\": redis %V: the primary of \"%V\" "
                      "is %V", &s->peer->zone, &s->peer->url,
                      &s->peer->service, &f->primary.addr.name);
        ngx_http_sse_rfind_wake(f, 1);
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, s->log, 0,
                  "sse_zone \"%V\": redis %V: failover of \"%V\": "
                  "primary %s -> %V",
                  &s->peer->zone, &s->peer->url, &s->peer->service,
                  old, &f->primary.addr.name);

    ngx_http_sse_rfind_switch(f, "failover to");

    return NGX_OK;
}
