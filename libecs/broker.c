/*
 * broker.c: the protocol's semantics on top of the store.
 * Section numbers refer to the protocol reference (ecs-protocol(7)).
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "rand.h"
#include "util.h"

#define TXT_NO_RECEIVERS "You must at least specify one of " \
	"X-EcsReceiverMemberships or X-EcsReceiverCommunities header\r\n"
#define TXT_NOT_JOINING "You are not joining at least one of the " \
	"community to which you are addressing.\r\nor\r\nYou are not " \
	"joining at least one of the same community as the receiving " \
	"membership.\r\n"
#define TXT_NOT_INVOLVED "You are not allowed to access this resource, " \
	"because you are not the original sender or a receiver."

static enum ecs_err
store_fail(struct ecs_error *err, enum ecs_err e)
{
	if (e == ECS_ENOMEM)
		return util_fail(err, e, "Out of memory");
	if (e == ECS_EFULL || e == ECS_EBUSY)
		return util_fail(err, e, "Storage unavailable, try again "
		    "later");
	/* A row it names deleted by a concurrent request (12.6): 409. */
	if (e == ECS_EEXIST)
		return util_fail(err, e, "Attempted to change a stale object");
	return util_fail(err, e, "Internal storage error");
}

void
broker_view_clear(struct ecs_view *v)
{
	store_msg_clear(&v->v_msg);
	linkv_free(&v->v_links);
	v->v_found = 0;
}

/* --- authentication (4.1, X-EcsAuthId) ------------------------------------ */

enum ecs_err
broker_auth_id(struct store *s, const char *id, int64_t *pid,
    struct ecs_error *err)
{
	enum ecs_err	 e;

	if (id == NULL || util_blank(id))
		return util_fail(err, ECS_EAUTH,
		    "No \"X-EcsAuthId\" http header");
	e = store_identity_pid(s, id, pid);
	if (e == ECS_ENOTFOUND)
		return util_fail(err, ECS_EAUTH,
		    "No \"X-EcsAuthId: %s\" identity found", id);
	if (e != ECS_OK)
		return store_fail(err, e);
	return ECS_OK;
}

/* --- events (10.2) -------------------------------------------------------- */

/* Queue an event subject to the resource and participant switches. */
static enum ecs_err
event_gated(struct store *s, const struct ecs_resource *r, int64_t pid,
    int64_t msg, int type)
{
	if (!r->r_events)
		return ECS_OK;
	return store_event_add(s, pid, msg, type);
}

static enum ecs_err
events_for(struct store *s, const struct ecs_resource *r,
    const struct ivec *pids, int64_t msg, int type)
{
	size_t		 i;
	enum ecs_err	 e = ECS_OK;

	for (i = 0; e == ECS_OK && i < pids->iv_n; i++)
		e = event_gated(s, r, pids->iv_v[i], msg, type);
	return e;
}

/* Events "created" for a message made in this transaction: none to merge. */
static enum ecs_err
events_created(struct store *s, const struct ecs_resource *r,
    const struct ivec *pids, int64_t msg)
{
	size_t		 i;
	enum ecs_err	 e = ECS_OK;

	if (!r->r_events)
		return ECS_OK;
	for (i = 0; e == ECS_OK && i < pids->iv_n; i++)
		e = store_event_add_new(s, pids->iv_v[i], msg, EV_CREATED);
	return e;
}

/* --- addressing (7) ------------------------------------------------------- */

struct route {
	struct ivec	 rt_mids;	/* memberships to link */
	struct ivec	 rt_pids;	/* their participants, parallel */
	struct ivec	 rt_cids;	/* communities for records (create) */
};

static void
route_free(struct route *rt)
{
	ivec_free(&rt->rt_mids);
	ivec_free(&rt->rt_pids);
	ivec_free(&rt->rt_cids);
}

/* Add a receiving membership once, with its participant. */
static enum ecs_err
route_add(struct route *rt, int64_t mid, int64_t pid)
{
	enum ecs_err	 e;

	if (ivec_has(&rt->rt_mids, mid))
		return ECS_OK;
	if ((e = ivec_push(&rt->rt_mids, mid)) != ECS_OK)
		return e;
	return ivec_push(&rt->rt_pids, pid);
}

/*
 * Split a comma list into trimmed, non-empty tokens; cb returns an error.
 * A token is copied to the stack, or to the heap when it is long.
 */
static enum ecs_err
each_token(const char *h, enum ecs_err (*cb)(void *, const char *),
    void *arg)
{
	const char	*p, *q, *t;
	char		 small[64], *tok;
	size_t		 n;
	enum ecs_err	 e = ECS_OK;

	if (h == NULL)
		return ECS_OK;
	for (p = h; e == ECS_OK && *p != '\0'; p = *q ? q + 1 : q) {
		q = strchr(p, ',');
		if (q == NULL)
			q = p + strlen(p);
		for (t = p; t < q && isspace((unsigned char)*t); t++)
			;
		for (n = (size_t)(q - t); n > 0 &&
		    isspace((unsigned char)t[n - 1]); n--)
			;
		if (n == 0)
			continue;
		tok = small;
		if (n >= sizeof(small) && (tok = malloc(n + 1)) == NULL)
			return ECS_ENOMEM;
		memcpy(tok, t, n);
		tok[n] = '\0';
		e = cb(arg, tok);
		if (tok != small)
			free(tok);
	}
	return e;
}

static int
all_digits(const char *t)
{
	if (*t == '\0')
		return 0;
	for (; *t; t++)
		if (!isdigit((unsigned char)*t))
			return 0;
	return 1;
}

struct addr_ctx {
	struct store		*ac_store;
	struct ecs_error	*ac_err;
	int			 ac_create;
	struct ivec		 ac_mids;	/* addressed mids */
	struct ivec		 ac_cids;	/* addressed, existing cids */
	int			 ac_ntok;	/* usable-looking tokens seen */
};

static enum ecs_err
addr_mid(void *arg, const char *tok)
{
	struct addr_ctx	*ac = arg;
	int64_t		 mid;

	if (!all_digits(tok))
		return ECS_OK;		/* ignored silently (7.1) */
	ac->ac_ntok++;
	if (util_parse_i64(tok, 0, INT64_MAX, &mid) != 0)
		mid = 0;
	return ivec_push_unique(&ac->ac_mids, mid);
}

