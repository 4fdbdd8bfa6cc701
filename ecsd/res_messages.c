/*
 * res_messages.c: application resources /<ns>/<res> (protocol section 6):
 * list, create, show, update, delete, fifo/lifo and details.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "ecsd.h"
#include "util.h"

static int
flag_true(struct req *rq, const char *key)
{
	char	 v[32];

	if (req_flag(rq, key, v, sizeof(v)))
		return strcmp(v, "true") == 0;
	return 0;
}

static int
selector(struct req *rq)
{
	if (flag_true(rq, "sender"))
		return 's';
	if (flag_true(rq, "receiver"))
		return 'r';
	if (flag_true(rq, "all"))
		return 'a';
	return 'r';
}

/* "id-version-updated", as snprintf would put it, without the printf. */
static void
etag_of(const struct ecs_msg *m, char *out, size_t len)
{
	char	 t[24];
	size_t	 n;

	n = util_append(out, len, 0, "\"", 1);
	n = util_append(out, len, n, t, util_i64toa(m->m_id, t));
	n = util_append(out, len, n, "-", 1);
	n = util_append(out, len, n, t, util_i64toa(m->m_version, t));
	n = util_append(out, len, n, "-", 1);
	n = util_append(out, len, n, t, util_i64toa((int64_t)m->m_updated, t));
	util_append(out, len, n, "\"", 1);
}

/* The receiver headers of 6.5: parallel lists, pairs without a sender mid
 * omitted. */
static void
receiver_headers(struct req *rq, const struct ecs_linkv *lv)
{
	struct buf	 cids, snds;
	char		 t[24];
	size_t		 i;

	buf_init(&cids, 0);
	buf_init(&snds, 0);
	for (i = 0; i < lv->lv_n; i++) {
		if (lv->lv_v[i].l_sender_mid < 0)
			continue;
		if (cids.b_len > 0)
			buf_addc(&cids, ',');
		buf_add(&cids, t, util_i64toa(lv->lv_v[i].l_cid, t));
		if (snds.b_len > 0)
			buf_addc(&snds, ',');
		buf_add(&snds, t, util_i64toa(lv->lv_v[i].l_sender_mid, t));
	}
	if (cids.b_len > 0) {
		reply_add_header(rq, "X-EcsReceiverCommunities", buf_str(&cids));
		reply_add_header(rq, "X-EcsSender", buf_str(&snds));
	}
	buf_free(&cids);
	buf_free(&snds);
}

/* Answer with a message as in 6.4; conditional only for GET and HEAD. */
static void
reply_message(struct req *rq, const struct ecs_view *v, int conditional)
{
	char		 etag[96], lm[64];
	const char	*inm, *ims;
	time_t		 t;
	int		 hold = 1, any = 0;

	etag_of(&v->v_msg, etag, sizeof(etag));
	util_http_date(v->v_msg.m_updated, lm, sizeof(lm));
	reply_add_header(rq, "Cache-Control", "private, max-age=5");
	reply_add_header(rq, "ETag", etag);
	reply_add_header(rq, "Last-Modified", lm);
	receiver_headers(rq, &v->v_links);
	if (conditional) {
		inm = req_header(rq, "If-None-Match");
		ims = req_header(rq, "If-Modified-Since");
		if (inm != NULL) {
			any = 1;
			hold = hold && strcmp(inm, etag) == 0;
		}
		if (ims != NULL) {
			any = 1;
			hold = hold && util_parse_http_date(ims, &t) == 0 &&
			    t >= v->v_msg.m_updated;
		}
		if (any && hold) {
			reply(rq, 304, NULL, NULL, 0);
			return;
		}
	}
	reply(rq, 200, v->v_msg.m_ctype, v->v_msg.m_body, v->v_msg.m_len);
}

static void
post_from_req(struct req *rq, struct ecs_post *p)
{
	memset(p, 0, sizeof(*p));
	p->ep_ctype = req_header(rq, "Content-Type");
	p->ep_body = req_body(rq, &p->ep_len);
	if (p->ep_body == NULL)
		p->ep_body = "";
	p->ep_mids = req_header_list(rq, "X-EcsReceiverMemberships");
	p->ep_comms = req_header_list(rq, "X-EcsReceiverCommunities");
	p->ep_now = time(NULL);
	p->ep_auth_ttl = (time_t)rq->rq_env->e_conf.c_auth_ttl;
	p->ep_auth_min = (time_t)rq->rq_env->e_conf.c_auth_min;
}

