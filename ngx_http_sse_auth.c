
/*
 * Access: API keys on publisher, status and token locations; HS256 tokens
 * on subscriber locations; the sse_token endpoint that issues them.
 */


#include "ngx_http_sse_module.h"


static ngx_int_t ngx_http_sse_access_key(ngx_http_request_t *r,
    ngx_http_sse_ctx_t *ctx);
static ngx_int_t ngx_http_sse_access_token(ngx_http_request_t *r,
    ngx_http_sse_ctx_t *ctx);
static ngx_int_t ngx_http_sse_token_verify(ngx_http_request_t *r,
    ngx_http_sse_ctx_t *ctx);
static ngx_int_t ngx_http_sse_bearer(ngx_http_request_t *r, ngx_str_t *value);
static ngx_int_t ngx_http_sse_subscriber_token(ngx_http_request_t *r,
    ngx_str_t *token);
static void ngx_http_sse_token_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_token_issue(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_conf_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *content);


/* NGX_OK, or NGX_HTTP_UNAUTHORIZED when sse_api_key is not satisfied */

ngx_int_t
ngx_http_sse_auth_api_key(ngx_http_request_t *r)
{
    u_char                    digest[NGX_HTTP_SSE_KEY_DIGEST_LEN];
    ngx_str_t                 key;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    if (slcf->api_keys == NULL) {
        return NGX_OK;
    }

    if (ngx_http_sse_header_value(r, "X-API-Key", &key) != NGX_OK
        && ngx_http_sse_bearer(r, &key) != NGX_OK)
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (ngx_http_sse_key_digest(key.data, key.len, digest) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_http_sse_key_match(slcf->api_keys, digest)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "sse: wrong API key");
        return NGX_HTTP_UNAUTHORIZED;
    }

    return NGX_OK;
}


/*
 * The access phase (NGX_HTTP_ACCESS_PHASE), so that "satisfy any|all"
 * combines sse_api_key and sse_auth_jwt with allow/deny, auth_basic and
 * auth_request: NGX_OK when the key or token is good, NGX_DECLINED when
 * there is nothing to check here (no key or secret configured, or a method
 * the location refuses with its own 405), else 401.  The refusal's reason
 * waits in the request's ctx for the error filter, which writes it into
 * the JSON that replaces nginx's page; nginx discards an unread body before
 * that page.  A verified token's claims wait there for the subscriber
 * handler.
 */

