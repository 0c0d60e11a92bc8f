
/*
 * The store interface: all that the rest of the module asks of a zone,
 * whichever backend keeps it.  Handlers, the stream, the wake-ups and the
 * backends reach a zone through this header only; the shared memory's
 * layout is private to ngx_http_sse_channel.c (ngx_http_sse_shm.h).
 *
 * Every zone keeps its channels, history and subscribers in its shared
 * memory.  The shared-memory backend is that alone; the Redis backend
 * (redis=) keeps the log in Redis, numbers messages there, and mirrors the
 * log into the zone's shared memory, so both read the same way.  Hence:
 *
 * 1. Operations a backend answers, asynchronous: publish, info, delete.
 *    An ngx_http_sse_op_t that the caller fills in and passes to
 *    ngx_http_sse_store_start().  A backend either completes it at once
 *    (the shared-memory store: NGX_OK, op->status set, op->handler not
 *    called) or later (Redis: NGX_AGAIN, then op->handler(op) from the
 *    event loop, never from inside the start call).  NGX_ERROR: no memory,
 *    nothing started.  They are what differs per backend (the backend
 *    struct): where ids come from, and the subscriber counts in their
 *    results (info's, and a publish's per channel), to which Redis adds
 *    the other servers' subscribers.  The caller builds the reply from
 *    op->status and the results, the same way for every backend
 *    (ngx_http_sse_store_reply, ngx_http_sse_error.c).
 *
 * 2. Subscribe, read since an id, delivery, stats: synchronous, one
 *    implementation for both backends (the zone's shared memory, which
 *    Redis mirrors into), not in the backend struct.
 *
 * 3. What the backends and the wake-ups use to keep the zone (mirroring,
 *    counts to report, worker slots): synchronous, for no handler.
 *
 * Two hooks let the layers above learn what the store did without the
 * store calling up into them: zone->arrived (messages were appended: ring
 * these workers), installed by the wake-ups, and zone->changed (this
 * worker's subscribers came or went), installed by a backend that reports
 * them elsewhere.
 */


#ifndef _NGX_HTTP_SSE_STORE_H_INCLUDED_
#define _NGX_HTTP_SSE_STORE_H_INCLUDED_


#include "ngx_http_sse_module.h"


/*
 * A subscriber's place in the history of one of its channels (process
 * memory).  msg is a hint, never dereferenced unless msg_id is above the
 * channel's dropped_id: messages leave a history oldest first, so it is
 * still kept then.
 */
struct ngx_http_sse_hpos_s {
    ngx_http_sse_msg_t         *msg;         /* the last one passed */
    uint64_t                    msg_id;
    uint64_t                    id;          /* all up to this id passed */
    uint64_t                    gap_from;    /* an sse_gap to send: the id */
    uint64_t                    gap_oldest;  /* ... and the oldest kept; 0 */
};


/* where a new subscriber starts in history */
typedef struct {
    uint64_t                    last_id;     /* resume after this id */
    ngx_uint_t                  resume;      /* a Last-Event-ID was given */
    ngx_uint_t                  replay;      /* without one: last N */
    ngx_str_t                  *user;        /* for targeted messages */
    ngx_http_sse_hpos_t        *pos;         /* out: one per channel */
    ngx_uint_t                  catchup;     /* out: there is history to send */
} ngx_http_sse_since_t;


/* one thing read from history: a message, or a gap (msg NULL) */
typedef struct {
    ngx_http_sse_msg_t         *msg;
    ngx_uint_t                  channel;     /* index in the subscriber's */
    uint64_t                    id;          /* a gap: the oldest kept id */
    uint64_t                    from;        /* a gap: the last id passed */
    ngx_uint_t                  visible;     /* to the subscriber's user */
} ngx_http_sse_hitem_t;


/* a batch of history read for a subscriber, in id order */
typedef struct {
    ngx_http_sse_hitem_t       *items;
    ngx_uint_t                  nitems;      /* in: room; out: read */
    size_t                      budget;      /* bytes, roughly */
    ngx_str_t                  *user;
    uint64_t                    start_id;    /* out: live after this id */
    unsigned                    end:1;       /* out: the newest is read */
    unsigned                    reading:1;   /* out: call store_read_done */
} ngx_http_sse_hread_t;


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


