/*
 * ecs-bench: a load generator for ecsd.
 *
 * It drives the message workload of the benchmark kit over keep-alive
 * HTTP/1.1 connections on one libevent loop: produce (POST a message to
 * /ns/res), consume (POST /ns/res/fifo as the receiver), mixed (both,
 * alternating), events (POST /sys/events/fifo as the receiver).  Every
 * phase is bounded by a message count, a duration or both, and always
 * by a hard time limit.  Each produced body carries a run id and a
 * sequence number; every popped body is checked against them, so a run
 * ends with a statement that each acknowledged message was consumed
 * exactly once (and each of its created events popped exactly once).
 *
 * The admin API is used only by --setup (through the blocking client of
 * httpc.c); the load itself goes through libevent's evhttp client.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <yajl/yajl_tree.h>

#include "httpc.h"

#define EB_USAGE	"usage: ecs-bench [-NSh] [-b backlog] [-c connections] " \
			    "[-d seconds] [-k pid] [-m mid] [-n count]\n" \
			    "                 [-P participants] [-p phases] " \
			    "[-R receiver] [-r rate] [-s sender]\n" \
			    "                 [-T seconds] [-t seconds] " \
			    "[-u url] [-x ns/res] [-z bytes] [--allow-remote]"

#define EB_URL		"http://127.0.0.1:3000"
#define EB_RESOURCE	"campusconnect/courselinks"
#define EB_PHASES	"produce,mixed,consume,events"
#define EB_SENDER	"ecs-bench-sender"
#define EB_RECEIVER	"ecs-bench-receiver"
#define EB_COMMUNITY	"ecs-bench"
#define EB_ORG		"ecs-bench"
#define EB_ADMIN_USER	"admin"
#define EB_ADMIN_TIMEOUT 120000		/* milliseconds, per admin request */
#define EB_APPLY_BATCH	500		/* participants per apply document */
#define EB_MAX_CONNS	4096
#define EB_MAX_COUNT	100000000ULL
#define EB_MAX_PHASES	16
#define EB_EMPTY_STOP	3		/* empty pops in a row end a drain */
#define EB_MAX_INFLIGHT	1000000		/* open loop: give up beyond this */
#define EB_MAX_RESPONSE	(16 * 1024 * 1024)

#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2

/* Latency histogram: 64 linear sub-buckets per power of two, in us. */
#define HIST_SUB_BITS	6
#define HIST_SUB	(1 << HIST_SUB_BITS)
#define HIST_MAX_SHIFT	34
#define HIST_BUCKETS	((HIST_MAX_SHIFT + 2) * HIST_SUB)

/* Per-sequence-number state. */
#define SEQ_SENT	0x01
#define SEQ_ACKED	0x02
#define SEQ_SEEN	0x04

enum phase_kind {
	PH_PRODUCE,
	PH_CONSUME,
	PH_MIXED,
	PH_EVENTS,
	PH_FILL,	/* produce the backlog */
	PH_DRAIN,	/* pop the messages until the queue is empty */
	PH_EVDRAIN	/* pop the events until none is left */
};

enum req_kind {
	RQ_PRODUCE,
	RQ_POP,
	RQ_EVENT
};

struct hist {
	uint64_t	 h_count[HIST_BUCKETS];
	uint64_t	 h_n;
	uint64_t	 h_max;		/* us */
};

struct stats {
	uint64_t	 st_sent;
	uint64_t	 st_done;
	uint64_t	 st_ok;		/* 2xx, not empty */
	uint64_t	 st_empty;	/* pops of an empty queue */
	uint64_t	 st_bad;	/* other statuses */
	uint64_t	 st_sockerr;	/* no response */
	uint64_t	 st_status[600];
	uint64_t	 st_t0;		/* first send, ns */
	uint64_t	 st_t1;		/* last completion, ns */
	struct hist	 st_hist;
};

struct bconn {
	struct bench			*bc_bench;
	struct evhttp_connection	*bc_evcon;
	int				 bc_inflight;
	int				 bc_empty_run;
	int				 bc_stopped;
};

struct breq {
	TAILQ_ENTRY(breq) br_entry;	/* on b_reqs while in flight */
	struct bconn	*br_conn;
	enum req_kind	 br_kind;
	uint64_t	 br_seq;
	uint64_t	 br_t0;		/* ns; scheduled time in open loop */
};

struct phase_spec {
	enum phase_kind	 ps_kind;
	const char	*ps_name;
	int		 ps_conns;
	uint64_t	 ps_count;
	unsigned int	 ps_secs;
};

struct idrec {
	uint64_t	 ir_id;
	unsigned int	 ir_seen;
};

struct bench {
	/* options */
	const char		*b_url;
	const char		*b_resource;
	const char		*b_phases;
	const char		*b_sender;
	const char		*b_receiver;
	const char		*b_mid;
	const char		*b_password;
	int			 b_defconns;	/* -c */
	int			 b_nconn;	/* connections opened */
	int			 b_conns;	/* used by the running phase */
	uint64_t		 b_count;
	unsigned int		 b_duration;	/* s, 0: none */
	unsigned int		 b_maxtime;	/* s, per phase */
	unsigned int		 b_timeout;	/* s, per request */
	uint64_t		 b_rate;	/* req/s, 0: closed loop */
	uint64_t		 b_backlog;
	unsigned int		 b_participants;
	size_t			 b_size;
	long			 b_pid;		/* server pid for CPU and RSS */
	int			 b_setup;
	int			 b_verify;
	int			 b_allow_remote;

	/* target */
	char			 b_host[256];	/* for connecting */
	char			 b_hosthdr[300];/* Host header, httpc URL */
	int			 b_port;
	char			 b_prefix[256];
	char			 b_ppath[600];	/* produce path */
	char			 b_cpath[600];	/* consume path */
	char			 b_epath[600];	/* events path */
	char			 b_evprefix[300];/* "ns/res/" in events */
	char			 b_midbuf[32];

	/* libevent */
	struct event_base	*b_base;
	TAILQ_HEAD(, breq)	 b_reqs;	/* requests in flight */
	struct bconn		*b_conn;
	struct event		*b_deadline_ev;
	struct event		*b_maxtime_ev;
	struct event		*b_tick_ev;
	struct event		*b_sigint_ev;
	struct event		*b_sigterm_ev;

	/* the running phase */
	enum phase_kind		 b_phase;
	const char		*b_phase_name;
	uint64_t		 b_target;	/* 0: unbounded by count */
	uint64_t		 b_issued;
	uint64_t		 b_counted;	/* ok pops, or issued requests */
	uint64_t		 b_inflight;
	uint64_t		 b_pops_inflight;
	int			 b_open;	/* this phase runs open loop */
	unsigned int		 b_rr;		/* open loop: next connection */
	int			 b_stopping;
	int			 b_timed_out;
	int			 b_interrupted;
	int			 b_overload;
	struct stats		 b_st;

	/* messages */
	char			 b_run[17];
	char			*b_body;
	size_t			 b_bodylen;
	size_t			 b_seqoff;	/* where the digits go */
	uint8_t			*b_seq;
	uint64_t		 b_seqcap;
	uint64_t		 b_nextseq;
	uint64_t		 b_dups;
	uint64_t		 b_foreign;
	uint64_t		 b_consumed;

	/* events */
	struct idrec		*b_ids;
	size_t			 b_nids;
	size_t			 b_idscap;
	int			 b_ids_sorted;
	int			 b_events_used;
	uint64_t		 b_ev_popped;
	uint64_t		 b_ev_dups;
	uint64_t		 b_ev_unknown;

	/* the whole run */
	uint64_t		 b_total_bad;
	uint64_t		 b_total_sockerr;
	long			 b_hz;
};

static void	 usage(void);
static int	 parse_u64(const char *, uint64_t, uint64_t, const char *,
		    uint64_t *);
static uint64_t	 now_ns(void);
static void	 hist_add(struct hist *, uint64_t);
static double	 hist_pct(const struct hist *, double);
static int	 target_parse(struct bench *);
static int	 target_is_loopback(const char *);
static int	 body_init(struct bench *);
static int	 seq_alloc(struct bench *, uint64_t *);
static int	 ids_add(struct bench *, uint64_t);
static void	 ids_sort(struct bench *);
static struct idrec *ids_find(struct bench *, uint64_t);
static void	 check_message(struct bench *, const char *, size_t);
static void	 check_events(struct bench *, const char *, size_t);
static int	 body_is_empty(const char *, size_t, int);
static int	 conns_open(struct bench *);
static void	 conns_close(struct bench *);
static int	 next_kind(struct bench *, enum req_kind *);
static int	 issue(struct bench *, struct bconn *, uint64_t);
static void	 req_done(struct evhttp_request *, void *);
static void	 phase_maybe_end(struct bench *);
static void	 on_deadline(evutil_socket_t, short, void *);
static void	 on_maxtime(evutil_socket_t, short, void *);
static void	 on_tick(evutil_socket_t, short, void *);
static void	 on_signal(evutil_socket_t, short, void *);
static int	 proc_cpu(long, long, uint64_t *);
static long	 proc_rss_kb(long, const char *);
static int	 run_phase(struct bench *, enum phase_kind, const char *,
		    int, uint64_t, unsigned int);
