/*
 * admin.c: the admin REST API under /admin/: JSON in and out, HTTP Basic
 * with user admin, only from admin_allow addresses.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include <openssl/crypto.h>

#include "ecsd.h"
#include "passwd.h"
#include "util.h"

#define A_GET	0x01
#define A_POST	0x02
#define A_PUT	0x04
#define A_DEL	0x08

static const struct admin_coll {
	const char	*ac_name;
	int		 ac_coll;	/* methods on /admin/<name> */
	int		 ac_member;	/* methods on /admin/<name>/<id> */
} admin_colls[] = {
	{ "organizations", A_GET | A_POST, A_GET | A_PUT | A_DEL },
	{ "communities", A_GET | A_POST, A_GET | A_PUT | A_DEL },
	{ "resources", A_GET | A_POST, A_GET | A_DEL },
	{ "participants", A_GET | A_POST, A_GET | A_PUT | A_DEL },
	{ "memberships", A_POST, A_DEL },
};

static void
admin_text(struct req *rq, int status, const char *msg)
{
	struct buf	 b;

	buf_init(&b, 0);
	buf_printf(&b, "%s\n", msg);
	reply(rq, status, "text/plain", b.b_data, b.b_len);
	buf_free(&b);
}

static void
admin_fail(struct req *rq, const struct ecs_error *err, enum ecs_err e)
{
	if (err->e_msg[0] != '\0')
		admin_text(rq, err_status(e), err->e_msg);
	else
		admin_text(rq, err_status(e), ecs_strerror(e));
}

/* Answer with the JSON in b, and the final line feed of every answer. */
static void
admin_json(struct req *rq, int status, struct buf *b)
{
	buf_addc(b, '\n');
	reply(rq, status, "application/json", b->b_data, b->b_len);
}

static int
admin_method(struct req *rq)
{
	switch (rq->rq_method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		return A_GET;
	case EVHTTP_REQ_POST:
		return A_POST;
	case EVHTTP_REQ_PUT:
		return A_PUT;
	case EVHTTP_REQ_DELETE:
		return A_DEL;
	default:
		return 0;
	}
}

static int
admin_allow(struct req *rq, int mask)
{
	char	 buf[64] = "";

	if (admin_method(rq) & mask)
		return 0;
	if (mask & A_GET)
		strcat(buf, "GET, HEAD, ");
	if (mask & A_POST)
		strcat(buf, "POST, ");
	if (mask & A_PUT)
		strcat(buf, "PUT, ");
	if (mask & A_DEL)
		strcat(buf, "DELETE, ");
	buf[strlen(buf) - 2] = '\0';
	reply_add_header(rq, "Allow", buf);
	admin_text(rq, 405, "Method not allowed");
	return -1;
}

/* Parse the body as JSON; NULL after replying 400. */
static struct json *
admin_body(struct req *rq)
{
	struct json	*doc = NULL;
	const char	*body;
	size_t		 len;
	enum ecs_err	 e;

	body = req_body(rq, &len);
	if (len == 0) {
		admin_text(rq, 400, "body: a JSON object is required");
		return NULL;
	}
	if ((e = json_parse(body, len, &doc)) != ECS_OK) {
		admin_text(rq, e == ECS_ENOMEM ? 500 : 400,
		    "body: invalid JSON");
		return NULL;
	}
	if (json_type(doc) != JSON_OBJECT) {
		json_free(doc);
		admin_text(rq, 400, "body: must be a JSON object");
		return NULL;
	}
	return doc;
}

static void
admin_object(struct req *rq, const char *kind, int64_t id, int status)
{
	struct buf	 b;
	struct jw	 w;
	enum ecs_err	 e;

	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	e = store_admin_get(rq->rq_env->e_store, kind, id, &w);
	if (e == ECS_OK) {
		admin_json(rq, status, &b);
	} else
		admin_text(rq, err_status(e), e == ECS_ENOTFOUND ?
		    "no such id" : "storage failure");
	buf_free(&b);
}

static void
admin_list(struct req *rq, const char *kind)
{
	struct buf	 b;
	struct jw	 w;

	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	if (store_admin_list(rq->rq_env->e_store, kind, &w) != ECS_OK)
		admin_text(rq, 500, "storage failure");
	else {
		admin_json(rq, 200, &b);
	}
	buf_free(&b);
}

static void
admin_create(struct req *rq, const char *kind)
{
	struct ecs_error	 err;
	struct json		*doc;
	char			 base[300], loc[600];
	int64_t			 id;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	if ((doc = admin_body(rq)) == NULL)
		return;
	if (http_begin_write(rq) != 0) {
		json_free(doc);
		return;
	}
	e = store_admin_create(rq->rq_env->e_store, kind, doc, &id, &err);
	json_free(doc);
	if (e == ECS_OK && (e = broker_admin_settle(rq->rq_env->e_store)) !=
	    ECS_OK)
		util_fail(&err, e, "storage failure");
	http_end_write(rq, e == ECS_OK);
	if (e != ECS_OK) {
		admin_fail(rq, &err, e);
		return;
	}
	req_base_url(rq, base, sizeof(base));
	snprintf(loc, sizeof(loc), "%s/admin/%s/%" PRId64, base, kind, id);
	reply_add_header(rq, "Location", loc);
	admin_object(rq, kind, id, 201);
}

