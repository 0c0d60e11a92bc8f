
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


#include "ngx_http_sse_store.h"

#include <sys/un.h>


static socklen_t ngx_http_sse_ipc_addr(struct sockaddr_un *sun, ngx_pid_t pid,
    uint32_t nonce);
static void ngx_http_sse_ipc_read_handler(ngx_event_t *ev);
static void ngx_http_sse_ipc_wake_handler(ngx_event_t *ev);
static void ngx_http_sse_ipc_ring(ngx_http_sse_wakeup_t *ring, ngx_uint_t n,
    ngx_log_t *log);


static ngx_connection_t      *ngx_http_sse_bell;
static ngx_event_t            ngx_http_sse_wake_event;
static ngx_array_t           *ngx_http_sse_wake_zones;
static ngx_http_sse_wake_pt   ngx_http_sse_wake;


/*
 * In each worker: its wake-up socket, named by *nonce (which the worker
 * then writes into its slot of each zone).  Each zone's "arrived" hook
 * rings; a wake-up calls wake() for each zone.
 */

ngx_int_t
ngx_http_sse_ipc_init(ngx_cycle_t *cycle, ngx_array_t *all,
    ngx_http_sse_wake_pt wake, uint32_t *pnonce)
{
    int                    fd;
    uint32_t               nonce;
    socklen_t              len;
    ngx_uint_t             i;
    ngx_connection_t      *c;
    struct sockaddr_un     sun;
    ngx_http_sse_zone_t  **zones;

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

    ngx_http_sse_wake_zones = all;
    ngx_http_sse_wake = wake;

    zones = all->elts;

    for (i = 0; i < all->nelts; i++) {
        zones[i]->arrived = ngx_http_sse_ipc_ring;
    }

    *pnonce = nonce;

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
ngx_http_sse_ipc_exit(void)
{
    ngx_uint_t             i;
    ngx_http_sse_zone_t  **zones;

    if (ngx_http_sse_bell == NULL) {
        return;
    }

    zones = ngx_http_sse_wake_zones->elts;

    for (i = 0; i < ngx_http_sse_wake_zones->nelts; i++) {
        zones[i]->arrived = NULL;
    }

    if (ngx_http_sse_wake_event.posted) {
        ngx_delete_posted_event(&ngx_http_sse_wake_event);
    }

    ngx_close_connection(ngx_http_sse_bell);
    ngx_http_sse_bell = NULL;
}


/* the store's "arrived" hook: wakes these workers */

static void
ngx_http_sse_ipc_ring(ngx_http_sse_wakeup_t *ring, ngx_uint_t n,
    ngx_log_t *log)
{
    u_char               one;
    socklen_t            len;
    ngx_uint_t           i;
    struct sockaddr_un   sun;

    one = 1;

    for (i = 0; i < n; i++) {

        if (ring[i].pid == ngx_pid) {
            if (!ngx_http_sse_wake_event.posted) {
                ngx_post_event(&ngx_http_sse_wake_event, &ngx_posted_events);
            }

            continue;
        }

        if (ngx_http_sse_bell == NULL) {
            continue;
        }

        len = ngx_http_sse_ipc_addr(&sun, ring[i].pid, ring[i].nonce);

        if (sendto(ngx_http_sse_bell->fd, &one, 1, 0,
                   (struct sockaddr *) &sun, len)
            == -1)
        {
            /* a worker that is gone; EAGAIN: a wake-up is already queued */
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, ngx_socket_errno,
                           "sse: wake-up of worker %P not sent",
                           ring[i].pid);
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
    ngx_uint_t             i;
    ngx_http_sse_zone_t   *zone, **zones;

    zones = ngx_http_sse_wake_zones->elts;

    for (i = 0; i < ngx_http_sse_wake_zones->nelts; i++) {
        zone = zones[i];

        /* clear the bell first: a publish after this rings again */
        if (ngx_http_sse_store_answer_bell(zone) != NGX_OK) {
            continue;
        }

        ngx_http_sse_wake(zone);
    }
}
