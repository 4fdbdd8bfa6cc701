/*
 * labbridge.c: the lms4labs LabManager as an ECS participant.  The plugin
 * descriptor, the dispatch of events, and the reservation pipeline that
 * the ECS path (lms4labs/requests messages) and the classic HTTP endpoint
 * (lb_http.c) share:
 *
 *   parse (lb_rules.c) -> decide (lb_rules.c) -> RLMS reserve (lb_rlms*.c)
 *   -> one-touch token at /sys/auths for the lab side -> answer.
 *
 * Everything is asynchronous on the host's event loop.  A job never dies
 * while one of its calls is pending: the HTTP path only forgets its
 * client when the client goes away.  At shutdown every job, message and
 * discovery is freed; the host then closes the session, which drops the
 * callbacks still queued.
 *
 * Peers are participants, known by name in the configuration and by
 * membership id on the wire; a cached /sys/memberships maps one to the
 * other and is refreshed when a name or mid is not found.
 */
#include "config.h"

#include <sys/queue.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

#define LB_NS		"lms4labs"
#define RES_REQUESTS	LB_NS "/requests"
#define RES_RESERV	LB_NS "/reservations"
#define RES_CONFIG	LB_NS "/config"
#define RES_COURSES	LB_NS "/courses"

struct lb_member {
	int64_t	 mb_mid;
	char	*mb_name;
};

/* Somebody waiting for the membership cache to be refreshed. */
struct lb_wait {
	TAILQ_ENTRY(lb_wait)	 w_entry;
	void			(*w_fn)(struct lb *, void *);
	void			*w_arg;
};

enum lb_msg_kind {
	MSG_REQUEST,
	MSG_CONFIG,
	MSG_COURSES
};

/* A received message being handled. */
struct lb_msg {
	TAILQ_ENTRY(lb_msg)	 m_entry;
	struct lb		*m_lb;
	enum lb_msg_kind	 m_kind;
	const char		*m_res;
	int64_t			 m_id;
	int64_t			 m_sender;	/* mid, 0: unknown */
	char			*m_body;
	size_t			 m_len;
	int			 m_retried;	/* sender lookup */
	int			 m_looked;	/* list-courses lookup */
	struct lb_job		*m_job;
};

struct lb_job {
	TAILQ_ENTRY(lb_job)	 j_entry;
	struct lb		*j_lb;
	struct lb_conf		*j_conf;	/* a reference */
	const struct lb_lms	*j_lms;		/* in j_conf */
	const char		*j_via;
	struct lb_request	 j_rq;
	struct lb_grant		 j_gr;
	enum lb_verdict		 j_verdict;
	int			 j_parsed;
	char			*j_load_url;
	char			*j_reservation;
	char			*j_hash;
	char			*j_answer;
	lb_job_fn		 j_done;
	void			*j_arg;
};

/* Asking the RLMS instances of a new configuration what they offer. */
struct lb_disc;

struct lb_disc_call {
	struct lb_disc	*dc_disc;
	struct lb_rlms	*dc_rlms;
	int		 dc_what;		/* 0 caps, 1 test, 2 labs */
	int		 dc_pending;
};

struct lb_disc {
	TAILQ_ENTRY(lb_disc)	 d_entry;
	struct lb		*d_lb;
	struct lb_conf		*d_conf;	/* a reference */
	struct lb_disc_call	*d_calls;	/* 3 per RLMS */
	int			 d_pending;
	int64_t			 d_admin_mid;	/* who to tell, or 0 */
};

struct lb {
	struct ecs_plugin_host	*lb_host;
	struct ecc		*lb_ecc;
	struct event_base	*lb_base;
	struct lb_conf		*lb_conf;
	char			*lb_admin;	/* from the plugin key */
	struct lb_member	*lb_members;
	size_t			 lb_nmembers;
	int			 lb_members_busy;
	TAILQ_HEAD(, lb_wait)	 lb_waits;
	TAILQ_HEAD(, lb_msg)	 lb_msgs;
	TAILQ_HEAD(, lb_job)	 lb_jobs;
	TAILQ_HEAD(, lb_disc)	 lb_discs;
	struct lb_http		*lb_http;
};

static void	 job_finish(struct lb_job *, enum lb_verdict);
static void	 msg_free(struct lb_msg *);
static void	 msg_dispatch(struct lb *, void *);

void
lb_log(struct lb *lb, int level, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ecs_plugin_log(lb->lb_host, level, "%s", line);
}

struct lb_conf *
lb_conf_current(struct lb *lb)
{
	return lb->lb_conf;
}

/* The superadmin's participant name, or NULL. */
static const char *
admin_name(const struct lb *lb)
{
	if (lb->lb_conf != NULL && lb->lb_conf->cf_admin != NULL)
		return lb->lb_conf->cf_admin;
	return lb->lb_admin;
}

/* ---- the membership cache --------------------------------------------- */

static const char *
member_name(const struct lb *lb, int64_t mid)
{
	size_t	 i;

	for (i = 0; i < lb->lb_nmembers; i++)
		if (lb->lb_members[i].mb_mid == mid)
			return lb->lb_members[i].mb_name;
	return NULL;
}

/* The mid of a participant: the first of its memberships we share. */
static int64_t
member_mid(const struct lb *lb, const char *name)
{
	size_t	 i;

	for (i = 0; i < lb->lb_nmembers; i++)
		if (strcmp(lb->lb_members[i].mb_name, name) == 0)
			return lb->lb_members[i].mb_mid;
	return 0;
}

static void
members_clear(struct lb *lb)
{
	size_t	 i;

	for (i = 0; i < lb->lb_nmembers; i++)
		free(lb->lb_members[i].mb_name);
	free(lb->lb_members);
	lb->lb_members = NULL;
	lb->lb_nmembers = 0;
}

