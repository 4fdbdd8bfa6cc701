/*
 * cr_json.c: JSON parsing for the plugin; the only file of the plugin
 * that knows yajl. yajl has no depth limit and frees trees recursively,
 * so nesting is checked before yajl sees the text.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "classroom.h"

/* Nesting depth of a JSON text, counting brackets outside strings. */
static int
json_depth_ok(const char *s)
{
	int	 depth = 0, instr = 0;

	for (; *s != '\0'; s++) {
		if (instr) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			else if (*s == '"')
				instr = 0;
			continue;
		}
		if (*s == '"')
			instr = 1;
		else if (*s == '[' || *s == '{') {
			if (++depth > CR_JSON_DEPTH)
				return 0;
		} else if (*s == ']' || *s == '}')
			depth--;
	}
	return 1;
}

struct cr_json *
cr_json_parse(const char *text, char *err, size_t errlen)
{
	yajl_val	 v;
	char		 e[128];

	if (!json_depth_ok(text)) {
		snprintf(err, errlen, "JSON nested deeper than %d",
		    CR_JSON_DEPTH);
		return NULL;
	}
	e[0] = '\0';
	if ((v = yajl_tree_parse(text, e, sizeof(e))) == NULL) {
		snprintf(err, errlen, "invalid JSON");
		return NULL;
	}
	return (struct cr_json *)v;
}

void
cr_json_free(struct cr_json *j)
{
	if (j != NULL)
		yajl_tree_free((yajl_val)j);
}

enum cr_jtype
cr_json_type(const struct cr_json *j)
{
	const struct yajl_val_s	*v = (const struct yajl_val_s *)j;

	if (v == NULL)
		return CR_JNULL;
	switch (v->type) {
	case yajl_t_string:
		return CR_JSTRING;
	case yajl_t_number:
		return CR_JNUMBER;
	case yajl_t_object:
		return CR_JOBJECT;
	case yajl_t_array:
		return CR_JARRAY;
	case yajl_t_true:
		return CR_JTRUE;
	case yajl_t_false:
		return CR_JFALSE;
	default:
		return CR_JNULL;
	}
}

const struct cr_json *
cr_json_get(const struct cr_json *j, const char *key)
{
	const struct yajl_val_s	*v = (const struct yajl_val_s *)j;
	size_t		 i;

	if (v == NULL || v->type != yajl_t_object)
		return NULL;
	for (i = 0; i < v->u.object.len; i++)
		if (strcmp(v->u.object.keys[i], key) == 0)
			return (const struct cr_json *)v->u.object.values[i];
	return NULL;
}

const char *
cr_json_str(const struct cr_json *j)
{
	const struct yajl_val_s	*v = (const struct yajl_val_s *)j;

	if (v == NULL || v->type != yajl_t_string)
		return NULL;
	return v->u.string;
}

int
cr_json_int(const struct cr_json *j, int64_t *out)
{
	const struct yajl_val_s	*v = (const struct yajl_val_s *)j;

	if (v == NULL || v->type != yajl_t_number ||
	    !(v->u.number.flags & YAJL_NUMBER_INT_VALID))
		return -1;
	*out = v->u.number.i;
	return 0;
}

int
cr_json_bool(const struct cr_json *j, int *out)
{
	const struct yajl_val_s	*v = (const struct yajl_val_s *)j;

	if (v == NULL || (v->type != yajl_t_true && v->type != yajl_t_false))
		return -1;
	*out = v->type == yajl_t_true;
	return 0;
}

size_t
cr_json_len(const struct cr_json *j)
{
	const struct yajl_val_s	*v = (const struct yajl_val_s *)j;

	if (v == NULL)
		return 0;
	if (v->type == yajl_t_array)
		return v->u.array.len;
	if (v->type == yajl_t_object)
		return v->u.object.len;
	return 0;
}

const struct cr_json *
cr_json_at(const struct cr_json *j, size_t i)
{
	const struct yajl_val_s	*v = (const struct yajl_val_s *)j;

	if (v == NULL || v->type != yajl_t_array || i >= v->u.array.len)
		return NULL;
	return (const struct cr_json *)v->u.array.values[i];
}

void
cr_jw_value(struct cr_jw *w, const struct cr_json *j)
{
	const struct yajl_val_s	*v = (const struct yajl_val_s *)j;
	size_t		 i;

	if (v == NULL) {
		cr_jw_null(w);
		return;
	}
	switch (v->type) {
	case yajl_t_string:
		cr_jw_str(w, v->u.string);
		break;
	case yajl_t_number:
		/* The number as written; yajl checked its syntax. */
		cr_jw_raw(w, v->u.number.r);
		break;
	case yajl_t_true:
	case yajl_t_false:
		cr_jw_bool(w, v->type == yajl_t_true);
		break;
	case yajl_t_array:
		cr_jw_arr_open(w);
		for (i = 0; i < v->u.array.len; i++)
			cr_jw_value(w, (const struct cr_json *)
			    v->u.array.values[i]);
		cr_jw_arr_close(w);
		break;
	case yajl_t_object:
		cr_jw_obj_open(w);
		for (i = 0; i < v->u.object.len; i++) {
			cr_jw_key(w, v->u.object.keys[i]);
			cr_jw_value(w, (const struct cr_json *)
			    v->u.object.values[i]);
		}
		cr_jw_obj_close(w);
		break;
	default:
		cr_jw_null(w);
	}
}
