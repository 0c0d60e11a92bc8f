
/*
 * JSON replies.  Every error of an SSE location is
 * {"error":"<what is wrong>","status":<code>}, including the pages nginx
 * itself makes before the module's handler runs (a body over
 * client_max_body_size, allow/deny, limit_req): a header and body filter
 * turns those HTML pages into the same JSON.
 */


#include "ngx_http_sse_store.h"


typedef struct {
    ngx_uint_t                  status;
    ngx_str_t                  *what;
} ngx_http_sse_error_t;


static ngx_int_t ngx_http_sse_publish_reply(ngx_http_request_t *r,
    ngx_http_sse_op_t *op);
static void ngx_http_sse_publish_json(ngx_http_sse_text_t *t, void *data);
static ngx_int_t ngx_http_sse_info_reply(ngx_http_request_t *r,
    ngx_http_sse_op_t *op);
static void ngx_http_sse_info_json(ngx_http_sse_text_t *t, void *data);
static ngx_int_t ngx_http_sse_error_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *what, ngx_str_t *body);
static void ngx_http_sse_error_text(ngx_http_sse_text_t *t, void *data);
static ngx_int_t ngx_http_sse_error_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_error_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

/* what nginx's own error pages mean, for the JSON that replaces them */
static ngx_str_t  ngx_http_sse_err_413 =
    ngx_string("request body is larger than client_max_body_size");


ngx_int_t
ngx_http_sse_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_str_t  type = ngx_string("application/json");

    return ngx_http_sse_send_body(r, status, &type, body);
}


/*
 * A whole response: status, type, length and body.  Every reply of the
 * module passes here, the early ones too (401, 405, ...): a request body
 * nobody read is discarded first, as nginx does before its own pages, or
 * its bytes would be taken for the next request on a keep-alive
 * connection.  When the body cannot be discarded (bad chunked encoding),
 * the connection ends with the reply.
 */

ngx_int_t
ngx_http_sse_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    /* the reply is decided: no "100 Continue" for the body */
    r->expect_tested = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* {"error":"<what is wrong>","status":<code>} */

ngx_int_t
ngx_http_sse_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char     *p, text[NGX_MAX_ERROR_STR];
    va_list     args;
    ngx_str_t   what, body;

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    what.data = text;
    what.len = p - text;

    if (ngx_http_sse_error_json(r, status, &what, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "sse: %ui %V", status, &what);

    return ngx_http_sse_send_json(r, status, &body);
}


/*
 * The reply to a store operation, whichever backend answered: its results,
 * or the error its status means.
 */

ngx_int_t
ngx_http_sse_store_reply(ngx_http_request_t *r, ngx_http_sse_op_t *op)
{
    const char  *name;

    name = op->zone->backend->name;

    switch (op->status) {

    case NGX_HTTP_SSE_STORE_OK:
        break;

    case NGX_HTTP_SSE_STORE_UNKNOWN:
        return ngx_http_sse_send_error(r, NGX_HTTP_NOT_FOUND,
                                       "unknown channel");

    case NGX_HTTP_SSE_STORE_FULL:
        return ngx_http_sse_send_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                                       "sse_zone \"%V\" is full",
                                       &op->zone->name);

    case NGX_HTTP_SSE_STORE_REFUSED:
        if (op->type == NGX_HTTP_SSE_OP_PUBLISH) {
            return ngx_http_sse_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "%s refused the publish", name);
        }

        /* fall through */

    default: /* NGX_HTTP_SSE_STORE_UNAVAILABLE */
        return ngx_http_sse_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "%s unavailable", name);
    }

    if (op->type == NGX_HTTP_SSE_OP_PUBLISH) {
        return ngx_http_sse_publish_reply(r, op);
    }

    /* NGX_HTTP_SSE_OP_INFO, NGX_HTTP_SSE_OP_DELETE */

    return ngx_http_sse_info_reply(r, op);
}


