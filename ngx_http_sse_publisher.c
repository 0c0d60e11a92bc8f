
/*
 * The publisher location (sse_publish): POST or PUT publishes, GET reads a
 * channel's figures, DELETE removes it.  Every operation goes through the
 * store interface (ngx_http_sse_store.h), whichever backend keeps the zone,
 * and is answered by ngx_http_sse_store_reply().
 */


#include "ngx_http_sse_store.h"


static ngx_uint_t ngx_http_sse_publish_method(ngx_http_request_t *r);
static void ngx_http_sse_publish_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_publish(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_raw_message(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *channel, ngx_array_t *msgs);
static ngx_int_t ngx_http_sse_publish_messages(ngx_http_request_t *r,
    ngx_array_t *msgs, ngx_uint_t as_array);
static ngx_int_t ngx_http_sse_channel_op(ngx_http_request_t *r,
    ngx_uint_t type);
static ngx_int_t ngx_http_sse_store_run(ngx_http_request_t *r,
    ngx_http_sse_op_t *op, ngx_uint_t as_array);
static void ngx_http_sse_store_done(ngx_http_sse_op_t *op);
static ngx_int_t ngx_http_sse_target_channel(ngx_http_request_t *r,
    ngx_str_t *channel);
static ngx_int_t ngx_http_sse_default_channel(ngx_http_request_t *r,
    ngx_str_t *channel);


ngx_int_t
ngx_http_sse_publish_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_uint_t  method;

    rc = ngx_http_sse_auth_require_key(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    method = ngx_http_sse_publish_method(r);

    if (method & (NGX_HTTP_POST|NGX_HTTP_PUT)) {

        rc = ngx_http_read_client_request_body(r, ngx_http_sse_publish_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            r->keepalive = 0;

            if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
                return ngx_http_sse_send_error(r, rc, "request body is "
                                               "larger than "
                                               "client_max_body_size");
            }

            return ngx_http_sse_send_error(r, rc, "cannot read the request "
                                           "body");
        }

        return NGX_DONE;
    }

    if (method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_sse_channel_op(r, NGX_HTTP_SSE_OP_INFO);
    }

    if (method == NGX_HTTP_DELETE) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_sse_channel_op(r, NGX_HTTP_SSE_OP_DELETE);
    }

    return ngx_http_sse_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                   "method not allowed: publish with POST "
                                   "or PUT, read with GET, remove with "
                                   "DELETE");
}


/*
 * The method a publisher location acts on.  Reached by an internal redirect
 * (X-Accel-Redirect from an upstream, error_page), a POST or PUT is a GET
 * by now, and its body may not have been read yet (error_page after
 * "return 404"): the original request's method, which its request line
 * still shows, decides.  A subrequest (mirror) has the method its module
 * gave it.
 */

static ngx_uint_t
ngx_http_sse_publish_method(ngx_http_request_t *r)
{
    ngx_str_t  *line;

    if (!r->internal || r != r->main) {
        return r->method;
    }

    line = &r->request_line;

    if (line->len > sizeof("POST ") - 1
        && ngx_strncmp(line->data, "POST ", sizeof("POST ") - 1) == 0)
    {
        return NGX_HTTP_POST;
    }

    if (line->len > sizeof("PUT ") - 1
        && ngx_strncmp(line->data, "PUT ", sizeof("PUT ") - 1) == 0)
    {
        return NGX_HTTP_PUT;
    }

    return r->method;
}


static void
ngx_http_sse_publish_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_sse_publish(r));
}


