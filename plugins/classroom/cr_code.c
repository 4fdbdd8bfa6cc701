/*
 * cr_code.c: join codes and guest avatars. Codes are random (never
 * derived from ids), drawn uniformly from an alphabet without look-alike
 * characters (no 0/O, 1/I/L, 2/Z, 5/S, 8/B, U/V), and unique among the
 * codes that taken() reports; a collision is retried a bounded number of
 * times.
 */
#include "config.h"

#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "classroom.h"

int
cr_random(void *p, size_t n)
{
	unsigned char	*c = p;
	ssize_t		 got;

	while (n > 0) {
		got = getrandom(c, n > 256 ? 256 : n, 0);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		c += got;
		n -= (size_t)got;
	}
	return 0;
}

/* One uniform index below n (n <= 256), by rejection sampling. */
static int
random_below(unsigned int n, unsigned int *out)
{
	unsigned char	 b;
	unsigned int	 limit = 256 - 256 % n;

	do {
		if (cr_random(&b, 1) != 0)
			return -1;
	} while (b >= limit);
	*out = b % n;
	return 0;
}

int
cr_code_new(char *out, int (*taken)(const char *, void *), void *arg)
{
	static const char	 alpha[] = CR_CODE_ALPHABET;
	unsigned int		 k;
	int			 try, i;

	for (try = 0; try < CR_CODE_TRIES; try++) {
		for (i = 0; i < CR_CODE_LEN; i++) {
			if (random_below(sizeof(alpha) - 1, &k) != 0)
				return -1;
			out[i] = alpha[k];
		}
		out[CR_CODE_LEN] = '\0';
		if (taken == NULL || !taken(out, arg))
			return 0;
	}
	return -1;
}

int
cr_code_normalise(const char *in, char *out)
{
	size_t	 n = 0;

	for (; *in != '\0'; in++) {
		if (*in == ' ' || *in == '-' || *in == '\t')
			continue;
		if (n == CR_CODE_LEN)
			return -1;
		out[n] = (char)toupper((unsigned char)*in);
		if (strchr(CR_CODE_ALPHABET, out[n]) == NULL)
			return -1;
		n++;
	}
	out[n] = '\0';
	return n == CR_CODE_LEN ? 0 : -1;
}

void
cr_avatar_new(char *out, size_t len)
{
	static const char *const animals[] = {
		"badger", "bear", "beaver", "bison", "crane", "deer",
		"dolphin", "eagle", "falcon", "fox", "gecko", "hedgehog",
		"heron", "koala", "lynx", "marten", "otter", "owl", "panda",
		"penguin", "puffin", "rabbit", "raven", "seal", "squirrel",
		"swan", "tiger", "turtle", "walrus", "wolf"
	};
	unsigned char	 r[4];

	if (cr_random(r, sizeof(r)) != 0)
		memset(r, 0, sizeof(r));
	snprintf(out, len, "{\"animal\":\"%s\",\"color\":\"#%02x%02x%02x\"}",
	    animals[r[0] % (sizeof(animals) / sizeof(animals[0]))],
	    r[1], r[2], r[3]);
}
