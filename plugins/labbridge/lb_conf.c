/*
 * lb_conf.c: the configuration document of the bridge (labbridge(7)):
 * RLMS instances, the LMS participants with their classic credentials,
 * the laboratories each LMS may use under a local identifier with its
 * limits, and the course permissions inside each LMS with their own
 * limits.  A document is checked completely before it replaces the
 * current one; jobs in flight keep a reference to the one they began with.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb.h"

#define LB_LIMIT_MAX	(INT64_C(1) << 40)

static void
perm_clear(struct lb_perm *pe)
{
	size_t	 i;

	free(pe->pe_ident);
	free(pe->pe_lab);
	for (i = 0; pe->pe_courses != NULL && i < pe->pe_ncourses; i++)
		free(pe->pe_courses[i].cp_course);
	free(pe->pe_courses);
}

static void
lms_clear(struct lb_lms *lm)
{
	size_t	 i;

	free(lm->lm_name);
	free(lm->lm_login);
	if (lm->lm_password != NULL) {
		explicit_bzero(lm->lm_password, strlen(lm->lm_password));
		free(lm->lm_password);
	}
	free(lm->lm_institution);
	for (i = 0; lm->lm_perms != NULL && i < lm->lm_nperms; i++)
		perm_clear(&lm->lm_perms[i]);
	free(lm->lm_perms);
}

static void
conf_free(struct lb_conf *cf)
{
	size_t	 i;

	for (i = 0; cf->cf_rlms != NULL && i < cf->cf_nrlms; i++)
		lb_rlms_free(cf->cf_rlms[i]);
	free(cf->cf_rlms);
	for (i = 0; cf->cf_lms != NULL && i < cf->cf_nlms; i++)
		lms_clear(&cf->cf_lms[i]);
	free(cf->cf_lms);
	free(cf->cf_admin);
	free(cf);
}

void
lb_conf_ref(struct lb_conf *cf)
{
	cf->cf_refs++;
}

void
lb_conf_unref(struct lb_conf *cf)
{
	if (cf != NULL && --cf->cf_refs == 0)
		conf_free(cf);
}

/* An optional limit: absent is LB_NOLIMIT, else 0 .. LB_LIMIT_MAX. */
static int
limit_get(const struct lb_json *o, const char *key, int64_t *out)
{
	const struct lb_json	*v = lb_json_get(o, key);

	if (v == NULL) {
		*out = LB_NOLIMIT;
		return 0;
	}
	if (lb_json_int(v, out) == -1 || *out < 0 || *out > LB_LIMIT_MAX)
		return -1;
	return 0;
}

/* A required non-empty string member, copied into *out. */
static int
str_get(const struct lb_json *o, const char *key, int required, char **out)
{
	const struct lb_json	*v = lb_json_get(o, key);
	const char		*s = lb_json_str(v);

	if (v == NULL && !required) {
		*out = NULL;
		return 0;
	}
	if (s == NULL || (required && *s == '\0'))
		return -1;
	return (*out = strdup(s)) != NULL ? 0 : -1;
}

static struct lb_rlms *
conf_rlms(const struct lb_conf *cf, const char *name)
{
	size_t	 i;

	for (i = 0; i < cf->cf_nrlms; i++)
		if (strcmp(cf->cf_rlms[i]->rl_name, name) == 0)
			return cf->cf_rlms[i];
	return NULL;
}

