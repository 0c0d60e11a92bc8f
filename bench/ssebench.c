/*
 * ssebench: a load generator for Server-Sent Events pub/sub hubs
 * (ngx_http_sse_module and nchan), used by `make bench`.
 *
 * One process, one epoll loop, everything non-blocking and bounded in time:
 *
 *   - subscribers: --subs N connections, subscriber i on channel
 *     <prefix><i % channels>, bound to 127.0.0.<src-first + i % src> before
 *     connect() so that many connections do not exhaust the ephemeral ports
 *     of one source address; each stream is read by an incremental parser
 *     (HTTP/1.1 chunked or raw body, SSE lines across read boundaries);
 *   - publisher: --pubconns keep-alive HTTP/1.1 connections, POSTing at
 *     --rate publishes/s (0: as fast as the server answers, at most
 *     --window messages not yet delivered to every subscriber), round-robin
 *     over the channels; each payload is "t=<CLOCK_MONOTONIC ns> seq=<n>",
 *     n counting per channel, so a subscriber measures end-to-end latency
 *     and finds lost, duplicated or reordered messages;
 *   - after publishing, one "end seq=<n>" message per channel tells every
 *     subscriber (in this process or another one) how many it should have;
 *   - server figures from /proc: the worker CPU time (utime + stime of
 *     --cpu-pids) over the publishing phase, and the memory (Pss and Rss of
 *     --mem-pids, from smaps_rollup) before and after the subscribers
 *     connected;
 *   - two servers (--port2): the odd subscribers connect to the second
 *     server, the publisher stays on the first; deliveries, losses and
 *     latencies are also reported per server (keys ending in _a and _b),
 *     the second server's workers (--cpu-pids2) count in the server CPU,
 *     and a third set of processes (--cpu-pids3, e.g. redis-server) is
 *     measured apart;
 *   - with one channel, rounds: for each message, the time from its
 *     publish to its last arrival at any subscriber (keys round_*);
 *   - --plain: each subscriber makes one plain request (answered 2xx
 *     without a body, e.g. "return 204") and keeps its keep-alive
 *     connection idle; with --idle-only, the memory of an idle connection.
 *
 * Results are printed as "key=value" lines on stdout.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#define LINE_MAX_LEN    256
#define READ_BUF_SIZE   (256 * 1024)
#define MAX_EVENTS      1024
#define MAX_PIDS        64
#define HIST_BUCKETS    (32 + 64 * 16)
#define CONNECT_TRIES   5
#define ROUNDS_MAX      (1 << 22)


enum { K_SUB, K_PUB };

/* connection states */
enum {
    S_IDLE = 0,         /* not connected yet / publisher waiting */
    S_CONNECTING,
    S_SENDING,
    S_HEADERS,
    S_BODY,
    S_DONE,             /* subscriber: got its end marker */
    S_DEAD              /* closed or failed */
};

/* body framing */
enum { B_RAW, B_CHUNK_SIZE, B_CHUNK_EXT, B_CHUNK_DATA, B_CHUNK_CR,
       B_CHUNK_LF, B_END };

/* event data kinds */
enum { EV_NONE, EV_MSG, EV_END };


typedef struct {
    int        fd;
    uint8_t    kind;
    uint8_t    state;
    uint8_t    body;        /* B_* */
    uint8_t    saw_cr;
    uint8_t    ev_kind;
    uint8_t    line_trunc;
    uint8_t    chunked;
    uint8_t    conn_close;
    uint8_t    tries;
    uint16_t   line_len;
    uint16_t   status;
    uint32_t   idx;
    uint32_t   channel;
    int64_t    chunk_left;
    int64_t    content_length;  /* publisher responses */
    int64_t    ev_t;
    int64_t    ev_seq;
    int64_t    next_seq;    /* subscriber: highest seq seen + 1 */
    uint64_t   seen;        /* bit i: seq next_seq - 1 - i was received */
    int64_t    end_seq;     /* subscriber: -1 until the end marker */
    int64_t    received;
    int64_t    sent_at;     /* publisher: request written at (ns) */
    int        is_end;      /* publisher: the request is an end marker */
    size_t     out_len;
    size_t     out_off;
    char      *out;
    char       line[LINE_MAX_LEN];
} conn_t;


static struct {
    const char  *host;
    int          port;
    int          port2;
    long         subs;
    long         channels;
    const char  *prefix;
    int          src;
    int          src_first;
    const char  *sub_path;
    const char  *pub_path;
    int          json;
    double       rate;
    double       duration;
    long         count;
    int          pubconns;
    long         window;
    int          no_pub;
    int          idle_only;
    int          plain;
    int          send_end;
    const char  *ready_file;
    const char  *go_file;
    double       hold;
    double       timeout;
    double       drain;
    int          conn_burst;
    pid_t        cpu_pids[MAX_PIDS];
    int          ncpu_pids;
    pid_t        cpu_pids2[MAX_PIDS];
    int          ncpu_pids2;
    pid_t        cpu_pids3[MAX_PIDS];
    int          ncpu_pids3;
    pid_t        mem_pids[MAX_PIDS];
    int          nmem_pids;
    const char  *label;
} opt;


static int          ep;
static conn_t      *subs;
static conn_t      *pubs;
static char        *rbuf;
static int64_t      t_start;
static int64_t      deadline;

static long         subs_pending;   /* connecting, not yet 200 */
static long         subs_next;      /* next subscriber to start */
static long         subs_ok;        /* got 200 at least once */
static long         subs_failed;    /* gave up connecting, or not 200 */
static long         subs_closed;    /* closed by the server while streaming */
static long         subs_done;      /* got the end marker */
static long         subs_live;      /* streaming now */

static int64_t     *chan_seq;       /* per channel: publishes issued */
static long         pub_issued;     /* messages (not end markers) issued */
static long         pub_ok;
static long         pub_err;
static long         pub_inflight;
static long         ends_issued;
static long         ends_ok;
static int          pub_closed;
static int64_t      pub_t0;
static int64_t      pub_t_last;
static int          publishing;     /* 0 before, 1 messages, 2 ends, 3 done */

static int64_t      deliveries;
static int64_t      dups;
static int64_t      reordered;
static int64_t      gaps;
static int64_t      t_last_delivery;
static int64_t      lat_max;
static int64_t      hist[HIST_BUCKETS];
static int64_t      hist_n;
static int64_t      pub_lat_hist[HIST_BUCKETS];
/* per server (--port2): 0 the first, 1 the second */
static int64_t      g_deliveries[2];
static int64_t      g_gaps[2];
static int64_t      g_hist[2][HIST_BUCKETS];
static int64_t      g_hist_n[2];
static int64_t      pub_lat_n;
/* one channel: per seq, the latency of its last arrival (0: none yet) */
static int64_t     *round_lat;
static int64_t      round_cap;