static int	 phase_parse(struct bench *, char *, struct phase_spec *);
static void	 report(struct bench *, uint64_t, int);
static int	 verify(struct bench *);
static int	 admin_do(struct bench *, const char *, const char *,
		    const char *, size_t, struct httpc_response *);
static int	 sb_printf(char **, size_t *, size_t *, const char *, ...)
		    __attribute__((format(printf, 4, 5)));
static int	 sb_json_str(char **, size_t *, size_t *, const char *);
static int	 setup_apply(struct bench *, const char *, size_t);
static int	 setup_document(struct bench *, unsigned int, unsigned int,
		    int, char **, size_t *);
static int	 setup_read_mid(struct bench *);
static int	 setup(struct bench *);
static void	 bench_free(struct bench *);

static void
usage(void)
{
	fprintf(stderr, "%s\n", EB_USAGE);
}

/* Parse a decimal number within [min, max]; complain with the option. */
static int
parse_u64(const char *s, uint64_t min, uint64_t max, const char *what,
    uint64_t *out)
{
	char			*end;
	unsigned long long	 v;

	if (s == NULL || *s == '\0' || !isdigit((unsigned char)*s)) {
		fprintf(stderr, "ecs-bench: %s: not a number: %s\n", what,
		    s == NULL ? "" : s);
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "ecs-bench: %s: must be a number from %" PRIu64
		    " to %" PRIu64 ": %s\n", what, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Record one latency in microseconds. */
static void
hist_add(struct hist *h, uint64_t us)
{
	unsigned int	 msb, shift;
	size_t		 idx;

	if (us > h->h_max)
		h->h_max = us;
	h->h_n++;
	if (us < 2 * HIST_SUB) {
		h->h_count[us]++;
		return;
	}
	msb = 63 - (unsigned int)__builtin_clzll(us);
	shift = msb - HIST_SUB_BITS;
	if (shift > HIST_MAX_SHIFT) {
		h->h_count[HIST_BUCKETS - 1]++;
		return;
	}
	idx = (size_t)(shift + 1) * HIST_SUB + (size_t)((us >> shift) -
	    HIST_SUB);
	h->h_count[idx]++;
}

/* The p-th percentile (0 < p <= 100) in microseconds. */
static double
hist_pct(const struct hist *h, double p)
{
	uint64_t	 want, sum = 0;
	size_t		 i;
	unsigned int	 shift;
	double		 lo, width;

	if (h->h_n == 0)
		return 0;
	want = (uint64_t)((double)h->h_n * p / 100.0 + 0.5);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		sum += h->h_count[i];
		if (sum >= want)
			break;
	}
	if (i >= HIST_BUCKETS)
		return (double)h->h_max;
	if (i < 2 * HIST_SUB)
		return (double)i;
	shift = (unsigned int)(i / HIST_SUB) - 1;
	lo = (double)((uint64_t)(i % HIST_SUB + HIST_SUB) << shift);
	width = (double)(1ULL << shift);
	lo += width / 2;
	return lo > (double)h->h_max ? (double)h->h_max : lo;
}

/* True when every address the host resolves to is a loopback address. */
static int
target_is_loopback(const char *host)
{
	struct addrinfo		 hints, *res = NULL, *ai;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	int			 ok = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			sin = (const struct sockaddr_in *)(const void *)
			    ai->ai_addr;
			if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
				ok = 0;
		} else if (ai->ai_family == AF_INET6) {
			sin6 = (const struct sockaddr_in6 *)(const void *)
			    ai->ai_addr;
			if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) &&
			    !(IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
			    sin6->sin6_addr.s6_addr[12] == 127))
				ok = 0;
		} else
			ok = 0;
	}
	freeaddrinfo(res);
	return ok;
}

/* Split the URL into host, port and path prefix; build the paths. */
static int
target_parse(struct bench *b)
{
	struct evhttp_uri	*u;
	const char		*scheme, *host, *path;
	size_t			 len;
	int			 rc = -1;

	u = evhttp_uri_parse(b->b_url);
	if (u == NULL) {
		fprintf(stderr, "ecs-bench: cannot parse URL %s\n", b->b_url);
		return -1;
	}
	scheme = evhttp_uri_get_scheme(u);
	host = evhttp_uri_get_host(u);
	path = evhttp_uri_get_path(u);
	if (scheme == NULL || strcmp(scheme, "http") != 0 || host == NULL ||
	    *host == '\0') {
		fprintf(stderr, "ecs-bench: only http://host[:port] URLs: %s\n",
		    b->b_url);
		goto done;
	}
	b->b_port = evhttp_uri_get_port(u);
	if (b->b_port <= 0)
		b->b_port = 80;
	len = strlen(host);
	if (host[0] == '[' && len > 2 && host[len - 1] == ']') {
		if (len - 2 >= sizeof(b->b_host))
			goto toolong;
		memcpy(b->b_host, host + 1, len - 2);
		b->b_host[len - 2] = '\0';
	} else if ((size_t)snprintf(b->b_host, sizeof(b->b_host), "%s",
	    host) >= sizeof(b->b_host))
		goto toolong;
	if ((size_t)snprintf(b->b_hosthdr, sizeof(b->b_hosthdr), "%s:%d",
	    host, b->b_port) >= sizeof(b->b_hosthdr))
		goto toolong;
	if (path == NULL)
		path = "";
	if ((size_t)snprintf(b->b_prefix, sizeof(b->b_prefix), "%s", path) >=
	    sizeof(b->b_prefix))
		goto toolong;
	len = strlen(b->b_prefix);
	while (len > 0 && b->b_prefix[len - 1] == '/')
		b->b_prefix[--len] = '\0';
	if ((size_t)snprintf(b->b_ppath, sizeof(b->b_ppath), "%s/%s",
	    b->b_prefix, b->b_resource) >= sizeof(b->b_ppath) ||
	    (size_t)snprintf(b->b_cpath, sizeof(b->b_cpath), "%s/%s/fifo",
	    b->b_prefix, b->b_resource) >= sizeof(b->b_cpath) ||
	    (size_t)snprintf(b->b_epath, sizeof(b->b_epath),
	    "%s/sys/events/fifo", b->b_prefix) >= sizeof(b->b_epath) ||
	    (size_t)snprintf(b->b_evprefix, sizeof(b->b_evprefix), "%s/",
	    b->b_resource) >= sizeof(b->b_evprefix))
		goto toolong;
	if (!b->b_allow_remote && !target_is_loopback(b->b_host)) {
		fprintf(stderr, "ecs-bench: %s is not a loopback address "
		    "(use --allow-remote to load another host)\n", b->b_host);
		goto done;
	}
	rc = 0;
	goto done;
toolong:
	fprintf(stderr, "ecs-bench: URL or resource too long\n");
done:
	evhttp_uri_free(u);
	return rc;
}

/*
 * Build the message template: a JSON object of b_size bytes whose "seq"
 * member is a fixed-width decimal field, rewritten for every message.
 */
static int
body_init(struct bench *b)
{
	const char	*head = "{\"seq\":";
	char		 tail[256];
	size_t		 hl, tl, pad;
	int		 n;

	n = snprintf(tail, sizeof(tail), ",\"run\":\"%s\",\"url\":"
	    "\"https://lms.example.org/goto.php?target=crs_4711\",\"title\":"
	    "\"Introduction to Distributed Systems\",\"pad\":\"", b->b_run);
	if (n < 0 || (size_t)n >= sizeof(tail))
		return -1;
	hl = strlen(head);
	tl = (size_t)n;
	if (b->b_size < hl + 20 + tl + 2) {
		fprintf(stderr, "ecs-bench: --size must be at least %zu\n",
		    hl + 20 + tl + 2);
		return -1;
	}
	pad = b->b_size - (hl + 20 + tl + 2);
	b->b_body = malloc(b->b_size + 1);
	if (b->b_body == NULL)
		return -1;
	memcpy(b->b_body, head, hl);
	memset(b->b_body + hl, '0', 20);
	memcpy(b->b_body + hl + 20, tail, tl);
	memset(b->b_body + hl + 20 + tl, 'x', pad);
	memcpy(b->b_body + hl + 20 + tl + pad, "\"}", 2);
	b->b_body[b->b_size] = '\0';
	b->b_bodylen = b->b_size;
	b->b_seqoff = hl;
	return 0;
}

