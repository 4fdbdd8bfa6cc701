/*
 * http.c: request contexts, replies and group commit.
 *
 * Group commit: a request that writes opens (or joins) the batch
 * transaction and works inside its own savepoint. Its reply waits on the
 * pending list. The commit event is made active when a batch opens; it
 * runs after every request libevent already had ready, so all writes that
 * arrived while the previous commit was on disk share the next fsync.
 * Replies go out only after their commit; a read that ran while a batch
 * was open waits too, as it may have seen uncommitted rows.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ecsd.h"
#include "util.h"

#define BATCH_MAX	1024	/* writes in one transaction at most */
#define REQ_POOL	256	/* freed request contexts kept for reuse */

/* Access lines of replies sent together, written at once. */
struct logbatch {
	char	 lb_data[16384];
	size_t	 lb_len;
};

static void	 http_send(struct req *, struct logbatch *);
static void	 req_destroy(struct req *);
static int	 int_cmp(const void *, const void *);

/* Empty an evbuffer. */
static void
drain(struct evbuffer *b)
{
	size_t	 n = evbuffer_get_length(b);

	if (n > 0)
		evbuffer_drain(b, n);
}

const char *
req_header(struct req *rq, const char *name)
{
	size_t	 i;

	for (i = 0; i < rq->rq_nhv; i++)
		if (strcasecmp(rq->rq_hv[i].h_name, name) == 0)
			return rq->rq_hv[i].h_value;
	return NULL;
}

/*
 * All instances of a list header joined with commas (3.1), or NULL.
 * The string belongs to the request.
 */
const char *
req_header_list(struct req *rq, const char *name)
{
	struct buf		 b;
	const char		*first = NULL;
	size_t			 i;
	int			 n = 0;

	if (rq->rq_nscratch == REQ_SCRATCH)
		return req_header(rq, name);
	/* Mostly there is one instance or none: one pass finds out. */
	for (i = 0; i < rq->rq_nhv; i++) {
		if (strcasecmp(rq->rq_hv[i].h_name, name) != 0)
			continue;
		if (n++ > 0)
			break;
		first = rq->rq_hv[i].h_value;
	}
	if (n <= 1)
		return first;
	n = 0;
	buf_init(&b, 0);
	for (i = 0; i < rq->rq_nhv; i++) {
		if (strcasecmp(rq->rq_hv[i].h_name, name) != 0)
			continue;
		if (n++ > 0)
			buf_addc(&b, ',');
		buf_adds(&b, rq->rq_hv[i].h_value);
	}
	if (b.b_err) {
		buf_free(&b);
		return NULL;
	}
	rq->rq_scratch[rq->rq_nscratch++] = buf_release(&b);
	return rq->rq_scratch[rq->rq_nscratch - 1];
}

/*
 * Add a reply header. One with a CR or LF in it is dropped (and logged),
 * so that nothing a client sent can split the reply.
 */
void
reply_add_header(struct req *rq, const char *name, const char *value)
{
	if (name[strcspn(name, "\r\n:")] != '\0' ||
	    value[strcspn(value, "\r\n")] != '\0') {
		log_warnx("reply header %s dropped: CR or LF in it", name);
		return;
	}
	if (strcasecmp(name, "Content-Type") == 0)
		rq->rq_hflags |= REQ_H_CTYPE;
	else if (strcasecmp(name, "Cache-Control") == 0)
		rq->rq_hflags |= REQ_H_CACHE;
	buf_adds(&rq->rq_hout, name);
	buf_add(&rq->rq_hout, ": ", 2);
	buf_adds(&rq->rq_hout, value);
	buf_add(&rq->rq_hout, "\r\n", 2);
}

/* Content-Type with ; charset=utf-8 unless it has a charset (3.2). */
static void
set_ctype(struct req *rq, const char *ctype)
{
	char		 buf[512];
	const char	*p;
	size_t		 n;

	for (p = ctype; *p != '\0'; p++)
		if ((*p == 'c' || *p == 'C') &&
		    strncasecmp(p, "charset", 7) == 0)
			break;
	n = util_strlcpy(buf, ctype, sizeof(buf));
	if (*p == '\0')
		util_append(buf, sizeof(buf), n, "; charset=utf-8", 15);
	reply_add_header(rq, "Content-Type", buf);
}

void
reply(struct req *rq, int status, const char *ctype, const void *body,
    size_t len)
{
	rq->rq_status = status;
	if (ctype != NULL && !(rq->rq_hflags & REQ_H_CTYPE))
		set_ctype(rq, ctype);
	if (!(rq->rq_hflags & REQ_H_CACHE))
		reply_add_header(rq, "Cache-Control", "no-cache");
	if (len > 0)
		evbuffer_add(rq->rq_body, body, len);
}

void
reply_text(struct req *rq, int status, const char *text)
{
	struct buf	 b;

	buf_init(&b, 0);
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	reply(rq, status, "text/html", b.b_data, b.b_len);
	buf_free(&b);
}

/* A system representation: JSON as built, or its XML rewrite (fmt 'x'). */
void
reply_repr(struct req *rq, int status, int fmt, const struct buf *json)
{
	struct buf	 x;

	if (fmt != 'x' || json->b_len == 0) {
		reply(rq, status, fmt == 'x' ? "application/xml" :
		    "application/json", json->b_data, json->b_len);
		return;
	}
	buf_init(&x, 0);
	if (json_to_xml(json->b_data, json->b_len, &x) != ECS_OK)
		reply_text(rq, 500, "Internal error");
	else
		reply(rq, status, "application/xml", x.b_data, x.b_len);
	buf_free(&x);
}