static void
admin_update(struct req *rq, const char *kind, int64_t id)
{
	struct ecs_error	 err;
	struct json		*doc;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	if ((doc = admin_body(rq)) == NULL)
		return;
	if (http_begin_write(rq) != 0) {
		json_free(doc);
		return;
	}
	e = store_admin_update(rq->rq_env->e_store, kind, id, doc, &err);
	json_free(doc);
	if (e == ECS_OK && (e = broker_admin_settle(rq->rq_env->e_store)) !=
	    ECS_OK)
		util_fail(&err, e, "storage failure");
	http_end_write(rq, e == ECS_OK);
	if (e != ECS_OK) {
		admin_fail(rq, &err, e);
		return;
	}
	admin_object(rq, kind, id, 200);
}

static void
admin_delete(struct req *rq, const char *kind, int64_t id)
{
	struct store		*s = rq->rq_env->e_store;
	struct ecs_resource	 r;
	struct buf		 b;
	struct jw		 w;
	enum ecs_err		 e;

	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	if ((e = store_admin_get(s, kind, id, &w)) != ECS_OK) {
		admin_text(rq, err_status(e), e == ECS_ENOTFOUND ?
		    "no such id" : "storage failure");
		buf_free(&b);
		return;
	}
	if (strcmp(kind, "resources") == 0 &&
	    store_resource_get(s, id, &r) == ECS_OK &&
	    strcmp(r.r_ns, "sys") == 0) {
		admin_text(rq, 400, "resource: sys resources cannot be deleted");
		buf_free(&b);
		return;
	}
	if (http_begin_write(rq) != 0) {
		buf_free(&b);
		return;
	}
	if (strcmp(kind, "memberships") == 0)
		e = broker_membership_remove(s, id);
	else
		e = store_admin_delete(s, kind, id);
	http_end_write(rq, e == ECS_OK);
	if (e != ECS_OK)
		admin_text(rq, err_status(e), "storage failure");
	else
		admin_json(rq, 200, &b);
	buf_free(&b);
}

static void
admin_reset(struct req *rq, int64_t id)
{
	struct buf	 b;
	struct jw	 w;
	enum ecs_err	 e;

	buf_init(&b, 0);
	jw_init(&w, &b, 0);
	e = store_admin_get(rq->rq_env->e_store, "participants", id, &w);
	buf_free(&b);
	if (e != ECS_OK) {
		admin_text(rq, err_status(e), e == ECS_ENOTFOUND ?
		    "no such id" : "storage failure");
		return;
	}
	if (http_begin_write(rq) != 0)
		return;
	e = broker_participant_reset(rq->rq_env->e_store, id);
	http_end_write(rq, e == ECS_OK);
	if (e != ECS_OK) {
		admin_text(rq, err_status(e), "storage failure");
		return;
	}
	admin_object(rq, "participants", id, 200);
}

/* PUT /admin/participants/{id}/password {"auth_id","password"}. */
static void
admin_password(struct req *rq, int64_t id)
{
	struct json		*doc;
	const char		*authid, *pw;
	char			 hash[PASSWD_MAX + 1];
	struct buf		 b;
	struct jw		 w;
	enum ecs_err		 e;

	if ((doc = admin_body(rq)) == NULL)
		return;
	authid = json_string(json_get(doc, "auth_id"));
	pw = json_string(json_get(doc, "password"));
	if (authid == NULL) {
		admin_text(rq, 400, "auth_id: required string missing");
		goto done;
	}
	if (json_get(doc, "password") == NULL ||
	    (pw == NULL && json_type(json_get(doc, "password")) != JSON_NULL)) {
		admin_text(rq, 400, "password: a string, or null to remove it");
		goto done;
	}
	if (pw != NULL && (strlen(pw) < 8 || strlen(pw) > 1000)) {
		admin_text(rq, 400, "password: 8 to 1000 bytes");
		goto done;
	}
	if (pw != NULL && passwd_hash(pw, hash, sizeof(hash)) != ECS_OK) {
		admin_text(rq, 500, "cannot hash the password");
		goto done;
	}
	if (http_begin_write(rq) != 0)
		goto done;
	e = store_identity_set_password(rq->rq_env->e_store, id, authid,
	    pw != NULL ? hash : NULL);
	http_end_write(rq, e == ECS_OK);
	authn_forget(rq->rq_env);
	if (e == ECS_ENOTFOUND)
		admin_text(rq, 404, "auth_id: no such identity of this "
		    "participant");
	else if (e != ECS_OK)
		admin_text(rq, err_status(e), "storage failure");
	else {
		buf_init(&b, 0);
		jw_init(&w, &b, 1);
		jw_obj_open(&w);
		jw_kint(&w, "id", id);
		jw_kstr(&w, "auth_id", authid);
		jw_kbool(&w, "password", pw != NULL);
		jw_obj_close(&w);
		admin_json(rq, 200, &b);
		buf_free(&b);
	}
done:
	OPENSSL_cleanse(hash, sizeof(hash));
	json_free(doc);
}

