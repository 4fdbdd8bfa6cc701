/*
 * rand.h: random tokens from the OpenSSL RNG.
 */
#ifndef ECS_RAND_H
#define ECS_RAND_H

#include <stddef.h>

#include <ecs/ecs.h>

/* nbytes random bytes as 2*nbytes lowercase hex digits in out. */
enum ecs_err	 rand_hex(char *out, size_t nbytes);

#endif /* ECS_RAND_H */
