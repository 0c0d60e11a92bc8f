
/*
 * httpfuzz: HTTP/2 over cleartext with prior knowledge.  A minimal frame
 * writer: the preface, SETTINGS with odd values, HEADERS (HPACK literals,
 * static-table indexes, table size updates, now and then a wrong index or
 * a Huffman flag on random bytes) split into CONTINUATION frames, DATA,
 * RST_STREAM, WINDOW_UPDATE with odd increments, PING, PRIORITY, GOAWAY
 * and unknown frames.  Requests come from the HTTP/1.1 grammar's targets
 * and bodies; subscriber sessions hold streams open, cancel them or let
 * flow control stall them.
 */


#include <string.h>

#include "hf.h"


#define HF_H2_DATA           0x0
#define HF_H2_HEADERS        0x1
#define HF_H2_PRIORITY       0x2
#define HF_H2_RST_STREAM     0x3
#define HF_H2_SETTINGS       0x4
#define HF_H2_PING           0x6
#define HF_H2_GOAWAY         0x7
#define HF_H2_WINDOW_UPDATE  0x8
#define HF_H2_CONTINUATION   0x9

#define HF_H2_END_STREAM     0x1
#define HF_H2_ACK            0x1
#define HF_H2_END_HEADERS    0x4
#define HF_H2_PADDED         0x8
#define HF_H2_PRIORITY_FLAG  0x20


static void hf_h2_frame(hf_buf_t *b, int type, int flags, uint32_t sid,
    const u_char *p, size_t n);
static void hf_h2_int(hf_buf_t *b, int prefix, u_char first, uint64_t v);
static void hf_h2_field(hf_rng_t *r, hf_buf_t *b, const char *name,
    const u_char *val, size_t vlen);
static void hf_h2_settings(hf_rng_t *r, hf_buf_t *b, int sub);
static void hf_h2_u32(u_char *p, uint32_t v);
static void hf_h2_extra(hf_rng_t *r, hf_buf_t *b, uint32_t maxsid);
static void hf_h2_request(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b,
    uint32_t sid, int sub, uint32_t window);


static void
hf_h2_u32(u_char *p, uint32_t v)
{
    p[0] = (u_char) (v >> 24);
    p[1] = (u_char) (v >> 16);
    p[2] = (u_char) (v >> 8);
    p[3] = (u_char) v;
}


static void
hf_h2_frame(hf_buf_t *b, int type, int flags, uint32_t sid, const u_char *p,
    size_t n)
{
    u_char  h[9];

    h[0] = (u_char) (n >> 16);
    h[1] = (u_char) (n >> 8);
    h[2] = (u_char) n;
    h[3] = (u_char) type;
    h[4] = (u_char) flags;
    hf_h2_u32(h + 5, sid);

    hf_buf_add(b, h, 9);
    hf_buf_add(b, p, n);
}


/* an HPACK integer with an N-bit prefix (RFC 7541, 5.1) */
static void
hf_h2_int(hf_buf_t *b, int prefix, u_char first, uint64_t v)
{
    uint64_t  max;

    max = ((uint64_t) 1 << prefix) - 1;

    if (v < max) {
        hf_buf_byte(b, (u_char) (first | v));
        return;
    }

    hf_buf_byte(b, (u_char) (first | max));
    v -= max;

    while (v >= 128) {
        hf_buf_byte(b, (u_char) (v % 128 + 128));
        v /= 128;
    }

    hf_buf_byte(b, (u_char) v);
}