static ngx_int_t
ngx_http_sse_publish(ngx_http_request_t *r)
{
    ngx_int_t    rc;
    ngx_str_t    body, channel, err;
    ngx_uint_t   as_array;
    ngx_array_t  msgs;

    if (ngx_http_sse_request_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * Reached by an internal redirect after the body was streamed on
     * (proxy_request_buffering off), nginx no longer holds it whole:
     * refused rather than published short.
     */

    if (r->request_body_no_buffering
        || (!r->headers_in.chunked && r->headers_in.content_length_n >= 0
            && (off_t) body.len != r->headers_in.content_length_n))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "sse: the request body was not kept whole, nothing "
                      "published (proxy_request_buffering off?)");
        return ngx_http_sse_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "the request body was not kept "
                                       "whole (proxy_request_buffering "
                                       "off?): nothing published");
    }

    if (body.len == 0) {
        return ngx_http_sse_send_error(r, NGX_HTTP_BAD_REQUEST, "empty body");
    }

    if (ngx_http_sse_default_channel(r, &channel) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_array_init(&msgs, r->pool, 1, sizeof(ngx_http_sse_pmsg_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    as_array = 0;

    if (ngx_http_sse_content_type_is(r, "application/json",
                                     sizeof("application/json") - 1))
    {
        rc = ngx_http_sse_parse_json(r->pool, body.data, body.len, &channel,
                                     &msgs, &as_array, &err);

    } else if (ngx_http_sse_content_type_is(r,
                   "application/x-www-form-urlencoded",
                   sizeof("application/x-www-form-urlencoded") - 1))
    {
        rc = ngx_http_sse_parse_form(r->pool, body.data, body.len, &channel,
                                     &msgs, &err);

    } else {
        rc = ngx_http_sse_raw_message(r, &body, &channel, &msgs);

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (rc != NGX_OK) {
        return ngx_http_sse_send_error(r, NGX_HTTP_BAD_REQUEST, "%V", &err);
    }

    return ngx_http_sse_publish_messages(r, &msgs, as_array);
}


/* a body of any other type: the data of one message, as it is */

static ngx_int_t
ngx_http_sse_raw_message(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *channel, ngx_array_t *msgs)
{
    ngx_http_sse_pmsg_t      *m;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    m = ngx_array_push(msgs);
    if (m == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(m, sizeof(ngx_http_sse_pmsg_t));

    m->channels = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (m->channels == NULL) {
        return NGX_ERROR;
    }

    m->channels[0] = *channel;
    m->nchannels = 1;
    m->data = *body;

    return ngx_http_sse_complex_value(r, slcf->event, &m->event);
}


/* the messages checked, then published through the store */

static ngx_int_t
ngx_http_sse_publish_messages(ngx_http_request_t *r, ngx_array_t *msgs,
    ngx_uint_t as_array)
{
    ngx_int_t                 rc;
    ngx_str_t                 err;
    ngx_uint_t                i, n;
    ngx_http_sse_op_t        *op;
    ngx_http_sse_pmsg_t      *m;
    ngx_http_sse_presult_t   *res;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    m = msgs->elts;
    n = 0;

    for (i = 0; i < msgs->nelts; i++) {
        rc = ngx_http_sse_check_message(&m[i], slcf->max_message_size, &err);

        if (rc != NGX_OK) {
            rc = (rc == NGX_DECLINED) ? NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
                                      : NGX_HTTP_BAD_REQUEST;

            if (as_array) {
                return ngx_http_sse_send_error(r, rc, "message %ui: %V",
                                               i + 1, &err);
            }

            return ngx_http_sse_send_error(r, rc, "%V", &err);
        }

        n += m[i].nchannels;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_sse_op_t));
    res = ngx_pcalloc(r->pool, n * sizeof(ngx_http_sse_presult_t));

    if (op == NULL || res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->type = NGX_HTTP_SSE_OP_PUBLISH;
    op->zone = slcf->zone;
    op->msgs = m;
    op->nmsgs = msgs->nelts;
    op->res = res;
    op->nres = n;

    return ngx_http_sse_store_run(r, op, as_array || n > 1);
}


/* GET (info) or DELETE of the one channel the request names */

static ngx_int_t
ngx_http_sse_channel_op(ngx_http_request_t *r, ngx_uint_t type)
{
    ngx_int_t                 rc;
    ngx_str_t                 channel;
    ngx_http_sse_op_t        *op;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    rc = ngx_http_sse_target_channel(r, &channel);

    if (rc == NGX_DECLINED) {
        return ngx_http_sse_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid channel name");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_sse_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->type = type;
    op->zone = slcf->zone;
    op->info.channel = channel;

    return ngx_http_sse_store_run(r, op, 0);
}


/*
 * A store operation for a request: answered now, or when the backend
 * completes it (the request waits, held by its count).
 */

static ngx_int_t
ngx_http_sse_store_run(ngx_http_request_t *r, ngx_http_sse_op_t *op,
    ngx_uint_t as_array)
{
    ngx_int_t  rc;

    op->pool = r->pool;
    op->log = r->connection->log;
    op->handler = ngx_http_sse_store_done;
    op->data = r;
    op->as_array = as_array;

    rc = ngx_http_sse_store_start(op);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_sse_store_reply(r, op);
}


static void
ngx_http_sse_store_done(ngx_http_sse_op_t *op)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = op->data;
    c = r->connection;

    ngx_http_finalize_request(r, ngx_http_sse_store_reply(r, op));
    ngx_http_run_posted_requests(c);
}


/*
 * The one channel a GET or DELETE is about.  NGX_DECLINED: an invalid name
 * (the caller answers 400); NGX_ERROR: no memory.
 */

static ngx_int_t
ngx_http_sse_target_channel(ngx_http_request_t *r, ngx_str_t *channel)
{
    if (ngx_http_sse_default_channel(r, channel) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_sse_channel_valid(channel) == NGX_OK ? NGX_OK
                                                         : NGX_DECLINED;
}


/* sse_channel, or "global" when it is empty */

static ngx_int_t
ngx_http_sse_default_channel(ngx_http_request_t *r, ngx_str_t *channel)
{
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    if (ngx_http_sse_complex_value(r, slcf->channel, channel) != NGX_OK) {
        return NGX_ERROR;
    }

    if (channel->len == 0) {
        ngx_str_set(channel, "global");
    }

    return NGX_OK;
}
