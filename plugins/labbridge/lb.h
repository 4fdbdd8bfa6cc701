/*
 * lb.h: the private header of the labbridge plugin (the lms4labs
 * LabManager as an ECS participant).  One block per file, holding exactly
 * that file's exported prototypes.
 *
 * Ownership: a `const char *` return is borrowed, a `char *` return is the
 * caller's; x_free(NULL) does nothing; out-parameters are written only on
 * success.
 */
#ifndef LB_H
#define LB_H

#include <sys/queue.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <ecs/plugin.h>

#define LB_MAX_BODY		(1024 * 1024)	/* largest JSON we accept */
#define LB_JSON_DEPTH		32
#define LB_RLMS_TIMEOUT		20		/* seconds per RLMS call */
#define LB_NOLIMIT		(-1)		/* limit not configured */

struct event_base;
struct lb;
struct lb_json;				/* a parsed JSON value; opaque */
struct lb_rlms;

/* lb_json.c: JSON parsing (behind yajl) and a bounded string buffer. */
struct lb_buf {
	char	*b_data;
	size_t	 b_len;
	size_t	 b_cap;
	size_t	 b_max;		/* 0: no limit */
	int	 b_err;		/* set once an append failed */
};

struct lb_jw {
	struct lb_buf	*jw_buf;
	int		 jw_depth;
	int		 jw_count[LB_JSON_DEPTH + 2];
	int		 jw_after_key;
};

int			 lb_json_parse(const char *, size_t, struct lb_json **);
void			 lb_json_free(struct lb_json *);
int			 lb_json_is_object(const struct lb_json *);
int			 lb_json_is_array(const struct lb_json *);
const struct lb_json	*lb_json_get(const struct lb_json *, const char *);
const char		*lb_json_str(const struct lb_json *);
int			 lb_json_int(const struct lb_json *, int64_t *);
int			 lb_json_bool(const struct lb_json *);
size_t			 lb_json_len(const struct lb_json *);
const struct lb_json	*lb_json_at(const struct lb_json *, size_t);
const char		*lb_json_key_at(const struct lb_json *, size_t);
char			*lb_json_text(const struct lb_json *);