ngx_int_t
ngx_http_sse_access_handler(ngx_http_request_t *r)
{
    ngx_http_sse_ctx_t       *ctx;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    switch (slcf->role) {

    case NGX_HTTP_SSE_ROLE_PUBLISH:
        if (slcf->api_keys == NULL) {
            return NGX_DECLINED;
        }

        break;

    case NGX_HTTP_SSE_ROLE_STATUS:
        if (slcf->api_keys == NULL
            || !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
        {
            return NGX_DECLINED;
        }

        break;

    case NGX_HTTP_SSE_ROLE_TOKEN:
        if (slcf->api_keys == NULL || r->method != NGX_HTTP_POST) {
            return NGX_DECLINED;
        }

        break;

    case NGX_HTTP_SSE_ROLE_SUBSCRIBE:
        if (slcf->jwt_secret.len == 0
            || !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
        {
            return NGX_DECLINED;
        }

        break;

    default:
        return NGX_DECLINED;
    }

    ctx = ngx_http_sse_request_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (slcf->role == NGX_HTTP_SSE_ROLE_SUBSCRIBE) {
        return ngx_http_sse_access_token(r, ctx);
    }

    return ngx_http_sse_access_key(r, ctx);
}


static ngx_int_t
ngx_http_sse_access_key(ngx_http_request_t *r, ngx_http_sse_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_sse_auth_api_key(r);

    if (rc == NGX_HTTP_UNAUTHORIZED) {
        /* the reply is decided: no "100 Continue" for the body */
        r->expect_tested = 1;

        ctx->access_status = rc;
        ctx->access_why = "missing or wrong API key";
    }

    return rc;
}


static ngx_int_t
ngx_http_sse_access_token(ngx_http_request_t *r, ngx_http_sse_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_sse_token_verify(r, ctx);

    if (rc == NGX_DECLINED) {
        ctx->access_why = "missing token";
        rc = NGX_HTTP_UNAUTHORIZED;

    } else if (rc == NGX_HTTP_UNAUTHORIZED) {
        /*
         * the reason, never the token: the cycle's log, because the
         * request's would add the request line, and with it ?token=
         */
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "sse: subscriber %V refused: %s",
                      &r->connection->addr_text, ctx->access_why);
    }

    if (rc == NGX_HTTP_UNAUTHORIZED) {
        /* the reply is decided: no "100 Continue" for the body */
        r->expect_tested = 1;
        ctx->access_status = rc;
    }

    return rc;
}


/*
 * The subscriber's token: NGX_OK with its claims in the ctx, NGX_DECLINED
 * when there is none, NGX_HTTP_UNAUTHORIZED with the reason in the ctx.
 */

static ngx_int_t
ngx_http_sse_token_verify(ngx_http_request_t *r, ngx_http_sse_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_str_t                 token;
    const char               *why;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    if (ngx_http_sse_subscriber_token(r, &token) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (token.len == 0) {
        return NGX_DECLINED;
    }

    rc = ngx_http_sse_jwt_verify(r->pool, &token, &slcf->jwt_secret,
                                 ngx_time(), &ctx->jwt, &why);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        ctx->access_why = why;
        return NGX_HTTP_UNAUTHORIZED;
    }

    ctx->jwt_verified = 1;

    return NGX_OK;
}


/*
 * sse_api_key for a handler: NGX_DECLINED when the request may go on, else
 * what the handler returns (the 401 is sent).  A main request was checked
 * in the access phase already; a subrequest skips that phase, as in
 * nginx, and is checked here.
 */

ngx_int_t
ngx_http_sse_auth_require_key(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r == r->main) {
        return NGX_DECLINED;
    }

    rc = ngx_http_sse_auth_api_key(r);

    if (rc == NGX_OK) {
        return NGX_DECLINED;
    }

    if (rc == NGX_HTTP_UNAUTHORIZED) {
        return ngx_http_sse_send_error(r, rc, "missing or wrong API key");
    }

    return rc;
}


/* "Authorization: Bearer <value>" */