/* one header field, mostly a literal without indexing (new name) */
static void
hf_h2_field(hf_rng_t *r, hf_buf_t *b, const char *name, const u_char *val,
    size_t vlen)
{
    size_t  i, nlen;
    int     idx;
    static const struct {
        const char  *name;
        const char  *value;
        int          index;
    } statics[] = {
        { ":method", "GET", 2 }, { ":method", "POST", 3 },
        { ":path", "/", 4 }, { ":scheme", "http", 6 },
        { ":authority", NULL, 1 }, { ":path", NULL, 4 },
        { "content-type", NULL, 31 }, { "cookie", NULL, 32 },
        { "authorization", NULL, 23 }, { "content-length", NULL, 28 },
        { "accept", NULL, 19 }, { NULL, NULL, 0 }
    };

    nlen = strlen(name);

    if (hf_chance(r, 20)) {
        for (i = 0; statics[i].name; i++) {
            if (strcmp(statics[i].name, name) != 0) {
                continue;
            }

            if (statics[i].value) {
                if (vlen == strlen(statics[i].value)
                    && memcmp(val, statics[i].value, vlen) == 0)
                {
                    /* an indexed header field */
                    hf_h2_int(b, 7, 0x80, (uint64_t) statics[i].index);
                    return;
                }

                continue;
            }

            /* a literal with an indexed name, maybe added to the table */
            if (hf_chance(r, 50)) {
                hf_h2_int(b, 6, 0x40, (uint64_t) statics[i].index);
            } else {
                hf_h2_int(b, 4, 0x00, (uint64_t) statics[i].index);
            }

            hf_h2_int(b, 7, 0x00, vlen);
            hf_buf_add(b, val, vlen);
            return;
        }
    }

    /* a wrong field ends the whole connection: rarely */
    switch (hf_chance(r, 2) ? hf_below(r, 4) : 4) {
    case 0:
        /* an index beyond both tables */
        idx = 62 + (int) hf_below(r, 1000);
        hf_h2_int(b, 7, 0x80, (uint64_t) idx);
        return;
    case 1:
        hf_buf_byte(b, 0x80);
        return;
    case 2:
        /* the Huffman flag on bytes that are not Huffman code */
        hf_buf_byte(b, 0x00);
        hf_h2_int(b, 7, 0x00, nlen);
        hf_buf_add(b, name, nlen);
        hf_h2_int(b, 7, 0x80, vlen);
        hf_buf_add(b, val, vlen);
        return;
    case 3:
        /* a length beyond the block */
        hf_buf_byte(b, 0x00);
        hf_h2_int(b, 7, 0x00, nlen + 1000);
        hf_buf_add(b, name, nlen);
        return;
    default:
        break;
    }

    switch (hf_below(r, 10)) {
    case 0:
        hf_buf_byte(b, 0x40);
        break;
    case 1:
        hf_buf_byte(b, 0x10);
        break;
    default:
        hf_buf_byte(b, 0x00);
        break;
    }

    hf_h2_int(b, 7, 0x00, nlen);
    hf_buf_add(b, name, nlen);
    hf_h2_int(b, 7, 0x00, vlen);
    hf_buf_add(b, val, vlen);
}


static void
hf_h2_settings(hf_rng_t *r, hf_buf_t *b, int sub)
{
    int       i, n;
    u_char    p[6 * 8];
    uint32_t  v;
    static const uint32_t  windows[] = {
        0, 1, 100, 1000, 65535, 65536, 0x7fffffff, 0x80000000
    };
    static const uint32_t  frames[] = {
        16384, 16385, 16777215, 16777216, 100, 0
    };

    n = (int) hf_below(r, 5);

    if (sub && hf_chance(r, 40)) {
        /* a small window, or none: streams stall on flow control */
        p[0] = 0;
        p[1] = 4;
        hf_h2_u32(p + 2, (uint32_t) hf_below(r, 2000));
        hf_h2_frame(b, HF_H2_SETTINGS, 0, 0, p, 6);
    }

    for (i = 0; i < n; i++) {
        p[6 * i] = 0;
        p[6 * i + 1] = (u_char) (1 + hf_below(r, 7));

        switch (p[6 * i + 1]) {
        case 1:
            v = hf_chance(r, 50) ? 0 : (uint32_t) 4096 << hf_below(r, 8);
            break;
        case 2:
            v = (uint32_t) hf_below(r, hf_chance(r, 90) ? 2 : 3);
            break;
        case 3:
            v = (uint32_t) hf_below(r, 200);
            break;
        case 4:
            v = windows[hf_below(r, sizeof(windows) / sizeof(windows[0]))];
            break;
        case 5:
            v = hf_chance(r, 80) ? (uint32_t) 16384 << hf_below(r, 3)
                : frames[hf_below(r, sizeof(frames) / sizeof(frames[0]))];
            break;
        case 6:
            v = (uint32_t) hf_below(r, 100000);
            break;
        default:
            p[6 * i + 1] = 0x99;
            v = (uint32_t) hf_rand(r);
            break;
        }

        hf_h2_u32(p + 6 * i + 2, v);
    }

    hf_h2_frame(b, HF_H2_SETTINGS, 0, 0, p, (size_t) n * 6
                                             + (hf_chance(r, 2) ? 1 : 0));
}


