/*
 * fuzz_http.c: ecsd's HTTP/1.1 request head parser (ecsd/hparse.c) on
 * anything: where the header block ends, then its request line and
 * headers split in place, then what they say about the body.
 *
 * Input: the bytes a client sent. Up to the first empty line they are the
 * header block, as conn.c would take it; an input without one is parsed
 * whole (hparse_head must refuse it, never read past it).
 *
 * Checked besides ASan and UBSan: an accepted head has a method, HTTP/1.x
 * and a target, and every name and value it gives points into the block;
 * the body framing is sane (a length within max_body, never both a length
 * and chunks); a refusal gives a status of 400-505 and a reason.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecsd.h"

#define MAX_BODY	(1 << 20)

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_http: %s\n", what);
	abort();
}

static int
inside(const char *p, const char *s, size_t len)
{
	return p >= s && p <= s + len && memchr(p, '\0', len -
	    (size_t)(p - s) + 1) != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct req	 rq;
	const char	*why = NULL;
	char		*s;
	size_t		 n, i;
	int		 st;

	if (size > 1 << 20)
		return 0;
	n = hparse_end(data, size, 0);
	if (n == 0)
		n = size;
	else if (n < 2 || n > size || data[n - 1] != '\n')
		fail("hparse_end: not after a line feed");
	if ((s = malloc(n + 1)) == NULL)
		return 0;
	memcpy(s, data, n);
	s[n] = '\0';
	memset(&rq, 0, sizeof(rq));
	if ((st = hparse_head(&rq, s, n, &why)) == 0)
		st = hparse_framing(&rq, MAX_BODY, &why);
	if (st != 0) {
		if (st < 400 || st > 505 || why == NULL || *why == '\0')
			fail("a refusal without a 4xx/5xx status and a reason");
	} else {
		if (rq.rq_method == 0 || rq.rq_major != 1 ||
		    rq.rq_uri == NULL || !inside(rq.rq_uri, s, n) ||
		    *rq.rq_uri == '\0')
			fail("an accepted head without method, version or target");
		for (i = 0; i < rq.rq_nhv; i++)
			if (!inside(rq.rq_hv[i].h_name, s, n) ||
			    !inside(rq.rq_hv[i].h_value, s, n) ||
			    *rq.rq_hv[i].h_name == '\0')
				fail("a header outside the block");
		if (rq.rq_clen < 0 || rq.rq_clen > MAX_BODY ||
		    (rq.rq_chunked && rq.rq_clen != 0))
			fail("bad body framing");
	}
	free(rq.rq_hv);
	free(s);
	return 0;
}
