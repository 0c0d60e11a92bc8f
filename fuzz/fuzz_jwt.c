
/*
 * Token verification on arbitrary input (never accepted unless signed with
 * the secret), and sign-then-verify round trips with fuzzed claims.
 */


#include "fuzz_common.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *copy;
    time_t               now;
    ngx_str_t            secret, token, user, channel;
    ngx_int_t            rc;
    ngx_pool_t          *pool;
    const char          *err;
    ngx_http_sse_jwt_t   jwt;

    pool = ngx_http_sse_fuzz_pool();

    ngx_str_set(&secret, "fuzz-secret-0123456789abcdef0123456789");
    now = 1700000000;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    /* 1: whatever comes, verification does not crash or accept forgeries */

    token.data = copy;
    token.len = size;

    err = NULL;
    rc = ngx_http_sse_jwt_verify(pool, &token, &secret, now, &jwt, &err);
    ngx_http_sse_fuzz_check(rc == NGX_OK || err != NULL);

    /* 2: a token we sign for a fuzzed user and channel verifies back */

    if (size >= 2) {
        user.data = copy + 1;
        user.len = ngx_min((size_t) copy[0] % 64, size - 1);
        channel.data = copy + 1 + user.len;
        channel.len = ngx_min((size_t) copy[0] % 32, size - 1 - user.len);

        if (ngx_strlchr(user.data, user.data + user.len, '\0') == NULL
            && ngx_http_sse_channel_valid(&channel) == NGX_OK
            && ngx_http_sse_jwt_sign(pool, &secret, &user, &channel, 1, now,
                                     now + 60, &token)
               == NGX_OK)
        {
            rc = ngx_http_sse_jwt_verify(pool, &token, &secret, now, &jwt,
                                         &err);
            ngx_http_sse_fuzz_check(rc == NGX_OK);
            ngx_http_sse_fuzz_check(jwt.user.len == user.len
                                    && ngx_memcmp(jwt.user.data, user.data,
                                                  user.len) == 0);
            ngx_http_sse_fuzz_check(ngx_http_sse_jwt_allows(&jwt, &channel));

            /* one flipped bit anywhere and it is refused */
            token.data[copy[1] % token.len] ^= 1 << (copy[0] % 7);
            rc = ngx_http_sse_jwt_verify(pool, &token, &secret, now, &jwt,
                                         &err);
            ngx_http_sse_fuzz_check(rc != NGX_OK);
        }
    }

    free(copy);
    ngx_destroy_pool(pool);

    return 0;
}
