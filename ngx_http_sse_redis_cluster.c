
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
 * fails; when the answer names another primary (a failover), the data
 * connections go to it.
 *
 * A command that a node did not run because of where the slot is, is run
 * where the node says, so that a slot moved between primaries (resharding)
 * costs the publishers nothing but time:
 *   - MOVED: the slot has a new primary.  It is taken as the slot's
 *     primary at once (the data connections move: the replies of the old
 *     one are awaited for 1 s at most, what is sent meanwhile is held for
 *     the new one), and the command goes there.
 *   - ASK: the slot is being migrated and the command's keys are on the
 *     node it names already: the command goes to that node, after ASKING,
 *     on a connection of its own (made when needed, closed when unused).
 *   - TRYAGAIN: some of its keys are there, some not yet (a migration
 *     under way): it is sent again 50 ms later, the normal way.
 * A command goes elsewhere at most 16 times; then the last error is its
 * reply (the protocol answers 503).  READONLY and CLUSTERDOWN (a failover
 * under way) drop the connection with its commands unanswered (503).  A
 * command that got any of these replies was not run, so sending it again
 * cannot run it twice.
 */


#include "ngx_http_sse_redis.h"


#define NGX_HTTP_SSE_CLUSTER_POLL         500
#define NGX_HTTP_SSE_CLUSTER_NODES        32
#define NGX_HTTP_SSE_CLUSTER_SLOTS        16384
#define NGX_HTTP_SSE_CLUSTER_REDIRECTS    16
#define NGX_HTTP_SSE_CLUSTER_TRYAGAIN     50
#define NGX_HTTP_SSE_CLUSTER_ASK_CHECK    500
#define NGX_HTTP_SSE_CLUSTER_ASK_IDLE     2000
#define NGX_HTTP_SSE_CLUSTER_ASK_LATE     5000

/* what an error reply says of the slot */
#define NGX_HTTP_SSE_CLUSTER_MOVED        0
#define NGX_HTTP_SSE_CLUSTER_ASK          1
#define NGX_HTTP_SSE_CLUSTER_TRY          2
#define NGX_HTTP_SSE_CLUSTER_DOWN         3
#define NGX_HTTP_SSE_CLUSTER_NONE         4


/* the query (ngx_http_sse_rquery_t), the slot, the nodes heard of */
typedef struct {
    ngx_http_sse_rquery_t         query;       /* first: the finder's */
    ngx_uint_t                    slot;
    ngx_event_t                   poll;        /* asks again while a data
                                                  connection is down */

    ngx_http_sse_rconn_t          ask;         /* to the node ASK names */
    ngx_http_sse_redis_node_t     ask_node;
    ngx_event_t                   ask_check;   /* closes it unused, drops
                                                  it hung */
    ngx_queue_t                   later;       /* TRYAGAIN: sent again */
    ngx_event_t                   retry;

    ngx_http_sse_redis_node_t     asked;       /* the node asked now */
    ngx_http_sse_redis_node_t     nodes[NGX_HTTP_SSE_CLUSTER_NODES];
    ngx_uint_t                    nnodes;      /* from the last answer */
} ngx_http_sse_cluster_t;


