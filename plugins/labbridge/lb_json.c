/*
 * lb_json.c: JSON for the labbridge plugin.  The only file of the plugin
 * that knows yajl: a parsed value is a yajl tree behind the opaque
 * struct lb_json.  Also a bounded string buffer, a small JSON writer and
 * the escaping of untrusted text for the log.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "lb.h"

#define V(j)	((const struct yajl_val_s *)(const void *)(j))

/* Nesting depth of a JSON text, not counting brackets inside strings. */
static int
json_depth_ok(const char *p, size_t len)
{
	size_t	 i;
	int	 depth = 0, instr = 0;

	for (i = 0; i < len; i++) {
		if (instr) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				instr = 0;
			continue;
		}
		switch (p[i]) {
		case '"':
			instr = 1;
			break;
		case '[':
		case '{':
			if (++depth > LB_JSON_DEPTH)
				return 0;
			break;
		case ']':
		case '}':
			depth--;
			break;
		}
	}
	return 1;
}

/* Parse len bytes; 0 and *out (the caller's), or -1. */
int
lb_json_parse(const char *p, size_t len, struct lb_json **out)
{
	char		*copy, ebuf[128];
	yajl_val	 v;

	if (len > LB_MAX_BODY || !json_depth_ok(p, len))
		return -1;
	if ((copy = malloc(len + 1)) == NULL)
		return -1;
	memcpy(copy, p, len);
	copy[len] = '\0';
	if (strlen(copy) != len) {	/* NUL inside */
		free(copy);
		return -1;
	}
	v = yajl_tree_parse(copy, ebuf, sizeof(ebuf));
	free(copy);
	if (v == NULL)
		return -1;
	*out = (struct lb_json *)v;
	return 0;
}

void
lb_json_free(struct lb_json *j)
{
	if (j != NULL)
		yajl_tree_free((yajl_val)(void *)j);
}

int
lb_json_is_object(const struct lb_json *j)
{
	return j != NULL && YAJL_IS_OBJECT(V(j));
}

int
lb_json_is_array(const struct lb_json *j)
{
	return j != NULL && YAJL_IS_ARRAY(V(j));
}

/* Member key of an object, or NULL. */
const struct lb_json *
lb_json_get(const struct lb_json *j, const char *key)
{
	size_t	 i;

	if (!lb_json_is_object(j))
		return NULL;
	for (i = 0; i < V(j)->u.object.len; i++)
		if (strcmp(V(j)->u.object.keys[i], key) == 0)
			return (const struct lb_json *)V(j)->u.object.values[i];
	return NULL;
}

const char *
lb_json_str(const struct lb_json *j)
{
	if (j == NULL || !YAJL_IS_STRING(V(j)))
		return NULL;
	return V(j)->u.string;
}

/* An integral number into *out; 0, or -1 when j is none. */
int
lb_json_int(const struct lb_json *j, int64_t *out)
{
	if (j == NULL || !YAJL_IS_INTEGER(V(j)))
		return -1;
	*out = V(j)->u.number.i;
	return 0;
}

/* 1 for true, 0 for false, -1 for anything else. */
int
lb_json_bool(const struct lb_json *j)
{
	if (j == NULL)
		return -1;
	if (YAJL_IS_TRUE(V(j)))
		return 1;
	if (YAJL_IS_FALSE(V(j)))
		return 0;
	return -1;
}

size_t
lb_json_len(const struct lb_json *j)
{
	if (lb_json_is_array(j))
		return V(j)->u.array.len;
	if (lb_json_is_object(j))
		return V(j)->u.object.len;
	return 0;
}

const struct lb_json *
lb_json_at(const struct lb_json *j, size_t i)
{
	if (lb_json_is_array(j) && i < V(j)->u.array.len)
		return (const struct lb_json *)V(j)->u.array.values[i];
	if (lb_json_is_object(j) && i < V(j)->u.object.len)
		return (const struct lb_json *)V(j)->u.object.values[i];
	return NULL;
}

const char *
lb_json_key_at(const struct lb_json *j, size_t i)
{
	if (lb_json_is_object(j) && i < V(j)->u.object.len)
		return V(j)->u.object.keys[i];
	return NULL;
}

/* The compact JSON text of a value; the caller's, or NULL. */
char *
lb_json_text(const struct lb_json *j)
{
	struct lb_buf	 b;
	struct lb_jw	 w;

	lb_buf_init(&b, LB_MAX_BODY);
	lb_jw_init(&w, &b);
	lb_jw_value(&w, j);
	return lb_buf_release(&b);
}

/* ---- the buffer -------------------------------------------------------- */

void
lb_buf_init(struct lb_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->b_max = max;
}

