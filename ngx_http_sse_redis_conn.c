
/*
 * A connection to Redis (ngx_http_sse_redis.h): hiredis's asynchronous
 * context on nginx's event loop through the adapter below (the socket is
 * an nginx connection, level-triggered: hiredis reads 16k at a time), a
 * connect timeout, and reconnection after a growing, jittered delay.
 */


#include "ngx_http_sse_redis.h"


#define NGX_HTTP_SSE_REDIS_CONNECT_TIMEOUT  3000
#define NGX_HTTP_SSE_REDIS_BACKOFF_MIN      100
#define NGX_HTTP_SSE_REDIS_BACKOFF_MAX      5000


static void ngx_http_sse_rconn_failed(ngx_http_sse_rconn_t *rc,
    const char *err);
static void ngx_http_sse_rconn_defer_drop(ngx_http_sse_rconn_t *rc,
    const char *why);
static void ngx_http_sse_rconn_timer_handler(ngx_event_t *ev);
static void ngx_http_sse_rconn_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_sse_rconn_selected(redisAsyncContext *ac, void *data,
    void *privdata);
static void ngx_http_sse_rconn_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_sse_rconn_read_handler(ngx_event_t *ev);
static void ngx_http_sse_rconn_write_handler(ngx_event_t *ev);
static void ngx_http_sse_rconn_add_read(void *data);
static void ngx_http_sse_rconn_del_read(void *data);
static void ngx_http_sse_rconn_add_write(void *data);
static void ngx_http_sse_rconn_del_write(void *data);
static void ngx_http_sse_rconn_cleanup(void *data);
static void ngx_http_sse_rconn_sent(ngx_http_sse_rconn_t *rc);


/* the worker is shutting down: no reconnection, no completion */
static ngx_uint_t  ngx_http_sse_rconn_stopping;


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
}


void
ngx_http_sse_rconn_exiting(ngx_uint_t exiting)
{
    ngx_http_sse_rconn_stopping = exiting;
}


void
ngx_http_sse_rconn_connect(ngx_http_sse_rconn_t *rc)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    rc->dropped = NULL;

    /* a numeric address: the connect(2) does not block */

    ac = redisAsyncConnect(rc->peer->host, rc->peer->port);

    if (ac == NULL) {
        ngx_http_sse_rconn_failed(rc, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_cpystrn(rc->error, (u_char *) ac->errstr, sizeof(rc->error));
        redisAsyncFree(ac);
        ngx_http_sse_rconn_failed(rc, (char *) rc->error);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rc->log);

    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_sse_rconn_failed(rc, "no free connection");
        return;
    }

    c->data = rc;
    c->read->handler = ngx_http_sse_rconn_read_handler;
    c->write->handler = ngx_http_sse_rconn_write_handler;
    c->read->log = rc->log;
    c->write->log = rc->log;

    rc->ac = ac;
    rc->c = c;
    rc->pending = 0;

    ac->data = rc;
    ac->ev.data = rc;
    ac->ev.addRead = ngx_http_sse_rconn_add_read;
    ac->ev.delRead = ngx_http_sse_rconn_del_read;
    ac->ev.addWrite = ngx_http_sse_rconn_add_write;
    ac->ev.delWrite = ngx_http_sse_rconn_del_write;
    ac->ev.cleanup = ngx_http_sse_rconn_cleanup;

    (void) redisAsyncSetConnectCallback(ac, ngx_http_sse_rconn_connected);
    (void) redisAsyncSetDisconnectCallback(ac,
                                           ngx_http_sse_rconn_disconnected);

    /* a peer gone without a word is noticed in about a minute */
    (void) redisEnableKeepAlive(&ac->c);

    /* writable: the connect(2) finished, one way or the other */
    ngx_http_sse_rconn_add_write(rc);

    ngx_add_timer(&rc->timer, NGX_HTTP_SSE_REDIS_CONNECT_TIMEOUT);
}