/* a frame outside of requests, right or wrong */
static void
hf_h2_extra(hf_rng_t *r, hf_buf_t *b, uint32_t maxsid)
{
    u_char    p[16];
    uint32_t  sid, v;
    static const uint32_t  incs[] = {
        0, 1, 1000, 65535, 0x7fffffff, 0x80000000, 0xffffffff
    };

    sid = (uint32_t) (1 + 2 * hf_below(r, maxsid / 2 + 1));

    switch (hf_below(r, 11)) {
    case 0:
        memset(p, 'p', 8);
        hf_h2_frame(b, HF_H2_PING, 0, 0, p, hf_chance(r, 95) ? 8 : 7);
        break;
    case 1:
        /* a stream depending on itself, or on another */
        hf_h2_u32(p, hf_chance(r, 50) ? sid : (uint32_t) hf_below(r, 9));
        p[4] = (u_char) hf_rand(r);
        hf_h2_frame(b, HF_H2_PRIORITY, 0, sid, p, 5);
        break;
    case 2:
    case 3:
        v = incs[hf_below(r, sizeof(incs) / sizeof(incs[0]))];
        hf_h2_u32(p, v);
        hf_h2_frame(b, HF_H2_WINDOW_UPDATE, 0, hf_chance(r, 50) ? 0 : sid,
                    p, 4);
        break;
    case 4:
    case 5:
        hf_h2_u32(p, (uint32_t) hf_below(r, 14));
        hf_h2_frame(b, HF_H2_RST_STREAM, 0,
                    hf_chance(r, 90) ? sid : (uint32_t) hf_below(r, 2),
                    p, 4);
        break;
    case 6:
        hf_h2_frame(b, HF_H2_SETTINGS, HF_H2_ACK, 0, p,
                    hf_chance(r, 80) ? 0 : 6);
        break;
    case 7:
        memset(p, 'u', 16);
        hf_h2_frame(b, 0xfa, (int) hf_below(r, 256),
                    (uint32_t) hf_below(r, 10), p, hf_below(r, 16));
        break;
    case 8:
        hf_h2_u32(p, maxsid);
        hf_h2_u32(p + 4, (uint32_t) hf_below(r, 14));
        hf_h2_frame(b, HF_H2_GOAWAY, 0, 0, p, 8);
        break;
    case 9:
        memset(p, 'd', 16);
        hf_h2_frame(b, HF_H2_DATA, HF_H2_END_STREAM,
                    hf_chance(r, 50) ? 0 : sid, p, hf_below(r, 16));
        break;
    default:
        /* a CONTINUATION with no HEADERS before it */
        memset(p, 0, 4);
        hf_h2_frame(b, HF_H2_CONTINUATION, HF_H2_END_HEADERS, sid, p, 4);
        break;
    }
}


/*
 * One request on stream "sid": HEADERS (maybe with CONTINUATION), then
 * DATA frames for a body no larger than "window".
 */
