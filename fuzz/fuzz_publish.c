
/*
 * Publish bodies: JSON, form, channel lists and token requests.  The first
 * byte picks the parser.  Beyond "no crash":
 *
 * - an accepted JSON body is one JSON value followed only by white space
 *   (cJSON asked on its own reads a value that ends there), and it holds
 *   no NUL, raw or as a "\u0000" escape: no string was cut short;
 * - no field the module reads comes twice in an accepted message (JSON
 *   members as cJSON read them, form keys as sent);
 * - string data is cJSON's string, whole; other data is compact JSON that
 *   cJSON reads back and prints the same;
 * - every accepted message that passes the checks frames within its
 *   computed size;
 * - a token request that parses names at least one channel, valid or "*",
 *   a user of at most 255 bytes without control characters and an exp
 *   of 1 to 315360000 seconds; the token signed for it is at most 4096
 *   bytes (or refused as too long, which one channel never is) and
 *   verifies back to the same user and channels.
 */


#include "fuzz_common.h"

#include <cjson/cJSON.h>


#define fuzz_check(cond)  ngx_http_sse_fuzz_check(cond)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_uint_t
fuzz_json_space(u_char *p, u_char *end)
{
    for ( /* void */ ; p < end; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            return 0;
        }
    }

    return 1;
}


/* a "\u0000" escape: "u0000" after an odd run of backslashes */

static ngx_uint_t
fuzz_has_nul_escape(u_char *body, size_t len)
{
    size_t  i, k;

    for (i = 1; i + 5 <= len; i++) {
        if (memcmp(body + i, "u0000", 5) != 0) {
            continue;
        }

        for (k = 0; k < i && body[i - 1 - k] == '\\'; k++) {
            /* void */
        }

        if (k % 2) {
            return 1;
        }
    }

    return 0;
}


/* an accepted JSON body: one value, then white space; no NUL at all */

static cJSON *
fuzz_one_value(u_char *body, size_t len)
{
    cJSON       *c;
    const char  *end;

    fuzz_check(len > 0);
    fuzz_check(memchr(body, '\0', len) == NULL);
    fuzz_check(!fuzz_has_nul_escape(body, len));

    end = NULL;
    c = cJSON_ParseWithLengthOpts((const char *) body, len, &end, 0);

    fuzz_check(c != NULL && end != NULL);
    fuzz_check(fuzz_json_space((u_char *) end, body + len));

    return c;
}


static ngx_uint_t
fuzz_count(cJSON *obj, const char *name, const char *alias)
{
    cJSON       *item;
    ngx_uint_t   n;

    n = 0;

    for (item = obj->child; item; item = item->next) {
        if (strcmp(item->string, name) == 0
            || (alias && strcmp(item->string, alias) == 0))
        {
            n++;
        }
    }

    return n;
}


/* a message against the object cJSON read */

static void
fuzz_same_message(ngx_http_sse_pmsg_t *m, cJSON *obj, ngx_str_t *dflt)
{
    char   *text;
    cJSON  *item, *back;

    fuzz_check(cJSON_IsObject(obj));
    fuzz_check(fuzz_count(obj, "channel", NULL) <= 1);
    fuzz_check(fuzz_count(obj, "event", NULL) <= 1);
    fuzz_check(fuzz_count(obj, "data", NULL) == 1);
    fuzz_check(fuzz_count(obj, "user", "userId") <= 1);

    item = cJSON_GetObjectItemCaseSensitive(obj, "data");

    if (cJSON_IsString(item)) {
        fuzz_check(strlen(item->valuestring) == m->data.len
                   && memcmp(item->valuestring, m->data.data, m->data.len)
                      == 0);

    } else {
        text = malloc(m->data.len + 1);
        if (text == NULL) {
            abort();
        }

        memcpy(text, m->data.data, m->data.len);
        text[m->data.len] = '\0';

        /* compact JSON that cJSON reads back and prints the same */

        back = cJSON_Parse(text);
        fuzz_check(back != NULL);
        free(text);

        text = cJSON_PrintUnformatted(back);
        fuzz_check(text != NULL);
        fuzz_check(strlen(text) == m->data.len
                   && memcmp(text, m->data.data, m->data.len) == 0);

        cJSON_free(text);
        cJSON_Delete(back);
    }

    item = cJSON_GetObjectItemCaseSensitive(obj, "channel");

    if (item == NULL || cJSON_IsNull(item)) {
        fuzz_check(m->nchannels == 1 && m->channels == dflt);

    } else if (cJSON_IsString(item)) {
        fuzz_check(m->nchannels == 1
                   && strlen(item->valuestring) == m->channels[0].len
                   && memcmp(item->valuestring, m->channels[0].data,
                             m->channels[0].len) == 0);

    } else {
        fuzz_check(cJSON_IsArray(item));
        fuzz_check((ngx_uint_t) cJSON_GetArraySize(item) == m->nchannels);
    }
}


/* form keys as sent: each field, with its alias, once */

static void
fuzz_form_once(u_char *body, size_t len)
{
    u_char      *p, *end, *amp, *eq;
    size_t       klen;
    ngx_uint_t   seen[4];

    ngx_memzero(seen, sizeof(seen));

    p = body;
    end = body + len;

    while (p < end) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        eq = ngx_strlchr(p, amp, '=');
        klen = (eq ? eq : amp) - p;

        if (klen == 7 && memcmp(p, "channel", 7) == 0) {
            seen[0]++;

        } else if (klen == 5 && memcmp(p, "event", 5) == 0) {
            seen[1]++;

        } else if ((klen == 4 && memcmp(p, "data", 4) == 0)
                   || (klen == 7 && memcmp(p, "payload", 7) == 0))
        {
            seen[2]++;

        } else if ((klen == 4 && memcmp(p, "user", 4) == 0)
                   || (klen == 6 && memcmp(p, "userId", 6) == 0))
        {
            seen[3]++;
        }

        p = amp + 1;
    }

    fuzz_check(seen[0] <= 1 && seen[1] <= 1 && seen[2] == 1 && seen[3] <= 1);
}


