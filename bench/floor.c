/*
 * floor: the write-round floor of `make bench`, the least any server can
 * do to hand one event to N subscribers on loopback.
 *
 * One process, one thread, one epoll loop, no nginx.  It speaks just
 * enough HTTP/1.1 for ssebench, which is its client (another process):
 *
 *   - a GET is a subscriber: it is answered "200, text/event-stream,
 *     chunked" and then kept open; what it sends later is read and dropped;
 *   - a POST is a publish: its body (one line) becomes one event, framed as
 *     an HTTP/1.1 event stream frames it ("<hex>\r\nid: <n>\ndata: <body>
 *     \n\n\r\n", ~45 bytes for ssebench's payloads), written to every
 *     subscriber in one loop, one write() per subscriber; the publish is
 *     answered "201" after the loop.
 *
 * There is one channel: every subscriber gets every event.  A write that
 * does not take the whole event leaves the rest pending for that
 * subscriber (written on EPOLLOUT, capped by --max-pending, past which the
 * subscriber is closed), so a slow reader never blocks the others.
 *
 * ssebench measures the deliveries exactly as it measures a module's (the
 * same parser, the same latency from the publisher's write); this program
 * measures its own write loop: from before the first write() of a round to
 * after the last one.  On SIGTERM, SIGINT or --timeout it prints, as
 * "key=value" lines on stdout, the rounds and that time's p50/p99/max.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define IN_BUF_SIZE     4096
#define BODY_MAX        1024
#define EVENT_MAX       (BODY_MAX + 128)
#define MAX_EVENTS      1024
#define ROUNDS_MAX      (1 << 22)


/* connection kinds */
enum { C_NEW = 0, C_PUB, C_SUB };


typedef struct conn_s  conn_t;

struct conn_s {
    int        fd;
    int        kind;
    uint32_t   idx;         /* in subs[] while a subscriber */
    int        want_out;    /* EPOLLOUT is armed */
    size_t     in_len;
    char      *in;          /* requests being read (not subscribers) */
    size_t     out_len;
    size_t     out_off;
    size_t     out_cap;
    char      *out;         /* bytes a write() did not take */
    conn_t    *next_dead;
};


static struct {
    const char  *port_file;
    size_t       max_pending;
    double       timeout;
    int          port;
} opt;


static int          ep;
static int          lfd;
static conn_t     **subs;
static uint32_t     nsubs;
static uint32_t     subs_cap;
static uint32_t     subs_max;
static conn_t      *dead;           /* closed, freed after the event batch */

static int64_t      event_id;
static int64_t     *rounds;         /* write loop of each round, ns */
static int64_t      nrounds;
static int64_t      rounds_cap;
static int64_t      writes;
static int64_t      writes_partial; /* a write() took less than asked */
static int64_t      subs_overflow;  /* closed: more than --max-pending */
static int64_t      subs_gone;      /* closed by the client or an error */

static volatile sig_atomic_t  stop_flag;


static int64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


static void
die(const char *msg)
{
    fprintf(stderr, "floor: %s: %s\n", msg, strerror(errno));
    exit(2);
}


static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}


static void
ep_set(conn_t *c, uint32_t events, int op)
{
    struct epoll_event  ev;

    ev.events = events;
    ev.data.ptr = c;
    if (epoll_ctl(ep, op, c->fd, &ev) < 0) {
        die("epoll_ctl");
    }
}


/*
 * closed now, freed after the current batch of events: a later event of
 * the batch may still point to it (a round closes subscribers that may
 * have events of their own waiting)
 */
static void
conn_free(conn_t *c)
{
    close(c->fd);   /* also removes it from the epoll set */
    c->fd = -1;
    c->next_dead = dead;
    dead = c;
}


static void
conn_reap(void)
{
    conn_t  *c;

    while (dead) {
        c = dead;
        dead = c->next_dead;
        free(c->in);
        free(c->out);
        free(c);
    }
}


/* a subscriber leaves: the last one takes its place in subs[] */
static void
sub_close(conn_t *c)
{
    uint32_t  i;

    i = c->idx;
    subs[i] = subs[--nsubs];
    subs[i]->idx = i;
    conn_free(c);
}