static ngx_int_t
ngx_http_sse_publish_reply(ngx_http_request_t *r, ngx_http_sse_op_t *op)
{
    ngx_str_t  body;

    if (ngx_http_sse_text_build(r->pool, ngx_http_sse_publish_json, op, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_sse_send_json(r, NGX_HTTP_OK, &body);
}


/* {"id":"..","channel":"..","subscribers":N}, or an array of them */

static void
ngx_http_sse_publish_json(ngx_http_sse_text_t *t, void *data)
{
    ngx_http_sse_op_t  *op = data;

    ngx_uint_t               i;
    ngx_http_sse_presult_t  *res;

    res = op->res;

    if (op->as_array) {
        ngx_http_sse_text_put(t, "[");
    }

    for (i = 0; i < op->nres; i++) {
        ngx_http_sse_text_put(t, i ? ",{\"id\":\"" : "{\"id\":\"");
        ngx_http_sse_text_number(t, res[i].id);
        ngx_http_sse_text_put(t, "\",\"channel\":\"");
        ngx_http_sse_text_escaped(t, &res[i].channel);
        ngx_http_sse_text_put(t, "\",\"subscribers\":");
        ngx_http_sse_text_number(t, res[i].subscribers);
        ngx_http_sse_text_put(t, "}");
    }

    if (op->as_array) {
        ngx_http_sse_text_put(t, "]");
    }
}


/* a channel's figures (GET), or what DELETE removed */

static ngx_int_t
ngx_http_sse_info_reply(ngx_http_request_t *r, ngx_http_sse_op_t *op)
{
    ngx_str_t  body;

    if (ngx_http_sse_text_build(r->pool, ngx_http_sse_info_json, op, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_sse_send_json(r, NGX_HTTP_OK, &body);
}


static void
ngx_http_sse_info_json(ngx_http_sse_text_t *t, void *data)
{
    ngx_http_sse_op_t  *op = data;

    ngx_http_sse_text_put(t, "{\"channel\":\"");
    ngx_http_sse_text_escaped(t, &op->info.channel);

    if (op->type == NGX_HTTP_SSE_OP_DELETE) {
        ngx_http_sse_text_put(t, "\",\"deleted\":true,\"subscribers\":");
        ngx_http_sse_text_number(t, op->info.subscribers);
        ngx_http_sse_text_put(t, "}");
        return;
    }

    ngx_http_sse_text_put(t, "\",\"subscribers\":");
    ngx_http_sse_text_number(t, op->info.subscribers);
    ngx_http_sse_text_put(t, ",\"messages\":");
    ngx_http_sse_text_number(t, op->info.messages);
    ngx_http_sse_text_put(t, ",\"last_event_id\":\"");
    ngx_http_sse_text_number(t, op->info.last_id);
    ngx_http_sse_text_put(t, "\"}");
}


/* {"error":"<what is wrong>","status":<code>} */

static ngx_int_t
ngx_http_sse_error_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *what, ngx_str_t *body)
{
    ngx_http_sse_error_t  e;

    e.status = status;
    e.what = what;

    return ngx_http_sse_text_build(r->pool, ngx_http_sse_error_text, &e, body);
}


static void
ngx_http_sse_error_text(ngx_http_sse_text_t *t, void *data)
{
    ngx_http_sse_error_t  *e = data;

    ngx_http_sse_text_put(t, "{\"error\":\"");
    ngx_http_sse_text_escaped(t, e->what);
    ngx_http_sse_text_put(t, "\",\"status\":");
    ngx_http_sse_text_number(t, e->status);
    ngx_http_sse_text_put(t, "}");
}


ngx_int_t
ngx_http_sse_error_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_sse_error_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_sse_error_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_sse_error_header_filter(ngx_http_request_t *r)
{
    u_char                   *p;
    ngx_str_t                 what;
    ngx_uint_t                status;
    ngx_http_sse_ctx_t       *ctx;
    ngx_http_sse_loc_conf_t  *slcf;

    status = r->headers_out.status;

    if (status < NGX_HTTP_BAD_REQUEST || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    /* only nginx's own pages: the module's replies are JSON already */

    if (slcf->role == 0
        || r->headers_out.content_type.len < sizeof("text/html") - 1
        || ngx_strncasecmp(r->headers_out.content_type.data,
                           (u_char *) "text/html", sizeof("text/html") - 1)
           != 0)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_sse_request_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->access_why && status == ctx->access_status) {
        /* the access phase's refusal, with its reason */
        what.data = (u_char *) ctx->access_why;
        what.len = ngx_strlen(ctx->access_why);

    } else if (status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        what = ngx_http_sse_err_413;

    } else if (r->headers_out.status_line.len) {
        what = r->headers_out.status_line;

    } else {
        /* "Forbidden", "Too Many Requests": the reason phrase */
        what.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (what.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(what.data, "%ui", status);
        what.len = p - what.data;

        switch (status) {
        case NGX_HTTP_UNAUTHORIZED:
            ngx_str_set(&what, "unauthorized");
            break;
        case NGX_HTTP_FORBIDDEN:
            ngx_str_set(&what, "forbidden");
            break;
        case NGX_HTTP_NOT_FOUND:
            ngx_str_set(&what, "not found");
            break;
        case NGX_HTTP_NOT_ALLOWED:
            ngx_str_set(&what, "method not allowed");
            break;
        case NGX_HTTP_REQUEST_TIME_OUT:
            ngx_str_set(&what, "request timed out");
            break;
        case NGX_HTTP_TOO_MANY_REQUESTS:
            ngx_str_set(&what, "too many requests");
            break;
        case NGX_HTTP_SERVICE_UNAVAILABLE:
            ngx_str_set(&what, "service unavailable");
            break;
        case NGX_HTTP_INTERNAL_SERVER_ERROR:
            ngx_str_set(&what, "internal server error");
            break;
        case NGX_HTTP_BAD_REQUEST:
            ngx_str_set(&what, "bad request");
            break;
        }
    }

    if (ngx_http_sse_error_json(r, status, &what, &ctx->error_page)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = ctx->error_page.len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ctx->error_page_on = 1;

    return ngx_http_next_header_filter(r);
}


/* drops nginx's page and sends the JSON in its place */

static ngx_int_t
ngx_http_sse_error_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t           *b;
    ngx_uint_t           last;
    ngx_chain_t         *cl, out;
    ngx_http_sse_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sse_module);

    if (ctx == NULL || !ctx->error_page_on) {
        return ngx_http_next_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        b->pos = b->last;

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->error_page_on = 0;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_page.data;
    b->last = ctx->error_page.data + ctx->error_page.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}
