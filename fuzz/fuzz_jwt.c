
/*
 * Tokens.  The first byte picks what the rest is:
 *
 * 0: a whole token: verification does not crash or accept a forgery;
 * 1: the payload of a token signed with the secret (the header fixed):
 *    claims of any shape reach the claim checks (exp and nbf such as
 *    -1e999: UBSan catches a float cast out of range); an accepted payload
 *    is one JSON object and white space, without a NUL, with each claim
 *    once, exp and nbf bounded, and the user whole;
 * 2: the header of a token signed with the secret (the payload fixed):
 *    only one JSON object with "alg":"HS256" once and no "crit" passes;
 * 3: a user and channels (comma-separated) signed by jwt_sign: a name it
 *    cannot carry (a NUL, over 255 bytes) is refused; a token over 4096
 *    bytes is refused (never for one channel of plain names); what it
 *    signs verifies back with its claims; one flipped bit and it is
 *    refused.
 */


#include "fuzz_common.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define fuzz_check(cond)  ngx_http_sse_fuzz_check(cond)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static u_char *
fuzz_b64url(u_char *dst, u_char *src, size_t len)
{
    ngx_str_t  s, d;

    s.data = src;
    s.len = len;
    d.data = dst;

    ngx_encode_base64url(&d, &s);

    return dst + d.len;
}


/* header.payload.signature over raw header and payload text */

static void
fuzz_sign_raw(ngx_pool_t *pool, ngx_str_t *secret, u_char *header,
    size_t hlen, u_char *payload, size_t plen, ngx_str_t *token)
{
    u_char        *p, mac[32];
    unsigned int   n;

    token->data = ngx_pnalloc(pool, ngx_base64_encoded_length(hlen)
                                    + ngx_base64_encoded_length(plen)
                                    + ngx_base64_encoded_length(32) + 2);
    if (token->data == NULL) {
        abort();
    }

    p = fuzz_b64url(token->data, header, hlen);
    *p++ = '.';
    p = fuzz_b64url(p, payload, plen);

    n = 32;

    if (HMAC(EVP_sha256(), secret->data, (int) secret->len, token->data,
             p - token->data, mac, &n)
        == NULL)
    {
        abort();
    }

    *p++ = '.';
    p = fuzz_b64url(p, mac, 32);

    token->len = p - token->data;
}


/* "u0000" after an odd run of backslashes: a "\u0000" escape */

static ngx_uint_t
fuzz_has_nul_escape(u_char *text, size_t len)
{
    size_t  i, k;

    for (i = 1; i + 5 <= len; i++) {
        if (memcmp(text + i, "u0000", 5) != 0) {
            continue;
        }

        for (k = 0; k < i && text[i - 1 - k] == '\\'; k++) {
            /* void */
        }

        if (k % 2) {
            return 1;
        }
    }

    return 0;
}


/* accepted text: one JSON object, white space after it, no NUL */

static cJSON *
fuzz_one_object(u_char *text, size_t len)
{
    cJSON       *c;
    const char  *end;

    fuzz_check(len > 0);
    fuzz_check(memchr(text, '\0', len) == NULL);
    fuzz_check(!fuzz_has_nul_escape(text, len));

    end = NULL;
    c = cJSON_ParseWithLengthOpts((const char *) text, len, &end, 0);
    fuzz_check(c != NULL && cJSON_IsObject(c));

    for ( /* void */ ; end < (const char *) text + len; end++) {
        fuzz_check(*end == ' ' || *end == '\t' || *end == '\r'
                   || *end == '\n');
    }

    return c;
}


static ngx_uint_t
fuzz_count(cJSON *obj, const char *name)
{
    cJSON       *item;
    ngx_uint_t   n;

    n = 0;

    for (item = obj->child; item; item = item->next) {
        if (strcmp(item->string, name) == 0) {
            n++;
        }
    }

    return n;
}


