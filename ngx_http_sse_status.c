
/*
 * sse_status: a zone's figures, as JSON or in the Prometheus text format.
 * Everything is read from shared memory, so every worker answers the same
 * and the figures survive reloads and worker crashes.
 */


#include "ngx_http_sse_module.h"


typedef struct {
    ngx_uint_t                  channels;
    ngx_uint_t                  subscribers;
    ngx_uint_t                  messages;
    ngx_uint_t                  workers;
    ngx_atomic_uint_t           published;
    ngx_atomic_uint_t           delivered;
    size_t                      size;
    size_t                      used;
} ngx_http_sse_figures_t;


static void ngx_http_sse_status_read(ngx_http_sse_zone_t *zone,
    ngx_http_sse_figures_t *f);
static ngx_uint_t ngx_http_sse_status_wants_text(ngx_http_request_t *r);


ngx_int_t
ngx_http_sse_status_handler(ngx_http_request_t *r)
{
    u_char                   *p;
    ngx_int_t                 rc;
    ngx_str_t                 body, name;
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

    name = slcf->zone->name;

    if (!ngx_http_sse_status_wants_text(r)) {
        body.data = ngx_pnalloc(r->pool, 256 + name.len + 8 * NGX_INT64_LEN);
        if (body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(body.data,
                        "{\"zone\":\"%V\",\"channels\":%ui,"
                        "\"subscribers\":%ui,\"messages\":%ui,"
                        "\"published\":%uA,\"delivered\":%uA,"
                        "\"shm\":{\"size\":%uz,\"used\":%uz},"
                        "\"workers\":%ui}",
                        &name, f.channels, f.subscribers, f.messages,
                        f.published, f.delivered, f.size, f.used,
                        f.workers);

        body.len = p - body.data;

        return ngx_http_sse_send_json(r, NGX_HTTP_OK, &body);
    }

    body.data = ngx_pnalloc(r->pool, 2048 + 8 * (name.len + NGX_INT64_LEN));
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data,
        "# HELP sse_channels Channels in the zone.\n"
        "# TYPE sse_channels gauge\n"
        "sse_channels{zone=\"%V\"} %ui\n"
        "# HELP sse_subscribers Subscribers connected, across all workers.\n"
        "# TYPE sse_subscribers gauge\n"
        "sse_subscribers{zone=\"%V\"} %ui\n"
        "# HELP sse_messages Messages kept in the channels' history.\n"
        "# TYPE sse_messages gauge\n"
        "sse_messages{zone=\"%V\"} %ui\n"
        "# HELP sse_published_total Messages published.\n"
        "# TYPE sse_published_total counter\n"
        "sse_published_total{zone=\"%V\"} %uA\n"
        "# HELP sse_delivered_total Events delivered to subscribers.\n"
        "# TYPE sse_delivered_total counter\n"
        "sse_delivered_total{zone=\"%V\"} %uA\n"
        "# HELP sse_shm_size_bytes Size of the shared memory zone.\n"
        "# TYPE sse_shm_size_bytes gauge\n"
        "sse_shm_size_bytes{zone=\"%V\"} %uz\n"
        "# HELP sse_shm_used_bytes Shared memory in use.\n"
        "# TYPE sse_shm_used_bytes gauge\n"
        "sse_shm_used_bytes{zone=\"%V\"} %uz\n"
        "# HELP sse_workers Worker processes attached to the zone.\n"
        "# TYPE sse_workers gauge\n"
        "sse_workers{zone=\"%V\"} %ui\n",
        &name, f.channels, &name, f.subscribers, &name, f.messages,
        &name, f.published, &name, f.delivered, &name, f.size,
        &name, f.used, &name, f.workers);

    body.len = p - body.data;

    return ngx_http_sse_send_body(r, NGX_HTTP_OK, &type, &body);
}


static void
ngx_http_sse_status_read(ngx_http_sse_zone_t *zone, ngx_http_sse_figures_t *f)
{
    ngx_uint_t             i;
    ngx_http_sse_shctx_t  *sh;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    f->channels = sh->channels;
    f->subscribers = sh->subscribers;
    f->messages = sh->messages;
    f->used = zone->shm_zone->shm.size
              - zone->shpool->pfree * ngx_pagesize;

    f->workers = 0;

    for (i = 0; i < NGX_HTTP_SSE_MAX_SLOTS; i++) {
        if (sh->slots[i].pid) {
            f->workers++;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    f->published = sh->published;
    f->delivered = sh->delivered;
    f->size = zone->shm_zone->shm.size;
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
