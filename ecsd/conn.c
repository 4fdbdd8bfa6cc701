/*
 * conn.c: client connections: accept them, read HTTP/1.1 requests off
 * them, write the replies back.
 *
 * Each connection is a bufferevent (plain or TLS) that reads all the time;
 * this file takes each header block into the request's own buffer (kept
 * with the request in http.c's pool), where hparse.c splits it, reads the
 * body by Content-Length or in chunks, and hands the request to
 * http_request().
 * One request per connection is handled at a time: what a client
 * pipelines waits in the input buffer until the reply before it is out.
 * A plain reply is written at once, in one writev; what the socket does
 * not take is left to the bufferevent, which writes it as the client
 * reads.
 *
 * This replaces evhttp, which copied every header twice, printed every
 * reply header through vsnprintf, and stopped and restarted reading around
 * every request (two epoll_ctl calls): about a third of the instructions
 * of a request (BENCHMARKS.md, "Own HTTP layer").
 *
 * Limits: a connection past max_connections gets 503, one that trickles a
 * request for longer than request_timeout gets 408 and is closed
 * (slowloris), and one idle for idle_timeout is closed; the sweep looks
 * five times a second.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "ecsd.h"
#include "util.h"

#define CONN_OVERFLOW	64	/* accepted past the limit, to answer 503 */
#define CONN_BACKLOG	511
#define CHUNK_LINE_MAX	1024	/* a chunk-size line, extensions and all */

static void	 conn_parse(struct conn *);

static void	 conn_free(struct conn *);

static void
conn_listeners(struct ecsd *env, int on)
{
	int	 i;

	for (i = 0; i < env->e_nlisteners; i++) {
		if (on)
			evconnlistener_enable(env->e_listeners[i]);
		else
			evconnlistener_disable(env->e_listeners[i]);
	}
	env->e_listeners_off = !on;
}

/* The header block's limit: blocks up to max_headers are handled. */
static size_t
head_limit(const struct ecsd *env)
{
	return (size_t)env->e_conf.c_max_headers;
}

/* Free a request that was being read, not handed over. */
static void
conn_drop_req(struct conn *c)
{
	struct req	*rq = c->c_req;

	if (rq == NULL)
		return;
	c->c_req = NULL;
	rq->rq_conn = NULL;
	http_req_free(rq);
}

static void
conn_free(struct conn *c)
{
	struct ecsd	*env = c->c_env;

	conn_drop_req(c);
	TAILQ_REMOVE(&env->e_connlist, c, c_entry);
	env->e_nconns--;
	bufferevent_free(c->c_bev);
	free(c);
	if (env->e_listeners_off && env->e_nconns <
	    (size_t)env->e_conf.c_max_connections)
		conn_listeners(env, 1);
}

/* Read no more; close once what was written has gone out. */
static void
conn_close_after(struct conn *c)
{
	c->c_state = CS_CLOSING;
	bufferevent_disable(c->c_bev, EV_READ);
}

/*
 * A request that cannot be read on: answer status with one line of text
 * and close the connection after it.
 */
static void
conn_refuse(struct conn *c, int status, const char *text)
{
	struct req	*rq = c->c_req;

	c->c_state = CS_BUSY;
	c->c_input = 0;
	rq->rq_close = 1;
	http_refuse(rq, status, text);
}

/* --- reading ------------------------------------------------------------- */

/*
 * Look for the end of the header block in the input: its length with the
 * empty line, 0 when it has not all come, or -1 when it is too long.
 */
