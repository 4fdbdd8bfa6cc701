/*
 * json.h: parsing JSON into a read-only tree, and writing JSON.
 * The only module that knows yajl; no yajl type leaves json.c.
 */
#ifndef ECS_JSON_H
#define ECS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <ecs/ecs.h>

#include "buf.h"

#define JSON_MAX_DEPTH	32

struct json;		/* a parsed value; owned by its root */

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

/*
 * Parse len bytes. On success *out is the root, which the caller frees with
 * json_free(). Input nested deeper than JSON_MAX_DEPTH is refused.
 */
enum ecs_err		 json_parse(const char *, size_t, struct json **);
void			 json_free(struct json *);

enum json_type		 json_type(const struct json *);
/* Member of an object, or NULL (also when v is not an object). */
const struct json	*json_get(const struct json *, const char *);
const char		*json_string(const struct json *);	/* or NULL */
/* Integer value; -1 if v is not an integral number. */
int			 json_int(const struct json *, int64_t *);
size_t			 json_len(const struct json *);	/* array/object size */
const struct json	*json_at(const struct json *, size_t);
const char		*json_key_at(const struct json *, size_t);

/* Rewrite a JSON text as the XML of protocol section 3.9, into out. */
enum ecs_err		 json_to_xml(const char *, size_t, struct buf *);

/* A writer appending to a buf; pretty: two-space indentation. */
struct jw {
	struct buf	*jw_buf;
	int		 jw_pretty;
	int		 jw_depth;
	int		 jw_count[JSON_MAX_DEPTH + 2];
	int		 jw_after_key;
};

void	 jw_init(struct jw *, struct buf *, int pretty);
void	 jw_obj_open(struct jw *);
void	 jw_obj_close(struct jw *);
void	 jw_arr_open(struct jw *);
void	 jw_arr_close(struct jw *);
void	 jw_key(struct jw *, const char *);
void	 jw_str(struct jw *, const char *);	/* NULL writes null */
void	 jw_strn(struct jw *, const char *, size_t);
void	 jw_int(struct jw *, int64_t);
void	 jw_bool(struct jw *, int);
void	 jw_null(struct jw *);
void	 jw_value(struct jw *, const struct json *);	/* copy a tree */
/* The common "key": value pairs. */
void	 jw_kstr(struct jw *, const char *, const char *);
void	 jw_kint(struct jw *, const char *, int64_t);
void	 jw_kbool(struct jw *, const char *, int);

#endif /* ECS_JSON_H */
