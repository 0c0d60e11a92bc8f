
/*
 * httpfuzz: a grammar-based HTTP/1.1 and HTTP/2 fuzzer for a real nginx
 * running ngx_http_sse_module (see fuzz/http/README and
 * scripts/fuzz-http.sh).  Only 127.0.0.1 is ever connected to.
 */


#ifndef _HF_H_INCLUDED_
#define _HF_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define HF_BUF_MAX        (4 * 1024 * 1024)
#define HF_MAX_CHUNKS     64
#define HF_MAX_TOKENS     48
#define HF_TOKEN_MAX      8192

#define HF_SECRET         "fuzz-secret-0123456789abcdef0123456789"
#define HF_API_KEY        "fuzz-key-1"
#define HF_API_KEY2       "fuzz-key-2"


typedef struct {
    u_char      *data;
    size_t       len;
    size_t       cap;
} hf_buf_t;


typedef struct {
    uint64_t     s;
} hf_rng_t;


/* a write: the bytes up to "end", sent "delay" ms after the previous one */
typedef struct {
    size_t       end;
    int          delay;
} hf_chunk_t;


typedef enum {
    HF_KIND_REQUESTS = 0,       /* keep-alive requests, pipelined or not */
    HF_KIND_PUBLISH,            /* a burst of valid publishes */
    HF_KIND_SLOW,               /* requests trickled in small pieces */
    HF_KIND_GARBAGE,            /* mutated bytes */
    HF_KIND_H2,                 /* HTTP/2 frames, prior knowledge */
    HF_KIND_SUB_READ,           /* a subscriber that reads */
    HF_KIND_SUB_STALL,          /* a subscriber that never reads */
    HF_KIND_SUB_DROP,           /* a subscriber gone right after asking */
    HF_KIND_H2_SUB,             /* subscribers over HTTP/2 */
    HF_KIND_PROBE,              /* GET /status, must answer 200 */
    HF_KIND_N
} hf_kind_e;


/* everything needed to replay one connection, generated from its seed */
typedef struct {
    uint64_t     seed;
    uint64_t     index;
    hf_kind_e    kind;
    int          h2;            /* to the HTTP/2 port */
    hf_buf_t     out;
    hf_chunk_t   chunks[HF_MAX_CHUNKS];
    int          nchunks;
    int          read;          /* reads what the server sends */
    int          read_slowly;   /* a little every 200 ms */
    int          rcvbuf;        /* SO_RCVBUF before connect, 0: default */
    int          hold;          /* ms after the last write */
    int          rst;           /* closes with RST (SO_LINGER 0) */
    int          shut_wr;       /* half-closes after the last write */
    int          requests;
    uint64_t     heads;         /* bit i: request i is a HEAD */
} hf_plan_t;


/* what the generator draws tokens and figures from */
typedef struct {
    char        *tokens[HF_MAX_TOKENS];   /* valid tokens */
    int          ntokens;
    int          nminted;                 /* of them, minted by sse_token */
} hf_ctx_t;


extern const char  *hf_kind_names[HF_KIND_N];


/* hf_util.c */
void hf_buf_add(hf_buf_t *b, const void *p, size_t n);
void hf_buf_str(hf_buf_t *b, const char *s);
void hf_buf_byte(hf_buf_t *b, u_char c);
void hf_buf_fmt(hf_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void hf_buf_free(hf_buf_t *b);
void hf_buf_reset(hf_buf_t *b);

uint64_t hf_rand(hf_rng_t *r);
uint64_t hf_below(hf_rng_t *r, uint64_t n);
int hf_chance(hf_rng_t *r, int percent);
uint64_t hf_mix(uint64_t a, uint64_t b);

void hf_base64url(hf_buf_t *b, const u_char *p, size_t n);
void hf_hmac_sha256(u_char out[32], const u_char *key, size_t klen,
    const u_char *msg, size_t mlen);

/* hf_gen.c */
void hf_gen_plan(hf_plan_t *plan, hf_ctx_t *ctx, uint64_t seed,
    uint64_t index, hf_kind_e kind);
void hf_gen_crafted_tokens(hf_ctx_t *ctx);

/* hf_h2.c */
void hf_h2_session(hf_plan_t *plan, hf_rng_t *r, hf_ctx_t *ctx, int sub);

/* hf_gen.c, used by hf_h2.c */
void hf_gen_target(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b, int sub);
void hf_gen_body(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b, hf_buf_t *ctype,
    const char *path);
void hf_gen_token(hf_rng_t *r, hf_ctx_t *ctx, hf_buf_t *b);
void hf_gen_lei(hf_rng_t *r, hf_buf_t *b);
void hf_gen_mutate(hf_rng_t *r, hf_buf_t *b, size_t from);
void hf_plan_chunk(hf_plan_t *plan, int delay);


#endif /* _HF_H_INCLUDED_ */