static ssize_t
find_head(struct conn *c, struct evbuffer *in)
{
	size_t		 len = evbuffer_get_length(in), limit, end;
	unsigned char	*p;

	limit = head_limit(c->c_env);
	if (len > limit + 2)
		len = limit + 2;
	if ((p = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL)
		return 0;
	if ((end = hparse_end(p, len, c->c_scan)) > 0)
		return (ssize_t)end;
	if (len >= limit + 2)
		return -1;
	/* The last two bytes may begin the end: look at them again. */
	c->c_scan = len > 2 ? len - 2 : 0;
	return 0;
}

/*
 * Read a header block: 0 when it has not all come, 1 when it is read (the
 * body comes next), 2 when the request was refused.
 */
static int
read_head(struct conn *c, struct evbuffer *in)
{
	struct req	*rq;
	const char	*why;
	unsigned char	*p;
	ssize_t		 n;
	int		 st;

	/* Empty lines before a request line are ignored (RFC 9112, 2.2). */
	while (c->c_scan == 0 && evbuffer_get_length(in) > 0) {
		p = evbuffer_pullup(in, 1);
		if (p == NULL || (*p != '\r' && *p != '\n'))
			break;
		evbuffer_drain(in, 1);
	}
	if (evbuffer_get_length(in) == 0)
		return 0;
	if (!c->c_input) {
		c->c_input = 1;
		c->c_start = util_now_ms();
	}
	if ((n = find_head(c, in)) == 0)
		return 0;
	c->c_scan = 0;
	if ((rq = http_req_new(c->c_env)) == NULL) {
		log_warnx("%s: out of memory for a request", c->c_peer);
		c->c_state = CS_DEAD;
		return 2;
	}
	c->c_req = rq;
	rq->rq_conn = c;
	rq->rq_tls = c->c_tls;
	util_strlcpy(rq->rq_peer, c->c_peer, sizeof(rq->rq_peer));
	/* Refusals before the version is read answer as HTTP/1.1. */
	rq->rq_major = rq->rq_minor = 1;
	if (n < 0) {
		conn_refuse(c, 431, "Request header fields too large");
		return 2;
	}
	if ((size_t)n + 1 > rq->rq_hcap) {
		char *b = realloc(rq->rq_hblock, (size_t)n + 1);

		if (b == NULL) {
			conn_refuse(c, 503, "Out of memory");
			return 2;
		}
		rq->rq_hblock = b;
		rq->rq_hcap = (size_t)n + 1;
	}
	evbuffer_remove(in, rq->rq_hblock, (size_t)n);
	rq->rq_hblock[n] = '\0';
	rq->rq_hbytes = (size_t)n;
	if ((st = hparse_head(rq, rq->rq_hblock, (size_t)n, &why)) != 0 ||
	    (st = hparse_framing(rq, c->c_env->e_conf.c_max_body,
	    &why)) != 0) {
		rq->rq_major = 1;
		if (rq->rq_minor > 1)
			rq->rq_minor = 1;
		conn_refuse(c, st, why);
		return 2;
	}
	if (rq->rq_expect && evbuffer_get_length(in) == 0)
		bufferevent_write(c->c_bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	if (rq->rq_chunked)
		c->c_state = CS_CHUNK_SIZE;
	else {
		c->c_state = CS_BODY;
		c->c_left = (size_t)rq->rq_clen;
	}
	return 1;
}

/*
 * A chunk-size line: 0 and the size, 1 when it has not all come, or -1
 * when it is not one.
 */
static int
chunk_line(struct evbuffer *in, size_t *size)
{
	struct evbuffer_ptr	 eol;
	char			 line[CHUNK_LINE_MAX + 1], *end;
	size_t			 n, k;
	unsigned long long	 v;

	eol = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_CRLF);
	if (eol.pos < 0)
		return evbuffer_get_length(in) > CHUNK_LINE_MAX ? -1 : 1;
	if ((size_t)eol.pos > CHUNK_LINE_MAX)
		return -1;
	evbuffer_remove(in, line, (size_t)eol.pos);
	evbuffer_drain(in, n);
	line[eol.pos] = '\0';
	k = strspn(line, "0123456789abcdefABCDEF");
	if (k == 0 || k > 15 || (line[k] != '\0' && line[k] != ';' &&
	    line[k] != ' ' && line[k] != '\t'))
		return -1;
	v = strtoull(line, &end, 16);
	*size = (size_t)v;
	return 0;
}

/*
 * Read body bytes, by length or in chunks: 0 when more must come, 1 when
 * the request is ready, 2 when it was refused.
 */
static int
read_body(struct conn *c, struct evbuffer *in)
{
	struct req		*rq = c->c_req;
	struct evbuffer_ptr	 eol;
	size_t			 n, size, max = (size_t)c->c_env->e_conf.c_max_body;
	int			 r;

	for (;;) {
		switch (c->c_state) {
		case CS_BODY:
		case CS_CHUNK_DATA:
			n = evbuffer_get_length(in);
			if (n > c->c_left)
				n = c->c_left;
			if (n > 0) {
				evbuffer_remove_buffer(in, rq->rq_in, n);
				c->c_left -= n;
			}
			if (c->c_left > 0)
				return 0;
			if (c->c_state == CS_BODY)
				return 1;
			c->c_state = CS_CHUNK_END;
			break;
		case CS_CHUNK_SIZE:
			if ((r = chunk_line(in, &size)) == 1)
				return 0;
			if (r < 0) {
				conn_refuse(c, 400, "Bad chunk size");
				return 2;
			}
			if (size > max ||
			    evbuffer_get_length(rq->rq_in) > max - size) {
				conn_refuse(c, 413, "Request body too large");
				return 2;
			}
			c->c_left = size;
			c->c_state = size > 0 ? CS_CHUNK_DATA : CS_TRAILER;
			break;
		case CS_CHUNK_END:
			/* The CRLF after a chunk's data. */
			eol = evbuffer_search_eol(in, NULL, &n,
			    EVBUFFER_EOL_CRLF);
			if (eol.pos < 0 && evbuffer_get_length(in) < 2)
				return 0;
			if (eol.pos != 0) {
				conn_refuse(c, 400, "Bad chunk");
				return 2;
			}
			evbuffer_drain(in, n);
			c->c_state = CS_CHUNK_SIZE;
			break;
		case CS_TRAILER:
			/* Trailer fields are read and dropped. */
			eol = evbuffer_search_eol(in, NULL, &n,
			    EVBUFFER_EOL_CRLF);
			if (eol.pos < 0) {
				if (evbuffer_get_length(in) <=
				    head_limit(c->c_env))
					return 0;
				conn_refuse(c, 431,
				    "Request header fields too large");
				return 2;
			}
			evbuffer_drain(in, (size_t)eol.pos + n);
			if (eol.pos == 0)
				return 1;
			break;
		default:
			return 0;
		}
	}
}

/*
 * What to do once parsing or a reply left c: free it, close it once its
 * output is out, or read on.
 */
static void
conn_settle(struct conn *c)
{
	switch (c->c_state) {
	case CS_DEAD:
		conn_free(c);
		break;
	case CS_CLOSING:
		if (evbuffer_get_length(bufferevent_get_output(c->c_bev)) == 0)
			conn_free(c);
		break;
	case CS_HEAD:
		if (evbuffer_get_length(bufferevent_get_output(c->c_bev)) ==
		    0 && evbuffer_get_length(bufferevent_get_input(c->c_bev)) >
		    0)
			bufferevent_trigger(c->c_bev, EV_READ,
			    BEV_TRIG_IGNORE_WATERMARKS |
			    BEV_TRIG_DEFER_CALLBACKS);
		else if (c->c_eof && evbuffer_get_length(
		    bufferevent_get_output(c->c_bev)) == 0)
			conn_free(c);
		break;
	default:
		break;
	}
}

/* Read and handle what came, as long as a request can be handled. */
static void
conn_parse(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->c_bev);
	struct evbuffer	*out = bufferevent_get_output(c->c_bev);
	int		 r;

	c->c_inparse = 1;
	for (;;) {
		if (c->c_state == CS_HEAD) {
			/* One reply at a time: the write callback goes on. */
			if (evbuffer_get_length(out) > 0)
				break;
			if ((r = read_head(c, in)) == 0)
				goto wait;
			if (r == 2)
				goto next;
		}
		if (c->c_state >= CS_BODY && c->c_state <= CS_TRAILER) {
			if ((r = read_body(c, in)) == 0)
				goto wait;
			if (r == 1) {
				c->c_state = CS_BUSY;
				c->c_input = 0;
				http_request(c->c_req);
			}
		}
next:
		if (c->c_state != CS_HEAD)
			break;
	}
	c->c_inparse = 0;
	conn_settle(c);
	return;
wait:
	c->c_inparse = 0;
	if (c->c_eof)
		conn_free(c);	/* half a request, and no more to come */
}

