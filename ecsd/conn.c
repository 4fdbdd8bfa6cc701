/*
 * conn.c: client connections: how many there are, and those that trickle.
 *
 * libevent 2.1 tells nobody when evhttp frees a connection, so each
 * connection's bufferevent is created here (evhttp's bevcb) and kept
 * referenced; a sweep five times a second finds the ones evhttp let go (their
 * callbacks are gone), drops the reference and so closes them. The same
 * table lets a request find its connection: over max_connections a
 * connection gets 503, and one that trickles a request for longer than
 * request_timeout gets 408 and is closed (slowloris).
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "ecsd.h"

#define CONN_OVERFLOW	64	/* accepted past the limit, to answer 503 */

static size_t
conn_hash(const void *p, size_t mask)
{
	uintptr_t	 x = (uintptr_t)p;

	x ^= x >> 17;
	x *= (uintptr_t)0x9e3779b97f4a7c15ULL;
	return (size_t)(x >> 7) & mask;
}

int
conn_init(struct ecsd *env)
{
	size_t	 n = 64;

	while (n < (size_t)(env->e_conf.c_max_connections + CONN_OVERFLOW) * 2)
		n *= 2;
	if ((env->e_conns = calloc(n, sizeof(*env->e_conns))) == NULL)
		return -1;
	env->e_conns_mask = n - 1;
	return 0;
}

static struct conn *
conn_find(struct ecsd *env, const struct bufferevent *bev)
{
	size_t	 i = conn_hash(bev, env->e_conns_mask);

	while (env->e_conns[i] != NULL) {
		if (env->e_conns[i]->c_bev == bev)
			return env->e_conns[i];
		i = (i + 1) & env->e_conns_mask;
	}
	return NULL;
}

/*
 * Free slot i's connection and empty the slot, shifting back the entries
 * that probed past it. Only pointers move: each connection's input
 * callback holds its struct conn, which stays where it is.
 */
static void
conn_remove(struct ecsd *env, size_t i)
{
	size_t	 j = i, k;

	free(env->e_conns[i]);
	env->e_conns[i] = NULL;
	env->e_nconns--;
	for (;;) {
		j = (j + 1) & env->e_conns_mask;
		if (env->e_conns[j] == NULL)
			return;
		k = conn_hash(env->e_conns[j]->c_bev, env->e_conns_mask);
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			env->e_conns[i] = env->e_conns[j];
			env->e_conns[j] = NULL;
			i = j;
		}
	}
}

static void
conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn	*c = arg;

	if (info->n_added > 0)
		c->c_input = 1;
}

static void
conn_listeners(struct ecsd *env, int on)
{
	struct evconnlistener	*l;
	int			 i;

	for (i = 0; i < env->e_nlisteners; i++) {
		l = env->e_listeners[i];
		if (on)
			evconnlistener_enable(l);
		else
			evconnlistener_disable(l);
	}
	env->e_listeners_off = !on;
}

/* evhttp's bufferevent factory: plain or TLS, tracked either way. */
struct bufferevent *
conn_bevcb(struct event_base *base, void *arg)
{
	struct listener_ctx	*lc = arg;
	struct ecsd		*env = lc->lc_env;
	struct bufferevent	*bev;
	struct conn		*c;
	size_t			 i;

	if (lc->lc_tls)
		bev = tls_bevcb(base, env->e_tls_ctx);
	else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	if (env->e_nconns >= (size_t)env->e_conf.c_max_connections +
	    CONN_OVERFLOW) {
		/* Past the overflow too: stop accepting until some go. */
		conn_listeners(env, 0);
		log_warnx("%zu connections: not accepting more for now",
		    env->e_nconns);
		return bev;	/* this one is untracked but answered */
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("connection table");
		return bev;	/* untracked, as past the overflow */
	}
	i = conn_hash(bev, env->e_conns_mask);
	while (env->e_conns[i] != NULL)
		i = (i + 1) & env->e_conns_mask;
	env->e_conns[i] = c;
	c->c_bev = bev;
	c->c_mark = time(NULL);
	c->c_over = env->e_nconns >= (size_t)env->e_conf.c_max_connections;
	c->c_tls = lc->lc_tls;
	env->e_nconns++;
	bufferevent_incref(bev);
	evbuffer_add_cb(bufferevent_get_input(bev), conn_input, c);
	return bev;
}

