
/*
 * ngx_http_sse_module: directives, configuration, the redaction of tokens
 * in the request line, and the worker's start-up.  The handlers are
 * ngx_http_sse_publisher.c, ngx_http_sse_stream.c, ngx_http_sse_status.c
 * and ngx_http_sse_auth.c (tokens); the store is ngx_http_sse_store.h.
 */


#include "ngx_http_sse_store.h"


/* what a log shows in place of a token */
#define NGX_HTTP_SSE_REDACTED  "[redacted]"


static ngx_int_t ngx_http_sse_redact_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_redact_tokens(ngx_pool_t *pool,
    ngx_str_t *line, ngx_str_t *out);
static ngx_int_t ngx_http_sse_next_token(u_char **pos, u_char *end,
    u_char **start, u_char **stop);
static ngx_uint_t ngx_http_sse_token_name(u_char *name, size_t len);

static ngx_int_t ngx_http_sse_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_sse_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_sse_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_sse_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_sse_conf_value(ngx_conf_t *cf, char *text,
    ngx_http_complex_value_t **cv);
static char *ngx_http_sse_conf_zone(ngx_conf_t *cf,
    ngx_http_sse_main_conf_t *smcf, ngx_http_sse_loc_conf_t *conf);
static char *ngx_http_sse_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_sse_zone_size(ngx_conf_t *cf, ngx_http_sse_zone_t *zone,
    ngx_str_t *value, size_t *size);
static char *ngx_http_sse_zone_keep(ngx_conf_t *cf, ngx_http_sse_zone_t *zone,
    ngx_str_t *value);
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
static ngx_http_handler_pt ngx_http_sse_role_handler(ngx_uint_t role);
static ngx_http_sse_main_conf_t *ngx_http_sse_cycle_main_conf(
    ngx_cycle_t *cycle);
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
    ngx_http_sse_postconfiguration,        /* postconfiguration */

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


/*
 * Tokens never reach a log.  nginx's error.log lines about a request end
 * with its request line, and access_log's $request is that line: on
 * sse_subscribe locations it is replaced, before any access check can log
 * it, by a copy with the value of every "token" argument shown as
 * "[redacted]".  r->args, which $arg_token reads, is left alone.
 */

static ngx_int_t
ngx_http_sse_redact_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   line;
    ngx_http_sse_loc_conf_t    *slcf;
    ngx_http_sse_main_conf_t   *smcf;
    ngx_http_variable_value_t  *v;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    if (slcf->role != NGX_HTTP_SSE_ROLE_SUBSCRIBE) {
        return NGX_DECLINED;
    }

    rc = ngx_http_sse_redact_tokens(r->pool, &r->main->request_line, &line);

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->request_line = line;
    r->request_line = line;

    /* $request, if something read it already, is read again */

    smcf = ngx_http_get_module_main_conf(r, ngx_http_sse_module);

    v = &r->main->variables[smcf->request_index];
    v->valid = 0;
    v->not_found = 0;

    return NGX_DECLINED;
}


/*
 * NGX_OK: *out is a copy of the request line with each value of a "token"
 * argument replaced by "[redacted]"; NGX_DECLINED: there is none to hide.
 */

static ngx_int_t
ngx_http_sse_redact_tokens(ngx_pool_t *pool, ngx_str_t *line, ngx_str_t *out)
{
    u_char      *p, *q, *dst, *end, *last, *prev, *start, *stop;
    ngx_uint_t   n;

    if (line->len == 0) {
        return NGX_DECLINED;
    }

    last = line->data + line->len;

    /* the query: after the first "?", up to " HTTP/1.1" or " HTTP/2.0" */

    p = ngx_strlchr(line->data, last, '?');
    if (p == NULL) {
        return NGX_DECLINED;
    }

    end = last;

    for (q = last; q > p; q--) {
        if (q[-1] == ' ') {
            if (last - q >= 5 && ngx_strncmp(q, "HTTP/", 5) == 0) {
                end = q - 1;
            }

            break;
        }
    }

    n = 0;
    q = p;

    while (ngx_http_sse_next_token(&q, end, &start, &stop) == NGX_OK) {
        n++;
    }

    if (n == 0) {
        return NGX_DECLINED;
    }

    /* an upper bound: every value may be shorter than "[redacted]" */

    out->data = ngx_pnalloc(pool,
                            line->len
                            + n * (sizeof(NGX_HTTP_SSE_REDACTED) - 1));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    dst = out->data;
    prev = line->data;
    q = p;

    while (ngx_http_sse_next_token(&q, end, &start, &stop) == NGX_OK) {
        dst = ngx_cpymem(dst, prev, start - prev);
        dst = ngx_cpymem(dst, NGX_HTTP_SSE_REDACTED,
                         sizeof(NGX_HTTP_SSE_REDACTED) - 1);
        prev = stop;
    }

    dst = ngx_cpymem(dst, prev, last - prev);

    out->len = dst - out->data;

    return NGX_OK;
}


