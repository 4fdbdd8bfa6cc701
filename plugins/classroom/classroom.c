/*
 * classroom.c: the plugin descriptor, its configuration and the request
 * pipeline. An event `created` on a classroom resource means a client
 * sent the plugin a request: the plugin reads it (the GET names the
 * sender's membership in X-EcsSender), deletes it as receiver, and queues
 * it. Requests are handled strictly in arrival order; when a sender's
 * membership is not yet known the queue waits for one reload of
 * /sys/memberships?all=true, which also names anonymous participants and
 * subparticipants.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classroom.h"

#define CR_REPLY_MAX	(4 * 1024 * 1024 - 4096)

const char *const cr_resources[] = {
	CR_NS "/experiences",
	CR_NS "/sessions",
	CR_NS "/joins",
	CR_NS "/control",
	CR_NS "/chat",
	CR_NS "/state",
	CR_NS "/attendance",
	NULL
};

static const struct ecs_plugin_resource classroom_resources[] = {
	{ CR_NS "/experiences", 0, 1 },
	{ CR_NS "/sessions", 0, 1 },
	{ CR_NS "/joins", 0, 1 },
	{ CR_NS "/control", 0, 1 },
	{ CR_NS "/chat", 0, 1 },
	{ CR_NS "/state", 0, 1 },
	{ CR_NS "/attendance", 0, 1 },
	{ NULL, 0, 0 }
};

void
cr_log(struct classroom *cr, int level, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ecs_plugin_log(cr->cr_host, level, "%s", line);
}

struct cr_call *
cr_call_new(struct classroom *cr, enum cr_res res, int64_t a, int64_t b)
{
	struct cr_call	*ca;

	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return NULL;
	ca->ca_cr = cr;
	ca->ca_res = res;
	ca->ca_a = a;
	ca->ca_b = b;
	TAILQ_INSERT_TAIL(&cr->cr_calls, ca, ca_entry);
	return ca;
}

void
cr_call_free(struct cr_call *ca)
{
	if (ca == NULL)
		return;
	TAILQ_REMOVE(&ca->ca_cr->cr_calls, ca, ca_entry);
	free(ca);
}

/* ---- configuration -------------------------------------------------- */

/* Checked here so that a bad value stops the host before it starts. */
static int
classroom_config(const char *key, const char *value)
{
	char		*end;
	long		 n;

	if (strcmp(key, "capacity") == 0) {
		n = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || n < 1 ||
		    n > CR_CAPACITY_MAX)
			return -1;
	}
	return 0;
}

/* ---- peers: who is behind a membership ------------------------------ */

static void
peers_free(struct classroom *cr)
{
	size_t	 i;

	for (i = 0; i < cr->cr_npeers; i++) {
		free(cr->cr_peers[i].pe_name);
		free(cr->cr_peers[i].pe_type);
	}
	free(cr->cr_peers);
	cr->cr_peers = NULL;
	cr->cr_npeers = 0;
}

const struct cr_peer *
cr_peer_find(struct classroom *cr, int64_t mid)
{
	size_t	 i;

	for (i = 0; i < cr->cr_npeers; i++)
		if (cr->cr_peers[i].pe_mid == mid)
			return &cr->cr_peers[i];
	return NULL;
}

static void	process(struct classroom *);

static void
peers_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct cr_call		*ca = arg;
	struct classroom	*cr = ca->ca_cr;
	struct ecc_memberships	*ms = NULL;
	struct ecc_error	 perr;
	struct cr_peer		*pe;
	struct cr_req		*rq;
	size_t			 i, j, n = 0;

	cr_call_free(ca);
	cr->cr_refreshing = 0;
	if (err->ee_code != ECS_OK || r == NULL)
		cr_log(cr, 0, "memberships: %d %s", err->ee_status,
		    err->ee_text);
	else if (r->r_len == 0)
		peers_free(cr);
	else if (ecc_parse_memberships(r, &ms, &perr) != ECS_OK)
		cr_log(cr, 0, "memberships: %s", perr.ee_text);
	else {
		for (i = 0; i < ms->ms_n; i++)
			n += ms->ms_c[i].co_n;
		if ((pe = calloc(n ? n : 1, sizeof(*pe))) != NULL) {
			peers_free(cr);
			cr->cr_peers = pe;
			for (i = 0; i < ms->ms_n; i++)
				for (j = 0; j < ms->ms_c[i].co_n; j++) {
					const struct ecc_member *mb =
					    &ms->ms_c[i].co_members[j];

					pe->pe_mid = mb->mb_mid;
					pe->pe_cid = ms->ms_c[i].co_cid;
					pe->pe_pid = mb->mb_pid;
					pe->pe_name = strdup(mb->mb_name ?
					    mb->mb_name : "");
					pe->pe_type = strdup(mb->mb_type ?
					    mb->mb_type : "");
					pe++;
					cr->cr_npeers++;
				}
		}
		ecc_memberships_free(ms);
		cr_sessions_prune(cr);
	}
	ecc_reply_free(r);
	TAILQ_FOREACH(rq, &cr->cr_reqs, rq_entry)
		rq->rq_refreshed = 1;
	process(cr);
}