static enum ecs_err
addr_comm(void *arg, const char *tok)
{
	struct addr_ctx	*ac = arg;
	int64_t		 cid;
	enum ecs_err	 e;

	ac->ac_ntok++;
	if (all_digits(tok)) {
		if (util_parse_i64(tok, 0, INT64_MAX, &cid) != 0 ||
		    (e = store_community_exists(ac->ac_store, cid)) ==
		    ECS_ENOTFOUND) {
			if (ac->ac_create)
				return util_fail(ac->ac_err, ECS_ENOTFOUND,
				    "Couldn't find Community with ID=%s", tok);
			return ECS_OK;	/* unusable on update */
		}
		if (e != ECS_OK)
			return store_fail(ac->ac_err, e);
	} else {
		e = store_community_by_name(ac->ac_store, tok, &cid);
		if (e == ECS_ENOTFOUND)
			return util_fail(ac->ac_err, ECS_EINVAL,
			    "community id/name in X-EcsReceiverCommunities "
			    "header not found: %s", tok);
		if (e != ECS_OK)
			return store_fail(ac->ac_err, e);
	}
	return ivec_push_unique(&ac->ac_cids, cid);
}

/*
 * Whether participant pid is a member of community cid: one lookup on the
 * (participant, community) index per community, remembered in yes and no.
 * (Listing all of the sender's communities sorted them on every message.)
 */
static enum ecs_err
member_of(struct store *s, int64_t pid, int64_t cid, struct ivec *yes,
    struct ivec *no, int *in)
{
	int64_t		 mid;
	enum ecs_err	 e;

	if (ivec_has(yes, cid)) {
		*in = 1;
		return ECS_OK;
	}
	if (ivec_has(no, cid)) {
		*in = 0;
		return ECS_OK;
	}
	e = store_member_mid(s, pid, cid, &mid);
	if (e == ECS_OK) {
		*in = 1;
		return ivec_push(yes, cid);
	}
	if (e == ECS_ENOTFOUND) {
		*in = 0;
		return ivec_push(no, cid);
	}
	return e;
}

/* Work out the receiver memberships of a create or update (6.3, 7.2). */
static enum ecs_err
address(struct store *s, const struct ecs_participant *snd,
    const struct ecs_post *p, int create, struct route *rt,
    struct ecs_error *err)
{
	struct addr_ctx	 ac;
	struct ivec	 mine, notmine, mids, pids, acids, apids;
	int64_t		 cid, pid;
	size_t		 i, j;
	int		 usable = 0, in = 0;
	enum ecs_err	 e;

	memset(&ac, 0, sizeof(ac));
	memset(&mine, 0, sizeof(mine));
	memset(&notmine, 0, sizeof(notmine));
	memset(&acids, 0, sizeof(acids));
	memset(&apids, 0, sizeof(apids));
	ac.ac_store = s;
	ac.ac_err = err;
	ac.ac_create = create;
	if ((e = each_token(p->ep_comms, addr_comm, &ac)) != ECS_OK)
		goto done;
	if ((e = each_token(p->ep_mids, addr_mid, &ac)) != ECS_OK)
		goto done;
	if (ac.ac_ntok == 0) {
		e = util_fail(err, ECS_EINVAL, "%s", TXT_NO_RECEIVERS);
		goto done;
	}
	/* Every addressed mid must exist (step 5), usable or not. */
	for (i = 0; i < ac.ac_mids.iv_n; i++) {
		e = store_mid_info(s, ac.ac_mids.iv_v[i], &cid, &pid);
		if (e == ECS_ENOTFOUND) {
			e = util_fail(err, ECS_EINVAL, "Membership id in "
			    "X-EcsReceiverMemberships header not found.");
			goto done;
		}
		if (e != ECS_OK || (e = ivec_push(&acids, cid)) != ECS_OK ||
		    (e = ivec_push(&apids, pid)) != ECS_OK) {
			e = store_fail(err, e);
			goto done;
		}
	}
	for (i = 0; e == ECS_OK && i < ac.ac_mids.iv_n; i++) {
		if ((e = member_of(s, snd->p_id, acids.iv_v[i], &mine,
		    &notmine, &in)) != ECS_OK || !in)
			continue;
		usable = 1;
		e = route_add(rt, ac.ac_mids.iv_v[i], apids.iv_v[i]);
	}
	for (i = 0; e == ECS_OK && i < ac.ac_cids.iv_n; i++) {
		cid = ac.ac_cids.iv_v[i];
		if ((e = member_of(s, snd->p_id, cid, &mine, &notmine,
		    &in)) != ECS_OK || !in)
			continue;
		usable = 1;
		if ((e = ivec_push_unique(&rt->rt_cids, cid)) != ECS_OK)
			break;
		memset(&mids, 0, sizeof(mids));
		memset(&pids, 0, sizeof(pids));
		e = store_community_mids(s, cid, &mids, &pids);
		for (j = 0; e == ECS_OK && j < mids.iv_n; j++) {
			if (pids.iv_v[j] == snd->p_id && !snd->p_selfrouting)
				continue;
			e = route_add(rt, mids.iv_v[j], pids.iv_v[j]);
		}
		ivec_free(&mids);
		ivec_free(&pids);
	}
	if (e != ECS_OK) {
		e = store_fail(err, e);
		goto done;
	}
	if (!usable)
		e = util_fail(err, ECS_EDENIED, "%s", TXT_NOT_JOINING);
done:
	ivec_free(&ac.ac_mids);
	ivec_free(&ac.ac_cids);
	ivec_free(&mine);
	ivec_free(&notmine);
	ivec_free(&acids);
	ivec_free(&apids);
	return e;
}

/* Content-Type and body present (6.3 step 2). */
static enum ecs_err
validate_post(const struct ecs_post *p, struct ecs_error *err)
{
	int	 noct = p->ep_ctype == NULL || util_blank(p->ep_ctype);
	int	 nobody = util_blankn(p->ep_body, p->ep_len);

	if (noct && nobody)
		return util_fail(err, ECS_EINVAL, "Validation failed: *** "
		    "You must povide a \"Content-Type\" header. , *** You have "
		    "to provide a \"http body\". *** ");
	if (noct)
		return util_fail(err, ECS_EINVAL, "Validation failed: *** "
		    "You must povide a \"Content-Type\" header. ");
	if (nobody)
		return util_fail(err, ECS_EINVAL, "Validation failed: *** "
		    "You have to provide a \"http body\". *** ");
	return ECS_OK;
}

/* --- one-touch tokens (11) ------------------------------------------------ */

static int
is_auths(const struct ecs_resource *r)
{
	return strcmp(r->r_ns, "sys") == 0 && strcmp(r->r_name, "auths") == 0;
}

/* Build the stored token body from the posted one (11.2). */
static enum ecs_err
token_body(const struct ecs_participant *snd, const struct ecs_post *p,
    struct buf *out, char *hash, time_t *eovp, struct ecs_error *err)
{
	struct json		*doc = NULL;
	const struct json	*vs, *ve;
	time_t			 sov, eov, now = p->ep_now;
	time_t			 ttl = p->ep_auth_ttl > 0 ? p->ep_auth_ttl :
				    AUTH_TTL;
	time_t			 least = p->ep_auth_min > 0 ? p->ep_auth_min :
				    AUTH_MIN;
	char			 sovs[40], eovs[40];
	const char		*keep_sov = NULL, *keep_eov = NULL;
	struct jw		 w;
	size_t			 i;
	const char		*k;
	enum ecs_err		 e;