void
reply_empty(struct req *rq, int status)
{
	reply(rq, status, NULL, NULL, 0);
}

int
err_status(enum ecs_err e)
{
	switch (e) {
	case ECS_OK:
		return 200;
	case ECS_EINVAL:
		return 400;
	case ECS_EAUTH:
		return 401;
	case ECS_EDENIED:
		return 403;
	case ECS_ENOTFOUND:
		return 404;
	case ECS_ENOTACCEPT:
		return 406;
	case ECS_ECONFLICT:
	case ECS_EEXIST:
		return 409;
	case ECS_ETOOBIG:
		return 413;
	case ECS_EMEDIA:
		return 415;
	case ECS_EFULL:
	case ECS_EBUSY:
		return 503;
	default:
		return 500;
	}
}

void
reply_error(struct req *rq, const struct ecs_error *err)
{
	const char	*msg = err->e_msg;

	if (*msg == '\0')
		msg = ecs_strerror(err->e_code);
	reply_text(rq, err_status(err->e_code), msg);
}

const char *
req_body(struct req *rq, size_t *len)
{
	*len = evbuffer_get_length(rq->rq_in);
	return (const char *)evbuffer_pullup(rq->rq_in, -1);
}

static int
host_ok(const char *host)
{
	const char	*p;

	if (host == NULL || *host == '\0' || strlen(host) > 200)
		return 0;
	for (p = host; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-:[]_", *p) == NULL)
			return 0;
	return 1;
}

/*
 * scheme://host[:port] for Location headers (3.7): the Host header, or
 * what a trusted front end says in X-Forwarded-Proto and X-Forwarded-Host;
 * the scheme's default port is left out.
 */
void
req_base_url(struct req *rq, char *out, size_t len)
{
	const char	*host = req_header(rq, "Host");
	const char	*proto, *fwd, *last;
	const char	*scheme = rq->rq_tls ? "https" : "http";
	char		 h[256];
	size_t		 n;

	if (netlist_match_str(&rq->rq_env->e_conf.c_trusted_nets,
	    rq->rq_peer)) {
		proto = req_header(rq, "X-Forwarded-Proto");
		if (proto != NULL && strncasecmp(proto, "https", 5) == 0)
			scheme = "https";
		if ((fwd = req_header_list(rq, "X-Forwarded-Host")) != NULL) {
			last = strrchr(fwd, ',');
			last = last ? last + 1 : fwd;
			while (*last == ' ')
				last++;
			if (host_ok(last))
				host = last;
		}
	}
	if (!host_ok(host))
		host = rq->rq_tls ? rq->rq_env->e_bound_tls :
		    rq->rq_env->e_bound;
	util_strlcpy(h, host, sizeof(h));
	n = strlen(h);
	if (strcmp(scheme, "http") == 0 && n > 3 &&
	    strcmp(h + n - 3, ":80") == 0)
		h[n - 3] = '\0';
	else if (strcmp(scheme, "https") == 0 && n > 4 &&
	    strcmp(h + n - 4, ":443") == 0)
		h[n - 4] = '\0';
	n = util_append(out, len, 0, scheme, strlen(scheme));
	n = util_append(out, len, n, "://", 3);
	util_append(out, len, n, h, strlen(h));
}

/*
 * Look up key in the query string; 1 and its value (truncated) if found.
 */
int
req_query_flag(struct req *rq, const char *key, char *val, size_t len)
{
	struct evkeyvalq	 q;
	const char		*v;
	int			 found = 0;

	if (rq->rq_query == NULL)
		return 0;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(rq->rq_query, &q) != 0) {
		evhttp_clear_headers(&q);
		return 0;
	}
	if ((v = evhttp_find_header(&q, key)) != NULL) {
		snprintf(val, len, "%s", v);
		found = 1;
	}
	evhttp_clear_headers(&q);
	return found;
}

/*
 * The list selector (6.2): X-EcsQueryStrings wins per key over the query
 * string; only the exact value "true" counts.
 */
static int
header_flag(struct req *rq, const char *key, char *val, size_t len)
{
	const char	*h = req_header_list(rq, "X-EcsQueryStrings");
	const char	*p, *q, *eq;
	char		*tok, *k;
	size_t		 klen = strlen(key);
	int		 found = 0;

	if (h == NULL)
		return 0;
	for (p = h; *p != '\0' && !found; p = *q ? q + 1 : q) {
		q = strchr(p, ',');
		if (q == NULL)
			q = p + strlen(p);
		if ((tok = util_trimdup(p, (size_t)(q - p))) == NULL)
			return 0;
		if ((eq = strchr(tok, '=')) != NULL) {
			k = util_trimdup(tok, (size_t)(eq - tok));
			if (k != NULL && strlen(k) == klen &&
			    strcmp(k, key) == 0) {
				char *v = util_trimdup(eq + 1, strlen(eq + 1));

				if (v != NULL) {
					snprintf(val, len, "%s", v);
					found = 1;
				}
				free(v);
			}
			free(k);
		}
		free(tok);
	}
	return found;
}

/* A selector from X-EcsQueryStrings, else from the query string (6.2). */
int
req_flag(struct req *rq, const char *key, char *val, size_t len)
{
	return header_flag(rq, key, val, len) ||
	    req_query_flag(rq, key, val, len);
}