static int
is_auths(const struct ecs_resource *r)
{
	return strcmp(r->r_ns, "sys") == 0 && strcmp(r->r_name, "auths") == 0;
}

static void
msg_create(struct req *rq, const struct ecs_resource *r)
{
	struct ecsd		*env = rq->rq_env;
	struct ecs_post		 p;
	struct ecs_error	 err;
	struct ecs_msg		 m;
	char			 base[300], loc[600], idt[24];
	size_t			 n, k;
	int64_t			 id;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	post_from_req(rq, &p);
	if (http_begin_plain_write(rq) != 0)
		return;
	e = broker_msg_create(env->e_store, &rq->rq_caller, r, &p, &id, &err);
	if (e != ECS_OK) {
		http_end_write(rq, 0);
		reply_error(rq, &err);
		return;
	}
	http_end_write(rq, 1);
	req_base_url(rq, base, sizeof(base));
	/* base/ns/name/id, as snprintf would put it, without the printf. */
	n = util_append(loc, sizeof(loc), 0, base, strlen(base));
	n = util_append(loc, sizeof(loc), n, "/", 1);
	n = util_append(loc, sizeof(loc), n, r->r_ns, strlen(r->r_ns));
	n = util_append(loc, sizeof(loc), n, "/", 1);
	n = util_append(loc, sizeof(loc), n, r->r_name, strlen(r->r_name));
	n = util_append(loc, sizeof(loc), n, "/", 1);
	k = util_i64toa(id, idt);
	util_append(loc, sizeof(loc), n, idt, k);
	reply_add_header(rq, "Location", loc);
	if (is_auths(r) && store_msg_get(env->e_store, id, &m) == ECS_OK) {
		reply(rq, 201, "application/json", m.m_body, m.m_len);
		store_msg_clear(&m);
		return;
	}
	reply(rq, 201, p.ep_ctype, NULL, 0);
}

static void
msg_list(struct req *rq, const struct ecs_resource *r)
{
	struct ivec	 ids;
	struct buf	 b;
	size_t		 i;

	memset(&ids, 0, sizeof(ids));
	if (broker_list(rq->rq_env->e_store, &rq->rq_caller, r, selector(rq),
	    &ids) != ECS_OK) {
		reply_text(rq, 500, "Internal storage error");
		return;
	}
	buf_init(&b, 0);
	for (i = 0; i < ids.iv_n; i++)
		buf_printf(&b, "%s/%" PRId64 "\n", r->r_name, ids.iv_v[i]);
	reply(rq, 200, "text/uri-list", b.b_data, b.b_len);
	buf_free(&b);
	ivec_free(&ids);
}

static void
msg_collection_details(struct req *rq, const struct ecs_resource *r)
{
	struct ivec		 ids;
	struct buf		 b;
	struct jw		 w;
	struct ecs_error	 err;
	char			 idtext[32];
	size_t			 i;
	int			 fmt;

	if ((fmt = res_negotiate(rq, "jx", 0)) < 0)
		return;
	memset(&ids, 0, sizeof(ids));
	memset(&err, 0, sizeof(err));
	if (broker_list(rq->rq_env->e_store, &rq->rq_caller, r, selector(rq),
	    &ids) != ECS_OK) {
		reply_text(rq, 500, "Internal storage error");
		return;
	}
	if (ids.iv_n == 0) {
		reply(rq, 200, "application/json", NULL, 0);
		ivec_free(&ids);
		return;
	}
	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	jw_arr_open(&w);
	for (i = 0; i < ids.iv_n; i++) {
		snprintf(idtext, sizeof(idtext), "%" PRId64, ids.iv_v[i]);
		if (broker_details(rq->rq_env->e_store, &rq->rq_caller, r,
		    ids.iv_v[i], idtext, 0, &w, &err) != ECS_OK)
			break;
	}
	jw_arr_close(&w);
	if (i < ids.iv_n)
		reply_error(rq, &err);
	else
		reply_repr(rq, 200, fmt, &b);
	buf_free(&b);
	ivec_free(&ids);
}

/* Read (pop 0) or pop the head of a queue, in the batch joined for a pop. */
static void
msg_queue_run(struct req *rq, const struct ecs_resource *r, int lifo,
    int pop)
{
	struct ecs_view		 v;
	struct ecs_error	 err;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	e = broker_queue(rq->rq_env->e_store, &rq->rq_caller, r, lifo, pop,
	    &v, &err);
	if (pop)
		http_end_write(rq, e == ECS_OK);
	if (e != ECS_OK) {
		reply_error(rq, &err);
		return;
	}
	if (!v.v_found)
		reply(rq, 200, "application/json", NULL, 0);
	else
		reply_message(rq, &v, !pop);
	broker_view_clear(&v);
}

