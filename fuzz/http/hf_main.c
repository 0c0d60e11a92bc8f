
/*
 * httpfuzz: runs generated connections against nginx on 127.0.0.1 for a
 * bounded time, a few at once: a pool of request connections (keep-alive,
 * pipelined, publish bursts, trickled, garbage, HTTP/2) and a pool of
 * subscribers (reading, stalled, dropped, HTTP/2).  Meanwhile it tails
 * nginx's error.log for crashes, sanitizer reports, [alert], [crit] and
 * [emerg]; samples the workers' RSS; and asks /status every few seconds.
 * A finding saves the connections that were open around it (their exact
 * bytes and write schedule) so that each can be replayed alone.
 *
 *   httpfuzz --port P --h2-port P2 --seconds S [--seed N] [--conns N]
 *            [--subs N] [--error-log F] [--pid-file F] [--out DIR] ...
 *   httpfuzz --seed N --session K --out DIR    write one connection's files
 *   httpfuzz --port P --h2-port P2 --replay F.bin [--replay ...]
 *
 * Exit: 0 clean, 1 findings, 2 usage or setup error.
 */


#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "hf.h"


#define HF_MAX_CONNS      64
#define HF_RECENT         1024
#define HF_MAX_RSS        8192
#define HF_MAX_IGNORE     16
#define HF_MAX_FINDINGS   20
#define HF_MAX_SIGS       64
#define HF_SIG_LEN        240
#define HF_LOG_EVERY      200
#define HF_RSS_EVERY      2000
#define HF_PROBE_EVERY    10000
#define HF_REPORT_EVERY   30000

#define HF_POOL_REQUESTS  0
#define HF_POOL_SUBS      1
#define HF_POOL_PROBE     2
#define HF_POOL_REPLAY    3

#define HF_FREE           0
#define HF_CONNECTING     1
#define HF_OPEN           2

/* the HTTP/1.1 response reader */
#define HF_R_HEAD         0
#define HF_R_BODY         1
#define HF_R_CHUNK_SIZE   2
#define HF_R_CHUNK_DATA   3
#define HF_R_CHUNK_CRLF   4
#define HF_R_TRAILER      5
#define HF_R_STREAM       6
#define HF_R_LOST         7


typedef struct {
    hf_plan_t    plan;
    int          fd;
    int          state;
    int          pool;
    int          chunk;
    int          written;
    int          responses;
    int          first_status;
    int          rstate;
    int          code;
    int          h2type;
    int          h2flags;
    uint32_t     h2sid;
    size_t       hlen;
    uint64_t     left;
    u_char       hbuf[8193];
    size_t       sent;
    int64_t      started;
    int64_t      next_write;
    int64_t      next_read;
    int64_t      last_read;
    int64_t      hold_until;
    int64_t      deadline;
} hf_conn_t;


typedef struct {
    uint64_t     index;
    hf_kind_e    kind;
    int64_t      start;
    int64_t      end;
} hf_recent_t;


typedef struct {
    int64_t      at;
    long         kb;
} hf_rss_t;


typedef struct {
    /* options */
    uint64_t     seed;
    int          port;
    int          h2port;
    double       seconds;
    int          nreq;
    int          nsubs;
    int          keep_going;
    long         rss_max_mb;
    long         rss_slack_mb;
    const char  *error_log;
    const char  *pid_file;
    const char  *out;
    const char  *ignore[HF_MAX_IGNORE];
    int          nignore;

    hf_ctx_t     ctx;
    hf_conn_t    conns[HF_MAX_CONNS];
    int          nconns;
    uint64_t     next_index[2];
    int64_t      t0;

    /* figures */
    uint64_t     connections;
    uint64_t     requests;
    uint64_t     responses;
    uint64_t     bytes_out;
    uint64_t     bytes_in;
    uint64_t     resets;
    uint64_t     refused;
    int          refused_streak;
    uint64_t     kinds[HF_KIND_N];
    uint64_t     kind_ms[HF_KIND_N];
    uint64_t     codes[600];
    uint64_t     probes;

    /* the error log */
    int          log_fd;
    off_t        log_off;
    hf_buf_t     log_line;
    hf_buf_t     log_new;
    int64_t      log_checked;

    int          findings;
    int          dumps;
    int          new_sig;
    int          show;
    int          nsigs;
    char         sigs[HF_MAX_SIGS][HF_SIG_LEN];
    uint64_t     sig_count[HF_MAX_SIGS];
    int          stop;
    int64_t      last_connect;

    hf_recent_t  recent[HF_RECENT];
    uint64_t     nrecent;

    hf_rss_t     rss[HF_MAX_RSS];
    int          nrss;
} hf_run_t;


static hf_run_t  hf;


static int64_t hf_now(void);
static void hf_usage(void);
static int hf_connect(int port, int rcvbuf, int block);
static void hf_conn_start(hf_conn_t *c, int pool, hf_kind_e kind,
    uint64_t index);
static void hf_conn_close(hf_conn_t *c, int64_t now);
static void hf_conn_write(hf_conn_t *c, int64_t now);
static void hf_conn_read(hf_conn_t *c, int64_t now);
static void hf_conn_parse(hf_conn_t *c, const u_char *p, size_t n);
static void hf_conn_head(hf_conn_t *c);
static void hf_conn_h2(hf_conn_t *c, const u_char *p, size_t n);
static void hf_conn_timers(hf_conn_t *c, int64_t now);
static hf_kind_e hf_kind_of(uint64_t seed, uint64_t index);
static void hf_finding(const char *what, const u_char *line, size_t n);
static void hf_signature(char *sig, const u_char *line, size_t n);
static int hf_log_check(int64_t now);
static void hf_dump(int64_t since);
static int hf_plan_save(hf_plan_t *plan, const char *dir);
static int hf_plan_load(hf_plan_t *plan, const char *bin);
static long hf_rss_kb(void);
static void hf_rss_verdict(void);
static int hf_http(int port, const char *req, size_t len, hf_buf_t *resp,
    int timeout_ms);
static int hf_mint(void);
static int hf_loop(int64_t end, int replay);
static void hf_summary(double secs);


static int64_t
hf_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
hf_usage(void)
{
    fprintf(stderr,
        "usage: httpfuzz --port P --h2-port P2 [--seconds S] [--seed N]\n"
        "         [--conns N] [--subs N] [--error-log FILE] [--pid-file F]\n"
        "         [--out DIR] [--ignore TEXT]... [--stop-on-finding]\n"
        "         [--rss-max-mb N] [--rss-slack-mb N]\n"
        "       httpfuzz --seed N --session K --out DIR\n"
        "       httpfuzz --port P --h2-port P2 [--error-log F]"
        " --replay F.bin...\n");
    exit(2);
}