static int
perm_parse(const struct lb_conf *cf, const struct lb_lms *lm,
    const struct lb_json *o, struct lb_perm *pe, char *err, size_t errlen)
{
	const struct lb_json	*cs, *c;
	char			*rlms = NULL;
	size_t			 i, j;

	if (!lb_json_is_object(o) ||
	    str_get(o, "identifier", 1, &pe->pe_ident) == -1) {
		snprintf(err, errlen, "lms %s: a permission lacks "
		    "\"identifier\"", lm->lm_name);
		return -1;
	}
	if (str_get(o, "laboratory", 1, &pe->pe_lab) == -1 ||
	    str_get(o, "rlms", 1, &rlms) == -1) {
		snprintf(err, errlen, "lms %s: permission %s lacks "
		    "\"laboratory\" or \"rlms\"", lm->lm_name, pe->pe_ident);
		return -1;
	}
	pe->pe_rlms = conf_rlms(cf, rlms);
	free(rlms);
	if (pe->pe_rlms == NULL) {
		snprintf(err, errlen, "lms %s: permission %s names an "
		    "unknown rlms", lm->lm_name, pe->pe_ident);
		return -1;
	}
	if (limit_get(o, "time", &pe->pe_time) == -1 ||
	    limit_get(o, "priority", &pe->pe_priority) == -1) {
		snprintf(err, errlen, "lms %s: permission %s: \"time\" and "
		    "\"priority\" are integers >= 0", lm->lm_name,
		    pe->pe_ident);
		return -1;
	}
	cs = lb_json_get(o, "courses");
	if (cs != NULL && !lb_json_is_array(cs)) {
		snprintf(err, errlen, "lms %s: permission %s: \"courses\" "
		    "is an array", lm->lm_name, pe->pe_ident);
		return -1;
	}
	pe->pe_ncourses = lb_json_len(cs);
	if ((pe->pe_courses = calloc(pe->pe_ncourses + 1,
	    sizeof(*pe->pe_courses))) == NULL) {
		pe->pe_ncourses = 0;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < pe->pe_ncourses; i++) {
		c = lb_json_at(cs, i);
		if (!lb_json_is_object(c) || str_get(c, "course", 1,
		    &pe->pe_courses[i].cp_course) == -1 ||
		    limit_get(c, "time", &pe->pe_courses[i].cp_time) == -1 ||
		    limit_get(c, "priority",
		    &pe->pe_courses[i].cp_priority) == -1) {
			snprintf(err, errlen, "lms %s: permission %s: course "
			    "%zu needs \"course\" and integer limits",
			    lm->lm_name, pe->pe_ident, i + 1);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcmp(pe->pe_courses[j].cp_course,
			    pe->pe_courses[i].cp_course) == 0) {
				snprintf(err, errlen, "lms %s: permission %s: "
				    "course listed twice", lm->lm_name,
				    pe->pe_ident);
				return -1;
			}
	}
	return 0;
}

static int
lms_parse(const struct lb_conf *cf, const struct lb_json *o,
    struct lb_lms *lm, char *err, size_t errlen)
{
	const struct lb_json	*ps;
	size_t			 i, j;