static volatile sig_atomic_t  stop_flag;


static void conn_close(conn_t *c, int dead);
static void sub_start(conn_t *c);
static void pub_issue(conn_t *c, int end_channel);


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
    fprintf(stderr, "ssebench: %s: %s\n", msg, strerror(errno));
    exit(2);
}


/* latency histogram: microseconds, ~3% buckets */

static int
hist_index(int64_t us)
{
    int  msb;

    if (us < 32) {
        return us < 0 ? 0 : (int) us;
    }

    /* 16 buckets per power of two: us >> (msb - 4) is in [16, 31] */
    msb = 63 - __builtin_clzll((unsigned long long) us);

    return 32 + (msb - 5) * 16 + (int) ((us >> (msb - 4)) - 16);
}


static int64_t
hist_value(int i)
{
    int  shift;

    if (i < 32) {
        return i;
    }

    shift = (i - 32) / 16 + 1;
    return (((int64_t) (16 + (i - 32) % 16)) << shift)
           + (((int64_t) 1 << shift) / 2);
}


static int64_t
hist_pct(int64_t *h, int64_t n, double p)
{
    int64_t  want, acc;
    int      i;

    if (n == 0) {
        return -1;
    }

    want = (int64_t) (p * (double) n);
    if (want >= n) {
        want = n - 1;
    }

    acc = 0;
    for (i = 0; i < HIST_BUCKETS; i++) {
        acc += h[i];
        if (acc > want) {
            return hist_value(i);
        }
    }

    return hist_value(HIST_BUCKETS - 1);
}


/* /proc figures */

static int64_t
proc_cpu_ns(const pid_t *pids, int npids)
{
    char      path[64], buf[1024], *p;
    long      tck;
    int64_t   sum;
    int       i, f, fd;
    ssize_t   n;
    unsigned long long  ut, st;

    tck = sysconf(_SC_CLK_TCK);
    sum = 0;

    for (i = 0; i < npids; i++) {
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pids[i]);
        fd = open(path, O_RDONLY);
        if (fd < 0) {
            continue;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0) {
            continue;
        }
        buf[n] = '\0';

        /* fields after "(comm)": state is field 3, utime 14, stime 15 */
        p = strrchr(buf, ')');
        if (p == NULL) {
            continue;
        }
        p += 2;
        for (f = 3; f < 14 && p; f++) {
            p = strchr(p, ' ');
            if (p) {
                p++;
            }
        }
        if (p == NULL || sscanf(p, "%llu %llu", &ut, &st) != 2) {
            continue;
        }
        sum += (int64_t) (ut + st) * (1000000000 / tck);
    }

    return sum;
}


static void
proc_mem(int64_t *pss, int64_t *rss)
{
    char      path[64], line[256];
    FILE     *f;
    long long v;
    int       i;

    *pss = 0;
    *rss = 0;

    for (i = 0; i < opt.nmem_pids; i++) {
        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup",
                 (int) opt.mem_pids[i]);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof(line), f)) {
            if (sscanf(line, "Pss: %lld kB", &v) == 1) {
                *pss += v * 1024;
            } else if (sscanf(line, "Rss: %lld kB", &v) == 1) {
                *rss += v * 1024;
            }
        }
        fclose(f);
    }
}


/* which server a connection talks to: 0 the first, 1 the second */
static int
conn_server(const conn_t *c)
{
    return (c->kind == K_SUB && opt.port2 > 0 && (c->idx & 1)) ? 1 : 0;
}


static int
conn_port(const conn_t *c)
{
    return conn_server(c) ? opt.port2 : opt.port;
}


/* event loop helpers */

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


static int
tcp_open(conn_t *c, int bind_src)
{
    struct sockaddr_in  sa;
    int                 fd, one;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (bind_src) {
        /* the port is chosen at connect(), by the whole 4-tuple */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(0x7f000000u
                                   + (uint32_t) (opt.src_first
                                                 + (int) (c->idx % opt.src)));
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
            close(fd);
            return -1;
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) conn_port(c));
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) {
        errno = EINVAL;
        die("bad host");
    }

    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }

    c->fd = fd;
    c->state = S_CONNECTING;
    c->line_len = 0;
    c->line_trunc = 0;
    c->saw_cr = 0;
    c->status = 0;
    c->chunked = 0;
    c->conn_close = 0;
    c->content_length = -1;
    c->ev_kind = EV_NONE;
    ep_set(c, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);

    return 0;
}


static void
conn_close(conn_t *c, int dead)
{
    if (c->fd >= 0) {
        close(c->fd);   /* also removes it from the epoll set */
        c->fd = -1;
    }
    if (dead) {
        c->state = S_DEAD;
    }
}


static int
conn_flush(conn_t *c)
{
    ssize_t  n;

    while (c->out_off < c->out_len) {
        n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                ep_set(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
                return 0;
            }
            return -1;
        }
        c->out_off += (size_t) n;
    }

    ep_set(c, EPOLLIN, EPOLL_CTL_MOD);
    return 1;
}


/* subscribers */

static void
sub_failed(conn_t *c)
{
    int  was_live;

    was_live = (c->state == S_BODY);
    conn_close(c, 0);

    if (was_live) {
        subs_live--;
        subs_closed++;
        c->state = S_DEAD;
        return;
    }

    subs_pending--;
    if (c->tries < CONNECT_TRIES && now_ns() < deadline) {
        sub_start(c);
        return;
    }

    subs_failed++;
    c->state = S_DEAD;
}


static void
sub_start(conn_t *c)
{
    size_t  cap;
    int     n;

    c->tries++;
    subs_pending++;

    if (tcp_open(c, 1) < 0) {
        c->state = S_CONNECTING;
        c->fd = -1;
        sub_failed(c);
        return;
    }

    cap = 512;
    if (c->out == NULL) {
        c->out = malloc(cap);
        if (c->out == NULL) {
            die("malloc");
        }
    }
    n = snprintf(c->out, cap,
                 "GET %s?channel=%s%u HTTP/1.1\r\n"
                 "Host: %s:%d\r\n"
                 "Accept: text/event-stream\r\n"
                 "Cache-Control: no-cache\r\n"
                 "\r\n",
                 opt.sub_path, opt.prefix, c->channel, opt.host,
                 conn_port(c));
    c->out_len = (size_t) n;
    c->out_off = 0;
    c->body = B_RAW;
    c->next_seq = 0;
    c->end_seq = -1;
}


