/*
 * ecc.c: the participant operations of the ECC client API on top of the
 * transport of ecc_http.c: building requests, parsing answers, and the
 * blocking convenience layer.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <ecs/ecc.h>

#include "buf.h"
#include "ecc_http.h"
#include "json.h"
#include "util.h"

#define ECC_PATH_MAX	512
#define ECC_RES_MAX	256

static const struct ecc_header	accept_json = { "Accept", "application/json" };

/*
 * Write "/ns/res" of a resource name ("ns/res" or "/ns/res") into out;
 * -1 unless it is two segments of [A-Za-z0-9_.-].
 */
static int
res_path(const char *res, char *out, size_t len)
{
	const char	*p;
	int		 slashes = 0;
	size_t		 seg = 0;

	if (res == NULL)
		return -1;
	if (*res == '/')
		res++;
	for (p = res; *p != '\0'; p++) {
		if (*p == '/') {
			if (seg == 0)
				return -1;
			slashes++;
			seg = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.')
			seg++;
		else
			return -1;
	}
	if (slashes != 1 || seg == 0)
		return -1;
	if ((size_t)snprintf(out, len, "/%s", res) >= len)
		return -1;
	return 0;
}

static int
hash_ok(const char *h)
{
	const char	*p;

	if (h == NULL || *h == '\0' || strlen(h) > 128)
		return -1;
	for (p = h; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9')))
			return -1;
	return 0;
}

/* The X-EcsQueryStrings header of a selection, or NULL for the default. */
static const char *
select_value(enum ecc_select sel)
{
	switch (sel) {
	case ECC_SENT:
		return "sender=true";
	case ECC_ALL:
		return "all=true";
	case ECC_RECEIVED:
		break;
	}
	return NULL;
}

/* Fill up to two addressing headers into h; returns how many. */
static size_t
addr_headers(const struct ecc_addr *to, struct ecc_header *h)
{
	size_t	 n = 0;

	if (to == NULL)
		return 0;
	if (to->ea_mids != NULL && !util_blank(to->ea_mids)) {
		h[n].eh_name = "X-EcsReceiverMemberships";
		h[n].eh_value = to->ea_mids;
		n++;
	}
	if (to->ea_communities != NULL && !util_blank(to->ea_communities)) {
		h[n].eh_name = "X-EcsReceiverCommunities";
		h[n].eh_value = to->ea_communities;
		n++;
	}
	return n;
}

static enum ecs_err
bad_arg(struct ecc_error *err, const char *what)
{
	ecc_err_set(err, ECS_EINVAL, 0, ECC_NET_OK, "%s", what);
	return ECS_EINVAL;
}

/* ---- the blocking layer ---------------------------------------------- */

struct ecc_sync {
	int			 sy_done;
	struct ecc_reply	*sy_reply;
	struct ecc_error	 sy_err;
};

static void
sync_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct ecc_sync	*sy = arg;

	sy->sy_reply = r;
	sy->sy_err = *err;
	sy->sy_done = 1;
}

/*
 * Run the session's loop until the call is done.  A pending call always
 * holds an event (the kick, its connection or its backoff timer), so the
 * loop cannot run dry before the callback.
 */
enum ecs_err
ecc_call(struct ecc *s, const struct ecc_request *q, struct ecc_reply **rp,
    struct ecc_error *err)
{
	struct ecc_sync	 sy;
	enum ecs_err	 rc;

	memset(&sy, 0, sizeof(sy));
	rc = ecc_call_async(s, q, sync_done, &sy);
	if (rc != ECS_OK) {
		ecc_err_set(err, rc, 0, ECC_NET_OK, "%s",
		    rc == ECS_ENOMEM ? "out of memory" : "invalid request");
		return rc;
	}
	while (!sy.sy_done)
		event_base_loop(ecc_base(s), EVLOOP_ONCE);
	if (err != NULL)
		*err = sy.sy_err;
	if (sy.sy_err.ee_code != ECS_OK) {
		ecc_reply_free(sy.sy_reply);
		return sy.sy_err.ee_code;
	}
	if (rp != NULL)
		*rp = sy.sy_reply;
	else
		ecc_reply_free(sy.sy_reply);
	return ECS_OK;
}

/* ---- requests of the operations -------------------------------------- */

static enum ecs_err
post_req(struct ecc *s, const char *method, const char *resource, int64_t id,
    const struct ecc_addr *to, const char *ctype, const void *body,
    size_t len, ecc_done_fn cb, void *arg, struct ecc_reply **rp,
    struct ecc_error *err)
{
	char			 path[ECC_PATH_MAX], rpath[ECC_RES_MAX];
	struct ecc_header	 h[2];
	struct ecc_request	 q;

	if (res_path(resource, rpath, sizeof(rpath)) == -1)
		return bad_arg(err, "bad resource name (want namespace/name)");
	if (id > 0)
		snprintf(path, sizeof(path), "%s/%lld", rpath, (long long)id);
	else
		snprintf(path, sizeof(path), "%s", rpath);
	memset(&q, 0, sizeof(q));
	q.er_method = method;
	q.er_path = path;
	q.er_headers = h;
	q.er_nheaders = addr_headers(to, h);
	q.er_ctype = ctype;
	q.er_body = body;
	q.er_len = len;
	q.er_idempotent = strcmp(method, "PUT") == 0;
	if (q.er_nheaders == 0)
		return bad_arg(err, "no receivers (memberships or communities)");
	if (ctype == NULL || util_blank(ctype))
		return bad_arg(err, "no content type");
	if (cb != NULL)
		return ecc_call_async(s, &q, cb, arg);
	return ecc_call(s, &q, rp, err);
}

/* A GET-like request of path on the resource, optionally selecting. */
static enum ecs_err
simple_req(struct ecc *s, const char *method, const char *path,
    const char *qstrings, int json, int idempotent, int extra_timeout,
    ecc_done_fn cb, void *arg, struct ecc_reply **rp, struct ecc_error *err)
{
	struct ecc_header	 h[2];
	struct ecc_request	 q;

	memset(&q, 0, sizeof(q));
	q.er_method = method;
	q.er_path = path;
	q.er_headers = h;
	if (json)
		h[q.er_nheaders++] = accept_json;
	if (qstrings != NULL) {
		h[q.er_nheaders].eh_name = "X-EcsQueryStrings";
		h[q.er_nheaders].eh_value = qstrings;
		q.er_nheaders++;
	}
	q.er_idempotent = idempotent;
	q.er_timeout = extra_timeout;
	if (cb != NULL)
		return ecc_call_async(s, &q, cb, arg);
	return ecc_call(s, &q, rp, err);
}

static enum ecs_err
msg_path(const char *resource, int64_t id, const char *suffix, char *path,
    size_t len, struct ecc_error *err)
{
	char	 rpath[ECC_RES_MAX];

	if (res_path(resource, rpath, sizeof(rpath)) == -1)
		return bad_arg(err, "bad resource name (want namespace/name)");
	if (id < 0)
		return bad_arg(err, "bad message id");
	if (id > 0)
		snprintf(path, len, "%s/%lld%s", rpath, (long long)id, suffix);
	else
		snprintf(path, len, "%s%s", rpath, suffix);
	return ECS_OK;
}

enum ecs_err
ecc_post_async(struct ecc *s, const char *resource, const struct ecc_addr *to,
    const char *ctype, const void *body, size_t len, ecc_done_fn cb, void *arg)
{
	if (cb == NULL)
		return ECS_EINVAL;
	return post_req(s, "POST", resource, 0, to, ctype, body, len, cb, arg,
	    NULL, NULL);
}

enum ecs_err
ecc_post(struct ecc *s, const char *resource, const struct ecc_addr *to,
    const char *ctype, const void *body, size_t len, int64_t *idp,
    struct ecc_error *err)
{
	struct ecc_reply	*r = NULL;
	enum ecs_err		 rc;

	rc = post_req(s, "POST", resource, 0, to, ctype, body, len, NULL, NULL,
	    &r, err);
	if (rc != ECS_OK)
		return rc;
	if (r->r_id <= 0) {
		ecc_reply_free(r);
		ecc_err_set(err, ECS_EINVAL, 201, ECC_NET_PROTO,
		    "no message id in the Location of the answer");
		return ECS_EINVAL;
	}
	if (idp != NULL)
		*idp = r->r_id;
	ecc_reply_free(r);
	return ECS_OK;
}

enum ecs_err
ecc_get_async(struct ecc *s, const char *resource, int64_t id, ecc_done_fn cb,
    void *arg)
{
	char	 path[ECC_PATH_MAX];

	if (cb == NULL)
		return ECS_EINVAL;
	if (id <= 0 || msg_path(resource, id, "", path, sizeof(path), NULL) !=
	    ECS_OK)
		return ECS_EINVAL;
	return simple_req(s, "GET", path, NULL, 0, 1, 0, cb, arg, NULL, NULL);
}

enum ecs_err
ecc_get(struct ecc *s, const char *resource, int64_t id,
    struct ecc_reply **rp, struct ecc_error *err)
{
	char		 path[ECC_PATH_MAX];
	enum ecs_err	 rc;

	if (id <= 0)
		return bad_arg(err, "bad message id");
	rc = msg_path(resource, id, "", path, sizeof(path), err);
	if (rc != ECS_OK)
		return rc;
	return simple_req(s, "GET", path, NULL, 0, 1, 0, NULL, NULL, rp, err);
}

enum ecs_err
ecc_update_async(struct ecc *s, const char *resource, int64_t id,
    const struct ecc_addr *to, const char *ctype, const void *body, size_t len,
    ecc_done_fn cb, void *arg)
{
	if (cb == NULL)
		return ECS_EINVAL;
	if (id <= 0)
		return ECS_EINVAL;
	return post_req(s, "PUT", resource, id, to, ctype, body, len, cb, arg,
	    NULL, NULL);
}

enum ecs_err
ecc_update(struct ecc *s, const char *resource, int64_t id,
    const struct ecc_addr *to, const char *ctype, const void *body, size_t len,
    struct ecc_error *err)
{
	if (id <= 0)
		return bad_arg(err, "bad message id");
	return post_req(s, "PUT", resource, id, to, ctype, body, len, NULL,
	    NULL, NULL, err);
}

enum ecs_err
ecc_delete_async(struct ecc *s, const char *resource, int64_t id,
    ecc_done_fn cb, void *arg)
{
	char	 path[ECC_PATH_MAX];

	if (cb == NULL)
		return ECS_EINVAL;
	if (id <= 0 || msg_path(resource, id, "", path, sizeof(path), NULL) !=
	    ECS_OK)
		return ECS_EINVAL;
	return simple_req(s, "DELETE", path, NULL, 0, 0, 0, cb, arg, NULL,
	    NULL);
}

enum ecs_err
ecc_delete(struct ecc *s, const char *resource, int64_t id,
    struct ecc_reply **rp, struct ecc_error *err)
{
	char		 path[ECC_PATH_MAX];
	enum ecs_err	 rc;

	if (id <= 0)
		return bad_arg(err, "bad message id");
	rc = msg_path(resource, id, "", path, sizeof(path), err);
	if (rc != ECS_OK)
		return rc;
	return simple_req(s, "DELETE", path, NULL, 0, 0, 0, NULL, NULL, rp,
	    err);
}

enum ecs_err
ecc_list_async(struct ecc *s, const char *resource, enum ecc_select sel,
    ecc_done_fn cb, void *arg)
{
	char	 path[ECC_PATH_MAX];

	if (cb == NULL)
		return ECS_EINVAL;
	if (msg_path(resource, 0, "", path, sizeof(path), NULL) != ECS_OK)
		return ECS_EINVAL;
	return simple_req(s, "GET", path, select_value(sel), 0, 1, 0, cb, arg,
	    NULL, NULL);
}

enum ecs_err
ecc_list(struct ecc *s, const char *resource, enum ecc_select sel,
    struct ecc_list **lp, struct ecc_error *err)
{
	char			 path[ECC_PATH_MAX];
	struct ecc_reply	*r = NULL;
	enum ecs_err		 rc;

	rc = msg_path(resource, 0, "", path, sizeof(path), err);
	if (rc != ECS_OK)
		return rc;
	rc = simple_req(s, "GET", path, select_value(sel), 0, 1, 0, NULL, NULL,
	    &r, err);
	if (rc != ECS_OK)
		return rc;
	rc = ecc_parse_list(r, lp, err);
	ecc_reply_free(r);
	return rc;
}

enum ecs_err
ecc_queue_async(struct ecc *s, const char *resource, enum ecc_queue which,
    int pop, ecc_done_fn cb, void *arg)
{
	char	 path[ECC_PATH_MAX];

	if (cb == NULL)
		return ECS_EINVAL;
	if (msg_path(resource, 0, which == ECC_LIFO ? "/lifo" : "/fifo", path,
	    sizeof(path), NULL) != ECS_OK)
		return ECS_EINVAL;
	return simple_req(s, pop ? "POST" : "GET", path, NULL, 0, !pop, 0, cb,
	    arg, NULL, NULL);
}

enum ecs_err
ecc_queue(struct ecc *s, const char *resource, enum ecc_queue which, int pop,
    struct ecc_reply **rp, struct ecc_error *err)
{
	char			 path[ECC_PATH_MAX];
	struct ecc_reply	*r = NULL;
	enum ecs_err		 rc;

	rc = msg_path(resource, 0, which == ECC_LIFO ? "/lifo" : "/fifo", path,
	    sizeof(path), err);
	if (rc != ECS_OK)
		return rc;
	rc = simple_req(s, pop ? "POST" : "GET", path, NULL, 0, !pop, 0, NULL,
	    NULL, &r, err);
	if (rc != ECS_OK)
		return rc;
	/* An empty queue is a 200 with an empty body (protocol Q-19). */
	if (r->r_len == 0) {
		ecc_reply_free(r);
		r = NULL;
	}
	if (rp != NULL)
		*rp = r;
	else
		ecc_reply_free(r);
	return ECS_OK;
}

enum ecs_err
ecc_details_async(struct ecc *s, const char *resource, int64_t id,
    enum ecc_select sel, ecc_done_fn cb, void *arg)
{
	char	 path[ECC_PATH_MAX];

	if (cb == NULL)
		return ECS_EINVAL;
	if (msg_path(resource, id, "/details", path, sizeof(path), NULL) !=
	    ECS_OK)
		return ECS_EINVAL;
	return simple_req(s, "GET", path, id > 0 ? NULL : select_value(sel), 1,
	    1, 0, cb, arg, NULL, NULL);
}

enum ecs_err
ecc_details(struct ecc *s, const char *resource, int64_t id,
    enum ecc_select sel, struct ecc_reply **rp, struct ecc_error *err)
{
	char		 path[ECC_PATH_MAX];
	enum ecs_err	 rc;

	rc = msg_path(resource, id, "/details", path, sizeof(path), err);
	if (rc != ECS_OK)
		return rc;
	return simple_req(s, "GET", path, id > 0 ? NULL : select_value(sel), 1,
	    1, 0, NULL, NULL, rp, err);
}

enum ecs_err
ecc_memberships_async(struct ecc *s, ecc_done_fn cb, void *arg)
{
	if (cb == NULL)
		return ECS_EINVAL;
	return simple_req(s, "GET", "/sys/memberships", NULL, 1, 1, 0, cb, arg,
	    NULL, NULL);
}

enum ecs_err
ecc_memberships(struct ecc *s, struct ecc_memberships **mp,
    struct ecc_error *err)
{
	struct ecc_reply	*r = NULL;
	enum ecs_err		 rc;

	rc = simple_req(s, "GET", "/sys/memberships", NULL, 1, 1, 0, NULL, NULL,
	    &r, err);
	if (rc != ECS_OK)
		return rc;
	rc = ecc_parse_memberships(r, mp, err);
	ecc_reply_free(r);
	return rc;
}

static void
events_path(int count, int wait, char *path, size_t len)
{
	size_t	 n;

	n = (size_t)snprintf(path, len, "/sys/events/fifo");
	if (count != 0)
		n += (size_t)snprintf(path + n, len - n, "?count=%d", count);
	if (wait > 0)
		snprintf(path + n, len - n, "%cwait=%d", count != 0 ? '&' : '?',
		    wait);
}

enum ecs_err
ecc_events_async(struct ecc *s, int pop, int count, int wait, ecc_done_fn cb,
    void *arg)
{
	char	 path[64];

	if (cb == NULL)
		return ECS_EINVAL;
	events_path(count, wait, path, sizeof(path));
	return simple_req(s, pop ? "POST" : "GET", path, NULL, 1, !pop,
	    wait > 0 ? wait : 0, cb, arg, NULL, NULL);
}

enum ecs_err
ecc_events(struct ecc *s, int pop, int count, int wait,
    struct ecc_events **ep, struct ecc_error *err)
{
	char			 path[64];
	struct ecc_reply	*r = NULL;
	enum ecs_err		 rc;

	events_path(count, wait, path, sizeof(path));
	rc = simple_req(s, pop ? "POST" : "GET", path, NULL, 1, !pop,
	    wait > 0 ? wait : 0, NULL, NULL, &r, err);
	if (rc != ECS_OK)
		return rc;
	rc = ecc_parse_events(r, ep, err);
	ecc_reply_free(r);
	return rc;
}

/* The JSON body of a token request; NULL when out of memory. */
static char *
token_body(const char *url, const char *realm, size_t *lenp)
{
	struct buf	 b;
	struct jw	 w;

	buf_init(&b, 0);
	jw_init(&w, &b, 0);
	jw_obj_open(&w);
	if (url != NULL)
		jw_kstr(&w, "url", url);
	if (realm != NULL)
		jw_kstr(&w, "realm", realm);
	jw_obj_close(&w);
	if (b.b_err) {
		buf_free(&b);
		return NULL;
	}
	*lenp = b.b_len;
	return buf_release(&b);
}

static enum ecs_err
token_create(struct ecc *s, const struct ecc_addr *to, const char *url,
    const char *realm, ecc_done_fn cb, void *arg, struct ecc_reply **rp,
    struct ecc_error *err)
{
	char			*body;
	size_t			 len = 0;
	struct ecc_header	 h[2];
	struct ecc_request	 q;
	enum ecs_err		 rc;

	if (url == NULL && realm == NULL)
		return bad_arg(err, "a token needs a url or a realm");
	memset(&q, 0, sizeof(q));
	q.er_nheaders = addr_headers(to, h);
	if (q.er_nheaders == 0)
		return bad_arg(err, "no receivers (memberships or communities)");
	body = token_body(url, realm, &len);
	if (body == NULL) {
		ecc_err_set(err, ECS_ENOMEM, 0, ECC_NET_OK, "out of memory");
		return ECS_ENOMEM;
	}
	q.er_method = "POST";
	q.er_path = "/sys/auths";
	q.er_headers = h;
	q.er_ctype = "application/json";
	q.er_body = body;
	q.er_len = len;
	if (cb != NULL)
		rc = ecc_call_async(s, &q, cb, arg);
	else
		rc = ecc_call(s, &q, rp, err);
	free(body);
	return rc;
}

enum ecs_err
ecc_token_create_async(struct ecc *s, const struct ecc_addr *to,
    const char *url, const char *realm, ecc_done_fn cb, void *arg)
{
	if (cb == NULL)
		return ECS_EINVAL;
	return token_create(s, to, url, realm, cb, arg, NULL, NULL);
}

enum ecs_err
ecc_token_create(struct ecc *s, const struct ecc_addr *to, const char *url,
    const char *realm, struct ecc_token **tp, struct ecc_error *err)
{
	struct ecc_reply	*r = NULL;
	enum ecs_err		 rc;

	rc = token_create(s, to, url, realm, NULL, NULL, &r, err);
	if (rc != ECS_OK)
		return rc;
	rc = ecc_parse_token(r, tp, err);
	ecc_reply_free(r);
	return rc;
}

static enum ecs_err
token_req(struct ecc *s, const char *method, const char *hash,
    ecc_done_fn cb, void *arg, struct ecc_token **tp, struct ecc_error *err)
{
	char			 path[ECC_PATH_MAX];
	struct ecc_reply	*r = NULL;
	enum ecs_err		 rc;

	if (hash_ok(hash) == -1)
		return bad_arg(err, "bad token hash");
	snprintf(path, sizeof(path), "/sys/auths/%s", hash);
	if (cb != NULL)
		return simple_req(s, method, path, NULL, 0, method[0] == 'G', 0,
		    cb, arg, NULL, NULL);
	rc = simple_req(s, method, path, NULL, 0, method[0] == 'G', 0, NULL,
	    NULL, &r, err);
	if (rc != ECS_OK)
		return rc;
	rc = ecc_parse_token(r, tp, err);
	ecc_reply_free(r);
	return rc;
}

enum ecs_err
ecc_token_fetch_async(struct ecc *s, const char *hash, ecc_done_fn cb,
    void *arg)
{
	if (cb == NULL)
		return ECS_EINVAL;
	return token_req(s, "GET", hash, cb, arg, NULL, NULL);
}

enum ecs_err
ecc_token_fetch(struct ecc *s, const char *hash, struct ecc_token **tp,
    struct ecc_error *err)
{
	return token_req(s, "GET", hash, NULL, NULL, tp, err);
}

enum ecs_err
ecc_token_consume_async(struct ecc *s, const char *hash, ecc_done_fn cb,
    void *arg)
{
	if (cb == NULL)
		return ECS_EINVAL;
	return token_req(s, "DELETE", hash, cb, arg, NULL, NULL);
}

enum ecs_err
ecc_token_consume(struct ecc *s, const char *hash, struct ecc_token **tp,
    struct ecc_error *err)
{
	return token_req(s, "DELETE", hash, NULL, NULL, tp, err);
}

/* ---- parsing --------------------------------------------------------- */

static enum ecs_err
proto_err(struct ecc_error *err, int status, const char *what)
{
	ecc_err_set(err, ECS_EINVAL, status, ECC_NET_PROTO, "%s", what);
	return ECS_EINVAL;
}

static enum ecs_err
nomem(struct ecc_error *err)
{
	ecc_err_set(err, ECS_ENOMEM, 0, ECC_NET_OK, "out of memory");
	return ECS_ENOMEM;
}

/* A copy of a string member; *out stays NULL when absent; -1 if no memory. */
static int
jdup(const struct json *o, const char *key, char **out)
{
	const char	*v;

	*out = NULL;
	v = json_string(json_get(o, key));
	if (v == NULL)
		return 0;
	*out = strdup(v);
	return *out == NULL ? -1 : 0;
}

static int64_t
jint(const struct json *o, const char *key)
{
	int64_t	 v;

	if (json_int(json_get(o, key), &v) == -1)
		return 0;
	return v;
}

/* The id after the last '/' of a path, or 0. */
static int64_t
tail_id(const char *p)
{
	const char	*q;
	int64_t		 id;

	if (p == NULL)
		return 0;
	q = strrchr(p, '/');
	if (util_parse_i64(q != NULL ? q + 1 : p, 1, INT64_MAX, &id) == -1)
		return 0;
	return id;
}

enum ecs_err
ecc_parse_list(const struct ecc_reply *r, struct ecc_list **lp,
    struct ecc_error *err)
{
	struct ecc_list	*l;
	const char	*p, *e, *slash;
	size_t		 n = 0, len;
	int64_t		 id;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return nomem(err);
	for (p = r->r_body; p < r->r_body + r->r_len; p++)
		if (*p == '\n')
			n++;
	l->l_ids = calloc(n + 1, sizeof(int64_t));
	if (l->l_ids == NULL) {
		ecc_list_free(l);
		return nomem(err);
	}
	for (p = r->r_body; p < r->r_body + r->r_len; p = e + 1) {
		e = memchr(p, '\n', (size_t)(r->r_body + r->r_len - p));
		if (e == NULL)
			e = r->r_body + r->r_len;
		len = (size_t)(e - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;
		slash = p + len;
		while (slash > p && slash[-1] != '/')
			slash--;
		if (util_parse_i64n(slash, len - (size_t)(slash - p), 1,
		    INT64_MAX, &id) == -1 || l->l_n > n) {
			ecc_list_free(l);
			return proto_err(err, r->r_status,
			    "unexpected line in a message list");
		}
		l->l_ids[l->l_n++] = id;
	}
	*lp = l;
	return ECS_OK;
}

/*
 * An answer that is a JSON array or empty (the server's "nothing"): *jp is
 * the tree (NULL when empty) and *np its length; what names it in errors.
 */
static enum ecs_err
parse_array(const struct ecc_reply *r, const char *what, struct json **jp,
    size_t *np, struct ecc_error *err)
{
	char	 msg[64];

	*jp = NULL;
	*np = 0;
	if (util_blankn(r->r_body, r->r_len))
		return ECS_OK;
	if (json_parse(r->r_body, r->r_len, jp) != ECS_OK ||
	    json_type(*jp) != JSON_ARRAY) {
		json_free(*jp);
		*jp = NULL;
		snprintf(msg, sizeof(msg), "%s: not a JSON array", what);
		return proto_err(err, r->r_status, msg);
	}
	*np = json_len(*jp);
	return ECS_OK;
}

enum ecs_err
ecc_parse_events(const struct ecc_reply *r, struct ecc_events **ep,
    struct ecc_error *err)
{
	struct ecc_events	*evs;
	struct json		*j = NULL;
	const struct json	*o;
	size_t			 i, n = 0;
	enum ecs_err		 e;

	if ((e = parse_array(r, "events", &j, &n, err)) != ECS_OK)
		return e;
	evs = calloc(1, sizeof(*evs));
	if (evs == NULL || (evs->evs_ev = calloc(n + 1,
	    sizeof(struct ecc_event))) == NULL) {
		free(evs);
		json_free(j);
		return nomem(err);
	}
	for (i = 0; i < n; i++) {
		o = json_at(j, i);
		if (jdup(o, "ressource", &evs->evs_ev[i].ev_resource) == -1 ||
		    jdup(o, "status", &evs->evs_ev[i].ev_status) == -1) {
			evs->evs_n = i + 1;
			ecc_events_free(evs);
			json_free(j);
			return nomem(err);
		}
		evs->evs_n = i + 1;
		if (evs->evs_ev[i].ev_resource == NULL ||
		    evs->evs_ev[i].ev_status == NULL) {
			ecc_events_free(evs);
			json_free(j);
			return proto_err(err, r->r_status,
			    "events: an event without ressource or status");
		}
		evs->evs_ev[i].ev_id = tail_id(evs->evs_ev[i].ev_resource);
	}
	json_free(j);
	*ep = evs;
	return ECS_OK;
}

static int
member_parse(const struct json *o, struct ecc_member *m)
{
	const struct json	*org;

	m->mb_pid = jint(o, "pid");
	m->mb_mid = jint(o, "mid");
	m->mb_itsyou = json_type(json_get(o, "itsyou")) == JSON_TRUE;
	org = json_get(o, "org");
	if (jdup(o, "name", &m->mb_name) == -1 ||
	    jdup(o, "description", &m->mb_description) == -1 ||
	    jdup(o, "email", &m->mb_email) == -1 ||
	    jdup(o, "dns", &m->mb_dns) == -1 ||
	    jdup(o, "type", &m->mb_type) == -1 ||
	    jdup(org, "name", &m->mb_org) == -1 ||
	    jdup(org, "abbr", &m->mb_abbr) == -1)
		return -1;
	return 0;
}

enum ecs_err
ecc_parse_memberships(const struct ecc_reply *r, struct ecc_memberships **mp,
    struct ecc_error *err)
{
	struct ecc_memberships	*ms;
	struct ecc_community	*c;
	struct json		*j = NULL;
	const struct json	*o, *co, *ps;
	size_t			 i, k, n = 0;
	enum ecs_err		 e;

	if ((e = parse_array(r, "memberships", &j, &n, err)) != ECS_OK)
		return e;
	ms = calloc(1, sizeof(*ms));
	if (ms == NULL || (ms->ms_c = calloc(n + 1,
	    sizeof(struct ecc_community))) == NULL) {
		free(ms);
		json_free(j);
		return nomem(err);
	}
	for (i = 0; i < n; i++) {
		o = json_at(j, i);
		c = &ms->ms_c[i];
		ms->ms_n = i + 1;
		co = json_get(o, "community");
		c->co_cid = jint(co, "cid");
		if (jdup(co, "name", &c->co_name) == -1 ||
		    jdup(co, "description", &c->co_description) == -1)
			goto nomem;
		ps = json_get(o, "participants");
		if (json_type(ps) != JSON_ARRAY)
			continue;
		c->co_members = calloc(json_len(ps) + 1,
		    sizeof(struct ecc_member));
		if (c->co_members == NULL)
			goto nomem;
		for (k = 0; k < json_len(ps); k++) {
			c->co_n = k + 1;
			if (member_parse(json_at(ps, k), &c->co_members[k]) ==
			    -1)
				goto nomem;
		}
	}
	json_free(j);
	*mp = ms;
	return ECS_OK;
nomem:
	ecc_memberships_free(ms);
	json_free(j);
	return nomem(err);
}

enum ecs_err
ecc_parse_token(const struct ecc_reply *r, struct ecc_token **tp,
    struct ecc_error *err)
{
	struct ecc_token	*t;
	struct json		*j = NULL;

	if (json_parse(r->r_body, r->r_len, &j) != ECS_OK ||
	    json_type(j) != JSON_OBJECT) {
		json_free(j);
		return proto_err(err, r->r_status, "token: not a JSON object");
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		json_free(j);
		return nomem(err);
	}
	t->tk_id = r->r_id;
	t->tk_pid = jint(j, "pid");
	t->tk_json = strdup(r->r_body);
	if (t->tk_json == NULL || jdup(j, "hash", &t->tk_hash) == -1 ||
	    jdup(j, "url", &t->tk_url) == -1 ||
	    jdup(j, "realm", &t->tk_realm) == -1 ||
	    jdup(j, "sov", &t->tk_sov) == -1 ||
	    jdup(j, "eov", &t->tk_eov) == -1 ||
	    jdup(j, "abbr", &t->tk_abbr) == -1) {
		ecc_token_free(t);
		json_free(j);
		return nomem(err);
	}
	json_free(j);
	*tp = t;
	return ECS_OK;
}

/* ---- freeing --------------------------------------------------------- */

void
ecc_reply_free(struct ecc_reply *r)
{
	if (r == NULL)
		return;
	free(r->r_ctype);
	free(r->r_body);
	free(r->r_location);
	free(r->r_sender);
	free(r->r_communities);
	free(r->r_etag);
	free(r);
}

void
ecc_list_free(struct ecc_list *l)
{
	if (l == NULL)
		return;
	free(l->l_ids);
	free(l);
}

void
ecc_events_free(struct ecc_events *evs)
{
	size_t	 i;

	if (evs == NULL)
		return;
	for (i = 0; i < evs->evs_n; i++) {
		free(evs->evs_ev[i].ev_resource);
		free(evs->evs_ev[i].ev_status);
	}
	free(evs->evs_ev);
	free(evs);
}

void
ecc_memberships_free(struct ecc_memberships *ms)
{
	struct ecc_community	*c;
	struct ecc_member	*m;
	size_t			 i, k;

	if (ms == NULL)
		return;
	for (i = 0; i < ms->ms_n; i++) {
		c = &ms->ms_c[i];
		for (k = 0; k < c->co_n; k++) {
			m = &c->co_members[k];
			free(m->mb_name);
			free(m->mb_description);
			free(m->mb_email);
			free(m->mb_dns);
			free(m->mb_org);
			free(m->mb_abbr);
			free(m->mb_type);
		}
		free(c->co_members);
		free(c->co_name);
		free(c->co_description);
	}
	free(ms->ms_c);
	free(ms);
}

void
ecc_token_free(struct ecc_token *t)
{
	if (t == NULL)
		return;
	if (t->tk_hash != NULL)
		explicit_bzero(t->tk_hash, strlen(t->tk_hash));
	free(t->tk_hash);
	free(t->tk_url);
	free(t->tk_realm);
	free(t->tk_sov);
	free(t->tk_eov);
	free(t->tk_abbr);
	if (t->tk_json != NULL)
		explicit_bzero(t->tk_json, strlen(t->tk_json));
	free(t->tk_json);
	free(t);
}
