/*
 * json.c: parsing JSON into a read-only tree (yajl), and writing JSON.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "json.h"
#include "util.h"

/*
 * struct json is never defined: a struct json pointer is a yajl_val in
 * disguise, so that no yajl type appears outside this file.
 */
#define YV(v)	((yajl_val)(uintptr_t)(v))
#define JV(v)	((const struct json *)(uintptr_t)(v))

/*
 * Refuse input nested deeper than JSON_MAX_DEPTH before yajl builds it.
 * JSON has no comments, but yajl_tree_parse accepts them, and a quote or a
 * bracket inside one would fool this count: a '/' outside a string is
 * refused here.
 */
static int
json_depth_ok(const char *p, size_t n)
{
	size_t	 i;
	int	 depth = 0, instr = 0;

	for (i = 0; i < n; i++) {
		if (instr) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				instr = 0;
			continue;
		}
		switch (p[i]) {
		case '/':
			return 0;
		case '"':
			instr = 1;
			break;
		case '[':
		case '{':
			if (++depth > JSON_MAX_DEPTH)
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

enum ecs_err
json_parse(const char *p, size_t n, struct json **out)
{
	char		*copy;
	yajl_val	 v;

	if (memchr(p, '\0', n) != NULL || !json_depth_ok(p, n))
		return ECS_EINVAL;
	if ((copy = malloc(n + 1)) == NULL)
		return ECS_ENOMEM;
	memcpy(copy, p, n);
	copy[n] = '\0';
	v = yajl_tree_parse(copy, NULL, 0);
	free(copy);
	if (v == NULL)
		return ECS_EINVAL;
	*out = (struct json *)(uintptr_t)v;
	return ECS_OK;
}

void
json_free(struct json *j)
{
	if (j != NULL)
		yajl_tree_free(YV(j));
}

enum json_type
json_type(const struct json *j)
{
	yajl_val	 v = YV(j);

	if (v == NULL)
		return JSON_NULL;
	switch (v->type) {
	case yajl_t_string:
		return JSON_STRING;
	case yajl_t_number:
		return JSON_NUMBER;
	case yajl_t_object:
		return JSON_OBJECT;
	case yajl_t_array:
		return JSON_ARRAY;
	case yajl_t_true:
		return JSON_TRUE;
	case yajl_t_false:
		return JSON_FALSE;
	default:
		return JSON_NULL;
	}
}

const struct json *
json_get(const struct json *j, const char *key)
{
	yajl_val	 v = YV(j);
	size_t		 i;

	if (v == NULL || v->type != yajl_t_object)
		return NULL;
	for (i = 0; i < v->u.object.len; i++)
		if (strcmp(v->u.object.keys[i], key) == 0)
			return JV(v->u.object.values[i]);
	return NULL;
}

const char *
json_string(const struct json *j)
{
	yajl_val	 v = YV(j);

	if (v == NULL || v->type != yajl_t_string)
		return NULL;
	return v->u.string;
}

int
json_int(const struct json *j, int64_t *out)
{
	yajl_val	 v = YV(j);

	if (v == NULL || v->type != yajl_t_number ||
	    !(v->u.number.flags & YAJL_NUMBER_INT_VALID))
		return -1;
	*out = v->u.number.i;
	return 0;
}

size_t
json_len(const struct json *j)
{
	yajl_val	 v = YV(j);

	if (v == NULL)
		return 0;
	if (v->type == yajl_t_array)
		return v->u.array.len;
	if (v->type == yajl_t_object)
		return v->u.object.len;
	return 0;
}

const struct json *
json_at(const struct json *j, size_t i)
{
	yajl_val	 v = YV(j);

	if (v == NULL)
		return NULL;
	if (v->type == yajl_t_array && i < v->u.array.len)
		return JV(v->u.array.values[i]);
	if (v->type == yajl_t_object && i < v->u.object.len)
		return JV(v->u.object.values[i]);
	return NULL;
}

const char *
json_key_at(const struct json *j, size_t i)
{
	yajl_val	 v = YV(j);

	if (v == NULL || v->type != yajl_t_object || i >= v->u.object.len)
		return NULL;
	return v->u.object.keys[i];
}

/* --- writer --------------------------------------------------------------- */

void
jw_init(struct jw *w, struct buf *b, int pretty)
{
	memset(w, 0, sizeof(*w));
	w->jw_buf = b;
	w->jw_pretty = pretty;
}

static void
jw_indent(struct jw *w, int depth)
{
	int	 i;

	buf_addc(w->jw_buf, '\n');
	for (i = 0; i < depth; i++)
		buf_add(w->jw_buf, "  ", 2);
}

/* Separator and indentation before a value or a key. */
static void
jw_pre(struct jw *w)
{
	if (w->jw_after_key) {
		w->jw_after_key = 0;
		return;
	}
	if (w->jw_depth == 0)
		return;
	if (w->jw_count[w->jw_depth]++ > 0)
		buf_addc(w->jw_buf, ',');
	if (w->jw_pretty)
		jw_indent(w, w->jw_depth);
}

static void
jw_open(struct jw *w, char c)
{
	jw_pre(w);
	buf_addc(w->jw_buf, c);
	if (w->jw_depth < JSON_MAX_DEPTH + 1)
		w->jw_depth++;
	w->jw_count[w->jw_depth] = 0;
}

static void
jw_close(struct jw *w, char c)
{
	if (w->jw_count[w->jw_depth] > 0 && w->jw_pretty)
		jw_indent(w, w->jw_depth - 1);
	if (w->jw_depth > 0)
		w->jw_depth--;
	buf_addc(w->jw_buf, c);
}

void
jw_obj_open(struct jw *w)
{
	jw_open(w, '{');
}

void
jw_obj_close(struct jw *w)
{
	jw_close(w, '}');
}

void
jw_arr_open(struct jw *w)
{
	jw_open(w, '[');
}

void
jw_arr_close(struct jw *w)
{
	jw_close(w, ']');
}

static void
jw_quote(struct jw *w, const char *s, size_t n)
{
	size_t		 i, run = 0;
	unsigned char	 c;

	buf_addc(w->jw_buf, '"');
	/* Runs of bytes that need no escape go in with one buf_add. */
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (i > run)
			buf_add(w->jw_buf, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			buf_add(w->jw_buf, "\\\"", 2);
			break;
		case '\\':
			buf_add(w->jw_buf, "\\\\", 2);
			break;
		case '\n':
			buf_add(w->jw_buf, "\\n", 2);
			break;
		case '\r':
			buf_add(w->jw_buf, "\\r", 2);
			break;
		case '\t':
			buf_add(w->jw_buf, "\\t", 2);
			break;
		default:
			buf_printf(w->jw_buf, "\\u%04x", c);
		}
	}
	if (n > run)
		buf_add(w->jw_buf, s + run, n - run);
	buf_addc(w->jw_buf, '"');
}

void
jw_key(struct jw *w, const char *k)
{
	jw_pre(w);
	jw_quote(w, k, strlen(k));
	buf_add(w->jw_buf, w->jw_pretty ? ": " : ":", w->jw_pretty ? 2 : 1);
	w->jw_after_key = 1;
}

void
jw_strn(struct jw *w, const char *s, size_t n)
{
	jw_pre(w);
	jw_quote(w, s, n);
}

void
jw_str(struct jw *w, const char *s)
{
	if (s == NULL) {
		jw_null(w);
		return;
	}
	jw_strn(w, s, strlen(s));
}

void
jw_int(struct jw *w, int64_t v)
{
	char	 t[24];

	jw_pre(w);
	buf_add(w->jw_buf, t, util_i64toa(v, t));
}

void
jw_bool(struct jw *w, int v)
{
	jw_pre(w);
	buf_adds(w->jw_buf, v ? "true" : "false");
}

void
jw_null(struct jw *w)
{
	jw_pre(w);
	buf_adds(w->jw_buf, "null");
}

void
jw_kstr(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_str(w, v);
}

void
jw_kint(struct jw *w, const char *k, int64_t v)
{
	jw_key(w, k);
	jw_int(w, v);
}

void
jw_kbool(struct jw *w, const char *k, int v)
{
	jw_key(w, k);
	jw_bool(w, v);
}

void
jw_value(struct jw *w, const struct json *j)
{
	yajl_val	 v = YV(j);
	size_t		 i;

	if (v == NULL) {
		jw_null(w);
		return;
	}
	switch (v->type) {
	case yajl_t_string:
		jw_str(w, v->u.string);
		break;
	case yajl_t_number:
		jw_pre(w);
		buf_adds(w->jw_buf, v->u.number.r);
		break;
	case yajl_t_true:
		jw_bool(w, 1);
		break;
	case yajl_t_false:
		jw_bool(w, 0);
		break;
	case yajl_t_array:
		jw_arr_open(w);
		for (i = 0; i < v->u.array.len; i++)
			jw_value(w, JV(v->u.array.values[i]));
		jw_arr_close(w);
		break;
	case yajl_t_object:
		jw_obj_open(w);
		for (i = 0; i < v->u.object.len; i++) {
			jw_key(w, v->u.object.keys[i]);
			jw_value(w, JV(v->u.object.values[i]));
		}
		jw_obj_close(w);
		break;
	default:
		jw_null(w);
	}
}

/* --- XML (protocol section 3.9) ------------------------------------------- */

static void
xml_escape(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			buf_adds(b, "&lt;");
			break;
		case '>':
			buf_adds(b, "&gt;");
			break;
		case '&':
			buf_adds(b, "&amp;");
			break;
		case '"':
			buf_adds(b, "&quot;");
			break;
		default:
			buf_addc(b, *s);
		}
	}
}

