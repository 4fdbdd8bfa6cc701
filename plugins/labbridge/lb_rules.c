/*
 * lb_rules.c: the lms4labs reservation request and the rules of the
 * original LabManager, reproduced exactly:
 *   - the body is a JSON object with user-id, full-name, is-admin,
 *     user-agent, origin-ip, referer, courses and request-payload;
 *   - courses maps a course id to a role: "s"/"t" (lms4labs) or an array
 *     of role names (the Moodle 2.2 plug-in); only the ids matter;
 *   - request-payload is a JSON string holding {"action":"reserve",
 *     "experiment":ID}; any other action is "Unsupported operation";
 *   - the LMS must hold a permission with that local identifier;
 *   - unless is-admin, the user must be in a course holding a course
 *     permission on it (the role inside the course is not checked);
 *   - limits: time = the largest of the permitted courses, capped by the
 *     LMS grant; priority = the best (lowest) of the courses, never better
 *     than the LMS grant.
 * The answer texts are the classic ones, byte for byte.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

static const struct {
	enum lb_verdict	 v;
	const char	*answer;	/* the classic text */
	const char	*error;		/* the message alone */
} texts[] = {
	{ LB_ERR_JSON, "Could not process JSON data",
	  "Could not process JSON data" },
	{ LB_ERR_PAYLOAD,
	  "error: the request payload is not a valid JSON request",
	  "the request payload is not a valid JSON request" },
	{ LB_ERR_UNSUPPORTED, "Unsupported operation",
	  "Unsupported operation" },
	{ LB_ERR_INVALID, "Invalid response", "Invalid response" },
	{ LB_ERR_PERMISSION, "error:Your LMS does not have permission to use "
	  "that laboratory or that identifier does not exist",
	  "Your LMS does not have permission to use that laboratory or that "
	  "identifier does not exist" },
	{ LB_ERR_ENROLLED, "error:Your LMS has permission to use that "
	  "laboratory; but you are not enrolled in any course with "
	  "permissions to use it",
	  "Your LMS has permission to use that laboratory; but you are not "
	  "enrolled in any course with permissions to use it" },
	{ LB_ERR_RLMS, "error:The remote laboratory could not be reserved",
	  "The remote laboratory could not be reserved" },
};

/* The message of a refusal (for JSON answers and the audit log). */
const char *
lb_rules_error(enum lb_verdict v)
{
	size_t	 i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i].v == v)
			return texts[i].error;
	return "granted";
}

/* The classic plain-text answer: the URL, or the refusal. The caller's. */
char *
lb_rules_answer(enum lb_verdict v, const char *url)
{
	size_t	 i;

	if (v == LB_GRANT)
		return strdup(url != NULL ? url : "");
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i].v == v)
			return strdup(texts[i].answer);
	return strdup("error:internal error");
}

void
lb_request_clear(struct lb_request *rq)
{
	free(rq->rq_user);
	free(rq->rq_fullname);
	free(rq->rq_agent);
	free(rq->rq_ip);
	free(rq->rq_referer);
	lb_strv_free(rq->rq_courses, rq->rq_ncourses);
	free(rq->rq_payload);
	free(rq->rq_experiment);
	free(rq->rq_initial);
	free(rq->rq_login);
	if (rq->rq_password != NULL) {
		explicit_bzero(rq->rq_password, strlen(rq->rq_password));
		free(rq->rq_password);
	}
	memset(rq, 0, sizeof(*rq));
}

/* A string member, or dflt; -1 when present but not a string. */
static int
str_or(const struct lb_json *o, const char *key, const char *dflt, char **out)
{
	const struct lb_json	*v = lb_json_get(o, key);
	const char		*s = lb_json_str(v);

	if (v != NULL && s == NULL)
		return -1;
	if (s == NULL)
		s = dflt;
	if (s == NULL) {
		*out = NULL;
		return 0;
	}
	return (*out = strdup(s)) != NULL ? 0 : -1;
}