/* a socket connected (or connecting) to 127.0.0.1:port */
static int
hf_connect(int port, int rcvbuf, int block)
{
    int                 fd, one;
    struct timeval      tv;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    if (rcvbuf) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (block) {
        tv.tv_sec = 5;
        tv.tv_usec = 0;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    } else {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }

    return fd;
}


/* the kind of connection "index": even ones requests, odd subscribers */
static hf_kind_e
hf_kind_of(uint64_t seed, uint64_t index)
{
    int       x;
    hf_rng_t  r;

    r.s = hf_mix(seed ^ 0x6b696e64ULL, index);
    x = (int) hf_below(&r, 100);

    if (index % 2 == 0) {
        if (x < 45) {
            return HF_KIND_REQUESTS;
        }
        if (x < 67) {
            return HF_KIND_PUBLISH;
        }
        if (x < 72) {
            return HF_KIND_SLOW;
        }
        if (x < 80) {
            return HF_KIND_GARBAGE;
        }
        return HF_KIND_H2;
    }

    if (x < 45) {
        return HF_KIND_SUB_READ;
    }
    if (x < 63) {
        return HF_KIND_SUB_STALL;
    }
    if (x < 78) {
        return HF_KIND_SUB_DROP;
    }
    return HF_KIND_H2_SUB;
}


static void
hf_conn_start(hf_conn_t *c, int pool, hf_kind_e kind, uint64_t index)
{
    int      i, port;
    int64_t  now, total;

    if (pool != HF_POOL_REPLAY) {
        hf_gen_plan(&c->plan, &hf.ctx, hf_mix(hf.seed, index), index, kind);
    }

    now = hf_now();

    c->pool = pool;
    c->chunk = 0;
    c->written = 0;
    c->responses = 0;
    c->first_status = 0;
    c->rstate = HF_R_HEAD;
    c->code = 0;
    c->hlen = 0;
    c->left = 0;
    c->sent = 0;
    c->started = now;
    c->next_write = now;
    c->next_read = now;
    c->last_read = now;
    c->hold_until = 0;

    total = 0;
    for (i = 0; i < c->plan.nchunks; i++) {
        total += c->plan.chunks[i].delay;
    }

    /* whatever happens, a connection ends within this */
    c->deadline = now + total + c->plan.hold + 5000;

    port = c->plan.h2 ? hf.h2port : hf.port;
    c->fd = hf_connect(port, c->plan.rcvbuf, 0);

    hf.connections++;
    hf.kinds[c->plan.kind]++;

    if (c->fd == -1) {
        hf.refused++;
        hf.refused_streak++;
        c->state = HF_FREE;

        if (pool == HF_POOL_PROBE && !hf.stop) {
            hf_finding("no answer", (u_char *) "GET /status: connect()"
                       " failed", 29);
        }

        return;
    }

    c->state = HF_CONNECTING;
}


static void
hf_conn_close(hf_conn_t *c, int64_t now)
{
    hf_recent_t    *rc;
    struct linger   lg;

    if (c->state == HF_FREE) {
        return;
    }

    if (c->plan.rst) {
        lg.l_onoff = 1;
        lg.l_linger = 0;
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }

    close(c->fd);
    c->fd = -1;
    c->state = HF_FREE;
    hf.kind_ms[c->plan.kind] += (uint64_t) (now - c->started);

    if (c->pool == HF_POOL_PROBE) {
        hf.probes++;

        if (c->first_status != 200 && !hf.stop) {
            char  msg[128];

            snprintf(msg, sizeof(msg), "GET /status answered %d (0: nothing"
                     " within %d ms)", c->first_status, c->plan.hold);
            hf_finding("no answer", (u_char *) msg, strlen(msg));
        }

        return;
    }

    if (c->pool == HF_POOL_REPLAY) {
        return;
    }

    rc = &hf.recent[hf.nrecent++ % HF_RECENT];
    rc->index = c->plan.index;
    rc->kind = c->plan.kind;
    rc->start = c->started;
    rc->end = now;
}


static void
hf_conn_write(hf_conn_t *c, int64_t now)
{
    size_t   end;
    ssize_t  n;

    while (c->chunk < c->plan.nchunks) {
        if (now < c->next_write) {
            return;
        }

        end = c->plan.chunks[c->chunk].end;

        while (c->sent < end) {
            n = send(c->fd, c->plan.out.data + c->sent, end - c->sent,
                     MSG_NOSIGNAL);

            if (n > 0) {
                c->sent += (size_t) n;
                hf.bytes_out += (uint64_t) n;
                continue;
            }

            if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
                return;
            }

            /* the server closed: its answer to what it got, or a reset */
            if (errno == ECONNRESET) {
                hf.resets++;
            }

            hf_conn_close(c, now);
            return;
        }

        c->chunk++;

        if (c->chunk < c->plan.nchunks) {
            c->next_write = now + c->plan.chunks[c->chunk].delay;
        }
    }

    if (!c->written) {
        c->written = 1;
        c->hold_until = now + c->plan.hold;
        c->last_read = now;
        hf.requests += (uint64_t) c->plan.requests;

        if (c->plan.shut_wr) {
            shutdown(c->fd, SHUT_WR);
        }
    }
}


/* a response's head is in: its status, and how its body is delimited */
static void
hf_conn_head(hf_conn_t *c)
{
    int     head;
    char   *h, *p;

    c->hbuf[c->hlen] = '\0';
    h = (char *) c->hbuf;

    if (c->hlen < 12 || memcmp(h, "HTTP/1.", 7) != 0) {
        c->rstate = HF_R_LOST;
        return;
    }

    c->code = atoi(h + 9);
    c->hlen = 0;

    if (c->code < 100 || c->code > 599) {
        c->rstate = HF_R_LOST;
        return;
    }

    hf.codes[c->code]++;

    if (c->code < 200) {
        /* 100 Continue: the final response follows */
        c->rstate = HF_R_HEAD;
        return;
    }

    if (c->first_status == 0) {
        c->first_status = c->code;
    }

    head = c->responses < 64 && (c->plan.heads >> c->responses & 1);

    if (head || c->code == 204 || c->code == 304) {
        c->rstate = HF_R_HEAD;
        c->responses++;
        hf.responses++;
        return;
    }

    p = strcasestr(h, "\ntransfer-encoding:");
    if (p && strcasestr(p, "chunked")) {
        c->rstate = HF_R_CHUNK_SIZE;
        return;
    }

    p = strcasestr(h, "\ncontent-length:");
    if (p) {
        c->left = strtoull(p + 16, NULL, 10);
        c->rstate = HF_R_BODY;

        if (c->left == 0) {
            c->rstate = HF_R_HEAD;
            c->responses++;
            hf.responses++;
        }

        return;
    }

    /* until the connection closes: a stream over HTTP/1.0 */
    c->rstate = HF_R_STREAM;
}


