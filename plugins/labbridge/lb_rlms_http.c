/*
 * lb_rlms_http.c: the generic HTTP RLMS protocol of gateway4labs, which
 * lets a laboratory written in any language join: GET /capabilities,
 * GET /test_plugin, GET /labs, POST /reserve, GET /widgets and GET /widget,
 * all with ?context_id= and HTTP Basic credentials, JSON answers.
 *
 * Configuration object: {"name","kind":"http","url":"http://host:port/p",
 * "login","password","context_id","extension":".php","timeout":20}.
 *
 * Every call uses its own connection (Connection: close) on the host's
 * event base.  The evhttp completion only parses the answer; a zero timer
 * then calls the user's callback and frees the connection, never inside
 * evhttp's own stack.  Closing the instance frees every pending call
 * without its callback.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "lb.h"

enum hr_op {
	HR_CAPABILITIES,
	HR_TEST,
	HR_LABS,
	HR_RESERVE,
	HR_WIDGETS,
	HR_WIDGET
};

struct hr_call {
	TAILQ_ENTRY(hr_call)		 hc_entry;
	struct hr			*hc_hr;
	enum hr_op			 hc_op;
	lb_rlms_fn			 hc_fn;	/* NULL once cancelled */
	void				*hc_arg;
	struct evhttp_connection	*hc_conn;
	struct event			*hc_reap;
	struct lb_rlms_result		 hc_res;	/* once answered */
};

struct hr {
	char			*hr_host;
	int			 hr_port;
	char			*hr_prefix;	/* "" or "/path" */
	char			*hr_auth;	/* "Basic ..." or NULL */
	char			*hr_context;
	char			*hr_ext;
	int			 hr_timeout;
	TAILQ_HEAD(, hr_call)	 hr_calls;
};