static void
members_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct lb		*lb = arg;
	struct ecc_memberships	*ms = NULL;
	struct ecc_error	 perr;
	struct lb_member	*m;
	struct lb_wait		*w;
	size_t			 i, j, n = 0;

	lb->lb_members_busy = 0;
	if (err->ee_code != ECS_OK || ecc_parse_memberships(r, &ms,
	    &perr) != ECS_OK)
		lb_log(lb, 0, "memberships: %s", err->ee_code != ECS_OK ?
		    err->ee_text : perr.ee_text);
	else {
		for (i = 0; i < ms->ms_n; i++)
			n += ms->ms_c[i].co_n;
		if ((m = calloc(n + 1, sizeof(*m))) != NULL) {
			n = 0;
			for (i = 0; i < ms->ms_n; i++)
				for (j = 0; j < ms->ms_c[i].co_n; j++) {
					m[n].mb_mid =
					    ms->ms_c[i].co_members[j].mb_mid;
					m[n].mb_name = strdup(
					    ms->ms_c[i].co_members[j].mb_name ?
					    ms->ms_c[i].co_members[j].mb_name :
					    "");
					if (m[n].mb_name != NULL)
						n++;
				}
			members_clear(lb);
			lb->lb_members = m;
			lb->lb_nmembers = n;
		}
	}
	ecc_memberships_free(ms);
	ecc_reply_free(r);
	/* Waiters may queue new waits; they wait for the next round. */
	while ((w = TAILQ_FIRST(&lb->lb_waits)) != NULL) {
		TAILQ_REMOVE(&lb->lb_waits, w, w_entry);
		w->w_fn(lb, w->w_arg);
		free(w);
	}
}

/* Refresh the cache, then call fn(lb, arg); 0, or -1 (fn not called). */
static int
members_refresh(struct lb *lb, void (*fn)(struct lb *, void *), void *arg)
{
	struct lb_wait	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	w->w_fn = fn;
	w->w_arg = arg;
	if (!lb->lb_members_busy) {
		if (ecc_memberships_async(lb->lb_ecc, members_done, lb) !=
		    ECS_OK) {
			free(w);
			return -1;
		}
		lb->lb_members_busy = 1;
	}
	TAILQ_INSERT_TAIL(&lb->lb_waits, w, w_entry);
	return 0;
}

/* Forget the waits of arg (it is being freed). */
static void
members_forget(struct lb *lb, void *arg)
{
	struct lb_wait	*w, *next;

	for (w = TAILQ_FIRST(&lb->lb_waits); w != NULL; w = next) {
		next = TAILQ_NEXT(w, w_entry);
		if (w->w_arg == arg) {
			TAILQ_REMOVE(&lb->lb_waits, w, w_entry);
			free(w);
		}
	}
}

/* ---- small helpers ------------------------------------------------------- */

static void
ignore_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct lb	*lb = arg;

	if (err->ee_code != ECS_OK && err->ee_status != 404)
		lb_log(lb, 0, "call failed: %d %s", err->ee_status,
		    err->ee_text);
	ecc_reply_free(r);
}

/* Post a JSON message to one membership. */
static void
post_json(struct lb *lb, const char *res, int64_t mid, const char *json)
{
	struct ecc_addr	 to;
	char		 mids[32];

	snprintf(mids, sizeof(mids), "%" PRId64, mid);
	memset(&to, 0, sizeof(to));
	to.ea_mids = mids;
	if (ecc_post_async(lb->lb_ecc, res, &to, "application/json", json,
	    strlen(json), ignore_done, lb) != ECS_OK)
		lb_log(lb, 0, "cannot post to %s", res);
}

/* The permission of the job's LMS on its identifier, or NULL. */
static const struct lb_perm *
job_perm(const struct lb_job *j)
{
	size_t	 i;

	if (j->j_gr.gr_perm != NULL)
		return j->j_gr.gr_perm;
	if (j->j_lms == NULL || j->j_rq.rq_experiment == NULL)
		return NULL;
	for (i = 0; i < j->j_lms->lm_nperms; i++)
		if (strcmp(j->j_lms->lm_perms[i].pe_ident,
		    j->j_rq.rq_experiment) == 0)
			return &j->j_lms->lm_perms[i];
	return NULL;
}

/*
 * Audit line of a decision; untrusted text is escaped.  courses= names
 * the permitted courses of a grant, and the user's courses of a refusal.
 */
static void
audit(struct lb_job *j, const char *what, const char *detail)
{
	const struct lb_perm	*pe = job_perm(j);
	const struct lb_grant	*gr = &j->j_gr;
	struct lb_buf		 cb;
	char			*lms, *user, *courses, *ident, *lab;
	char			 tbuf[32], pbuf[32];
	size_t			 i;

	lb_buf_init(&cb, 4096);
	if (gr->gr_perm != NULL)
		lb_buf_puts(&cb, gr->gr_courses);
	else
		for (i = 0; i < j->j_rq.rq_ncourses; i++)
			lb_buf_printf(&cb, "%s%s", i > 0 ? "," : "",
			    j->j_rq.rq_courses[i]);
	lms = lb_escape(j->j_lms != NULL ? j->j_lms->lm_name : NULL);
	user = lb_escape(j->j_rq.rq_user);
	courses = lb_escape(cb.b_len > 0 && !cb.b_err ? lb_buf_str(&cb) :
	    NULL);
	ident = lb_escape(j->j_rq.rq_experiment);
	lab = lb_escape(pe != NULL ? pe->pe_lab : NULL);
	lb_buf_free(&cb);
	snprintf(tbuf, sizeof(tbuf), "%" PRId64, gr->gr_time);
	snprintf(pbuf, sizeof(pbuf), "%" PRId64, gr->gr_priority);
	lb_log(j->j_lb, 1, "audit: %s via=%s lms=%s user=%s admin=%d "
	    "courses=%s identifier=%s lab=%s rlms=%s time=%s priority=%s%s%s",
	    what, j->j_via, lms ? lms : "-", user ? user : "-",
	    j->j_rq.rq_admin, courses ? courses : "-", ident ? ident : "-",
	    lab ? lab : "-", pe != NULL ? pe->pe_rlms->rl_name : "-",
	    gr->gr_perm != NULL && gr->gr_time != LB_NOLIMIT ? tbuf : "-",
	    gr->gr_perm != NULL && gr->gr_priority != LB_NOLIMIT ? pbuf : "-",
	    detail != NULL ? " reason=" : "", detail != NULL ? detail : "");
	free(lms);
	free(user);
	free(courses);
	free(ident);
	free(lab);
}