/*
 * A command; fn(ac, reply, privdata) gets its reply, or a NULL reply when
 * the connection goes first.  NGX_DECLINED: not connected.
 */

ngx_int_t
ngx_http_sse_rconn_send(ngx_http_sse_rconn_t *rc, redisCallbackFn *fn,
    void *privdata, int argc, const char **argv, const size_t *argvlen)
{
    if (rc->ac == NULL || (!rc->ready && !rc->subscriber)) {
        return NGX_DECLINED;
    }

    if (redisAsyncCommandArgv(rc->ac, fn, privdata, argc, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    if (!rc->subscriber) {
        ngx_http_sse_rconn_sent(rc);
    }

    return NGX_OK;
}


/* not connected: the protocol is told, and we try again after a while */

static void
ngx_http_sse_rconn_failed(ngx_http_sse_rconn_t *rc, const char *err)
{
    ngx_msec_t  delay;

    rc->ready = 0;

    if ((u_char *) err != rc->error) {
        ngx_cpystrn(rc->error, (u_char *) err, sizeof(rc->error));
    }

    rc->failed(rc, (char *) rc->error);

    if (ngx_exiting || ngx_terminate || ngx_quit
        || ngx_http_sse_rconn_stopping)
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


/* closes a connection that misbehaves; it is opened again */

void
ngx_http_sse_rconn_drop(ngx_http_sse_rconn_t *rc, const char *why)
{
    redisAsyncContext  *ac;

    ac = rc->ac;

    if (ac == NULL) {
        return;
    }

    if (!(ac->c.flags & REDIS_CONNECTED)) {
        rc->ac = NULL;
        redisAsyncFree(ac);
        ngx_http_sse_rconn_failed(rc, why);
        return;
    }

    /* the disconnect callback tells why and retries */
    rc->dropped = why;
    redisAsyncFree(ac);
}


/* the worker exits: pending commands get a NULL reply, nothing retries */

void
ngx_http_sse_rconn_close(ngx_http_sse_rconn_t *rc)
{
    redisAsyncContext  *ac;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    ac = rc->ac;

    if (ac) {
        rc->ac = NULL;
        redisAsyncFree(ac);
    }
}


/*
 * hiredis uses its context after the connect callback returns: a drop
 * decided there waits for the timer.
 */

static void
ngx_http_sse_rconn_defer_drop(ngx_http_sse_rconn_t *rc, const char *why)
{
    rc->dropped = why;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    ngx_add_timer(&rc->timer, 1);
}


static void
ngx_http_sse_rconn_timer_handler(ngx_event_t *ev)
{
    ngx_http_sse_rconn_t  *rc;

    rc = ev->data;

    if (rc->ac) {
        ngx_http_sse_rconn_drop(rc, rc->dropped ? rc->dropped
                                                : "connection timed out");
        return;
    }

    if (ngx_exiting || ngx_terminate || ngx_quit
        || ngx_http_sse_rconn_stopping)
    {
        return;
    }

    ngx_http_sse_rconn_connect(rc);
}


static void
ngx_http_sse_rconn_connected(const redisAsyncContext *ac, int status)
{
    const char            *err;
    ngx_http_sse_rconn_t  *rc;

    rc = ac->data;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns */
        rc->ac = NULL;
        ngx_cpystrn(rc->error, (u_char *) ac->errstr, sizeof(rc->error));
        ngx_http_sse_rconn_failed(rc, (char *) rc->error);
        return;
    }

    rc->backoff = 0;

    /* pub/sub channels are server-wide: a subscriber selects nothing */

    if (rc->peer->db && !rc->subscriber) {
        if (redisAsyncCommand(rc->ac, ngx_http_sse_rconn_selected, rc,
                              "SELECT %d", (int) rc->peer->db)
            != REDIS_OK)
        {
            ngx_http_sse_rconn_defer_drop(rc, "cannot select the database");
            return;
        }

        ngx_http_sse_rconn_sent(rc);
    }

    /* a subscriber is ready once Redis confirms its subscription */
    rc->ready = !rc->subscriber;

    err = rc->connected(rc);

    if (err) {
        ngx_http_sse_rconn_defer_drop(rc, err);
    }
}


static void
ngx_http_sse_rconn_selected(redisAsyncContext *ac, void *data,
    void *privdata)
{
    redisReply            *reply = data;
    ngx_http_sse_rconn_t  *rc = privdata;

    ngx_http_sse_rconn_replied(rc);

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                      "redis %V: SELECT %ui failed: %s",
                      &rc->peer->url, rc->peer->db, reply->str);
    }
}