/* The course ids of "courses": keys of an object (or an array of ids). */
static int
courses_parse(const struct lb_json *cs, struct lb_request *rq)
{
	size_t		 i, n = lb_json_len(cs);
	const char	*id;

	if (!lb_json_is_object(cs) && !lb_json_is_array(cs))
		return -1;
	if ((rq->rq_courses = calloc(n + 1, sizeof(char *))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		id = lb_json_is_object(cs) ? lb_json_key_at(cs, i) :
		    lb_json_str(lb_json_at(cs, i));
		if (id == NULL)
			return -1;
		if ((rq->rq_courses[rq->rq_ncourses] = strdup(id)) == NULL)
			return -1;
		rq->rq_ncourses++;
	}
	return 0;
}

/* The payload {"action":"reserve","experiment":ID[,"initial":...]}. */
static enum lb_verdict
payload_parse(struct lb_request *rq)
{
	struct lb_json		*p = NULL;
	const struct lb_json	*e;
	const char		*action;
	int64_t			 num;
	char			 nbuf[32];
	enum lb_verdict		 v = LB_ERR_INVALID;

	if (lb_json_parse(rq->rq_payload, strlen(rq->rq_payload), &p) == -1)
		return LB_ERR_PAYLOAD;
	if (!lb_json_is_object(p))
		goto done;
	if ((action = lb_json_str(lb_json_get(p, "action"))) == NULL) {
		if (lb_json_get(p, "action") != NULL)
			v = LB_ERR_UNSUPPORTED;
		goto done;
	}
	if (strcmp(action, "reserve") != 0) {
		v = LB_ERR_UNSUPPORTED;
		goto done;
	}
	e = lb_json_get(p, "experiment");
	if (lb_json_str(e) != NULL)
		rq->rq_experiment = strdup(lb_json_str(e));
	else if (lb_json_int(e, &num) == 0) {
		snprintf(nbuf, sizeof(nbuf), "%lld", (long long)num);
		rq->rq_experiment = strdup(nbuf);
	} else
		goto done;
	if (rq->rq_experiment == NULL)
		goto done;
	if (lb_json_get(p, "initial") != NULL &&
	    (rq->rq_initial = lb_json_text(lb_json_get(p, "initial"))) == NULL)
		goto done;
	v = LB_GRANT;
done:
	lb_json_free(p);
	return v;
}

/*
 * Parse a classic request body into rq (which the caller clears even on
 * failure).  LB_GRANT means well-formed; otherwise the refusal to answer.
 */
enum lb_verdict
lb_rules_parse(const char *body, size_t len, struct lb_request *rq)
{
	struct lb_json		*doc = NULL;
	const struct lb_json	*v;
	enum lb_verdict		 rc = LB_ERR_JSON;
	int			 admin;

	memset(rq, 0, sizeof(*rq));
	if (lb_json_parse(body, len, &doc) == -1 || !lb_json_is_object(doc))
		goto done;
	if (str_or(doc, "lms_username", NULL, &rq->rq_login) == -1 ||
	    str_or(doc, "lms_password", NULL, &rq->rq_password) == -1)
		goto done;
	if (str_or(doc, "user-id", NULL, &rq->rq_user) == -1 ||
	    rq->rq_user == NULL ||
	    str_or(doc, "full-name", "", &rq->rq_fullname) == -1 ||
	    str_or(doc, "user-agent", "unknown user agent",
	    &rq->rq_agent) == -1 ||
	    str_or(doc, "origin-ip", "unknown IP address", &rq->rq_ip) == -1 ||
	    str_or(doc, "referer", "unknown referer", &rq->rq_referer) == -1)
		goto done;
	v = lb_json_get(doc, "is-admin");
	admin = lb_json_bool(v);
	if (v != NULL && admin == -1)
		goto done;
	rq->rq_admin = admin == 1;
	if ((v = lb_json_get(doc, "courses")) == NULL ||
	    courses_parse(v, rq) == -1)
		goto done;
	if ((v = lb_json_get(doc, "request-payload")) == NULL)
		goto done;
	if (lb_json_str(v) == NULL) {
		rc = LB_ERR_PAYLOAD;
		goto done;
	}
	if ((rq->rq_payload = strdup(lb_json_str(v))) == NULL)
		goto done;
	rc = payload_parse(rq);
done:
	lb_json_free(doc);
	return rc;
}

void
lb_grant_clear(struct lb_grant *gr)
{
	free(gr->gr_courses);
	free(gr->gr_idx);
	memset(gr, 0, sizeof(*gr));
}

/*
 * Merge limits: best_is_max picks the largest course value (time), else
 * the smallest (priority); the LMS value then bounds it from the other
 * side.  Unset values (LB_NOLIMIT) are left out.
 */
void
lb_rules_merge(int64_t lms, const int64_t *course, size_t n, int best_is_max,
    int64_t *out)
{
	int64_t	 best = LB_NOLIMIT;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (course[i] == LB_NOLIMIT)
			continue;
		if (best == LB_NOLIMIT || (best_is_max ? course[i] > best :
		    course[i] < best))
			best = course[i];
	}
	if (best == LB_NOLIMIT)
		best = lms;
	else if (lms != LB_NOLIMIT && (best_is_max ? best > lms : best < lms))
		best = lms;
	*out = best;
}

