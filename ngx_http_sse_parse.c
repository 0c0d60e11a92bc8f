
/*
 * Request bodies: a publish (JSON, one message or an array, or form
 * fields; a raw body needs no parsing) and a request to sse_token.  Pure
 * functions on memory and a pool, free of request objects, so that they
 * can be fuzzed.
 */


#include "ngx_http_sse_module.h"

#include <cjson/cJSON.h>


#define NGX_HTTP_SSE_MAX_NAME_LEN   255

/* the longest exp an sse_token request may ask for: ten years */
#define NGX_HTTP_SSE_TOKEN_MAX_TTL  315360000


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  field;
} ngx_http_sse_form_name_t;


static const char *ngx_http_sse_json_scan(u_char *text, u_char *end,
    u_char **at, ngx_uint_t *max_depth);
static ngx_int_t ngx_http_sse_json_message(ngx_pool_t *pool, cJSON *obj,
    ngx_str_t *default_channel, ngx_http_sse_pmsg_t *m, const char **err);
static ngx_int_t ngx_http_sse_json_channels(ngx_pool_t *pool, cJSON *obj,
    ngx_str_t *default_channel, ngx_http_sse_pmsg_t *m, const char **err);
static ngx_int_t ngx_http_sse_json_channel_list(ngx_pool_t *pool,
    cJSON *item, ngx_array_t *names, const char **err);
static ngx_int_t ngx_http_sse_json_string(ngx_pool_t *pool, cJSON *obj,
    const char *name, const char *alias, ngx_str_t *value, const char **err);
static ngx_int_t ngx_http_sse_json_data(ngx_pool_t *pool, cJSON *obj,
    ngx_str_t *data, const char **err);
static ngx_int_t ngx_http_sse_form_next(u_char **pos, u_char *end,
    ngx_str_t *key, ngx_str_t *value);
static ngx_int_t ngx_http_sse_form_key(ngx_http_sse_form_name_t *names,
    ngx_str_t *key);
static ngx_int_t ngx_http_sse_form_value(ngx_pool_t *pool, ngx_str_t *raw,
    ngx_str_t *value);
static ngx_int_t ngx_http_sse_form_message(ngx_pool_t *pool,
    ngx_http_sse_pmsg_t *m, ngx_uint_t field, ngx_str_t *key,
    ngx_str_t *raw, ngx_str_t *err);
static ngx_int_t ngx_http_sse_set_err(ngx_pool_t *pool, ngx_str_t *err,
    ngx_uint_t index, const char *what);
static ngx_int_t ngx_http_sse_form_field(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *seen, ngx_str_t *err);
static ngx_int_t ngx_http_sse_token_json(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_str_t *user, ngx_array_t *channels, time_t *ttl,
    ngx_str_t *err);
static ngx_int_t ngx_http_sse_token_form(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_str_t *user, ngx_array_t *channels, time_t *ttl,
    ngx_str_t *err);
static ngx_int_t ngx_http_sse_token_channels(ngx_pool_t *pool,
    ngx_str_t *value, ngx_array_t *channels, ngx_str_t *err);
static ngx_int_t ngx_http_sse_token_control(ngx_pool_t *pool,
    ngx_str_t *name, const char *prefix, ngx_str_t *err);


/* a publish's form fields and their aliases */
static ngx_http_sse_form_name_t  ngx_http_sse_publish_fields[] = {
    { ngx_string("channel"), 0 },
    { ngx_string("event"), 1 },
    { ngx_string("data"), 2 },
    { ngx_string("payload"), 2 },
    { ngx_string("user"), 3 },
    { ngx_string("userId"), 3 },
    { ngx_null_string, 0 }
};

/* an sse_token request's form fields and their aliases */
static ngx_http_sse_form_name_t  ngx_http_sse_token_fields[] = {
    { ngx_string("userId"), 0 },
    { ngx_string("sub"), 0 },
    { ngx_string("channel"), 1 },
    { ngx_string("exp"), 2 },
    { ngx_null_string, 0 }
};


/*
 * One JSON document, read by cJSON.  The text is first scanned for what
 * cJSON does not report:
 *
 * - a NUL, as a byte or as a "\u0000" escape: cJSON strings end at a NUL,
 *   so a name or a value would be cut short without a word;
 * - control bytes between tokens, which cJSON takes for white space, and a
 *   leading byte order mark, which it skips: neither is JSON.
 *
 * cJSON stops after the value: anything but white space after it is
 * refused too, rather than ignored.  cJSON limits nesting to
 * CJSON_NESTING_LIMIT (1000) levels, and so its recursion.
 *
 * The value (cJSON is not included by the module's header, hence the
 * void *), to be freed with cJSON_Delete(); or NULL and why, for a 400.
 */

