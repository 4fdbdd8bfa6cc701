/*
 * ecc-test: exercises the ECC client API against a running ecsd that holds
 * the fixture of ecs-protocol.md (tests/blackbox/lib/Ecsd.pm fixture_spec).
 * Prints one "ok - name" or "not ok - name # detail" line per check;
 * tests/blackbox/ecc.t turns them into TAP.  Exit status 0 if all passed.
 *
 * usage: ecc-test URL [admin-password]
 *        ecc-test --tls https-URL ca.crt client.crt client.key
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <ecs/ecc.h>

#define RES	"numlab/exercises"
#define P1	"my_secret_identity"
#define P2	"ulama"
#define P3	"sunito"

static int	 failures;
static int	 checks;

static void __attribute__((format(printf, 2, 3)))
check(int ok, const char *fmt, ...)
{
	va_list	 ap;

	checks++;
	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		failures++;
	fflush(stdout);
}

static void
detail(const struct ecc_error *err)
{
	printf("# code %d status %d net %d: %s\n", (int)err->ee_code,
	    err->ee_status, (int)err->ee_net, err->ee_text);
}

static struct ecc *
session(const char *url, const char *authid, int timeout, int retries)
{
	struct ecc_params	 p;
	struct ecc_error	 err;
	struct ecc		*s = NULL;

	memset(&p, 0, sizeof(p));
	p.ep_url = url;
	p.ep_auth_id = authid;
	p.ep_timeout = timeout;
	p.ep_retries = retries;
	if (ecc_open(&s, &p, NULL, &err) != ECS_OK) {
		detail(&err);
		printf("Bail out! ecc_open %s\n", url);
		exit(1);
	}
	return s;
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
has_id(const struct ecc_list *l, int64_t id)
{
	size_t	 i;

	for (i = 0; i < l->l_n; i++)
		if (l->l_ids[i] == id)
			return 1;
	return 0;
}

/* A loopback port: listening without answering (listen 1) or closed. */
static int
loopback_port(int listening, int *fdp)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1 ||
	    (listening && listen(fd, 8) == -1)) {
		printf("Bail out! loopback socket\n");
		exit(1);
	}
	port = ntohs(sin.sin_port);
	if (listening)
		*fdp = fd;
	else
		close(fd);
	return port;
}

struct async_state {
	int	 as_pending;
	int	 as_ok;
	int	 as_order_ok;
	int	 as_next;
};

static void
async_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct async_state	*as = arg;

	as->as_pending--;
	if (err->ee_code == ECS_OK && r != NULL && r->r_status == 200)
		as->as_ok++;
	ecc_reply_free(r);
}

