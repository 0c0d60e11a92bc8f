
/*
 * Subscriber streams: the EventSource response, the worker-local registry
 * of subscribers per channel, and delivery of what other workers (or this
 * one) published.
 *
 * A message is formatted once per worker into a reference-counted frame;
 * every local subscriber of its channel gets a buffer pointing into that
 * frame.  What a wake-up brings is queued for every subscriber first and
 * then written with one write per subscriber.
 *
 * A new subscriber with history to receive (resume, replay) catches up
 * first: it reads history from the zone part by part as its connection
 * drains, never more than sse_max_pending at a time, into the same shared
 * frames (a small cache finds a frame that another stream of the worker
 * still holds).  It gets no live event meanwhile; when it has read the
 * newest message, it goes live after that id: nothing lost, nothing twice.
 *
 * Detached streams.  A stream is an object of its own (ngx_http_sse_stream_t,
 * from the worker's free lists), not the request's.  Once the response head,
 * the greeting and any history are written, an HTTP/1.x stream lets its
 * request go (ngx_http_sse_stream_detach()): the access log line is written,
 * the request's pool and header buffers are freed, and what limit_conn hung
 * on the pool moves to the stream, to run when it ends.  From then on the
 * stream writes to its connection itself, in chunks when the response was
 * chunked; one writer, ngx_http_sse_stream_flush(), serves both kinds of
 * stream and only its last step differs (the output filters, or the
 * connection's send_chain).  A detached stream ends with the last chunk,
 * then the connection is closed.  HTTP/2 streams and subrequests keep their
 * request.
 */


#include "ngx_http_sse_store.h"


static ngx_http_sse_stream_t *ngx_http_sse_stream_create(
    ngx_http_request_t *r, ngx_uint_t n, ngx_str_t *user);
static ngx_int_t ngx_http_sse_stream_start(ngx_http_request_t *r,
    ngx_http_sse_stream_t *st, ngx_array_t *names, time_t expires);
static ngx_int_t ngx_http_sse_stream_subscribe(ngx_http_request_t *r,
    ngx_http_sse_stream_t *st, ngx_array_t *names);
static ngx_int_t ngx_http_sse_stream_open(ngx_http_request_t *r,
    ngx_http_sse_stream_t *st, ngx_array_t *names, time_t expires);
static ngx_int_t ngx_http_sse_stream_since(ngx_http_request_t *r,
    ngx_http_sse_stream_t *st, ngx_http_sse_since_t *since);