static void
sub_start_more(void)
{
    while (subs_next < opt.subs && subs_pending < opt.conn_burst
           && now_ns() < deadline)
    {
        sub_start(&subs[subs_next++]);
    }
}


/* one channel: the latest arrival of message SEQ so far */
static void
round_note(int64_t seq, int64_t lat)
{
    int64_t  *r, cap;

    if (seq < 0 || seq >= ROUNDS_MAX) {
        return;
    }

    if (seq >= round_cap) {
        cap = round_cap ? round_cap : 1024;
        while (cap <= seq) {
            cap *= 2;
        }
        r = realloc(round_lat, (size_t) cap * sizeof(int64_t));
        if (r == NULL) {
            die("realloc");
        }
        memset(r + round_cap, 0, (size_t) (cap - round_cap) * sizeof(int64_t));
        round_lat = r;
        round_cap = cap;
    }

    if (lat < 1) {
        lat = 1;
    }
    if (lat > round_lat[seq]) {
        round_lat[seq] = lat;
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


/* round_* lines: the rounds' times, sorted, ranked as hist_pct does */
static void
round_print(void)
{
    int64_t  i, n, k;

    n = 0;
    for (i = 0; i < round_cap; i++) {
        if (round_lat[i] > 0) {
            round_lat[n++] = round_lat[i];
        }
    }

    if (n == 0) {
        return;
    }

    qsort(round_lat, (size_t) n, sizeof(int64_t), cmp_i64);

    printf("rounds=%" PRId64 "\n", n);
    k = (int64_t) (0.50 * (double) n);
    printf("round_p50_us=%" PRId64 "\n", round_lat[k < n ? k : n - 1] / 1000);
    k = (int64_t) (0.99 * (double) n);
    printf("round_p99_us=%" PRId64 "\n", round_lat[k < n ? k : n - 1] / 1000);
    printf("round_max_us=%" PRId64 "\n", round_lat[n - 1] / 1000);
}


static void
sub_event(conn_t *c, int64_t now)
{
    int64_t  lat, us, d;

    if (c->ev_kind == EV_END) {
        c->end_seq = c->ev_seq;
        if (c->end_seq > c->received) {
            gaps += c->end_seq - c->received;
            g_gaps[conn_server(c)] += c->end_seq - c->received;
        }
        if (c->state == S_BODY) {
            c->state = S_DONE;
            subs_done++;
            subs_live--;
        }
        return;
    }

    deliveries++;
    g_deliveries[conn_server(c)]++;
    t_last_delivery = now;

    /*
     * several publisher connections may have their requests on one channel
     * served in another order than they were sent: a message older than the
     * newest one seen is a reordering (or, when seen already, a duplicate);
     * what is lost is counted at the end, from the end marker
     */
    if (c->ev_seq >= c->next_seq) {
        d = c->ev_seq - c->next_seq + 1;
        c->seen = (d >= 64) ? 0 : (c->seen << d);
        c->seen |= 1;
        c->next_seq = c->ev_seq + 1;
        c->received++;
    } else {
        d = c->next_seq - 1 - c->ev_seq;
        if (d < 64 && (c->seen & ((uint64_t) 1 << d))) {
            dups++;
        } else {
            if (d < 64) {
                c->seen |= (uint64_t) 1 << d;
            }
            reordered++;
            c->received++;
        }
    }

    lat = now - c->ev_t;
    if (lat > lat_max) {
        lat_max = lat;
    }
    if (opt.channels == 1) {
        round_note(c->ev_seq, lat);
    }
    us = lat / 1000;
    hist[hist_index(us)]++;
    hist_n++;
    g_hist[conn_server(c)][hist_index(us)]++;
    g_hist_n[conn_server(c)]++;
}


static void
sub_data_line(conn_t *c, const char *v, size_t len)
{
    const char  *p, *e;
    int64_t      t, seq;

    e = v + len;
    p = v;

    if (len > 8 && memcmp(p, "end seq=", 8) == 0) {
        seq = 0;
        for (p += 8; p < e && *p >= '0' && *p <= '9'; p++) {
            seq = seq * 10 + (*p - '0');
        }
        c->ev_kind = EV_END;
        c->ev_seq = seq;
        return;
    }

    if (len < 2 || p[0] != 't' || p[1] != '=') {
        return;
    }

    t = 0;
    for (p += 2; p < e && *p >= '0' && *p <= '9'; p++) {
        t = t * 10 + (*p - '0');
    }
    if (e - p < 5 || memcmp(p, " seq=", 5) != 0) {
        return;
    }
    seq = 0;
    for (p += 5; p < e && *p >= '0' && *p <= '9'; p++) {
        seq = seq * 10 + (*p - '0');
    }

    c->ev_kind = EV_MSG;
    c->ev_t = t;
    c->ev_seq = seq;
}


static void
sub_header_line(conn_t *c, int64_t now)
{
    char   *l;
    size_t  n;

    (void) now;
    l = c->line;
    n = c->line_len;

    if (c->status == 0) {
        if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0) {
            c->status = 999;
            return;
        }
        c->status = (uint16_t) atoi(l + 9);
        return;
    }

    if (n == 0) {
        /* end of the headers */
        subs_pending--;
        if (opt.plain ? c->status / 100 != 2 : c->status != 200) {
            c->state = S_DEAD;
            subs_failed++;
            conn_close(c, 1);
            return;
        }
        c->state = S_BODY;
        c->body = c->chunked ? B_CHUNK_SIZE : B_RAW;
        subs_ok++;
        subs_live++;
        return;
    }

    if (n >= 18 && strncasecmp(l, "transfer-encoding:", 18) == 0) {
        l[n] = '\0';
        if (strcasestr(l + 18, "chunked")) {
            c->chunked = 1;
        }
    }
}


/* feeds SSE bytes (already de-chunked) to the line parser */
static void
sub_sse_bytes(conn_t *c, const char *p, size_t n, int64_t now)
{
    const char  *e, *l, *v;
    char         ch;
    size_t       len;

    e = p + n;

    while (p < e) {
        ch = *p++;

        if (c->saw_cr) {
            c->saw_cr = 0;
            if (ch == '\n') {
                continue;
            }
        }

        if (ch != '\n' && ch != '\r') {
            if (c->line_len < LINE_MAX_LEN - 1) {
                c->line[c->line_len++] = ch;
            } else {
                c->line_trunc = 1;
            }
            continue;
        }

        if (ch == '\r') {
            c->saw_cr = 1;
        }

        /* a complete line */
        len = c->line_len;
        l = c->line;

        if (len == 0) {
            if (c->ev_kind != EV_NONE) {
                sub_event(c, now);
                c->ev_kind = EV_NONE;
            }
        } else if (!c->line_trunc && len >= 5 && memcmp(l, "data:", 5) == 0)
        {
            v = l + 5;
            len -= 5;
            if (len && *v == ' ') {
                v++;
                len--;
            }
            sub_data_line(c, v, len);
        }

        c->line_len = 0;
        c->line_trunc = 0;

        if (c->state != S_BODY) {
            return;
        }
    }
}


/* header bytes: returns how many were used (stops at the end of headers) */
static size_t
sub_header_bytes(conn_t *c, const char *p, size_t n, int64_t now)
{
    size_t  i;
    char    ch;

    for (i = 0; i < n; ) {
        ch = p[i++];

        if (ch == '\r') {
            continue;
        }

        if (ch != '\n') {
            if (c->line_len < LINE_MAX_LEN - 1) {
                c->line[c->line_len++] = ch;
            }
            continue;
        }

        sub_header_line(c, now);
        c->line_len = 0;

        if (c->state != S_HEADERS) {
            return i;
        }
    }

    return i;
}


static void
sub_body_bytes(conn_t *c, const char *p, size_t n, int64_t now)
{
    const char  *e;
    size_t       take;
    int          d;

    if (c->body == B_RAW) {
        sub_sse_bytes(c, p, n, now);
        return;
    }

    e = p + n;

    while (p < e && c->state == S_BODY) {
        switch (c->body) {

        case B_CHUNK_SIZE:
            if (*p == '\r') {
                p++;
                break;
            }
            if (*p == '\n') {
                p++;
                if (c->chunk_left == 0) {
                    c->body = B_END;
                } else {
                    c->body = B_CHUNK_DATA;
                }
                break;
            }
            d = isdigit((unsigned char) *p) ? *p - '0'
                : (tolower((unsigned char) *p) >= 'a'
                   && tolower((unsigned char) *p) <= 'f')
                  ? tolower((unsigned char) *p) - 'a' + 10 : -1;
            if (d < 0) {
                c->body = B_CHUNK_EXT;
            } else {
                c->chunk_left = c->chunk_left * 16 + d;
            }
            p++;
            break;

        case B_CHUNK_EXT:
            if (*p == '\n') {
                c->body = c->chunk_left ? B_CHUNK_DATA : B_END;
            }
            p++;
            break;

        case B_CHUNK_DATA:
            take = (size_t) (e - p);
            if ((int64_t) take > c->chunk_left) {
                take = (size_t) c->chunk_left;
            }
            sub_sse_bytes(c, p, take, now);
            p += take;
            c->chunk_left -= (int64_t) take;
            if (c->chunk_left == 0) {
                c->body = B_CHUNK_CR;
            }
            break;

        case B_CHUNK_CR:
            c->body = (*p == '\r') ? B_CHUNK_LF : B_CHUNK_SIZE;
            if (*p == '\n') {
                c->body = B_CHUNK_SIZE;
            }
            p++;
            c->chunk_left = 0;
            break;

        case B_CHUNK_LF:
            p++;
            c->body = B_CHUNK_SIZE;
            c->chunk_left = 0;
            break;

        default:    /* B_END: the stream is over */
            return;
        }
    }
}


static void
sub_readable(conn_t *c)
{
    ssize_t  n;
    size_t   used;
    int64_t  now;

    n = read(c->fd, rbuf, READ_BUF_SIZE);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (c->state == S_DONE) {
            conn_close(c, 0);
            return;
        }
        sub_failed(c);
        return;
    }

    now = now_ns();
    used = 0;

    if (c->state == S_HEADERS) {
        used = sub_header_bytes(c, rbuf, (size_t) n, now);
        if (c->state == S_HEADERS || c->state == S_DEAD) {
            return;
        }
        c->chunk_left = 0;
        c->line_len = 0;
        c->saw_cr = 0;
    }

    if (c->state == S_BODY || c->state == S_DONE) {
        sub_body_bytes(c, rbuf + used, (size_t) n - used, now);
    }
}


