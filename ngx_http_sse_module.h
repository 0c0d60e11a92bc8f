
/*
 * ngx_http_sse_module: a Server-Sent Events publish/subscribe hub.
 */


#ifndef _NGX_HTTP_SSE_MODULE_H_INCLUDED_
#define _NGX_HTTP_SSE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_SSE_MAX_CHANNELS      32
#define NGX_HTTP_SSE_MAX_CHANNEL_LEN   255
#define NGX_HTTP_SSE_MAX_SLOTS         1024

#define NGX_HTTP_SSE_REPLAY_ALL        NGX_MAX_UINT32_VALUE

#define NGX_HTTP_SSE_MAX_TOKEN         4096
#define NGX_HTTP_SSE_KEY_DIGEST_LEN    32

#define NGX_HTTP_SSE_ROLE_SUBSCRIBE    1
#define NGX_HTTP_SSE_ROLE_PUBLISH      2
#define NGX_HTTP_SSE_ROLE_TOKEN        3
#define NGX_HTTP_SSE_ROLE_STATUS       4


typedef struct ngx_http_sse_channel_s  ngx_http_sse_channel_t;
typedef struct ngx_http_sse_msg_s      ngx_http_sse_msg_t;
typedef struct ngx_http_sse_ctx_s      ngx_http_sse_ctx_t;
typedef struct ngx_http_sse_stream_s   ngx_http_sse_stream_t;
typedef struct ngx_http_sse_backend_s  ngx_http_sse_backend_t;
typedef struct ngx_http_sse_shctx_s    ngx_http_sse_shctx_t;
typedef struct ngx_http_sse_slot_s     ngx_http_sse_slot_t;
typedef struct ngx_http_sse_hpos_s     ngx_http_sse_hpos_t;


/*
 * The zone's root, a worker's slot, channels and messages are the
 * shared-memory store's own: their layout is in ngx_http_sse_shm.h, for
 * ngx_http_sse_channel.c alone.  Other files hold pointers to them and
 * reach them through the store's functions (ngx_http_sse_store.h).
 */


/* a channel seen by one worker: its local subscribers */
typedef struct {
    ngx_rbtree_node_t           node;        /* key: the shared channel */
    ngx_queue_t                 links;
    ngx_http_sse_channel_t     *channel;
    uint64_t                    last_id;     /* the last message handed out */
    uint64_t                    lost;        /* a loss met, and the first */
    uint64_t                    lost_next;   /* id after it (0: none yet) */
    uint64_t                    gap_next;    /* oldest_id of its last gap */
} ngx_http_sse_lchannel_t;


/* one subscription of one stream to one channel */
typedef struct {
    ngx_queue_t                 queue;
    ngx_http_sse_stream_t      *stream;
    ngx_http_sse_lchannel_t    *lchannel;
    uint64_t                    history_id;  /* detached: the last id read
                                                from history (hpos's) */
} ngx_http_sse_link_t;


typedef struct ngx_http_sse_zone_s  ngx_http_sse_zone_t;

/* a worker to wake: its wake-up socket's name, copied from its slot */
typedef struct {
    ngx_pid_t                   pid;
    uint32_t                    nonce;
} ngx_http_sse_wakeup_t;

/* store hooks: messages were appended (ring these workers) ... */
typedef void (*ngx_http_sse_arrived_pt)(ngx_http_sse_wakeup_t *ring,
    ngx_uint_t n, ngx_log_t *log);
/* ... this worker's subscribers of the zone came or went */
typedef void (*ngx_http_sse_changed_pt)(ngx_http_sse_zone_t *zone);
/* a wake-up: messages may have arrived in the zone */
typedef void (*ngx_http_sse_wake_pt)(ngx_http_sse_zone_t *zone);


/* a zone, as one process (one cycle) sees it */
struct ngx_http_sse_zone_s {
    ngx_http_sse_shctx_t       *sh;          /* the store's: its root */
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *shm_zone;
    ngx_str_t                   name;
    ngx_uint_t                  history;
    ngx_msec_t                  ttl;
    ngx_http_sse_backend_t     *backend;     /* see ngx_http_sse_store.h */
    void                       *backend_conf; /* the backend's own */

