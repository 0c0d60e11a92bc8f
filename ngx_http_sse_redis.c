
/*
 * Sharing a zone between nginx servers through Redis (redis= on sse_zone).
 *
 * What every server shares lives in Redis, under the hash tag of the zone:
 *
 *   sse:{NAME}:id              the id counter: one id space for all servers
 *   sse:{NAME}:log             a stream of every message and deletion, entry
 *                              id "<id>-0", trimmed to about redis_log=
 *                              entries (10000); field p: the id before it
 *   sse:{NAME}:events          pub/sub channel: a doorbell carrying the
 *                              newest id
 *   sse:{NAME}:subs:<channel>  hash: server -> "<subscribers>:<msec>"
 *   sse:{NAME}:srv:<server>    set: the channels a server last reported
 *
 * A publish is one Lua script: it numbers the messages, appends them to the
 * log, rings the doorbell and sums the other servers' subscribers, all
 * atomically, so ids follow log order.
 *
 * Each worker holds two connections per zone: one for commands, one
 * subscribed to the doorbell.  On a ring, and on every (re)connection, the
 * worker reads the log after the newest id its server's zone holds and
 * inserts what it gets into shared memory; the usual wake-ups deliver it to
 * local subscribers.  The shared memory zone is thus a mirror of the log:
 * history, resume, sse_gap and replay work as on one server.  The store
 * skips ids it holds already, so every worker may read the log: no
 * election, nothing lost or doubled.
 *
 * Faults.  Ids are never given twice nor go back, whatever Redis loses: a
 * script that finds the counter gone (Redis restarted empty) or below what
 * the calling server has seen jumps it NGX_HTTP_SSE_REDIS_JUMP past that,
 * further than any server can be behind another.  Each log entry names the
 * id of the entry before it (p; 0 after such a jump: not known), so a
 * server reading the log sees when it no longer follows on from what its
 * mirror holds: what is between is lost to it, and its subscribers get an
 * sse_gap (ngx_http_sse_store_insert).  Until a server has read the log to
 * its end (it started, or lost its connection), its mirror is marked
 * behind, and a resume from an id it has not read yet waits for it instead
 * of getting an sse_gap.
 *
 * This file is the protocol: the scripts, the log mirrored into the zone
 * and the store operations; the connections are ngx_http_sse_redis_conn.c.
 * Nothing here knows of HTTP: an operation completes through its handler.
 */


#include "ngx_http_sse_redis.h"

#include <ngx_sha1.h>


#define NGX_HTTP_SSE_REDIS_REPLY_TIMEOUT    5000
#define NGX_HTTP_SSE_REDIS_TICK             1000
#define NGX_HTTP_SSE_REDIS_SOON             100
#define NGX_HTTP_SSE_REDIS_FETCH            256
#define NGX_HTTP_SSE_REDIS_LOG_MAX          10000
#define NGX_HTTP_SSE_REDIS_JUMP             "1000000000"
#define NGX_HTTP_SSE_REDIS_JUMP_N           1000000000
#define NGX_HTTP_SSE_REDIS_LOG_EVERY        60000

#define NGX_HTTP_SSE_SCRIPT_PUBLISH         0
#define NGX_HTTP_SSE_SCRIPT_DELETE          1
#define NGX_HTTP_SSE_SCRIPT_COUNT           2
#define NGX_HTTP_SSE_SCRIPT_SYNC            3
#define NGX_HTTP_SSE_SCRIPT_INIT            4


/* Lua: "now" in milliseconds, by Redis' clock */
#define NGX_HTTP_SSE_LUA_NOW                                                  \
    "local t = redis.call('TIME') "                                           \
    "local now = t[1] * 1000 + math.floor(t[2] / 1000) "

/*
 * Lua: subscribers of the other servers whose report is fresh; a report
 * not on this node (Cluster: its key migrated already) counts none, and
 * the script goes on (redis.pcall)
 */
#define NGX_HTTP_SSE_LUA_REMOTE                                               \
    "local function remote(ch) "                                              \
    "  local h = redis.pcall('HGETALL', ARGV[1] .. 'subs:' .. ch) "           \
    "  local n = 0 "                                                          \
    "  if h.err then return 0 end "                                           \
    "  for i = 1, #h, 2 do "                                                  \
    "    if h[i] ~= ARGV[2] then "                                            \
    "      local c, s = string.match(h[i + 1], '^(%d+):(%d+)$') "             \
    "      if c and now - tonumber(s) < 3500 then n = n + tonumber(c) end "   \
    "    end "                                                                \
    "  end "                                                                  \
    "  return n "                                                             \
    "end "

/* Lua: the newest id the log holds, or floor, whichever is more */
#define NGX_HTTP_SSE_LUA_TOP                                                  \
    "local function top(m) "                                                  \
    "  local t = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1) "     \
    "  if #t > 0 then "                                                       \
    "    local v = tonumber(string.match(t[1][1], '^(%d+)')) "                \
    "    if v > m then m = v end "                                            \
    "  end "                                                                  \
    "  return m "                                                             \
    "end "

/*
 * Lua: cur, the newest id given, never below what the calling server has
 * seen (ARGV[3]); when Redis lost the counter (restarted empty) or it is
 * below that, it jumps far past it, and p, the id of the log entry before
 * the next, is 0: not known
 */
#define NGX_HTTP_SSE_LUA_COUNTER                                              \
    NGX_HTTP_SSE_LUA_TOP                                                      \
    "local floor = tonumber(ARGV[3]) "                                        \
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '-1') "               \
    "local p = cur "                                                          \
    "if cur < floor then "                                                    \
    "  local m = top(floor) "                                                 \
    "  p = 0 "                                                                \
    "  cur = 0 "                                                              \
    "  if m > 0 then cur = m + " NGX_HTTP_SSE_REDIS_JUMP " end "              \
    "end "


typedef struct {
    ngx_str_t                   text;
    ngx_str_t                   nkeys;
    u_char                      sha[41];
} ngx_http_sse_script_t;


typedef struct ngx_http_sse_rcall_s  ngx_http_sse_rcall_t;

typedef void (*ngx_http_sse_rcall_pt)(ngx_http_sse_rcall_t *call,
    redisReply *reply);


typedef struct ngx_http_sse_redis_s  ngx_http_sse_redis_t;


/* one entry of the log, as read: a message or a deletion */
typedef struct {
    uint64_t                    id;
    uint64_t                    prev;        /* p: the id before it */
    ngx_str_t                   channel;
    unsigned                    has_prev:1;
    unsigned                    del:1;
} ngx_http_sse_rentry_t;


/* a run of log entries for one store insert, and the loss before it */
typedef struct {
    ngx_http_sse_pmsg_t        *msgs;
    uint64_t                   *ids;
    ngx_str_t                  *names;
    ngx_uint_t                  n;
    uint64_t                    lost_from;
    uint64_t                    lost;        /* 0: none */
    ngx_uint_t                  sized;       /* not after a lost counter */
} ngx_http_sse_rrun_t;


struct ngx_http_sse_redis_s {
    ngx_http_sse_redis_peer_t   peer;
    ngx_http_sse_zone_t        *zone;
    ngx_uint_t                  log_max;     /* redis_log=: log entries */

