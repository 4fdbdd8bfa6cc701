/*
 * passwd.c: salted, slow password hashes with PBKDF2-HMAC-SHA256. The
 * parameters live in the stored string, so they can grow without breaking
 * stored hashes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "passwd.h"
#include "rand.h"
#include "util.h"

#define SALT_BYTES	16
#define HASH_BYTES	32

static int
derive(const char *pw, const char *salthex, int64_t iter,
    unsigned char *out)
{
	return PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw),
	    (const unsigned char *)salthex, (int)strlen(salthex), (int)iter,
	    EVP_sha256(), HASH_BYTES, out) == 1 ? 0 : -1;
}

enum ecs_err
passwd_hash(const char *pw, char *out, size_t len)
{
	char		 salt[2 * SALT_BYTES + 1], hex[2 * HASH_BYTES + 1];
	unsigned char	 h[HASH_BYTES];
	enum ecs_err	 e;

	if ((e = rand_hex(salt, SALT_BYTES)) != ECS_OK)
		return e;
	if (derive(pw, salt, PASSWD_ITERATIONS, h) != 0)
		return ECS_ESTORE;
	util_hex(h, sizeof(h), hex);
	OPENSSL_cleanse(h, sizeof(h));
	if ((size_t)snprintf(out, len, "pbkdf2-sha256$%d$%s$%s",
	    PASSWD_ITERATIONS, salt, hex) >= len)
		return ECS_ETOOBIG;
	return ECS_OK;
}

int
passwd_verify(const char *pw, const char *stored)
{
	char		 copy[PASSWD_MAX + 1], hex[2 * HASH_BYTES + 1];
	char		*it, *salt, *want;
	unsigned char	 h[HASH_BYTES];
	int64_t		 iter;
	int		 ok;

	if (strlen(stored) > PASSWD_MAX)
		return 0;
	snprintf(copy, sizeof(copy), "%s", stored);
	if (strncmp(copy, "pbkdf2-sha256$", 14) != 0)
		return 0;
	it = copy + 14;
	if ((salt = strchr(it, '$')) == NULL)
		return 0;
	*salt++ = '\0';
	if ((want = strchr(salt, '$')) == NULL)
		return 0;
	*want++ = '\0';
	if (util_parse_i64(it, 1000, 10000000, &iter) != 0 ||
	    strlen(want) != 2 * HASH_BYTES)
		return 0;
	if (derive(pw, salt, iter, h) != 0)
		return 0;
	util_hex(h, sizeof(h), hex);
	ok = CRYPTO_memcmp(hex, want, 2 * HASH_BYTES) == 0;
	OPENSSL_cleanse(h, sizeof(h));
	OPENSSL_cleanse(hex, sizeof(hex));
	return ok;
}
