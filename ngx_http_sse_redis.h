
/*
 * The Redis backend's two halves, private to them: its connection
 * (ngx_http_sse_redis_conn.c: the URL, connect, TLS, AUTH, reconnect with
 * back-off, events, timeouts) under its protocol (ngx_http_sse_redis.c: the
 * scripts, the log mirrored into the zone, the store operations).
 *
 * The connection's API is what the protocol uses and nothing more, so that
 * another transport can take its place: init, connect, send, replied,
 * drop, close; and two hooks a connection calls, connected (the protocol
 * sends its first commands) and failed (lost or not connected; the
 * connection tries again by itself).
 *
 * A URL may name several servers (sentinels, cluster seeds) and a name may
 * resolve to several addresses: they are all in the peer's addrs, and a
 * connection goes to rc->addr.  Without a pick hook it takes the next
 * address after each failure; the data connections of Sentinel and
 * Cluster URLs pick the primary a finder's query (ngx_http_sse_rquery_t)
 * found, or wait while it asks.  A Cluster finder also sees the replies
 * that say a command was not run there (MOVED, ASK, TRYAGAIN), and sends
 * that command again elsewhere (resend) or answers it (answer); when the
 * primary changes, a data connection moves without the protocol noticing:
 * what it sends meanwhile is held, not refused.
 */


#ifndef _NGX_HTTP_SSE_REDIS_H_INCLUDED_
#define _NGX_HTTP_SSE_REDIS_H_INCLUDED_


#include "ngx_http_sse_store.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_SSE_REDIS_SINGLE    0
#define NGX_HTTP_SSE_REDIS_SENTINEL  1
#define NGX_HTTP_SSE_REDIS_CLUSTER   2


/* one address a URL leads to */
typedef struct {
    ngx_str_t                   host;        /* as written, null-terminated:
                                                SNI, certificate check */
    ngx_str_t                   name;        /* address:port, in logs */
    struct sockaddr            *sockaddr;
    socklen_t                   socklen;
    unsigned                    literal:1;   /* host is an IP address */
} ngx_http_sse_redis_addr_t;


/*
 * Where the connections go, from redis=URL and the redis_tls_* parameters
 * of sse_zone (ngx_http_sse_redis_peer_conf)
 */
typedef struct ngx_http_sse_rconn_s     ngx_http_sse_rconn_t;


#define NGX_HTTP_SSE_RFIND_USERS     4


/* an address learnt at run time (from a sentinel, a cluster node) */
typedef struct {
    ngx_http_sse_redis_addr_t   addr;
    ngx_sockaddr_t              sockaddr;
    u_char                      host[NGX_SOCKADDR_STRLEN + 1];
    u_char                      name[NGX_SOCKADDR_STRLEN + 1];
} ngx_http_sse_redis_node_t;


/*
 * What a finder (Sentinel, Cluster) keeps of the data connections it
 * leads: the primary they go to, and which of them wait for it to be
 * known (ngx_http_sse_rfind_*)
 */
typedef struct {
    ngx_http_sse_rconn_t       *users[NGX_HTTP_SSE_RFIND_USERS];
    ngx_uint_t                  nusers;
    ngx_uint_t                  waiting;     /* users, one bit each */
    ngx_http_sse_redis_node_t   primary;

    unsigned                    known:1;     /* primary: valid now */
    unsigned                    found:1;     /* primary: ever set */
    unsigned                    switching:1; /* its users being dropped */
} ngx_http_sse_rfind_t;


/*
 * A finder's question (Sentinel: where the primary of SERVICE is; Cluster:
 * which primary holds the zone's slot), asked of one server at a time
 * (ngx_http_sse_rquery_*): made with the first data connection of a
 * worker's URL, it asks when a data connection needs the primary and does
 * not know it, moves on to the next server when one fails or does not
 * answer in time, and moves the data connections when the primary changes.
 * A finder's own state follows it (ngx_http_sse_rconn_finder_t.size).
 */
typedef struct ngx_http_sse_rquery_s  ngx_http_sse_rquery_t;


/*
 * A command sent and the one waiting for its reply.  On a connection that
 * keeps its commands (ngx_http_sse_rconn_t.keep: the data connections of a
 * Cluster URL), it holds the command as sent, so that a redirect hook can
 * send it again elsewhere (ngx_http_sse_rconn_resend) or answer it itself
 * (ngx_http_sse_rconn_answer).
 */
typedef struct ngx_http_sse_rcmd_s  ngx_http_sse_rcmd_t;