/* Reload the peers; requests wait in the queue meanwhile. */
void
cr_peers_reload(struct classroom *cr)
{
	struct ecc_request	 q;
	struct ecc_header	 h = { "X-EcsQueryStrings", "all=true" };
	struct cr_call		*ca;

	if (cr->cr_refreshing)
		return;
	if ((ca = cr_call_new(cr, CR_RES_NONE, 0, 0)) == NULL)
		return;
	memset(&q, 0, sizeof(q));
	q.er_method = "GET";
	q.er_path = "/sys/memberships";
	q.er_headers = &h;
	q.er_nheaders = 1;
	q.er_idempotent = 1;
	if (ecc_call_async(cr->cr_ecc, &q, peers_done, ca) != ECS_OK) {
		cr_call_free(ca);
		return;
	}
	cr->cr_refreshing = 1;
}

int
cr_is_teacher(struct classroom *cr, const struct cr_peer *pe)
{
	const char	*p, *q;
	size_t		 n = strlen(pe->pe_name);

	if (strcmp(pe->pe_type, "main") != 0)
		return 0;
	if (cr->cr_teachers == NULL)
		return 1;
	for (p = cr->cr_teachers; *p != '\0'; p = *q ? q + 1 : q) {
		while (*p == ' ' || *p == '\t')
			p++;
		q = strchr(p, ',');
		if (q == NULL)
			q = p + strlen(p);
		if ((size_t)(q - p) >= n && strncmp(p, pe->pe_name, n) == 0) {
			const char *t = p + n;

			while (t < q && (*t == ' ' || *t == '\t'))
				t++;
			if (t == q)
				return 1;
		}
	}
	return 0;
}

/* ---- replies and posts ---------------------------------------------- */

static void
post_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct classroom	*cr = arg;

	if (err->ee_code != ECS_OK)
		cr_log(cr, 0, "post: %d %s", err->ee_status, err->ee_text);
	ecc_reply_free(r);
}

void
cr_post(struct classroom *cr, enum cr_res res, const char *mids,
    const char *communities, const char *body)
{
	struct ecc_addr	 a;

	a.ea_mids = mids;
	a.ea_communities = communities;
	if (ecc_post_async(cr->cr_ecc, cr_resources[res], &a,
	    "application/json", body, strlen(body), post_done, cr) != ECS_OK)
		cr_log(cr, 0, "post %s: cannot queue", cr_resources[res]);
}

void
cr_reply_begin(struct cr_reply *rp, const struct cr_req *rq, int status)
{
	cr_buf_init(&rp->rp_buf, CR_REPLY_MAX);
	cr_jw_init(&rp->rp_jw, &rp->rp_buf);
	cr_jw_obj_open(&rp->rp_jw);
	cr_jw_kint(&rp->rp_jw, "reply_to", rq->rq_id);
	if (rq->rq_op != NULL)
		cr_jw_kstr(&rp->rp_jw, "op", rq->rq_op);
	cr_jw_kint(&rp->rp_jw, "status", status);
}

void
cr_reply_send(struct classroom *cr, struct cr_reply *rp,
    const struct cr_req *rq)
{
	char	 mid[32];

	cr_jw_obj_close(&rp->rp_jw);
	if (rp->rp_buf.b_err) {
		cr_buf_free(&rp->rp_buf);
		cr_reply_error(cr, rq, 500, "the answer is too large");
		return;
	}
	snprintf(mid, sizeof(mid), "%lld", (long long)rq->rq_mid);
	cr_post(cr, rq->rq_res, mid, NULL, cr_buf_str(&rp->rp_buf));
	cr_buf_free(&rp->rp_buf);
}