    /* process-local */
    ngx_http_sse_arrived_pt     arrived;     /* hooks, or NULL */
    ngx_http_sse_changed_pt     changed;
    ngx_http_sse_slot_t        *slot;        /* the store's; NULL: none */
    ngx_uint_t                  slot_index;
    ngx_rbtree_t                lchannels;
    ngx_rbtree_node_t           lsentinel;
    ngx_uint_t                  nlocal;
};


typedef struct {
    ngx_array_t                 zones;       /* ngx_http_sse_zone_t * */
    ngx_http_complex_value_t   *arg_token;   /* $arg_token */
    ngx_http_complex_value_t   *cookie_token; /* $cookie_sse_token */
    ngx_int_t                   request_index; /* $request, redacted */
} ngx_http_sse_main_conf_t;


typedef struct {
    ngx_uint_t                  role;
    ngx_str_t                   zone_name;
    ngx_http_sse_zone_t        *zone;

    ngx_http_complex_value_t   *channel;
    ngx_http_complex_value_t   *event;
    ngx_msec_t                  keepalive;
    ngx_msec_t                  retry;
    ngx_str_t                   connected_event;
    ngx_msec_t                  subscriber_timeout;
    ngx_uint_t                  max_subscribers;
    size_t                      max_message_size;
    size_t                      max_pending;
    ngx_uint_t                  replay;
    ngx_http_complex_value_t   *last_event_id;

    ngx_array_t                *api_keys;    /* SHA-256 digests */
    ngx_str_t                   jwt_secret;  /* len 0: off */
    ngx_http_complex_value_t   *jwt_token;
    ngx_str_t                   token_secret;

    ngx_http_complex_value_t   *user;        /* sse_user */
} ngx_http_sse_loc_conf_t;


/* a reply's text, sized then written: ngx_http_sse_text_build() */
typedef struct {
    u_char                     *pos;         /* NULL: sizing */
    size_t                      size;
} ngx_http_sse_text_t;

typedef void (*ngx_http_sse_text_pt)(ngx_http_sse_text_t *t, void *data);


/* what a verified subscriber token says */
typedef struct {
    ngx_str_t                   user;
    ngx_str_t                  *channels;
    ngx_uint_t                  nchannels;
    time_t                      exp;
    unsigned                    any_channel:1;
} ngx_http_sse_jwt_t;


/* a message as a publisher hands it over (process memory) */
typedef struct {
    ngx_str_t                  *channels;
    ngx_uint_t                  nchannels;
    ngx_str_t                   event;
    ngx_str_t                   user;
    ngx_str_t                   data;
} ngx_http_sse_pmsg_t;


/* an event formatted once per worker, shared by its subscribers */
typedef struct {
    ngx_uint_t                  refs;
    uint64_t                    id;          /* of the message */
    ngx_http_sse_shctx_t       *zone;        /* its zone's, or NULL */
    size_t                      len;
    unsigned                    cached:1;    /* in the worker's frame cache */
    u_char                      data[1];
} ngx_http_sse_frame_t;


/*
 * An output buffer: a frame's bytes, a keepalive, the greeting, or the
 * chunked framing of a detached stream (its size line in head[]).  Chain
 * link and buffer in one piece, from the worker's free list.
 */
typedef struct {
    ngx_chain_t                 cl;
    ngx_buf_t                   buf;
    ngx_http_sse_frame_t       *frame;
    u_char                      head[NGX_OFF_T_LEN + 2];
} ngx_http_sse_obuf_t;


/* a request of a module location: what the access phase leaves */
struct ngx_http_sse_ctx_s {
    ngx_http_sse_stream_t      *stream;      /* sse_subscribe, or NULL */

    ngx_str_t                   error_page;  /* JSON for nginx's page */

    ngx_http_sse_jwt_t          jwt;         /* verified in access phase */
    ngx_uint_t                  access_status;  /* refused with, and why */
    const char                 *access_why;

    unsigned                    error_page_on:1;
    unsigned                    jwt_verified:1;
};


/*
 * A subscriber stream.  Allocated apart from the request, with its
 * channels, links and user in the same piece: once the response head and
 * any history are out, an HTTP/1.x stream lets its request go (request
 * NULL) and writes to its connection itself; see ngx_http_sse_stream.c.
 */