static int
user_in(const struct lb_request *rq, const char *course)
{
	size_t	 i;

	for (i = 0; i < rq->rq_ncourses; i++)
		if (strcmp(rq->rq_courses[i], course) == 0)
			return 1;
	return 0;
}

/* Apply the rules for a well-formed request of LMS lm. */
enum lb_verdict
lb_rules_decide(const struct lb_lms *lm, const struct lb_request *rq,
    struct lb_grant *gr)
{
	const struct lb_perm	*pe = NULL;
	int64_t			*times = NULL, *prios = NULL;
	size_t			*idx = NULL;
	struct lb_buf		 names;
	size_t			 i, n = 0;
	enum lb_verdict		 v = LB_ERR_ENROLLED;

	for (i = 0; i < lm->lm_nperms; i++)
		if (strcmp(lm->lm_perms[i].pe_ident, rq->rq_experiment) == 0)
			pe = &lm->lm_perms[i];
	if (pe == NULL)
		return LB_ERR_PERMISSION;
	times = calloc(pe->pe_ncourses + 1, sizeof(*times));
	prios = calloc(pe->pe_ncourses + 1, sizeof(*prios));
	idx = calloc(pe->pe_ncourses + 1, sizeof(*idx));
	lb_buf_init(&names, 0);
	if (times == NULL || prios == NULL || idx == NULL)
		goto done;
	for (i = 0; i < pe->pe_ncourses; i++) {
		if (!user_in(rq, pe->pe_courses[i].cp_course))
			continue;
		times[n] = pe->pe_courses[i].cp_time;
		prios[n] = pe->pe_courses[i].cp_priority;
		idx[n] = i;
		lb_buf_printf(&names, "%s%s", n > 0 ? "," : "",
		    pe->pe_courses[i].cp_course);
		n++;
	}
	if (n == 0 && !rq->rq_admin)
		goto done;
	memset(gr, 0, sizeof(*gr));
	gr->gr_perm = pe;
	lb_rules_merge(pe->pe_time, times, n, 1, &gr->gr_time);
	lb_rules_merge(pe->pe_priority, prios, n, 0, &gr->gr_priority);
	if ((gr->gr_courses = lb_buf_release(&names)) == NULL) {
		v = LB_ERR_RLMS;
		goto done;
	}
	gr->gr_idx = idx;
	gr->gr_n = n;
	idx = NULL;
	v = LB_GRANT;
done:
	lb_buf_free(&names);
	free(idx);
	free(times);
	free(prios);
	return v;
}
