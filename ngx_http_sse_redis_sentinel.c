
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


/* the query (ngx_http_sse_rquery_t) asks, the watch is told */
typedef struct {
    ngx_http_sse_rquery_t         query;       /* first: the finder's */
    ngx_http_sse_rconn_t          watch;
    ngx_event_t                   wtimer;      /* the watch's SUBSCRIBE */
} ngx_http_sse_sentinel_t;


static void ngx_http_sse_sentinel_init(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_sentinel_start(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_sentinel_done(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_sentinel_watching(ngx_http_sse_sentinel_t *s);
static void ngx_http_sse_sentinel_timeout(ngx_event_t *ev);
static const char *ngx_http_sse_sentinel_connected(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_sentinel_failed(ngx_http_sse_rconn_t *rc,
    const char *err);
static const char *ngx_http_sse_sentinel_answer(ngx_http_sse_rquery_t *q,
    redisReply *r, ngx_http_sse_redis_node_t *primary);
static void ngx_http_sse_sentinel_found(ngx_http_sse_rquery_t *q,
    u_char *old);
static void ngx_http_sse_sentinel_message(ngx_http_sse_rconn_t *rc,
    void *reply, void *privdata);


/* installed on Sentinel URLs' peers (ngx_http_sse_redis.c) */
ngx_http_sse_rconn_finder_t  ngx_http_sse_sentinel_finder = {
    sizeof(ngx_http_sse_sentinel_t),
    "sentinel",
    "no answer to SENTINEL get-master-addr-by-name in time",
    "failover to",
    ngx_http_sse_sentinel_init,
    ngx_http_sse_sentinel_start,
    ngx_http_sse_sentinel_answer,
    ngx_http_sse_sentinel_found,
    NULL,
    ngx_http_sse_sentinel_done,
    NULL
};


/* the worker's sentinel state, with its first data connection */

static void
ngx_http_sse_sentinel_init(ngx_http_sse_rquery_t *q)
{
    ngx_http_sse_sentinel_t  *s;

    s = (ngx_http_sse_sentinel_t *) q;

    q->argc = 3;
    q->argv[0] = "SENTINEL";
    q->argvlen[0] = sizeof("SENTINEL") - 1;
    q->argv[1] = "get-master-addr-by-name";
    q->argvlen[1] = sizeof("get-master-addr-by-name") - 1;
    q->argv[2] = (char *) q->peer->service.data;
    q->argvlen[2] = q->peer->service.len;

    s->wtimer.handler = ngx_http_sse_sentinel_timeout;
    s->wtimer.data = s;
    s->wtimer.log = q->log;
    s->wtimer.cancelable = 1;

    s->watch.lookup = 1;
    s->watch.subscriber = 1;

    ngx_http_sse_rconn_init(&s->watch, q->peer, q->log);

    s->watch.connected = ngx_http_sse_sentinel_connected;
    s->watch.failed = ngx_http_sse_sentinel_failed;
    s->watch.data = s;
}


/* the first question: the watch connects with the query */

static void
ngx_http_sse_sentinel_start(ngx_http_sse_rquery_t *q)
{
    ngx_http_sse_rconn_connect(&((ngx_http_sse_sentinel_t *) q)->watch);
}


/* the last data connection closes: the watch too */

static void
ngx_http_sse_sentinel_done(ngx_http_sse_rquery_t *q)
{
    ngx_http_sse_sentinel_t  *s;

    s = (ngx_http_sse_sentinel_t *) q;

    ngx_http_sse_rconn_close(&s->watch);

    ngx_http_sse_sentinel_watching(s);
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
 * A sentinel that took the SUBSCRIBE and does not answer: the watch is
 * dropped, and goes to the next sentinel (the question's own timer is the
 * query's)
 */

static void
ngx_http_sse_sentinel_timeout(ngx_event_t *ev)
{
    ngx_http_sse_sentinel_t  *s;

    s = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (s->watch.c && !s->watch.ready) {
        ngx_http_sse_rconn_drop(&s->watch, "no answer to SUBSCRIBE "
                                "+switch-master in time");
    }
}


static const char *
ngx_http_sse_sentinel_connected(ngx_http_sse_rconn_t *rc)
{
    size_t                    argvlen[2];
    const char               *argv[2];
    ngx_http_sse_sentinel_t  *s;

    s = rc->data;

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


/* the watch failed: logged as the query's failures are */

static void
ngx_http_sse_sentinel_failed(ngx_http_sse_rconn_t *rc, const char *err)
{
    ngx_http_sse_sentinel_t  *s;

    s = rc->data;

    ngx_http_sse_sentinel_watching(s);

    ngx_http_sse_rquery_failing(&s->query, rc, err);
}


/* SENTINEL get-master-addr-by-name: [ip, port], or nil when unknown */

static const char *
ngx_http_sse_sentinel_answer(ngx_http_sse_rquery_t *q, redisReply *r,
    ngx_http_sse_redis_node_t *primary)
{
    redisReply  **e;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        ngx_snprintf(q->conn.error, sizeof(q->conn.error) - 1,
                     "it does not know \"%V\"%Z", &q->peer->service);
        q->conn.error[sizeof(q->conn.error) - 1] = '\0';
        return (char *) q->conn.error;
    }

    e = r->element;

    if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING
        || ngx_http_sse_redis_node_set(primary, (u_char *) e[0]->str,
                                       e[0]->len, (u_char *) e[1]->str,
                                       e[1]->len)
           != NGX_OK)
    {
        return "a primary address that is not an IP address and port";
    }

    return NULL;
}


/* the primary, first known (old is NULL) or after a failover */

static void
ngx_http_sse_sentinel_found(ngx_http_sse_rquery_t *q, u_char *old)
{
    if (old == NULL) {
        ngx_log_error(NGX_LOG_NOTICE, q->log, 0,
                      "sse_zone \"%V\": redis %V: the primary of \"%V\" "
                      "is %V", &q->peer->zone, &q->peer->url,
                      &q->peer->service, &q->find.primary.addr.name);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, q->log, 0,
                  "sse_zone \"%V\": redis %V: failover of \"%V\": "
                  "primary %s -> %V",
                  &q->peer->zone, &q->peer->url, &q->peer->service,
                  old, &q->find.primary.addr.name);
}


/* +switch-master: "SERVICE OLD-IP OLD-PORT NEW-IP NEW-PORT" */

static void
ngx_http_sse_sentinel_message(ngx_http_sse_rconn_t *rc, void *reply,
    void *privdata)
{
    u_char                     *p, *last, *f[5];
    size_t                      n[5];
    redisReply                 *r, *m;
    ngx_uint_t                  i;
    ngx_http_sse_rquery_t      *q;
    ngx_http_sse_sentinel_t    *s;
    ngx_http_sse_redis_node_t   primary;

    s = privdata;
    q = &s->query;
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
        ngx_http_sse_rquery_ask(q);
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

    if (n[0] != q->peer->service.len
        || ngx_strncmp(f[0], q->peer->service.data, n[0]) != 0)
    {
        return;
    }

    primary.addr.sockaddr = NULL;

    if (ngx_http_sse_redis_node_set(&primary, f[3], n[3], f[4], n[4])
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, q->log, 0,
                      "sse_zone \"%V\": redis %V: failover of \"%V\" to "
                      "an address that is not an IP address: \"%*s\"",
                      &q->peer->zone, &q->peer->url, &q->peer->service,
                      m->len, m->str);
        return;
    }

    ngx_http_sse_rquery_set(q, &primary);
}