/* POST /admin/gc: one pass of every collection, with its counts. */
static void
admin_gc(struct req *rq)
{
	struct ecsd	*env = rq->rq_env;
	struct buf	 b;
	struct jw	 w;
	int		 nt = 0, np = 0, nm = 0;
	enum ecs_err	 e;

	if (http_begin_write(rq) != 0)
		return;
	e = broker_gc_auths(env->e_store, time(NULL), &nt);
	if (e == ECS_OK)
		e = broker_gc_participants(env->e_store, time(NULL),
		    (time_t)env->e_conf.c_sub_gc_age, &np);
	if (e == ECS_OK)
		e = store_gc_tombstones(env->e_store, &nm);
	http_end_write(rq, e == ECS_OK);
	if (e != ECS_OK) {
		admin_text(rq, err_status(e), "storage failure");
		return;
	}
	log_info("gc: %d tokens, %d participants, %d messages removed", nt,
	    np, nm);
	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	jw_obj_open(&w);
	jw_kint(&w, "tokens", nt);
	jw_kint(&w, "participants", np);
	jw_kint(&w, "messages", nm);
	jw_obj_close(&w);
	admin_json(rq, 200, &b);
	buf_free(&b);
}

static void
admin_apply(struct req *rq)
{
	struct ecs_error	 err;
	struct json		*doc;
	struct buf		 b;
	struct jw		 w;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	if ((doc = admin_body(rq)) == NULL)
		return;
	if (http_begin_write(rq) != 0) {
		json_free(doc);
		return;
	}
	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	e = broker_apply(rq->rq_env->e_store, doc, &w, &err);
	json_free(doc);
	http_end_write(rq, e == ECS_OK);
	if (e != ECS_OK)
		admin_fail(rq, &err, e);
	else {
		admin_json(rq, 200, &b);
	}
	buf_free(&b);
}

static void
admin_export(struct req *rq)
{
	struct buf	 b;
	struct jw	 w;

	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	if (store_admin_export(rq->rq_env->e_store, &w) != ECS_OK)
		admin_text(rq, 500, "storage failure");
	else {
		admin_json(rq, 200, &b);
	}
	buf_free(&b);
}

void
admin_dispatch(struct req *rq, char **seg, int n)
{
	const struct admin_coll	*c = NULL;
	int64_t			 id;
	size_t			 i;

	if (authn_admin(rq) != 0)
		return;
	if (n == 1 && strcmp(seg[0], "apply") == 0) {
		if (admin_allow(rq, A_POST) == 0)
			admin_apply(rq);
		return;
	}
	if (n == 1 && strcmp(seg[0], "gc") == 0) {
		if (admin_allow(rq, A_POST) == 0)
			admin_gc(rq);
		return;
	}
	if (n == 1 && strcmp(seg[0], "export") == 0) {
		if (admin_allow(rq, A_GET) == 0)
			admin_export(rq);
		return;
	}
	for (i = 0; n >= 1 && i < sizeof(admin_colls) / sizeof(admin_colls[0]);
	    i++)
		if (strcmp(seg[0], admin_colls[i].ac_name) == 0)
			c = &admin_colls[i];
	if (c == NULL || n > 3) {
		admin_text(rq, 404, "no such admin route");
		return;
	}
	if (n == 1) {
		if (admin_allow(rq, c->ac_coll) != 0)
			return;
		if (admin_method(rq) == A_POST)
			admin_create(rq, c->ac_name);
		else
			admin_list(rq, c->ac_name);
		return;
	}
	if (util_parse_i64(seg[1], 1, INT64_MAX, &id) != 0) {
		admin_text(rq, 404, "no such id");
		return;
	}
	if (n == 3 && strcmp(c->ac_name, "participants") == 0 &&
	    strcmp(seg[2], "password") == 0) {
		if (admin_allow(rq, A_PUT) == 0)
			admin_password(rq, id);
		return;
	}
	if (n == 3) {
		if (strcmp(c->ac_name, "participants") != 0 ||
		    strcmp(seg[2], "reset") != 0) {
			admin_text(rq, 404, "no such admin route");
			return;
		}
		if (admin_allow(rq, A_POST) == 0)
			admin_reset(rq, id);
		return;
	}
	if (admin_allow(rq, c->ac_member) != 0)
		return;
	switch (admin_method(rq)) {
	case A_GET:
		admin_object(rq, c->ac_name, id, 200);
		break;
	case A_PUT:
		admin_update(rq, c->ac_name, id);
		break;
	case A_DEL:
		admin_delete(rq, c->ac_name, id);
		break;
	}
}