static void
hf_h2_request(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b, uint32_t sid,
    int sub, uint32_t window)
{
    int          post, flags, pad;
    size_t       off, n, len, q;
    u_char       hdr[5];
    hf_buf_t     block, target, body, ctype, v, frame;
    const char  *method, *key;

    memset(&block, 0, sizeof(block));
    memset(&target, 0, sizeof(target));
    memset(&body, 0, sizeof(body));
    memset(&ctype, 0, sizeof(ctype));
    memset(&v, 0, sizeof(v));
    memset(&frame, 0, sizeof(frame));

    hf_gen_target(r, ctx, &target, sub);

    if (sub) {
        method = hf_chance(r, 95) ? "GET" : "HEAD";
        post = 0;

    } else {
        switch (hf_below(r, 10)) {
        case 0:
        case 1:
        case 2:
            method = "GET";
            break;
        case 3:
            method = "DELETE";
            break;
        case 4:
            method = "PUT";
            break;
        case 5:
            method = "OPTIONS";
            break;
        default:
            method = "POST";
            break;
        }

        post = method[0] == 'P';
    }

    if (hf_chance(r, 5)) {
        /* a dynamic table size update first */
        hf_h2_int(&block, 5, 0x20, hf_chance(r, 50) ? 0 : 100000);
    }

    if (hf_chance(r, 97)) {
        hf_h2_field(r, &block, ":method", (const u_char *) method,
                    strlen(method));
    }

    hf_h2_field(r, &block, ":scheme", (const u_char *) "http", 4);

    if (hf_chance(r, 90)) {
        hf_h2_field(r, &block, ":authority", (const u_char *) "127.0.0.1",
                    9);
    }

    if (hf_chance(r, 98)) {
        hf_h2_field(r, &block, ":path", target.data, target.len);
    }

    switch (hf_below(r, 40)) {
    case 0:
        hf_h2_field(r, &block, ":path", (const u_char *) "/pub", 4);
        break;
    case 1:
        hf_h2_field(r, &block, "Accept", (const u_char *) "*/*", 3);
        break;
    case 2:
        hf_h2_field(r, &block, "connection", (const u_char *) "close", 5);
        break;
    case 3:
        hf_h2_field(r, &block, ":foo", (const u_char *) "bar", 3);
        break;
    case 4:
        hf_h2_field(r, &block, "te", (const u_char *) "gzip", 4);
        break;
    default:
        break;
    }

    if (hf_chance(r, sub ? 25 : 3)) {
        hf_buf_reset(&v);
        hf_gen_lei(r, &v);
        hf_h2_field(r, &block, "last-event-id", v.data, v.len);
    }

    if (hf_chance(r, 40)) {
        hf_buf_reset(&v);
        hf_buf_str(&v, "Bearer ");
        hf_gen_token(r, ctx, &v);
        hf_h2_field(r, &block, "authorization", v.data, v.len);

    } else if (hf_chance(r, 15)) {
        hf_buf_reset(&v);
        hf_buf_str(&v, "sse_token=");
        hf_gen_token(r, ctx, &v);
        hf_h2_field(r, &block, "cookie", v.data, v.len);
    }

    if (!sub && hf_chance(r, 85)) {
        key = hf_chance(r, 90) ? HF_API_KEY : "bad";
        hf_h2_field(r, &block, "x-api-key", (const u_char *) key,
                    strlen(key));
    }

    if (post) {
        hf_buf_add(&target, "", 1);
        hf_gen_body(r, ctx, &body, &ctype, (const char *) target.data);

        if (body.len > window) {
            body.len = window;
        }

        if (ctype.len) {
            hf_h2_field(r, &block, "content-type", ctype.data, ctype.len);
        }

        if (hf_chance(r, 70)) {
            hf_buf_reset(&v);
            hf_buf_fmt(&v, "%zu", hf_chance(r, 90) ? body.len
                                                   : body.len + 3);
            hf_h2_field(r, &block, "content-length", v.data, v.len);
        }
    }

    /* HEADERS, and CONTINUATION frames when split */
    flags = post ? 0 : HF_H2_END_STREAM;
    off = 0;
    n = block.len;

    if (n > 16000 || hf_chance(r, 10)) {
        n = block.len ? 1 + hf_below(r, block.len < 16000 ? block.len
                                                          : 16000) : 0;
    }

    hf_buf_reset(&frame);
    pad = 0;

    if (hf_chance(r, 5)) {
        /* the pad length comes first; now and then longer than the frame */
        flags |= HF_H2_PADDED;
        pad = (int) hf_below(r, 20);
        hf_buf_byte(&frame, (u_char) (hf_chance(r, 95) ? pad : 255));
    }

    if (hf_chance(r, 5)) {
        flags |= HF_H2_PRIORITY_FLAG;
        hf_h2_u32(hdr, hf_chance(r, 50) ? sid : 0);
        hdr[4] = 15;
        hf_buf_add(&frame, hdr, 5);
    }

    hf_buf_add(&frame, block.data, n);

    for (q = 0; q < (size_t) pad; q++) {
        hf_buf_byte(&frame, 0);
    }

    hf_h2_frame(b, HF_H2_HEADERS, flags | (n == block.len ? HF_H2_END_HEADERS
                                                          : 0),
                sid, frame.data, frame.len);
    off = n;

    while (off < block.len) {
        len = block.len - off;
        if (len > 16000) {
            len = 16000;
        }
        if (hf_chance(r, 50)) {
            len = 1 + hf_below(r, len);
        }

        hf_h2_frame(b, HF_H2_CONTINUATION,
                    off + len == block.len ? HF_H2_END_HEADERS : 0,
                    hf_chance(r, 98) ? sid : sid + 2,
                    block.data + off, len);
        off += len;
    }

    /* the body in DATA frames */
    if (post) {
        off = 0;

        do {
            len = body.len - off;
            if (len > 16000) {
                len = 16000;
            }
            if (len && hf_chance(r, 30)) {
                len = 1 + hf_below(r, len);
            }

            flags = off + len == body.len && hf_chance(r, 97)
                    ? HF_H2_END_STREAM : 0;

            hf_buf_reset(&frame);

            if (hf_chance(r, 5)) {
                flags |= HF_H2_PADDED;
                hf_buf_byte(&frame, 4);
            }

            if (len) {
                hf_buf_add(&frame, body.data + off, len);
            }

            if (flags & HF_H2_PADDED) {
                hf_buf_add(&frame, "\0\0\0\0", 4);
            }

            hf_h2_frame(b, HF_H2_DATA, flags, sid, frame.data, frame.len);
            off += len;

        } while (off < body.len);
    }

    hf_buf_free(&block);
    hf_buf_free(&target);
    hf_buf_free(&body);
    hf_buf_free(&ctype);
    hf_buf_free(&v);
    hf_buf_free(&frame);
}


