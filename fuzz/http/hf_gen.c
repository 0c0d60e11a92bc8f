
/*
 * httpfuzz: the HTTP/1.1 grammar.  Requests for the locations of
 * fuzz/http/nginx.conf.in (subscribe, publish, token, status, internal
 * publishing), with the module's parameters (channel lists, event, ids,
 * tokens, API keys), every body format and framing, pipelined or trickled.
 * Mostly well-formed, so that the module's code is reached, with a share of
 * every kind of wrong.  Everything is drawn from one generator seeded per
 * connection: the same seed gives the same bytes.
 */


#include <stdio.h>
#include <string.h>

#include "hf.h"


typedef enum {
    HF_SUB = 0,                 /* sse_subscribe, no token */
    HF_SUB_JWT,                 /* sse_subscribe with sse_auth_jwt */
    HF_SUB_XJWT,                /* the same, token from X-Token */
    HF_SUB2,                    /* limit_req, sse_last_event_id $arg_lei */
    HF_PUB_KEY,                 /* sse_publish with sse_api_key */
    HF_PUB,                     /* sse_publish, open */
    HF_PUB2,                    /* sse_channel $arg_c, sse_event $arg_e */
    HF_TOKEN_KEY,               /* sse_token with sse_api_key */
    HF_TOKEN,                   /* sse_token, open */
    HF_STATUS,
    HF_STATUS_KEY,
    HF_INTERNAL,                /* reaches an internal publisher */
    HF_INTERNAL_SUB,            /* X-Accel-Redirect to a subscriber */
    HF_PUB_INTERNAL,            /* the internal publisher itself: 404 */
    HF_OTHER
} hf_class_e;


typedef struct {
    const char  *path;
    hf_class_e   cls;
    int          weight;
} hf_path_t;


static hf_class_e hf_gen_path(hf_rng_t *r, hf_buf_t *b, int sub);
static void hf_gen_query(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b,
    hf_class_e cls);
static void hf_gen_qval(hf_rng_t *r, hf_buf_t *b, const u_char *p,
    size_t n);
static void hf_gen_channel(hf_rng_t *r, hf_buf_t *b);
static void hf_gen_channel_list(hf_rng_t *r, hf_buf_t *b);
static void hf_gen_event(hf_rng_t *r, hf_buf_t *b);
static void hf_gen_jwt(hf_rng_t *r, hf_buf_t *b);
static void hf_gen_json_string(hf_rng_t *r, hf_buf_t *b, const u_char *p,
    size_t n);
static void hf_gen_json_text(hf_rng_t *r, hf_buf_t *b);
static void hf_gen_json_value(hf_rng_t *r, hf_buf_t *b, int depth);
static void hf_gen_json_channel(hf_rng_t *r, hf_buf_t *b);
static void hf_gen_json_message(hf_rng_t *r, hf_buf_t *b, int valid);
static void hf_gen_json_publish(hf_rng_t *r, hf_buf_t *b, int valid);
static void hf_gen_json_token(hf_rng_t *r, hf_buf_t *b);
static void hf_gen_form(hf_rng_t *r, hf_buf_t *b, int token, int valid);
static void hf_gen_raw(hf_rng_t *r, hf_buf_t *b);
static hf_class_e hf_gen_class(const u_char *path, size_t n);
static int hf_gen_request(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b,
    int sub, int valid);
static void hf_plan_request(hf_plan_t *plan, int head);
static void hf_gen_headers(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b,
    hf_class_e cls, const char *eol);
static void hf_gen_framed_body(hf_rng_t *r, hf_buf_t *b, hf_buf_t *body,
    const char *eol, int valid);
static void hf_gen_chunked(hf_rng_t *r, hf_buf_t *b, hf_buf_t *body,
    int broken);
static void hf_gen_session(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx);
static void hf_gen_publish_burst(hf_plan_t *plan, hf_rng_t *r,
    hf_ctx_t *ctx);
static void hf_gen_slow(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx);
static void hf_gen_garbage(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx);
static void hf_gen_subscriber(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx);


const char  *hf_kind_names[HF_KIND_N] = {
    "requests", "publish", "slow", "garbage", "h2", "sub-read", "sub-stall",
    "sub-drop", "h2-sub", "probe"
};


static hf_path_t  hf_paths[] = {
    { "/sub", HF_SUB, 20 },
    { "/sub/all", HF_SUB, 6 },
    { "/jsub", HF_SUB_JWT, 12 },
    { "/xsub", HF_SUB_XJWT, 3 },
    { "/sub2", HF_SUB2, 6 },
    { "/pub", HF_PUB_KEY, 24 },
    { "/open/pub", HF_PUB, 16 },
    { "/pub2", HF_PUB2, 8 },
    { "/token", HF_TOKEN_KEY, 6 },
    { "/token/open", HF_TOKEN, 4 },
    { "/status", HF_STATUS, 4 },
    { "/status2", HF_STATUS_KEY, 2 },
    { "/app/x", HF_INTERNAL, 5 },
    { "/app/sub", HF_INTERNAL_SUB, 2 },
    { "/broken", HF_INTERNAL, 4 },
    { "/api/x", HF_INTERNAL, 4 },
    { "/_publish", HF_PUB_INTERNAL, 2 },
    { "/", HF_OTHER, 1 },
    { "/nothing/here", HF_OTHER, 1 },
    { NULL, HF_OTHER, 0 }
};


static const char  *hf_channels[] = {
    "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "global", "errors",
    "mirrored", "user_123"
};

#define HF_NCHANNELS  (sizeof(hf_channels) / sizeof(hf_channels[0]))


static const char  *hf_events[] = {
    "update", "workflow_update", "message", "e1", "connected", "sse_gap",
    "x-y.z", ""
};

#define HF_NEVENTS  (sizeof(hf_events) / sizeof(hf_events[0]))


static const char  *hf_leis[] = {
    "0", "1", "-1", "+1", " 5", "5 ", "", "abc", "0x10", "1e3", "007",
    "18446744073709551615", "18446744073709551616",
    "9223372036854775807", "9223372036854775808",
    "99999999999999999999999999999999", "4294967296", "1.5", "%00", "5,6"
};

#define HF_NLEIS  (sizeof(hf_leis) / sizeof(hf_leis[0]))


static const char  *hf_json_ctypes[] = {
    "application/json", "application/json; charset=utf-8",
    "Application/JSON", "application/json;", "application/jsonx",
    "application/vnd.api+json", " application/json", "application/json ",
    "application/json; charset=latin1; x=\"y\""
};

#define HF_NJSON_CTYPES  (sizeof(hf_json_ctypes) / sizeof(hf_json_ctypes[0]))


static const char  *hf_form_ctypes[] = {
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "APPLICATION/X-WWW-FORM-URLENCODED", "application/x-www-form-urlencode"
};

#define HF_NFORM_CTYPES  (sizeof(hf_form_ctypes) / sizeof(hf_form_ctypes[0]))


static const char  *hf_raw_ctypes[] = {
    "text/plain", "application/octet-stream", "text/event-stream",
    "multipart/form-data; boundary=xyz", "", "text/plain; charset=utf-8",
    NULL
};

#define HF_NRAW_CTYPES  (sizeof(hf_raw_ctypes) / sizeof(hf_raw_ctypes[0]))


static const char  *hf_words[] = {
    "hello", "processing", "45", "a b", "line1\nline2", "cr\rlf\r\n",
    "data: injected\n\nid: 999", "\xc3\xa9t\xc3\xa9", "{\"nested\":1}",
    "", " ", "null", "id: 1", ":comment", "event: x", "\xff\xfe",
    "\xf0\x9f\x98\x80", "retry: 1"
};

#define HF_NWORDS  (sizeof(hf_words) / sizeof(hf_words[0]))


static const char  *hf_methods[] = {
    "PATCH", "TRACE", "CONNECT", "get", "Post", "PROPFIND", "G ET",
    "POSTPOSTPOSTPOSTPOSTPOSTPOSTPOSTPOST", "\x01GET", "M-SEARCH", "PRI",
    "HEAD"
};

#define HF_NMETHODS  (sizeof(hf_methods) / sizeof(hf_methods[0]))


static int
hf_pick(hf_rng_t *r, const int *weights, int n)
{
    int  i, total, x;

    total = 0;
    for (i = 0; i < n; i++) {
        total += weights[i];
    }

    x = (int) hf_below(r, (uint64_t) total);

    for (i = 0; i < n - 1; i++) {
        if (x < weights[i]) {
            return i;
        }
        x -= weights[i];
    }

    return n - 1;
}


/* a length drawn log-uniformly below 2^bits */
static size_t
hf_loglen(hf_rng_t *r, int bits)
{
    return (size_t) hf_below(r, (uint64_t) 1 << hf_below(r, bits + 1));
}


