/*
 * test_broker.c: the protocol semantics of libecs (addressing, queues,
 * deletion, updates, events, one-touch tokens, postrouting, apply) against
 * a real database in a temporary directory.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "broker.h"
#include "buf.h"
#include "json.h"
#include "store.h"
#include "util.h"

#define NOW	((time_t)1393927200)	/* 2014-03-04T10:00:00Z */

#define TXT_NO_RECEIVERS "You must at least specify one of " \
	"X-EcsReceiverMemberships or X-EcsReceiverCommunities header\r\n"
#define TXT_NOT_JOINING "You are not joining at least one of the " \
	"community to which you are addressing.\r\nor\r\nYou are not " \
	"joining at least one of the same community as the receiving " \
	"membership.\r\n"

/*
 * p1 (U1) is in alpha and beta, p2 in alpha, p3 in beta, p4 in alpha and
 * beta with community_selfrouting, p5 only in gamma.
 */
static const char setup_doc[] =
    "{\"organizations\":["
    "  {\"name\":\"Uni One\",\"abbr\":\"U1\",\"description\":\"\"},"
    "  {\"name\":\"Uni Two\",\"abbr\":\"U2\"}],"
    " \"communities\":["
    "  {\"name\":\"alpha\",\"description\":\"A\"},"
    "  {\"name\":\"beta\"},{\"name\":\"gamma\"}],"
    " \"resources\":["
    "  {\"namespace\":\"numlab\",\"name\":\"exercises\","
    "   \"postroute\":false,\"events\":true},"
    "  {\"namespace\":\"numlab\",\"name\":\"courses\","
    "   \"postroute\":true,\"events\":true}],"
    " \"participants\":["
    "  {\"name\":\"p1\",\"organization\":\"Uni One\",\"auth_ids\":[\"p1\"],"
    "   \"communities\":[\"alpha\",\"beta\"]},"
    "  {\"name\":\"p2\",\"organization\":\"Uni Two\",\"auth_ids\":[\"p2\"],"
    "   \"communities\":[\"alpha\"]},"
    "  {\"name\":\"p3\",\"organization\":\"Uni Two\",\"auth_ids\":[\"p3\"],"
    "   \"communities\":[\"beta\"]},"
    "  {\"name\":\"p4\",\"organization\":\"Uni Two\",\"auth_ids\":[\"p4\"],"
    "   \"community_selfrouting\":true,\"communities\":[\"alpha\",\"beta\"]},"
    "  {\"name\":\"p5\",\"organization\":\"Uni Two\",\"auth_ids\":[\"p5\"],"
    "   \"communities\":[\"gamma\"]}]}";

struct fx {
	char			 f_dir[256];
	char			 f_db[300];
	struct store		*f_s;
	struct ecs_participant	 f_p[6];	/* f_p[1] is p1 */
	int64_t			 f_alpha, f_beta, f_gamma;
	struct ecs_resource	 f_ex;		/* numlab/exercises */
	struct ecs_resource	 f_co;		/* numlab/courses, postrouted */
	struct ecs_resource	 f_auths;	/* sys/auths */
	char			 f_applied[200];	/* apply's answer */
};

static void	 teardown_fx(struct fx *);

/* Apply a setup document in one request of one batch. */
static enum ecs_err
apply(struct store *s, const char *text, struct buf *out,
    struct ecs_error *err)
{
	struct json	*doc = NULL;
	struct jw	 w;
	enum ecs_err	 e;

	if (json_parse(text, strlen(text), &doc) != ECS_OK)
		return ECS_EINVAL;
	memset(err, 0, sizeof(*err));
	jw_init(&w, out, 0);
	if ((e = store_savepoint(s)) == ECS_OK) {
		e = broker_apply(s, doc, &w, err);
		if (e == ECS_OK)
			store_release(s);
		else
			store_rollback_savepoint(s);
	}
	json_free(doc);
	if (e == ECS_OK)
		e = store_commit(s);
	return e;
}

