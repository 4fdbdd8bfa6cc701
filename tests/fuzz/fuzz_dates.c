/*
 * fuzz_dates.c: util_parse_iso8601 and util_parse_http_date on arbitrary
 * strings. A time either parser accepts (within years 0000-9999) must
 * survive the matching formatter: parse(format(t)) == t.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define YEAR_0		((time_t)-62167219200LL)  /* 0000-01-01T00:00:00Z */
#define YEAR_10000	((time_t)253402300800LL)  /* 10000-01-01T00:00:00Z */

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fail(const char *what, const char *in, const char *out)
{
	fprintf(stderr, "fuzz_dates: %s: input \"%s\", formatted \"%s\"\n",
	    what, in, out);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;
	char	 out[64];
	time_t	 t, t2;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (util_parse_iso8601(s, &t) == 0 && t >= YEAR_0 && t < YEAR_10000) {
		util_iso8601(t, out, sizeof(out));
		if (util_parse_iso8601(out, &t2) != 0)
			fail("util_iso8601 output does not parse", s, out);
		if (t2 != t)
			fail("ISO 8601 round trip changes the time", s, out);
	}
	if (util_parse_http_date(s, &t) == 0 && t >= 0 && t < YEAR_10000) {
		util_http_date(t, out, sizeof(out));
		if (util_parse_http_date(out, &t2) != 0)
			fail("util_http_date output does not parse", s, out);
		if (t2 != t)
			fail("HTTP date round trip changes the time", s, out);
	}
	free(s);
	return 0;
}