/* follows the responses on a connection: counts them and their statuses */
static void
hf_conn_parse(hf_conn_t *c, const u_char *p, size_t n)
{
    u_char       ch;
    size_t       k;
    const u_char *end;

    end = p + n;

    while (p < end) {
        switch (c->rstate) {

        case HF_R_HEAD:
        case HF_R_CHUNK_SIZE:
        case HF_R_TRAILER:
            ch = *p++;

            if (c->hlen == sizeof(c->hbuf) - 1) {
                c->rstate = HF_R_LOST;
                break;
            }

            c->hbuf[c->hlen++] = ch;

            if (ch != '\n') {
                break;
            }

            if (c->rstate == HF_R_HEAD) {
                if (c->hlen == 1 || (c->hlen == 2 && c->hbuf[0] == '\r')) {
                    /* blank lines between responses */
                    c->hlen = 0;

                } else if (c->hbuf[c->hlen - 2] == '\n'
                           || (c->hlen >= 4 && c->hbuf[c->hlen - 3] == '\n'
                               && c->hbuf[c->hlen - 2] == '\r'))
                {
                    hf_conn_head(c);
                }

                break;
            }

            if (c->rstate == HF_R_CHUNK_SIZE) {
                c->hbuf[c->hlen] = '\0';
                c->left = strtoull((char *) c->hbuf, NULL, 16);
                c->hlen = 0;
                c->rstate = c->left ? HF_R_CHUNK_DATA : HF_R_TRAILER;
                break;
            }

            /* a trailer line; a blank one ends the response */
            k = c->hlen;
            c->hlen = 0;

            if (k == 1 || (k == 2 && c->hbuf[0] == '\r')) {
                c->rstate = HF_R_HEAD;
                c->responses++;
                hf.responses++;
            }

            break;

        case HF_R_BODY:
        case HF_R_CHUNK_DATA:
            k = (size_t) (end - p) < c->left ? (size_t) (end - p)
                                             : (size_t) c->left;
            p += k;
            c->left -= k;

            if (c->left) {
                break;
            }

            if (c->rstate == HF_R_CHUNK_DATA) {
                c->rstate = HF_R_CHUNK_CRLF;
                break;
            }

            c->rstate = HF_R_HEAD;
            c->responses++;
            hf.responses++;
            break;

        case HF_R_CHUNK_CRLF:
            if (*p++ == '\n') {
                c->rstate = HF_R_CHUNK_SIZE;
            }
            break;

        default:
            return;
        }
    }
}


/*
 * Follows the server's HTTP/2 frames: a stream is done at END_STREAM or
 * RST_STREAM (counted in "responses"), all of them at GOAWAY; the status
 * is read from the start of HEADERS, as nginx encodes it (an indexed
 * field, or a literal with the :status name index and 3 digits).
 */
static void
hf_conn_h2(hf_conn_t *c, const u_char *p, size_t n)
{
    int           code;
    size_t        k;
    u_char       *h;
    const u_char *end;
    static const int  indexed[] = { 200, 204, 206, 304, 400, 404, 500 };

    h = c->hbuf;
    end = p + n;

    while (p < end) {
        if (c->rstate == 0) {
            h[c->hlen++] = *p++;

            if (c->hlen < 9) {
                continue;
            }

            c->left = (uint64_t) h[0] << 16 | (uint64_t) h[1] << 8 | h[2];
            c->h2type = h[3];
            c->h2flags = h[4];
            c->h2sid = ((uint32_t) h[5] << 24 | (uint32_t) h[6] << 16
                        | (uint32_t) h[7] << 8 | h[8]) & 0x7fffffff;
            c->hlen = 0;
            c->rstate = 1;

        } else if (c->rstate == 1 && c->h2type == 0x1 && c->hlen < 5
                   && c->left > 0)
        {
            /* the start of a HEADERS block */
            h[c->hlen++] = *p++;
            c->left--;

        } else {
            k = (size_t) (end - p) < c->left ? (size_t) (end - p)
                                             : (size_t) c->left;
            p += k;
            c->left -= k;
        }

        if (c->rstate != 1 || c->left > 0) {
            continue;
        }

        /* the frame is in */
        if (c->h2type == 0x1 && c->hlen > 0 && !(c->h2flags & 0x28)) {
            code = 0;

            if (h[0] >= 0x88 && h[0] <= 0x8e) {
                code = indexed[h[0] - 0x88];

            } else if (h[0] == 0x48 && c->hlen == 5 && h[1] == 3) {
                code = (h[2] - '0') * 100 + (h[3] - '0') * 10 + h[4] - '0';
            }

            if (code >= 100 && code < 600) {
                hf.codes[code]++;
                if (c->first_status == 0) {
                    c->first_status = code;
                }
            }
        }

        if (((c->h2type == 0x0 || c->h2type == 0x1) && (c->h2flags & 0x1)
             && c->h2sid) || c->h2type == 0x3)
        {
            c->responses++;
            hf.responses++;
        }

        if (c->h2type == 0x7) {
            c->responses += 1000;
        }

        c->hlen = 0;
        c->rstate = 0;
    }
}


static void
hf_conn_read(hf_conn_t *c, int64_t now)
{
    size_t   want, total;
    ssize_t  n;
    u_char   buf[16384];

    if (c->plan.read_slowly && now < c->next_read) {
        return;
    }

    want = c->plan.read_slowly ? 256 : sizeof(buf);
    total = 0;

    for ( ;; ) {
        n = recv(c->fd, buf, want, 0);

        if (n > 0) {
            hf.bytes_in += (uint64_t) n;
            c->last_read = now;

            if (c->plan.h2) {
                hf_conn_h2(c, buf, (size_t) n);

            } else {
                hf_conn_parse(c, buf, (size_t) n);
            }

            total += (size_t) n;

            if (c->plan.read_slowly) {
                c->next_read = now + 200;
                return;
            }

            if (total >= 4 * sizeof(buf)) {
                return;
            }

            continue;
        }

        if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }

        if (n == -1 && errno == ECONNRESET) {
            hf.resets++;
        }

        hf_conn_close(c, now);
        return;
    }
}


/* ends a connection whose time is up, or whose answers are all in */
static void
hf_conn_timers(hf_conn_t *c, int64_t now)
{
    hf_kind_e  k;

    if (c->state == HF_FREE) {
        return;
    }

    if (now >= c->deadline) {
        hf_conn_close(c, now);
        return;
    }

    if (!c->written) {
        return;
    }

    if (now >= c->hold_until) {
        hf_conn_close(c, now);
        return;
    }

    k = c->plan.kind;

    if (c->plan.h2 && k == HF_KIND_H2
        && (c->responses >= c->plan.requests || now - c->last_read >= 300))
    {
        hf_conn_close(c, now);
        return;
    }

    /* requests: all answered, or nothing more comes */
    if (!c->plan.h2 && (k == HF_KIND_REQUESTS || k == HF_KIND_PUBLISH
                        || k == HF_KIND_SLOW || k == HF_KIND_GARBAGE)
        && (c->responses >= c->plan.requests || now - c->last_read >= 250))
    {
        hf_conn_close(c, now);
    }
}