    /* process-local, set when the worker starts */
    ngx_log_t                  *log;
    ngx_str_t                   prefix;      /* sse:{NAME}: */
    ngx_str_t                   id_key;
    ngx_str_t                   log_key;
    ngx_str_t                   events;
    ngx_str_t                   sid;         /* names this server */
    ngx_http_sse_rconn_t        cmd;
    ngx_http_sse_rconn_t        sub;
    ngx_event_t                 tick;
    ngx_event_t                 sync;
    ngx_uint_t                  kind;        /* of the failure logged */
    ngx_msec_t                  logged_at;

    unsigned                    up:1;
    unsigned                    logged:1;
    unsigned                    was_up:1;
    unsigned                    fetching:1;
    unsigned                    fetch_again:1;
};


/*
 * A script call, with its own pool: it may outlive the store operation it
 * completes (whose pool goes first when the worker shuts down).
 */
struct ngx_http_sse_rcall_s {
    ngx_pool_t                 *pool;
    ngx_http_sse_redis_t       *rd;
    ngx_http_sse_op_t          *op;          /* NULL: none, or gone */
    ngx_pool_cleanup_t         *cln;
    ngx_http_sse_rcall_pt       handler;
    ngx_uint_t                  script;
    int                         argc;
    const char                **argv;
    size_t                     *argvlen;

    ngx_uint_t                  local;       /* delete: subscribers here */

    unsigned                    retried:1;
};


static const char *ngx_http_sse_redis_connected(ngx_http_sse_rconn_t *rc);
static void ngx_http_sse_redis_failed(ngx_http_sse_rconn_t *rc,
    const char *err);
static void ngx_http_sse_redis_state(ngx_http_sse_redis_t *rd,
    const char *err);

static ngx_http_sse_rcall_t *ngx_http_sse_rcall_create(
    ngx_http_sse_redis_t *rd, ngx_uint_t script, ngx_uint_t nargs,
    ngx_http_sse_rcall_pt handler);
static ngx_int_t ngx_http_sse_rcall_arg(ngx_http_sse_rcall_t *call,
    u_char *data, size_t len);
static ngx_int_t ngx_http_sse_rcall_arg_key(ngx_http_sse_rcall_t *call,
    const char *kind, ngx_str_t *name);
static ngx_int_t ngx_http_sse_rcall_arg_id(ngx_http_sse_rcall_t *call,
    uint64_t id);
static ngx_int_t ngx_http_sse_rcall_bind(ngx_http_sse_rcall_t *call,
    ngx_http_sse_op_t *op);
static void ngx_http_sse_rcall_unbind(void *data);
static ngx_int_t ngx_http_sse_rcall_send(ngx_http_sse_rcall_t *call);
static ngx_int_t ngx_http_sse_rcall_start(ngx_http_sse_rcall_t *call,
    ngx_http_sse_op_t *op);
static void ngx_http_sse_rcall_reply(ngx_http_sse_rconn_t *rc, void *data,
    void *privdata);
static void ngx_http_sse_rcall_finish(ngx_http_sse_rcall_t *call,
    ngx_uint_t status);
static void ngx_http_sse_rcall_free(ngx_http_sse_rcall_t *call);

static ngx_int_t ngx_http_sse_redis_publish(ngx_http_sse_op_t *op);
static ngx_int_t ngx_http_sse_redis_info(ngx_http_sse_op_t *op);
static ngx_int_t ngx_http_sse_redis_delete(ngx_http_sse_op_t *op);
static void ngx_http_sse_redis_changed(ngx_http_sse_zone_t *zone);
static void ngx_http_sse_redis_init_done(ngx_http_sse_rcall_t *call,
    redisReply *reply);
static void ngx_http_sse_redis_published(ngx_http_sse_rcall_t *call,
    redisReply *reply);
static void ngx_http_sse_redis_counted(ngx_http_sse_rcall_t *call,
    redisReply *reply);
static void ngx_http_sse_redis_deleted(ngx_http_sse_rcall_t *call,
    redisReply *reply);
static void ngx_http_sse_redis_synced(ngx_http_sse_rcall_t *call,
    redisReply *reply);
static ngx_uint_t ngx_http_sse_redis_local(ngx_http_sse_zone_t *zone,
    ngx_str_t *channel, ngx_http_sse_info_t *info);
static ngx_int_t ngx_http_sse_redis_log_args(ngx_http_sse_rcall_t *call);

static void ngx_http_sse_redis_fetch(ngx_http_sse_redis_t *rd);
static void ngx_http_sse_redis_fetched(ngx_http_sse_rconn_t *rc,
    void *data, void *privdata);
static void ngx_http_sse_redis_apply(ngx_http_sse_redis_t *rd,
    redisReply *reply);
static ngx_int_t ngx_http_sse_redis_entry(redisReply *e,
    ngx_http_sse_rentry_t *en, ngx_http_sse_pmsg_t *m);
static void ngx_http_sse_redis_flush(ngx_http_sse_redis_t *rd,
    ngx_http_sse_rrun_t *run);
static void ngx_http_sse_redis_notified(ngx_http_sse_rconn_t *rc,
    void *data, void *privdata);
static uint64_t ngx_http_sse_redis_id(char *s, size_t len);
static void ngx_http_sse_redis_tick(ngx_event_t *ev);
static void ngx_http_sse_redis_sync_handler(ngx_event_t *ev);
static void ngx_http_sse_redis_sync(ngx_http_sse_redis_t *rd);