	if (!lb_json_is_object(o) || str_get(o, "name", 1,
	    &lm->lm_name) == -1) {
		snprintf(err, errlen, "an lms lacks \"name\"");
		return -1;
	}
	if (str_get(o, "login", 0, &lm->lm_login) == -1 ||
	    str_get(o, "password", 0, &lm->lm_password) == -1 ||
	    str_get(o, "institution", 0, &lm->lm_institution) == -1) {
		snprintf(err, errlen, "lms %s: \"login\", \"password\" and "
		    "\"institution\" are strings", lm->lm_name);
		return -1;
	}
	if ((lm->lm_login == NULL) != (lm->lm_password == NULL)) {
		snprintf(err, errlen, "lms %s: \"login\" and \"password\" "
		    "go together", lm->lm_name);
		return -1;
	}
	if (lm->lm_institution == NULL &&
	    (lm->lm_institution = strdup(lm->lm_name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ps = lb_json_get(o, "permissions");
	if (ps != NULL && !lb_json_is_array(ps)) {
		snprintf(err, errlen, "lms %s: \"permissions\" is an array",
		    lm->lm_name);
		return -1;
	}
	lm->lm_nperms = lb_json_len(ps);
	if ((lm->lm_perms = calloc(lm->lm_nperms + 1,
	    sizeof(*lm->lm_perms))) == NULL) {
		lm->lm_nperms = 0;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < lm->lm_nperms; i++) {
		if (perm_parse(cf, lm, lb_json_at(ps, i), &lm->lm_perms[i],
		    err, errlen) == -1)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(lm->lm_perms[j].pe_ident,
			    lm->lm_perms[i].pe_ident) == 0) {
				snprintf(err, errlen, "lms %s: identifier %s "
				    "used twice", lm->lm_name,
				    lm->lm_perms[i].pe_ident);
				return -1;
			}
	}
	return 0;
}

/*
 * Check and build a configuration from a JSON document; the RLMS
 * instances run on base.  The caller's (one reference), or NULL with err.
 */
struct lb_conf *
lb_conf_parse(const char *text, size_t len, struct event_base *base,
    char *err, size_t errlen)
{
	struct lb_json		*doc = NULL;
	const struct lb_json	*rs, *ls;
	struct lb_conf		*cf;
	size_t			 i, j;

	if ((cf = calloc(1, sizeof(*cf))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cf->cf_refs = 1;
	if (lb_json_parse(text, len, &doc) == -1 || !lb_json_is_object(doc)) {
		snprintf(err, errlen, "not a JSON object");
		goto fail;
	}
	if (str_get(doc, "admin", 0, &cf->cf_admin) == -1) {
		snprintf(err, errlen, "\"admin\" is a participant name");
		goto fail;
	}
	rs = lb_json_get(doc, "rlms");
	ls = lb_json_get(doc, "lms");
	if ((rs != NULL && !lb_json_is_array(rs)) ||
	    (ls != NULL && !lb_json_is_array(ls))) {
		snprintf(err, errlen, "\"rlms\" and \"lms\" are arrays");
		goto fail;
	}
	cf->cf_nrlms = lb_json_len(rs);
	cf->cf_nlms = lb_json_len(ls);
	cf->cf_rlms = calloc(cf->cf_nrlms + 1, sizeof(*cf->cf_rlms));
	cf->cf_lms = calloc(cf->cf_nlms + 1, sizeof(*cf->cf_lms));
	if (cf->cf_rlms == NULL || cf->cf_lms == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < cf->cf_nrlms; i++) {
		cf->cf_rlms[i] = lb_rlms_new(lb_json_at(rs, i), base, err,
		    errlen);
		if (cf->cf_rlms[i] == NULL)
			goto fail;
		for (j = 0; j < i; j++)
			if (strcmp(cf->cf_rlms[j]->rl_name,
			    cf->cf_rlms[i]->rl_name) == 0) {
				snprintf(err, errlen, "rlms %s listed twice",
				    cf->cf_rlms[i]->rl_name);
				goto fail;
			}
	}
	for (i = 0; i < cf->cf_nlms; i++) {
		if (lms_parse(cf, lb_json_at(ls, i), &cf->cf_lms[i], err,
		    errlen) == -1)
			goto fail;
		for (j = 0; j < i; j++)
			if (strcmp(cf->cf_lms[j].lm_name,
			    cf->cf_lms[i].lm_name) == 0 ||
			    (cf->cf_lms[i].lm_login != NULL &&
			    cf->cf_lms[j].lm_login != NULL &&
			    strcmp(cf->cf_lms[j].lm_login,
			    cf->cf_lms[i].lm_login) == 0)) {
				snprintf(err, errlen, "lms %s: name or login "
				    "used twice", cf->cf_lms[i].lm_name);
				goto fail;
			}
	}
	lb_json_free(doc);
	return cf;
fail:
	lb_json_free(doc);
	conf_free(cf);
	return NULL;
}

/* A configuration from a file (at most LB_MAX_BODY bytes). */
struct lb_conf *
lb_conf_load(const char *path, struct event_base *base, char *err,
    size_t errlen)
{
	struct lb_conf	*cf;
	struct lb_buf	 b;
	char		 chunk[8192], sub[200];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	lb_buf_init(&b, LB_MAX_BODY);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 ||
	    (n == -1 && errno == EINTR))
		if (n > 0)
			lb_buf_add(&b, chunk, (size_t)n);
	close(fd);
	if (n == -1 || b.b_err) {
		snprintf(err, errlen, "%s: %s", path, n == -1 ?
		    strerror(errno) : "too large");
		lb_buf_free(&b);
		return NULL;
	}
	cf = lb_conf_parse(lb_buf_str(&b), b.b_len, base, sub, sizeof(sub));
	if (cf == NULL)
		snprintf(err, errlen, "%s: %s", path, sub);
	lb_buf_free(&b);
	return cf;
}

const struct lb_lms *
lb_conf_lms_by_name(const struct lb_conf *cf, const char *name)
{
	size_t	 i;

	for (i = 0; i < cf->cf_nlms; i++)
		if (strcmp(cf->cf_lms[i].lm_name, name) == 0)
			return &cf->cf_lms[i];
	return NULL;
}

/* Compare secrets without an early exit. */
static int
secret_eq(const char *a, const char *b)
{
	size_t		 la = strlen(a), lb = strlen(b), i;
	unsigned char	 d = la != lb;

	for (i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i < lb ? i : 0];
	return d == 0;
}

/* The LMS whose classic credentials these are, or NULL. */
const struct lb_lms *
lb_conf_lms_by_login(const struct lb_conf *cf, const char *login,
    const char *password)
{
	size_t	 i;

	for (i = 0; i < cf->cf_nlms; i++)
		if (cf->cf_lms[i].lm_login != NULL &&
		    strcmp(cf->cf_lms[i].lm_login, login) == 0)
			return secret_eq(cf->cf_lms[i].lm_password,
			    password) ? &cf->cf_lms[i] : NULL;
	return NULL;
}
