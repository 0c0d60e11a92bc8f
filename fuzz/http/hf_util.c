
/*
 * httpfuzz: growable buffers, the seeded generator (splitmix64), base64url
 * and HMAC-SHA256 (so that the fuzzer signs its own tokens, without a
 * crypto library).
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf.h"


static void hf_sha256_block(uint32_t h[8], const u_char *p);
static void hf_sha256(u_char out[32], const u_char *p1, size_t n1,
    const u_char *p2, size_t n2);


void
hf_buf_add(hf_buf_t *b, const void *p, size_t n)
{
    size_t   cap;
    u_char  *data;

    if (n == 0) {
        return;
    }

    /* generated inputs stay bounded: what does not fit is dropped */
    if (b->len + n > HF_BUF_MAX) {
        n = HF_BUF_MAX - b->len;
        if (n == 0) {
            return;
        }
    }

    if (b->len + n > b->cap) {
        cap = b->cap ? b->cap : 1024;

        while (cap < b->len + n) {
            cap *= 2;
        }

        data = realloc(b->data, cap);
        if (data == NULL) {
            fprintf(stderr, "httpfuzz: out of memory\n");
            exit(2);
        }

        b->data = data;
        b->cap = cap;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
}


void
hf_buf_str(hf_buf_t *b, const char *s)
{
    hf_buf_add(b, s, strlen(s));
}


void
hf_buf_byte(hf_buf_t *b, u_char c)
{
    hf_buf_add(b, &c, 1);
}


void
hf_buf_fmt(hf_buf_t *b, const char *fmt, ...)
{
    int      n;
    char     tmp[512];
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);

    if (n > 0) {
        hf_buf_add(b, tmp, (size_t) n < sizeof(tmp) ? (size_t) n
                                                    : sizeof(tmp) - 1);
    }
}


void
hf_buf_free(hf_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


void
hf_buf_reset(hf_buf_t *b)
{
    b->len = 0;
}


uint64_t
hf_rand(hf_rng_t *r)
{
    uint64_t  z;

    r->s += 0x9e3779b97f4a7c15ULL;
    z = r->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


uint64_t
hf_below(hf_rng_t *r, uint64_t n)
{
    return n ? hf_rand(r) % n : 0;
}


int
hf_chance(hf_rng_t *r, int percent)
{
    return (int) hf_below(r, 100) < percent;
}


/* the seed of connection "b" of the run seeded "a" */
uint64_t
hf_mix(uint64_t a, uint64_t b)
{
    hf_rng_t  r;

    r.s = a ^ (b * 0xd1342543de82ef95ULL);
    hf_rand(&r);

    return hf_rand(&r);
}


void
hf_base64url(hf_buf_t *b, const u_char *p, size_t n)
{
    size_t       i;
    uint32_t     v;
    static char  alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "abcdefghijklmnopqrstuvwxyz0123456789-_";

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
        hf_buf_byte(b, alpha[v >> 18 & 63]);
        hf_buf_byte(b, alpha[v >> 12 & 63]);
        hf_buf_byte(b, alpha[v >> 6 & 63]);
        hf_buf_byte(b, alpha[v & 63]);
    }

    if (n - i == 1) {
        v = (uint32_t) p[i] << 16;
        hf_buf_byte(b, alpha[v >> 18 & 63]);
        hf_buf_byte(b, alpha[v >> 12 & 63]);

    } else if (n - i == 2) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8;
        hf_buf_byte(b, alpha[v >> 18 & 63]);
        hf_buf_byte(b, alpha[v >> 12 & 63]);
        hf_buf_byte(b, alpha[v >> 6 & 63]);
    }
}


#define hf_ror(x, n)  ((x) >> (n) | (x) << (32 - (n)))

static const uint32_t  hf_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};


static void
hf_sha256_block(uint32_t h[8], const u_char *p)
{
    int       i;
    uint32_t  w[64], a, b, c, d, e, f, g, k, t1, t2, s0, s1;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
    }

    for (i = 16; i < 64; i++) {
        s0 = hf_ror(w[i - 15], 7) ^ hf_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        s1 = hf_ror(w[i - 2], 17) ^ hf_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    a = h[0]; b = h[1]; c = h[2]; d = h[3];
    e = h[4]; f = h[5]; g = h[6]; k = h[7];

    for (i = 0; i < 64; i++) {
        s1 = hf_ror(e, 6) ^ hf_ror(e, 11) ^ hf_ror(e, 25);
        t1 = k + s1 + ((e & f) ^ (~e & g)) + hf_sha256_k[i] + w[i];
        s0 = hf_ror(a, 2) ^ hf_ror(a, 13) ^ hf_ror(a, 22);
        t2 = s0 + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }

    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}


/* SHA-256 of p1 followed by p2 */
static void
hf_sha256(u_char out[32], const u_char *p1, size_t n1, const u_char *p2,
    size_t n2)
{
    int       i;
    size_t    total, n, fill;
    u_char    block[64];
    uint32_t  h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    uint64_t  bits;

    total = n1 + n2;
    fill = 0;

    while (n1 + n2 > 0) {
        if (n1 > 0) {
            n = n1 < 64 - fill ? n1 : 64 - fill;
            memcpy(block + fill, p1, n);
            p1 += n;
            n1 -= n;

        } else {
            n = n2 < 64 - fill ? n2 : 64 - fill;
            memcpy(block + fill, p2, n);
            p2 += n;
            n2 -= n;
        }

        fill += n;

        if (fill == 64) {
            hf_sha256_block(h, block);
            fill = 0;
        }
    }

    block[fill++] = 0x80;

    if (fill > 56) {
        memset(block + fill, 0, 64 - fill);
        hf_sha256_block(h, block);
        fill = 0;
    }

    memset(block + fill, 0, 56 - fill);
    bits = (uint64_t) total * 8;

    for (i = 0; i < 8; i++) {
        block[56 + i] = (u_char) (bits >> (56 - 8 * i));
    }

    hf_sha256_block(h, block);

    for (i = 0; i < 8; i++) {
        out[4 * i] = (u_char) (h[i] >> 24);
        out[4 * i + 1] = (u_char) (h[i] >> 16);
        out[4 * i + 2] = (u_char) (h[i] >> 8);
        out[4 * i + 3] = (u_char) h[i];
    }
}


void
hf_hmac_sha256(u_char out[32], const u_char *key, size_t klen,
    const u_char *msg, size_t mlen)
{
    int     i;
    u_char  k[64], pad[64], inner[32];

    memset(k, 0, sizeof(k));

    if (klen > 64) {
        hf_sha256(k, key, klen, NULL, 0);

    } else {
        memcpy(k, key, klen);
    }

    for (i = 0; i < 64; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    hf_sha256(inner, pad, 64, msg, mlen);

    for (i = 0; i < 64; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    hf_sha256(out, pad, 64, inner, 32);
}
