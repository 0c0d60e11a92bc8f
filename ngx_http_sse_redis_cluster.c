
/*
 * Redis Cluster (redis+cluster://, rediss+cluster://): which primary holds
 * the zone's slot, asked and followed for the data connections of a worker.
 *
 * Every key of a zone has the hash tag {NAME}: the zone lives in one slot,
 * CRC16(NAME) mod 16384, on one primary.  Each worker keeps, per URL, one
 * connection of its own to a cluster node (the URL's seeds, then the nodes
 * the last answer named, taken in turn after each failure) that asks
 * CLUSTER SLOTS.  A data connection's pick hook gives the slot's primary
 * when it is known, or NGX_AGAIN: the node is asked, and the connection is
 * made when it answers (set-up checks ROLE: a replica is not taken for the
 * primary).  The primary is asked for again whenever a data connection
 * fails, and whenever a reply says the slot is elsewhere (MOVED, ASK) or
 * not writable there (READONLY, CLUSTERDOWN, TRYAGAIN): that connection is
 * dropped with its commands unanswered, which the protocol answers with
 * 503; a command that got such a reply was not run.  When the answer names
 * another primary (a failover, or the slot was moved), the connections to
 * the old one are dropped and made again to the new one.
 */


#include "ngx_http_sse_redis.h"


#define NGX_HTTP_SSE_CLUSTER_TIMEOUT  3000
#define NGX_HTTP_SSE_CLUSTER_POLL     500
#define NGX_HTTP_SSE_CLUSTER_NODES    32
#define NGX_HTTP_SSE_CLUSTER_SLOTS    16384


struct ngx_http_sse_cluster_s {
    ngx_http_sse_redis_peer_t    *peer;
    ngx_log_t                    *log;
    ngx_http_sse_rconn_t          query;
    ngx_http_sse_rfind_t          find;        /* the data connections */
    ngx_uint_t                    slot;
    ngx_event_t                   qtimer;      /* the query's answer */
    ngx_event_t                   poll;        /* asks again while a data
                                                  connection is down */

    ngx_http_sse_redis_node_t     asked;       /* the node asked now */
    ngx_http_sse_redis_node_t     nodes[NGX_HTTP_SSE_CLUSTER_NODES];
    ngx_uint_t                    nnodes;      /* from the last answer */

    unsigned                      asking:1;
    unsigned                      started:1;
    unsigned                      failing:1;   /* logged as failing */
};