static ngx_int_t
ngx_http_sse_bearer(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char     *p, *end;
    ngx_str_t  *auth;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    auth = &r->headers_in.authorization->value;

    if (auth->len <= sizeof("Bearer ") - 1
        || ngx_strncasecmp(auth->data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    p = auth->data + sizeof("Bearer ") - 1;
    end = auth->data + auth->len;

    while (p < end && *p == ' ') {
        p++;
    }

    while (end > p && end[-1] == ' ') {
        end--;
    }

    if (p == end) {
        return NGX_DECLINED;
    }

    value->data = p;
    value->len = end - p;

    return NGX_OK;
}


/*
 * sse_auth_jwt: NGX_OK with the user and the token's expiry, or the status
 * to answer (401, 403) and why.  The token was verified in the access
 * phase.  A main request that reached here without it was let in by
 * another check under "satisfy any" (allow, auth_basic, auth_request): a
 * token it carries all the same, if good, gives its user and channels;
 * else it subscribes with no user.  A subrequest skips the access phase
 * and is checked here.  Without sse_auth_jwt, the user is sse_user's value
 * (e.g. what auth_request learnt from the app), or none.
 */

ngx_int_t
ngx_http_sse_auth_subscriber(ngx_http_request_t *r, ngx_array_t *names,
    ngx_str_t *user, time_t *exp, const char **err)
{
    ngx_int_t                 rc;
    ngx_str_t                *name;
    ngx_uint_t                i;
    ngx_http_sse_ctx_t       *ctx;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    ngx_str_null(user);
    *exp = 0;

    if (slcf->jwt_secret.len == 0) {
        if (slcf->user == NULL) {
            return NGX_OK;
        }

        /* as it is: a user name from a header is not URL-encoded */

        if (ngx_http_complex_value(r, slcf->user, user) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_OK;
    }

    ctx = ngx_http_sse_request_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ctx->jwt_verified) {

        if (r != r->main) {
            rc = ngx_http_sse_access_token(r, ctx);

            if (rc == NGX_HTTP_UNAUTHORIZED) {
                *err = ctx->access_why;
            }

            if (rc != NGX_OK) {
                return rc;
            }

        } else {
            rc = ngx_http_sse_token_verify(r, ctx);

            if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
                return rc;
            }

            if (rc != NGX_OK) {
                ctx->access_why = NULL;
                return NGX_OK;
            }
        }
    }

    name = names->elts;

    for (i = 0; i < names->nelts; i++) {
        if (!ngx_http_sse_jwt_allows(&ctx->jwt, &name[i])) {
            *err = "channel not allowed by the token";
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "sse: subscriber %V refused: channel \"%V\" "
                          "not allowed by the token",
                          &r->connection->addr_text, &name[i]);
            return NGX_HTTP_FORBIDDEN;
        }
    }

    *user = ctx->jwt.user;
    *exp = ctx->jwt.exp;

    return NGX_OK;
}


/* sse_auth_jwt_token, or Bearer, then ?token=, then the sse_token cookie */

static ngx_int_t
ngx_http_sse_subscriber_token(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_http_sse_loc_conf_t   *slcf;
    ngx_http_sse_main_conf_t  *smcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    if (slcf->jwt_token) {
        return ngx_http_sse_complex_value(r, slcf->jwt_token, token);
    }

    if (ngx_http_sse_bearer(r, token) == NGX_OK) {
        return NGX_OK;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_sse_module);

    if (ngx_http_sse_complex_value(r, smcf->arg_token, token) != NGX_OK) {
        return NGX_ERROR;
    }

    if (token->len) {
        return NGX_OK;
    }

    return ngx_http_complex_value(r, smcf->cookie_token, token);
}


/* sse_token: POST {"userId","channel","exp"} -> {"token","expires"} */

ngx_int_t
ngx_http_sse_token_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_sse_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "method not allowed: ask for a token "
                                       "with POST");
    }

    rc = ngx_http_sse_auth_require_key(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_sse_token_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_sse_token_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_sse_token_issue(r));
}