/* ---- the job ------------------------------------------------------------ */

struct lb_job *
lb_job_new(struct lb *lb, const char *via)
{
	struct lb_job	*j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->j_lb = lb;
	j->j_via = via;
	if ((j->j_conf = lb->lb_conf) != NULL)
		lb_conf_ref(j->j_conf);
	TAILQ_INSERT_TAIL(&lb->lb_jobs, j, j_entry);
	return j;
}

void
lb_job_free(struct lb_job *j)
{
	if (j == NULL)
		return;
	TAILQ_REMOVE(&j->j_lb->lb_jobs, j, j_entry);
	members_forget(j->j_lb, j);
	if (j->j_gr.gr_perm != NULL)
		j->j_gr.gr_perm->pe_rlms->rl_ops->ro_cancel(
		    j->j_gr.gr_perm->pe_rlms, j);
	lb_request_clear(&j->j_rq);
	lb_grant_clear(&j->j_gr);
	free(j->j_load_url);
	free(j->j_reservation);
	if (j->j_hash != NULL) {
		explicit_bzero(j->j_hash, strlen(j->j_hash));
		free(j->j_hash);
	}
	free(j->j_answer);
	lb_conf_unref(j->j_conf);
	free(j);
}

/* The classic answer, once the job is done. */
const char *
lb_job_answer(const struct lb_job *j)
{
	return j->j_answer != NULL ? j->j_answer : "";
}

/* The URL the user follows: the lab's, plus the token hash. */
static char *
job_url(const struct lb_job *j)
{
	char	*u = NULL;

	if (j->j_hash == NULL)
		return strdup(j->j_load_url);
	if (asprintf(&u, "%s%cecs_hash=%s", j->j_load_url,
	    strchr(j->j_load_url, '?') != NULL ? '&' : '?', j->j_hash) == -1)
		return NULL;
	return u;
}

static void
job_finish(struct lb_job *j, enum lb_verdict v)
{
	char	*url = NULL;

	j->j_verdict = v;
	if (v == LB_GRANT && (url = job_url(j)) == NULL)
		j->j_verdict = v = LB_ERR_RLMS;
	j->j_answer = lb_rules_answer(v, url);
	if (v == LB_GRANT)
		audit(j, "granted", NULL);
	else if (j->j_parsed)
		audit(j, "refused", lb_rules_error(v));
	free(url);
	/* The callback may free j. */
	j->j_done(j, j->j_arg);
}

static void
token_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct lb_job		*j = arg;
	struct ecc_token	*t = NULL;
	struct ecc_error	 perr;

	if (err->ee_code != ECS_OK || ecc_parse_token(r, &t, &perr) !=
	    ECS_OK || t->tk_hash == NULL ||
	    (j->j_hash = strdup(t->tk_hash)) == NULL) {
		lb_log(j->j_lb, 0, "token: %s", err->ee_code != ECS_OK ?
		    err->ee_text : "bad answer");
		ecc_token_free(t);
		ecc_reply_free(r);
		job_finish(j, LB_ERR_RLMS);
		return;
	}
	ecc_token_free(t);
	ecc_reply_free(r);
	job_finish(j, LB_GRANT);
}

/* Create the one-touch token addressed to the lab side. */
static void
job_token(struct lb *lb, void *arg)
{
	struct lb_job		*j = arg;
	const struct lb_perm	*pe = j->j_gr.gr_perm;
	struct ecc_header	 h;
	struct ecc_request	 q;
	struct lb_buf		 b;
	struct lb_jw		 w;
	char			 mids[32];
	int64_t			 mid;

	if ((mid = member_mid(lb, pe->pe_rlms->rl_lab_participant)) == 0) {
		lb_log(lb, 0, "rlms %s: lab participant not found among the "
		    "memberships", pe->pe_rlms->rl_name);
		job_finish(j, LB_ERR_RLMS);
		return;
	}
	snprintf(mids, sizeof(mids), "%" PRId64, mid);
	lb_buf_init(&b, LB_MAX_BODY);
	lb_jw_init(&w, &b);
	lb_jw_obj_open(&w);
	lb_jw_kstr(&w, "url", j->j_load_url);
	lb_jw_kstr(&w, "realm", pe->pe_rlms->rl_realm);
	lb_jw_kstr(&w, "laboratory_id", pe->pe_lab);
	lb_jw_kstr(&w, "reservation_id", j->j_reservation);
	lb_jw_kstr(&w, "username", j->j_rq.rq_user);
	lb_jw_kstr(&w, "full_name", j->j_rq.rq_fullname);
	lb_jw_kstr(&w, "lms", j->j_lms->lm_name);
	lb_jw_kstr(&w, "institution", j->j_lms->lm_institution);
	if (j->j_gr.gr_time != LB_NOLIMIT)
		lb_jw_kint(&w, "time_allowed", j->j_gr.gr_time);
	if (j->j_gr.gr_priority != LB_NOLIMIT)
		lb_jw_kint(&w, "priority", j->j_gr.gr_priority);
	lb_jw_obj_close(&w);
	memset(&q, 0, sizeof(q));
	h.eh_name = "X-EcsReceiverMemberships";
	h.eh_value = mids;
	q.er_method = "POST";
	q.er_path = "/sys/auths";
	q.er_headers = &h;
	q.er_nheaders = 1;
	q.er_ctype = "application/json";
	q.er_body = lb_buf_str(&b);
	q.er_len = b.b_len;
	if (b.b_err || ecc_call_async(lb->lb_ecc, &q, token_done, j) !=
	    ECS_OK) {
		lb_buf_free(&b);
		job_finish(j, LB_ERR_RLMS);
		return;
	}
	lb_buf_free(&b);
}

