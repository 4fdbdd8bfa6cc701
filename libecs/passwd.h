/*
 * passwd.h: salted, slow password hashes (PBKDF2-HMAC-SHA256), stored as
 * "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>".
 */
#ifndef ECS_PASSWD_H
#define ECS_PASSWD_H

#include <stddef.h>

#include <ecs/ecs.h>

#define PASSWD_ITERATIONS	60000
#define PASSWD_MAX		200	/* longest stored string */

enum ecs_err	 passwd_hash(const char *password, char *out, size_t len);
/* 1 when password matches stored; a malformed stored string never does. */
int		 passwd_verify(const char *password, const char *stored);

#endif /* ECS_PASSWD_H */
