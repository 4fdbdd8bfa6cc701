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

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ecsd.h"
#include "passwd.h"
#include "rand.h"
#include "util.h"

#define BASIC_CACHE_SECS	300	/* a verified password is kept this long */
#define FAIL_WINDOW		300	/* failures counted over this window */
#define FAIL_FREE		5	/* failures answered without delay */
#define FAIL_MAX_DELAY		10

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
	util_fail(&err, ECS_EAUTH, fmt, esc);
#pragma GCC diagnostic pop
	reply_error(rq, &err);
	return -1;
}

/* Look up an identity; 0 and the caller, or -1 (not found or store). */
static int
identity(struct req *rq, const char *name, int64_t *pid)
{
	if (cache_identity(rq->rq_env, name, &rq->rq_caller) != ECS_OK)
		return -1;
	*pid = rq->rq_caller.p_id;
	return 0;
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

int
authn_init(struct ecsd *env)
{
	struct authn_state	*as = &env->e_authn;
	char			 hex[33];

	memset(as, 0, sizeof(*as));
	if (rand_hex(hex, 16) != ECS_OK)
		return -1;
	memcpy(as->as_salt, hex, sizeof(as->as_salt));
	/* Unknown users are checked against this, at the same cost. */
	if (rand_hex(hex, 16) != ECS_OK ||
	    passwd_hash(hex, as->as_dummy, sizeof(as->as_dummy)) != ECS_OK)
		return -1;
	return 0;
}

/* Forget verified passwords (after a password changed). */
void
authn_forget(struct ecsd *env)
{
	OPENSSL_cleanse(env->e_authn.as_cache, sizeof(env->e_authn.as_cache));
}

static void
cache_key(struct authn_state *as, const char *user, const char *pw,
    unsigned char *key)
{
	EVP_MD_CTX	*md;
	unsigned int	 n = 32;

	memset(key, 0, 32);
	if ((md = EVP_MD_CTX_new()) == NULL)
		return;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, as->as_salt, sizeof(as->as_salt));
	EVP_DigestUpdate(md, user, strlen(user) + 1);
	EVP_DigestUpdate(md, pw, strlen(pw));
	EVP_DigestFinal_ex(md, key, &n);
	EVP_MD_CTX_free(md);
}

static struct authn_fail *
fail_slot(struct authn_state *as, const char *addr, int create)
{
	struct authn_fail	*f, *old = NULL;
	time_t			 now = time(NULL);
	int			 i;

	for (i = 0; i < AUTHN_FAILS; i++) {
		f = &as->as_fails[i];
		if (strcmp(f->af_addr, addr) == 0) {
			if (now - f->af_first > FAIL_WINDOW) {
				f->af_count = 0;
				f->af_first = now;
			}
			return f;
		}
		if (old == NULL || f->af_first < old->af_first)
			old = f;
	}
	if (!create)
		return NULL;
	snprintf(old->af_addr, sizeof(old->af_addr), "%s", addr);
	old->af_count = 0;
	old->af_first = now;
	return old;
}

/*
 * HTTP Basic against the identities' password hashes; 0 with the caller,
 * or -1 after the 401 (delayed when this address keeps failing).
 */
