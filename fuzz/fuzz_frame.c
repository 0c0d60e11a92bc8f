
/*
 * SSE framing and JSON escaping.  The frame of any event name and payload
 * fits its computed size, and an EventSource parser reading it back gets
 * the payload with its line breaks as LF, and the event name.
 */


#include "fuzz_common.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *frame, *end, *p, *line, *eol, *expect, *e, *got, *g;
    size_t      fsize, elen;
    ngx_str_t   event, payload, s;
    ngx_uint_t  i, first;

    if (size == 0) {
        return 0;
    }

    /* the event name: no CR, LF or NUL, as the publish checks ensure */
    elen = ngx_min((size_t) data[0] % 16, size - 1);

    for (i = 1; i <= elen; i++) {
        if (data[i] == CR || data[i] == LF || data[i] == '\0') {
            return 0;
        }
    }

    event.data = malloc(elen + 1);
    payload.len = size - 1 - elen;
    payload.data = malloc(payload.len + 1);

    if (event.data == NULL || payload.data == NULL) {
        abort();
    }

    event.len = elen;
    memcpy(event.data, data + 1, elen);
    memcpy(payload.data, data + 1 + elen, payload.len);

    fsize = ngx_http_sse_frame_size(42, &event, &payload);
    frame = malloc(fsize);
    if (frame == NULL) {
        abort();
    }

    end = ngx_http_sse_frame_write(frame, 42, &event, &payload);
    ngx_http_sse_fuzz_check((size_t) (end - frame) <= fsize);
    ngx_http_sse_fuzz_check(end - frame >= 2 && end[-1] == LF && end[-2] == LF);

    /* read it back as EventSource does */

    got = malloc(payload.len + 1);
    expect = malloc(payload.len + 1);
    if (got == NULL || expect == NULL) {
        abort();
    }

    g = got;
    first = 1;

    for (p = frame; p < end - 1; p = eol + 1) {
        eol = ngx_strlchr(p, end, LF);
        ngx_http_sse_fuzz_check(eol != NULL);
        line = p;

        /* no line of a frame holds a CR: it would end the line for a browser */
        ngx_http_sse_fuzz_check(ngx_strlchr(line, eol, CR) == NULL);

        if (eol - line >= 6 && ngx_strncmp(line, "data: ", 6) == 0) {
            if (!first) {
                *g++ = LF;
            }

            first = 0;
            g = ngx_cpymem(g, line + 6, eol - line - 6);

        } else if (eol - line >= 7 && ngx_strncmp(line, "event: ", 7) == 0) {
            ngx_http_sse_fuzz_check((size_t) (eol - line - 7) == event.len
                                    && ngx_memcmp(line + 7, event.data,
                                                  event.len) == 0);

        } else {
            ngx_http_sse_fuzz_check(eol - line >= 4
                                    && ngx_strncmp(line, "id: ", 4) == 0);
        }
    }

    /* the payload with CRLF and CR turned into LF */

    e = expect;

    for (i = 0; i < payload.len; i++) {
        if (payload.data[i] == CR) {
            *e++ = LF;

            if (i + 1 < payload.len && payload.data[i + 1] == LF) {
                i++;
            }

        } else {
            *e++ = payload.data[i];
        }
    }

    ngx_http_sse_fuzz_check(g - got == e - expect
                            && ngx_memcmp(got, expect, e - expect) == 0);

    /* JSON escaping writes exactly what it said it would */

    s = payload;
    fsize = ngx_http_sse_json_escape_size(&s);
    p = malloc(fsize + 1);
    if (p == NULL) {
        abort();
    }

    ngx_http_sse_fuzz_check((size_t) (ngx_http_sse_json_escape(p, &s) - p)
                            == fsize);

    free(p);
    free(got);
    free(expect);
    free(frame);
    free(event.data);
    free(payload.data);

    return 0;
}
