
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
typedef struct ngx_http_sse_redis_s    ngx_http_sse_redis_t;


/* per channel and worker slot: subscribers, for crash recovery */
typedef struct ngx_http_sse_chslot_s  ngx_http_sse_chslot_t;

struct ngx_http_sse_chslot_s {
    ngx_http_sse_chslot_t      *next;
    ngx_uint_t                  slot;
    ngx_uint_t                  count;
};


/* a channel, in shared memory */
struct ngx_http_sse_channel_s {
    ngx_rbtree_node_t           node;        /* key: crc32 of the name */
    ngx_queue_t                 history;     /* msg->chq, oldest first */
    ngx_http_sse_chslot_t      *slots;
    ngx_uint_t                  messages;
    ngx_uint_t                  subscribers;
    ngx_uint_t                  refs;        /* messages pointing here */
    uint64_t                    last_id;
    uint64_t                    dropped_id;  /* newest id no longer kept */
    unsigned                    deleted:1;
    size_t                      len;
    u_char                      name[1];
};


/* a message, in shared memory */
struct ngx_http_sse_msg_s {
    ngx_queue_t                 log;         /* pending delivery, zone-wide */
    ngx_queue_t                 all;         /* history, zone-wide */
    ngx_queue_t                 chq;         /* history of its channel */
    ngx_http_sse_channel_t     *channel;
    uint64_t                    id;
    ngx_msec_t                  expires;     /* 0: never */
    size_t                      data_len;
    uint16_t                    event_len;
    uint16_t                    user_len;
    unsigned                    in_log:1;
    unsigned                    in_history:1;
    unsigned                    delete:1;    /* marker: channel deleted */
    u_char                      text[1];     /* event, user, data */
};


/* a worker's place in a zone, in shared memory */
typedef struct {
    ngx_pid_t                   pid;
    ngx_uint_t                  active;      /* local subscribers */
    uint64_t                    cursor;      /* last id handed out */
    ngx_http_sse_msg_t         *next;        /* first unseen, or NULL */
    ngx_atomic_t                bell;        /* a wake-up is on its way */
    uint32_t                    nonce;       /* names the wake-up socket */
} ngx_http_sse_slot_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 log;
    ngx_queue_t                 all;
    uint64_t                    last_id;
    uint64_t                    forgotten_id; /* dropped_id of freed ones */
    ngx_uint_t                  channels;
    ngx_uint_t                  messages;
    ngx_uint_t                  subscribers;
    ngx_atomic_t                published;
    ngx_atomic_t                delivered;
    time_t                      full_logged;
    uint64_t                    server_id;   /* with redis=: this server */
    ngx_atomic_t                redis_synced; /* msec of the last count sync */
    size_t                      idle_size;   /* channels without messages */
    time_t                      idle_logged;
    ngx_http_sse_slot_t         slots[NGX_HTTP_SSE_MAX_SLOTS];
} ngx_http_sse_shctx_t;


/* a channel seen by one worker: its local subscribers */
typedef struct {
    ngx_rbtree_node_t           node;        /* key: the shared channel */
    ngx_queue_t                 links;
    ngx_http_sse_channel_t     *channel;
} ngx_http_sse_lchannel_t;


/* one subscription of one request to one channel */
typedef struct {
    ngx_queue_t                 queue;
    ngx_http_sse_ctx_t         *ctx;
    ngx_http_sse_lchannel_t    *lchannel;
} ngx_http_sse_link_t;


/* a zone, as one process (one cycle) sees it */
typedef struct {
    ngx_http_sse_shctx_t       *sh;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *shm_zone;
    ngx_str_t                   name;
    ngx_uint_t                  history;
    ngx_msec_t                  ttl;
    ngx_http_sse_redis_t       *redis;       /* NULL without redis= */

    /* process-local */
    ngx_http_sse_slot_t        *slot;
    ngx_uint_t                  slot_index;
    ngx_rbtree_t                lchannels;
    ngx_rbtree_node_t           lsentinel;
    ngx_uint_t                  nlocal;
} ngx_http_sse_zone_t;


