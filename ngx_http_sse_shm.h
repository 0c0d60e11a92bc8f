
/*
 * The shared-memory store's layout: the zone's root, the workers' slots,
 * channels and messages as they lie in an sse_zone.  Included by
 * ngx_http_sse_channel.c only: other files hold pointers to them and reach
 * them through the store's functions (ngx_http_sse_store.h).
 */


#ifndef _NGX_HTTP_SSE_SHM_H_INCLUDED_
#define _NGX_HTTP_SSE_SHM_H_INCLUDED_


#include "ngx_http_sse_store.h"


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
    unsigned                    lost:1;      /* marker: ids up to id lost
                                                to this server (redis=) */
    u_char                      text[1];     /* event, user, data */
};


/* a worker's place in a zone, in shared memory */
struct ngx_http_sse_slot_s {
    ngx_pid_t                   pid;
    ngx_uint_t                  active;      /* local subscribers */
    uint64_t                    cursor;      /* last id handed out */
    ngx_http_sse_msg_t         *next;        /* first unseen, or NULL */
    ngx_atomic_t                bell;        /* a wake-up is on its way */
    uint32_t                    nonce;       /* names the wake-up socket */
    uint64_t                    reading;     /* 0, or retired + 1 when the
                                                worker began to read history
                                                outside the lock */
};


/* the zone's root (shpool->data) */
struct ngx_http_sse_shctx_s {
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
    uint64_t                    server_id;   /* names this server */
    ngx_atomic_t                synced;      /* msec of the last report of
                                                the counts to a backend */
    ngx_atomic_t                behind;      /* a mirror may lack ids its
                                                backend has: not caught up */
    ngx_atomic_t                losses;      /* ids lost to this server (a
                                                backend's mirror): how often,
                                                and how many, as counted */
    ngx_atomic_t                lost_ids;
    ngx_queue_t                 limbo;       /* msg->all: freed once no
                                                worker may still read them */
    uint64_t                    retired;     /* messages put in limbo */
    uint64_t                    unlimbo;     /* ... and freed from there */
    ngx_uint_t                  nreading;    /* slots reading history */
    size_t                      idle_size;   /* channels without messages */
    time_t                      idle_logged;
    ngx_uint_t                  nslots;      /* every slot in use is
                                                below: scans stop there */
    ngx_http_sse_slot_t         slots[NGX_HTTP_SSE_MAX_SLOTS];
};


#endif /* _NGX_HTTP_SSE_SHM_H_INCLUDED_ */