static void ngx_http_sse_cluster_attach(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_cluster_detach(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_cluster_lost(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_cluster_poll(ngx_event_t *ev);
static const char *ngx_http_sse_cluster_redirect(ngx_http_sse_rconn_t *rc,
    redisReply *reply);
static ngx_uint_t ngx_http_sse_cluster_slot(ngx_str_t *name);
static ngx_int_t ngx_http_sse_cluster_pick(ngx_http_sse_rconn_t *rc);
static ngx_int_t ngx_http_sse_cluster_node(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_cluster_ask(ngx_http_sse_cluster_t *cl);
static void ngx_http_sse_cluster_asked(ngx_http_sse_cluster_t *cl);
static void ngx_http_sse_cluster_timeout(ngx_event_t *ev);
static const char *ngx_http_sse_cluster_connected(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_cluster_failed(ngx_http_sse_rconn_t *rc,
    const char *err);
static void ngx_http_sse_cluster_answer(ngx_http_sse_rconn_t *rc,
    void *reply, void *privdata);
static redisReply *ngx_http_sse_cluster_range(ngx_http_sse_cluster_t *cl,
    redisReply *r);
static ngx_int_t ngx_http_sse_cluster_learn(ngx_http_sse_redis_node_t *node,
    redisReply *r);
static void ngx_http_sse_cluster_set(ngx_http_sse_cluster_t *cl,
    ngx_http_sse_redis_node_t *primary);
static void ngx_http_sse_cluster_copy(ngx_http_sse_redis_node_t *dst,
    ngx_http_sse_redis_node_t *src);


/* installed on Cluster URLs' peers (ngx_http_sse_redis.c) */
ngx_http_sse_rconn_finder_t  ngx_http_sse_cluster_finder = {
    ngx_http_sse_cluster_attach,
    ngx_http_sse_cluster_detach,
    ngx_http_sse_cluster_lost,
    ngx_http_sse_cluster_redirect
};


/* the error replies that say the slot is not served here now */
static ngx_str_t  ngx_http_sse_cluster_elsewhere[] = {
    ngx_string("MOVED "),
    ngx_string("ASK "),
    ngx_string("READONLY "),
    ngx_string("CLUSTERDOWN "),
    ngx_string("TRYAGAIN "),
    ngx_null_string
};


/* a data connection of a cluster URL: the worker's cluster state */

static void
ngx_http_sse_cluster_attach(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_cluster_t     *cl;
    ngx_http_sse_redis_peer_t  *peer;

    peer = rc->peer;

    rc->pick = ngx_http_sse_cluster_pick;

    cl = peer->cluster;

    if (cl == NULL) {
        cl = ngx_calloc(sizeof(ngx_http_sse_cluster_t), rc->log);
        if (cl == NULL) {
            /* pick finds none: the connection is retried, and fails */
            return;
        }

        cl->peer = peer;
        cl->log = rc->log;
        cl->slot = ngx_http_sse_cluster_slot(&peer->zone);

        cl->query.lookup = 1;

        ngx_http_sse_rconn_init(&cl->query, peer, cl->log);

        cl->query.pick = ngx_http_sse_cluster_node;
        cl->query.connected = ngx_http_sse_cluster_connected;
        cl->query.failed = ngx_http_sse_cluster_failed;
        cl->query.data = cl;

        cl->poll.handler = ngx_http_sse_cluster_poll;
        cl->poll.data = cl;
        cl->poll.log = cl->log;
        cl->poll.cancelable = 1;

        cl->qtimer.handler = ngx_http_sse_cluster_timeout;
        cl->qtimer.data = cl;
        cl->qtimer.log = cl->log;
        cl->qtimer.cancelable = 1;

        peer->cluster = cl;
    }

    (void) ngx_http_sse_rfind_add(&cl->find, rc);
}


/* the worker closes its connection: the last one closes the query */

static void
ngx_http_sse_cluster_detach(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_cluster_t  *cl;

    cl = rc->peer->cluster;

    if (cl == NULL || ngx_http_sse_rfind_remove(&cl->find, rc)) {
        return;
    }

    if (cl->poll.timer_set) {
        ngx_del_timer(&cl->poll);
    }

    ngx_http_sse_rconn_close(&cl->query);

    ngx_http_sse_cluster_asked(cl);

    rc->peer->cluster = NULL;

    ngx_free(cl);
}


/*
 * A data connection failed: the primary may have moved.  It is asked again
 * before that connection retries, and every half second meanwhile, so that
 * a failover is followed as soon as the cluster has made it, whatever the
 * connection's back-off.
 */

static void
ngx_http_sse_cluster_lost(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_cluster_t  *cl;

    cl = rc->peer->cluster;

    if (cl == NULL) {
        return;
    }

    ngx_http_sse_rfind_lost(&cl->find);

    if (!cl->poll.timer_set && !ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&cl->poll, NGX_HTTP_SSE_CLUSTER_POLL);
    }
}


static void
ngx_http_sse_cluster_poll(ngx_event_t *ev)
{
    ngx_uint_t               i;
    ngx_http_sse_cluster_t  *cl;

    cl = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    for (i = 0; i < cl->find.nusers; i++) {
        if (cl->find.users[i]->c == NULL) {
            break;
        }
    }

    if (i == cl->find.nusers) {
        /* all connected (or connecting): nothing to follow */
        return;
    }

    ngx_http_sse_cluster_ask(cl);

    ngx_add_timer(ev, NGX_HTTP_SSE_CLUSTER_POLL);
}


/* an error reply on a data connection: "MOVED 3999 127.0.0.1:6381"... */

static const char *
ngx_http_sse_cluster_redirect(ngx_http_sse_rconn_t *rc, redisReply *reply)
{
    ngx_str_t  *e;

    for (e = ngx_http_sse_cluster_elsewhere; e->len; e++) {
        if (reply->len > e->len
            && ngx_strncmp(reply->str, e->data, e->len) == 0)
        {
            ngx_snprintf(rc->error, sizeof(rc->error) - 1, "%s%Z",
                         reply->str);
            rc->error[sizeof(rc->error) - 1] = '\0';
            return (char *) rc->error;
        }
    }

    return NULL;
}


/*
 * The slot of the zone's keys "sse:{NAME}:...": CRC16 (XMODEM: polynomial
 * 0x1021, initial 0) of the hash tag, the text between the first "{" and
 * the first "}" after it, mod 16384 (a NAME that starts with "}", which
 * would leave no tag, is refused at configuration)
 */

static ngx_uint_t
ngx_http_sse_cluster_slot(ngx_str_t *name)
{
    u_char      *p, *last;
    uint16_t     crc;
    ngx_uint_t   i;

    p = name->data;
    last = ngx_strlchr(p, name->data + name->len, '}');

    if (last == NULL) {
        last = name->data + name->len;
    }

    crc = 0;

    while (p < last) {
        crc ^= (uint16_t) (*p++ << 8);

        for (i = 0; i < 8; i++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc % NGX_HTTP_SSE_CLUSTER_SLOTS;
}


/* a data connection's address: the primary, or NGX_AGAIN while asked */

static ngx_int_t
ngx_http_sse_cluster_pick(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_cluster_t  *cl;

    cl = rc->peer->cluster;

    if (cl == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_sse_rfind_pick(&cl->find, rc) == NGX_OK) {
        return NGX_OK;
    }

    ngx_http_sse_cluster_ask(cl);

    return NGX_AGAIN;
}


/* the node to ask: the URL's seeds, then the nodes last heard of */

static ngx_int_t
ngx_http_sse_cluster_node(ngx_http_sse_rconn_t *rc)
{
    ngx_uint_t                  i, nseeds;
    ngx_http_sse_cluster_t     *cl;
    ngx_http_sse_redis_node_t  *node;
    ngx_http_sse_redis_addr_t  *seeds;

    cl = rc->data;

    seeds = cl->peer->addrs.elts;
    nseeds = cl->peer->addrs.nelts;

    i = rc->next % (nseeds + cl->nnodes);

    if (i < nseeds) {
        rc->addr = &seeds[i];
        return NGX_OK;
    }

    /* a copy: the list changes with each answer */

    node = &cl->nodes[i - nseeds];

    ngx_http_sse_cluster_copy(&cl->asked, node);

    rc->addr = &cl->asked.addr;

    return NGX_OK;
}


static void
ngx_http_sse_cluster_ask(ngx_http_sse_cluster_t *cl)
{
    size_t       argvlen[2];
    const char  *argv[2];

    if (!cl->started) {
        cl->started = 1;

        /* the query asks once connected */
        ngx_http_sse_rconn_connect(&cl->query);
        return;
    }

    if (cl->asking) {
        /* the answer comes, or the timer moves on to the next node */
        return;
    }

    argv[0] = "CLUSTER";
    argvlen[0] = sizeof("CLUSTER") - 1;
    argv[1] = "SLOTS";
    argvlen[1] = sizeof("SLOTS") - 1;

    if (ngx_http_sse_rconn_send(&cl->query, ngx_http_sse_cluster_answer, cl,
                                2, argv, argvlen)
        == NGX_OK)
    {
        cl->asking = 1;
        ngx_add_timer(&cl->qtimer, NGX_HTTP_SSE_CLUSTER_TIMEOUT);
    }

    /* not connected: asked when the query connection is up */
}


/* the question is answered, or its connection gone */

static void
ngx_http_sse_cluster_asked(ngx_http_sse_cluster_t *cl)
{
    cl->asking = 0;

    if (cl->qtimer.timer_set) {
        ngx_del_timer(&cl->qtimer);
    }
}


/* a node that took CLUSTER SLOTS and does not answer: the next is asked */

static void
ngx_http_sse_cluster_timeout(ngx_event_t *ev)
{
    ngx_http_sse_cluster_t  *cl;

    cl = ev->data;

    if (cl->asking && !ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_http_sse_rconn_drop(&cl->query, "no answer to CLUSTER SLOTS "
                                "in time");
    }
}


static const char *
ngx_http_sse_cluster_connected(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_cluster_t  *cl;

    cl = rc->data;

    ngx_http_sse_cluster_asked(cl);
    ngx_http_sse_cluster_ask(cl);

    return NULL;
}


/* one line when the nodes stop answering, none per retry */

static void
ngx_http_sse_cluster_failed(ngx_http_sse_rconn_t *rc, const char *err)
{
    ngx_http_sse_cluster_t  *cl;

    cl = rc->data;

    ngx_http_sse_cluster_asked(cl);

    if (cl->failing || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    cl->failing = 1;

    ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                  "sse_zone \"%V\": redis %V: cluster node %V failed (%s), "
                  "trying the next",
                  &cl->peer->zone, &cl->peer->url, &rc->addr->name, err);
}


/*
 * CLUSTER SLOTS: [[first, last, primary, replica...]...], each node
 * [ip, port, id...]: the nodes are kept to be asked next, the primary of
 * the zone's slot is taken
 */

static void
ngx_http_sse_cluster_answer(ngx_http_sse_rconn_t *rc, void *reply,
    void *privdata)
{
    redisReply                 *r, *e, *p;
    ngx_uint_t                  i, j, k, n;
    ngx_http_sse_cluster_t     *cl;
    ngx_http_sse_redis_node_t   primary, *node;

    cl = privdata;
    r = reply;

    ngx_http_sse_cluster_asked(cl);

    if (r == NULL) {
        return;
    }

    ngx_http_sse_rconn_replied(rc);

    if (r->type == REDIS_REPLY_ERROR) {
        ngx_snprintf(rc->error, sizeof(rc->error) - 1, "%s%Z", r->str);
        rc->error[sizeof(rc->error) - 1] = '\0';
        ngx_http_sse_rconn_drop(rc, (char *) rc->error);
        return;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        ngx_http_sse_rconn_drop(rc, "CLUSTER SLOTS: an unexpected reply");
        return;
    }

    n = 0;

    for (i = 0; i < r->elements; i++) {
        e = r->element[i];

        for (k = 2; e->type == REDIS_REPLY_ARRAY && k < e->elements; k++) {
            node = &cl->nodes[n];

            if (n == NGX_HTTP_SSE_CLUSTER_NODES
                || ngx_http_sse_cluster_learn(node, e->element[k]) != NGX_OK)
            {
                continue;
            }

            for (j = 0; j < n; j++) {
                if (cl->nodes[j].addr.socklen == node->addr.socklen
                    && ngx_memcmp(&cl->nodes[j].sockaddr, &node->sockaddr,
                                  node->addr.socklen)
                       == 0)
                {
                    break;
                }
            }

            n += (j == n);
        }
    }

    cl->nnodes = n;

    p = ngx_http_sse_cluster_range(cl, r);

    if (p == NULL) {
        ngx_snprintf(rc->error, sizeof(rc->error) - 1,
                     "slot %ui is served by no node%Z", cl->slot);
        rc->error[sizeof(rc->error) - 1] = '\0';
        ngx_http_sse_rconn_drop(rc, (char *) rc->error);
        return;
    }

    if (ngx_http_sse_cluster_learn(&primary, p) != NGX_OK) {
        ngx_http_sse_rconn_drop(rc, "a primary address that is not an IP "
                                    "address and port");
        return;
    }

    if (cl->failing) {
        cl->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                      "sse_zone \"%V\": redis %V: cluster node %V answers",
                      &cl->peer->zone, &cl->peer->url, &rc->addr->name);
    }

    ngx_http_sse_cluster_set(cl, &primary);
}


/* the primary of the range that holds the zone's slot, or NULL */

static redisReply *
ngx_http_sse_cluster_range(ngx_http_sse_cluster_t *cl, redisReply *r)
{
    redisReply  *e;
    ngx_uint_t   i;

    for (i = 0; i < r->elements; i++) {
        e = r->element[i];

        if (e->type == REDIS_REPLY_ARRAY && e->elements >= 3
            && e->element[0]->type == REDIS_REPLY_INTEGER
            && e->element[1]->type == REDIS_REPLY_INTEGER
            && (long long) cl->slot >= e->element[0]->integer
            && (long long) cl->slot <= e->element[1]->integer)
        {
            return e->element[2];
        }
    }

    return NULL;
}


/* a node of CLUSTER SLOTS, [ip, port, ...]; "" or "?": its address unknown */

static ngx_int_t
ngx_http_sse_cluster_learn(ngx_http_sse_redis_node_t *node, redisReply *r)
{
    u_char  *p, port[NGX_INT_T_LEN];

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_INTEGER)
    {
        return NGX_ERROR;
    }

    p = ngx_sprintf(port, "%L", (int64_t) r->element[1]->integer);

    node->addr.sockaddr = NULL;

    if (ngx_http_sse_redis_node_set(node, (u_char *) r->element[0]->str,
                                    r->element[0]->len, port, p - port)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The slot's primary, from an answer.  Changed (a failover, or the slot
 * moved): logged, the data connections to the old one dropped; the ones
 * waiting for it connect now.
 */

static void
ngx_http_sse_cluster_set(ngx_http_sse_cluster_t *cl,
    ngx_http_sse_redis_node_t *primary)
{
    u_char                 old[NGX_SOCKADDR_STRLEN + 1];
    ngx_http_sse_rfind_t  *f;

    f = &cl->find;

    f->known = 1;

    if (f->found && f->primary.addr.socklen == primary->addr.socklen
        && ngx_memcmp(&f->primary.sockaddr, &primary->sockaddr,
                      primary->addr.socklen)
           == 0)
    {
        ngx_http_sse_rfind_wake(f, 0);
        return;
    }

    (void) ngx_cpystrn(old, f->primary.name, sizeof(old));

    ngx_http_sse_cluster_copy(&f->primary, primary);

    if (!f->found) {
        f->found = 1;
        ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                      "sse_zone \"%V\": redis %V: slot %ui is on primary %V",
                      &cl->peer->zone, &cl->peer->url, cl->slot,
                      &f->primary.addr.name);
        ngx_http_sse_rfind_wake(f, 1);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                  "sse_zone \"%V\": redis %V: slot %ui moved (failover or "
                  "resharding): primary %s -> %V",
                  &cl->peer->zone, &cl->peer->url, cl->slot, old,
                  &f->primary.addr.name);

    ngx_http_sse_rfind_switch(f, "slot moved to");
}


static void
ngx_http_sse_cluster_copy(ngx_http_sse_redis_node_t *dst,
    ngx_http_sse_redis_node_t *src)
{
    *dst = *src;

    dst->addr.sockaddr = &dst->sockaddr.sockaddr;
    dst->addr.host.data = dst->host;
    dst->addr.name.data = dst->name;
}