/*
 * The next value to hide in the query [*pos, end): that of an argument
 * whose name, percent-decoded, is "token" in any case (nginx's $arg_token
 * ignores case), unless it is empty or hidden already.  A value runs to
 * the next "&", as $arg_token does; names also begin after ";" and "?".
 */

static ngx_int_t
ngx_http_sse_next_token(u_char **pos, u_char *end, u_char **start,
    u_char **stop)
{
    u_char  *p, *name;

    p = *pos;

    while (p < end) {

        if (*p == '&' || *p == ';' || *p == '?') {
            p++;
            continue;
        }

        name = p;

        while (p < end && *p != '=' && *p != '&' && *p != ';' && *p != '?') {
            p++;
        }

        if (p < end && *p == '=' && ngx_http_sse_token_name(name, p - name)) {
            *start = ++p;

            while (p < end && *p != '&') {
                p++;
            }

            *stop = p;

            if (p > *start
                && !((size_t) (p - *start) == sizeof(NGX_HTTP_SSE_REDACTED) - 1
                     && ngx_strncmp(*start, NGX_HTTP_SSE_REDACTED,
                                    sizeof(NGX_HTTP_SSE_REDACTED) - 1)
                        == 0))
            {
                *pos = p;
                return NGX_OK;
            }

            continue;
        }

        /* another argument: on to the next name */

        while (p < end && *p != '&' && *p != ';' && *p != '?') {
            p++;
        }
    }

    *pos = end;

    return NGX_DECLINED;
}


/* "token", "TOKEN", "%74oken", ... */

static ngx_uint_t
ngx_http_sse_token_name(u_char *name, size_t len)
{
    u_char  *src, *dst, buf[sizeof("%74%6f%6b%65%6e") - 1];

    if (len < sizeof("token") - 1 || len > sizeof(buf)) {
        return 0;
    }

    if (ngx_strlchr(name, name + len, '%') == NULL) {
        return len == sizeof("token") - 1
               && ngx_strncasecmp(name, (u_char *) "token", len) == 0;
    }

    src = name;
    dst = buf;

    ngx_unescape_uri(&dst, &src, len, 0);

    return (size_t) (dst - buf) == sizeof("token") - 1
           && ngx_strncasecmp(buf, (u_char *) "token", dst - buf) == 0;
}


static ngx_http_sse_main_conf_t *
ngx_http_sse_cycle_main_conf(ngx_cycle_t *cycle)
{
    if (cycle->conf_ctx == NULL
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NULL;
    }

    return ngx_http_cycle_get_module_main_conf(cycle, ngx_http_sse_module);
}