static void
job_reserved(const struct lb_rlms_result *res, void *arg)
{
	struct lb_job	*j = arg;
	struct lb	*lb = j->j_lb;

	if (!res->rr_ok) {
		lb_log(lb, 0, "rlms %s: reserve: %s",
		    j->j_gr.gr_perm->pe_rlms->rl_name, res->rr_error);
		job_finish(j, LB_ERR_RLMS);
		return;
	}
	j->j_load_url = strdup(res->rr_load_url);
	j->j_reservation = strdup(res->rr_reservation != NULL ?
	    res->rr_reservation : "");
	if (j->j_load_url == NULL || j->j_reservation == NULL) {
		job_finish(j, LB_ERR_RLMS);
		return;
	}
	if (member_mid(lb, j->j_gr.gr_perm->pe_rlms->rl_lab_participant) != 0)
		job_token(lb, j);
	else if (members_refresh(lb, job_token, j) == -1)
		job_finish(j, LB_ERR_RLMS);
}

/* A limit object {"time":T,"priority":P} as JSON text. */
static char *
limits_json(int64_t time, int64_t prio)
{
	struct lb_buf	 b;
	struct lb_jw	 w;

	lb_buf_init(&b, 0);
	lb_jw_init(&w, &b);
	lb_jw_obj_open(&w);
	if (time != LB_NOLIMIT)
		lb_jw_kint(&w, "time", time);
	if (prio != LB_NOLIMIT)
		lb_jw_kint(&w, "priority", prio);
	lb_jw_obj_close(&w);
	return lb_buf_release(&b);
}

static void
job_reserve(struct lb_job *j)
{
	const struct lb_perm	*pe = j->j_gr.gr_perm;
	struct lb_reserve	 rs;
	char			*general, **part;
	size_t			 i;
	int			 rc = -1;

	general = limits_json(pe->pe_time, pe->pe_priority);
	part = calloc(j->j_gr.gr_n + 1, sizeof(*part));
	if (general == NULL || part == NULL)
		goto done;
	for (i = 0; i < j->j_gr.gr_n; i++) {
		const struct lb_course_perm *cp =
		    &pe->pe_courses[j->j_gr.gr_idx[i]];

		if ((part[i] = limits_json(cp->cp_time,
		    cp->cp_priority)) == NULL)
			goto done;
	}
	memset(&rs, 0, sizeof(rs));
	rs.rs_lab = pe->pe_lab;
	rs.rs_user = j->j_rq.rq_user;
	rs.rs_fullname = j->j_rq.rq_fullname;
	rs.rs_institution = j->j_lms->lm_institution;
	rs.rs_general = general;
	rs.rs_particular = part;
	rs.rs_nparticular = j->j_gr.gr_n;
	rs.rs_payload = j->j_rq.rq_payload;
	rs.rs_agent = j->j_rq.rq_agent;
	rs.rs_ip = j->j_rq.rq_ip;
	rs.rs_referer = j->j_rq.rq_referer;
	rs.rs_time = j->j_gr.gr_time;
	rs.rs_priority = j->j_gr.gr_priority;
	rc = pe->pe_rlms->rl_ops->ro_reserve(pe->pe_rlms, &rs, job_reserved,
	    j);
done:
	free(general);
	lb_strv_free(part, j->j_gr.gr_n);
	if (rc == -1)
		job_finish(j, LB_ERR_RLMS);
}

/*
 * Run the pipeline for one classic request body of LMS lm (NULL: not a
 * configured LMS).  done(j, arg) runs exactly once, maybe before this
 * returns; it owns j from then on.  Returns 0.
 */
int
lb_job_start(struct lb_job *j, const struct lb_lms *lm, const char *body,
    size_t len, lb_job_fn done, void *arg)
{
	enum lb_verdict	 v;

	j->j_done = done;
	j->j_arg = arg;
	j->j_lms = lm;
	if ((v = lb_rules_parse(body, len, &j->j_rq)) != LB_GRANT) {
		job_finish(j, v);
		return 0;
	}
	j->j_parsed = 1;
	if (lm == NULL) {
		job_finish(j, LB_ERR_PERMISSION);
		return 0;
	}
	if ((v = lb_rules_decide(lm, &j->j_rq, &j->j_gr)) != LB_GRANT) {
		job_finish(j, v);
		return 0;
	}
	job_reserve(j);
	return 0;
}

/* ---- discovery of what the RLMS instances offer ----------------------- */

static void
disc_free(struct lb_disc *d)
{
	struct lb_disc_call	*dc;
	size_t			 i;

	for (i = 0; i < d->d_conf->cf_nrlms * 3; i++) {
		dc = &d->d_calls[i];
		if (dc->dc_pending)
			dc->dc_rlms->rl_ops->ro_cancel(dc->dc_rlms, dc);
	}
	free(d->d_calls);
	TAILQ_REMOVE(&d->d_lb->lb_discs, d, d_entry);
	lb_conf_unref(d->d_conf);
	free(d);
}