static ngx_http_sse_script_t  ngx_http_sse_scripts[] = {

    /*
     * publish: KEYS id, log; ARGV prefix, server, floor, maxlen, events,
     * then channel, event, user, data for each message;
     * returns id, subscribers elsewhere for each message
     */
    { ngx_string(
        NGX_HTTP_SSE_LUA_NOW
        NGX_HTTP_SSE_LUA_REMOTE
        NGX_HTTP_SSE_LUA_COUNTER
        "local n = (#ARGV - 5) / 4 "
        "local id = cur + 1 "
        "local last = cur + n "
        "redis.call('SET', KEYS[1], string.format('%d', last)) "
        "local out = {} "
        "for i = 0, n - 1 do "
        "  local a = 6 + i * 4 "
        "  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], "
        "             string.format('%d-0', id + i), 'c', ARGV[a], "
        "             'e', ARGV[a + 1], 'u', ARGV[a + 2], 'd', ARGV[a + 3], "
        "             't', string.format('%d', now), "
        "             'p', string.format('%d', p)) "
        "  p = id + i "
        "  out[#out + 1] = id + i "
        "  out[#out + 1] = remote(ARGV[a]) "
        "end "
        "redis.call('PUBLISH', ARGV[5], string.format('%d', last)) "
        "return out "),
      ngx_string("2"), "" },

    /*
     * delete: KEYS id, log; ARGV prefix, server, floor, maxlen, events,
     * channel, known here (0/1); returns id (0: unknown), subscribers
     */
    { ngx_string(
        NGX_HTTP_SSE_LUA_NOW
        NGX_HTTP_SSE_LUA_REMOTE
        "local others = remote(ARGV[6]) "
        "if ARGV[7] == '0' and others == 0 then return {0, 0} end "
        NGX_HTTP_SSE_LUA_COUNTER
        "local id = cur + 1 "
        "redis.call('SET', KEYS[1], string.format('%d', id)) "
        "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], "
        "           string.format('%d-0', id), 'x', '1', 'c', ARGV[6], "
        "           't', string.format('%d', now), "
        "           'p', string.format('%d', p)) "
        "redis.call('PUBLISH', ARGV[5], string.format('%d', id)) "
        "return {id, others} "),
      ngx_string("2"), "" },

    /*
     * count: KEYS id (not read: in a cluster, it sends the call to the
     * zone's slot, like every call); ARGV prefix, server, channel
     */
    { ngx_string(
        NGX_HTTP_SSE_LUA_NOW
        NGX_HTTP_SSE_LUA_REMOTE
        "return remote(ARGV[3]) "),
      ngx_string("1"), "" },

    /*
     * sync: KEYS this server's channel set, then the report of each
     * channel (every key written is named: in a cluster, a call whose
     * keys are being migrated is refused as a whole, never half run);
     * ARGV prefix, server, then channel, subscribers pairs.  The reports
     * of channels gone are deleted where they are (redis.pcall: a key
     * migrated already stays, stale in 3.5 s).
     */
    { ngx_string(
        NGX_HTTP_SSE_LUA_NOW
        "local set = KEYS[1] "
        "local seen = {} "
        "local stamp = string.format('%d', now) "
        "for i = 3, #ARGV - 1, 2 do "
        "  local k = KEYS[(i - 1) / 2 + 1] "
        "  seen[ARGV[i]] = true "
        "  redis.call('HSET', k, ARGV[2], ARGV[i + 1] .. ':' .. stamp) "
        "  redis.call('PEXPIRE', k, 60000) "
        "end "
        "for _, ch in ipairs(redis.call('SMEMBERS', set)) do "
        "  if not seen[ch] then "
        "    redis.pcall('HDEL', ARGV[1] .. 'subs:' .. ch, ARGV[2]) "
        "  end "
        "end "
        "redis.call('DEL', set) "
        "for i = 3, #ARGV - 1, 2 do redis.call('SADD', set, ARGV[i]) end "
        "if #ARGV > 2 then redis.call('PEXPIRE', set, 60000) end "
        "return 0 "),
      ngx_string("1") /* with no channel; the call says how many */, "" },

    /*
     * init, on each connection: KEYS id, log; ARGV prefix, server, floor.
     * A counter that Redis lost (it restarted empty), or below what this
     * server has seen or the log's newest entry, jumps past them: the
     * servers may hold ids this one has not seen yet.
     */
    { ngx_string(
        NGX_HTTP_SSE_LUA_COUNTER
        "if p == 0 and cur > 0 then "
        "  redis.call('SET', KEYS[1], string.format('%d', cur)) "
        "end "
        "if cur < 0 then cur = 0 end "
        "return cur "),
      ngx_string("2"), "" }
};


static ngx_uint_t  ngx_http_sse_redis_exiting;


static ngx_http_sse_backend_t  ngx_http_sse_redis_backend = {
    "redis",
    ngx_http_sse_redis_publish,
    ngx_http_sse_redis_info,
    ngx_http_sse_redis_delete
};


/*
 * redis=URL and redis_tls_*=... of sse_zone, in any order (the URL and the
 * TLS context are the connection's: ngx_http_sse_redis_conn.c)
 */

char *
ngx_http_sse_redis_conf(ngx_conf_t *cf, ngx_http_sse_zone_t *zone,
    ngx_str_t *value)
{
    ngx_int_t              n;
    ngx_http_sse_redis_t  *rd;

    rd = zone->backend_conf;

    if (rd == NULL) {
        rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_sse_redis_t));
        if (rd == NULL) {
            return NGX_CONF_ERROR;
        }

        rd->peer.tls_verify = NGX_CONF_UNSET;
        rd->log_max = NGX_CONF_UNSET_UINT;
        rd->zone = zone;
        zone->backend_conf = rd;
    }

    if (ngx_strncmp(value->data, "redis_log=", 10) == 0) {
        n = ngx_atoi(value->data + 10, value->len - 10);

        if (n == NGX_ERROR || n == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis_log \"%V\" in sse_zone, "
                               "use a number of log entries from 1",
                               value);
            return NGX_CONF_ERROR;
        }

        rd->log_max = (ngx_uint_t) n;

        return NGX_CONF_OK;
    }

    return ngx_http_sse_redis_peer_conf(cf, &rd->peer, value);
}


/* after all parameters of sse_zone: the zone is Redis' */

char *
ngx_http_sse_redis_conf_done(ngx_conf_t *cf, ngx_http_sse_zone_t *zone)
{
    ngx_http_sse_redis_t  *rd;

    rd = zone->backend_conf;

    if (rd == NULL) {
        return NGX_CONF_OK;
    }

    if (rd->peer.url.data == NULL && rd->log_max != NGX_CONF_UNSET_UINT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis_log of sse_zone \"%V\" needs redis=",
                           &zone->name);
        return NGX_CONF_ERROR;
    }

    if (rd->log_max == NGX_CONF_UNSET_UINT) {
        rd->log_max = NGX_HTTP_SSE_REDIS_LOG_MAX;
    }

    if (ngx_http_sse_redis_peer_done(cf, &rd->peer, &zone->name)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    switch (rd->peer.type) {

    case NGX_HTTP_SSE_REDIS_SENTINEL:
        rd->peer.finder = &ngx_http_sse_sentinel_finder;
        break;

    case NGX_HTTP_SSE_REDIS_CLUSTER:
        rd->peer.finder = &ngx_http_sse_cluster_finder;
        break;
    }

    zone->backend = &ngx_http_sse_redis_backend;

    return NGX_CONF_OK;
}


/*
 * In each worker, after it has its slot in every zone: the zones with
 * redis= connect.
 */

