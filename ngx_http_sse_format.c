
/*
 * Server-Sent Events framing and JSON string escaping.  Pure functions on
 * memory, free of request objects, so that they can be fuzzed.
 */


#include "ngx_http_sse_module.h"


static ngx_uint_t ngx_http_sse_event_omitted(ngx_str_t *event);


static ngx_uint_t
ngx_http_sse_event_omitted(ngx_str_t *event)
{
    return event == NULL
           || event->len == 0
           || (event->len == 7 && ngx_strncmp(event->data, "message", 7) == 0);
}


/*
 * "id: N\n", "event: E\n" (left out for "message"), one "data: " line per
 * line of the payload (a line ends at LF, CRLF or a lone CR), "\n".
 * An id of 0 writes no "id:" line.
 */

size_t
ngx_http_sse_frame_size(uint64_t id, ngx_str_t *event, ngx_str_t *data)
{
    size_t   size;
    u_char  *p, *end;

    size = 0;

    if (id) {
        size += sizeof("id: \n") - 1 + NGX_INT64_LEN;
    }

    if (!ngx_http_sse_event_omitted(event)) {
        size += sizeof("event: \n") - 1 + event->len;
    }

    size += sizeof("data: \n") - 1 + data->len;

    p = data->data;
    end = p + data->len;

    for ( /* void */ ; p < end; p++) {
        if (*p == LF || (*p == CR && (p + 1 == end || p[1] != LF))) {
            size += sizeof("data: ") - 1;
        }
    }

    return size + 1;
}


u_char *
ngx_http_sse_frame_write(u_char *p, uint64_t id, ngx_str_t *event,
    ngx_str_t *data)
{
    u_char  *s, *end;

    if (id) {
        p = ngx_sprintf(p, "id: %uL\n", id);
    }

    if (!ngx_http_sse_event_omitted(event)) {
        p = ngx_cpymem(p, "event: ", sizeof("event: ") - 1);
        p = ngx_cpymem(p, event->data, event->len);
        *p++ = LF;
    }

    p = ngx_cpymem(p, "data: ", sizeof("data: ") - 1);

    s = data->data;
    end = s + data->len;

    while (s < end) {

        if (*s == CR) {
            s++;

            if (s < end && *s == LF) {
                s++;
            }

        } else if (*s == LF) {
            s++;

        } else {
            *p++ = *s++;
            continue;
        }

        p = ngx_cpymem(p, "\ndata: ", sizeof("\ndata: ") - 1);
    }

    *p++ = LF;
    *p++ = LF;

    return p;
}


size_t
ngx_http_sse_json_escape_size(ngx_str_t *s)
{
    size_t   size;
    u_char  *p, *end;

    size = s->len;
    end = s->data + s->len;

    for (p = s->data; p < end; p++) {
        if (*p == '"' || *p == '\\' || *p == LF || *p == CR || *p == '\t') {
            size++;

        } else if (*p < 0x20) {
            size += sizeof("\\u00XX") - 2;
        }
    }

    return size;
}


u_char *
ngx_http_sse_json_escape(u_char *p, ngx_str_t *s)
{
    u_char         *c, *end;
    static u_char   hex[] = "0123456789abcdef";

    end = s->data + s->len;

    for (c = s->data; c < end; c++) {

        switch (*c) {

        case '"':
        case '\\':
            *p++ = '\\';
            *p++ = *c;
            break;

        case LF:
            *p++ = '\\';
            *p++ = 'n';
            break;

        case CR:
            *p++ = '\\';
            *p++ = 'r';
            break;

        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;

        default:
            if (*c < 0x20) {
                p = ngx_cpymem(p, "\\u00", sizeof("\\u00") - 1);
                *p++ = hex[*c >> 4];
                *p++ = hex[*c & 0xf];

            } else {
                *p++ = *c;
            }
        }
    }

    return p;
}


/*
 * A reply written by one function twice: first only sized (pos NULL),
 * then written into a buffer of that size, so that no reply counts its
 * bytes by hand.
 */

ngx_int_t
ngx_http_sse_text_build(ngx_pool_t *pool, ngx_http_sse_text_pt write,
    void *data, ngx_str_t *out)
{
    ngx_http_sse_text_t  t;

    t.pos = NULL;
    t.size = 0;

    write(&t, data);

    out->data = ngx_pnalloc(pool, t.size);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    t.pos = out->data;

    write(&t, data);

    out->len = t.pos - out->data;

    return NGX_OK;
}


/* text as it is */

void
ngx_http_sse_text_put(ngx_http_sse_text_t *t, const char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    if (t->pos == NULL) {
        t->size += len;
        return;
    }

    t->pos = ngx_cpymem(t->pos, text, len);
}


/* a string, escaped as in a JSON string (without the quotes) */

void
ngx_http_sse_text_escaped(ngx_http_sse_text_t *t, ngx_str_t *s)
{
    if (t->pos == NULL) {
        t->size += ngx_http_sse_json_escape_size(s);
        return;
    }

    t->pos = ngx_http_sse_json_escape(t->pos, s);
}


/* a number in decimal */

void
ngx_http_sse_text_number(ngx_http_sse_text_t *t, uint64_t n)
{
    if (t->pos == NULL) {
        t->size += NGX_INT64_LEN;
        return;
    }

    t->pos = ngx_sprintf(t->pos, "%uL", n);
}
