
/*
 * What the handlers read from a request: the body in one piece, a header,
 * the content type, a directive's value.  Below every handler; calls no
 * other file of the module.
 */


#include "ngx_http_sse_module.h"


/* the module's context of a request, made when it has none yet */

ngx_http_sse_ctx_t *
ngx_http_sse_request_ctx(ngx_http_request_t *r)
{
    ngx_http_sse_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sse_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_sse_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_sse_module);
    }

    return ctx;
}


/* the whole body in one piece, whether in memory buffers or in a file */

ngx_int_t
ngx_http_sse_request_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    body->data = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            if (b->last != b->pos) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }

            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "sse: cannot read the request body from \"%V\"",
                          &b->file->name);
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}


ngx_uint_t
ngx_http_sse_content_type_is(ngx_http_request_t *r, const char *type,
    size_t len)
{
    ngx_table_elt_t  *ct;

    ct = r->headers_in.content_type;

    if (ct == NULL || ct->value.len < len
        || ngx_strncasecmp(ct->value.data, (u_char *) type, len) != 0)
    {
        return 0;
    }

    return ct->value.len == len
           || ct->value.data[len] == ';'
           || ct->value.data[len] == ' ';
}


/*
 * A directive's value, percent-decoded once: browsers send
 * ?channel=encodeURIComponent(name).
 */

ngx_int_t
ngx_http_sse_complex_value(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_str_t *value)
{
    u_char  *src, *dst;

    if (ngx_http_complex_value(r, cv, value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value->len == 0
        || ngx_strlchr(value->data, value->data + value->len, '%') == NULL)
    {
        return NGX_OK;
    }

    dst = ngx_pnalloc(r->pool, value->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    src = value->data;
    value->data = dst;

    ngx_unescape_uri(&dst, &src, value->len, 0);

    value->len = dst - value->data;

    return NGX_OK;
}


/* a request header by name; NGX_DECLINED when absent or empty */

ngx_int_t
ngx_http_sse_header_value(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0
            && h[i].value.len)
        {
            *value = h[i].value;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}
