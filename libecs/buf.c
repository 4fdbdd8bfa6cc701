/*
 * buf.c: growable byte buffers with a ceiling fixed at creation.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->b_max = max;
}

void
buf_free(struct buf *b)
{
	free(b->b_data);
	b->b_data = NULL;
	b->b_len = b->b_cap = 0;
	b->b_err = 0;
}

void
buf_reset(struct buf *b)
{
	b->b_len = 0;
	b->b_err = 0;
	if (b->b_data != NULL)
		b->b_data[0] = '\0';
}

static enum ecs_err
buf_grow(struct buf *b, size_t need)
{
	size_t	 ncap;
	char	*p;

	if (b->b_max != 0 && need > b->b_max) {
		b->b_err = 1;
		return ECS_ETOOBIG;
	}
	if (need + 1 <= b->b_cap)
		return ECS_OK;
	ncap = b->b_cap ? b->b_cap : 64;
	while (ncap < need + 1)
		ncap *= 2;
	p = realloc(b->b_data, ncap);
	if (p == NULL) {
		b->b_err = 1;
		return ECS_ENOMEM;
	}
	b->b_data = p;
	b->b_cap = ncap;
	return ECS_OK;
}

enum ecs_err
buf_add(struct buf *b, const void *p, size_t n)
{
	enum ecs_err	 rc;

	if (n > SIZE_MAX / 2 - b->b_len)
		return ECS_ETOOBIG;
	if ((rc = buf_grow(b, b->b_len + n)) != ECS_OK)
		return rc;
	if (n > 0)
		memcpy(b->b_data + b->b_len, p, n);
	b->b_len += n;
	b->b_data[b->b_len] = '\0';
	return ECS_OK;
}

enum ecs_err
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

enum ecs_err
buf_addc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

enum ecs_err
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list		 ap;
	int		 n;
	enum ecs_err	 rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return ECS_EINVAL;
	if ((rc = buf_grow(b, b->b_len + (size_t)n)) != ECS_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->b_data + b->b_len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->b_len += (size_t)n;
	return ECS_OK;
}

const char *
buf_str(struct buf *b)
{
	return b->b_data != NULL ? b->b_data : "";
}

char *
buf_release(struct buf *b)
{
	char	*p;

	if (b->b_data == NULL && buf_grow(b, 0) != ECS_OK)
		return NULL;
	if (b->b_len == 0)
		b->b_data[0] = '\0';
	p = b->b_data;
	b->b_data = NULL;
	b->b_len = b->b_cap = 0;
	return p;
}
