
/*
 * HS256 JSON Web Tokens: verification for subscribers, signing for
 * sse_token.  Pure functions on memory and a pool, free of request objects,
 * so that they can be fuzzed.
 *
 * Only HS256: the token's "alg" is checked, never used to choose anything.
 * Base64url is decoded strictly (no padding, no stray bits, no other
 * characters), the MAC compared in constant time.  Error texts never
 * contain the token.
 */


#include "ngx_http_sse_module.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define NGX_HTTP_SSE_SHA256_LEN     32

/* 9999-12-31T23:59:59Z: exp and nbf beyond it are refused */
#define NGX_HTTP_SSE_JWT_MAX_TIME   253402300799.0


static ngx_int_t ngx_http_sse_b64url_decode(ngx_pool_t *pool, u_char *src,
    size_t len, ngx_str_t *dst);
static ngx_int_t ngx_http_sse_jwt_name_ok(ngx_str_t *name);
static ngx_int_t ngx_http_sse_jwt_payload(ngx_str_t *user,
    ngx_str_t *channels, ngx_uint_t nchannels, time_t now, time_t exp,
    char **text);
static ngx_int_t ngx_http_sse_hs256(ngx_str_t *secret, u_char *data,
    size_t len, u_char *mac);
static cJSON *ngx_http_sse_jwt_json(ngx_pool_t *pool, u_char *src, size_t len);
static ngx_int_t ngx_http_sse_jwt_claims(ngx_pool_t *pool, cJSON *payload,
    time_t now, ngx_http_sse_jwt_t *jwt, const char **err);
static ngx_int_t ngx_http_sse_jwt_channels(ngx_pool_t *pool, cJSON *item,
    ngx_http_sse_jwt_t *jwt, const char **err);


static int8_t  ngx_http_sse_b64url_value[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
};


/*
 * NGX_OK and the claims, or NGX_DECLINED and why (for a 401).
 */

