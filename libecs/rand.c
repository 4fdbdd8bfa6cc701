/*
 * rand.c: random tokens from the OpenSSL RNG; the only user of RAND_bytes.
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "rand.h"
#include "util.h"

enum ecs_err
rand_hex(char *out, size_t nbytes)
{
	unsigned char	 raw[64];

	if (nbytes > sizeof(raw))
		return ECS_EINVAL;
	if (RAND_bytes(raw, (int)nbytes) != 1)
		return ECS_ESTORE;
	util_hex(raw, nbytes, out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return ECS_OK;
}