/* --- batches -------------------------------------------------------------- */

/*
 * Join the batch, with a savepoint of the request's own (plain 0) or
 * without (plain 1): 0, or -1 after replying 503.
 */
static int
join_batch(struct req *rq, int plain)
{
	struct ecsd	*env = rq->rq_env;
	enum ecs_err	 e;
	int		 fresh = !store_in_tx(env->e_store);

	e = plain ? store_begin(env->e_store) : store_savepoint(env->e_store);
	if (e != ECS_OK) {
		log_warnx("cannot start a transaction: %s",
		    store_errmsg(env->e_store));
		store_rollback(env->e_store);
		reply_text(rq, 503, "Storage unavailable, try again later");
		return -1;
	}
	rq->rq_wrote = 1;
	rq->rq_plain = plain;
	rq->rq_wmark = store_writes(env->e_store);
	if (fresh) {
		env->e_batch_writes = 0;
		event_active(env->e_commit_ev, EV_WRITE, 0);
	}
	env->e_batch_writes++;
	return 0;
}

/* Join the batch with a savepoint: a failure undoes this request only. */
int
http_begin_write(struct req *rq)
{
	return join_batch(rq, 0);
}

/*
 * Join the batch without a savepoint of its own, for a change that checks
 * everything it can be refused for before its first write (a message
 * created, a queue or event pop): once it writes, only the storage can
 * fail it, and then the whole batch is rolled back (http_end_write). That
 * spares a SAVEPOINT and a RELEASE, and the copies SQLite keeps of the
 * pages changed under a savepoint: 5-8 % of such a request's instructions
 * (callgrind, BENCHMARKS.md).
 */
int
http_begin_plain_write(struct req *rq)
{
	return join_batch(rq, 1);
}

static void	 batch_end(struct ecsd *, enum ecs_err);

void
http_end_write(struct req *rq, int ok)
{
	struct ecsd	*env = rq->rq_env;

	if (!rq->rq_plain) {
		if (ok)
			store_release(env->e_store);
		else
			store_rollback_savepoint(env->e_store);
		return;
	}
	rq->rq_plain = 0;
	if (ok || store_writes(env->e_store) == rq->rq_wmark)
		return;
	/* What it wrote cannot be told from what the batch wrote before. */
	log_warnx("a change failed after writing: its batch is rolled back");
	store_rollback(env->e_store);
	batch_end(env, ECS_ESTORE);
}

/*
 * The client of rq went away (conn.c): a waiter goes at once, a reply
 * waiting for its batch is dropped when the batch ends.
 */
void
http_gone(struct req *rq)
{
	rq->rq_dead = 1;
	if (!rq->rq_parked)
		return;
	http_unpark(rq);
	log_debug("%s: waiter gone", rq->rq_peer);
	http_req_free(rq);
}

static void
http_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct req	*rq = arg;
	int		 delayed = rq->rq_delayed;

	http_unpark(rq);
	if (delayed || res_events_answer(rq) == 0)
		http_send_now(rq);
}

/* Send a finished reply only after seconds (throttled failures). */
void
http_delay(struct req *rq, int seconds)
{
	rq->rq_delayed = 1;
	http_park(rq, seconds);
	if (!rq->rq_parked)
		rq->rq_delayed = 0;
}

/* Hold a request until an event for its caller commits, or seconds pass. */
void
http_park(struct req *rq, int seconds)
{
	struct ecsd		*env = rq->rq_env;
	struct timeval		 tv;

	tv.tv_sec = seconds;
	tv.tv_usec = 0;
	if (rq->rq_wait_timer == NULL)
		rq->rq_wait_timer = evtimer_new(env->e_base, http_wait_timeout,
		    rq);
	if (rq->rq_wait_timer == NULL) {
		reply_text(rq, 503, "Too many waiting requests");
		return;
	}
	evtimer_add(rq->rq_wait_timer, &tv);
	rq->rq_parked = 1;
	/* A client that goes away meanwhile is seen by conn.c. */
	if (rq->rq_delayed) {
		TAILQ_INSERT_TAIL(&env->e_waiters, rq, rq_wentry);
		return;
	}
	TAILQ_INSERT_TAIL(&env->e_waiters, rq, rq_wentry);
	env->e_nwaiters++;
}

void
http_unpark(struct req *rq)
{
	if (!rq->rq_parked)
		return;
	evtimer_del(rq->rq_wait_timer);
	TAILQ_REMOVE(&rq->rq_env->e_waiters, rq, rq_wentry);
	if (!rq->rq_delayed)
		rq->rq_env->e_nwaiters--;
	rq->rq_parked = 0;
	rq->rq_delayed = 0;
}

/* Queue a finished request's reply behind an open batch, or send it. */
void
http_send_now(struct req *rq)
{
	struct ecsd	*env = rq->rq_env;

	if (store_in_tx(env->e_store) || !TAILQ_EMPTY(&env->e_pending))
		TAILQ_INSERT_TAIL(&env->e_pending, rq, rq_entry);
	else
		http_send(rq, NULL);
}

static void	 http_notify_read(struct ecsd *);