/* --- events -------------------------------------------------------------- */

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (c->c_state == CS_BUSY || c->c_state == CS_CLOSING)
		return;		/* pipelined: read after the reply */
	conn_parse(c);
}

static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (c->c_state == CS_CLOSING)
		conn_free(c);
	else if (c->c_state == CS_HEAD)
		conn_parse(c);
}

static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	struct req	*rq = c->c_req;

	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) ==
	    0)
		return;
	if (what == (BEV_EVENT_READING | BEV_EVENT_EOF)) {
		/* Half closed: what came still gets its answers. */
		c->c_eof = 1;
		if (c->c_state == CS_BUSY && !rq->rq_parked)
			return;
		if (c->c_state == CS_HEAD && (evbuffer_get_length(
		    bufferevent_get_output(bev)) > 0 || evbuffer_get_length(
		    bufferevent_get_input(bev)) > 0))
			return;
		if (c->c_state == CS_CLOSING)
			return;
	}
	if (c->c_state != CS_BUSY) {
		conn_free(c);
		return;
	}
	/* The client went away while its request was handled. */
	c->c_dead = 1;
	http_gone(rq);
}

static void
conn_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener_ctx	*lc = arg;
	struct ecsd		*env = lc->lc_env;
	struct bufferevent	*bev;
	struct conn		*c;
	struct timeval		 tv;
	int			 one = 1;

	(void)l;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("connection");
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (lc->lc_tls)
		bev = tls_bev_new(env->e_base, fd, env->e_tls_ctx);
	else
		bev = bufferevent_socket_new(env->e_base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("cannot set up a connection");
		close(fd);
		free(c);
		return;
	}
	if (getnameinfo(sa, (socklen_t)salen, c->c_peer, sizeof(c->c_peer),
	    NULL, 0, NI_NUMERICHOST) != 0)
		util_strlcpy(c->c_peer, "-", sizeof(c->c_peer));
	c->c_env = env;
	c->c_bev = bev;
	c->c_tls = lc->lc_tls;
	c->c_mark = util_now_ms();
	c->c_over = env->e_nconns >= (size_t)env->e_conf.c_max_connections;
	TAILQ_INSERT_TAIL(&env->e_connlist, c, c_entry);
	env->e_nconns++;
	if (env->e_nconns >= (size_t)env->e_conf.c_max_connections +
	    CONN_OVERFLOW) {
		/* Past the overflow too: stop accepting until some go. */
		conn_listeners(env, 0);
		log_warnx("%zu connections: not accepting more for now",
		    env->e_nconns);
	}
	/* A client that reads no reply for idle_timeout is let go. */
	tv.tv_sec = env->e_conf.c_idle_timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(bev, NULL, &tv);
	/* Pipelined bytes wait in the input, up to a header block more. */
	bufferevent_setwatermark(bev, EV_READ, 0, head_limit(env) + 65536);
	bufferevent_setcb(bev, conn_readcb, conn_writecb, conn_eventcb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/*
 * Write a reply (out, emptied) to rq's connection: plain ones at once, as
 * far as the socket takes it; the rest, and TLS, through the bufferevent.
 */
void
conn_write(struct req *rq, struct evbuffer *out)
{
	struct conn	*c = rq->rq_conn;
	evutil_socket_t	 fd;
	int		 n;

	if (c == NULL || c->c_dead) {
		evbuffer_drain(out, evbuffer_get_length(out));
		return;
	}
	if (!c->c_tls && evbuffer_get_length(bufferevent_get_output(
	    c->c_bev)) == 0 && (fd = bufferevent_getfd(c->c_bev)) != -1) {
		while (evbuffer_get_length(out) > 0) {
			n = evbuffer_write(out, fd);
			if (n > 0 || (n < 0 && errno == EINTR))
				continue;
			if (n < 0 && errno != EAGAIN) {
				c->c_dead = 1;
				evbuffer_drain(out, evbuffer_get_length(out));
				return;
			}
			break;	/* the socket is full: the rest waits */
		}
	}
	if (evbuffer_get_length(out) > 0)
		bufferevent_write_buffer(c->c_bev, out);
}

/*
 * rq, which c was busy with, is done (its reply written or dropped): go on
 * with what the client sent next, or close.
 */
void
conn_done(struct conn *c, struct req *rq)
{
	c->c_req = NULL;
	c->c_mark = util_now_ms();
	if (c->c_dead)
		c->c_state = CS_DEAD;
	else if (rq->rq_close)
		conn_close_after(c);
	else
		c->c_state = CS_HEAD;
	if (!c->c_inparse)
		conn_settle(c);
}

/* A request arrived on its connection: 0, or -1 after replying 503. */
int
conn_request(struct req *rq)
{
	struct conn	*c = rq->rq_conn;

	if (c == NULL || !c->c_over)
		return 0;
	rq->rq_close = 1;
	reply_text(rq, 503, "Too many connections, try again later");
	return -1;
}

/* Answer 408 on a trickling connection and close it. */
static void
conn_timeout(struct conn *c)
{
	static const char	 msg[] = "HTTP/1.1 408 Request Timeout\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: 16\r\nConnection: close\r\n\r\n"
	    "Request timeout\n";

	conn_drop_req(c);
	bufferevent_write(c->c_bev, msg, sizeof(msg) - 1);
	conn_close_after(c);
}

/* Five times a second: time out tricklers and idle connections. */
static void
conn_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct ecsd	*env = arg;
	struct conn	*c, *next;
	int64_t		 now = util_now_ms();

	(void)fd;
	(void)what;
	for (c = TAILQ_FIRST(&env->e_connlist); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		if (c->c_state == CS_BUSY || c->c_state == CS_CLOSING)
			continue;	/* a timed out one is closing */
		if (c->c_input &&
		    now - c->c_start >= env->e_conf.c_request_timeout * 1000) {
			log_info("connection trickled a request for %ds: 408",
			    (int)((now - c->c_start) / 1000));
			conn_timeout(c);
		} else if (!c->c_input && c->c_state == CS_HEAD &&
		    now - c->c_mark >= env->e_conf.c_idle_timeout * 1000 &&
		    evbuffer_get_length(bufferevent_get_output(c->c_bev)) == 0)
			conn_free(c);	/* a slow reader has the write timeout */
	}
}