/* a message as the store hands it to a stream (no shared layout) */
typedef struct {
    ngx_http_sse_msg_t         *msg;         /* the store's, for visible() */
    ngx_http_sse_channel_t     *channel;
    uint64_t                    id;
    ngx_str_t                   event;
    ngx_str_t                   data;
    unsigned                    delete:1;    /* marker: channel deleted */
    unsigned                    lost:1;      /* marker: ids up to id lost */
} ngx_http_sse_mview_t;


/* the messages a wake-up hands to this worker, oldest first */
typedef struct {
    ngx_http_sse_msg_t         *next;        /* NULL: no more */
    ngx_http_sse_msg_t         *last;
} ngx_http_sse_pending_t;


/* a zone's figures, for sse_status */
typedef struct {
    ngx_uint_t                  channels;
    ngx_uint_t                  subscribers;
    ngx_uint_t                  messages;
    ngx_uint_t                  workers;
    ngx_atomic_uint_t           published;
    ngx_atomic_uint_t           delivered;
    ngx_atomic_uint_t           losses;      /* with a backend's mirror */
    ngx_atomic_uint_t           lost_ids;
    size_t                      size;
    size_t                      used;
} ngx_http_sse_stats_t;


/*
 * 1. Operations a backend answers
 */

#define NGX_HTTP_SSE_OP_PUBLISH          1
#define NGX_HTTP_SSE_OP_INFO             2
#define NGX_HTTP_SSE_OP_DELETE           3

/* op->status */
#define NGX_HTTP_SSE_STORE_OK            0
#define NGX_HTTP_SSE_STORE_UNKNOWN       1   /* no such channel */
#define NGX_HTTP_SSE_STORE_FULL          2   /* no room in the zone */
#define NGX_HTTP_SSE_STORE_UNAVAILABLE   3   /* the backend cannot answer */
#define NGX_HTTP_SSE_STORE_REFUSED       4   /* ... answered with an error */


typedef struct ngx_http_sse_op_s  ngx_http_sse_op_t;

typedef void (*ngx_http_sse_op_done_pt)(ngx_http_sse_op_t *op);


struct ngx_http_sse_op_s {
    ngx_uint_t                  type;        /* NGX_HTTP_SSE_OP_* */
    ngx_http_sse_zone_t        *zone;
    ngx_pool_t                 *pool;        /* lives until completion */
    ngx_log_t                  *log;

    /* publish: in msgs, out res (one per message and channel) */
    ngx_http_sse_pmsg_t        *msgs;
    ngx_uint_t                  nmsgs;
    ngx_http_sse_presult_t     *res;
    ngx_uint_t                  nres;

    /* info, delete: in channel (info.channel), out info */
    ngx_http_sse_info_t         info;

    ngx_uint_t                  status;      /* NGX_HTTP_SSE_STORE_* */
    unsigned                    as_array:1;  /* publish: reply an array */

    ngx_http_sse_op_done_pt     handler;     /* a later completion */
    void                       *data;
};


/* what a backend fills in: the operations whose answer differs */
struct ngx_http_sse_backend_s {
    const char                 *name;        /* in errors: "redis" */
    ngx_int_t                 (*publish)(ngx_http_sse_op_t *op);
    ngx_int_t                 (*info)(ngx_http_sse_op_t *op);
    ngx_int_t                 (*delete)(ngx_http_sse_op_t *op);
};


ngx_int_t ngx_http_sse_store_start(ngx_http_sse_op_t *op);

/* the reply to an operation: ngx_http_sse_error.c */
ngx_int_t ngx_http_sse_store_reply(ngx_http_request_t *r,
    ngx_http_sse_op_t *op);

/* the shared-memory backend, which every zone has unless another is set */
extern ngx_http_sse_backend_t  ngx_http_sse_shm_backend;


/*
 * 2. Subscribe, read since an id, delivery, stats: the same for every
 * backend, done at once on the zone's shared memory.
 */

/*
 * Subscribes this worker to channels (pinned in channels[]), and finds
 * where each starts in history (since).  NGX_OK; NGX_BUSY:
 * sse_max_subscribers reached; NGX_ABORT: a new channel would take the
 * zone past its share for channels without messages; NGX_DECLINED: the
 * zone is full.  Calls zone->changed.
 */