static int
int_cmp(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Pops run together, just before the commit, when the store gains from it
 * (store_queue_prefetches: PostgreSQL). A pop waits for the commit before
 * its reply anyway; run last, the n pops of one queue in a batch take
 * their heads from one statement (store_queue_prefetch) instead of a
 * round trip each, and the pops of one participant's events theirs
 * (store_events_prefetch). The pops of a queue still take its heads in
 * the order they arrived. A pop whose connection failed meanwhile takes
 * nothing (conn.c: an error, not an end of input, which may be a half
 * close).
 */
#define POP_KEYS	32	/* queues fetched ahead in one batch at most */

/* A pop of resource r's queue (lifo), or of the caller's events (r NULL). */
int
http_defer_pop(struct req *rq, const struct ecs_resource *r, int lifo)
{
	if (r != NULL && (rq->rq_pop_res = malloc(sizeof(*r))) == NULL)
		return -1;	/* then it runs at once */
	if (r != NULL)
		*rq->rq_pop_res = *r;
	rq->rq_pop_lifo = lifo;
	rq->rq_deferred = 1;
	TAILQ_INSERT_TAIL(&rq->rq_env->e_pops, rq, rq_entry);
	return 0;
}

static void
http_run_pops(struct ecsd *env)
{
	struct {
		int64_t	 pk_pid;
		int64_t	 pk_res;
		int	 pk_lifo;
		int	 pk_mixed;	/* fifo and lifo, or all events */
		size_t	 pk_n;		/* heads, or events */
	}		 keys[POP_KEYS];
	struct reqlist	 pops;
	struct req	*rq;
	int64_t		 res;
	size_t		 i, nk = 0;
	enum ecs_err	 e;

	TAILQ_INIT(&pops);
	TAILQ_CONCAT(&pops, &env->e_pops, rq_entry);
	TAILQ_FOREACH(rq, &pops, rq_entry) {
		if (rq->rq_dead)
			continue;
		res = rq->rq_pop_res != NULL ? rq->rq_pop_res->r_id : 0;
		for (i = 0; i < nk; i++)
			if (keys[i].pk_pid == rq->rq_caller.p_id &&
			    keys[i].pk_res == res)
				break;
		if (i == nk) {
			if (nk == POP_KEYS)
				continue;
			keys[nk].pk_pid = rq->rq_caller.p_id;
			keys[nk].pk_res = res;
			keys[nk].pk_lifo = rq->rq_pop_lifo;
			keys[nk].pk_mixed = 0;
			keys[nk++].pk_n = 0;
		}
		keys[i].pk_mixed |= keys[i].pk_lifo != rq->rq_pop_lifo;
		if (res != 0)
			keys[i].pk_n++;
		else if (rq->rq_wait_count < 0)
			keys[i].pk_mixed = 1;	/* all of them */
		else
			keys[i].pk_n += (size_t)rq->rq_wait_count;
	}
	/*
	 * Heads of both ends of one queue are not fetched ahead: on a short
	 * queue they would be the same. The store decides the rest (a single
	 * pop, no transaction). A failure leaves the transaction aborted: the
	 * pops fail, and the commit answers 503 for the batch.
	 */
	for (i = 0; i < nk; i++) {
		if (keys[i].pk_mixed)
			continue;
		e = keys[i].pk_res != 0 ? store_queue_prefetch(env->e_store,
		    keys[i].pk_pid, keys[i].pk_res, keys[i].pk_lifo,
		    keys[i].pk_n) : store_events_prefetch(env->e_store,
		    keys[i].pk_pid, keys[i].pk_n);
		if (e != ECS_OK) {
			log_warnx("queue heads: %s",
			    store_errmsg(env->e_store));
			break;
		}
	}
	while ((rq = TAILQ_FIRST(&pops)) != NULL) {
		TAILQ_REMOVE(&pops, rq, rq_entry);
		rq->rq_deferred = 0;
		/* A batch that failed meanwhile took its transaction. */
		if (!rq->rq_dead && (store_in_tx(env->e_store) ||
		    join_batch(rq, 1) == 0)) {
			rq->rq_wmark = store_writes(env->e_store);
			if (rq->rq_pop_res != NULL)
				res_messages_pop(rq, rq->rq_pop_res,
				    rq->rq_pop_lifo);
			else
				res_events_answer(rq);
		}
		free(rq->rq_pop_res);
		rq->rq_pop_res = NULL;
		http_send_now(rq);
	}
	store_queue_prefetch_clear(env->e_store);
}

/* Commit the open batch and send the replies that waited for it. */
void
http_commit_now(struct ecsd *env)
{
	enum ecs_err	 e = ECS_OK;

	if (!TAILQ_EMPTY(&env->e_pops))
		http_run_pops(env);
	if (store_in_tx(env->e_store)) {
		e = store_commit(env->e_store);
		env->e_batches++;
		if (e != ECS_OK)
			log_warnx("commit failed: %s", ecs_strerror(e));
	}
	batch_end(env, e);
}

/* Send the replies that waited for a batch that ended with e. */
static void
batch_end(struct ecsd *env, enum ecs_err e)
{
	struct req	*rq;
	struct ivec	 pids;
	struct logbatch	 lb;

	lb.lb_len = 0;
	while ((rq = TAILQ_FIRST(&env->e_pending)) != NULL) {
		TAILQ_REMOVE(&env->e_pending, rq, rq_entry);
		if (rq->rq_dead) {
			http_req_free(rq);
			continue;
		}
		if (e != ECS_OK) {
			drain(rq->rq_body);
			buf_reset(&rq->rq_hout);
			rq->rq_hflags = 0;
			reply_text(rq, 503, "Storage unavailable, the change "
			    "was not saved");
		}
		http_send(rq, &lb);
	}
	if (lb.lb_len > 0)
		log_write(lb.lb_data, lb.lb_len);
	/* Wake the waiters of participants that got events. */
	memset(&pids, 0, sizeof(pids));
	store_take_event_pids(env->e_store, &pids);
	if (e == ECS_OK && pids.iv_n > 0 && env->e_nwaiters > 0) {
		qsort(pids.iv_v, pids.iv_n, sizeof(pids.iv_v[0]), int_cmp);
		res_events_wake(env, &pids);
	}
	ivec_free(&pids);
	/* What other nodes reported while this batch ran its queries. */
	if (env->e_notify_ev != NULL)
		http_notify_read(env);
}

static void
http_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	http_commit_now(arg);
}

