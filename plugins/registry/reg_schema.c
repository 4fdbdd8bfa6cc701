/*
 * reg_schema.c: the subset of JSON Schema the registry's offer schema
 * uses: type (string, integer, number, boolean, array, object),
 * required, properties, additionalProperties (false), enum (of strings),
 * minimum, maximum, minLength, maxLength (in code points), pattern
 * (POSIX extended regular expressions), format (date, date-time, uri),
 * items and maxItems. Every violation is reported with its field path.
 */
#include "config.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry.h"

void
reg_errs_add(struct reg_errs *e, const char *field, const char *fmt, ...)
{
	char	**f, **m, buf[512];
	va_list	  ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if ((f = reallocarray(e->re_field, e->re_n + 1, sizeof(*f))) == NULL)
		return;
	e->re_field = f;
	if ((m = reallocarray(e->re_msg, e->re_n + 1, sizeof(*m))) == NULL)
		return;
	e->re_msg = m;
	f[e->re_n] = strdup(field);
	m[e->re_n] = strdup(buf);
	if (f[e->re_n] == NULL || m[e->re_n] == NULL) {
		free(f[e->re_n]);
		free(m[e->re_n]);
		return;
	}
	e->re_n++;
}

void
reg_errs_free(struct reg_errs *e)
{
	size_t	 i;

	for (i = 0; i < e->re_n; i++) {
		free(e->re_field[i]);
		free(e->re_msg[i]);
	}
	free(e->re_field);
	free(e->re_msg);
	memset(e, 0, sizeof(*e));
}

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
reg_parse_date(const char *s, int64_t *tp)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	struct tm	 tm;
	int		 y, m, d, n = 0;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3
	    || n != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	if (y < 1900 || m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1] + (m == 2 && is_leap(y)))
		return -1;
	if (tp != NULL) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = y - 1900;
		tm.tm_mon = m - 1;
		tm.tm_mday = d;
		*tp = (int64_t)timegm(&tm);
	}
	return 0;
}

static int
is_datetime(const char *s)
{
	char	 date[11];
	int	 h, mi, se, n = 0;

	if (strlen(s) < 20 || s[10] != 'T')
		return 0;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (reg_parse_date(date, NULL) != 0 ||
	    sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &se, &n) != 3 || n != 8 ||
	    h > 23 || mi > 59 || se > 60)
		return 0;
	s += 19;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	return strcmp(s, "Z") == 0 || ((s[0] == '+' || s[0] == '-') &&
	    strlen(s) == 6 && s[3] == ':');
}