void *
ngx_http_sse_json_parse(ngx_pool_t *pool, u_char *text, size_t len,
    ngx_str_t *err)
{
    cJSON       *json;
    u_char      *p, *end;
    ngx_uint_t   depth;
    const char  *what, *parse_end;

    end = text + len;

    what = ngx_http_sse_json_scan(text, end, &p, &depth);
    if (what) {
        goto failed;
    }

    parse_end = NULL;

    json = cJSON_ParseWithLengthOpts((const char *) text, len, &parse_end, 0);

    if (json == NULL) {
        if (depth > CJSON_NESTING_LIMIT) {
            ngx_str_set(err, "body is not valid JSON: nested deeper than "
                        "1000 levels");

        } else {
            ngx_str_set(err, "body is not valid JSON");
        }

        return NULL;
    }

    for (p = (u_char *) parse_end; p < end; p++) {
        if (*p != ' ' && *p != '\t' && *p != CR && *p != LF) {
            cJSON_Delete(json);
            what = "body is not valid JSON: only white space may follow the "
                   "JSON value, at offset %uz";
            goto failed;
        }
    }

    return json;

failed:

    err->len = ngx_strlen(what) + NGX_SIZE_T_LEN;
    err->data = ngx_pnalloc(pool, err->len);

    if (err->data == NULL) {
        ngx_str_set(err, "body is not valid JSON");
        return NULL;
    }

    err->len = ngx_snprintf(err->data, err->len, what, (size_t) (p - text))
               - err->data;

    return NULL;
}


/*
 * What cJSON does not report, before it reads the text: NULL and the
 * deepest nesting, or why the text is refused (a format with %uz for the
 * offset) and *at where.
 */

static const char *
ngx_http_sse_json_scan(u_char *text, u_char *end, u_char **at,
    ngx_uint_t *max_depth)
{
    u_char      *p;
    ngx_uint_t   in_string, depth;

    in_string = 0;
    depth = 0;
    *max_depth = 0;
    *at = text;

    if (end - text >= 3
        && text[0] == 0xef && text[1] == 0xbb && text[2] == 0xbf)
    {
        return "body is not valid JSON: a byte order mark (U+FEFF) at "
               "offset %uz";
    }

    for (p = text; p < end; p++) {

        *at = p;

        if (*p == '\0') {
            return "NUL characters are not allowed: a NUL byte at offset %uz";
        }

        if (in_string) {

            if (*p == '"') {
                in_string = 0;
                continue;
            }

            if (*p != '\\' || end - p < 2) {
                continue;
            }

            if (end - p >= 6 && p[1] == 'u'
                && p[2] == '0' && p[3] == '0' && p[4] == '0' && p[5] == '0')
            {
                return "NUL characters are not allowed: \\u0000 at "
                       "offset %uz";
            }

            /* the escaped byte; a NUL there is found on the next round */

            if (p[1] != '\0') {
                p++;
            }

            continue;
        }

        switch (*p) {

        case '"':
            in_string = 1;
            break;

        case '[':
        case '{':
            if (++depth > *max_depth) {
                *max_depth = depth;
            }

            break;

        case ']':
        case '}':
            if (depth) {
                depth--;
            }

            break;

        default:
            if (*p < 0x20 && *p != '\t' && *p != CR && *p != LF) {
                return "body is not valid JSON: a control character at "
                       "offset %uz";
            }
        }
    }

    return NULL;
}


/*
 * The member "name" (or its alias) of a JSON object: NGX_OK and the member,
 * NULL when absent; or NGX_ERROR and why when the field comes more than
 * once, which cJSON would settle by taking the first without a word.
 */

ngx_int_t
ngx_http_sse_json_member(ngx_pool_t *pool, void *object, const char *name,
    const char *alias, void **member, const char **err)
{
    cJSON       *item, *found;
    u_char      *p;
    size_t       len;
    ngx_uint_t   n, a;

    found = NULL;
    n = 0;
    a = 0;

    for (item = ((cJSON *) object)->child; item; item = item->next) {

        if (item->string == NULL) {
            continue;
        }

        if (ngx_strcmp(item->string, name) == 0) {
            n++;

        } else if (alias && ngx_strcmp(item->string, alias) == 0) {
            a++;

        } else {
            continue;
        }

        if (found == NULL) {
            found = item;
        }
    }

    *member = found;

    if (n + a <= 1) {
        return NGX_OK;
    }

    len = sizeof("\"\" and \"\" are the same field: send one")
          + ngx_strlen(name) + (alias ? ngx_strlen(alias) : 0);

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    *err = (const char *) p;

    if (n && a) {
        p = ngx_snprintf(p, len - 1, "\"%s\" and \"%s\" are the same field: "
                         "send one", name, alias);

    } else {
        p = ngx_snprintf(p, len - 1, "\"%s\" appears more than once",
                         n ? name : alias);
    }

    *p = '\0';

    return NGX_ERROR;
}