void
cr_reply_error(struct classroom *cr, const struct cr_req *rq, int status,
    const char *fmt, ...)
{
	struct cr_reply	 rp;
	va_list		 ap;
	char		 text[256];

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cr_reply_begin(&rp, rq, status);
	cr_jw_kstr(&rp.rp_jw, "error", text);
	cr_reply_send(cr, &rp, rq);
}

/* ---- request fields ------------------------------------------------- */

int
cr_text_ok(const char *s, size_t max, int lines)
{
	const unsigned char	*p;

	if (strlen(s) > max)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && !(lines && (*p == '\n' || *p == '\t'))) ||
		    *p == 0x7f)
			return 0;
	return 1;
}

int
cr_req_int(struct classroom *cr, const struct cr_req *rq, const char *key,
    int64_t *out)
{
	if (cr_json_int(cr_json_get(rq->rq_doc, key), out) != 0) {
		cr_reply_error(cr, rq, 400, "\"%s\" must be an integer", key);
		return -1;
	}
	return 0;
}

int
cr_req_str(struct classroom *cr, const struct cr_req *rq, const char *key,
    size_t max, int required, const char **out)
{
	const struct cr_json	*v = cr_json_get(rq->rq_doc, key);
	const char		*s;

	*out = NULL;
	if (v == NULL && !required)
		return 0;
	if ((s = cr_json_str(v)) == NULL) {
		cr_reply_error(cr, rq, 400, "\"%s\" must be a string", key);
		return -1;
	}
	if (!cr_text_ok(s, max, 1)) {
		cr_reply_error(cr, rq, 400, "\"%s\" is longer than %zu bytes"
		    " or holds control characters", key, max);
		return -1;
	}
	*out = s;
	return 0;
}

int
cr_req_bool(struct classroom *cr, const struct cr_req *rq, const char *key,
    int *out)
{
	const struct cr_json	*v = cr_json_get(rq->rq_doc, key);

	if (v == NULL)
		return 0;
	if (cr_json_bool(v, out) != 0) {
		cr_reply_error(cr, rq, 400, "\"%s\" must be true or false",
		    key);
		return -1;
	}
	return 0;
}

/* ---- the pipeline --------------------------------------------------- */

static void
req_free(struct cr_req *rq)
{
	if (rq == NULL)
		return;
	cr_json_free(rq->rq_doc);
	free(rq);
}

static void
dispatch(struct classroom *cr, struct cr_req *rq)
{
	switch (rq->rq_res) {
	case CR_RES_EXPERIENCES:
		cr_handle_experiences(cr, rq);
		break;
	case CR_RES_SESSIONS:
		cr_handle_sessions(cr, rq);
		break;
	case CR_RES_JOINS:
		cr_handle_joins(cr, rq);
		break;
	case CR_RES_CONTROL:
		cr_handle_control(cr, rq);
		break;
	case CR_RES_CHAT:
		cr_handle_chat(cr, rq);
		break;
	case CR_RES_STATE:
		cr_handle_state(cr, rq);
		break;
	default:
		break;
	}
}

/* Handle queued requests in order until one waits for the peers. */
static void
process(struct classroom *cr)
{
	struct cr_req	*rq;

	while ((rq = TAILQ_FIRST(&cr->cr_reqs)) != NULL) {
		rq->rq_peer = cr_peer_find(cr, rq->rq_mid);
		if (rq->rq_peer == NULL && !rq->rq_refreshed) {
			cr_peers_reload(cr);
			if (cr->cr_refreshing)
				return;
		}
		TAILQ_REMOVE(&cr->cr_reqs, rq, rq_entry);
		if (rq->rq_peer == NULL)
			cr_reply_error(cr, rq, 403, "membership %lld is not"
			    " known to the classroom service",
			    (long long)rq->rq_mid);
		else
			dispatch(cr, rq);
		req_free(rq);
	}
}

static void
delete_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct classroom	*cr = arg;

	if (err->ee_code != ECS_OK && err->ee_code != ECS_ENOTFOUND)
		cr_log(cr, 0, "delete: %d %s", err->ee_status, err->ee_text);
	ecc_reply_free(r);
}

