
/*
 * The store interface (ngx_http_sse_store.h): an operation goes to its
 * zone's backend.  Here also the shared-memory backend's operations, which
 * complete at once on the store of ngx_http_sse_channel.c.
 */


#include "ngx_http_sse_store.h"


static ngx_int_t ngx_http_sse_shm_publish(ngx_http_sse_op_t *op);
static ngx_int_t ngx_http_sse_shm_info(ngx_http_sse_op_t *op);
static ngx_int_t ngx_http_sse_shm_delete(ngx_http_sse_op_t *op);


ngx_http_sse_backend_t  ngx_http_sse_shm_backend = {
    "shared memory",
    ngx_http_sse_shm_publish,
    ngx_http_sse_shm_info,
    ngx_http_sse_shm_delete
};


ngx_int_t
ngx_http_sse_store_start(ngx_http_sse_op_t *op)
{
    ngx_http_sse_backend_t  *backend;

    backend = op->zone->backend;
    op->status = NGX_HTTP_SSE_STORE_OK;

    switch (op->type) {

    case NGX_HTTP_SSE_OP_PUBLISH:
        return backend->publish(op);

    case NGX_HTTP_SSE_OP_INFO:
        return backend->info(op);

    default: /* NGX_HTTP_SSE_OP_DELETE */
        return backend->delete(op);
    }
}


static ngx_int_t
ngx_http_sse_shm_publish(ngx_http_sse_op_t *op)
{
    ngx_int_t  rc;

    rc = ngx_http_sse_store_publish(op->zone, op->msgs, op->nmsgs, op->res,
                                    op->log);

    if (rc == NGX_DECLINED) {
        op->status = NGX_HTTP_SSE_STORE_FULL;
        return NGX_OK;
    }

    return rc;
}


static ngx_int_t
ngx_http_sse_shm_info(ngx_http_sse_op_t *op)
{
    if (ngx_http_sse_store_info(op->zone, &op->info.channel, &op->info)
        != NGX_OK)
    {
        op->status = NGX_HTTP_SSE_STORE_UNKNOWN;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_sse_shm_delete(ngx_http_sse_op_t *op)
{
    ngx_int_t  rc;

    rc = ngx_http_sse_store_delete(op->zone, &op->info.channel, 0, &op->info,
                                   op->log);

    if (rc == NGX_DECLINED) {
        op->status = NGX_HTTP_SSE_STORE_UNKNOWN;

    } else if (rc != NGX_OK) {
        op->status = NGX_HTTP_SSE_STORE_FULL;
    }

    return NGX_OK;
}
