/*
 * ecc_http.c: the ECC transport.  A session owns at most one evhttp
 * connection (plain, or TLS through bufferevent_openssl) that it keeps
 * alive between calls, and a queue of calls it sends one at a time.
 *
 * Flow of a call: ecc_call_async() copies the request into a struct
 * ecc_req on s_queue and activates the session's kick event.  The kick
 * handler (kick_cb) frees retired connections, delivers finished calls to
 * their callbacks and sends the next queued call.  The evhttp completion
 * (req_done) never calls user code: it files the call on s_done, or, for a
 * retryable failure, parks it on s_backoff behind a timer that puts it back
 * at the head of s_queue.  So user callbacks run only from kick_cb, never
 * inside evhttp's own stack, and a connection is freed only from kick_cb.
 *
 * A connection that closed (server's Connection: close, idle close, any
 * failure) is marked dead by its close callback and replaced by a new one
 * at the next call: evhttp cannot reconnect a TLS bufferevent, and a new
 * object per TCP connection also makes ecc_connections() exact.
 *
 * The only file of libecs besides ecsd/tls.c that includes <openssl/ssl.h>.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ecc_http.h"
#include "util.h"

#define ECC_DEFAULT_TIMEOUT	30
#define ECC_DEFAULT_RETRIES	2
#define ECC_DEFAULT_MAX_BODY	(64 * 1024 * 1024)
#define ECC_MAX_HEADERS		65536
#define ECC_BACKOFF_MS		200
#define ECC_BACKOFF_MAX_MS	5000

struct ecc_req {
	TAILQ_ENTRY(ecc_req)	 rq_entry;
	struct ecc		*rq_s;
	enum evhttp_cmd_type	 rq_cmd;
	char			*rq_path;	/* prefix included */
	char		       **rq_hdr;	/* name, value, name, value */
	size_t			 rq_nhdr;
	char			*rq_ctype;
	char			*rq_body;
	size_t			 rq_len;
	int			 rq_idempotent;
	int			 rq_timeout;	/* seconds, this attempt */
	int			 rq_attempt;	/* attempts made */
	struct event		*rq_timer;	/* backoff */
	int			 rq_everr;	/* evhttp error, -1: none */
	unsigned long		 rq_sslerr;
	ecc_done_fn		 rq_cb;
	void			*rq_arg;
	struct ecc_reply	*rq_reply;	/* result */
	struct ecc_error	 rq_err;
};

TAILQ_HEAD(ecc_reqs, ecc_req);

struct ecc_dead {
	struct evhttp_connection	*d_conn;
	struct ecc_dead			*d_next;
};

struct ecc {
	struct event_base		*s_base;
	int				 s_ownbase;
	int				 s_tls;
	char				*s_host;	/* no brackets */
	int				 s_port;
	char				*s_hosthdr;	/* Host: value */
	char				*s_prefix;	/* "" or "/ecs" */
	char				*s_authid;
	char				*s_basic;	/* Authorization value */
	int				 s_insecure;
	int				 s_timeout;
	int				 s_retries;
	size_t				 s_max_body;
	SSL_CTX				*s_ctx;
	struct evhttp_connection	*s_conn;
	int				 s_conn_dead;
	unsigned int			 s_nconn;
	struct ecc_dead			*s_dead;	/* to free in kick_cb */
	struct ecc_reqs			 s_queue;
	struct ecc_reqs			 s_backoff;
	struct ecc_reqs			 s_done;
	struct ecc_req			*s_inflight;
	struct event			*s_kick;
};

static void	 kick(struct ecc *);
static void	 req_free(struct ecc_req *);
static void	 dispatch(struct ecc *);

void
ecc_err_set(struct ecc_error *err, enum ecs_err code, int status,
    enum ecc_net net, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL)
		return;
	err->ee_code = code;
	err->ee_status = status;
	err->ee_net = net;
	va_start(ap, fmt);
	vsnprintf(err->ee_text, sizeof(err->ee_text), fmt, ap);
	va_end(ap);
}