/* Hand out the next sequence number. */
static int
seq_alloc(struct bench *b, uint64_t *seq)
{
	uint8_t		*n;
	uint64_t	 cap;

	if (b->b_nextseq >= b->b_seqcap) {
		cap = b->b_seqcap == 0 ? 65536 : b->b_seqcap * 2;
		if (cap > EB_MAX_COUNT * 2) {
			fprintf(stderr, "ecs-bench: too many messages\n");
			return -1;
		}
		n = realloc(b->b_seq, cap);
		if (n == NULL) {
			fprintf(stderr, "ecs-bench: out of memory\n");
			return -1;
		}
		memset(n + b->b_seqcap, 0, cap - b->b_seqcap);
		b->b_seq = n;
		b->b_seqcap = cap;
	}
	*seq = b->b_nextseq++;
	return 0;
}

/* Remember the id of a created message, for the events check. */
static int
ids_add(struct bench *b, uint64_t id)
{
	struct idrec	*n;
	size_t		 cap;

	if (b->b_nids == b->b_idscap) {
		cap = b->b_idscap == 0 ? 65536 : b->b_idscap * 2;
		n = reallocarray(b->b_ids, cap, sizeof(*n));
		if (n == NULL)
			return -1;
		b->b_ids = n;
		b->b_idscap = cap;
	}
	b->b_ids[b->b_nids].ir_id = id;
	b->b_ids[b->b_nids].ir_seen = 0;
	b->b_nids++;
	b->b_ids_sorted = 0;
	return 0;
}

static int
idrec_cmp(const void *a, const void *c)
{
	const struct idrec	*x = a, *y = c;

	return x->ir_id < y->ir_id ? -1 : x->ir_id > y->ir_id;
}

static void
ids_sort(struct bench *b)
{
	if (!b->b_ids_sorted && b->b_nids > 0)
		qsort(b->b_ids, b->b_nids, sizeof(*b->b_ids), idrec_cmp);
	b->b_ids_sorted = 1;
}

static struct idrec *
ids_find(struct bench *b, uint64_t id)
{
	struct idrec	 key;

	if (b->b_nids == 0)
		return NULL;
	ids_sort(b);
	key.ir_id = id;
	key.ir_seen = 0;
	return bsearch(&key, b->b_ids, b->b_nids, sizeof(*b->b_ids),
	    idrec_cmp);
}

/* True for an empty pop: no body, blanks only, or (events) "[]". */
static int
body_is_empty(const char *p, size_t n, int brackets)
{
	size_t	 i;
	int	 seen = 0;

	for (i = 0; i < n; i++) {
		if (isspace((unsigned char)p[i]))
			continue;
		if (brackets && ((p[i] == '[' && seen == 0) ||
		    (p[i] == ']' && seen == 1))) {
			seen++;
			continue;
		}
		return 0;
	}
	return 1;
}

/* Check one popped message against the run id and the sequence numbers. */
static void
check_message(struct bench *b, const char *p, size_t n)
{
	const char	*s, *run;
	char		 num[24];
	char		*end;
	size_t		 i;
	uint64_t	 seq;

	b->b_consumed++;
	s = memmem(p, n, "\"seq\":", 6);
	run = memmem(p, n, "\"run\":\"", 7);
	if (s == NULL || run == NULL || (size_t)(p + n - run) < 7 + 16 ||
	    memcmp(run + 7, b->b_run, 16) != 0) {
		b->b_foreign++;
		return;
	}
	s += 6;
	for (i = 0; i < sizeof(num) - 1 && s + i < p + n &&
	    isdigit((unsigned char)s[i]); i++)
		num[i] = s[i];
	num[i] = '\0';
	errno = 0;
	seq = strtoull(num, &end, 10);
	if (i == 0 || errno != 0 || *end != '\0' || seq >= b->b_nextseq) {
		b->b_foreign++;
		return;
	}
	if (b->b_seq[seq] & SEQ_SEEN)
		b->b_dups++;
	b->b_seq[seq] |= SEQ_SEEN;
}

/* Check the events of one events pop against the ids of our messages. */
static void
check_events(struct bench *b, const char *p, size_t n)
{
	const char	*s, *e, *end = p + n;
	size_t		 plen = strlen(b->b_evprefix);
	struct idrec	*ir;
	char		 num[24];
	size_t		 i;
	char		*nend;
	uint64_t	 id;

	for (s = memmem(p, n, "\"ressource\"", 11); s != NULL;
	    s = memmem(s, (size_t)(end - s), "\"ressource\"", 11)) {
		s += 11;
		while (s < end && (isspace((unsigned char)*s) || *s == ':'))
			s++;
		if (s >= end || *s != '"')
			break;
		s++;
		e = memchr(s, '"', (size_t)(end - s));
		if (e == NULL)
			break;
		b->b_ev_popped++;
		if ((size_t)(e - s) <= plen || memcmp(s, b->b_evprefix,
		    plen) != 0 || (size_t)(e - s) - plen >= sizeof(num)) {
			b->b_ev_unknown++;
			s = e;
			continue;
		}
		for (i = 0; s + plen + i < e; i++)
			num[i] = s[plen + i];
		num[i] = '\0';
		errno = 0;
		id = strtoull(num, &nend, 10);
		ir = NULL;
		if (isdigit((unsigned char)num[0]) && errno == 0 &&
		    *nend == '\0')
			ir = ids_find(b, id);
		if (ir == NULL)
			b->b_ev_unknown++;
		else {
			if (ir->ir_seen)
				b->b_ev_dups++;
			ir->ir_seen++;
		}
		s = e;
	}
}

static int
conns_open(struct bench *b)
{
	int	 i;

	b->b_conn = calloc((size_t)b->b_nconn, sizeof(*b->b_conn));
	if (b->b_conn == NULL)
		return -1;
	for (i = 0; i < b->b_nconn; i++) {
		b->b_conn[i].bc_bench = b;
		b->b_conn[i].bc_evcon = evhttp_connection_base_new(b->b_base,
		    NULL, b->b_host, (unsigned short)b->b_port);
		if (b->b_conn[i].bc_evcon == NULL) {
			fprintf(stderr, "ecs-bench: cannot create connection "
			    "to %s\n", b->b_hosthdr);
			return -1;
		}
		evhttp_connection_set_timeout(b->b_conn[i].bc_evcon,
		    (int)b->b_timeout);
		evhttp_connection_set_max_body_size(b->b_conn[i].bc_evcon,
		    EB_MAX_RESPONSE);
		evhttp_connection_set_retries(b->b_conn[i].bc_evcon, 0);
	}
	return 0;
}

static void
conns_close(struct bench *b)
{
	int	 i;

	if (b->b_conn == NULL)
		return;
	for (i = 0; i < b->b_nconn; i++)
		if (b->b_conn[i].bc_evcon != NULL)
			evhttp_connection_free(b->b_conn[i].bc_evcon);
	free(b->b_conn);
	b->b_conn = NULL;
}

/*
 * What the running phase sends next, or -1 when it has sent enough.
 * Count-bounded pops stop at the count including those in flight, so a
 * consume phase never takes more than its share from the queue.
 */
static int
next_kind(struct bench *b, enum req_kind *kind)
{
	if (b->b_stopping)
		return -1;
	switch (b->b_phase) {
	case PH_PRODUCE:
	case PH_FILL:
		if (b->b_target != 0 && b->b_issued >= b->b_target)
			return -1;
		*kind = RQ_PRODUCE;
		return 0;
	case PH_CONSUME:
	case PH_DRAIN:
	case PH_EVENTS:
	case PH_EVDRAIN:
		if (b->b_target != 0 && b->b_counted + b->b_pops_inflight >=
		    b->b_target)
			return -1;
		*kind = (b->b_phase == PH_EVENTS || b->b_phase == PH_EVDRAIN) ?
		    RQ_EVENT : RQ_POP;
		return 0;
	case PH_MIXED:
		if (b->b_target != 0 && b->b_issued >= b->b_target)
			return -1;
		*kind = (b->b_issued % 2) == 0 ? RQ_PRODUCE : RQ_POP;
		return 0;
	}
	return -1;
}

