
/*
 * Wake-ups between workers.
 *
 * Each worker binds a datagram socket in the abstract AF_UNIX namespace
 * when it starts and writes its name into its slot of every zone.  A
 * publisher that appends messages rings the doorbell of every worker with
 * subscribers whose "bell" flag it turns from 0 to 1: a burst of publishes
 * makes one wake-up per worker.  The woken worker clears the flag, then
 * reads the log, so nothing appended after the flag was set is missed.
 * A publisher rings its own worker with a posted event instead.
 *
 * Unlike socketpairs made by the master before fork, this needs nothing
 * from the master: it works with master_process off, across reloads and for
 * the workers the master starts again after a crash.
 */


#include "ngx_http_sse_module.h"

#include <sys/un.h>


#define NGX_HTTP_SSE_WATCH_PERIOD  250


static socklen_t ngx_http_sse_ipc_addr(struct sockaddr_un *sun, ngx_pid_t pid,
    uint32_t nonce);
static void ngx_http_sse_ipc_read_handler(ngx_event_t *ev);
static void ngx_http_sse_ipc_wake_handler(ngx_event_t *ev);
static void ngx_http_sse_ipc_watch_handler(ngx_event_t *ev);


static ngx_connection_t  *ngx_http_sse_bell;
static ngx_event_t        ngx_http_sse_wake_event;
static ngx_event_t        ngx_http_sse_watch_event;


ngx_int_t
ngx_http_sse_ipc_init(ngx_cycle_t *cycle)
{
    int                        fd;
    uint32_t                   nonce;
    socklen_t                  len;
    ngx_uint_t                 i;
    ngx_connection_t          *c;
    struct sockaddr_un         sun;
    ngx_http_sse_zone_t      **zones;
    ngx_http_sse_main_conf_t  *smcf;

    smcf = ngx_http_sse_cycle_main_conf(cycle);

    if (smcf == NULL || smcf->zones.nelts == 0) {
        return NGX_OK;
    }

    ngx_http_sse_stream_init();

    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "sse: socket(AF_UNIX) failed");
        return NGX_ERROR;
    }

    if (ngx_nonblocking(fd) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      ngx_nonblocking_n " failed");
        close(fd);
        return NGX_ERROR;
    }

    nonce = (uint32_t) ngx_random();
    len = ngx_http_sse_ipc_addr(&sun, ngx_pid, nonce);

    if (bind(fd, (struct sockaddr *) &sun, len) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "sse: bind() of the worker's wake-up socket failed");
        close(fd);
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        close(fd);
        return NGX_ERROR;
    }

    c->read->handler = ngx_http_sse_ipc_read_handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    ngx_http_sse_bell = c;

    ngx_http_sse_wake_event.handler = ngx_http_sse_ipc_wake_handler;
    ngx_http_sse_wake_event.log = cycle->log;
    ngx_http_sse_wake_event.data = cycle;

    ngx_http_sse_watch_event.handler = ngx_http_sse_ipc_watch_handler;
    ngx_http_sse_watch_event.log = cycle->log;
    ngx_http_sse_watch_event.data = cycle;

    zones = smcf->zones.elts;

    for (i = 0; i < smcf->zones.nelts; i++) {
        if (ngx_http_sse_store_claim_slot(zones[i], nonce, cycle->log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_add_timer(&ngx_http_sse_watch_event, NGX_HTTP_SSE_WATCH_PERIOD);

    return NGX_OK;
}


/* a name in the abstract namespace: sun_path starts with a NUL byte */

static socklen_t
ngx_http_sse_ipc_addr(struct sockaddr_un *sun, ngx_pid_t pid, uint32_t nonce)
{
    u_char  *p;

    ngx_memzero(sun, sizeof(struct sockaddr_un));
    sun->sun_family = AF_UNIX;

    p = ngx_snprintf((u_char *) sun->sun_path + 1,
                     sizeof(sun->sun_path) - 1, "nginx-sse/%P/%08xD",
                     pid, nonce);

    return offsetof(struct sockaddr_un, sun_path)
           + (p - (u_char *) sun->sun_path);
}


void
ngx_http_sse_ipc_watch(void)
{
    if (ngx_http_sse_bell && !ngx_http_sse_watch_event.timer_set) {
        ngx_add_timer(&ngx_http_sse_watch_event, NGX_HTTP_SSE_WATCH_PERIOD);
    }
}


void
ngx_http_sse_ipc_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                 i;
    ngx_http_sse_zone_t      **zones;
    ngx_http_sse_main_conf_t  *smcf;

    if (ngx_http_sse_bell == NULL) {
        return;
    }

    smcf = ngx_http_sse_cycle_main_conf(cycle);
    zones = smcf->zones.elts;

    for (i = 0; i < smcf->zones.nelts; i++) {
        ngx_http_sse_store_release_slot(zones[i]);
    }

    if (ngx_http_sse_watch_event.timer_set) {
        ngx_del_timer(&ngx_http_sse_watch_event);
    }

    if (ngx_http_sse_wake_event.posted) {
        ngx_delete_posted_event(&ngx_http_sse_wake_event);
    }

    ngx_close_connection(ngx_http_sse_bell);
    ngx_http_sse_bell = NULL;
}


void
ngx_http_sse_ipc_ring(ngx_http_sse_slot_t **slots, ngx_uint_t n,
    ngx_log_t *log)
{
    u_char               one;
    socklen_t            len;
    ngx_uint_t           i;
    struct sockaddr_un   sun;

    one = 1;

    for (i = 0; i < n; i++) {

        if (slots[i]->pid == ngx_pid) {
            if (!ngx_http_sse_wake_event.posted) {
                ngx_post_event(&ngx_http_sse_wake_event, &ngx_posted_events);
            }

            continue;
        }

        if (ngx_http_sse_bell == NULL) {
            continue;
        }

        len = ngx_http_sse_ipc_addr(&sun, slots[i]->pid, slots[i]->nonce);

        if (sendto(ngx_http_sse_bell->fd, &one, 1, 0,
                   (struct sockaddr *) &sun, len)
            == -1)
        {
            /* a worker that is gone; EAGAIN: a wake-up is already queued */
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, ngx_socket_errno,
                           "sse: wake-up of worker %P not sent",
                           slots[i]->pid);
        }
    }
}