/* publisher */

static void
pub_issue(conn_t *c, int end_channel)
{
    char      body[128], hdr[512];
    int64_t   t, seq;
    uint32_t  ch;
    int       bl, hl;

    t = now_ns();

    if (end_channel >= 0) {
        ch = (uint32_t) end_channel;
        bl = snprintf(body, sizeof(body), "end seq=%" PRId64, chan_seq[ch]);
        c->is_end = 1;
        ends_issued++;
    } else {
        ch = (uint32_t) (pub_issued % opt.channels);
        seq = chan_seq[ch]++;
        bl = snprintf(body, sizeof(body), "t=%" PRId64 " seq=%" PRId64,
                      t, seq);
        c->is_end = 0;
        pub_issued++;
    }

    if (opt.json) {
        char  json[256];
        int   jl;

        jl = snprintf(json, sizeof(json),
                      "{\"channel\":\"%s%u\",\"data\":\"%s\"}",
                      opt.prefix, ch, body);
        hl = snprintf(hdr, sizeof(hdr),
                      "POST %s HTTP/1.1\r\n"
                      "Host: %s:%d\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %d\r\n"
                      "\r\n"
                      "%s",
                      opt.pub_path, opt.host, opt.port, jl, json);
    } else {
        hl = snprintf(hdr, sizeof(hdr),
                      "POST %s?channel=%s%u HTTP/1.1\r\n"
                      "Host: %s:%d\r\n"
                      "Content-Type: text/plain\r\n"
                      "Content-Length: %d\r\n"
                      "\r\n"
                      "%s",
                      opt.pub_path, opt.prefix, ch, opt.host, opt.port,
                      bl, body);
    }

    memcpy(c->out, hdr, (size_t) hl);
    c->out_len = (size_t) hl;
    c->out_off = 0;
    c->sent_at = t;
    c->state = S_HEADERS;
    c->status = 0;
    c->content_length = -1;
    c->chunked = 0;
    c->conn_close = 0;
    c->line_len = 0;
    c->saw_cr = 0;
    pub_inflight++;

    if (pub_t0 == 0) {
        pub_t0 = t;
    }

    if (conn_flush(c) < 0) {
        conn_close(c, 1);
        pub_inflight--;
        pub_err++;
        pub_closed++;
    }
}