/* Send one request on c; t0 is its (scheduled) start. 0 sent, -1 not. */
static int
issue(struct bench *b, struct bconn *c, uint64_t t0)
{
	struct evhttp_request	*req;
	struct evkeyvalq	*h;
	struct breq		*br;
	enum req_kind		 kind;
	const char		*path;
	char			 digits[21];
	int			 i;

	if (c->bc_stopped || next_kind(b, &kind) == -1)
		return -1;
	br = malloc(sizeof(*br));
	if (br == NULL)
		return -1;
	br->br_conn = c;
	br->br_kind = kind;
	br->br_seq = 0;
	br->br_t0 = t0;
	req = evhttp_request_new(req_done, br);
	if (req == NULL) {
		free(br);
		return -1;
	}
	h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", b->b_hosthdr);
	if (kind == RQ_PRODUCE) {
		if (seq_alloc(b, &br->br_seq) == -1) {
			evhttp_request_free(req);
			free(br);
			b->b_stopping = 1;
			return -1;
		}
		snprintf(digits, sizeof(digits), "%020" PRIu64, br->br_seq);
		for (i = 0; i < 20; i++)
			b->b_body[b->b_seqoff + (size_t)i] = digits[i];
		evhttp_add_header(h, "Content-Type", "application/json");
		evhttp_add_header(h, "X-EcsAuthId", b->b_sender);
		evhttp_add_header(h, "X-EcsReceiverMemberships", b->b_mid);
		evbuffer_add(evhttp_request_get_output_buffer(req), b->b_body,
		    b->b_bodylen);
		path = b->b_ppath;
	} else {
		evhttp_add_header(h, "X-EcsAuthId", b->b_receiver);
		evhttp_add_header(h, "Content-Length", "0");
		path = kind == RQ_POP ? b->b_cpath : b->b_epath;
	}
	if (b->b_st.st_sent == 0)
		b->b_st.st_t0 = t0;
	/* evhttp_make_request frees req when it fails. */
	if (evhttp_make_request(c->bc_evcon, req, EVHTTP_REQ_POST, path) ==
	    -1) {
		free(br);
		b->b_st.st_sockerr++;
		b->b_stopping = 1;
		return -1;
	}
	TAILQ_INSERT_TAIL(&b->b_reqs, br, br_entry);
	if (kind == RQ_PRODUCE)
		b->b_seq[br->br_seq] |= SEQ_SENT;
	else
		b->b_pops_inflight++;
	b->b_issued++;
	if (b->b_phase == PH_PRODUCE || b->b_phase == PH_FILL ||
	    b->b_phase == PH_MIXED)
		b->b_counted = b->b_issued;
	b->b_st.st_sent++;
	b->b_inflight++;
	c->bc_inflight++;
	return 0;
}

/* A response (or a failure: req is NULL or has no status). */
static void
req_done(struct evhttp_request *req, void *arg)
{
	struct breq		*br = arg;
	struct bconn		*c = br->br_conn;
	struct bench		*b = c->bc_bench;
	struct stats		*st = &b->b_st;
	struct evbuffer		*in;
	const char		*loc, *slash, *p;
	char			*end;
	uint64_t		 now, id;
	size_t			 len;
	int			 status = 0, empty = 0;

	now = now_ns();
	if (req != NULL)
		status = evhttp_request_get_response_code(req);
	st->st_done++;
	st->st_t1 = now;
	hist_add(&st->st_hist, now > br->br_t0 ? (now - br->br_t0) / 1000 :
	    0);
	if (status <= 0 || status >= 600) {
		st->st_sockerr++;
	} else {
		st->st_status[status]++;
		if (br->br_kind == RQ_PRODUCE && status == 201) {
			st->st_ok++;
			b->b_seq[br->br_seq] |= SEQ_ACKED;
			loc = evhttp_find_header(
			    evhttp_request_get_input_headers(req), "Location");
			slash = loc == NULL ? NULL : strrchr(loc, '/');
			if (slash != NULL && isdigit((unsigned char)slash[1])) {
				errno = 0;
				id = strtoull(slash + 1, &end, 10);
				if (errno == 0 && *end == '\0' &&
				    ids_add(b, id) == -1)
					b->b_stopping = 1;
			}
		} else if (br->br_kind != RQ_PRODUCE && status == 200) {
			in = evhttp_request_get_input_buffer(req);
			len = evbuffer_get_length(in);
			p = len == 0 ? "" : (const char *)evbuffer_pullup(in,
			    -1);
			if (body_is_empty(p, len, br->br_kind == RQ_EVENT))
				empty = 1;
			else if (br->br_kind == RQ_POP)
				check_message(b, p, len);
			else
				check_events(b, p, len);
			if (empty)
				st->st_empty++;
			else
				st->st_ok++;
		} else
			st->st_bad++;
	}
	if (br->br_kind != RQ_PRODUCE) {
		b->b_pops_inflight--;
		if (status > 0 && status < 600 && !empty &&
		    (status / 100) == 2)
			b->b_counted++;
		if (empty && b->b_phase != PH_MIXED) {
			if (++c->bc_empty_run >= EB_EMPTY_STOP)
				c->bc_stopped = 1;
		} else
			c->bc_empty_run = 0;
	}
	TAILQ_REMOVE(&b->b_reqs, br, br_entry);
	free(br);
	b->b_inflight--;
	c->bc_inflight--;
	if (!b->b_open && c->bc_inflight == 0)
		issue(b, c, now_ns());
	phase_maybe_end(b);
}

/* End the loop when nothing is in flight and nothing more will be sent. */
static void
phase_maybe_end(struct bench *b)
{
	enum req_kind	 kind;
	int		 i, alive = 0;

	if (b->b_inflight > 0)
		return;
	for (i = 0; i < b->b_conns; i++)
		if (!b->b_conn[i].bc_stopped)
			alive = 1;
	if (b->b_open && alive && next_kind(b, &kind) == 0)
		return;		/* the tick sends more */
	event_base_loopbreak(b->b_base);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct bench	*b = arg;

	b->b_stopping = 1;
	phase_maybe_end(b);
}

static void
on_maxtime(evutil_socket_t fd, short what, void *arg)
{
	struct bench	*b = arg;

	fprintf(stderr, "ecs-bench: phase %s: time limit of %u s reached\n",
	    b->b_phase_name, b->b_maxtime);
	b->b_stopping = 1;
	b->b_timed_out = 1;
	phase_maybe_end(b);
}

/* Open loop: send what is due by now, at b_rate requests per second. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct bench	*b = arg;
	uint64_t	 now, due, t0, tries;

	now = now_ns();
	due = (uint64_t)((double)(now - b->b_st.st_t0) * (double)b->b_rate /
	    1e9) + 1;
	for (tries = 0; b->b_issued < due && tries < (uint64_t)b->b_conns *
	    2; ) {
		if (b->b_inflight >= EB_MAX_INFLIGHT) {
			if (!b->b_overload)
				fprintf(stderr, "ecs-bench: phase %s: server "
				    "cannot keep up with %" PRIu64 " req/s\n",
				    b->b_phase_name, b->b_rate);
			b->b_overload = 1;
			b->b_stopping = 1;
			break;
		}
		t0 = b->b_st.st_t0 + (uint64_t)((double)b->b_issued * 1e9 /
		    (double)b->b_rate);
		if (issue(b, &b->b_conn[b->b_rr], t0) == 0)
			tries = 0;
		else
			tries++;
		b->b_rr = (b->b_rr + 1) % (unsigned int)b->b_conns;
	}
	phase_maybe_end(b);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	struct bench	*b = arg;

	if (b->b_interrupted)
		event_base_loopbreak(b->b_base);
	b->b_interrupted = 1;
	b->b_stopping = 1;
	phase_maybe_end(b);
}

#define PROC_FAMILY	65

/*
 * pid and its child processes (ecsd's workers, from
 * /proc/pid/task/pid/children): how many were put into pids.
 */
static int
proc_family(long pid, long *pids, int max)
{
	char	 path[96];
	FILE	*f;
	long	 k;
	int	 n = 0;

	pids[n++] = pid;
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
	if ((f = fopen(path, "r")) == NULL)
		return n;
	while (n < max && fscanf(f, "%ld", &k) == 1)
		pids[n++] = k;
	fclose(f);
	return n;
}

/* CPU time of one process (user + system) in microseconds, from /proc. */
static int
proc_cpu1(long pid, long hz, uint64_t *us)
{
	char		 path[64], buf[1024];
	FILE		*f;
	const char	*p;
	unsigned long	 ut, stt;
	size_t		 n;

	if (pid <= 0 || hz <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
	    "%*u %*u %lu %lu", &ut, &stt) != 2)
		return -1;
	*us = (uint64_t)(ut + stt) * 1000000ULL / (uint64_t)hz;
	return 0;
}

