
/*
 * ngx_http_sse_module: directives, configuration and the publisher
 * handler.  Subscriber streams live in ngx_http_sse_stream.c, the shared
 * store in ngx_http_sse_channel.c.
 */


#include "ngx_http_sse_module.h"


static ngx_int_t ngx_http_sse_publish_handler(ngx_http_request_t *r);
static void ngx_http_sse_publish_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_publish(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_channel_info(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_channel_delete(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_target_channel(ngx_http_request_t *r,
    ngx_str_t *channel);
static ngx_int_t ngx_http_sse_default_channel(ngx_http_request_t *r,
    ngx_str_t *channel);

static void *ngx_http_sse_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_sse_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_sse_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_sse_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_sse_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_sse_msec_off(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_sse_connected_event(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_sse_replay(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_sse_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_sse_set_role(ngx_conf_t *cf,
    ngx_http_sse_loc_conf_t *slcf, ngx_uint_t role);
static const char *ngx_http_sse_role_name(ngx_uint_t role);
static ngx_int_t ngx_http_sse_init_process(ngx_cycle_t *cycle);
static void ngx_http_sse_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_sse_commands[] = {

    { ngx_string("sse_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_sse_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sse_subscribe"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_sse_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_SSE_ROLE_SUBSCRIBE,
      NULL },

    { ngx_string("sse_publish"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_sse_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_SSE_ROLE_PUBLISH,
      NULL },

    { ngx_string("sse_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_sse_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_SSE_ROLE_STATUS,
      NULL },

    { ngx_string("sse_channel"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, channel),
      NULL },

    { ngx_string("sse_event"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, event),
      NULL },

    { ngx_string("sse_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sse_msec_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, keepalive),
      NULL },

    { ngx_string("sse_retry"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sse_msec_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, retry),
      NULL },

    { ngx_string("sse_connected_event"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sse_connected_event,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sse_subscriber_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sse_msec_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, subscriber_timeout),
      NULL },

    { ngx_string("sse_max_subscribers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, max_subscribers),
      NULL },

    { ngx_string("sse_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, max_message_size),
      NULL },

    { ngx_string("sse_max_pending"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, max_pending),
      NULL },

    { ngx_string("sse_replay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sse_replay,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sse_last_event_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, last_event_id),
      NULL },

    { ngx_string("sse_api_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_sse_conf_api_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sse_auth_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sse_conf_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, jwt_secret),
      NULL },

    { ngx_string("sse_auth_jwt_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, jwt_token),
      NULL },

    { ngx_string("sse_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, user),
      NULL },

    { ngx_string("sse_token"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sse_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sse_loc_conf_t, token_secret),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_sse_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_sse_error_filter_init,        /* postconfiguration */

    ngx_http_sse_create_main_conf,         /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_sse_create_loc_conf,          /* create location configuration */
    ngx_http_sse_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_sse_module = {
    NGX_MODULE_V1,
    &ngx_http_sse_module_ctx,              /* module context */
    ngx_http_sse_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_sse_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_sse_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_sse_publish_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_sse_auth_api_key(r);

    if (rc == NGX_HTTP_UNAUTHORIZED) {
        return ngx_http_sse_send_error(r, rc, "missing or wrong API key");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * Reached by an internal redirect (X-Accel-Redirect from an upstream,
     * error_page) the method is GET by now: the original body is published.
     */

    if ((r->method & (NGX_HTTP_POST|NGX_HTTP_PUT))
        || (r->internal && r->request_body))
    {

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

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_sse_channel_info(r);
    }

    if (r->method == NGX_HTTP_DELETE) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_sse_channel_delete(r);
    }

    return ngx_http_sse_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                   "method not allowed: publish with POST "
                                   "or PUT, read with GET, remove with "
                                   "DELETE");
}


static void
ngx_http_sse_publish_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_sse_publish(r));
}


static ngx_int_t
ngx_http_sse_publish(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                 body, channel, err;
    ngx_uint_t                i, n, as_array;
    ngx_array_t               msgs;
    ngx_http_sse_pmsg_t      *m;
    ngx_http_sse_presult_t   *res;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

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
                                     &msgs, &err);
        as_array = (body.len && body.data[0] == '[');

        if (!as_array) {
            /* leading white space before the array */
            for (i = 0; i < body.len; i++) {
                if (body.data[i] != ' ' && body.data[i] != '\t'
                    && body.data[i] != CR && body.data[i] != LF)
                {
                    as_array = (body.data[i] == '[');
                    break;
                }
            }
        }

    } else if (ngx_http_sse_content_type_is(r,
                   "application/x-www-form-urlencoded",
                   sizeof("application/x-www-form-urlencoded") - 1))
    {
        rc = ngx_http_sse_parse_form(r->pool, body.data, body.len, &channel,
                                     &msgs, &err);

    } else {
        m = ngx_array_push(&msgs);
        if (m == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memzero(m, sizeof(ngx_http_sse_pmsg_t));

        m->channels = ngx_palloc(r->pool, sizeof(ngx_str_t));
        if (m->channels == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        m->channels[0] = channel;
        m->nchannels = 1;
        m->data = body;

        if (ngx_http_sse_complex_value(r, slcf->event, &m->event) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = NGX_OK;
    }

    if (rc != NGX_OK) {
        return ngx_http_sse_send_error(r, NGX_HTTP_BAD_REQUEST, "%V", &err);
    }

    m = msgs.elts;
    n = 0;

    for (i = 0; i < msgs.nelts; i++) {
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

    if (slcf->zone->redis) {
        /* answered when Redis has numbered the messages */
        return ngx_http_sse_redis_publish(r, m, msgs.nelts,
                                          as_array || n > 1);
    }

    res = ngx_palloc(r->pool, n * sizeof(ngx_http_sse_presult_t));
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_sse_store_publish(slcf->zone, m, msgs.nelts, res,
                                    r->connection->log);

    if (rc == NGX_DECLINED) {
        return ngx_http_sse_send_error(r, 507, "sse_zone \"%V\" is full",
                                       &slcf->zone->name);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_sse_publish_reply(r, res, n, as_array || n > 1);
}


ngx_int_t
ngx_http_sse_publish_reply(ngx_http_request_t *r, ngx_http_sse_presult_t *res,
    ngx_uint_t n, ngx_uint_t as_array)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    body;
    ngx_uint_t   i;

    len = 2;

    for (i = 0; i < n; i++) {
        len += sizeof("{\"id\":\"\",\"channel\":\"\",\"subscribers\":},") - 1
               + NGX_INT64_LEN + NGX_INT_T_LEN
               + ngx_http_sse_json_escape_size(&res[i].channel);
    }

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body.data;

    if (as_array) {
        *p++ = '[';
    }

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_sprintf(p, "{\"id\":\"%uL\",\"channel\":\"", res[i].id);
        p = ngx_http_sse_json_escape(p, &res[i].channel);
        p = ngx_sprintf(p, "\",\"subscribers\":%ui}", res[i].subscribers);
    }

    if (as_array) {
        *p++ = ']';
    }

    body.len = p - body.data;

    return ngx_http_sse_send_json(r, NGX_HTTP_OK, &body);
}


static ngx_int_t
ngx_http_sse_channel_info(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                 channel;
    ngx_http_sse_info_t       info;
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

    if (slcf->zone->redis) {
        /* subscribers of the other servers come from Redis */
        return ngx_http_sse_redis_info(r, &channel);
    }

    if (ngx_http_sse_store_info(slcf->zone, &channel, &info) != NGX_OK) {
        return ngx_http_sse_send_error(r, NGX_HTTP_NOT_FOUND,
                                       "unknown channel");
    }

    return ngx_http_sse_info_reply(r, &info);
}


ngx_int_t
ngx_http_sse_info_reply(ngx_http_request_t *r, ngx_http_sse_info_t *info)
{
    u_char     *p;
    ngx_str_t   body;

    body.data = ngx_pnalloc(r->pool,
                        sizeof("{\"channel\":\"\",\"subscribers\":,"
                               "\"messages\":,\"last_event_id\":\"\"}") - 1
                        + ngx_http_sse_json_escape_size(&info->channel)
                        + 2 * NGX_INT_T_LEN + NGX_INT64_LEN);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data, "{\"channel\":\"", sizeof("{\"channel\":\"") - 1);
    p = ngx_http_sse_json_escape(p, &info->channel);
    p = ngx_sprintf(p, "\",\"subscribers\":%ui,\"messages\":%ui,"
                    "\"last_event_id\":\"%uL\"}",
                    info->subscribers, info->messages, info->last_id);

    body.len = p - body.data;

    return ngx_http_sse_send_json(r, NGX_HTTP_OK, &body);
}


static ngx_int_t
ngx_http_sse_channel_delete(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                 channel;
    ngx_http_sse_info_t       info;
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

    if (slcf->zone->redis) {
        /* deleted in Redis, then on every server through its log */
        return ngx_http_sse_redis_delete(r, &channel);
    }

    rc = ngx_http_sse_store_delete(slcf->zone, &channel, 0, &info,
                                   r->connection->log);

    if (rc == NGX_DECLINED) {
        return ngx_http_sse_send_error(r, NGX_HTTP_NOT_FOUND,
                                       "unknown channel");
    }

    if (rc != NGX_OK) {
        return ngx_http_sse_send_error(r, 507, "sse_zone \"%V\" is full",
                                       &slcf->zone->name);
    }

    return ngx_http_sse_delete_reply(r, &channel, info.subscribers);
}


ngx_int_t
ngx_http_sse_delete_reply(ngx_http_request_t *r, ngx_str_t *channel,
    ngx_uint_t subscribers)
{
    u_char     *p;
    ngx_str_t   body;

    body.data = ngx_pnalloc(r->pool,
                        sizeof("{\"channel\":\"\",\"deleted\":true,"
                               "\"subscribers\":}") - 1
                        + ngx_http_sse_json_escape_size(channel)
                        + NGX_INT_T_LEN);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data, "{\"channel\":\"", sizeof("{\"channel\":\"") - 1);
    p = ngx_http_sse_json_escape(p, channel);
    p = ngx_sprintf(p, "\",\"deleted\":true,\"subscribers\":%ui}",
                    subscribers);

    body.len = p - body.data;

    return ngx_http_sse_send_json(r, NGX_HTTP_OK, &body);
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


ngx_http_sse_main_conf_t *
ngx_http_sse_cycle_main_conf(ngx_cycle_t *cycle)
{
    if (cycle->conf_ctx == NULL
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NULL;
    }

    return ngx_http_cycle_get_module_main_conf(cycle, ngx_http_sse_module);
}


static void *
ngx_http_sse_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_sse_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_sse_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&smcf->zones, cf->pool, 2,
                       sizeof(ngx_http_sse_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return smcf;
}


static void *
ngx_http_sse_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_sse_loc_conf_t));
    if (slcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     slcf->role = 0;
     *     slcf->zone_name = { 0, NULL };
     *     slcf->zone = NULL;
     *     slcf->connected_event = { 0, NULL };
     */

    slcf->channel = NGX_CONF_UNSET_PTR;
    slcf->event = NGX_CONF_UNSET_PTR;
    slcf->keepalive = NGX_CONF_UNSET_MSEC;
    slcf->retry = NGX_CONF_UNSET_MSEC;
    slcf->connected_event.len = NGX_CONF_UNSET_SIZE;
    slcf->subscriber_timeout = NGX_CONF_UNSET_MSEC;
    slcf->max_subscribers = NGX_CONF_UNSET_UINT;
    slcf->max_message_size = NGX_CONF_UNSET_SIZE;
    slcf->max_pending = NGX_CONF_UNSET_SIZE;
    slcf->replay = NGX_CONF_UNSET_UINT;
    slcf->last_event_id = NGX_CONF_UNSET_PTR;
    slcf->api_keys = NGX_CONF_UNSET_PTR;
    slcf->jwt_secret.len = NGX_CONF_UNSET_SIZE;
    slcf->jwt_token = NGX_CONF_UNSET_PTR;
    slcf->token_secret.len = NGX_CONF_UNSET_SIZE;
    slcf->user = NGX_CONF_UNSET_PTR;

    return slcf;
}


static char *
ngx_http_sse_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_sse_loc_conf_t *prev = parent;
    ngx_http_sse_loc_conf_t *conf = child;

    ngx_str_t                          v;
    ngx_uint_t                         i;
    ngx_http_sse_zone_t              **zones;
    ngx_http_sse_main_conf_t          *smcf;
    ngx_http_compile_complex_value_t   ccv;

    ngx_conf_merge_ptr_value(conf->channel, prev->channel, NULL);
    ngx_conf_merge_ptr_value(conf->event, prev->event, NULL);
    ngx_conf_merge_msec_value(conf->keepalive, prev->keepalive, 15000);
    ngx_conf_merge_msec_value(conf->retry, prev->retry, 0);
    ngx_conf_merge_msec_value(conf->subscriber_timeout,
                              prev->subscriber_timeout, 0);
    ngx_conf_merge_uint_value(conf->max_subscribers, prev->max_subscribers,
                              0);
    ngx_conf_merge_size_value(conf->max_message_size, prev->max_message_size,
                              64 * 1024);
    ngx_conf_merge_size_value(conf->max_pending, prev->max_pending,
                              1024 * 1024);
    ngx_conf_merge_uint_value(conf->replay, prev->replay, 0);
    ngx_conf_merge_ptr_value(conf->last_event_id, prev->last_event_id, NULL);

    ngx_conf_merge_ptr_value(conf->api_keys, prev->api_keys, NULL);
    ngx_conf_merge_ptr_value(conf->jwt_token, prev->jwt_token, NULL);
    ngx_conf_merge_ptr_value(conf->user, prev->user, NULL);

    if (conf->connected_event.len == NGX_CONF_UNSET_SIZE) {
        if (prev->connected_event.len == NGX_CONF_UNSET_SIZE) {
            ngx_str_null(&conf->connected_event);

        } else {
            conf->connected_event = prev->connected_event;
        }
    }

    if (conf->jwt_secret.len == NGX_CONF_UNSET_SIZE) {
        if (prev->jwt_secret.len == NGX_CONF_UNSET_SIZE) {
            ngx_str_null(&conf->jwt_secret);

        } else {
            conf->jwt_secret = prev->jwt_secret;
        }
    }

    if (conf->token_secret.len == NGX_CONF_UNSET_SIZE) {
        ngx_str_null(&conf->token_secret);
    }

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_sse_module);

    if (conf->jwt_secret.len && smcf->arg_token == NULL) {
        /* where tokens come from by default, compiled once */

        smcf->arg_token = ngx_pcalloc(cf->pool,
                                      sizeof(ngx_http_complex_value_t));
        smcf->cookie_token = ngx_pcalloc(cf->pool,
                                         sizeof(ngx_http_complex_value_t));
        if (smcf->arg_token == NULL || smcf->cookie_token == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ngx_str_set(&v, "$arg_token");
        ccv.value = &v;
        ccv.complex_value = smcf->arg_token;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ngx_str_set(&v, "$cookie_sse_token");
        ccv.value = &v;
        ccv.complex_value = smcf->cookie_token;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->role == 0 || conf->role == NGX_HTTP_SSE_ROLE_TOKEN) {
        return NGX_CONF_OK;
    }

    if (conf->channel == NULL) {
        conf->channel = ngx_pcalloc(cf->pool,
                                    sizeof(ngx_http_complex_value_t));
        if (conf->channel == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ngx_str_set(&v, "$arg_channel");
        ccv.value = &v;
        ccv.complex_value = conf->channel;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->event == NULL) {
        conf->event = ngx_pcalloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (conf->event == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ngx_str_set(&v, "$arg_event");
        ccv.value = &v;
        ccv.complex_value = conf->event;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->zone) {
        return NGX_CONF_OK;
    }

    /* zones are known once the whole http block is read */

    zones = smcf->zones.elts;

    if (conf->zone_name.len == 0) {
        if (smcf->zones.nelts == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%s\" needs an sse_zone in the http block",
                               ngx_http_sse_role_name(conf->role));
            return NGX_CONF_ERROR;
        }

        if (smcf->zones.nelts > 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%s\" needs \"zone=\": %ui sse_zone "
                               "are declared",
                               ngx_http_sse_role_name(conf->role),
                               smcf->zones.nelts);
            return NGX_CONF_ERROR;
        }

        conf->zone = zones[0];
        return NGX_CONF_OK;
    }

    for (i = 0; i < smcf->zones.nelts; i++) {
        if (zones[i]->name.len == conf->zone_name.len
            && ngx_strncmp(zones[i]->name.data, conf->zone_name.data,
                           conf->zone_name.len) == 0)
        {
            conf->zone = zones[i];
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%s\" names unknown sse_zone \"%V\"",
                       ngx_http_sse_role_name(conf->role),
                       &conf->zone_name);

    return NGX_CONF_ERROR;
}


/* sse_zone zone=NAME:SIZE [history=N] [ttl=TIME] [redis=URL] */

static char *
ngx_http_sse_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sse_main_conf_t *smcf = conf;

    u_char                *p;
    size_t                 size;
    ngx_int_t              n;
    ngx_str_t             *value, s;
    ngx_uint_t             i;
    ngx_http_sse_zone_t   *zone, **pzone;

    value = cf->args->elts;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_sse_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->history = 100;
    zone->ttl = 3600 * 1000;
    size = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            zone->name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(zone->name.data, ':');

            if (p == NULL || p == zone->name.data) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone \"%V\" in sse_zone, "
                                   "use zone=NAME:SIZE", &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->name.len = p - zone->name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            n = ngx_parse_size(&s);

            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\" in sse_zone",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            size = (size_t) n;

            if (size < sizeof(ngx_http_sse_shctx_t) + 8 * ngx_pagesize) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "sse_zone \"%V\" is too small: it needs "
                                   "at least %uzk",
                                   &value[i],
                                   (sizeof(ngx_http_sse_shctx_t)
                                    + 8 * ngx_pagesize) / 1024 + 1);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "history=", 8) == 0) {

            n = ngx_atoi(value[i].data + 8, value[i].len - 8);

            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid history \"%V\" in sse_zone",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->history = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {

            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            n = ngx_parse_time(&s, 0);

            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid ttl \"%V\" in sse_zone",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->ttl = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "redis=", 6) == 0) {
            if (ngx_http_sse_redis_conf(cf, zone, &value[i])
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in sse_zone",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (zone->name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "sse_zone needs \"zone=NAME:SIZE\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_sse_zone_add(cf, zone, size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    pzone = ngx_array_push(&smcf->zones);
    if (pzone == NULL) {
        return NGX_CONF_ERROR;
    }

    *pzone = zone;

    return NGX_CONF_OK;
}


/* sse_subscribe, sse_publish, sse_status [zone=NAME]; */

static char *
ngx_http_sse_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sse_loc_conf_t *slcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    value = cf->args->elts;

    if (ngx_http_sse_set_role(cf, slcf, cmd->offset) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2) {
        if (value[1].len <= 5
            || ngx_strncmp(value[1].data, "zone=", 5) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\", "
                               "use zone=NAME", &value[1], &value[0]);
            return NGX_CONF_ERROR;
        }

        slcf->zone_name.data = value[1].data + 5;
        slcf->zone_name.len = value[1].len - 5;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    switch (slcf->role) {
    case NGX_HTTP_SSE_ROLE_SUBSCRIBE:
        clcf->handler = ngx_http_sse_subscribe_handler;
        break;
    case NGX_HTTP_SSE_ROLE_PUBLISH:
        clcf->handler = ngx_http_sse_publish_handler;
        break;
    default:
        clcf->handler = ngx_http_sse_status_handler;
    }

    return NGX_CONF_OK;
}


/* sse_token SECRET | file=PATH; */

static char *
ngx_http_sse_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sse_loc_conf_t *slcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_http_sse_set_role(cf, slcf, NGX_HTTP_SSE_ROLE_TOKEN) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_sse_token_handler;

    return ngx_http_sse_conf_secret(cf, cmd, conf);
}


/* a location has one sse role */

static ngx_int_t
ngx_http_sse_set_role(ngx_conf_t *cf, ngx_http_sse_loc_conf_t *slcf,
    ngx_uint_t role)
{
    if (slcf->role) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" in a location that already has "
                           "\"%s\": a location has one sse role",
                           ngx_http_sse_role_name(role),
                           ngx_http_sse_role_name(slcf->role));
        return NGX_ERROR;
    }

    slcf->role = role;

    return NGX_OK;
}


static const char *
ngx_http_sse_role_name(ngx_uint_t role)
{
    switch (role) {
    case NGX_HTTP_SSE_ROLE_SUBSCRIBE:
        return "sse_subscribe";
    case NGX_HTTP_SSE_ROLE_PUBLISH:
        return "sse_publish";
    case NGX_HTTP_SSE_ROLE_TOKEN:
        return "sse_token";
    default:
        return "sse_status";
    }
}


/* TIME | off */

static char *
ngx_http_sse_msec_off(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t   *value;
    ngx_msec_t  *msp;

    msp = (ngx_msec_t *) (p + cmd->offset);

    if (*msp != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *msp = 0;
        return NGX_CONF_OK;
    }

    *msp = ngx_parse_time(&value[1], 0);

    if (*msp == (ngx_msec_t) NGX_ERROR || *msp == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time \"%V\" in \"%V\", use a time "
                           "such as 15s or \"off\"", &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* NAME | off */

static char *
ngx_http_sse_connected_event(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sse_loc_conf_t *slcf = conf;

    ngx_str_t  *value;
    ngx_uint_t  i;

    if (slcf->connected_event.len != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        ngx_str_null(&slcf->connected_event);
        return NGX_CONF_OK;
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= ' ' || value[1].data[i] == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid event name \"%V\" in "
                               "sse_connected_event: no white space or "
                               "control characters", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 0 || value[1].len > 255) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid event name \"%V\" in "
                           "sse_connected_event", &value[1]);
        return NGX_CONF_ERROR;
    }

    slcf->connected_event = value[1];

    return NGX_CONF_OK;
}


/* N | all | off */

static char *
ngx_http_sse_replay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sse_loc_conf_t *slcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (slcf->replay != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        slcf->replay = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "all") == 0) {
        slcf->replay = NGX_HTTP_SSE_REPLAY_ALL;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n == 0 || n >= NGX_HTTP_SSE_REPLAY_ALL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in sse_replay, use a "
                           "number, \"all\" or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    slcf->replay = n;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_sse_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_sse_ipc_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_sse_redis_init_process(cycle);
}


static void
ngx_http_sse_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_sse_redis_exit_process(cycle);
    ngx_http_sse_ipc_exit(cycle);
}