	if (!util_is_json_type(p->ep_ctype))
		return util_fail(err, ECS_EMEDIA,
		    "Body format has to be in JSON");
	if ((e = json_parse(p->ep_body, p->ep_len, &doc)) != ECS_OK ||
	    json_type(doc) != JSON_OBJECT) {
		json_free(doc);
		if (e == ECS_ENOMEM)
			return store_fail(err, e);
		return util_fail(err, ECS_EINVAL, "Invalid JSON body");
	}
	if (json_get(doc, "url") == NULL && json_get(doc, "realm") == NULL) {
		json_free(doc);
		return util_fail(err, ECS_EINVAL,
		    "You have to provide realm or url attribute");
	}
	vs = json_get(doc, "sov");
	ve = json_get(doc, "eov");
	if ((vs != NULL && (json_string(vs) == NULL ||
	    util_parse_iso8601(json_string(vs), &sov) != 0)) ||
	    (ve != NULL && (json_string(ve) == NULL ||
	    util_parse_iso8601(json_string(ve), &eov) != 0))) {
		json_free(doc);
		return util_fail(err, ECS_EINVAL,
		    "invalid times either in sov or eov");
	}
	if (vs == NULL && ve == NULL) {
		sov = now;
		eov = now + ttl;
	} else if (ve == NULL) {
		if (sov < now) {
			json_free(doc);
			return util_fail(err, ECS_EINVAL,
			    "sov time is younger then current time");
		}
		keep_sov = json_string(vs);
		eov = sov + ttl;
	} else if (vs == NULL) {
		if (eov < now + least) {
			json_free(doc);
			return util_fail(err, ECS_EINVAL,
			    "eov time is too young");
		}
		keep_eov = json_string(ve);
		sov = now;
	} else {
		if (eov < now || eov < sov) {
			json_free(doc);
			return util_fail(err, ECS_EINVAL,
			    "invalid times either in sov or eov");
		}
		keep_sov = json_string(vs);
		keep_eov = json_string(ve);
	}
	util_iso8601(sov, sovs, sizeof(sovs));
	util_iso8601(eov, eovs, sizeof(eovs));
	if ((e = rand_hex(hash, 20)) != ECS_OK) {
		json_free(doc);
		return store_fail(err, e);
	}
	jw_init(&w, out, 1);
	jw_obj_open(&w);
	for (i = 0; i < json_len(doc); i++) {
		k = json_key_at(doc, i);
		if (strcmp(k, "sov") == 0 || strcmp(k, "eov") == 0 ||
		    strcmp(k, "abbr") == 0 || strcmp(k, "hash") == 0 ||
		    strcmp(k, "pid") == 0)
			continue;
		jw_key(&w, k);
		jw_value(&w, json_at(doc, i));
	}
	jw_kstr(&w, "sov", keep_sov ? keep_sov : sovs);
	jw_kstr(&w, "eov", keep_eov ? keep_eov : eovs);
	jw_kstr(&w, "abbr", snd->p_abbr);
	jw_kstr(&w, "hash", hash);
	jw_kint(&w, "pid", snd->p_id);
	jw_obj_close(&w);
	json_free(doc);
	if (out->b_err)
		return util_fail(err, ECS_ETOOBIG, "Token too large");
	*eovp = eov;
	return ECS_OK;
}

/* --- messages (6) --------------------------------------------------------- */

enum ecs_err
broker_msg_create(struct store *s, const struct ecs_participant *snd,
    const struct ecs_resource *r, const struct ecs_post *p, int64_t *id,
    struct ecs_error *err)
{
	struct route	 rt;
	struct ivec	 pids;
	struct buf	 tok;
	char		 hash[64];
	time_t		 eov = 0;
	const char	*body = p->ep_body;
	size_t		 len = p->ep_len, i;
	enum ecs_err	 e;

	memset(&rt, 0, sizeof(rt));
	memset(&pids, 0, sizeof(pids));
	buf_init(&tok, 0);
	if ((e = validate_post(p, err)) != ECS_OK)
		return e;
	if ((e = address(s, snd, p, 1, &rt, err)) != ECS_OK)
		goto done;
	if (is_auths(r)) {
		if ((e = token_body(snd, p, &tok, hash, &eov, err)) != ECS_OK)
			goto done;
		body = tok.b_data;
		len = tok.b_len;
	}
	if ((e = store_msg_insert(s, r->r_id, snd->p_id, p->ep_ctype, body,
	    len, p->ep_now, id)) != ECS_OK)
		goto fail;
	/* A new message, each membership once (address): plain inserts. */
	for (i = 0; i < rt.rt_mids.iv_n; i++) {
		if ((e = store_link_new(s, rt.rt_mids.iv_v[i], *id, r->r_id)) !=
		    ECS_OK ||
		    (e = ivec_push_unique(&pids, rt.rt_pids.iv_v[i])) != ECS_OK)
			goto fail;
	}
	for (i = 0; i < rt.rt_cids.iv_n; i++)
		if ((e = store_community_record(s, rt.rt_cids.iv_v[i], *id)) !=
		    ECS_OK)
			goto fail;
	if ((e = events_created(s, r, &pids, *id)) != ECS_OK)
		goto fail;
	if (is_auths(r) && (e = store_auth_put(s, *id, hash, eov)) != ECS_OK)
		goto fail;
	goto done;
fail:
	e = store_fail(err, e);
done:
	route_free(&rt);
	ivec_free(&pids);
	buf_free(&tok);
	return e;
}

enum ecs_err
broker_msg_find(struct store *s, const struct ecs_resource *r,
    const char *idtext, int64_t *id, struct ecs_error *err)
{
	struct ecs_msg	 m;
	enum ecs_err	 e;

	if (is_auths(r) && !all_digits(idtext)) {
		e = store_auth_by_hash(s, idtext, id);
		if (e == ECS_ENOTFOUND)
			return util_fail(err, e, "Invalid auths hash");
		if (e != ECS_OK)
			return store_fail(err, e);
	} else if (util_parse_i64(idtext, 1, INT64_MAX, id) != 0) {
		return util_fail(err, ECS_ENOTFOUND, is_auths(r) ?
		    "Invalid auths id" : "Invalid resource id");
	}
	e = store_msg_get(s, *id, &m);
	if (e == ECS_ENOTFOUND)
		return util_fail(err, e, is_auths(r) && all_digits(idtext) ?
		    "Invalid auths id" : "Invalid resource id");
	if (e != ECS_OK)
		return store_fail(err, e);
	e = ECS_OK;
	if (m.m_resource_id != r->r_id || m.m_removed)
		e = util_fail(err, ECS_ENOTFOUND, is_auths(r) &&
		    m.m_resource_id != r->r_id && all_digits(idtext) ?
		    "Invalid auths id" : "Invalid resource id");
	store_msg_clear(&m);
	return e;
}

