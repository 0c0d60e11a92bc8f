
/*
 * The store interface: what the handlers ask of a zone, whichever backend
 * keeps it.
 *
 * An operation (publish, info, delete) is an ngx_http_sse_op_t that the
 * caller fills in and passes to ngx_http_sse_store_start().  A backend
 * either completes it at once (the shared-memory store: NGX_OK, op->status
 * set, op->handler not called) or later (Redis: NGX_AGAIN, then
 * op->handler(op) from the event loop, never from inside the start call).
 * NGX_ERROR: no memory, nothing started.
 *
 * The caller builds the reply from op->status and the results, the same
 * way for every backend (ngx_http_sse_store_reply, ngx_http_sse_error.c).
 *
 * Subscribers and history are read from the zone's shared memory with
 * either backend (Redis mirrors its log there): ngx_http_sse_store_subscribe
 * and friends in ngx_http_sse_module.h.
 *
 * Two hooks let the layers above learn what the store did without the
 * store calling up into them: zone->arrived (messages were appended: ring
 * these workers), installed by the wake-ups, and zone->changed (this
 * worker's subscribers came or went), installed by a backend that reports
 * them elsewhere.
 */


#ifndef _NGX_HTTP_SSE_STORE_H_INCLUDED_
#define _NGX_HTTP_SSE_STORE_H_INCLUDED_


#include "ngx_http_sse_module.h"


#define NGX_HTTP_SSE_OP_PUBLISH          1
#define NGX_HTTP_SSE_OP_INFO             2
#define NGX_HTTP_SSE_OP_DELETE           3

/* op->status */
#define NGX_HTTP_SSE_STORE_OK            0
#define NGX_HTTP_SSE_STORE_UNKNOWN       1   /* no such channel */
#define NGX_HTTP_SSE_STORE_FULL          2   /* no room in the zone */
#define NGX_HTTP_SSE_STORE_UNAVAILABLE   3   /* the backend cannot answer */
#define NGX_HTTP_SSE_STORE_REFUSED       4   /* ... answered with an error */


typedef struct ngx_http_sse_op_s  ngx_http_sse_op_t;

typedef void (*ngx_http_sse_op_done_pt)(ngx_http_sse_op_t *op);


struct ngx_http_sse_op_s {
    ngx_uint_t                  type;        /* NGX_HTTP_SSE_OP_* */
    ngx_http_sse_zone_t        *zone;
    ngx_pool_t                 *pool;        /* lives until completion */
    ngx_log_t                  *log;

    /* publish: in msgs, out res (one per message and channel) */
    ngx_http_sse_pmsg_t        *msgs;
    ngx_uint_t                  nmsgs;
    ngx_http_sse_presult_t     *res;
    ngx_uint_t                  nres;

    /* info, delete: in channel (info.channel), out info */
    ngx_http_sse_info_t         info;

    ngx_uint_t                  status;      /* NGX_HTTP_SSE_STORE_* */
    unsigned                    as_array:1;  /* publish: reply an array */

    ngx_http_sse_op_done_pt     handler;     /* a later completion */
    void                       *data;
};


/* what a backend fills in */
struct ngx_http_sse_backend_s {
    const char                 *name;        /* in errors: "redis" */
    ngx_int_t                 (*publish)(ngx_http_sse_op_t *op);
    ngx_int_t                 (*info)(ngx_http_sse_op_t *op);
    ngx_int_t                 (*delete)(ngx_http_sse_op_t *op);
};


ngx_int_t ngx_http_sse_store_start(ngx_http_sse_op_t *op);

/* the reply to an operation: ngx_http_sse_error.c */
ngx_int_t ngx_http_sse_store_reply(ngx_http_request_t *r,
    ngx_http_sse_op_t *op);

/* the shared-memory backend, which every zone has unless another is set */
extern ngx_http_sse_backend_t  ngx_http_sse_shm_backend;


#endif /* _NGX_HTTP_SSE_STORE_H_INCLUDED_ */
