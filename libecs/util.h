/*
 * util.h: small string, number and time helpers.
 */
#ifndef ECS_UTIL_H
#define ECS_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ecs/ecs.h>

/* Parse a whole decimal number in [min, max]; 0 on success, -1 otherwise. */
int	 util_parse_i64(const char *, int64_t min, int64_t max, int64_t *);
/* Same for the n first bytes of s. */
int	 util_parse_i64n(const char *, size_t, int64_t min, int64_t max,
	    int64_t *);
/* 1 when s is empty or only white space. */
int	 util_blank(const char *);
/* 1 when every byte of the n-byte s is white space (or n is 0). */
int	 util_blankn(const char *, size_t);
/* Copy of [s, s+n) without surrounding white space; caller frees. */
char	*util_trimdup(const char *, size_t);
/* Case-insensitive prefix test. */
int	 util_iprefix(const char *, const char *);
/* RFC 7231 date ("Tue, 04 Mar 2014 10:00:00 GMT") into out (>= 32). */
void	 util_http_date(time_t, char *, size_t);
/* Parse an HTTP date (RFC 1123, RFC 850 or asctime); -1 if unparseable. */
int	 util_parse_http_date(const char *, time_t *);
/* ISO 8601 "YYYY-MM-DDThh:mm:ss+00:00" in UTC into out (>= 32). */
void	 util_iso8601(time_t, char *, size_t);
/* Parse ISO 8601 date-time with optional offset (Z or +hh:mm); -1 if bad. */
int	 util_parse_iso8601(const char *, time_t *);
/* Lowercase hex of n bytes into out (2n + 1). */
void	 util_hex(const unsigned char *, size_t, char *);
/* Does the media type (parameters ignored, case-insensitive) name JSON? */
int	 util_is_json_type(const char *);
/* Milliseconds on the monotonic clock (for intervals only). */
int64_t	 util_now_ms(void);
/* snprintf(out, len, "%s", s) without the printf: returns strlen(s). */
size_t	 util_strlcpy(char *out, const char *s, size_t len);
/* Fill err (code and a formatted one-line text); returns code. */
enum ecs_err util_fail(struct ecs_error *, enum ecs_err, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
enum ecs_err util_vfail(struct ecs_error *, enum ecs_err, const char *,
	    va_list) __attribute__((format(printf, 3, 0)));
/*
 * Put the n bytes of s at out + pos (out has len bytes and stays NUL
 * terminated, truncated as snprintf would); returns pos + n, the length
 * the whole string would have.
 */
size_t	 util_append(char *out, size_t len, size_t pos, const char *s,
	    size_t n);
/* Decimal text of v into out (>= 21 bytes, NUL terminated); its length. */
size_t	 util_i64toa(int64_t, char *out);
/* Constant-time comparison of two strings; 1 if equal. */
int	 util_streq_ct(const char *, const char *);

#endif /* ECS_UTIL_H */