static void
test_messages(const char *url)
{
	struct ecc		*s1, *s2, *s3, *bad;
	struct ecc_memberships	*ms = NULL;
	struct ecc_reply	*r = NULL;
	struct ecc_list		*l = NULL;
	struct ecc_events	*evs = NULL;
	struct ecc_token	*t = NULL, *t2 = NULL;
	struct ecc_error	 err;
	struct ecc_addr		 to;
	char			 mid[32], text[256];
	const char		*b1 = "{\"n\":1}", *b1u = "{\"n\":11}";
	const char		*b2 = "zwei";
	int64_t			 id1 = 0, id2 = 0, id3 = 0, p2mid = 0;
	size_t			 i, k;
	int			 rc, ok, itsyou = 0;

	s1 = session(url, P1, 10, -1);
	s2 = session(url, P2, 10, -1);
	s3 = session(url, P3, 10, -1);
	bad = session(url, "nobody", 10, -1);

	/* memberships, parsed */
	rc = ecc_memberships(s1, &ms, &err);
	check(rc == ECS_OK && ms != NULL && ms->ms_n == 3,
	    "memberships: P1 is in three communities");
	if (rc != ECS_OK) {
		detail(&err);
		printf("Bail out! no memberships\n");
		exit(1);
	}
	for (i = 0; i < ms->ms_n; i++)
		for (k = 0; k < ms->ms_c[i].co_n; k++) {
			if (ms->ms_c[i].co_members[k].mb_itsyou)
				itsyou++;
			if (strcmp(ms->ms_c[i].co_name, "WUV") == 0 &&
			    strcmp(ms->ms_c[i].co_members[k].mb_name,
			    "Ilias Uni Ulm") == 0)
				p2mid = ms->ms_c[i].co_members[k].mb_mid;
		}
	check(itsyou == 3, "memberships: itsyou once per community");
	check(p2mid > 0, "memberships: P2's mid in WUV found (%" PRId64 ")",
	    p2mid);
	ok = 0;
	for (i = 0; i < ms->ms_n; i++)
		if (strcmp(ms->ms_c[i].co_name, "SUV") == 0 &&
		    ms->ms_c[i].co_cid > 0 && ms->ms_c[i].co_description &&
		    ms->ms_c[i].co_n == 2 && ms->ms_c[i].co_members[0].mb_org &&
		    ms->ms_c[i].co_members[0].mb_abbr &&
		    ms->ms_c[i].co_members[0].mb_pid > 0)
			ok = 1;
	check(ok, "memberships: community and member fields parsed");
	ecc_memberships_free(ms);
	snprintf(mid, sizeof(mid), "%" PRId64, p2mid);

	/* post by membership and by community */
	to.ea_mids = mid;
	to.ea_communities = NULL;
	rc = ecc_post(s1, RES, &to, "application/json", b1, strlen(b1), &id1,
	    &err);
	check(rc == ECS_OK && id1 > 0, "post to a mid returns the new id");
	to.ea_mids = NULL;
	to.ea_communities = "SUV";
	rc = ecc_post(s1, "/" RES, &to, "text/plain", b2, strlen(b2), &id2,
	    &err);
	check(rc == ECS_OK && id2 > id1, "post to a community returns the id");
	rc = ecc_post(s1, RES, NULL, "text/plain", b2, strlen(b2), &id3, &err);
	check(rc == ECS_EINVAL && err.ee_status == 0,
	    "post without receivers is refused locally");
	rc = ecc_post(s1, "numlab", &to, "text/plain", b2, 4, &id3, &err);
	check(rc == ECS_EINVAL, "a bad resource name is refused locally");

	/* get */
	rc = ecc_get(s2, RES, id1, &r, &err);
	check(rc == ECS_OK && r->r_len == strlen(b1) &&
	    memcmp(r->r_body, b1, r->r_len) == 0 &&
	    strncmp(r->r_ctype, "application/json", 16) == 0 &&
	    r->r_sender != NULL && r->r_communities != NULL &&
	    r->r_etag != NULL, "get as receiver: body, type, X-EcsSender");
	ecc_reply_free(r);
	r = NULL;
	rc = ecc_get(s1, RES, id1, &r, &err);
	check(rc == ECS_OK && r->r_sender == NULL,
	    "get as sender: no receiver headers");
	ecc_reply_free(r);
	r = NULL;

	/* update */
	to.ea_mids = mid;
	to.ea_communities = NULL;
	rc = ecc_update(s1, RES, id1, &to, "application/json", b1u,
	    strlen(b1u), &err);
	check(rc == ECS_OK, "update as sender");
	rc = ecc_get(s2, RES, id1, &r, &err);
	check(rc == ECS_OK && r->r_len == strlen(b1u) &&
	    memcmp(r->r_body, b1u, r->r_len) == 0, "get shows the update");
	ecc_reply_free(r);
	r = NULL;
	rc = ecc_update(s2, RES, id1, &to, "text/plain", "x", 1, &err);
	check(rc == ECS_EDENIED && err.ee_status == 403 &&
	    strcmp(err.ee_text,
	    "You are not the original sender of the message.") == 0,
	    "update by a receiver: 403 with the server's text");

	/* list */
	rc = ecc_list(s2, RES, ECC_RECEIVED, &l, &err);
	check(rc == ECS_OK && has_id(l, id1) && has_id(l, id2),
	    "list received");
	ecc_list_free(l);
	l = NULL;
	rc = ecc_list(s1, RES, ECC_SENT, &l, &err);
	check(rc == ECS_OK && has_id(l, id1) && has_id(l, id2),
	    "list sent");
	ecc_list_free(l);
	l = NULL;
	rc = ecc_list(s1, RES, ECC_RECEIVED, &l, &err);
	check(rc == ECS_OK && l->l_n == 0, "list received by the sender: "
	    "empty");
	ecc_list_free(l);
	l = NULL;
	rc = ecc_list(s1, RES, ECC_ALL, &l, &err);
	check(rc == ECS_OK && l->l_n == 2, "list all");
	ecc_list_free(l);
	l = NULL;

	/* details */
	rc = ecc_details(s2, RES, id1, ECC_RECEIVED, &r, &err);
	check(rc == ECS_OK && strstr(r->r_body, "\"receivers\"") != NULL,
	    "details of one message");
	ecc_reply_free(r);
	r = NULL;
	rc = ecc_details(s1, RES, 0, ECC_SENT, &r, &err);
	check(rc == ECS_OK && r->r_len > 0 && r->r_body[0] == '[',
	    "details of the sent messages");
	ecc_reply_free(r);
	r = NULL;

	/* events: peek one, all, with wait */
	rc = ecc_events(s2, 0, 1, 0, &evs, &err);
	check(rc == ECS_OK && evs->evs_n == 1 &&
	    strcmp(evs->evs_ev[0].ev_status, "created") == 0 &&
	    evs->evs_ev[0].ev_id == id1, "events: peek the first");
	ecc_events_free(evs);
	evs = NULL;
	rc = ecc_events(s2, 0, -1, 0, &evs, &err);
	check(rc == ECS_OK && evs->evs_n >= 2, "events: peek all (%zu)",
	    rc == ECS_OK ? evs->evs_n : 0);
	ecc_events_free(evs);
	evs = NULL;
	rc = ecc_events(s2, 0, 1, 1, &evs, &err);
	check(rc == ECS_OK && evs->evs_n == 1, "events: peek with wait");
	ecc_events_free(evs);
	evs = NULL;

	/* queues */
	rc = ecc_queue(s2, RES, ECC_FIFO, 0, &r, &err);
	check(rc == ECS_OK && r != NULL && r->r_len == strlen(b1u) &&
	    memcmp(r->r_body, b1u, r->r_len) == 0, "fifo peek: the oldest");
	ecc_reply_free(r);
	r = NULL;
	rc = ecc_queue(s2, RES, ECC_LIFO, 0, &r, &err);
	check(rc == ECS_OK && r != NULL && r->r_len == strlen(b2) &&
	    memcmp(r->r_body, b2, r->r_len) == 0, "lifo peek: the newest");
	ecc_reply_free(r);
	r = NULL;
	rc = ecc_queue(s2, RES, ECC_FIFO, 1, &r, &err);
	check(rc == ECS_OK && r != NULL && r->r_len == strlen(b1u),
	    "fifo pop");
	ecc_reply_free(r);
	r = NULL;
	rc = ecc_queue(s2, RES, ECC_LIFO, 1, &r, &err);
	check(rc == ECS_OK && r != NULL && r->r_len == strlen(b2),
	    "lifo pop");
	ecc_reply_free(r);
	r = (struct ecc_reply *)&err;	/* must be overwritten with NULL */
	rc = ecc_queue(s2, RES, ECC_FIFO, 1, &r, &err);
	check(rc == ECS_OK && r == NULL, "pop on an empty queue: NULL");
	r = NULL;

	/* events: pop */
	rc = ecc_events(s2, 1, -1, 0, &evs, &err);
	check(rc == ECS_OK && evs->evs_n >= 2, "events: pop all");
	ecc_events_free(evs);
	evs = NULL;
	rc = ecc_events(s2, 0, -1, 0, &evs, &err);
	check(rc == ECS_OK && evs->evs_n == 0, "events: none left");
	ecc_events_free(evs);
	evs = NULL;

	/* delete as sender, then 404 */
	rc = ecc_post(s1, RES, &to, "text/plain", b2, strlen(b2), &id3, &err);
	check(rc == ECS_OK, "post a third message");
	rc = ecc_delete(s3, RES, id3, NULL, &err);
	snprintf(text, sizeof(text), "you are not a receiver of \"%s/%" PRId64
	    "\"", RES, id3);
	check(rc == ECS_ENOTFOUND && err.ee_status == 404 &&
	    strcmp(err.ee_text, text) == 0,
	    "delete by an outsider: 404 with the server's text");
	if (rc != ECS_ENOTFOUND)
		detail(&err);
	rc = ecc_get(s3, RES, id3, NULL, &err);
	check(rc == ECS_EDENIED && err.ee_status == 403 && strcmp(err.ee_text,
	    "You are not allowed to access this resource, because you are "
	    "not the original sender or a receiver.") == 0,
	    "get by an outsider: 403 with the server's text");
	rc = ecc_delete(s1, RES, id3, &r, &err);
	check(rc == ECS_OK && r != NULL && r->r_len == strlen(b2),
	    "delete as sender returns the message");
	ecc_reply_free(r);
	r = NULL;
	rc = ecc_get(s1, RES, id3, &r, &err);
	check(rc == ECS_ENOTFOUND && err.ee_status == 404 &&
	    strcmp(err.ee_text, "Invalid resource id") == 0 && r == NULL,
	    "get after delete: 404 Invalid resource id");
	rc = ecc_get(bad, RES, id1, NULL, &err);
	check(rc == ECS_EAUTH && err.ee_status == 401 && strcmp(err.ee_text,
	    "No \"X-EcsAuthId: nobody\" identity found") == 0,
	    "unknown identity: 401 with the server's text");

	/* one-touch tokens */
	rc = ecc_token_create(s1, &to, "https://lms.example.org/c/1", "r1",
	    &t, &err);
	check(rc == ECS_OK && t->tk_hash != NULL && strlen(t->tk_hash) == 40 &&
	    t->tk_id > 0 && t->tk_url != NULL && t->tk_realm != NULL &&
	    t->tk_sov != NULL && t->tk_eov != NULL && t->tk_pid > 0,
	    "token create: hash, id, window");
	if (rc != ECS_OK) {
		detail(&err);
		printf("Bail out! no token\n");
		exit(1);
	}
	rc = ecc_token_fetch(s2, t->tk_hash, &t2, &err);
	check(rc == ECS_OK && strcmp(t2->tk_hash, t->tk_hash) == 0 &&
	    strcmp(t2->tk_url, "https://lms.example.org/c/1") == 0,
	    "token fetch by hash");
	ecc_token_free(t2);
	t2 = NULL;
	rc = ecc_token_consume(s2, t->tk_hash, &t2, &err);
	check(rc == ECS_OK && strcmp(t2->tk_hash, t->tk_hash) == 0,
	    "token consume");
	ecc_token_free(t2);
	t2 = NULL;
	rc = ecc_token_consume(s2, t->tk_hash, &t2, &err);
	check(rc == ECS_ENOTFOUND && err.ee_status == 404 &&
	    strcmp(err.ee_text, "Invalid auths hash") == 0 && t2 == NULL,
	    "token consumed twice: 404 Invalid auths hash");
	ecc_token_free(t);
	rc = ecc_token_create(s1, &to, NULL, NULL, &t, &err);
	check(rc == ECS_EINVAL && err.ee_status == 0,
	    "token without url or realm is refused locally");
	rc = ecc_token_fetch(s2, "../etc", &t, &err);
	check(rc == ECS_EINVAL, "a bad hash is refused locally");

	/* keep-alive: one connection for all of the above and 50 more */
	for (i = 0, ok = 1; i < 50; i++)
		if (ecc_list(s1, RES, ECC_SENT, &l, &err) == ECS_OK)
			ecc_list_free(l);
		else
			ok = 0;
	l = NULL;
	check(ok, "50 more calls succeed");
	check(ecc_connections(s1) == 1,
	    "keep-alive: one connection for every call of a session (%u)",
	    ecc_connections(s1));
	check(ecc_connections(s2) == 1, "keep-alive: receiver session too");

	ecc_close(s1);
	ecc_close(s2);
	ecc_close(s3);
	ecc_close(bad);
}

