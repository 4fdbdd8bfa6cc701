/*
 * ecc_http.h: what ecc.c needs from the ECC transport (ecc_http.c).
 * Private to libecs; the public side is <ecs/ecc.h>.
 */
#ifndef ECS_ECC_HTTP_H
#define ECS_ECC_HTTP_H

#include <ecs/ecc.h>

/* Fill err (which may be NULL); the text is formatted and truncated. */
void		 ecc_err_set(struct ecc_error *, enum ecs_err, int status,
		    enum ecc_net, const char *, ...)
		    __attribute__((format(printf, 5, 6)));
/* The ecs_err class of an HTTP status (ECS_OK for 2xx). */
enum ecs_err	 ecc_status_err(int status);

#endif /* ECS_ECC_HTTP_H */
