
/*
 * The Redis backend's two halves, private to them: its connection
 * (ngx_http_sse_redis_conn.c: connect, reconnect with back-off, events,
 * timeouts) under its protocol (ngx_http_sse_redis.c: the scripts, the log
 * mirrored into the zone, the store operations).
 *
 * The connection's API is what the protocol uses and nothing more, so that
 * another transport can take its place: init, connect, send, replied,
 * drop, close; and two hooks a connection calls, connected (the protocol
 * sends its first commands) and failed (lost or not connected; the
 * connection tries again by itself).
 */


#ifndef _NGX_HTTP_SSE_REDIS_H_INCLUDED_
#define _NGX_HTTP_SSE_REDIS_H_INCLUDED_


#include "ngx_http_sse_store.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


/* where the connections go, from redis=redis://host[:port][/db] */
typedef struct {
    ngx_str_t                   url;
    char                        host[NGX_SOCKADDR_STRLEN + 1];
    int                         port;
    ngx_uint_t                  db;
} ngx_http_sse_redis_peer_t;


typedef struct ngx_http_sse_rconn_s  ngx_http_sse_rconn_t;

/* NULL, or why the connection is to be dropped */
typedef const char *(*ngx_http_sse_rconn_connected_pt)(
    ngx_http_sse_rconn_t *rc);
typedef void (*ngx_http_sse_rconn_failed_pt)(ngx_http_sse_rconn_t *rc,
    const char *err);


/* a connection to Redis, with its retry state */
struct ngx_http_sse_rconn_s {
    redisAsyncContext          *ac;
    ngx_connection_t           *c;
    ngx_http_sse_redis_peer_t  *peer;
    ngx_log_t                  *log;
    ngx_event_t                 timer;       /* connect timeout, retry */
    ngx_msec_t                  backoff;
    ngx_uint_t                  pending;     /* replies awaited */
    ngx_msec_t                  progress;    /* last reply, or first wait */
    const char                 *dropped;     /* why we closed it */
    u_char                      error[128];

    ngx_http_sse_rconn_connected_pt  connected;
    ngx_http_sse_rconn_failed_pt     failed;
    void                       *data;

    unsigned                    subscriber:1; /* pub/sub: no SELECT, no
                                                 replies counted */
    unsigned                    ready:1;
};


void ngx_http_sse_rconn_init(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_redis_peer_t *peer, ngx_log_t *log);
void ngx_http_sse_rconn_connect(ngx_http_sse_rconn_t *rc);
ngx_int_t ngx_http_sse_rconn_send(ngx_http_sse_rconn_t *rc,
    redisCallbackFn *fn, void *privdata, int argc, const char **argv,
    const size_t *argvlen);
void ngx_http_sse_rconn_replied(ngx_http_sse_rconn_t *rc);
void ngx_http_sse_rconn_drop(ngx_http_sse_rconn_t *rc, const char *why);
void ngx_http_sse_rconn_close(ngx_http_sse_rconn_t *rc);
void ngx_http_sse_rconn_exiting(ngx_uint_t exiting);


#endif /* _NGX_HTTP_SSE_REDIS_H_INCLUDED_ */