enum ecs_err
ecc_status_err(int status)
{
	if (status >= 200 && status < 300)
		return ECS_OK;
	switch (status) {
	case 304:
		return ECS_OK;
	case 401:
		return ECS_EAUTH;
	case 403:
		return ECS_EDENIED;
	case 404:
		return ECS_ENOTFOUND;
	case 406:
		return ECS_ENOTACCEPT;
	case 409:
		return ECS_ECONFLICT;
	case 413:
		return ECS_ETOOBIG;
	case 415:
		return ECS_EMEDIA;
	case 503:
		return ECS_EBUSY;
	}
	if (status >= 500)
		return ECS_ESTORE;
	return ECS_EINVAL;
}

/* Base64 of n bytes (RFC 4648, padded); caller frees. */
static char *
b64(const unsigned char *p, size_t n)
{
	static const char	 tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char			*out, *o;
	size_t			 i;
	unsigned int		 v;

	out = malloc((n + 2) / 3 * 4 + 1);
	if (out == NULL)
		return NULL;
	o = out;
	for (i = 0; i < n; i += 3) {
		v = (unsigned int)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned int)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* Split http[s]://host[:port][/prefix] into the session; 0 or -1. */
static int
url_parse(struct ecc *s, const char *url)
{
	const char	*p, *h, *he, *path;
	int64_t		 port;
	size_t		 hl;

	if (strncasecmp(url, "https://", 8) == 0) {
		s->s_tls = 1;
		p = url + 8;
		port = 443;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
		port = 80;
	} else
		return -1;
	path = p + strcspn(p, "/?#");
	if (*path == '?' || *path == '#')
		return -1;
	if (*p == '[') {
		h = p + 1;
		he = memchr(h, ']', (size_t)(path - h));
		if (he == NULL)
			return -1;
		p = he + 1;
	} else {
		h = p;
		he = memchr(h, ':', (size_t)(path - h));
		if (he == NULL)
			he = path;
		p = he;
	}
	if (p < path) {
		if (*p != ':' || util_parse_i64n(p + 1, (size_t)(path - p - 1),
		    1, 65535, &port) == -1)
			return -1;
	} else if (p != path)
		return -1;
	hl = (size_t)(he - h);
	if (hl == 0)
		return -1;
	s->s_host = strndup(h, hl);
	s->s_hosthdr = strndup(url + (s->s_tls ? 8 : 7),
	    (size_t)(path - url - (s->s_tls ? 8 : 7)));
	s->s_prefix = strdup(path);
	if (s->s_host == NULL || s->s_hosthdr == NULL || s->s_prefix == NULL)
		return -1;
	hl = strlen(s->s_prefix);
	while (hl > 0 && s->s_prefix[hl - 1] == '/')
		s->s_prefix[--hl] = '\0';
	s->s_port = (int)port;
	return 0;
}

/* The TLS context of an https session: verification, client certificate. */
static enum ecs_err
tls_setup(struct ecc *s, const struct ecc_params *p, struct ecc_error *err)
{
	char	 buf[256];

	s->s_ctx = SSL_CTX_new(TLS_client_method());
	if (s->s_ctx == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(s->s_ctx, TLS1_2_VERSION);
	if (p->ep_insecure)
		SSL_CTX_set_verify(s->s_ctx, SSL_VERIFY_NONE, NULL);
	else {
		SSL_CTX_set_verify(s->s_ctx, SSL_VERIFY_PEER, NULL);
		if (p->ep_ca != NULL) {
			if (SSL_CTX_load_verify_locations(s->s_ctx, p->ep_ca,
			    NULL) != 1)
				goto fail;
		} else if (SSL_CTX_set_default_verify_paths(s->s_ctx) != 1)
			goto fail;
	}
	if (p->ep_cert != NULL) {
		if (SSL_CTX_use_certificate_chain_file(s->s_ctx,
		    p->ep_cert) != 1)
			goto fail;
		if (SSL_CTX_use_PrivateKey_file(s->s_ctx, p->ep_key != NULL ?
		    p->ep_key : p->ep_cert, SSL_FILETYPE_PEM) != 1)
			goto fail;
		if (SSL_CTX_check_private_key(s->s_ctx) != 1)
			goto fail;
	}
	return ECS_OK;
fail:
	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	ERR_clear_error();
	ecc_err_set(err, ECS_EINVAL, 0, ECC_NET_TLS, "TLS setup: %s", buf);
	return ECS_EINVAL;
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ecc	*s = arg;
	struct ecc_dead	*d;
	struct ecc_req	*rq;
	struct ecc_reply *r;

	while ((d = s->s_dead) != NULL) {
		s->s_dead = d->d_next;
		evhttp_connection_free(d->d_conn);
		free(d);
	}
	while ((rq = TAILQ_FIRST(&s->s_done)) != NULL) {
		TAILQ_REMOVE(&s->s_done, rq, rq_entry);
		r = rq->rq_reply;
		rq->rq_reply = NULL;
		if (rq->rq_cb != NULL)
			rq->rq_cb(r, &rq->rq_err, rq->rq_arg);
		else
			ecc_reply_free(r);
		req_free(rq);
	}
	dispatch(s);
}

static void
req_free(struct ecc_req *rq)
{
	free(rq->rq_path);
	free(rq->rq_ctype);
	free(rq->rq_body);
	while (rq->rq_nhdr > 0)
		free(rq->rq_hdr[--rq->rq_nhdr]);
	free(rq->rq_hdr);
	if (rq->rq_timer != NULL)
		event_free(rq->rq_timer);
	ecc_reply_free(rq->rq_reply);
	free(rq);
}

/* Mark a connection closed by the server or by a failure. */
static void
conn_closed(struct evhttp_connection *conn, void *arg)
{
	struct ecc	*s = arg;

	if (conn == s->s_conn)
		s->s_conn_dead = 1;
}

/* Hand the current connection to kick_cb for freeing. */
static void
conn_retire(struct ecc *s)
{
	struct ecc_dead	*d;

	if (s->s_conn == NULL)
		return;
	d = malloc(sizeof(*d));
	if (d == NULL) {
		/* Rather leak one connection than free it inside evhttp. */
		s->s_conn = NULL;
		return;
	}
	d->d_conn = s->s_conn;
	d->d_next = s->s_dead;
	s->s_dead = d;
	s->s_conn = NULL;
	s->s_conn_dead = 0;
}

static int
is_ip_literal(const char *h)
{
	unsigned char	 a[16];

	return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

/* The live connection, a new one if there is none; NULL on failure. */
static struct evhttp_connection *
conn_get(struct ecc *s, struct ecc_error *err)
{
	struct bufferevent	*bev = NULL;
	SSL			*ssl = NULL;
	struct evhttp_connection *conn;
	char			 buf[256];

	if (s->s_conn != NULL && !s->s_conn_dead)
		return s->s_conn;
	conn_retire(s);
	if (s->s_tls) {
		ssl = SSL_new(s->s_ctx);
		if (ssl == NULL)
			goto tlsfail;
		if (!is_ip_literal(s->s_host) &&
		    SSL_set_tlsext_host_name(ssl, s->s_host) != 1)
			goto tlsfail;
		if (!s->s_insecure) {
			if (is_ip_literal(s->s_host)) {
				if (X509_VERIFY_PARAM_set1_ip_asc(
				    SSL_get0_param(ssl), s->s_host) != 1)
					goto tlsfail;
			} else if (SSL_set1_host(ssl, s->s_host) != 1)
				goto tlsfail;
		}
		bev = bufferevent_openssl_socket_new(s->s_base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (bev == NULL)
			goto tlsfail;
		ssl = NULL;	/* owned by bev now */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
		conn = evhttp_connection_base_bufferevent_new(s->s_base, NULL,
		    bev, s->s_host, (unsigned short)s->s_port);
	} else
		conn = evhttp_connection_base_new(s->s_base, NULL, s->s_host,
		    (unsigned short)s->s_port);
	if (conn == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		ecc_err_set(err, ECS_ENOMEM, 0, ECC_NET_CONNECT,
		    "cannot create a connection");
		return NULL;
	}
	evhttp_connection_set_closecb(conn, conn_closed, s);
	evhttp_connection_set_max_body_size(conn, (ev_ssize_t)s->s_max_body);
	evhttp_connection_set_max_headers_size(conn, ECC_MAX_HEADERS);
	evhttp_connection_set_retries(conn, 0);
	s->s_conn = conn;
	s->s_conn_dead = 0;
	s->s_nconn++;
	return conn;
tlsfail:
	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	ERR_clear_error();
	SSL_free(ssl);
	ecc_err_set(err, ECS_EBUSY, 0, ECC_NET_TLS, "TLS: %s", buf);
	return NULL;
}

static char *
hdr_dup(struct evkeyvalq *h, const char *name)
{
	const char	*v;

	v = evhttp_find_header(h, name);
	return v != NULL ? strdup(v) : NULL;
}

/* Copy evhttp's answer into a reply; NULL when out of memory. */
static struct ecc_reply *
reply_new(struct evhttp_request *ev)
{
	struct ecc_reply	*r;
	struct evkeyvalq	*h;
	struct evbuffer		*in;
	const char		*p;
	size_t			 n;
	int64_t			 id;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->r_status = evhttp_request_get_response_code(ev);
	h = evhttp_request_get_input_headers(ev);
	in = evhttp_request_get_input_buffer(ev);
	n = in != NULL ? evbuffer_get_length(in) : 0;
	r->r_body = malloc(n + 1);
	if (r->r_body == NULL)
		goto fail;
	if (n > 0)
		evbuffer_remove(in, r->r_body, n);
	r->r_body[n] = '\0';
	r->r_len = n;
	r->r_ctype = hdr_dup(h, "Content-Type");
	r->r_location = hdr_dup(h, "Location");
	r->r_sender = hdr_dup(h, "X-EcsSender");
	r->r_communities = hdr_dup(h, "X-EcsReceiverCommunities");
	r->r_etag = hdr_dup(h, "ETag");
	if (r->r_location != NULL) {
		p = strrchr(r->r_location, '/');
		if (p != NULL && util_parse_i64(p + 1, 1, INT64_MAX, &id) == 0)
			r->r_id = id;
	}
	return r;
fail:
	ecc_reply_free(r);
	return NULL;
}

static void
req_finish(struct ecc_req *rq)
{
	struct ecc	*s = rq->rq_s;

	TAILQ_INSERT_TAIL(&s->s_done, rq, rq_entry);
	kick(s);
}

static void
backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ecc_req	*rq = arg;
	struct ecc	*s = rq->rq_s;

	TAILQ_REMOVE(&s->s_backoff, rq, rq_entry);
	TAILQ_INSERT_HEAD(&s->s_queue, rq, rq_entry);
	kick(s);
}

/* Try again later if the call allows it; 1 if parked, 0 if not. */
static int
req_retry(struct ecc_req *rq)
{
	struct ecc	*s = rq->rq_s;
	struct timeval	 tv;
	long		 ms;

	if (!rq->rq_idempotent || rq->rq_attempt > s->s_retries)
		return 0;
	if (rq->rq_timer == NULL) {
		rq->rq_timer = evtimer_new(s->s_base, backoff_cb, rq);
		if (rq->rq_timer == NULL)
			return 0;
	}
	ms = (long)ECC_BACKOFF_MS << (rq->rq_attempt - 1);
	if (ms > ECC_BACKOFF_MAX_MS)
		ms = ECC_BACKOFF_MAX_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (evtimer_add(rq->rq_timer, &tv) == -1)
		return 0;
	TAILQ_INSERT_TAIL(&s->s_backoff, rq, rq_entry);
	return 1;
}

static void
req_error(enum evhttp_request_error e, void *arg)
{
	struct ecc_req		*rq = arg;
	struct ecc		*s = rq->rq_s;
	struct bufferevent	*bev;

	rq->rq_everr = (int)e;
	if (s->s_tls && s->s_conn != NULL) {
		bev = evhttp_connection_get_bufferevent(s->s_conn);
		if (bev != NULL)
			rq->rq_sslerr = bufferevent_get_openssl_error(bev);
	}
}

/* evhttp's completion of the call in flight. */
static void
req_done(struct evhttp_request *ev, void *arg)
{
	struct ecc_req		*rq = arg;
	struct ecc		*s = rq->rq_s;
	struct ecc_reply	*r;
	enum ecc_net		 net;
	const char		*what;
	char			 buf[256];
	size_t			 n;

	s->s_inflight = NULL;
	if (ev == NULL || evhttp_request_get_response_code(ev) == 0) {
		s->s_conn_dead = 1;
		switch (rq->rq_everr) {
		case EVREQ_HTTP_TIMEOUT:
			net = ECC_NET_TIMEOUT;
			what = "no answer in time";
			break;
		case EVREQ_HTTP_INVALID_HEADER:
		case EVREQ_HTTP_DATA_TOO_LONG:
			net = ECC_NET_PROTO;
			what = "malformed or oversized answer";
			break;
		default:
			net = ECC_NET_CONNECT;
			what = "connection failed or closed";
			break;
		}
		if (rq->rq_sslerr != 0) {
			ERR_error_string_n(rq->rq_sslerr, buf, sizeof(buf));
			ecc_err_set(&rq->rq_err, ECS_EBUSY, 0, ECC_NET_TLS,
			    "%s:%d: TLS: %s", s->s_host, s->s_port, buf);
		} else
			ecc_err_set(&rq->rq_err, ECS_EBUSY, 0, net,
			    "%s:%d: %s", s->s_host, s->s_port, what);
		rq->rq_everr = -1;
		rq->rq_sslerr = 0;
		if (!req_retry(rq))
			req_finish(rq);
		kick(s);
		return;
	}
	r = reply_new(ev);
	if (r == NULL) {
		ecc_err_set(&rq->rq_err, ECS_ENOMEM, 0, ECC_NET_OK,
		    "out of memory");
		req_finish(rq);
		return;
	}
	if (r->r_status == 503 && req_retry(rq)) {
		ecc_reply_free(r);
		kick(s);
		return;
	}
	rq->rq_err.ee_code = ecc_status_err(r->r_status);
	rq->rq_err.ee_status = r->r_status;
	rq->rq_err.ee_net = ECC_NET_OK;
	rq->rq_err.ee_text[0] = '\0';
	if (rq->rq_err.ee_code != ECS_OK) {
		/* The server's one-line text, without its final CR/LF. */
		n = r->r_len;
		while (n > 0 && (r->r_body[n - 1] == '\n' ||
		    r->r_body[n - 1] == '\r'))
			n--;
		if (n >= sizeof(rq->rq_err.ee_text))
			n = sizeof(rq->rq_err.ee_text) - 1;
		memcpy(rq->rq_err.ee_text, r->r_body, n);
		rq->rq_err.ee_text[n] = '\0';
		if (n == 0)
			snprintf(rq->rq_err.ee_text,
			    sizeof(rq->rq_err.ee_text), "HTTP status %d",
			    r->r_status);
	}
	rq->rq_reply = r;
	req_finish(rq);
}

/* Send rq on the live connection; 0, or -1 with rq_err set. */
static int
req_send(struct ecc *s, struct ecc_req *rq)
{
	struct evhttp_connection	*conn;
	struct evhttp_request		*ev;
	struct evkeyvalq		*h;
	size_t				 i;

	conn = conn_get(s, &rq->rq_err);
	if (conn == NULL)
		return -1;
	ev = evhttp_request_new(req_done, rq);
	if (ev == NULL)
		goto nomem;
	evhttp_request_set_error_cb(ev, req_error);
	h = evhttp_request_get_output_headers(ev);
	if (evhttp_add_header(h, "Host", s->s_hosthdr) == -1)
		goto fail;
	if (s->s_authid != NULL &&
	    evhttp_add_header(h, "X-EcsAuthId", s->s_authid) == -1)
		goto fail;
	if (s->s_basic != NULL &&
	    evhttp_add_header(h, "Authorization", s->s_basic) == -1)
		goto fail;
	for (i = 0; i + 1 < rq->rq_nhdr; i += 2)
		if (evhttp_add_header(h, rq->rq_hdr[i], rq->rq_hdr[i + 1]) == -1)
			goto fail;
	if (rq->rq_ctype != NULL &&
	    evhttp_add_header(h, "Content-Type", rq->rq_ctype) == -1)
		goto fail;
	if (rq->rq_len > 0 && evbuffer_add(evhttp_request_get_output_buffer(ev),
	    rq->rq_body, rq->rq_len) == -1)
		goto fail;
	evhttp_connection_set_timeout(conn, s->s_timeout + rq->rq_timeout);
	rq->rq_attempt++;
	rq->rq_everr = -1;
	rq->rq_sslerr = 0;
	s->s_inflight = rq;
	if (evhttp_make_request(conn, ev, rq->rq_cmd, rq->rq_path) == -1) {
		/*
		 * evhttp keeps or frees the request depending on where it
		 * failed; leaving it alone is the safe choice.
		 */
		s->s_inflight = NULL;
		s->s_conn_dead = 1;
		ecc_err_set(&rq->rq_err, ECS_EBUSY, 0, ECC_NET_CONNECT,
		    "%s:%d: cannot connect", s->s_host, s->s_port);
		return -1;
	}
	return 0;
fail:
	evhttp_request_free(ev);
nomem:
	ecc_err_set(&rq->rq_err, ECS_ENOMEM, 0, ECC_NET_OK, "out of memory");
	return -1;
}

/* Send what is queued while nothing is in flight. */
static void
dispatch(struct ecc *s)
{
	struct ecc_req	*rq;

	while (s->s_inflight == NULL &&
	    (rq = TAILQ_FIRST(&s->s_queue)) != NULL) {
		TAILQ_REMOVE(&s->s_queue, rq, rq_entry);
		if (req_send(s, rq) == -1) {
			if (rq->rq_err.ee_code == ECS_ENOMEM || !req_retry(rq))
				TAILQ_INSERT_TAIL(&s->s_done, rq, rq_entry);
		}
	}
	if (!TAILQ_EMPTY(&s->s_done))
		kick(s);
}

/*
 * Schedule kick_cb.  Called from within evhttp callbacks; kick_cb frees
 * retired connections, delivers results, then dispatches.
 */
static void
kick(struct ecc *s)
{
	event_active(s->s_kick, EV_TIMEOUT, 0);
}

enum ecs_err
ecc_open(struct ecc **sp, const struct ecc_params *p, struct event_base *base,
    struct ecc_error *err)
{
	struct ecc	*s;
	char		*up = NULL, *enc;
	size_t		 ul, pl;
	enum ecs_err	 rc;

	if (p == NULL || p->ep_url == NULL) {
		ecc_err_set(err, ECS_EINVAL, 0, ECC_NET_OK, "no URL");
		return ECS_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto nomem;
	TAILQ_INIT(&s->s_queue);
	TAILQ_INIT(&s->s_backoff);
	TAILQ_INIT(&s->s_done);
	if (url_parse(s, p->ep_url) == -1) {
		ecc_close(s);
		ecc_err_set(err, ECS_EINVAL, 0, ECC_NET_OK,
		    "bad URL (want http[s]://host[:port][/prefix])");
		return ECS_EINVAL;
	}
	s->s_insecure = p->ep_insecure;
	s->s_timeout = p->ep_timeout > 0 ? p->ep_timeout : ECC_DEFAULT_TIMEOUT;
	s->s_retries = p->ep_retries >= 0 ? p->ep_retries :
	    ECC_DEFAULT_RETRIES;
	s->s_max_body = p->ep_max_body > 0 ? p->ep_max_body :
	    ECC_DEFAULT_MAX_BODY;
	if (p->ep_auth_id != NULL) {
		s->s_authid = strdup(p->ep_auth_id);
		if (s->s_authid == NULL)
			goto nomem;
	}
	if (p->ep_user != NULL) {
		ul = strlen(p->ep_user);
		pl = p->ep_password != NULL ? strlen(p->ep_password) : 0;
		if (memchr(p->ep_user, ':', ul) != NULL) {
			ecc_close(s);
			ecc_err_set(err, ECS_EINVAL, 0, ECC_NET_OK,
			    "a user name must not contain ':'");
			return ECS_EINVAL;
		}
		up = malloc(ul + pl + 2);
		if (up == NULL)
			goto nomem;
		memcpy(up, p->ep_user, ul);
		up[ul] = ':';
		if (pl > 0)
			memcpy(up + ul + 1, p->ep_password, pl);
		up[ul + pl + 1] = '\0';
		enc = b64((unsigned char *)up, ul + pl + 1);
		if (enc == NULL)
			goto nomem;
		s->s_basic = malloc(strlen(enc) + 7);
		if (s->s_basic != NULL) {
			memcpy(s->s_basic, "Basic ", 6);
			memcpy(s->s_basic + 6, enc, strlen(enc) + 1);
		}
		explicit_bzero(enc, strlen(enc));
		free(enc);
		if (s->s_basic == NULL)
			goto nomem;
		explicit_bzero(up, ul + pl + 1);
		free(up);
		up = NULL;
	}
	if (s->s_tls) {
		rc = tls_setup(s, p, err);
		if (rc != ECS_OK) {
			ecc_close(s);
			return rc;
		}
	}
	if (base == NULL) {
		base = event_base_new();
		if (base == NULL)
			goto nomem;
		s->s_ownbase = 1;
	}
	s->s_base = base;
	s->s_kick = event_new(base, -1, 0, kick_cb, s);
	if (s->s_kick == NULL)
		goto nomem;
	*sp = s;
	if (err != NULL)
		ecc_err_set(err, ECS_OK, 0, ECC_NET_OK, "%s", "");
	return ECS_OK;
nomem:
	if (up != NULL) {
		explicit_bzero(up, strlen(up));
		free(up);
	}
	ecc_close(s);
	ecc_err_set(err, ECS_ENOMEM, 0, ECC_NET_OK, "out of memory");
	return ECS_ENOMEM;
}

void
ecc_close(struct ecc *s)
{
	struct ecc_dead	*d;
	struct ecc_req	*rq;

	if (s == NULL)
		return;
	if (s->s_conn != NULL) {
		evhttp_connection_free(s->s_conn);
		s->s_conn = NULL;
	}
	while ((d = s->s_dead) != NULL) {
		s->s_dead = d->d_next;
		evhttp_connection_free(d->d_conn);
		free(d);
	}
	if (s->s_inflight != NULL)
		req_free(s->s_inflight);
	while ((rq = TAILQ_FIRST(&s->s_queue)) != NULL) {
		TAILQ_REMOVE(&s->s_queue, rq, rq_entry);
		req_free(rq);
	}
	while ((rq = TAILQ_FIRST(&s->s_backoff)) != NULL) {
		TAILQ_REMOVE(&s->s_backoff, rq, rq_entry);
		req_free(rq);
	}
	while ((rq = TAILQ_FIRST(&s->s_done)) != NULL) {
		TAILQ_REMOVE(&s->s_done, rq, rq_entry);
		req_free(rq);
	}
	if (s->s_kick != NULL)
		event_free(s->s_kick);
	SSL_CTX_free(s->s_ctx);
	if (s->s_basic != NULL) {
		explicit_bzero(s->s_basic, strlen(s->s_basic));
		free(s->s_basic);
	}
	free(s->s_authid);
	free(s->s_host);
	free(s->s_hosthdr);
	free(s->s_prefix);
	if (s->s_ownbase && s->s_base != NULL)
		event_base_free(s->s_base);
	free(s);
}

unsigned int
ecc_connections(const struct ecc *s)
{
	return s->s_nconn;
}

struct event_base *
ecc_base(const struct ecc *s)
{
	return s->s_base;
}

static int
method_cmd(const char *m, enum evhttp_cmd_type *cmd)
{
	static const struct {
		const char		*name;
		enum evhttp_cmd_type	 cmd;
	} tab[] = {
		{ "GET", EVHTTP_REQ_GET },
		{ "POST", EVHTTP_REQ_POST },
		{ "PUT", EVHTTP_REQ_PUT },
		{ "DELETE", EVHTTP_REQ_DELETE },
		{ "HEAD", EVHTTP_REQ_HEAD },
	};
	size_t	 i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(m, tab[i].name) == 0) {
			*cmd = tab[i].cmd;
			return 0;
		}
	return -1;
}

/* A header name or value must not smuggle in a line break. */
static int
hdr_ok(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") == NULL;
}

enum ecs_err
ecc_call_async(struct ecc *s, const struct ecc_request *q, ecc_done_fn cb,
    void *arg)
{
	struct ecc_req	*rq;
	size_t		 i, pl;

	if (cb == NULL || q == NULL || q->er_method == NULL ||
	    q->er_path == NULL ||
	    q->er_path[0] != '/' || !hdr_ok(q->er_path) ||
	    strchr(q->er_path, ' ') != NULL ||
	    (q->er_ctype != NULL && !hdr_ok(q->er_ctype)) ||
	    (q->er_len > 0 && q->er_body == NULL))
		return ECS_EINVAL;
	for (i = 0; i < q->er_nheaders; i++)
		if (!hdr_ok(q->er_headers[i].eh_name) ||
		    !hdr_ok(q->er_headers[i].eh_value))
			return ECS_EINVAL;
	rq = calloc(1, sizeof(*rq));
	if (rq == NULL)
		return ECS_ENOMEM;
	rq->rq_s = s;
	rq->rq_cb = cb;
	rq->rq_arg = arg;
	rq->rq_idempotent = q->er_idempotent;
	rq->rq_timeout = q->er_timeout > 0 ? q->er_timeout : 0;
	rq->rq_everr = -1;
	if (method_cmd(q->er_method, &rq->rq_cmd) == -1) {
		free(rq);
		return ECS_EINVAL;
	}
	pl = strlen(s->s_prefix);
	rq->rq_path = malloc(pl + strlen(q->er_path) + 1);
	if (rq->rq_path == NULL)
		goto nomem;
	memcpy(rq->rq_path, s->s_prefix, pl);
	strcpy(rq->rq_path + pl, q->er_path);
	if (q->er_ctype != NULL) {
		rq->rq_ctype = strdup(q->er_ctype);
		if (rq->rq_ctype == NULL)
			goto nomem;
	}
	if (q->er_len > 0) {
		rq->rq_body = malloc(q->er_len);
		if (rq->rq_body == NULL)
			goto nomem;
		memcpy(rq->rq_body, q->er_body, q->er_len);
		rq->rq_len = q->er_len;
	}
	if (q->er_nheaders > 0) {
		rq->rq_hdr = calloc(q->er_nheaders * 2, sizeof(char *));
		if (rq->rq_hdr == NULL)
			goto nomem;
		for (i = 0; i < q->er_nheaders; i++) {
			rq->rq_hdr[rq->rq_nhdr] =
			    strdup(q->er_headers[i].eh_name);
			if (rq->rq_hdr[rq->rq_nhdr] == NULL)
				goto nomem;
			rq->rq_nhdr++;
			rq->rq_hdr[rq->rq_nhdr] =
			    strdup(q->er_headers[i].eh_value);
			if (rq->rq_hdr[rq->rq_nhdr] == NULL)
				goto nomem;
			rq->rq_nhdr++;
		}
	}
	TAILQ_INSERT_TAIL(&s->s_queue, rq, rq_entry);
	kick(s);
	return ECS_OK;
nomem:
	req_free(rq);
	return ECS_ENOMEM;
}