/* Element name of a key: '_' becomes '-'. */
static void
xml_name(char *out, size_t len, const char *key)
{
	size_t	 i;

	for (i = 0; key[i] != '\0' && i + 1 < len; i++)
		out[i] = key[i] == '_' ? '-' : key[i];
	out[i] = '\0';
}

/* The singular of an array's element name (participants -> participant). */
static void
xml_singular(char *out, size_t len, const char *name)
{
	size_t	 n = strlen(name);

	snprintf(out, len, "%s", name);
	if (n > 1 && name[n - 1] == 's' && n - 1 < len)
		out[n - 1] = '\0';
}

static void
xml_pad(struct buf *b, int depth)
{
	int	 i;

	for (i = 0; i < depth; i++)
		buf_adds(b, "  ");
}

static void	xml_element(struct buf *, const char *, yajl_val, int);

static void
xml_children(struct buf *b, yajl_val v, const char *child, int depth)
{
	size_t	 i;
	char	 name[128];

	if (v->type == yajl_t_array) {
		for (i = 0; i < v->u.array.len; i++)
			xml_element(b, child, v->u.array.values[i], depth);
		return;
	}
	for (i = 0; i < v->u.object.len; i++) {
		/* Keys that are paths (configs, Q-18) become attributes. */
		if (strchr(v->u.object.keys[i], '/') != NULL) {
			yajl_val	 x = v->u.object.values[i];

			xml_pad(b, depth);
			buf_adds(b, "<resource path=\"");
			xml_escape(b, v->u.object.keys[i]);
			buf_printf(b, "\" type=\"boolean\">%s</resource>\n",
			    x != NULL && x->type == yajl_t_true ? "true" :
			    "false");
			continue;
		}
		xml_name(name, sizeof(name), v->u.object.keys[i]);
		xml_element(b, name, v->u.object.values[i], depth);
	}
}

