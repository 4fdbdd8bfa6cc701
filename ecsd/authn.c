/*
 * authn.c: who is asking (protocol section 4.1). The subparticipant
 * cookie, then anonymous participants (when enabled), then X-EcsAuthId
 * from a trusted front end. TLS client certificates and Basic slot in here.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "ecsd.h"
#include "util.h"

#define COOKIE_SUB	"ecs_subparticipant"
#define COOKIE_ANON	"ecs_anonymous"
#define COOKIE_LIFE	3600

/* The value of cookie name in the Cookie header, or 0 if absent. */
static int
cookie_value(struct req *rq, const char *name, char *out, size_t len)
{
	const char	*h = req_header_list(rq, "Cookie");
	const char	*p, *end, *eq;
	size_t		 n = strlen(name), vlen;

	if (h == NULL)
		return 0;
	for (p = h; *p != '\0'; p = *end ? end + 1 : end) {
		while (*p == ' ' || *p == '\t' || *p == ';' || *p == ',')
			p++;
		end = p + strcspn(p, ";,");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL || (size_t)(eq - p) != n ||
		    strncmp(p, name, n) != 0)
			continue;
		eq++;
		while (eq < end && *eq == ' ')
			eq++;
		vlen = (size_t)(end - eq);
		while (vlen > 0 && isspace((unsigned char)eq[vlen - 1]))
			vlen--;
		if (vlen >= len)
			vlen = len - 1;
		memcpy(out, eq, vlen);
		out[vlen] = '\0';
		return 1;
	}
	return 0;
}

static void
set_cookie(struct req *rq, const char *name, const char *value)
{
	struct tm	 tm;
	time_t		 t = time(NULL) + COOKIE_LIFE;
	char		 exp[64], buf[512];

	gmtime_r(&t, &tm);
	strftime(exp, sizeof(exp), "%a, %d-%b-%Y %H:%M:%S GMT", &tm);
	snprintf(buf, sizeof(buf), "%s=%s; path=/; expires=%s", name, value,
	    exp);
	reply_add_header(rq, "Set-Cookie", buf);
}

static int	 fail401(struct req *, const char *, const char *)
		    __attribute__((format(printf, 2, 0)));

static int
fail401(struct req *rq, const char *fmt, const char *v)
{
	struct ecs_error	 err;
	char			 esc[300];

	memset(&err, 0, sizeof(err));
	log_escape(v, esc, sizeof(esc));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	broker_fail(&err, ECS_EAUTH, fmt, esc);
#pragma GCC diagnostic pop
	reply_error(rq, &err);
	return -1;
}

/* Look up an identity; 0 and the caller, or -1 (not found or store). */
static int
identity(struct req *rq, const char *name, int64_t *pid)
{
	enum ecs_err	 e;

	e = store_identity_pid(rq->rq_env->e_store, name, pid);
	if (e == ECS_OK)
		e = store_participant_get(rq->rq_env->e_store, *pid,
		    &rq->rq_caller);
	return e == ECS_OK ? 0 : -1;
}

static int
anonymous_new(struct req *rq)
{
	struct ecsd	*env = rq->rq_env;
	char		 cookie[64];
	int64_t		 pid;
	enum ecs_err	 e;

	if (http_begin_write(rq) != 0)
		return -1;
	e = broker_anonymous_create(env->e_store, time(NULL) +
	    (time_t)env->e_conf.c_anon_ttl, cookie, &pid);
	if (e == ECS_OK)
		e = store_participant_get(env->e_store, pid, &rq->rq_caller);
	http_end_write(rq, e == ECS_OK);
	if (e != ECS_OK) {
		reply_text(rq, err_status(e), "Cannot create an anonymous "
		    "participant");
		return -1;
	}
	log_info("%s: new anonymous participant pid=%lld", rq->rq_peer,
	    (long long)pid);
	snprintf(rq->rq_authid, sizeof(rq->rq_authid), "%s", cookie);
	return 0;
}

/*
 * Map the request to a participant; 0, or -1 after replying 401.
 * AUTHN_COOKIES: emit the cookie of anonymous and subparticipant callers;
 * AUTHN_TTL: a message resource, which refreshes an anonymous TTL (4.3).
 */