static ngx_int_t
ngx_http_sse_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h, *first;
    ngx_http_sse_main_conf_t   *smcf;
    ngx_http_core_main_conf_t  *cmcf;

    static ngx_str_t  request = ngx_string("request");

    if (ngx_http_sse_error_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_sse_module);

    smcf->request_index = ngx_http_get_variable_index(cf, &request);
    if (smcf->request_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    /*
     * The rewrite phase: the location is known, and nothing that logs the
     * request line (limit_req, allow/deny, the handler) has run yet.
     */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_sse_redact_handler;

    /*
     * The access phase runs its handlers from the last added to the first:
     * the module's goes first in the array, so that it runs after allow/
     * deny, auth_basic and auth_request, as theirs run in that order.
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    first = cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers.elts;

    ngx_memmove(&first[1], &first[0],
                (cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers.nelts - 1)
                * sizeof(ngx_http_handler_pt));

    first[0] = ngx_http_sse_access_handler;

    return NGX_OK;
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

    ngx_http_sse_main_conf_t  *smcf;
    ngx_http_core_loc_conf_t  *clcf;

    /*
     * A role is not inherited by nested locations, but the block of
     * limit_except is the location itself for the methods it names: those
     * reach the module too, after the block's access rules.
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->lmt_excpt && conf->role == 0 && prev->role) {
        conf->role = prev->role;
        conf->zone_name = prev->zone_name;
        conf->token_secret = prev->token_secret;
        clcf->handler = ngx_http_sse_role_handler(conf->role);
    }

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

    /* where tokens come from by default, compiled once */

    if (conf->jwt_secret.len && smcf->arg_token == NULL
        && (ngx_http_sse_conf_value(cf, "$arg_token", &smcf->arg_token)
            != NGX_OK
            || ngx_http_sse_conf_value(cf, "$cookie_sse_token",
                                       &smcf->cookie_token)
               != NGX_OK))
    {
        return NGX_CONF_ERROR;
    }

    if (conf->role == 0 || conf->role == NGX_HTTP_SSE_ROLE_TOKEN) {
        return NGX_CONF_OK;
    }

    if ((conf->channel == NULL
         && ngx_http_sse_conf_value(cf, "$arg_channel", &conf->channel)
            != NGX_OK)
        || (conf->event == NULL
            && ngx_http_sse_conf_value(cf, "$arg_event", &conf->event)
               != NGX_OK))
    {
        return NGX_CONF_ERROR;
    }

    if (conf->zone) {
        return NGX_CONF_OK;
    }

    return ngx_http_sse_conf_zone(cf, smcf, conf);
}


/* a complex value compiled from a fixed text, such as "$arg_channel" */

static ngx_int_t
ngx_http_sse_conf_value(ngx_conf_t *cf, char *text,
    ngx_http_complex_value_t **cv)
{
    ngx_str_t                          v;
    ngx_http_compile_complex_value_t   ccv;

    *cv = ngx_pcalloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (*cv == NULL) {
        return NGX_ERROR;
    }

    v.data = (u_char *) text;
    v.len = ngx_strlen(text);

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &v;
    ccv.complex_value = *cv;

    return ngx_http_compile_complex_value(&ccv);
}


/*
 * The zone of a location: the one named by zone=, or the only one
 * declared.  Zones are known once the whole http block is read.
 */