/* Tell the admin what each RLMS offers. */
static void
disc_report(struct lb_disc *d)
{
	struct lb	*lb = d->d_lb;
	struct lb_rlms	*r;
	struct lb_buf	 b;
	struct lb_jw	 w;
	size_t		 i, k;

	lb_buf_init(&b, LB_MAX_BODY);
	lb_jw_init(&w, &b);
	lb_jw_obj_open(&w);
	lb_jw_kstr(&w, "status", "ok");
	lb_jw_key(&w, "rlms");
	lb_jw_arr_open(&w);
	for (i = 0; i < d->d_conf->cf_nrlms; i++) {
		r = d->d_conf->cf_rlms[i];
		lb_jw_obj_open(&w);
		lb_jw_kstr(&w, "name", r->rl_name);
		lb_jw_kstr(&w, "kind", r->rl_ops->ro_kind);
		lb_jw_key(&w, "valid");
		lb_jw_bool(&w, r->rl_valid);
		lb_jw_key(&w, "capabilities");
		lb_jw_arr_open(&w);
		for (k = 0; k < r->rl_ncaps; k++)
			lb_jw_str(&w, r->rl_caps[k]);
		lb_jw_arr_close(&w);
		lb_jw_key(&w, "labs");
		lb_jw_arr_open(&w);
		for (k = 0; k < r->rl_nlabs; k++) {
			lb_jw_obj_open(&w);
			lb_jw_kstr(&w, "laboratory_id",
			    r->rl_labs[k].lab_id);
			lb_jw_kstr(&w, "name", r->rl_labs[k].lab_name);
			lb_jw_kstr(&w, "description",
			    r->rl_labs[k].lab_description);
			lb_jw_key(&w, "autoload");
			lb_jw_bool(&w, r->rl_labs[k].lab_autoload);
			lb_jw_obj_close(&w);
		}
		lb_jw_arr_close(&w);
		lb_jw_obj_close(&w);
	}
	lb_jw_arr_close(&w);
	lb_jw_obj_close(&w);
	if (d->d_admin_mid != 0 && !b.b_err)
		post_json(lb, RES_CONFIG, d->d_admin_mid, lb_buf_str(&b));
	lb_buf_free(&b);
}

/* Log the permissions of cf on laboratories that r does not list. */
static void
disc_check(struct lb *lb, const struct lb_conf *cf, const struct lb_rlms *r)
{
	const struct lb_perm	*pe;
	size_t			 i, k;

	for (i = 0; i < cf->cf_nlms; i++)
		for (k = 0; k < cf->cf_lms[i].lm_nperms; k++) {
			pe = &cf->cf_lms[i].lm_perms[k];
			if (pe->pe_rlms == r &&
			    lb_rlms_lab(r, pe->pe_lab) == NULL)
				lb_log(lb, 0, "lms %s: identifier %s: "
				    "laboratory %s not offered by rlms %s",
				    cf->cf_lms[i].lm_name, pe->pe_ident,
				    pe->pe_lab, r->rl_name);
		}
}

static void
disc_done(const struct lb_rlms_result *res, void *arg)
{
	struct lb_disc_call	*dc = arg;
	struct lb_disc		*d = dc->dc_disc;
	struct lb_rlms		*r = dc->dc_rlms;
	static const char *const what[] = { "capabilities", "test", "labs" };

	if (!res->rr_ok)
		lb_log(d->d_lb, 0, "rlms %s: %s: %s", r->rl_name,
		    what[dc->dc_what], res->rr_error);
	else if (dc->dc_what == 0)
		lb_rlms_set_caps(r, res);
	else if (dc->dc_what == 1) {
		r->rl_valid = res->rr_valid;
		lb_log(d->d_lb, r->rl_valid ? 1 : 0, "rlms %s: %s", r->rl_name,
		    r->rl_valid ? "valid" : "NOT valid");
	} else {
		lb_rlms_set_labs(r, res);
		lb_log(d->d_lb, 1, "rlms %s: %zu laboratories", r->rl_name,
		    r->rl_nlabs);
		disc_check(d->d_lb, d->d_conf, r);
	}
	dc->dc_pending = 0;
	if (--d->d_pending == 0) {
		disc_report(d);
		disc_free(d);
	}
}

/*
 * Ask every RLMS of cf for its capabilities, a self test and its
 * laboratories; report to admin_mid (0: only the log) when all answered.
 */
static void
discover(struct lb *lb, struct lb_conf *cf, int64_t admin_mid)
{
	struct lb_disc		*d;
	struct lb_disc_call	*dc;
	struct lb_rlms		*r;
	size_t			 i;
	int			 k, rc;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return;
	if ((d->d_calls = calloc(cf->cf_nrlms * 3 + 1,
	    sizeof(*d->d_calls))) == NULL) {
		free(d);
		return;
	}
	d->d_lb = lb;
	d->d_conf = cf;
	d->d_admin_mid = admin_mid;
	lb_conf_ref(cf);
	TAILQ_INSERT_TAIL(&lb->lb_discs, d, d_entry);
	d->d_pending = 1;		/* held until all are started */
	for (i = 0; i < cf->cf_nrlms; i++) {
		r = cf->cf_rlms[i];
		for (k = 0; k < 3; k++) {
			dc = &d->d_calls[i * 3 + (size_t)k];
			dc->dc_disc = d;
			dc->dc_rlms = r;
			dc->dc_what = k;
			if (k == 0)
				rc = r->rl_ops->ro_capabilities(r, disc_done,
				    dc);
			else if (k == 1)
				rc = r->rl_ops->ro_test(r, disc_done, dc);
			else
				rc = r->rl_ops->ro_labs(r, disc_done, dc);
			if (rc == 0) {
				dc->dc_pending = 1;
				d->d_pending++;
			}
		}
	}
	if (--d->d_pending == 0) {
		disc_report(d);
		disc_free(d);
	}
}