/*
 * CPU time of a process and its children (workers), in microseconds; -1
 * when the process itself cannot be read.
 */
static int
proc_cpu(long pid, long hz, uint64_t *us)
{
	long		 pids[PROC_FAMILY];
	uint64_t	 k;
	int		 i, n;

	if (pid <= 0)
		return -1;
	n = proc_family(pid, pids, PROC_FAMILY);
	for (*us = 0, i = 0; i < n; i++)
		if (proc_cpu1(pids[i], hz, &k) == 0)
			*us += k;
		else if (i == 0)
			return -1;
	return 0;
}

/* A "VmRSS:"-style field of /proc/pid/status in kB, or -1. */
static long
proc_rss1_kb(long pid, const char *field)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kb = -1;
	size_t	 fl = strlen(field);

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, fl) == 0) {
			kb = strtol(line + fl, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* The same field summed over a process and its children (workers). */
static long
proc_rss_kb(long pid, const char *field)
{
	long	 pids[PROC_FAMILY], kb = 0, k;
	int	 i, n;

	if (pid <= 0)
		return -1;
	n = proc_family(pid, pids, PROC_FAMILY);
	for (i = 0; i < n; i++)
		if ((k = proc_rss1_kb(pids[i], field)) >= 0)
			kb += k;
		else if (i == 0)
			return -1;
	return kb;
}

/*
 * Run one phase to its end: the count, the duration, an empty queue
 * (pops), the time limit or a signal.  Returns 0, or -1 when it could
 * not start.
 */
static int
run_phase(struct bench *b, enum phase_kind kind, const char *name,
    int conns, uint64_t count, unsigned int secs)
{
	struct timeval	 tv;
	uint64_t	 cpu0 = 0, cpu1 = 0;
	int		 i, havecpu, sent = 0;

	if (b->b_interrupted)
		return -1;
	b->b_phase = kind;
	b->b_phase_name = name;
	b->b_conns = conns;
	b->b_target = count;
	b->b_issued = 0;
	b->b_counted = 0;
	b->b_pops_inflight = 0;
	b->b_stopping = 0;
	b->b_timed_out = 0;
	b->b_overload = 0;
	b->b_rr = 0;
	memset(&b->b_st, 0, sizeof(b->b_st));
	for (i = 0; i < b->b_conns; i++) {
		b->b_conn[i].bc_stopped = 0;
		b->b_conn[i].bc_empty_run = 0;
	}
	if (kind == PH_EVENTS || kind == PH_EVDRAIN) {
		b->b_events_used = 1;
		ids_sort(b);
	}
	havecpu = proc_cpu(b->b_pid, b->b_hz, &cpu0) == 0;

	if (secs > 0) {
		tv.tv_sec = secs;
		tv.tv_usec = 0;
		evtimer_add(b->b_deadline_ev, &tv);
	}
	tv.tv_sec = b->b_maxtime;
	tv.tv_usec = 0;
	evtimer_add(b->b_maxtime_ev, &tv);

	b->b_st.st_t0 = now_ns();
	b->b_open = b->b_rate != 0 && kind != PH_FILL && kind != PH_DRAIN &&
	    kind != PH_EVDRAIN;
	if (b->b_open) {
		tv.tv_sec = 0;
		tv.tv_usec = 1000;
		event_add(b->b_tick_ev, &tv);
		on_tick(-1, 0, b);
		sent = 1;
	} else {
		/* closed loop: one request in flight per connection */
		for (i = 0; i < b->b_conns; i++)
			if (issue(b, &b->b_conn[i], now_ns()) == 0)
				sent = 1;
	}
	if (sent || b->b_inflight > 0)
		event_base_dispatch(b->b_base);
	if (b->b_interrupted && b->b_inflight > 0) {
		/* a second signal: leave what is in flight behind */
		fprintf(stderr, "ecs-bench: interrupted with %" PRIu64
		    " requests in flight\n", b->b_inflight);
	}
	evtimer_del(b->b_deadline_ev);
	evtimer_del(b->b_maxtime_ev);
	event_del(b->b_tick_ev);

	if (havecpu && proc_cpu(b->b_pid, b->b_hz, &cpu1) == 0)
		report(b, cpu1 - cpu0, 1);
	else
		report(b, 0, 0);
	return 0;
}

/* Print the figures of the phase that just ended. */
static void
report(struct bench *b, uint64_t cpu_us, int havecpu)
{
	struct stats	*st = &b->b_st;
	double		 secs;
	long		 rss, hwm;
	int		 s, first = 1;

	secs = st->st_t1 > st->st_t0 ? (double)(st->st_t1 - st->st_t0) / 1e9 :
	    0;
	b->b_total_bad += st->st_bad;
	b->b_total_sockerr += st->st_sockerr;
	printf("phase %s: %d connections, %s, %" PRIu64 " requests in "
	    "%.2f s\n", b->b_phase_name, b->b_conns, b->b_open ? "open loop" :
	    "closed loop",
	    st->st_done, secs);
	printf("  req/s %.0f (ok %.0f/s); ok %" PRIu64 ", empty %" PRIu64
	    ", errors %" PRIu64 " (socket %" PRIu64 ")\n",
	    secs > 0 ? (double)st->st_done / secs : 0,
	    secs > 0 ? (double)st->st_ok / secs : 0, st->st_ok, st->st_empty,
	    st->st_bad + st->st_sockerr, st->st_sockerr);
	printf("  latency ms: p50 %.3f p90 %.3f p99 %.3f max %.3f\n",
	    hist_pct(&st->st_hist, 50) / 1000, hist_pct(&st->st_hist, 90) /
	    1000, hist_pct(&st->st_hist, 99) / 1000,
	    (double)st->st_hist.h_max / 1000);
	printf("  status:");
	for (s = 0; s < 600; s++)
		if (st->st_status[s] > 0) {
			printf(" %d=%" PRIu64, s, st->st_status[s]);
			first = 0;
		}
	if (st->st_sockerr > 0) {
		printf(" none=%" PRIu64, st->st_sockerr);
		first = 0;
	}
	printf("%s\n", first ? " -" : "");
	rss = proc_rss_kb(b->b_pid, "VmRSS:");
	hwm = proc_rss_kb(b->b_pid, "VmHWM:");
	if (havecpu)
		printf("  server: %.1f us CPU/request, %.2f cores, RSS %ld kB "
		    "(peak %ld kB)\n", st->st_done > 0 ? (double)cpu_us /
		    (double)st->st_done : 0, secs > 0 ? (double)cpu_us / 1e6 /
		    secs : 0, rss, hwm);
	printf("RESULT phase=%s conns=%d requests=%" PRIu64 " ok=%" PRIu64
	    " empty=%" PRIu64 " bad=%" PRIu64 " sockerr=%" PRIu64
	    " secs=%.3f rps=%.0f ok_rps=%.0f p50_ms=%.3f p90_ms=%.3f"
	    " p99_ms=%.3f max_ms=%.3f", b->b_phase_name, b->b_conns,
	    st->st_done, st->st_ok, st->st_empty, st->st_bad, st->st_sockerr,
	    secs, secs > 0 ? (double)st->st_done / secs : 0,
	    secs > 0 ? (double)st->st_ok / secs : 0,
	    hist_pct(&st->st_hist, 50) / 1000,
	    hist_pct(&st->st_hist, 90) / 1000,
	    hist_pct(&st->st_hist, 99) / 1000,
	    (double)st->st_hist.h_max / 1000);
	if (havecpu)
		printf(" srv_us_req=%.1f rss_kb=%ld", st->st_done > 0 ?
		    (double)cpu_us / (double)st->st_done : 0, rss);
	printf("\n");
	fflush(stdout);
}

/*
 * Drain what is left and check that every acknowledged message was
 * popped exactly once (and, when events were popped, that every created
 * message's event was).  Returns 0 when all is well.
 */
static int
verify(struct bench *b)
{
	uint64_t	 i, acked = 0, seen = 0, missing = 0, unacked = 0;
	uint64_t	 evmissing = 0;
	size_t		 k;
	int		 rc = 0;

	if (b->b_nextseq == 0)
		return 0;
	if (run_phase(b, PH_DRAIN, "drain", b->b_defconns, 0, 0) == -1 ||
	    b->b_timed_out || b->b_interrupted) {
		printf("verify: not done (the drain did not finish)\n");
		return -1;
	}
	for (i = 0; i < b->b_nextseq; i++) {
		if (b->b_seq[i] & SEQ_ACKED)
			acked++;
		if (b->b_seq[i] & SEQ_SEEN) {
			seen++;
			if (!(b->b_seq[i] & SEQ_ACKED))
				unacked++;
		} else if (b->b_seq[i] & SEQ_ACKED)
			missing++;
	}
	printf("verify: produced %" PRIu64 ", consumed %" PRIu64 ", %" PRIu64
	    " duplicates, %" PRIu64 " missing (%" PRIu64 " unacknowledged "
	    "consumed, %" PRIu64 " foreign)\n", acked, seen, b->b_dups,
	    missing, unacked, b->b_foreign);
	if (b->b_dups > 0 || missing > 0)
		rc = -1;
	if (!b->b_events_used)
		return rc;
	if (run_phase(b, PH_EVDRAIN, "events-drain", b->b_defconns, 0,
	    0) == -1 ||
	    b->b_timed_out || b->b_interrupted) {
		printf("events: not verified (the drain did not finish)\n");
		return -1;
	}
	for (k = 0; k < b->b_nids; k++)
		if (b->b_ids[k].ir_seen == 0)
			evmissing++;
	printf("events: expected %zu, popped %" PRIu64 ", %" PRIu64
	    " duplicates, %" PRIu64 " missing (%" PRIu64 " unknown)\n",
	    b->b_nids, b->b_ev_popped, b->b_ev_dups, evmissing,
	    b->b_ev_unknown);
	if (b->b_ev_dups > 0 || evmissing > 0)
		rc = -1;
	return rc;
}

/* One admin request (HTTP Basic as "admin"); 0 with *resp filled, or -1. */
static int
admin_do(struct bench *b, const char *method, const char *path,
    const char *body, size_t len, struct httpc_response *resp)
{
	struct httpc_request	 hq;
	char			 url[320], full[600], err[256];

	snprintf(url, sizeof(url), "http://%s", b->b_hosthdr);
	snprintf(full, sizeof(full), "%s%s", b->b_prefix, path);
	memset(&hq, 0, sizeof(hq));
	hq.hq_url = url;
	hq.hq_method = method;
	hq.hq_path = full;
	hq.hq_user = EB_ADMIN_USER;
	hq.hq_password = b->b_password;
	hq.hq_ctype = body != NULL ? "application/json" : NULL;
	hq.hq_body = body;
	hq.hq_bodylen = len;
	hq.hq_timeout = EB_ADMIN_TIMEOUT;
	if (httpc_do(&hq, resp, err, sizeof(err)) == -1) {
		fprintf(stderr, "ecs-bench: %s %s: %s\n", method, path, err);
		return -1;
	}
	return 0;
}

/* Append to a growing string (*s, length *len, size *size). */
static int
sb_printf(char **s, size_t *len, size_t *size, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;
	size_t	 need;
	char	*ns;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	need = *len + (size_t)n + 1;
	if (need > *size) {
		while (*size < need)
			*size = *size == 0 ? 4096 : *size * 2;
		ns = realloc(*s, *size);
		if (ns == NULL)
			return -1;
		*s = ns;
	}
	va_start(ap, fmt);
	vsnprintf(*s + *len, *size - *len, fmt, ap);
	va_end(ap);
	*len += (size_t)n;
	return 0;
}

/* Append a JSON string literal. */
static int
sb_json_str(char **s, size_t *len, size_t *size, const char *v)
{
	if (sb_printf(s, len, size, "\"") == -1)
		return -1;
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\') {
			if (sb_printf(s, len, size, "\\%c", *v) == -1)
				return -1;
		} else if ((unsigned char)*v < 0x20) {
			if (sb_printf(s, len, size, "\\u%04x",
			    (unsigned int)(unsigned char)*v) == -1)
				return -1;
		} else if (sb_printf(s, len, size, "%c", *v) == -1)
			return -1;
	}
	return sb_printf(s, len, size, "\"");
}