static void
conn_close(conn_t *c)
{
    if (c->kind == C_SUB) {
        sub_close(c);
        return;
    }

    conn_free(c);
}


/* keeps what a write() did not take; -2: past --max-pending */
static int
conn_keep(conn_t *c, const char *p, size_t n)
{
    size_t   cap;
    char    *b;

    if (c->out_off == c->out_len) {
        c->out_off = 0;
        c->out_len = 0;
    }

    if (c->out_len - c->out_off + n > opt.max_pending) {
        return -2;
    }

    if (c->out_len + n > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }

        if (c->out_len + n > c->out_cap) {
            cap = c->out_cap ? c->out_cap : 256;
            while (cap < c->out_len + n) {
                cap *= 2;
            }
            b = realloc(c->out, cap);
            if (b == NULL) {
                die("realloc");
            }
            c->out = b;
            c->out_cap = cap;
        }
    }

    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;

    if (!c->want_out) {
        c->want_out = 1;
        ep_set(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }

    return 0;
}


/* writes what is pending; 0: done or waiting for EPOLLOUT, -1: error */
static int
conn_flush(conn_t *c)
{
    ssize_t  n;

    while (c->out_off < c->out_len) {
        n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return 0;
            }
            return -1;
        }
        c->out_off += (size_t) n;
    }

    if (c->want_out) {
        c->want_out = 0;
        ep_set(c, EPOLLIN, EPOLL_CTL_MOD);
    }

    return 0;
}


/*
 * one write() of the whole buffer, or the buffer after what is pending;
 * returns 0, or, when the connection must be closed, -1 (an error) or -2
 * (past --max-pending)
 */
static int
conn_send(conn_t *c, const char *p, size_t n)
{
    ssize_t  w;

    if (c->out_off < c->out_len) {
        return conn_keep(c, p, n);
    }

    writes++;
    w = write(c->fd, p, n);

    if (w == (ssize_t) n) {
        return 0;
    }

    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
        w = 0;
    }

    writes_partial++;

    return conn_keep(c, p + w, n - (size_t) w);
}


static void
round_record(int64_t ns)
{
    int64_t  *r;

    if (nrounds == rounds_cap) {
        if (rounds_cap >= ROUNDS_MAX) {
            return;
        }
        rounds_cap = rounds_cap ? rounds_cap * 2 : 1024;
        r = realloc(rounds, (size_t) rounds_cap * sizeof(int64_t));
        if (r == NULL) {
            die("realloc");
        }
        rounds = r;
    }

    rounds[nrounds++] = ns;
}


/* one event to every subscriber, one write() each */
static void
floor_round(const char *body, size_t len)
{
    uint32_t  i;
    int64_t   t0;
    char      ev[EVENT_MAX], data[EVENT_MAX];
    int       dl, n, rc;

    dl = snprintf(data, sizeof(data), "id: %" PRId64 "\ndata: %.*s\n\n",
                  ++event_id, (int) len, body);
    n = snprintf(ev, sizeof(ev), "%x\r\n%s\r\n", (unsigned) dl, data);

    t0 = now_ns();

    i = 0;
    while (i < nsubs) {
        rc = conn_send(subs[i], ev, (size_t) n);
        if (rc < 0) {
            if (rc == -2) {
                subs_overflow++;
            } else {
                subs_gone++;
            }
            /* the last subscriber moves to i: it is written next */
            sub_close(subs[i]);
            continue;
        }
        i++;
    }

    round_record(now_ns() - t0);
}


