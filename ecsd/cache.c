/*
 * cache.c: identity and resource lookups, the first two queries of every
 * request, kept in memory while the store's generation stays the same
 * (any change to participants, identities, organizations or resources, and
 * any rollback, moves it on and so empties the cache).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecsd.h"
#include "util.h"

static size_t
cache_hash(const char *a, const char *b)
{
	uint64_t	 h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *a != '\0'; a++)
		h = (h ^ (unsigned char)*a) * 1099511628211ULL;
	if (b != NULL) {
		h = (h ^ '/') * 1099511628211ULL;
		for (; *b != '\0'; b++)
			h = (h ^ (unsigned char)*b) * 1099511628211ULL;
	}
	return (size_t)(h % CACHE_SLOTS);
}

int
cache_init(struct ecsd *env)
{
	env->e_cache = calloc(1, sizeof(*env->e_cache));
	return env->e_cache != NULL ? 0 : -1;
}

void
cache_free(struct ecsd *env)
{
	free(env->e_cache);
	env->e_cache = NULL;
}

/* The participant of an identity name (ECS_ENOTFOUND when none). */
enum ecs_err
cache_identity(struct ecsd *env, const char *name, struct ecs_participant *p)
{
	struct idcache_ent	*ic;
	uint64_t		 gen = store_generation(env->e_store) + 1;
	int64_t			 pid;
	enum ecs_err		 e;

	ic = &env->e_cache->lc_ids[cache_hash(name, NULL)];
	if (ic->ic_gen == gen && strcmp(ic->ic_name, name) == 0) {
		*p = ic->ic_p;
		return ECS_OK;
	}
	if ((e = store_identity_pid(env->e_store, name, &pid)) != ECS_OK ||
	    (e = store_participant_get(env->e_store, pid, p)) != ECS_OK)
		return e;
	if (strlen(name) < sizeof(ic->ic_name)) {
		ic->ic_gen = gen;
		util_strlcpy(ic->ic_name, name, sizeof(ic->ic_name));
		ic->ic_p = *p;
	}
	return ECS_OK;
}

enum ecs_err
cache_resource(struct ecsd *env, const char *ns, const char *name,
    struct ecs_resource *r)
{
	struct rescache_ent	*rc;
	uint64_t		 gen = store_generation(env->e_store) + 1;
	char			 key[260];
	size_t			 n;
	enum ecs_err		 e;

	n = util_append(key, sizeof(key), 0, ns, strlen(ns));
	n = util_append(key, sizeof(key), n, "/", 1);
	if (util_append(key, sizeof(key), n, name, strlen(name)) >=
	    sizeof(key))
		return store_resource_find(env->e_store, ns, name, r);
	rc = &env->e_cache->lc_res[cache_hash(ns, name)];
	if (rc->rc_gen == gen && strcmp(rc->rc_key, key) == 0) {
		*r = rc->rc_r;
		return ECS_OK;
	}
	if ((e = store_resource_find(env->e_store, ns, name, r)) != ECS_OK)
		return e;
	rc->rc_gen = gen;
	util_strlcpy(rc->rc_key, key, sizeof(rc->rc_key));
	rc->rc_r = *r;
	return ECS_OK;
}