static void
fuzz_claims_ok(u_char *payload, size_t len, ngx_http_sse_jwt_t *jwt,
    time_t now)
{
    cJSON  *c, *item;

    c = fuzz_one_object(payload, len);

    fuzz_check(fuzz_count(c, "exp") == 1);
    fuzz_check(fuzz_count(c, "nbf") <= 1);
    fuzz_check(fuzz_count(c, "sub") <= 1);
    fuzz_check(fuzz_count(c, "userId") <= 1);
    fuzz_check(fuzz_count(c, "channel") <= 1);

    item = cJSON_GetObjectItemCaseSensitive(c, "exp");
    fuzz_check(cJSON_IsNumber(item));
    fuzz_check(item->valuedouble >= 0
               && item->valuedouble <= 253402300799.0);
    fuzz_check(jwt->exp > now && jwt->exp <= 253402300799LL);
    fuzz_check((double) jwt->exp <= item->valuedouble
               && item->valuedouble < (double) jwt->exp + 1);

    item = cJSON_GetObjectItemCaseSensitive(c, "nbf");
    fuzz_check(item == NULL
               || (cJSON_IsNumber(item) && item->valuedouble >= 0
                   && item->valuedouble < (double) now + 1));

    /* the user whole: cJSON's string, not cut at a NUL */

    item = cJSON_GetObjectItemCaseSensitive(c, "sub");
    if (item == NULL) {
        item = cJSON_GetObjectItemCaseSensitive(c, "userId");
    }

    if (item) {
        fuzz_check(cJSON_IsString(item));
        fuzz_check(strlen(item->valuestring) == jwt->user.len
                   && memcmp(item->valuestring, jwt->user.data,
                             jwt->user.len) == 0);
        fuzz_check(jwt->user.len <= 255);

    } else {
        fuzz_check(jwt->user.len == 0);
    }

    item = cJSON_GetObjectItemCaseSensitive(c, "channel");
    fuzz_check(item != NULL || jwt->any_channel);

    cJSON_Delete(c);
}


static void
fuzz_header_ok(u_char *header, size_t len)
{
    cJSON  *c, *alg;

    c = fuzz_one_object(header, len);

    fuzz_check(fuzz_count(c, "alg") == 1);
    fuzz_check(fuzz_count(c, "crit") == 0);

    alg = cJSON_GetObjectItemCaseSensitive(c, "alg");
    fuzz_check(cJSON_IsString(alg) && strcmp(alg->valuestring, "HS256") == 0);

    cJSON_Delete(c);
}


/* a control character: JSON text holds it as six bytes (\u0012) */

static ngx_uint_t
fuzz_escaped(ngx_str_t *name)
{
    size_t  i;

    for (i = 0; i < name->len; i++) {
        if (name->data[i] < 0x20) {
            return 1;
        }
    }

    return 0;
}


