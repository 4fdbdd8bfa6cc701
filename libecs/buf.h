/*
 * buf.h: growable byte buffers with a ceiling fixed at creation.
 */
#ifndef ECS_BUF_H
#define ECS_BUF_H

#include <stddef.h>
#include <stdint.h>

#include <ecs/ecs.h>

struct buf {
	char	*b_data;	/* always NUL terminated when b_len > 0 */
	size_t	 b_len;
	size_t	 b_cap;
	size_t	 b_max;		/* 0: no ceiling */
	int	 b_err;		/* sticky: an append failed */
};

void		 buf_init(struct buf *, size_t max);
void		 buf_free(struct buf *);
void		 buf_reset(struct buf *);
enum ecs_err	 buf_add(struct buf *, const void *, size_t);
enum ecs_err	 buf_adds(struct buf *, const char *);
enum ecs_err	 buf_addc(struct buf *, char);
enum ecs_err	 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
const char	*buf_str(struct buf *);	/* "" when empty */
char		*buf_release(struct buf *);	/* caller owns; buffer emptied */

#endif /* ECS_BUF_H */