static int
is_uri(const char *s)
{
	const char	*p;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return 0;
	for (p = s; *p != ':'; p++)
		if (*p == '\0' || !(strchr("+-.", *p) ||
		    (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9')))
			return 0;
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || strchr("<>\"{}|\\^`", *p))
			return 0;
	return p > s + 1;
}

static size_t
utf8_len(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static int
type_ok(const char *type, yajl_val v)
{
	if (strcmp(type, "string") == 0)
		return YAJL_IS_STRING(v);
	if (strcmp(type, "integer") == 0)
		return YAJL_IS_INTEGER(v);
	if (strcmp(type, "number") == 0)
		return YAJL_IS_NUMBER(v);
	if (strcmp(type, "boolean") == 0)
		return YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v);
	if (strcmp(type, "array") == 0)
		return YAJL_IS_ARRAY(v);
	if (strcmp(type, "object") == 0)
		return YAJL_IS_OBJECT(v);
	if (strcmp(type, "null") == 0)
		return YAJL_IS_NULL(v);
	return -1;
}

static const char *const known[] = {
	"$schema", "$id", "title", "description", "type", "required",
	"properties", "additionalProperties", "enum", "minimum", "maximum",
	"minLength", "maxLength", "pattern", "format", "items", "maxItems",
	NULL
};

static int	validate(yajl_val, yajl_val, const char *, struct reg_errs *);

static int
validate_object(yajl_val s, yajl_val v, const char *path,
    struct reg_errs *e)
{
	yajl_val	 req = rj_get(s, "required"), props = rj_get(s,
			    "properties"), addl = rj_get(s, "additionalProperties");
	char		 sub[256];
	size_t		 i;
	int		 rc = 0;

	for (i = 0; req != NULL && YAJL_IS_ARRAY(req) &&
	    i < req->u.array.len; i++) {
		const char *k = YAJL_GET_STRING(req->u.array.values[i]);

		if (k != NULL && rj_get(v, k) == NULL) {
			snprintf(sub, sizeof(sub), "%s%s", path, k);
			reg_errs_add(e, sub, "required");
		}
	}
	for (i = 0; i < v->u.object.len; i++) {
		const char	*k = v->u.object.keys[i];
		yajl_val	 ps = rj_get(props, k);

		snprintf(sub, sizeof(sub), "%s%s", path, k);
		if (ps != NULL) {
			if (validate(ps, v->u.object.values[i], sub, e) < 0)
				rc = -1;
		} else if (addl != NULL && YAJL_IS_FALSE(addl))
			reg_errs_add(e, sub, "unknown field");
	}
	return rc;
}

static void
validate_string(yajl_val s, const char *str, const char *path,
    struct reg_errs *e)
{
	const char	*pat = rj_str(s, "pattern"), *fmt = rj_str(s, "format");
	int64_t		 n;
	regex_t		 re;

	if (rj_int(s, "minLength", &n) == 0 && (int64_t)utf8_len(str) < n)
		reg_errs_add(e, path, "shorter than %lld characters",
		    (long long)n);
	if (rj_int(s, "maxLength", &n) == 0 && (int64_t)utf8_len(str) > n)
		reg_errs_add(e, path, "longer than %lld characters",
		    (long long)n);
	if (pat != NULL) {
		if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0)
			reg_errs_add(e, path, "schema pattern is invalid");
		else {
			if (regexec(&re, str, 0, NULL, 0) != 0)
				reg_errs_add(e, path, "does not match %s",
				    pat);
			regfree(&re);
		}
	}
	if (fmt == NULL)
		return;
	if (strcmp(fmt, "date") == 0 && reg_parse_date(str, NULL) != 0)
		reg_errs_add(e, path, "not a date (YYYY-MM-DD)");
	else if (strcmp(fmt, "date-time") == 0 && !is_datetime(str))
		reg_errs_add(e, path, "not a date-time");
	else if (strcmp(fmt, "uri") == 0 && !is_uri(str))
		reg_errs_add(e, path, "not a URI");
}

static int
validate(yajl_val s, yajl_val v, const char *path, struct reg_errs *e)
{
	yajl_val	 en = rj_get(s, "enum"), items = rj_get(s, "items");
	const char	*type = rj_str(s, "type");
	char		 sub[256];
	double		 lim;
	int64_t		 n;
	size_t		 i;
	int		 ok, rc = 0;

	if (!YAJL_IS_OBJECT(s))
		return -1;
	for (i = 0; i < s->u.object.len; i++) {
		const char *const *k;

		for (k = known; *k != NULL; k++)
			if (strcmp(*k, s->u.object.keys[i]) == 0)
				break;
		if (*k == NULL)
			return -1;
	}
	if (type != NULL) {
		if ((ok = type_ok(type, v)) < 0)
			return -1;
		if (!ok) {
			reg_errs_add(e, path, "must be %s %s",
			    strchr("aeiou", type[0]) ? "an" : "a", type);
			return 0;
		}
	}
	if (en != NULL && YAJL_IS_ARRAY(en)) {
		ok = 0;
		for (i = 0; i < en->u.array.len; i++)
			if (YAJL_IS_STRING(v) &&
			    YAJL_IS_STRING(en->u.array.values[i]) &&
			    strcmp(v->u.string,
			    en->u.array.values[i]->u.string) == 0)
				ok = 1;
		if (!ok) {
			char	 list[200] = "";

			for (i = 0; i < en->u.array.len; i++) {
				const char *t = YAJL_GET_STRING(
				    en->u.array.values[i]);

				if (t == NULL)
					continue;
				snprintf(list + strlen(list), sizeof(list) -
				    strlen(list), "%s%s", i > 0 ? ", " : "", t);
			}
			reg_errs_add(e, path, "must be one of %s", list);
		}
	}
	if (YAJL_IS_NUMBER(v)) {
		if (rj_num(s, "minimum", &lim) == 0 && YAJL_GET_DOUBLE(v) < lim)
			reg_errs_add(e, path, "less than %g", lim);
		if (rj_num(s, "maximum", &lim) == 0 && YAJL_GET_DOUBLE(v) > lim)
			reg_errs_add(e, path, "greater than %g", lim);
	}
	if (YAJL_IS_STRING(v))
		validate_string(s, v->u.string, path, e);
	if (YAJL_IS_ARRAY(v)) {
		if (rj_int(s, "maxItems", &n) == 0 &&
		    (int64_t)v->u.array.len > n)
			reg_errs_add(e, path, "more than %lld items",
			    (long long)n);
		for (i = 0; items != NULL && i < v->u.array.len; i++) {
			snprintf(sub, sizeof(sub), "%s/%zu", path, i);
			if (validate(items, v->u.array.values[i], sub, e) < 0)
				rc = -1;
		}
	}
	if (YAJL_IS_OBJECT(v)) {
		snprintf(sub, sizeof(sub), "%s%s", path,
		    *path != '\0' ? "/" : "");
		if (validate_object(s, v, sub, e) < 0)
			rc = -1;
	}
	return rc;
}

int
reg_validate(yajl_val schema, yajl_val doc, struct reg_errs *e)
{
	size_t	 before = e->re_n;

	if (validate(schema, doc, "", e) < 0)
		return -1;
	return e->re_n > before ? 1 : 0;
}