/*
 * A JSON number of seconds from min to max.  The range is tested on the
 * double, before any cast: converting NaN, an infinity or a value beyond
 * time_t is undefined.  With whole, a fraction is refused, else cut off.
 */

ngx_int_t
ngx_http_sse_json_time(void *json, double min, double max, ngx_uint_t whole,
    time_t *t)
{
    cJSON   *item = json;
    double   d;

    if (!cJSON_IsNumber(item)) {
        return NGX_ERROR;
    }

    d = item->valuedouble;

    /* false for NaN as well */
    if (!(d >= min && d <= max)) {
        return NGX_ERROR;
    }

    *t = (time_t) d;

    if (whole && (double) *t != d) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * One message or an array of them; *as_array tells which, for the reply
 * and for the errors found later.
 */

ngx_int_t
ngx_http_sse_parse_json(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_str_t *default_channel, ngx_array_t *msgs, ngx_uint_t *as_array,
    ngx_str_t *err)
{
    cJSON                *root, *item;
    ngx_int_t             rc;
    ngx_uint_t            i, n;
    const char           *what;
    ngx_http_sse_pmsg_t  *m;

    *as_array = 0;

    if (len == 0) {
        ngx_str_set(err, "empty body");
        return NGX_ERROR;
    }

    root = ngx_http_sse_json_parse(pool, body, len, err);
    if (root == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;
    *as_array = cJSON_IsArray(root) ? 1 : 0;

    if (*as_array) {
        n = cJSON_GetArraySize(root);

        if (n == 0) {
            ngx_str_set(err, "empty array: no message to publish");
            rc = NGX_ERROR;
            goto done;
        }

        i = 0;

        cJSON_ArrayForEach(item, root) {
            i++;

            m = ngx_array_push(msgs);
            if (m == NULL) {
                rc = NGX_ERROR;
                ngx_str_set(err, "out of memory");
                goto done;
            }

            if (ngx_http_sse_json_message(pool, item, default_channel, m,
                                          &what)
                != NGX_OK)
            {
                (void) ngx_http_sse_set_err(pool, err, i, what);
                rc = NGX_ERROR;
                goto done;
            }
        }

    } else {
        m = ngx_array_push(msgs);
        if (m == NULL) {
            rc = NGX_ERROR;
            ngx_str_set(err, "out of memory");
            goto done;
        }

        if (ngx_http_sse_json_message(pool, root, default_channel, m, &what)
            != NGX_OK)
        {
            (void) ngx_http_sse_set_err(pool, err, 0, what);
            rc = NGX_ERROR;
        }
    }

done:

    cJSON_Delete(root);

    return rc;
}


static ngx_int_t
ngx_http_sse_json_message(ngx_pool_t *pool, cJSON *obj,
    ngx_str_t *default_channel, ngx_http_sse_pmsg_t *m, const char **err)
{
    ngx_memzero(m, sizeof(ngx_http_sse_pmsg_t));

    if (!cJSON_IsObject(obj)) {
        *err = "a message must be a JSON object";
        return NGX_ERROR;
    }

    /* channel, event, user (or its alias userId, not both), data */

    if (ngx_http_sse_json_channels(pool, obj, default_channel, m, err)
        != NGX_OK
        || ngx_http_sse_json_string(pool, obj, "event", NULL, &m->event, err)
           != NGX_OK
        || ngx_http_sse_json_string(pool, obj, "user", "userId", &m->user,
                                    err)
           != NGX_OK
        || ngx_http_sse_json_data(pool, obj, &m->data, err) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (m->user.len == 1 && m->user.data[0] == '*') {
        ngx_str_null(&m->user);
    }

    return NGX_OK;
}


/* a message's "channel": absent or null, the location's channel */

static ngx_int_t
ngx_http_sse_json_channels(ngx_pool_t *pool, cJSON *obj,
    ngx_str_t *default_channel, ngx_http_sse_pmsg_t *m, const char **err)
{
    void         *member;
    cJSON        *item;
    ngx_array_t  *names;

    if (ngx_http_sse_json_member(pool, obj, "channel", NULL, &member, err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    item = member;

    if (item == NULL || cJSON_IsNull(item)) {
        m->channels = default_channel;
        m->nchannels = 1;
        return NGX_OK;
    }

    names = ngx_array_create(pool, cJSON_IsArray(item)
                                   ? ngx_max(cJSON_GetArraySize(item), 1) : 1,
                             sizeof(ngx_str_t));
    if (names == NULL) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    if (ngx_http_sse_json_channel_list(pool, item, names, err) != NGX_OK) {
        return NGX_ERROR;
    }

    m->channels = names->elts;
    m->nchannels = names->nelts;

    return NGX_OK;
}


/*
 * "channel" of a publish or of an sse_token request, not null: a string or
 * a non-empty array of strings, added to names.
 */

static ngx_int_t
ngx_http_sse_json_channel_list(ngx_pool_t *pool, cJSON *item,
    ngx_array_t *names, const char **err)
{
    ngx_int_t  rc;

    if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == 0) {
        *err = "\"channel\" is an empty array";
        return NGX_ERROR;
    }

    rc = ngx_http_sse_json_strings(pool, item, names);

    if (rc == NGX_DECLINED) {
        *err = "\"channel\" must be a string or an array of strings";
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A string or an array of strings, each copied into the pool and added to
 * names: NGX_DECLINED for anything else (null included), NGX_ERROR for no
 * memory.
 */

ngx_int_t
ngx_http_sse_json_strings(ngx_pool_t *pool, void *json, ngx_array_t *names)
{
    cJSON      *item, *s;
    ngx_str_t  *name;

    item = json;

    if (cJSON_IsString(item)) {
        name = ngx_array_push(names);
        if (name == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_sse_json_copy(pool, item, name);
    }

    if (!cJSON_IsArray(item)) {
        return NGX_DECLINED;
    }

    cJSON_ArrayForEach(s, item) {
        if (!cJSON_IsString(s)) {
            return NGX_DECLINED;
        }
    }

    cJSON_ArrayForEach(s, item) {
        name = ngx_array_push(names);
        if (name == NULL || ngx_http_sse_json_copy(pool, s, name) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * An optional string member (or its alias, not both): absent or null
 * leaves value as it is; anything but a string is refused.
 */

static ngx_int_t
ngx_http_sse_json_string(ngx_pool_t *pool, cJSON *obj, const char *name,
    const char *alias, ngx_str_t *value, const char **err)
{
    void    *member;
    u_char  *p;
    cJSON   *item;
    size_t   len;

    if (ngx_http_sse_json_member(pool, obj, name, alias, &member, err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    item = member;

    if (item == NULL || cJSON_IsNull(item)) {
        return NGX_OK;
    }

    if (cJSON_IsString(item)) {
        if (ngx_http_sse_json_copy(pool, item, value) != NGX_OK) {
            *err = "out of memory";
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    /* "\"<name>\" must be a string" */

    len = sizeof("\"\" must be a string") + ngx_strlen(name);

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    *err = (const char *) p;

    p = ngx_snprintf(p, len - 1, "\"%s\" must be a string", name);
    *p = '\0';

    return NGX_ERROR;
}


/* "data": a string as it is, any other value as compact JSON */

static ngx_int_t
ngx_http_sse_json_data(ngx_pool_t *pool, cJSON *obj, ngx_str_t *data,
    const char **err)
{
    void   *member;
    char   *text;
    cJSON  *item;

    if (ngx_http_sse_json_member(pool, obj, "data", NULL, &member, err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    item = member;

    if (item == NULL) {
        *err = "\"data\" is missing";
        return NGX_ERROR;
    }

    if (cJSON_IsString(item)) {
        if (ngx_http_sse_json_copy(pool, item, data) != NGX_OK) {
            *err = "out of memory";
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    text = cJSON_PrintUnformatted(item);
    if (text == NULL) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    data->len = ngx_strlen(text);
    data->data = ngx_pnalloc(pool, data->len);

    if (data->data) {
        ngx_memcpy(data->data, text, data->len);
    }

    cJSON_free(text);

    if (data->data == NULL && data->len) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a cJSON string value, copied into the pool (cJSON is not included by
 * the module's header, hence the void *) */

ngx_int_t
ngx_http_sse_json_copy(ngx_pool_t *pool, void *json, ngx_str_t *value)
{
    cJSON  *item = json;

    value->len = ngx_strlen(item->valuestring);
    value->data = ngx_pnalloc(pool, value->len + 1);

    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, item->valuestring, value->len + 1);

    return NGX_OK;
}


static ngx_int_t
ngx_http_sse_set_err(ngx_pool_t *pool, ngx_str_t *err, ngx_uint_t index,
    const char *what)
{
    size_t  len;

    len = ngx_strlen(what);

    if (index == 0) {
        err->data = (u_char *) what;
        err->len = len;
        return NGX_OK;
    }

    err->data = ngx_pnalloc(pool, sizeof("message : ") + NGX_INT_T_LEN + len);
    if (err->data == NULL) {
        err->data = (u_char *) what;
        err->len = len;
        return NGX_ERROR;
    }

    err->len = ngx_sprintf(err->data, "message %ui: %s", index, what)
               - err->data;

    return NGX_OK;
}


/*
 * Form fields: channel, event, data (alias payload), user (alias userId).
 */

ngx_int_t
ngx_http_sse_parse_form(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_str_t *default_channel, ngx_array_t *msgs, ngx_str_t *err)
{
    u_char               *p;
    ngx_int_t             field;
    ngx_str_t             key, raw, seen[4];
    ngx_http_sse_pmsg_t  *m;

    m = ngx_array_push(msgs);
    if (m == NULL) {
        ngx_str_set(err, "out of memory");
        return NGX_ERROR;
    }

    ngx_memzero(m, sizeof(ngx_http_sse_pmsg_t));
    ngx_memzero(seen, sizeof(seen));

    p = body;

    /* len 0: body may be NULL, and NULL + 0 is undefined */

    while (len && ngx_http_sse_form_next(&p, body + len, &key, &raw)
                  == NGX_OK)
    {

        field = ngx_http_sse_form_key(ngx_http_sse_publish_fields, &key);

        if (field == NGX_DECLINED) {
            continue;
        }

        /* each field (with its alias) once: a repeat is refused */

        if (ngx_http_sse_form_field(pool, &key, &seen[field], err) != NGX_OK
            || ngx_http_sse_form_message(pool, m, field, &key, &raw, err)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (seen[2].data == NULL) {
        ngx_str_set(err, "\"data\" is missing");
        return NGX_ERROR;
    }

    if (m->nchannels == 0) {
        m->channels = default_channel;
        m->nchannels = 1;
    }

    if (m->user.len == 1 && m->user.data[0] == '*') {
        ngx_str_null(&m->user);
    }

    return NGX_OK;
}


/* one field of a publish's form (0 channel, 1 event, 2 data, 3 user) */

static ngx_int_t
ngx_http_sse_form_message(ngx_pool_t *pool, ngx_http_sse_pmsg_t *m,
    ngx_uint_t field, ngx_str_t *key, ngx_str_t *raw, ngx_str_t *err)
{
    ngx_int_t   rc;
    ngx_str_t  *value;

    switch (field) {

    case 0:
        m->channels = ngx_palloc(pool, sizeof(ngx_str_t));
        if (m->channels == NULL) {
            ngx_str_set(err, "out of memory");
            return NGX_ERROR;
        }

        m->nchannels = 1;
        value = m->channels;
        break;

    case 1:
        value = &m->event;
        break;

    case 2:
        value = &m->data;
        break;

    default:
        value = &m->user;
    }

    rc = ngx_http_sse_form_value(pool, raw, value);

    if (rc == NGX_ERROR) {
        ngx_str_set(err, "out of memory");
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        err->data = ngx_pnalloc(pool, sizeof("bad %-escape in field \"\"")
                                      + NGX_HTTP_SSE_MAX_NAME_LEN);
        if (err->data == NULL) {
            ngx_str_set(err, "bad %-escape in a field");
            return NGX_ERROR;
        }

        err->len = ngx_sprintf(err->data, "bad %%-escape in field \"%*s\"",
                               ngx_min(key->len, NGX_HTTP_SSE_MAX_NAME_LEN),
                               key->data)
                   - err->data;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The next field of a form body from *pos: its key and its raw value
 * (value->data is NULL when the field has no "="); NGX_DONE after the last.
 */

static ngx_int_t
ngx_http_sse_form_next(u_char **pos, u_char *end, ngx_str_t *key,
    ngx_str_t *value)
{
    u_char  *p, *amp, *eq;

    p = *pos;

    if (p >= end) {
        return NGX_DONE;
    }

    amp = ngx_strlchr(p, end, '&');
    if (amp == NULL) {
        amp = end;
    }

    eq = ngx_strlchr(p, amp, '=');

    key->data = p;
    key->len = (eq ? eq : amp) - p;

    if (eq) {
        value->data = eq + 1;
        value->len = amp - eq - 1;

    } else {
        ngx_str_null(value);
    }

    *pos = (amp < end) ? amp + 1 : end;

    return NGX_OK;
}


/* which field a key names (an index of the table), or NGX_DECLINED */

static ngx_int_t
ngx_http_sse_form_key(ngx_http_sse_form_name_t *names, ngx_str_t *key)
{
    for ( /* void */ ; names->name.len; names++) {
        if (names->name.len == key->len
            && ngx_strncmp(names->name.data, key->data, key->len) == 0)
        {
            return names->field;
        }
    }

    return NGX_DECLINED;
}


/* a form value decoded into the pool: NGX_DECLINED for a bad %-escape */

static ngx_int_t
ngx_http_sse_form_value(ngx_pool_t *pool, ngx_str_t *raw, ngx_str_t *value)
{
    value->data = ngx_pnalloc(pool, raw->len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_sse_form_decode(raw->data, raw->len, value) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the first key of a form field, or why a second one is refused */

static ngx_int_t
ngx_http_sse_form_field(ngx_pool_t *pool, ngx_str_t *key, ngx_str_t *seen,
    ngx_str_t *err)
{
    size_t  len;

    if (seen->data == NULL) {
        *seen = *key;
        return NGX_OK;
    }

    len = sizeof("\"\" and \"\" are the same field: send one") + seen->len
          + key->len;

    err->data = ngx_pnalloc(pool, len);
    if (err->data == NULL) {
        ngx_str_set(err, "a field appears more than once");
        return NGX_ERROR;
    }

    if (seen->len == key->len
        && ngx_strncmp(seen->data, key->data, key->len) == 0)
    {
        err->len = ngx_snprintf(err->data, len,
                                "\"%V\" appears more than once", key)
                   - err->data;

    } else {
        err->len = ngx_snprintf(err->data, len,
                                "\"%V\" and \"%V\" are the same field: "
                                "send one", seen, key)
                   - err->data;
    }

    return NGX_ERROR;
}


/* one form value, %-escapes and "+" decoded into dst->data (len bytes) */

ngx_int_t
ngx_http_sse_form_decode(u_char *src, size_t len, ngx_str_t *dst)
{
    u_char  *d, *end, c, h, l;

    if (len == 0) {
        dst->len = 0;
        return NGX_OK;
    }

    d = dst->data;
    end = src + len;

    while (src < end) {
        c = *src++;

        if (c == '+') {
            *d++ = ' ';
            continue;
        }

        if (c != '%') {
            *d++ = c;
            continue;
        }

        if (end - src < 2) {
            return NGX_ERROR;
        }

        h = (u_char) (src[0] | 0x20);
        l = (u_char) (src[1] | 0x20);

        if (h >= '0' && h <= '9') {
            h -= '0';

        } else if (h >= 'a' && h <= 'f') {
            h -= 'a' - 10;

        } else {
            return NGX_ERROR;
        }

        if (l >= '0' && l <= '9') {
            l -= '0';

        } else if (l >= 'a' && l <= 'f') {
            l -= 'a' - 10;

        } else {
            return NGX_ERROR;
        }

        *d++ = (u_char) ((h << 4) | l);
        src += 2;
    }

    dst->len = d - dst->data;

    return NGX_OK;
}


/* checks what every format must hold; NGX_DECLINED: data too large (413) */

ngx_int_t
ngx_http_sse_check_message(ngx_http_sse_pmsg_t *m, size_t max_size,
    ngx_str_t *err)
{
    ngx_uint_t  i;

    for (i = 0; i < m->nchannels; i++) {
        if (ngx_http_sse_channel_valid(&m->channels[i]) != NGX_OK) {
            ngx_str_set(err, "invalid channel name: it must be 1 to 255 "
                        "bytes without control characters, commas or "
                        "white space");
            return NGX_ERROR;
        }
    }

    if (m->event.len > NGX_HTTP_SSE_MAX_NAME_LEN) {
        ngx_str_set(err, "event name is longer than 255 bytes");
        return NGX_ERROR;
    }

    if (m->event.len
        && (ngx_strlchr(m->event.data, m->event.data + m->event.len, CR)
            || ngx_strlchr(m->event.data, m->event.data + m->event.len, LF)
            || ngx_strlchr(m->event.data, m->event.data + m->event.len, '\0')))
    {
        ngx_str_set(err, "event name must not contain CR, LF or NUL");
        return NGX_ERROR;
    }

    if (m->user.len > NGX_HTTP_SSE_MAX_NAME_LEN) {
        ngx_str_set(err, "user is longer than 255 bytes");
        return NGX_ERROR;
    }

    if (m->data.len > max_size) {
        ngx_str_set(err, "data is larger than sse_max_message_size");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_sse_channel_valid(ngx_str_t *name)
{
    u_char  *p, *end;

    if (name->len == 0 || name->len > NGX_HTTP_SSE_MAX_CHANNEL_LEN) {
        return NGX_ERROR;
    }

    end = name->data + name->len;

    for (p = name->data; p < end; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == ',') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The decimal id at the start of p .. end, up to 18446744073709551615, the
 * largest 64-bit id: where its digits end (p itself without a digit), or
 * NULL when it is larger.
 */

u_char *
ngx_http_sse_parse_id(u_char *p, u_char *end, uint64_t *id)
{
    uint64_t  n, d;

    n = 0;

    for ( /* void */ ; p < end && *p >= '0' && *p <= '9'; p++) {
        d = *p - '0';

        if (n > ((uint64_t) -1) / 10
            || (n == ((uint64_t) -1) / 10 && d > ((uint64_t) -1) % 10))
        {
            return NULL;
        }

        n = n * 10 + d;
    }

    *id = n;

    return p;
}


/*
 * A subscriber's channel list: "a,b,c"; an empty value means "global".
 * Repeated names count once.
 */

ngx_int_t
ngx_http_sse_split_channels(ngx_str_t *value, ngx_array_t *names,
    ngx_str_t *err)
{
    u_char      *p, *end, *comma;
    ngx_str_t    name, *n;
    ngx_uint_t   i, dup;

    if (value->len == 0) {
        n = ngx_array_push(names);
        if (n == NULL) {
            ngx_str_set(err, "out of memory");
            return NGX_ERROR;
        }

        ngx_str_set(n, "global");
        return NGX_OK;
    }

    p = value->data;
    end = p + value->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, end, ',');

        name.data = p;
        name.len = (comma ? comma : end) - p;

        if (ngx_http_sse_channel_valid(&name) != NGX_OK) {
            ngx_str_set(err, "invalid channel name: it must be 1 to 255 "
                        "bytes without control characters, commas or "
                        "white space");
            return NGX_ERROR;
        }

        n = names->elts;
        dup = 0;

        for (i = 0; i < names->nelts; i++) {
            if (n[i].len == name.len
                && ngx_strncmp(n[i].data, name.data, name.len) == 0)
            {
                dup = 1;
                break;
            }
        }

        if (!dup) {
            if (names->nelts == NGX_HTTP_SSE_MAX_CHANNELS) {
                ngx_str_set(err, "more than 32 channels");
                return NGX_ERROR;
            }

            n = ngx_array_push(names);
            if (n == NULL) {
                ngx_str_set(err, "out of memory");
                return NGX_ERROR;
            }

            *n = name;
        }

        if (comma == NULL) {
            return NGX_OK;
        }

        p = comma + 1;
    }
}


/*
 * A request to sse_token: JSON {"userId":"alex","channel":"chat" or [...],
 * "exp":86400} or the same form fields (channel may repeat or hold a
 * comma-separated list).  exp: seconds from now, default a day.  channel
 * is required ("*" for every channel).  Whatever a subscriber would not
 * take is refused here, with the reason (for a 400).
 */

ngx_int_t
ngx_http_sse_parse_token_request(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_uint_t json, ngx_str_t *user, ngx_array_t *channels, time_t *ttl,
    ngx_str_t *err)
{
    ngx_int_t   rc;
    ngx_str_t  *c;
    ngx_uint_t  i;

    ngx_str_null(user);
    *ttl = 86400;

    rc = json ? ngx_http_sse_token_json(pool, body, len, user, channels, ttl,
                                        err)
              : ngx_http_sse_token_form(pool, body, len, user, channels, ttl,
                                        err);

    if (rc != NGX_OK) {
        return rc;
    }

    if (channels->nelts == 0) {
        ngx_str_set(err, "\"channel\" is missing: name the channels the "
                    "token allows (\"*\" for every channel)");
        return NGX_ERROR;
    }

    if (user->len > NGX_HTTP_SSE_MAX_CHANNEL_LEN) {
        ngx_str_set(err, "\"userId\" is longer than 255 bytes");
        return NGX_ERROR;
    }

    if (ngx_http_sse_token_control(pool, user,
                                   "\"userId\" must not contain control "
                                   "characters", err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    c = channels->elts;

    for (i = 0; i < channels->nelts; i++) {

        if (c[i].len == 1 && c[i].data[0] == '*') {
            continue;
        }

        if (ngx_http_sse_token_control(pool, &c[i], "invalid channel name",
                                       err)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_sse_channel_valid(&c[i]) != NGX_OK) {
            ngx_str_set(err, "invalid channel name: it must be 1 to 255 "
                        "bytes without control characters, commas or "
                        "white space");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_sse_token_json(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_str_t *user, ngx_array_t *channels, time_t *ttl, ngx_str_t *err)
{
    void        *member;
    cJSON       *root, *item;
    ngx_int_t    rc;
    const char  *what;

    if (len == 0) {
        ngx_str_set(err, "empty body");
        return NGX_ERROR;
    }

    root = ngx_http_sse_json_parse(pool, body, len, err);
    if (root == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    what = NULL;

    if (!cJSON_IsObject(root)) {
        what = "body is not a JSON object";
        goto done;
    }

    /* userId, or its alias sub (not both) */

    if (ngx_http_sse_json_string(pool, root, "userId", "sub", user, &what)
        != NGX_OK)
    {
        goto done;
    }

    /* channel: a string or an array of strings; null is missing */

    if (ngx_http_sse_json_member(pool, root, "channel", NULL, &member, &what)
        != NGX_OK)
    {
        goto done;
    }

    item = member;

    if (item && !cJSON_IsNull(item)
        && ngx_http_sse_json_channel_list(pool, item, channels, &what)
           != NGX_OK)
    {
        goto done;
    }

    /* exp: whole seconds, bounded before any conversion */

    if (ngx_http_sse_json_member(pool, root, "exp", NULL, &member, &what)
        != NGX_OK)
    {
        goto done;
    }

    item = member;

    if (item && !cJSON_IsNull(item)
        && ngx_http_sse_json_time(item, 1, NGX_HTTP_SSE_TOKEN_MAX_TTL, 1, ttl)
           != NGX_OK)
    {
        what = "\"exp\" must be whole seconds from now, 1 to 315360000";
        goto done;
    }

    rc = NGX_OK;

done:

    cJSON_Delete(root);

    if (rc != NGX_OK) {
        err->data = (u_char *) what;
        err->len = ngx_strlen(what);
    }

    return rc;
}


static ngx_int_t
ngx_http_sse_token_form(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_str_t *user, ngx_array_t *channels, time_t *ttl, ngx_str_t *err)
{
    u_char      *p;
    ngx_int_t    n, field;
    ngx_str_t    key, raw, value;
    ngx_uint_t   has_user, has_exp;

    has_user = 0;
    has_exp = 0;

    p = body;

    /* len 0: body may be NULL, and NULL + 0 is undefined */

    while (len && ngx_http_sse_form_next(&p, body + len, &key, &raw)
                  == NGX_OK)
    {

        if (raw.data == NULL) {
            continue;
        }

        n = ngx_http_sse_form_value(pool, &raw, &value);

        if (n == NGX_ERROR) {
            ngx_str_set(err, "out of memory");
            return NGX_ERROR;
        }

        if (n == NGX_DECLINED) {
            ngx_str_set(err, "bad %-escape in a field");
            return NGX_ERROR;
        }

        field = ngx_http_sse_form_key(ngx_http_sse_token_fields, &key);

        switch (field) {

        case 0:
            if (has_user++) {
                ngx_str_set(err, "\"userId\" (or its alias \"sub\") appears "
                            "more than once");
                return NGX_ERROR;
            }

            *user = value;
            break;

        case 1:
            if (ngx_http_sse_token_channels(pool, &value, channels, err)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case 2:
            if (has_exp++) {
                ngx_str_set(err, "\"exp\" appears more than once");
                return NGX_ERROR;
            }

            n = ngx_atotm(value.data, value.len);

            if (n == NGX_ERROR || n < 1 || n > NGX_HTTP_SSE_TOKEN_MAX_TTL) {
                ngx_str_set(err, "\"exp\" must be whole seconds from "
                            "now, 1 to 315360000");
                return NGX_ERROR;
            }

            *ttl = (time_t) n;
            break;
        }
    }

    return NGX_OK;
}


/* a "channel" form field of an sse_token request: "a,b" or "*" */

static ngx_int_t
ngx_http_sse_token_channels(ngx_pool_t *pool, ngx_str_t *value,
    ngx_array_t *channels, ngx_str_t *err)
{
    /* named first: the list below would only say "invalid" */

    if (ngx_http_sse_token_control(pool, value, "invalid channel name", err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (value->len == 0) {
        ngx_str_set(err, "invalid channel name: it is empty");
        return NGX_ERROR;
    }

    return ngx_http_sse_split_channels(value, channels, err);
}


/*
 * A name holding a control character (a NUL above all: it would cut the
 * name short in the token) is refused, and the message names it.
 */

static ngx_int_t
ngx_http_sse_token_control(ngx_pool_t *pool, ngx_str_t *name,
    const char *prefix, ngx_str_t *err)
{
    u_char      *p, *end;
    size_t       len;
    const char  *what;

    if (name->len == 0) {
        return NGX_OK;
    }

    end = name->data + name->len;

    for (p = name->data; p < end; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            break;
        }
    }

    if (p == end) {
        return NGX_OK;
    }

    switch (*p) {

    case '\0':
        what = "a NUL character";
        break;

    case '\t':
        what = "a tab";
        break;

    case LF:
        what = "a line feed";
        break;

    case CR:
        what = "a carriage return";
        break;

    case 0x7f:
        what = "a DEL character";
        break;

    default:
        what = "a control character";
    }

    len = ngx_strlen(prefix) + ngx_strlen(what)
          + sizeof(": it holds  (U+0000) at byte ") + NGX_SIZE_T_LEN;

    err->data = ngx_pnalloc(pool, len);
    if (err->data == NULL) {
        ngx_str_set(err, "a name holds a control character");
        return NGX_ERROR;
    }

    err->len = ngx_snprintf(err->data, len, "%s: it holds %s (U+%04Xd) at "
                            "byte %uz", prefix, what, (int) *p,
                            (size_t) (p - name->data))
               - err->data;

    return NGX_ERROR;
}