/*
 * What identifies a finding across occurrences: the line without its time,
 * process and connection numbers and addresses ("==123==", "45#45: *67 ",
 * "0x7ffe...").  A sanitizer's SUMMARY line names the place.
 */
static void
hf_signature(char *sig, const u_char *line, size_t n)
{
    size_t  i, k;

    i = 0;
    k = 0;

    /* "2026/12/02 05:59:29 " */
    if (n > 20 && line[4] == '/' && line[7] == '/' && line[13] == ':') {
        i = 20;
    }

    while (i < n && k < HF_SIG_LEN - 2) {
        if (line[i] == '=' && i + 1 < n && line[i + 1] == '=') {
            /* "==123==" */
            i += 2;
            while (i < n && line[i] >= '0' && line[i] <= '9') {
                i++;
            }
            while (i < n && line[i] == '=') {
                i++;
            }
            continue;
        }

        if (line[i] == '0' && i + 1 < n && line[i + 1] == 'x') {
            sig[k++] = '0';
            sig[k++] = 'x';
            i += 2;
            while (i < n && ((line[i] >= '0' && line[i] <= '9')
                             || (line[i] >= 'a' && line[i] <= 'f')))
            {
                i++;
            }
            continue;
        }

        if ((line[i] == '*' || (line[i] >= '0' && line[i] <= '9'))
            && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '#'))
        {
            /* "45#45: ", "*67 ", "worker process 123" */
            sig[k++] = line[i] == '*' ? '*' : 'N';
            i++;
            while (i < n && line[i] >= '0' && line[i] <= '9') {
                i++;
            }
            continue;
        }

        sig[k++] = (char) line[i++];
    }

    sig[k] = '\0';
}


static void
hf_finding(const char *what, const u_char *line, size_t n)
{
    int   i;
    char  sig[HF_SIG_LEN];

    hf.findings++;

    hf_signature(sig, line, n);

    for (i = 0; i < hf.nsigs; i++) {
        if (strcmp(hf.sigs[i], sig) == 0) {
            hf.sig_count[i]++;
            hf.show = 0;
            return;
        }
    }

    if (hf.nsigs < HF_MAX_SIGS) {
        memcpy(hf.sigs[hf.nsigs], sig, HF_SIG_LEN);
        hf.sig_count[hf.nsigs++] = 1;
    }

    /* a new one: shown, and its connections saved */
    hf.new_sig = 1;
    hf.show = 1;

    fprintf(stderr, "httpfuzz: FINDING (%s) at %.1f s: %.*s\n", what,
            (double) (hf_now() - hf.t0) / 1000, (int) (n > 400 ? 400 : n),
            line);
}


/*
 * Reads what the error log got since the last check; returns the number
 * of lines that are findings.  The new bytes stay in hf.log_new for a dump.
 */
static int
hf_log_check(int64_t now)
{
    int          found, i, ign;
    size_t       k, start;
    ssize_t      n;
    u_char       buf[65536], *line;
    const char  *what;
    struct stat  st;
    static const struct {
        const char  *text;
        const char  *what;
    } patterns[] = {
        { "exited on signal", "crash" },
        { "AddressSanitizer", "asan" },
        { "LeakSanitizer", "lsan" },
        { "runtime error:", "ubsan" },
        { "[alert]", "alert" },
        { "[crit]", "crit" },
        { "[emerg]", "emerg" },
        { NULL, NULL }
    };

    hf.log_checked = now;
    hf_buf_reset(&hf.log_new);

    if (hf.log_fd == -1) {
        return 0;
    }

    if (fstat(hf.log_fd, &st) == 0 && st.st_size < hf.log_off) {
        /* reopened or truncated */
        hf.log_off = 0;
    }

    found = 0;

    for ( ;; ) {
        n = pread(hf.log_fd, buf, sizeof(buf), hf.log_off);
        if (n <= 0) {
            break;
        }

        hf.log_off += n;

        if (hf.log_new.len < 256 * 1024) {
            hf_buf_add(&hf.log_new, buf, (size_t) n);
        }

        start = 0;

        for (k = 0; k < (size_t) n; k++) {
            if (buf[k] != '\n') {
                continue;
            }

            hf_buf_add(&hf.log_line, buf + start, k - start);
            start = k + 1;

            line = hf.log_line.data;
            what = NULL;

            for (i = 0; patterns[i].text && line; i++) {
                if (memmem(line, hf.log_line.len, patterns[i].text,
                           strlen(patterns[i].text)))
                {
                    what = patterns[i].what;
                    break;
                }
            }

            ign = 0;

            for (i = 0; what && i < hf.nignore; i++) {
                if (memmem(line, hf.log_line.len, hf.ignore[i],
                           strlen(hf.ignore[i])))
                {
                    ign = 1;
                }
            }

            if (what && !ign) {
                found++;
                hf_finding(what, line, hf.log_line.len);

            } else if (line && hf.show
                       && (memmem(line, hf.log_line.len, "SUMMARY: ", 9)
                                || (hf.log_line.len > 8
                                    && memmem(line, 8, "#", 1)
                                    && memmem(line, hf.log_line.len,
                                              " in ", 4))))
            {
                /* a sanitizer's summary and stack: shown, not counted */
                fprintf(stderr, "httpfuzz:     %.*s\n",
                        (int) (hf.log_line.len > 300 ? 300
                                                     : hf.log_line.len),
                        line);
            }

            hf_buf_reset(&hf.log_line);
        }

        hf_buf_add(&hf.log_line, buf + start, (size_t) n - start);
    }

    return found;
}