ngx_int_t
ngx_http_sse_redis_init_process(ngx_cycle_t *cycle, ngx_array_t *all)
{
    u_char                  hash[20];
    ngx_uint_t              i, j;
    ngx_sha1_t              sha1;
    ngx_http_sse_zone_t    *zone, **zones;
    ngx_http_sse_rconn_t   *rc;
    ngx_http_sse_redis_t   *rd;
    ngx_http_sse_script_t  *s;

    ngx_http_sse_redis_exiting = 0;
    ngx_http_sse_rconn_exiting(0);

    for (i = 0; i < sizeof(ngx_http_sse_scripts)
                    / sizeof(ngx_http_sse_script_t); i++)
    {
        s = &ngx_http_sse_scripts[i];

        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, s->text.data, s->text.len);
        ngx_sha1_final(hash, &sha1);

        ngx_hex_dump(s->sha, hash, sizeof(hash));
        s->sha[40] = '\0';
    }

    zones = all->elts;

    for (i = 0; i < all->nelts; i++) {
        zone = zones[i];

        if (zone->backend != &ngx_http_sse_redis_backend) {
            continue;
        }

        rd = zone->backend_conf;

        rd->log = cycle->log;

        rd->prefix.data = ngx_pnalloc(cycle->pool,
                                      sizeof("sse:{}:") - 1 + zone->name.len);
        rd->id_key.data = ngx_pnalloc(cycle->pool,
                                      sizeof("sse:{}:id") - 1
                                      + zone->name.len);
        rd->log_key.data = ngx_pnalloc(cycle->pool,
                                       sizeof("sse:{}:log") - 1
                                       + zone->name.len);
        rd->events.data = ngx_pnalloc(cycle->pool,
                                      sizeof("sse:{}:events") - 1
                                      + zone->name.len);
        rd->sid.data = ngx_pnalloc(cycle->pool,
                                   NGX_INT64_LEN + 1 + cycle->hostname.len);

        if (rd->prefix.data == NULL || rd->id_key.data == NULL
            || rd->log_key.data == NULL || rd->events.data == NULL
            || rd->sid.data == NULL)
        {
            return NGX_ERROR;
        }

        rd->prefix.len = ngx_sprintf(rd->prefix.data, "sse:{%V}:",
                                     &zone->name) - rd->prefix.data;
        rd->id_key.len = ngx_sprintf(rd->id_key.data, "sse:{%V}:id",
                                     &zone->name) - rd->id_key.data;
        rd->log_key.len = ngx_sprintf(rd->log_key.data, "sse:{%V}:log",
                                      &zone->name) - rd->log_key.data;
        rd->events.len = ngx_sprintf(rd->events.data, "sse:{%V}:events",
                                     &zone->name) - rd->events.data;
        rd->sid.len = ngx_sprintf(rd->sid.data, "%016xL@%V",
                                  ngx_http_sse_store_server_id(zone),
                                  &cycle->hostname)
                      - rd->sid.data;

        rd->sub.subscriber = 1;

        ngx_http_sse_rconn_init(&rd->cmd, &rd->peer, cycle->log);
        ngx_http_sse_rconn_init(&rd->sub, &rd->peer, cycle->log);

        for (j = 0; j < 2; j++) {
            rc = j ? &rd->sub : &rd->cmd;
            rc->connected = ngx_http_sse_redis_connected;
            rc->failed = ngx_http_sse_redis_failed;
            rc->data = rd;
        }

        rd->tick.handler = ngx_http_sse_redis_tick;
        rd->tick.data = rd;
        rd->tick.log = cycle->log;
        rd->tick.cancelable = 1;

        rd->sync.handler = ngx_http_sse_redis_sync_handler;
        rd->sync.data = rd;
        rd->sync.log = cycle->log;
        rd->sync.cancelable = 1;

        /* the store tells when this worker's subscribers change */
        zone->changed = ngx_http_sse_redis_changed;

        /* resumes wait for the log until this worker has read it */
        ngx_http_sse_store_set_behind(zone, 1);

        ngx_http_sse_rconn_connect(&rd->cmd);
        ngx_http_sse_rconn_connect(&rd->sub);

        ngx_add_timer(&rd->tick, NGX_HTTP_SSE_REDIS_TICK);
    }

    return NGX_OK;
}


void
ngx_http_sse_redis_exit_process(ngx_array_t *all)
{
    ngx_uint_t              i;
    ngx_http_sse_zone_t   **zones;
    ngx_http_sse_redis_t   *rd;

    ngx_http_sse_redis_exiting = 1;
    ngx_http_sse_rconn_exiting(1);

    zones = all->elts;

    for (i = 0; i < all->nelts; i++) {
        if (zones[i]->backend != &ngx_http_sse_redis_backend) {
            continue;
        }

        rd = zones[i]->backend_conf;

        if (rd->log == NULL) {
            continue;
        }

        zones[i]->changed = NULL;

        if (rd->tick.timer_set) {
            ngx_del_timer(&rd->tick);
        }

        if (rd->sync.timer_set) {
            ngx_del_timer(&rd->sync);
        }

        /* pending calls get a NULL reply and complete nothing */

        ngx_http_sse_rconn_close(&rd->cmd);
        ngx_http_sse_rconn_close(&rd->sub);
    }
}


/* connections: what the protocol does when one comes or goes */

static const char *
ngx_http_sse_redis_connected(ngx_http_sse_rconn_t *rc)
{
    size_t                 argvlen[2];
    const char            *argv[2];
    ngx_http_sse_rcall_t  *call;
    ngx_http_sse_redis_t  *rd;

    rd = rc->data;

    if (rc->subscriber) {
        /* ready once Redis confirms the subscription */

        argv[0] = "SUBSCRIBE";
        argvlen[0] = sizeof("SUBSCRIBE") - 1;
        argv[1] = (char *) rd->events.data;
        argvlen[1] = rd->events.len;

        if (ngx_http_sse_rconn_send(rc, ngx_http_sse_redis_notified, rc, 2,
                                    argv, argvlen)
            != NGX_OK)
        {
            return "cannot subscribe";
        }

        return NULL;
    }

    ngx_http_sse_redis_state(rd, NULL);

    /* the id counter is raised to what this server has seen */

    call = ngx_http_sse_rcall_create(rd, NGX_HTTP_SSE_SCRIPT_INIT, 5,
                                     ngx_http_sse_redis_init_done);
    if (call == NULL) {
        return NULL;
    }

    if (ngx_http_sse_rcall_arg(call, rd->id_key.data, rd->id_key.len)
        != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->log_key.data, rd->log_key.len)
           != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->prefix.data, rd->prefix.len)
           != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->sid.data, rd->sid.len) != NGX_OK
        || ngx_http_sse_rcall_arg_id(call,
                                     ngx_http_sse_store_last_id(rd->zone))
           != NGX_OK
        || ngx_http_sse_rcall_send(call) != NGX_OK)
    {
        ngx_http_sse_rcall_free(call);
    }

    return NULL;
}


static void
ngx_http_sse_redis_failed(ngx_http_sse_rconn_t *rc, const char *err)
{
    ngx_http_sse_redis_t  *rd;

    rd = rc->data;

    if (!rc->subscriber) {
        /* a log read in flight is lost with its connection */
        rd->fetching = 0;
        ngx_http_sse_store_set_behind(rd->zone, 1);
    }

    ngx_http_sse_redis_state(rd, err);
}


/*
 * One line per change: connected, lost, failing for another reason
 * (connection, authentication, TLS), reconnected; a failure that goes on
 * is logged again once a minute.
 */

static void
ngx_http_sse_redis_state(ngx_http_sse_redis_t *rd, const char *err)
{
    ngx_uint_t  up, kind;

    up = rd->cmd.ready && rd->sub.ready;

    if (up) {
        if (rd->up && rd->logged) {
            return;
        }

        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "sse_zone \"%V\": redis %V %s",
                      &rd->zone->name, &rd->peer.url,
                      rd->was_up ? "reconnected" : "connected");

        rd->up = 1;
        rd->was_up = 1;
        rd->logged = 1;
        rd->kind = 0;
        return;
    }

    if (err) {
        if (ngx_strncmp(err, "authentication", 14) == 0) {
            kind = 2;

        } else if (ngx_strncmp(err, "TLS", 3) == 0) {
            kind = 3;

        } else {
            kind = 1;
        }

        if (rd->up || !rd->logged || kind != rd->kind
            || ngx_current_msec - rd->logged_at
               >= NGX_HTTP_SSE_REDIS_LOG_EVERY)
        {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "sse_zone \"%V\": redis %V %s (%s), retrying",
                          &rd->zone->name, &rd->peer.url,
                          rd->up ? "lost" : "unavailable", err);
            rd->logged = 1;
            rd->kind = kind;
            rd->logged_at = ngx_current_msec;
        }
    }

    rd->up = 0;
}


/* script calls: EVALSHA, and EVAL once when Redis does not know it */