static void
test_transport(const char *url, const char *adminpw)
{
	struct ecc		*s;
	struct ecc_params	 p;
	struct ecc_error	 err;
	struct ecc_reply	*r = NULL;
	struct ecc_request	 q;
	struct ecc_header	 h;
	struct event_base	*base;
	struct async_state	 as;
	char			 u[128];
	double			 t0;
	int			 i, rc, port, lfd = -1;
	int64_t			 id;

	/* bad URLs */
	memset(&p, 0, sizeof(p));
	s = NULL;
	p.ep_url = "ftp://x";
	check(ecc_open(&s, &p, NULL, &err) == ECS_EINVAL && s == NULL,
	    "ecc_open refuses a non-http URL");
	p.ep_url = "http://[::1";
	check(ecc_open(&s, &p, NULL, &err) == ECS_EINVAL,
	    "ecc_open refuses a broken host");
	p.ep_url = "http://h:99999/";
	check(ecc_open(&s, &p, NULL, &err) == ECS_EINVAL,
	    "ecc_open refuses a bad port");
	p.ep_url = "https://localhost/";
	p.ep_cert = "/nonexistent.pem";
	check(ecc_open(&s, &p, NULL, &err) == ECS_EINVAL &&
	    err.ee_net == ECC_NET_TLS, "ecc_open reports a missing client "
	    "certificate");
	p.ep_cert = NULL;
	rc = ecc_open(&s, &p, NULL, &err);
	check(rc == ECS_OK, "an https session opens (TLS context)");
	ecc_close(s);

	/* Connection: close from the server means a new connection */
	s = session(url, P1, 10, -1);
	memset(&q, 0, sizeof(q));
	h.eh_name = "Connection";
	h.eh_value = "close";
	q.er_method = "GET";
	q.er_path = "/sys/events";
	q.er_headers = &h;
	q.er_nheaders = 1;
	q.er_idempotent = 1;
	rc = ecc_call(s, &q, &r, &err);
	check(rc == ECS_OK && r->r_status == 200, "generic call");
	ecc_reply_free(r);
	r = NULL;
	q.er_nheaders = 0;
	rc = ecc_call(s, &q, &r, &err);
	check(rc == ECS_OK && ecc_connections(s) == 2,
	    "a closed connection is replaced (%u)", ecc_connections(s));
	ecc_reply_free(r);
	r = NULL;
	q.er_path = "no-slash";
	check(ecc_call(s, &q, &r, &err) == ECS_EINVAL,
	    "generic call: a path must start with /");
	q.er_path = "/sys/events";
	h.eh_name = "X-Evil";
	h.eh_value = "a\r\nX-EcsAuthId: ulama";
	q.er_nheaders = 1;
	check(ecc_call(s, &q, &r, &err) == ECS_EINVAL,
	    "generic call: header injection is refused");
	ecc_close(s);

	/* Basic credentials, checked on the admin API */
	memset(&p, 0, sizeof(p));
	p.ep_url = url;
	p.ep_user = "admin";
	p.ep_password = adminpw;
	p.ep_retries = -1;
	if (ecc_open(&s, &p, NULL, &err) == ECS_OK) {
		q.er_path = "/admin/communities";
		q.er_nheaders = 0;
		rc = ecc_call(s, &q, &r, &err);
		check(rc == ECS_OK && r->r_status == 200 && r->r_body[0] == '[',
		    "Basic credentials are sent");
		ecc_reply_free(r);
		r = NULL;
		ecc_close(s);
	}
	p.ep_password = "wrong";
	if (ecc_open(&s, &p, NULL, &err) == ECS_OK) {
		rc = ecc_call(s, &q, &r, &err);
		check(rc == ECS_EAUTH && err.ee_status == 401,
		    "wrong Basic credentials: 401");
		ecc_close(s);
	}

	/* asynchronous calls on a caller's event_base */
	base = event_base_new();
	memset(&p, 0, sizeof(p));
	p.ep_url = url;
	p.ep_auth_id = P1;
	p.ep_retries = -1;
	rc = ecc_open(&s, &p, base, &err);
	check(rc == ECS_OK && ecc_base(s) == base, "session on a given base");
	memset(&as, 0, sizeof(as));
	for (i = 0; i < 20; i++) {
		if (i % 2 == 0)
			rc = ecc_list_async(s, RES, ECC_SENT, async_done, &as);
		else
			rc = ecc_memberships_async(s, async_done, &as);
		if (rc == ECS_OK)
			as.as_pending++;
	}
	check(as.as_pending == 20, "20 asynchronous calls queued");
	event_base_dispatch(base);
	check(as.as_pending == 0 && as.as_ok == 20,
	    "all asynchronous calls completed (%d ok)", as.as_ok);
	check(ecc_connections(s) == 1, "asynchronous calls share a connection");
	/* a call left queued when the session closes is dropped */
	memset(&as, 0, sizeof(as));
	rc = ecc_events_async(s, 0, 1, 0, async_done, &as);
	ecc_close(s);
	event_base_free(base);
	check(rc == ECS_OK && as.as_ok == 0, "close drops queued calls");

	/* retries with backoff for idempotent calls only */
	port = loopback_port(0, NULL);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
	s = session(u, P1, 5, 2);
	t0 = now();
	rc = ecc_get(s, RES, 1, NULL, &err);
	check(rc == ECS_EBUSY && err.ee_status == 0 &&
	    err.ee_net == ECC_NET_CONNECT, "refused connection: ECS_EBUSY, "
	    "ECC_NET_CONNECT");
	check(ecc_connections(s) == 3 && now() - t0 >= 0.55,
	    "a GET is tried three times with backoff (%u, %.2fs)",
	    ecc_connections(s), now() - t0);
	rc = ecc_post(s, RES, &(struct ecc_addr){ "1", NULL }, "text/plain",
	    "x", 1, &id, &err);
	check(rc == ECS_EBUSY && ecc_connections(s) == 4,
	    "a POST is tried once");
	rc = ecc_queue(s, RES, ECC_FIFO, 1, &r, &err);
	check(rc == ECS_EBUSY && ecc_connections(s) == 5,
	    "a pop is tried once");
	ecc_close(s);

	/* timeout: a server that accepts but never answers */
	port = loopback_port(1, &lfd);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
	s = session(u, P1, 1, 0);
	t0 = now();
	rc = ecc_get(s, RES, 1, NULL, &err);
	check(rc == ECS_EBUSY && err.ee_net == ECC_NET_TIMEOUT &&
	    now() - t0 < 5, "a silent server times out");
	ecc_close(s);
	close(lfd);
}