ngx_int_t
ngx_http_sse_jwt_verify(ngx_pool_t *pool, ngx_str_t *token,
    ngx_str_t *secret, time_t now, ngx_http_sse_jwt_t *jwt, const char **err)
{
    void       *alg, *crit;
    u_char     *p, *dot1, *dot2, *end, mac[NGX_HTTP_SSE_SHA256_LEN];
    cJSON      *header, *payload;
    ngx_int_t   rc;
    ngx_str_t   sig;

    ngx_memzero(jwt, sizeof(ngx_http_sse_jwt_t));

    if (token->len > NGX_HTTP_SSE_MAX_TOKEN) {
        *err = "token too large";
        return NGX_DECLINED;
    }

    p = token->data;
    end = p + token->len;

    dot1 = ngx_strlchr(p, end, '.');
    dot2 = dot1 ? ngx_strlchr(dot1 + 1, end, '.') : NULL;

    /* an empty signature is refused below, after "alg" says why */

    if (dot1 == NULL || dot2 == NULL
        || ngx_strlchr(dot2 + 1, end, '.') != NULL
        || dot1 == p || dot2 == dot1 + 1)
    {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    /* the header first: HS256 or nothing */

    header = ngx_http_sse_jwt_json(pool, p, dot1 - p);
    if (header == NULL) {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    /* "alg" once, and no "crit": no extension this code does not know */

    if (ngx_http_sse_json_member(pool, header, "alg", NULL, &alg, err)
        != NGX_OK
        || ngx_http_sse_json_member(pool, header, "crit", NULL, &crit, err)
           != NGX_OK)
    {
        cJSON_Delete(header);
        *err = "invalid token";
        return NGX_DECLINED;
    }

    rc = (cJSON_IsString((cJSON *) alg)
          && ngx_strcmp(((cJSON *) alg)->valuestring, "HS256") == 0
          && crit == NULL)
         ? NGX_OK : NGX_DECLINED;

    cJSON_Delete(header);

    if (rc != NGX_OK) {
        *err = "token algorithm must be HS256";
        return NGX_DECLINED;
    }

    /* then the signature, before anything of the payload is believed */

    if (ngx_http_sse_b64url_decode(pool, dot2 + 1, end - dot2 - 1, &sig)
        != NGX_OK
        || sig.len != NGX_HTTP_SSE_SHA256_LEN)
    {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    if (ngx_http_sse_hs256(secret, p, dot2 - p, mac) != NGX_OK) {
        *err = "cannot verify the token";
        return NGX_ERROR;
    }

    if (CRYPTO_memcmp(mac, sig.data, NGX_HTTP_SSE_SHA256_LEN) != 0) {
        *err = "invalid token signature";
        return NGX_DECLINED;
    }

    payload = ngx_http_sse_jwt_json(pool, dot1 + 1, dot2 - dot1 - 1);
    if (payload == NULL) {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    rc = ngx_http_sse_jwt_claims(pool, payload, now, jwt, err);

    cJSON_Delete(payload);

    return rc;
}


static ngx_int_t
ngx_http_sse_jwt_claims(ngx_pool_t *pool, cJSON *payload, time_t now,
    ngx_http_sse_jwt_t *jwt, const char **err)
{
    void        *exp, *nbf, *sub, *user_id, *channel;
    cJSON       *item;
    time_t       t;

    if (!cJSON_IsObject(payload)) {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    /* a claim given twice is not guessed at: the token is invalid */

    if (ngx_http_sse_json_member(pool, payload, "exp", NULL, &exp, err)
        != NGX_OK
        || ngx_http_sse_json_member(pool, payload, "nbf", NULL, &nbf, err)
           != NGX_OK
        || ngx_http_sse_json_member(pool, payload, "sub", NULL, &sub, err)
           != NGX_OK
        || ngx_http_sse_json_member(pool, payload, "userId", NULL, &user_id,
                                    err)
           != NGX_OK
        || ngx_http_sse_json_member(pool, payload, "channel", NULL, &channel,
                                    err)
           != NGX_OK)
    {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    if (exp == NULL) {
        *err = "token has no exp";
        return NGX_DECLINED;
    }

    /* seconds from 0 to the end of year 9999, fractions cut off */

    if (ngx_http_sse_json_time(exp, 0, NGX_HTTP_SSE_JWT_MAX_TIME, 0,
                               &jwt->exp)
        != NGX_OK)
    {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    if (now >= jwt->exp) {
        *err = "token expired";
        return NGX_DECLINED;
    }

    if (nbf) {
        if (ngx_http_sse_json_time(nbf, 0, NGX_HTTP_SSE_JWT_MAX_TIME, 0, &t)
            != NGX_OK)
        {
            *err = "invalid token";
            return NGX_DECLINED;
        }

        if (now < t) {
            *err = "token not yet valid";
            return NGX_DECLINED;
        }
    }

    /*
     * who: sub or userId; both, as sse_token mints them, must name the
     * same user: a token naming two is not guessed at
     */

    item = sub ? sub : user_id;

    if (item) {
        if (!cJSON_IsString(item)
            || ngx_http_sse_json_copy(pool, item, &jwt->user) != NGX_OK
            || jwt->user.len > NGX_HTTP_SSE_MAX_CHANNEL_LEN)
        {
            *err = "invalid token";
            return NGX_DECLINED;
        }
    }

    if (sub && user_id
        && (!cJSON_IsString(user_id)
            || ngx_strcmp(((cJSON *) user_id)->valuestring,
                          ((cJSON *) sub)->valuestring)
               != 0))
    {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    /* which channels: a string, an array, "*" for any; none: any */

    return ngx_http_sse_jwt_channels(pool, channel, jwt, err);
}


static ngx_int_t
ngx_http_sse_jwt_channels(ngx_pool_t *pool, cJSON *item,
    ngx_http_sse_jwt_t *jwt, const char **err)
{
    ngx_int_t     rc;
    ngx_uint_t    i, n;
    ngx_array_t  *names;

    if (item == NULL) {
        jwt->any_channel = 1;
        return NGX_OK;
    }

    n = cJSON_IsArray(item) ? (ngx_uint_t) cJSON_GetArraySize(item) : 1;

    if (n > 1024) {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    names = ngx_array_create(pool, n ? n : 1, sizeof(ngx_str_t));
    if (names == NULL) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    rc = ngx_http_sse_json_strings(pool, item, names);

    if (rc == NGX_DECLINED) {
        *err = "invalid token";
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    jwt->channels = names->elts;
    jwt->nchannels = names->nelts;

    for (i = 0; i < jwt->nchannels; i++) {
        if (jwt->channels[i].len == 1 && jwt->channels[i].data[0] == '*') {
            jwt->any_channel = 1;
        }
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_sse_jwt_allows(ngx_http_sse_jwt_t *jwt, ngx_str_t *channel)
{
    ngx_uint_t  i;

    if (jwt->any_channel) {
        return 1;
    }

    for (i = 0; i < jwt->nchannels; i++) {
        if (jwt->channels[i].len == channel->len
            && ngx_memcmp(jwt->channels[i].data, channel->data, channel->len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * {"alg":"HS256","typ":"JWT"} . {"sub":U,"userId":U,"channel":C,"iat":now,
 * "exp":exp} . HMAC-SHA256
 *
 * NGX_DECLINED: the token would be longer than subscribers accept
 * (NGX_HTTP_SSE_MAX_TOKEN).  A name longer than 255 bytes or holding a NUL
 * (which cJSON would cut short) is never signed: NGX_ERROR.
 */

ngx_int_t
ngx_http_sse_jwt_sign(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *user,
    ngx_str_t *channels, ngx_uint_t nchannels, time_t now, time_t exp,
    ngx_str_t *token)
{
    char        *text;
    u_char      *p, mac[NGX_HTTP_SSE_SHA256_LEN];
    size_t       len;
    ngx_int_t    rc;
    ngx_str_t    src, dst;
    ngx_uint_t   i;

    static u_char  header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

    if (ngx_http_sse_jwt_name_ok(user) != NGX_OK) {
        return NGX_ERROR;
    }

    len = user->len;

    for (i = 0; i < nchannels; i++) {
        if (ngx_http_sse_jwt_name_ok(&channels[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        len += channels[i].len;
    }

    /* the names alone do not fit: no need to build it to know */

    if (len > NGX_HTTP_SSE_MAX_TOKEN) {
        return NGX_DECLINED;
    }

    rc = ngx_http_sse_jwt_payload(user, channels, nchannels, now, exp, &text);
    if (rc != NGX_OK) {
        return rc;
    }

    len = ngx_strlen(text);

    token->data = ngx_pnalloc(pool, ngx_base64_encoded_length(sizeof(header))
                                    + ngx_base64_encoded_length(len)
                                    + ngx_base64_encoded_length(
                                          NGX_HTTP_SSE_SHA256_LEN) + 2);
    if (token->data == NULL) {
        cJSON_free(text);
        return NGX_ERROR;
    }

    /* header . payload . signature, each base64url without padding */

    src.data = header;
    src.len = sizeof(header) - 1;
    dst.data = token->data;
    ngx_encode_base64url(&dst, &src);

    p = dst.data + dst.len;
    *p++ = '.';

    src.data = (u_char *) text;
    src.len = len;
    dst.data = p;
    ngx_encode_base64url(&dst, &src);

    cJSON_free(text);

    p = dst.data + dst.len;

    if (ngx_http_sse_hs256(secret, token->data, p - token->data, mac)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *p++ = '.';

    src.data = mac;
    src.len = NGX_HTTP_SSE_SHA256_LEN;
    dst.data = p;
    ngx_encode_base64url(&dst, &src);

    token->len = dst.data + dst.len - token->data;

    if (token->len > NGX_HTTP_SSE_MAX_TOKEN) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a name cJSON can carry whole: 255 bytes at most, no NUL */

static ngx_int_t
ngx_http_sse_jwt_name_ok(ngx_str_t *name)
{
    if (name->len > NGX_HTTP_SSE_MAX_CHANNEL_LEN
        || (name->len
            && ngx_strlchr(name->data, name->data + name->len, '\0')))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * {"sub":U,"userId":U,"channel":C,"iat":now,"exp":exp} as compact text, to
 * be freed with cJSON_free()
 */

static ngx_int_t
ngx_http_sse_jwt_payload(ngx_str_t *user, ngx_str_t *channels,
    ngx_uint_t nchannels, time_t now, time_t exp, char **text)
{
    char        buf[NGX_HTTP_SSE_MAX_CHANNEL_LEN + 1];
    cJSON      *payload, *array;
    ngx_uint_t  i;

    payload = cJSON_CreateObject();
    if (payload == NULL) {
        return NGX_ERROR;
    }

    if (user->len) {
        ngx_memcpy(buf, user->data, user->len);
        buf[user->len] = '\0';

        if (cJSON_AddStringToObject(payload, "sub", buf) == NULL
            || cJSON_AddStringToObject(payload, "userId", buf) == NULL)
        {
            goto failed;
        }
    }

    if (nchannels == 1) {
        ngx_memcpy(buf, channels[0].data, channels[0].len);
        buf[channels[0].len] = '\0';

        if (cJSON_AddStringToObject(payload, "channel", buf) == NULL) {
            goto failed;
        }

    } else if (nchannels > 1) {
        array = cJSON_AddArrayToObject(payload, "channel");
        if (array == NULL) {
            goto failed;
        }

        for (i = 0; i < nchannels; i++) {
            ngx_memcpy(buf, channels[i].data, channels[i].len);
            buf[channels[i].len] = '\0';

            if (!cJSON_AddItemToArray(array, cJSON_CreateString(buf))) {
                goto failed;
            }
        }
    }

    if (cJSON_AddNumberToObject(payload, "iat", (double) now) == NULL
        || cJSON_AddNumberToObject(payload, "exp", (double) exp) == NULL)
    {
        goto failed;
    }

    *text = cJSON_PrintUnformatted(payload);
    cJSON_Delete(payload);

    return (*text == NULL) ? NGX_ERROR : NGX_OK;

failed:

    cJSON_Delete(payload);
    return NGX_ERROR;
}


/* a header or a payload: one JSON object, as for request bodies */

static cJSON *
ngx_http_sse_jwt_json(ngx_pool_t *pool, u_char *src, size_t len)
{
    cJSON      *json;
    ngx_str_t   text, err;

    if (ngx_http_sse_b64url_decode(pool, src, len, &text) != NGX_OK
        || text.len == 0)
    {
        return NULL;
    }

    json = ngx_http_sse_json_parse(pool, text.data, text.len, &err);

    if (json && !cJSON_IsObject(json)) {
        cJSON_Delete(json);
        return NULL;
    }

    return json;
}


/* no padding, no characters outside the alphabet, no stray bits */

static ngx_int_t
ngx_http_sse_b64url_decode(ngx_pool_t *pool, u_char *src, size_t len,
    ngx_str_t *dst)
{
    u_char    *d;
    int8_t     v;
    size_t     i;
    uint32_t   acc;
    ngx_uint_t bits;

    if (len % 4 == 1) {
        return NGX_ERROR;
    }

    dst->data = ngx_pnalloc(pool, len * 3 / 4 + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    d = dst->data;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        v = ngx_http_sse_b64url_value[src[i]];

        if (v < 0) {
            return NGX_ERROR;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (u_char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /* the bits left over must be zero: one encoding per value */

    if (acc != 0) {
        return NGX_ERROR;
    }

    dst->len = d - dst->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_sse_hs256(ngx_str_t *secret, u_char *data, size_t len, u_char *mac)
{
    unsigned int  n;

    n = NGX_HTTP_SSE_SHA256_LEN;

    if (HMAC(EVP_sha256(), secret->data, (int) secret->len, data, len, mac, &n)
        == NULL || n != NGX_HTTP_SSE_SHA256_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a digest of an API key, so keys are compared in constant time */

ngx_int_t
ngx_http_sse_key_digest(u_char *key, size_t len, u_char *digest)
{
    unsigned int  n;

    n = NGX_HTTP_SSE_SHA256_LEN;

    if (EVP_Digest(key, len, digest, &n, EVP_sha256(), NULL) != 1
        || n != NGX_HTTP_SSE_SHA256_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_sse_key_match(ngx_array_t *digests, u_char *digest)
{
    u_char      *d;
    ngx_uint_t   i, match;

    d = digests->elts;
    match = 0;

    /* every key is compared: the time does not tell which one matched */

    for (i = 0; i < digests->nelts; i++) {
        match |= (CRYPTO_memcmp(d + i * NGX_HTTP_SSE_SHA256_LEN, digest,
                                NGX_HTTP_SSE_SHA256_LEN) == 0);
    }

    return match;
}