struct ngx_http_sse_stream_s {
    ngx_http_request_t         *request;     /* NULL: detached */
    ngx_connection_t           *connection;
    ngx_http_sse_loc_conf_t    *conf;
    ngx_http_core_loc_conf_t   *core_conf;
    ngx_http_sse_zone_t        *zone;
    ngx_http_sse_channel_t    **channels;
    ngx_uint_t                  nchannels;
    ngx_http_sse_link_t        *links;
    ngx_uint_t                  nlinks;
    uint64_t                    start_id;
    ngx_str_t                   user;        /* authenticated user */
    ngx_queue_t                 all;         /* the worker's streams */

    ngx_chain_t                *out;         /* queued, not yet passed on */
    ngx_chain_t               **last_out;
    ngx_chain_t                *busy;        /* passed on, not yet sent */
    size_t                      pending;

    ngx_event_t                 event;       /* timer: keepalive, deadline;
                                                posted: more history, or
                                                let the request go */
    ngx_msec_t                  start;       /* when it subscribed */
    ngx_msec_t                  last_write;
    ngx_msec_t                  deadline;    /* 0: none */

    ngx_queue_t                 dirty;       /* in the worker's flush list */

    ngx_http_sse_hpos_t        *hpos;        /* history, one per channel:
                                                the request's, catch-up */

    ngx_pool_cleanup_t         *cleanup;     /* taken from the request's
                                                pool: run at the end */

    unsigned                    registered:1;
    unsigned                    in_dirty:1;
    unsigned                    end_pending:1;
    unsigned                    ending:1;
    unsigned                    overflow:1;
    unsigned                    catchup:1;   /* history first, no live */
    unsigned                    body_sent:1;
    unsigned                    chunked:1;   /* detached: frame the bytes */
    unsigned                    size_class:6;  /* its free list + 1, or 0 */
};


/* wake-ups between workers: ngx_http_sse_ipc.c */
ngx_int_t ngx_http_sse_ipc_init(ngx_cycle_t *cycle, ngx_array_t *zones,
    ngx_http_sse_wake_pt wake, uint32_t *nonce);
void ngx_http_sse_ipc_exit(void);

/* subscriber streams: ngx_http_sse_stream.c */
ngx_int_t ngx_http_sse_subscribe_handler(ngx_http_request_t *r);
void ngx_http_sse_stream_deliver(ngx_http_sse_zone_t *zone);
void ngx_http_sse_stream_init(ngx_cycle_t *cycle);
void ngx_http_sse_stream_exit(void);

/* the publisher location: ngx_http_sse_publisher.c */
ngx_int_t ngx_http_sse_publish_handler(ngx_http_request_t *r);

/* bodies: ngx_http_sse_parse.c (no request objects: fuzzable) */
ngx_int_t ngx_http_sse_parse_json(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_str_t *default_channel, ngx_array_t *msgs, ngx_uint_t *as_array,
    ngx_str_t *err);
ngx_int_t ngx_http_sse_parse_form(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_str_t *default_channel, ngx_array_t *msgs,
    ngx_str_t *err);
ngx_int_t ngx_http_sse_form_decode(u_char *src, size_t len, ngx_str_t *dst);
ngx_int_t ngx_http_sse_json_copy(ngx_pool_t *pool, void *item,
    ngx_str_t *value);
void *ngx_http_sse_json_parse(ngx_pool_t *pool, u_char *text, size_t len,
    ngx_str_t *err);
ngx_int_t ngx_http_sse_json_member(ngx_pool_t *pool, void *object,
    const char *name, const char *alias, void **member, const char **err);
ngx_int_t ngx_http_sse_json_time(void *item, double min, double max,
    ngx_uint_t whole, time_t *t);
ngx_int_t ngx_http_sse_json_strings(ngx_pool_t *pool, void *item,
    ngx_array_t *names);
u_char *ngx_http_sse_parse_id(u_char *p, u_char *end, uint64_t *id);
ngx_int_t ngx_http_sse_check_message(ngx_http_sse_pmsg_t *m,
    size_t max_size, ngx_str_t *err);