static char *
ngx_http_sse_conf_zone(ngx_conf_t *cf, ngx_http_sse_main_conf_t *smcf,
    ngx_http_sse_loc_conf_t *conf)
{
    ngx_uint_t             i;
    ngx_http_sse_zone_t  **zones;

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


/*
 * sse_zone zone=NAME:SIZE [history=N] [ttl=TIME] [redis=URL]
 *     [redis_tls_ca=FILE] [redis_tls_verify=on|off] [redis_tls_cert=FILE
 *     redis_tls_key=FILE] [redis_log=N]
 */

static char *
ngx_http_sse_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sse_main_conf_t *smcf = conf;

    size_t                 size;
    ngx_str_t             *value;
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
            if (ngx_http_sse_zone_size(cf, zone, &value[i], &size)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "redis=", 6) == 0
            || ngx_strncmp(value[i].data, "redis_tls_", 10) == 0
            || ngx_strncmp(value[i].data, "redis_log=", 10) == 0)
        {
            if (ngx_http_sse_redis_conf(cf, zone, &value[i])
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_sse_zone_keep(cf, zone, &value[i]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (zone->name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "sse_zone needs \"zone=NAME:SIZE\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_sse_redis_conf_done(cf, zone) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (zone->backend == NULL) {
        zone->backend = &ngx_http_sse_shm_backend;
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


/* sse_zone's zone=NAME:SIZE */

static char *
ngx_http_sse_zone_size(ngx_conf_t *cf, ngx_http_sse_zone_t *zone,
    ngx_str_t *value, size_t *size)
{
    u_char     *p;
    ssize_t     n;
    ngx_str_t   s;

    zone->name.data = value->data + 5;

    p = (u_char *) ngx_strchr(zone->name.data, ':');

    if (p == NULL || p == zone->name.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\" in sse_zone, "
                           "use zone=NAME:SIZE", value);
        return NGX_CONF_ERROR;
    }

    zone->name.len = p - zone->name.data;

    s.data = p + 1;
    s.len = value->data + value->len - s.data;

    n = ngx_parse_size(&s);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in sse_zone", value);
        return NGX_CONF_ERROR;
    }

    *size = (size_t) n;

    if (*size < ngx_http_sse_store_min_size()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "sse_zone \"%V\" is too small: it needs "
                           "at least %uzk",
                           value, ngx_http_sse_store_min_size() / 1024 + 1);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* sse_zone's history=N and ttl=TIME: what the zone keeps, how long */

static char *
ngx_http_sse_zone_keep(ngx_conf_t *cf, ngx_http_sse_zone_t *zone,
    ngx_str_t *value)
{
    ngx_int_t  n;
    ngx_str_t  s;

    if (ngx_strncmp(value->data, "history=", 8) == 0) {

        n = ngx_atoi(value->data + 8, value->len - 8);

        if (n == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid history \"%V\" in sse_zone", value);
            return NGX_CONF_ERROR;
        }

        zone->history = n;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "ttl=", 4) == 0) {

        s.data = value->data + 4;
        s.len = value->len - 4;

        n = ngx_parse_time(&s, 0);

        if (n == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid ttl \"%V\" in sse_zone", value);
            return NGX_CONF_ERROR;
        }

        zone->ttl = n;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in sse_zone", value);
    return NGX_CONF_ERROR;
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
    clcf->handler = ngx_http_sse_role_handler(slcf->role);

    return NGX_CONF_OK;
}


/* the content handler of a role */

static ngx_http_handler_pt
ngx_http_sse_role_handler(ngx_uint_t role)
{
    switch (role) {
    case NGX_HTTP_SSE_ROLE_SUBSCRIBE:
        return ngx_http_sse_subscribe_handler;
    case NGX_HTTP_SSE_ROLE_PUBLISH:
        return ngx_http_sse_publish_handler;
    case NGX_HTTP_SSE_ROLE_TOKEN:
        return ngx_http_sse_token_handler;
    default:
        return ngx_http_sse_status_handler;
    }
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
    clcf->handler = ngx_http_sse_role_handler(NGX_HTTP_SSE_ROLE_TOKEN);

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


/*
 * A worker starts in this order, each step needing the one before:
 *   1. its stream list and shutdown watch, which wake-ups deliver to;
 *   2. its wake-up socket, which installs each zone's "arrived" hook and
 *      gives the nonce that names the socket;
 *   3. its slot in each zone, which carries that name to the publishers;
 *      a zone without a slot is an error, never skipped;
 *   4. the backends that keep a zone elsewhere (Redis), which mirror
 *      their log into the zone through that slot.
 * It exits in the reverse order (ngx_http_sse_exit_process).
 */

static ngx_int_t
ngx_http_sse_init_process(ngx_cycle_t *cycle)
{
    uint32_t                   nonce;
    ngx_uint_t                 i;
    ngx_http_sse_zone_t      **zones;
    ngx_http_sse_main_conf_t  *smcf;

    smcf = ngx_http_sse_cycle_main_conf(cycle);

    if (smcf == NULL || smcf->zones.nelts == 0) {
        return NGX_OK;
    }

    /* 1 */
    ngx_http_sse_stream_init(cycle);

    /* 2 */
    if (ngx_http_sse_ipc_init(cycle, &smcf->zones,
                              ngx_http_sse_stream_deliver, &nonce)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* 3 */
    zones = smcf->zones.elts;

    for (i = 0; i < smcf->zones.nelts; i++) {
        if (ngx_http_sse_store_claim_slot(zones[i], nonce, cycle->log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* 4 */
    return ngx_http_sse_redis_init_process(cycle, &smcf->zones);
}


/* the start-up's steps undone, last first */

static void
ngx_http_sse_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                 i;
    ngx_http_sse_zone_t      **zones;
    ngx_http_sse_main_conf_t  *smcf;

    smcf = ngx_http_sse_cycle_main_conf(cycle);

    if (smcf == NULL || smcf->zones.nelts == 0) {
        return;
    }

    ngx_http_sse_redis_exit_process(&smcf->zones);
    ngx_http_sse_ipc_exit();

    zones = smcf->zones.elts;

    for (i = 0; i < smcf->zones.nelts; i++) {
        ngx_http_sse_store_release_slot(zones[i]);
    }

    ngx_http_sse_stream_exit();
}
