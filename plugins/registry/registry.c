/*
 * registry.c: the course registry plugin (see registry(7)): descriptor,
 * event handling and the dispatch of the registry resources.
 *
 * Every request is a message addressed to the registry's participant on
 * one of its resources; it is handled one at a time, in event order: GET
 * it, learn the sender (X-EcsSender, resolved to a participant through
 * /sys/memberships), do the work on the registry's own database, send the
 * answers (registry/replies to the sender's membership, notices to others,
 * campusconnect/courselinks to the communities), then DELETE the request.
 * All calls are asynchronous: callbacks run on the host's event loop.
 */
#include "config.h"

#include <sys/queue.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ecs/ecc.h>
#include <ecs/ecs.h>
#include <ecs/plugin.h>

#include "registry.h"

#define R_REPLIES	"registry/replies"
#define R_CREDS		"registry/credentials"
#define R_LINKS		"campusconnect/courselinks"
#define CT_JSON		"application/json"
#define DAY		86400

extern const char reg_offer_schema_json[];

enum op_kind { OP_POST, OP_PUT, OP_DELETE };

/* One outgoing call of a job. */
struct reg_op {
	TAILQ_ENTRY(reg_op)	 o_entry;
	enum op_kind		 o_kind;
	char			 o_res[64];
	int64_t			 o_id;		/* PUT, DELETE */
	char			*o_mids;	/* receivers, or NULL */
	char			*o_comms;
	char			*o_ctype;
	char			*o_body;
	int64_t			 o_link_offer;	/* POST of a courselink */
};

TAILQ_HEAD(reg_ops, reg_op);

/* One request message on its way. */
struct reg_job {
	TAILQ_ENTRY(reg_job)	 j_entry;
	struct reg		*j_reg;
	char			 j_res[64];	/* "registry/offers" */
	int64_t			 j_id;
	char			*j_body;
	int64_t			 j_mid;		/* sender's membership */
	int			 j_refreshed;
	struct reg_ops		 j_ops;
};

TAILQ_HEAD(reg_jobs, reg_job);

struct reg_member {
	int64_t		 m_pid, m_mid, m_cid;
	char		*m_name;
	char		*m_email;
};

/* The plugin's state. */
struct reg {
	struct ecs_plugin_host	*r_host;
	struct ecc		*r_s;
	struct reg_store	*r_st;
	struct reg_key		*r_key;
	yajl_val		 r_schema;
	const char		*r_superadmin;	/* config: name or mid */
	const char		*r_issuer;
	const char		*r_issuer_name;
	const char		*r_offer_url;
	char			*r_comms;	/* where courselinks go */
	struct reg_member	*r_mem;
	size_t			 r_nmem;
	struct reg_jobs		 r_jobs;
	int			 r_busy;
};

/* Who sent a request. */
struct reg_who {
	int64_t		 w_pid, w_mid;
	const char	*w_name;
	const char	*w_email;
};

/* What a handler works with. */
struct reg_ctx {
	struct reg	*c_reg;
	struct reg_job	*c_job;
	struct reg_who	 c_who;
	yajl_val	 c_req;
	const char	*c_action;
	yajl_gen	 c_g;		/* the reply, map open */
	int		 c_status;	/* set by reply_ok / reply_err */
};

static void	job_next(struct reg *);
static void	ops_next(struct reg_job *);

/* --- small things ------------------------------------------------------- */

static int64_t
now(void)
{
	return (int64_t)time(NULL);
}

static void
audit(struct reg_ctx *c, const char *action, const char *object,
    const char *detail)
{
	reg_q(c->c_reg->r_st, Q_AUDIT, NULL, NULL, "iitttt", now(),
	    c->c_who.w_pid, c->c_who.w_name, action, object, detail);
	ecs_plugin_log(c->c_reg->r_host, 1, "audit: %s by %s: %s %s",
	    action, c->c_who.w_name, object ? object : "",
	    detail ? detail : "");
}

static void
reply_ok(struct reg_ctx *c)
{
	rj_k(c->c_g, "status", "ok");
	c->c_status = 1;
}