/*
 * A setup document: with base set, the organization, the community, the
 * resource, the sender and the receiver; then the extra participants
 * ecs-bench-p<first> .. ecs-bench-p<last - 1>.
 */
static int
setup_document(struct bench *b, unsigned int first, unsigned int last,
    int base, char **out, size_t *outlen)
{
	char		*s = NULL, name[64];
	size_t		 len = 0, size = 0;
	const char	*ns_end;
	unsigned int	 i;
	int		 comma = 0;

	ns_end = strchr(b->b_resource, '/');
	if (ns_end == NULL)
		return -1;
	if (sb_printf(&s, &len, &size, "{\"organizations\":[{\"name\":\"%s\","
	    "\"abbr\":\"EB\",\"description\":\"ecs-bench\"}],"
	    "\"communities\":[{\"name\":\"%s\",\"description\":\"ecs-bench\"}]",
	    EB_ORG, EB_COMMUNITY) == -1)
		goto fail;
	if (base && sb_printf(&s, &len, &size, ",\"resources\":[{"
	    "\"namespace\":\"%.*s\",\"name\":\"%s\",\"postroute\":false,"
	    "\"events\":true}]", (int)(ns_end - b->b_resource), b->b_resource,
	    ns_end + 1) == -1)
		goto fail;
	if (sb_printf(&s, &len, &size, ",\"participants\":[") == -1)
		goto fail;
	if (base) {
		if (sb_printf(&s, &len, &size, "{\"name\":") == -1 ||
		    sb_json_str(&s, &len, &size, b->b_sender) == -1 ||
		    sb_printf(&s, &len, &size, ",\"organization\":\"%s\","
		    "\"community_selfrouting\":false,\"events\":false,"
		    "\"auth_ids\":[", EB_ORG) == -1 ||
		    sb_json_str(&s, &len, &size, b->b_sender) == -1 ||
		    sb_printf(&s, &len, &size, "],\"communities\":[\"%s\"]},"
		    "{\"name\":", EB_COMMUNITY) == -1 ||
		    sb_json_str(&s, &len, &size, b->b_receiver) == -1 ||
		    sb_printf(&s, &len, &size, ",\"organization\":\"%s\","
		    "\"community_selfrouting\":false,\"events\":true,"
		    "\"auth_ids\":[", EB_ORG) == -1 ||
		    sb_json_str(&s, &len, &size, b->b_receiver) == -1 ||
		    sb_printf(&s, &len, &size, "],\"communities\":[\"%s\"]}",
		    EB_COMMUNITY) == -1)
			goto fail;
		comma = 1;
	}
	for (i = first; i < last; i++) {
		snprintf(name, sizeof(name), "ecs-bench-p%u", i);
		if (sb_printf(&s, &len, &size, "%s{\"name\":\"%s\","
		    "\"organization\":\"%s\",\"community_selfrouting\":false,"
		    "\"events\":true,\"auth_ids\":[\"%s\"],"
		    "\"communities\":[\"%s\"]}", comma ? "," : "", name, EB_ORG,
		    name, EB_COMMUNITY) == -1)
			goto fail;
		comma = 1;
	}
	if (sb_printf(&s, &len, &size, "]}") == -1)
		goto fail;
	*out = s;
	*outlen = len;
	return 0;
fail:
	free(s);
	return -1;
}

static int
setup_apply(struct bench *b, const char *doc, size_t len)
{
	struct httpc_response	 resp;
	int			 rc = -1;

	memset(&resp, 0, sizeof(resp));
	if (admin_do(b, "POST", "/admin/apply", doc, len, &resp) == -1)
		return -1;
	if (resp.hr_status != 200)
		fprintf(stderr, "ecs-bench: POST /admin/apply: %d %.200s\n",
		    resp.hr_status, resp.hr_body != NULL ? resp.hr_body : "");
	else
		rc = 0;
	httpc_response_free(&resp);
	return rc;
}

/*
 * Find the receiver's membership in the bench community: the community
 * id from GET /admin/communities, then the mid from /admin/participants.
 */