/* A pop that waited for the end of its batch (http_defer_pop). */
void
res_messages_pop(struct req *rq, const struct ecs_resource *r, int lifo)
{
	msg_queue_run(rq, r, lifo, 1);
}

/*
 * A pop joins the batch, and where the store gains from it runs with the
 * batch's other pops just before the commit (http_run_pops).
 */
static void
msg_queue(struct req *rq, const struct ecs_resource *r, int lifo)
{
	int	 pop = rq->rq_method == EVHTTP_REQ_POST;

	if (pop && http_begin_plain_write(rq) != 0)
		return;
	if (pop && store_queue_prefetches(rq->rq_env->e_store) &&
	    http_defer_pop(rq, r, lifo) == 0)
		return;
	msg_queue_run(rq, r, lifo, pop);
}

static void
msg_member(struct req *rq, const struct ecs_resource *r, const char *idtext,
    int details)
{
	struct ecsd		*env = rq->rq_env;
	struct ecs_error	 err;
	struct ecs_view		 v;
	struct ecs_post		 p;
	struct buf		 b;
	struct jw		 w;
	char			 base[300], loc[600];
	int64_t			 id;
	enum ecs_err		 e;
	int			 fmt = 'j';

	memset(&err, 0, sizeof(err));
	if (details && (fmt = res_negotiate(rq, "jx", 0)) < 0)
		return;
	if (broker_msg_find(env->e_store, r, idtext, &id, &err) != ECS_OK) {
		reply_error(rq, &err);
		return;
	}
	if (details) {
		buf_init(&b, 0);
		jw_init(&w, &b, 1);
		if (broker_details(env->e_store, &rq->rq_caller, r, id, idtext,
		    1, &w, &err) != ECS_OK)
			reply_error(rq, &err);
		else
			reply_repr(rq, 200, fmt, &b);
		buf_free(&b);
		return;
	}
	switch (rq->rq_method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		if (broker_msg_show(env->e_store, &rq->rq_caller, r, id,
		    time(NULL), &v, &err) != ECS_OK) {
			reply_error(rq, &err);
			return;
		}
		reply_message(rq, &v, 1);
		broker_view_clear(&v);
		return;
	case EVHTTP_REQ_PUT:
		post_from_req(rq, &p);
		if (http_begin_write(rq) != 0)
			return;
		e = broker_msg_update(env->e_store, &rq->rq_caller, r, id, &p,
		    &err);
		http_end_write(rq, e == ECS_OK);
		if (e != ECS_OK) {
			reply_error(rq, &err);
			return;
		}
		req_base_url(rq, base, sizeof(base));
		snprintf(loc, sizeof(loc), "%s/%s/%s/%" PRId64, base, r->r_ns,
		    r->r_name, id);
		reply_add_header(rq, "Location", loc);
		reply(rq, 200, "text/html", NULL, 0);
		return;
	case EVHTTP_REQ_DELETE:
		if (http_begin_write(rq) != 0)
			return;
		e = broker_msg_delete(env->e_store, &rq->rq_caller, r, id,
		    idtext, time(NULL), &v, &err);
		http_end_write(rq, e == ECS_OK || err.e_keep);
		if (e != ECS_OK) {
			reply_error(rq, &err);
			return;
		}
		reply_message(rq, &v, 0);
		broker_view_clear(&v);
		return;
	default:
		reply_text(rq, 405, "Method not allowed");
	}
}

void
res_messages(struct req *rq, const struct ecs_resource *r, char **seg,
    int n)
{
	int	 del = rq->rq_method == EVHTTP_REQ_DELETE;

	if (n == 2) {
		if (rq->rq_method == EVHTTP_REQ_POST)
			msg_create(rq, r);
		else
			msg_list(rq, r);
	} else if (n == 3 && !del && strcmp(seg[2], "fifo") == 0)
		msg_queue(rq, r, 0);
	else if (n == 3 && !del && strcmp(seg[2], "lifo") == 0)
		msg_queue(rq, r, 1);
	else if (n == 3 && !del && strcmp(seg[2], "details") == 0)
		msg_collection_details(rq, r);
	else if (n == 3)
		msg_member(rq, r, seg[2], 0);
	else
		msg_member(rq, r, seg[2], 1);
}