/*
 * Of all the links of a message (all, taken over), the caller's, into out;
 * the number of the others into *others when it is not NULL.
 */
static void
pick_links(int64_t caller, struct ecs_linkv *all, struct ecs_linkv *out,
    int64_t *others)
{
	size_t	 i;

	out->lv_n = 0;
	for (i = 0; i < all->lv_n; i++)
		if (all->lv_v[i].l_pid == caller)
			all->lv_v[out->lv_n++] = all->lv_v[i];
	if (others != NULL)
		*others = (int64_t)(all->lv_n - out->lv_n);
	out->lv_v = all->lv_v;
	if (out->lv_n == 0) {
		free(all->lv_v);
		out->lv_v = NULL;
	}
	all->lv_v = NULL;
	all->lv_n = 0;
}

/* The caller's links of a message (for the receiver headers). */
static enum ecs_err
caller_links(struct store *s, int64_t caller, const struct ecs_msg *m,
    struct ecs_linkv *out, int64_t *others)
{
	struct ecs_linkv	 all;
	enum ecs_err		 e;

	out->lv_v = NULL;
	out->lv_n = 0;
	if ((e = store_msg_links(s, m->m_id, m->m_sender, &all)) != ECS_OK)
		return e;
	pick_links(caller, &all, out, others);
	return ECS_OK;
}

/* Is an unexpired token required of this caller, and is it expired? */
static enum ecs_err
token_expired(struct store *s, const struct ecs_resource *r,
    const struct ecs_participant *c, const struct ecs_view *v, time_t now,
    int *expired)
{
	time_t		 eov;
	enum ecs_err	 e;

	*expired = 0;
	if (!is_auths(r) || v->v_msg.m_sender == c->p_id || v->v_links.lv_n == 0)
		return ECS_OK;
	e = store_auth_eov(s, v->v_msg.m_id, &eov);
	if (e == ECS_ENOTFOUND)
		return ECS_OK;
	if (e != ECS_OK)
		return e;
	*expired = now >= eov;
	return ECS_OK;
}

enum ecs_err
broker_msg_show(struct store *s, const struct ecs_participant *c,
    const struct ecs_resource *r, int64_t id, time_t now, struct ecs_view *v,
    struct ecs_error *err)
{
	enum ecs_err	 e;
	int		 expired;

	memset(v, 0, sizeof(*v));
	if ((e = store_msg_get(s, id, &v->v_msg)) != ECS_OK ||
	    (e = caller_links(s, c->p_id, &v->v_msg, &v->v_links, NULL)) !=
	    ECS_OK) {
		broker_view_clear(v);
		return store_fail(err, e);
	}
	v->v_found = 1;
	if (v->v_msg.m_sender != c->p_id && v->v_links.lv_n == 0) {
		broker_view_clear(v);
		return util_fail(err, ECS_EDENIED, "%s", TXT_NOT_INVOLVED);
	}
	if ((e = token_expired(s, r, c, v, now, &expired)) != ECS_OK) {
		broker_view_clear(v);
		return store_fail(err, e);
	}
	if (expired) {
		broker_view_clear(v);
		return util_fail(err, ECS_ECONFLICT,
		    "Authorization token outtimed");
	}
	return ECS_OK;
}

enum ecs_err
broker_msg_update(struct store *s, const struct ecs_participant *c,
    const struct ecs_resource *r, int64_t id, const struct ecs_post *p,
    struct ecs_error *err)
{
	struct ecs_msg	 m;
	struct route	 rt;
	struct ivec	 old, new, both, gone, fresh;
	struct buf	 tok;
	char		 hash[64];
	time_t		 eov = 0;
	const char	*body = p->ep_body;
	size_t		 len = p->ep_len, i;
	int64_t		 pid;
	enum ecs_err	 e;

	memset(&rt, 0, sizeof(rt));
	memset(&old, 0, sizeof(old));
	memset(&new, 0, sizeof(new));
	memset(&both, 0, sizeof(both));
	memset(&gone, 0, sizeof(gone));
	memset(&fresh, 0, sizeof(fresh));
	buf_init(&tok, 0);
	if ((e = store_msg_get(s, id, &m)) != ECS_OK)
		return store_fail(err, e);
	pid = m.m_sender;
	store_msg_clear(&m);
	if (pid != c->p_id)
		return util_fail(err, ECS_EDENIED,
		    "You are not the original sender of the message.");
	if ((e = validate_post(p, err)) != ECS_OK)
		return e;
	if ((e = address(s, c, p, 0, &rt, err)) != ECS_OK)
		goto done;
	if (is_auths(r)) {
		if ((e = token_body(c, p, &tok, hash, &eov, err)) != ECS_OK)
			goto done;
		body = tok.b_data;
		len = tok.b_len;
	}
	if ((e = store_msg_receiver_pids(s, id, &old)) != ECS_OK ||
	    (e = store_links_delete(s, id)) != ECS_OK)
		goto fail;
	for (i = 0; i < rt.rt_mids.iv_n; i++) {
		if ((e = store_link_add(s, rt.rt_mids.iv_v[i], id, r->r_id)) !=
		    ECS_OK ||
		    (e = ivec_push_unique(&new, rt.rt_pids.iv_v[i])) != ECS_OK)
			goto fail;
	}
	if ((e = store_msg_update(s, id, p->ep_ctype, body, len, p->ep_now)) !=
	    ECS_OK)
		goto fail;
	for (i = 0; e == ECS_OK && i < old.iv_n; i++)
		e = ivec_push(ivec_has(&new, old.iv_v[i]) ? &both : &gone,
		    old.iv_v[i]);
	for (i = 0; e == ECS_OK && i < new.iv_n; i++)
		if (!ivec_has(&old, new.iv_v[i]))
			e = ivec_push(&fresh, new.iv_v[i]);
	if (e != ECS_OK ||
	    (e = events_for(s, r, &both, id, EV_UPDATED)) != ECS_OK ||
	    (e = events_for(s, r, &gone, id, EV_DESTROYED)) != ECS_OK ||
	    (e = events_for(s, r, &fresh, id, EV_CREATED)) != ECS_OK)
		goto fail;
	if (is_auths(r) && (e = store_auth_put(s, id, hash, eov)) != ECS_OK)
		goto fail;
	goto done;
fail:
	e = store_fail(err, e);
done:
	route_free(&rt);
	ivec_free(&old);
	ivec_free(&new);
	ivec_free(&both);
	ivec_free(&gone);
	ivec_free(&fresh);
	buf_free(&tok);
	return e;
}