static int
setup_read_mid(struct bench *b)
{
	struct httpc_response	 resp;
	yajl_val		 root = NULL, v, name, id, ms, m, mid, cid;
	const char		*str;
	const char		*p_name[] = { "name", NULL };
	const char		*p_id[] = { "id", NULL };
	const char		*p_ms[] = { "memberships", NULL };
	const char		*p_mid[] = { "mid", NULL };
	const char		*p_cid[] = { "community_id", NULL };
	char			 err[256];
	long long		 community = -1, found = -1;
	size_t			 i, j;
	int			 rc = -1;

	memset(&resp, 0, sizeof(resp));
	if (admin_do(b, "GET", "/admin/communities", NULL, 0, &resp) == -1)
		return -1;
	if (resp.hr_status == 200 && resp.hr_body != NULL)
		root = yajl_tree_parse(resp.hr_body, err, sizeof(err));
	if (root == NULL || !YAJL_IS_ARRAY(root)) {
		fprintf(stderr, "ecs-bench: GET /admin/communities: %d\n",
		    resp.hr_status);
		goto done;
	}
	for (i = 0; i < root->u.array.len; i++) {
		v = root->u.array.values[i];
		name = yajl_tree_get(v, p_name, yajl_t_string);
		id = yajl_tree_get(v, p_id, yajl_t_number);
		str = YAJL_GET_STRING(name);
		if (str != NULL && id != NULL && YAJL_IS_INTEGER(id) &&
		    strcmp(str, EB_COMMUNITY) == 0)
			community = YAJL_GET_INTEGER(id);
	}
	yajl_tree_free(root);
	root = NULL;
	httpc_response_free(&resp);
	memset(&resp, 0, sizeof(resp));
	if (community < 0) {
		fprintf(stderr, "ecs-bench: community %s not found\n",
		    EB_COMMUNITY);
		goto done;
	}
	if (admin_do(b, "GET", "/admin/participants", NULL, 0, &resp) == -1)
		goto done;
	if (resp.hr_status == 200 && resp.hr_body != NULL)
		root = yajl_tree_parse(resp.hr_body, err, sizeof(err));
	if (root == NULL || !YAJL_IS_ARRAY(root)) {
		fprintf(stderr, "ecs-bench: GET /admin/participants: %d\n",
		    resp.hr_status);
		goto done;
	}
	for (i = 0; i < root->u.array.len && found < 0; i++) {
		v = root->u.array.values[i];
		name = yajl_tree_get(v, p_name, yajl_t_string);
		ms = yajl_tree_get(v, p_ms, yajl_t_array);
		str = YAJL_GET_STRING(name);
		if (str == NULL || ms == NULL ||
		    strcmp(str, b->b_receiver) != 0)
			continue;
		for (j = 0; j < ms->u.array.len; j++) {
			m = ms->u.array.values[j];
			mid = yajl_tree_get(m, p_mid, yajl_t_number);
			cid = yajl_tree_get(m, p_cid, yajl_t_number);
			if (mid != NULL && cid != NULL &&
			    YAJL_IS_INTEGER(mid) && YAJL_IS_INTEGER(cid) &&
			    YAJL_GET_INTEGER(cid) == community)
				found = YAJL_GET_INTEGER(mid);
		}
	}
	if (found < 0) {
		fprintf(stderr, "ecs-bench: no membership of %s in %s\n",
		    b->b_receiver, EB_COMMUNITY);
		goto done;
	}
	snprintf(b->b_midbuf, sizeof(b->b_midbuf), "%lld", found);
	b->b_mid = b->b_midbuf;
	rc = 0;
done:
	if (root != NULL)
		yajl_tree_free(root);
	httpc_response_free(&resp);
	return rc;
}

/* Provision the participants through the admin API (--setup). */
static int
setup(struct bench *b)
{
	char		*doc = NULL;
	size_t		 len;
	unsigned int	 first, last;
	uint64_t	 t0;

	t0 = now_ns();
	if (setup_document(b, 0, 0, 1, &doc, &len) == -1 ||
	    setup_apply(b, doc, len) == -1) {
		free(doc);
		return -1;
	}
	free(doc);
	for (first = 0; first < b->b_participants; first = last) {
		last = first + EB_APPLY_BATCH;
		if (last > b->b_participants)
			last = b->b_participants;
		doc = NULL;
		if (setup_document(b, first, last, 0, &doc, &len) == -1 ||
		    setup_apply(b, doc, len) == -1) {
			free(doc);
			return -1;
		}
		free(doc);
	}
	if (setup_read_mid(b) == -1)
		return -1;
	printf("setup: sender %s, receiver %s (mid %s), %u extra "
	    "participants, %.2f s\n", b->b_sender, b->b_receiver, b->b_mid,
	    b->b_participants, (double)(now_ns() - t0) / 1e9);
	return 0;
}

/*
 * One element of -p: name[:cN][:nN][:dN], where the modifiers override
 * -c, -n and -d for this phase.  Modifies tok; the name stays in it.
 */
static int
phase_parse(struct bench *b, char *tok, struct phase_spec *ps)
{
	static const struct {
		const char	*pn_name;
		enum phase_kind	 pn_kind;
	} names[] = {
		{ "produce",	PH_PRODUCE },
		{ "consume",	PH_CONSUME },
		{ "mixed",	PH_MIXED },
		{ "events",	PH_EVENTS }
	};
	char		*mod, *colon;
	uint64_t	 v;
	size_t		 i;

	colon = strchr(tok, ':');
	mod = colon == NULL ? NULL : colon + 1;
	if (colon != NULL)
		*colon = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(tok, names[i].pn_name) == 0)
			break;
	if (i == sizeof(names) / sizeof(names[0])) {
		fprintf(stderr, "ecs-bench: unknown phase %s (produce, "
		    "consume, mixed, events)\n", tok);
		return -1;
	}
	ps->ps_kind = names[i].pn_kind;
	ps->ps_name = names[i].pn_name;
	ps->ps_conns = b->b_defconns;
	ps->ps_count = b->b_count;
	ps->ps_secs = b->b_duration;
	while (mod != NULL) {
		colon = strchr(mod, ':');
		if (colon != NULL)
			*colon = '\0';
		switch (mod[0]) {
		case 'c':
			if (parse_u64(mod + 1, 1, EB_MAX_CONNS, "-p :c", &v) ==
			    -1)
				return -1;
			ps->ps_conns = (int)v;
			break;
		case 'n':
			if (parse_u64(mod + 1, 0, EB_MAX_COUNT, "-p :n", &v) ==
			    -1)
				return -1;
			ps->ps_count = v;
			break;
		case 'd':
			if (parse_u64(mod + 1, 0, 86400, "-p :d", &v) == -1)
				return -1;
			ps->ps_secs = (unsigned int)v;
			break;
		default:
			fprintf(stderr, "ecs-bench: phase %s: unknown modifier "
			    "%s (cN, nN, dN)\n", ps->ps_name, mod);
			return -1;
		}
		mod = colon == NULL ? NULL : colon + 1;
	}
	if (ps->ps_count == 0 && ps->ps_secs == 0) {
		fprintf(stderr, "ecs-bench: phase %s: no count and no "
		    "duration\n", ps->ps_name);
		return -1;
	}
	return 0;
}

/*
 * Free everything.  evhttp_connection_free() drops the requests still
 * queued without calling back, so their contexts are freed here.
 */