static ngx_http_sse_rcall_t *
ngx_http_sse_rcall_create(ngx_http_sse_redis_t *rd, ngx_uint_t script,
    ngx_uint_t nargs, ngx_http_sse_rcall_pt handler)
{
    ngx_pool_t             *pool;
    ngx_http_sse_rcall_t   *call;
    ngx_http_sse_script_t  *s;

    pool = ngx_create_pool(1024, rd->log);
    if (pool == NULL) {
        return NULL;
    }

    call = ngx_pcalloc(pool, sizeof(ngx_http_sse_rcall_t));
    if (call == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    call->pool = pool;
    call->rd = rd;
    call->script = script;
    call->handler = handler;

    call->argv = ngx_palloc(pool, (3 + nargs) * sizeof(char *));
    call->argvlen = ngx_palloc(pool, (3 + nargs) * sizeof(size_t));

    if (call->argv == NULL || call->argvlen == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    s = &ngx_http_sse_scripts[script];

    call->argv[0] = "EVALSHA";
    call->argvlen[0] = sizeof("EVALSHA") - 1;
    call->argv[1] = (char *) s->sha;
    call->argvlen[1] = 40;
    call->argv[2] = (char *) s->nkeys.data;
    call->argvlen[2] = s->nkeys.len;
    call->argc = 3;

    return call;
}


/* arguments are copied: the call may outlive the request */

static ngx_int_t
ngx_http_sse_rcall_arg(ngx_http_sse_rcall_t *call, u_char *data, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(call->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (len) {
        ngx_memcpy(p, data, len);
    }

    call->argv[call->argc] = (char *) p;
    call->argvlen[call->argc] = len;
    call->argc++;

    return NGX_OK;
}


/* a key of the zone: "sse:{NAME}:" KIND NAME */

static ngx_int_t
ngx_http_sse_rcall_arg_key(ngx_http_sse_rcall_t *call, const char *kind,
    ngx_str_t *name)
{
    u_char     *p, *last;
    ngx_str_t  *prefix;

    prefix = &call->rd->prefix;

    p = ngx_pnalloc(call->pool, prefix->len + ngx_strlen(kind) + name->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_cpymem(p, prefix->data, prefix->len);
    last = ngx_cpymem(last, kind, ngx_strlen(kind));
    last = ngx_cpymem(last, name->data, name->len);

    call->argv[call->argc] = (char *) p;
    call->argvlen[call->argc] = last - p;
    call->argc++;

    return NGX_OK;
}


static ngx_int_t
ngx_http_sse_rcall_arg_id(ngx_http_sse_rcall_t *call, uint64_t id)
{
    u_char  *p, buf[NGX_INT64_LEN];

    p = ngx_sprintf(buf, "%uL", id);

    return ngx_http_sse_rcall_arg(call, buf, p - buf);
}


static ngx_int_t
ngx_http_sse_rcall_bind(ngx_http_sse_rcall_t *call, ngx_http_sse_op_t *op)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(op->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_sse_rcall_unbind;
    cln->data = call;

    call->op = op;
    call->cln = cln;

    return NGX_OK;
}


/* the operation went first (the worker is shutting down): no completion */

static void
ngx_http_sse_rcall_unbind(void *data)
{
    ngx_http_sse_rcall_t *call = data;

    call->op = NULL;
    call->cln = NULL;
}


static ngx_int_t
ngx_http_sse_rcall_send(ngx_http_sse_rcall_t *call)
{
    ngx_http_sse_rconn_t  *rc;

    rc = &call->rd->cmd;

    return ngx_http_sse_rconn_send(rc, ngx_http_sse_rcall_reply, call,
                                   call->argc, call->argv, call->argvlen);
}


/* sends a call bound to an operation, which then waits for the reply */

static ngx_int_t
ngx_http_sse_rcall_start(ngx_http_sse_rcall_t *call, ngx_http_sse_op_t *op)
{
    if (ngx_http_sse_rcall_bind(call, op) != NGX_OK) {
        ngx_http_sse_rcall_free(call);
        return NGX_ERROR;
    }

    if (ngx_http_sse_rcall_send(call) != NGX_OK) {
        ngx_http_sse_rcall_free(call);
        op->status = NGX_HTTP_SSE_STORE_UNAVAILABLE;
        return NGX_OK;
    }

    return NGX_AGAIN;
}


static void
ngx_http_sse_rcall_reply(ngx_http_sse_rconn_t *rc, void *data, void *privdata)
{
    redisReply            *reply = data;
    ngx_http_sse_rcall_t  *call = privdata;

    ngx_http_sse_script_t  *s;

    ngx_http_sse_rconn_replied(rc);

    if (reply && reply->type == REDIS_REPLY_ERROR && !call->retried
        && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* a Redis that restarted, or a new one: the script goes whole */

        s = &ngx_http_sse_scripts[call->script];

        call->retried = 1;
        call->argv[0] = "EVAL";
        call->argvlen[0] = sizeof("EVAL") - 1;
        call->argv[1] = (char *) s->text.data;
        call->argvlen[1] = s->text.len;

        if (ngx_http_sse_rcall_send(call) == NGX_OK) {
            return;
        }

        reply = NULL;
    }

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, call->rd->log, 0,
                      "sse_zone \"%V\": redis %V: %s",
                      &call->rd->zone->name, &call->rd->peer.url, reply->str);
    }

    call->handler(call, reply);

    ngx_http_sse_rcall_free(call);
}


/* the operation is complete: its owner is told, unless it is gone */

static void
ngx_http_sse_rcall_finish(ngx_http_sse_rcall_t *call, ngx_uint_t status)
{
    ngx_http_sse_op_t  *op;

    op = call->op;

    if (op == NULL) {
        return;
    }

    call->op = NULL;

    if (call->cln) {
        call->cln->handler = NULL;
        call->cln = NULL;
    }

    if (ngx_http_sse_redis_exiting) {
        return;
    }

    op->status = status;
    op->handler(op);
}


static void
ngx_http_sse_rcall_free(ngx_http_sse_rcall_t *call)
{
    if (call->cln) {
        call->cln->handler = NULL;
    }

    ngx_destroy_pool(call->pool);
}


static void
ngx_http_sse_redis_init_done(ngx_http_sse_rcall_t *call, redisReply *reply)
{
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        return;
    }

    /* what other servers published while this one was away */
    ngx_http_sse_redis_fetch(call->rd);

    ngx_http_sse_redis_changed(call->rd->zone);
}


/* publishing */

static ngx_int_t
ngx_http_sse_redis_publish(ngx_http_sse_op_t *op)
{
    ngx_uint_t             i, j, k;
    ngx_http_sse_pmsg_t   *m;
    ngx_http_sse_rcall_t  *call;
    ngx_http_sse_redis_t  *rd;

    rd = op->zone->backend_conf;

    if (!rd->cmd.ready) {
        op->status = NGX_HTTP_SSE_STORE_UNAVAILABLE;
        return NGX_OK;
    }

    call = ngx_http_sse_rcall_create(rd, NGX_HTTP_SSE_SCRIPT_PUBLISH,
                                     7 + 4 * op->nres,
                                     ngx_http_sse_redis_published);
    if (call == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_sse_redis_log_args(call) != NGX_OK) {
        goto failed;
    }

    k = 0;

    for (i = 0; i < op->nmsgs; i++) {
        m = &op->msgs[i];

        for (j = 0; j < m->nchannels; j++) {
            op->res[k++].channel = m->channels[j];

            if (ngx_http_sse_rcall_arg(call, m->channels[j].data,
                                       m->channels[j].len)
                != NGX_OK
                || ngx_http_sse_rcall_arg(call, m->event.data, m->event.len)
                   != NGX_OK
                || ngx_http_sse_rcall_arg(call, m->user.data, m->user.len)
                   != NGX_OK
                || ngx_http_sse_rcall_arg(call, m->data.data, m->data.len)
                   != NGX_OK)
            {
                goto failed;
            }
        }
    }

    return ngx_http_sse_rcall_start(call, op);

failed:

    ngx_http_sse_rcall_free(call);

    return NGX_ERROR;
}


/*
 * What publish and delete pass first: KEYS id, log; ARGV prefix, server,
 * floor (the newest id this server holds), log length, doorbell channel.
 */

static ngx_int_t
ngx_http_sse_redis_log_args(ngx_http_sse_rcall_t *call)
{
    ngx_http_sse_redis_t  *rd;

    rd = call->rd;

    if (ngx_http_sse_rcall_arg(call, rd->id_key.data, rd->id_key.len)
        != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->log_key.data, rd->log_key.len)
           != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->prefix.data, rd->prefix.len)
           != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->sid.data, rd->sid.len) != NGX_OK
        || ngx_http_sse_rcall_arg_id(call,
                                     ngx_http_sse_store_last_id(rd->zone))
           != NGX_OK
        || ngx_http_sse_rcall_arg_id(call, rd->log_max) != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->events.data, rd->events.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_sse_redis_published(ngx_http_sse_rcall_t *call, redisReply *reply)
{
    ngx_uint_t               k;
    redisReply             **el;
    ngx_http_sse_op_t       *op;
    ngx_http_sse_info_t      info;
    ngx_http_sse_presult_t  *res;

    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        /* this worker's subscribers need not wait for the doorbell */
        ngx_http_sse_redis_fetch(call->rd);
    }

    op = call->op;

    if (op == NULL) {
        return;
    }

    if (reply == NULL) {
        ngx_http_sse_rcall_finish(call, NGX_HTTP_SSE_STORE_UNAVAILABLE);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 * op->nres)
    {
        ngx_http_sse_rcall_finish(call, NGX_HTTP_SSE_STORE_REFUSED);
        return;
    }

    el = reply->element;
    res = op->res;

    for (k = 0; k < op->nres; k++) {
        res[k].id = (uint64_t) el[2 * k]->integer;
        res[k].subscribers = (ngx_uint_t) el[2 * k + 1]->integer
                             + ngx_http_sse_redis_local(call->rd->zone,
                                                        &res[k].channel,
                                                        &info);
    }

    ngx_http_sse_rcall_finish(call, NGX_HTTP_SSE_STORE_OK);
}