/*
 * Remove the caller's links (those in lv when the caller knows them, by
 * primary key; otherwise all of pid's); dispose of a message nobody holds
 * any more (6.7). others: the links of the message that are not the
 * caller's, as read in this transaction along with lv (caller_links), or
 * -1 to ask the store.
 */
static enum ecs_err
delete_as_receiver(struct store *s, const struct ecs_resource *r,
    int64_t pid, int64_t id, const struct ecs_linkv *lv, int64_t others)
{
	size_t		 i;
	int		 left = -1, last;
	enum ecs_err	 e = ECS_OK;

	if (lv != NULL && others >= 0)
		left = others > 0;
	/* A last link known as such goes with the disposal's lock. */
	last = left == 0 && !r->r_postroute;
	if (lv == NULL)
		e = store_links_delete_pid(s, id, pid);
	for (i = 0; lv != NULL && e == ECS_OK && i < lv->lv_n; i++)
		e = last && i + 1 == lv->lv_n ?
		    store_link_delete_last(s, lv->lv_v[i].l_mid, id) :
		    store_link_delete(s, lv->lv_v[i].l_mid, id);
	if (e != ECS_OK)
		return e;
	if (left < 0 && (e = store_msg_has_links(s, id, &left)) != ECS_OK)
		return e;
	if (!left && !r->r_postroute)
		return store_msg_dispose(s, id, is_auths(r));
	return ECS_OK;
}

static enum ecs_err
delete_as_sender(struct store *s, const struct ecs_resource *r, int64_t id)
{
	struct ivec	 pids;
	enum ecs_err	 e;

	memset(&pids, 0, sizeof(pids));
	if ((e = store_msg_receiver_pids(s, id, &pids)) == ECS_OK &&
	    (e = events_for(s, r, &pids, id, EV_DESTROYED)) == ECS_OK &&
	    (e = store_links_delete(s, id)) == ECS_OK)
		e = store_msg_dispose(s, id, is_auths(r));
	ivec_free(&pids);
	return e;
}

enum ecs_err
broker_msg_delete(struct store *s, const struct ecs_participant *c,
    const struct ecs_resource *r, int64_t id, const char *idtext, time_t now,
    struct ecs_view *v, struct ecs_error *err)
{
	int64_t		 others;
	enum ecs_err	 e;
	int		 expired;

	memset(v, 0, sizeof(*v));
	if ((e = store_msg_get(s, id, &v->v_msg)) != ECS_OK ||
	    (e = caller_links(s, c->p_id, &v->v_msg, &v->v_links, &others)) !=
	    ECS_OK) {
		broker_view_clear(v);
		return store_fail(err, e);
	}
	v->v_found = 1;
	if (v->v_links.lv_n > 0) {
		if ((e = token_expired(s, r, c, v, now, &expired)) != ECS_OK ||
		    (e = delete_as_receiver(s, r, c->p_id, id, &v->v_links,
		    others)) != ECS_OK) {
			broker_view_clear(v);
			return store_fail(err, e);
		}
		if (expired) {
			broker_view_clear(v);
			util_fail(err, ECS_ECONFLICT,
			    "Authorization token outtimed");
			err->e_keep = 1;
			return ECS_ECONFLICT;
		}
		return ECS_OK;
	}
	if (v->v_msg.m_sender == c->p_id) {
		if ((e = delete_as_sender(s, r, id)) != ECS_OK) {
			broker_view_clear(v);
			return store_fail(err, e);
		}
		return ECS_OK;
	}
	broker_view_clear(v);
	return util_fail(err, ECS_ENOTFOUND,
	    "you are not a receiver of \"%s/%s/%s\"", r->r_ns, r->r_name,
	    idtext);
}

enum ecs_err
broker_queue(struct store *s, const struct ecs_participant *c,
    const struct ecs_resource *r, int lifo, int pop, struct ecs_view *v,
    struct ecs_error *err)
{
	struct ecs_linkv	 all;
	int64_t			 id, others;
	enum ecs_err		 e;

	memset(v, 0, sizeof(*v));
	if ((e = store_queue_peek(s, c->p_id, r->r_id, lifo, &v->v_msg,
	    &all)) != ECS_OK)
		return store_fail(err, e);
	if ((id = v->v_msg.m_id) == 0)
		return ECS_OK;
	pick_links(c->p_id, &all, &v->v_links, &others);
	v->v_found = 1;
	if (pop && (e = delete_as_receiver(s, r, c->p_id, id, &v->v_links,
	    others)) != ECS_OK) {
		broker_view_clear(v);
		return store_fail(err, e);
	}
	return ECS_OK;
}

enum ecs_err
broker_list(struct store *s, const struct ecs_participant *c,
    const struct ecs_resource *r, int sel, struct ivec *out)
{
	struct ivec	 recv;
	size_t		 i;
	enum ecs_err	 e;

	if (sel == 's')
		return store_list_sent(s, c->p_id, r->r_id, out);
	if (sel == 'r')
		return store_list_received(s, c->p_id, r->r_id, out);
	memset(&recv, 0, sizeof(recv));
	if ((e = store_list_sent(s, c->p_id, r->r_id, out)) != ECS_OK ||
	    (e = store_list_received(s, c->p_id, r->r_id, &recv)) != ECS_OK) {
		ivec_free(&recv);
		return e;
	}
	for (i = 0; e == ECS_OK && i < recv.iv_n; i++)
		e = ivec_push_unique(out, recv.iv_v[i]);
	ivec_free(&recv);
	return e;
}

enum ecs_err
broker_details(struct store *s, const struct ecs_participant *c,
    const struct ecs_resource *r, int64_t id, const char *idtext, int check,
    struct jw *w, struct ecs_error *err)
{
	struct ecs_msg		 m;
	struct ecs_linkv	 lv;
	size_t			 i;
	int			 involved;
	enum ecs_err		 e;
	char			 url[400];

