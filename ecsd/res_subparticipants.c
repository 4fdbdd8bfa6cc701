/*
 * res_subparticipants.c: /sys/subparticipants (protocol section 12.5).
 * Only main participants; no cookies are set here.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "ecsd.h"
#include "util.h"

static void
sub_repr(struct req *rq, int64_t sid, int fmt)
{
	struct buf	 b;
	struct jw	 w;
	char		 base[300], loc[600];

	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	if (store_subpart_json(rq->rq_env->e_store, sid, &w) != ECS_OK) {
		reply_text(rq, 500, "Internal storage error");
		buf_free(&b);
		return;
	}
	if (rq->rq_method != EVHTTP_REQ_GET &&
	    rq->rq_method != EVHTTP_REQ_HEAD) {
		req_base_url(rq, base, sizeof(base));
		snprintf(loc, sizeof(loc), "%s/sys/subparticipants/%" PRId64,
		    base, sid);
		reply_add_header(rq, "Location", loc);
	}
	if (fmt == 'x')
		reply_repr(rq, 200, fmt, &b);
	else {
		buf_adds(&b, "\r\n");
		reply(rq, 200, "application/json", b.b_data, b.b_len);
	}
	buf_free(&b);
}

/*
 * The body as JSON: NULL doc for an empty body; -1 after replying 400 or
 * 415. Anything that is not an object counts as {}.
 */
static int
sub_body(struct req *rq, int create, struct json **doc)
{
	const char	*body, *ct;
	size_t		 len;

	*doc = NULL;
	body = req_body(rq, &len);
	if (len == 0 || util_blankn(body, len))
		return 0;
	ct = req_header(rq, "Content-Type");
	if (create && (ct == NULL || (strstr(ct, "application/json") == NULL &&
	    !util_is_json_type(ct)))) {
		reply_text(rq, 415, "Please provide \"Content-Type: "
		    "application/json\" header for json data.");
		return -1;
	}
	if (json_parse(body, len, doc) != ECS_OK) {
		reply_text(rq, 400, create ? "You have provided invalid JSON "
		    "data (SubparticipantsController#create)." : "You have "
		    "provided invalid JSON data "
		    "(SubparticipantsController#update).");
		return -1;
	}
	return 0;
}

static void
sub_list(struct req *rq)
{
	struct ivec	 sids;
	struct buf	 b;
	size_t		 i;

	memset(&sids, 0, sizeof(sids));
	if (store_subpart_list(rq->rq_env->e_store, rq->rq_caller.p_id,
	    &sids) != ECS_OK) {
		reply_text(rq, 500, "Internal storage error");
		return;
	}
	buf_init(&b, 0);
	for (i = 0; i < sids.iv_n; i++)
		buf_printf(&b, "subparticipants/%" PRId64 "\n", sids.iv_v[i]);
	reply(rq, 200, "text/uri-list", b.b_data, b.b_len);
	buf_free(&b);
	ivec_free(&sids);
}

void
res_subparticipants(struct req *rq, char **seg, int n, int sfx)
{
	struct ecsd		*env = rq->rq_env;
	struct ecs_error	 err;
	struct ecs_subpart	 sp;
	struct json		*doc = NULL;
	int64_t			 sid;
	int			 fmt;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	if (strcmp(rq->rq_caller.p_ptype, "anonym") == 0) {
		reply_text(rq, 401, "Anonymous participants not allowed.");
		return;
	}
	if (strcmp(rq->rq_caller.p_ptype, "sub") == 0) {
		reply_text(rq, 401, "Subparticipants not allowed.");
		return;
	}
	if (n == 1 && rq->rq_method != EVHTTP_REQ_POST) {
		if (res_negotiate(rq, "t", (char)sfx) >= 0)
			sub_list(rq);
		return;
	}
	if ((fmt = res_negotiate(rq, "jx", (char)sfx)) < 0)
		return;
	if (n == 1) {
		if (sub_body(rq, 1, &doc) != 0)
			return;
		if (http_begin_write(rq) != 0) {
			json_free(doc);
			return;
		}
		e = broker_subpart_create(env->e_store, &rq->rq_caller, doc,
		    &sid, &err);
		json_free(doc);
		http_end_write(rq, e == ECS_OK);
		if (e != ECS_OK)
			reply_error(rq, &err);
		else
			sub_repr(rq, sid, fmt);
		return;
	}
	if (broker_subpart_owned(env->e_store, rq->rq_caller.p_id, seg[1], &sp,
	    &err) != ECS_OK) {
		reply_error(rq, &err);
		return;
	}
	switch (rq->rq_method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		sub_repr(rq, sp.sp_id, fmt);
		break;
	case EVHTTP_REQ_PUT:
		if (sub_body(rq, 0, &doc) != 0)
			return;
		if (http_begin_write(rq) != 0) {
			json_free(doc);
			return;
		}
		e = broker_subpart_update(env->e_store, &rq->rq_caller,
		    sp.sp_id, doc, &err);
		json_free(doc);
		http_end_write(rq, e == ECS_OK);
		if (e != ECS_OK)
			reply_error(rq, &err);
		else
			sub_repr(rq, sp.sp_id, fmt);
		break;
	case EVHTTP_REQ_DELETE:
		if (http_begin_write(rq) != 0)
			return;
		e = store_participant_delete(env->e_store, sp.sp_pid);
		http_end_write(rq, e == ECS_OK);
		if (e != ECS_OK)
			reply_text(rq, err_status(e), "Internal storage error");
		else
			reply(rq, 200, "application/json", NULL, 0);
		break;
	}
}