/* subscribers of a channel on this server; 0 if the channel is unknown */

static ngx_uint_t
ngx_http_sse_redis_local(ngx_http_sse_zone_t *zone, ngx_str_t *channel,
    ngx_http_sse_info_t *info)
{
    if (ngx_http_sse_store_info(zone, channel, info) != NGX_OK) {
        ngx_memzero(info, sizeof(ngx_http_sse_info_t));
        info->channel = *channel;
        return 0;
    }

    return info->subscribers;
}


/* info: this server's mirror, and the other servers' subscribers */

static ngx_int_t
ngx_http_sse_redis_info(ngx_http_sse_op_t *op)
{
    ngx_str_t             *channel;
    ngx_http_sse_rcall_t  *call;
    ngx_http_sse_redis_t  *rd;

    rd = op->zone->backend_conf;
    channel = &op->info.channel;

    if (!rd->cmd.ready) {
        op->status = NGX_HTTP_SSE_STORE_UNAVAILABLE;
        return NGX_OK;
    }

    call = ngx_http_sse_rcall_create(rd, NGX_HTTP_SSE_SCRIPT_COUNT, 4,
                                     ngx_http_sse_redis_counted);
    if (call == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_sse_rcall_arg(call, rd->id_key.data, rd->id_key.len)
        != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->prefix.data, rd->prefix.len)
           != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->sid.data, rd->sid.len) != NGX_OK
        || ngx_http_sse_rcall_arg(call, channel->data, channel->len)
           != NGX_OK)
    {
        ngx_http_sse_rcall_free(call);
        return NGX_ERROR;
    }

    return ngx_http_sse_rcall_start(call, op);
}


static void
ngx_http_sse_redis_counted(ngx_http_sse_rcall_t *call, redisReply *reply)
{
    ngx_str_t            channel;
    ngx_http_sse_op_t   *op;

    op = call->op;

    if (op == NULL) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_sse_rcall_finish(call, NGX_HTTP_SSE_STORE_UNAVAILABLE);
        return;
    }

    channel = op->info.channel;

    if (ngx_http_sse_store_info(op->zone, &channel, &op->info) != NGX_OK) {
        if (reply->integer == 0) {
            ngx_http_sse_rcall_finish(call, NGX_HTTP_SSE_STORE_UNKNOWN);
            return;
        }

        /* only subscribers on other servers so far */
        ngx_memzero(&op->info, sizeof(ngx_http_sse_info_t));
    }

    op->info.channel = channel;
    op->info.subscribers += (ngx_uint_t) reply->integer;

    ngx_http_sse_rcall_finish(call, NGX_HTTP_SSE_STORE_OK);
}


/* delete: a marker through the log, applied by every server */

static ngx_int_t
ngx_http_sse_redis_delete(ngx_http_sse_op_t *op)
{
    ngx_str_t             *channel;
    ngx_uint_t             known;
    ngx_http_sse_info_t    info;
    ngx_http_sse_rcall_t  *call;
    ngx_http_sse_redis_t  *rd;

    rd = op->zone->backend_conf;
    channel = &op->info.channel;

    if (!rd->cmd.ready) {
        op->status = NGX_HTTP_SSE_STORE_UNAVAILABLE;
        return NGX_OK;
    }

    known = (ngx_http_sse_store_info(op->zone, channel, &info) == NGX_OK);

    call = ngx_http_sse_rcall_create(rd, NGX_HTTP_SSE_SCRIPT_DELETE, 9,
                                     ngx_http_sse_redis_deleted);
    if (call == NULL) {
        return NGX_ERROR;
    }

    call->local = known ? info.subscribers : 0;

    if (ngx_http_sse_redis_log_args(call) != NGX_OK
        || ngx_http_sse_rcall_arg(call, channel->data, channel->len)
           != NGX_OK
        || ngx_http_sse_rcall_arg(call, (u_char *) (known ? "1" : "0"), 1)
           != NGX_OK)
    {
        ngx_http_sse_rcall_free(call);
        return NGX_ERROR;
    }

    return ngx_http_sse_rcall_start(call, op);
}


static void
ngx_http_sse_redis_deleted(ngx_http_sse_rcall_t *call, redisReply *reply)
{
    ngx_http_sse_op_t  *op;

    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        ngx_http_sse_redis_fetch(call->rd);
    }

    op = call->op;

    if (op == NULL) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        ngx_http_sse_rcall_finish(call, NGX_HTTP_SSE_STORE_UNAVAILABLE);
        return;
    }

    if (reply->element[0]->integer == 0) {
        ngx_http_sse_rcall_finish(call, NGX_HTTP_SSE_STORE_UNKNOWN);
        return;
    }

    op->info.subscribers = call->local
                           + (ngx_uint_t) reply->element[1]->integer;

    ngx_http_sse_rcall_finish(call, NGX_HTTP_SSE_STORE_OK);
}