/* Make cf the configuration (takes the reference) and discover. */
static void
conf_install(struct lb *lb, struct lb_conf *cf, int64_t admin_mid)
{
	lb_conf_unref(lb->lb_conf);
	lb->lb_conf = cf;
	lb_log(lb, 1, "configuration: %zu rlms, %zu lms, admin %s",
	    cf->cf_nrlms, cf->cf_nlms, admin_name(lb) ? admin_name(lb) : "-");
	discover(lb, cf, admin_mid);
}

/* ---- received messages -------------------------------------------------- */

static struct lb_msg *
msg_new(struct lb *lb, enum lb_msg_kind kind, const char *res, int64_t id)
{
	struct lb_msg	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->m_lb = lb;
	m->m_kind = kind;
	m->m_res = res;
	m->m_id = id;
	TAILQ_INSERT_TAIL(&lb->lb_msgs, m, m_entry);
	return m;
}

static void
msg_free(struct lb_msg *m)
{
	if (m == NULL)
		return;
	TAILQ_REMOVE(&m->m_lb->lb_msgs, m, m_entry);
	members_forget(m->m_lb, m);
	if (m->m_job != NULL)
		lb_job_free(m->m_job);
	free(m->m_body);
	free(m);
}

/* Done with a message: remove our copy (as receiver) and forget it. */
static void
msg_done(struct lb_msg *m)
{
	if (ecc_delete_async(m->m_lb->lb_ecc, m->m_res, m->m_id, ignore_done,
	    m->m_lb) != ECS_OK)
		lb_log(m->m_lb, 0, "cannot delete %s/%" PRId64, m->m_res,
		    m->m_id);
	msg_free(m);
}

/* The reservation answer of an ECS request. */
static void
request_done(struct lb_job *j, void *arg)
{
	struct lb_msg	*m = arg;
	struct lb_buf	 b;
	struct lb_jw	 w;
	char		*url = NULL;

	lb_buf_init(&b, LB_MAX_BODY);
	lb_jw_init(&w, &b);
	lb_jw_obj_open(&w);
	lb_jw_kint(&w, "request", m->m_id);
	if (j->j_rq.rq_user != NULL)
		lb_jw_kstr(&w, "user-id", j->j_rq.rq_user);
	if (j->j_rq.rq_experiment != NULL)
		lb_jw_kstr(&w, "experiment", j->j_rq.rq_experiment);
	lb_jw_kstr(&w, "answer", lb_job_answer(j));
	if (j->j_verdict == LB_GRANT) {
		url = job_url(j);
		lb_jw_kstr(&w, "url", url);
		lb_jw_kstr(&w, "load_url", j->j_load_url);
		lb_jw_kstr(&w, "reservation-id", j->j_reservation);
		lb_jw_kstr(&w, "token", j->j_hash);
		lb_jw_kstr(&w, "laboratory", j->j_gr.gr_perm->pe_lab);
		if (j->j_gr.gr_time != LB_NOLIMIT)
			lb_jw_kint(&w, "time", j->j_gr.gr_time);
		if (j->j_gr.gr_priority != LB_NOLIMIT)
			lb_jw_kint(&w, "priority", j->j_gr.gr_priority);
	} else
		lb_jw_kstr(&w, "error", lb_rules_error(j->j_verdict));
	lb_jw_obj_close(&w);
	free(url);
	if (!b.b_err)
		post_json(m->m_lb, RES_RESERV, m->m_sender, lb_buf_str(&b));
	lb_buf_free(&b);
	msg_done(m);		/* frees j too */
}

static void
handle_request(struct lb *lb, struct lb_msg *m, const char *sender)
{
	const struct lb_lms	*lm = NULL;

	if (lb->lb_conf != NULL && sender != NULL)
		lm = lb_conf_lms_by_name(lb->lb_conf, sender);
	if (lm == NULL) {
		char *e = lb_escape(sender);

		lb_log(lb, 0, "request %" PRId64 " from %s, which is no "
		    "configured LMS", m->m_id, e != NULL ? e : "?");
		free(e);
	}
	if ((m->m_job = lb_job_new(lb, "ecs")) == NULL) {
		msg_done(m);
		return;
	}
	lb_job_start(m->m_job, lm, m->m_body, m->m_len, request_done, m);
}

/* Ask an LMS for its courses on behalf of the admin. */
static void
list_courses(struct lb *lb, struct lb_msg *m, const struct lb_json *doc)
{
	const char	*lms = lb_json_str(lb_json_get(doc, "lms"));
	const char	*q = lb_json_str(lb_json_get(doc, "q"));
	struct lb_buf	 b;
	struct lb_jw	 w;
	int64_t		 start = 0, mid;

	if (lb_json_get(doc, "start") != NULL &&
	    (lb_json_int(lb_json_get(doc, "start"), &start) == -1 ||
	    start < 0))
		start = 0;
	if (lms == NULL || (mid = member_mid(lb, lms)) == 0) {
		if (!m->m_looked) {
			m->m_looked = 1;
			if (members_refresh(lb, msg_dispatch, m) == 0)
				return;
		}
		lb_log(lb, 0, "list-courses: no such participant");
		msg_done(m);
		return;
	}
	lb_buf_init(&b, LB_MAX_BODY);
	lb_jw_init(&w, &b);
	lb_jw_obj_open(&w);
	lb_jw_kstr(&w, "q", q != NULL ? q : "");
	lb_jw_kint(&w, "start", start);
	lb_jw_obj_close(&w);
	if (!b.b_err)
		post_json(lb, RES_COURSES, mid, lb_buf_str(&b));
	lb_buf_free(&b);
	msg_done(m);
}