/* --- other nodes ----------------------------------------------------------- */

/*
 * With several nodes on one database (PostgreSQL), the store reports what
 * the other nodes committed on a descriptor. The participants that got
 * events there have their waiters woken here, as after a local commit;
 * when a node changed identities, participants or resources the store's
 * generation moves, which empties the lookup cache (cache.c), and the Basic
 * credentials verified so far are forgotten.
 *
 * The descriptor is the store's database connection, whose notifications
 * can also arrive while the store runs a query and wait inside the store:
 * they are read after every commit and every NOTIFY_POLL_MS besides. Lost
 * connections are tried again every second; once back, every waiter is
 * looked at, as notifications sent meanwhile are gone. (Freeing the event
 * in its own callback is fine: libevent no longer touches it then.)
 */
#define NOTIFY_POLL_MS	250

static void	 http_notify_cb(evutil_socket_t, short, void *);

static void
http_notify_wake(struct ecsd *env, struct ivec *pids)
{
	if (pids->iv_n == 0 || env->e_nwaiters == 0)
		return;
	qsort(pids->iv_v, pids->iv_n, sizeof(pids->iv_v[0]), int_cmp);
	res_events_wake(env, pids);
}

/* Watch the store's descriptor; 0 when watching. */
static int
http_notify_watch(struct ecsd *env)
{
	int	 fd;

	if (env->e_notify_ev != NULL) {
		event_free(env->e_notify_ev);
		env->e_notify_ev = NULL;
	}
	if ((fd = store_notify_fd(env->e_store)) < 0)
		return -1;
	env->e_notify_ev = event_new(env->e_base, fd, EV_READ | EV_PERSIST,
	    http_notify_cb, env);
	/* Before requests that arrive in the same turn of the loop. */
	if (env->e_notify_ev == NULL ||
	    event_priority_set(env->e_notify_ev, 0) != 0 ||
	    event_add(env->e_notify_ev, NULL) != 0) {
		if (env->e_notify_ev != NULL)
			event_free(env->e_notify_ev);
		env->e_notify_ev = NULL;
		return -1;
	}
	env->e_notify_fd = fd;
	return 0;
}

/* Stop watching a descriptor that failed; the timer tries again. */
static void
http_notify_lost(struct ecsd *env)
{
	if (env->e_notify_ev != NULL)
		event_free(env->e_notify_ev);
	env->e_notify_ev = NULL;
	if (!env->e_notify_lost)
		log_warnx("lost the notifications of other nodes: %s; "
		    "trying again every second",
		    store_errmsg(env->e_store));
	env->e_notify_lost = 1;
}

static void
http_notify_read(struct ecsd *env)
{
	struct ivec	 pids;
	uint64_t	 gen = store_generation(env->e_store);
	enum ecs_err	 e;

	memset(&pids, 0, sizeof(pids));
	e = store_notify_read(env->e_store, &pids);
	if (store_generation(env->e_store) != gen)
		authn_forget(env);
	http_notify_wake(env, &pids);
	ivec_free(&pids);
	/*
	 * A new connection may have the old one's descriptor number, which
	 * epoll no longer watches: watch afresh when the store says anything
	 * went stale (it does after reconnecting).
	 */
	if (e != ECS_OK)
		http_notify_lost(env);
	else if ((store_notify_fd(env->e_store) != env->e_notify_fd ||
	    store_generation(env->e_store) != gen) &&
	    http_notify_watch(env) != 0)
		http_notify_lost(env);
}

static void
http_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	http_notify_read(arg);
}

static void
http_notify_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ecsd	*env = arg;
	struct req	*rq;
	struct ivec	 pids;
	struct timeval	 tv;

	if (env->e_notify_ev != NULL)
		http_notify_read(env);
	else {
		/* Reading connects again; then there is a descriptor. */
		memset(&pids, 0, sizeof(pids));
		if (store_notify_read(env->e_store, &pids) != ECS_OK ||
		    http_notify_watch(env) != 0) {
			http_notify_lost(env);
			ivec_free(&pids);
			goto again;
		}
		log_info("notifications of other nodes work again");
		env->e_notify_lost = 0;
		authn_forget(env);
		TAILQ_FOREACH(rq, &env->e_waiters, rq_wentry)
			ivec_push_unique(&pids, rq->rq_caller.p_id);
		http_notify_wake(env, &pids);
		ivec_free(&pids);
	}
again:
	tv.tv_sec = env->e_notify_ev != NULL ? 0 : 1;
	tv.tv_usec = env->e_notify_ev != NULL ? NOTIFY_POLL_MS * 1000 : 0;
	evtimer_add(env->e_notify_timer, &tv);
}