/*
 * Reading the log: after the newest id the zone holds, in pages; one read
 * at a time per worker, again when something rang meanwhile.
 */

static void
ngx_http_sse_redis_fetch(ngx_http_sse_redis_t *rd)
{
    u_char       *p, *q, start[NGX_INT64_LEN + 2], count[NGX_INT_T_LEN];
    size_t        argvlen[6];
    const char   *argv[6];

    if (rd->fetching) {
        rd->fetch_again = 1;
        return;
    }

    p = ngx_sprintf(start, "%uL-0",
                    ngx_http_sse_store_last_id(rd->zone) + 1);

    argv[0] = "XRANGE";
    argvlen[0] = sizeof("XRANGE") - 1;
    argv[1] = (char *) rd->log_key.data;
    argvlen[1] = rd->log_key.len;
    argv[2] = (char *) start;
    argvlen[2] = p - start;
    argv[3] = "+";
    argvlen[3] = 1;
    argv[4] = "COUNT";
    argvlen[4] = sizeof("COUNT") - 1;
    q = ngx_sprintf(count, "%d", NGX_HTTP_SSE_REDIS_FETCH);
    argv[5] = (char *) count;
    argvlen[5] = q - count;

    if (ngx_http_sse_rconn_send(&rd->cmd, ngx_http_sse_redis_fetched, rd,
                                6, argv, argvlen)
        != NGX_OK)
    {
        return;
    }

    rd->fetching = 1;
    rd->fetch_again = 0;
}


static void
ngx_http_sse_redis_fetched(ngx_http_sse_rconn_t *rc, void *data,
    void *privdata)
{
    redisReply            *reply = data;
    ngx_http_sse_redis_t  *rd = privdata;

    uint64_t  before;

    ngx_http_sse_rconn_replied(&rd->cmd);

    rd->fetching = 0;

    if (reply == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "sse_zone \"%V\": redis %V: XRANGE: %s",
                          &rd->zone->name, &rd->peer.url, reply->str);
        }

        goto again;
    }

    before = ngx_http_sse_store_last_id(rd->zone);

    ngx_http_sse_redis_apply(rd, reply);

    if (reply->elements < NGX_HTTP_SSE_REDIS_FETCH) {
        /* the end of the log: the mirror has what Redis had */
        ngx_http_sse_store_set_behind(rd->zone, 0);
    }

    if (reply->elements >= NGX_HTTP_SSE_REDIS_FETCH
        && ngx_http_sse_store_last_id(rd->zone) != before)
    {
        /* more to read (nothing new: no loop on what cannot be applied) */
        ngx_http_sse_redis_fetch(rd);
        return;
    }

again:

    /*
     * a doorbell rang while this read was on its way: Redis may have run
     * it before that message was in the log, so it is read now, whatever
     * this read brought (once per doorbell: no loop)
     */

    if (rd->fetch_again) {
        ngx_http_sse_redis_fetch(rd);
    }
}


/*
 * Log entries into the zone: runs of messages, and deletions.  An entry
 * whose predecessor (p) is after what the zone holds shows that the log no
 * longer follows on from it: what is between is lost to this server, and
 * goes to the zone with the run that follows it.
 */

static void
ngx_http_sse_redis_apply(ngx_http_sse_redis_t *rd, redisReply *reply)
{
    size_t                  i;
    uint64_t                held, lost;
    ngx_str_t               err;
    ngx_http_sse_info_t     info;
    ngx_http_sse_rrun_t     run;
    ngx_http_sse_pmsg_t    *m;
    ngx_http_sse_rentry_t   en;

    if (reply->elements == 0) {
        return;
    }

    ngx_memzero(&run, sizeof(ngx_http_sse_rrun_t));

    run.msgs = ngx_alloc(reply->elements * sizeof(ngx_http_sse_pmsg_t),
                         rd->log);
    run.ids = ngx_alloc(reply->elements * sizeof(uint64_t), rd->log);
    run.names = ngx_alloc(reply->elements * sizeof(ngx_str_t), rd->log);

    if (run.msgs == NULL || run.ids == NULL || run.names == NULL) {
        goto done;
    }

    held = ngx_http_sse_store_last_id(rd->zone);

    for (i = 0; i < reply->elements; i++) {
        m = &run.msgs[run.n];

        if (ngx_http_sse_redis_entry(reply->element[i], &en, m) != NGX_OK) {
            continue;
        }

        if (en.id > held) {
            /* p 0: Redis lost its counter, what came before is unknown */
            lost = en.has_prev ? (en.prev ? en.prev : en.id - 1) : 0;

            if (lost > held) {
                /* what came before it goes first */
                ngx_http_sse_redis_flush(rd, &run);

                run.lost_from = held + 1;
                run.lost = lost;

                /*
                 * A range across a counter jump holds ids never given:
                 * one that wide is no real loss (no server is that far
                 * behind another), its size is not known.
                 */
                run.sized = (en.prev != 0
                             && lost - held < NGX_HTTP_SSE_REDIS_JUMP_N / 2);
            }

            held = en.id;
        }

        if (ngx_http_sse_channel_valid(&en.channel) != NGX_OK) {
            continue;
        }

        if (en.del) {
            ngx_http_sse_redis_flush(rd, &run);

            (void) ngx_http_sse_store_delete(rd->zone, &en.channel, en.id,
                                             &info, rd->log);
            continue;
        }

        run.names[run.n] = en.channel;
        m->channels = &run.names[run.n];
        m->nchannels = 1;

        if (ngx_http_sse_check_message(m, NGX_MAX_SIZE_T_VALUE, &err)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "sse_zone \"%V\": message %uL in redis is "
                          "skipped: %V", &rd->zone->name, en.id, &err);
            continue;
        }

        run.ids[run.n++] = en.id;
    }

    ngx_http_sse_redis_flush(rd, &run);

done:

    if (run.msgs) {
        ngx_free(run.msgs);
    }

    if (run.ids) {
        ngx_free(run.ids);
    }

    if (run.names) {
        ngx_free(run.names);
    }
}


/* one log entry: its id, channel and p, and the message into m */

static ngx_int_t
ngx_http_sse_redis_entry(redisReply *e, ngx_http_sse_rentry_t *en,
    ngx_http_sse_pmsg_t *m)
{
    size_t       j;
    ngx_str_t    v;
    redisReply  *f, *k;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
        || e->element[0]->type != REDIS_REPLY_STRING
        || e->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NGX_DECLINED;
    }

    ngx_memzero(en, sizeof(ngx_http_sse_rentry_t));
    ngx_memzero(m, sizeof(ngx_http_sse_pmsg_t));

    en->id = ngx_http_sse_redis_id(e->element[0]->str, e->element[0]->len);
    if (en->id == 0) {
        return NGX_DECLINED;
    }

    f = e->element[1];

    for (j = 0; j + 1 < f->elements; j += 2) {
        k = f->element[j];

        if (k->type != REDIS_REPLY_STRING || k->len != 1
            || f->element[j + 1]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        v.data = (u_char *) f->element[j + 1]->str;
        v.len = f->element[j + 1]->len;

        switch (k->str[0]) {
        case 'c':
            en->channel = v;
            break;
        case 'e':
            m->event = v;
            break;
        case 'u':
            m->user = v;
            break;
        case 'd':
            m->data = v;
            break;
        case 'x':
            en->del = 1;
            break;
        case 'p':
            en->has_prev = (ngx_http_sse_parse_id(v.data, v.data + v.len,
                                                  &en->prev)
                            != NULL);
            break;
        }
    }

    return NGX_OK;
}