/*
 * How a data connection learns where to go when the URL does not say
 * (Sentinel, Cluster): installed at configuration by the file that knows,
 * so that the connection layer never calls up into it.  init sets the
 * question; answer takes the primary from a reply (NULL) or says why the
 * server is not asked again (the connection to it is dropped); found logs
 * the primary, old NULL the first time.  start, lost and done may be NULL:
 * the first question, a data connection failed, the last one closes.
 * redirect (may be NULL) gets each error reply to a command kept: NGX_OK,
 * it took the command (that reply is not the command's: the command was
 * not run, and goes elsewhere or again); NGX_DECLINED, the reply is the
 * command's; NGX_ERROR, rc->error says why the connection is dropped, its
 * commands answered with NULL.
 */
typedef struct {
    size_t                      size;        /* the query first */
    const char                 *server;      /* "sentinel": logs */
    const char                 *late;        /* the answer timed out */
    const char                 *moved;       /* a data connection moved */

    void                      (*init)(ngx_http_sse_rquery_t *q);
    void                      (*start)(ngx_http_sse_rquery_t *q);
    const char               *(*answer)(ngx_http_sse_rquery_t *q,
                                        redisReply *reply,
                                        ngx_http_sse_redis_node_t *primary);
    void                      (*found)(ngx_http_sse_rquery_t *q,
                                       u_char *old);
    void                      (*lost)(ngx_http_sse_rquery_t *q);
    void                      (*done)(ngx_http_sse_rquery_t *q);
    ngx_int_t                 (*redirect)(ngx_http_sse_rconn_t *rc,
                                          redisReply *reply,
                                          ngx_http_sse_rcmd_t *cmd);
} ngx_http_sse_rconn_finder_t;


typedef struct {
    ngx_str_t                   url;         /* the password masked: logs */
    ngx_str_t                   zone;        /* its name, for logs */
    ngx_uint_t                  type;        /* NGX_HTTP_SSE_REDIS_* */
    ngx_array_t                 addrs;       /* ngx_http_sse_redis_addr_t */
    ngx_str_t                   service;     /* Sentinel: the primary's */
    ngx_str_t                   user;        /* decoded; empty: none */
    ngx_str_t                   password;    /* decoded; empty: no AUTH */
    ngx_uint_t                  db;

    ngx_str_t                   tls_ca;
    ngx_str_t                   tls_cert;
    ngx_str_t                   tls_key;
    ngx_flag_t                  tls_verify;
#if (NGX_SSL)
    ngx_ssl_t                  *ssl;         /* rediss: the zone's context */
#endif

    ngx_http_sse_rquery_t      *query;       /* a worker's finder, made
                                                with its first connection */
    ngx_http_sse_rconn_finder_t  *finder;    /* NULL: the URL's addresses */

    unsigned                    tls:1;
} ngx_http_sse_redis_peer_t;


/* a reply, or NULL when the connection went before it came */
typedef void (*ngx_http_sse_rconn_reply_pt)(ngx_http_sse_rconn_t *rc,
    void *reply, void *privdata);

/* NULL, or why the connection is to be dropped */
typedef const char *(*ngx_http_sse_rconn_connected_pt)(
    ngx_http_sse_rconn_t *rc);
typedef void (*ngx_http_sse_rconn_failed_pt)(ngx_http_sse_rconn_t *rc,
    const char *err);
/*
 * sets rc->addr before a connection: NGX_OK; NGX_AGAIN: not known yet, the
 * hook calls ngx_http_sse_rconn_connect again when it is; NGX_ERROR
 * (retried)
 */
typedef ngx_int_t (*ngx_http_sse_rconn_pick_pt)(ngx_http_sse_rconn_t *rc);


struct ngx_http_sse_rcmd_s {
    ngx_queue_t                 queue;       /* waiting, held, or free */
    ngx_http_sse_rconn_reply_pt  fn;         /* NULL: ASKING's, dropped */
    void                       *data;
    char                       *cmd;         /* kept: as sent */
    size_t                      len;
    ngx_http_sse_rconn_t       *origin;      /* where it was first sent */
    ngx_uint_t                  redirects;   /* sent again: how often */
    ngx_msec_t                  due;         /* the redirect hook's */
    unsigned                    asking:1;    /* sent after ASKING */
};


/* a connection to Redis, with its retry state */
struct ngx_http_sse_rconn_s {
    ngx_connection_t           *c;
    ngx_http_sse_redis_peer_t  *peer;
    ngx_http_sse_redis_addr_t  *addr;        /* where it goes now */
    ngx_uint_t                  next;        /* without pick: next addr */
    ngx_log_t                  *log;
    ngx_log_t                   clog;        /* the socket's: nginx's own
                                                messages end in detail */
    ngx_event_t                 timer;       /* set-up timeout, retry */
    ngx_msec_t                  backoff;
    ngx_uint_t                  pending;     /* replies awaited */
    ngx_msec_t                  progress;    /* last reply, or first wait */