ngx_int_t ngx_http_sse_channel_valid(ngx_str_t *name);
ngx_int_t ngx_http_sse_split_channels(ngx_str_t *value, ngx_array_t *names,
    ngx_str_t *err);
ngx_int_t ngx_http_sse_parse_token_request(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_uint_t json, ngx_str_t *user, ngx_array_t *channels,
    time_t *ttl, ngx_str_t *err);

/* tokens and keys: ngx_http_sse_jwt.c (no request objects) */
ngx_int_t ngx_http_sse_jwt_verify(ngx_pool_t *pool, ngx_str_t *token,
    ngx_str_t *secret, time_t now, ngx_http_sse_jwt_t *jwt, const char **err);
ngx_uint_t ngx_http_sse_jwt_allows(ngx_http_sse_jwt_t *jwt,
    ngx_str_t *channel);
ngx_int_t ngx_http_sse_jwt_sign(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *user, ngx_str_t *channels, ngx_uint_t nchannels, time_t now,
    time_t exp, ngx_str_t *token);
ngx_int_t ngx_http_sse_key_digest(u_char *key, size_t len, u_char *digest);
ngx_uint_t ngx_http_sse_key_match(ngx_array_t *digests, u_char *digest);

/* access: ngx_http_sse_auth.c */
ngx_int_t ngx_http_sse_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_sse_auth_api_key(ngx_http_request_t *r);
ngx_int_t ngx_http_sse_auth_require_key(ngx_http_request_t *r);
ngx_int_t ngx_http_sse_auth_subscriber(ngx_http_request_t *r,
    ngx_array_t *names, ngx_str_t *user, time_t *exp, const char **err);
ngx_int_t ngx_http_sse_token_handler(ngx_http_request_t *r);
char *ngx_http_sse_conf_api_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sse_conf_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* status: ngx_http_sse_status.c */
ngx_int_t ngx_http_sse_status_handler(ngx_http_request_t *r);

/* sharing a zone between servers: ngx_http_sse_redis.c */
char *ngx_http_sse_redis_conf(ngx_conf_t *cf, ngx_http_sse_zone_t *zone,
    ngx_str_t *value);
char *ngx_http_sse_redis_conf_done(ngx_conf_t *cf, ngx_http_sse_zone_t *zone);
ngx_int_t ngx_http_sse_redis_init_process(ngx_cycle_t *cycle,
    ngx_array_t *zones);
void ngx_http_sse_redis_exit_process(ngx_array_t *zones);

/* SSE and JSON text: ngx_http_sse_format.c (no request objects) */
size_t ngx_http_sse_frame_size(uint64_t id, ngx_str_t *event,
    ngx_str_t *data);
u_char *ngx_http_sse_frame_write(u_char *p, uint64_t id, ngx_str_t *event,
    ngx_str_t *data);
size_t ngx_http_sse_json_escape_size(ngx_str_t *s);
u_char *ngx_http_sse_json_escape(u_char *p, ngx_str_t *s);
ngx_int_t ngx_http_sse_text_build(ngx_pool_t *pool,
    ngx_http_sse_text_pt write, void *data, ngx_str_t *out);
void ngx_http_sse_text_put(ngx_http_sse_text_t *t, const char *text);
void ngx_http_sse_text_escaped(ngx_http_sse_text_t *t, ngx_str_t *s);
void ngx_http_sse_text_number(ngx_http_sse_text_t *t, uint64_t n);

/* JSON replies: ngx_http_sse_error.c */
ngx_int_t ngx_http_sse_error_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_sse_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);
ngx_int_t ngx_http_sse_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body);
ngx_int_t ngx_http_sse_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);

/* what the handlers read from a request: ngx_http_sse_request.c */
ngx_int_t ngx_http_sse_complex_value(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_str_t *value);
ngx_int_t ngx_http_sse_header_value(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_http_sse_ctx_t *ngx_http_sse_request_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_sse_request_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_uint_t ngx_http_sse_content_type_is(ngx_http_request_t *r,
    const char *type, size_t len);


extern ngx_module_t  ngx_http_sse_module;


#endif /* _NGX_HTTP_SSE_MODULE_H_INCLUDED_ */