static void
pub_response_done(conn_t *c)
{
    int64_t  now, us;

    now = now_ns();
    pub_inflight--;

    if (c->status >= 200 && c->status < 300) {
        if (c->is_end) {
            ends_ok++;
        } else {
            pub_ok++;
            pub_t_last = now;
            us = (now - c->sent_at) / 1000;
            pub_lat_hist[hist_index(us)]++;
            pub_lat_n++;
        }
    } else {
        pub_err++;
        if (pub_err <= 5) {
            fprintf(stderr, "ssebench: publish answered %d\n", c->status);
        }
    }

    c->state = S_IDLE;
    c->body = B_RAW;

    if (c->conn_close) {
        conn_close(c, 1);
        pub_closed++;
    }
}


static void
pub_readable(conn_t *c)
{
    ssize_t  n;
    char    *p, *e, ch;
    int      d;

    n = read(c->fd, rbuf, READ_BUF_SIZE);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (c->state != S_IDLE) {
            pub_inflight--;
            pub_err++;
        }
        conn_close(c, 1);
        pub_closed++;
        return;
    }

    p = rbuf;
    e = rbuf + n;

    while (p < e) {
        if (c->state == S_HEADERS) {
            ch = *p++;
            if (ch == '\r') {
                continue;
            }
            if (ch != '\n') {
                if (c->line_len < LINE_MAX_LEN - 1) {
                    c->line[c->line_len++] = ch;
                }
                continue;
            }
            c->line[c->line_len] = '\0';
            if (c->status == 0) {
                c->status = (c->line_len >= 12) ? (uint16_t) atoi(c->line + 9)
                                                : 999;
            } else if (c->line_len == 0) {
                c->state = S_BODY;
                if (c->chunked) {
                    c->body = B_CHUNK_SIZE;
                    c->chunk_left = 0;
                } else if (c->content_length <= 0) {
                    pub_response_done(c);
                    if (c->fd < 0) {
                        return;
                    }
                } else {
                    c->body = B_RAW;
                }
            } else if (strncasecmp(c->line, "content-length:", 15) == 0) {
                c->content_length = atoll(c->line + 15);
            } else if (strncasecmp(c->line, "transfer-encoding:", 18) == 0
                       && strcasestr(c->line + 18, "chunked"))
            {
                c->chunked = 1;
            } else if (strncasecmp(c->line, "connection:", 11) == 0
                       && strcasestr(c->line + 11, "close"))
            {
                c->conn_close = 1;
            }
            c->line_len = 0;
            continue;
        }

        if (c->state != S_BODY) {
            /* unexpected bytes while idle */
            p = e;
            break;
        }

        if (!c->chunked) {
            if ((int64_t) (e - p) >= c->content_length) {
                p += c->content_length;
                c->content_length = 0;
                pub_response_done(c);
                if (c->fd < 0) {
                    return;
                }
            } else {
                c->content_length -= (int64_t) (e - p);
                p = e;
            }
            continue;
        }

        /* chunked response body: only needs to find its end */
        switch (c->body) {
        case B_CHUNK_SIZE:
            ch = *p++;
            if (ch == '\n') {
                if (c->chunk_left) {
                    c->chunk_left += 2;
                    c->body = B_CHUNK_DATA;
                } else {
                    c->body = B_CHUNK_LF;
                }
            } else if (ch != '\r') {
                d = isdigit((unsigned char) ch) ? ch - '0'
                    : tolower((unsigned char) ch) - 'a' + 10;
                if (d >= 0 && d < 16) {
                    c->chunk_left = c->chunk_left * 16 + d;
                } else {
                    c->body = B_CHUNK_EXT;
                }
            }
            break;
        case B_CHUNK_EXT:
            if (*p++ == '\n') {
                if (c->chunk_left) {
                    c->chunk_left += 2;
                    c->body = B_CHUNK_DATA;
                } else {
                    c->body = B_CHUNK_LF;
                }
            }
            break;
        case B_CHUNK_DATA:
            /* chunk_left counts the data and its CR LF */
            if ((int64_t) (e - p) >= c->chunk_left) {
                p += c->chunk_left;
                c->chunk_left = 0;
                c->body = B_CHUNK_SIZE;
            } else {
                c->chunk_left -= (int64_t) (e - p);
                p = e;
            }
            break;
        case B_CHUNK_LF:
            /* last chunk: the final CR LF ends the response */
            if (*p++ == '\n') {
                pub_response_done(c);
                if (c->fd < 0) {
                    return;
                }
            }
            break;
        default:
            p = e;
        }
    }
}


static int
pub_finished(int64_t now)
{
    return (opt.count > 0 && pub_issued >= opt.count)
           || (opt.duration > 0 && pub_t0
               && now - pub_t0 >= (int64_t) (opt.duration * 1e9))
           || now >= deadline || stop_flag;
}


static int
pub_may_issue(int64_t now, int64_t *wait_ns)
{
    double   fan, outstanding;
    int64_t  due;

    if (publishing != 1) {
        return 0;
    }

    if (pub_finished(now)) {
        return 0;
    }

    if (opt.rate > 0 && pub_t0) {
        due = pub_t0 + (int64_t) ((double) pub_issued * 1e9 / opt.rate);
        if (due > now) {
            if (due - now < *wait_ns) {
                *wait_ns = due - now;
            }
            return 0;
        }
    }

    if (opt.window > 0 && subs_ok > 0) {
        fan = (double) subs_live / (double) opt.channels;
        if (fan > 0) {
            outstanding = (double) pub_issued - (double) deliveries / fan;
            if (outstanding >= (double) opt.window) {
                return 0;
            }
        }
    }

    return 1;
}


