/*
 * authn.c: who is asking. One function per kind of caller, so that TLS
 * client certificates, Basic and cookies slot in here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ecsd.h"
#include "util.h"

/* Map the request to a participant; 0, or -1 after replying 401. */
int
authn_participant(struct req *rq)
{
	struct ecsd		*env = rq->rq_env;
	struct ecs_error	 err;
	const char		*id = req_header(rq, "X-EcsAuthId");
	int64_t			 pid;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	if (id != NULL && !netlist_match_str(&env->e_conf.c_trusted_nets,
	    rq->rq_peer)) {
		log_warnx("X-EcsAuthId from untrusted address %s ignored",
		    rq->rq_peer);
		reply_text(rq, 401, "\"X-EcsAuthId\" is not accepted from "
		    "this address");
		return -1;
	}
	if ((e = broker_auth_id(env->e_store, id, &pid, &err)) != ECS_OK) {
		reply_error(rq, &err);
		return -1;
	}
	if ((e = store_participant_get(env->e_store, pid, &rq->rq_caller)) !=
	    ECS_OK) {
		broker_fail(&err, ECS_EAUTH, "\"X-EcsAuthId: %s\" is not "
		    "assigned any participant", id);
		reply_error(rq, &err);
		return -1;
	}
	rq->rq_authed = 1;
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