/* saves every connection open since "since": the candidates */
static void
hf_dump(int64_t since)
{
    int          i, saved;
    char         dir[4096], path[4200];
    FILE        *f;
    uint64_t     k, first;
    hf_plan_t    plan;
    hf_recent_t *rc;

    if (hf.out == NULL || hf.dumps >= HF_MAX_FINDINGS) {
        return;
    }

    snprintf(dir, sizeof(dir), "%s/finding-%d", hf.out, ++hf.dumps);
    mkdir(hf.out, 0755);
    mkdir(dir, 0755);

    snprintf(path, sizeof(path), "%s/error.log", dir);
    f = fopen(path, "w");
    if (f) {
        fwrite(hf.log_new.data, 1, hf.log_new.len, f);
        fclose(f);
    }

    /* candidates.txt: the likeliest first (open, then the last ended) */
    snprintf(path, sizeof(path), "%s/candidates.txt", dir);
    f = fopen(path, "w");
    saved = 0;

    for (i = 0; i < hf.nconns; i++) {
        if (hf.conns[i].state != HF_FREE
            && hf.conns[i].pool < HF_POOL_PROBE
            && hf_plan_save(&hf.conns[i].plan, dir) == 0)
        {
            saved++;
            if (f) {
                fprintf(f, "s%" PRIu64 ".bin %s open\n",
                        hf.conns[i].plan.index,
                        hf_kind_names[hf.conns[i].plan.kind]);
            }
        }
    }

    memset(&plan, 0, sizeof(plan));
    first = hf.nrecent > HF_RECENT ? hf.nrecent - HF_RECENT : 0;

    for (k = hf.nrecent; k > first; k--) {
        rc = &hf.recent[(k - 1) % HF_RECENT];

        if (rc->end < since) {
            continue;
        }

        hf_gen_plan(&plan, &hf.ctx, hf_mix(hf.seed, rc->index), rc->index,
                    rc->kind);

        if (hf_plan_save(&plan, dir) == 0) {
            saved++;
            if (f) {
                fprintf(f, "s%" PRIu64 ".bin %s ended %.1f s before\n",
                        rc->index, hf_kind_names[rc->kind],
                        (double) (hf_now() - rc->end) / 1000);
            }
        }
    }

    if (f) {
        fclose(f);
    }

    hf_buf_free(&plan.out);

    fprintf(stderr, "httpfuzz: %d candidate connections saved in %s "
            "(replay each: httpfuzz --replay FILE.bin)\n", saved, dir);
}


/* DIR/s<index>.bin (the bytes) and DIR/s<index>.sched (how to send them) */
static int
hf_plan_save(hf_plan_t *plan, const char *dir)
{
    int    i;
    char   path[4300];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/s%" PRIu64 ".bin", dir, plan->index);
    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }

    fwrite(plan->out.data, 1, plan->out.len, f);
    fclose(f);

    snprintf(path, sizeof(path), "%s/s%" PRIu64 ".sched", dir, plan->index);
    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }

    fprintf(f, "# httpfuzz connection %" PRIu64 " of seed %" PRIu64
            " (connection seed %" PRIu64 "), %s\n",
            plan->index, hf.seed, plan->seed, hf_kind_names[plan->kind]);
    fprintf(f, "h2 %d\nread %d\nread_slowly %d\nrcvbuf %d\nhold %d\n"
            "rst %d\nshut_wr %d\nrequests %d\n",
            plan->h2, plan->read, plan->read_slowly, plan->rcvbuf,
            plan->hold, plan->rst, plan->shut_wr, plan->requests);

    for (i = 0; i < plan->nchunks; i++) {
        fprintf(f, "chunk %zu %d\n", plan->chunks[i].end,
                plan->chunks[i].delay);
    }

    fclose(f);

    return 0;
}


/* F.bin, and F.sched beside it if there is one */
static int
hf_plan_load(hf_plan_t *plan, const char *bin)
{
    int     v;
    char    path[4300], line[256], key[32];
    FILE   *f;
    size_t  n, end, len;
    u_char  buf[65536];

    memset(plan, 0, sizeof(*plan));
    plan->kind = HF_KIND_REQUESTS;
    plan->read = 1;
    plan->hold = 2000;

    f = fopen(bin, "r");
    if (f == NULL) {
        fprintf(stderr, "httpfuzz: %s: %s\n", bin, strerror(errno));
        return -1;
    }

    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        hf_buf_add(&plan->out, buf, n);
    }

    fclose(f);

    len = strlen(bin);
    if (len > 4 && strcmp(bin + len - 4, ".bin") == 0) {
        len -= 4;
    }

    snprintf(path, sizeof(path), "%.*s.sched", (int) len, bin);

    f = fopen(path, "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "chunk %zu %d", &end, &v) == 2) {
            if (plan->nchunks < HF_MAX_CHUNKS && end <= plan->out.len) {
                plan->chunks[plan->nchunks].end = end;
                plan->chunks[plan->nchunks].delay = v;
                plan->nchunks++;
            }
            continue;
        }

        if (sscanf(line, "%31s %d", key, &v) != 2) {
            continue;
        }

        if (strcmp(key, "h2") == 0) {
            plan->h2 = v;
        } else if (strcmp(key, "read") == 0) {
            plan->read = v;
        } else if (strcmp(key, "read_slowly") == 0) {
            plan->read_slowly = v;
        } else if (strcmp(key, "rcvbuf") == 0) {
            plan->rcvbuf = v;
        } else if (strcmp(key, "hold") == 0) {
            plan->hold = v;
        } else if (strcmp(key, "rst") == 0) {
            plan->rst = v;
        } else if (strcmp(key, "shut_wr") == 0) {
            plan->shut_wr = v;
        } else if (strcmp(key, "requests") == 0) {
            plan->requests = v;
        }
    }

    if (f) {
        fclose(f);
    }

    if (plan->nchunks == 0 || plan->chunks[plan->nchunks - 1].end
                              != plan->out.len)
    {
        hf_plan_chunk(plan, 0);
    }

    /* a replayed request connection waits for its answers, not longer */
    plan->kind = plan->h2 ? HF_KIND_H2_SUB : HF_KIND_SUB_READ;

    return 0;
}


/* the workers' VmRSS in kB: children of the master, else the master */
static long
hf_rss_kb(void)
{
    int             ppid;
    long            kb, total, master;
    char            path[300], buf[1024], *p;
    FILE           *f;
    DIR            *d;
    struct dirent  *de;

    if (hf.pid_file == NULL) {
        return -1;
    }

    f = fopen(hf.pid_file, "r");
    if (f == NULL) {
        return -1;
    }

    master = 0;
    if (fscanf(f, "%ld", &master) != 1) {
        master = 0;
    }

    fclose(f);

    if (master <= 0) {
        return -1;
    }

    d = opendir("/proc");
    if (d == NULL) {
        return -1;
    }

    total = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        p = fgets(buf, sizeof(buf), f);
        fclose(f);

        if (p == NULL || (p = strrchr(buf, ')')) == NULL
            || sscanf(p + 1, " %*c %d", &ppid) != 1)
        {
            continue;
        }

        if (ppid != master) {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        while (fgets(buf, sizeof(buf), f)) {
            if (sscanf(buf, "VmRSS: %ld", &kb) == 1) {
                total += kb;
            }
        }

        fclose(f);
    }

    closedir(d);

    if (total > 0) {
        return total;
    }

    snprintf(path, sizeof(path), "/proc/%ld/status", master);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    while (fgets(buf, sizeof(buf), f)) {
        if (sscanf(buf, "VmRSS: %ld", &kb) == 1) {
            total = kb;
        }
    }

    fclose(f);

    return total;
}


/*
 * Bounded memory: no sample above --rss-max-mb; and, for runs of a minute
 * or more, the last third's peak within 15 % + --rss-slack-mb of the
 * middle third's (the first third is warm-up).
 */