static void
ngx_http_sse_rconn_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_sse_rconn_t  *rc;

    rc = ac->data;

    rc->ac = NULL;
    rc->ready = 0;
    rc->pending = 0;

    if (ngx_http_sse_rconn_stopping) {
        return;
    }

    if (rc->dropped) {
        ngx_http_sse_rconn_failed(rc, rc->dropped);
        return;
    }

    if (status == REDIS_OK || ac->errstr[0] == '\0') {
        ngx_http_sse_rconn_failed(rc, "connection closed");
        return;
    }

    ngx_cpystrn(rc->error, (u_char *) ac->errstr, sizeof(rc->error));
    ngx_http_sse_rconn_failed(rc, (char *) rc->error);
}


static void
ngx_http_sse_rconn_read_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_sse_rconn_t  *rc;

    c = ev->data;
    rc = c->data;

    if (rc->ac) {
        redisAsyncHandleRead(rc->ac);
    }
}


static void
ngx_http_sse_rconn_write_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_sse_rconn_t  *rc;

    c = ev->data;
    rc = c->data;

    if (rc->ac) {
        redisAsyncHandleWrite(rc->ac);
    }
}


/*
 * The adapter.  Events are level-triggered: hiredis reads at most 16k a
 * call and would otherwise miss the rest of a large reply with epoll's
 * edge-triggered mode.
 */

static void
ngx_http_sse_rconn_add_read(void *data)
{
    ngx_http_sse_rconn_t *rc = data;

    if (rc->c && !rc->c->read->active) {
        if (ngx_add_event(rc->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, rc->log, 0,
                          "sse: cannot watch a redis connection");
        }
    }
}


static void
ngx_http_sse_rconn_del_read(void *data)
{
    ngx_http_sse_rconn_t *rc = data;

    if (rc->c && rc->c->read->active) {
        (void) ngx_del_event(rc->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_sse_rconn_add_write(void *data)
{
    ngx_http_sse_rconn_t *rc = data;

    if (rc->c && !rc->c->write->active) {
        if (ngx_add_event(rc->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, rc->log, 0,
                          "sse: cannot watch a redis connection");
        }
    }
}


static void
ngx_http_sse_rconn_del_write(void *data)
{
    ngx_http_sse_rconn_t *rc = data;

    if (rc->c && rc->c->write->active) {
        (void) ngx_del_event(rc->c->write, NGX_WRITE_EVENT,
                             NGX_LEVEL_EVENT);
    }
}


/* hiredis closes the socket right after this: only nginx's side goes */

static void
ngx_http_sse_rconn_cleanup(void *data)
{
    ngx_http_sse_rconn_t *rc = data;

    ngx_connection_t  *c;

    c = rc->c;

    if (c == NULL) {
        return;
    }

    rc->c = NULL;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
}


static void
ngx_http_sse_rconn_sent(ngx_http_sse_rconn_t *rc)
{
    if (rc->pending++ == 0) {
        rc->progress = ngx_current_msec;
    }
}


void
ngx_http_sse_rconn_replied(ngx_http_sse_rconn_t *rc)
{
    if (rc->pending) {
        rc->pending--;
    }

    rc->progress = ngx_current_msec;
}
