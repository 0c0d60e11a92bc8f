
/*
 * sse_status: a zone's figures, as JSON or in the Prometheus text format.
 * Everything is read from shared memory, so every worker answers the same
 * and the figures survive reloads and worker crashes.
 */


#include "ngx_http_sse_store.h"


typedef struct {
    uint64_t                    channels;
    uint64_t                    subscribers;
    uint64_t                    messages;
    uint64_t                    published;
    uint64_t                    delivered;
    uint64_t                    size;
    uint64_t                    used;
    uint64_t                    workers;
    ngx_str_t                  *zone;
} ngx_http_sse_figures_t;


typedef struct {
    const char                 *name;
    const char                 *help;
    ngx_uint_t                  counter;
    size_t                      offset;
} ngx_http_sse_metric_t;


static void ngx_http_sse_status_read(ngx_http_sse_zone_t *zone,
    ngx_http_sse_figures_t *f);
static ngx_uint_t ngx_http_sse_status_wants_text(ngx_http_request_t *r);
static void ngx_http_sse_status_json(ngx_http_sse_text_t *t, void *data);
static void ngx_http_sse_status_prometheus(ngx_http_sse_text_t *t,
    void *data);


static ngx_http_sse_metric_t  ngx_http_sse_metrics[] = {
    { "sse_channels", "Channels in the zone.", 0,
      offsetof(ngx_http_sse_figures_t, channels) },
    { "sse_subscribers", "Subscribers connected, across all workers.", 0,
      offsetof(ngx_http_sse_figures_t, subscribers) },
    { "sse_messages", "Messages kept in the channels' history.", 0,
      offsetof(ngx_http_sse_figures_t, messages) },
    { "sse_published_total", "Messages published.", 1,
      offsetof(ngx_http_sse_figures_t, published) },
    { "sse_delivered_total", "Events delivered to subscribers.", 1,
      offsetof(ngx_http_sse_figures_t, delivered) },
    { "sse_shm_size_bytes", "Size of the shared memory zone.", 0,
      offsetof(ngx_http_sse_figures_t, size) },
    { "sse_shm_used_bytes", "Shared memory in use.", 0,
      offsetof(ngx_http_sse_figures_t, used) },
    { "sse_workers", "Worker processes attached to the zone.", 0,
      offsetof(ngx_http_sse_figures_t, workers) },
    { NULL, NULL, 0, 0 }
};


ngx_int_t
ngx_http_sse_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                 body;
    ngx_http_sse_figures_t    f;
    ngx_str_t                 type = ngx_string("text/plain; version=0.0.4");
    ngx_http_sse_loc_conf_t  *slcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_sse_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "method not allowed: read the status "
                                       "with GET");
    }

    rc = ngx_http_sse_auth_require_key(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_sse_module);

    ngx_http_sse_status_read(slcf->zone, &f);

    f.zone = &slcf->zone->name;

    if (!ngx_http_sse_status_wants_text(r)) {
        if (ngx_http_sse_text_build(r->pool, ngx_http_sse_status_json, &f,
                                    &body)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_sse_send_json(r, NGX_HTTP_OK, &body);
    }

    if (ngx_http_sse_text_build(r->pool, ngx_http_sse_status_prometheus, &f,
                                &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_sse_send_body(r, NGX_HTTP_OK, &type, &body);
}


static void
ngx_http_sse_status_json(ngx_http_sse_text_t *t, void *data)
{
    ngx_http_sse_figures_t  *f = data;

    ngx_http_sse_text_put(t, "{\"zone\":\"");
    ngx_http_sse_text_escaped(t, f->zone);
    ngx_http_sse_text_put(t, "\",\"channels\":");
    ngx_http_sse_text_number(t, f->channels);
    ngx_http_sse_text_put(t, ",\"subscribers\":");
    ngx_http_sse_text_number(t, f->subscribers);
    ngx_http_sse_text_put(t, ",\"messages\":");
    ngx_http_sse_text_number(t, f->messages);
    ngx_http_sse_text_put(t, ",\"published\":");
    ngx_http_sse_text_number(t, f->published);
    ngx_http_sse_text_put(t, ",\"delivered\":");
    ngx_http_sse_text_number(t, f->delivered);
    ngx_http_sse_text_put(t, ",\"shm\":{\"size\":");
    ngx_http_sse_text_number(t, f->size);
    ngx_http_sse_text_put(t, ",\"used\":");
    ngx_http_sse_text_number(t, f->used);
    ngx_http_sse_text_put(t, "},\"workers\":");
    ngx_http_sse_text_number(t, f->workers);
    ngx_http_sse_text_put(t, "}");
}


/*
 * The Prometheus text format: per metric its help, its type and one sample
 * labelled with the zone (its name escaped as label values are: \\, \"
 * and \n, as in JSON).
 */

static void
ngx_http_sse_status_prometheus(ngx_http_sse_text_t *t, void *data)
{
    ngx_http_sse_figures_t  *f = data;

    uint64_t                 value;
    ngx_uint_t               i;
    ngx_http_sse_metric_t   *m;

    for (i = 0; ngx_http_sse_metrics[i].name; i++) {
        m = &ngx_http_sse_metrics[i];
        value = *(uint64_t *) ((u_char *) f + m->offset);

        ngx_http_sse_text_put(t, "# HELP ");
        ngx_http_sse_text_put(t, m->name);
        ngx_http_sse_text_put(t, " ");
        ngx_http_sse_text_put(t, m->help);
        ngx_http_sse_text_put(t, "\n# TYPE ");
        ngx_http_sse_text_put(t, m->name);
        ngx_http_sse_text_put(t, m->counter ? " counter\n" : " gauge\n");
        ngx_http_sse_text_put(t, m->name);
        ngx_http_sse_text_put(t, "{zone=\"");
        ngx_http_sse_text_escaped(t, f->zone);
        ngx_http_sse_text_put(t, "\"} ");
        ngx_http_sse_text_number(t, value);
        ngx_http_sse_text_put(t, "\n");
    }
}


static void
ngx_http_sse_status_read(ngx_http_sse_zone_t *zone, ngx_http_sse_figures_t *f)
{
    ngx_http_sse_stats_t  st;

    ngx_http_sse_store_stats(zone, &st);

    f->channels = st.channels;
    f->subscribers = st.subscribers;
    f->messages = st.messages;
    f->used = st.used;
    f->workers = st.workers;
    f->published = st.published;
    f->delivered = st.delivered;
    f->size = st.size;
}


/* ?format=prometheus, ?format=json, else Accept: text/plain */

static ngx_uint_t
ngx_http_sse_status_wants_text(ngx_http_request_t *r)
{
    ngx_str_t  format, accept;

    if (ngx_http_arg(r, (u_char *) "format", sizeof("format") - 1, &format)
        == NGX_OK)
    {
        return format.len == sizeof("prometheus") - 1
               && ngx_strncmp(format.data, "prometheus", format.len) == 0;
    }

    if (ngx_http_sse_header_value(r, "Accept", &accept) != NGX_OK) {
        return 0;
    }

    return ngx_strlcasestrn(accept.data, accept.data + accept.len,
                            (u_char *) "text/plain",
                            sizeof("text/plain") - 2)
           != NULL
           && ngx_strlcasestrn(accept.data, accept.data + accept.len,
                               (u_char *) "application/json",
                               sizeof("application/json") - 2)
              == NULL;
}