/*
 * A run into the zone, with the loss before it, if any: the store hands
 * them to the workers together, so that a live stream's sse_gap names the
 * first id of its channel after the loss.  Another worker of this server
 * may have applied the loss already: then the store says so, and it is
 * logged once.
 */

static void
ngx_http_sse_redis_flush(ngx_http_sse_redis_t *rd, ngx_http_sse_rrun_t *run)
{
    ngx_http_sse_stats_t  st;

    if (run->n == 0 && run->lost == 0) {
        return;
    }

    (void) ngx_http_sse_store_insert(rd->zone, run->msgs, run->n, run->ids,
                                     &run->lost, rd->log);

    if (run->lost) {
        /*
         * After Redis lost its counter the range holds the ids the counter
         * jumped over: the loss counts, its size is not known.
         */

        ngx_http_sse_store_count_lost(rd->zone,
                                      run->sized
                                      ? run->lost - run->lost_from + 1 : 0);

        ngx_http_sse_store_stats(rd->zone, &st);

        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "sse_zone \"%V\": ids %uL to %uL are lost to this "
                      "server (redis %V no longer has them): subscribers "
                      "get sse_gap (losses since the zone was created: "
                      "%uA, %uA ids)",
                      &rd->zone->name, run->lost_from, run->lost,
                      &rd->peer.url, st.losses, st.lost_ids);
    }

    run->n = 0;
    run->lost = 0;
}


/* the doorbell: a new id; read the log if the zone does not have it */

static void
ngx_http_sse_redis_notified(ngx_http_sse_rconn_t *rc, void *data,
    void *privdata)
{
    redisReply            *reply = data;

    uint64_t               id;
    redisReply           **el;
    ngx_http_sse_redis_t  *rd;

    rd = rc->data;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    el = reply->element;

    if (ngx_strcmp(el[0]->str, "subscribe") == 0) {
        rc->ready = 1;
        ngx_http_sse_redis_state(rd, NULL);

        /* catch up on what was published while away */
        ngx_http_sse_redis_fetch(rd);
        return;
    }

    if (ngx_strcmp(el[0]->str, "message") != 0
        || el[2]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    id = ngx_http_sse_redis_id(el[2]->str, el[2]->len);

    if (id > ngx_http_sse_store_last_id(rd->zone)) {
        ngx_http_sse_redis_fetch(rd);
    }
}


/* "1042" or "1042-0" */

static uint64_t
ngx_http_sse_redis_id(char *s, size_t len)
{
    uint64_t  id;

    if (ngx_http_sse_parse_id((u_char *) s, (u_char *) s + len, &id) == NULL) {
        return 0;
    }

    return id;
}


/*
 * Once a second: a command connection that stopped answering is closed,
 * the log is read if the doorbell is down, and one worker of the server
 * reports its subscriber counts.
 */

static void
ngx_http_sse_redis_tick(ngx_event_t *ev)
{
    ngx_http_sse_rconn_t  *rc;
    ngx_http_sse_redis_t  *rd;

    rd = ev->data;
    rc = &rd->cmd;

    if (ngx_exiting || ngx_terminate || ngx_quit
        || ngx_http_sse_redis_exiting)
    {
        return;
    }

    if (rc->ready && rc->pending
        && ngx_current_msec - rc->progress > NGX_HTTP_SSE_REDIS_REPLY_TIMEOUT)
    {
        ngx_http_sse_rconn_drop(rc, "no reply for 5 seconds");
    }

    if (rc->ready && !rd->sub.ready) {
        ngx_http_sse_redis_fetch(rd);
    }

    if (ngx_http_sse_store_sync_due(rd->zone, NGX_HTTP_SSE_REDIS_TICK
                                              - NGX_HTTP_SSE_REDIS_SOON))
    {
        ngx_http_sse_redis_sync(rd);
    }

    ngx_add_timer(ev, NGX_HTTP_SSE_REDIS_TICK);
}


/* subscribers came or went here (a store hook): reported within 100 ms */

static void
ngx_http_sse_redis_changed(ngx_http_sse_zone_t *zone)
{
    ngx_http_sse_redis_t  *rd;

    rd = zone->backend_conf;

    if (rd->log == NULL || rd->sync.timer_set
        || ngx_exiting || ngx_terminate || ngx_quit
        || ngx_http_sse_redis_exiting)
    {
        return;
    }

    ngx_add_timer(&rd->sync, NGX_HTTP_SSE_REDIS_SOON);
}


static void
ngx_http_sse_redis_sync_handler(ngx_event_t *ev)
{
    ngx_http_sse_redis_t  *rd;

    rd = ev->data;

    ngx_http_sse_store_synced(rd->zone);

    ngx_http_sse_redis_sync(rd);
}


static void
ngx_http_sse_redis_sync(ngx_http_sse_redis_t *rd)
{
    u_char                *p;
    ngx_uint_t             i;
    ngx_pool_t            *pool;
    ngx_array_t            counts;
    ngx_http_sse_info_t   *info;
    ngx_http_sse_rcall_t  *call;

    if (!rd->cmd.ready) {
        return;
    }

    pool = ngx_create_pool(4096, rd->log);
    if (pool == NULL) {
        return;
    }

    if (ngx_array_init(&counts, pool, 16, sizeof(ngx_http_sse_info_t))
        != NGX_OK
        || ngx_http_sse_store_counts(rd->zone, pool, &counts) != NGX_OK)
    {
        goto done;
    }

    call = ngx_http_sse_rcall_create(rd, NGX_HTTP_SSE_SCRIPT_SYNC,
                                     3 + 3 * counts.nelts,
                                     ngx_http_sse_redis_synced);
    if (call == NULL) {
        goto done;
    }

    info = counts.elts;

    /* the keys: the channel set, the channels' reports */

    p = ngx_pnalloc(call->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        goto failed;
    }

    call->argv[2] = (char *) p;
    call->argvlen[2] = ngx_sprintf(p, "%ui", 1 + counts.nelts) - p;

    if (ngx_http_sse_rcall_arg_key(call, "srv:", &rd->sid) != NGX_OK) {
        goto failed;
    }

    for (i = 0; i < counts.nelts; i++) {
        if (ngx_http_sse_rcall_arg_key(call, "subs:", &info[i].channel)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (ngx_http_sse_rcall_arg(call, rd->prefix.data, rd->prefix.len)
        != NGX_OK
        || ngx_http_sse_rcall_arg(call, rd->sid.data, rd->sid.len) != NGX_OK)
    {
        goto failed;
    }

    for (i = 0; i < counts.nelts; i++) {
        if (ngx_http_sse_rcall_arg(call, info[i].channel.data,
                                   info[i].channel.len)
            != NGX_OK
            || ngx_http_sse_rcall_arg_id(call, info[i].subscribers)
               != NGX_OK)
        {
            goto failed;
        }
    }

    if (ngx_http_sse_rcall_send(call) == NGX_OK) {
        goto done;
    }

failed:

    ngx_http_sse_rcall_free(call);

done:

    ngx_destroy_pool(pool);
}


static void
ngx_http_sse_redis_synced(ngx_http_sse_rcall_t *call, redisReply *reply)
{
    /* nothing to do: an error is logged, the next round tries again */
    (void) call;
    (void) reply;
}