int
authn_participant(struct req *rq, int flags)
{
	struct ecsd	*env = rq->rq_env;
	const char	*id = req_header(rq, "X-EcsAuthId");
	char		 v[256];
	int64_t		 pid;
	int		 trusted;

	trusted = netlist_match_str(&env->e_conf.c_trusted_nets, rq->rq_peer);
	if (cookie_value(rq, COOKIE_SUB, v, sizeof(v)) && !util_blank(v)) {
		if (identity(rq, v, &pid) != 0)
			return fail401(rq, "No valid identity found for "
			    "subparticipant cookie: %s", v);
		if (strcmp(rq->rq_caller.p_ptype, "sub") != 0)
			return fail401(rq, "Subparticipant-Cookie: %s\" is not "
			    "assigned any subparticipant", v);
		snprintf(rq->rq_authid, sizeof(rq->rq_authid), "%s", v);
	} else if (env->e_conf.c_allow_anonymous && (id == NULL ||
	    util_blank(id) || !trusted) && req_header(rq, "Cookie") == NULL) {
		if (anonymous_new(rq) != 0)
			return -1;
	} else if (env->e_conf.c_allow_anonymous &&
	    cookie_value(rq, COOKIE_ANON, v, sizeof(v)) && !util_blank(v)) {
		if (identity(rq, v, &pid) != 0)
			return fail401(rq, "No valid identity found for "
			    "cookie: %s", v);
		if (strcmp(rq->rq_caller.p_ptype, "anonym") != 0)
			return fail401(rq, "Cookie: %s\" is not assigned any "
			    "anonymous participant", v);
		snprintf(rq->rq_authid, sizeof(rq->rq_authid), "%s", v);
	} else {
		if (id != NULL && !trusted) {
			log_warnx("X-EcsAuthId from untrusted address %s "
			    "refused", rq->rq_peer);
			reply_text(rq, 401, "\"X-EcsAuthId\" is not accepted "
			    "from this address");
			return -1;
		}
		if (id == NULL || util_blank(id)) {
			reply_text(rq, 401, "No \"X-EcsAuthId\" http header");
			return -1;
		}
		if (store_identity_pid(env->e_store, id, &pid) != ECS_OK)
			return fail401(rq, "No \"X-EcsAuthId: %s\" identity "
			    "found", id);
		if (store_participant_get(env->e_store, pid, &rq->rq_caller) !=
		    ECS_OK)
			return fail401(rq, "\"X-EcsAuthId: %s\" is not assigned "
			    "any participant", id);
		snprintf(rq->rq_authid, sizeof(rq->rq_authid), "%s", id);
	}
	rq->rq_authed = 1;
	if ((flags & AUTHN_TTL) &&
	    strcmp(rq->rq_caller.p_ptype, "anonym") == 0) {
		if (http_begin_write(rq) != 0)
			return -1;
		http_end_write(rq, store_participant_set_ttl(env->e_store,
		    rq->rq_caller.p_id, time(NULL) +
		    (time_t)env->e_conf.c_anon_ttl) == ECS_OK);
	}
	if (flags & AUTHN_COOKIES) {
		if (strcmp(rq->rq_caller.p_ptype, "anonym") == 0)
			set_cookie(rq, COOKIE_ANON, rq->rq_authid);
		else if (strcmp(rq->rq_caller.p_ptype, "sub") == 0)
			set_cookie(rq, COOKIE_SUB, rq->rq_authid);
	}
	return 0;
}

/* Admin API: address in admin_allow and Basic admin:<password>. */
int
authn_admin(struct req *rq)
{
	struct ecsd	*env = rq->rq_env;
	const char	*h = req_header(rq, "Authorization");
	unsigned char	 dec[512];
	char		 expect[300];
	int		 n, ok = 0;
	size_t		 len;

	if (!netlist_match_str(&env->e_conf.c_admin_nets, rq->rq_peer)) {
		reply(rq, 403, "text/plain", "Admin API not allowed from this "
		    "address\n", 40);
		return -1;
	}
	if (h != NULL && strncasecmp(h, "Basic ", 6) == 0) {
		h += 6;
		while (*h == ' ')
			h++;
		len = strlen(h);
		if (len < 4 * (sizeof(dec) / 3) - 4) {
			n = EVP_DecodeBlock(dec, (const unsigned char *)h,
			    (int)len);
			if (n > 0) {
				while (len > 0 && h[len - 1] == '=') {
					n--;
					len--;
				}
				dec[n] = '\0';
				snprintf(expect, sizeof(expect), "admin:%s",
				    env->e_admin_pw);
				ok = (size_t)n == strlen(expect) &&
				    util_streq_ct((const char *)dec, expect);
				OPENSSL_cleanse(expect, sizeof(expect));
				OPENSSL_cleanse(dec, sizeof(dec));
			}
		}
	}
	if (!ok) {
		reply_add_header(rq, "WWW-Authenticate",
		    "Basic realm=\"ecsd admin\"");
		reply(rq, 401, "text/plain", "Admin credentials required\n",
		    27);
		return -1;
	}
	rq->rq_admin = 1;
	return 0;
}