void	 lb_buf_init(struct lb_buf *, size_t max);
void	 lb_buf_add(struct lb_buf *, const void *, size_t);
void	 lb_buf_puts(struct lb_buf *, const char *);
void	 lb_buf_printf(struct lb_buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
const char *lb_buf_str(struct lb_buf *);
char	*lb_buf_release(struct lb_buf *);
void	 lb_buf_free(struct lb_buf *);

void	 lb_jw_init(struct lb_jw *, struct lb_buf *);
void	 lb_jw_obj_open(struct lb_jw *);
void	 lb_jw_obj_close(struct lb_jw *);
void	 lb_jw_arr_open(struct lb_jw *);
void	 lb_jw_arr_close(struct lb_jw *);
void	 lb_jw_key(struct lb_jw *, const char *);
void	 lb_jw_str(struct lb_jw *, const char *);
void	 lb_jw_int(struct lb_jw *, int64_t);
void	 lb_jw_bool(struct lb_jw *, int);
void	 lb_jw_null(struct lb_jw *);
void	 lb_jw_value(struct lb_jw *, const struct lb_json *);
void	 lb_jw_kstr(struct lb_jw *, const char *, const char *);
void	 lb_jw_kint(struct lb_jw *, const char *, int64_t);

char	*lb_escape(const char *);

/* lb_conf.c: the configuration document. */
struct lb_course_perm {
	char		*cp_course;	/* the LMS's course id */
	int64_t		 cp_time;	/* seconds, or LB_NOLIMIT */
	int64_t		 cp_priority;	/* lower is better, or LB_NOLIMIT */
};

/* A laboratory an LMS may use under a local identifier. */
struct lb_perm {
	char			*pe_ident;	/* local identifier */
	char			*pe_lab;	/* laboratory_id at the RLMS */
	struct lb_rlms		*pe_rlms;	/* borrowed from the conf */
	int64_t			 pe_time;
	int64_t			 pe_priority;
	struct lb_course_perm	*pe_courses;
	size_t			 pe_ncourses;
};

struct lb_lms {
	char		*lm_name;	/* ECS participant name */
	char		*lm_login;	/* classic Basic credentials */
	char		*lm_password;
	char		*lm_institution;
	struct lb_perm	*lm_perms;
	size_t		 lm_nperms;
};

/* Reference counted: jobs in flight keep the conf they started with. */
struct lb_conf {
	int		 cf_refs;
	char		*cf_admin;	/* superadmin participant name */
	struct lb_rlms	**cf_rlms;
	size_t		 cf_nrlms;
	struct lb_lms	*cf_lms;
	size_t		 cf_nlms;
};

struct lb_conf	*lb_conf_parse(const char *, size_t, struct event_base *,
		    char *err, size_t errlen);
struct lb_conf	*lb_conf_load(const char *path, struct event_base *,
		    char *err, size_t errlen);
void		 lb_conf_ref(struct lb_conf *);
void		 lb_conf_unref(struct lb_conf *);
const struct lb_lms *lb_conf_lms_by_name(const struct lb_conf *,
		    const char *);
const struct lb_lms *lb_conf_lms_by_login(const struct lb_conf *,
		    const char *login, const char *password);

/* lb_rules.c: the lms4labs request and its authorization rules. */
enum lb_verdict {
	LB_GRANT = 0,
	LB_ERR_JSON,		/* body is not a JSON object */
	LB_ERR_PAYLOAD,		/* request-payload is not JSON */
	LB_ERR_UNSUPPORTED,	/* an action other than reserve */
	LB_ERR_INVALID,		/* action or experiment missing */
	LB_ERR_PERMISSION,	/* identifier unknown to this LMS */
	LB_ERR_ENROLLED,	/* user in no permitted course */
	LB_ERR_RLMS		/* the RLMS failed */
};

struct lb_request {
	char		*rq_user;
	char		*rq_fullname;
	int		 rq_admin;
	char		*rq_agent;
	char		*rq_ip;
	char		*rq_referer;
	char		**rq_courses;	/* course ids the user is in */
	size_t		 rq_ncourses;
	char		*rq_payload;	/* request-payload as sent */
	char		*rq_experiment;
	char		*rq_initial;	/* JSON text of "initial", or NULL */
	char		*rq_login;	/* lms_username of the body, or NULL */
	char		*rq_password;	/* lms_password of the body */
};

struct lb_grant {
	const struct lb_perm	*gr_perm;
	int64_t			 gr_time;
	int64_t			 gr_priority;
	char			*gr_courses;	/* "c1,c2": for the log */
	size_t			*gr_idx;	/* permitted pe_courses[] */
	size_t			 gr_n;
};

enum lb_verdict	 lb_rules_parse(const char *, size_t, struct lb_request *);
void		 lb_request_clear(struct lb_request *);
enum lb_verdict	 lb_rules_decide(const struct lb_lms *,
		    const struct lb_request *, struct lb_grant *);
void		 lb_grant_clear(struct lb_grant *);
char		*lb_rules_answer(enum lb_verdict, const char *url);
const char	*lb_rules_error(enum lb_verdict);
void		 lb_rules_merge(int64_t lms, const int64_t *course, size_t n,
		    int best_is_max, int64_t *out);

/* lb_rlms.c: the RLMS plug-in interface. */
struct lb_lab {
	char	*lab_id;
	char	*lab_name;
	char	*lab_description;
	int	 lab_autoload;
};

struct lb_widget {
	char	*wd_name;
	char	*wd_description;
};

/* What an RLMS call returned; borrowed by the callback. */
struct lb_rlms_result {
	int			 rr_ok;
	char			 rr_error[256];
	char			**rr_caps;
	size_t			 rr_ncaps;
	int			 rr_valid;
	char			**rr_messages;
	size_t			 rr_nmessages;
	struct lb_lab		*rr_labs;
	size_t			 rr_nlabs;
	char			*rr_reservation;
	char			*rr_load_url;
	struct lb_widget	*rr_widgets;
	size_t			 rr_nwidgets;
	char			*rr_url;	/* of a widget */
};

/* Everything reserve() passes to the RLMS. */
struct lb_reserve {
	const char	*rs_lab;
	const char	*rs_user;
	const char	*rs_fullname;
	const char	*rs_institution;
	const char	*rs_general;	/* the LMS grant as JSON text */
	char *const	*rs_particular;	/* course grants as JSON texts */
	size_t		 rs_nparticular;
	const char	*rs_payload;	/* request-payload as received */
	const char	*rs_agent;
	const char	*rs_ip;
	const char	*rs_referer;
	int64_t		 rs_time;	/* merged limits, or LB_NOLIMIT */
	int64_t		 rs_priority;
};

typedef void (*lb_rlms_fn)(const struct lb_rlms_result *, void *);

/*
 * An RLMS kind.  A call returns 0 when it started: its callback then runs
 * exactly once, later, from the event loop; -1 when it failed at once (no
 * callback).  ro_cancel keeps the callbacks of one argument from running.
 * ro_widgets and ro_widget may be NULL (optional capability).
 */
struct lb_rlms_ops {
	const char	*ro_kind;
	int	(*ro_open)(struct lb_rlms *, const struct lb_json *conf,
		    char *err, size_t errlen);
	void	(*ro_close)(struct lb_rlms *);
	int	(*ro_capabilities)(struct lb_rlms *, lb_rlms_fn, void *);
	int	(*ro_test)(struct lb_rlms *, lb_rlms_fn, void *);
	int	(*ro_labs)(struct lb_rlms *, lb_rlms_fn, void *);
	int	(*ro_reserve)(struct lb_rlms *, const struct lb_reserve *,
		    lb_rlms_fn, void *);
	int	(*ro_widgets)(struct lb_rlms *, const char *lab, lb_rlms_fn,
		    void *);
	int	(*ro_widget)(struct lb_rlms *, const char *reservation,
		    const char *name, lb_rlms_fn, void *);
	void	(*ro_cancel)(struct lb_rlms *, void *);
};

struct lb_rlms {
	char				*rl_name;
	const struct lb_rlms_ops	*rl_ops;
	void				*rl_impl;
	struct event_base		*rl_base;
	char				*rl_lab_participant;
	char				*rl_realm;
	/* What the last listing found. */
	struct lb_lab			*rl_labs;
	size_t				 rl_nlabs;
	char				**rl_caps;
	size_t				 rl_ncaps;
	int				 rl_valid;
};

struct lb_rlms	*lb_rlms_new(const struct lb_json *, struct event_base *,
		    char *err, size_t errlen);
void		 lb_rlms_free(struct lb_rlms *);
const struct lb_lab *lb_rlms_lab(const struct lb_rlms *, const char *);
void		 lb_rlms_set_labs(struct lb_rlms *,
		    const struct lb_rlms_result *);
void		 lb_rlms_set_caps(struct lb_rlms *,
		    const struct lb_rlms_result *);
void		 lb_rlms_result_clear(struct lb_rlms_result *);
void		 lb_strv_free(char **, size_t);

/* lb_rlms_http.c: the generic HTTP RLMS protocol. */
extern const struct lb_rlms_ops lb_rlms_http_ops;

/* labbridge.c: the job pipeline shared by the ECS and HTTP paths. */
struct lb_job;
typedef void (*lb_job_fn)(struct lb_job *, void *);

struct lb_job	*lb_job_new(struct lb *, const char *via);
int		 lb_job_start(struct lb_job *, const struct lb_lms *,
		    const char *body, size_t len, lb_job_fn, void *);
void		 lb_job_free(struct lb_job *);
const char	*lb_job_answer(const struct lb_job *);
struct lb_conf	*lb_conf_current(struct lb *);
void		 lb_log(struct lb *, int level, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* lb_http.c: the classic endpoint POST /lms4labs/labmanager/requests/. */
struct lb_http;

struct lb_http	*lb_http_start(struct lb *, struct event_base *,
		    const char *listen, char *err, size_t errlen);
void		 lb_http_stop(struct lb_http *);

#endif /* LB_H */
