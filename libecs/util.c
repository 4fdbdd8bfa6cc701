/*
 * util.c: small string, number and time helpers.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

const char *
ecs_strerror(enum ecs_err e)
{
	switch (e) {
	case ECS_OK:
		return "success";
	case ECS_ENOMEM:
		return "out of memory";
	case ECS_EINVAL:
		return "invalid input";
	case ECS_EAUTH:
		return "not authenticated";
	case ECS_EDENIED:
		return "not allowed";
	case ECS_ENOTFOUND:
		return "not found";
	case ECS_ENOTACCEPT:
		return "not acceptable";
	case ECS_ECONFLICT:
		return "conflict";
	case ECS_EEXIST:
		return "already exists";
	case ECS_ETOOBIG:
		return "too big";
	case ECS_EMEDIA:
		return "unsupported media type";
	case ECS_ESTORE:
		return "storage failure";
	case ECS_EFULL:
		return "storage full or read-only";
	case ECS_EBUSY:
		return "storage busy";
	}
	return "unknown error";
}

int
util_parse_i64n(const char *s, size_t n, int64_t min, int64_t max,
    int64_t *out)
{
	int64_t	 v = 0;
	int	 neg = 0;
	size_t	 i = 0;

	if (n == 0)
		return -1;
	if (s[0] == '-') {
		neg = 1;
		i = 1;
		if (n == 1)
			return -1;
	}
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	return util_parse_i64n(s, strlen(s), min, max, out);
}

int
util_blankn(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!isspace((unsigned char)s[i]))
			return 0;
	return 1;
}

int
util_blank(const char *s)
{
	return s == NULL || util_blankn(s, strlen(s));
}

char *
util_trimdup(const char *s, size_t n)
{
	char	*p;

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
util_iprefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static const char *const wdays[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static char *
put2(char *p, int v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/*
 * RFC 1123 date, as strftime would give it; computed from the days since
 * the epoch (civil calendar arithmetic), without gmtime_r's locking.
 */
void
util_http_date(time_t t, char *out, size_t len)
{
	struct tm	 tm;
	char		 b[32], *p = b;
	int64_t		 days, secs, z, era, doe, yoe, y, doy, mp, d, m;
	size_t		 n;

	if (len == 0)
		return;
	if (t < 0 || (int64_t)t > INT64_C(253402300799)) {	/* 9999 */
		gmtime_r(&t, &tm);
		snprintf(out, len, "%s, %02d %s %04d %02d:%02d:%02d GMT",
		    wdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		return;
	}
	days = (int64_t)t / 86400;
	secs = (int64_t)t % 86400;
	z = days + 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	memcpy(p, wdays[(days + 4) % 7], 3);	/* 1970-01-01: Thursday */
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = put2(p, (int)d);
	*p++ = ' ';
	memcpy(p, months[m - 1], 3);
	p += 3;
	*p++ = ' ';
	p = put2(p, (int)(y / 100));
	p = put2(p, (int)(y % 100));
	*p++ = ' ';
	p = put2(p, (int)(secs / 3600));
	*p++ = ':';
	p = put2(p, (int)(secs / 60 % 60));
	*p++ = ':';
	p = put2(p, (int)(secs % 60));
	memcpy(p, " GMT", 4);
	p += 4;
	n = (size_t)(p - b);
	if (n >= len)
		n = len - 1;
	memcpy(out, b, n);
	out[n] = '\0';
}

static int
month_index(const char *m)
{
	int	 i;

	for (i = 0; i < 12; i++)
		if (strncasecmp(m, months[i], 3) == 0)
			return i;
	return -1;
}

int
util_parse_http_date(const char *s, time_t *out)
{
	struct tm	 tm;
	char		 mon[4], wd[16];
	int		 d, y, h, mi, se, mo;

	memset(&tm, 0, sizeof(tm));
	/* RFC 1123: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(s, "%15[A-Za-z], %d %3s %d %d:%d:%d GMT", wd, &d, mon,
	    &y, &h, &mi, &se) == 7) {
		;
	/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
	} else if (sscanf(s, "%15[A-Za-z], %d-%3s-%d %d:%d:%d GMT", wd, &d,
	    mon, &y, &h, &mi, &se) == 7) {
		if (y < 100)
			y += y < 70 ? 2000 : 1900;
	/* asctime: Sun Nov  6 08:49:37 1994 */
	} else if (sscanf(s, "%15s %3s %d %d:%d:%d %d", wd, mon, &d, &h, &mi,
	    &se, &y) == 7) {
		;
	} else
		return -1;
	mon[3] = '\0';
	if ((mo = month_index(mon)) == -1)
		return -1;
	if (d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || y < 1970 ||
	    h < 0 || mi < 0 || se < 0)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = timegm(&tm);
	return 0;
}