static void
handle_config(struct lb *lb, struct lb_msg *m, const char *sender)
{
	struct lb_json	*doc = NULL;
	struct lb_conf	*cf;
	const char	*action, *admin = admin_name(lb);
	char		 err[256], *e;

	if (admin == NULL || sender == NULL || strcmp(sender, admin) != 0) {
		e = lb_escape(sender);
		lb_log(lb, 0, "configuration message from %s ignored: not "
		    "the admin", e != NULL ? e : "?");
		free(e);
		msg_done(m);
		return;
	}
	if (lb_json_parse(m->m_body, m->m_len, &doc) == 0 &&
	    (action = lb_json_str(lb_json_get(doc, "action"))) != NULL) {
		if (strcmp(action, "list-courses") == 0)
			list_courses(lb, m, doc);
		else {
			post_json(lb, RES_CONFIG, m->m_sender,
			    "{\"status\":\"error\",\"error\":"
			    "\"unknown action\"}");
			msg_done(m);
		}
		lb_json_free(doc);
		return;
	}
	lb_json_free(doc);
	if ((cf = lb_conf_parse(m->m_body, m->m_len, lb->lb_base, err,
	    sizeof(err))) == NULL) {
		struct lb_buf	b;
		struct lb_jw	w;

		lb_log(lb, 0, "configuration refused: %s", err);
		lb_buf_init(&b, 0);
		lb_jw_init(&w, &b);
		lb_jw_obj_open(&w);
		lb_jw_kstr(&w, "status", "error");
		lb_jw_kstr(&w, "error", err);
		lb_jw_obj_close(&w);
		if (!b.b_err)
			post_json(lb, RES_CONFIG, m->m_sender,
			    lb_buf_str(&b));
		lb_buf_free(&b);
		msg_done(m);
		return;
	}
	conf_install(lb, cf, m->m_sender);
	msg_done(m);
}

/* An LMS's answer with its courses, passed on to the admin. */
static void
handle_courses(struct lb *lb, struct lb_msg *m, const char *sender)
{
	struct lb_json		*doc = NULL;
	const struct lb_json	*cs, *c;
	struct lb_buf		 b;
	struct lb_jw		 w;
	const char		*admin = admin_name(lb);
	int64_t			 mid, v;
	size_t			 i;

	if (lb->lb_conf == NULL || sender == NULL ||
	    lb_conf_lms_by_name(lb->lb_conf, sender) == NULL ||
	    admin == NULL || (mid = member_mid(lb, admin)) == 0) {
		lb_log(lb, 0, "courses message %" PRId64 " dropped: not "
		    "from a configured LMS, or no admin", m->m_id);
		msg_done(m);
		return;
	}
	lb_buf_init(&b, LB_MAX_BODY);
	lb_jw_init(&w, &b);
	lb_jw_obj_open(&w);
	lb_jw_kstr(&w, "lms", sender);
	if (lb_json_parse(m->m_body, m->m_len, &doc) == 0 &&
	    lb_json_is_object(doc)) {
		/* An LMS with no match may answer {}. */
		lb_jw_kint(&w, "start", lb_json_int(lb_json_get(doc, "start"),
		    &v) == 0 ? v : 0);
		lb_jw_kint(&w, "number", lb_json_int(lb_json_get(doc,
		    "number"), &v) == 0 ? v : 0);
		lb_jw_kint(&w, "per-page", lb_json_int(lb_json_get(doc,
		    "per-page"), &v) == 0 ? v : 10);
		lb_jw_key(&w, "courses");
		lb_jw_arr_open(&w);
		cs = lb_json_get(doc, "courses");
		for (i = 0; i < lb_json_len(cs) && lb_json_is_array(cs); i++) {
			c = lb_json_at(cs, i);
			if (!lb_json_is_object(c) || lb_json_get(c, "id") ==
			    NULL)
				continue;
			lb_jw_obj_open(&w);
			lb_jw_key(&w, "id");
			lb_jw_value(&w, lb_json_get(c, "id"));
			lb_jw_kstr(&w, "name", lb_json_str(lb_json_get(c,
			    "name")) != NULL ? lb_json_str(lb_json_get(c,
			    "name")) : "");
			lb_jw_obj_close(&w);
		}
		lb_jw_arr_close(&w);
	} else
		lb_jw_kstr(&w, "error", "not a JSON object");
	lb_jw_obj_close(&w);
	lb_json_free(doc);
	if (!b.b_err)
		post_json(lb, RES_COURSES, mid, lb_buf_str(&b));
	lb_buf_free(&b);
	msg_done(m);
}

/* Route a fetched message once its sender is known (or cannot be). */
static void
msg_dispatch(struct lb *lb, void *arg)
{
	struct lb_msg	*m = arg;
	const char	*sender = member_name(lb, m->m_sender);

	if (sender == NULL && m->m_sender != 0 && !m->m_retried) {
		m->m_retried = 1;
		if (members_refresh(lb, msg_dispatch, m) == 0)
			return;
	}
	if (m->m_sender == 0) {
		lb_log(lb, 0, "%s/%" PRId64 ": no sender", m->m_res, m->m_id);
		msg_done(m);
		return;
	}
	switch (m->m_kind) {
	case MSG_REQUEST:
		handle_request(lb, m, sender);
		break;
	case MSG_CONFIG:
		handle_config(lb, m, sender);
		break;
	case MSG_COURSES:
		handle_courses(lb, m, sender);
		break;
	}
}