static void
hf_fill(hf_rng_t *r, hf_buf_t *b, size_t n, const char *alphabet)
{
    size_t  i, k;

    k = strlen(alphabet);

    for (i = 0; i < n; i++) {
        hf_buf_byte(b, (u_char) alphabet[hf_below(r, k)]);
    }
}


static void
hf_fill_bytes(hf_rng_t *r, hf_buf_t *b, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        hf_buf_byte(b, (u_char) hf_rand(r));
    }
}


void
hf_plan_chunk(hf_plan_t *plan, int delay)
{
    if (plan->nchunks > 0
        && plan->chunks[plan->nchunks - 1].end == plan->out.len)
    {
        return;
    }

    if (plan->nchunks == HF_MAX_CHUNKS) {
        plan->chunks[HF_MAX_CHUNKS - 1].end = plan->out.len;
        return;
    }

    plan->chunks[plan->nchunks].end = plan->out.len;
    plan->chunks[plan->nchunks].delay = delay;
    plan->nchunks++;
}


/* a path and its class; "sub": subscriber locations only */
static hf_class_e
hf_gen_path(hf_rng_t *r, hf_buf_t *b, int sub)
{
    int         i, n, w[32];
    hf_path_t  *p;

    n = 0;
    for (p = hf_paths; p->path; p++) {
        w[n++] = sub && p->cls > HF_SUB2 ? 0 : p->weight;
    }

    i = hf_pick(r, w, n);
    p = &hf_paths[i];

    switch (hf_below(r, 40)) {
    case 0:
        hf_buf_str(b, "http://127.0.0.1");
        break;
    case 1:
        hf_buf_str(b, "/");
        break;
    case 2:
        hf_buf_str(b, "/./");
        break;
    case 3:
        hf_buf_str(b, "/x/..");
        break;
    default:
        break;
    }

    hf_buf_str(b, p->path);

    switch (hf_below(r, 50)) {
    case 0:
        hf_buf_str(b, "/");
        break;
    case 1:
        hf_buf_str(b, "%2F..%2Fpub");
        break;
    case 2:
        hf_buf_str(b, "/../sub");
        break;
    case 3:
        hf_buf_str(b, "%00");
        break;
    case 4:
        hf_buf_str(b, "#frag");
        break;
    default:
        break;
    }

    return p->cls;
}


