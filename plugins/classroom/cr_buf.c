/*
 * cr_buf.c: bounded growable strings and a small JSON writer. A buffer
 * that runs out of memory or past its maximum remembers it in b_err and
 * ignores further writes, so that writers check once at the end.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classroom.h"

void
cr_buf_init(struct cr_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->b_max = max;
}

void
cr_buf_free(struct cr_buf *b)
{
	free(b->b_data);
	memset(b, 0, sizeof(*b));
}

void
cr_buf_add(struct cr_buf *b, const char *p, size_t n)
{
	size_t	 cap;
	char	*d;

	if (b->b_err)
		return;
	if (n > b->b_max - b->b_len) {
		b->b_err = 1;
		return;
	}
	if (b->b_len + n + 1 > b->b_cap) {
		cap = b->b_cap ? b->b_cap : 256;
		while (cap < b->b_len + n + 1)
			cap *= 2;
		if ((d = realloc(b->b_data, cap)) == NULL) {
			b->b_err = 1;
			return;
		}
		b->b_data = d;
		b->b_cap = cap;
	}
	memcpy(b->b_data + b->b_len, p, n);
	b->b_len += n;
	b->b_data[b->b_len] = '\0';
}

void
cr_buf_adds(struct cr_buf *b, const char *s)
{
	cr_buf_add(b, s, strlen(s));
}

void
cr_buf_addf(struct cr_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 small[256], *big;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->b_err = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		cr_buf_add(b, small, (size_t)n);
		return;
	}
	if ((big = malloc((size_t)n + 1)) == NULL) {
		b->b_err = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	cr_buf_add(b, big, (size_t)n);
	free(big);
}

const char *
cr_buf_str(const struct cr_buf *b)
{
	return b->b_data ? b->b_data : "";
}

void
cr_jw_init(struct cr_jw *w, struct cr_buf *b)
{
	memset(w, 0, sizeof(*w));
	w->jw_buf = b;
}

/* The comma before a value, unless it follows a key or opens a level. */
static void
jw_sep(struct cr_jw *w)
{
	if (w->jw_after_key) {
		w->jw_after_key = 0;
		return;
	}
	if (w->jw_count[w->jw_depth]++ > 0)
		cr_buf_add(w->jw_buf, ",", 1);
}

static void
jw_open(struct cr_jw *w, const char *c)
{
	jw_sep(w);
	cr_buf_add(w->jw_buf, c, 1);
	if (w->jw_depth + 1 >= CR_JW_DEPTH) {
		w->jw_buf->b_err = 1;
		return;
	}
	w->jw_count[++w->jw_depth] = 0;
}

static void
jw_close(struct cr_jw *w, const char *c)
{
	cr_buf_add(w->jw_buf, c, 1);
	if (w->jw_depth > 0)
		w->jw_depth--;
}

void
cr_jw_obj_open(struct cr_jw *w)
{
	jw_open(w, "{");
}

void
cr_jw_obj_close(struct cr_jw *w)
{
	jw_close(w, "}");
}

void
cr_jw_arr_open(struct cr_jw *w)
{
	jw_open(w, "[");
}

void
cr_jw_arr_close(struct cr_jw *w)
{
	jw_close(w, "]");
}

/* A JSON string literal; bytes >= 0x80 pass through (UTF-8 stays UTF-8). */
static void
jw_quote(struct cr_buf *b, const char *s)
{
	const unsigned char	*p;
	char			 esc[8];

	cr_buf_add(b, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			cr_buf_add(b, "\\\"", 2);
			break;
		case '\\':
			cr_buf_add(b, "\\\\", 2);
			break;
		case '\n':
			cr_buf_add(b, "\\n", 2);
			break;
		case '\r':
			cr_buf_add(b, "\\r", 2);
			break;
		case '\t':
			cr_buf_add(b, "\\t", 2);
			break;
		default:
			if (*p < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				cr_buf_adds(b, esc);
			} else
				cr_buf_add(b, (const char *)p, 1);
		}
	}
	cr_buf_add(b, "\"", 1);
}

void
cr_jw_key(struct cr_jw *w, const char *k)
{
	jw_sep(w);
	jw_quote(w->jw_buf, k);
	cr_buf_add(w->jw_buf, ":", 1);
	w->jw_after_key = 1;
}

void
cr_jw_str(struct cr_jw *w, const char *s)
{
	jw_sep(w);
	if (s == NULL)
		cr_buf_adds(w->jw_buf, "null");
	else
		jw_quote(w->jw_buf, s);
}

void
cr_jw_int(struct cr_jw *w, int64_t v)
{
	jw_sep(w);
	cr_buf_addf(w->jw_buf, "%lld", (long long)v);
}

void
cr_jw_bool(struct cr_jw *w, int v)
{
	jw_sep(w);
	cr_buf_adds(w->jw_buf, v ? "true" : "false");
}

void
cr_jw_null(struct cr_jw *w)
{
	jw_sep(w);
	cr_buf_adds(w->jw_buf, "null");
}

void
cr_jw_raw(struct cr_jw *w, const char *json)
{
	jw_sep(w);
	cr_buf_adds(w->jw_buf, json);
}

void
cr_jw_kstr(struct cr_jw *w, const char *k, const char *v)
{
	cr_jw_key(w, k);
	cr_jw_str(w, v);
}

void
cr_jw_kint(struct cr_jw *w, const char *k, int64_t v)
{
	cr_jw_key(w, k);
	cr_jw_int(w, v);
}

void
cr_jw_kbool(struct cr_jw *w, const char *k, int v)
{
	cr_jw_key(w, k);
	cr_jw_bool(w, v);
}

void
cr_jw_ktime(struct cr_jw *w, const char *k, time_t t)
{
	struct tm	 tm;
	char		 s[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(s, sizeof(s), "1970-01-01T00:00:00Z");
	cr_jw_kstr(w, k, s);
}
