
/*
 * Publish bodies: JSON, form, channel lists and token requests.  The first
 * byte picks the parser.  Beyond "no crash": every accepted message is
 * checked and framed, and the frame fits its computed size.
 */


#include "fuzz_common.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char               *body, *frame, *end;
    size_t                len, fsize;
    time_t                ttl;
    ngx_str_t             err, channel, user, value;
    ngx_uint_t            i, kind;
    ngx_pool_t           *pool;
    ngx_array_t           msgs, names;
    ngx_http_sse_pmsg_t  *m;

    if (size == 0) {
        return 0;
    }

    kind = data[0] % 5;
    len = size - 1;

    pool = ngx_http_sse_fuzz_pool();

    /* a copy of exactly len bytes: overreads are caught */
    body = malloc(len ? len : 1);
    if (body == NULL) {
        abort();
    }

    memcpy(body, data + 1, len);

    ngx_str_set(&channel, "global");

    ngx_array_init(&msgs, pool, 1, sizeof(ngx_http_sse_pmsg_t));
    ngx_array_init(&names, pool, 4, sizeof(ngx_str_t));

    switch (kind) {

    case 0:
    case 1:
        if ((kind == 0
             ? ngx_http_sse_parse_json(pool, body, len, &channel, &msgs, &err)
             : ngx_http_sse_parse_form(pool, body, len, &channel, &msgs,
                                       &err))
            != NGX_OK)
        {
            ngx_http_sse_fuzz_check(err.len > 0);
            break;
        }

        m = msgs.elts;

        for (i = 0; i < msgs.nelts; i++) {
            if (ngx_http_sse_check_message(&m[i], 65536, &err) != NGX_OK) {
                continue;
            }

            fsize = ngx_http_sse_frame_size(i + 1, &m[i].event, &m[i].data);
            frame = malloc(fsize);
            if (frame == NULL) {
                abort();
            }

            end = ngx_http_sse_frame_write(frame, i + 1, &m[i].event,
                                           &m[i].data);
            ngx_http_sse_fuzz_check((size_t) (end - frame) <= fsize);
            free(frame);
        }

        break;

    case 2:
        value.data = body;
        value.len = len;

        if (ngx_http_sse_split_channels(&value, &names, &err)
            == NGX_OK)
        {
            ngx_http_sse_fuzz_check(names.nelts >= 1
                                    && names.nelts <= NGX_HTTP_SSE_MAX_CHANNELS);

            for (i = 0; i < names.nelts; i++) {
                ngx_http_sse_fuzz_check(ngx_http_sse_channel_valid(
                                            &((ngx_str_t *) names.elts)[i])
                                        == NGX_OK);
            }
        }

        break;

    default:
        (void) ngx_http_sse_parse_token_request(pool, body, len, kind == 3,
                                                &user, &names, &ttl, &err);
        break;
    }

    free(body);
    ngx_destroy_pool(pool);

    return 0;
}