/*
 * Listen on addr (host:port), or on the socket a worker was given
 * (e_lfd[tls]); the bound address in out. 0, or -1 after logging why.
 */
int
conn_listen(struct ecsd *env, const char *addr, char *out, size_t outlen,
    int tls)
{
	struct evconnlistener	*lev = NULL;
	struct addrinfo		 hints, *ai = NULL;
	struct listener_ctx	*lc = &env->e_lctx[tls];
	unsigned		 flags = LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC;
	char			 host[128], port[16];
	int			 p, rc;

	lc->lc_env = env;
	lc->lc_tls = tls;
	if (env->e_lfd[tls] != -1) {
		/* The listener owns it from here, whatever happens. */
		evutil_make_socket_nonblocking(env->e_lfd[tls]);
		lev = evconnlistener_new(env->e_base, conn_accept, lc, flags,
		    0, env->e_lfd[tls]);
		if (lev == NULL)
			close(env->e_lfd[tls]);
		env->e_lfd[tls] = -1;
		if (lev == NULL) {
			log_warn("cannot accept on %s", addr);
			return -1;
		}
	} else {
		if (http_split_addr(addr, host, sizeof(host), &p) != 0)
			return -1;
		snprintf(port, sizeof(port), "%d", p);
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
		if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
			log_warnx("cannot listen on %s: %s", addr,
			    gai_strerror(rc));
			return -1;
		}
		lev = evconnlistener_new_bind(env->e_base, conn_accept, lc,
		    flags | LEV_OPT_REUSEABLE, CONN_BACKLOG, ai->ai_addr,
		    (int)ai->ai_addrlen);
		freeaddrinfo(ai);
		if (lev == NULL) {
			log_warn("cannot listen on %s", addr);
			return -1;
		}
	}
	env->e_listeners[env->e_nlisteners++] = lev;
	if (http_sock_name(evconnlistener_get_fd(lev), out, outlen) != 0)
		return -1;
	return 0;
}