static int
pub_phase_step(int64_t now, int64_t *wait_ns)
{
    int  i, any;

    if (publishing == 0 || publishing == 3) {
        return 0;
    }

    any = 0;

    for (i = 0; i < opt.pubconns; i++) {
        conn_t *c = &pubs[i];

        if (c->state == S_DEAD && now < deadline && pub_closed < 1000) {
            c->idx = (uint32_t) i;
            if (tcp_open(c, 0) == 0) {
                c->state = S_CONNECTING;
            } else {
                c->state = S_DEAD;
            }
            continue;
        }

        if (c->state != S_IDLE) {
            any = 1;
            continue;
        }

        if (publishing == 1 && pub_may_issue(now, wait_ns)) {
            pub_issue(c, -1);
            any = 1;
            continue;
        }

        if (publishing == 2 && ends_issued < opt.channels) {
            pub_issue(c, (int) ends_issued);
            any = 1;
        }
    }

    if (publishing == 1 && pub_inflight == 0 && pub_finished(now)) {
        publishing = opt.send_end ? 2 : 3;
        return 1;
    }

    if (publishing == 2 && ends_issued >= opt.channels && pub_inflight == 0) {
        publishing = 3;
    }

    return any;
}


static void
loop_once(int timeout_ms)
{
    struct epoll_event  evs[MAX_EVENTS];
    int                 n, i;
    conn_t             *c;

    n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) {
            return;
        }
        die("epoll_wait");
    }

    for (i = 0; i < n; i++) {
        c = evs[i].data.ptr;
        if (c->fd < 0) {
            continue;
        }

        if (c->state == S_CONNECTING) {
            int        err = 0;
            socklen_t  l = sizeof(err);

            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0
                || err != 0)
            {
                if (c->kind == K_SUB) {
                    sub_failed(c);
                } else {
                    conn_close(c, 1);
                    pub_closed++;
                }
                continue;
            }
            if (!(evs[i].events & EPOLLOUT)) {
                continue;
            }
            if (c->kind == K_SUB) {
                c->state = S_SENDING;
            } else {
                c->state = S_IDLE;
                ep_set(c, EPOLLIN, EPOLL_CTL_MOD);
                continue;
            }
        }

        if (c->state == S_SENDING) {
            int r = conn_flush(c);

            if (r < 0) {
                sub_failed(c);
                continue;
            }
            if (r == 1) {
                c->state = S_HEADERS;
            }
            continue;
        }

        if (c->kind == K_PUB && (evs[i].events & EPOLLOUT)
            && c->out_off < c->out_len)
        {
            if (conn_flush(c) < 0) {
                conn_close(c, 1);
                pub_inflight--;
                pub_err++;
                pub_closed++;
                continue;
            }
        }

        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            if (c->kind == K_SUB) {
                sub_readable(c);
            } else {
                pub_readable(c);
            }
        }
    }
}


static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}


static int
parse_pids(const char *s, pid_t *out)
{
    char  *e;
    int    n;
    long   v;

    n = 0;
    while (*s && n < MAX_PIDS) {
        v = strtol(s, &e, 10);
        if (e == s) {
            s++;
            continue;
        }
        out[n++] = (pid_t) v;
        s = e;
    }
    return n;
}