static int
setup(void **state)
{
	struct fx		*f;
	struct ecs_error	 err;
	struct buf		 b;
	const char		*tmp = getenv("TMPDIR");
	char			 name[8];
	int64_t			 pid;
	int			 i;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(f->f_dir, sizeof(f->f_dir), "%s/test_broker.XXXXXX", tmp);
	if (mkdtemp(f->f_dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->f_db, sizeof(f->f_db), "%s/ecsd.db", f->f_dir);
	memset(&err, 0, sizeof(err));
	if (store_open(f->f_db, 0, &f->f_s, &err) != ECS_OK) {
		fprintf(stderr, "store_open: %s\n", err.e_msg);
		teardown_fx(f);
		return -1;
	}
	buf_init(&b, 0);
	if (apply(f->f_s, setup_doc, &b, &err) != ECS_OK) {
		fprintf(stderr, "apply: %s\n", err.e_msg);
		buf_free(&b);
		teardown_fx(f);
		return -1;
	}
	snprintf(f->f_applied, sizeof(f->f_applied), "%s", buf_str(&b));
	buf_free(&b);
	for (i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		if (broker_auth_id(f->f_s, name, &pid, &err) != ECS_OK ||
		    store_participant_get(f->f_s, pid, &f->f_p[i]) != ECS_OK) {
			teardown_fx(f);
			return -1;
		}
	}
	if (store_community_by_name(f->f_s, "alpha", &f->f_alpha) != ECS_OK ||
	    store_community_by_name(f->f_s, "beta", &f->f_beta) != ECS_OK ||
	    store_community_by_name(f->f_s, "gamma", &f->f_gamma) != ECS_OK ||
	    store_resource_find(f->f_s, "numlab", "exercises", &f->f_ex) !=
	    ECS_OK ||
	    store_resource_find(f->f_s, "numlab", "courses", &f->f_co) !=
	    ECS_OK ||
	    store_resource_find(f->f_s, "sys", "auths", &f->f_auths) !=
	    ECS_OK) {
		teardown_fx(f);
		return -1;
	}
	*state = f;
	return 0;
}

static void
teardown_fx(struct fx *f)
{
	DIR		*d;
	struct dirent	*de;
	char		 p[600];

	store_close(f->f_s);
	if ((d = opendir(f->f_dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->f_dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->f_dir);
	free(f);
}

static int
teardown(void **state)
{
	teardown_fx(*state);
	return 0;
}

/* --- helpers -------------------------------------------------------------- */

static struct json *
parse(const char *text)
{
	struct json	*j = NULL;

	assert_int_equal(json_parse(text, strlen(text), &j), ECS_OK);
	return j;
}

/* The membership of participant i in community cid. */
static int64_t
mid(struct fx *f, int i, int64_t cid)
{
	int64_t	 m = 0;

	assert_int_equal(store_member_mid(f->f_s, f->f_p[i].p_id, cid, &m),
	    ECS_OK);
	return m;
}

/* "a" or "a,b" for mid header values. */
static const char *
mids(char *out, size_t len, int64_t a, int64_t b)
{
	if (b > 0)
		snprintf(out, len, "%lld,%lld", (long long)a, (long long)b);
	else
		snprintf(out, len, "%lld", (long long)a);
	return out;
}

/* Create a message as participant i in one request of the batch. */
static enum ecs_err
post(struct fx *f, int i, const struct ecs_resource *r, const char *hmids,
    const char *hcomms, const char *ctype, const char *body, int64_t *id,
    struct ecs_error *err)
{
	struct ecs_post	 p;
	enum ecs_err	 e;

	memset(&p, 0, sizeof(p));
	memset(err, 0, sizeof(*err));
	p.ep_ctype = ctype;
	p.ep_body = body;
	p.ep_len = strlen(body);
	p.ep_mids = hmids;
	p.ep_comms = hcomms;
	p.ep_now = NOW;
	*id = 0;
	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	e = broker_msg_create(f->f_s, &f->f_p[i], r, &p, id, err);
	if (e == ECS_OK)
		store_release(f->f_s);
	else
		store_rollback_savepoint(f->f_s);
	return e;
}

/* A create that must succeed; the message id. */
static int64_t
create_msg(struct fx *f, int i, const struct ecs_resource *r,
    const char *hmids, const char *hcomms)
{
	struct ecs_error	 err;
	int64_t			 id;

	if (post(f, i, r, hmids, hcomms, "text/plain", "hello", &id, &err) !=
	    ECS_OK)
		fail_msg("create: %s", err.e_msg);
	return id;
}

/* A create that must fail with code and exactly the text want. */
static void
send_fails(struct fx *f, int i, const struct ecs_resource *r,
    const char *hmids, const char *hcomms, const char *ctype,
    const char *body, enum ecs_err code, const char *want)
{
	struct ecs_error	 err;
	int64_t			 id;

	assert_int_equal(post(f, i, r, hmids, hcomms, ctype, body, &id, &err),
	    code);
	assert_int_equal(err.e_code, code);
	assert_string_equal(err.e_msg, want);
}

static enum ecs_err
update(struct fx *f, int i, const struct ecs_resource *r, int64_t id,
    const char *hmids, const char *hcomms, const char *ctype,
    const char *body, struct ecs_error *err)
{
	struct ecs_post	 p;
	enum ecs_err	 e;

	memset(&p, 0, sizeof(p));
	memset(err, 0, sizeof(*err));
	p.ep_ctype = ctype;
	p.ep_body = body;
	p.ep_len = strlen(body);
	p.ep_mids = hmids;
	p.ep_comms = hcomms;
	p.ep_now = NOW + 10;
	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	e = broker_msg_update(f->f_s, &f->f_p[i], r, id, &p, err);
	if (e == ECS_OK)
		store_release(f->f_s);
	else
		store_rollback_savepoint(f->f_s);
	return e;
}

static enum ecs_err
delete_msg(struct fx *f, int i, const struct ecs_resource *r, int64_t id,
    struct ecs_view *v, struct ecs_error *err)
{
	char		 idtext[32];
	enum ecs_err	 e;

	memset(err, 0, sizeof(*err));
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	e = broker_msg_delete(f->f_s, &f->f_p[i], r, id, idtext, NOW, v, err);
	if (e == ECS_OK || err->e_keep)
		store_release(f->f_s);
	else
		store_rollback_savepoint(f->f_s);
	return e;
}

/* Participant i's pending events of a type (0: any) for a message (0: any). */
static int
nevents(struct fx *f, int i, int64_t msg, int type)
{
	struct ecs_event	*ev = NULL;
	size_t			 n = 0, k;
	int			 c = 0;

	assert_int_equal(store_events(f->f_s, f->f_p[i].p_id, -1, &ev, &n),
	    ECS_OK);
	for (k = 0; k < n; k++)
		if ((msg == 0 || ev[k].e_msg == msg) &&
		    (type == 0 || ev[k].e_type == type))
			c++;
	free(ev);
	return c;
}

/* The participants (as indexes 1..5, ascending) receiving a message. */
static const char *
receivers(struct fx *f, int64_t msg, char *out, size_t len)
{
	struct ivec	 v;
	size_t		 k;
	int		 i;

	memset(&v, 0, sizeof(v));
	out[0] = '\0';
	assert_int_equal(store_msg_receiver_pids(f->f_s, msg, &v), ECS_OK);
	for (k = 0; k < v.iv_n; k++)
		for (i = 1; i <= 5; i++)
			if (f->f_p[i].p_id == v.iv_v[k])
				snprintf(out + strlen(out), len - strlen(out),
				    "%sp%d", k ? "," : "", i);
	ivec_free(&v);
	return out;
}

static int64_t
nlinks(struct fx *f, int64_t msg)
{
	int64_t	 n = -1;

	assert_int_equal(store_msg_link_count(f->f_s, msg, &n), ECS_OK);
	return n;
}

/* Is the message live (1), tombstoned (2) or gone (0)? */
static int
msg_state(struct fx *f, int64_t msg)
{
	struct ecs_msg	 m;
	enum ecs_err	 e;
	int		 st;

	e = store_msg_get(f->f_s, msg, &m);
	if (e == ECS_ENOTFOUND)
		return 0;
	assert_int_equal(e, ECS_OK);
	st = m.m_removed ? 2 : 1;
	store_msg_clear(&m);
	return st;
}

static void
find_fails(struct fx *f, const struct ecs_resource *r, const char *idtext,
    const char *want)
{
	struct ecs_error	 err;
	int64_t			 id;

	memset(&err, 0, sizeof(err));
	assert_int_equal(broker_msg_find(f->f_s, r, idtext, &id, &err),
	    ECS_ENOTFOUND);
	assert_string_equal(err.e_msg, want);
}

/* --- addressing (7) ------------------------------------------------------- */

static void
create_by_community_links_every_member_except_the_sender(void **state)
{
	struct fx	*f = *state;
	struct ecs_linkv lv;
	char		 r[64];
	int64_t		 id;

	id = create_msg(f, 1, &f->f_ex, NULL, "alpha");
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p2,p4");
	assert_int_equal(nevents(f, 2, id, EV_CREATED), 1);
	assert_int_equal(nevents(f, 4, id, EV_CREATED), 1);
	assert_int_equal(nevents(f, 1, id, 0), 0);
	assert_int_equal(nevents(f, 3, id, 0), 0);

	/* Two communities: p4 is linked twice but gets one event. */
	id = create_msg(f, 1, &f->f_ex, NULL, " beta , alpha,beta ");
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p2,p3,p4");
	assert_int_equal(nlinks(f, id), 4);
	assert_int_equal(nevents(f, 4, id, EV_CREATED), 1);
	assert_int_equal(store_msg_links(f->f_s, id, f->f_p[1].p_id, &lv),
	    ECS_OK);
	assert_int_equal(lv.lv_n, 4);
	/* Each link names the sender's membership in its community. */
	assert_int_equal(lv.lv_v[0].l_mid, mid(f, 2, f->f_alpha));
	assert_int_equal(lv.lv_v[0].l_sender_mid, mid(f, 1, f->f_alpha));
	linkv_free(&lv);

	/* By id works like by name. */
	snprintf(r, sizeof(r), "%lld", (long long)f->f_beta);
	id = create_msg(f, 1, &f->f_ex, NULL, r);
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p3,p4");
}

static void
create_by_community_includes_a_selfrouting_sender(void **state)
{
	struct fx	*f = *state;
	char		 r[64];
	int64_t		 id;

	id = create_msg(f, 4, &f->f_ex, NULL, "alpha");
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p1,p2,p4");
	assert_int_equal(nevents(f, 4, id, EV_CREATED), 1);
}

static void
a_community_of_only_the_sender_gives_no_receivers(void **state)
{
	struct fx	*f = *state;
	int64_t		 id;

	id = create_msg(f, 5, &f->f_ex, NULL, "gamma");
	assert_int_equal(nlinks(f, id), 0);
	assert_int_equal(msg_state(f, id), 1);
}

static void
create_by_mid_links_only_mids_in_the_senders_communities(void **state)
{
	struct fx	*f = *state;
	char		 h[64], r[64];
	int64_t		 id;

	/* p2 is only in alpha: p3's beta membership is skipped silently. */
	id = create_msg(f, 2, &f->f_ex, mids(h, sizeof(h), mid(f, 3, f->f_beta),
	    mid(f, 1, f->f_alpha)), NULL);
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p1");
	assert_int_equal(nevents(f, 3, id, 0), 0);

	/* A sender may address its own membership without selfrouting. */
	snprintf(h, sizeof(h), "x, %lld ,%lld", (long long)mid(f, 2,
	    f->f_alpha), (long long)mid(f, 2, f->f_alpha));
	id = create_msg(f, 2, &f->f_ex, h, NULL);
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p2");
	assert_int_equal(nlinks(f, id), 1);
	assert_int_equal(nevents(f, 2, id, EV_CREATED), 1);

	/* Both headers: a membership reached twice is linked once. */
	id = create_msg(f, 1, &f->f_ex, mids(h, sizeof(h),
	    mid(f, 2, f->f_alpha), 0), "alpha");
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p2,p4");
	assert_int_equal(nlinks(f, id), 2);

	/*
	 * Empty tokens, tabs, and a token longer than each_token's stack
	 * copy (100 zeros before the mid) name the same membership.
	 */
	{
		char	 big[200];

		snprintf(big, sizeof(big), ",\t, %0*lld\t,,", 101,
		    (long long)mid(f, 1, f->f_alpha));
		id = create_msg(f, 2, &f->f_ex, big, NULL);
		assert_string_equal(receivers(f, id, r, sizeof(r)), "p1");
		assert_int_equal(nlinks(f, id), 1);
	}
}

static void
create_outside_the_senders_communities_is_forbidden(void **state)
{
	struct fx	*f = *state;
	struct ivec	 sent;
	char		 h[64];

	send_fails(f, 5, &f->f_ex, NULL, "alpha", "text/plain", "x",
	    ECS_EDENIED, TXT_NOT_JOINING);
	send_fails(f, 5, &f->f_ex, mids(h, sizeof(h), mid(f, 2, f->f_alpha),
	    0), NULL, "text/plain", "x", ECS_EDENIED, TXT_NOT_JOINING);
	send_fails(f, 3, &f->f_ex, mids(h, sizeof(h), mid(f, 2, f->f_alpha),
	    0), "gamma", "text/plain", "x", ECS_EDENIED, TXT_NOT_JOINING);
	memset(&sent, 0, sizeof(sent));
	assert_int_equal(store_list_sent(f->f_s, f->f_p[5].p_id, f->f_ex.r_id,
	    &sent), ECS_OK);
	assert_int_equal(sent.iv_n, 0);
	ivec_free(&sent);
}

static void
bad_headers_or_content_are_refused_with_protocol_texts(void **state)
{
	struct fx	*f = *state;
	struct ivec	 sent;

	send_fails(f, 1, &f->f_ex, "999999", NULL, "text/plain", "x",
	    ECS_EINVAL,
	    "Membership id in X-EcsReceiverMemberships header not found.");
	send_fails(f, 1, &f->f_ex, NULL, "alpha,nope", "text/plain", "x",
	    ECS_EINVAL, "community id/name in X-EcsReceiverCommunities "
	    "header not found: nope");
	send_fails(f, 1, &f->f_ex, NULL, "alpha, 999", "text/plain", "x",
	    ECS_ENOTFOUND, "Couldn't find Community with ID=999");
	send_fails(f, 1, &f->f_ex, NULL, NULL, "text/plain", "x", ECS_EINVAL,
	    TXT_NO_RECEIVERS);
	send_fails(f, 1, &f->f_ex, "  ", " ", "text/plain", "x", ECS_EINVAL,
	    TXT_NO_RECEIVERS);
	send_fails(f, 1, &f->f_ex, "abc", NULL, "text/plain", "x", ECS_EINVAL,
	    TXT_NO_RECEIVERS);
	send_fails(f, 1, &f->f_ex, NULL, "alpha", NULL, "x", ECS_EINVAL,
	    "Validation failed: *** You must povide a \"Content-Type\" "
	    "header. ");
	send_fails(f, 1, &f->f_ex, NULL, "alpha", "text/plain", " \r\n ",
	    ECS_EINVAL, "Validation failed: *** You have to provide a "
	    "\"http body\". *** ");
	send_fails(f, 1, &f->f_ex, NULL, "alpha", " ", "", ECS_EINVAL,
	    "Validation failed: *** You must povide a \"Content-Type\" "
	    "header. , *** You have to provide a \"http body\". *** ");
	memset(&sent, 0, sizeof(sent));
	assert_int_equal(store_list_sent(f->f_s, f->f_p[1].p_id, f->f_ex.r_id,
	    &sent), ECS_OK);
	assert_int_equal(sent.iv_n, 0);
	ivec_free(&sent);
	assert_int_equal(nevents(f, 2, 0, 0), 0);
}

/* --- queues (6.8) --------------------------------------------------------- */

static void
pop_takes_the_oldest_away_from_that_receiver_only(void **state)
{
	struct fx		*f = *state;
	struct ecs_view		 v;
	struct ecs_error	 err;
	int64_t			 one, two;

	one = create_msg(f, 1, &f->f_ex, NULL, "alpha");
	two = create_msg(f, 1, &f->f_ex, NULL, "alpha");
	memset(&err, 0, sizeof(err));

	assert_int_equal(broker_queue(f->f_s, &f->f_p[2], &f->f_ex, 0, 0, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_found, 1);
	assert_int_equal(v.v_msg.m_id, one);
	broker_view_clear(&v);
	assert_int_equal(broker_queue(f->f_s, &f->f_p[2], &f->f_ex, 1, 0, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_msg.m_id, two);
	broker_view_clear(&v);

	assert_int_equal(broker_queue(f->f_s, &f->f_p[2], &f->f_ex, 0, 1, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_found, 1);
	assert_int_equal(v.v_msg.m_id, one);
	assert_string_equal(v.v_msg.m_body, "hello");
	assert_int_equal(v.v_links.lv_n, 1);
	assert_int_equal(v.v_links.lv_v[0].l_mid, mid(f, 2, f->f_alpha));
	assert_int_equal(v.v_links.lv_v[0].l_cid, f->f_alpha);
	assert_int_equal(v.v_links.lv_v[0].l_sender_mid,
	    mid(f, 1, f->f_alpha));
	broker_view_clear(&v);

	/* Gone for p2, still there for p4. */
	assert_int_equal(broker_queue(f->f_s, &f->f_p[2], &f->f_ex, 0, 0, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_msg.m_id, two);
	broker_view_clear(&v);
	assert_int_equal(broker_queue(f->f_s, &f->f_p[4], &f->f_ex, 0, 0, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_msg.m_id, one);
	broker_view_clear(&v);
	assert_int_equal(msg_state(f, one), 1);

	assert_int_equal(broker_queue(f->f_s, &f->f_p[2], &f->f_ex, 0, 1, &v,
	    &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(broker_queue(f->f_s, &f->f_p[2], &f->f_ex, 0, 1, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_found, 0);
	broker_view_clear(&v);

	/* The last receiver's pop disposes of it: a tombstone for events. */
	assert_int_equal(broker_queue(f->f_s, &f->f_p[4], &f->f_ex, 0, 1, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_msg.m_id, one);
	broker_view_clear(&v);
	assert_int_equal(msg_state(f, one), 2);
	/* The sender's own queue is empty. */
	assert_int_equal(broker_queue(f->f_s, &f->f_p[1], &f->f_ex, 0, 0, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_found, 0);
	broker_view_clear(&v);
}

/* --- deletion (6.7) ------------------------------------------------------- */

static void
receiver_delete_drops_only_its_links_without_events(void **state)
{
	struct fx		*f = *state;
	struct ecs_view		 v;
	struct ecs_error	 err;
	char			 r[64];
	int64_t			 id;

	id = create_msg(f, 1, &f->f_ex, NULL, "alpha,beta");
	assert_int_equal(delete_msg(f, 4, &f->f_ex, id, &v, &err), ECS_OK);
	/* The representation is from before: both of p4's links. */
	assert_int_equal(v.v_found, 1);
	assert_int_equal(v.v_links.lv_n, 2);
	assert_string_equal(v.v_msg.m_body, "hello");
	broker_view_clear(&v);
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p2,p3");
	assert_int_equal(nevents(f, 2, id, 0), 1);
	assert_int_equal(nevents(f, 3, id, 0), 1);
	assert_int_equal(nevents(f, 4, id, 0), 1);
	assert_int_equal(nevents(f, 1, id, 0), 0);
	assert_int_equal(msg_state(f, id), 1);

	/* Not involved any more: the receiver text, 404. */
	assert_int_equal(delete_msg(f, 4, &f->f_ex, id, &v, &err),
	    ECS_ENOTFOUND);
	snprintf(r, sizeof(r), "you are not a receiver of "
	    "\"numlab/exercises/%lld\"", (long long)id);
	assert_string_equal(err.e_msg, r);
	assert_int_equal(delete_msg(f, 5, &f->f_ex, id, &v, &err),
	    ECS_ENOTFOUND);
	assert_string_equal(err.e_msg, r);
}

static void
delete_as_sender_sends_destroyed_events_and_tombstones(void **state)
{
	struct fx		*f = *state;
	struct ecs_view		 v;
	struct ecs_error	 err;
	char			 r[64];
	int64_t			 id, quiet;

	id = create_msg(f, 1, &f->f_ex, NULL, "alpha,beta");
	assert_int_equal(delete_msg(f, 2, &f->f_ex, id, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(delete_msg(f, 1, &f->f_ex, id, &v, &err), ECS_OK);
	assert_int_equal(v.v_links.lv_n, 0);
	assert_string_equal(v.v_msg.m_body, "hello");
	broker_view_clear(&v);
	assert_int_equal(nlinks(f, id), 0);
	assert_int_equal(nevents(f, 3, id, EV_DESTROYED), 1);
	assert_int_equal(nevents(f, 4, id, EV_DESTROYED), 1);
	/* p2 had already left: no event for it. */
	assert_int_equal(nevents(f, 2, id, EV_DESTROYED), 0);
	assert_int_equal(msg_state(f, id), 2);
	snprintf(r, sizeof(r), "%lld", (long long)id);
	find_fails(f, &f->f_ex, r, "Invalid resource id");

	/* Without any event the message is deleted outright. */
	quiet = create_msg(f, 5, &f->f_ex, NULL, "gamma");
	assert_int_equal(delete_msg(f, 5, &f->f_ex, quiet, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(msg_state(f, quiet), 0);
}

static void
a_sender_that_also_receives_deletes_twice(void **state)
{
	struct fx		*f = *state;
	struct ecs_view		 v;
	struct ecs_error	 err;
	char			 r[64];
	int64_t			 id;

	id = create_msg(f, 4, &f->f_ex, NULL, "alpha");
	assert_int_equal(delete_msg(f, 4, &f->f_ex, id, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p1,p2");
	assert_int_equal(nevents(f, 1, id, EV_DESTROYED), 0);
	assert_int_equal(delete_msg(f, 4, &f->f_ex, id, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(nevents(f, 1, id, EV_DESTROYED), 1);
	assert_int_equal(nevents(f, 2, id, EV_DESTROYED), 1);
	assert_int_equal(nevents(f, 4, id, EV_DESTROYED), 0);
	assert_int_equal(msg_state(f, id), 2);
}

/* --- update (6.6) --------------------------------------------------------- */

static void
update_sends_updated_destroyed_and_created_events(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct ecs_msg		 m;
	char			 h[64], r[64];
	int64_t			 id;

	id = create_msg(f, 1, &f->f_ex, mids(h, sizeof(h),
	    mid(f, 2, f->f_alpha), mid(f, 3, f->f_beta)), NULL);
	assert_int_equal(update(f, 1, &f->f_ex, id, mids(h, sizeof(h),
	    mid(f, 3, f->f_beta), mid(f, 4, f->f_alpha)), NULL, "text/html",
	    "new", &err), ECS_OK);
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p3,p4");
	assert_int_equal(nevents(f, 2, id, EV_CREATED), 1);
	assert_int_equal(nevents(f, 2, id, EV_DESTROYED), 1);
	assert_int_equal(nevents(f, 3, id, EV_CREATED), 1);
	assert_int_equal(nevents(f, 3, id, EV_UPDATED), 1);
	assert_int_equal(nevents(f, 4, id, EV_CREATED), 1);
	assert_int_equal(nevents(f, 4, id, 0), 1);
	assert_int_equal(nevents(f, 1, id, 0), 0);
	assert_int_equal(store_msg_get(f->f_s, id, &m), ECS_OK);
	assert_string_equal(m.m_body, "new");
	assert_string_equal(m.m_ctype, "text/html");
	assert_int_equal(m.m_version, 2);
	assert_true(m.m_updated == NOW + 10);
	store_msg_clear(&m);

	/* Again: one more updated for p4, de-duplicated for p3. */
	assert_int_equal(update(f, 1, &f->f_ex, id, h, NULL, "text/html",
	    "newer", &err), ECS_OK);
	assert_int_equal(nevents(f, 3, id, EV_UPDATED), 1);
	assert_int_equal(nevents(f, 3, id, 0), 2);
	assert_int_equal(nevents(f, 4, id, EV_UPDATED), 1);
}

static void
update_is_refused_to_others_and_rolled_back_on_bad_headers(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct ecs_msg		 m;
	char			 r[64];
	int64_t			 id;

	id = create_msg(f, 1, &f->f_ex, NULL, "alpha");
	assert_int_equal(update(f, 2, &f->f_ex, id, NULL, "alpha",
	    "text/plain", "x", &err), ECS_EDENIED);
	assert_string_equal(err.e_msg,
	    "You are not the original sender of the message.");
	assert_int_equal(update(f, 1, &f->f_ex, id, NULL, NULL, "text/plain",
	    "x", &err), ECS_EINVAL);
	assert_string_equal(err.e_msg, TXT_NO_RECEIVERS);
	/* An unknown community id is not an error on update, just unusable. */
	assert_int_equal(update(f, 1, &f->f_ex, id, NULL, "999", "text/plain",
	    "x", &err), ECS_EDENIED);
	assert_string_equal(err.e_msg, TXT_NOT_JOINING);
	assert_int_equal(update(f, 1, &f->f_ex, id, NULL, "gamma",
	    "text/plain", "x", &err), ECS_EDENIED);
	assert_int_equal(update(f, 1, &f->f_ex, id, "999999", "beta",
	    "text/plain", "x", &err), ECS_EINVAL);
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p2,p4");
	assert_int_equal(store_msg_get(f->f_s, id, &m), ECS_OK);
	assert_string_equal(m.m_body, "hello");
	assert_int_equal(m.m_version, 1);
	store_msg_clear(&m);
	assert_int_equal(nevents(f, 2, id, 0), 1);
}

/* --- one-touch tokens (11) ------------------------------------------------ */

/* Create a token as p1 for p2; the stored body parsed, or NULL. */
static struct json *
token(struct fx *f, const char *ctype, const char *body, int64_t *id,
    struct ecs_error *err)
{
	struct ecs_msg	 m;
	struct json	*j = NULL;
	char		 h[32];

	if (post(f, 1, &f->f_auths, mids(h, sizeof(h), mid(f, 2, f->f_alpha),
	    0), NULL, ctype, body, id, err) != ECS_OK)
		return NULL;
	assert_int_equal(store_msg_get(f->f_s, *id, &m), ECS_OK);
	assert_int_equal(json_parse(m.m_body, m.m_len, &j), ECS_OK);
	store_msg_clear(&m);
	return j;
}

static void
token_fails(struct fx *f, const char *ctype, const char *body,
    enum ecs_err code, const char *want)
{
	struct ecs_error	 err;
	int64_t			 id;

	assert_null(token(f, ctype, body, &id, &err));
	assert_int_equal(err.e_code, code);
	assert_string_equal(err.e_msg, want);
}

static int
is_hash(const char *s)
{
	size_t	 i;

	if (s == NULL || strlen(s) != 40)
		return 0;
	for (i = 0; i < 40; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' &&
		    s[i] <= 'f'))
			return 0;
	return 1;
}

static void
token_body_gets_hash_pid_abbr_and_a_default_window(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct json		*j;
	int64_t			 id, v, found;
	time_t			 eov;

	j = token(f, "Application/JSON; charset=utf-8", "{\"url\":\"http://x\","
	    "\"hash\":\"mine\",\"pid\":99,\"abbr\":\"zz\",\"extra\":[1]}", &id,
	    &err);
	if (j == NULL)
		fail_msg("token: %s", err.e_msg);
	assert_string_equal(json_string(json_get(j, "url")), "http://x");
	assert_int_equal(json_len(json_get(j, "extra")), 1);
	assert_true(is_hash(json_string(json_get(j, "hash"))));
	assert_int_equal(json_int(json_get(j, "pid"), &v), 0);
	assert_int_equal(v, f->f_p[1].p_id);
	assert_string_equal(json_string(json_get(j, "abbr")), "U1");
	assert_string_equal(json_string(json_get(j, "sov")),
	    "2014-03-04T10:00:00+00:00");
	assert_string_equal(json_string(json_get(j, "eov")),
	    "2014-03-04T10:01:05+00:00");
	assert_int_equal(store_auth_eov(f->f_s, id, &eov), ECS_OK);
	assert_true(eov == NOW + AUTH_TTL);
	memset(&err, 0, sizeof(err));
	assert_int_equal(broker_msg_find(f->f_s, &f->f_auths,
	    json_string(json_get(j, "hash")), &found, &err), ECS_OK);
	assert_int_equal(found, id);
	/* sys/auths has events off. */
	assert_int_equal(nevents(f, 2, id, 0), 0);
	json_free(j);

	/* Two tokens never share a hash. */
	j = token(f, "application/json", "{\"realm\":1}", &id, &err);
	assert_non_null(j);
	assert_true(is_hash(json_string(json_get(j, "hash"))));
	assert_int_equal(broker_msg_find(f->f_s, &f->f_auths,
	    json_string(json_get(j, "hash")), &found, &err), ECS_OK);
	assert_int_equal(found, id);
	json_free(j);
}

static void
token_windows_follow_the_sov_and_eov_rules(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct json		*j;
	int64_t			 id;
	time_t			 eov;

	/* sov only, not before now: kept as sent, eov = sov + 65 s. */
	j = token(f, "application/json", "{\"url\":\"u\","
	    "\"sov\":\"2014-03-04T12:00:00+01:00\"}", &id, &err);
	assert_non_null(j);
	assert_string_equal(json_string(json_get(j, "sov")),
	    "2014-03-04T12:00:00+01:00");
	assert_string_equal(json_string(json_get(j, "eov")),
	    "2014-03-04T11:01:05+00:00");
	json_free(j);
	token_fails(f, "application/json", "{\"url\":\"u\","
	    "\"sov\":\"2014-03-04T09:59:59Z\"}", ECS_EINVAL,
	    "sov time is younger then current time");

	/* eov only: at least 5 s ahead; sov = now. */
	j = token(f, "application/json", "{\"url\":\"u\","
	    "\"eov\":\"2014-03-04T10:00:05Z\"}", &id, &err);
	assert_non_null(j);
	assert_string_equal(json_string(json_get(j, "sov")),
	    "2014-03-04T10:00:00+00:00");
	assert_string_equal(json_string(json_get(j, "eov")),
	    "2014-03-04T10:00:05Z");
	assert_int_equal(store_auth_eov(f->f_s, id, &eov), ECS_OK);
	assert_true(eov == NOW + 5);
	json_free(j);
	token_fails(f, "application/json", "{\"url\":\"u\","
	    "\"eov\":\"2014-03-04T10:00:04Z\"}", ECS_EINVAL,
	    "eov time is too young");

	/* Both: kept as sent, sov may lie in the past. */
	j = token(f, "application/json", "{\"url\":\"u\","
	    "\"sov\":\"2014-03-04T09:00:00Z\","
	    "\"eov\":\"2014-03-04T10:00:00Z\"}", &id, &err);
	assert_non_null(j);
	assert_string_equal(json_string(json_get(j, "sov")),
	    "2014-03-04T09:00:00Z");
	assert_string_equal(json_string(json_get(j, "eov")),
	    "2014-03-04T10:00:00Z");
	json_free(j);
	token_fails(f, "application/json", "{\"url\":\"u\","
	    "\"sov\":\"2014-03-04T10:30:00Z\","
	    "\"eov\":\"2014-03-04T10:20:00Z\"}", ECS_EINVAL,
	    "invalid times either in sov or eov");
	token_fails(f, "application/json", "{\"url\":\"u\","
	    "\"sov\":\"2014-03-04T09:00:00Z\","
	    "\"eov\":\"2014-03-04T09:59:59Z\"}", ECS_EINVAL,
	    "invalid times either in sov or eov");
	token_fails(f, "application/json", "{\"url\":\"u\","
	    "\"eov\":\"tomorrow\"}", ECS_EINVAL,
	    "invalid times either in sov or eov");
	token_fails(f, "application/json", "{\"url\":\"u\",\"sov\":5}",
	    ECS_EINVAL, "invalid times either in sov or eov");
}

static void
token_bodies_are_refused_with_the_protocol_texts(void **state)
{
	struct fx	*f = *state;

	token_fails(f, "application/json", "{\"title\":\"no url\"}",
	    ECS_EINVAL, "You have to provide realm or url attribute");
	token_fails(f, "text/plain", "{\"url\":\"u\"}", ECS_EMEDIA,
	    "Body format has to be in JSON");
	token_fails(f, "application/json", "[\"url\"]", ECS_EINVAL,
	    "Invalid JSON body");
	token_fails(f, "application/json", "{\"url\":", ECS_EINVAL,
	    "Invalid JSON body");
	/* Addressing errors come before token errors. */
	send_fails(f, 1, &f->f_auths, NULL, NULL, "text/plain", "x",
	    ECS_EINVAL, TXT_NO_RECEIVERS);
}

static void
token_update_issues_a_new_hash(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct ecs_msg		 m;
	struct json		*j, *k;
	char			 h[32], old[64];
	int64_t			 id, found;

	j = token(f, "application/json", "{\"url\":\"u\"}", &id, &err);
	assert_non_null(j);
	snprintf(old, sizeof(old), "%s", json_string(json_get(j, "hash")));
	json_free(j);
	assert_int_equal(update(f, 1, &f->f_auths, id, mids(h, sizeof(h),
	    mid(f, 2, f->f_alpha), 0), NULL, "application/json",
	    "{\"url\":\"v\"}", &err), ECS_OK);
	assert_int_equal(store_msg_get(f->f_s, id, &m), ECS_OK);
	assert_int_equal(json_parse(m.m_body, m.m_len, &k), ECS_OK);
	store_msg_clear(&m);
	assert_string_equal(json_string(json_get(k, "url")), "v");
	assert_true(is_hash(json_string(json_get(k, "hash"))));
	assert_string_not_equal(json_string(json_get(k, "hash")), old);
	assert_int_equal(broker_msg_find(f->f_s, &f->f_auths,
	    json_string(json_get(k, "hash")), &found, &err), ECS_OK);
	assert_int_equal(found, id);
	json_free(k);
	find_fails(f, &f->f_auths, old, "Invalid auths hash");
}

/* --- events (10) ---------------------------------------------------------- */

static void
events_respect_the_resource_and_participant_switches(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct json		*j;
	int64_t			 id;

	assert_int_equal(store_participant_flags(f->f_s, f->f_p[3].p_id, 0,
	    0), ECS_OK);
	id = create_msg(f, 1, &f->f_ex, NULL, "beta");
	assert_int_equal(nevents(f, 3, id, 0), 0);
	assert_int_equal(nevents(f, 4, id, EV_CREATED), 1);

	j = parse("{\"events\":false}");
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_admin_update(f->f_s, "resources", f->f_co.r_id,
	    j, &err), ECS_OK);
	json_free(j);
	assert_int_equal(store_resource_get(f->f_s, f->f_co.r_id, &f->f_co),
	    ECS_OK);
	assert_int_equal(f->f_co.r_events, 0);
	assert_int_equal(f->f_co.r_postroute, 1);
	id = create_msg(f, 1, &f->f_co, NULL, "alpha,beta");
	assert_int_equal(nevents(f, 2, id, 0), 0);
	assert_int_equal(nevents(f, 4, id, 0), 0);
}

static void
popping_the_last_event_of_a_tombstone_removes_it(void **state)
{
	struct fx		*f = *state;
	struct ecs_view		 v;
	struct ecs_error	 err;
	struct buf		 b;
	struct json		*j;
	char			 want[200];
	int64_t			 id;
	int			 n;

	id = create_msg(f, 1, &f->f_ex, NULL, "alpha");
	assert_int_equal(delete_msg(f, 1, &f->f_ex, id, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(msg_state(f, id), 2);

	buf_init(&b, 0);
	assert_int_equal(broker_events(f->f_s, f->f_p[2].p_id, -1, 0, 't', &b,
	    &n), ECS_OK);
	assert_int_equal(n, 2);
	snprintf(want, sizeof(want), "numlab/exercises/%lld   created\r\n"
	    "numlab/exercises/%lld   destroyed\r\n", (long long)id,
	    (long long)id);
	assert_string_equal(buf_str(&b), want);
	buf_reset(&b);
	assert_int_equal(broker_events(f->f_s, f->f_p[2].p_id, 1, 0, 'j', &b,
	    &n), ECS_OK);
	assert_int_equal(json_parse(b.b_data, b.b_len, &j), ECS_OK);
	assert_int_equal(json_len(j), 1);
	snprintf(want, sizeof(want), "numlab/exercises/%lld", (long long)id);
	assert_string_equal(json_string(json_get(json_at(j, 0), "ressource")),
	    want);
	assert_string_equal(json_string(json_get(json_at(j, 0), "status")),
	    "created");
	json_free(j);

	/* Reading without popping keeps everything. */
	assert_int_equal(msg_state(f, id), 2);
	buf_reset(&b);
	assert_int_equal(broker_events(f->f_s, f->f_p[2].p_id, -1, 1, 'j', &b,
	    &n), ECS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(nevents(f, 2, 0, 0), 0);
	assert_int_equal(msg_state(f, id), 2);
	buf_reset(&b);
	assert_int_equal(broker_events(f->f_s, f->f_p[4].p_id, 1, 1, 'j', &b,
	    &n), ECS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(msg_state(f, id), 2);
	buf_reset(&b);
	assert_int_equal(broker_events(f->f_s, f->f_p[4].p_id, 0, 1, 'j', &b,
	    &n), ECS_OK);
	assert_int_equal(n, 0);
	assert_string_equal(buf_str(&b), "[]");
	assert_int_equal(msg_state(f, id), 2);
	buf_reset(&b);
	assert_int_equal(broker_events(f->f_s, f->f_p[4].p_id, -1, 1, 't', &b,
	    &n), ECS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(msg_state(f, id), 0);
	buf_free(&b);
}

static void
removing_a_membership_sends_destroyed_events(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct json		*j;
	struct ecs_linkv	 lv;
	char			 r[64];
	int64_t			 x, y, z, m;

	x = create_msg(f, 1, &f->f_ex, NULL, "alpha");
	y = create_msg(f, 1, &f->f_ex, NULL, "beta");
	z = create_msg(f, 2, &f->f_ex, NULL, "alpha");
	j = parse("{\"communities\":[]}");
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	assert_int_equal(store_admin_update(f->f_s, "participants",
	    f->f_p[2].p_id, j, &err), ECS_OK);
	json_free(j);
	assert_int_equal(broker_admin_settle(f->f_s), ECS_OK);
	store_release(f->f_s);
	assert_int_equal(store_member_mid(f->f_s, f->f_p[2].p_id, f->f_alpha,
	    &m), ECS_ENOTFOUND);
	assert_int_equal(nevents(f, 2, x, EV_DESTROYED), 1);
	assert_int_equal(nevents(f, 2, y, 0), 0);
	assert_string_equal(receivers(f, x, r, sizeof(r)), "p4");
	assert_int_equal(msg_state(f, x), 1);
	/* Also for what it sent there, and its sender mids go. */
	assert_int_equal(nevents(f, 2, z, EV_DESTROYED), 1);
	assert_string_equal(receivers(f, z, r, sizeof(r)), "p1,p4");
	assert_int_equal(store_msg_links(f->f_s, z, f->f_p[2].p_id, &lv),
	    ECS_OK);
	assert_int_equal(lv.lv_n, 2);
	assert_int_equal(lv.lv_v[0].l_sender_mid, -1);
	assert_int_equal(lv.lv_v[1].l_sender_mid, -1);
	linkv_free(&lv);
}

/* --- token validity (11.5) ------------------------------------------------ */

static void
expired_token_is_refused_to_receivers_not_the_sender(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct ecs_view		 v;
	struct json		*j;
	char			 idtext[32];
	int64_t			 id;

	j = token(f, "application/json", "{\"url\":\"u\"}", &id, &err);
	assert_non_null(j);
	json_free(j);
	memset(&err, 0, sizeof(err));
	assert_int_equal(broker_msg_show(f->f_s, &f->f_p[2], &f->f_auths, id,
	    NOW + AUTH_TTL - 1, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(broker_msg_show(f->f_s, &f->f_p[2], &f->f_auths, id,
	    NOW + AUTH_TTL, &v, &err), ECS_ECONFLICT);
	assert_string_equal(err.e_msg, "Authorization token outtimed");
	assert_int_equal(broker_msg_show(f->f_s, &f->f_p[1], &f->f_auths, id,
	    NOW + 1000, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(broker_msg_show(f->f_s, &f->f_p[3], &f->f_auths, id,
	    NOW, &v, &err), ECS_EDENIED);
	assert_string_equal(err.e_msg, "You are not allowed to access this "
	    "resource, because you are not the original sender or a "
	    "receiver.");

	/* Deleting it consumes it and still answers 409. */
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	memset(&err, 0, sizeof(err));
	assert_int_equal(broker_msg_delete(f->f_s, &f->f_p[2], &f->f_auths, id,
	    idtext, NOW + AUTH_TTL, &v, &err), ECS_ECONFLICT);
	assert_int_equal(err.e_keep, 1);
	assert_string_equal(err.e_msg, "Authorization token outtimed");
	assert_int_equal(msg_state(f, id), 0);
}

static void
token_gc_removes_expired_tokens_only(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct json		*j;
	int64_t			 old, young;
	int			 n;

	j = token(f, "application/json", "{\"url\":\"u\"}", &old, &err);
	json_free(j);
	j = token(f, "application/json", "{\"url\":\"u\","
	    "\"eov\":\"2014-03-04T11:00:00Z\"}", &young, &err);
	json_free(j);
	assert_int_equal(broker_gc_auths(f->f_s, NOW + AUTH_TTL, &n), ECS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(msg_state(f, old), 0);
	assert_int_equal(msg_state(f, young), 1);
}

/* --- resolving ids (6.1, 11.4) -------------------------------------------- */

static void
msg_find_resolves_ids_and_hashes_with_the_protocol_texts(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct ecs_view		 v;
	struct json		*j;
	char			 idtext[32], hash[64];
	int64_t			 ex, co, tok, found;

	ex = create_msg(f, 1, &f->f_ex, NULL, "alpha");
	co = create_msg(f, 1, &f->f_co, NULL, "alpha");
	j = token(f, "application/json", "{\"url\":\"u\"}", &tok, &err);
	assert_non_null(j);
	snprintf(hash, sizeof(hash), "%s", json_string(json_get(j, "hash")));
	json_free(j);

	memset(&err, 0, sizeof(err));
	snprintf(idtext, sizeof(idtext), "%lld", (long long)ex);
	assert_int_equal(broker_msg_find(f->f_s, &f->f_ex, idtext, &found,
	    &err), ECS_OK);
	assert_int_equal(found, ex);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)tok);
	assert_int_equal(broker_msg_find(f->f_s, &f->f_auths, idtext, &found,
	    &err), ECS_OK);
	assert_int_equal(found, tok);

	find_fails(f, &f->f_auths, "0123456789abcdef0123456789abcdef01234567",
	    "Invalid auths hash");
	find_fails(f, &f->f_auths, "999999", "Invalid auths id");
	find_fails(f, &f->f_ex, "999999", "Invalid resource id");
	find_fails(f, &f->f_ex, "abc", "Invalid resource id");
	find_fails(f, &f->f_ex, "0", "Invalid resource id");
	find_fails(f, &f->f_ex, hash, "Invalid resource id");
	/* A message of another resource. */
	snprintf(idtext, sizeof(idtext), "%lld", (long long)co);
	find_fails(f, &f->f_ex, idtext, "Invalid resource id");
	find_fails(f, &f->f_auths, idtext, "Invalid auths id");
	snprintf(idtext, sizeof(idtext), "%lld", (long long)tok);
	find_fails(f, &f->f_ex, idtext, "Invalid resource id");

	/* A consumed token is gone: its hash no longer resolves. */
	assert_int_equal(delete_msg(f, 2, &f->f_auths, tok, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(msg_state(f, tok), 0);
	find_fails(f, &f->f_auths, hash, "Invalid auths hash");
	find_fails(f, &f->f_auths, idtext, "Invalid auths id");
}

/* --- postrouting (9) ------------------------------------------------------ */

static void
postroute_delivers_community_messages_to_new_members(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct ecs_view		 v;
	struct json		*j;
	struct ivec		 got;
	const char		*p6 = "{\"name\":\"p6\",\"organization_id\":1,"
				    "\"communities\":[\"alpha\"]}";
	char			 h[32], body[200];
	int64_t			 a, byid, plain, dead, foreign, m, pid;

	a = create_msg(f, 1, &f->f_co, NULL, "alpha");
	byid = create_msg(f, 1, &f->f_co, mids(h, sizeof(h),
	    mid(f, 2, f->f_alpha), 0), NULL);
	plain = create_msg(f, 1, &f->f_ex, NULL, "alpha");
	dead = create_msg(f, 1, &f->f_co, NULL, "alpha");
	foreign = create_msg(f, 1, &f->f_co, NULL, "beta");
	assert_int_equal(delete_msg(f, 1, &f->f_co, dead, &v, &err), ECS_OK);
	broker_view_clear(&v);
	/* Both receivers consumed a: it stays alive, it is postrouted. */
	assert_int_equal(delete_msg(f, 2, &f->f_co, a, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(delete_msg(f, 4, &f->f_co, a, &v, &err), ECS_OK);
	broker_view_clear(&v);
	assert_int_equal(msg_state(f, a), 1);
	assert_int_equal(nlinks(f, a), 0);

	/* p5 joins alpha. */
	snprintf(body, sizeof(body), "{\"participant_id\":%lld,"
	    "\"community_id\":%lld}", (long long)f->f_p[5].p_id,
	    (long long)f->f_alpha);
	j = parse(body);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	assert_int_equal(store_admin_create(f->f_s, "memberships", j, &m,
	    &err), ECS_OK);
	json_free(j);
	assert_int_equal(broker_postroute(f->f_s, m), ECS_OK);
	store_release(f->f_s);

	memset(&got, 0, sizeof(got));
	assert_int_equal(store_mid_messages(f->f_s, m, &got), ECS_OK);
	assert_int_equal(got.iv_n, 1);
	assert_int_equal(got.iv_v[0], a);
	ivec_free(&got);
	assert_int_equal(nevents(f, 5, a, EV_CREATED), 1);
	assert_int_equal(nevents(f, 5, byid, 0), 0);
	assert_int_equal(nevents(f, 5, plain, 0), 0);
	assert_int_equal(nevents(f, 5, dead, 0), 0);
	assert_int_equal(nevents(f, 5, foreign, 0), 0);
	assert_int_equal(broker_queue(f->f_s, &f->f_p[5], &f->f_co, 0, 0, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_msg.m_id, a);
	broker_view_clear(&v);

	/* The admin path: a new participant gets it through settling. */
	j = parse(p6);
	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	assert_int_equal(store_admin_create(f->f_s, "participants", j, &pid,
	    &err), ECS_OK);
	json_free(j);
	assert_int_equal(broker_admin_settle(f->f_s), ECS_OK);
	store_release(f->f_s);
	assert_int_equal(store_member_mid(f->f_s, pid, f->f_alpha, &m),
	    ECS_OK);
	memset(&got, 0, sizeof(got));
	assert_int_equal(store_mid_messages(f->f_s, m, &got), ECS_OK);
	assert_int_equal(got.iv_n, 1);
	assert_int_equal(got.iv_v[0], a);
	ivec_free(&got);
	assert_int_equal(store_commit(f->f_s), ECS_OK);
}

static void
postroute_ignores_communities_outside_the_senders(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct json		*j;
	struct ivec		 got;
	char			 r[64];
	int64_t			 id, m;

	/* p2 is in alpha only; gamma is named but not joined. */
	id = create_msg(f, 2, &f->f_co, NULL, "gamma,alpha");
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p1,p4");
	snprintf(r, sizeof(r), "{\"participant_id\":%lld,"
	    "\"community_id\":%lld}", (long long)f->f_p[3].p_id,
	    (long long)f->f_gamma);
	j = parse(r);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_admin_create(f->f_s, "memberships", j, &m,
	    &err), ECS_OK);
	json_free(j);
	assert_int_equal(broker_admin_settle(f->f_s), ECS_OK);
	memset(&got, 0, sizeof(got));
	assert_int_equal(store_mid_messages(f->f_s, m, &got), ECS_OK);
	assert_int_equal(got.iv_n, 0);
	ivec_free(&got);
	assert_int_equal(nevents(f, 3, id, 0), 0);
}

/* --- deletion of participants and communities (2.2, 13.2) ----------------- */

static void
deleting_a_participant_makes_what_it_sent_vanish_silently(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct ecs_view		 v;
	int64_t			 sent, got, pid;

	sent = create_msg(f, 1, &f->f_ex, NULL, "alpha");
	got = create_msg(f, 2, &f->f_ex, NULL, "alpha");
	assert_int_equal(store_admin_delete(f->f_s, "participants",
	    f->f_p[1].p_id), ECS_OK);
	assert_int_equal(msg_state(f, sent), 0);
	assert_int_equal(nevents(f, 2, sent, 0), 0);
	assert_int_equal(nevents(f, 4, sent, 0), 0);
	assert_int_equal(nevents(f, 4, 0, 0), 1);
	assert_int_equal(nevents(f, 4, got, EV_CREATED), 1);
	assert_int_equal(nlinks(f, got), 1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(broker_auth_id(f->f_s, "p1", &pid, &err), ECS_EAUTH);
	assert_int_equal(broker_queue(f->f_s, &f->f_p[2], &f->f_ex, 0, 0, &v,
	    &err), ECS_OK);
	assert_int_equal(v.v_found, 0);
	broker_view_clear(&v);
}

static void
deleting_a_community_drops_memberships_links_records(void **state)
{
	struct fx	*f = *state;
	struct ivec	 rec;
	char		 r[64];
	int64_t		 id, m;

	id = create_msg(f, 1, &f->f_co, NULL, "alpha,beta");
	assert_int_equal(store_admin_delete(f->f_s, "communities", f->f_alpha),
	    ECS_OK);
	assert_int_equal(store_member_mid(f->f_s, f->f_p[2].p_id, f->f_alpha,
	    &m), ECS_ENOTFOUND);
	assert_string_equal(receivers(f, id, r, sizeof(r)), "p3,p4");
	assert_int_equal(nlinks(f, id), 2);
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(store_community_messages(f->f_s, f->f_alpha, &rec),
	    ECS_OK);
	assert_int_equal(rec.iv_n, 0);
	assert_int_equal(store_community_messages(f->f_s, f->f_beta, &rec),
	    ECS_OK);
	assert_int_equal(rec.iv_n, 1);
	ivec_free(&rec);
}

/* --- apply (13) ----------------------------------------------------------- */

static void
apply_twice_creates_nothing_the_second_time(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct buf		 b, l1, l2;
	struct jw		 w;
	struct json		*j;
	int64_t			 n;

	assert_int_equal(json_parse(f->f_applied, strlen(f->f_applied), &j),
	    ECS_OK);
	assert_int_equal(json_int(json_get(j, "organizations"), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(json_int(json_get(j, "communities"), &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(json_int(json_get(j, "resources"), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(json_int(json_get(j, "participants"), &n), 0);
	assert_int_equal(n, 5);
	json_free(j);

	buf_init(&l1, 0);
	jw_init(&w, &l1, 0);
	assert_int_equal(store_admin_list(f->f_s, "memberships", &w), ECS_OK);
	jw_init(&w, &l1, 0);
	assert_int_equal(store_admin_list(f->f_s, "participants", &w), ECS_OK);

	buf_init(&b, 0);
	assert_int_equal(apply(f->f_s, setup_doc, &b, &err), ECS_OK);
	assert_string_equal(buf_str(&b), "{\"organizations\":0,"
	    "\"communities\":0,\"resources\":0,\"participants\":0}");
	buf_free(&b);

	buf_init(&l2, 0);
	jw_init(&w, &l2, 0);
	assert_int_equal(store_admin_list(f->f_s, "memberships", &w), ECS_OK);
	jw_init(&w, &l2, 0);
	assert_int_equal(store_admin_list(f->f_s, "participants", &w), ECS_OK);
	assert_string_equal(buf_str(&l1), buf_str(&l2));
	buf_free(&l1);
	buf_free(&l2);

	/* An existing object is updated in place. */
	buf_init(&b, 0);
	assert_int_equal(apply(f->f_s, "{\"communities\":[{\"name\":\"alpha\","
	    "\"description\":\"changed\"}],\"resources\":[{\"namespace\":"
	    "\"numlab\",\"name\":\"exercises\",\"events\":false}]}", &b, &err),
	    ECS_OK);
	assert_string_equal(buf_str(&b), "{\"organizations\":0,"
	    "\"communities\":0,\"resources\":0,\"participants\":0}");
	buf_free(&b);
	buf_init(&b, 0);
	jw_init(&w, &b, 0);
	assert_int_equal(store_admin_get(f->f_s, "communities", f->f_alpha,
	    &w), ECS_OK);
	assert_int_equal(json_parse(b.b_data, b.b_len, &j), ECS_OK);
	assert_string_equal(json_string(json_get(j, "description")),
	    "changed");
	json_free(j);
	buf_free(&b);
	assert_int_equal(store_resource_get(f->f_s, f->f_ex.r_id, &f->f_ex),
	    ECS_OK);
	assert_int_equal(f->f_ex.r_events, 0);
}

static void
apply_reports_the_failing_entry_and_keeps_nothing_of_it(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct buf		 b;
	int64_t			 cid;

	buf_init(&b, 0);
	assert_int_equal(apply(f->f_s,
	    "{\"communities\":[{\"name\":\"delta\"}],\"participants\":"
	    "[{\"name\":\"p9\",\"organization\":\"Uni One\","
	    "\"communities\":[\"nowhere\"]}]}", &b, &err), ECS_EINVAL);
	assert_string_equal(err.e_msg, "participants[0]: communities: no "
	    "community named nowhere");
	buf_free(&b);
	store_rollback(f->f_s);
	assert_int_equal(store_community_by_name(f->f_s, "delta", &cid),
	    ECS_ENOTFOUND);
	assert_int_equal(broker_auth_id(f->f_s, "p9", &cid, &err), ECS_EAUTH);
	assert_string_equal(err.e_msg, "No \"X-EcsAuthId: p9\" identity found");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(
		    create_by_community_links_every_member_except_the_sender,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    create_by_community_includes_a_selfrouting_sender,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_community_of_only_the_sender_gives_no_receivers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    create_by_mid_links_only_mids_in_the_senders_communities,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    create_outside_the_senders_communities_is_forbidden,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    bad_headers_or_content_are_refused_with_protocol_texts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    pop_takes_the_oldest_away_from_that_receiver_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    receiver_delete_drops_only_its_links_without_events,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    delete_as_sender_sends_destroyed_events_and_tombstones,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_sender_that_also_receives_deletes_twice,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    update_sends_updated_destroyed_and_created_events,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    update_is_refused_to_others_and_rolled_back_on_bad_headers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    token_body_gets_hash_pid_abbr_and_a_default_window,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    token_windows_follow_the_sov_and_eov_rules,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    token_bodies_are_refused_with_the_protocol_texts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    token_update_issues_a_new_hash,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    events_respect_the_resource_and_participant_switches,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    popping_the_last_event_of_a_tombstone_removes_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    removing_a_membership_sends_destroyed_events,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    expired_token_is_refused_to_receivers_not_the_sender,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    token_gc_removes_expired_tokens_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    msg_find_resolves_ids_and_hashes_with_the_protocol_texts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    postroute_delivers_community_messages_to_new_members,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    postroute_ignores_communities_outside_the_senders,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    deleting_a_participant_makes_what_it_sent_vanish_silently,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    deleting_a_community_drops_memberships_links_records,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    apply_twice_creates_nothing_the_second_time,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    apply_reports_the_failing_entry_and_keeps_nothing_of_it,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}