static void
sub_add(conn_t *c)
{
    static const char  hdr[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n";

    conn_t  **s;

    if (nsubs == subs_cap) {
        subs_cap = subs_cap ? subs_cap * 2 : 1024;
        s = realloc(subs, subs_cap * sizeof(conn_t *));
        if (s == NULL) {
            die("realloc");
        }
        subs = s;
    }

    c->kind = C_SUB;
    c->idx = nsubs;
    subs[nsubs++] = c;
    if (nsubs > subs_max) {
        subs_max = nsubs;
    }

    free(c->in);
    c->in = NULL;
    c->in_len = 0;

    if (conn_send(c, hdr, sizeof(hdr) - 1) < 0) {
        sub_close(c);
    }
}


/* the value of header NAME ("content-length:") in HDR, or -1 */
static long
header_long(const char *hdr, size_t len, const char *name)
{
    const char  *p, *e;
    size_t       nl;

    nl = strlen(name);
    e = hdr + len;

    for (p = hdr; p < e; p++) {
        p = memchr(p, '\n', (size_t) (e - p));
        if (p == NULL) {
            break;
        }
        if ((size_t) (e - p - 1) > nl && strncasecmp(p + 1, name, nl) == 0) {
            return strtol(p + 1 + nl, NULL, 10);
        }
    }

    return -1;
}


/* requests in c->in: returns -1 when the connection must be closed */
static int
conn_requests(conn_t *c)
{
    static const char  created[] =
        "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    static const char  bad[] =
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n";

    size_t   hl, used;
    char    *e;
    long     cl;

    while (c->in_len > 0) {
        e = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (e == NULL) {
            return c->in_len < IN_BUF_SIZE ? 0 : -1;
        }
        hl = (size_t) (e - c->in) + 4;

        if (c->in_len >= 4 && memcmp(c->in, "GET ", 4) == 0) {
            sub_add(c);
            return 1;
        }

        if (c->in_len < 5 || memcmp(c->in, "POST ", 5) != 0) {
            if (write(c->fd, bad, sizeof(bad) - 1) < 0) {
                /* closed next anyway */
            }
            return -1;
        }

        cl = header_long(c->in, hl, "content-length:");
        if (cl < 0 || cl > BODY_MAX) {
            if (write(c->fd, bad, sizeof(bad) - 1) < 0) {
                /* closed next anyway */
            }
            return -1;
        }

        if (c->in_len < hl + (size_t) cl) {
            return 0;
        }

        c->kind = C_PUB;
        floor_round(c->in + hl, (size_t) cl);

        if (conn_send(c, created, sizeof(created) - 1) < 0) {
            return -1;
        }

        used = hl + (size_t) cl;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }

    return 0;
}


static void
conn_readable(conn_t *c)
{
    ssize_t  n;
    char     drop[4096];
    int      rc;

    if (c->kind == C_SUB) {
        n = read(c->fd, drop, sizeof(drop));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            subs_gone++;
            sub_close(c);
        }
        return;
    }

    n = read(c->fd, c->in + c->in_len, IN_BUF_SIZE - c->in_len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        conn_free(c);
        return;
    }

    c->in_len += (size_t) n;

    rc = conn_requests(c);
    if (rc < 0) {
        conn_close(c);
    }
}


static void
floor_accept(void)
{
    conn_t  *c;
    int      fd, one;

    for ( ;; ) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
                return;
            }
            if (errno == EMFILE || errno == ENFILE) {
                fprintf(stderr, "floor: accept: %s\n", strerror(errno));
                return;
            }
            die("accept4");
        }

        one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        c = calloc(1, sizeof(conn_t));
        if (c == NULL) {
            die("calloc");
        }
        c->fd = fd;
        c->kind = C_NEW;
        c->in = malloc(IN_BUF_SIZE);
        if (c->in == NULL) {
            die("malloc");
        }
        ep_set(c, EPOLLIN, EPOLL_CTL_ADD);
    }
}


static void
floor_listen(void)
{
    struct sockaddr_in  sa;
    socklen_t           sl;
    FILE               *f;
    char                tmp[4096];
    int                 one;

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        die("socket");
    }

    one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) opt.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        die("bind");
    }
    if (listen(lfd, 4096) < 0) {
        die("listen");
    }

    sl = sizeof(sa);
    if (getsockname(lfd, (struct sockaddr *) &sa, &sl) < 0) {
        die("getsockname");
    }
    opt.port = ntohs(sa.sin_port);

    if (opt.port_file) {
        /* written whole, then renamed: a reader never sees half of it */
        snprintf(tmp, sizeof(tmp), "%s.tmp", opt.port_file);
        f = fopen(tmp, "w");
        if (f == NULL) {
            die("port file");
        }
        fprintf(f, "%d\n", opt.port);
        if (fclose(f) != 0 || rename(tmp, opt.port_file) < 0) {
            die("port file");
        }
    }
}