/*
 * A request arrived on conn: 0, or -1 after replying 503 (a connection
 * past max_connections).
 */
int
conn_request(struct req *rq)
{
	struct ecsd		*env = rq->rq_env;
	struct bufferevent	*bev;
	struct conn		*c;

	if (rq->rq_conn == NULL ||
	    (bev = evhttp_connection_get_bufferevent(rq->rq_conn)) == NULL ||
	    (c = conn_find(env, bev)) == NULL)
		return 0;
	c->c_mark = time(NULL);
	c->c_input = 0;
	if (c->c_over) {
		reply_add_header(rq, "Connection", "close");
		reply_text(rq, 503, "Too many connections, try again later");
		return -1;
	}
	return 0;
}

/* Answer 408 on a trickling connection and close it. */
static void
conn_timeout(struct conn *c)
{
	static const char	 msg[] = "HTTP/1.1 408 Request Timeout\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: 16\r\nConnection: close\r\n\r\n"
	    "Request timeout\n";
	evutil_socket_t		 fd = bufferevent_getfd(c->c_bev);

	if (fd == -1)
		return;
	if (!c->c_tls)
		(void)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
	shutdown(fd, SHUT_RDWR);
}

/* Five times a second: let go of closed connections, time out tricklers. */
static void
conn_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct ecsd		*env = arg;
	bufferevent_event_cb	 ecb;
	struct conn		*c;
	time_t			 now = time(NULL);
	size_t			 i;

	for (i = 0; i <= env->e_conns_mask; i++) {
		if ((c = env->e_conns[i]) == NULL)
			continue;
		bufferevent_getcb(c->c_bev, NULL, NULL, &ecb, NULL);
		if (ecb == NULL) {
			/* evhttp freed it: the last reference closes it. */
			evbuffer_remove_cb(bufferevent_get_input(c->c_bev),
			    conn_input, c);
			bufferevent_decref(c->c_bev);
			conn_remove(env, i);
			i--;	/* an entry may have moved into slot i */
			continue;
		}
		if (c->c_input && !c->c_timedout &&
		    now - c->c_mark > env->e_conf.c_request_timeout) {
			c->c_timedout = 1;
			log_info("connection trickled a request for %ds: 408",
			    (int)(now - c->c_mark));
			conn_timeout(c);
		}
	}
	if (env->e_listeners_off && env->e_nconns <
	    (size_t)env->e_conf.c_max_connections)
		conn_listeners(env, 1);
}

int
conn_start(struct ecsd *env)
{
	struct timeval	 tv = { 0, 200000 };

	env->e_sweep = event_new(env->e_base, -1, EV_PERSIST, conn_sweep, env);
	if (env->e_sweep == NULL)
		return -1;
	event_add(env->e_sweep, &tv);
	return 0;
}

void
conn_stop(struct ecsd *env)
{
	struct conn	*c;
	size_t		 i;

	if (env->e_sweep != NULL)
		event_free(env->e_sweep);
	env->e_sweep = NULL;
	for (i = 0; env->e_conns != NULL && i <= env->e_conns_mask; i++) {
		if ((c = env->e_conns[i]) == NULL)
			continue;
		evbuffer_remove_cb(bufferevent_get_input(c->c_bev), conn_input,
		    c);
		bufferevent_decref(c->c_bev);
		free(c);
		env->e_conns[i] = NULL;
	}
	free(env->e_conns);
	env->e_conns = NULL;
	env->e_nconns = 0;
}