static void
hf_rss_verdict(void)
{
    int      i;
    long     mid, last, first, limit;
    char     msg[256];
    int64_t  span, at;

    if (hf.nrss == 0) {
        return;
    }

    first = hf.rss[0].kb;
    mid = 0;
    last = 0;
    span = hf.rss[hf.nrss - 1].at - hf.rss[0].at;

    for (i = 0; i < hf.nrss; i++) {
        at = hf.rss[i].at - hf.rss[0].at;

        if (hf.rss_max_mb && hf.rss[i].kb > hf.rss_max_mb * 1024) {
            snprintf(msg, sizeof(msg), "workers' RSS %ld kB above %ld MB",
                     hf.rss[i].kb, hf.rss_max_mb);
            hf_finding("rss", (u_char *) msg, strlen(msg));
            return;
        }

        if (at * 3 >= span && at * 3 < span * 2 && hf.rss[i].kb > mid) {
            mid = hf.rss[i].kb;
        }

        if (at * 3 >= span * 2 && hf.rss[i].kb > last) {
            last = hf.rss[i].kb;
        }
    }

    fprintf(stderr, "httpfuzz: workers' RSS: %.1f MB at start, peak %.1f MB"
            " in the middle third, %.1f MB in the last third\n",
            first / 1024.0, mid / 1024.0, last / 1024.0);

    if (span < 60000 || mid == 0) {
        return;
    }

    limit = mid + mid * 15 / 100 + hf.rss_slack_mb * 1024;

    if (last > limit) {
        snprintf(msg, sizeof(msg), "workers' RSS grew after the warm-up: "
                 "%ld kB in the last third, limit %ld kB", last, limit);
        hf_finding("rss", (u_char *) msg, strlen(msg));
    }
}


/* one blocking request on a fresh connection; the status, or -1 */
static int
hf_http(int port, const char *req, size_t len, hf_buf_t *resp,
    int timeout_ms)
{
    int      fd, code;
    ssize_t  n;
    u_char   buf[4096];
    int64_t  end;

    fd = hf_connect(port, 0, 1);
    if (fd == -1) {
        return -1;
    }

    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t) len) {
        close(fd);
        return -1;
    }

    hf_buf_reset(resp);
    end = hf_now() + timeout_ms;

    while (hf_now() < end) {
        n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }

        hf_buf_add(resp, buf, (size_t) n);

        /* a stream: its status line is enough */
        if (resp->len > 12 && memmem(resp->data, resp->len,
                                     "text/event-stream", 17))
        {
            break;
        }
    }

    close(fd);

    if (resp->len < 12 || memcmp(resp->data, "HTTP/1.", 7) != 0) {
        return -1;
    }

    code = atoi((char *) resp->data + 9);

    return code;
}


/*
 * Tokens minted through the real sse_token locations (JSON and form, with
 * and without an API key, long-lived and expiring within seconds); one is
 * checked on the JWT subscriber location.
 */
static int
hf_mint(void)
{
    int          i, code;
    char         req[1024];
    u_char      *p, *q;
    hf_buf_t     resp, tok;
    const char  *path, *key, *ctype, *body;
    static const struct {
        const char  *path;
        const char  *ctype;
        const char  *body;
    } mints[] = {
        { "/token", "application/json",
          "{\"userId\":\"alex\",\"channel\":\"*\",\"exp\":315360000}" },
        { "/token", "application/json",
          "{\"userId\":\"bob\",\"channel\":[\"c0\",\"c1\",\"c2\"],"
          "\"exp\":315360000}" },
        { "/token", "application/x-www-form-urlencoded",
          "userId=carol&channel=c3%2Cc4&exp=315360000" },
        { "/token/open", "application/json",
          "{\"channel\":\"c5\",\"exp\":2}" },
        { "/token/open", "application/json",
          "{\"userId\":\"dave\",\"channel\":\"*\",\"exp\":1}" },
        { NULL, NULL, NULL }
    };

    memset(&resp, 0, sizeof(resp));
    memset(&tok, 0, sizeof(tok));

    for (i = 0; mints[i].path; i++) {
        path = mints[i].path;
        ctype = mints[i].ctype;
        body = mints[i].body;
        key = strcmp(path, "/token") == 0 ? "X-API-Key: " HF_API_KEY "\r\n"
                                          : "";

        snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "%sContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n%s",
                 path, key, ctype, strlen(body), body);

        code = hf_http(hf.port, req, strlen(req), &resp, 5000);

        p = resp.len ? memmem(resp.data, resp.len, "\"token\":\"", 9) : NULL;

        if (code != 200 || p == NULL) {
            fprintf(stderr, "httpfuzz: minting a token at %s failed: %d\n"
                    "%.*s\n", path, code, (int) resp.len, resp.data);
            hf_buf_free(&resp);
            return -1;
        }

        p += 9;
        q = memchr(p, '"', resp.len - (size_t) (p - resp.data));
        if (q == NULL || q - p >= HF_TOKEN_MAX
            || hf.ctx.ntokens == HF_MAX_TOKENS)
        {
            hf_buf_free(&resp);
            return -1;
        }

        memset(&tok, 0, sizeof(tok));
        hf_buf_add(&tok, p, (size_t) (q - p));
        hf_buf_byte(&tok, '\0');
        hf.ctx.tokens[hf.ctx.ntokens++] = (char *) tok.data;
        hf.ctx.nminted++;
    }

    snprintf(req, sizeof(req), "GET /jsub?channel=c0 HTTP/1.1\r\n"
             "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
             "Connection: close\r\n\r\n",
             hf.ctx.tokens[hf.ctx.ntokens - hf.ctx.nminted]);

    code = hf_http(hf.port, req, strlen(req), &resp, 3000);

    if (code != 200) {
        fprintf(stderr, "httpfuzz: a minted token was refused: %d\n%.*s\n",
                code, (int) resp.len, resp.data);
        hf_buf_free(&resp);
        return -1;
    }

    hf_buf_free(&resp);

    return 0;
}


/*
 * The event loop, until "end" (ms) or a stop; with "replay" only the
 * connections already set up, until they are done.
 */