static void
reply_err(struct reg_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reply_err(struct reg_ctx *c, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rj_k(c->c_g, "status", "error");
	rj_k(c->c_g, "error", msg);
	c->c_status = 0;
}

static void
reply_errs(struct reg_ctx *c, const struct reg_errs *e)
{
	size_t	 i;

	reply_err(c, "invalid fields");
	rj_s(c->c_g, "errors");
	yajl_gen_array_open(c->c_g);
	for (i = 0; i < e->re_n; i++) {
		yajl_gen_map_open(c->c_g);
		rj_k(c->c_g, "field", e->re_field[i]);
		rj_k(c->c_g, "message", e->re_msg[i]);
		yajl_gen_map_close(c->c_g);
	}
	yajl_gen_array_close(c->c_g);
}

static struct reg_op *
op_add(struct reg_job *j, enum op_kind kind, const char *res, int64_t id,
    const char *mids, const char *comms, const char *ctype, char *body)
{
	struct reg_op	*o;

	if ((o = calloc(1, sizeof(*o))) == NULL) {
		free(body);
		return NULL;
	}
	o->o_kind = kind;
	snprintf(o->o_res, sizeof(o->o_res), "%s", res);
	o->o_id = id;
	o->o_body = body;
	o->o_mids = mids ? strdup(mids) : NULL;
	o->o_comms = comms ? strdup(comms) : NULL;
	o->o_ctype = ctype ? strdup(ctype) : NULL;
	TAILQ_INSERT_TAIL(&j->j_ops, o, o_entry);
	return o;
}

static void
op_free(struct reg_job *j, struct reg_op *o)
{
	TAILQ_REMOVE(&j->j_ops, o, o_entry);
	free(o->o_mids);
	free(o->o_comms);
	free(o->o_ctype);
	free(o->o_body);
	free(o);
}

/* A notice to one membership (mid) as a registry/replies message. */
static void
notify(struct reg_ctx *c, int64_t mid, yajl_gen g)
{
	char	 m[32], *body = rj_take(g);

	yajl_gen_free(g);
	if (body == NULL || mid <= 0) {
		free(body);
		return;
	}
	snprintf(m, sizeof(m), "%lld", (long long)mid);
	op_add(c->c_job, OP_POST, R_REPLIES, 0, m, NULL, CT_JSON, body);
}

static yajl_gen
notice(const char *type)
{
	yajl_gen	 g = rj_gen();

	if (g != NULL) {
		yajl_gen_map_open(g);
		rj_k(g, "type", type);
	}
	return g;
}

static void
notice_end(struct reg_ctx *c, int64_t mid, yajl_gen g)
{
	if (g == NULL)
		return;
	yajl_gen_map_close(g);
	notify(c, mid, g);
}

/* --- members ------------------------------------------------------------ */

static void
members_clear(struct reg *r)
{
	size_t	 i;

	for (i = 0; i < r->r_nmem; i++) {
		free(r->r_mem[i].m_name);
		free(r->r_mem[i].m_email);
	}
	free(r->r_mem);
	r->r_mem = NULL;
	r->r_nmem = 0;
}

static void
members_set(struct reg *r, const struct ecc_memberships *ms)
{
	struct reg_member	*m;
	char			 comms[512] = "";
	size_t			 i, k, n = 0;

	members_clear(r);
	for (i = 0; i < ms->ms_n; i++)
		n += ms->ms_c[i].co_n;
	if (n == 0 || (r->r_mem = calloc(n, sizeof(*m))) == NULL)
		return;
	for (i = 0; i < ms->ms_n; i++) {
		const struct ecc_community *co = &ms->ms_c[i];

		for (k = 0; k < co->co_n; k++) {
			const struct ecc_member *mb = &co->co_members[k];

			if (mb->mb_itsyou) {
				snprintf(comms + strlen(comms), sizeof(comms) -
				    strlen(comms), "%s%lld", comms[0] ? "," :
				    "", (long long)co->co_cid);
				continue;
			}
			m = &r->r_mem[r->r_nmem++];
			m->m_pid = mb->mb_pid;
			m->m_mid = mb->mb_mid;
			m->m_cid = co->co_cid;
			m->m_name = strdup(mb->mb_name ? mb->mb_name : "");
			m->m_email = mb->mb_email && *mb->mb_email ?
			    strdup(mb->mb_email) : NULL;
		}
	}
	if (r->r_comms == NULL && comms[0] != '\0')
		r->r_comms = strdup(comms);
}

static const struct reg_member *
member_by_mid(const struct reg *r, int64_t mid)
{
	size_t	 i;

	for (i = 0; i < r->r_nmem; i++)
		if (r->r_mem[i].m_mid == mid)
			return &r->r_mem[i];
	return NULL;
}

static const struct reg_member *
member_by_pid(const struct reg *r, int64_t pid)
{
	size_t	 i;

	for (i = 0; i < r->r_nmem; i++)
		if (r->r_mem[i].m_pid == pid)
			return &r->r_mem[i];
	return NULL;
}

/* A participant named by name, or by a mid (number or digit string). */
static const struct reg_member *
member_lookup(const struct reg *r, yajl_val v)
{
	const char	*s;
	size_t		 i;

	if (v == NULL)
		return NULL;
	if (YAJL_IS_INTEGER(v))
		return member_by_mid(r, YAJL_GET_INTEGER(v));
	if ((s = YAJL_GET_STRING(v)) == NULL)
		return NULL;
	for (i = 0; i < r->r_nmem; i++)
		if (strcmp(r->r_mem[i].m_name, s) == 0)
			return &r->r_mem[i];
	if (*s != '\0' && strspn(s, "0123456789") == strlen(s))
		return member_by_mid(r, strtoll(s, NULL, 10));
	return NULL;
}

static int
has_role(struct reg *r, int64_t pid, const char *role)
{
	struct reg_rows	 rows;
	int		 yes;

	if (reg_q(r->r_st, Q_ROLE_HAS, &rows, NULL, "it", pid, role) != 0)
		return 0;
	yes = rows.rr_n > 0;
	reg_rows_free(&rows);
	return yes;
}

static int
is_superadmin(struct reg *r, int64_t pid)
{
	const struct reg_member	*m = NULL;
	size_t			 i;

	if (r->r_superadmin != NULL) {
		for (i = 0; i < r->r_nmem; i++)
			if (strcmp(r->r_mem[i].m_name, r->r_superadmin) == 0)
				m = &r->r_mem[i];
		if (m == NULL && strspn(r->r_superadmin, "0123456789") ==
		    strlen(r->r_superadmin))
			m = member_by_mid(r, strtoll(r->r_superadmin, NULL,
			    10));
		if (m != NULL && m->m_pid == pid)
			return 1;
	}
	return has_role(r, pid, "superadmin");
}

/* Tell every superadmin that a decision waits. */
static void
tell_superadmins(struct reg_ctx *c, int64_t offer_id, const char *why)
{
	struct reg	*r = c->c_reg;
	yajl_gen	 g;
	size_t		 i;
	int64_t		 seen = -1;

	for (i = 0; i < r->r_nmem; i++) {
		if (r->r_mem[i].m_pid == seen ||
		    !is_superadmin(r, r->r_mem[i].m_pid))
			continue;
		seen = r->r_mem[i].m_pid;
		if ((g = notice("offer_pending")) == NULL)
			return;
		rj_ki(g, "offer_id", offer_id);
		rj_k(g, "reason", why);
		notice_end(c, r->r_mem[i].m_mid, g);
	}
}

/* --- offers ------------------------------------------------------------- */

struct offer {
	struct reg_rows	 of_rows;
	int64_t		 of_id, of_provider, of_mid, of_link;
	const char	*of_provider_name, *of_status, *of_data, *of_pending;
	yajl_val	 of_doc;	/* parsed of_data */
};

static int
offer_load(struct reg *r, int64_t id, struct offer *o)
{
	memset(o, 0, sizeof(*o));
	if (reg_q(r->r_st, Q_OFFER_GET, &o->of_rows, NULL, "i", id) != 0)
		return -1;
	if (o->of_rows.rr_n == 0) {
		reg_rows_free(&o->of_rows);
		return -1;
	}
	o->of_id = id;
	o->of_provider = reg_cell_int(&o->of_rows, 0, 1);
	o->of_provider_name = reg_cell(&o->of_rows, 0, 2);
	o->of_mid = reg_cell_int(&o->of_rows, 0, 3);
	o->of_status = reg_cell(&o->of_rows, 0, 4);
	o->of_data = reg_cell(&o->of_rows, 0, 5);
	o->of_pending = reg_cell(&o->of_rows, 0, 6);
	o->of_link = reg_cell_int(&o->of_rows, 0, 7);
	o->of_doc = rj_parse(o->of_data);
	return o->of_doc != NULL ? 0 : -1;
}

static void
offer_free(struct offer *o)
{
	reg_rows_free(&o->of_rows);
	yajl_tree_free(o->of_doc);
	o->of_doc = NULL;
}

/* Load the offer named by the request's offer_id, or answer an error. */
static int
offer_from_req(struct reg_ctx *c, struct offer *o)
{
	int64_t	 id;

	if (rj_int(c->c_req, "offer_id", &id) != 0) {
		reply_err(c, "offer_id missing");
		return -1;
	}
	if (offer_load(c->c_reg, id, o) != 0) {
		reply_err(c, "no offer %lld", (long long)id);
		return -1;
	}
	return 0;
}

static void
ratings_gen(struct reg *r, yajl_gen g, enum reg_query q, int64_t key)
{
	struct reg_rows	 rows;
	size_t		 i;

	rj_s(g, "ratings");
	yajl_gen_map_open(g);
	if (reg_q(r->r_st, q, &rows, NULL, "i", key) == 0) {
		for (i = 0; i < rows.rr_n; i++) {
			rj_s(g, reg_cell(&rows, i, 0));
			yajl_gen_map_open(g);
			rj_ki(g, "count", reg_cell_int(&rows, i, 1));
			rj_kd(g, "average", reg_cell_dbl(&rows, i, 2));
			yajl_gen_map_close(g);
		}
		reg_rows_free(&rows);
	}
	yajl_gen_map_close(g);
}

static int64_t
seats_taken(struct reg *r, int64_t offer)
{
	struct reg_rows	 rows;
	int64_t		 n = 0;

	if (reg_q(r->r_st, Q_APP_COUNT, &rows, NULL, "itt", offer,
	    "confirmed", "completed") == 0) {
		n = reg_cell_int(&rows, 0, 0);
		reg_rows_free(&rows);
	}
	return n;
}

/* The registry's view of an offer, with its rating aggregates. */
static void
offer_gen(struct reg *r, yajl_gen g, int64_t id, const char *provider,
    const char *status, yajl_val data)
{
	int64_t	 max = 0;

	yajl_gen_map_open(g);
	rj_ki(g, "offer_id", id);
	rj_k(g, "provider", provider);
	if (status != NULL)
		rj_k(g, "state", status);
	rj_s(g, "offer");
	rj_copy(g, data);
	rj_ki(g, "participants", seats_taken(r, id));
	if (rj_int(data, "max_participants", &max) == 0)
		rj_ki(g, "seats_left", max - seats_taken(r, id) > 0 ?
		    max - seats_taken(r, id) : 0);
	ratings_gen(r, g, Q_RATE_AGG_OFFER, id);
	yajl_gen_map_close(g);
}

static void
datetime_pair(yajl_gen g, const char *key, const char *date)
{
	char	 a[40], b[40];

	snprintf(a, sizeof(a), "%sT00:00:00Z", date);
	snprintf(b, sizeof(b), "%sT23:59:59Z", date);
	rj_s(g, key);
	yajl_gen_map_open(g);
	rj_k(g, "startDatetime", a);
	rj_k(g, "endDatetime", b);
	yajl_gen_map_close(g);
}

/* The CampusConnect courselink of an approved offer (cc_courselinks). */
static char *
courselink(struct reg *r, int64_t id, yajl_val d)
{
	yajl_gen	 g;
	const char	*trainer = rj_str(d, "trainer"), *sp;
	const char	*start = rj_str(d, "start_date");
	const char	*end = rj_str(d, "end_date");
	char		 buf[512], num[32];
	double		 ects;
	char		*out;

	if ((g = rj_gen()) == NULL)
		return NULL;
	snprintf(num, sizeof(num), "%lld", (long long)id);
	yajl_gen_map_open(g);
	if (rj_str(d, "url") != NULL)
		rj_k(g, "url", rj_str(d, "url"));
	else {
		snprintf(buf, sizeof(buf), "%s%s", r->r_offer_url, num);
		rj_k(g, "url", buf);
	}
	rj_k(g, "id", num);
	snprintf(buf, sizeof(buf), "REG-%s", num);
	rj_k(g, "number", buf);
	rj_k(g, "title", rj_str(d, "title"));
	rj_k(g, "lang", rj_str(d, "language"));
	rj_k(g, "courseType", rj_str(d, "mode"));
	rj_k(g, "status", "published");
	if (start != NULL)
		rj_k(g, "firstDate", start);
	if (rj_num(d, "ects", &ects) == 0 && ects == (double)(int64_t)ects)
		rj_ki(g, "credits", (int64_t)ects);
	if (trainer != NULL) {
		rj_s(g, "lecturers");
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		if ((sp = strrchr(trainer, ' ')) != NULL) {
			snprintf(buf, sizeof(buf), "%.*s",
			    (int)(sp - trainer), trainer);
			rj_k(g, "firstName", buf);
			rj_k(g, "lastName", sp + 1);
		} else
			rj_k(g, "lastName", trainer);
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
	}
	if (start != NULL && end != NULL) {
		rj_s(g, "datesAndVenues");
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		if (rj_str(d, "location") != NULL)
			rj_k(g, "venue", rj_str(d, "location"));
		datetime_pair(g, "firstDate", start);
		datetime_pair(g, "lastDate", end);
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
	}
	rj_s(g, "availability");
	yajl_gen_map_open(g);
	rj_k(g, "status", "online");
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	out = rj_take(g);
	yajl_gen_free(g);
	return out;
}

/* Validate an offer: the schema, then what a schema cannot say. */
static int
offer_check(struct reg_ctx *c, yajl_val d, struct reg_errs *e)
{
	const struct reg_member	*m;
	const char		*s1, *s2, *tr;
	int64_t			 a, b;
	yajl_val		 tv;

	if (d == NULL || !YAJL_IS_OBJECT(d)) {
		reg_errs_add(e, "offer", "must be an object");
		return 1;
	}
	if (reg_validate(c->c_reg->r_schema, d, e) < 0) {
		reg_errs_add(e, "offer", "schema uses an unsupported keyword");
		return 1;
	}
	s1 = rj_str(d, "start_date");
	s2 = rj_str(d, "end_date");
	if (s1 && s2 && reg_parse_date(s1, &a) == 0 &&
	    reg_parse_date(s2, &b) == 0 && b < a)
		reg_errs_add(e, "end_date", "before start_date");
	if (rj_int(d, "min_participants", &a) == 0 &&
	    rj_int(d, "max_participants", &b) == 0 && a > b)
		reg_errs_add(e, "min_participants", "greater than "
		    "max_participants");
	if ((tr = rj_str(d, "trainer")) != NULL) {
		tv = rj_get(d, "trainer");
		if ((m = member_lookup(c->c_reg, tv)) == NULL ||
		    !has_role(c->c_reg, m->m_pid, "trainer"))
			reg_errs_add(e, "trainer", "%s is not a participant "
			    "with the trainer role", tr);
	}
	return e->re_n > 0;
}

static void
publish(struct reg_ctx *c, int64_t id, int64_t link, yajl_val d)
{
	struct reg_op	*o;
	char		*body;

	if (c->c_reg->r_comms == NULL ||
	    (body = courselink(c->c_reg, id, d)) == NULL) {
		ecs_plugin_log(c->c_reg->r_host, 0, "offer %lld: no courselink "
		    "(no community)", (long long)id);
		return;
	}
	if (link > 0)
		op_add(c->c_job, OP_PUT, R_LINKS, link, NULL,
		    c->c_reg->r_comms, CT_JSON, body);
	else if ((o = op_add(c->c_job, OP_POST, R_LINKS, 0, NULL,
	    c->c_reg->r_comms, CT_JSON, body)) != NULL)
		o->o_link_offer = id;
}

static void
h_offers(struct reg_ctx *c)
{
	struct reg	*r = c->c_reg;
	struct reg_errs	 e = { NULL, NULL, 0 };
	struct offer	 o;
	yajl_val	 d = rj_get(c->c_req, "offer");
	yajl_gen	 g;
	char		*text, idbuf[32];
	int64_t		 id, start;

	if (strcmp(c->c_action, "get") == 0) {
		if (offer_from_req(c, &o) != 0)
			return;
		reply_ok(c);
		rj_s(c->c_g, "data");
		offer_gen(r, c->c_g, o.of_id, o.of_provider_name, o.of_status,
		    o.of_doc);
		offer_free(&o);
		return;
	}
	if (!has_role(r, c->c_who.w_pid, "provider")) {
		reply_err(c, "only providers may %s offers", c->c_action);
		return;
	}
	if (strcmp(c->c_action, "submit") == 0) {
		if (offer_check(c, d, &e) != 0) {
			reply_errs(c, &e);
			reg_errs_free(&e);
			return;
		}
		if ((g = rj_gen()) == NULL)
			return;
		rj_copy(g, d);
		text = rj_take(g);
		yajl_gen_free(g);
		if (text == NULL || reg_q(r->r_st, Q_OFFER_ADD, NULL, &id,
		    "ititii", c->c_who.w_pid, c->c_who.w_name, c->c_who.w_mid,
		    text, now(), now()) != 0) {
			free(text);
			reply_err(c, "cannot store the offer");
			return;
		}
		free(text);
		snprintf(idbuf, sizeof(idbuf), "offer %lld", (long long)id);
		audit(c, "offer_submit", idbuf, rj_str(d, "title"));
		reply_ok(c);
		rj_ki(c->c_g, "offer_id", id);
		rj_k(c->c_g, "state", "pending");
		tell_superadmins(c, id, "new");
		return;
	}
	if (strcmp(c->c_action, "list") == 0) {
		struct reg_rows	 rows;
		size_t		 i;

		reply_ok(c);
		rj_s(c->c_g, "data");
		yajl_gen_array_open(c->c_g);
		if (reg_q(r->r_st, Q_OFFERS_OF, &rows, NULL, "i",
		    c->c_who.w_pid) == 0) {
			for (i = 0; i < rows.rr_n; i++) {
				yajl_gen_map_open(c->c_g);
				rj_ki(c->c_g, "offer_id",
				    reg_cell_int(&rows, i, 0));
				rj_k(c->c_g, "state", reg_cell(&rows, i, 1));
				yajl_gen_map_close(c->c_g);
			}
			reg_rows_free(&rows);
		}
		yajl_gen_array_close(c->c_g);
		return;
	}
	if (strcmp(c->c_action, "edit") != 0 &&
	    strcmp(c->c_action, "withdraw") != 0) {
		reply_err(c, "unknown action %s", c->c_action);
		return;
	}
	if (offer_from_req(c, &o) != 0)
		return;
	snprintf(idbuf, sizeof(idbuf), "offer %lld", (long long)o.of_id);
	if (o.of_provider != c->c_who.w_pid) {
		reply_err(c, "offer %lld is not yours", (long long)o.of_id);
	} else if (strcmp(o.of_status, "withdrawn") == 0 ||
	    strcmp(o.of_status, "rejected") == 0) {
		reply_err(c, "offer %lld is %s", (long long)o.of_id,
		    o.of_status);
	} else if (strcmp(c->c_action, "edit") == 0) {
		if (offer_check(c, d, &e) != 0) {
			reply_errs(c, &e);
			reg_errs_free(&e);
			offer_free(&o);
			return;
		}
		g = rj_gen();
		if (g != NULL)
			rj_copy(g, d);
		text = g ? rj_take(g) : NULL;
		if (g != NULL)
			yajl_gen_free(g);
		if (text == NULL) {
			offer_free(&o);
			return;
		}
		/*
		 * The edit waits for approval; a published offer stays as it
		 * is until then, a pending one is approved with the edit.
		 */
		reg_q(r->r_st, Q_OFFER_EDIT, NULL, NULL, "tii", text, now(),
		    o.of_id);
		free(text);
		audit(c, "offer_edit", idbuf, NULL);
		reply_ok(c);
		rj_ki(c->c_g, "offer_id", o.of_id);
		rj_k(c->c_g, "state", "pending");
		tell_superadmins(c, o.of_id, "edited");
	} else {
		if (reg_parse_date(rj_str(o.of_doc, "start_date") ?
		    rj_str(o.of_doc, "start_date") : "", &start) == 0 &&
		    start - now() < DAY) {
			reply_err(c, "offer %lld starts on %s: it can be "
			    "withdrawn no later than one day before its start",
			    (long long)o.of_id,
			    rj_str(o.of_doc, "start_date"));
			audit(c, "offer_withdraw_refused", idbuf,
			    "less than one day before the start");
			offer_free(&o);
			return;
		}
		reg_q(r->r_st, Q_OFFER_STATUS, NULL, NULL, "tii", "withdrawn",
		    now(), o.of_id);
		if (o.of_link > 0) {
			op_add(c->c_job, OP_DELETE, R_LINKS, o.of_link, NULL,
			    NULL, NULL, NULL);
			reg_q(r->r_st, Q_OFFER_LINK, NULL, NULL, "ii", (int64_t)0,
			    o.of_id);
		}
		audit(c, "offer_withdraw", idbuf, NULL);
		reply_ok(c);
		rj_ki(c->c_g, "offer_id", o.of_id);
		rj_k(c->c_g, "state", "withdrawn");
	}
	offer_free(&o);
}

static void
h_decisions(struct reg_ctx *c)
{
	struct reg	*r = c->c_reg;
	struct offer	 o;
	yajl_val	 d;
	yajl_gen	 g;
	const char	*reason = rj_str(c->c_req, "reason");
	char		 idbuf[32];
	int		 approve;

	if (!is_superadmin(r, c->c_who.w_pid)) {
		reply_err(c, "only the superadmin decides on offers");
		return;
	}
	approve = strcmp(c->c_action, "approve") == 0;
	if (!approve && strcmp(c->c_action, "reject") != 0) {
		reply_err(c, "unknown action %s", c->c_action);
		return;
	}
	if (offer_from_req(c, &o) != 0)
		return;
	snprintf(idbuf, sizeof(idbuf), "offer %lld", (long long)o.of_id);
	if (!(strcmp(o.of_status, "pending") == 0 ||
	    (strcmp(o.of_status, "published") == 0 && o.of_pending))) {
		reply_err(c, "offer %lld has nothing waiting for a decision "
		    "(it is %s)", (long long)o.of_id, o.of_status);
		offer_free(&o);
		return;
	}
	if (approve) {
		reg_q(r->r_st, Q_OFFER_APPROVE, NULL, NULL, "ii", now(),
		    o.of_id);
		d = o.of_pending ? rj_parse(o.of_pending) : NULL;
		publish(c, o.of_id, o.of_link, d ? d : o.of_doc);
		yajl_tree_free(d);
	} else if (strcmp(o.of_status, "published") == 0)
		reg_q(r->r_st, Q_OFFER_DROP_PENDING, NULL, NULL, "ii", now(),
		    o.of_id);
	else
		reg_q(r->r_st, Q_OFFER_STATUS, NULL, NULL, "tii", "rejected",
		    now(), o.of_id);
	audit(c, approve ? "offer_approve" : "offer_reject", idbuf, reason);
	reply_ok(c);
	rj_ki(c->c_g, "offer_id", o.of_id);
	rj_k(c->c_g, "decision", approve ? "approved" : "rejected");
	if ((g = notice("offer_decision")) != NULL) {
		rj_ki(g, "offer_id", o.of_id);
		rj_k(g, "decision", approve ? "approved" : "rejected");
		if (reason != NULL)
			rj_k(g, "reason", reason);
		notice_end(c, o.of_mid, g);
	}
	offer_free(&o);
}

/* --- roles ---------------------------------------------------------------- */

static const char *const roles[] = {
	"provider", "trainer", "employer", "trainee", "superadmin", NULL
};

static void
h_roles(struct reg_ctx *c)
{
	struct reg		*r = c->c_reg;
	const struct reg_member	*m;
	const char		*role = rj_str(c->c_req, "role");
	const char *const	*k;
	struct reg_rows		 rows;
	char			 obj[300];
	size_t			 i;
	int			 grant;

	if (strcmp(c->c_action, "mine") == 0) {
		reply_ok(c);
		rj_s(c->c_g, "roles");
		yajl_gen_array_open(c->c_g);
		if (is_superadmin(r, c->c_who.w_pid))
			rj_s(c->c_g, "superadmin");
		if (reg_q(r->r_st, Q_ROLES_OF, &rows, NULL, "i",
		    c->c_who.w_pid) == 0) {
			for (i = 0; i < rows.rr_n; i++)
				if (strcmp(reg_cell(&rows, i, 0),
				    "superadmin") != 0)
					rj_s(c->c_g, reg_cell(&rows, i, 0));
			reg_rows_free(&rows);
		}
		yajl_gen_array_close(c->c_g);
		return;
	}
	if (!is_superadmin(r, c->c_who.w_pid)) {
		reply_err(c, "only the superadmin sets roles");
		return;
	}
	if (strcmp(c->c_action, "list") == 0) {
		reply_ok(c);
		rj_s(c->c_g, "data");
		yajl_gen_array_open(c->c_g);
		if (reg_q(r->r_st, Q_ROLES_ALL, &rows, NULL, "") == 0) {
			for (i = 0; i < rows.rr_n; i++) {
				yajl_gen_map_open(c->c_g);
				rj_ki(c->c_g, "pid", reg_cell_int(&rows, i, 0));
				rj_k(c->c_g, "participant",
				    reg_cell(&rows, i, 1));
				rj_k(c->c_g, "role", reg_cell(&rows, i, 2));
				yajl_gen_map_close(c->c_g);
			}
			reg_rows_free(&rows);
		}
		yajl_gen_array_close(c->c_g);
		return;
	}
	grant = strcmp(c->c_action, "grant") == 0;
	if (!grant && strcmp(c->c_action, "revoke") != 0) {
		reply_err(c, "unknown action %s", c->c_action);
		return;
	}
	for (k = roles; *k != NULL; k++)
		if (role != NULL && strcmp(role, *k) == 0)
			break;
	if (*k == NULL) {
		reply_err(c, "role must be one of provider, trainer, employer, "
		    "trainee, superadmin");
		return;
	}
	if ((m = member_lookup(r, rj_get(c->c_req, "participant"))) == NULL) {
		reply_err(c, "participant unknown (give a name or a mid of a "
		    "community the registry shares)");
		return;
	}
	if (grant)
		reg_q(r->r_st, Q_ROLE_SET, NULL, NULL, "ittii", m->m_pid, role,
		    m->m_name, c->c_who.w_pid, now());
	else
		reg_q(r->r_st, Q_ROLE_DEL, NULL, NULL, "it", m->m_pid, role);
	snprintf(obj, sizeof(obj), "participant %s", m->m_name);
	audit(c, grant ? "role_grant" : "role_revoke", obj, role);
	reply_ok(c);
	rj_k(c->c_g, "participant", m->m_name);
	rj_ki(c->c_g, "pid", m->m_pid);
	rj_k(c->c_g, "role", role);
	rj_kb(c->c_g, "granted", grant);
}

/* --- applications --------------------------------------------------------- */

struct app {
	struct reg_rows	 ap_rows;
	int64_t		 ap_id, ap_offer, ap_pid, ap_mid;
	const char	*ap_name, *ap_email, *ap_status;
};

static int
app_from_req(struct reg_ctx *c, struct app *a)
{
	int64_t	 id;

	memset(a, 0, sizeof(*a));
	if (rj_int(c->c_req, "application_id", &id) != 0) {
		reply_err(c, "application_id missing");
		return -1;
	}
	if (reg_q(c->c_reg->r_st, Q_APP_GET, &a->ap_rows, NULL, "i", id) != 0
	    || a->ap_rows.rr_n == 0) {
		reg_rows_free(&a->ap_rows);
		reply_err(c, "no application %lld", (long long)id);
		return -1;
	}
	a->ap_id = id;
	a->ap_offer = reg_cell_int(&a->ap_rows, 0, 1);
	a->ap_pid = reg_cell_int(&a->ap_rows, 0, 2);
	a->ap_name = reg_cell(&a->ap_rows, 0, 3);
	a->ap_mid = reg_cell_int(&a->ap_rows, 0, 4);
	a->ap_email = reg_cell(&a->ap_rows, 0, 5);
	a->ap_status = reg_cell(&a->ap_rows, 0, 6);
	return 0;
}

static int
is_trainer_of(struct reg *r, int64_t pid, const char *name, yajl_val d)
{
	const char	*t = rj_str(d, "trainer");

	return t != NULL && strcmp(t, name) == 0 &&
	    has_role(r, pid, "trainer");
}

/* Issue the badge of a completed application; 0 or -1. */
static int
issue_badge(struct reg_ctx *c, struct app *a, struct offer *o,
    char **credidp)
{
	struct reg		*r = c->c_reg;
	struct reg_award	 aw;
	char			 salt[33], ach[600], crit[2048], vf[32];
	char			 why[256], *cred, *credid = NULL, mid[32];
	yajl_val		 lo = rj_get(o->of_doc, "learning_outcomes");
	double			 ects;
	int64_t			 hours = 0;
	time_t			 t = time(NULL);
	struct tm		 tm;
	size_t			 i;

	if (reg_random_hex(16, salt) != 0)
		return -1;
	gmtime_r(&t, &tm);
	strftime(vf, sizeof(vf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(ach, sizeof(ach), "%s%lld", r->r_offer_url,
	    (long long)o->of_id);
	rj_int(o->of_doc, "hours", &hours);
	snprintf(crit, sizeof(crit), "Completed the %lld-hour course \"%s\" "
	    "(%s)", (long long)hours, rj_str(o->of_doc, "title"),
	    rj_str(o->of_doc, "mode"));
	for (i = 0; lo != NULL && YAJL_IS_ARRAY(lo) && i < lo->u.array.len;
	    i++)
		if (YAJL_IS_STRING(lo->u.array.values[i]))
			snprintf(crit + strlen(crit), sizeof(crit) -
			    strlen(crit), "%s%s", i == 0 ? ". Learning "
			    "outcomes: " : "; ",
			    lo->u.array.values[i]->u.string);
	memset(&aw, 0, sizeof(aw));
	aw.ra_issuer_id = r->r_issuer;
	aw.ra_issuer_name = r->r_issuer_name;
	aw.ra_achievement_id = ach;
	aw.ra_name = rj_str(o->of_doc, "title");
	aw.ra_description = rj_str(o->of_doc, "description");
	aw.ra_criteria = crit;
	aw.ra_email = a->ap_email;
	aw.ra_salt = salt;
	aw.ra_valid_from = vf;
	aw.ra_eqf = 0;
	rj_int(o->of_doc, "eqf_level", &aw.ra_eqf);
	aw.ra_ects = rj_num(o->of_doc, "ects", &ects) == 0 ? ects : -1;
	if ((cred = reg_badge_issue(r->r_key, &aw, &credid, why,
	    sizeof(why))) == NULL) {
		ecs_plugin_log(r->r_host, 0, "application %lld: badge: %s",
		    (long long)a->ap_id, why);
		return -1;
	}
	if (reg_q(r->r_st, Q_CRED_ADD, NULL, NULL, "tiiiti", credid, a->ap_id,
	    o->of_id, a->ap_pid, cred, now()) != 0) {
		free(cred);
		free(credid);
		return -1;
	}
	snprintf(mid, sizeof(mid), "%lld", (long long)a->ap_mid);
	op_add(c->c_job, OP_POST, R_CREDS, 0, mid, NULL,
	    "application/vc+ld+json", cred);
	*credidp = credid;
	return 0;
}

static void
h_applications(struct reg_ctx *c)
{
	struct reg		*r = c->c_reg;
	struct offer		 o;
	struct app		 a;
	struct reg_rows		 rows;
	yajl_gen		 g;
	const char		*email, *state;
	char			 obj[64], *credid = NULL;
	int64_t			 id, max = 0;
	size_t			 i;
	int			 rc;

	if (strcmp(c->c_action, "apply") == 0) {
		if (!has_role(r, c->c_who.w_pid, "trainee")) {
			reply_err(c, "only trainees may apply");
			return;
		}
		if (offer_from_req(c, &o) != 0)
			return;
		email = rj_str(c->c_req, "email");
		if (email == NULL)
			email = c->c_who.w_email;
		if (strcmp(o.of_status, "published") != 0)
			reply_err(c, "offer %lld is not open (%s)",
			    (long long)o.of_id, o.of_status);
		else if (is_trainer_of(r, c->c_who.w_pid, c->c_who.w_name,
		    o.of_doc))
			reply_err(c, "the trainer of an offer cannot apply "
			    "to it");
		else if (email == NULL || strchr(email, '@') == NULL)
			reply_err(c, "email missing (the recipient of the "
			    "microcredential)");
		else if ((rc = reg_q(r->r_st, Q_APP_ADD, NULL, &id, "iititi",
		    o.of_id, c->c_who.w_pid, c->c_who.w_name, c->c_who.w_mid,
		    email, now())) != 0)
			reply_err(c, rc == 1 ? "already applied to offer %lld" :
			    "cannot store the application to offer %lld",
			    (long long)o.of_id);
		else {
			snprintf(obj, sizeof(obj), "application %lld",
			    (long long)id);
			audit(c, "apply", obj, NULL);
			reply_ok(c);
			rj_ki(c->c_g, "application_id", id);
			rj_ki(c->c_g, "offer_id", o.of_id);
			rj_k(c->c_g, "state", "pending");
			if ((g = notice("application")) != NULL) {
				rj_ki(g, "application_id", id);
				rj_ki(g, "offer_id", o.of_id);
				rj_k(g, "trainee", c->c_who.w_name);
				rj_k(g, "state", "pending");
				notice_end(c, o.of_mid, g);
			}
		}
		offer_free(&o);
		return;
	}
	if (strcmp(c->c_action, "list") == 0) {
		if (offer_from_req(c, &o) != 0)
			return;
		if (o.of_provider != c->c_who.w_pid &&
		    !is_superadmin(r, c->c_who.w_pid)) {
			reply_err(c, "offer %lld is not yours",
			    (long long)o.of_id);
			offer_free(&o);
			return;
		}
		reply_ok(c);
		rj_s(c->c_g, "data");
		yajl_gen_array_open(c->c_g);
		if (reg_q(r->r_st, Q_APPS_OF_OFFER, &rows, NULL, "i",
		    o.of_id) == 0) {
			for (i = 0; i < rows.rr_n; i++) {
				yajl_gen_map_open(c->c_g);
				rj_ki(c->c_g, "application_id",
				    reg_cell_int(&rows, i, 0));
				rj_k(c->c_g, "trainee", reg_cell(&rows, i, 1));
				rj_k(c->c_g, "state", reg_cell(&rows, i, 2));
				yajl_gen_map_close(c->c_g);
			}
			reg_rows_free(&rows);
		}
		yajl_gen_array_close(c->c_g);
		offer_free(&o);
		return;
	}
	if (strcmp(c->c_action, "confirm") != 0 &&
	    strcmp(c->c_action, "reject") != 0 &&
	    strcmp(c->c_action, "complete") != 0) {
		reply_err(c, "unknown action %s", c->c_action);
		return;
	}
	if (app_from_req(c, &a) != 0)
		return;
	if (offer_load(r, a.ap_offer, &o) != 0) {
		reply_err(c, "the offer of application %lld is gone",
		    (long long)a.ap_id);
		reg_rows_free(&a.ap_rows);
		return;
	}
	snprintf(obj, sizeof(obj), "application %lld", (long long)a.ap_id);
	state = NULL;
	if (strcmp(c->c_action, "complete") == 0) {
		if (o.of_provider != c->c_who.w_pid &&
		    !is_trainer_of(r, c->c_who.w_pid, c->c_who.w_name,
		    o.of_doc))
			reply_err(c, "only the provider or the trainer of "
			    "offer %lld records completion",
			    (long long)o.of_id);
		else if (strcmp(a.ap_status, "confirmed") != 0)
			reply_err(c, "application %lld is %s, not confirmed",
			    (long long)a.ap_id, a.ap_status);
		else
			state = "completed";
	} else if (o.of_provider != c->c_who.w_pid) {
		reply_err(c, "only the provider of offer %lld decides on "
		    "applications", (long long)o.of_id);
	} else if (strcmp(a.ap_status, "pending") != 0) {
		reply_err(c, "application %lld is already %s",
		    (long long)a.ap_id, a.ap_status);
	} else if (strcmp(c->c_action, "confirm") == 0) {
		rj_int(o.of_doc, "max_participants", &max);
		if (seats_taken(r, o.of_id) >= max)
			reply_err(c, "offer %lld is full (max_participants "
			    "%lld)", (long long)o.of_id, (long long)max);
		else
			state = "confirmed";
	} else
		state = "rejected";
	if (state != NULL) {
		reg_q(r->r_st, Q_APP_STATUS, NULL, NULL, "tii", state, now(),
		    a.ap_id);
		audit(c, c->c_action, obj, state);
		reply_ok(c);
		rj_ki(c->c_g, "application_id", a.ap_id);
		rj_k(c->c_g, "state", state);
		if (strcmp(state, "completed") == 0) {
			int mc = 0;

			rj_bool(o.of_doc, "microcredential", &mc);
			if (mc && issue_badge(c, &a, &o, &credid) == 0) {
				rj_k(c->c_g, "credential_id", credid);
				audit(c, "badge_issue", credid, obj);
			}
		}
		if ((g = notice("application")) != NULL) {
			rj_ki(g, "application_id", a.ap_id);
			rj_ki(g, "offer_id", o.of_id);
			rj_k(g, "state", state);
			if (credid != NULL)
				rj_k(g, "credential_id", credid);
			notice_end(c, a.ap_mid, g);
		}
		free(credid);
	}
	offer_free(&o);
	reg_rows_free(&a.ap_rows);
}

/* --- ratings -------------------------------------------------------------- */

static void
h_ratings(struct reg_ctx *c)
{
	struct reg	*r = c->c_reg;
	struct offer	 o;
	struct app	 a;
	struct reg_errs	 e = { NULL, NULL, 0 };
	const char	*target = rj_str(c->c_req, "target");
	const char	*opinion = rj_str(c->c_req, "opinion");
	char		 obj[64], det[32];
	int64_t		 score = 0;
	int		 rc;

	if (strcmp(c->c_action, "rate") != 0) {
		reply_err(c, "unknown action %s", c->c_action);
		return;
	}
	if (target == NULL || (strcmp(target, "course") != 0 &&
	    strcmp(target, "provider") != 0 && strcmp(target, "trainer") != 0))
		reg_errs_add(&e, "target", "must be one of course, provider, "
		    "trainer");
	if (rj_int(c->c_req, "score", &score) != 0 || score < 1 || score > 5)
		reg_errs_add(&e, "score", "must be an integer from 1 to 5");
	if (rj_get(c->c_req, "opinion") != NULL && (opinion == NULL ||
	    strlen(opinion) > 2000))
		reg_errs_add(&e, "opinion", "must be a string of at most "
		    "2000 bytes");
	if (e.re_n > 0) {
		reply_errs(c, &e);
		reg_errs_free(&e);
		return;
	}
	if (app_from_req(c, &a) != 0)
		return;
	if (a.ap_pid != c->c_who.w_pid)
		reply_err(c, "application %lld is not yours",
		    (long long)a.ap_id);
	else if (strcmp(a.ap_status, "completed") != 0)
		reply_err(c, "ratings come after completion (application "
		    "%lld is %s)", (long long)a.ap_id, a.ap_status);
	else if (offer_load(r, a.ap_offer, &o) != 0)
		reply_err(c, "the offer is gone");
	else {
		if (strcmp(target, "trainer") == 0 &&
		    rj_str(o.of_doc, "trainer") == NULL)
			reply_err(c, "offer %lld has no trainer",
			    (long long)o.of_id);
		else if ((rc = reg_q(r->r_st, Q_RATE_ADD, NULL, NULL, "ititi",
		    a.ap_id, target, score, opinion, now())) != 0)
			reply_err(c, rc == 1 ? "the %s of this course is "
			    "already rated" : "cannot store the rating of the "
			    "%s", target);
		else {
			snprintf(obj, sizeof(obj), "offer %lld",
			    (long long)o.of_id);
			snprintf(det, sizeof(det), "%s %lld", target,
			    (long long)score);
			audit(c, "rate", obj, det);
			reply_ok(c);
			rj_ki(c->c_g, "offer_id", o.of_id);
			ratings_gen(r, c->c_g, Q_RATE_AGG_OFFER, o.of_id);
		}
		offer_free(&o);
	}
	reg_rows_free(&a.ap_rows);
}

/* --- announcements -------------------------------------------------------- */

static void
announcements_gen(struct reg *r, yajl_gen g, const char *kind, int64_t lim,
    int64_t off)
{
	struct reg_rows	 rows;
	yajl_val	 d;
	size_t		 i;

	yajl_gen_array_open(g);
	if (reg_q(r->r_st, Q_ANN_LIST, &rows, NULL, "tii", kind, lim, off) ==
	    0) {
		for (i = 0; i < rows.rr_n; i++) {
			yajl_gen_map_open(g);
			rj_ki(g, "announcement_id", reg_cell_int(&rows, i, 0));
			rj_k(g, "employer", reg_cell(&rows, i, 1));
			rj_k(g, "kind", reg_cell(&rows, i, 2));
			rj_s(g, "announcement");
			d = rj_parse(reg_cell(&rows, i, 3));
			rj_copy(g, d);
			yajl_tree_free(d);
			yajl_gen_map_close(g);
		}
		reg_rows_free(&rows);
	}
	yajl_gen_array_close(g);
}

static void
h_announcements(struct reg_ctx *c)
{
	struct reg	*r = c->c_reg;
	struct reg_errs	 e = { NULL, NULL, 0 };
	struct reg_rows	 rows;
	yajl_val	 d = rj_get(c->c_req, "announcement");
	const char	*kind = rj_str(d, "kind"), *k;
	static const char *const fields[] = { "title", "subject", "location",
	    "industry", "content", NULL };
	const char *const *f;
	const struct reg_member	*m;
	yajl_gen	 g;
	char		*text, obj[64];
	int64_t		 id, persons;
	size_t		 i;

	if (strcmp(c->c_action, "list") == 0) {
		reply_ok(c);
		rj_s(c->c_g, "data");
		announcements_gen(r, c->c_g, rj_str(c->c_req, "kind"), 100, 0);
		return;
	}
	if (strcmp(c->c_action, "post") != 0) {
		reply_err(c, "unknown action %s", c->c_action);
		return;
	}
	if (!has_role(r, c->c_who.w_pid, "employer")) {
		reply_err(c, "only employers post announcements");
		return;
	}
	if (d == NULL || !YAJL_IS_OBJECT(d))
		reg_errs_add(&e, "announcement", "must be an object");
	else {
		if (kind == NULL || (strcmp(kind, "training") != 0 &&
		    strcmp(kind, "competency") != 0))
			reg_errs_add(&e, "kind", "must be training or "
			    "competency");
		if (rj_str(d, "title") == NULL || !*rj_str(d, "title"))
			reg_errs_add(&e, "title", "required");
		for (f = fields; *f != NULL; f++)
			if (rj_get(d, *f) != NULL && rj_str(d, *f) == NULL)
				reg_errs_add(&e, *f, "must be a string");
		if (rj_get(d, "persons") != NULL &&
		    (rj_int(d, "persons", &persons) != 0 || persons < 1))
			reg_errs_add(&e, "persons", "must be a positive "
			    "integer");
		for (i = 0; i < d->u.object.len; i++) {
			k = d->u.object.keys[i];
			for (f = fields; *f != NULL; f++)
				if (strcmp(*f, k) == 0)
					break;
			if (*f == NULL && strcmp(k, "kind") != 0 &&
			    strcmp(k, "persons") != 0)
				reg_errs_add(&e, k, "unknown field");
		}
	}
	if (e.re_n > 0) {
		reply_errs(c, &e);
		reg_errs_free(&e);
		return;
	}
	if ((g = rj_gen()) == NULL)
		return;
	rj_copy(g, d);
	text = rj_take(g);
	yajl_gen_free(g);
	if (text == NULL || reg_q(r->r_st, Q_ANN_ADD, NULL, &id, "ittti",
	    c->c_who.w_pid, c->c_who.w_name, kind, text, now()) != 0) {
		free(text);
		reply_err(c, "cannot store the announcement");
		return;
	}
	snprintf(obj, sizeof(obj), "announcement %lld", (long long)id);
	audit(c, "announce", obj, kind);
	reply_ok(c);
	rj_ki(c->c_g, "announcement_id", id);
	/* Training sought goes to providers, competency requests to trainees. */
	if (reg_q(r->r_st, Q_ROLE_PIDS, &rows, NULL, "t",
	    strcmp(kind, "training") == 0 ? "provider" : "trainee") == 0) {
		for (i = 0; i < rows.rr_n; i++) {
			if ((m = member_by_pid(r, reg_cell_int(&rows, i, 0)))
			    == NULL || (g = notice("announcement")) == NULL)
				continue;
			rj_ki(g, "announcement_id", id);
			rj_k(g, "employer", c->c_who.w_name);
			rj_k(g, "kind", kind);
			rj_s(g, "announcement");
			rj_copy(g, d);
			notice_end(c, m->m_mid, g);
		}
		reg_rows_free(&rows);
	}
	free(text);
}

/* --- queries -------------------------------------------------------------- */

static void
h_queries(struct reg_ctx *c)
{
	struct reg	*r = c->c_reg;
	struct reg_rows	 rows;
	yajl_val	 f = rj_get(c->c_req, "filters"), d;
	int64_t		 page = 1, per = 20, eqf = 0, total = 0;
	int		 vr = 0, have_eqf, have_vr;
	char		 fmt[16];
	size_t		 i;

	rj_int(c->c_req, "page", &page);
	rj_int(c->c_req, "per_page", &per);
	if (page < 1 || per < 1 || per > 100) {
		reply_err(c, "page must be >= 1 and per_page 1 to 100");
		return;
	}
	if (strcmp(c->c_action, "announcements") == 0) {
		reply_ok(c);
		rj_ki(c->c_g, "page", page);
		rj_ki(c->c_g, "per_page", per);
		rj_s(c->c_g, "data");
		announcements_gen(r, c->c_g, rj_str(f, "kind"), per,
		    (page - 1) * per);
		return;
	}
	if (strcmp(c->c_action, "offers") != 0) {
		reply_err(c, "unknown action %s", c->c_action);
		return;
	}
	if (f != NULL && !YAJL_IS_OBJECT(f)) {
		reply_err(c, "filters must be an object");
		return;
	}
	have_eqf = rj_int(f, "eqf_level", &eqf) == 0;
	have_vr = rj_bool(f, "vr_ar", &vr) == 0;
fmt[0] = '\0';
	snprintf(fmt, sizeof(fmt), "ttt%ctt%ct", have_eqf ? 'i' : 'n',
	    have_vr ? 'i' : 'n');
	if (reg_q(r->r_st, Q_OFFER_COUNT, &rows, NULL, fmt,
	    rj_str(f, "language"), rj_str(f, "industry"), rj_str(f, "mode"),
	    eqf, rj_str(f, "from"), rj_str(f, "to"), (int64_t)vr,
	    rj_str(f, "text")) == 0) {
		total = reg_cell_int(&rows, 0, 0);
		reg_rows_free(&rows);
	}
	reply_ok(c);
	rj_ki(c->c_g, "total", total);
	rj_ki(c->c_g, "page", page);
	rj_ki(c->c_g, "per_page", per);
	rj_s(c->c_g, "data");
	yajl_gen_array_open(c->c_g);
	snprintf(fmt, sizeof(fmt), "ttt%ctt%ctii", have_eqf ? 'i' : 'n',
	    have_vr ? 'i' : 'n');
	if (reg_q(r->r_st, Q_OFFER_SEARCH, &rows, NULL,
	    fmt, rj_str(f, "language"), rj_str(f, "industry"),
	    rj_str(f, "mode"), eqf, rj_str(f, "from"), rj_str(f, "to"),
	    (int64_t)vr, rj_str(f, "text"), per, (page - 1) * per) == 0) {
		for (i = 0; i < rows.rr_n; i++) {
			d = rj_parse(reg_cell(&rows, i, 2));
			offer_gen(r, c->c_g, reg_cell_int(&rows, i, 0),
			    reg_cell(&rows, i, 1), NULL, d);
			yajl_tree_free(d);
		}
		reg_rows_free(&rows);
	}
	yajl_gen_array_close(c->c_g);
}

/* --- verification, revocation -------------------------------------------- */

static void
h_verifications(struct reg_ctx *c)
{
	struct reg		*r = c->c_reg;
	struct reg_check	 ch[REG_NCHECKS];
	struct reg_rows		 rows;
	struct offer		 o;
	yajl_val		 cred = rj_get(c->c_req, "credential");
	const char		*id, *reason = NULL;
	int			 revoked = -1, ok;
	size_t			 i;

	if (strcmp(c->c_action, "revoke") == 0) {
		id = rj_str(c->c_req, "credential_id");
		if (id == NULL || reg_q(r->r_st, Q_CRED_GET, &rows, NULL, "t",
		    id) != 0 || rows.rr_n == 0) {
			reply_err(c, "no credential %s", id ? id : "(missing)");
			return;
		}
		ok = is_superadmin(r, c->c_who.w_pid);
		if (!ok && offer_load(r, reg_cell_int(&rows, 0, 2), &o) == 0) {
			ok = o.of_provider == c->c_who.w_pid;
			offer_free(&o);
		}
		if (!ok)
			reply_err(c, "only the superadmin or the provider of "
			    "the offer revokes");
		else {
			reason = rj_str(c->c_req, "reason");
			reg_q(r->r_st, Q_CRED_REVOKE, NULL, NULL, "tit",
			    reason, now(), id);
			audit(c, "badge_revoke", id, reason);
			reply_ok(c);
			rj_k(c->c_g, "credential_id", id);
			rj_kb(c->c_g, "revoked", 1);
		}
		reg_rows_free(&rows);
		return;
	}
	if (strcmp(c->c_action, "verify") != 0) {
		reply_err(c, "unknown action %s", c->c_action);
		return;
	}
	memset(&rows, 0, sizeof(rows));
	if ((id = rj_str(cred, "id")) != NULL &&
	    reg_q(r->r_st, Q_CRED_GET, &rows, NULL, "t", id) == 0 &&
	    rows.rr_n > 0) {
		revoked = reg_cell_int(&rows, 0, 0) != 0;
		reason = reg_cell(&rows, 0, 1);
	}
	ok = reg_badge_verify(r->r_key, cred, revoked, reason,
	    rj_str(c->c_req, "email"), ch);
	reg_rows_free(&rows);
	reply_ok(c);
	rj_kb(c->c_g, "verified", ok);
	rj_s(c->c_g, "checks");
	yajl_gen_array_open(c->c_g);
	for (i = 0; i < REG_NCHECKS; i++) {
		yajl_gen_map_open(c->c_g);
		rj_k(c->c_g, "step", ch[i].rc_step);
		rj_k(c->c_g, "result", ch[i].rc_ok == 1 ? "passed" :
		    ch[i].rc_ok == 0 ? "failed" : "skipped");
		rj_k(c->c_g, "message", ch[i].rc_msg);
		yajl_gen_map_close(c->c_g);
	}
	yajl_gen_array_close(c->c_g);
}

/* --- analytics ------------------------------------------------------------ */

static void
h_analytics(struct reg_ctx *c)
{
	struct reg		*r = c->c_reg;
	struct reg_rows		 rows;
	struct offer		 o;
	const struct reg_member	*m;
	int64_t			 pid, lim = 50;
	size_t			 i;
	int			 sa = is_superadmin(r, c->c_who.w_pid);

	if (strcmp(c->c_action, "offer") == 0) {
		if (offer_from_req(c, &o) != 0)
			return;
		if (!sa && o.of_provider != c->c_who.w_pid) {
			reply_err(c, "offer %lld is not yours",
			    (long long)o.of_id);
			offer_free(&o);
			return;
		}
		reply_ok(c);
		rj_ki(c->c_g, "offer_id", o.of_id);
		if (reg_q(r->r_st, Q_STATS_OFFER, &rows, NULL, "i", o.of_id) ==
		    0) {
			rj_ki(c->c_g, "applications", reg_cell_int(&rows, 0, 0));
			rj_ki(c->c_g, "confirmed", reg_cell_int(&rows, 0, 1));
			rj_ki(c->c_g, "completions", reg_cell_int(&rows, 0, 2));
			reg_rows_free(&rows);
		}
		ratings_gen(r, c->c_g, Q_RATE_AGG_OFFER, o.of_id);
		offer_free(&o);
	} else if (strcmp(c->c_action, "provider") == 0) {
		pid = c->c_who.w_pid;
		if (rj_get(c->c_req, "provider") != NULL) {
			if ((m = member_lookup(r, rj_get(c->c_req,
			    "provider"))) == NULL) {
				reply_err(c, "provider unknown");
				return;
			}
			pid = m->m_pid;
		}
		if (!sa && pid != c->c_who.w_pid) {
			reply_err(c, "providers see their own analytics");
			return;
		}
		reply_ok(c);
		rj_ki(c->c_g, "pid", pid);
		if (reg_q(r->r_st, Q_STATS_PROVIDER, &rows, NULL, "i", pid) ==
		    0) {
			rj_ki(c->c_g, "offers", reg_cell_int(&rows, 0, 0));
			rj_ki(c->c_g, "published", reg_cell_int(&rows, 0, 1));
			rj_ki(c->c_g, "applications",
			    reg_cell_int(&rows, 0, 2));
			rj_ki(c->c_g, "completions", reg_cell_int(&rows, 0, 3));
			reg_rows_free(&rows);
		}
		ratings_gen(r, c->c_g, Q_RATE_AGG_PROVIDER, pid);
	} else if (strcmp(c->c_action, "audit") == 0) {
		if (!sa) {
			reply_err(c, "only the superadmin reads the audit log");
			return;
		}
		rj_int(c->c_req, "limit", &lim);
		reply_ok(c);
		rj_s(c->c_g, "data");
		yajl_gen_array_open(c->c_g);
		if (reg_q(r->r_st, Q_AUDIT_LIST, &rows, NULL, "i", lim) == 0) {
			for (i = 0; i < rows.rr_n; i++) {
				yajl_gen_map_open(c->c_g);
				rj_ki(c->c_g, "id", reg_cell_int(&rows, i, 0));
				rj_ki(c->c_g, "at", reg_cell_int(&rows, i, 1));
				rj_k(c->c_g, "actor", reg_cell(&rows, i, 2));
				rj_k(c->c_g, "action", reg_cell(&rows, i, 3));
				rj_k(c->c_g, "object", reg_cell(&rows, i, 4));
				rj_k(c->c_g, "detail", reg_cell(&rows, i, 5));
				yajl_gen_map_close(c->c_g);
			}
			reg_rows_free(&rows);
		}
		yajl_gen_array_close(c->c_g);
	} else
		reply_err(c, "unknown action %s", c->c_action);
}

/* --- dispatch ------------------------------------------------------------- */

struct handler {
	const char	*h_res;
	void		(*h_fn)(struct reg_ctx *);
};

static const struct handler handlers[] = {
	{ "registry/roles", h_roles },
	{ "registry/offers", h_offers },
	{ "registry/decisions", h_decisions },
	{ "registry/applications", h_applications },
	{ "registry/ratings", h_ratings },
	{ "registry/announcements", h_announcements },
	{ "registry/queries", h_queries },
	{ "registry/verifications", h_verifications },
	{ "registry/analytics", h_analytics },
	{ NULL, NULL }
};

/* Handle the request of job j (its body is here, its sender known). */
static void
job_handle(struct reg_job *j)
{
	struct reg		*r = j->j_reg;
	struct reg_ctx		 c;
	const struct reg_member	*m = member_by_mid(r, j->j_mid);
	const struct handler	*h;
	char			 mid[32], *body;

	memset(&c, 0, sizeof(c));
	c.c_reg = r;
	c.c_job = j;
	if ((c.c_g = rj_gen()) == NULL)
		goto out;
	yajl_gen_map_open(c.c_g);
	rj_ki(c.c_g, "request", j->j_id);
	rj_k(c.c_g, "resource", j->j_res);
	c.c_req = rj_parse(j->j_body);
	c.c_action = rj_str(c.c_req, "action");
	if (c.c_action != NULL)
		rj_k(c.c_g, "action", c.c_action);
	if (m == NULL) {
		reply_err(&c, "sender %lld is not known in the registry's "
		    "communities", (long long)j->j_mid);
	} else if (c.c_req == NULL || !YAJL_IS_OBJECT(c.c_req)) {
		reply_err(&c, "the body is not a JSON object");
	} else if (c.c_action == NULL) {
		reply_err(&c, "action missing");
	} else {
		c.c_who.w_pid = m->m_pid;
		c.c_who.w_mid = j->j_mid;
		c.c_who.w_name = m->m_name;
		c.c_who.w_email = m->m_email;
		for (h = handlers; h->h_res != NULL; h++)
			if (strcmp(h->h_res, j->j_res) == 0)
				break;
		if (h->h_fn != NULL)
			h->h_fn(&c);
		else
			reply_err(&c, "no handler for %s", j->j_res);
	}
	yajl_gen_map_close(c.c_g);
	body = rj_take(c.c_g);
	yajl_gen_free(c.c_g);
	yajl_tree_free(c.c_req);
	snprintf(mid, sizeof(mid), "%lld", (long long)j->j_mid);
	/* The reply goes first, then notices and courselinks. */
	if (body != NULL) {
		struct reg_op *o;

		if ((o = calloc(1, sizeof(*o))) != NULL) {
			o->o_kind = OP_POST;
			snprintf(o->o_res, sizeof(o->o_res), "%s", R_REPLIES);
			o->o_mids = strdup(mid);
			o->o_ctype = strdup(CT_JSON);
			o->o_body = body;
			TAILQ_INSERT_HEAD(&j->j_ops, o, o_entry);
		} else
			free(body);
	}
out:
	op_add(j, OP_DELETE, j->j_res, j->j_id, NULL, NULL, NULL, NULL);
	ops_next(j);
}

static void
job_free(struct reg_job *j)
{
	struct reg_op	*o;

	while ((o = TAILQ_FIRST(&j->j_ops)) != NULL)
		op_free(j, o);
	TAILQ_REMOVE(&j->j_reg->r_jobs, j, j_entry);
	free(j->j_body);
	free(j);
}

static void
job_done(struct reg_job *j)
{
	struct reg	*r = j->j_reg;

	job_free(j);
	r->r_busy = 0;
	job_next(r);
}

static void
op_done(struct ecc_reply *rep, const struct ecc_error *err, void *arg)
{
	struct reg_job	*j = arg;
	struct reg_op	*o = TAILQ_FIRST(&j->j_ops);

	if (err->ee_code != ECS_OK)
		ecs_plugin_log(j->j_reg->r_host, 0, "%s %s/%lld: %d %s",
		    o->o_kind == OP_POST ? "POST" : o->o_kind == OP_PUT ?
		    "PUT" : "DELETE", o->o_res, (long long)o->o_id,
		    err->ee_status, err->ee_text);
	else if (o->o_link_offer > 0 && rep != NULL && rep->r_id > 0)
		reg_q(j->j_reg->r_st, Q_OFFER_LINK, NULL, NULL, "ii",
		    rep->r_id, o->o_link_offer);
	ecc_reply_free(rep);
	op_free(j, o);
	ops_next(j);
}

static void
ops_next(struct reg_job *j)
{
	struct reg	*r = j->j_reg;
	struct reg_op	*o;
	struct ecc_addr	 to;
	enum ecs_err	 e;

	while ((o = TAILQ_FIRST(&j->j_ops)) != NULL) {
		memset(&to, 0, sizeof(to));
		to.ea_mids = o->o_mids;
		to.ea_communities = o->o_comms;
		if (o->o_kind == OP_POST)
			e = ecc_post_async(r->r_s, o->o_res, &to, o->o_ctype,
			    o->o_body, strlen(o->o_body), op_done, j);
		else if (o->o_kind == OP_PUT)
			e = ecc_update_async(r->r_s, o->o_res, o->o_id, &to,
			    o->o_ctype, o->o_body, strlen(o->o_body), op_done,
			    j);
		else
			e = ecc_delete_async(r->r_s, o->o_res, o->o_id,
			    op_done, j);
		if (e == ECS_OK)
			return;
		ecs_plugin_log(r->r_host, 0, "cannot start a call on %s",
		    o->o_res);
		op_free(j, o);
	}
	job_done(j);
}

static void
job_members(struct ecc_reply *rep, const struct ecc_error *err, void *arg)
{
	struct reg_job		*j = arg;
	struct ecc_memberships	*ms = NULL;
	struct ecc_error	 perr;

	if (err->ee_code == ECS_OK && ecc_parse_memberships(rep, &ms,
	    &perr) == ECS_OK) {
		members_set(j->j_reg, ms);
		ecc_memberships_free(ms);
	}
	ecc_reply_free(rep);
	job_handle(j);
}

static void
job_got(struct ecc_reply *rep, const struct ecc_error *err, void *arg)
{
	struct reg_job	*j = arg;
	struct reg	*r = j->j_reg;

	if (err->ee_code != ECS_OK || rep == NULL || rep->r_sender == NULL) {
		ecs_plugin_log(r->r_host, 0, "GET %s/%lld: %s", j->j_res,
		    (long long)j->j_id, err->ee_text);
		ecc_reply_free(rep);
		job_done(j);
		return;
	}
	j->j_mid = strtoll(rep->r_sender, NULL, 10);
	j->j_body = rep->r_body;
	rep->r_body = NULL;
	ecc_reply_free(rep);
	if (j->j_body == NULL)
		j->j_body = strdup("");
	if (member_by_mid(r, j->j_mid) == NULL &&
	    ecc_memberships_async(r->r_s, job_members, j) == ECS_OK)
		return;
	job_handle(j);
}

static void
job_next(struct reg *r)
{
	struct reg_job	*j;

	if (r->r_busy || (j = TAILQ_FIRST(&r->r_jobs)) == NULL)
		return;
	r->r_busy = 1;
	if (ecc_get_async(r->r_s, j->j_res, j->j_id, job_got, j) != ECS_OK) {
		ecs_plugin_log(r->r_host, 0, "cannot GET %s/%lld", j->j_res,
		    (long long)j->j_id);
		job_done(j);
	}
}

/* --- the descriptor ------------------------------------------------------- */

static int
registry_config(const char *key, const char *value)
{
	static const char *const keys[] = { "database", "keyfile",
	    "superadmin", "issuer", "issuer_name", "offer_url", "publish",
	    NULL };
	const char *const *k;

	for (k = keys; *k != NULL; k++)
		if (strcmp(*k, key) == 0)
			return *value != '\0' ? 0 : -1;
	return -1;
}

static const char *
conf(struct ecs_plugin_host *h, const char *key, const char *dflt)
{
	const char	*v = ecs_plugin_config(h, key);

	return v != NULL ? v : dflt;
}

static void registry_shutdown(void *);

static int
registry_init(struct ecs_plugin_host *host, void **statep)
{
	struct reg		*r;
	struct ecc_memberships	*ms = NULL;
	struct ecc_error	 err;
	const char		*db, *kf, *pub;
	char			 why[512], kbuf[1024];

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	TAILQ_INIT(&r->r_jobs);
	r->r_host = host;
	r->r_s = ecs_plugin_session(host);
	r->r_superadmin = ecs_plugin_config(host, "superadmin");
	r->r_issuer = conf(host, "issuer",
	    "https://registry.ecsd.invalid/issuer");
	r->r_issuer_name = conf(host, "issuer_name", "ECS course registry");
	r->r_offer_url = conf(host, "offer_url",
	    "https://registry.ecsd.invalid/offers/");
	db = conf(host, "database", "registry.db");
	if ((kf = ecs_plugin_config(host, "keyfile")) == NULL) {
		snprintf(kbuf, sizeof(kbuf), "%s.ed25519.pem", db);
		kf = kbuf;
	}
	if ((pub = ecs_plugin_config(host, "publish")) != NULL &&
	    (r->r_comms = strdup(pub)) == NULL)
		goto bad;
	if ((r->r_schema = rj_parse(reg_offer_schema_json)) == NULL) {
		ecs_plugin_log(host, 0, "the compiled-in offer schema does not "
		    "parse");
		goto bad;
	}
	if ((r->r_st = reg_store_open(db, why, sizeof(why))) == NULL) {
		ecs_plugin_log(host, 0, "database: %s", why);
		goto bad;
	}
	if ((r->r_key = reg_key_load(kf, why, sizeof(why))) == NULL) {
		ecs_plugin_log(host, 0, "signing key: %s", why);
		goto bad;
	}
	/* ep_init runs before the host's loop: a blocking call is fine. */
	memset(&err, 0, sizeof(err));
	if (ecc_memberships(r->r_s, &ms, &err) == ECS_OK) {
		members_set(r, ms);
		ecc_memberships_free(ms);
	} else
		ecs_plugin_log(host, 0, "memberships: %s", err.ee_text);
	ecs_plugin_log(host, 1, "registry: database %s, issuer %s, key %s, "
	    "courselinks to communities %s", db, r->r_issuer,
	    reg_key_multibase(r->r_key), r->r_comms ? r->r_comms : "(none)");
	*statep = r;
	return 0;
bad:
	registry_shutdown(r);
	return -1;
}

static void
registry_event(void *state, const struct ecc_event *ev)
{
	struct reg		*r = state;
	struct reg_job		*j;
	const struct handler	*h;
	size_t			 n;

	if (strcmp(ev->ev_status, "created") != 0 || ev->ev_id <= 0)
		return;
	for (h = handlers; h->h_res != NULL; h++) {
		n = strlen(h->h_res);
		if (strncmp(ev->ev_resource, h->h_res, n) == 0 &&
		    ev->ev_resource[n] == '/')
			break;
	}
	if (h->h_res == NULL)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->j_reg = r;
	snprintf(j->j_res, sizeof(j->j_res), "%s", h->h_res);
	j->j_id = ev->ev_id;
	TAILQ_INIT(&j->j_ops);
	TAILQ_INSERT_TAIL(&r->r_jobs, j, j_entry);
	job_next(r);
}

static void
registry_shutdown(void *state)
{
	struct reg	*r = state;
	struct reg_job	*j;

	if (r == NULL)
		return;
	while ((j = TAILQ_FIRST(&r->r_jobs)) != NULL)
		job_free(j);
	members_clear(r);
	reg_store_close(r->r_st);
	reg_key_free(r->r_key);
	yajl_tree_free(r->r_schema);
	free(r->r_comms);
	free(r);
}

static const struct ecs_plugin_resource registry_resources[] = {
	{ "registry/roles", 0, 1 },
	{ "registry/offers", 0, 1 },
	{ "registry/decisions", 0, 1 },
	{ "registry/applications", 0, 1 },
	{ "registry/ratings", 0, 1 },
	{ "registry/announcements", 0, 1 },
	{ "registry/queries", 0, 1 },
	{ "registry/verifications", 0, 1 },
	{ "registry/analytics", 0, 1 },
	{ R_REPLIES, 0, 1 },
	{ R_CREDS, 0, 1 },
	{ R_LINKS, 0, 1 },
	{ NULL, 0, 0 }
};

const struct ecs_plugin ecs_plugin = {
	.ep_abi = ECS_PLUGIN_ABI,
	.ep_name = "registry",
	.ep_version = ECS_VERSION,
	.ep_resources = registry_resources,
	.ep_config = registry_config,
	.ep_init = registry_init,
	.ep_event = registry_event,
	.ep_shutdown = registry_shutdown
};