ngx_int_t ngx_http_sse_store_subscribe(ngx_http_sse_zone_t *zone,
    ngx_str_t *names, ngx_uint_t n, ngx_uint_t max_subscribers,
    ngx_http_sse_channel_t **channels, ngx_http_sse_since_t *since,
    uint64_t *start_id, ngx_log_t *log);
void ngx_http_sse_store_unsubscribe(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t **channels, ngx_uint_t n);

/*
 * Read since an id: the next batch of a subscriber's history (gaps and
 * kept messages, in id order); the messages stay valid without the lock
 * until ngx_http_sse_store_read_done() when hr->reading is set.
 */
ngx_int_t ngx_http_sse_store_read(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t **channels, ngx_http_sse_hpos_t *pos,
    ngx_uint_t n, ngx_http_sse_hread_t *hr);
void ngx_http_sse_store_read_done(ngx_http_sse_zone_t *zone);

/* delivery: the messages a wake-up brings to this worker, oldest first */
ngx_int_t ngx_http_sse_store_pending(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pending_t *p);
ngx_int_t ngx_http_sse_store_pending_next(ngx_http_sse_pending_t *p,
    ngx_http_sse_mview_t *m);
void ngx_http_sse_store_seen(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pending_t *p);

/* a message and a channel, as a stream reads them */
void ngx_http_sse_store_view(ngx_http_sse_msg_t *msg,
    ngx_http_sse_mview_t *m);
ngx_uint_t ngx_http_sse_msg_visible(ngx_http_sse_msg_t *msg,
    ngx_str_t *user);
void ngx_http_sse_store_channel_name(ngx_http_sse_channel_t *ch,
    ngx_str_t *name);

/* stats: this server's figures of the zone (sse_status) */
void ngx_http_sse_store_delivered(ngx_http_sse_zone_t *zone, ngx_uint_t n);
void ngx_http_sse_store_stats(ngx_http_sse_zone_t *zone,
    ngx_http_sse_stats_t *st);


/*
 * 3. Keeping the zone: for the backends, the wake-ups and start-up.
 */

/* the zone (sse_zone), its smallest size */
ngx_int_t ngx_http_sse_zone_add(ngx_conf_t *cf, ngx_http_sse_zone_t *zone,
    size_t size);
size_t ngx_http_sse_store_min_size(void);

/* a worker's slot (start-up, exit) and its wake-up bell (the wake-ups) */
ngx_int_t ngx_http_sse_store_claim_slot(ngx_http_sse_zone_t *zone,
    uint32_t nonce, ngx_log_t *log);
void ngx_http_sse_store_release_slot(ngx_http_sse_zone_t *zone);
ngx_int_t ngx_http_sse_store_answer_bell(ngx_http_sse_zone_t *zone);

/* the shared-memory backend's operations on the zone */
ngx_int_t ngx_http_sse_store_publish(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, ngx_http_sse_presult_t *res,
    ngx_log_t *log);
ngx_int_t ngx_http_sse_store_info(ngx_http_sse_zone_t *zone, ngx_str_t *name,
    ngx_http_sse_info_t *info);
ngx_int_t ngx_http_sse_store_delete(ngx_http_sse_zone_t *zone,
    ngx_str_t *name, uint64_t id, ngx_http_sse_info_t *info, ngx_log_t *log);

/* a mirror of a backend's log: messages numbered there, losses, progress */
ngx_int_t ngx_http_sse_store_insert(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, uint64_t *ids, uint64_t *lost,
    ngx_log_t *log);
void ngx_http_sse_store_count_lost(ngx_http_sse_zone_t *zone, uint64_t ids);
uint64_t ngx_http_sse_store_last_id(ngx_http_sse_zone_t *zone);
void ngx_http_sse_store_set_behind(ngx_http_sse_zone_t *zone,
    ngx_uint_t behind);

/* this server's subscriber counts, as a backend reports them elsewhere */
uint64_t ngx_http_sse_store_server_id(ngx_http_sse_zone_t *zone);
ngx_int_t ngx_http_sse_store_counts(ngx_http_sse_zone_t *zone,
    ngx_pool_t *pool, ngx_array_t *counts);
ngx_uint_t ngx_http_sse_store_sync_due(ngx_http_sse_zone_t *zone,
    ngx_msec_t interval);
void ngx_http_sse_store_synced(ngx_http_sse_zone_t *zone);


#endif /* _NGX_HTTP_SSE_STORE_H_INCLUDED_ */