static ngx_int_t ngx_http_sse_last_event_id(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_int_t ngx_http_sse_stream_headers(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_stream_greet(ngx_http_request_t *r,
    ngx_http_sse_stream_t *st, ngx_array_t *names);
static ngx_int_t ngx_http_sse_stream_push_head(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_stream_catchup(ngx_http_sse_stream_t *st);
static ngx_int_t ngx_http_sse_stream_gap(ngx_http_sse_stream_t *st,
    ngx_http_sse_channel_t *ch, uint64_t last_id, uint64_t oldest);
static ngx_http_sse_lchannel_t *ngx_http_sse_lchannel_get(
    ngx_http_sse_zone_t *zone, ngx_http_sse_channel_t *ch);
static ngx_http_sse_lchannel_t *ngx_http_sse_lchannel_lookup(
    ngx_http_sse_zone_t *zone, ngx_http_sse_channel_t *ch);
static void ngx_http_sse_lchannel_put(ngx_http_sse_zone_t *zone,
    ngx_http_sse_lchannel_t *lch);
static ngx_uint_t ngx_http_sse_deliver_msg(ngx_http_sse_zone_t *zone,
    ngx_http_sse_lchannel_t *lch, ngx_http_sse_mview_t *m);
static ngx_http_sse_frame_t *ngx_http_sse_frame_get(
    ngx_http_sse_zone_t *zone, ngx_http_sse_mview_t *m);
static void ngx_http_sse_frame_release(ngx_http_sse_frame_t *frame);
static ngx_int_t ngx_http_sse_stream_queue(ngx_http_sse_stream_t *st,
    u_char *pos, size_t len, ngx_http_sse_frame_t *frame, ngx_uint_t force);
static ngx_http_sse_obuf_t *ngx_http_sse_obuf_get(u_char *pos, size_t len,
    ngx_http_sse_frame_t *frame);
static void ngx_http_sse_obuf_free(ngx_http_sse_obuf_t *ob);
static void ngx_http_sse_deliver_delete(ngx_http_sse_lchannel_t *lch);
static void ngx_http_sse_deliver_lost(ngx_http_sse_zone_t *zone,
    uint64_t lost, ngx_http_sse_pending_t *p);
static uint64_t ngx_http_sse_stream_had(ngx_http_sse_link_t *link);
static ngx_uint_t ngx_http_sse_stream_live(ngx_http_sse_stream_t *st,
    uint64_t id);
static void ngx_http_sse_stream_dirty(ngx_http_sse_stream_t *st);
static void ngx_http_sse_flush_dirty(void);
static ngx_int_t ngx_http_sse_stream_send(ngx_http_sse_stream_t *st);
static ngx_int_t ngx_http_sse_stream_drive(ngx_http_sse_stream_t *st);
static ngx_int_t ngx_http_sse_stream_flush(ngx_http_sse_stream_t *st);
static ngx_int_t ngx_http_sse_stream_write(ngx_http_sse_stream_t *st,
    ngx_chain_t *out);
static ngx_chain_t *ngx_http_sse_stream_chunk(ngx_http_sse_stream_t *st,
    ngx_chain_t *out);
static void ngx_http_sse_stream_log(ngx_http_sse_stream_t *st, ngx_err_t err,
    const char *what);
static void ngx_http_sse_stream_write_handler(ngx_http_request_t *r);
static void ngx_http_sse_stream_write_event(ngx_event_t *wev);
static void ngx_http_sse_stream_writable(ngx_http_sse_stream_t *st);
static void ngx_http_sse_stream_read_event(ngx_event_t *rev);
static void ngx_http_sse_stream_event(ngx_event_t *ev);
static void ngx_http_sse_stream_tick(ngx_http_sse_stream_t *st);
static void ngx_http_sse_stream_arm(ngx_http_sse_stream_t *st);
static ngx_uint_t ngx_http_sse_stream_detachable(ngx_http_sse_stream_t *st);
static void ngx_http_sse_stream_detach(ngx_http_sse_stream_t *st);
static ngx_int_t ngx_http_sse_stream_take_cleanups(ngx_http_sse_stream_t *st,
    ngx_pool_t *pool);
static ngx_uint_t ngx_http_sse_limit_conn_data(void *data);
static void ngx_http_sse_stream_free_headers(ngx_connection_t *c,
    ngx_http_connection_t *hc);
static void ngx_http_sse_stream_end(ngx_http_sse_stream_t *st);
static void ngx_http_sse_stream_close(ngx_http_sse_stream_t *st);
static void ngx_http_sse_stream_finish(ngx_http_sse_stream_t *st);
static void ngx_http_sse_stream_unregister(ngx_http_sse_stream_t *st);
static void ngx_http_sse_stream_cleanup(void *data);
static void ngx_http_sse_stream_free(ngx_http_sse_stream_t *st);
static void ngx_http_sse_chain_release(ngx_chain_t *cl);
static void ngx_http_sse_stream_watch(void);
static void ngx_http_sse_stream_watch_handler(ngx_event_t *ev);
static void ngx_http_sse_stream_end_all(void);


/* history read for a stream at a time: items, and bytes without a cap */
#define NGX_HTTP_SSE_HISTORY_BATCH   64
#define NGX_HTTP_SSE_HISTORY_CHUNK   (256 * 1024)

/* rounds of history written at once to a fast reader before others run */
#define NGX_HTTP_SSE_HISTORY_ROUNDS  4

/* frames of this worker by message id; a frame leaves when it is freed */
#define NGX_HTTP_SSE_FRAME_CACHE     64

/* how often a worker looks whether it is shutting down */
#define NGX_HTTP_SSE_WATCH_PERIOD    250

/*
 * The worker's free lists: stream objects by size, in steps of
 * NGX_HTTP_SSE_STREAM_STEP bytes up to NGX_HTTP_SSE_STREAM_CLASSES steps
 * (larger ones are allocated and freed as they come), and output buffers;
 * past NGX_HTTP_SSE_FREE_MAX spare ones of a kind, freed ones go back to
 * the heap.
 */
#define NGX_HTTP_SSE_STREAM_STEP     32
#define NGX_HTTP_SSE_STREAM_CLASSES  32
#define NGX_HTTP_SSE_FREE_MAX        4096

/* rounds of bytes read and dropped from a detached stream's client */
#define NGX_HTTP_SSE_DISCARD_ROUNDS  4


static ngx_str_t  ngx_http_sse_keepalive_text = ngx_string(": keepalive\n\n");
static ngx_str_t  ngx_http_sse_crlf = ngx_string(CRLF);
static ngx_str_t  ngx_http_sse_last_chunk = ngx_string("0" CRLF CRLF);

/* every subscriber of this worker, and those with output queued */
static ngx_queue_t  ngx_http_sse_streams;
static ngx_queue_t  ngx_http_sse_dirty;
static ngx_uint_t   ngx_http_sse_nstreams;
static ngx_event_t  ngx_http_sse_watch_event;

static ngx_http_sse_frame_t  *ngx_http_sse_frames[NGX_HTTP_SSE_FRAME_CACHE];

/* one batch of history at a time per worker */
static ngx_http_sse_hitem_t   ngx_http_sse_hitems[NGX_HTTP_SSE_HISTORY_BATCH];

/* limit_conn, whose cleanups move to detached streams; or NULL */
static ngx_module_t          *ngx_http_sse_limit_conn;

/* free lists: a spare stream's first word links it to the next */
static void        *ngx_http_sse_free_streams[NGX_HTTP_SSE_STREAM_CLASSES];
static ngx_uint_t   ngx_http_sse_nfree_streams[NGX_HTTP_SSE_STREAM_CLASSES];
static ngx_chain_t *ngx_http_sse_free_obufs;
static ngx_uint_t   ngx_http_sse_nfree_obufs;

/* what a detached stream's client sends: read and dropped */
static u_char       ngx_http_sse_discard[512];


ngx_int_t
ngx_http_sse_subscribe_handler(ngx_http_request_t *r)
{
    time_t                    exp;
    ngx_int_t                 rc;
    ngx_str_t                 value, err, user;
    const char               *why;
    ngx_array_t               names;
    ngx_http_sse_stream_t    *st;
    ngx_http_sse_loc_conf_t  *slcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_sse_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "method not allowed: subscribe with "
                                       "GET");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    if (ngx_http_sse_complex_value(r, slcf->channel, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_array_init(&names, r->pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_sse_split_channels(&value, &names, &err)
        != NGX_OK)
    {
        return ngx_http_sse_send_error(r, NGX_HTTP_BAD_REQUEST, "%V", &err);
    }

    rc = ngx_http_sse_auth_subscriber(r, &names, &user, &exp, &why);

    if (rc == NGX_HTTP_UNAUTHORIZED || rc == NGX_HTTP_FORBIDDEN) {
        return ngx_http_sse_send_error(r, rc, "%s", why);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (r->method == NGX_HTTP_HEAD) {
        rc = ngx_http_sse_stream_headers(r);
        if (rc == NGX_ERROR || rc > NGX_OK) {
            return rc;
        }

        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    if (slcf->zone->slot == NULL) {
        return ngx_http_sse_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "this worker has no place in "
                                       "sse_zone \"%V\"", &slcf->zone->name);
    }

    st = ngx_http_sse_stream_create(r, names.nelts, &user);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_sse_stream_start(r, st, &names, exp);
}


/*
 * A stream object in one piece: the stream, its channels, its links and a
 * copy of its user; freed by the request's pool cleanup, or by the stream
 * itself once detached.
 */

static ngx_http_sse_stream_t *
ngx_http_sse_stream_create(ngx_http_request_t *r, ngx_uint_t n,
    ngx_str_t *user)
{
    u_char                 *p;
    size_t                  size;
    ngx_uint_t              k;
    ngx_http_sse_ctx_t     *ctx;
    ngx_pool_cleanup_t     *cln;
    ngx_http_sse_stream_t  *st;

    ctx = ngx_http_sse_request_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    size = sizeof(ngx_http_sse_stream_t)
           + n * (sizeof(ngx_http_sse_channel_t *)
                  + sizeof(ngx_http_sse_link_t))
           + user->len;

    k = (size + NGX_HTTP_SSE_STREAM_STEP - 1) / NGX_HTTP_SSE_STREAM_STEP - 1;
    p = NULL;

    if (k < NGX_HTTP_SSE_STREAM_CLASSES && ngx_http_sse_free_streams[k]) {
        p = ngx_http_sse_free_streams[k];
        ngx_http_sse_free_streams[k] = *(void **) p;
        ngx_http_sse_nfree_streams[k]--;
    }

    if (p == NULL) {
        if (k < NGX_HTTP_SSE_STREAM_CLASSES) {
            size = (k + 1) * NGX_HTTP_SSE_STREAM_STEP;
        }

        p = ngx_alloc(size, r->connection->log);
        if (p == NULL) {
            return NULL;
        }
    }

    st = (ngx_http_sse_stream_t *) p;
    ngx_memzero(st, sizeof(ngx_http_sse_stream_t));

    p += sizeof(ngx_http_sse_stream_t);
    st->channels = (ngx_http_sse_channel_t **) p;
    p += n * sizeof(ngx_http_sse_channel_t *);
    st->links = (ngx_http_sse_link_t *) p;
    ngx_memzero(st->links, n * sizeof(ngx_http_sse_link_t));
    p += n * sizeof(ngx_http_sse_link_t);

    st->user.len = user->len;
    st->user.data = p;

    if (user->len) {
        ngx_memcpy(p, user->data, user->len);
    }

    st->request = r;
    st->connection = r->connection;
    st->start = ngx_current_msec;
    st->conf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);
    st->core_conf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    st->zone = st->conf->zone;
    st->size_class = (k < NGX_HTTP_SSE_STREAM_CLASSES) ? k + 1 : 0;
    st->last_out = &st->out;

    cln->handler = ngx_http_sse_stream_cleanup;
    cln->data = st;

    ctx->stream = st;

    return st;
}


static ngx_int_t
ngx_http_sse_stream_start(ngx_http_request_t *r, ngx_http_sse_stream_t *st,
    ngx_array_t *names, time_t expires)
{
    ngx_int_t  rc;

    /* not registered: refused, rc is the answer */

    rc = ngx_http_sse_stream_subscribe(r, st, names);
    if (!st->registered) {
        return rc;
    }

    if (ngx_http_sse_stream_open(r, st, names, expires) != NGX_OK) {
        ngx_http_sse_stream_unregister(st);
        return NGX_ERROR;
    }

    /* a stream started during a shutdown is ended by the watch timer */
    ngx_http_sse_stream_watch();

    r->main->count++;

    return NGX_DONE;
}


/*
 * Where the stream starts in history, its channels in the zone, and its
 * links in the worker's registry; refusals are answered here.
 */

static ngx_int_t
ngx_http_sse_stream_subscribe(ngx_http_request_t *r,
    ngx_http_sse_stream_t *st, ngx_array_t *names)
{
    ngx_int_t                 rc;
    ngx_uint_t                i, n;
    ngx_http_sse_link_t      *link;
    ngx_http_sse_zone_t      *zone;
    ngx_http_sse_since_t      since;
    ngx_http_sse_lchannel_t  *lch;

    zone = st->zone;
    n = names->nelts;

    rc = ngx_http_sse_stream_since(r, st, &since);

    if (rc == NGX_DECLINED) {
        return ngx_http_sse_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid Last-Event-ID: ids are "
                                       "decimal numbers");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (since.resume || since.replay) {
        st->hpos = ngx_palloc(r->pool, n * sizeof(ngx_http_sse_hpos_t));
        if (st->hpos == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        since.pos = st->hpos;
    }

    rc = ngx_http_sse_store_subscribe(zone, names->elts, n,
                                      st->conf->max_subscribers,
                                      st->channels, &since, &st->start_id,
                                      r->connection->log);

    if (rc == NGX_BUSY) {
        return ngx_http_sse_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "too many subscribers on the channel "
                                       "(sse_max_subscribers)");
    }

    if (rc == NGX_ABORT) {
        return ngx_http_sse_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "no room for new channels in "
                                       "sse_zone \"%V\": channels without "
                                       "messages fill half of it",
                                       &zone->name);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_sse_send_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                                       "sse_zone \"%V\" is full",
                                       &zone->name);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->nchannels = n;
    st->registered = 1;
    st->catchup = since.catchup ? 1 : 0;

    ngx_http_sse_nstreams++;
    ngx_queue_insert_tail(&ngx_http_sse_streams, &st->all);

    for (i = 0; i < n; i++) {
        lch = ngx_http_sse_lchannel_get(zone, st->channels[i]);
        if (lch == NULL) {
            ngx_http_sse_stream_unregister(st);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        link = &st->links[i];
        link->stream = st;
        link->lchannel = lch;
        ngx_queue_insert_tail(&lch->links, &link->queue);
        st->nlinks++;
    }

    return NGX_OK;
}


/*
 * The response head, the greeting, the handlers and timers; then what can
 * be written at once (history first).  The head goes out even alone, so
 * that EventSource opens.
 */

static ngx_int_t
ngx_http_sse_stream_open(ngx_http_request_t *r, ngx_http_sse_stream_t *st,
    ngx_array_t *names, time_t expires)
{
    ngx_int_t                  rc;
    ngx_msec_t                 t;
    ngx_http_core_loc_conf_t  *clcf;

    rc = ngx_http_sse_stream_headers(r);

    if (rc == NGX_ERROR || rc > NGX_OK
        || ngx_http_sse_stream_greet(r, st, names) != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_sse_stream_write_handler;

    /*
     * Events are small writes: without TCP_NODELAY, Nagle's algorithm
     * holds one back while the previous is not acknowledged.  nginx sets
     * it on keep-alive connections only (HTTP/2 sets it on its own).
     */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->tcp_nodelay
#if (NGX_HTTP_V2)
        && r->stream == NULL
#endif
        && ngx_tcp_nodelay(r->connection) != NGX_OK)
    {
        return NGX_ERROR;
    }

    st->event.handler = ngx_http_sse_stream_event;
    st->event.data = st;
    st->event.log = r->connection->log;

    if (st->conf->subscriber_timeout) {
        st->deadline = ngx_current_msec + st->conf->subscriber_timeout;
    }

    if (expires) {
        /* the stream ends when the token expires */
        t = (ngx_msec_t) (expires - ngx_time()) * 1000;

        if (st->deadline == 0 || ngx_current_msec + t < st->deadline) {
            st->deadline = ngx_current_msec + t;
        }
    }

    st->last_write = ngx_current_msec;
    ngx_http_sse_stream_arm(st);

    if (ngx_http_sse_stream_drive(st) == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (!st->body_sent
        && (ngx_http_sse_stream_push_head(r) == NGX_ERROR
            || ngx_http_sse_stream_flush(st) == NGX_ERROR))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Last-Event-ID, or sse_replay for a subscriber without one.
 * NGX_DECLINED: the id is not a decimal number.
 */

static ngx_int_t
ngx_http_sse_stream_since(ngx_http_request_t *r, ngx_http_sse_stream_t *st,
    ngx_http_sse_since_t *since)
{
    u_char     *p;
    uint64_t    id;
    ngx_str_t   value;

    ngx_memzero(since, sizeof(ngx_http_sse_since_t));

    since->user = &st->user;

    if (ngx_http_sse_last_event_id(r, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (value.len == 0) {
        since->replay = st->conf->replay;
        return NGX_OK;
    }

    p = ngx_http_sse_parse_id(value.data, value.data + value.len, &id);

    if (p != value.data + value.len) {
        return NGX_DECLINED;
    }

    since->resume = 1;
    since->last_id = id;

    return NGX_OK;
}


/* sse_last_event_id, by default the header, then ?last_event_id= */

static ngx_int_t
ngx_http_sse_last_event_id(ngx_http_request_t *r, ngx_str_t *value)
{
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    if (slcf->last_event_id) {
        return ngx_http_sse_complex_value(r, slcf->last_event_id, value);
    }

    if (ngx_http_sse_header_value(r, "Last-Event-ID", value) == NGX_OK) {
        return NGX_OK;
    }

    if (ngx_http_arg(r, (u_char *) "last_event_id",
                     sizeof("last_event_id") - 1, value)
        != NGX_OK)
    {
        ngx_str_null(value);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_sse_stream_headers(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-cache");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Accel-Buffering");
    ngx_str_set(&h->value, "no");

    r->allow_ranges = 0;

    /*
     * An HTTP/1.x stream lets its request go once under way and closes its
     * connection when it ends: "Connection: close" says so at once, so
     * that no client sends another request on it after the last chunk (a
     * HEAD request streams nothing and keeps its connection)
     */

    if (r == r->main && r->method != NGX_HTTP_HEAD
#if (NGX_HTTP_V2)
        && r->stream == NULL
#endif
       )
    {
        r->keepalive = 0;
    }

#if (NGX_HTTP_GZIP)
    /* every event goes out as it is: never compressed */
    r->gzip_tested = 1;
    r->gzip_ok = 0;
#endif

    return ngx_http_send_header(r);
}


/* "retry:" and the connected event, ahead of history */

static ngx_int_t
ngx_http_sse_stream_greet(ngx_http_request_t *r, ngx_http_sse_stream_t *st,
    ngx_array_t *names)
{
    u_char                   *p, *start;
    size_t                    len;
    ngx_str_t                *name;
    ngx_uint_t                i;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    len = 0;

    if (slcf->retry) {
        len += sizeof("retry: \n\n") - 1 + NGX_INT64_LEN;
    }

    name = names->elts;

    if (slcf->connected_event.len) {
        len += sizeof("event: \ndata: {\"channels\":[],\"last_event_id\":\"\"}"
                      "\n\n") - 1
               + slcf->connected_event.len + NGX_INT64_LEN;

        for (i = 0; i < names->nelts; i++) {
            len += sizeof("\"\",") - 1 + ngx_http_sse_json_escape_size(&name[i]);
        }
    }

    if (len == 0) {
        return NGX_OK;
    }

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    if (slcf->retry) {
        p = ngx_sprintf(p, "retry: %M\n\n", slcf->retry);
    }

    if (slcf->connected_event.len) {
        p = ngx_sprintf(p, "event: %V\ndata: {\"channels\":[",
                        &slcf->connected_event);

        for (i = 0; i < names->nelts; i++) {
            if (i) {
                *p++ = ',';
            }

            *p++ = '"';
            p = ngx_http_sse_json_escape(p, &name[i]);
            *p++ = '"';
        }

        p = ngx_sprintf(p, "],\"last_event_id\":\"%uL\"}\n\n", st->start_id);
    }

    return ngx_http_sse_stream_queue(st, start, p - start, NULL, 1);
}


/*
 * Sends the response head before any event.  Over HTTP/1.x a flush does.
 * Over HTTP/2, nginx 1.22 queues the HEADERS frame without the flush flag
 * that only its DATA frames carry: with TLS, ngx_ssl_send_chain() keeps it
 * in the connection's 16k buffer until the first event or keepalive, and a
 * flush of the request does not reach that buffer (the HTTP/2 send chain
 * makes frames of data only).  So the HTTP/2 connection is flushed here:
 * ngx_http_v2_send_output_queue() with no frame queued calls the TLS send
 * chain with nothing new, which writes what it holds (or arms the write
 * event of the connection, whose handler finishes it).
 */

static ngx_int_t
ngx_http_sse_stream_push_head(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    ngx_int_t              rc;
    ngx_http_v2_stream_t  *stream;

    stream = r->stream;

    if (stream) {
        if (!stream->connection->connection->buffered) {
            return NGX_OK;
        }

        /* as the HTTP/2 filter does around it: the stream stays */

        stream->blocked = 1;
        rc = ngx_http_v2_send_output_queue(stream->connection);
        stream->blocked = 0;

        if (rc == NGX_ERROR) {
            r->connection->error = 1;
            return NGX_ERROR;
        }

        return NGX_OK;
    }
#endif

    return (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR)
           ? NGX_ERROR : NGX_OK;
}


/*
 * A stream that catches up reads the next part of its history: what fits
 * under sse_max_pending (at least one message when nothing is pending).
 * NGX_OK: something was queued or passed, or the stream went live;
 * NGX_DECLINED: nothing fits until the connection drains.
 */

static ngx_int_t
ngx_http_sse_stream_catchup(ngx_http_sse_stream_t *st)
{
    size_t                    limit;
    ngx_int_t                 rc;
    ngx_uint_t                i, n;
    ngx_http_sse_zone_t      *zone;
    ngx_http_sse_hpos_t      *pos;
    ngx_http_sse_hread_t      hr;
    ngx_http_sse_hitem_t     *it;
    ngx_http_sse_mview_t      m;
    ngx_http_sse_frame_t     *frame;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = st->conf;
    zone = st->zone;

    limit = slcf->max_pending ? slcf->max_pending : NGX_HTTP_SSE_HISTORY_CHUNK;

    if (st->pending >= limit) {
        return NGX_DECLINED;
    }

    hr.items = ngx_http_sse_hitems;
    hr.nitems = NGX_HTTP_SSE_HISTORY_BATCH;
    hr.budget = limit - st->pending;
    hr.user = &st->user;

    if (ngx_http_sse_store_read(zone, st->channels, st->hpos,
                                st->nchannels, &hr)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = NGX_OK;
    n = 0;

    for (i = 0; i < hr.nitems; i++) {
        it = &hr.items[i];
        pos = &st->hpos[it->channel];

        if (it->msg == NULL) {
            rc = ngx_http_sse_stream_gap(st, st->channels[it->channel],
                                         it->from, it->id);
            if (rc != NGX_OK) {
                break;
            }

            continue;
        }

        if (it->visible) {
            ngx_http_sse_store_view(it->msg, &m);

            frame = ngx_http_sse_frame_get(zone, &m);
            if (frame == NULL) {
                rc = NGX_ERROR;
                break;
            }

            if (st->pending && st->pending + frame->len > limit) {
                /* the rest waits until the connection drains */
                ngx_http_sse_frame_release(frame);
                break;
            }

            rc = ngx_http_sse_stream_queue(st, frame->data, frame->len,
                                           frame, 1);

            ngx_http_sse_frame_release(frame);

            if (rc != NGX_OK) {
                break;
            }

            n++;
        }

        pos->msg = it->msg;
        pos->msg_id = it->id;
        pos->id = it->id;
    }

    if (hr.reading) {
        ngx_http_sse_store_read_done(zone);
    }

    if (n) {
        ngx_http_sse_store_delivered(zone, n);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * The newest message is read: live events after it follow.  A stream
     * still full of history waits for the next round, so that the first
     * live events find room under sse_max_pending.
     */

    if (i == hr.nitems && hr.end && st->pending <= limit / 2) {
        st->catchup = 0;
        st->start_id = hr.start_id;
        return NGX_OK;
    }

    return i ? NGX_OK : NGX_DECLINED;
}


/*
 * Messages after last_id left the history before the stream got them.  The
 * event is a frame of its own, freed once written: a stream that lags for
 * long may get many.
 */

static ngx_int_t
ngx_http_sse_stream_gap(ngx_http_sse_stream_t *st, ngx_http_sse_channel_t *ch,
    uint64_t last_id, uint64_t oldest)
{
    u_char                *p;
    size_t                 size;
    ngx_int_t              rc;
    ngx_str_t              name;
    ngx_http_sse_frame_t  *frame;

    ngx_http_sse_store_channel_name(ch, &name);

    size = sizeof("event: sse_gap\ndata: {\"channel\":\"\","
                  "\"last_event_id\":\"\",\"oldest_id\":\"\"}\n\n") - 1
           + ngx_http_sse_json_escape_size(&name) + 2 * NGX_INT64_LEN;

    frame = ngx_alloc(offsetof(ngx_http_sse_frame_t, data) + size,
                      st->connection->log);
    if (frame == NULL) {
        return NGX_ERROR;
    }

    frame->refs = 1;
    frame->id = 0;
    frame->zone = NULL;
    frame->cached = 0;

    p = ngx_cpymem(frame->data, "event: sse_gap\ndata: {\"channel\":\"",
                   sizeof("event: sse_gap\ndata: {\"channel\":\"") - 1);
    p = ngx_http_sse_json_escape(p, &name);
    p = ngx_sprintf(p, "\",\"last_event_id\":\"%uL\",\"oldest_id\":\"%uL\"}"
                    "\n\n", last_id, oldest);

    frame->len = p - frame->data;

    rc = ngx_http_sse_stream_queue(st, frame->data, frame->len, frame, 1);

    ngx_http_sse_frame_release(frame);

    return rc;
}


/* the worker-local registry: shared channel -> local subscribers */

static ngx_http_sse_lchannel_t *
ngx_http_sse_lchannel_lookup(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    key = (ngx_rbtree_key_t) (uintptr_t) ch;
    node = zone->lchannels.root;
    sentinel = zone->lchannels.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        return (ngx_http_sse_lchannel_t *) node;
    }

    return NULL;
}


static ngx_http_sse_lchannel_t *
ngx_http_sse_lchannel_get(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch)
{
    ngx_http_sse_lchannel_t  *lch;

    lch = ngx_http_sse_lchannel_lookup(zone, ch);
    if (lch) {
        return lch;
    }

    lch = ngx_calloc(sizeof(ngx_http_sse_lchannel_t), ngx_cycle->log);
    if (lch == NULL) {
        return NULL;
    }

    lch->node.key = (ngx_rbtree_key_t) (uintptr_t) ch;
    lch->channel = ch;
    ngx_queue_init(&lch->links);

    ngx_rbtree_insert(&zone->lchannels, &lch->node);

    return lch;
}


static void
ngx_http_sse_lchannel_put(ngx_http_sse_zone_t *zone,
    ngx_http_sse_lchannel_t *lch)
{
    if (!ngx_queue_empty(&lch->links)) {
        return;
    }

    ngx_rbtree_delete(&zone->lchannels, &lch->node);
    ngx_free(lch);
}


/* called on a wake-up: hands what was published to local subscribers */

void
ngx_http_sse_stream_deliver(ngx_http_sse_zone_t *zone)
{
    ngx_uint_t                n;
    ngx_http_sse_mview_t      m;
    ngx_http_sse_pending_t    p;
    ngx_http_sse_lchannel_t  *lch;

    if (zone->slot == NULL || zone->nlocal == 0) {
        return;
    }

    if (ngx_http_sse_store_pending(zone, &p) != NGX_OK) {
        return;
    }

    n = 0;

    while (ngx_http_sse_store_pending_next(&p, &m) == NGX_OK) {
        if (m.lost) {
            ngx_http_sse_deliver_lost(zone, m.id, &p);
            continue;
        }

        lch = ngx_http_sse_lchannel_lookup(zone, m.channel);

        if (lch == NULL) {
            continue;
        }

        if (m.delete) {
            ngx_http_sse_deliver_delete(lch);

        } else {
            lch->last_id = m.id;
            n += ngx_http_sse_deliver_msg(zone, lch, &m);
        }
    }

    ngx_http_sse_store_seen(zone, &p);

    if (n) {
        ngx_http_sse_store_delivered(zone, n);
    }

    ngx_http_sse_flush_dirty();
}


static ngx_uint_t
ngx_http_sse_deliver_msg(ngx_http_sse_zone_t *zone,
    ngx_http_sse_lchannel_t *lch, ngx_http_sse_mview_t *m)
{
    ngx_uint_t              n;
    ngx_queue_t            *q;
    ngx_http_sse_link_t    *link;
    ngx_http_sse_frame_t   *frame;
    ngx_http_sse_stream_t  *st;

    frame = NULL;
    n = 0;

    for (q = ngx_queue_head(&lch->links);
         q != ngx_queue_sentinel(&lch->links);
         q = ngx_queue_next(q))
    {
        link = ngx_queue_data(q, ngx_http_sse_link_t, queue);
        st = link->stream;

        /* a stream that catches up reads this one from history */

        if (!ngx_http_sse_stream_live(st, m->id)) {
            continue;
        }

        if (!ngx_http_sse_msg_visible(m->msg, &st->user)) {
            continue;
        }

        if (frame == NULL) {
            frame = ngx_http_sse_frame_get(zone, m);
            if (frame == NULL) {
                return n;
            }
        }

        if (ngx_http_sse_stream_queue(st, frame->data, frame->len, frame, 0)
            == NGX_OK)
        {
            n++;
        }
    }

    if (frame) {
        ngx_http_sse_frame_release(frame);
    }

    return n;
}


/* the channel was deleted: its streams end after what they hold */

static void
ngx_http_sse_deliver_delete(ngx_http_sse_lchannel_t *lch)
{
    ngx_queue_t          *q;
    ngx_http_sse_link_t  *link;

    for (q = ngx_queue_head(&lch->links);
         q != ngx_queue_sentinel(&lch->links);
         q = ngx_queue_next(q))
    {
        link = ngx_queue_data(q, ngx_http_sse_link_t, queue);
        link->stream->end_pending = 1;
        ngx_http_sse_stream_dirty(link->stream);
    }
}


/*
 * The ids up to lost are lost to this server (a backend that mirrors its
 * log from elsewhere was cut off for longer than that log reaches back:
 * the store's loss marker).  Each live stream that had not got
 * that far gets an sse_gap on each of its channels, from the last id it
 * had there to the first id of the channel that follows in this batch (p:
 * what comes after the marker; the store hands a loss out with the
 * messages after it), or, with none, to the one after the batch's newest:
 * it gets every message of the channel from there on.  Streams that catch
 * up find the loss in history instead, where the store counts it as
 * dropped on every channel, and so do those that start after it.
 */

static void
ngx_http_sse_deliver_lost(ngx_http_sse_zone_t *zone, uint64_t lost,
    ngx_http_sse_pending_t *p)
{
    uint64_t                  last, next;
    ngx_queue_t              *q;
    ngx_rbtree_node_t        *node, *root, *sentinel;
    ngx_http_sse_link_t      *link;
    ngx_http_sse_mview_t      m;
    ngx_http_sse_pending_t    ahead;
    ngx_http_sse_lchannel_t  *lch;

    /* the first message of each local channel after the loss */

    ahead = *p;
    last = lost;

    while (ngx_http_sse_store_pending_next(&ahead, &m) == NGX_OK) {
        last = m.id;

        if (m.lost || m.delete) {
            continue;
        }

        lch = ngx_http_sse_lchannel_lookup(zone, m.channel);

        if (lch && lch->lost != lost) {
            lch->lost = lost;
            lch->lost_next = m.id;
        }
    }

    root = zone->lchannels.root;
    sentinel = zone->lchannels.sentinel;

    node = (root == sentinel) ? NULL : ngx_rbtree_min(root, sentinel);

    for ( /* void */ ; node; node = ngx_rbtree_next(&zone->lchannels, node))
    {
        lch = (ngx_http_sse_lchannel_t *) node;

        if (lch->gap_next > lost) {
            /* the gap of an earlier loss in this batch reaches past it */
            continue;
        }

        next = (lch->lost == lost) ? lch->lost_next : last + 1;
        lch->gap_next = next;

        for (q = ngx_queue_head(&lch->links);
             q != ngx_queue_sentinel(&lch->links);
             q = ngx_queue_next(q))
        {
            link = ngx_queue_data(q, ngx_http_sse_link_t, queue);

            if (ngx_http_sse_stream_live(link->stream, lost)) {
                (void) ngx_http_sse_stream_gap(link->stream, lch->channel,
                                               ngx_http_sse_stream_had(link),
                                               next);
            }
        }
    }
}


/* id reaches the stream live: it is not catching up, nor ending */

static ngx_uint_t
ngx_http_sse_stream_live(ngx_http_sse_stream_t *st, uint64_t id)
{
    return !st->ending && !st->overflow && !st->catchup
           && id > st->start_id;
}


/*
 * The last id a live stream had on one of its channels: the last message
 * of the channel handed out since it went live, else the last one it read
 * from history (or its Last-Event-ID), else where it went live.
 */

static uint64_t
ngx_http_sse_stream_had(ngx_http_sse_link_t *link)
{
    uint64_t                id;
    ngx_http_sse_stream_t  *st;

    st = link->stream;

    if (link->lchannel->last_id > st->start_id) {
        return link->lchannel->last_id;
    }

    /* a detached stream keeps what its history position said */

    id = st->hpos ? st->hpos[link - st->links].id : link->history_id;

    return id ? id : st->start_id;
}


/*
 * The frame of a message: the one this worker already holds for it, or a
 * new one.  Without the lock: the message is either after the worker's
 * cursor in the pending log or read under ngx_http_sse_store_read().
 */

static ngx_http_sse_frame_t *
ngx_http_sse_frame_get(ngx_http_sse_zone_t *zone, ngx_http_sse_mview_t *m)
{
    size_t                 size;
    ngx_http_sse_frame_t  *frame, **slot;

    slot = &ngx_http_sse_frames[m->id % NGX_HTTP_SSE_FRAME_CACHE];
    frame = *slot;

    if (frame && frame->id == m->id && frame->zone == zone->sh) {
        frame->refs++;
        return frame;
    }

    size = ngx_http_sse_frame_size(m->id, &m->event, &m->data);

    frame = ngx_alloc(offsetof(ngx_http_sse_frame_t, data) + size,
                      ngx_cycle->log);
    if (frame == NULL) {
        return NULL;
    }

    frame->refs = 1;
    frame->id = m->id;
    frame->zone = zone->sh;
    frame->len = ngx_http_sse_frame_write(frame->data, m->id, &m->event,
                                          &m->data)
                 - frame->data;

    /* the one it replaces stays with those that hold it */

    if (*slot) {
        (*slot)->cached = 0;
    }

    frame->cached = 1;
    *slot = frame;

    return frame;
}


static void
ngx_http_sse_frame_release(ngx_http_sse_frame_t *frame)
{
    if (--frame->refs) {
        return;
    }

    if (frame->cached) {
        ngx_http_sse_frames[frame->id % NGX_HTTP_SSE_FRAME_CACHE] = NULL;
    }

    ngx_free(frame);
}


/* queues bytes for a subscriber; a frame, if given, gains a reference */

static ngx_int_t
ngx_http_sse_stream_queue(ngx_http_sse_stream_t *st, u_char *pos, size_t len,
    ngx_http_sse_frame_t *frame, ngx_uint_t force)
{
    size_t                max;
    ngx_http_sse_obuf_t  *ob;

    max = st->conf->max_pending;

    /* history at the start is bounded by the zone: it is not refused */

    if (!force && max && st->pending + len > max) {
        st->overflow = 1;
        ngx_http_sse_stream_dirty(st);
        return NGX_DECLINED;
    }

    ob = ngx_http_sse_obuf_get(pos, len, frame);
    if (ob == NULL) {
        return NGX_ERROR;
    }

    *st->last_out = &ob->cl;
    st->last_out = &ob->cl.next;

    st->pending += len;

    ngx_http_sse_stream_dirty(st);

    return NGX_OK;
}


/*
 * An output buffer from the worker's free list, of len bytes at pos (NULL:
 * its own head[]); a frame gains a reference.
 */

static ngx_http_sse_obuf_t *
ngx_http_sse_obuf_get(u_char *pos, size_t len, ngx_http_sse_frame_t *frame)
{
    ngx_buf_t            *b;
    ngx_http_sse_obuf_t  *ob;

    if (ngx_http_sse_free_obufs) {
        ob = (ngx_http_sse_obuf_t *) ngx_http_sse_free_obufs;
        ngx_http_sse_free_obufs = ob->cl.next;
        ngx_http_sse_nfree_obufs--;

    } else {
        ob = ngx_alloc(sizeof(ngx_http_sse_obuf_t), ngx_cycle->log);
        if (ob == NULL) {
            return NULL;
        }
    }

    if (pos == NULL) {
        pos = ob->head;     /* a chunk's size line, written by the caller */
    }

    b = &ob->buf;
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->start = pos;
    b->pos = pos;
    b->last = pos + len;
    b->end = pos + len;
    b->memory = 1;
    b->flush = 1;
    b->tag = (ngx_buf_tag_t) &ngx_http_sse_module;

    ob->cl.buf = b;
    ob->cl.next = NULL;
    ob->frame = frame;

    if (frame) {
        frame->refs++;
    }

    return ob;
}


static void
ngx_http_sse_obuf_free(ngx_http_sse_obuf_t *ob)
{
    if (ob->frame) {
        ngx_http_sse_frame_release(ob->frame);
        ob->frame = NULL;
    }

    if (ngx_http_sse_nfree_obufs >= NGX_HTTP_SSE_FREE_MAX) {
        ngx_free(ob);
        return;
    }

    ob->cl.next = ngx_http_sse_free_obufs;
    ngx_http_sse_free_obufs = &ob->cl;
    ngx_http_sse_nfree_obufs++;
}


static void
ngx_http_sse_stream_dirty(ngx_http_sse_stream_t *st)
{
    if (st->in_dirty || !st->registered) {
        return;
    }

    st->in_dirty = 1;
    ngx_queue_insert_tail(&ngx_http_sse_dirty, &st->dirty);
}


static void
ngx_http_sse_flush_dirty(void)
{
    ngx_queue_t            *q;
    ngx_http_sse_stream_t  *st;

    while (!ngx_queue_empty(&ngx_http_sse_dirty)) {
        q = ngx_queue_head(&ngx_http_sse_dirty);
        st = ngx_queue_data(q, ngx_http_sse_stream_t, dirty);

        (void) ngx_http_sse_stream_send(st);
    }
}


/*
 * Does what a stream's state asks for: closes it past sse_max_pending, ends
 * it after a DELETE, or writes what it holds.  NGX_DONE: the stream was
 * closed or ended, and its st is gone: the caller touches nothing of it.
 */

static ngx_int_t
ngx_http_sse_stream_send(ngx_http_sse_stream_t *st)
{
    if (st->in_dirty) {
        ngx_queue_remove(&st->dirty);
        st->in_dirty = 0;
    }

    if (st->overflow) {
        ngx_http_sse_stream_log(st, 0,
                      "slow subscriber has more than "
                      "sse_max_pending bytes waiting, closing");
        ngx_http_sse_stream_close(st);
        return NGX_DONE;
    }

    if (st->end_pending) {
        ngx_http_sse_stream_end(st);
        return NGX_DONE;
    }

    if (ngx_http_sse_stream_drive(st) == NGX_ERROR) {
        ngx_http_sse_stream_close(st);
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * Writes what a stream holds; a stream that catches up reads more history
 * whenever what waits falls to half of sse_max_pending.  A reader that takes
 * everything at once gets a few rounds, then the rest in an event posted
 * for after the next poll of the worker's connections.  A stream that has
 * written all it holds and may let its request go does so from a posted
 * event (never from inside the request's own handlers).
 * Never closes the stream: NGX_ERROR is for the caller to act on.
 */

static ngx_int_t
ngx_http_sse_stream_drive(ngx_http_sse_stream_t *st)
{
    size_t      limit;
    ngx_int_t   rc;
    ngx_uint_t  i;

    limit = st->conf->max_pending ? st->conf->max_pending
                                  : NGX_HTTP_SSE_HISTORY_CHUNK;

    for (i = 0; /* void */; i++) {

        if (st->catchup && st->pending <= limit / 2
            && ngx_http_sse_stream_catchup(st) == NGX_ERROR)
        {
            return NGX_ERROR;
        }

        rc = ngx_http_sse_stream_flush(st);

        /* NGX_AGAIN: the write handler goes on once the connection drains */

        if (rc != NGX_OK || !st->catchup) {
            break;
        }

        if (i == NGX_HTTP_SSE_HISTORY_ROUNDS) {
            /*
             * After the next poll, as the write filter does for
             * sendfile_max_chunk: an event posted to ngx_posted_events
             * now would run in this same pass, and fast readers would go
             * round after round without the worker seeing its sockets.
             */
            ngx_post_event(&st->event, &ngx_posted_next_events);
            return NGX_OK;
        }
    }

    if (rc == NGX_OK && ngx_http_sse_stream_detachable(st)) {
        ngx_post_event(&st->event, &ngx_posted_events);
    }

    return rc;
}


/*
 * The one writer: passes what is queued on, then gives back the buffers
 * that went out.  Its last step is the output filters while the stream
 * has its request, or the connection itself once detached.
 */

static ngx_int_t
ngx_http_sse_stream_flush(ngx_http_sse_stream_t *st)
{
    size_t                     size;
    ngx_int_t                  rc;
    ngx_chain_t               *out, *cl, **ll;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_sse_obuf_t       *ob;
    ngx_http_core_loc_conf_t  *clcf;

    r = st->request;
    c = st->connection;

    out = st->out;
    st->out = NULL;
    st->last_out = &st->out;

    /* what it queued goes now: not dirty any more, unless it must end */

    if (st->in_dirty && !st->overflow && !st->end_pending) {
        ngx_queue_remove(&st->dirty);
        st->in_dirty = 0;
    }

    if (out == NULL && st->busy == NULL && !c->buffered
        && (r == NULL || !r->buffered))
    {
        return NGX_OK;
    }

    if (out) {
        st->last_write = ngx_current_msec;
        st->body_sent = 1;
    }

    if (r) {
        rc = ngx_http_output_filter(r, out);

        for (ll = &st->busy; *ll; ll = &(*ll)->next) { /* void */ }
        *ll = out;

    } else {
        rc = ngx_http_sse_stream_write(st, out);
    }

    while (st->busy && ngx_buf_size(st->busy->buf) == 0) {
        cl = st->busy;
        st->busy = cl->next;

        if (cl->buf->tag != (ngx_buf_tag_t) &ngx_http_sse_module) {
            continue;
        }

        ob = (ngx_http_sse_obuf_t *) cl;
        size = ob->buf.end - ob->buf.start;
        st->pending -= ngx_min(size, st->pending);

        ngx_http_sse_obuf_free(ob);
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    clcf = st->core_conf;

    if (st->busy || c->buffered || (r && r->buffered)) {
        if (!c->write->timer_set && !c->write->delayed) {
            ngx_add_timer(c->write, clcf->send_timeout);
        }

        if (ngx_handle_write_event(c->write, clcf->send_lowat) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_AGAIN;
    }

    /* all is out; a limit_rate pause (delayed) keeps its timer */

    if (c->write->timer_set && !c->write->delayed) {
        ngx_del_timer(c->write);
    }

#if (NGX_HTTP_SSL)
    /* an idle detached stream keeps no TLS write buffer, as keep-alive */

    if (r == NULL && c->ssl) {
        ngx_ssl_free_buffer(c);
    }
#endif

    return NGX_OK;
}


/* a detached stream's sink: a chunk (if chunked), then the connection */

static ngx_int_t
ngx_http_sse_stream_write(ngx_http_sse_stream_t *st, ngx_chain_t *out)
{
    ngx_chain_t       *cl, **ll;
    ngx_connection_t  *c;

    c = st->connection;

    if (out) {
        if (st->chunked) {
            out = ngx_http_sse_stream_chunk(st, out);
            if (out == NULL) {
                return NGX_ERROR;
            }
        }

        for (ll = &st->busy; *ll; ll = &(*ll)->next) { /* void */ }
        *ll = out;
    }

    cl = c->send_chain(c, st->busy, 0);

    if (cl == NGX_CHAIN_ERROR) {
        c->error = 1;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one chunk around what goes out, as nginx's chunked filter makes it */

static ngx_chain_t *
ngx_http_sse_stream_chunk(ngx_http_sse_stream_t *st, ngx_chain_t *out)
{
    off_t                 size;
    ngx_buf_t            *b;
    ngx_chain_t          *cl;
    ngx_http_sse_obuf_t  *head, *tail;

    size = 0;

    for (cl = out; cl->next; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    size += ngx_buf_size(cl->buf);

    head = ngx_http_sse_obuf_get(NULL, 0, NULL);
    tail = ngx_http_sse_obuf_get(ngx_http_sse_crlf.data,
                                 ngx_http_sse_crlf.len, NULL);

    if (head == NULL || tail == NULL) {
        if (head) {
            ngx_http_sse_obuf_free(head);
        }

        if (tail) {
            ngx_http_sse_obuf_free(tail);
        }

        ngx_http_sse_chain_release(out);
        return NULL;
    }

    b = &head->buf;
    b->last = ngx_sprintf(b->pos, "%xO" CRLF, size);
    b->end = b->last;

    head->cl.next = out;
    cl->next = &tail->cl;

    st->pending += (b->last - b->pos) + ngx_http_sse_crlf.len;

    return &head->cl;
}


/* an info line about a stream: what happened, its channel and zone */

static void
ngx_http_sse_stream_log(ngx_http_sse_stream_t *st, ngx_err_t err,
    const char *what)
{
    ngx_str_t  channel;

    channel.len = 0;
    channel.data = NULL;

    if (st->nchannels) {
        ngx_http_sse_store_channel_name(st->channels[0], &channel);
    }

    ngx_log_error(NGX_LOG_INFO, st->connection->log, err,
                  "sse: %s (channel \"%V\"%s, sse_zone \"%V\")",
                  what, &channel, st->nchannels > 1 ? " and others" : "",
                  &st->zone->name);
}


/* the connection can take more: a stream with its request ... */

static void
ngx_http_sse_stream_write_handler(ngx_http_request_t *r)
{
    ngx_http_sse_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sse_module);

    ngx_http_sse_stream_writable(ctx->stream);
}


/* ... and a detached one */

static void
ngx_http_sse_stream_write_event(ngx_event_t *wev)
{
    ngx_connection_t  *c;

    c = wev->data;

    ngx_http_sse_stream_writable(c->data);
}


static void
ngx_http_sse_stream_writable(ngx_http_sse_stream_t *st)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = st->connection;

    /* the end of a limit_rate pause, not a send timeout */

    if (c->write->timedout && c->write->delayed) {
        c->write->timedout = 0;
        c->write->delayed = 0;
    }

    if (c->write->timedout) {
        ngx_http_sse_stream_log(st, NGX_ETIMEDOUT,
                                "subscriber timed out while sending");
        c->timedout = 1;
        ngx_http_sse_stream_close(st);
        return;
    }

    rc = ngx_http_sse_stream_drive(st);

    if (rc == NGX_ERROR) {
        ngx_http_sse_stream_close(st);
        return;
    }

    /* a detached stream that ended: all it held is written */

    if (rc == NGX_OK && st->ending && st->request == NULL) {
        ngx_http_sse_stream_finish(st);
    }
}


/*
 * A detached stream's client: what it sends after its request (pipelined
 * requests included) is read and dropped, never answered; the stream ends
 * when the client closes.
 */

static void
ngx_http_sse_stream_read_event(ngx_event_t *rev)
{
    ssize_t                 n;
    ngx_uint_t              i;
    ngx_connection_t       *c;
    ngx_http_sse_stream_t  *st;

    c = rev->data;
    st = c->data;

    for (i = 0; i < NGX_HTTP_SSE_DISCARD_ROUNDS; i++) {

        n = c->recv(c, ngx_http_sse_discard, sizeof(ngx_http_sse_discard));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_sse_stream_close(st);
            }

            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            /* a recv() error was logged by recv() itself */

            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "client prematurely closed connection");
            c->error = 1;
            ngx_http_sse_stream_close(st);
            return;
        }
    }

    /* a client that sends on and on: the others go first */

    ngx_post_event(rev, &ngx_posted_next_events);
}


/*
 * The stream's one event.  Its timer: keepalives, sse_subscriber_timeout.
 * Posted: a stream that catches up and took all it could at once reads
 * more history; a stream that wrote all it holds lets its request go.
 */

static void
ngx_http_sse_stream_event(ngx_event_t *ev)
{
    ngx_http_sse_stream_t  *st;

    st = ev->data;

    if (ev->timedout) {
        ev->timedout = 0;
        ngx_http_sse_stream_tick(st);
        return;
    }

    if (ngx_http_sse_stream_detachable(st)) {
        ngx_http_sse_stream_detach(st);
        return;
    }

    (void) ngx_http_sse_stream_send(st);
}


/*
 * A keepalive is written only to a stream with nothing waiting: one that
 * holds output is not idle, and a client that reads nothing is closed by
 * send_timeout.
 */

static void
ngx_http_sse_stream_tick(ngx_http_sse_stream_t *st)
{
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = st->conf;

    if (st->deadline
        && (ngx_msec_int_t) (st->deadline - ngx_current_msec) <= 0)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, st->connection->log, 0,
                       "sse: sse_subscriber_timeout, ending the stream");
        ngx_http_sse_stream_end(st);
        return;
    }

    if (slcf->keepalive
        && ngx_current_msec - st->last_write >= slcf->keepalive)
    {
        if (st->out == NULL && st->busy == NULL) {
            if (ngx_http_sse_stream_queue(st,
                                          ngx_http_sse_keepalive_text.data,
                                          ngx_http_sse_keepalive_text.len,
                                          NULL, 1)
                == NGX_ERROR)
            {
                ngx_http_sse_stream_close(st);
                return;
            }

            /* it may close the stream: then st is gone */

            if (ngx_http_sse_stream_send(st) == NGX_DONE) {
                return;
            }
        }

        /* a stalled client: keepalives are not written, time still counts */
        st->last_write = ngx_current_msec;
    }

    ngx_http_sse_stream_arm(st);
}


static void
ngx_http_sse_stream_arm(ngx_http_sse_stream_t *st)
{
    ngx_msec_t                t, next;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = st->conf;

    next = NGX_TIMER_INFINITE;

    if (slcf->keepalive) {
        t = ngx_current_msec - st->last_write;
        next = (t >= slcf->keepalive) ? 1 : slcf->keepalive - t;
    }

    if (st->deadline) {
        t = ((ngx_msec_int_t) (st->deadline - ngx_current_msec) > 0)
            ? st->deadline - ngx_current_msec : 1;
        next = ngx_min(next, t);
    }

    if (next != NGX_TIMER_INFINITE) {
        ngx_add_timer(&st->event, next);
    }
}


/*
 * May the stream let its request go?  An HTTP/1.x main request, live, with
 * nothing held anywhere on the way out, that nothing else (a body being
 * discarded, a subrequest, a posted request) still counts on.
 */

static ngx_uint_t
ngx_http_sse_stream_detachable(ngx_http_sse_stream_t *st)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = st->request;
    c = st->connection;

    if (r == NULL || !st->registered || st->catchup || st->ending
        || st->end_pending || st->overflow || st->out || st->busy
        || c->buffered || c->error || c->read->eof || c->data != r)
    {
        return 0;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return 0;
    }
#endif

    return r == r->main && r->count == 1 && !r->blocked && !r->buffered
           && r->postponed == NULL && r->posted_requests == NULL
           && !r->discard_body && !r->reading_body && r->header_sent;
}


/*
 * Lets the request go: what limit_conn hung on its pool moves to the
 * stream; the request is logged and freed with its pool; the header
 * buffers go as for an idle keep-alive connection; the connection's events
 * come to the stream.
 */

static void
ngx_http_sse_stream_detach(ngx_http_sse_stream_t *st)
{
    ngx_uint_t              i;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_connection_t  *hc;

    r = st->request;
    c = st->connection;
    hc = r->http_connection;

    if (ngx_http_sse_stream_take_cleanups(st, r->pool) != NGX_OK) {
        return;
    }

    if (st->hpos) {
        for (i = 0; i < st->nlinks; i++) {
            st->links[i].history_id = st->hpos[i].id;
        }

        st->hpos = NULL;
    }

    st->chunked = r->chunked;
    st->request = NULL;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "sse: stream detached from its request");

    ngx_http_free_request(r, 0);

    c->destroyed = 0;
    c->data = st;
    c->log->action = "sending events to client";

    ngx_http_sse_stream_free_headers(c, hc);

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        ngx_ssl_free_buffer(c);
    }
#endif

    c->read->handler = ngx_http_sse_stream_read_event;
    c->write->handler = ngx_http_sse_stream_write_event;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    /* nothing waits: no send_timeout, and no limit_rate delay to resume */

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->write->delayed = 0;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_sse_stream_close(st);
        return;
    }

    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
}


/*
 * The request pool's cleanups of limit_conn (its zone's count of the
 * stream) move to the stream and run when it ends; its own is dropped, the
 * stream ends itself; others run when the request is freed.
 */

static ngx_int_t
ngx_http_sse_stream_take_cleanups(ngx_http_sse_stream_t *st, ngx_pool_t *pool)
{
    size_t               size;
    ngx_pool_cleanup_t  *cln, *moved, **ll, *own;

    size = 2 * sizeof(void *);    /* limit_conn's: zone and node */
    own = NULL;

    for (ll = &st->cleanup; *ll; ll = &(*ll)->next) { /* void */ }

    for (cln = pool->cleanup; cln; cln = cln->next) {

        if (cln->handler == ngx_http_sse_stream_cleanup) {
            own = cln;
            continue;
        }

        if (cln->handler == NULL || !ngx_http_sse_limit_conn_data(cln->data))
        {
            continue;
        }

        moved = ngx_alloc(sizeof(ngx_pool_cleanup_t) + size,
                          st->connection->log);
        if (moved == NULL) {
            return NGX_ERROR;
        }

        moved->handler = cln->handler;
        moved->data = moved + 1;
        moved->next = NULL;
        ngx_memcpy(moved->data, cln->data, size);

        *ll = moved;
        ll = &moved->next;

        cln->handler = NULL;
    }

    if (own) {
        own->handler = NULL;
    }

    return NGX_OK;
}


/*
 * limit_conn's cleanup data begins with its shared zone: a zone of the
 * cycle whose tag is the limit_conn module.  Only pointers are compared.
 */

static ngx_uint_t
ngx_http_sse_limit_conn_data(void *data)
{
    void             *zone;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm;

    if (ngx_http_sse_limit_conn == NULL || data == NULL
        || ((uintptr_t) data & (sizeof(void *) - 1)))
    {
        return 0;
    }

    zone = *(void **) data;

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    shm = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            shm = part->elts;
            i = 0;
        }

        if (zone == (void *) &shm[i]
            && shm[i].tag == (void *) ngx_http_sse_limit_conn)
        {
            return 1;
        }
    }
}


/* as for an idle keep-alive connection: no header buffer is kept */

static void
ngx_http_sse_stream_free_headers(ngx_connection_t *c,
    ngx_http_connection_t *hc)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *ln, **lists[2];
    ngx_uint_t    i;

    b = c->buffer;

    if (b && b->start && ngx_pfree(c->pool, b->start) == NGX_OK) {
        b->start = NULL;
        b->pos = NULL;
        b->last = NULL;
        b->end = NULL;
    }

    lists[0] = &hc->free;
    lists[1] = &hc->busy;

    for (i = 0; i < 2; i++) {
        for (cl = *lists[i]; cl; /* void */) {
            ln = cl;
            cl = cl->next;
            ngx_pfree(c->pool, ln->buf->start);
            ngx_free_chain(c->pool, ln);
        }

        *lists[i] = NULL;
    }

    hc->nbusy = 0;
}


/*
 * Ends a stream cleanly: what it holds is sent, then the response is
 * finished (a detached stream: the last chunk, then the connection is
 * closed); the browser reconnects and resumes from its Last-Event-ID.
 */

static void
ngx_http_sse_stream_end(ngx_http_sse_stream_t *st)
{
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_chain_t          *cl, **ll;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_sse_obuf_t  *ob;

    r = st->request;
    c = st->connection;

    ngx_http_sse_stream_unregister(st);
    st->ending = 1;

    if (r == NULL) {
        rc = ngx_http_sse_stream_flush(st);

        if (rc != NGX_ERROR && st->chunked) {
            ob = ngx_http_sse_obuf_get(ngx_http_sse_last_chunk.data,
                                       ngx_http_sse_last_chunk.len, NULL);
            if (ob == NULL) {
                rc = NGX_ERROR;

            } else {
                for (ll = &st->busy; *ll; ll = &(*ll)->next) { /* void */ }
                *ll = &ob->cl;
                st->pending += ngx_http_sse_last_chunk.len;

                rc = ngx_http_sse_stream_flush(st);
            }
        }

        /* NGX_AGAIN: the write handler finishes it once all is written */

        if (rc != NGX_AGAIN) {
            ngx_http_sse_stream_finish(st);
        }

        return;
    }

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (b == NULL || cl == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->flush = 1;

    cl->buf = b;
    cl->next = NULL;
    *st->last_out = cl;
    st->last_out = &cl->next;

    rc = ngx_http_sse_stream_flush(st);

    ngx_http_finalize_request(r, rc == NGX_ERROR ? NGX_ERROR : NGX_OK);
    ngx_http_run_posted_requests(c);
}


/* closes a stream at once: a client gone, stalled or too slow */

static void
ngx_http_sse_stream_close(ngx_http_sse_stream_t *st)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = st->request;

    if (r == NULL) {
        ngx_http_sse_stream_finish(st);
        return;
    }

    c = r->connection;

    ngx_http_sse_stream_unregister(st);
    st->ending = 1;

    ngx_http_finalize_request(r, NGX_ERROR);
    ngx_http_run_posted_requests(c);
}


/*
 * The end of a detached stream: the stream goes, then its connection.  Its
 * access log line was written when it detached; how long it ran and all
 * it sent are told here.
 */

static void
ngx_http_sse_stream_finish(ngx_http_sse_stream_t *st)
{
    ngx_connection_t  *c;

    c = st->connection;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "sse: stream ended after %M ms, %O bytes sent",
                  ngx_current_msec - st->start, c->sent);

    ngx_http_sse_stream_cleanup(st);

    ngx_http_close_connection(c);
}


/* in each worker with zones: the stream list, and the shutdown watch */

void
ngx_http_sse_stream_init(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    ngx_queue_init(&ngx_http_sse_streams);
    ngx_queue_init(&ngx_http_sse_dirty);
    ngx_http_sse_nstreams = 0;

    /* limit_conn, if built in: its cleanups move to detached streams */

    ngx_http_sse_limit_conn = NULL;

    for (i = 0; cycle->modules[i]; i++) {
        if (ngx_strcmp(cycle->modules[i]->name, "ngx_http_limit_conn_module")
            == 0)
        {
            ngx_http_sse_limit_conn = cycle->modules[i];
            break;
        }
    }

    ngx_http_sse_watch_event.handler = ngx_http_sse_stream_watch_handler;
    ngx_http_sse_watch_event.log = cycle->log;
    ngx_http_sse_watch_event.data = cycle;

    ngx_add_timer(&ngx_http_sse_watch_event, NGX_HTTP_SSE_WATCH_PERIOD);
}


void
ngx_http_sse_stream_exit(void)
{
    void         *p;
    ngx_uint_t    k;
    ngx_chain_t  *cl;

    if (ngx_http_sse_watch_event.timer_set) {
        ngx_del_timer(&ngx_http_sse_watch_event);
    }

    for (k = 0; k < NGX_HTTP_SSE_STREAM_CLASSES; k++) {
        while (ngx_http_sse_free_streams[k]) {
            p = ngx_http_sse_free_streams[k];
            ngx_http_sse_free_streams[k] = *(void **) p;
            ngx_free(p);
        }

        ngx_http_sse_nfree_streams[k] = 0;
    }

    while (ngx_http_sse_free_obufs) {
        cl = ngx_http_sse_free_obufs;
        ngx_http_sse_free_obufs = cl->next;
        ngx_free(cl);
    }

    ngx_http_sse_nfree_obufs = 0;
}


static void
ngx_http_sse_stream_watch(void)
{
    if (ngx_http_sse_watch_event.handler
        && !ngx_http_sse_watch_event.timer_set)
    {
        ngx_add_timer(&ngx_http_sse_watch_event, NGX_HTTP_SSE_WATCH_PERIOD);
    }
}


/*
 * nginx tells a module nothing when a graceful shutdown or a reload
 * starts; this timer notices it and ends the streams, which would
 * otherwise hold the old worker until worker_shutdown_timeout.
 */

static void
ngx_http_sse_stream_watch_handler(ngx_event_t *ev)
{
    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_sse_stream_end_all();

        /* streams started while exiting are ended by the next round */
        if (ngx_http_sse_nstreams == 0) {
            return;
        }
    }

    ngx_add_timer(ev, NGX_HTTP_SSE_WATCH_PERIOD);
}


/* ends every stream of this worker: a graceful shutdown or a reload */

static void
ngx_http_sse_stream_end_all(void)
{
    ngx_queue_t            *q, *next;
    ngx_http_sse_stream_t  *st;

    for (q = ngx_queue_head(&ngx_http_sse_streams);
         q != ngx_queue_sentinel(&ngx_http_sse_streams);
         q = next)
    {
        next = ngx_queue_next(q);
        st = ngx_queue_data(q, ngx_http_sse_stream_t, all);
        ngx_http_sse_stream_end(st);
    }
}


/* takes a stream out of every registry; nothing more is delivered to it */

static void
ngx_http_sse_stream_unregister(ngx_http_sse_stream_t *st)
{
    ngx_uint_t            i;
    ngx_http_sse_link_t  *link;

    if (!st->registered) {
        return;
    }

    st->registered = 0;

    for (i = 0; i < st->nlinks; i++) {
        link = &st->links[i];
        ngx_queue_remove(&link->queue);
        ngx_http_sse_lchannel_put(st->zone, link->lchannel);
    }

    ngx_http_sse_store_unsubscribe(st->zone, st->channels, st->nchannels);

    if (st->in_dirty) {
        ngx_queue_remove(&st->dirty);
        st->in_dirty = 0;
    }

    ngx_queue_remove(&st->all);
    ngx_http_sse_nstreams--;

    if (st->event.timer_set) {
        ngx_del_timer(&st->event);
    }

    if (st->event.posted) {
        ngx_delete_posted_event(&st->event);
    }
}


/*
 * The end of a stream's object: the request's pool cleanup, or a detached
 * stream's end.  The cleanups taken from the request run now.
 */

static void
ngx_http_sse_stream_cleanup(void *data)
{
    ngx_http_sse_stream_t  *st = data;

    ngx_pool_cleanup_t  *cln;

    ngx_http_sse_stream_unregister(st);

    ngx_http_sse_chain_release(st->out);
    ngx_http_sse_chain_release(st->busy);

    st->out = NULL;
    st->busy = NULL;

    while (st->cleanup) {
        cln = st->cleanup;
        st->cleanup = cln->next;

        cln->handler(cln->data);
        ngx_free(cln);
    }

    ngx_http_sse_stream_free(st);
}


static void
ngx_http_sse_stream_free(ngx_http_sse_stream_t *st)
{
    ngx_uint_t  k;

    if (st->size_class == 0) {
        ngx_free(st);
        return;
    }

    k = st->size_class - 1;

    if (ngx_http_sse_nfree_streams[k] >= NGX_HTTP_SSE_FREE_MAX) {
        ngx_free(st);
        return;
    }

    *(void **) st = ngx_http_sse_free_streams[k];
    ngx_http_sse_free_streams[k] = st;
    ngx_http_sse_nfree_streams[k]++;
}


/* gives back the module's buffers of a chain (others are the request's) */

static void
ngx_http_sse_chain_release(ngx_chain_t *cl)
{
    ngx_chain_t  *next;

    for ( /* void */ ; cl; cl = next) {
        next = cl->next;

        if (cl->buf->tag == (ngx_buf_tag_t) &ngx_http_sse_module) {
            ngx_http_sse_obuf_free((ngx_http_sse_obuf_t *) cl);
        }
    }
}
