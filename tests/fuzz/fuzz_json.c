/*
 * fuzz_json.c: json_parse, the tree accessors, jw_value and json_to_xml on
 * arbitrary bytes. Beyond the sanitizers it checks three promises of
 * json.h: a parsed tree is never nested deeper than JSON_MAX_DEPTH, what
 * jw_value writes parses again, and writing is idempotent (writing the
 * reparsed tree gives the same text).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fail(const char *what, const struct buf *a, const struct buf *b)
{
	fprintf(stderr, "fuzz_json: %s\n", what);
	if (a != NULL && a->b_len > 0)
		fprintf(stderr, "first:  %.*s\n", (int)a->b_len, a->b_data);
	if (b != NULL && b->b_len > 0)
		fprintf(stderr, "second: %.*s\n", (int)b->b_len, b->b_data);
	abort();
}

/* Nesting depth of containers (a scalar is 0). */
static int
depth(const struct json *j)
{
	size_t	 i, n;
	int	 d, max = 0;

	if (json_type(j) != JSON_ARRAY && json_type(j) != JSON_OBJECT)
		return 0;
	n = json_len(j);
	for (i = 0; i < n; i++) {
		if ((d = depth(json_at(j, i))) > max)
			max = d;
	}
	return max + 1;
}

/* Walk the tree through every accessor. */
static void
walk(const struct json *j)
{
	size_t	 i, n;
	int64_t	 v;
	const char *k;

	(void)json_string(j);
	(void)json_int(j, &v);
	n = json_len(j);
	for (i = 0; i < n; i++) {
		if ((k = json_key_at(j, i)) != NULL)
			(void)json_get(j, k);
		walk(json_at(j, i));
	}
	(void)json_at(j, n);
	(void)json_key_at(j, n);
}

static void
write_tree(const struct json *j, int pretty, struct buf *out)
{
	struct jw	 w;

	jw_init(&w, out, pretty);
	jw_value(&w, j);
	if (out->b_err)
		fail("jw_value: buffer error", out, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data;
	struct json	*j = NULL, *j2 = NULL, *j3 = NULL;
	struct buf	 b1, b2, bp, x;
	enum ecs_err	 e, ex;

	buf_init(&b1, 0);
	buf_init(&b2, 0);
	buf_init(&bp, 0);
	buf_init(&x, 0);
	e = json_parse(p, size, &j);
	ex = json_to_xml(p, size, &x);
	if (e != ex && !(e == ECS_OK && ex == ECS_ENOMEM))
		fail("json_parse and json_to_xml disagree", NULL, NULL);
	if (e != ECS_OK)
		goto done;
	if (depth(j) > JSON_MAX_DEPTH)
		fail("json_parse accepted nesting deeper than JSON_MAX_DEPTH",
		    NULL, NULL);
	walk(j);
	write_tree(j, 0, &b1);
	write_tree(j, 1, &bp);
	if (json_parse(b1.b_data, b1.b_len, &j2) != ECS_OK)
		fail("jw_value output does not parse", &b1, NULL);
	if (json_parse(bp.b_data, bp.b_len, &j3) != ECS_OK)
		fail("pretty jw_value output does not parse", &bp, NULL);
	write_tree(j2, 0, &b2);
	if (b1.b_len != b2.b_len || memcmp(b1.b_data, b2.b_data, b1.b_len))
		fail("writing is not idempotent", &b1, &b2);
	buf_reset(&b2);
	write_tree(j3, 0, &b2);
	if (b1.b_len != b2.b_len || memcmp(b1.b_data, b2.b_data, b1.b_len))
		fail("pretty and compact output differ", &b1, &b2);
done:
	json_free(j);
	json_free(j2);
	json_free(j3);
	buf_free(&b1);
	buf_free(&b2);
	buf_free(&bp);
	buf_free(&x);
	return 0;
}
