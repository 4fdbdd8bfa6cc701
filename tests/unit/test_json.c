/*
 * test_json.c: the JSON reader and writer of libecs.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"
#include "util.h"

static void
parse_reads_members_and_types(void **state)
{
	struct json		*j = NULL;
	const char		*in = "{\"a\": 1, \"b\": \"x\", \"c\": [true, null]}";
	int64_t			 v;

	(void)state;
	assert_int_equal(json_parse(in, strlen(in), &j), ECS_OK);
	assert_int_equal(json_type(j), JSON_OBJECT);
	assert_int_equal(json_int(json_get(j, "a"), &v), 0);
	assert_int_equal(v, 1);
	assert_string_equal(json_string(json_get(j, "b")), "x");
	assert_int_equal(json_len(json_get(j, "c")), 2);
	assert_int_equal(json_type(json_at(json_get(j, "c"), 0)), JSON_TRUE);
	assert_null(json_get(j, "missing"));
	json_free(j);
}

static void
parse_refuses_garbage_and_deep_nesting(void **state)
{
	struct json	*j = NULL;
	char		 deep[200];

	(void)state;
	assert_int_equal(json_parse("{\"a\":", 5, &j), ECS_EINVAL);
	memset(deep, '[', sizeof(deep));
	assert_int_equal(json_parse(deep, sizeof(deep), &j), ECS_EINVAL);
	assert_int_equal(json_parse("\"\xff\"", 3, &j), ECS_EINVAL);
}

static void
writer_pretty_prints_with_two_spaces(void **state)
{
	struct buf	 b;
	struct jw	 w;

	(void)state;
	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	jw_obj_open(&w);
	jw_kstr(&w, "name", "a\"b");
	jw_key(&w, "list");
	jw_arr_open(&w);
	jw_int(&w, 3);
	jw_arr_close(&w);
	jw_key(&w, "empty");
	jw_arr_open(&w);
	jw_arr_close(&w);
	jw_obj_close(&w);
	assert_string_equal(buf_str(&b), "{\n  \"name\": \"a\\\"b\",\n"
	    "  \"list\": [\n    3\n  ],\n  \"empty\": []\n}");
	buf_free(&b);
}

static void
iso8601_round_trips_with_offsets(void **state)
{
	time_t	 t, u;
	char	 s[40];

	(void)state;
	assert_int_equal(util_parse_iso8601("2014-03-04T11:00:00+01:00", &t),
	    0);
	util_iso8601(t, s, sizeof(s));
	assert_string_equal(s, "2014-03-04T10:00:00+00:00");
	assert_int_equal(util_parse_iso8601(s, &u), 0);
	assert_true(t == u);
	assert_int_equal(util_parse_iso8601("yesterday", &t), -1);
}

static void
buf_refuses_growth_past_its_ceiling(void **state)
{
	struct buf	 b;

	(void)state;
	buf_init(&b, 4);
	assert_int_equal(buf_add(&b, "abcd", 4), ECS_OK);
	assert_int_equal(buf_add(&b, "e", 1), ECS_ETOOBIG);
	assert_string_equal(buf_str(&b), "abcd");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(parse_reads_members_and_types),
		cmocka_unit_test(parse_refuses_garbage_and_deep_nesting),
		cmocka_unit_test(writer_pretty_prints_with_two_spaces),
		cmocka_unit_test(iso8601_round_trips_with_offsets),
		cmocka_unit_test(buf_refuses_growth_past_its_ceiling),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