void
hf_h2_session(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx, int sub)
{
    int        i, n;
    u_char     p[8];
    uint32_t   sid, window;
    hf_buf_t  *b;

    b = &plan->out;
    plan->h2 = 1;

    if (hf_chance(r, 97)) {
        hf_buf_str(b, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    } else {
        hf_buf_str(b, hf_chance(r, 50) ? "PRI * HTTP/2.0\r\n\r\n"
                                       : "PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n");
    }

    hf_h2_settings(r, b, sub);

    if (hf_chance(r, 20)) {
        hf_h2_u32(p, (uint32_t) (1 + hf_below(r, 1 << 20)));
        hf_h2_frame(b, HF_H2_WINDOW_UPDATE, 0, 0, p, 4);
    }

    hf_plan_chunk(plan, 0);

    /* nginx's default window: bodies up to it are sent at once */
    window = 65535;
    sid = 1;
    n = sub ? 1 + (int) hf_below(r, 4) : 1 + (int) hf_below(r, 6);

    for (i = 0; i < n; i++) {
        hf_h2_request(r, ctx, b, sid, sub || hf_chance(r, 5), window);
        plan->requests++;

        if (hf_chance(r, 15)) {
            hf_h2_extra(r, b, sid);
        }

        if (hf_chance(r, 50)) {
            hf_plan_chunk(plan, (int) hf_below(r, 50));
        }

        /* now and then a stream id out of order */
        sid += hf_chance(r, 97) ? 2 : (hf_chance(r, 50) ? 1 : 0);
    }

    hf_plan_chunk(plan, 0);

    if (sub) {
        /* later: cancel, open more, publish, change windows */
        n = (int) hf_below(r, 4);

        for (i = 0; i < n; i++) {
            switch (hf_below(r, 5)) {
            case 0:
                hf_h2_u32(p, 8);
                hf_h2_frame(b, HF_H2_RST_STREAM, 0,
                            (uint32_t) (1 + 2 * hf_below(r, sid / 2 + 1)),
                            p, 4);
                break;
            case 1:
                hf_h2_request(r, ctx, b, sid, 0, window);
                plan->requests++;
                sid += 2;
                break;
            case 2:
                p[0] = 0;
                p[1] = 4;
                hf_h2_u32(p + 2, (uint32_t) hf_below(r, 100000));
                hf_h2_frame(b, HF_H2_SETTINGS, 0, 0, p, 6);
                break;
            default:
                hf_h2_extra(r, b, sid);
                break;
            }

            hf_plan_chunk(plan, 100 + (int) hf_below(r, 1200));
        }

        plan->read = hf_chance(r, 70);
        plan->read_slowly = plan->read && hf_chance(r, 15);
        plan->hold = 300 + (int) hf_below(r, 3500);

    } else {
        if (hf_chance(r, 10)) {
            hf_h2_extra(r, b, sid);
        }

        plan->read = 1;
        plan->hold = 1500;
    }

    if (hf_chance(r, 5)) {
        hf_gen_mutate(r, b, 24);
    }

    plan->rst = hf_chance(r, 20);
}