/* Start watching other nodes, when the store has any. */
int
http_notify_start(struct ecsd *env)
{
	struct timeval	 tv = { 0, NOTIFY_POLL_MS * 1000 };

	if (store_notify_fd(env->e_store) < 0)
		return 0;
	if (http_notify_watch(env) != 0 ||
	    (env->e_notify_timer = evtimer_new(env->e_base,
	    http_notify_timer, env)) == NULL ||
	    evtimer_add(env->e_notify_timer, &tv) != 0) {
		log_warnx("cannot watch the notifications of other nodes");
		return -1;
	}
	log_info("watching other nodes' commits");
	return 0;
}

/* --- requests ------------------------------------------------------------- */

/*
 * A request context, zeroed, with its buffers empty: from the pool of
 * freed ones when it has one (a struct req is 1.2 KB, past malloc's
 * per-thread cache, and its buffers keep what they grew to), else new.
 */
struct req *
http_req_new(struct ecsd *env)
{
	struct req	*rq, keep;

	if ((rq = TAILQ_FIRST(&env->e_reqpool)) != NULL) {
		TAILQ_REMOVE(&env->e_reqpool, rq, rq_entry);
		env->e_nreqpool--;
		keep = *rq;
		memset(rq, 0, sizeof(*rq));
		rq->rq_body = keep.rq_body;
		rq->rq_in = keep.rq_in;
		rq->rq_out = keep.rq_out;
		rq->rq_hout = keep.rq_hout;
		rq->rq_hblock = keep.rq_hblock;
		rq->rq_hcap = keep.rq_hcap;
		rq->rq_hv = keep.rq_hv;
		rq->rq_hvcap = keep.rq_hvcap;
		rq->rq_env = env;
		return rq;
	}
	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return NULL;
	rq->rq_env = env;
	buf_init(&rq->rq_hout, 0);
	if ((rq->rq_body = evbuffer_new()) == NULL ||
	    (rq->rq_in = evbuffer_new()) == NULL ||
	    (rq->rq_out = evbuffer_new()) == NULL) {
		req_destroy(rq);
		return NULL;
	}
	return rq;
}

/* Free a request context and its buffers for good. */
static void
req_destroy(struct req *rq)
{
	if (rq->rq_body != NULL)
		evbuffer_free(rq->rq_body);
	if (rq->rq_in != NULL)
		evbuffer_free(rq->rq_in);
	if (rq->rq_out != NULL)
		evbuffer_free(rq->rq_out);
	buf_free(&rq->rq_hout);
	free(rq->rq_hblock);
	free(rq->rq_hv);
	free(rq);
}

/*
 * Free what a request holds and tell its connection it is done; the
 * context goes back to the pool.
 */
void
http_req_free(struct req *rq)
{
	struct ecsd	*env = rq->rq_env;
	struct conn	*c = rq->rq_conn;
	int		 i;

	if (c != NULL) {
		rq->rq_conn = NULL;
		conn_done(c, rq);
	}
	if (rq->rq_wait_timer != NULL)
		event_free(rq->rq_wait_timer);
	rq->rq_wait_timer = NULL;
	for (i = 0; i < rq->rq_nscratch; i++)
		free(rq->rq_scratch[i]);
	rq->rq_nscratch = 0;
	free(rq->rq_pop_res);
	rq->rq_pop_res = NULL;
	rq->rq_path = rq->rq_query = NULL;	/* in rq_hblock, or "-" */
	if (env->e_nreqpool < env->e_reqpool_max) {
		drain(rq->rq_body);
		drain(rq->rq_in);
		drain(rq->rq_out);
		buf_reset(&rq->rq_hout);
		/* A huge header block is not kept. */
		if (rq->rq_hcap > 16384) {
			free(rq->rq_hblock);
			rq->rq_hblock = NULL;
			rq->rq_hcap = 0;
		}
		if (rq->rq_hvcap > 256) {
			free(rq->rq_hv);
			rq->rq_hv = NULL;
			rq->rq_hvcap = 0;
		}
		if (rq->rq_hout.b_cap > 16384) {
			buf_free(&rq->rq_hout);
			buf_init(&rq->rq_hout, 0);
		}
		TAILQ_INSERT_HEAD(&env->e_reqpool, rq, rq_entry);
		env->e_nreqpool++;
		return;
	}
	req_destroy(rq);
}

static void
req_pool_free(struct ecsd *env)
{
	struct req	*rq;

	env->e_reqpool_max = 0;
	while ((rq = TAILQ_FIRST(&env->e_reqpool)) != NULL) {
		TAILQ_REMOVE(&env->e_reqpool, rq, rq_entry);
		req_destroy(rq);
	}
	env->e_nreqpool = 0;
}