static char *
base64(const char *in)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 n = strlen(in), i, o = 0;
	char			*out;
	unsigned int		 v;

	if ((out = malloc((n + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i += 3) {
		v = (unsigned int)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned int)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static void
hr_free(struct hr *h)
{
	free(h->hr_host);
	free(h->hr_prefix);
	free(h->hr_auth);
	free(h->hr_context);
	free(h->hr_ext);
	free(h);
}

static int
hr_open(struct lb_rlms *r, const struct lb_json *conf, char *err,
    size_t errlen)
{
	struct hr		*h;
	struct evhttp_uri	*u = NULL;
	const char		*url, *login, *pw, *ctx, *ext, *path;
	char			*cred = NULL, *b64;
	int64_t			 timeout = LB_RLMS_TIMEOUT;

	url = lb_json_str(lb_json_get(conf, "url"));
	login = lb_json_str(lb_json_get(conf, "login"));
	pw = lb_json_str(lb_json_get(conf, "password"));
	ctx = lb_json_str(lb_json_get(conf, "context_id"));
	ext = lb_json_str(lb_json_get(conf, "extension"));
	if (lb_json_get(conf, "timeout") != NULL &&
	    (lb_json_int(lb_json_get(conf, "timeout"), &timeout) == -1 ||
	    timeout < 1 || timeout > 600)) {
		snprintf(err, errlen, "rlms %s: bad \"timeout\"", r->rl_name);
		return -1;
	}
	if (url == NULL || (u = evhttp_uri_parse(url)) == NULL ||
	    evhttp_uri_get_host(u) == NULL ||
	    evhttp_uri_get_scheme(u) == NULL ||
	    strcmp(evhttp_uri_get_scheme(u), "http") != 0) {
		snprintf(err, errlen, "rlms %s: \"url\" must be http://host"
		    "[:port][/path]", r->rl_name);
		if (u != NULL)
			evhttp_uri_free(u);
		return -1;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto nomem;
	TAILQ_INIT(&h->hr_calls);
	h->hr_timeout = (int)timeout;
	h->hr_port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
	path = evhttp_uri_get_path(u);
	h->hr_host = strdup(evhttp_uri_get_host(u));
	h->hr_prefix = strdup(path != NULL ? path : "");
	h->hr_context = strdup(ctx != NULL ? ctx : "");
	h->hr_ext = strdup(ext != NULL ? ext : "");
	if (h->hr_host == NULL || h->hr_prefix == NULL ||
	    h->hr_context == NULL || h->hr_ext == NULL) {
		hr_free(h);
		goto nomem;
	}
	/* No trailing slash: paths are appended as "/labs". */
	while (*h->hr_prefix != '\0' &&
	    h->hr_prefix[strlen(h->hr_prefix) - 1] == '/')
		h->hr_prefix[strlen(h->hr_prefix) - 1] = '\0';
	if (login != NULL) {
		if (asprintf(&cred, "%s:%s", login, pw != NULL ? pw : "") ==
		    -1) {
			hr_free(h);
			goto nomem;
		}
		b64 = base64(cred);
		explicit_bzero(cred, strlen(cred));
		free(cred);
		if (b64 == NULL || asprintf(&h->hr_auth, "Basic %s", b64) ==
		    -1) {
			free(b64);
			h->hr_auth = NULL;
			hr_free(h);
			goto nomem;
		}
		free(b64);
	}
	evhttp_uri_free(u);
	r->rl_impl = h;
	return 0;
nomem:
	evhttp_uri_free(u);
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Free a finished or abandoned call and its connection. */
static void
call_free(struct hr_call *c)
{
	TAILQ_REMOVE(&c->hc_hr->hr_calls, c, hc_entry);
	if (c->hc_reap != NULL)
		event_free(c->hc_reap);
	if (c->hc_conn != NULL)
		evhttp_connection_free(c->hc_conn);
	lb_rlms_result_clear(&c->hc_res);
	free(c);
}

static void
hr_close(struct lb_rlms *r)
{
	struct hr	*h = r->rl_impl;

	while (!TAILQ_EMPTY(&h->hr_calls))
		call_free(TAILQ_FIRST(&h->hr_calls));
	hr_free(h);
	r->rl_impl = NULL;
}

static void
hr_cancel(struct lb_rlms *r, void *arg)
{
	struct hr	*h = r->rl_impl;
	struct hr_call	*c;

	TAILQ_FOREACH(c, &h->hr_calls, hc_entry)
		if (c->hc_arg == arg)
			c->hc_fn = NULL;
}

/*
 * Deliver an answer from a timer, outside evhttp's stack.  The call leaves
 * the instance's list first: the callback may close the instance (the last
 * reference to its configuration going away), which must not free c.
 */
static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hr_call	*c = arg;

	TAILQ_REMOVE(&c->hc_hr->hr_calls, c, hc_entry);
	if (c->hc_fn != NULL)
		c->hc_fn(&c->hc_res, c->hc_arg);
	lb_rlms_result_clear(&c->hc_res);
	event_free(c->hc_reap);
	if (c->hc_conn != NULL)
		evhttp_connection_free(c->hc_conn);
	free(c);
}

/* A string array member into *vp. */
static int
strv_get(const struct lb_json *o, const char *key, char ***vp, size_t *np)
{
	const struct lb_json	*a = lb_json_get(o, key);
	char			**v;
	size_t			  i, n = lb_json_len(a);

	if (!lb_json_is_array(a))
		return -1;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		const char *s = lb_json_str(lb_json_at(a, i));

		if ((v[i] = strdup(s != NULL ? s : "")) == NULL) {
			lb_strv_free(v, i);
			return -1;
		}
	}
	*vp = v;
	*np = n;
	return 0;
}

static char *
sdup(const struct lb_json *o, const char *key)
{
	const struct lb_json	*v = lb_json_get(o, key);
	const char		*s = lb_json_str(v);
	int64_t			 i;
	char			 num[32];

	if (s == NULL && lb_json_int(v, &i) == 0) {
		snprintf(num, sizeof(num), "%lld", (long long)i);
		s = num;
	}
	return s != NULL ? strdup(s) : NULL;
}

/* Fill res from the JSON answer of op; 0 or -1 with rr_error set. */
static int
parse_answer(enum hr_op op, const struct lb_json *j, struct lb_rlms_result *res)
{
	const struct lb_json	*a, *o;
	size_t			 i, n;

	if (!lb_json_is_object(j)) {
		snprintf(res->rr_error, sizeof(res->rr_error),
		    "answer is not a JSON object");
		return -1;
	}
	switch (op) {
	case HR_CAPABILITIES:
		if (strv_get(j, "capabilities", &res->rr_caps,
		    &res->rr_ncaps) == -1)
			goto bad;
		break;
	case HR_TEST:
		res->rr_valid = lb_json_bool(lb_json_get(j, "valid")) == 1;
		if (lb_json_get(j, "error_messages") != NULL &&
		    strv_get(j, "error_messages", &res->rr_messages,
		    &res->rr_nmessages) == -1)
			goto bad;
		break;
	case HR_LABS:
		a = lb_json_get(j, "labs");
		if (!lb_json_is_array(a))
			goto bad;
		n = lb_json_len(a);
		if ((res->rr_labs = calloc(n + 1, sizeof(*res->rr_labs))) ==
		    NULL)
			goto bad;
		for (i = 0; i < n; i++) {
			o = lb_json_at(a, i);
			res->rr_labs[i].lab_id = sdup(o, "laboratory_id");
			res->rr_labs[i].lab_name = sdup(o, "name");
			res->rr_labs[i].lab_description =
			    sdup(o, "description");
			res->rr_labs[i].lab_autoload =
			    lb_json_bool(lb_json_get(o, "autoload")) == 1;
			res->rr_nlabs = i + 1;
			if (res->rr_labs[i].lab_id == NULL)
				goto bad;
		}
		break;
	case HR_RESERVE:
		res->rr_reservation = sdup(j, "reservation_id");
		res->rr_load_url = sdup(j, "load_url");
		if (res->rr_load_url == NULL || *res->rr_load_url == '\0')
			goto bad;
		break;
	case HR_WIDGETS:
		a = lb_json_get(j, "widgets");
		if (!lb_json_is_array(a))
			goto bad;
		n = lb_json_len(a);
		if ((res->rr_widgets = calloc(n + 1,
		    sizeof(*res->rr_widgets))) == NULL)
			goto bad;
		for (i = 0; i < n; i++) {
			o = lb_json_at(a, i);
			res->rr_widgets[i].wd_name = sdup(o, "name");
			res->rr_widgets[i].wd_description =
			    sdup(o, "description");
			res->rr_nwidgets = i + 1;
			if (res->rr_widgets[i].wd_name == NULL)
				goto bad;
		}
		break;
	case HR_WIDGET:
		if ((res->rr_url = sdup(j, "url")) == NULL)
			goto bad;
		break;
	}
	return 0;
bad:
	snprintf(res->rr_error, sizeof(res->rr_error),
	    "answer lacks the expected members");
	return -1;
}

/* The evhttp completion: keep the parsed answer for reap_cb. */
static void
done_cb(struct evhttp_request *req, void *arg)
{
	struct hr_call		*c = arg;
	struct lb_rlms_result	*res = &c->hc_res;
	struct evbuffer		*in;
	struct lb_json		*j = NULL;
	struct timeval		 now = { 0, 0 };
	size_t			 len;
	int			 status;

	status = req != NULL ? evhttp_request_get_response_code(req) : 0;
	if (status == 0)
		snprintf(res->rr_error, sizeof(res->rr_error),
		    "no answer from the RLMS");
	else if (status != 200)
		snprintf(res->rr_error, sizeof(res->rr_error),
		    "RLMS answered %d", status);
	else {
		in = evhttp_request_get_input_buffer(req);
		len = evbuffer_get_length(in);
		if (lb_json_parse((const char *)evbuffer_pullup(in, -1), len,
		    &j) == -1)
			snprintf(res->rr_error, sizeof(res->rr_error),
			    "RLMS answer is not JSON");
		else if (parse_answer(c->hc_op, j, res) == 0)
			res->rr_ok = 1;
		lb_json_free(j);
	}
	if (event_add(c->hc_reap, &now) != 0)
		c->hc_fn = NULL;	/* lost; freed at close */
}

/* Start one call; 0 (the callback will run, later) or -1 (it will not). */
static int
hr_start(struct lb_rlms *r, enum hr_op op, const char *method_path,
    const char *query, const char *extra_hdr, const char *extra_val,
    const char *body, lb_rlms_fn fn, void *arg)
{
	struct hr		*h = r->rl_impl;
	struct hr_call		*c;
	struct evhttp_request	*req = NULL;
	struct evkeyvalq	*hdrs;
	struct lb_buf		 uri;
	char			*ectx;
	int			 post = body != NULL, rc;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->hc_hr = h;
	c->hc_op = op;
	c->hc_fn = fn;
	c->hc_arg = arg;
	TAILQ_INSERT_TAIL(&h->hr_calls, c, hc_entry);
	ectx = evhttp_encode_uri(h->hr_context);
	lb_buf_init(&uri, 0);
	lb_buf_printf(&uri, "%s/%s%s?context_id=%s%s%s", h->hr_prefix,
	    method_path, h->hr_ext, ectx != NULL ? ectx : "",
	    query != NULL ? "&" : "", query != NULL ? query : "");
	free(ectx);
	c->hc_reap = evtimer_new(r->rl_base, reap_cb, c);
	c->hc_conn = evhttp_connection_base_new(r->rl_base, NULL, h->hr_host,
	    (unsigned short)h->hr_port);
	if (c->hc_conn != NULL) {
		evhttp_connection_set_timeout(c->hc_conn, h->hr_timeout);
		evhttp_connection_set_max_body_size(c->hc_conn, LB_MAX_BODY);
		evhttp_connection_set_retries(c->hc_conn, 0);
		req = evhttp_request_new(done_cb, c);
	}
	if (c->hc_reap == NULL || req == NULL || uri.b_err) {
		if (req != NULL)
			evhttp_request_free(req);
		lb_buf_free(&uri);
		call_free(c);
		return -1;
	}
	hdrs = evhttp_request_get_output_headers(req);
	evhttp_add_header(hdrs, "Host", h->hr_host);
	evhttp_add_header(hdrs, "Accept", "application/json");
	evhttp_add_header(hdrs, "Connection", "close");
	if (h->hr_auth != NULL)
		evhttp_add_header(hdrs, "Authorization", h->hr_auth);
	if (extra_hdr != NULL)
		evhttp_add_header(hdrs, extra_hdr, extra_val);
	if (post) {
		evhttp_add_header(hdrs, "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(req), body,
		    strlen(body));
	}
	/* On failure evhttp has freed req. */
	rc = evhttp_make_request(c->hc_conn, req, post ? EVHTTP_REQ_POST :
	    EVHTTP_REQ_GET, lb_buf_str(&uri));
	lb_buf_free(&uri);
	if (rc != 0) {
		call_free(c);
		return -1;
	}
	return 0;
}

static int
hr_capabilities(struct lb_rlms *r, lb_rlms_fn fn, void *arg)
{
	return hr_start(r, HR_CAPABILITIES, "capabilities", NULL, NULL, NULL,
	    NULL, fn, arg);
}

static int
hr_test(struct lb_rlms *r, lb_rlms_fn fn, void *arg)
{
	return hr_start(r, HR_TEST, "test_plugin", NULL, NULL, NULL, NULL, fn,
	    arg);
}

static int
hr_labs(struct lb_rlms *r, lb_rlms_fn fn, void *arg)
{
	return hr_start(r, HR_LABS, "labs", NULL, NULL, NULL, NULL, fn, arg);
}

static int
hr_reserve(struct lb_rlms *r, const struct lb_reserve *rs, lb_rlms_fn fn,
    void *arg)
{
	struct lb_buf	 b;
	struct lb_jw	 w;
	size_t		 i;
	char		*body;
	int		 rc;

	lb_buf_init(&b, LB_MAX_BODY);
	lb_jw_init(&w, &b);
	lb_jw_obj_open(&w);
	lb_jw_kstr(&w, "laboratory_id", rs->rs_lab);
	lb_jw_kstr(&w, "username", rs->rs_user);
	lb_jw_kstr(&w, "institution", rs->rs_institution);
	lb_jw_kstr(&w, "general_configuration_str", rs->rs_general);
	lb_jw_key(&w, "particular_configurations");
	lb_jw_arr_open(&w);
	for (i = 0; i < rs->rs_nparticular; i++)
		lb_jw_str(&w, rs->rs_particular[i]);
	lb_jw_arr_close(&w);
	lb_jw_kstr(&w, "request_payload", rs->rs_payload);
	lb_jw_key(&w, "user_properties");
	lb_jw_obj_open(&w);
	lb_jw_kstr(&w, "user_agent", rs->rs_agent);
	lb_jw_kstr(&w, "from_ip", rs->rs_ip);
	lb_jw_kstr(&w, "referer", rs->rs_referer);
	lb_jw_kstr(&w, "full_name", rs->rs_fullname);
	lb_jw_obj_close(&w);
	/* The merged limits, as WebLab-Deusto's consumer_data names them. */
	if (rs->rs_time != LB_NOLIMIT)
		lb_jw_kint(&w, "time_allowed", rs->rs_time);
	if (rs->rs_priority != LB_NOLIMIT)
		lb_jw_kint(&w, "priority", rs->rs_priority);
	lb_jw_obj_close(&w);
	if ((body = lb_buf_release(&b)) == NULL)
		return -1;
	rc = hr_start(r, HR_RESERVE, "reserve", NULL, NULL, NULL, body, fn,
	    arg);
	free(body);
	return rc;
}

static int
hr_widgets(struct lb_rlms *r, const char *lab, lb_rlms_fn fn, void *arg)
{
	char	*q = NULL, *e = evhttp_encode_uri(lab);
	int	 rc = -1;

	if (e != NULL && asprintf(&q, "laboratory_id=%s", e) != -1) {
		rc = hr_start(r, HR_WIDGETS, "widgets", q, NULL, NULL, NULL,
		    fn, arg);
		free(q);
	}
	free(e);
	return rc;
}

static int
hr_widget(struct lb_rlms *r, const char *reservation, const char *name,
    lb_rlms_fn fn, void *arg)
{
	char	*q = NULL, *e = evhttp_encode_uri(name);
	int	 rc = -1;

	if (e != NULL && asprintf(&q, "widget_name=%s", e) != -1) {
		rc = hr_start(r, HR_WIDGET, "widget", q,
		    "X-G4L-reservation-id", reservation, NULL, fn, arg);
		free(q);
	}
	free(e);
	return rc;
}

const struct lb_rlms_ops lb_rlms_http_ops = {
	.ro_kind = "http",
	.ro_open = hr_open,
	.ro_close = hr_close,
	.ro_capabilities = hr_capabilities,
	.ro_test = hr_test,
	.ro_labs = hr_labs,
	.ro_reserve = hr_reserve,
	.ro_widgets = hr_widgets,
	.ro_widget = hr_widget,
	.ro_cancel = hr_cancel,
};