void
util_iso8601(time_t t, char *out, size_t len)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d+00:00",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
}

static int
digits(const char **sp, int n, int *out)
{
	int	 v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*sp)[i]))
			return -1;
		v = v * 10 + ((*sp)[i] - '0');
	}
	*sp += n;
	*out = v;
	return 0;
}

int
util_parse_iso8601(const char *s, time_t *out)
{
	struct tm	 tm;
	int		 y, mo, d, h = 0, mi = 0, se = 0, oh = 0, om = 0;
	int		 sign = 0;
	time_t		 t;

	memset(&tm, 0, sizeof(tm));
	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d))
		return -1;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi))
			return -1;
		if (*s == ':') {
			s++;
			if (digits(&s, 2, &se))
				return -1;
			if (*s == '.' || *s == ',') {
				s++;
				if (!isdigit((unsigned char)*s))
					return -1;
				while (isdigit((unsigned char)*s))
					s++;
			}
		}
		if (*s == 'Z' || *s == 'z')
			s++;
		else if (*s == '+' || *s == '-') {
			sign = *s == '-' ? -1 : 1;
			s++;
			if (digits(&s, 2, &oh))
				return -1;
			if (*s == ':')
				s++;
			if (*s != '\0' && digits(&s, 2, &om))
				return -1;
		}
	}
	if (*s != '\0')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60 || oh > 23 || om > 59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	t -= (time_t)sign * (oh * 3600 + om * 60);
	*out = t;
	return 0;
}

void
util_hex(const unsigned char *p, size_t n, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int
util_is_json_type(const char *ct)
{
	static const char *const types[] = {
		"application/json", "text/x-json", "application/jsonrequest"
	};
	size_t	 i, n;

	if (ct == NULL)
		return 0;
	while (isspace((unsigned char)*ct))
		ct++;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		n = strlen(types[i]);
		if (strncasecmp(ct, types[i], n) == 0 &&
		    (ct[n] == '\0' || ct[n] == ';' ||
		    isspace((unsigned char)ct[n])))
			return 1;
	}
	return 0;
}

int
util_streq_ct(const char *a, const char *b)
{
	size_t		 la = strlen(a), lb = strlen(b), i;
	unsigned char	 d = 0;

	d = (unsigned char)(la != lb);
	for (i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0 && la == lb;
}

size_t
util_strlcpy(char *out, const char *s, size_t len)
{
	size_t	 n = strlen(s);

	if (len > 0) {
		size_t	 k = n < len - 1 ? n : len - 1;

		memcpy(out, s, k);
		out[k] = '\0';
	}
	return n;
}

size_t
util_append(char *out, size_t len, size_t pos, const char *s, size_t n)
{
	if (len > 0 && pos < len) {
		size_t	 k = n < len - 1 - pos ? n : len - 1 - pos;

		memcpy(out + pos, s, k);
		out[pos + k] = '\0';
	}
	return pos + n;
}

size_t
util_i64toa(int64_t v, char *out)
{
	char		 t[24];
	uint64_t	 u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	size_t		 i = 0, n = 0;

	do {
		t[i++] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		out[n++] = '-';
	while (i > 0)
		out[n++] = t[--i];
	out[n] = '\0';
	return n;
}

enum ecs_err
util_vfail(struct ecs_error *err, enum ecs_err code, const char *fmt,
    va_list ap)
{
	err->e_code = code;
	vsnprintf(err->e_msg, sizeof(err->e_msg), fmt, ap);
	return code;
}

enum ecs_err
util_fail(struct ecs_error *err, enum ecs_err code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	util_vfail(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int64_t
util_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