static int
hf_loop(int64_t end, int replay)
{
    int             i, n, timeout, active;
    long            kb;
    int64_t         now, next_probe, next_rss, next_report, t, since;
    hf_conn_t      *c;
    struct pollfd   pfd[HF_MAX_CONNS];
    socklen_t       len;
    int             err;

    now = hf_now();
    next_probe = now + HF_PROBE_EVERY;
    next_rss = now;
    next_report = now + HF_REPORT_EVERY;
    hf.last_connect = now;

    while (!hf.stop) {
        now = hf_now();

        if (now >= end) {
            break;
        }

        /* the pools: request connections, subscribers, a probe */
        active = 0;

        for (i = 0; i < hf.nconns; i++) {
            c = &hf.conns[i];

            if (c->state == HF_FREE && !replay && c->pool != HF_POOL_PROBE) {
                n = c->pool;
                hf_conn_start(c, n, hf_kind_of(hf.seed, hf.next_index[n]),
                              hf.next_index[n]);
                hf.next_index[n] += 2;
            }

            if (c->state == HF_FREE && c->pool == HF_POOL_PROBE && !replay
                && now >= next_probe)
            {
                next_probe = now + HF_PROBE_EVERY;
                hf_conn_start(c, HF_POOL_PROBE, HF_KIND_PROBE, UINT64_MAX);
            }

            if (c->state != HF_FREE) {
                active++;
            }
        }

        if (replay && active == 0) {
            break;
        }

        if (!replay && hf.refused_streak >= 3
            && now - hf.last_connect > 5000)
        {
            hf_finding("no answer", (u_char *) "no connection accepted"
                       " for 5 s", 29);
            hf.stop = 1;
            break;
        }

        timeout = 50;

        for (i = 0; i < hf.nconns; i++) {
            c = &hf.conns[i];
            pfd[i].fd = c->state == HF_FREE ? -1 : c->fd;
            pfd[i].events = 0;
            pfd[i].revents = 0;

            if (c->state == HF_CONNECTING) {
                pfd[i].events = POLLOUT;
                continue;
            }

            if (c->state != HF_OPEN) {
                continue;
            }

            if (c->chunk < c->plan.nchunks) {
                if (now >= c->next_write) {
                    pfd[i].events |= POLLOUT;

                } else if (c->next_write - now < timeout) {
                    timeout = (int) (c->next_write - now);
                }
            }

            if (c->plan.read) {
                if (!c->plan.read_slowly || now >= c->next_read) {
                    pfd[i].events |= POLLIN;

                } else if (c->next_read - now < timeout) {
                    timeout = (int) (c->next_read - now);
                }
            }

            if (c->written && c->pool == HF_POOL_REQUESTS) {
                timeout = timeout > 10 ? 10 : timeout;
            }
        }

        n = poll(pfd, (nfds_t) hf.nconns, timeout);

        if (n == -1 && errno != EINTR) {
            perror("httpfuzz: poll");
            return -1;
        }

        now = hf_now();

        for (i = 0; i < hf.nconns; i++) {
            c = &hf.conns[i];

            if (c->state == HF_FREE) {
                continue;
            }

            if (c->state == HF_CONNECTING && pfd[i].revents) {
                err = 0;
                len = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);

                if (err) {
                    hf.refused++;
                    hf.refused_streak++;
                    c->plan.rst = 0;
                    hf_conn_close(c, now);
                    continue;
                }

                c->state = HF_OPEN;
                c->next_write = now + (c->plan.nchunks
                                       ? c->plan.chunks[0].delay : 0);
                hf.last_connect = now;
                hf.refused_streak = 0;
            }

            if (c->state != HF_OPEN) {
                continue;
            }

            if (pfd[i].revents & POLLIN) {
                hf_conn_read(c, now);
            }

            if (c->state == HF_OPEN && (pfd[i].revents & (POLLERR|POLLHUP))
                && !(pfd[i].revents & POLLIN))
            {
                /* the server is gone; nothing more can be sent or read */
                hf_conn_close(c, now);
                continue;
            }

            if (c->state == HF_OPEN) {
                hf_conn_write(c, now);
            }

            hf_conn_timers(c, now);
        }

        if (now - hf.log_checked >= HF_LOG_EVERY) {
            since = hf.log_checked - 500;

            hf.new_sig = 0;

            if (hf_log_check(now) > 0) {
                if (hf.new_sig) {
                    hf_dump(since);
                }

                if (!hf.keep_going) {
                    hf.stop = 1;
                }
            }
        }

        if (!replay && now >= next_rss) {
            next_rss = now + HF_RSS_EVERY;
            kb = hf_rss_kb();

            if (kb > 0 && hf.nrss < HF_MAX_RSS) {
                hf.rss[hf.nrss].at = now;
                hf.rss[hf.nrss].kb = kb;
                hf.nrss++;
            }
        }

        if (!replay && now >= next_report) {
            next_report = now + HF_REPORT_EVERY;
            t = now - hf.t0;
            fprintf(stderr, "httpfuzz: %5.0f s: %" PRIu64 " connections, %"
                    PRIu64 " requests (%.0f/s), %" PRIu64 " responses, "
                    "RSS %.1f MB, %d findings\n",
                    t / 1000.0, hf.connections, hf.requests,
                    hf.requests * 1000.0 / (t ? t : 1), hf.responses,
                    hf.nrss ? hf.rss[hf.nrss - 1].kb / 1024.0 : 0.0,
                    hf.findings);
        }
    }

    for (i = 0; i < hf.nconns; i++) {
        hf_conn_close(&hf.conns[i], hf_now());
    }

    return 0;
}


static void
hf_summary(double secs)
{
    int  i;

    fprintf(stderr, "httpfuzz: seed %" PRIu64 ", %.1f s, %" PRIu64
            " connections, %" PRIu64 " requests (%.0f/s), %" PRIu64
            " responses, %.1f MB sent, %.1f MB received, %" PRIu64
            " resets, %" PRIu64 " refused, %" PRIu64 " probes\n",
            hf.seed, secs, hf.connections, hf.requests,
            hf.requests / (secs > 0 ? secs : 1), hf.responses,
            hf.bytes_out / 1048576.0, hf.bytes_in / 1048576.0, hf.resets,
            hf.refused, hf.probes);

    fprintf(stderr, "httpfuzz: connections (average ms):");
    for (i = 0; i < HF_KIND_N; i++) {
        fprintf(stderr, " %s %" PRIu64 " (%" PRIu64 ")", hf_kind_names[i],
                hf.kinds[i], hf.kinds[i] ? hf.kind_ms[i] / hf.kinds[i] : 0);
    }

    fprintf(stderr, "\nhttpfuzz: statuses:");
    for (i = 100; i < 600; i++) {
        if (hf.codes[i]) {
            fprintf(stderr, " %d:%" PRIu64, i, hf.codes[i]);
        }
    }

    fprintf(stderr, "\n");
}