static void
fuzz_token(ngx_pool_t *pool, u_char *body, size_t len, ngx_uint_t json)
{
    time_t               ttl, now;
    cJSON               *c;
    ngx_int_t            rc;
    ngx_str_t            user, err, token, secret, *ch;
    ngx_uint_t           i, k;
    const char          *why;
    ngx_array_t          names;
    ngx_http_sse_jwt_t   jwt;

    ngx_array_init(&names, pool, 4, sizeof(ngx_str_t));

    if (ngx_http_sse_parse_token_request(pool, body, len, json, &user,
                                         &names, &ttl, &err)
        != NGX_OK)
    {
        fuzz_check(err.len > 0);
        return;
    }

    if (json) {
        c = fuzz_one_value(body, len);
        fuzz_check(cJSON_IsObject(c));
        fuzz_check(fuzz_count(c, "userId", "sub") <= 1);
        fuzz_check(fuzz_count(c, "channel", NULL) == 1);
        fuzz_check(fuzz_count(c, "exp", NULL) <= 1);
        cJSON_Delete(c);
    }

    /* channel is required; names as a subscriber takes them */

    fuzz_check(names.nelts >= 1);
    fuzz_check(ttl >= 1 && ttl <= 315360000);
    fuzz_check(user.len <= 255);

    for (k = 0; k < user.len; k++) {
        fuzz_check(user.data[k] >= 0x20 && user.data[k] != 0x7f);
    }

    ch = names.elts;

    for (i = 0; i < names.nelts; i++) {
        fuzz_check((ch[i].len == 1 && ch[i].data[0] == '*')
                   || ngx_http_sse_channel_valid(&ch[i]) == NGX_OK);
    }

    /* sign, as the token endpoint does, and verify as a subscriber */

    ngx_str_set(&secret, "fuzz-secret-0123456789abcdef0123456789");
    now = 1700000000;

    rc = ngx_http_sse_jwt_sign(pool, &secret, &user, ch, names.nelts, now,
                               now + ttl, &token);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_DECLINED) {
        fuzz_check(names.nelts > 1);
        return;
    }

    fuzz_check(token.len <= NGX_HTTP_SSE_MAX_TOKEN);

    why = NULL;
    rc = ngx_http_sse_jwt_verify(pool, &token, &secret, now, &jwt, &why);

    fuzz_check(rc == NGX_OK);
    fuzz_check(jwt.exp == now + ttl);
    fuzz_check(jwt.user.len == user.len
               && (user.len == 0
                   || ngx_memcmp(jwt.user.data, user.data, user.len) == 0));

    for (i = 0; i < names.nelts; i++) {
        fuzz_check(ngx_http_sse_jwt_allows(&jwt, &ch[i]));
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char               *body, *frame, *end;
    size_t                len, fsize;
    cJSON                *root, *obj;
    ngx_str_t             err, channel, value;
    ngx_int_t             rc;
    ngx_uint_t            i, kind, as_array;
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
        rc = (kind == 0)
             ? ngx_http_sse_parse_json(pool, body, len, &channel, &msgs,
                                       &as_array, &err)
             : ngx_http_sse_parse_form(pool, body, len, &channel, &msgs,
                                       &err);

        if (rc != NGX_OK) {
            fuzz_check(err.len > 0);
            break;
        }

        m = msgs.elts;

        if (kind == 0) {
            root = fuzz_one_value(body, len);

            fuzz_check(as_array == (cJSON_IsArray(root) ? 1 : 0));

            if (cJSON_IsArray(root)) {
                fuzz_check((ngx_uint_t) cJSON_GetArraySize(root)
                           == msgs.nelts);

                i = 0;

                cJSON_ArrayForEach(obj, root) {
                    fuzz_same_message(&m[i++], obj, &channel);
                }

            } else {
                fuzz_check(msgs.nelts == 1);
                fuzz_same_message(&m[0], root, &channel);
            }

            cJSON_Delete(root);

        } else {
            fuzz_form_once(body, len);
        }

        for (i = 0; i < msgs.nelts; i++) {
            if (ngx_http_sse_check_message(&m[i], 65536, &err) != NGX_OK) {
                fuzz_check(err.len > 0);
                continue;
            }

            fsize = ngx_http_sse_frame_size(i + 1, &m[i].event, &m[i].data);
            frame = malloc(fsize);
            if (frame == NULL) {
                abort();
            }

            end = ngx_http_sse_frame_write(frame, i + 1, &m[i].event,
                                           &m[i].data);
            fuzz_check((size_t) (end - frame) <= fsize);
            free(frame);
        }

        break;

    case 2:
        value.data = body;
        value.len = len;

        if (ngx_http_sse_split_channels(&value, &names, &err) == NGX_OK) {
            fuzz_check(names.nelts >= 1
                       && names.nelts <= NGX_HTTP_SSE_MAX_CHANNELS);

            for (i = 0; i < names.nelts; i++) {
                fuzz_check(ngx_http_sse_channel_valid(
                               &((ngx_str_t *) names.elts)[i])
                           == NGX_OK);
            }
        }

        break;

    default:
        fuzz_token(pool, body, len, kind == 3);
    }

    free(body);
    ngx_destroy_pool(pool);

    return 0;
}