/* percent-encodes a query value, mostly as a client would */
static void
hf_gen_qval(hf_rng_t *r, hf_buf_t *b, const u_char *p, size_t n)
{
    size_t       i;
    u_char       c;
    int          raw;
    static char  hex[] = "0123456789ABCDEF", lhex[] = "0123456789abcdef";

    /* now and then a client that does not escape at all */
    raw = hf_chance(r, 3);

    for (i = 0; i < n; i++) {
        c = p[i];

        if (raw || (((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                     || (c >= '0' && c <= '9') || c == '-' || c == '_'
                     || c == '.' || c == '~' || c == ',' || c == '*')
                    && !hf_chance(r, 2)))
        {
            hf_buf_byte(b, c);
            continue;
        }

        if (c == ' ' && hf_chance(r, 50)) {
            hf_buf_byte(b, '+');
            continue;
        }

        hf_buf_byte(b, '%');

        if (hf_chance(r, 50)) {
            hf_buf_byte(b, hex[c >> 4]);
            hf_buf_byte(b, hex[c & 15]);

        } else {
            hf_buf_byte(b, lhex[c >> 4]);
            hf_buf_byte(b, lhex[c & 15]);
        }
    }

    if (hf_chance(r, 1)) {
        hf_buf_str(b, hf_chance(r, 50) ? "%" : "%4");
    }
}


/* one channel name, unescaped */
static void
hf_gen_channel(hf_rng_t *r, hf_buf_t *b)
{
    size_t  n;

    if (hf_chance(r, 80)) {
        hf_buf_str(b, hf_channels[hf_below(r, HF_NCHANNELS)]);
        return;
    }

    switch (hf_below(r, 14)) {
    case 0:
        hf_fill(r, b, 1 + hf_below(r, 24),
                "abcdefghijklmnopqrstuvwxyz0123_-.:@");
        break;
    case 1:
        hf_fill(r, b, 255, "z");
        break;
    case 2:
        hf_fill(r, b, 256, "z");
        break;
    case 3:
        hf_fill(r, b, 254, "y");
        hf_buf_str(b, "\xc3\xa9");
        break;
    case 4:
        hf_buf_str(b, "a b");
        break;
    case 5:
        hf_buf_str(b, "a\r\nb");
        break;
    case 6:
        hf_buf_str(b, "a");
        hf_buf_byte(b, '\0');
        hf_buf_str(b, "b");
        break;
    case 7:
        hf_buf_str(b, "*");
        break;
    case 8:
        hf_buf_str(b, "a\tb");
        break;
    case 9:
        hf_buf_str(b, "\xc3\xbc\xc3\xa9");
        break;
    case 10:
        hf_buf_str(b, "../etc");
        break;
    case 11:
        n = 1 + hf_loglen(r, 12);
        hf_fill(r, b, n, "qwertyuiop");
        break;
    case 12:
        hf_buf_str(b, "\x7f");
        break;
    default:
        /* a short-lived channel of its own: created, then forgotten */
        hf_buf_fmt(b, "t%u", (unsigned) hf_below(r, 100000));
        break;
    }
}


/* "a,b,c": 1..40 names, now and then empty ones */
static void
hf_gen_channel_list(hf_rng_t *r, hf_buf_t *b)
{
    int       i, n;
    hf_buf_t  name;

    if (hf_chance(r, 70)) {
        n = 1 + (int) hf_below(r, 3);

    } else if (hf_chance(r, 70)) {
        n = 4 + (int) hf_below(r, 29);

    } else {
        n = 33 + (int) hf_below(r, 8);
    }

    memset(&name, 0, sizeof(name));

    if (hf_chance(r, 2)) {
        hf_buf_byte(b, ',');
    }

    for (i = 0; i < n; i++) {
        if (i > 0) {
            hf_buf_str(b, hf_chance(r, 2) ? ",," : ",");
        }

        hf_buf_reset(&name);
        hf_gen_channel(r, &name);
        hf_gen_qval(r, b, name.data, name.len);
    }

    if (hf_chance(r, 2)) {
        hf_buf_byte(b, ',');
    }

    hf_buf_free(&name);
}


static void
hf_gen_event(hf_rng_t *r, hf_buf_t *b)
{
    if (hf_chance(r, 85)) {
        hf_buf_str(b, hf_events[hf_below(r, HF_NEVENTS)]);
        return;
    }

    switch (hf_below(r, 6)) {
    case 0:
        hf_buf_str(b, "ev\r\ndata: injected");
        break;
    case 1:
        hf_buf_str(b, "ev\n");
        break;
    case 2:
        hf_buf_str(b, "e");
        hf_buf_byte(b, '\0');
        break;
    case 3:
        hf_fill(r, b, 1 + hf_loglen(r, 10), "evnt");
        break;
    case 4:
        hf_buf_str(b, "a b:c");
        break;
    default:
        hf_buf_str(b, "\xe2\x9c\x93");
        break;
    }
}


/* a Last-Event-ID: mostly a plausible id, else every kind of wrong */
void
hf_gen_lei(hf_rng_t *r, hf_buf_t *b)
{
    if (hf_chance(r, 70)) {
        hf_buf_fmt(b, "%llu", (unsigned long long) hf_loglen(r, 16));
        return;
    }

    if (hf_chance(r, 90)) {
        hf_buf_str(b, hf_leis[hf_below(r, HF_NLEIS)]);
        return;
    }

    hf_fill(r, b, 1 + hf_loglen(r, 12), "0123456789");
}


/* a token: a valid one, a mangled one, or one signed here */
void
hf_gen_token(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b)
{
    size_t       from, n, i;
    const char  *t;

    if (ctx->ntokens == 0 || hf_chance(r, 20)) {
        hf_gen_jwt(r, b);
        return;
    }

    t = ctx->tokens[hf_below(r, (uint64_t) ctx->ntokens)];

    from = b->len;
    hf_buf_str(b, t);

    if (hf_chance(r, 65)) {
        return;
    }

    n = b->len - from;

    switch (hf_below(r, 10)) {
    case 0:
        /* one character changed */
        i = from + hf_below(r, n);
        b->data[i] = b->data[i] == 'A' ? 'B' : 'A';
        break;
    case 1:
        b->len = from + hf_below(r, n);
        break;
    case 2:
        hf_buf_str(b, "=");
        break;
    case 3:
        hf_buf_str(b, ".x");
        break;
    case 4:
        hf_buf_str(b, t);
        break;
    case 5:
        /* the signature left out */
        while (b->len > from && b->data[b->len - 1] != '.') {
            b->len--;
        }
        break;
    case 6:
        i = from + hf_below(r, n);
        b->data[i] = hf_chance(r, 50) ? '+' : '/';
        break;
    case 7:
        hf_fill(r, b, hf_loglen(r, 13), "A");
        break;
    case 8:
        /* the last character's spare bits set */
        b->data[b->len - 1] = 'B';
        break;
    default:
        b->len = from;
        break;
    }
}


/* a token signed here: right or wrong secret, every kind of claims */
static void
hf_gen_jwt(hf_rng_t *r, hf_buf_t *b)
{
    size_t       start;
    u_char       mac[32];
    hf_buf_t     part;
    const char  *secret;

    memset(&part, 0, sizeof(part));

    switch (hf_below(r, 10)) {
    case 0:
        hf_buf_str(&part, "{\"alg\":\"none\",\"typ\":\"JWT\"}");
        break;
    case 1:
        hf_buf_str(&part, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}");
        break;
    case 2:
        hf_buf_str(&part, "{\"typ\":\"JWT\",\"alg\":\"HS256\","
                          "\"alg\":\"none\"}");
        break;
    case 3:
        hf_buf_str(&part, "{\"alg\":\"HS256\"");
        break;
    case 4:
        hf_buf_str(&part, "{\"alg\":\"RS256\"}");
        break;
    default:
        hf_buf_str(&part, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
        break;
    }

    start = b->len;
    hf_base64url(b, part.data, part.len);
    hf_buf_byte(b, '.');

    hf_buf_reset(&part);
    hf_buf_str(&part, "{");

    if (hf_chance(r, 60)) {
        hf_buf_str(&part, "\"sub\":");
        hf_gen_json_value(r, &part, 3);
        hf_buf_str(&part, ",");
    }

    if (hf_chance(r, 30)) {
        hf_buf_str(&part, "\"userId\":\"u2\",");
    }

    if (hf_chance(r, 70)) {
        hf_buf_str(&part, "\"channel\":");
        hf_gen_json_channel(r, &part);
        hf_buf_str(&part, ",");
    }

    if (hf_chance(r, 20)) {
        hf_buf_str(&part, hf_chance(r, 50) ? "\"nbf\":4102444800,"
                                           : "\"nbf\":1000000000,");
    }

    switch (hf_below(r, 10)) {
    case 0:
        break;
    case 1:
        hf_buf_str(&part, "\"exp\":1000000000");
        break;
    case 2:
        hf_buf_str(&part, "\"exp\":\"4102444800\"");
        break;
    case 3:
        hf_buf_str(&part, "\"exp\":1e400");
        break;
    case 4:
        hf_buf_str(&part, "\"exp\":-1");
        break;
    case 5:
        hf_buf_str(&part, "\"exp\":4102444800.5");
        break;
    case 6:
        hf_buf_str(&part, "\"exp\":99999999999999999999");
        break;
    default:
        hf_buf_str(&part, "\"exp\":4102444800");
        break;
    }

    if (part.data[part.len - 1] == ',') {
        part.len--;
    }

    if (hf_chance(r, 95)) {
        hf_buf_str(&part, "}");
    }

    hf_base64url(b, part.data, part.len);

    if (hf_chance(r, 5)) {
        hf_buf_free(&part);
        return;
    }

    secret = hf_chance(r, 75) ? HF_SECRET : "another-secret-0123456789abcdef";

    hf_hmac_sha256(mac, (const u_char *) secret, strlen(secret),
                   b->data + start, b->len - start);

    hf_buf_byte(b, '.');
    hf_base64url(b, mac, hf_chance(r, 95) ? 32 : 31);

    hf_buf_free(&part);
}


/* valid tokens signed here, valid until 2100: known without a server */
void
hf_gen_crafted_tokens(hf_ctx_t *ctx)
{
    int           i;
    u_char        mac[32];
    hf_buf_t      b;
    const char   *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static const char  *claims[] = {
        "{\"sub\":\"u1\",\"channel\":\"*\",\"exp\":4102444800}",
        "{\"sub\":\"u2\",\"channel\":\"c1\",\"exp\":4102444800}",
        "{\"userId\":\"u3\",\"channel\":[\"c0\",\"c1\",\"c2\"],"
            "\"exp\":4102444800}",
        "{\"exp\":4102444800}",
        "{\"sub\":\"alex\",\"channel\":[\"user_123\",\"global\"],"
            "\"exp\":4102444800,\"nbf\":1000000000}",
        NULL
    };

    for (i = 0; claims[i] && ctx->ntokens < HF_MAX_TOKENS; i++) {
        memset(&b, 0, sizeof(b));

        hf_base64url(&b, (const u_char *) hdr, strlen(hdr));
        hf_buf_byte(&b, '.');
        hf_base64url(&b, (const u_char *) claims[i], strlen(claims[i]));

        hf_hmac_sha256(mac, (const u_char *) HF_SECRET, strlen(HF_SECRET),
                       b.data, b.len);

        hf_buf_byte(&b, '.');
        hf_base64url(&b, mac, 32);
        hf_buf_byte(&b, '\0');

        ctx->tokens[ctx->ntokens++] = (char *) b.data;
    }
}


static void
hf_gen_json_string(hf_rng_t *r, hf_buf_t *b, const u_char *p, size_t n)
{
    size_t  i;
    u_char  c;

    hf_buf_byte(b, '"');

    for (i = 0; i < n; i++) {
        c = p[i];

        if (c == '"' || c == '\\') {
            hf_buf_byte(b, '\\');
            hf_buf_byte(b, c);

        } else if (c < 0x20 && !hf_chance(r, 3)) {
            switch (c) {
            case '\n':
                hf_buf_str(b, "\\n");
                break;
            case '\r':
                hf_buf_str(b, "\\r");
                break;
            default:
                hf_buf_fmt(b, "\\u%04x", c);
                break;
            }

        } else {
            hf_buf_byte(b, c);
        }
    }

    hf_buf_byte(b, '"');
}


/* a JSON string: words, escapes, \u0000, surrogates, long */
static void
hf_gen_json_text(hf_rng_t *r, hf_buf_t *b)
{
    size_t       n;
    hf_buf_t     s;
    const char  *w;

    if (hf_chance(r, 60)) {
        w = hf_words[hf_below(r, HF_NWORDS)];
        hf_gen_json_string(r, b, (const u_char *) w, strlen(w));
        return;
    }

    switch (hf_below(r, 10)) {
    case 0:
        hf_buf_str(b, "\"a\\u0000b\"");
        break;
    case 1:
        hf_buf_str(b, "\"\\ud800\"");
        break;
    case 2:
        hf_buf_str(b, "\"\\ud83d\\ude00 \\u00e9 \\/ \\b\\f\\t\"");
        break;
    case 3:
        hf_buf_str(b, "\"bad \\x escape\"");
        break;
    case 4:
        hf_buf_str(b, "\"unterminated");
        break;
    case 5:
        memset(&s, 0, sizeof(s));
        n = hf_loglen(r, 17);
        hf_fill(r, &s, n, "abcdef \n");
        hf_gen_json_string(r, b, s.data, s.len);
        hf_buf_free(&s);
        break;
    case 6:
        hf_buf_str(b, "\"\\u0000\"");
        break;
    case 7:
        hf_buf_byte(b, '"');
        hf_fill_bytes(r, b, hf_below(r, 8));
        hf_buf_byte(b, '"');
        break;
    default:
        memset(&s, 0, sizeof(s));
        hf_fill(r, &s, hf_below(r, 40), "abc xyz\r\n:");
        hf_gen_json_string(r, b, s.data, s.len);
        hf_buf_free(&s);
        break;
    }
}


static void
hf_gen_json_value(hf_rng_t *r, hf_buf_t *b, int depth)
{
    int          i, n;
    static const char  *nums[] = {
        "0", "-0", "45", "-1", "1.5", "1e308", "1e400", "-1e400",
        "9007199254740993", "123456789012345678901234567890", "0.1e-400",
        "01", "1.", ".5", "NaN", "Infinity", "2e2", "-", "1E+2"
    };

    switch (hf_below(r, depth > 0 ? 8 : 5)) {
    case 0:
    case 1:
        hf_gen_json_text(r, b);
        break;
    case 2:
        hf_buf_str(b, nums[hf_below(r, sizeof(nums) / sizeof(nums[0]))]);
        break;
    case 3:
        hf_buf_str(b, hf_chance(r, 50) ? "true" : "false");
        break;
    case 4:
        hf_buf_str(b, hf_chance(r, 90) ? "null" : "nul");
        break;
    case 5:
    case 6:
        hf_buf_byte(b, '{');
        n = (int) hf_below(r, 5);
        for (i = 0; i < n; i++) {
            if (i > 0) {
                hf_buf_byte(b, ',');
            }
            hf_gen_json_text(r, b);
            hf_buf_byte(b, ':');
            hf_gen_json_value(r, b, depth - 1);
        }
        hf_buf_byte(b, '}');
        break;
    default:
        hf_buf_byte(b, '[');
        n = (int) hf_below(r, 5);
        for (i = 0; i < n; i++) {
            if (i > 0) {
                hf_buf_str(b, hf_chance(r, 90) ? "," : " , ");
            }
            hf_gen_json_value(r, b, depth - 1);
        }
        hf_buf_byte(b, ']');
        break;
    }
}


/* "channel": a string, an array, or a wrong type */
static void
hf_gen_json_channel(hf_rng_t *r, hf_buf_t *b)
{
    int       i, n;
    hf_buf_t  name;

    memset(&name, 0, sizeof(name));

    switch (hf_below(r, 12)) {
    case 0:
    case 1:
        hf_buf_byte(b, '[');
        n = (int) hf_below(r, hf_chance(r, 90) ? 5 : 40);
        for (i = 0; i < n; i++) {
            if (i > 0) {
                hf_buf_byte(b, ',');
            }
            hf_buf_reset(&name);
            hf_gen_channel(r, &name);
            hf_gen_json_string(r, b, name.data, name.len);
        }
        hf_buf_byte(b, ']');
        break;
    case 2:
        hf_gen_json_value(r, b, 2);
        break;
    case 3:
        hf_buf_str(b, "\"*\"");
        break;
    case 4:
        hf_buf_str(b, "\"c0,c1\"");
        break;
    default:
        hf_gen_channel(r, &name);
        hf_gen_json_string(r, b, name.data, name.len);
        break;
    }

    hf_buf_free(&name);
}


/* one message object; "valid": well-formed and within the limits */
static void
hf_gen_json_message(hf_rng_t *r, hf_buf_t *b, int valid)
{
    int          fields, first;
    hf_buf_t     s;
    const char  *ch;

    memset(&s, 0, sizeof(s));

    hf_buf_byte(b, '{');
    first = 1;

    /* bit 0 channel, 1 event, 2 data, 3 user, 4 unknown, 5 duplicate */
    fields = valid ? 1 | 2 | 4 : (int) hf_below(r, 64);

    if (!valid && hf_chance(r, 70)) {
        fields |= 4;
    }

    if (valid && hf_chance(r, 10)) {
        fields |= 8;
    }

#define hf_field(name)                                                       \
    if (!first) {                                                            \
        hf_buf_byte(b, ',');                                                 \
    }                                                                        \
    first = 0;                                                               \
    hf_buf_byte(b, '"');                                                     \
    hf_buf_str(b, name);                                                     \
    hf_buf_str(b, "\":")

    if (fields & 1) {
        hf_field("channel");

        if (valid) {
            ch = hf_channels[hf_below(r, HF_NCHANNELS)];
            hf_buf_fmt(b, hf_chance(r, 90) ? "\"%s\"" : "[\"%s\"]", ch);

        } else {
            hf_gen_json_channel(r, b);
        }
    }

    if (fields & 2) {
        hf_field("event");

        if (valid || hf_chance(r, 70)) {
            hf_gen_event(r, &s);
            hf_gen_json_string(r, b, s.data, s.len);

        } else {
            hf_gen_json_value(r, b, 2);
        }
    }

    if (fields & 4) {
        hf_field(hf_chance(r, 95) ? "data" : "payload");
        hf_gen_json_value(r, b, valid ? 3 : 4);
    }

    if (fields & 8) {
        hf_field(hf_chance(r, 70) ? "user" : "userId");

        if (valid || hf_chance(r, 70)) {
            hf_buf_str(b, hf_chance(r, 50) ? "\"u1\"" : "\"*\"");

        } else {
            hf_gen_json_value(r, b, 1);
        }
    }

    if (fields & 16) {
        hf_field("id");
        hf_buf_str(b, "\"5\"");
    }

    if (fields & 32) {
        hf_field("data");
        hf_buf_str(b, "\"twice\"");
    }

#undef hf_field

    hf_buf_byte(b, '}');
    hf_buf_free(&s);
}


static void
hf_gen_json_publish(hf_rng_t *r, hf_buf_t *b, int valid)
{
    int     i, n;
    size_t  depth;

    if (valid) {
        if (hf_chance(r, 80)) {
            hf_gen_json_message(r, b, 1);
            return;
        }

        hf_buf_byte(b, '[');
        n = 1 + (int) hf_below(r, 6);
        for (i = 0; i < n; i++) {
            if (i > 0) {
                hf_buf_byte(b, ',');
            }
            hf_gen_json_message(r, b, 1);
        }
        hf_buf_byte(b, ']');
        return;
    }

    switch (hf_below(r, 14)) {
    case 0:
    case 1:
    case 2:
        hf_gen_json_message(r, b, 0);
        break;
    case 3:
    case 4:
        hf_buf_byte(b, '[');
        n = (int) hf_below(r, hf_chance(r, 90) ? 8 : 300);
        for (i = 0; i < n; i++) {
            if (i > 0) {
                hf_buf_byte(b, ',');
            }
            hf_gen_json_message(r, b, hf_chance(r, 80));
        }
        hf_buf_byte(b, ']');
        break;
    case 5:
        /* deep nesting, in and around data */
        depth = 1 + hf_loglen(r, 12);
        hf_buf_str(b, "{\"channel\":\"c0\",\"data\":");
        for (i = 0; i < (int) depth; i++) {
            hf_buf_byte(b, '[');
        }
        for (i = 0; i < (int) depth; i++) {
            hf_buf_byte(b, ']');
        }
        hf_buf_byte(b, '}');
        break;
    case 6:
        /* a valid message, then something after it */
        hf_gen_json_message(r, b, 1);
        switch (hf_below(r, 6)) {
        case 0:
            hf_buf_str(b, " x");
            break;
        case 1:
            hf_buf_str(b, "{}");
            break;
        case 2:
            hf_buf_byte(b, '\0');
            break;
        case 3:
            hf_buf_str(b, " \n\t\r ");
            break;
        case 4:
            hf_buf_byte(b, '\0');
            hf_buf_str(b, "{\"data\":\"smuggled\"}");
            break;
        default:
            hf_buf_str(b, "]");
            break;
        }
        break;
    case 7:
        /* the message cut short */
        depth = b->len;
        hf_gen_json_message(r, b, 1);
        b->len = depth + hf_below(r, b->len - depth);
        break;
    case 8:
        hf_buf_str(b, "\xef\xbb\xbf");
        hf_gen_json_message(r, b, 1);
        break;
    case 9:
        /* data beyond sse_max_message_size, or near it */
        hf_buf_str(b, "{\"channel\":\"c1\",\"data\":\"");
        hf_fill(r, b, 900 + hf_below(r, 200), "x");
        hf_fill(r, b, hf_chance(r, 50) ? 16384 - 1000 + hf_below(r, 2000)
                                       : hf_loglen(r, 19), "y");
        hf_buf_str(b, "\"}");
        break;
    case 10:
        hf_gen_json_value(r, b, 3);
        break;
    case 11:
        hf_buf_str(b, hf_chance(r, 50) ? "" : "[]");
        break;
    case 12:
        hf_buf_str(b, "{\"channel\":\"c2\",\"data\":\"a");
        hf_buf_byte(b, '\0');
        hf_buf_str(b, "b\"}");
        break;
    default:
        hf_buf_str(b, "{\"data\":\"x\",\"channel\":");
        hf_gen_json_channel(r, b);
        hf_buf_str(b, "}");
        break;
    }
}


static void
hf_gen_json_token(hf_rng_t *r, hf_buf_t *b)
{
    int          first;
    static const char  *exps[] = {
        "1", "2", "86400", "315360000", "315360001", "0", "-1", "1.5",
        "\"86400\"", "1e20", "null", "9223372036854775807"
    };

    first = 1;
    hf_buf_byte(b, '{');

    if (hf_chance(r, 70)) {
        hf_buf_str(b, "\"userId\":");
        if (hf_chance(r, 80)) {
            hf_gen_json_text(r, b);
        } else {
            hf_gen_json_value(r, b, 2);
        }
        first = 0;
    }

    if (hf_chance(r, 85)) {
        hf_buf_str(b, first ? "\"channel\":" : ",\"channel\":");
        hf_gen_json_channel(r, b);
        first = 0;
    }

    if (hf_chance(r, 60)) {
        hf_buf_str(b, first ? "\"exp\":" : ",\"exp\":");
        hf_buf_str(b, exps[hf_below(r, sizeof(exps) / sizeof(exps[0]))]);
    }

    hf_buf_byte(b, '}');

    if (hf_chance(r, 3)) {
        hf_buf_str(b, "trailing");
    }
}


/* application/x-www-form-urlencoded: publish or token fields */
static void
hf_gen_form(hf_rng_t *r, hf_buf_t *b, int token, int valid)
{
    int          i, n;
    hf_buf_t     v;
    const char  *key;
    static const char  *pkeys[] = {
        "channel", "event", "data", "payload", "user", "userId", "x", "",
        "data", "channel"
    };
    static const char  *tkeys[] = { "userId", "channel", "exp", "channel" };

    memset(&v, 0, sizeof(v));

    if (valid) {
        if (token) {
            hf_buf_str(b, "userId=u9&channel=c0%2Cc1&exp=3600");
            return;
        }

        hf_buf_fmt(b, "channel=%s&event=",
                   hf_channels[hf_below(r, HF_NCHANNELS)]);
        hf_gen_event(r, &v);
        hf_gen_qval(r, b, v.data, v.len);
        hf_buf_str(b, hf_chance(r, 80) ? "&data=" : "&payload=");
        hf_buf_reset(&v);
        hf_fill(r, &v, 1 + hf_loglen(r, 10), "form data+%\n");
        hf_gen_qval(r, b, v.data, v.len);
        hf_buf_free(&v);
        return;
    }

    n = (int) hf_below(r, 7);

    for (i = 0; i < n; i++) {
        if (i > 0) {
            hf_buf_str(b, hf_chance(r, 95) ? "&" : (hf_chance(r, 50) ? ";"
                                                                   : "&&"));
        }

        if (token) {
            key = tkeys[hf_below(r, sizeof(tkeys) / sizeof(tkeys[0]))];

        } else {
            key = pkeys[hf_below(r, sizeof(pkeys) / sizeof(pkeys[0]))];
        }

        hf_buf_str(b, key);

        if (hf_chance(r, 5)) {
            continue;
        }

        hf_buf_byte(b, '=');
        hf_buf_reset(&v);

        if (strcmp(key, "channel") == 0) {
            hf_gen_channel_list(r, b);
            continue;
        }

        if (strcmp(key, "event") == 0) {
            hf_gen_event(r, &v);

        } else if (strcmp(key, "exp") == 0) {
            hf_buf_str(&v, hf_chance(r, 50) ? "60" : "-5");

        } else {
            hf_fill(r, &v, hf_loglen(r, 12), "ab\n\r+%&=\x00\xff");
        }

        hf_gen_qval(r, b, v.data, v.len);
    }

    hf_buf_free(&v);
}


static void
hf_gen_raw(hf_rng_t *r, hf_buf_t *b)
{
    switch (hf_below(r, 6)) {
    case 0:
        break;
    case 1:
        hf_fill_bytes(r, b, hf_loglen(r, 12));
        break;
    case 2:
        hf_fill(r, b, 16384 - 4 + hf_below(r, 8), "r");
        break;
    default:
        hf_fill(r, b, 1 + hf_loglen(r, 11), "raw text\n\r\r\n:");
        break;
    }
}


/* a body for "path" and its Content-Type (ctype empty: none) */
void
hf_gen_body(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b, hf_buf_t *ctype,
    const char *path)
{
    int         token, valid, fmt;
    hf_class_e  cls;

    (void) ctx;

    cls = hf_gen_class((const u_char *) path, strlen(path));
    token = cls == HF_TOKEN || cls == HF_TOKEN_KEY;
    valid = hf_chance(r, 60);

    fmt = (int) hf_below(r, 100);

    if (fmt < 50) {
        hf_buf_str(ctype, hf_chance(r, 85)
                          ? "application/json"
                          : hf_json_ctypes[hf_below(r, HF_NJSON_CTYPES)]);
        if (token) {
            hf_gen_json_token(r, b);

        } else {
            hf_gen_json_publish(r, b, valid);
        }

    } else if (fmt < 75) {
        hf_buf_str(ctype, hf_chance(r, 85)
                          ? "application/x-www-form-urlencoded"
                          : hf_form_ctypes[hf_below(r, HF_NFORM_CTYPES)]);
        hf_gen_form(r, b, token, valid);

    } else {
        fmt = (int) hf_below(r, HF_NRAW_CTYPES);
        if (hf_raw_ctypes[fmt]) {
            hf_buf_str(ctype, hf_raw_ctypes[fmt]);
        }
        hf_gen_raw(r, b);
    }

    /* a body in another format than its Content-Type says */
    if (hf_chance(r, 4)) {
        hf_buf_reset(ctype);
        hf_buf_str(ctype, hf_chance(r, 50)
                          ? "application/json"
                          : "application/x-www-form-urlencoded");
    }
}


static hf_class_e
hf_gen_class(const u_char *path, size_t n)
{
    size_t      len, best;
    const u_char  *q;
    hf_path_t  *p;
    hf_class_e  cls;

    /* the path of an absolute URI */
    if (n > 7 && memcmp(path, "http://", 7) == 0) {
        q = memchr(path + 7, '/', n - 7);
        if (q == NULL) {
            return HF_OTHER;
        }
        n -= (size_t) (q - path);
        path = q;
    }

    q = memchr(path, '?', n);
    if (q) {
        n = (size_t) (q - path);
    }

    /* nginx's rule: the longest prefix */
    cls = HF_OTHER;
    best = 0;

    for (p = hf_paths; p->path; p++) {
        len = strlen(p->path);
        if (len <= n && len > best && memcmp(path, p->path, len) == 0) {
            best = len;
            cls = p->cls;
        }
    }

    return cls;
}


/* "path?query" for a location; "sub": subscriber locations only */
void
hf_gen_target(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b, int sub)
{
    hf_class_e  cls;

    cls = hf_gen_path(r, b, sub);
    hf_gen_query(r, ctx, b, cls);
}


static void
hf_gen_query(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b, hf_class_e cls)
{
    int          i, n, first, pc, pe, pl, pt;
    hf_buf_t     v;

    memset(&v, 0, sizeof(v));

    switch (cls) {
    case HF_SUB:
    case HF_SUB_JWT:
    case HF_SUB_XJWT:
    case HF_SUB2:
    case HF_INTERNAL_SUB:
        pc = 92; pe = 3; pl = 15; pt = cls == HF_SUB_JWT ? 45 : 4;
        break;
    case HF_PUB:
    case HF_PUB_KEY:
    case HF_PUB2:
    case HF_INTERNAL:
    case HF_PUB_INTERNAL:
        pc = 70; pe = 40; pl = 2; pt = 2;
        break;
    case HF_STATUS:
    case HF_STATUS_KEY:
        pc = 5; pe = 0; pl = 0; pt = 0;
        if (hf_chance(r, 50)) {
            hf_buf_str(b, hf_chance(r, 80) ? "?format=prometheus"
                                           : "?format=xml&format=json");
            return;
        }
        break;
    default:
        pc = 10; pe = 5; pl = 5; pt = 5;
        break;
    }

    first = 1;

#define hf_param(name)                                                       \
    hf_buf_str(b, first ? "?" : (hf_chance(r, 97) ? "&" : ";"));             \
    first = 0;                                                               \
    hf_buf_str(b, name)

    n = hf_chance(r, 95) ? 1 : 2;

    for (i = 0; i < n; i++) {
        if (hf_chance(r, pc)) {
            hf_param(cls == HF_PUB2 && hf_chance(r, 80) ? "c=" : "channel=");
            hf_gen_channel_list(r, b);
        }

        if (hf_chance(r, pe)) {
            hf_param(cls == HF_PUB2 && hf_chance(r, 80) ? "e=" : "event=");
            hf_buf_reset(&v);
            hf_gen_event(r, &v);
            hf_gen_qval(r, b, v.data, v.len);
        }

        if (hf_chance(r, pl)) {
            hf_param(cls == HF_SUB2 && hf_chance(r, 80) ? "lei="
                                                        : "last_event_id=");
            hf_buf_reset(&v);
            hf_gen_lei(r, &v);
            hf_gen_qval(r, b, v.data, v.len);
        }

        if (hf_chance(r, pt)) {
            hf_param("token=");
            hf_buf_reset(&v);
            hf_gen_token(r, ctx, &v);
            hf_gen_qval(r, b, v.data, v.len);
        }
    }

    if (hf_chance(r, 5)) {
        hf_param("x=");
        hf_buf_reset(&v);
        hf_fill(r, &v, hf_loglen(r, 12), "abc=&?#% ");
        hf_gen_qval(r, b, v.data, v.len);
    }

    if (hf_chance(r, 2)) {
        hf_buf_str(b, first ? "?" : "&");
    }

#undef hf_param

    hf_buf_free(&v);
}


static void
hf_gen_headers(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b, hf_class_e cls,
    const char *eol)
{
    int       i, n, key, jwt;
    hf_buf_t  v;

    memset(&v, 0, sizeof(v));

    if (hf_chance(r, 94)) {
        hf_buf_fmt(b, "Host: 127.0.0.1%s", eol);
    } else {
        switch (hf_below(r, 4)) {
        case 0:
            break;
        case 1:
            hf_buf_fmt(b, "Host: a%sHost: b%s", eol, eol);
            break;
        case 2:
            hf_buf_str(b, "Host: ");
            hf_fill(r, b, hf_loglen(r, 14), "h.");
            hf_buf_str(b, eol);
            break;
        default:
            hf_buf_fmt(b, "Host: [::1%s", eol);
            break;
        }
    }

    switch (hf_below(r, 10)) {
    case 0:
        hf_buf_fmt(b, "Connection: close%s", eol);
        break;
    case 1:
    case 2:
        hf_buf_fmt(b, "Connection: keep-alive%s", eol);
        break;
    case 3:
        if (hf_chance(r, 20)) {
            hf_buf_fmt(b, "Connection: Upgrade, HTTP2-Settings%sUpgrade: h2c%s"
                       "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA%s",
                       eol, eol, eol);
        }
        break;
    default:
        break;
    }

    key = cls == HF_PUB_KEY || cls == HF_TOKEN_KEY || cls == HF_STATUS_KEY;

    if (key || hf_chance(r, 3)) {
        switch (hf_below(r, 12)) {
        case 0:
            break;
        case 1:
            hf_buf_fmt(b, "X-API-Key: wrong-key%s", eol);
            break;
        case 2:
            hf_buf_fmt(b, "Authorization: Bearer %s%s",
                       hf_chance(r, 50) ? HF_API_KEY : HF_API_KEY2, eol);
            break;
        case 3:
            hf_buf_fmt(b, "X-API-Key: %s%s", eol, eol);
            break;
        case 4:
            hf_buf_str(b, "X-API-Key: ");
            hf_fill(r, b, hf_loglen(r, 13), "k");
            hf_buf_str(b, eol);
            break;
        case 5:
            hf_buf_fmt(b, "X-API-Key: %s%sX-API-Key: bad%s", HF_API_KEY, eol,
                       eol);
            break;
        case 6:
            hf_buf_fmt(b, "X-API-Key: %s %s", HF_API_KEY, eol);
            break;
        default:
            hf_buf_fmt(b, "X-API-Key: %s%s",
                       hf_chance(r, 70) ? HF_API_KEY : HF_API_KEY2, eol);
            break;
        }
    }

    jwt = cls == HF_SUB_JWT || cls == HF_SUB_XJWT;

    if (jwt || hf_chance(r, 3)) {
        n = 1 + (hf_chance(r, 10) ? 1 : 0);

        for (i = 0; i < n; i++) {
            hf_buf_reset(&v);
            hf_gen_token(r, ctx, &v);

            switch (hf_below(r, cls == HF_SUB_XJWT ? 6 : 5)) {
            case 0:
            case 1:
                hf_buf_str(b, "Authorization: Bearer ");
                break;
            case 2:
                hf_buf_str(b, hf_chance(r, 50) ? "Authorization: bearer "
                           : (hf_chance(r, 50) ? "Authorization: Bearer  "
                                               : "Authorization: Basic "));
                break;
            case 3:
                hf_buf_str(b, hf_chance(r, 70) ? "Cookie: sse_token="
                                               : "Cookie: a=b; sse_token=");
                break;
            case 4:
                if (hf_chance(r, 60)) {
                    v.len = 0;
                }
                hf_buf_str(b, "Authorization: Bearer");
                break;
            default:
                hf_buf_str(b, "X-Token: ");
                break;
            }

            hf_buf_add(b, v.data, v.len);

            if (hf_chance(r, 3)) {
                hf_buf_str(b, "; sse_token=x");
            }

            hf_buf_str(b, eol);
        }
    }

    if (cls <= HF_SUB2 || cls == HF_INTERNAL_SUB) {
        if (hf_chance(r, 25)) {
            hf_buf_str(b, hf_chance(r, 95) ? "Last-Event-ID: "
                                           : "last-event-id:");
            hf_gen_lei(r, b);
            hf_buf_str(b, eol);
        }

        if (hf_chance(r, 40)) {
            hf_buf_fmt(b, "Accept: text/event-stream%s", eol);
        }

        if (hf_chance(r, 10)) {
            hf_buf_fmt(b, "Origin: http://example.com%s", eol);
        }
    }

    if ((cls == HF_STATUS || cls == HF_STATUS_KEY) && hf_chance(r, 30)) {
        hf_buf_fmt(b, "Accept: text/plain%s", eol);
    }

    if (hf_chance(r, 8)) {
        switch (hf_below(r, 10)) {
        case 0:
            hf_buf_fmt(b, "X-Forwarded-For: 10.0.0.1%s", eol);
            break;
        case 1:
            hf_buf_str(b, "User-Agent: ");
            hf_fill(r, b, hf_loglen(r, 14), "Mozilla ");
            hf_buf_str(b, eol);
            break;
        case 2:
            hf_buf_fmt(b, "Range: bytes=0-10%s", eol);
            break;
        case 3:
            hf_buf_fmt(b, "No-Colon-Here%s", eol);
            break;
        case 4:
            hf_buf_fmt(b, "X-Folded: a%s b%s", eol, eol);
            break;
        case 5:
            hf_buf_fmt(b, "X-Nul: a");
            hf_buf_byte(b, '\0');
            hf_buf_str(b, eol);
            break;
        case 6:
            hf_buf_fmt(b, "Bad Name: x%s", eol);
            break;
        case 7:
            hf_buf_fmt(b, "Accept-Encoding: gzip, br%s", eol);
            break;
        case 8:
            hf_buf_fmt(b, "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT%s",
                       eol);
            break;
        default:
            n = 1 + (int) hf_below(r, 120);
            for (i = 0; i < n; i++) {
                hf_buf_fmt(b, "X-H%d: %d%s", i, i, eol);
            }
            break;
        }
    }

    hf_buf_free(&v);
}


/* the body with its framing: Content-Length, chunked, or wrong ones */
static void
hf_gen_framed_body(hf_rng_t *r, hf_buf_t *b, hf_buf_t *body,
    const char *eol, int valid)
{
    int  how;

    how = valid ? (int) hf_below(r, 85) : (int) hf_below(r, 100);

    if (how < 72) {
        hf_buf_fmt(b, "Content-Length: %zu%s%s", body->len, eol, eol);
        hf_buf_add(b, body->data, body->len);

    } else if (how < 85) {
        hf_buf_fmt(b, "Transfer-Encoding: chunked%s%s", eol, eol);
        hf_gen_chunked(r, b, body, 0);

    } else if (how < 88) {
        hf_buf_fmt(b, "Transfer-Encoding: chunked%s%s", eol, eol);
        hf_gen_chunked(r, b, body, 1);

    } else if (how < 91) {
        /* shorter: the rest is taken as the next request */
        hf_buf_fmt(b, "Content-Length: %zu%s%s",
                   body->len ? hf_below(r, body->len) : 0, eol, eol);
        hf_buf_add(b, body->data, body->len);

    } else if (how < 93) {
        /* longer: the server waits for bytes that never come */
        hf_buf_fmt(b, "Content-Length: %zu%s%s",
                   body->len + 1 + hf_below(r, 100), eol, eol);
        hf_buf_add(b, body->data, body->len);

    } else if (how < 95) {
        hf_buf_fmt(b, "Content-Length: %zu%sTransfer-Encoding: chunked%s%s",
                   body->len, eol, eol, eol);
        hf_gen_chunked(r, b, body, 0);

    } else if (how < 96) {
        hf_buf_fmt(b, "Content-Length: %zu%sContent-Length: %zu%s%s",
                   body->len, eol, body->len + 1, eol, eol);
        hf_buf_add(b, body->data, body->len);

    } else if (how < 98) {
        hf_buf_fmt(b, "Content-Length: %s%s%s",
                   hf_chance(r, 50) ? "-1"
                   : (hf_chance(r, 50) ? "99999999999999999999" : "1e3"),
                   eol, eol);
        hf_buf_add(b, body->data, body->len);

    } else {
        /* no length: the body is taken as the next request */
        hf_buf_str(b, eol);
        hf_buf_add(b, body->data, body->len);
    }
}


static void
hf_gen_chunked(hf_rng_t *r, hf_buf_t *b, hf_buf_t *body, int broken)
{
    size_t  off, n;
    int     bad;

    bad = broken ? (int) hf_below(r, 7) : -1;
    off = 0;

    while (off < body->len) {
        n = 1 + hf_below(r, body->len - off);

        if (bad == 0) {
            hf_buf_fmt(b, "%zx\r\n", n + 5);
            bad = -1;

        } else if (bad == 1) {
            hf_buf_str(b, "zz\r\n");
            bad = -1;

        } else if (bad == 2) {
            hf_buf_str(b, "ffffffffffffffffffff\r\n");
            bad = -1;

        } else {
            hf_buf_fmt(b, hf_chance(r, 50) ? "%zx" : "%zX", n);
            if (hf_chance(r, 5)) {
                hf_buf_str(b, ";ext=1");
            }
            hf_buf_str(b, "\r\n");
        }

        hf_buf_add(b, body->data + off, n);
        hf_buf_str(b, bad == 3 ? "\n" : "\r\n");
        off += n;
    }

    if (bad == 4) {
        return;
    }

    hf_buf_str(b, bad == 5 ? "-0\r\n\r\n" : "0\r\n");

    if (hf_chance(r, 5)) {
        hf_buf_str(b, "X-Trailer: 1\r\n");
    }

    hf_buf_str(b, "\r\n");
}


/*
 * One request.  "sub": to a subscriber location; "valid": well-formed
 * (its parameters may still be wrong), otherwise anything goes.  Returns 1
 * for a HEAD request (its response has no body).
 */
static int
hf_gen_request(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b, int sub, int valid)
{
    int          has_body, m;
    size_t       start, plen;
    hf_buf_t     target, body, ctype;
    hf_class_e   cls;
    const char  *method, *eol, *version;
    static const int  wsub[] = { 88, 4, 2, 2, 1, 1, 2 };
    static const int  wpub[] = { 14, 50, 10, 12, 2, 2, 10 };
    static const int  wtok[] = { 8, 80, 4, 2, 1, 1, 4 };
    static const int  woth[] = { 70, 10, 3, 3, 5, 3, 6 };
    static const char  *methods[] = {
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", NULL
    };

    memset(&target, 0, sizeof(target));
    memset(&body, 0, sizeof(body));
    memset(&ctype, 0, sizeof(ctype));

    start = b->len;

    hf_gen_target(r, ctx, &target, sub);
    plen = target.len;
    cls = hf_gen_class(target.data, plen);

    switch (cls) {
    case HF_SUB:
    case HF_SUB_JWT:
    case HF_SUB_XJWT:
    case HF_SUB2:
    case HF_INTERNAL_SUB:
        m = hf_pick(r, wsub, 7);
        break;
    case HF_PUB:
    case HF_PUB_KEY:
    case HF_PUB2:
    case HF_INTERNAL:
    case HF_PUB_INTERNAL:
        m = hf_pick(r, wpub, 7);
        break;
    case HF_TOKEN:
    case HF_TOKEN_KEY:
        m = hf_pick(r, wtok, 7);
        break;
    default:
        m = hf_pick(r, woth, 7);
        break;
    }

    method = methods[m];

    if (method == NULL) {
        method = hf_methods[hf_below(r, HF_NMETHODS)];
    }

    if (valid || hf_chance(r, 90)) {
        eol = "\r\n";
    } else {
        eol = "\n";
    }

    if (valid || hf_chance(r, 90)) {
        version = "HTTP/1.1";
    } else {
        switch (hf_below(r, 6)) {
        case 0:
            version = "HTTP/1.0";
            break;
        case 1:
            version = "HTTP/2.0";
            break;
        case 2:
            version = "HTTP/1.2";
            break;
        case 3:
            version = "";
            break;
        case 4:
            version = "HTTP/1.1 extra";
            break;
        default:
            version = "http/1.1";
            break;
        }
    }

    hf_buf_str(b, method);
    hf_buf_str(b, " ");
    hf_buf_add(b, target.data, target.len);

    if (*version) {
        hf_buf_str(b, " ");
        hf_buf_str(b, version);
    }

    hf_buf_str(b, eol);

    if (*version == '\0') {
        /* HTTP/0.9: no headers */
        goto done;
    }

    hf_gen_headers(r, ctx, b, cls, eol);

    has_body = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0
               || hf_chance(r, 4);

    if (!has_body) {
        hf_buf_str(b, eol);
        goto done;
    }

    hf_buf_add(&target, "", 1);
    hf_gen_body(r, ctx, &body, &ctype, (const char *) target.data);

    if (ctype.len) {
        hf_buf_str(b, "Content-Type: ");
        hf_buf_add(b, ctype.data, ctype.len);
        hf_buf_str(b, eol);
    }

    if (hf_chance(r, 5)) {
        hf_buf_fmt(b, "Expect: 100-continue%s", eol);
    }

    hf_gen_framed_body(r, b, &body, eol, valid);

done:

    if (!valid && hf_chance(r, 25)) {
        hf_gen_mutate(r, b, start);
    }

    hf_buf_free(&target);
    hf_buf_free(&body);
    hf_buf_free(&ctype);

    return strcmp(method, "HEAD") == 0;
}


/* counts a request of the plan; the reader needs to know HEADs */
static void
hf_plan_request(hf_plan_t *plan, int head)
{
    if (head && plan->requests < 64) {
        plan->heads |= (uint64_t) 1 << plan->requests;
    }

    plan->requests++;
}


/* byte-level mutations of b from "from" on */
void
hf_gen_mutate(hf_rng_t *r, hf_buf_t *b, size_t from)
{
    int          i, n;
    size_t       at, len, k;
    hf_buf_t     tail;
    const char  *s;
    static const char  *ins[] = {
        "\r\n", "\n", "\r\n\r\n", "%00", ",", ":", " ", "\t", "%",
        "Transfer-Encoding: chunked\r\n", "Content-Length: 5\r\n", "\xff",
        "\r\n0\r\n\r\n", "?channel=c0", "GET /sub?channel=c0 HTTP/1.1\r\n"
    };

    if (b->len <= from) {
        return;
    }

    memset(&tail, 0, sizeof(tail));
    n = 1 + (int) hf_below(r, 4);

    for (i = 0; i < n && b->len > from; i++) {
        len = b->len - from;
        at = from + hf_below(r, len);

        switch (hf_below(r, 6)) {
        case 0:
            b->data[at] ^= (u_char) (1 << hf_below(r, 8));
            break;
        case 1:
            b->data[at] = (u_char) "\0\r\n :%\xff\"{"[hf_below(r, 9)];
            break;
        case 2:
            /* a string inserted */
            s = ins[hf_below(r, sizeof(ins) / sizeof(ins[0]))];
            hf_buf_reset(&tail);
            hf_buf_add(&tail, b->data + at, b->len - at);
            b->len = at;
            hf_buf_str(b, s);
            if (*s == '\0') {
                hf_buf_byte(b, '\0');
            }
            hf_buf_add(b, tail.data, tail.len);
            break;
        case 3:
            /* a range deleted */
            k = 1 + hf_below(r, b->len - at);
            memmove(b->data + at, b->data + at + k, b->len - at - k);
            b->len -= k;
            break;
        case 4:
            /* a range repeated */
            k = 1 + hf_below(r, (b->len - at < 256 ? b->len - at : 256));
            hf_buf_reset(&tail);
            hf_buf_add(&tail, b->data + at, k);
            hf_buf_add(&tail, b->data + at, b->len - at);
            b->len = at;
            hf_buf_add(b, tail.data, tail.len);
            break;
        default:
            b->len = at;
            break;
        }
    }

    hf_buf_free(&tail);
}


/* keep-alive requests, pipelined in one write, one by one, or split */
static void
hf_gen_session(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx)
{
    int  i, n, mode, valid;

    n = 1 + (int) hf_below(r, hf_chance(r, 90) ? 8 : 30);
    mode = (int) hf_below(r, 3);
    valid = hf_chance(r, 75);

    for (i = 0; i < n; i++) {
        hf_plan_request(plan, hf_gen_request(r, ctx, &plan->out,
                                             hf_chance(r, 5),
                                             valid && hf_chance(r, 85)));

        /* a write of its own: a few ms apart, now and then more */
        if (mode != 0) {
            hf_plan_chunk(plan, (int) hf_below(r, hf_chance(r, 90) ? 4 : 60));
        }
    }

    if (mode == 2 && plan->nchunks > 0) {
        /* move the boundaries into the requests */
        for (i = 0; i < plan->nchunks; i++) {
            if (plan->chunks[i].end > 1 && hf_chance(r, 70)) {
                plan->chunks[i].end -= hf_below(r, plan->chunks[i].end
                                         - (i > 0 ? plan->chunks[i - 1].end
                                                  : 0));
            }
        }
    }

    if (!valid && hf_chance(r, 10)) {
        hf_gen_mutate(r, &plan->out, 0);
    }

    plan->read = 1;
    plan->hold = 1500;
    plan->rst = hf_chance(r, 10);
    plan->shut_wr = hf_chance(r, 5);
}


/* valid publishes on the common channels: the subscribers' traffic */
static void
hf_gen_publish_burst(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx)
{
    int          i, n, how;
    hf_buf_t     body, *b;
    const char  *path;

    (void) ctx;

    memset(&body, 0, sizeof(body));
    b = &plan->out;
    n = 1 + (int) hf_below(r, 20);

    for (i = 0; i < n; i++) {
        hf_buf_reset(&body);
        how = (int) hf_below(r, 10);

        switch (hf_below(r, 9)) {
        case 0:
            path = "/open/pub";
            break;
        case 8:
            /* the tiny zone: full zones */
            path = "/pub2";
            break;
        case 1:
            path = "/app/x";
            break;
        case 2:
            path = "/broken";
            break;
        case 3:
            path = "/api/x";
            break;
        default:
            path = "/pub";
            break;
        }

        if (strcmp(path, "/pub2") == 0 && hf_chance(r, 25)) {
            /* and room made again */
            hf_buf_fmt(b, "DELETE /pub2?c=t%u HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "\r\n", (unsigned) hf_below(r, 12));
            plan->requests++;
            continue;

        } else if (strcmp(path, "/pub2") == 0) {
            /* big messages on many channels: the tiny zone fills (507) */
            hf_fill(r, &body, 1000 + hf_below(r, 15000), "big\n");
            hf_buf_fmt(b, "POST /pub2?c=t%u&e=big HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\nContent-Type: text/plain\r\n",
                       (unsigned) hf_below(r, 12));

        } else if (how < 5) {
            hf_gen_json_publish(r, &body, 1);
            hf_buf_fmt(b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Content-Type: application/json\r\n",
                       hf_chance(r, 85) ? "POST" : "PUT", path);

        } else if (how < 7) {
            hf_gen_form(r, &body, 0, 1);
            hf_buf_fmt(b, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\n",
                       path);

        } else if (how < 9) {
            hf_fill(r, &body, 1 + hf_loglen(r, 10), "raw line\n\r");
            hf_buf_fmt(b, "POST %s?channel=%s&event=", path,
                       hf_channels[hf_below(r, HF_NCHANNELS)]);
            hf_buf_str(b, hf_events[hf_below(r, HF_NEVENTS)]);
            hf_buf_str(b, " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Content-Type: text/plain\r\n");

        } else {
            hf_buf_fmt(b, "%s /pub?channel=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "X-API-Key: %s\r\n\r\n",
                       hf_chance(r, 80) ? "GET" : "DELETE",
                       hf_channels[hf_below(r, HF_NCHANNELS)], HF_API_KEY);
            plan->requests++;
            continue;
        }

        hf_buf_fmt(b, "X-API-Key: %s\r\n", HF_API_KEY);

        if (hf_chance(r, 80)) {
            hf_buf_fmt(b, "Content-Length: %zu\r\n\r\n", body.len);
            hf_buf_add(b, body.data, body.len);

        } else {
            hf_buf_str(b, "Transfer-Encoding: chunked\r\n\r\n");
            hf_gen_chunked(r, b, &body, 0);
        }

        plan->requests++;

        if (hf_chance(r, 50)) {
            hf_plan_chunk(plan, (int) hf_below(r, 5));
        }

        if (hf_chance(r, 50)) {
            hf_plan_chunk(plan, (int) hf_below(r, 30));
        }
    }

    hf_buf_free(&body);

    plan->read = 1;
    plan->hold = 2000;
}


/* requests trickled in small pieces */
static void
hf_gen_slow(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx)
{
    int     i, n;
    size_t  off, total;

    n = 1 + (int) hf_below(r, 2);

    for (i = 0; i < n; i++) {
        hf_plan_request(plan, hf_gen_request(r, ctx, &plan->out,
                                             hf_chance(r, 20),
                                             hf_chance(r, 80)));
    }

    total = plan->out.len;
    off = 0;
    plan->nchunks = 0;

    while (off < total && plan->nchunks < HF_MAX_CHUNKS - 1) {
        off += 1 + hf_below(r, 24);
        if (off > total) {
            off = total;
        }
        plan->chunks[plan->nchunks].end = off;
        plan->chunks[plan->nchunks].delay = 2 + (int) hf_below(r, 20);
        plan->nchunks++;
    }

    plan->read = 1;
    plan->hold = 1500;
}


static void
hf_gen_garbage(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx)
{
    int        i, n;
    hf_buf_t  *b;

    b = &plan->out;

    switch (hf_below(r, 6)) {
    case 0:
        hf_fill_bytes(r, b, 1 + hf_loglen(r, 12));
        break;
    case 1:
        hf_buf_str(b, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        hf_fill_bytes(r, b, hf_loglen(r, 8));
        break;
    case 2:
        /* the start of a TLS ClientHello */
        hf_buf_add(b, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
        hf_fill_bytes(r, b, 64);
        break;
    case 3:
        hf_buf_str(b, "GET /sub?channel=c0 HTTP/1.1\r\n");
        n = 1 + (int) hf_below(r, 400);
        for (i = 0; i < n; i++) {
            hf_buf_str(b, "A: ");
            hf_fill(r, b, hf_loglen(r, 9), "v");
            hf_buf_str(b, "\r\n");
        }
        hf_buf_str(b, "\r\n");
        break;
    default:
        n = 1 + (int) hf_below(r, 4);
        for (i = 0; i < n; i++) {
            (void) hf_gen_request(r, ctx, b, hf_chance(r, 10), 0);
        }
        hf_gen_mutate(r, b, 0);
        hf_gen_mutate(r, b, 0);
        break;
    }

    plan->requests = 1;
    plan->read = 1;
    plan->hold = 800;
}


/* one subscriber: reads, stalls or drops */
static void
hf_gen_subscriber(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx)
{
    int        head;
    hf_buf_t  *b;

    b = &plan->out;
    head = 0;

    if (plan->kind == HF_KIND_SUB_STALL && hf_chance(r, 70)) {
        /* history to a client that never reads: all of it, from id 0 */
        hf_buf_fmt(b, "GET /sub/all?channel=c%d,c%d HTTP/1.1\r\n"
                   "Host: 127.0.0.1\r\n%s\r\n",
                   (int) hf_below(r, 8), (int) hf_below(r, 8),
                   hf_chance(r, 50) ? "Last-Event-ID: 0\r\n" : "");

    } else {
        head = hf_gen_request(r, ctx, b, 1, hf_chance(r, 85));
    }

    hf_plan_request(plan, head);
    hf_plan_chunk(plan, 0);

    switch (plan->kind) {
    case HF_KIND_SUB_STALL:
        plan->read = 0;
        plan->rcvbuf = 1024 << hf_below(r, 4);
        plan->hold = 1000 + (int) hf_below(r, 5000);
        plan->rst = hf_chance(r, 30);
        break;

    case HF_KIND_SUB_DROP:
        plan->read = hf_chance(r, 50);
        plan->hold = (int) hf_below(r, 100);
        plan->rst = hf_chance(r, 50);
        plan->shut_wr = hf_chance(r, 20);
        break;

    default:
        plan->read = 1;
        plan->read_slowly = hf_chance(r, 15);
        plan->hold = 200 + (int) hf_below(r, 3800);
        plan->rst = hf_chance(r, 30);

        if (hf_chance(r, 10)) {
            /* bytes from the client while its stream is open */
            if (hf_chance(r, 50)) {
                hf_plan_request(plan, hf_gen_request(r, ctx, b, 0, 1));
            } else {
                hf_buf_str(b, "\r\n");
            }
            hf_plan_chunk(plan, 100 + (int) hf_below(r, 1000));
        }
        break;
    }
}


void
hf_gen_plan(hf_plan_t *plan, hf_ctx_t *ctx, uint64_t seed, uint64_t index,
    hf_kind_e kind)
{
    hf_rng_t  r;

    hf_buf_reset(&plan->out);
    plan->seed = seed;
    plan->index = index;
    plan->kind = kind;
    plan->h2 = 0;
    plan->nchunks = 0;
    plan->read = 0;
    plan->read_slowly = 0;
    plan->rcvbuf = 0;
    plan->hold = 0;
    plan->rst = 0;
    plan->shut_wr = 0;
    plan->requests = 0;
    plan->heads = 0;

    r.s = seed;

    switch (kind) {
    case HF_KIND_REQUESTS:
        hf_gen_session(plan, &r, ctx);
        break;
    case HF_KIND_PUBLISH:
        hf_gen_publish_burst(plan, &r, ctx);
        break;
    case HF_KIND_SLOW:
        hf_gen_slow(plan, &r, ctx);
        break;
    case HF_KIND_GARBAGE:
        hf_gen_garbage(plan, &r, ctx);
        break;
    case HF_KIND_H2:
        hf_h2_session(plan, &r, ctx, 0);
        break;
    case HF_KIND_H2_SUB:
        hf_h2_session(plan, &r, ctx, 1);
        break;
    case HF_KIND_PROBE:
        hf_buf_str(&plan->out, "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\n\r\n");
        plan->requests = 1;
        plan->read = 1;
        plan->hold = 10000;
        break;
    default:
        hf_gen_subscriber(plan, &r, ctx);
        break;
    }

    hf_plan_chunk(plan, 0);

    if (plan->nchunks > 0) {
        /* the last write carries whatever is left */
        plan->chunks[plan->nchunks - 1].end = plan->out.len;
    }
}