/* The first number of a comma list such as X-EcsSender "3,7"; 0 if none. */
static int64_t
first_id(const char *s)
{
	char		*end;
	long long	 v;

	if (s == NULL)
		return 0;
	v = strtoll(s, &end, 10);
	if (end == s || v <= 0 || (*end != '\0' && *end != ','))
		return 0;
	return v;
}

static void
get_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct cr_call		*ca = arg;
	struct classroom	*cr = ca->ca_cr;
	struct cr_req		*rq = NULL;
	const struct cr_json	*op;
	char			 perr[128];

	if (err->ee_code != ECS_OK || r == NULL) {
		/* Gone already (the sender deleted it): nothing to do. */
		if (err->ee_code != ECS_ENOTFOUND)
			cr_log(cr, 0, "get %s/%lld: %d %s",
			    cr_resources[ca->ca_res], (long long)ca->ca_a,
			    err->ee_status, err->ee_text);
		goto done;
	}
	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		goto done;
	rq->rq_res = ca->ca_res;
	rq->rq_id = ca->ca_a;
	if ((rq->rq_mid = first_id(r->r_sender)) == 0) {
		cr_log(cr, 1, "%s/%lld: no sender membership, ignored",
		    cr_resources[ca->ca_res], (long long)ca->ca_a);
		goto done;
	}
	if (r->r_len > CR_MAX_BODY) {
		cr_reply_error(cr, rq, 413, "request larger than %d bytes",
		    CR_MAX_BODY);
		goto done;
	}
	if ((rq->rq_doc = cr_json_parse(r->r_body, perr, sizeof(perr))) ==
	    NULL) {
		cr_reply_error(cr, rq, 400, "%s", perr);
		goto done;
	}
	if (cr_json_type(rq->rq_doc) != CR_JOBJECT) {
		cr_reply_error(cr, rq, 400, "the request must be a JSON object");
		goto done;
	}
	if ((op = cr_json_get(rq->rq_doc, "op")) != NULL &&
	    ((rq->rq_op = cr_json_str(op)) == NULL ||
	    !cr_text_ok(rq->rq_op, 32, 0))) {
		rq->rq_op = NULL;
		cr_reply_error(cr, rq, 400, "\"op\" must be a short string");
		goto done;
	}
	TAILQ_INSERT_TAIL(&cr->cr_reqs, rq, rq_entry);
	rq = NULL;
	process(cr);
done:
	/*
	 * The request goes after the answer or fan-out was queued, so that
	 * its deletion does not delay them on the session.
	 */
	if (r != NULL && err->ee_code == ECS_OK &&
	    ecc_delete_async(cr->cr_ecc, cr_resources[ca->ca_res], ca->ca_a,
	    delete_done, cr) != ECS_OK)
		cr_log(cr, 0, "delete %s/%lld: cannot queue",
		    cr_resources[ca->ca_res], (long long)ca->ca_a);
	req_free(rq);
	ecc_reply_free(r);
	cr_call_free(ca);
}

static enum cr_res
res_of(const char *path, int64_t *idp)
{
	const char	*slash;
	size_t		 n;
	int		 i;

	if ((slash = strrchr(path, '/')) == NULL)
		return CR_RES_NONE;
	n = (size_t)(slash - path);
	for (i = 0; cr_resources[i] != NULL; i++)
		if (strlen(cr_resources[i]) == n &&
		    strncmp(cr_resources[i], path, n) == 0) {
			*idp = first_id(slash + 1);
			return *idp > 0 ? (enum cr_res)i : CR_RES_NONE;
		}
	return CR_RES_NONE;
}

static void
classroom_event(void *state, const struct ecc_event *ev)
{
	struct classroom	*cr = state;
	struct cr_call		*ca;
	enum cr_res		 res;
	int64_t			 id = 0;

	if (cr->cr_stopping || strcmp(ev->ev_status, "created") != 0)
		return;
	res = res_of(ev->ev_resource, &id);
	if (res == CR_RES_NONE || res == CR_RES_ATTENDANCE)
		return;
	if ((ca = cr_call_new(cr, res, id, 0)) == NULL)
		return;
	if (ecc_get_async(cr->cr_ecc, cr_resources[res], id, get_done, ca) !=
	    ECS_OK) {
		cr_log(cr, 0, "get %s: cannot queue", ev->ev_resource);
		cr_call_free(ca);
	}
}