int
main(int argc, char **argv)
{
    int          i, nreplay, rc;
    char         path[4200];
    FILE        *f;
    double       secs;
    int64_t      session, end;
    hf_plan_t    plan;
    const char  *replay[HF_MAX_CONNS];

    memset(&hf, 0, sizeof(hf));
    hf.seconds = 60;
    hf.nreq = 6;
    hf.nsubs = 6;
    hf.keep_going = 1;
    hf.rss_slack_mb = 16;
    hf.log_fd = -1;
    session = -1;
    nreplay = 0;

    hf.seed = (uint64_t) time(NULL) * 1000003 ^ (uint64_t) getpid();
    hf.seed %= 1000000000;

#define hf_arg(name)                                                         \
    (strcmp(argv[i], name) == 0 && i + 1 < argc && (++i, 1))

    for (i = 1; i < argc; i++) {
        if (hf_arg("--port")) {
            hf.port = atoi(argv[i]);
        } else if (hf_arg("--h2-port")) {
            hf.h2port = atoi(argv[i]);
        } else if (hf_arg("--seconds")) {
            hf.seconds = atof(argv[i]);
        } else if (hf_arg("--seed")) {
            hf.seed = strtoull(argv[i], NULL, 0);
        } else if (hf_arg("--conns")) {
            hf.nreq = atoi(argv[i]);
        } else if (hf_arg("--subs")) {
            hf.nsubs = atoi(argv[i]);
        } else if (hf_arg("--error-log")) {
            hf.error_log = argv[i];
        } else if (hf_arg("--pid-file")) {
            hf.pid_file = argv[i];
        } else if (hf_arg("--out")) {
            hf.out = argv[i];
        } else if (hf_arg("--rss-max-mb")) {
            hf.rss_max_mb = atol(argv[i]);
        } else if (hf_arg("--rss-slack-mb")) {
            hf.rss_slack_mb = atol(argv[i]);
        } else if (hf_arg("--session")) {
            session = atoll(argv[i]);
        } else if (hf_arg("--ignore")) {
            if (hf.nignore < HF_MAX_IGNORE) {
                hf.ignore[hf.nignore++] = argv[i];
            }
        } else if (hf_arg("--replay")) {
            if (nreplay < HF_MAX_CONNS) {
                replay[nreplay++] = argv[i];
            }
        } else if (strcmp(argv[i], "--stop-on-finding") == 0) {
            hf.keep_going = 0;
        } else {
            hf_usage();
        }
    }

#undef hf_arg

    hf_gen_crafted_tokens(&hf.ctx);

    if (session >= 0) {
        /* one connection's files, as a run with this seed generated it */
        if (hf.out == NULL) {
            hf_usage();
        }

        mkdir(hf.out, 0755);
        memset(&plan, 0, sizeof(plan));
        hf_gen_plan(&plan, &hf.ctx, hf_mix(hf.seed, (uint64_t) session),
                    (uint64_t) session, hf_kind_of(hf.seed,
                                                   (uint64_t) session));

        if (hf_plan_save(&plan, hf.out) != 0) {
            return 2;
        }

        printf("%s/s%" PRId64 ".bin: %zu bytes, %s\n", hf.out, session,
               plan.out.len, hf_kind_names[plan.kind]);
        hf_buf_free(&plan.out);
        return 0;
    }

    if (hf.port <= 0 || hf.h2port <= 0
        || hf.nreq < 0 || hf.nsubs < 0 || hf.nreq + hf.nsubs + 1 > HF_MAX_CONNS)
    {
        hf_usage();
    }

    signal(SIGPIPE, SIG_IGN);

    if (hf.error_log) {
        hf.log_fd = open(hf.error_log, O_RDONLY);
        if (hf.log_fd == -1) {
            fprintf(stderr, "httpfuzz: %s: %s\n", hf.error_log,
                    strerror(errno));
            return 2;
        }

        hf.log_off = lseek(hf.log_fd, 0, SEEK_END);
    }

    hf.t0 = hf_now();

    if (nreplay) {
        for (i = 0; i < nreplay; i++) {
            if (hf_plan_load(&hf.conns[i].plan, replay[i]) != 0) {
                return 2;
            }

            hf.nconns++;
            hf_conn_start(&hf.conns[i], HF_POOL_REPLAY,
                          hf.conns[i].plan.kind, 0);
        }

        hf_loop(hf.t0 + 60000, 1);

        /* what the connections left behind (timers) runs, and a sanitizer
         * report takes a moment to reach the log */
        usleep(1500000);
        hf_log_check(hf_now());

        fprintf(stderr, "httpfuzz: replayed %d connections, %d findings\n",
                nreplay, hf.findings);

        return hf.findings ? 1 : 0;
    }

    fprintf(stderr, "httpfuzz: seed %" PRIu64 " (replay the run: --seed %"
            PRIu64 "; one connection: --seed %" PRIu64 " --session K)\n",
            hf.seed, hf.seed, hf.seed);

    if (hf_mint() != 0) {
        return 2;
    }

    if (hf.out) {
        mkdir(hf.out, 0755);
        snprintf(path, sizeof(path), "%s/tokens.txt", hf.out);
        f = fopen(path, "w");
        if (f) {
            for (i = 0; i < hf.ctx.ntokens; i++) {
                fprintf(f, "%s\n", hf.ctx.tokens[i]);
            }
            fclose(f);
        }
    }

    fprintf(stderr, "httpfuzz: %d valid tokens (%d minted by sse_token), "
            "%d request connections, %d subscribers, %.0f s\n",
            hf.ctx.ntokens, hf.ctx.nminted, hf.nreq, hf.nsubs, hf.seconds);

    for (i = 0; i < hf.nreq; i++) {
        hf.conns[hf.nconns].state = HF_FREE;
        hf.conns[hf.nconns++].pool = HF_POOL_REQUESTS;
    }

    for (i = 0; i < hf.nsubs; i++) {
        hf.conns[hf.nconns].state = HF_FREE;
        hf.conns[hf.nconns++].pool = HF_POOL_SUBS;
    }

    hf.conns[hf.nconns].state = HF_FREE;
    hf.conns[hf.nconns++].pool = HF_POOL_PROBE;

    hf.next_index[HF_POOL_REQUESTS] = 0;
    hf.next_index[HF_POOL_SUBS] = 1;

    end = hf.t0 + (int64_t) (hf.seconds * 1000);

    if (hf_loop(end, 0) != 0) {
        return 2;
    }

    secs = (hf_now() - hf.t0) / 1000.0;

    /* the last word: nginx still answers, and the log has settled */
    if (!hf.stop) {
        hf_conn_start(&hf.conns[0], HF_POOL_PROBE, HF_KIND_PROBE,
                      UINT64_MAX);
        hf.nconns = 1;
        hf_loop(hf_now() + 15000, 1);
    }

    usleep(700000);

    hf.new_sig = 0;

    if (hf_log_check(hf_now()) > 0 && hf.new_sig) {
        hf_dump(hf_now() - 3000);
    }

    hf_rss_verdict();
    hf_summary(secs);

    rc = hf.findings ? 1 : 0;

    for (i = 0; i < hf.nsigs; i++) {
        fprintf(stderr, "httpfuzz: finding seen %" PRIu64 " times: %s\n",
                hf.sig_count[i], hf.sigs[i]);
    }

    fprintf(stderr, "httpfuzz: %d findings (%d distinct)\n", hf.findings,
            hf.nsigs);

    return rc;
}
