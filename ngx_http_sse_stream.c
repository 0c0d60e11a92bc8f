
/*
 * Subscriber streams: the EventSource response, the worker-local registry
 * of subscribers per channel, and delivery of what other workers (or this
 * one) published.
 *
 * A message is formatted once per worker into a reference-counted frame;
 * every local subscriber of its channel gets a buffer pointing into that
 * frame.  What a wake-up brings is queued for every subscriber first and
 * then written with one output filter call per subscriber.
 *
 * A new subscriber with history to receive (resume, replay) catches up
 * first: it reads history from the zone part by part as its connection
 * drains, never more than sse_max_pending at a time, into the same shared
 * frames (a small cache finds a frame that another stream of the worker
 * still holds).  It gets no live event meanwhile; when it has read the
 * newest message, it goes live after that id: nothing lost, nothing twice.
 */


#include "ngx_http_sse_store.h"


static ngx_int_t ngx_http_sse_stream_start(ngx_http_request_t *r,
    ngx_http_sse_ctx_t *ctx, ngx_array_t *names);
static ngx_int_t ngx_http_sse_stream_since(ngx_http_request_t *r,
    ngx_http_sse_since_t *since);
static ngx_int_t ngx_http_sse_last_event_id(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_int_t ngx_http_sse_stream_headers(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_stream_greet(ngx_http_request_t *r,
    ngx_http_sse_ctx_t *ctx, ngx_array_t *names);
static ngx_int_t ngx_http_sse_stream_push_head(ngx_http_request_t *r);
static ngx_int_t ngx_http_sse_stream_catchup(ngx_http_sse_ctx_t *ctx);
static ngx_int_t ngx_http_sse_stream_gap(ngx_http_sse_ctx_t *ctx,
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
static ngx_int_t ngx_http_sse_stream_queue(ngx_http_sse_ctx_t *ctx,
    u_char *pos, size_t len, ngx_http_sse_frame_t *frame, ngx_uint_t force);
static void ngx_http_sse_deliver_delete(ngx_http_sse_lchannel_t *lch);
static void ngx_http_sse_deliver_lost(ngx_http_sse_zone_t *zone,
    uint64_t lost, ngx_http_sse_pending_t *p);
static uint64_t ngx_http_sse_stream_had(ngx_http_sse_link_t *link);
static ngx_uint_t ngx_http_sse_stream_live(ngx_http_sse_ctx_t *ctx,
    uint64_t id);
static void ngx_http_sse_stream_dirty(ngx_http_sse_ctx_t *ctx);
static void ngx_http_sse_flush_dirty(void);
static ngx_int_t ngx_http_sse_stream_send(ngx_http_sse_ctx_t *ctx);
static ngx_int_t ngx_http_sse_stream_drive(ngx_http_sse_ctx_t *ctx);
static ngx_int_t ngx_http_sse_stream_flush(ngx_http_sse_ctx_t *ctx);
static void ngx_http_sse_stream_log(ngx_http_sse_ctx_t *ctx, ngx_err_t err,
    const char *what);
static void ngx_http_sse_stream_write_handler(ngx_http_request_t *r);
static void ngx_http_sse_stream_timer_handler(ngx_event_t *ev);
static void ngx_http_sse_stream_more_handler(ngx_event_t *ev);
static void ngx_http_sse_stream_arm(ngx_http_sse_ctx_t *ctx);
static void ngx_http_sse_stream_end(ngx_http_sse_ctx_t *ctx);
static void ngx_http_sse_stream_close(ngx_http_sse_ctx_t *ctx);
static void ngx_http_sse_stream_detach(ngx_http_sse_ctx_t *ctx);
static void ngx_http_sse_stream_cleanup(void *data);
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


static ngx_str_t  ngx_http_sse_keepalive_text = ngx_string(": keepalive\n\n");

/* every subscriber of this worker, and those with output queued */
static ngx_queue_t  ngx_http_sse_streams;
static ngx_queue_t  ngx_http_sse_dirty;
static ngx_uint_t   ngx_http_sse_nstreams;
static ngx_event_t  ngx_http_sse_watch_event;

static ngx_http_sse_frame_t  *ngx_http_sse_frames[NGX_HTTP_SSE_FRAME_CACHE];

/* one batch of history at a time per worker */
static ngx_http_sse_hitem_t   ngx_http_sse_hitems[NGX_HTTP_SSE_HISTORY_BATCH];


ngx_int_t
ngx_http_sse_subscribe_handler(ngx_http_request_t *r)
{
    time_t                    exp;
    ngx_int_t                 rc;
    ngx_str_t                 value, err, user;
    const char               *why;
    ngx_array_t               names;
    ngx_http_sse_ctx_t       *ctx;
    ngx_pool_cleanup_t       *cln;
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

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_sse_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->zone = slcf->zone;
    ctx->last_out = &ctx->out;
    ctx->user = user;
    ctx->expires = exp;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_sse_stream_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_sse_module);

    return ngx_http_sse_stream_start(r, ctx, &names);
}


static ngx_int_t
ngx_http_sse_stream_start(ngx_http_request_t *r, ngx_http_sse_ctx_t *ctx,
    ngx_array_t *names)
{
    ngx_int_t                  rc;
    ngx_str_t                 *name;
    ngx_msec_t                 t;
    ngx_uint_t                 i, n;
    ngx_http_sse_link_t       *link;
    ngx_http_sse_zone_t       *zone;
    ngx_http_sse_since_t       since;
    ngx_http_sse_loc_conf_t   *slcf;
    ngx_http_sse_lchannel_t   *lch;
    ngx_http_core_loc_conf_t  *clcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);
    zone = ctx->zone;
    name = names->elts;
    n = names->nelts;

    rc = ngx_http_sse_stream_since(r, &since);

    if (rc == NGX_DECLINED) {
        return ngx_http_sse_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid Last-Event-ID: ids are "
                                       "decimal numbers");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->channels = ngx_palloc(r->pool, n * sizeof(ngx_http_sse_channel_t *));
    ctx->links = ngx_pcalloc(r->pool, n * sizeof(ngx_http_sse_link_t));

    if (ctx->channels == NULL || ctx->links == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (since.resume || since.replay) {
        ctx->hpos = ngx_palloc(r->pool, n * sizeof(ngx_http_sse_hpos_t));
        if (ctx->hpos == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        since.pos = ctx->hpos;
    }

    rc = ngx_http_sse_store_subscribe(zone, name, n, slcf->max_subscribers,
                                      ctx->channels, &since, &ctx->start_id,
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

    ctx->nchannels = n;
    ctx->registered = 1;
    ctx->catchup = since.catchup ? 1 : 0;

    ngx_http_sse_nstreams++;
    ngx_queue_insert_tail(&ngx_http_sse_streams, &ctx->all);

    for (i = 0; i < n; i++) {
        lch = ngx_http_sse_lchannel_get(zone, ctx->channels[i]);
        if (lch == NULL) {
            ngx_http_sse_stream_detach(ctx);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        link = &ctx->links[i];
        link->ctx = ctx;
        link->lchannel = lch;
        ngx_queue_insert_tail(&lch->links, &link->queue);
        ctx->nlinks++;
    }

    rc = ngx_http_sse_stream_headers(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        ngx_http_sse_stream_detach(ctx);
        return rc;
    }

    if (ngx_http_sse_stream_greet(r, ctx, names) != NGX_OK) {
        ngx_http_sse_stream_detach(ctx);
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
        ngx_http_sse_stream_detach(ctx);
        return NGX_ERROR;
    }

    ctx->timer.handler = ngx_http_sse_stream_timer_handler;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    ctx->more.handler = ngx_http_sse_stream_more_handler;
    ctx->more.data = ctx;
    ctx->more.log = r->connection->log;

    if (slcf->subscriber_timeout) {
        ctx->deadline = ngx_current_msec + slcf->subscriber_timeout;
    }

    if (ctx->expires) {
        /* the stream ends when the token expires */
        t = (ngx_msec_t) (ctx->expires - ngx_time()) * 1000;

        if (ctx->deadline == 0 || ngx_current_msec + t < ctx->deadline) {
            ctx->deadline = ngx_current_msec + t;
        }
    }

    ctx->last_write = ngx_current_msec;
    ngx_http_sse_stream_arm(ctx);

    if (ngx_http_sse_stream_drive(ctx) == NGX_ERROR) {
        ngx_http_sse_stream_detach(ctx);
        return NGX_ERROR;
    }

    /* nothing to send yet: the head goes out alone, EventSource opens */

    if (!ctx->body_sent
        && (ngx_http_sse_stream_push_head(r) == NGX_ERROR
            || ngx_http_sse_stream_flush(ctx) == NGX_ERROR))
    {
        ngx_http_sse_stream_detach(ctx);
        return NGX_ERROR;
    }

    /* a stream started during a shutdown is ended by the watch timer */
    ngx_http_sse_stream_watch();

    r->main->count++;

    return NGX_DONE;
}


/*
 * Last-Event-ID, or sse_replay for a subscriber without one.
 * NGX_DECLINED: the id is not a decimal number.
 */

static ngx_int_t
ngx_http_sse_stream_since(ngx_http_request_t *r, ngx_http_sse_since_t *since)
{
    u_char                   *p;
    uint64_t                  id;
    ngx_str_t                 value;
    ngx_http_sse_ctx_t       *ctx;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_sse_module);

    ngx_memzero(since, sizeof(ngx_http_sse_since_t));

    since->user = &ctx->user;

    if (ngx_http_sse_last_event_id(r, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (value.len == 0) {
        since->replay = slcf->replay;
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

#if (NGX_HTTP_GZIP)
    /* every event goes out as it is: never compressed */
    r->gzip_tested = 1;
    r->gzip_ok = 0;
#endif

    return ngx_http_send_header(r);
}


/* "retry:" and the connected event, ahead of history */

static ngx_int_t
ngx_http_sse_stream_greet(ngx_http_request_t *r, ngx_http_sse_ctx_t *ctx,
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

        p = ngx_sprintf(p, "],\"last_event_id\":\"%uL\"}\n\n", ctx->start_id);
    }

    return ngx_http_sse_stream_queue(ctx, start, p - start, NULL, 1);
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
ngx_http_sse_stream_catchup(ngx_http_sse_ctx_t *ctx)
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

    slcf = ngx_http_get_module_loc_conf(ctx->request, ngx_http_sse_module);
    zone = ctx->zone;

    limit = slcf->max_pending ? slcf->max_pending : NGX_HTTP_SSE_HISTORY_CHUNK;

    if (ctx->pending >= limit) {
        return NGX_DECLINED;
    }

    hr.items = ngx_http_sse_hitems;
    hr.nitems = NGX_HTTP_SSE_HISTORY_BATCH;
    hr.budget = limit - ctx->pending;
    hr.user = &ctx->user;

    if (ngx_http_sse_store_read(zone, ctx->channels, ctx->hpos,
                                ctx->nchannels, &hr)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = NGX_OK;
    n = 0;

    for (i = 0; i < hr.nitems; i++) {
        it = &hr.items[i];
        pos = &ctx->hpos[it->channel];

        if (it->msg == NULL) {
            rc = ngx_http_sse_stream_gap(ctx, ctx->channels[it->channel],
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

            if (ctx->pending && ctx->pending + frame->len > limit) {
                /* the rest waits until the connection drains */
                ngx_http_sse_frame_release(frame);
                break;
            }

            rc = ngx_http_sse_stream_queue(ctx, frame->data, frame->len,
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

    if (i == hr.nitems && hr.end && ctx->pending <= limit / 2) {
        ctx->catchup = 0;
        ctx->start_id = hr.start_id;
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
ngx_http_sse_stream_gap(ngx_http_sse_ctx_t *ctx, ngx_http_sse_channel_t *ch,
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
                      ctx->request->connection->log);
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

    rc = ngx_http_sse_stream_queue(ctx, frame->data, frame->len, frame, 1);

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
    ngx_uint_t             n;
    ngx_queue_t           *q;
    ngx_http_sse_ctx_t    *ctx;
    ngx_http_sse_link_t   *link;
    ngx_http_sse_frame_t  *frame;

    frame = NULL;
    n = 0;

    for (q = ngx_queue_head(&lch->links);
         q != ngx_queue_sentinel(&lch->links);
         q = ngx_queue_next(q))
    {
        link = ngx_queue_data(q, ngx_http_sse_link_t, queue);
        ctx = link->ctx;

        /* a stream that catches up reads this one from history */

        if (!ngx_http_sse_stream_live(ctx, m->id)) {
            continue;
        }

        if (!ngx_http_sse_msg_visible(m->msg, &ctx->user)) {
            continue;
        }

        if (frame == NULL) {
            frame = ngx_http_sse_frame_get(zone, m);
            if (frame == NULL) {
                return n;
            }
        }

        if (ngx_http_sse_stream_queue(ctx, frame->data, frame->len, frame, 0)
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
        link->ctx->end_pending = 1;
        ngx_http_sse_stream_dirty(link->ctx);
    }
}


/*
 * With redis=: the ids up to lost are lost to this server (it was cut off
 * for longer than Redis keeps its log).  Each live stream that had not got
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

            if (ngx_http_sse_stream_live(link->ctx, lost)) {
                (void) ngx_http_sse_stream_gap(link->ctx, lch->channel,
                                               ngx_http_sse_stream_had(link),
                                               next);
            }
        }
    }
}


/* id reaches the stream live: it is not catching up, nor ending */

static ngx_uint_t
ngx_http_sse_stream_live(ngx_http_sse_ctx_t *ctx, uint64_t id)
{
    return !ctx->ending && !ctx->overflow && !ctx->catchup
           && id > ctx->start_id;
}


/*
 * The last id a live stream had on one of its channels: the last message
 * of the channel handed out since it went live, else the last one it read
 * from history (or its Last-Event-ID), else where it went live.
 */

static uint64_t
ngx_http_sse_stream_had(ngx_http_sse_link_t *link)
{
    ngx_http_sse_ctx_t  *ctx;

    ctx = link->ctx;

    if (link->lchannel->last_id > ctx->start_id) {
        return link->lchannel->last_id;
    }

    if (ctx->hpos && ctx->hpos[link - ctx->links].id) {
        return ctx->hpos[link - ctx->links].id;
    }

    return ctx->start_id;
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
ngx_http_sse_stream_queue(ngx_http_sse_ctx_t *ctx, u_char *pos, size_t len,
    ngx_http_sse_frame_t *frame, ngx_uint_t force)
{
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_sse_obuf_t      *ob;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(ctx->request, ngx_http_sse_module);

    /* history at the start is bounded by the zone: it is not refused */

    if (!force
        && slcf->max_pending && ctx->pending + len > slcf->max_pending)
    {
        ctx->overflow = 1;
        ngx_http_sse_stream_dirty(ctx);
        return NGX_DECLINED;
    }

    cl = ctx->free;

    if (cl) {
        ctx->free = cl->next;
        ob = (ngx_http_sse_obuf_t *) cl->buf;

    } else {
        cl = ngx_alloc_chain_link(ctx->request->pool);
        ob = ngx_palloc(ctx->request->pool, sizeof(ngx_http_sse_obuf_t));

        if (cl == NULL || ob == NULL) {
            return NGX_ERROR;
        }

        cl->buf = &ob->buf;
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

    ob->frame = frame;

    if (frame) {
        frame->refs++;
    }

    cl->next = NULL;
    *ctx->last_out = cl;
    ctx->last_out = &cl->next;

    ctx->pending += len;

    ngx_http_sse_stream_dirty(ctx);

    return NGX_OK;
}


static void
ngx_http_sse_stream_dirty(ngx_http_sse_ctx_t *ctx)
{
    if (ctx->in_dirty || !ctx->registered) {
        return;
    }

    ctx->in_dirty = 1;
    ngx_queue_insert_tail(&ngx_http_sse_dirty, &ctx->dirty);
}


static void
ngx_http_sse_flush_dirty(void)
{
    ngx_queue_t         *q;
    ngx_http_sse_ctx_t  *ctx;

    while (!ngx_queue_empty(&ngx_http_sse_dirty)) {
        q = ngx_queue_head(&ngx_http_sse_dirty);
        ctx = ngx_queue_data(q, ngx_http_sse_ctx_t, dirty);

        (void) ngx_http_sse_stream_send(ctx);
    }
}


/*
 * Does what a stream's state asks for: closes it past sse_max_pending, ends
 * it after a DELETE, or writes what it holds.  NGX_DONE: the stream was
 * closed or ended, and its ctx is gone: the caller touches nothing of it.
 */

static ngx_int_t
ngx_http_sse_stream_send(ngx_http_sse_ctx_t *ctx)
{
    if (ctx->in_dirty) {
        ngx_queue_remove(&ctx->dirty);
        ctx->in_dirty = 0;
    }

    if (ctx->overflow) {
        ngx_http_sse_stream_log(ctx, 0,
                      "slow subscriber has more than "
                      "sse_max_pending bytes waiting, closing");
        ngx_http_sse_stream_close(ctx);
        return NGX_DONE;
    }

    if (ctx->end_pending) {
        ngx_http_sse_stream_end(ctx);
        return NGX_DONE;
    }

    if (ngx_http_sse_stream_drive(ctx) == NGX_ERROR) {
        ngx_http_sse_stream_close(ctx);
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * Writes what a stream holds; a stream that catches up reads more history
 * whenever what waits falls to half of sse_max_pending.  A reader that takes
 * everything at once gets a few rounds, then the rest in an event posted
 * for after the next poll of the worker's connections.
 * Never closes the stream: NGX_ERROR is for the caller to act on.
 */

static ngx_int_t
ngx_http_sse_stream_drive(ngx_http_sse_ctx_t *ctx)
{
    size_t                    limit;
    ngx_int_t                 rc;
    ngx_uint_t                i;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(ctx->request, ngx_http_sse_module);

    limit = slcf->max_pending ? slcf->max_pending : NGX_HTTP_SSE_HISTORY_CHUNK;

    for (i = 0; /* void */; i++) {

        if (ctx->catchup && ctx->pending <= limit / 2
            && ngx_http_sse_stream_catchup(ctx) == NGX_ERROR)
        {
            return NGX_ERROR;
        }

        rc = ngx_http_sse_stream_flush(ctx);

        /* NGX_AGAIN: the write handler goes on once the connection drains */

        if (rc != NGX_OK || !ctx->catchup) {
            return rc;
        }

        if (i == NGX_HTTP_SSE_HISTORY_ROUNDS) {
            /*
             * After the next poll, as the write filter does for
             * sendfile_max_chunk: an event posted to ngx_posted_events
             * now would run in this same pass, and fast readers would go
             * round after round without the worker seeing its sockets.
             */
            ngx_post_event(&ctx->more, &ngx_posted_next_events);
            return NGX_OK;
        }
    }
}


/*
 * Passes what is queued to the output filters, then gives back the
 * buffers that went out.
 */

static ngx_int_t
ngx_http_sse_stream_flush(ngx_http_sse_ctx_t *ctx)
{
    size_t                     size;
    ngx_int_t                  rc;
    ngx_chain_t               *out, *cl, **ll;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_sse_obuf_t       *ob;
    ngx_http_core_loc_conf_t  *clcf;

    r = ctx->request;
    c = r->connection;

    out = ctx->out;
    ctx->out = NULL;
    ctx->last_out = &ctx->out;

    /* what it queued goes now: not dirty any more, unless it must end */

    if (ctx->in_dirty && !ctx->overflow && !ctx->end_pending) {
        ngx_queue_remove(&ctx->dirty);
        ctx->in_dirty = 0;
    }

    if (out == NULL && ctx->busy == NULL && !c->buffered && !r->buffered) {
        return NGX_OK;
    }

    rc = ngx_http_output_filter(r, out);

    if (out) {
        ctx->last_write = ngx_current_msec;
        ctx->body_sent = 1;

        for (ll = &ctx->busy; *ll; ll = &(*ll)->next) { /* void */ }
        *ll = out;
    }

    while (ctx->busy && ngx_buf_size(ctx->busy->buf) == 0) {
        cl = ctx->busy;
        ctx->busy = cl->next;

        if (cl->buf->tag != (ngx_buf_tag_t) &ngx_http_sse_module) {
            continue;
        }

        ob = (ngx_http_sse_obuf_t *) cl->buf;
        size = ob->buf.end - ob->buf.start;
        ctx->pending -= ngx_min(size, ctx->pending);

        if (ob->frame) {
            ngx_http_sse_frame_release(ob->frame);
            ob->frame = NULL;
        }

        cl->next = ctx->free;
        ctx->free = cl;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (ctx->busy || c->buffered || r->buffered) {
        if (!c->write->timer_set && !c->write->delayed) {
            ngx_add_timer(c->write, clcf->send_timeout);
        }

        if (ngx_handle_write_event(c->write, clcf->send_lowat) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_AGAIN;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    return NGX_OK;
}


/* an info line about a stream: what happened, its channel and zone */

static void
ngx_http_sse_stream_log(ngx_http_sse_ctx_t *ctx, ngx_err_t err,
    const char *what)
{
    ngx_str_t  channel;

    channel.len = 0;
    channel.data = NULL;

    if (ctx->nchannels) {
        ngx_http_sse_store_channel_name(ctx->channels[0], &channel);
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, err,
                  "sse: %s (channel \"%V\"%s, sse_zone \"%V\")",
                  what, &channel, ctx->nchannels > 1 ? " and others" : "",
                  &ctx->zone->name);
}


static void
ngx_http_sse_stream_write_handler(ngx_http_request_t *r)
{
    ngx_event_t         *wev;
    ngx_http_sse_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sse_module);
    wev = r->connection->write;

    if (wev->timedout) {
        ngx_http_sse_stream_log(ctx, NGX_ETIMEDOUT,
                                "subscriber timed out while sending");
        r->connection->timedout = 1;
        ngx_http_sse_stream_close(ctx);
        return;
    }

    if (ngx_http_sse_stream_drive(ctx) == NGX_ERROR) {
        ngx_http_sse_stream_close(ctx);
    }
}


/*
 * Keepalive comments, sse_subscriber_timeout.  A keepalive is written only
 * to a stream with nothing waiting: one that holds output is not idle, and
 * a client that reads nothing is closed by send_timeout.
 */

static void
ngx_http_sse_stream_timer_handler(ngx_event_t *ev)
{
    ngx_http_sse_ctx_t       *ctx;
    ngx_http_sse_loc_conf_t  *slcf;

    ctx = ev->data;
    slcf = ngx_http_get_module_loc_conf(ctx->request, ngx_http_sse_module);

    if (ctx->deadline
        && (ngx_msec_int_t) (ctx->deadline - ngx_current_msec) <= 0)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "sse: sse_subscriber_timeout, ending the stream");
        ngx_http_sse_stream_end(ctx);
        return;
    }

    if (slcf->keepalive
        && ngx_current_msec - ctx->last_write >= slcf->keepalive)
    {
        if (ctx->out == NULL && ctx->busy == NULL) {
            if (ngx_http_sse_stream_queue(ctx,
                                          ngx_http_sse_keepalive_text.data,
                                          ngx_http_sse_keepalive_text.len,
                                          NULL, 1)
                == NGX_ERROR)
            {
                ngx_http_sse_stream_close(ctx);
                return;
            }

            /* it may close the stream: then ctx is gone */

            if (ngx_http_sse_stream_send(ctx) == NGX_DONE) {
                return;
            }
        }

        /* a stalled client: keepalives are not written, time still counts */
        ctx->last_write = ngx_current_msec;
    }

    ngx_http_sse_stream_arm(ctx);
}


/* a stream that catches up and took all it could at once: more history */

static void
ngx_http_sse_stream_more_handler(ngx_event_t *ev)
{
    ngx_http_sse_ctx_t  *ctx;

    ctx = ev->data;

    (void) ngx_http_sse_stream_send(ctx);
}


static void
ngx_http_sse_stream_arm(ngx_http_sse_ctx_t *ctx)
{
    ngx_msec_t                t, next;
    ngx_http_sse_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(ctx->request, ngx_http_sse_module);

    next = NGX_TIMER_INFINITE;

    if (slcf->keepalive) {
        t = ngx_current_msec - ctx->last_write;
        next = (t >= slcf->keepalive) ? 1 : slcf->keepalive - t;
    }

    if (ctx->deadline) {
        t = ((ngx_msec_int_t) (ctx->deadline - ngx_current_msec) > 0)
            ? ctx->deadline - ngx_current_msec : 1;
        next = ngx_min(next, t);
    }

    if (next != NGX_TIMER_INFINITE) {
        ngx_add_timer(&ctx->timer, next);
    }
}


/*
 * Ends a stream cleanly: what it holds is sent, then the response is
 * finished; the browser reconnects and resumes from its Last-Event-ID.
 */

static void
ngx_http_sse_stream_end(ngx_http_sse_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_http_sse_stream_detach(ctx);
    ctx->ending = 1;

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
    *ctx->last_out = cl;
    ctx->last_out = &cl->next;

    rc = ngx_http_sse_stream_flush(ctx);

    ngx_http_finalize_request(r, rc == NGX_ERROR ? NGX_ERROR : NGX_OK);
    ngx_http_run_posted_requests(c);
}


/* closes a stream at once: a client gone, stalled or too slow */

static void
ngx_http_sse_stream_close(ngx_http_sse_ctx_t *ctx)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_http_sse_stream_detach(ctx);
    ctx->ending = 1;

    ngx_http_finalize_request(r, NGX_ERROR);
    ngx_http_run_posted_requests(c);
}


/* in each worker with zones: the stream list, and the shutdown watch */

void
ngx_http_sse_stream_init(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_http_sse_streams);
    ngx_queue_init(&ngx_http_sse_dirty);
    ngx_http_sse_nstreams = 0;

    ngx_http_sse_watch_event.handler = ngx_http_sse_stream_watch_handler;
    ngx_http_sse_watch_event.log = cycle->log;
    ngx_http_sse_watch_event.data = cycle;

    ngx_add_timer(&ngx_http_sse_watch_event, NGX_HTTP_SSE_WATCH_PERIOD);
}


void
ngx_http_sse_stream_exit(void)
{
    if (ngx_http_sse_watch_event.timer_set) {
        ngx_del_timer(&ngx_http_sse_watch_event);
    }
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
    ngx_queue_t         *q, *next;
    ngx_http_sse_ctx_t  *ctx;

    for (q = ngx_queue_head(&ngx_http_sse_streams);
         q != ngx_queue_sentinel(&ngx_http_sse_streams);
         q = next)
    {
        next = ngx_queue_next(q);
        ctx = ngx_queue_data(q, ngx_http_sse_ctx_t, all);
        ngx_http_sse_stream_end(ctx);
    }
}


/* takes a stream out of every registry; nothing more is delivered to it */

static void
ngx_http_sse_stream_detach(ngx_http_sse_ctx_t *ctx)
{
    ngx_uint_t            i;
    ngx_http_sse_link_t  *link;

    if (!ctx->registered) {
        return;
    }

    ctx->registered = 0;

    for (i = 0; i < ctx->nlinks; i++) {
        link = &ctx->links[i];
        ngx_queue_remove(&link->queue);
        ngx_http_sse_lchannel_put(ctx->zone, link->lchannel);
    }

    ngx_http_sse_store_unsubscribe(ctx->zone, ctx->channels,
                                   ctx->nchannels);

    if (ctx->in_dirty) {
        ngx_queue_remove(&ctx->dirty);
        ctx->in_dirty = 0;
    }

    ngx_queue_remove(&ctx->all);
    ngx_http_sse_nstreams--;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (ctx->more.posted) {
        ngx_delete_posted_event(&ctx->more);
    }
}


static void
ngx_http_sse_stream_cleanup(void *data)
{
    ngx_http_sse_ctx_t  *ctx = data;

    ngx_http_sse_stream_detach(ctx);

    ngx_http_sse_chain_release(ctx->out);
    ngx_http_sse_chain_release(ctx->busy);

    ctx->out = NULL;
    ctx->busy = NULL;
}


static void
ngx_http_sse_chain_release(ngx_chain_t *cl)
{
    ngx_http_sse_obuf_t  *ob;

    for ( /* void */ ; cl; cl = cl->next) {
        if (cl->buf->tag != (ngx_buf_tag_t) &ngx_http_sse_module) {
            continue;
        }

        ob = (ngx_http_sse_obuf_t *) cl->buf;

        if (ob->frame) {
            ngx_http_sse_frame_release(ob->frame);
            ob->frame = NULL;
        }
    }
}