static void
fuzz_sign(ngx_pool_t *pool, ngx_str_t *secret, u_char *copy, size_t size,
    time_t now)
{
    u_char              *p, *end, *comma;
    ngx_str_t            user, token, *ch;
    ngx_int_t            rc;
    ngx_uint_t           i, n, valid, escaped;
    const char          *err;
    ngx_http_sse_jwt_t   jwt;

    /* copy: the user's length, the user, then channels split at commas */

    if (size < 1) {
        return;
    }

    user.len = ngx_min((size_t) copy[0] * 2, size - 1);
    user.data = copy + 1;

    ch = ngx_palloc(pool, (size + 1) * sizeof(ngx_str_t));
    if (ch == NULL) {
        abort();
    }

    n = 0;
    p = copy + 1 + user.len;
    end = copy + size;

    while (p < end) {
        comma = ngx_strlchr(p, end, ',');
        ch[n].data = p;
        ch[n].len = (comma ? comma : end) - p;
        n++;
        p = comma ? comma + 1 : end;
    }

    valid = (user.len <= 255 && memchr(user.data, '\0', user.len) == NULL);
    escaped = fuzz_escaped(&user);

    for (i = 0; i < n; i++) {
        if (ch[i].len > 255 || memchr(ch[i].data, '\0', ch[i].len) != NULL) {
            valid = 0;
        }

        escaped |= fuzz_escaped(&ch[i]);
    }

    rc = ngx_http_sse_jwt_sign(pool, secret, &user, ch, n, now, now + 60,
                               &token);

    if (!valid) {
        fuzz_check(rc == NGX_ERROR);
        return;
    }

    /* too long: several channels, or names that JSON must escape */
    fuzz_check(rc == NGX_OK || (rc == NGX_DECLINED && (n > 1 || escaped)));

    if (rc == NGX_DECLINED) {
        return;
    }

    fuzz_check(token.len <= NGX_HTTP_SSE_MAX_TOKEN);

    err = NULL;
    rc = ngx_http_sse_jwt_verify(pool, &token, secret, now, &jwt, &err);
    fuzz_check(rc == NGX_OK);
    fuzz_check(jwt.exp == now + 60);
    fuzz_check(jwt.user.len == user.len
               && (user.len == 0
                   || ngx_memcmp(jwt.user.data, user.data, user.len) == 0));
    fuzz_check(n == 0 ? jwt.any_channel : jwt.nchannels == n);

    for (i = 0; i < n; i++) {
        fuzz_check(ngx_http_sse_jwt_allows(&jwt, &ch[i]));
    }

    /* one flipped bit anywhere and it is refused */
    token.data[copy[0] % token.len] ^= 1 << (size % 7);
    rc = ngx_http_sse_jwt_verify(pool, &token, secret, now, &jwt, &err);
    fuzz_check(rc != NGX_OK);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *copy, *p;
    time_t               now;
    ngx_str_t            secret, token;
    ngx_int_t            rc;
    ngx_uint_t           mode;
    ngx_pool_t          *pool;
    const char          *err;
    ngx_http_sse_jwt_t   jwt;

    static u_char  header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static u_char  payload[] = "{\"exp\":1800000000}";

    if (size == 0) {
        return 0;
    }

    mode = data[0] % 4;
    data++;
    size--;

    pool = ngx_http_sse_fuzz_pool();

    ngx_str_set(&secret, "fuzz-secret-0123456789abcdef0123456789");
    now = 1700000000;

    /* a copy of exactly size bytes: overreads are caught */
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    err = NULL;

    switch (mode) {

    case 0:
        token.data = copy;
        token.len = size;

        rc = ngx_http_sse_jwt_verify(pool, &token, &secret, now, &jwt, &err);
        fuzz_check(rc == NGX_OK || err != NULL);

        if (rc == NGX_OK) {
            /* three parts at least: a forgery would be a finding */
            p = ngx_strlchr(copy, copy + size, '.');
            fuzz_check(p != NULL);
            fuzz_check(ngx_strlchr(p + 1, copy + size, '.') != NULL);
        }

        break;

    case 1:
        fuzz_sign_raw(pool, &secret, header, sizeof(header) - 1, copy, size,
                      &token);

        rc = ngx_http_sse_jwt_verify(pool, &token, &secret, now, &jwt, &err);
        fuzz_check(rc == NGX_OK || err != NULL);

        if (rc == NGX_OK) {
            fuzz_claims_ok(copy, size, &jwt, now);
        }

        break;

    case 2:
        fuzz_sign_raw(pool, &secret, copy, size, payload,
                      sizeof(payload) - 1, &token);

        rc = ngx_http_sse_jwt_verify(pool, &token, &secret, now, &jwt, &err);
        fuzz_check(rc == NGX_OK || err != NULL);

        if (rc == NGX_OK) {
            fuzz_header_ok(copy, size);
            fuzz_check(jwt.exp == 1800000000);
        }

        break;

    default:
        fuzz_sign(pool, &secret, copy, size, now);
    }

    free(copy);
    ngx_destroy_pool(pool);

    return 0;
}
