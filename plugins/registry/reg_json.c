/*
 * reg_json.c: small helpers over yajl for the registry plugin: member
 * lookup on parsed trees and a generator that returns its text.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

yajl_val
rj_get(yajl_val v, const char *key)
{
	size_t	 i;

	if (v == NULL || !YAJL_IS_OBJECT(v))
		return NULL;
	for (i = 0; i < v->u.object.len; i++)
		if (strcmp(v->u.object.keys[i], key) == 0)
			return v->u.object.values[i];
	return NULL;
}

const char *
rj_str(yajl_val v, const char *key)
{
	yajl_val	 m = rj_get(v, key);

	return m != NULL && YAJL_IS_STRING(m) ? m->u.string : NULL;
}

int
rj_int(yajl_val v, const char *key, int64_t *vp)
{
	yajl_val	 m = rj_get(v, key);

	if (m == NULL || !YAJL_IS_INTEGER(m))
		return -1;
	*vp = YAJL_GET_INTEGER(m);
	return 0;
}

int
rj_num(yajl_val v, const char *key, double *vp)
{
	yajl_val	 m = rj_get(v, key);

	if (m == NULL || !YAJL_IS_NUMBER(m))
		return -1;
	*vp = YAJL_GET_DOUBLE(m);
	return 0;
}

int
rj_bool(yajl_val v, const char *key, int *vp)
{
	yajl_val	 m = rj_get(v, key);

	if (m == NULL || !(YAJL_IS_TRUE(m) || YAJL_IS_FALSE(m)))
		return -1;
	*vp = YAJL_IS_TRUE(m);
	return 0;
}

yajl_val
rj_parse(const char *text)
{
	char	 err[128];

	return yajl_tree_parse(text, err, sizeof(err));
}

yajl_gen
rj_gen(void)
{
	yajl_gen	 g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	return g;
}

void
rj_s(yajl_gen g, const char *s)
{
	if (s == NULL)
		yajl_gen_null(g);
	else
		yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void
rj_k(yajl_gen g, const char *key, const char *val)
{
	rj_s(g, key);
	rj_s(g, val);
}

void
rj_ki(yajl_gen g, const char *key, int64_t v)
{
	rj_s(g, key);
	yajl_gen_integer(g, (long long)v);
}

void
rj_kd(yajl_gen g, const char *key, double v)
{
	rj_s(g, key);
	if (floor(v) == v && fabs(v) < 1e15)
		yajl_gen_integer(g, (long long)v);
	else
		yajl_gen_double(g, v);
}

void
rj_kb(yajl_gen g, const char *key, int v)
{
	rj_s(g, key);
	yajl_gen_bool(g, v);
}

void
rj_copy(yajl_gen g, yajl_val v)
{
	size_t	 i;

	if (v == NULL || YAJL_IS_NULL(v)) {
		yajl_gen_null(g);
	} else if (YAJL_IS_STRING(v)) {
		rj_s(g, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (i = 0; i < v->u.array.len; i++)
			rj_copy(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (i = 0; i < v->u.object.len; i++) {
			rj_s(g, v->u.object.keys[i]);
			rj_copy(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	}
}

char *
rj_take(yajl_gen g)
{
	const unsigned char	*p;
	size_t			 n;
	char			*s;

	if (yajl_gen_get_buf(g, &p, &n) != yajl_gen_status_ok)
		return NULL;
	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}