static ngx_int_t
ngx_http_sse_token_issue(ngx_http_request_t *r)
{
    u_char                   *p;
    time_t                    ttl, expires;
    ngx_int_t                 rc;
    ngx_str_t                 body, user, err, token, reply;
    ngx_array_t               channels;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    if (ngx_http_sse_request_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_array_init(&channels, r->pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_sse_parse_token_request(r->pool, body.data, body.len,
                                  ngx_http_sse_content_type_is(r,
                                      "application/json",
                                      sizeof("application/json") - 1),
                                  &user, &channels, &ttl, &err)
        != NGX_OK)
    {
        return ngx_http_sse_send_error(r, NGX_HTTP_BAD_REQUEST, "%V", &err);
    }

    expires = ngx_time() + ttl;

    rc = ngx_http_sse_jwt_sign(r->pool, &slcf->token_secret, &user,
                               channels.elts, channels.nelts, ngx_time(),
                               expires, &token);

    if (rc == NGX_DECLINED) {
        /* subscribers would refuse it: not minted */
        return ngx_http_sse_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "the token would be longer than the "
                                       "%d bytes subscribers accept: ask for "
                                       "fewer or shorter channels",
                                       NGX_HTTP_SSE_MAX_TOKEN);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    reply.data = ngx_pnalloc(r->pool, sizeof("{\"token\":\"\",\"expires\":}")
                                      + token.len + NGX_TIME_T_LEN);
    if (reply.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(reply.data, "{\"token\":\"%V\",\"expires\":%T}",
                    &token, expires);
    reply.len = p - reply.data;

    return ngx_http_sse_send_json(r, NGX_HTTP_OK, &reply);
}


/* sse_api_key KEY... | file=PATH; */

char *
ngx_http_sse_conf_api_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sse_loc_conf_t *slcf = conf;

    u_char     *p, *end, *eol, *digest;
    ngx_str_t  *value, path, content, key;
    ngx_uint_t  i;

    if (slcf->api_keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    slcf->api_keys = ngx_array_create(cf->pool, 2,
                                      NGX_HTTP_SSE_KEY_DIGEST_LEN);
    if (slcf->api_keys == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "file=", 5) != 0) {
            digest = ngx_array_push(slcf->api_keys);
            if (digest == NULL
                || ngx_http_sse_key_digest(value[i].data, value[i].len,
                                           digest)
                   != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        path.data = value[i].data + 5;
        path.len = value[i].len - 5;

        if (ngx_http_sse_conf_read_file(cf, &path, &content) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        /* one key a line; blank lines and "#" comments are skipped */

        p = content.data;
        end = p + content.len;

        while (p < end) {
            eol = ngx_strlchr(p, end, LF);
            if (eol == NULL) {
                eol = end;
            }

            key.data = p;
            key.len = eol - p;
            p = eol + 1;

            while (key.len && (key.data[key.len - 1] == CR
                               || key.data[key.len - 1] == ' '
                               || key.data[key.len - 1] == '\t'))
            {
                key.len--;
            }

            while (key.len && (key.data[0] == ' ' || key.data[0] == '\t')) {
                key.data++;
                key.len--;
            }

            if (key.len == 0 || key.data[0] == '#') {
                continue;
            }

            digest = ngx_array_push(slcf->api_keys);
            if (digest == NULL
                || ngx_http_sse_key_digest(key.data, key.len, digest)
                   != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }
        }

        if (slcf->api_keys->nelts == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "sse_api_key file \"%V\" holds no key",
                               &path);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* sse_auth_jwt SECRET | file=PATH | off;  sse_token SECRET | file=PATH; */

char *
ngx_http_sse_conf_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *secret, *value, path;

    secret = (ngx_str_t *) (p + cmd->offset);

    if (secret->len != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0
        && cmd->offset == offsetof(ngx_http_sse_loc_conf_t, jwt_secret))
    {
        ngx_str_null(secret);
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "file=", 5) == 0) {
        path.data = value[1].data + 5;
        path.len = value[1].len - 5;

        if (ngx_http_sse_conf_read_file(cf, &path, secret) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        /* the secret is the first line */
        while (secret->len && (secret->data[secret->len - 1] == LF
                               || secret->data[secret->len - 1] == CR))
        {
            secret->len--;
        }

    } else {
        *secret = value[1];
    }

    if (secret->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty secret in \"%V\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (secret->len < 32) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "the secret of \"%V\" is shorter than 32 bytes, "
                           "which weakens HS256", &value[0]);
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_sse_conf_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *content)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t        path;
    ngx_file_info_t  fi;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open \"%V\" for \"%V\"", &path,
                           &((ngx_str_t *) cf->args->elts)[0]);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%V\": not a file of at most 1m",
                           &path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    content->len = (size_t) ngx_file_size(&fi);
    content->data = ngx_pnalloc(cf->pool, content->len + 1);

    if (content->data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, content->data, content->len);

    (void) ngx_close_file(fd);

    if (n != (ssize_t) content->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%V\"", &path);
        return NGX_ERROR;
    }

    return NGX_OK;
}