static void
bench_free(struct bench *b)
{
	struct breq	*br;

	conns_close(b);
	for (br = TAILQ_FIRST(&b->b_reqs); br != NULL;
	    br = TAILQ_FIRST(&b->b_reqs)) {
		TAILQ_REMOVE(&b->b_reqs, br, br_entry);
		free(br);
	}
	if (b->b_deadline_ev != NULL)
		event_free(b->b_deadline_ev);
	if (b->b_maxtime_ev != NULL)
		event_free(b->b_maxtime_ev);
	if (b->b_tick_ev != NULL)
		event_free(b->b_tick_ev);
	if (b->b_sigint_ev != NULL)
		event_free(b->b_sigint_ev);
	if (b->b_sigterm_ev != NULL)
		event_free(b->b_sigterm_ev);
	if (b->b_base != NULL)
		event_base_free(b->b_base);
	free(b->b_body);
	free(b->b_seq);
	free(b->b_ids);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "allow-remote",	no_argument,		NULL, 'A' },
		{ "backlog",		required_argument,	NULL, 'b' },
		{ "connections",	required_argument,	NULL, 'c' },
		{ "duration",		required_argument,	NULL, 'd' },
		{ "help",		no_argument,		NULL, 'h' },
		{ "server-pid",		required_argument,	NULL, 'k' },
		{ "mid",		required_argument,	NULL, 'm' },
		{ "count",		required_argument,	NULL, 'n' },
		{ "no-verify",		no_argument,		NULL, 'N' },
		{ "participants",	required_argument,	NULL, 'P' },
		{ "phases",		required_argument,	NULL, 'p' },
		{ "receiver",		required_argument,	NULL, 'R' },
		{ "rate",		required_argument,	NULL, 'r' },
		{ "setup",		no_argument,		NULL, 'S' },
		{ "sender",		required_argument,	NULL, 's' },
		{ "max-time",		required_argument,	NULL, 'T' },
		{ "timeout",		required_argument,	NULL, 't' },
		{ "url",		required_argument,	NULL, 'u' },
		{ "resource",		required_argument,	NULL, 'x' },
		{ "size",		required_argument,	NULL, 'z' },
		{ NULL,			0,			NULL, 0 }
	};
	struct bench	 b;
	struct phase_spec specs[EB_MAX_PHASES];
	char		*list = NULL, *tok, *save;
	uint64_t	 v, rnd;
	size_t		 nphases = 0, i;
	int		 ch, rc = EXIT_FAIL, setup_only = 0;

	memset(&b, 0, sizeof(b));
	TAILQ_INIT(&b.b_reqs);
	b.b_url = EB_URL;
	b.b_resource = EB_RESOURCE;
	b.b_phases = EB_PHASES;
	b.b_defconns = 16;
	b.b_count = 20000;
	b.b_maxtime = 300;
	b.b_timeout = 10;
	b.b_size = 300;
	b.b_verify = 1;

	for (;;) {
		ch = getopt_long(argc, argv, "b:c:d:hk:m:Nn:P:p:R:r:Ss:T:t:"
		    "u:x:z:", longopts, NULL);
		if (ch == -1)
			break;
		switch (ch) {
		case 'A':
			b.b_allow_remote = 1;
			break;
		case 'b':
			if (parse_u64(optarg, 0, EB_MAX_COUNT, "-b", &v) == -1)
				return EXIT_USAGE;
			b.b_backlog = v;
			break;
		case 'c':
			if (parse_u64(optarg, 1, EB_MAX_CONNS, "-c", &v) == -1)
				return EXIT_USAGE;
			b.b_defconns = (int)v;
			break;
		case 'd':
			if (parse_u64(optarg, 0, 86400, "-d", &v) == -1)
				return EXIT_USAGE;
			b.b_duration = (unsigned int)v;
			break;
		case 'h':
			usage();
			return EXIT_OK;
		case 'k':
			if (parse_u64(optarg, 1, INT_MAX, "-k", &v) == -1)
				return EXIT_USAGE;
			b.b_pid = (long)v;
			break;
		case 'm':
			if (parse_u64(optarg, 1, INT64_MAX, "-m", &v) == -1)
				return EXIT_USAGE;
			b.b_mid = optarg;
			break;
		case 'N':
			b.b_verify = 0;
			break;
		case 'n':
			if (parse_u64(optarg, 0, EB_MAX_COUNT, "-n", &v) == -1)
				return EXIT_USAGE;
			b.b_count = v;
			break;
		case 'P':
			if (parse_u64(optarg, 0, 1000000, "-P", &v) == -1)
				return EXIT_USAGE;
			b.b_participants = (unsigned int)v;
			break;
		case 'p':
			b.b_phases = optarg;
			break;
		case 'R':
			b.b_receiver = optarg;
			break;
		case 'r':
			if (parse_u64(optarg, 0, 10000000, "-r", &v) == -1)
				return EXIT_USAGE;
			b.b_rate = v;
			break;
		case 'S':
			b.b_setup = 1;
			break;
		case 's':
			b.b_sender = optarg;
			break;
		case 'T':
			if (parse_u64(optarg, 1, 86400, "-T", &v) == -1)
				return EXIT_USAGE;
			b.b_maxtime = (unsigned int)v;
			break;
		case 't':
			if (parse_u64(optarg, 1, 3600, "-t", &v) == -1)
				return EXIT_USAGE;
			b.b_timeout = (unsigned int)v;
			break;
		case 'u':
			b.b_url = optarg;
			break;
		case 'x':
			b.b_resource = optarg;
			break;
		case 'z':
			if (parse_u64(optarg, 1, 1048576, "-z", &v) == -1)
				return EXIT_USAGE;
			b.b_size = (size_t)v;
			break;
		default:
			usage();
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage();
		return EXIT_USAGE;
	}

	/* the phases */
	b.b_nconn = b.b_defconns;
	if (strcmp(b.b_phases, "none") == 0)
		setup_only = 1;
	else {
		list = strdup(b.b_phases);
		if (list == NULL)
			return EXIT_FAIL;
		for (tok = strtok_r(list, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			if (nphases == EB_MAX_PHASES) {
				fprintf(stderr, "ecs-bench: more than %d "
				    "phases\n", EB_MAX_PHASES);
				free(list);
				return EXIT_USAGE;
			}
			if (phase_parse(&b, tok, &specs[nphases]) == -1) {
				free(list);
				return EXIT_USAGE;
			}
			if (specs[nphases].ps_conns > b.b_nconn)
				b.b_nconn = specs[nphases].ps_conns;
			nphases++;
		}
		free(list);
		list = NULL;
		if (nphases == 0) {
			fprintf(stderr, "ecs-bench: no phases\n");
			return EXIT_USAGE;
		}
	}
	if (strchr(b.b_resource, '/') == NULL || b.b_resource[0] == '/' ||
	    strchr(strchr(b.b_resource, '/') + 1, '/') != NULL ||
	    strchr(b.b_resource, '/')[1] == '\0') {
		fprintf(stderr, "ecs-bench: -x wants namespace/name\n");
		return EXIT_USAGE;
	}
	if (b.b_setup) {
		b.b_password = getenv("ECSD_ADMIN_PASSWORD");
		if (b.b_password == NULL || *b.b_password == '\0') {
			fprintf(stderr, "ecs-bench: --setup needs "
			    "ECSD_ADMIN_PASSWORD\n");
			return EXIT_USAGE;
		}
		if (b.b_sender == NULL)
			b.b_sender = EB_SENDER;
		if (b.b_receiver == NULL)
			b.b_receiver = EB_RECEIVER;
	} else if (b.b_participants > 0) {
		fprintf(stderr, "ecs-bench: -P needs --setup\n");
		return EXIT_USAGE;
	} else if (b.b_sender == NULL || b.b_receiver == NULL ||
	    b.b_mid == NULL) {
		fprintf(stderr, "ecs-bench: give --setup, or -s, -R and -m\n");
		return EXIT_USAGE;
	}
	if (target_parse(&b) == -1)
		return EXIT_USAGE;

	signal(SIGPIPE, SIG_IGN);
	b.b_hz = sysconf(_SC_CLK_TCK);
	if (getentropy(&rnd, sizeof(rnd)) == -1)
		rnd = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
	snprintf(b.b_run, sizeof(b.b_run), "%016" PRIx64, rnd);

	if (b.b_setup && setup(&b) == -1)
		goto done;
	if (setup_only) {
		rc = EXIT_OK;
		goto done;
	}
	if (body_init(&b) == -1)
		goto done;
	b.b_base = event_base_new();
	if (b.b_base == NULL)
		goto done;
	b.b_deadline_ev = evtimer_new(b.b_base, on_deadline, &b);
	b.b_maxtime_ev = evtimer_new(b.b_base, on_maxtime, &b);
	b.b_tick_ev = event_new(b.b_base, -1, EV_PERSIST, on_tick, &b);
	b.b_sigint_ev = evsignal_new(b.b_base, SIGINT, on_signal, &b);
	b.b_sigterm_ev = evsignal_new(b.b_base, SIGTERM, on_signal, &b);
	if (b.b_deadline_ev == NULL || b.b_maxtime_ev == NULL ||
	    b.b_tick_ev == NULL || b.b_sigint_ev == NULL ||
	    b.b_sigterm_ev == NULL || evsignal_add(b.b_sigint_ev, NULL) ==
	    -1 || evsignal_add(b.b_sigterm_ev, NULL) == -1)
		goto done;
	if (conns_open(&b) == -1)
		goto done;
	printf("target %s%s, resource %s, run %s, %d connections, "
	    "%" PRIu64 "-byte messages\n", b.b_hosthdr, b.b_prefix,
	    b.b_resource, b.b_run, b.b_nconn, (uint64_t)b.b_size);

	if (b.b_backlog > 0)
		run_phase(&b, PH_FILL, "fill", b.b_defconns, b.b_backlog, 0);
	for (i = 0; i < nphases && !b.b_interrupted; i++) {
		run_phase(&b, specs[i].ps_kind, specs[i].ps_name,
		    specs[i].ps_conns, specs[i].ps_count, specs[i].ps_secs);
		if (b.b_timed_out)
			break;
	}
	rc = EXIT_OK;
	if (b.b_timed_out || b.b_interrupted || b.b_overload)
		rc = EXIT_FAIL;
	else if (b.b_verify && verify(&b) == -1)
		rc = EXIT_FAIL;
	if (b.b_total_bad > 0 || b.b_total_sockerr > 0) {
		printf("errors: %" PRIu64 " bad statuses, %" PRIu64
		    " socket errors\n", b.b_total_bad, b.b_total_sockerr);
		rc = EXIT_FAIL;
	}
	printf("result: %s\n", rc == EXIT_OK ? "ok" : "FAILED");
done:
	bench_free(&b);
	return rc;
}
