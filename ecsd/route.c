/*
 * route.c: the route table of protocol section 5.1. Routing comes before
 * authentication: unknown paths get 404, wrong methods 405 with Allow.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "ecsd.h"

#define M_GET	0x01
#define M_POST	0x02
#define M_PUT	0x04
#define M_DEL	0x08

#define MAX_SEG	6

static int
method_bit(struct req *rq)
{
	switch (rq->rq_method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		return M_GET;
	case EVHTTP_REQ_POST:
		return M_POST;
	case EVHTTP_REQ_PUT:
		return M_PUT;
	case EVHTTP_REQ_DELETE:
		return M_DEL;
	default:
		return 0;
	}
}

/* 0 when the method is allowed, else -1 after replying 405. */
static int
allow(struct req *rq, int mask)
{
	char	 buf[64] = "";

	if (method_bit(rq) & mask)
		return 0;
	if (mask & M_GET)
		strcat(buf, "GET, HEAD, ");
	if (mask & M_POST)
		strcat(buf, "POST, ");
	if (mask & M_PUT)
		strcat(buf, "PUT, ");
	if (mask & M_DEL)
		strcat(buf, "DELETE, ");
	buf[strlen(buf) - 2] = '\0';
	reply_add_header(rq, "Allow", buf);
	reply(rq, 405, "text/html", NULL, 0);
	return -1;
}

static void
not_found(struct req *rq)
{
	char	 msg[600], esc[400];

	log_escape(rq->rq_path, esc, sizeof(esc));
	snprintf(msg, sizeof(msg), "No route matches \"%s\" with "
	    "{:method=>:%s}", esc, rq->rq_mname);
	reply_text(rq, 404, msg);
}

/* Split a path's last segment into name and format suffix. */
static char
suffix(char *seg)
{
	char	*dot = strrchr(seg, '.');

	if (dot == NULL)
		return 0;
	if (strcmp(dot, ".json") == 0) {
		*dot = '\0';
		return 'j';
	}
	if (strcmp(dot, ".xml") == 0) {
		*dot = '\0';
		return 'x';
	}
	if (strcmp(dot, ".txt") == 0 || strcmp(dot, ".text") == 0) {
		*dot = '\0';
		return 't';
	}
	return 0;
}

/* seg is name, or name with a format suffix (.json, .xml, .txt). */
static int
is_name(const char *seg, const char *name)
{
	size_t	 n = strlen(name);

	if (strncmp(seg, name, n) != 0)
		return 0;
	return seg[n] == '\0' || strcmp(seg + n, ".json") == 0 ||
	    strcmp(seg + n, ".xml") == 0 || strcmp(seg + n, ".txt") == 0 ||
	    strcmp(seg + n, ".text") == 0;
}

static void
route_sys(struct req *rq, char **seg, int n, int legacy)
{
	char	 fmt = suffix(seg[n - 1]);
	int	 base = legacy ? 0 : 1;

	n -= base;
	seg += base;
	if (n == 1 && strcmp(seg[0], "memberships") == 0) {
		if (allow(rq, M_GET) == 0 && authn_participant(rq, AUTHN_COOKIES) == 0)
			res_memberships(rq, fmt);
		return;
	}
	if (n == 1 && strcmp(seg[0], "events") == 0) {
		if (allow(rq, M_GET) == 0 &&
		    authn_participant(rq, AUTHN_COOKIES) == 0)
			res_events(rq, 0, fmt);
		return;
	}
	if (n == 2 && strcmp(seg[0], "events") == 0 &&
	    strcmp(seg[1], "fifo") == 0) {
		if (allow(rq, M_GET | M_POST) == 0 &&
		    authn_participant(rq, AUTHN_COOKIES) == 0)
			res_events(rq, 1, fmt);
		return;
	}
	if (!legacy && n == 1 && strcmp(seg[0], "configs") == 0) {
		if (allow(rq, M_GET | M_POST) == 0 &&
		    authn_participant(rq, AUTHN_COOKIES) == 0)
			res_configs(rq, fmt);
		return;
	}
	if (!legacy && n == 1 && strcmp(seg[0], "subparticipants") == 0) {
		if (allow(rq, M_GET | M_POST) == 0 &&
		    authn_participant(rq, 0) == 0)
			res_subparticipants(rq, seg, n, fmt);
		return;
	}
	if (!legacy && n == 2 && strcmp(seg[0], "subparticipants") == 0) {
		if (allow(rq, M_GET | M_PUT | M_DEL) == 0 &&
		    authn_participant(rq, 0) == 0)
			res_subparticipants(rq, seg, n, fmt);
		return;
	}
	not_found(rq);
}

void
route_dispatch(struct req *rq)
{
	struct ecs_resource	 r;
	char			 path[512], *copy = path;
	char			*seg[MAX_SEG], *p, *save = NULL;
	size_t			 len = strlen(rq->rq_path);
	int			 n = 0, mask;
	enum ecs_err		 e;

	/* The segments are cut from a copy, on the stack unless it is long. */
	if (len >= sizeof(path) && (copy = malloc(len + 1)) == NULL) {
		reply_text(rq, 500, "Out of memory");
		return;
	}
	memcpy(copy, rq->rq_path, len + 1);
	for (p = strtok_r(copy, "/", &save); p != NULL;
	    p = strtok_r(NULL, "/", &save)) {
		if (n == MAX_SEG) {
			n = MAX_SEG + 1;
			break;
		}
		seg[n++] = p;
	}
	if (n == 0 || n > MAX_SEG) {
		not_found(rq);
		goto done;
	}
	if (strcmp(seg[0], "admin") == 0) {
		admin_dispatch(rq, seg + 1, n - 1);
		goto done;
	}
	/* Legacy aliases without /sys (5.1 #1-3), format suffix allowed. */
	if ((n == 1 && (is_name(seg[0], "memberships") ||
	    is_name(seg[0], "events"))) ||
	    (n == 2 && strcmp(seg[0], "events") == 0 &&
	    is_name(seg[1], "fifo"))) {
		route_sys(rq, seg, n, 1);
		goto done;
	}
	if (strcmp(seg[0], "sys") == 0 && !(n >= 2 &&
	    strcmp(seg[1], "auths") == 0)) {
		route_sys(rq, seg, n, 0);
		goto done;
	}
	if (n < 2 || n > 4) {
		not_found(rq);
		goto done;
	}
	e = cache_resource(rq->rq_env, seg[0], seg[1], &r);
	if (e == ECS_ENOTFOUND) {
		not_found(rq);
		goto done;
	}
	if (e != ECS_OK) {
		reply_text(rq, 500, "Internal storage error");
		goto done;
	}
	if (n == 2)
		mask = M_GET | M_POST;
	else if (n == 3 && (strcmp(seg[2], "fifo") == 0 ||
	    strcmp(seg[2], "lifo") == 0))
		mask = M_GET | M_POST | M_DEL;
	else if (n == 3 && strcmp(seg[2], "details") == 0)
		mask = M_GET | M_DEL;
	else if (n == 3)
		mask = M_GET | M_PUT | M_DEL;
	else if (strcmp(seg[3], "details") == 0)
		mask = M_GET;
	else {
		not_found(rq);
		goto done;
	}
	if (allow(rq, mask) == 0 &&
	    authn_participant(rq, AUTHN_COOKIES | AUTHN_TTL) == 0)
		res_messages(rq, &r, seg, n);
done:
	if (copy != path)
		free(copy);
}