static void
xml_element(struct buf *b, const char *name, yajl_val v, int depth)
{
	char	 child[128];

	xml_pad(b, depth);
	if (v == NULL || v->type == yajl_t_null) {
		buf_printf(b, "<%s nil=\"true\"></%s>\n", name, name);
		return;
	}
	switch (v->type) {
	case yajl_t_string:
		buf_printf(b, "<%s>", name);
		xml_escape(b, v->u.string);
		buf_printf(b, "</%s>\n", name);
		break;
	case yajl_t_number:
		buf_printf(b, "<%s type=\"%s\">%s</%s>\n", name,
		    (v->u.number.flags & YAJL_NUMBER_INT_VALID) ? "integer" :
		    "float", v->u.number.r, name);
		break;
	case yajl_t_true:
	case yajl_t_false:
		buf_printf(b, "<%s type=\"boolean\">%s</%s>\n", name,
		    v->type == yajl_t_true ? "true" : "false", name);
		break;
	case yajl_t_array:
		if (v->u.array.len == 0) {
			buf_printf(b, "<%s type=\"array\"/>\n", name);
			break;
		}
		buf_printf(b, "<%s type=\"array\">\n", name);
		xml_singular(child, sizeof(child), name);
		xml_children(b, v, child, depth + 1);
		xml_pad(b, depth);
		buf_printf(b, "</%s>\n", name);
		break;
	case yajl_t_object:
		buf_printf(b, "<%s>\n", name);
		xml_children(b, v, NULL, depth + 1);
		xml_pad(b, depth);
		buf_printf(b, "</%s>\n", name);
		break;
	default:
		break;
	}
}

enum ecs_err
json_to_xml(const char *p, size_t n, struct buf *out)
{
	struct json	*j;
	yajl_val	 v;
	enum ecs_err	 e;

	if ((e = json_parse(p, n, &j)) != ECS_OK)
		return e;
	v = YV(j);
	buf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	if (v->type == yajl_t_array) {
		if (v->u.array.len == 0)
			buf_adds(out, "<records type=\"array\"/>\n");
		else {
			buf_adds(out, "<records type=\"array\">\n");
			xml_children(out, v, "record", 1);
			buf_adds(out, "</records>\n");
		}
	} else
		xml_element(out, "hash", v, 0);
	json_free(j);
	return out->b_err ? ECS_ENOMEM : ECS_OK;
}
