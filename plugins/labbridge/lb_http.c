/*
 * lb_http.c: the classic lms4labs endpoint for unchanged LMS plug-ins,
 * POST /lms4labs/labmanager/requests/ (and the later /labmanager/requests/)
 * with the LMS's HTTP Basic credentials, or lms_username and lms_password
 * in the JSON body when no Authorization header is sent.  The request runs
 * through the same job as an lms4labs/requests message and is answered
 * within the request with the classic plain text.
 *
 * The listener is an evhttp on the host's event base (plugin key
 * listen = address:port).  A front end routes /lms4labs/labmanager/ to it;
 * see labbridge(7).  A client that goes away before its answer only makes
 * the job forget it: the connection's close callback clears the request.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "lb.h"

#define LB_HTTP_TIMEOUT	60

struct lb_http {
	struct lb	*h_lb;
	struct evhttp	*h_http;
	TAILQ_HEAD(, lb_hreq) h_reqs;
};

/* One request waiting for its job. */
struct lb_hreq {
	TAILQ_ENTRY(lb_hreq)	 hr_entry;
	struct lb_http		*hr_h;
	struct evhttp_request	*hr_req;	/* NULL once the client left */
	struct lb_job		*hr_job;
};

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode base64 into out (NUL-terminated); 0, or -1. */
static int
b64decode(const char *in, char *out, size_t outlen)
{
	size_t		 o = 0;
	unsigned int	 acc = 0;
	int		 bits = 0, v;

	for (; *in != '\0' && *in != '='; in++) {
		if ((v = b64val((unsigned char)*in)) == -1)
			return -1;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return strlen(out) == o ? 0 : -1;
}

static void
reply_text(struct evhttp_request *req, int status, const char *reason,
    const char *text)
{
	struct evbuffer	*b;

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(b, text, strlen(text));
	evhttp_send_reply(req, status, reason, b);
	evbuffer_free(b);
}

static void
reply_login(struct evhttp_request *req)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "WWW-Authenticate", "Basic realm=\"Login Required\"");
	reply_text(req, 401, "Unauthorized",
	    "Could not verify your access level for that URL.\n"
	    "You have to login with proper credentials");
}

static void
hreq_free(struct lb_hreq *hr)
{
	TAILQ_REMOVE(&hr->hr_h->h_reqs, hr, hr_entry);
	if (hr->hr_req != NULL)
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(hr->hr_req), NULL, NULL);
	free(hr);
}

static void
client_gone(struct evhttp_connection *conn, void *arg)
{
	struct lb_hreq	*hr = arg;

	hr->hr_req = NULL;
}

static void
job_done(struct lb_job *j, void *arg)
{
	struct lb_hreq	*hr = arg;

	if (hr->hr_req != NULL) {
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(hr->hr_req), NULL, NULL);
		reply_text(hr->hr_req, 200, "OK", lb_job_answer(j));
		hr->hr_req = NULL;
	}
	hr->hr_job = NULL;
	lb_job_free(j);
	hreq_free(hr);
}

/* The LMS of the request's credentials, or NULL. */
static const struct lb_lms *
authenticate(struct lb_http *h, struct evhttp_request *req, const char *body,
    size_t len)
{
	struct lb_conf		*cf = lb_conf_current(h->h_lb);
	const struct lb_lms	*lm = NULL;
	struct lb_json		*doc = NULL;
	const char		*auth, *login, *pw;
	char			 cred[512], *colon;

	if (cf == NULL)
		return NULL;
	auth = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (auth != NULL) {
		if (strncasecmp(auth, "Basic ", 6) != 0)
			return NULL;
		for (auth += 6; *auth == ' '; auth++)
			;
		if (b64decode(auth, cred, sizeof(cred)) == -1 ||
		    (colon = strchr(cred, ':')) == NULL)
			return NULL;
		*colon = '\0';
		lm = lb_conf_lms_by_login(cf, cred, colon + 1);
		explicit_bzero(cred, sizeof(cred));
		return lm;
	}
	/* No header: the body may carry lms_username and lms_password. */
	if (lb_json_parse(body, len, &doc) == 0) {
		login = lb_json_str(lb_json_get(doc, "lms_username"));
		pw = lb_json_str(lb_json_get(doc, "lms_password"));
		if (login != NULL && pw != NULL)
			lm = lb_conf_lms_by_login(cf, login, pw);
	}
	lb_json_free(doc);
	return lm;
}