static void ngx_http_sse_cluster_init(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_cluster_done(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_cluster_lost(ngx_http_sse_rquery_t *q);
static void ngx_http_sse_cluster_poll(ngx_event_t *ev);
static ngx_int_t ngx_http_sse_cluster_redirect(ngx_http_sse_rconn_t *rc,
    redisReply *reply, ngx_http_sse_rcmd_t *cmd);
static ngx_uint_t ngx_http_sse_cluster_kind(redisReply *reply);
static ngx_int_t ngx_http_sse_cluster_target(ngx_http_sse_cluster_t *cl,
    redisReply *reply, ngx_http_sse_redis_node_t *node);
static void ngx_http_sse_cluster_ask(ngx_http_sse_cluster_t *cl,
    ngx_http_sse_redis_node_t *node, ngx_http_sse_rcmd_t *cmd);
static ngx_int_t ngx_http_sse_cluster_ask_pick(ngx_http_sse_rconn_t *rc);
static const char *ngx_http_sse_cluster_ask_connected(
    ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_cluster_ask_failed(ngx_http_sse_rconn_t *rc,
    const char *err);
static void ngx_http_sse_cluster_ask_check(ngx_event_t *ev);
static void ngx_http_sse_cluster_retry(ngx_event_t *ev);
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


/* the error replies that say the slot is not served here now, by kind */
static ngx_str_t  ngx_http_sse_cluster_elsewhere[] = {
    ngx_string("MOVED "),
    ngx_string("ASK "),
    ngx_string("TRYAGAIN "),
    ngx_string("READONLY "),
    ngx_string("CLUSTERDOWN "),
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

    /* the connection for ASK: AUTH only, what waits held, not retried */

    cl->ask.lookup = 1;
    cl->ask.keep = 1;
    cl->ask.hold = 1;
    cl->ask.once = 1;

    ngx_http_sse_rconn_init(&cl->ask, q->peer, q->log);

    cl->ask.pick = ngx_http_sse_cluster_ask_pick;
    cl->ask.connected = ngx_http_sse_cluster_ask_connected;
    cl->ask.failed = ngx_http_sse_cluster_ask_failed;
    cl->ask.data = cl;

    cl->ask_check.handler = ngx_http_sse_cluster_ask_check;
    cl->ask_check.data = cl;
    cl->ask_check.log = q->log;
    cl->ask_check.cancelable = 1;

    ngx_queue_init(&cl->later);

    cl->retry.handler = ngx_http_sse_cluster_retry;
    cl->retry.data = cl;
    cl->retry.log = q->log;
    cl->retry.cancelable = 1;
}


/* the last data connection closes */

static void
ngx_http_sse_cluster_done(ngx_http_sse_rquery_t *q)
{
    ngx_queue_t             *l;
    ngx_http_sse_rcmd_t     *cmd;
    ngx_http_sse_cluster_t  *cl;

    cl = (ngx_http_sse_cluster_t *) q;

    if (cl->poll.timer_set) {
        ngx_del_timer(&cl->poll);
    }

    if (cl->retry.timer_set) {
        ngx_del_timer(&cl->retry);
    }

    if (cl->ask_check.timer_set) {
        ngx_del_timer(&cl->ask_check);
    }

    while (!ngx_queue_empty(&cl->later)) {
        l = ngx_queue_head(&cl->later);
        ngx_queue_remove(l);

        cmd = ngx_queue_data(l, ngx_http_sse_rcmd_t, queue);
        ngx_http_sse_rconn_answer(&cl->ask, cmd, NULL);
    }

    ngx_http_sse_rconn_close(&cl->ask);
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


/*
 * An error reply to a command kept (a data connection's, or one sent
 * again): "MOVED 3999 127.0.0.1:6381", "ASK ...", "TRYAGAIN ..."; NGX_OK:
 * the command goes elsewhere (see the top of the file)
 */

static ngx_int_t
ngx_http_sse_cluster_redirect(ngx_http_sse_rconn_t *rc, redisReply *reply,
    ngx_http_sse_rcmd_t *cmd)
{
    ngx_uint_t                  kind;
    ngx_http_sse_cluster_t     *cl;
    ngx_http_sse_redis_node_t   node;

    kind = ngx_http_sse_cluster_kind(reply);

    if (kind == NGX_HTTP_SSE_CLUSTER_NONE) {
        return NGX_DECLINED;
    }

    cl = (ngx_http_sse_cluster_t *) rc->peer->query;

    if (kind == NGX_HTTP_SSE_CLUSTER_DOWN || cl == NULL) {
        ngx_snprintf(rc->error, sizeof(rc->error) - 1, "%s%Z", reply->str);
        rc->error[sizeof(rc->error) - 1] = '\0';
        return NGX_ERROR;
    }

    if (cmd->redirects++ == NGX_HTTP_SSE_CLUSTER_REDIRECTS) {
        /* that error is its reply */
        return NGX_DECLINED;
    }

    if (kind == NGX_HTTP_SSE_CLUSTER_TRY) {
        cmd->due = ngx_current_msec + NGX_HTTP_SSE_CLUSTER_TRYAGAIN;
        ngx_queue_insert_tail(&cl->later, &cmd->queue);

        if (!cl->retry.timer_set) {
            ngx_add_timer(&cl->retry, NGX_HTTP_SSE_CLUSTER_TRYAGAIN);
        }

        return NGX_OK;
    }

    if (ngx_http_sse_cluster_target(cl, reply, &node) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (kind == NGX_HTTP_SSE_CLUSTER_ASK) {
        ngx_http_sse_cluster_ask(cl, &node, cmd);
        return NGX_OK;
    }

    /* MOVED: the slot's primary now; the data connections follow */

    ngx_http_sse_rquery_set(&cl->query, &node);

    if (ngx_http_sse_rconn_resend(cmd->origin, cmd, 0) != NGX_OK) {
        ngx_http_sse_rconn_answer(rc, cmd, NULL);
    }

    return NGX_OK;
}


/* NGX_HTTP_SSE_CLUSTER_*: what the reply says of the slot */

static ngx_uint_t
ngx_http_sse_cluster_kind(redisReply *reply)
{
    ngx_uint_t  i;
    ngx_str_t  *e;

    for (i = 0; ngx_http_sse_cluster_elsewhere[i].len; i++) {
        e = &ngx_http_sse_cluster_elsewhere[i];

        if (reply->len > e->len
            && ngx_strncmp(reply->str, e->data, e->len) == 0)
        {
            return ngx_min(i, NGX_HTTP_SSE_CLUSTER_DOWN);
        }
    }

    return NGX_HTTP_SSE_CLUSTER_NONE;
}


/* "MOVED SLOT IP:PORT": the node, for the zone's slot only */

static ngx_int_t
ngx_http_sse_cluster_target(ngx_http_sse_cluster_t *cl, redisReply *reply,
    ngx_http_sse_redis_node_t *node)
{
    size_t      len;
    u_char     *p, *last, *colon, *ip;
    ngx_int_t   slot;

    p = (u_char *) reply->str;
    last = p + reply->len;

    p = ngx_strlchr(p, last, ' ');
    if (p == NULL) {
        return NGX_ERROR;
    }

    ip = ngx_strlchr(++p, last, ' ');
    if (ip == NULL) {
        return NGX_ERROR;
    }

    slot = ngx_atoi(p, ip - p);

    if (slot == NGX_ERROR || (ngx_uint_t) slot != cl->slot) {
        return NGX_ERROR;
    }

    ip++;

    for (colon = last - 1; colon > ip && *colon != ':'; colon--) {
        /* void */
    }

    if (colon == ip) {
        return NGX_ERROR;
    }

    len = colon - ip;

    if (*ip == '[' && colon[-1] == ']') {
        ip++;
        len -= 2;
    }

    node->addr.sockaddr = NULL;

    if (ngx_http_sse_redis_node_set(node, ip, len, colon + 1,
                                    last - colon - 1)
        == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * ASK: the command goes to that node after ASKING, on the connection for
 * it, held while it connects; a connection to another node goes first
 */

static void
ngx_http_sse_cluster_ask(ngx_http_sse_cluster_t *cl,
    ngx_http_sse_redis_node_t *node, ngx_http_sse_rcmd_t *cmd)
{
    ngx_http_sse_rconn_t  *ask;

    ask = &cl->ask;

    if (ask->c
        && (cl->ask_node.addr.socklen != node->addr.socklen
            || ngx_memcmp(&cl->ask_node.sockaddr, &node->sockaddr,
                          node->addr.socklen)
               != 0))
    {
        /* what it carries to the last one answers 503 */
        ngx_http_sse_rconn_close(ask);
    }

    if (ask->c == NULL) {
        ngx_http_sse_redis_node_copy(&cl->ask_node, node);

        ngx_log_error(NGX_LOG_NOTICE, cl->query.log, 0,
                      "sse_zone \"%V\": redis %V: slot %ui is being "
                      "migrated to %V: commands follow ASK",
                      &cl->query.peer->zone, &cl->query.peer->url, cl->slot,
                      &cl->ask_node.addr.name);

        ngx_http_sse_rconn_connect(ask);
    }

    if (ngx_http_sse_rconn_resend(ask, cmd, 1) != NGX_OK) {
        ngx_http_sse_rconn_answer(ask, cmd, NULL);
        return;
    }

    if (!cl->ask_check.timer_set) {
        ngx_add_timer(&cl->ask_check, NGX_HTTP_SSE_CLUSTER_ASK_CHECK);
    }
}


static ngx_int_t
ngx_http_sse_cluster_ask_pick(ngx_http_sse_rconn_t *rc)
{
    ngx_http_sse_cluster_t  *cl;

    cl = rc->data;

    rc->addr = &cl->ask_node.addr;

    return NGX_OK;
}


static const char *
ngx_http_sse_cluster_ask_connected(ngx_http_sse_rconn_t *rc)
{
    (void) rc;

    return NULL;
}


/* its commands are answered with NULL (503); the next ASK connects again */

static void
ngx_http_sse_cluster_ask_failed(ngx_http_sse_rconn_t *rc, const char *err)
{
    ngx_http_sse_cluster_t  *cl;

    cl = rc->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, cl->query.log, 0,
                  "sse_zone \"%V\": redis %V: node %V named by ASK "
                  "failed (%s)",
                  &cl->query.peer->zone, &cl->query.peer->url,
                  &cl->ask_node.addr.name, err);
}


/* the connection for ASK: closed when unused for a while, dropped hung */

static void
ngx_http_sse_cluster_ask_check(ngx_event_t *ev)
{
    ngx_http_sse_rconn_t    *ask;
    ngx_http_sse_cluster_t  *cl;

    cl = ev->data;
    ask = &cl->ask;

    if (ngx_exiting || ngx_terminate || ngx_quit || ask->c == NULL) {
        return;
    }

    if (ask->pending
        && ngx_current_msec - ask->progress > NGX_HTTP_SSE_CLUSTER_ASK_LATE)
    {
        ngx_http_sse_rconn_drop(ask, "no reply in time");
        return;
    }

    if (ask->pending == 0
        && ngx_current_msec - ask->progress >= NGX_HTTP_SSE_CLUSTER_ASK_IDLE)
    {
        ngx_http_sse_rconn_close(ask);
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_SSE_CLUSTER_ASK_CHECK);
}


/* TRYAGAIN: sent again the normal way, in order, when due */

static void
ngx_http_sse_cluster_retry(ngx_event_t *ev)
{
    ngx_queue_t             *q;
    ngx_http_sse_rcmd_t     *cmd;
    ngx_http_sse_cluster_t  *cl;

    cl = ev->data;

    while (!ngx_queue_empty(&cl->later)) {
        q = ngx_queue_head(&cl->later);
        cmd = ngx_queue_data(q, ngx_http_sse_rcmd_t, queue);

        if ((ngx_msec_int_t) (cmd->due - ngx_current_msec) > 0) {
            ngx_add_timer(ev, cmd->due - ngx_current_msec);
            return;
        }

        ngx_queue_remove(q);

        if (ngx_http_sse_rconn_resend(cmd->origin, cmd, 0) != NGX_OK) {
            ngx_http_sse_rconn_answer(cmd->origin, cmd, NULL);
        }
    }
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
