
/*
 * The shared-memory store's layout: channels and messages as they lie in
 * an sse_zone.  Included by ngx_http_sse_channel.c only: other files hold
 * pointers to them and read them through the store's functions
 * (ngx_http_sse_module.h).
 */


#ifndef _NGX_HTTP_SSE_SHM_H_INCLUDED_
#define _NGX_HTTP_SSE_SHM_H_INCLUDED_


#include "ngx_http_sse_module.h"


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


#endif /* _NGX_HTTP_SSE_SHM_H_INCLUDED_ */
