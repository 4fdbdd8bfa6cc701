/*
 * ecs.h: the error values shared by every part of libecs and its users.
 */
#ifndef ECS_ECS_H
#define ECS_ECS_H

#define ECS_VERSION	"0.1.0"

enum ecs_err {
	ECS_OK = 0,
	ECS_ENOMEM,	/* out of memory */
	ECS_EINVAL,	/* bad input: 400 */
	ECS_EAUTH,	/* not authenticated: 401 */
	ECS_EDENIED,	/* not allowed: 403 */
	ECS_ENOTFOUND,	/* no such thing: 404 */
	ECS_ENOTACCEPT,	/* no acceptable representation: 406 */
	ECS_ECONFLICT,	/* state conflict: 409 */
	ECS_EEXIST,	/* duplicate name: 409 */
	ECS_ETOOBIG,	/* over a limit: 413 */
	ECS_EMEDIA,	/* unsupported media type: 415 */
	ECS_ESTORE,	/* storage failure: 500 */
	ECS_EFULL,	/* storage full or read-only: 503 */
	ECS_EBUSY	/* storage busy: 503 */
};

/* Detail of an error, written by the function that failed. */
struct ecs_error {
	enum ecs_err	 e_code;
	char		 e_msg[512];	/* text for the client, no final newline */
	int		 e_keep;	/* the failed call's writes stand */
};

const char	*ecs_strerror(enum ecs_err);

#endif /* ECS_ECS_H */