	if ((e = store_msg_get(s, id, &m)) != ECS_OK)
		return store_fail(err, e);
	if ((e = store_msg_links(s, id, m.m_sender, &lv)) != ECS_OK) {
		store_msg_clear(&m);
		return store_fail(err, e);
	}
	involved = m.m_sender == c->p_id;
	for (i = 0; i < lv.lv_n; i++)
		if (lv.lv_v[i].l_pid == c->p_id)
			involved = 1;
	if (check && !involved) {
		store_msg_clear(&m);
		linkv_free(&lv);
		return util_fail(err, ECS_EDENIED, "%s", TXT_NOT_INVOLVED);
	}
	jw_obj_open(w);
	jw_key(w, "receivers");
	jw_arr_open(w);
	for (i = 0; i < lv.lv_n; i++) {
		jw_obj_open(w);
		jw_kint(w, "pid", lv.lv_v[i].l_pid);
		jw_kint(w, "mid", lv.lv_v[i].l_mid);
		jw_kint(w, "cid", lv.lv_v[i].l_cid);
		jw_kbool(w, "itsyou", lv.lv_v[i].l_pid == c->p_id);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_key(w, "senders");
	jw_arr_open(w);
	for (i = 0; i < lv.lv_n; i++) {
		jw_obj_open(w);
		jw_key(w, "mid");
		if (lv.lv_v[i].l_sender_mid < 0)
			jw_null(w);
		else
			jw_int(w, lv.lv_v[i].l_sender_mid);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_kstr(w, "content_type", m.m_ctype);
	/* The url is "<res>/<id as requested>". */
	snprintf(url, sizeof(url), "%s/%s", r->r_name, idtext);
	jw_kstr(w, "url", url);
	jw_key(w, "owner");
	jw_obj_open(w);
	jw_kbool(w, "itsyou", m.m_sender == c->p_id);
	jw_kint(w, "pid", m.m_sender);
	jw_obj_close(w);
	jw_obj_close(w);
	store_msg_clear(&m);
	linkv_free(&lv);
	return ECS_OK;
}

/* --- event queues (10.1) -------------------------------------------------- */

static const char *
ev_name(int type)
{
	switch (type) {
	case EV_CREATED:
		return "created";
	case EV_DESTROYED:
		return "destroyed";
	case EV_UPDATED:
		return "updated";
	default:
		return "notlinked";
	}
}

enum ecs_err
broker_events(struct store *s, int64_t pid, int64_t count, int pop, int fmt,
    struct buf *out, int *n)
{
	struct ecs_event	*ev = NULL;
	size_t			 nev = 0, i;
	struct jw		 w;
	enum ecs_err		 e;

	*n = 0;
	if (count != 0 && (e = (pop ? store_events_take : store_events)(s,
	    pid, count < 0 ? -1 : count, &ev, &nev)) != ECS_OK)
		return e;
	jw_init(&w, out, 1);
	if (fmt == 'j')
		jw_arr_open(&w);
	for (i = 0; i < nev; i++) {
		if (fmt == 'j') {
			jw_obj_open(&w);
			jw_kstr(&w, "ressource", ev[i].e_path);
			jw_kstr(&w, "status", ev_name(ev[i].e_type));
			jw_obj_close(&w);
		} else
			buf_printf(out, "%s   %s\r\n", ev[i].e_path,
			    ev_name(ev[i].e_type));
	}
	if (fmt == 'j')
		jw_arr_close(&w);
	e = ECS_OK;
	for (i = 0; pop && e == ECS_OK && i < nev; i++)
		e = store_event_delete(s, ev[i].e_id, ev[i].e_msg);
	*n = (int)nev;
	free(ev);
	return e;
}

/* --- memberships and administration (9, 13) ------------------------------- */

enum ecs_err
broker_postroute(struct store *s, int64_t mid)
{
	struct ivec		 msgs;
	struct ecs_resource	 r;
	int64_t			 cid, pid;
	size_t			 i;
	int			 removed;
	enum ecs_err		 e;

	memset(&msgs, 0, sizeof(msgs));
	if ((e = store_mid_info(s, mid, &cid, &pid)) != ECS_OK ||
	    (e = store_postroutable(s, cid, &msgs)) != ECS_OK)
		goto done;
	for (i = 0; e == ECS_OK && i < msgs.iv_n; i++) {
		e = store_msg_resource(s, msgs.iv_v[i], &r, &removed);
		if (e == ECS_OK)
			e = store_link_add(s, mid, msgs.iv_v[i], r.r_id);
		if (e == ECS_OK)
			e = event_gated(s, &r, pid, msgs.iv_v[i], EV_CREATED);
	}
done:
	ivec_free(&msgs);
	return e;
}

enum ecs_err
broker_membership_remove(struct store *s, int64_t mid)
{
	struct ivec		 msgs;
	struct ecs_resource	 r;
	int64_t			 cid, pid;
	size_t			 i;
	int			 removed;
	enum ecs_err		 e;

	memset(&msgs, 0, sizeof(msgs));
	if ((e = store_mid_info(s, mid, &cid, &pid)) != ECS_OK ||
	    (e = store_mid_messages(s, mid, &msgs)) != ECS_OK ||
	    (e = store_community_messages(s, cid, &msgs)) != ECS_OK)
		goto done;
	for (i = 0; e == ECS_OK && i < msgs.iv_n; i++) {
		e = store_msg_resource(s, msgs.iv_v[i], &r, &removed);
		if (e == ECS_OK && !removed)
			e = event_gated(s, &r, pid, msgs.iv_v[i], EV_DESTROYED);
	}
	if (e == ECS_OK)
		e = store_admin_delete(s, "memberships", mid);
done:
	ivec_free(&msgs);
	return e;
}

enum ecs_err
broker_participant_reset(struct store *s, int64_t pid)
{
	struct ivec		 msgs;
	struct ecs_resource	 r;
	size_t			 i;
	int			 removed;
	enum ecs_err		 e;

	memset(&msgs, 0, sizeof(msgs));
	e = store_received_all(s, pid, &msgs);
	for (i = 0; e == ECS_OK && i < msgs.iv_n; i++) {
		e = store_msg_resource(s, msgs.iv_v[i], &r, &removed);
		if (e == ECS_OK)
			e = delete_as_receiver(s, &r, pid, msgs.iv_v[i], NULL, -1);
	}
	msgs.iv_n = 0;
	if (e == ECS_OK)
		e = store_sent_all(s, pid, &msgs);
	for (i = 0; e == ECS_OK && i < msgs.iv_n; i++) {
		e = store_msg_resource(s, msgs.iv_v[i], &r, &removed);
		if (e == ECS_OK)
			e = delete_as_sender(s, &r, msgs.iv_v[i]);
	}
	if (e == ECS_OK)
		e = store_events_delete_pid(s, pid);
	ivec_free(&msgs);
	return e;
}

enum ecs_err
broker_admin_settle(struct store *s)
{
	struct ivec	 mids;
	size_t		 i;
	enum ecs_err	 e;

	memset(&mids, 0, sizeof(mids));
	e = store_take_new_mids(s, &mids);
	for (i = 0; e == ECS_OK && i < mids.iv_n; i++) {
		if (mids.iv_v[i] > 0)
			e = broker_postroute(s, mids.iv_v[i]);
		else
			e = broker_membership_remove(s, -mids.iv_v[i]);
	}
	ivec_free(&mids);
	return e;
}

static enum ecs_err
apply_list(struct store *s, const struct json *doc, const char *kind,
    int *created, struct ecs_error *err)
{
	const struct json	*list = json_get(doc, kind), *o;
	size_t			 i;
	int64_t			 id;
	enum ecs_err		 e;
	char			 where[600];

	*created = 0;
	if (list == NULL)
		return ECS_OK;
	if (json_type(list) != JSON_ARRAY)
		return util_fail(err, ECS_EINVAL, "%s: must be an array",
		    kind);
	for (i = 0; i < json_len(list); i++) {
		o = json_at(list, i);
		if (json_type(o) != JSON_OBJECT)
			return util_fail(err, ECS_EINVAL,
			    "%s[%zu]: must be an object", kind, i);
		e = store_admin_find(s, kind, o, &id);
		if (e == ECS_OK)
			e = store_admin_update(s, kind, id, o, err);
		else if (e == ECS_ENOTFOUND) {
			e = store_admin_create(s, kind, o, &id, err);
			if (e == ECS_OK)
				(*created)++;
		} else
			return store_fail(err, e);
		if (e != ECS_OK) {
			snprintf(where, sizeof(where), "%s[%zu]: %s", kind, i,
			    err->e_msg);
			return util_fail(err, e, "%s", where);
		}
		if ((e = broker_admin_settle(s)) != ECS_OK)
			return store_fail(err, e);
	}
	return ECS_OK;
}

enum ecs_err
broker_apply(struct store *s, const struct json *doc, struct jw *w,
    struct ecs_error *err)
{
	static const char *const kinds[] = {
		"organizations", "communities", "resources", "participants"
	};
	int		 n[4];
	size_t		 i;
	enum ecs_err	 e;

	if (json_type(doc) != JSON_OBJECT)
		return util_fail(err, ECS_EINVAL,
		    "body: must be a JSON object");
	for (i = 0; i < 4; i++)
		if ((e = apply_list(s, doc, kinds[i], &n[i], err)) != ECS_OK)
			return e;
	jw_obj_open(w);
	for (i = 0; i < 4; i++)
		jw_kint(w, kinds[i], n[i]);
	jw_obj_close(w);
	return ECS_OK;
}

/* --- garbage collection (13.1) -------------------------------------------- */

enum ecs_err
broker_gc_auths(struct store *s, time_t now, int *n)
{
	struct ivec		 ids;
	struct ecs_resource	 r;
	size_t			 i;
	enum ecs_err		 e;

	memset(&ids, 0, sizeof(ids));
	*n = 0;
	if ((e = store_resource_find(s, "sys", "auths", &r)) != ECS_OK)
		return e;
	e = store_auths_expired(s, now, &ids);
	for (i = 0; e == ECS_OK && i < ids.iv_n; i++)
		e = delete_as_sender(s, &r, ids.iv_v[i]);
	*n = (int)ids.iv_n;
	ivec_free(&ids);
	return e;
}

enum ecs_err
broker_gc_participants(struct store *s, time_t now, time_t sub_age, int *n)
{
	struct ivec	 ids;
	size_t		 i;
	enum ecs_err	 e;

	memset(&ids, 0, sizeof(ids));
	e = store_participants_expired(s, now, sub_age, &ids);
	for (i = 0; e == ECS_OK && i < ids.iv_n; i++)
		e = store_participant_delete(s, ids.iv_v[i]);
	*n = (int)ids.iv_n;
	ivec_free(&ids);
	return e;
}

/* --- anonymous participants (4.4) and subparticipants (12.5) ------------- */

enum ecs_err
broker_anonymous_create(struct store *s, time_t ttl, char *cookie,
    int64_t *pid)
{
	struct ecs_newpart	 np;
	int64_t			 org, cid, mid;
	enum ecs_err		 e;

	if ((e = rand_hex(cookie, 20)) != ECS_OK ||
	    (e = store_org_by_name(s, "not available", &org)) != ECS_OK ||
	    (e = store_community_by_name(s, "public", &cid)) != ECS_OK)
		return e;
	memset(&np, 0, sizeof(np));
	np.np_name = cookie;
	np.np_desc = "Anonymous Participant";
	np.np_dns = "N/A";
	np.np_email = "N/A";
	np.np_org = org;
	np.np_events = 1;
	np.np_ptype = "anonym";
	np.np_ttl = ttl;
	if ((e = store_participant_add(s, &np, pid)) != ECS_OK ||
	    (e = store_identity_add(s, cookie, "Cookie Identifier", *pid)) !=
	    ECS_OK ||
	    (e = store_membership_add(s, *pid, cid, &mid)) != ECS_OK)
		return e;
	return broker_postroute(s, mid);
}

/* The settings of a subparticipant body: what create and update read. */
struct subdoc {
	const char	*sd_realm;
	int		 sd_selfrouting;
	int		 sd_events;
	struct ivec	 sd_cids;
};

static int
truthy(const struct json *v)
{
	const char	*t;

	if (json_type(v) == JSON_TRUE)
		return 1;
	if (json_type(v) == JSON_NUMBER) {
		int64_t n;

		return json_int(v, &n) == 0 && n == 1;
	}
	if ((t = json_string(v)) == NULL)
		return 0;
	return strcmp(t, "1") == 0 || strcmp(t, "t") == 0 ||
	    strcmp(t, "true") == 0 || strcmp(t, "TRUE") == 0;
}

static enum ecs_err
subdoc_read(struct store *s, const struct ecs_participant *parent,
    const struct json *doc, struct subdoc *sd, struct ecs_error *err)
{
	const struct json	*v, *cs;
	struct ivec		 mine;
	struct buf		 bad;
	const char		*t, *name;
	int64_t			 cid;
	size_t			 i;
	enum ecs_err		 e = ECS_OK;
	char			 num[32];

	memset(sd, 0, sizeof(*sd));
	sd->sd_events = 1;
	if (json_type(doc) != JSON_OBJECT)
		return ECS_OK;
	if ((v = json_get(doc, "realm")) != NULL)
		sd->sd_realm = json_string(v);
	if ((v = json_get(doc, "community_selfrouting")) != NULL)
		sd->sd_selfrouting = truthy(v);
	if ((v = json_get(doc, "events")) != NULL) {
		/* JSON booleans are honoured; "false", "0" disable. */
		if (json_type(v) == JSON_FALSE)
			sd->sd_events = 0;
		else if ((t = json_string(v)) != NULL && (strcmp(t, "false") ==
		    0 || strcmp(t, "0") == 0 || strcmp(t, "f") == 0))
			sd->sd_events = 0;
	}
	cs = json_get(doc, "communities");
	if (json_type(cs) != JSON_ARRAY)
		return ECS_OK;
	for (i = 0; i < json_len(cs); i++) {
		v = json_at(cs, i);
		if (json_type(v) == JSON_NUMBER) {
			if (json_int(v, &cid) != 0 ||
			    store_community_exists(s, cid) != ECS_OK) {
				snprintf(num, sizeof(num), "%s",
				    json_int(v, &cid) == 0 ? "" : "?");
				if (num[0] == '\0')
					snprintf(num, sizeof(num), "%lld",
					    (long long)cid);
				e = ECS_EINVAL;
				util_fail(err, e, "You provided at least one "
				    "unknown community for a subparticipant "
				    "creation.\nFollowing community is unknown "
				    "(either a cid or a community name): %s\n",
				    num);
				goto fail;
			}
		} else if ((name = json_string(v)) != NULL) {
			if (store_community_by_name(s, name, &cid) != ECS_OK) {
				e = ECS_EINVAL;
				util_fail(err, e, "You provided at least one "
				    "unknown community for a subparticipant "
				    "creation.\nFollowing community is unknown "
				    "(either a cid or a community name): %s\n",
				    name);
				goto fail;
			}
		} else
			continue;
		if ((e = ivec_push_unique(&sd->sd_cids, cid)) != ECS_OK)
			goto fail;
	}
	memset(&mine, 0, sizeof(mine));
	buf_init(&bad, 0);
	e = store_participant_cids(s, parent->p_id, &mine);
	for (i = 0; e == ECS_OK && i < sd->sd_cids.iv_n; i++) {
		if (ivec_has(&mine, sd->sd_cids.iv_v[i]))
			continue;
		if ((e = store_community_name(s, sd->sd_cids.iv_v[i], &bad)) !=
		    ECS_OK)
			break;
	}
	ivec_free(&mine);
	if (e == ECS_OK && bad.b_len > 0) {
		e = util_fail(err, ECS_EINVAL, "The subparticipant's "
		    "communities must be a subset of its parent.\nFollowing "
		    "communities are not allowed: %s\n", buf_str(&bad));
	} else if (e != ECS_OK)
		e = store_fail(err, e);
	buf_free(&bad);
	if (e == ECS_OK)
		return ECS_OK;
fail:
	ivec_free(&sd->sd_cids);
	return e;
}

/* Make the subparticipant's memberships exactly sd's communities. */
static enum ecs_err
subpart_memberships(struct store *s, int64_t pid, const struct ivec *want)
{
	struct ivec	 have;
	int64_t		 mid;
	size_t		 i;
	enum ecs_err	 e;

	memset(&have, 0, sizeof(have));
	e = store_participant_cids(s, pid, &have);
	for (i = 0; e == ECS_OK && i < have.iv_n; i++) {
		if (ivec_has(want, have.iv_v[i]))
			continue;
		if ((e = store_member_mid(s, pid, have.iv_v[i], &mid)) ==
		    ECS_OK)
			e = store_membership_delete(s, mid);
	}
	for (i = 0; e == ECS_OK && i < want->iv_n; i++) {
		if (ivec_has(&have, want->iv_v[i]))
			continue;
		if ((e = store_membership_add(s, pid, want->iv_v[i], &mid)) ==
		    ECS_OK)
			e = broker_postroute(s, mid);
	}
	ivec_free(&have);
	return e;
}

enum ecs_err
broker_subpart_create(struct store *s, const struct ecs_participant *parent,
    const struct json *doc, int64_t *sid, struct ecs_error *err)
{
	struct subdoc		 sd;
	struct ecs_newpart	 np;
	char			 authid[40], name[300], desc[600];
	int64_t			 pid;
	enum ecs_err		 e;

	if ((e = subdoc_read(s, parent, doc, &sd, err)) != ECS_OK)
		return e;
	if ((e = rand_hex(authid, 16)) != ECS_OK)
		goto fail;
	memset(&np, 0, sizeof(np));
	snprintf(name, sizeof(name), "Subparticipant (new:%s)", authid);
	np.np_name = name;
	np.np_dns = "N/A";
	np.np_email = parent->p_email;
	np.np_org = parent->p_org_id;
	np.np_selfrouting = sd.sd_selfrouting;
	np.np_events = sd.sd_events;
	np.np_ptype = "sub";
	if ((e = store_participant_add(s, &np, &pid)) != ECS_OK ||
	    (e = store_subpart_add(s, pid, parent->p_id, sd.sd_realm, sid)) !=
	    ECS_OK)
		goto fail;
	snprintf(name, sizeof(name), "Subparticipant (id:%lld)",
	    (long long)*sid);
	snprintf(desc, sizeof(desc), "Created from \"%s\" (pid:%lld)",
	    parent->p_name, (long long)parent->p_id);
	if ((e = store_participant_rename(s, pid, name, desc)) != ECS_OK ||
	    (e = store_identity_add(s, authid, "Randomized authid", pid)) !=
	    ECS_OK ||
	    (e = subpart_memberships(s, pid, &sd.sd_cids)) != ECS_OK)
		goto fail;
	ivec_free(&sd.sd_cids);
	return ECS_OK;
fail:
	ivec_free(&sd.sd_cids);
	return store_fail(err, e);
}

enum ecs_err
broker_subpart_update(struct store *s, const struct ecs_participant *parent,
    int64_t sid, const struct json *doc, struct ecs_error *err)
{
	struct subdoc		 sd;
	struct ecs_subpart	 sp;
	enum ecs_err		 e;

	if ((e = store_subpart_get(s, sid, &sp)) != ECS_OK)
		return store_fail(err, e);
	if ((e = subdoc_read(s, parent, doc, &sd, err)) != ECS_OK)
		return e;
	if ((e = store_subpart_set(s, sid, sd.sd_realm, sd.sd_selfrouting,
	    sd.sd_events)) == ECS_OK)
		e = subpart_memberships(s, sp.sp_pid, &sd.sd_cids);
	ivec_free(&sd.sd_cids);
	return e == ECS_OK ? ECS_OK : store_fail(err, e);
}

enum ecs_err
broker_subpart_owned(struct store *s, int64_t parent, const char *sidtext,
    struct ecs_subpart *sp, struct ecs_error *err)
{
	int64_t		 sid;
	enum ecs_err	 e;

	if (util_parse_i64(sidtext, 1, INT64_MAX, &sid) != 0 ||
	    (e = store_subpart_get(s, sid, sp)) == ECS_ENOTFOUND)
		return util_fail(err, ECS_ENOTFOUND,
		    "Couldn't find Subparticipant with ID=%s", sidtext);
	if (e != ECS_OK)
		return store_fail(err, e);
	if (sp->sp_parent != parent)
		return util_fail(err, ECS_EDENIED, "You are not allowed to "
		    "access this subparticipant because you are not its "
		    "parent/creator.");
	return ECS_OK;
}
