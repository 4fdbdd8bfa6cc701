/*
 * res_sys.c: /sys/events, /sys/memberships and /sys/configs (protocol
 * sections 10, 12.1 and 12.4) and content negotiation (3.4).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "ecsd.h"
#include "util.h"

static char
media_kind(const char *t, size_t n)
{
	static const struct {
		const char	*m;
		char		 k;
	} types[] = {
		{ "application/json", 'j' }, { "text/x-json", 'j' },
		{ "application/jsonrequest", 'j' }, { "application/xml", 'x' },
		{ "text/xml", 'x' }, { "application/x-xml", 'x' },
		{ "text/plain", 't' }, { "*/*", '*' }, { "application/*", 'a' },
		{ "text/*", 'T' },
	};
	size_t	 i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i].m) == n && strncasecmp(t, types[i].m, n) ==
		    0)
			return types[i].k;
	return 0;
}

/*
 * Pick a representation among offers ('j' JSON, 't' text, 'x' XML; the
 * first is preferred). Returns it, or -1 after replying 406.
 */
int
res_negotiate(struct req *rq, const char *offers, char sfx)
{
	const char	*acc = req_header_list(rq, "Accept");
	const char	*ct = req_header(rq, "Content-Type");
	const char	*p, *q, *e;
	char		 k;

	if (sfx != 0) {
		if (strchr(offers, sfx) != NULL)
			return sfx;
		goto none;
	}
	if (acc == NULL || util_blank(acc)) {
		if (ct != NULL) {
			e = strchr(ct, ';');
			k = media_kind(ct, e ? (size_t)(e - ct) : strlen(ct));
			if (k != 0 && strchr(offers, k) != NULL)
				return k;
		}
		return offers[0];
	}
	for (p = acc; *p != '\0'; p = *q ? q + 1 : q) {
		q = strchr(p, ',');
		if (q == NULL)
			q = p + strlen(p);
		while (p < q && isspace((unsigned char)*p))
			p++;
		e = p;
		while (e < q && *e != ';' && !isspace((unsigned char)*e))
			e++;
		k = media_kind(p, (size_t)(e - p));
		if (k == '*')
			return offers[0];
		if (k == 'a' && strchr(offers, 'j') != NULL)
			return 'j';
		if (k == 'T' && strchr(offers, 't') != NULL)
			return 't';
		if (k != 0 && strchr(offers, k) != NULL)
			return k;
	}
none:
	reply(rq, 406, "text/html", NULL, 0);
	return -1;
}

/* count from the query string: a leading integer (10.1). */
static int64_t
event_count(struct req *rq, int64_t dflt)
{
	char		 v[64];
	const char	*p;
	int64_t		 n = 0;
	int		 neg = 0;

	if (!req_query_flag(rq, "count", v, sizeof(v)) || v[0] == '\0')
		return dflt;
	p = v;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '-' || *p == '+') {
		neg = *p == '-';
		p++;
	}
	while (isdigit((unsigned char)*p) && n < 100000000)
		n = n * 10 + (*p++ - '0');
	return neg && n > 0 ? -1 : n;
}

/*
 * Answer an events request from its saved parameters; 0 when replied. A
 * pop that joined the batch without a savepoint (rq_plain: one run by
 * http_run_pops) is in it already.
 */
int
res_events_answer(struct req *rq)
{
	struct ecsd	*env = rq->rq_env;
	struct buf	 b;
	int		 fmt = rq->rq_wait_fmt, n;
	enum ecs_err	 e;

	if (rq->rq_wait_pop && !rq->rq_plain &&
	    http_begin_plain_write(rq) != 0)
		return 0;
	buf_init(&b, 0);
	e = broker_events(env->e_store, rq->rq_caller.p_id,
	    rq->rq_wait_count, rq->rq_wait_pop, fmt == 't' ? 't' : 'j', &b,
	    &n);
	if (rq->rq_wait_pop)
		http_end_write(rq, e == ECS_OK);
	if (e != ECS_OK)
		reply_text(rq, err_status(e), "Internal storage error");
	else if (fmt == 't')
		reply(rq, 200, "text/plain", b.b_data, b.b_len);
	else
		reply_repr(rq, 200, fmt, &b);
	buf_free(&b);
	return 0;
}

static int
has_events(struct ecsd *env, int64_t pid)
{
	struct ecs_event	*ev = NULL;
	size_t			 n = 0;

	if (store_events(env->e_store, pid, 1, &ev, &n) != ECS_OK)
		return 1;	/* answer now; the answer tells the error */
	free(ev);
	return n > 0;
}

