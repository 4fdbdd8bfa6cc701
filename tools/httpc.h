/*
 * httpc: a small blocking HTTP/1.1 client for the ecsd tools.
 *
 * One request per connection ("Connection: close").  Understands
 * Content-Length, chunked and read-until-close response bodies.  Plain
 * http:// only.  Never prints; errors are written into the caller's
 * buffer.
 */

#ifndef HTTPC_H
#define HTTPC_H

#include <stddef.h>

#define HTTPC_MAX_HEADERS	65536
#define HTTPC_MAX_BODY		(64 * 1024 * 1024)

struct httpc_request {
	const char	*hq_url;	/* http://host[:port][/prefix] */
	const char	*hq_method;	/* "GET", "POST", ... */
	const char	*hq_path;	/* appended to the URL's prefix */
	const char	*hq_user;	/* Basic auth user, or NULL */
	const char	*hq_password;	/* Basic auth password, or NULL */
	const char	*hq_ctype;	/* Content-Type of the body, or NULL */
	const char	*hq_body;	/* body, or NULL */
	size_t		 hq_bodylen;
	int		 hq_timeout;	/* whole exchange, in milliseconds */
};

struct httpc_response {
	int		 hr_status;
	char		 hr_reason[128];
	char		 hr_ctype[128];
	char		*hr_body;	/* owned, NUL-terminated */
	size_t		 hr_bodylen;
};

/*
 * Perform one request.  Returns 0 and fills *resp (any status) or -1 with
 * a message in err.  On success the caller frees resp with
 * httpc_response_free().
 */
int	 httpc_do(const struct httpc_request *, struct httpc_response *,
	    char *, size_t);
void	 httpc_response_free(struct httpc_response *);

/* Base64 (RFC 4648, padded).  Returns a string the caller frees. */
char	*httpc_base64(const unsigned char *, size_t);

#endif /* HTTPC_H */