static void
ngx_http_sse_ipc_read_handler(ngx_event_t *ev)
{
    u_char             buf[64];
    ssize_t            n;
    ngx_connection_t  *c;

    c = ev->data;

    for ( ;; ) {
        n = recv(c->fd, buf, sizeof(buf), 0);

        if (n == -1) {
            break;
        }
    }

    if (ngx_handle_read_event(ev, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "sse: cannot watch the wake-up socket");
    }

    ngx_http_sse_ipc_wake_handler(&ngx_http_sse_wake_event);
}


static void
ngx_http_sse_ipc_wake_handler(ngx_event_t *ev)
{
    ngx_uint_t                 i;
    ngx_http_sse_zone_t       *zone, **zones;
    ngx_http_sse_main_conf_t  *smcf;

    smcf = ngx_http_sse_cycle_main_conf(ev->data);
    zones = smcf->zones.elts;

    for (i = 0; i < smcf->zones.nelts; i++) {
        zone = zones[i];

        if (zone->slot == NULL) {
            continue;
        }

        /* clear the bell first: a publish after this rings again */
        (void) ngx_atomic_cmp_set(&zone->slot->bell, 1, 0);

        ngx_http_sse_stream_deliver(zone);
    }
}


/*
 * nginx tells a module nothing when a graceful shutdown or a reload
 * starts; this timer notices it and ends the streams, which would
 * otherwise hold the old worker until worker_shutdown_timeout.
 */

static void
ngx_http_sse_ipc_watch_handler(ngx_event_t *ev)
{
    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_sse_stream_end_all();

        /* streams started while exiting are ended by the next round */
        if (ngx_http_sse_stream_count() == 0) {
            return;
        }
    }

    ngx_add_timer(ev, NGX_HTTP_SSE_WATCH_PERIOD);
}
