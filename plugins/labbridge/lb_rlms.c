/*
 * lb_rlms.c: the RLMS plug-in interface.  An RLMS instance of the
 * configuration names its kind; the kind is an ops table (lb.h,
 * struct lb_rlms_ops) modelled on the LabManager's BaseRLMS: capabilities,
 * test, list laboratories, reserve, and the optional widgets.  A new kind
 * is a new lb_rlms_*.c file plus one line in kinds[].
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

static const struct lb_rlms_ops *const kinds[] = {
	&lb_rlms_http_ops,
};

void
lb_strv_free(char **v, size_t n)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
labs_free(struct lb_lab *labs, size_t n)
{
	size_t	 i;

	if (labs == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(labs[i].lab_id);
		free(labs[i].lab_name);
		free(labs[i].lab_description);
	}
	free(labs);
}

/* Free what a result holds (not the struct itself) and zero it. */
void
lb_rlms_result_clear(struct lb_rlms_result *r)
{
	size_t	 i;

	lb_strv_free(r->rr_caps, r->rr_ncaps);
	lb_strv_free(r->rr_messages, r->rr_nmessages);
	labs_free(r->rr_labs, r->rr_nlabs);
	free(r->rr_reservation);
	free(r->rr_load_url);
	for (i = 0; r->rr_widgets != NULL && i < r->rr_nwidgets; i++) {
		free(r->rr_widgets[i].wd_name);
		free(r->rr_widgets[i].wd_description);
	}
	free(r->rr_widgets);
	free(r->rr_url);
	memset(r, 0, sizeof(*r));
}

/*
 * An instance from its configuration object {"name","kind",...}; the
 * kind's ro_open reads the rest.  The caller's, or NULL with err set.
 */
struct lb_rlms *
lb_rlms_new(const struct lb_json *conf, struct event_base *base, char *err,
    size_t errlen)
{
	const struct lb_rlms_ops	*ops = NULL;
	struct lb_rlms			*r;
	const char			*name, *kind, *lab, *realm;
	size_t				 i;

	name = lb_json_str(lb_json_get(conf, "name"));
	kind = lb_json_str(lb_json_get(conf, "kind"));
	lab = lb_json_str(lb_json_get(conf, "lab_participant"));
	realm = lb_json_str(lb_json_get(conf, "realm"));
	if (name == NULL || *name == '\0') {
		snprintf(err, errlen, "rlms: \"name\" missing");
		return NULL;
	}
	if (kind == NULL)
		kind = "http";
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i]->ro_kind, kind) == 0)
			ops = kinds[i];
	if (ops == NULL) {
		snprintf(err, errlen, "rlms %s: unknown kind", name);
		return NULL;
	}
	if (lab == NULL || *lab == '\0') {
		snprintf(err, errlen, "rlms %s: \"lab_participant\" missing",
		    name);
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->rl_ops = ops;
	r->rl_base = base;
	r->rl_name = strdup(name);
	r->rl_lab_participant = strdup(lab);
	r->rl_realm = strdup(realm != NULL ? realm : "lms4labs");
	if (r->rl_name == NULL || r->rl_lab_participant == NULL ||
	    r->rl_realm == NULL) {
		snprintf(err, errlen, "out of memory");
		lb_rlms_free(r);
		return NULL;
	}
	if (ops->ro_open(r, conf, err, errlen) == -1) {
		lb_rlms_free(r);
		return NULL;
	}
	return r;
}

void
lb_rlms_free(struct lb_rlms *r)
{
	if (r == NULL)
		return;
	if (r->rl_impl != NULL)
		r->rl_ops->ro_close(r);
	free(r->rl_name);
	free(r->rl_lab_participant);
	free(r->rl_realm);
	labs_free(r->rl_labs, r->rl_nlabs);
	lb_strv_free(r->rl_caps, r->rl_ncaps);
	free(r);
}

/* A laboratory the last listing found, or NULL. */
const struct lb_lab *
lb_rlms_lab(const struct lb_rlms *r, const char *id)
{
	size_t	 i;

	for (i = 0; i < r->rl_nlabs; i++)
		if (strcmp(r->rl_labs[i].lab_id, id) == 0)
			return &r->rl_labs[i];
	return NULL;
}

static char *
dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

/* Keep a copy of the laboratories of a listing. */
void
lb_rlms_set_labs(struct lb_rlms *r, const struct lb_rlms_result *res)
{
	struct lb_lab	*labs;
	size_t		 i;

	if ((labs = calloc(res->rr_nlabs + 1, sizeof(*labs))) == NULL)
		return;
	for (i = 0; i < res->rr_nlabs; i++) {
		labs[i].lab_id = dup_or_empty(res->rr_labs[i].lab_id);
		labs[i].lab_name = dup_or_empty(res->rr_labs[i].lab_name);
		labs[i].lab_description =
		    dup_or_empty(res->rr_labs[i].lab_description);
		labs[i].lab_autoload = res->rr_labs[i].lab_autoload;
		if (labs[i].lab_id == NULL || labs[i].lab_name == NULL ||
		    labs[i].lab_description == NULL) {
			labs_free(labs, i + 1);
			return;
		}
	}
	labs_free(r->rl_labs, r->rl_nlabs);
	r->rl_labs = labs;
	r->rl_nlabs = res->rr_nlabs;
}

/* Keep a copy of the capabilities of an answer. */
void
lb_rlms_set_caps(struct lb_rlms *r, const struct lb_rlms_result *res)
{
	char	**caps;
	size_t	  i;

	if ((caps = calloc(res->rr_ncaps + 1, sizeof(*caps))) == NULL)
		return;
	for (i = 0; i < res->rr_ncaps; i++)
		if ((caps[i] = strdup(res->rr_caps[i])) == NULL) {
			lb_strv_free(caps, i);
			return;
		}
	lb_strv_free(r->rl_caps, r->rl_ncaps);
	r->rl_caps = caps;
	r->rl_ncaps = res->rr_ncaps;
}