static void
msg_fetched(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct lb_msg	*m = arg;
	const char	*p;
	char		*end;
	long long	 mid;

	if (err->ee_code != ECS_OK) {
		if (err->ee_status != 404)
			lb_log(m->m_lb, 0, "%s/%" PRId64 ": %d %s", m->m_res,
			    m->m_id, err->ee_status, err->ee_text);
		ecc_reply_free(r);
		msg_free(m);
		return;
	}
	/* X-EcsSender: the sender's mids, first one is ours to answer. */
	p = r->r_sender;
	if (p != NULL) {
		mid = strtoll(p, &end, 10);
		if (end != p && mid > 0)
			m->m_sender = mid;
	}
	if (r->r_len > LB_MAX_BODY ||
	    (m->m_body = malloc(r->r_len + 1)) == NULL) {
		lb_log(m->m_lb, 0, "%s/%" PRId64 ": body too large", m->m_res,
		    m->m_id);
		ecc_reply_free(r);
		msg_done(m);
		return;
	}
	memcpy(m->m_body, r->r_body, r->r_len);
	m->m_body[r->r_len] = '\0';
	m->m_len = r->r_len;
	ecc_reply_free(r);
	msg_dispatch(m->m_lb, m);
}

/* ---- the plugin --------------------------------------------------------- */

static int
lb_config(const char *key, const char *value)
{
	static const char *const keys[] = { "config", "listen", "admin" };
	size_t	 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return 0;
	return -1;
}

static void
lb_free(struct lb *lb)
{
	struct lb_wait	*w;

	lb_http_stop(lb->lb_http);
	while (!TAILQ_EMPTY(&lb->lb_msgs))
		msg_free(TAILQ_FIRST(&lb->lb_msgs));
	while (!TAILQ_EMPTY(&lb->lb_jobs))
		lb_job_free(TAILQ_FIRST(&lb->lb_jobs));
	while (!TAILQ_EMPTY(&lb->lb_discs))
		disc_free(TAILQ_FIRST(&lb->lb_discs));
	while ((w = TAILQ_FIRST(&lb->lb_waits)) != NULL) {
		TAILQ_REMOVE(&lb->lb_waits, w, w_entry);
		free(w);
	}
	lb_conf_unref(lb->lb_conf);
	members_clear(lb);
	free(lb->lb_admin);
	free(lb);
}

static int
lb_init(struct ecs_plugin_host *host, void **statep)
{
	struct lb	*lb;
	struct lb_conf	*cf;
	const char	*path, *listen, *admin;
	char		 err[512];

	if ((lb = calloc(1, sizeof(*lb))) == NULL)
		return -1;
	lb->lb_host = host;
	lb->lb_ecc = ecs_plugin_session(host);
	lb->lb_base = ecc_base(lb->lb_ecc);
	TAILQ_INIT(&lb->lb_waits);
	TAILQ_INIT(&lb->lb_msgs);
	TAILQ_INIT(&lb->lb_jobs);
	TAILQ_INIT(&lb->lb_discs);
	if ((admin = ecs_plugin_config(host, "admin")) != NULL &&
	    (lb->lb_admin = strdup(admin)) == NULL)
		goto fail;
	if ((path = ecs_plugin_config(host, "config")) != NULL) {
		if ((cf = lb_conf_load(path, lb->lb_base, err,
		    sizeof(err))) == NULL) {
			lb_log(lb, 0, "configuration: %s", err);
			goto fail;
		}
		conf_install(lb, cf, 0);
	} else
		lb_log(lb, 1, "no configuration file; waiting for the admin "
		    "on " RES_CONFIG);
	if ((listen = ecs_plugin_config(host, "listen")) != NULL &&
	    (lb->lb_http = lb_http_start(lb, lb->lb_base, listen, err,
	    sizeof(err))) == NULL) {
		lb_log(lb, 0, "listen %s: %s", listen, err);
		goto fail;
	}
	*statep = lb;
	return 0;
fail:
	lb_free(lb);
	return -1;
}

/* Resource "lms4labs/NAME/ID" of an event, as one of ours. */
static const char *
event_res(const char *r, enum lb_msg_kind *kind)
{
	static const struct {
		const char		*name;
		enum lb_msg_kind	 kind;
	} res[] = {
		{ RES_REQUESTS, MSG_REQUEST },
		{ RES_CONFIG, MSG_CONFIG },
		{ RES_COURSES, MSG_COURSES },
	};
	size_t	 i, n;

	for (i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
		n = strlen(res[i].name);
		if (strncmp(r, res[i].name, n) == 0 && r[n] == '/') {
			*kind = res[i].kind;
			return res[i].name;
		}
	}
	return NULL;
}

static void
lb_event(void *state, const struct ecc_event *ev)
{
	struct lb		*lb = state;
	struct lb_msg		*m;
	enum lb_msg_kind	 kind;
	const char		*res;

	if (ev->ev_resource == NULL || ev->ev_status == NULL ||
	    ev->ev_id <= 0 ||
	    (res = event_res(ev->ev_resource, &kind)) == NULL)
		return;
	if (strcmp(ev->ev_status, "created") != 0 &&
	    !(kind == MSG_CONFIG && strcmp(ev->ev_status, "updated") == 0))
		return;
	if ((m = msg_new(lb, kind, res, ev->ev_id)) == NULL)
		return;
	if (ecc_get_async(lb->lb_ecc, res, ev->ev_id, msg_fetched, m) !=
	    ECS_OK) {
		lb_log(lb, 0, "cannot fetch %s/%" PRId64, res, ev->ev_id);
		msg_free(m);
	}
}

static void
lb_shutdown(void *state)
{
	if (state != NULL)
		lb_free(state);
}

static const struct ecs_plugin_resource lb_resources[] = {
	{ RES_REQUESTS, 0, 1 },
	{ RES_RESERV, 0, 1 },
	{ RES_CONFIG, 0, 1 },
	{ RES_COURSES, 0, 1 },
	{ NULL, 0, 0 }
};

const struct ecs_plugin ecs_plugin = {
	.ep_abi = ECS_PLUGIN_ABI,
	.ep_name = "labbridge",
	.ep_version = PACKAGE_VERSION,
	.ep_resources = lb_resources,
	.ep_config = lb_config,
	.ep_init = lb_init,
	.ep_event = lb_event,
	.ep_shutdown = lb_shutdown,
};