/* Over HTTPS with a client certificate (the participant owns the cert). */
static void
test_tls(const char *url, const char *ca, const char *cert, const char *key)
{
	struct ecc		*s = NULL;
	struct ecc_params	 p;
	struct ecc_error	 err;
	struct ecc_memberships	*ms = NULL;
	struct ecc_events	*evs = NULL;
	struct ecc_reply	*r = NULL;
	struct ecc_request	 q;
	struct ecc_header	 h;
	char			 u[256];
	const char		*port;
	int			 i, ok, rc;

	memset(&p, 0, sizeof(p));
	p.ep_url = url;
	p.ep_ca = ca;
	p.ep_cert = cert;
	p.ep_key = key;
	p.ep_retries = -1;
	rc = ecc_open(&s, &p, NULL, &err);
	check(rc == ECS_OK, "tls: session with a client certificate");
	if (rc != ECS_OK) {
		detail(&err);
		return;
	}
	rc = ecc_memberships(s, &ms, &err);
	ok = rc == ECS_OK && ms->ms_n >= 1;
	for (i = 0; ok && (size_t)i < ms->ms_c[0].co_n; i++)
		if (ms->ms_c[0].co_members[i].mb_itsyou)
			break;
	check(ok && (size_t)i < ms->ms_c[0].co_n,
	    "tls: the certificate authenticates the participant");
	if (rc != ECS_OK)
		detail(&err);
	ecc_memberships_free(ms);
	for (i = 0, ok = 1; i < 30; i++) {
		if (ecc_events(s, 0, -1, 0, &evs, &err) != ECS_OK)
			ok = 0;
		ecc_events_free(evs);
		evs = NULL;
	}
	check(ok && ecc_connections(s) == 1,
	    "tls: 31 calls on one connection (%u)", ecc_connections(s));
	memset(&q, 0, sizeof(q));
	h.eh_name = "Connection";
	h.eh_value = "close";
	q.er_method = "GET";
	q.er_path = "/sys/events";
	q.er_headers = &h;
	q.er_nheaders = 1;
	rc = ecc_call(s, &q, &r, &err);
	ecc_reply_free(r);
	r = NULL;
	q.er_nheaders = 0;
	if (rc == ECS_OK)
		rc = ecc_call(s, &q, &r, &err);
	check(rc == ECS_OK && ecc_connections(s) == 2,
	    "tls: a closed connection is replaced by a new handshake");
	ecc_reply_free(r);
	ecc_close(s);

	/* the server is checked: wrong CA, wrong name */
	p.ep_ca = cert;
	rc = ecc_open(&s, &p, NULL, &err);
	if (rc == ECS_OK) {
		rc = ecc_events(s, 0, 1, 0, &evs, &err);
		check(rc == ECS_EBUSY && err.ee_status == 0 &&
		    err.ee_net == ECC_NET_TLS,
		    "tls: an untrusted server is refused (ECC_NET_TLS)");
		if (rc != ECS_EBUSY)
			ecc_events_free(evs);
		evs = NULL;
		ecc_close(s);
	}
	port = strrchr(url, ':');
	snprintf(u, sizeof(u), "https://localhost%s", port != NULL ? port : "");
	p.ep_url = u;
	p.ep_ca = ca;
	rc = ecc_open(&s, &p, NULL, &err);
	if (rc == ECS_OK) {
		rc = ecc_events(s, 0, 1, 0, &evs, &err);
		check(rc == ECS_EBUSY && err.ee_net == ECC_NET_TLS,
		    "tls: a certificate for another name is refused");
		if (rc != ECS_EBUSY)
			ecc_events_free(evs);
		evs = NULL;
		ecc_close(s);
	}
	p.ep_insecure = 1;
	rc = ecc_open(&s, &p, NULL, &err);
	if (rc == ECS_OK) {
		rc = ecc_events(s, 0, 1, 0, &evs, &err);
		check(rc == ECS_OK, "tls: ep_insecure skips the check");
		ecc_events_free(evs);
		ecc_close(s);
	}
}

int
main(int argc, char *argv[])
{
	if (argc == 6 && strcmp(argv[1], "--tls") == 0) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		test_tls(argv[2], argv[3], argv[4], argv[5]);
		printf("# %d checks, %d failed\n", checks, failures);
		return failures == 0 ? 0 : 1;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: ecc-test URL [admin-password]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_messages(argv[1]);
	test_transport(argv[1], argc > 2 ? argv[2] : "test-admin-pw");
	printf("# %d checks, %d failed\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