typedef struct {
    ngx_array_t                 zones;       /* ngx_http_sse_zone_t * */
    ngx_http_complex_value_t   *arg_token;   /* $arg_token */
    ngx_http_complex_value_t   *cookie_token; /* $cookie_sse_token */
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


/* what a verified subscriber token says */
typedef struct {
    ngx_str_t                   user;
    ngx_str_t                  *channels;
    ngx_uint_t                  nchannels;
    time_t                      exp;
    unsigned                    any_channel:1;
} ngx_http_sse_jwt_t;


/* what a new subscriber receives from history, and how */
typedef struct {
    uint64_t                    last_id;     /* resume after this id */
    ngx_uint_t                  resume;      /* a Last-Event-ID was given */
    ngx_uint_t                  replay;      /* without one: last N */
    ngx_str_t                  *user;        /* for targeted messages */
    ngx_int_t                 (*history)(void *data,
                                         ngx_http_sse_msg_t *msg);
    ngx_int_t                 (*gap)(void *data,
                                     ngx_http_sse_channel_t *ch,
                                     uint64_t last_id, uint64_t oldest);
    void                       *data;
} ngx_http_sse_since_t;


/* a message as a publisher hands it over (process memory) */
typedef struct {
    ngx_str_t                  *channels;
    ngx_uint_t                  nchannels;
    ngx_str_t                   event;
    ngx_str_t                   user;
    ngx_str_t                   data;
} ngx_http_sse_pmsg_t;


/* what a publish of one message on one channel did */
typedef struct {
    uint64_t                    id;
    ngx_str_t                   channel;
    ngx_uint_t                  subscribers;
} ngx_http_sse_presult_t;


typedef struct {
    ngx_str_t                   channel;
    ngx_uint_t                  subscribers;
    ngx_uint_t                  messages;
    uint64_t                    last_id;
} ngx_http_sse_info_t;


/* an event formatted once per worker, shared by its subscribers */
typedef struct {
    ngx_uint_t                  refs;
    size_t                      len;
    u_char                      data[1];
} ngx_http_sse_frame_t;


/* an output buffer that holds a frame */
typedef struct {
    ngx_buf_t                   buf;
    ngx_http_sse_frame_t       *frame;
} ngx_http_sse_obuf_t;


/* a subscriber request */
struct ngx_http_sse_ctx_s {
    ngx_http_request_t         *request;
    ngx_http_sse_zone_t        *zone;
    ngx_http_sse_channel_t    **channels;
    ngx_uint_t                  nchannels;
    ngx_http_sse_link_t        *links;
    ngx_uint_t                  nlinks;
    uint64_t                    start_id;
    ngx_str_t                   user;        /* authenticated user */
    time_t                      expires;     /* of the token, or 0 */
    ngx_queue_t                 all;         /* the worker's streams */

    ngx_chain_t                *out;         /* queued, not yet passed on */
    ngx_chain_t               **last_out;
    ngx_chain_t                *busy;        /* passed on, not yet sent */
    ngx_chain_t                *free;
    size_t                      pending;

    ngx_event_t                 timer;
    ngx_msec_t                  last_write;
    ngx_msec_t                  deadline;    /* 0: none */

    ngx_queue_t                 dirty;       /* in the worker's flush list */

    ngx_str_t                   error_page;  /* JSON for nginx's page */

    unsigned                    registered:1;
    unsigned                    error_page_on:1;
    unsigned                    in_dirty:1;
    unsigned                    end_pending:1;
    unsigned                    ending:1;
    unsigned                    overflow:1;
};


/* channel store: ngx_http_sse_channel.c */
ngx_int_t ngx_http_sse_zone_add(ngx_conf_t *cf, ngx_http_sse_zone_t *zone,
    size_t size);
ngx_int_t ngx_http_sse_store_publish(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, ngx_http_sse_presult_t *res,
    ngx_log_t *log);
ngx_int_t ngx_http_sse_store_subscribe(ngx_http_sse_zone_t *zone,
    ngx_str_t *names, ngx_uint_t n, ngx_uint_t max_subscribers,
    ngx_http_sse_channel_t **channels, ngx_http_sse_since_t *since,
    uint64_t *start_id, ngx_log_t *log);
void ngx_http_sse_store_unsubscribe(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t **channels, ngx_uint_t n);
ngx_int_t ngx_http_sse_store_info(ngx_http_sse_zone_t *zone, ngx_str_t *name,
    ngx_http_sse_info_t *info);
ngx_int_t ngx_http_sse_store_insert(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, uint64_t *ids, ngx_log_t *log);
ngx_int_t ngx_http_sse_store_delete(ngx_http_sse_zone_t *zone,
    ngx_str_t *name, uint64_t id, ngx_http_sse_info_t *info, ngx_log_t *log);
ngx_uint_t ngx_http_sse_msg_visible(ngx_http_sse_msg_t *msg,
    ngx_str_t *user);
ngx_int_t ngx_http_sse_store_claim_slot(ngx_http_sse_zone_t *zone,
    uint32_t nonce, ngx_log_t *log);
void ngx_http_sse_store_release_slot(ngx_http_sse_zone_t *zone);
ngx_http_sse_msg_t *ngx_http_sse_store_pending(ngx_http_sse_zone_t *zone,
    ngx_http_sse_msg_t **last);
void ngx_http_sse_store_seen(ngx_http_sse_zone_t *zone,
    ngx_http_sse_msg_t *last);
uint64_t ngx_http_sse_store_last_id(ngx_http_sse_zone_t *zone);
ngx_int_t ngx_http_sse_store_counts(ngx_http_sse_zone_t *zone,
    ngx_pool_t *pool, ngx_array_t *counts);

/* wake-ups between workers: ngx_http_sse_ipc.c */
ngx_int_t ngx_http_sse_ipc_init(ngx_cycle_t *cycle);
void ngx_http_sse_ipc_exit(ngx_cycle_t *cycle);
void ngx_http_sse_ipc_ring(ngx_http_sse_slot_t **slots, ngx_uint_t n,
    ngx_log_t *log);
void ngx_http_sse_ipc_watch(void);

/* subscriber streams: ngx_http_sse_stream.c */
ngx_int_t ngx_http_sse_subscribe_handler(ngx_http_request_t *r);
void ngx_http_sse_stream_deliver(ngx_http_sse_zone_t *zone);
void ngx_http_sse_stream_init(void);
void ngx_http_sse_stream_end_all(void);
ngx_uint_t ngx_http_sse_stream_count(void);

/* publishers: ngx_http_sse_publish.c (no request objects: fuzzable) */
ngx_int_t ngx_http_sse_parse_json(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_str_t *default_channel, ngx_array_t *msgs, ngx_str_t *err);
ngx_int_t ngx_http_sse_parse_form(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_str_t *default_channel, ngx_array_t *msgs,
    ngx_str_t *err);
ngx_int_t ngx_http_sse_form_decode(u_char *src, size_t len, ngx_str_t *dst);
ngx_int_t ngx_http_sse_json_copy(ngx_pool_t *pool, void *item,
    ngx_str_t *value);
ngx_int_t ngx_http_sse_check_message(ngx_http_sse_pmsg_t *m,
    size_t max_size, ngx_str_t *err);
ngx_int_t ngx_http_sse_channel_valid(ngx_str_t *name);
ngx_int_t ngx_http_sse_split_channels(ngx_str_t *value, ngx_array_t *names,
    ngx_str_t *err);

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
ngx_int_t ngx_http_sse_parse_token_request(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_uint_t json, ngx_str_t *user, ngx_array_t *channels,
    time_t *ttl, ngx_str_t *err);

/* access: ngx_http_sse_auth.c */
ngx_int_t ngx_http_sse_auth_api_key(ngx_http_request_t *r);
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
ngx_int_t ngx_http_sse_redis_init_process(ngx_cycle_t *cycle);
void ngx_http_sse_redis_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_sse_redis_publish(ngx_http_request_t *r,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, ngx_uint_t as_array);
ngx_int_t ngx_http_sse_redis_info(ngx_http_request_t *r, ngx_str_t *channel);
ngx_int_t ngx_http_sse_redis_delete(ngx_http_request_t *r,
    ngx_str_t *channel);
void ngx_http_sse_redis_changed(ngx_http_sse_zone_t *zone);

/* SSE and JSON text: ngx_http_sse_format.c (no request objects) */
size_t ngx_http_sse_frame_size(uint64_t id, ngx_str_t *event,
    ngx_str_t *data);
u_char *ngx_http_sse_frame_write(u_char *p, uint64_t id, ngx_str_t *event,
    ngx_str_t *data);
size_t ngx_http_sse_json_escape_size(ngx_str_t *s);
u_char *ngx_http_sse_json_escape(u_char *p, ngx_str_t *s);

/* JSON replies: ngx_http_sse_error.c */
ngx_int_t ngx_http_sse_error_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_sse_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);
ngx_int_t ngx_http_sse_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body);
ngx_int_t ngx_http_sse_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);

/* handlers: ngx_http_sse_module.c */
ngx_int_t ngx_http_sse_complex_value(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_str_t *value);
ngx_int_t ngx_http_sse_header_value(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_sse_request_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_uint_t ngx_http_sse_content_type_is(ngx_http_request_t *r,
    const char *type, size_t len);
ngx_http_sse_main_conf_t *ngx_http_sse_cycle_main_conf(ngx_cycle_t *cycle);
ngx_int_t ngx_http_sse_publish_reply(ngx_http_request_t *r,
    ngx_http_sse_presult_t *res, ngx_uint_t n, ngx_uint_t as_array);
ngx_int_t ngx_http_sse_info_reply(ngx_http_request_t *r,
    ngx_http_sse_info_t *info);
ngx_int_t ngx_http_sse_delete_reply(ngx_http_request_t *r,
    ngx_str_t *channel, ngx_uint_t subscribers);


extern ngx_module_t  ngx_http_sse_module;


#endif /* _NGX_HTTP_SSE_MODULE_H_INCLUDED_ */