static char *
put_str(char *p, const char *s)
{
	size_t	 n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *
put_u64(char *p, uint64_t v)
{
	char	 t[24];
	int	 i = 0;

	do {
		t[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (i > 0)
		*p++ = t[--i];
	return p;
}

/*
 * The access line, as log_info("%s %s %s %s %d %.1fms") would print it,
 * formatted by hand: written at once, or added to the batch lb.
 */
static void
access_log(struct req *rq, struct logbatch *lb)
{
	struct timespec	 now;
	char		 line[1024], path[512], *p = line;
	int64_t		 ns, tenths;

	if (!log_enabled(LOG_LVL_INFO))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (int64_t)(now.tv_sec - rq->rq_start.tv_sec) * 1000000000 +
	    (now.tv_nsec - rq->rq_start.tv_nsec);
	tenths = ns < 0 ? 0 : (ns + 50000) / 100000;
	log_escape(rq->rq_path ? rq->rq_path : "-", path, sizeof(path));
	p = put_str(p, "ecsd: info: ");
	p = put_str(p, rq->rq_peer);
	if (rq->rq_admin)
		p = put_str(p, " admin ");
	else if (rq->rq_authed) {
		p = put_str(p, " pid=");
		if (rq->rq_caller.p_id < 0) {
			*p++ = '-';
			p = put_u64(p, -(uint64_t)rq->rq_caller.p_id);
		} else
			p = put_u64(p, (uint64_t)rq->rq_caller.p_id);
		*p++ = ' ';
	} else
		p = put_str(p, " pid=- ");
	p = put_str(p, rq->rq_mname);
	*p++ = ' ';
	p = put_str(p, path);
	*p++ = ' ';
	if (rq->rq_status < 0) {
		*p++ = '-';
		p = put_u64(p, -(uint64_t)rq->rq_status);
	} else
		p = put_u64(p, (uint64_t)rq->rq_status);
	*p++ = ' ';
	p = put_u64(p, (uint64_t)(tenths / 10));
	*p++ = '.';
	*p++ = (char)('0' + tenths % 10);
	p = put_str(p, "ms\n");
	if (lb == NULL) {
		log_write(line, (size_t)(p - line));
		return;
	}
	if (lb->lb_len + (size_t)(p - line) > sizeof(lb->lb_data)) {
		log_write(lb->lb_data, lb->lb_len);
		lb->lb_len = 0;
	}
	memcpy(lb->lb_data + lb->lb_len, line, (size_t)(p - line));
	lb->lb_len += (size_t)(p - line);
}

/* The reason phrase of a status, as evhttp gave them. */
static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Request Entity Too Large";
	case 414: return "Request-URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Requested Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:
		return status < 200 ? "Informational" : status < 300 ?
		    "Success" : status < 400 ? "Redirection" : status < 500 ?
		    "Client Error" : "Server Error";
	}
}

/*
 * Send rq's reply: the status line, the handler's headers, Content-Length,
 * Date and Connection, built by hand in one buffer with the body, which
 * conn.c writes at once.
 */
static void
http_send(struct req *rq, struct logbatch *lb)
{
	char		 head[512], *p = head;
	size_t		 n;
	int		 st, body_ok;

	if (rq->rq_status == 0)
		reply_text(rq, 500, "Internal error: no reply");
	st = rq->rq_status;
	n = evbuffer_get_length(rq->rq_body);
	body_ok = st >= 200 && st != 204 && st != 304;
	/* Unlabelled content is HTML, as evhttp labelled it. */
	if (body_ok && !rq->rq_head && !(rq->rq_hflags & REQ_H_CTYPE))
		reply_add_header(rq, "Content-Type",
		    "text/html; charset=utf-8");
	p = put_str(p, rq->rq_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
	p = put_u64(p, (uint64_t)(st < 100 || st > 999 ? 500 : st));
	*p++ = ' ';
	p = put_str(p, reason(st));
	*p++ = '\r';
	*p++ = '\n';
	evbuffer_add(rq->rq_out, head, (size_t)(p - head));
	if (rq->rq_hout.b_len > 0)
		evbuffer_add(rq->rq_out, rq->rq_hout.b_data, rq->rq_hout.b_len);
	p = head;
	/* No handler sets Content-Length: added here. */
	if (st != 304 || n > 0) {
		p = put_str(p, "Content-Length: ");
		p = put_u64(p, n);
		p = put_str(p, "\r\n");
	}
	if (rq->rq_minor >= 1) {
		p = put_str(p, "Date: ");
		util_http_date(time(NULL), p, 64);
		p += strlen(p);
		p = put_str(p, "\r\n");
	}
	if (rq->rq_close && rq->rq_minor >= 1)
		p = put_str(p, "Connection: close\r\n");
	else if (!rq->rq_close && rq->rq_minor == 0)
		p = put_str(p, "Connection: keep-alive\r\n");
	p = put_str(p, "\r\n");
	evbuffer_add(rq->rq_out, head, (size_t)(p - head));
	if (rq->rq_head)
		drain(rq->rq_body);
	else
		evbuffer_add_buffer(rq->rq_out, rq->rq_body);
	access_log(rq, lb);
	if (!rq->rq_dead)
		conn_write(rq, rq->rq_out);
	http_req_free(rq);
}

/* Refuse a request conn.c could not read: one line of text. */
void
http_refuse(struct req *rq, int status, const char *text)
{
	clock_gettime(CLOCK_MONOTONIC, &rq->rq_start);
	if (rq->rq_path == NULL)
		rq->rq_path = "-";
	rq->rq_mname = hparse_method_name(rq->rq_method);
	reply_text(rq, status, text);
	http_send_now(rq);
}

/* Decode %XX escapes in place; -1 on a bad escape or a NUL. */
static int
pct_decode(char *s)
{
	char	*o = s;
	int	 hi, lo;

	for (; *s != '\0'; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if (!isxdigit((unsigned char)s[1]) ||
		    !isxdigit((unsigned char)s[2]))
			return -1;
		hi = isdigit((unsigned char)s[1]) ? s[1] - '0' :
		    (tolower((unsigned char)s[1]) - 'a' + 10);
		lo = isdigit((unsigned char)s[2]) ? s[2] - '0' :
		    (tolower((unsigned char)s[2]) - 'a' + 10);
		if (hi == 0 && lo == 0)
			return -1;
		*o++ = (char)(hi * 16 + lo);
		s += 2;
	}
	*o = '\0';
	return 0;
}

/*
 * A request conn.c read: route it, and reply now or after its batch. The
 * path and the query are cut from the request line in the request's own
 * header block, and the path decoded there.
 */
void
http_request(struct req *rq)
{
	struct ecsd		*env = rq->rq_env;
	char			*path, *q;
	size_t			 n;

	clock_gettime(CLOCK_MONOTONIC, &rq->rq_start);
	rq->rq_mname = hparse_method_name(rq->rq_method);
	rq->rq_head = rq->rq_method == EVHTTP_REQ_HEAD;
	rq->rq_path = "-";
	if (conn_request(rq) != 0)
		goto send;
	if (rq->rq_hbytes > (size_t)env->e_conf.c_max_headers) {
		reply_text(rq, 431, "Request header fields too large");
		goto send;
	}
	path = rq->rq_uri;
	if (path == NULL || *path != '/') {
		reply_text(rq, 400, "Bad request target");
		goto send;
	}
	if ((q = strchr(path, '?')) != NULL) {
		*q = '\0';
		rq->rq_query = q + 1;
	}
	rq->rq_path = path;
	if (pct_decode(path) != 0) {
		reply_text(rq, 400, "Bad escape in request path");
		goto send;
	}
	/* One trailing slash is tolerated (3.1). */
	n = strlen(path);
	if (n > 1 && path[n - 1] == '/')
		path[n - 1] = '\0';
	route_dispatch(rq);
	if (rq->rq_parked || rq->rq_deferred)
		return;
send:
	http_send_now(rq);
	if (env->e_batch_writes >= BATCH_MAX)
		http_commit_now(env);
}

/*
 * Split "host:port" (the host may be "[v6]") into host and port: 0, or -1
 * after logging why.
 */
int
http_split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
	char	*colon;
	int64_t	 p;

	snprintf(host, hostlen, "%s", addr);
	if ((colon = strrchr(host, ':')) == NULL) {
		log_warnx("no port in %s", addr);
		return -1;
	}
	*colon = '\0';
	if (util_parse_i64(colon + 1, 0, 65535, &p) != 0) {
		log_warnx("bad port in %s", addr);
		return -1;
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	*port = (int)p;
	return 0;
}

/* The address a socket is bound to, as host:port ([v6]:port). */
int
http_sock_name(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 a[INET6_ADDRSTRLEN];

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		log_warn("getsockname");
		return -1;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, outlen, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, outlen, "%s:%u", a, ntohs(s4->sin_port));
	}
	return 0;
}

