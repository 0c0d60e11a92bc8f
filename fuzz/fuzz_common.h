
/*
 * Shared by the fuzz targets: a pool per input, and the log nginx's pool
 * code wants.
 */


#ifndef _NGX_HTTP_SSE_FUZZ_COMMON_H_INCLUDED_
#define _NGX_HTTP_SSE_FUZZ_COMMON_H_INCLUDED_


#include "../ngx_http_sse_module.h"

#include <stdlib.h>


static ngx_log_t  ngx_http_sse_fuzz_log;


static ngx_pool_t *
ngx_http_sse_fuzz_pool(void)
{
    ngx_pool_t  *pool;

    ngx_pagesize = 4096;
    ngx_cacheline_size = 64;

    pool = ngx_create_pool(4096, &ngx_http_sse_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    return pool;
}


#define ngx_http_sse_fuzz_check(cond)                                        \
    if (!(cond)) {                                                           \
        abort();                                                             \
    }


#endif /* _NGX_HTTP_SSE_FUZZ_COMMON_H_INCLUDED_ */