static int
path_ok(const char *uri)
{
	static const char *const paths[] = {
		"/lms4labs/labmanager/requests/",
		"/lms4labs/labmanager/requests",
		"/labmanager/requests/",
		"/labmanager/requests",
	};
	size_t	 i, n;

	n = strcspn(uri, "?");
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strlen(paths[i]) == n && strncmp(uri, paths[i], n) == 0)
			return 1;
	return 0;
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct lb_http		*h = arg;
	const struct lb_lms	*lm;
	struct lb_hreq		*hr;
	struct evbuffer		*in;
	const char		*body;
	size_t			 len;

	if (!path_ok(evhttp_request_get_uri(req))) {
		reply_text(req, 404, "Not Found", "Not Found\n");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "POST");
		reply_text(req, 405, "Method Not Allowed",
		    "Method Not Allowed\n");
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	body = (const char *)evbuffer_pullup(in, -1);
	if (body == NULL)
		body = "";
	if ((lm = authenticate(h, req, body, len)) == NULL) {
		reply_login(req);
		return;
	}
	if ((hr = calloc(1, sizeof(*hr))) == NULL ||
	    (hr->hr_job = lb_job_new(h->h_lb, "http")) == NULL) {
		free(hr);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	hr->hr_h = h;
	hr->hr_req = req;
	TAILQ_INSERT_TAIL(&h->h_reqs, hr, hr_entry);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    client_gone, hr);
	lb_job_start(hr->hr_job, lm, body, len, job_done, hr);
}

/* Split "host:port" or "[v6]:port". */
static int
split_hostport(const char *s, char *host, size_t hlen, unsigned short *port)
{
	const char	*c;
	char		*end;
	long		 p;

	if (*s == '[') {
		if ((c = strchr(s, ']')) == NULL || c[1] != ':')
			return -1;
		snprintf(host, hlen, "%.*s", (int)(c - s - 1), s + 1);
		c++;
	} else {
		if ((c = strrchr(s, ':')) == NULL)
			return -1;
		snprintf(host, hlen, "%.*s", (int)(c - s), s);
	}
	p = strtol(c + 1, &end, 10);
	if (*host == '\0' || end == c + 1 || *end != '\0' || p < 0 ||
	    p > 65535)
		return -1;
	*port = (unsigned short)p;
	return 0;
}

/* Start the classic endpoint on listen; logs the address it bound. */
struct lb_http *
lb_http_start(struct lb *lb, struct event_base *base, const char *listen,
    char *err, size_t errlen)
{
	struct lb_http			*h;
	struct evhttp_bound_socket	*bs;
	struct sockaddr_storage		 ss;
	socklen_t			 sl = sizeof(ss);
	char				 host[256], addr[256];
	unsigned short			 port;
	int				 bound = -1;

	if (split_hostport(listen, host, sizeof(host), &port) == -1) {
		snprintf(err, errlen, "want address:port");
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->h_http = evhttp_new(base)) == NULL) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->h_lb = lb;
	TAILQ_INIT(&h->h_reqs);
	evhttp_set_max_body_size(h->h_http, LB_MAX_BODY);
	evhttp_set_max_headers_size(h->h_http, 65536);
	evhttp_set_timeout(h->h_http, LB_HTTP_TIMEOUT);
	evhttp_set_allowed_methods(h->h_http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(h->h_http, handle, h);
	if ((bs = evhttp_bind_socket_with_handle(h->h_http, host,
	    port)) == NULL) {
		snprintf(err, errlen, "cannot bind");
		lb_http_stop(h);
		return NULL;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->
			    sin_addr, addr, sizeof(addr));
			bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->
			    sin6_addr, addr, sizeof(addr));
			bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	if (bound == -1)
		snprintf(addr, sizeof(addr), "%s", host);
	lb_log(lb, 1, "classic endpoint listening on %s%s%s:%d",
	    strchr(addr, ':') != NULL ? "[" : "", addr,
	    strchr(addr, ':') != NULL ? "]" : "", bound != -1 ? bound : port);
	return h;
}

void
lb_http_stop(struct lb_http *h)
{
	struct lb_hreq	*hr;

	if (h == NULL)
		return;
	while ((hr = TAILQ_FIRST(&h->h_reqs)) != NULL) {
		if (hr->hr_job != NULL)
			lb_job_free(hr->hr_job);
		hreq_free(hr);
	}
	evhttp_free(h->h_http);
	free(h);
}