void
lb_buf_add(struct lb_buf *b, const void *p, size_t n)
{
	size_t	 cap;
	char	*d;

	if (b->b_err)
		return;
	if (b->b_max != 0 && b->b_len + n > b->b_max) {
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
lb_buf_puts(struct lb_buf *b, const char *s)
{
	lb_buf_add(b, s, strlen(s));
}

void
lb_buf_printf(struct lb_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*s = NULL;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->b_err = 1;
		return;
	}
	lb_buf_add(b, s, (size_t)n);
	free(s);
}

/* The text so far ("" when empty). */
const char *
lb_buf_str(struct lb_buf *b)
{
	return b->b_data != NULL ? b->b_data : "";
}

/* The text, now the caller's; NULL after a failed append. */
char *
lb_buf_release(struct lb_buf *b)
{
	char	*s;

	if (b->b_err) {
		lb_buf_free(b);
		return NULL;
	}
	s = b->b_data != NULL ? b->b_data : strdup("");
	memset(b, 0, sizeof(*b));
	return s;
}

void
lb_buf_free(struct lb_buf *b)
{
	free(b->b_data);
	memset(b, 0, sizeof(*b));
}

/* ---- the writer ---------------------------------------------------------- */

void
lb_jw_init(struct lb_jw *w, struct lb_buf *b)
{
	memset(w, 0, sizeof(*w));
	w->jw_buf = b;
}

/* The comma before a value that is not the first of its container. */
static void
jw_sep(struct lb_jw *w)
{
	if (w->jw_after_key) {
		w->jw_after_key = 0;
		return;
	}
	if (w->jw_count[w->jw_depth]++ > 0)
		lb_buf_add(w->jw_buf, ",", 1);
}

static void
jw_open(struct lb_jw *w, const char *c)
{
	jw_sep(w);
	lb_buf_add(w->jw_buf, c, 1);
	if (w->jw_depth <= LB_JSON_DEPTH)
		w->jw_depth++;
	else
		w->jw_buf->b_err = 1;
	w->jw_count[w->jw_depth] = 0;
}

static void
jw_close(struct lb_jw *w, const char *c)
{
	lb_buf_add(w->jw_buf, c, 1);
	if (w->jw_depth > 0)
		w->jw_depth--;
}

void
lb_jw_obj_open(struct lb_jw *w)
{
	jw_open(w, "{");
}

void
lb_jw_obj_close(struct lb_jw *w)
{
	jw_close(w, "}");
}

void
lb_jw_arr_open(struct lb_jw *w)
{
	jw_open(w, "[");
}

void
lb_jw_arr_close(struct lb_jw *w)
{
	jw_close(w, "]");
}

static void
jw_quoted(struct lb_buf *b, const char *s)
{
	const unsigned char	*p;
	char			 esc[8];

	lb_buf_add(b, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			lb_buf_add(b, "\\\"", 2);
			break;
		case '\\':
			lb_buf_add(b, "\\\\", 2);
			break;
		case '\n':
			lb_buf_add(b, "\\n", 2);
			break;
		case '\r':
			lb_buf_add(b, "\\r", 2);
			break;
		case '\t':
			lb_buf_add(b, "\\t", 2);
			break;
		default:
			if (*p < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				lb_buf_add(b, esc, 6);
			} else
				lb_buf_add(b, p, 1);
		}
	}
	lb_buf_add(b, "\"", 1);
}

void
lb_jw_key(struct lb_jw *w, const char *k)
{
	jw_sep(w);
	jw_quoted(w->jw_buf, k);
	lb_buf_add(w->jw_buf, ":", 1);
	w->jw_after_key = 1;
}

/* A string value; NULL writes null. */
void
lb_jw_str(struct lb_jw *w, const char *s)
{
	if (s == NULL) {
		lb_jw_null(w);
		return;
	}
	jw_sep(w);
	jw_quoted(w->jw_buf, s);
}

void
lb_jw_int(struct lb_jw *w, int64_t v)
{
	jw_sep(w);
	lb_buf_printf(w->jw_buf, "%" PRId64, v);
}

void
lb_jw_bool(struct lb_jw *w, int v)
{
	jw_sep(w);
	lb_buf_puts(w->jw_buf, v ? "true" : "false");
}

void
lb_jw_null(struct lb_jw *w)
{
	jw_sep(w);
	lb_buf_puts(w->jw_buf, "null");
}

/* A copy of a parsed value. */
void
lb_jw_value(struct lb_jw *w, const struct lb_json *j)
{
	const struct yajl_val_s	*v = V(j);
	size_t		 i;

	if (v == NULL || YAJL_IS_NULL(v))
		lb_jw_null(w);
	else if (YAJL_IS_STRING(v))
		lb_jw_str(w, v->u.string);
	else if (YAJL_IS_NUMBER(v)) {
		jw_sep(w);
		lb_buf_puts(w->jw_buf, v->u.number.r);
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))
		lb_jw_bool(w, YAJL_IS_TRUE(v));
	else if (YAJL_IS_ARRAY(v)) {
		lb_jw_arr_open(w);
		for (i = 0; i < v->u.array.len; i++)
			lb_jw_value(w, (struct lb_json *)v->u.array.values[i]);
		lb_jw_arr_close(w);
	} else if (YAJL_IS_OBJECT(v)) {
		lb_jw_obj_open(w);
		for (i = 0; i < v->u.object.len; i++) {
			lb_jw_key(w, v->u.object.keys[i]);
			lb_jw_value(w,
			    (struct lb_json *)v->u.object.values[i]);
		}
		lb_jw_obj_close(w);
	}
}

void
lb_jw_kstr(struct lb_jw *w, const char *k, const char *s)
{
	lb_jw_key(w, k);
	lb_jw_str(w, s);
}

void
lb_jw_kint(struct lb_jw *w, const char *k, int64_t v)
{
	lb_jw_key(w, k);
	lb_jw_int(w, v);
}

/*
 * Untrusted text made safe for one log line: printable ASCII stays,
 * everything else becomes \xHH; long text is cut.  The caller's, or NULL.
 */
char *
lb_escape(const char *s)
{
	struct lb_buf		 b;
	const unsigned char	*p;
	size_t			 n = 0;

	lb_buf_init(&b, 0);
	if (s == NULL)
		s = "-";
	for (p = (const unsigned char *)s; *p != '\0' && n < 200; p++, n++) {
		if (isprint(*p) && *p != '\\' && *p != ' ')
			lb_buf_add(&b, p, 1);
		else
			lb_buf_printf(&b, "\\x%02x", *p);
	}
	if (*p != '\0')
		lb_buf_puts(&b, "...");
	return lb_buf_release(&b);
}