int
http_start(struct ecsd *env)
{
	TAILQ_INIT(&env->e_pending);
	TAILQ_INIT(&env->e_waiters);
	TAILQ_INIT(&env->e_pops);
	TAILQ_INIT(&env->e_reqpool);
	env->e_nreqpool = 0;
	env->e_reqpool_max = REQ_POOL;
	/*
	 * The commit runs at the lowest of three priorities: only once no
	 * socket has a request ready, so that every request that arrived
	 * meanwhile joins the batch (group commit). A batch is also closed
	 * after BATCH_MAX writes, so an open loop cannot starve it.
	 */
	env->e_commit_ev = event_new(env->e_base, -1, 0, http_commit_cb, env);
	if (env->e_commit_ev == NULL ||
	    event_priority_set(env->e_commit_ev, 2) != 0 ||
	    conn_start(env) != 0 || cache_init(env) != 0)
		return -1;
	if (conn_listen(env, env->e_conf.c_listen, env->e_bound,
	    sizeof(env->e_bound), 0) != 0)
		return -1;
	if (env->e_conf.c_listen_tls[0] == '\0')
		return 0;
	if ((env->e_tls_ctx = tls_server_ctx(&env->e_conf)) == NULL)
		return -1;
	if (conn_listen(env, env->e_conf.c_listen_tls, env->e_bound_tls,
	    sizeof(env->e_bound_tls), 1) != 0)
		return -1;
	return 0;
}

void
http_stop(struct ecsd *env)
{
	struct req	*rq;

	http_commit_now(env);
	/* Waiters get their (empty) answer before the listener goes. */
	while ((rq = TAILQ_FIRST(&env->e_waiters)) != NULL) {
		int delayed = rq->rq_delayed;

		http_unpark(rq);
		if (delayed || res_events_answer(rq) == 0)
			http_send_now(rq);
	}
	http_commit_now(env);
	conn_stop(env);
	req_pool_free(env);
	cache_free(env);
	if (env->e_tls_ctx != NULL)
		tls_ctx_free(env->e_tls_ctx);
	env->e_tls_ctx = NULL;
	if (env->e_commit_ev != NULL)
		event_free(env->e_commit_ev);
	env->e_commit_ev = NULL;
	if (env->e_notify_ev != NULL)
		event_free(env->e_notify_ev);
	env->e_notify_ev = NULL;
	if (env->e_notify_timer != NULL)
		event_free(env->e_notify_timer);
	env->e_notify_timer = NULL;
}