static int
authn_basic(struct req *rq, const char *h)
{
	struct ecsd		*env = rq->rq_env;
	struct authn_state	*as = &env->e_authn;
	struct authn_fail	*f;
	unsigned char		 dec[512], key[32];
	char			 hash[PASSWD_MAX + 1], esc[200], msg[400];
	char			*user, *pw;
	int64_t			 pid = 0;
	int			 n, i, ok = 0, found;
	size_t			 len;
	time_t			 now = time(NULL);

	while (*h == ' ')
		h++;
	len = strlen(h);
	if (len == 0 || len > 4 * (sizeof(dec) / 3) - 4 ||
	    (n = EVP_DecodeBlock(dec, (const unsigned char *)h, (int)len)) < 0) {
		reply_text(rq, 401, "Malformed Basic credentials");
		return -1;
	}
	while (len > 0 && h[len - 1] == '=') {
		n--;
		len--;
	}
	dec[n] = '\0';
	user = (char *)dec;
	if ((pw = strchr(user, ':')) == NULL ||
	    memchr(dec, '\0', (size_t)n) != NULL) {
		reply_text(rq, 401, "Malformed Basic credentials");
		return -1;
	}
	*pw++ = '\0';
	cache_key(as, user, pw, key);
	for (i = 0; i < AUTHN_CACHE; i++) {
		struct authn_cached *c = &as->as_cache[i];

		if (c->ac_expires > now && strcmp(c->ac_user, user) == 0 &&
		    CRYPTO_memcmp(c->ac_key, key, sizeof(key)) == 0) {
			pid = c->ac_pid;
			ok = 1;
			break;
		}
	}
	if (!ok) {
		found = store_identity_password(env->e_store, user, &pid, hash,
		    sizeof(hash)) == ECS_OK;
		if (!found) {
			log_debug("basic: unknown user, checked against the "
			    "dummy hash");
			(void)passwd_verify(pw, as->as_dummy);
		} else
			ok = passwd_verify(pw, hash);
		if (ok) {
			struct authn_cached *c = &as->as_cache[as->as_next];

			as->as_next = (as->as_next + 1) % AUTHN_CACHE;
			snprintf(c->ac_user, sizeof(c->ac_user), "%s", user);
			memcpy(c->ac_key, key, sizeof(key));
			c->ac_pid = pid;
			c->ac_expires = now + BASIC_CACHE_SECS;
		}
	}
	log_escape(user, esc, sizeof(esc));
	OPENSSL_cleanse(dec, sizeof(dec));
	if (ok && store_participant_get(env->e_store, pid, &rq->rq_caller) ==
	    ECS_OK) {
		snprintf(rq->rq_authid, sizeof(rq->rq_authid), "%s", esc);
		return 0;
	}
	f = fail_slot(as, rq->rq_peer, 1);
	f->af_count++;
	log_warnx("%s: Basic authentication of \"%s\" failed (%d in %ds)",
	    rq->rq_peer, esc, f->af_count, (int)(now - f->af_first));
	reply_add_header(rq, "WWW-Authenticate", "Basic realm=\"ecsd\"");
	snprintf(msg, sizeof(msg), "Invalid credentials for \"%s\"", esc);
	reply_text(rq, 401, msg);
	if (f->af_count > FAIL_FREE)
		http_delay(rq, f->af_count - FAIL_FREE > FAIL_MAX_DELAY ?
		    FAIL_MAX_DELAY : f->af_count - FAIL_FREE);
	return -1;
}

/* A verified client certificate maps to an identity (fingerprint or DN). */
static int
authn_cert(struct req *rq, int *done)
{
	char	 fpr[100], dn[512], esc[600], msg[700];
	int64_t	 pid;
	int	 r;

	*done = 0;
	r = tls_peer_identity(rq->rq_conn ? rq->rq_conn->c_bev : NULL, fpr,
	    sizeof(fpr), dn, sizeof(dn));
	if (r == 0)
		return 0;
	*done = 1;
	if (r < 0) {
		reply_text(rq, 401, "Client certificate not verified");
		return -1;
	}
	if (identity(rq, fpr, &pid) == 0 || (dn[0] != '\0' &&
	    identity(rq, dn, &pid) == 0)) {
		snprintf(rq->rq_authid, sizeof(rq->rq_authid), "%s", fpr);
		return 0;
	}
	log_escape(dn, esc, sizeof(esc));
	log_warnx("%s: client certificate %s (%s) maps to no participant",
	    rq->rq_peer, esc, fpr);
	snprintf(msg, sizeof(msg), "Client certificate \"%s\" is not mapped "
	    "to any participant", esc);
	reply_text(rq, 401, msg);
	return -1;
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
	const char	*basic;
	char		 v[256];
	int64_t		 pid;
	int		 trusted, done = 0;

	trusted = netlist_match_str(&env->e_conf.c_trusted_nets, rq->rq_peer);
	basic = req_header(rq, "Authorization");
	if (basic != NULL && strncasecmp(basic, "Basic ", 6) != 0)
		basic = NULL;
	if (rq->rq_tls && authn_cert(rq, &done) != 0)
		return -1;
	if (done) {
		;
	} else if (cookie_value(rq, COOKIE_SUB, v, sizeof(v)) &&
	    !util_blank(v)) {
		if (identity(rq, v, &pid) != 0)
			return fail401(rq, "No valid identity found for "
			    "subparticipant cookie: %s", v);
		if (strcmp(rq->rq_caller.p_ptype, "sub") != 0)
			return fail401(rq, "Subparticipant-Cookie: %s\" is not "
			    "assigned any subparticipant", v);
		util_strlcpy(rq->rq_authid, v, sizeof(rq->rq_authid));
	} else if (basic != NULL && !(trusted && id != NULL && !util_blank(id))) {
		/* A front end that authenticated says so in X-EcsAuthId. */
		if (authn_basic(rq, basic + 6) != 0)
			return -1;
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
		util_strlcpy(rq->rq_authid, v, sizeof(rq->rq_authid));
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
		if (identity(rq, id, &pid) != 0)
			return fail401(rq, "No \"X-EcsAuthId: %s\" identity "
			    "found", id);
		util_strlcpy(rq->rq_authid, id, sizeof(rq->rq_authid));
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