    redisReader                *reader;
    u_char                     *out;         /* commands not yet sent */
    size_t                      out_pos;
    size_t                      out_len;
    size_t                      out_size;
    ngx_queue_t                 waiting;     /* ngx_http_sse_rcmd_t */
    ngx_queue_t                 held;        /* sent once it is up */
    ngx_queue_t                 free;
    ngx_uint_t                  state;
    ngx_uint_t                  setup[4];    /* AUTH, SELECT, PING, ROLE
                                                sent */
    ngx_uint_t                  nsetup;
    ngx_uint_t                  setup_next;

    ngx_http_sse_rconn_reply_pt  push;       /* subscriber: every reply */
    void                       *push_data;

    u_char                      error[256];
    u_char                      detail[160];

    ngx_http_sse_rconn_connected_pt  connected;
    ngx_http_sse_rconn_failed_pt     failed;
    ngx_http_sse_rconn_pick_pt       pick;
    void                       *data;

    unsigned                    subscriber:1; /* pub/sub: no SELECT, no
                                                 replies counted */
    unsigned                    ready:1;
    unsigned                    lookup:1;    /* a finder's own (to a
                                                sentinel, a cluster node):
                                                no SELECT, no ROLE, AUTH
                                                if wanted */
    unsigned                    keep:1;      /* commands kept (rcmd) */
    unsigned                    hold:1;      /* commands held while it
                                                connects */
    unsigned                    once:1;      /* not made again after a
                                                failure */
    unsigned                    draining:1;  /* moves once its replies
                                                are in; commands held */
    unsigned                    moving:1;    /* connecting to another
                                                server quietly: ready,
                                                commands held */
};


/* a finder's question and its bookkeeping (see above) */
struct ngx_http_sse_rquery_s {
    ngx_http_sse_redis_peer_t  *peer;
    ngx_log_t                  *log;
    ngx_http_sse_rconn_t        conn;        /* to the server asked */
    ngx_http_sse_rfind_t        find;        /* the data connections */
    ngx_event_t                 timer;       /* the answer */

    int                         argc;        /* the question */
    const char                 *argv[3];
    size_t                      argvlen[3];

    unsigned                    asking:1;
    unsigned                    started:1;
    unsigned                    failing:1;   /* logged as failing */
};


char *ngx_http_sse_redis_peer_conf(ngx_conf_t *cf,
    ngx_http_sse_redis_peer_t *peer, ngx_str_t *value);
char *ngx_http_sse_redis_peer_done(ngx_conf_t *cf,
    ngx_http_sse_redis_peer_t *peer, ngx_str_t *zone);

void ngx_http_sse_rconn_init(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_redis_peer_t *peer, ngx_log_t *log);
void ngx_http_sse_rconn_connect(ngx_http_sse_rconn_t *rc);
ngx_int_t ngx_http_sse_rconn_send(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_rconn_reply_pt fn, void *privdata, int argc,
    const char **argv, const size_t *argvlen);
void ngx_http_sse_rconn_replied(ngx_http_sse_rconn_t *rc);
ngx_int_t ngx_http_sse_rconn_resend(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_rcmd_t *cmd, ngx_uint_t asking);
void ngx_http_sse_rconn_answer(ngx_http_sse_rconn_t *rc,
    ngx_http_sse_rcmd_t *cmd, redisReply *reply);
void ngx_http_sse_rconn_drop(ngx_http_sse_rconn_t *rc, const char *why);
void ngx_http_sse_rconn_close(ngx_http_sse_rconn_t *rc);
void ngx_http_sse_rconn_exiting(ngx_uint_t exiting);
ngx_int_t ngx_http_sse_redis_node_set(ngx_http_sse_redis_node_t *node,
    u_char *ip, size_t iplen, u_char *port, size_t portlen);

void ngx_http_sse_redis_node_copy(ngx_http_sse_redis_node_t *dst,
    ngx_http_sse_redis_node_t *src);

void ngx_http_sse_rquery_ask(ngx_http_sse_rquery_t *q);
void ngx_http_sse_rquery_failing(ngx_http_sse_rquery_t *q,
    ngx_http_sse_rconn_t *rc, const char *err);
void ngx_http_sse_rquery_set(ngx_http_sse_rquery_t *q,
    ngx_http_sse_redis_node_t *primary);

/* Sentinel (ngx_http_sse_redis_sentinel.c): the primary, found and followed */
extern ngx_http_sse_rconn_finder_t  ngx_http_sse_sentinel_finder;

/* Cluster (ngx_http_sse_redis_cluster.c): the slot's primary, the same */
extern ngx_http_sse_rconn_finder_t  ngx_http_sse_cluster_finder;


#endif /* _NGX_HTTP_SSE_REDIS_H_INCLUDED_ */
