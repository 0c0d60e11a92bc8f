
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


#define NGX_HTTP_SSE_CLUSTER_POLL     500
#define NGX_HTTP_SSE_CLUSTER_NODES    32
#define NGX_HTTP_SSE_CLUSTER_SLOTS    16384


/* the query (ngx_http_sse_rquery_t), the slot, the nodes heard of */
typedef struct {
    ngx_http_sse_rquery_t         query;       /* first: the finder's */
    ngx_uint_t                    slot;
    ngx_event_t                   poll;        /* asks again while a data
                                                  connection is down */

    ngx_http_sse_redis_node_t     asked;       /* the node asked now */
    ngx_http_sse_redis_node_t     nodes[NGX_HTTP_SSE_CLUSTER_NODES];
    ngx_uint_t                    nnodes;      /* from the last answer */
} ngx_http_sse_cluster_t;


static void ngx_http_sse_cluster_init(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_cluster_done(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_cluster_lost(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_cluster_poll(ngx_event_t *ev);
static const char *ngx_http_sse_cluster_redirect(ngx_http_sse_rconn_t *rc,
    redisReply *reply);
static ngx_uint_t ngx_http_sse_cluster_slot(ngx_str_t *name);
static ngx_int_t ngx_http_sse_cluster_node(ngx_http_sse_rconn_t *rc);
static const char *ngx_http_sse_cluster_answer(ngx_http_sse_rquery_t *q,
    redisReply *r, ngx_http_sse_redis_node_t *primary);
static redisReply *ngx_http_sse_cluster_range(ngx_http_sse_cluster_t *cl,
    redisReply *r);
static ngx_int_t ngx_http_sse_cluster_learn(ngx_http_sse_redis_node_t *node,
    redisReply *r);
static void ngx_http_sse_cluster_found(ngx_http_sse_rquery_t *q,
    u_char *old);


/* installed on Cluster URLs' peers (ngx_http_sse_redis.c) */
ngx_http_sse_rconn_finder_t  ngx_http_sse_cluster_finder = {
    sizeof(ngx_http_sse_cluster_t),
    "cluster node",
    "no answer to CLUSTER SLOTS in time",
    "slot moved to",
    ngx_http_sse_cluster_init,
    NULL,
    ngx_http_sse_cluster_answer,
    ngx_http_sse_cluster_found,
    ngx_http_sse_cluster_lost,
    ngx_http_sse_cluster_done,
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


/* the worker's cluster state, with its first data connection */

static void
ngx_http_sse_cluster_init(ngx_http_sse_rquery_t *q)
{
    ngx_http_sse_cluster_t  *cl;

    cl = (ngx_http_sse_cluster_t *) q;

    cl->slot = ngx_http_sse_cluster_slot(&q->peer->zone);

    q->argc = 2;
    q->argv[0] = "CLUSTER";
    q->argvlen[0] = sizeof("CLUSTER") - 1;
    q->argv[1] = "SLOTS";
    q->argvlen[1] = sizeof("SLOTS") - 1;

    q->conn.pick = ngx_http_sse_cluster_node;

    cl->poll.handler = ngx_http_sse_cluster_poll;
    cl->poll.data = cl;
    cl->poll.log = q->log;
    cl->poll.cancelable = 1;
}


/* the last data connection closes */

static void
ngx_http_sse_cluster_done(ngx_http_sse_rquery_t *q)
{
    ngx_http_sse_cluster_t  *cl;

    cl = (ngx_http_sse_cluster_t *) q;

    if (cl->poll.timer_set) {
        ngx_del_timer(&cl->poll);
    }
}


/*
 * A data connection failed: the primary may have moved.  It is asked again
 * before that connection retries, and every half second meanwhile, so that
 * a failover is followed as soon as the cluster has made it, whatever the
 * connection's back-off.
 */

static void
ngx_http_sse_cluster_lost(ngx_http_sse_rquery_t *q)
{
    ngx_http_sse_cluster_t  *cl;

    cl = (ngx_http_sse_cluster_t *) q;

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

    for (i = 0; i < cl->query.find.nusers; i++) {
        if (cl->query.find.users[i]->c == NULL) {
            break;
        }
    }

    if (i == cl->query.find.nusers) {
        /* all connected (or connecting): nothing to follow */
        return;
    }

    ngx_http_sse_rquery_ask(&cl->query);

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


/* the node to ask: the URL's seeds, then the nodes last heard of */

static ngx_int_t
ngx_http_sse_cluster_node(ngx_http_sse_rconn_t *rc)
{
    ngx_uint_t                  i, nseeds;
    ngx_http_sse_cluster_t     *cl;
    ngx_http_sse_redis_node_t  *node;
    ngx_http_sse_redis_addr_t  *seeds;

    cl = rc->data;

    seeds = cl->query.peer->addrs.elts;
    nseeds = cl->query.peer->addrs.nelts;

    i = rc->next % (nseeds + cl->nnodes);

    if (i < nseeds) {
        rc->addr = &seeds[i];
        return NGX_OK;
    }

    /* a copy: the list changes with each answer */

    node = &cl->nodes[i - nseeds];

    ngx_http_sse_redis_node_copy(&cl->asked, node);

    rc->addr = &cl->asked.addr;

    return NGX_OK;
}


/*
 * CLUSTER SLOTS: [[first, last, primary, replica...]...], each node
 * [ip, port, id...]: the nodes are kept to be asked next, the primary of
 * the zone's slot is taken
 */

static const char *
ngx_http_sse_cluster_answer(ngx_http_sse_rquery_t *q, redisReply *r,
    ngx_http_sse_redis_node_t *primary)
{
    redisReply                 *e, *p;
    ngx_uint_t                  i, j, k, n;
    ngx_http_sse_cluster_t     *cl;
    ngx_http_sse_redis_node_t  *node;

    cl = (ngx_http_sse_cluster_t *) q;

    if (r->type != REDIS_REPLY_ARRAY) {
        return "CLUSTER SLOTS: an unexpected reply";
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
        ngx_snprintf(q->conn.error, sizeof(q->conn.error) - 1,
                     "slot %ui is served by no node%Z", cl->slot);
        q->conn.error[sizeof(q->conn.error) - 1] = '\0';
        return (char *) q->conn.error;
    }

    if (ngx_http_sse_cluster_learn(primary, p) != NGX_OK) {
        return "a primary address that is not an IP address and port";
    }

    return NULL;
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


/* the slot's primary, first known (old is NULL) or moved */

static void
ngx_http_sse_cluster_found(ngx_http_sse_rquery_t *q, u_char *old)
{
    ngx_http_sse_cluster_t  *cl;

    cl = (ngx_http_sse_cluster_t *) q;

    if (old == NULL) {
        ngx_log_error(NGX_LOG_NOTICE, q->log, 0,
                      "sse_zone \"%V\": redis %V: slot %ui is on primary %V",
                      &q->peer->zone, &q->peer->url, cl->slot,
                      &q->find.primary.addr.name);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, q->log, 0,
                  "sse_zone \"%V\": redis %V: slot %ui moved (failover or "
                  "resharding): primary %s -> %V",
                  &q->peer->zone, &q->peer->url, cl->slot, old,
                  &q->find.primary.addr.name);
}