int
conn_start(struct ecsd *env)
{
	struct timeval	 tv = { 0, 200000 };

	TAILQ_INIT(&env->e_connlist);
	env->e_nconns = 0;
	env->e_conns_on = 1;
	env->e_sweep = event_new(env->e_base, -1, EV_PERSIST, conn_sweep, env);
	if (env->e_sweep == NULL)
		return -1;
	event_add(env->e_sweep, &tv);
	return 0;
}

/* Close the listeners and every connection. */
void
conn_stop(struct ecsd *env)
{
	struct conn	*c;
	int		 i;

	for (i = 0; i < env->e_nlisteners; i++)
		evconnlistener_free(env->e_listeners[i]);
	env->e_nlisteners = 0;
	if (env->e_sweep != NULL)
		event_free(env->e_sweep);
	env->e_sweep = NULL;
	if (!env->e_conns_on)
		return;
	env->e_conns_on = 0;
	while ((c = TAILQ_FIRST(&env->e_connlist)) != NULL) {
		if (c->c_req != NULL && c->c_state == CS_BUSY) {
			/* http_stop answered them all: this cannot be. */
			log_warnx("%s: a request unanswered at shutdown",
			    c->c_peer);
			c->c_req->rq_conn = NULL;
			c->c_req = NULL;
		}
		conn_free(c);
	}
}