void
res_events(struct req *rq, int fifo, int sfx)
{
	struct ecsd	*env = rq->rq_env;
	char		 v[32];
	int64_t		 wait = 0;
	int		 fmt;

	if ((fmt = res_negotiate(rq, "jxt", (char)sfx)) < 0)
		return;
	rq->rq_wait_fmt = fmt;
	rq->rq_wait_pop = fifo && rq->rq_method == EVHTTP_REQ_POST;
	rq->rq_wait_count = event_count(rq, fifo ? 1 : -1);
	/*
	 * ?wait=N (an extension): hold the request until an event for the
	 * caller commits, at most N seconds (capped by max_wait).
	 */
	if (fifo && req_query_flag(rq, "wait", v, sizeof(v)) &&
	    util_parse_i64(v, 0, INT64_MAX, &wait) == 0 && wait > 0 &&
	    rq->rq_wait_count != 0 && env->e_nwaiters < env->e_conf.c_max_waiters &&
	    !has_events(env, rq->rq_caller.p_id)) {
		if (wait > env->e_conf.c_max_wait)
			wait = env->e_conf.c_max_wait;
		if (wait > 0) {
			http_park(rq, (int)wait);
			return;
		}
	}
	/* A pop runs with the batch's other pops (http_run_pops). */
	if (rq->rq_wait_pop && rq->rq_wait_count != 0 &&
	    store_queue_prefetches(env->e_store)) {
		if (http_begin_plain_write(rq) != 0 ||
		    http_defer_pop(rq, NULL, 0) == 0)
			return;
	}
	res_events_answer(rq);
}

static int
pid_cmp(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Wake the waiters among pids (sorted) that now have events. */
void
res_events_wake(struct ecsd *env, const struct ivec *pids)
{
	struct req	*rq, *next;

	for (rq = TAILQ_FIRST(&env->e_waiters); rq != NULL; rq = next) {
		next = TAILQ_NEXT(rq, rq_wentry);
		if (rq->rq_delayed)
			continue;
		if (bsearch(&rq->rq_caller.p_id, pids->iv_v, pids->iv_n,
		    sizeof(pids->iv_v[0]), pid_cmp) == NULL)
			continue;
		if (!has_events(env, rq->rq_caller.p_id))
			continue;
		http_unpark(rq);
		res_events_answer(rq);
		http_send_now(rq);
	}
}

void
res_memberships(struct req *rq, int sfx)
{
	static const struct {
		const char	*key;
		const char	*sel;
	} sels[] = {
		{ "all", "all" }, { "mainparticipants", "main" },
		{ "subparticipants", "sub" }, { "anonymous", "anonym" },
	};
	const char	*sel = "main";
	struct buf	 b;
	struct jw	 w;
	char		 v[64];
	size_t		 i;
	int		 n, fmt;

	if ((fmt = res_negotiate(rq, "jx", (char)sfx)) < 0)
		return;
	for (i = 0; i < sizeof(sels) / sizeof(sels[0]); i++)
		if (req_flag(rq, sels[i].key, v, sizeof(v))) {
			sel = sels[i].sel;
			break;
		}
	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	if (store_memberships_json(rq->rq_env->e_store, rq->rq_caller.p_id,
	    sel, &w, &n) != ECS_OK)
		reply_text(rq, 500, "Internal storage error");
	else
		reply_repr(rq, 200, fmt, &b);
	buf_free(&b);
}

void
res_configs(struct req *rq, int sfx)
{
	struct ecsd		*env = rq->rq_env;
	struct json		*doc = NULL;
	const struct json	*v;
	const char		*ct, *body;
	struct buf		 b;
	struct jw		 w;
	size_t			 len;
	int			 events, selfrouting, fmt;
	enum ecs_err		 e;

	if ((fmt = res_negotiate(rq, "jx", (char)sfx)) < 0)
		return;
	if (rq->rq_method == EVHTTP_REQ_POST) {
		ct = req_header(rq, "Content-Type");
		if (ct == NULL || (strstr(ct, "application/json") == NULL &&
		    !util_is_json_type(ct))) {
			reply_text(rq, 415, "Please provide \"Content-Type:\" "
			    "header. Data format has to be in JSON "
			    "(application/json)");
			return;
		}
		body = req_body(rq, &len);
		if (len == 0 || json_parse(body, len, &doc) != ECS_OK ||
		    json_type(doc) != JSON_OBJECT) {
			json_free(doc);
			reply_text(rq, 400, "You have provided invalid JSON data "
			    "(ConfigsController#create).");
			return;
		}
		events = rq->rq_caller.p_events;
		selfrouting = rq->rq_caller.p_selfrouting;
		if ((v = json_get(doc, "participant_events")) != NULL &&
		    json_type(v) != JSON_NULL)
			events = json_type(v) == JSON_TRUE;
		if ((v = json_get(doc, "selfrouting")) != NULL &&
		    json_type(v) != JSON_NULL)
			selfrouting = json_type(v) == JSON_TRUE;
		json_free(doc);
		if (http_begin_write(rq) != 0)
			return;
		e = store_participant_flags(env->e_store, rq->rq_caller.p_id,
		    events, selfrouting);
		http_end_write(rq, e == ECS_OK);
		if (e != ECS_OK) {
			reply_text(rq, 400, "Data could not be saved "
			    "(ConfigsController#create).");
			return;
		}
	}
	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	if (store_configs_json(env->e_store, rq->rq_caller.p_id, &w) !=
	    ECS_OK) {
		reply_text(rq, 500, "Internal storage error");
	} else if (fmt == 'x') {
		reply_repr(rq, 200, fmt, &b);
	} else {
		buf_adds(&b, "\r\n");
		reply(rq, 200, "application/json", b.b_data, b.b_len);
	}
	buf_free(&b);
}
