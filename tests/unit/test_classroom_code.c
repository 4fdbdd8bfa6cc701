/*
 * test_classroom_code.c: the join codes of the classroom plugin: the
 * alphabet, uniqueness among the codes in use, the bounded retry, and
 * the normalisation of what users type.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "classroom.h"

#define NCODES	10000

struct codeset {
	char	(*cs_codes)[CR_CODE_LEN + 1];
	size_t	 cs_n;
	size_t	 cs_collisions;
};

static int
codeset_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Linear, but 10,000 x 10,000 compares of 6 bytes is quick enough. */
static int
codeset_taken(const char *code, void *arg)
{
	struct codeset	*cs = arg;
	size_t		 i;

	for (i = 0; i < cs->cs_n; i++)
		if (strcmp(cs->cs_codes[i], code) == 0) {
			cs->cs_collisions++;
			return 1;
		}
	return 0;
}

static void
ten_thousand_codes_never_collide(void **state)
{
	struct codeset	 cs;
	size_t		 i, j;

	memset(&cs, 0, sizeof(cs));
	cs.cs_codes = calloc(NCODES, sizeof(*cs.cs_codes));
	assert_non_null(cs.cs_codes);
	for (i = 0; i < NCODES; i++) {
		assert_int_equal(cr_code_new(cs.cs_codes[i], codeset_taken,
		    &cs), 0);
		assert_int_equal(strlen(cs.cs_codes[i]), CR_CODE_LEN);
		for (j = 0; j < CR_CODE_LEN; j++)
			assert_non_null(strchr(CR_CODE_ALPHABET,
			    cs.cs_codes[i][j]));
		cs.cs_n++;
	}
	qsort(cs.cs_codes, NCODES, sizeof(*cs.cs_codes), codeset_cmp);
	for (i = 1; i < NCODES; i++)
		assert_string_not_equal(cs.cs_codes[i - 1], cs.cs_codes[i]);
	print_message("10000 codes, %zu collisions retried\n",
	    cs.cs_collisions);
	free(cs.cs_codes);
}

static void
alphabet_has_no_look_alikes(void **state)
{
	const char	*bad = "0O1IL2Z5S8BU";

	for (; *bad != '\0'; bad++)
		assert_null(strchr(CR_CODE_ALPHABET, *bad));
}

static int
always_taken(const char *code, void *arg)
{
	(*(int *)arg)++;
	return 1;
}

static void
full_code_space_gives_up_after_bounded_tries(void **state)
{
	char	 code[CR_CODE_LEN + 1];
	int	 tries = 0;

	assert_int_equal(cr_code_new(code, always_taken, &tries), -1);
	assert_int_equal(tries, CR_CODE_TRIES);
}

static void
typed_codes_are_normalised(void **state)
{
	char	 out[CR_CODE_LEN + 1];

	assert_int_equal(cr_code_normalise("ac-d 3e", out), 0);
	assert_string_equal(out, "ACD3E");
	assert_int_equal(cr_code_normalise("ac-d 3ef", out), -1);
	assert_int_equal(cr_code_normalise("acd3e", out), 0);
	assert_string_equal(out, "ACD3E");
	assert_int_equal(cr_code_normalise("ACD3O", out), -1);
	assert_int_equal(cr_code_normalise("ACD3EE", out), -1);
	assert_int_equal(cr_code_normalise("", out), -1);
}

static void
codes_are_spread_over_the_alphabet(void **state)
{
	char	 code[CR_CODE_LEN + 1];
	int	 seen[256];
	size_t	 i, n = strlen(CR_CODE_ALPHABET);

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 2000; i++) {
		assert_int_equal(cr_code_new(code, NULL, NULL), 0);
		seen[(unsigned char)code[0]]++;
	}
	for (i = 0; i < n; i++)
		assert_true(seen[(unsigned char)CR_CODE_ALPHABET[i]] > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ten_thousand_codes_never_collide),
		cmocka_unit_test(alphabet_has_no_look_alikes),
		cmocka_unit_test(full_code_space_gives_up_after_bounded_tries),
		cmocka_unit_test(typed_codes_are_normalised),
		cmocka_unit_test(codes_are_spread_over_the_alphabet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