static int
cmp_i64(const void *a, const void *b)
{
    int64_t  x, y;

    x = *(const int64_t *) a;
    y = *(const int64_t *) b;

    return (x > y) - (x < y);
}


/* the p-th value of the sorted rounds (the same rank as ssebench's) */
static int64_t
rounds_pct(double p)
{
    int64_t  i;

    i = (int64_t) (p * (double) nrounds);
    if (i >= nrounds) {
        i = nrounds - 1;
    }

    return rounds[i];
}


static void
usage(void)
{
    fprintf(stderr,
"usage: floor [options]\n"
"  -p, --port N         listen on 127.0.0.1:N (0: any free port; 0)\n"
"  --port-file F        write the port into F once listening\n"
"  --max-pending B      bytes waiting for one subscriber before it is\n"
"                       closed (4194304)\n"
"  --timeout S          exit after S seconds (600)\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    static const struct option  lopts[] = {
        { "port", 1, NULL, 'p' }, { "port-file", 1, NULL, 'f' },
        { "max-pending", 1, NULL, 'm' }, { "timeout", 1, NULL, 't' },
        { NULL, 0, NULL, 0 }
    };

    struct epoll_event  evs[MAX_EVENTS];
    struct rlimit       rl;
    int64_t             deadline;
    conn_t             *c;
    int                 o, n, i;

    opt.max_pending = 4 * 1024 * 1024;
    opt.timeout = 600;

    while ((o = getopt_long(argc, argv, "p:", lopts, NULL)) != -1) {
        switch (o) {
        case 'p': opt.port = atoi(optarg); break;
        case 'f': opt.port_file = optarg; break;
        case 'm': opt.max_pending = (size_t) atol(optarg); break;
        case 't': opt.timeout = atof(optarg); break;
        default: usage();
        }
    }

    if (optind != argc || opt.port < 0 || opt.port > 65535
        || opt.max_pending == 0 || opt.timeout <= 0)
    {
        usage();
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        die("epoll_create1");
    }

    floor_listen();

    {
        /* the listener is the only epoll entry whose data is NULL */
        struct epoll_event  ev;

        ev.events = EPOLLIN;
        ev.data.ptr = NULL;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
            die("epoll_ctl");
        }
    }

    deadline = now_ns() + (int64_t) (opt.timeout * 1e9);

    while (!stop_flag && now_ns() < deadline) {
        n = epoll_wait(ep, evs, MAX_EVENTS, 100);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("epoll_wait");
        }

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;

            if (c == NULL) {
                floor_accept();
                continue;
            }

            if (c->fd < 0) {
                /* closed earlier in this batch */
                continue;
            }

            if (evs[i].events & EPOLLOUT) {
                if (conn_flush(c) < 0) {
                    if (c->kind == C_SUB) {
                        subs_gone++;
                    }
                    conn_close(c);
                    continue;
                }
            }

            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                conn_readable(c);
            }
        }

        conn_reap();
    }

    if (nrounds) {
        qsort(rounds, (size_t) nrounds, sizeof(int64_t), cmp_i64);
    }

    printf("floor_port=%d\nfloor_rounds=%" PRId64 "\n"
           "floor_subs_max=%u\nfloor_subs_end=%u\n"
           "floor_writes=%" PRId64 "\nfloor_writes_partial=%" PRId64 "\n"
           "floor_subs_overflow=%" PRId64 "\nfloor_subs_gone=%" PRId64 "\n",
           opt.port, nrounds, subs_max, nsubs, writes, writes_partial,
           subs_overflow, subs_gone);
    if (nrounds) {
        printf("floor_write_p50_us=%.1f\nfloor_write_p99_us=%.1f\n"
               "floor_write_max_us=%.1f\n",
               (double) rounds_pct(0.50) / 1e3,
               (double) rounds_pct(0.99) / 1e3,
               (double) rounds[nrounds - 1] / 1e3);
    }
    fflush(stdout);

    return 0;
}