/* ---- life cycle ----------------------------------------------------- */

static void
load_session(const struct cr_srow *row, void *arg)
{
	struct classroom	*cr = arg;
	struct cr_session	*s;

	if ((s = cr_session_add(cr, row)) != NULL && row->sr_live) {
		/* The live state (members, chat) did not survive. */
		s->s_status = CR_LIVE;
		s->s_started = time(NULL);
	}
}

static void	classroom_shutdown(void *);

static int
classroom_init(struct ecs_plugin_host *host, void **statep)
{
	struct classroom	*cr;
	const char		*v;
	char			 err[256];

	if ((cr = calloc(1, sizeof(*cr))) == NULL)
		return -1;
	cr->cr_host = host;
	cr->cr_ecc = ecs_plugin_session(host);
	cr->cr_capacity = CR_CAPACITY;
	TAILQ_INIT(&cr->cr_reqs);
	TAILQ_INIT(&cr->cr_sessions);
	TAILQ_INIT(&cr->cr_throttles);
	TAILQ_INIT(&cr->cr_calls);
	if ((v = ecs_plugin_config(host, "capacity")) != NULL)
		cr->cr_capacity = (int)strtol(v, NULL, 10);
	if ((v = ecs_plugin_config(host, "teachers")) != NULL && *v != '\0' &&
	    (cr->cr_teachers = strdup(v)) == NULL)
		goto fail;
	if ((v = ecs_plugin_config(host, "attendance_community")) != NULL &&
	    *v != '\0' && (cr->cr_attendance = strdup(v)) == NULL)
		goto fail;
	if ((v = ecs_plugin_config(host, "database")) == NULL || *v == '\0') {
		cr_log(cr, 0, "no database configured: experiences and"
		    " schedules are kept in memory only");
		v = ":memory:";
	}
	if (cr_db_open(&cr->cr_db, v, err, sizeof(err)) != 0) {
		cr_log(cr, 0, "database: %s", err);
		goto fail;
	}
	if (cr_db_session_load(cr->cr_db, load_session, cr) != 0) {
		cr_log(cr, 0, "database: cannot load the sessions");
		goto fail;
	}
	cr_peers_reload(cr);
	cr_log(cr, 1, "classroom: ready, %zu sessions, capacity %d",
	    cr->cr_nsessions, cr->cr_capacity);
	*statep = cr;
	return 0;
fail:
	classroom_shutdown(cr);
	return -1;
}

static void
classroom_shutdown(void *state)
{
	struct classroom	*cr = state;
	struct cr_session	*s;
	struct cr_req		*rq;
	struct cr_throttle	*th;
	struct cr_call		*ca;

	if (cr == NULL)
		return;
	cr->cr_stopping = 1;
	while ((s = TAILQ_FIRST(&cr->cr_sessions)) != NULL) {
		TAILQ_REMOVE(&cr->cr_sessions, s, s_entry);
		cr_session_free(s);
	}
	while ((rq = TAILQ_FIRST(&cr->cr_reqs)) != NULL) {
		TAILQ_REMOVE(&cr->cr_reqs, rq, rq_entry);
		req_free(rq);
	}
	while ((th = TAILQ_FIRST(&cr->cr_throttles)) != NULL) {
		TAILQ_REMOVE(&cr->cr_throttles, th, th_entry);
		free(th);
	}
	/* Calls still queued are dropped by the host without callbacks. */
	while ((ca = TAILQ_FIRST(&cr->cr_calls)) != NULL)
		cr_call_free(ca);
	peers_free(cr);
	cr_db_close(cr->cr_db);
	free(cr->cr_teachers);
	free(cr->cr_attendance);
	free(cr);
}

const struct ecs_plugin ecs_plugin = {
	.ep_abi = ECS_PLUGIN_ABI,
	.ep_name = "classroom",
	.ep_version = "0.1.0",
	.ep_resources = classroom_resources,
	.ep_config = classroom_config,
	.ep_init = classroom_init,
	.ep_event = classroom_event,
	.ep_shutdown = classroom_shutdown
};