static void
usage(void)
{
    fprintf(stderr,
"usage: ssebench -p PORT [options]\n"
"  --host A           server address (127.0.0.1)\n"
"  --subs N           subscriber connections (0)\n"
"  --channels C       channels: subscriber i on <prefix><i %% C> (1)\n"
"  --prefix S         channel name prefix (c)\n"
"  --src N            source addresses 127.0.0.<first>..+N-1 (8)\n"
"  --src-first K      first source address (2)\n"
"  --sub-path P       subscriber location (/sub)\n"
"  --pub-path P       publisher location (/pub)\n"
"  --json             publish JSON {\"channel\",\"data\"} instead of a raw body\n"
"  --rate R           publishes/s over all channels, 0: as fast as possible\n"
"  --duration S       seconds of publishing\n"
"  --count M          publishes in all\n"
"  --pubconns K       parallel keep-alive publisher connections (1)\n"
"  --window W         with --rate 0: at most W messages not yet delivered\n"
"  --no-pub           subscribe only, until every stream got its end marker\n"
"  --no-end           do not publish end markers\n"
"  --ready-file F     created once every subscriber is connected\n"
"  --go-file F        wait for F before publishing\n"
"  --hold S           seconds to hold the idle subscribers before measuring\n"
"  --drain S          seconds to wait for deliveries after publishing (10)\n"
"  --timeout S        overall deadline (120)\n"
"  --conn-burst N     connections being set up at once (256)\n"
"  --cpu-pids a,b     server processes whose CPU time is measured\n"
"  --port2 P          a second server: odd subscribers connect to port P\n"
"                     (the publisher stays on -p); per-server figures\n"
"  --cpu-pids2 a,b    the second server's processes (in the server CPU)\n"
"  --cpu-pids3 a,b    other processes (e.g. redis-server), measured apart\n"
"  --mem-pids a,b     server processes whose memory is measured\n"
"  --label S          printed with the results\n"
"  --idle-only        subscribe, hold, measure the memory and exit\n"
"  --plain            subscribers make one plain request (2xx, no body)\n"
"                     and then keep the keep-alive connection idle\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    static const struct option  lopts[] = {
        { "host", 1, NULL, 'H' }, { "port", 1, NULL, 'p' },
        { "subs", 1, NULL, 's' }, { "channels", 1, NULL, 'c' },
        { "prefix", 1, NULL, 'P' }, { "src", 1, NULL, 'S' },
        { "src-first", 1, NULL, 'F' }, { "sub-path", 1, NULL, 'u' },
        { "pub-path", 1, NULL, 'b' }, { "json", 0, NULL, 'j' },
        { "rate", 1, NULL, 'r' }, { "duration", 1, NULL, 'd' },
        { "count", 1, NULL, 'n' }, { "pubconns", 1, NULL, 'k' },
        { "window", 1, NULL, 'w' }, { "no-pub", 0, NULL, 'N' },
        { "no-end", 0, NULL, 'E' }, { "ready-file", 1, NULL, 'R' },
        { "go-file", 1, NULL, 'G' }, { "hold", 1, NULL, 'h' },
        { "drain", 1, NULL, 'D' }, { "timeout", 1, NULL, 't' },
        { "conn-burst", 1, NULL, 'B' }, { "cpu-pids", 1, NULL, 'C' },
        { "mem-pids", 1, NULL, 'M' }, { "label", 1, NULL, 'L' },
        { "idle-only", 0, NULL, 'I' }, { "port2", 1, NULL, '2' },
        { "cpu-pids2", 1, NULL, 'X' }, { "cpu-pids3", 1, NULL, 'Y' },
        { "plain", 0, NULL, 'A' },
        { NULL, 0, NULL, 0 }
    };

    struct rlimit  rl;
    struct stat    st;
    int64_t        now, wait_ns, mem_pss0, mem_rss0, mem_pss1, mem_rss1;
    int64_t        cpu0, cpu1, t_subscribed, t_pub_end, span;
    int64_t        cpu2_0, cpu2_1, cpu3_0, cpu3_1;
    int64_t        lost, incomplete, g_lost[2];
    long           i;
    int            o, fd, tmo;
    double         secs;

    opt.host = "127.0.0.1";
    opt.channels = 1;
    opt.prefix = "c";
    opt.src = 8;
    opt.src_first = 2;
    opt.sub_path = "/sub";
    opt.pub_path = "/pub";
    opt.pubconns = 1;
    opt.send_end = 1;
    opt.timeout = 120;
    opt.drain = 10;
    opt.conn_burst = 256;
    opt.label = "";

    while ((o = getopt_long(argc, argv, "p:", lopts, NULL)) != -1) {
        switch (o) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 's': opt.subs = atol(optarg); break;
        case 'c': opt.channels = atol(optarg); break;
        case 'P': opt.prefix = optarg; break;
        case 'S': opt.src = atoi(optarg); break;
        case 'F': opt.src_first = atoi(optarg); break;
        case 'u': opt.sub_path = optarg; break;
        case 'b': opt.pub_path = optarg; break;
        case 'j': opt.json = 1; break;
        case 'r': opt.rate = atof(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'n': opt.count = atol(optarg); break;
        case 'k': opt.pubconns = atoi(optarg); break;
        case 'w': opt.window = atol(optarg); break;
        case 'N': opt.no_pub = 1; break;
        case 'E': opt.send_end = 0; break;
        case 'R': opt.ready_file = optarg; break;
        case 'G': opt.go_file = optarg; break;
        case 'h': opt.hold = atof(optarg); break;
        case 'D': opt.drain = atof(optarg); break;
        case 't': opt.timeout = atof(optarg); break;
        case 'B': opt.conn_burst = atoi(optarg); break;
        case 'C': opt.ncpu_pids = parse_pids(optarg, opt.cpu_pids); break;
        case 'M': opt.nmem_pids = parse_pids(optarg, opt.mem_pids); break;
        case 'L': opt.label = optarg; break;
        case 'I': opt.idle_only = 1; opt.no_pub = 1; break;
        case '2': opt.port2 = atoi(optarg); break;
        case 'X': opt.ncpu_pids2 = parse_pids(optarg, opt.cpu_pids2); break;
        case 'Y': opt.ncpu_pids3 = parse_pids(optarg, opt.cpu_pids3); break;
        case 'A': opt.plain = 1; break;
        default: usage();
        }
    }

    if (opt.port <= 0 || opt.channels <= 0 || opt.src <= 0
        || opt.src_first < 1 || opt.src_first + opt.src > 255
        || opt.pubconns <= 0 || opt.conn_burst <= 0
        || (!opt.no_pub && opt.duration <= 0 && opt.count <= 0))
    {
        usage();
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if ((rlim_t) (opt.subs + opt.pubconns + 16) > rl.rlim_cur) {
            fprintf(stderr, "ssebench: %ld connections need more than the "
                    "%ld open files allowed\n", opt.subs,
                    (long) rl.rlim_cur);
            return 2;
        }
    }

    t_start = now_ns();
    deadline = t_start + (int64_t) (opt.timeout * 1e9);

    ep = epoll_create1(EPOLL_CLOEXEC);
    rbuf = malloc(READ_BUF_SIZE);
    subs = calloc((size_t) (opt.subs ? opt.subs : 1), sizeof(conn_t));
    pubs = calloc((size_t) opt.pubconns, sizeof(conn_t));
    chan_seq = calloc((size_t) opt.channels, sizeof(int64_t));
    if (ep < 0 || !rbuf || !subs || !pubs || !chan_seq) {
        die("setup");
    }

    proc_mem(&mem_pss0, &mem_rss0);

    /* subscribe */

    for (i = 0; i < opt.subs; i++) {
        subs[i].kind = K_SUB;
        subs[i].fd = -1;
        subs[i].idx = (uint32_t) i;
        subs[i].channel = (uint32_t) (i % opt.channels);
    }

    while (subs_ok + subs_failed < opt.subs && !stop_flag) {
        now = now_ns();
        if (now >= deadline) {
            break;
        }
        sub_start_more();
        loop_once(10);
    }

    t_subscribed = now_ns();

    /* let the server settle, then measure the idle memory */
    now = now_ns();
    while (!stop_flag && now_ns() < now + (int64_t) (opt.hold * 1e9)
           && now_ns() < deadline)
    {
        loop_once(50);
    }

    proc_mem(&mem_pss1, &mem_rss1);

    printf("label=%s\n", opt.label);
    printf("subs=%ld\nsubs_ok=%ld\nsubs_failed=%ld\nsubscribe_s=%.3f\n",
           opt.subs, subs_ok, subs_failed,
           (double) (t_subscribed - t_start) / 1e9);
    if (opt.nmem_pids) {
        printf("mem_pss_before=%" PRId64 "\nmem_pss_after=%" PRId64 "\n"
               "mem_rss_before=%" PRId64 "\nmem_rss_after=%" PRId64 "\n",
               mem_pss0, mem_pss1, mem_rss0, mem_rss1);
        if (subs_live > 0) {
            printf("mem_pss_per_sub=%.0f\nmem_rss_per_sub=%.0f\n",
                   (double) (mem_pss1 - mem_pss0) / (double) subs_live,
                   (double) (mem_rss1 - mem_rss0) / (double) subs_live);
        }
    }
    fflush(stdout);

    if (opt.idle_only) {
        printf("run_s=%.3f\n", (double) (now_ns() - t_start) / 1e9);
        return 0;
    }

    if (opt.ready_file) {
        fd = open(opt.ready_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            char  msg[64];
            int   l = snprintf(msg, sizeof(msg), "%ld\n", subs_live);

            if (write(fd, msg, (size_t) l) < 0) {
                /* the file's existence is what counts */
            }
            close(fd);
        }
    }

    if (opt.go_file) {
        while (!stop_flag && stat(opt.go_file, &st) < 0
               && now_ns() < deadline)
        {
            loop_once(20);
        }
    }

    /* publish (or, with --no-pub, wait for the end markers) */

    cpu0 = proc_cpu_ns(opt.cpu_pids, opt.ncpu_pids);
    cpu2_0 = proc_cpu_ns(opt.cpu_pids2, opt.ncpu_pids2);
    cpu3_0 = proc_cpu_ns(opt.cpu_pids3, opt.ncpu_pids3);
    now = now_ns();

    if (!opt.no_pub && (opt.duration > 0 || opt.count > 0)) {
        for (i = 0; i < opt.pubconns; i++) {
            pubs[i].kind = K_PUB;
            pubs[i].fd = -1;
            pubs[i].out = malloc(1024);
            if (pubs[i].out == NULL) {
                die("malloc");
            }
            pubs[i].idx = (uint32_t) i;
            if (tcp_open(&pubs[i], 0) < 0) {
                die("publisher connect");
            }
        }
        publishing = 1;
    }

    t_pub_end = 0;

    while (!stop_flag) {
        now = now_ns();
        if (now >= deadline) {
            break;
        }

        wait_ns = 10000000;
        pub_phase_step(now, &wait_ns);

        if (publishing == 3 && t_pub_end == 0) {
            t_pub_end = now;
        }

        if (opt.no_pub || publishing == 3) {
            /* everything published: wait for the end markers */
            if (subs_live == 0) {
                break;
            }
            if (!opt.no_pub && now - t_pub_end > (int64_t) (opt.drain * 1e9)) {
                break;
            }
        }

        tmo = (int) (wait_ns / 1000000);
        if (tmo < 0) {
            tmo = 0;
        }
        loop_once(tmo);
    }

    now = now_ns();
    cpu1 = proc_cpu_ns(opt.cpu_pids, opt.ncpu_pids);
    cpu2_1 = proc_cpu_ns(opt.cpu_pids2, opt.ncpu_pids2);
    cpu3_1 = proc_cpu_ns(opt.cpu_pids3, opt.ncpu_pids3);

    /* results */

    lost = gaps;
    g_lost[0] = g_gaps[0];
    g_lost[1] = g_gaps[1];
    incomplete = 0;
    for (i = 0; i < opt.subs; i++) {
        conn_t *c = &subs[i];

        if (subs[i].status != 200 || c->end_seq >= 0) {
            continue;
        }
        /* no end marker: what it missed is known only here */
        incomplete++;
        if (!opt.no_pub && chan_seq[c->channel] > c->received) {
            lost += chan_seq[c->channel] - c->received;
            g_lost[conn_server(c)] += chan_seq[c->channel] - c->received;
        }
    }

    secs = pub_t_last > pub_t0 ? (double) (pub_t_last - pub_t0) / 1e9 : 0;
    span = (t_last_delivery > pub_t0 && pub_t0) ? t_last_delivery - pub_t0
                                                 : 0;

    printf("subs_closed=%ld\nsubs_done=%ld\nsubs_incomplete=%" PRId64 "\n",
           subs_closed, subs_done, incomplete);
    printf("published=%ld\npublish_errors=%ld\npublish_s=%.3f\n",
           pub_ok, pub_err, secs);
    printf("publishes_per_s=%.0f\n", secs > 0 ? (double) pub_ok / secs : 0);
    if (pub_lat_n) {
        printf("publish_p50_us=%" PRId64 "\npublish_p99_us=%" PRId64 "\n",
               hist_pct(pub_lat_hist, pub_lat_n, 0.50),
               hist_pct(pub_lat_hist, pub_lat_n, 0.99));
    }
    printf("end_markers=%ld\n", ends_ok);
    printf("deliveries=%" PRId64 "\nlost=%" PRId64 "\nduplicates=%" PRId64
           "\nreordered=%" PRId64 "\n", deliveries, lost, dups, reordered);
    {
        struct rusage  ru;

        getrusage(RUSAGE_SELF, &ru);
        printf("generator_cpu_ms=%.0f\n",
               (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
               + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3);
    }
    printf("deliveries_per_s=%.0f\n",
           span > 0 ? (double) deliveries * 1e9 / (double) span : 0);
    if (hist_n) {
        printf("lat_p50_us=%" PRId64 "\nlat_p90_us=%" PRId64 "\n"
               "lat_p99_us=%" PRId64 "\nlat_max_us=%" PRId64 "\n",
               hist_pct(hist, hist_n, 0.50), hist_pct(hist, hist_n, 0.90),
               hist_pct(hist, hist_n, 0.99), lat_max / 1000);
    }
    round_print();
    if (opt.port2 > 0) {
        for (i = 0; i < 2; i++) {
            const char  *g = i ? "b" : "a";

            printf("deliveries_%s=%" PRId64 "\nlost_%s=%" PRId64 "\n",
                   g, g_deliveries[i], g, g_lost[i]);
            if (g_hist_n[i]) {
                printf("lat_p50_us_%s=%" PRId64 "\nlat_p90_us_%s=%" PRId64
                       "\nlat_p99_us_%s=%" PRId64 "\n",
                       g, hist_pct(g_hist[i], g_hist_n[i], 0.50),
                       g, hist_pct(g_hist[i], g_hist_n[i], 0.90),
                       g, hist_pct(g_hist[i], g_hist_n[i], 0.99));
            }
        }
    }
    if (opt.ncpu_pids2) {
        printf("server_a_cpu_ms=%.1f\nserver_b_cpu_ms=%.1f\n",
               (double) (cpu1 - cpu0) / 1e6, (double) (cpu2_1 - cpu2_0) / 1e6);
        cpu1 += cpu2_1 - cpu2_0;
    }
    if (opt.ncpu_pids3) {
        printf("other_cpu_ms=%.1f\n", (double) (cpu3_1 - cpu3_0) / 1e6);
        if (pub_ok > 0) {
            printf("other_cpu_ns_per_publish=%.0f\n",
                   (double) (cpu3_1 - cpu3_0) / (double) pub_ok);
        }
        if (deliveries > 0) {
            printf("other_cpu_ns_per_delivery=%.0f\n",
                   (double) (cpu3_1 - cpu3_0) / (double) deliveries);
        }
    }
    if (opt.ncpu_pids) {
        printf("server_cpu_ms=%.1f\n", (double) (cpu1 - cpu0) / 1e6);
        if (deliveries > 0) {
            printf("cpu_ns_per_delivery=%.0f\n",
                   (double) (cpu1 - cpu0) / (double) deliveries);
        }
        if (pub_ok > 0) {
            printf("cpu_ns_per_publish=%.0f\n",
                   (double) (cpu1 - cpu0) / (double) pub_ok);
        }
    }
    printf("run_s=%.3f\n", (double) (now - t_start) / 1e9);
    fflush(stdout);

    return 0;
}
