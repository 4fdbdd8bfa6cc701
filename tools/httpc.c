/*
 * httpc: a small blocking HTTP/1.1 client.
 *
 * The socket is non-blocking and every wait goes through poll(2) with
 * what is left of one deadline, so a dead or slow server cannot hang the
 * caller longer than hq_timeout.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"

struct hbuf {
	char	*hb_data;
	size_t	 hb_len;
	size_t	 hb_size;
	size_t	 hb_max;
};

struct url {
	char	 u_host[256];	/* for getaddrinfo, without brackets */
	char	 u_hosthdr[300];	/* for the Host header */
	char	 u_port[8];
	char	 u_prefix[1024];	/* path prefix without trailing slash */
};

static void	 seterr(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	 hbuf_add(struct hbuf *, const void *, size_t);
static int	 hbuf_printf(struct hbuf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 hbuf_free(struct hbuf *);
static long long now_ms(void);
static int	 remaining(long long);
static int	 url_parse(const char *, struct url *, char *, size_t);
static int	 tcp_connect(const struct url *, long long, char *, size_t);
static int	 wait_fd(int, short, long long, char *, size_t);
static int	 send_all(int, const char *, size_t, long long, char *,
		    size_t);
static const char *find_eoh(const char *, size_t, size_t *);
static int	 parse_head(const char *, size_t, struct httpc_response *,
		    long long *, int *, char *, size_t);
static int	 dechunk(const char *, size_t, struct hbuf *);

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
hbuf_add(struct hbuf *b, const void *p, size_t n)
{
	char	*np;
	size_t	 nsize;

	if (n > b->hb_max - b->hb_len)
		return (-1);
	if (b->hb_len + n + 1 > b->hb_size) {
		nsize = b->hb_size == 0 ? 4096 : b->hb_size;
		while (nsize < b->hb_len + n + 1)
			nsize *= 2;
		np = realloc(b->hb_data, nsize);
		if (np == NULL)
			return (-1);
		b->hb_data = np;
		b->hb_size = nsize;
	}
	memcpy(b->hb_data + b->hb_len, p, n);
	b->hb_len += n;
	b->hb_data[b->hb_len] = '\0';
	return (0);
}

static int
hbuf_printf(struct hbuf *b, const char *fmt, ...)
{
	va_list	ap;
	char	line[2048];
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return (-1);
	return (hbuf_add(b, line, (size_t)n));
}

static void
hbuf_free(struct hbuf *b)
{
	free(b->hb_data);
	b->hb_data = NULL;
	b->hb_len = b->hb_size = 0;
}

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int
remaining(long long deadline)
{
	long long	left;

	left = deadline - now_ms();
	if (left < 0)
		return (0);
	if (left > INT_MAX)
		return (INT_MAX);
	return ((int)left);
}

/*
 * Split http://host[:port][/prefix].  IPv6 literals are written in
 * brackets.
 */
static int
url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
	const char	*p, *hend, *pstart, *portp;
	size_t		 hlen, plen;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "http://", 7) != 0) {
		seterr(err, errlen, "only http:// URLs are supported");
		return (-1);
	}
	p = s + 7;
	pstart = strchr(p, '/');
	if (pstart == NULL)
		pstart = p + strlen(p);
	portp = NULL;
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(pstart - p));
		if (hend == NULL) {
			seterr(err, errlen, "bad IPv6 address");
			return (-1);
		}
		hlen = (size_t)(hend - p - 1);
		if (hlen == 0 || hlen >= sizeof(u->u_host))
			goto bad;
		memcpy(u->u_host, p + 1, hlen);
		if (hend + 1 < pstart) {
			if (hend[1] != ':')
				goto bad;
			portp = hend + 2;
		}
	} else {
		hend = memchr(p, ':', (size_t)(pstart - p));
		if (hend == NULL)
			hend = pstart;
		else
			portp = hend + 1;
		hlen = (size_t)(hend - p);
		if (hlen == 0 || hlen >= sizeof(u->u_host))
			goto bad;
		memcpy(u->u_host, p, hlen);
	}
	if (portp != NULL) {
		plen = (size_t)(pstart - portp);
		if (plen == 0 || plen >= sizeof(u->u_port) ||
		    strspn(portp, "0123456789") < plen)
			goto bad;
		memcpy(u->u_port, portp, plen);
	} else
		strcpy(u->u_port, "80");
	hlen = (size_t)(pstart - p);
	if (hlen >= sizeof(u->u_hosthdr))
		goto bad;
	memcpy(u->u_hosthdr, p, hlen);
	plen = strlen(pstart);
	while (plen > 0 && pstart[plen - 1] == '/')
		plen--;
	if (plen >= sizeof(u->u_prefix))
		goto bad;
	memcpy(u->u_prefix, pstart, plen);
	return (0);
bad:
	seterr(err, errlen, "bad URL");
	return (-1);
}

static int
wait_fd(int fd, short events, long long deadline, char *err, size_t errlen)
{
	struct pollfd	pfd;
	int		n;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, remaining(deadline));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			seterr(err, errlen, "poll: %s", strerror(errno));
			return (-1);
		}
		if (n == 0) {
			seterr(err, errlen, "timed out");
			return (-1);
		}
		return (0);
	}
}

static int
tcp_connect(const struct url *u, long long deadline, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res, *ai;
	socklen_t	 sl;
	int		 fd, rc, soerr, saved;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(u->u_host, u->u_port, &hints, &res);
	if (rc != 0) {
		seterr(err, errlen, "%s", gai_strerror(rc));
		return (-1);
	}
	fd = -1;
	saved = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (rc == -1 && errno == EINPROGRESS) {
			if (wait_fd(fd, POLLOUT, deadline, err, errlen) == -1) {
				saved = ETIMEDOUT;
				close(fd);
				fd = -1;
				continue;
			}
			soerr = 0;
			sl = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &sl) == -1)
				soerr = errno;
			if (soerr != 0) {
				errno = soerr;
				rc = -1;
			} else
				rc = 0;
		}
		if (rc == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		seterr(err, errlen, "%s", strerror(saved));
		return (-1);
	}
	return (fd);
}

static int
send_all(int fd, const char *p, size_t n, long long deadline, char *err,
    size_t errlen)
{
	ssize_t	w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline, err, errlen) == -1)
				return (-1);
			continue;
		}
		if (w == -1) {
			seterr(err, errlen, "send: %s", strerror(errno));
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

/* Find the end of the header block; *bodyoff gets the body offset. */
static const char *
find_eoh(const char *p, size_t n, size_t *bodyoff)
{
	size_t	i;

	for (i = 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n') {
			*bodyoff = i + 2;
			return (p + i);
		}
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') {
			*bodyoff = i + 3;
			return (p + i);
		}
	}
	return (NULL);
}

/*
 * Parse the status line and the headers we care about.  *clen is -1 when
 * there is no Content-Length.
 */
static int
parse_head(const char *p, size_t n, struct httpc_response *resp,
    long long *clen, int *chunked, char *err, size_t errlen)
{
	const char	*line, *eol, *end, *colon, *v;
	size_t		 len, vlen;
	char		 num[32];
	char		*ep;
	long		 status;

	end = p + n;
	*clen = -1;
	*chunked = 0;
	line = p;
	eol = memchr(line, '\n', (size_t)(end - line));
	if (eol == NULL)
		eol = end;
	len = (size_t)(eol - line);
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
		goto bad;
	memcpy(num, line + 9, 3);
	num[3] = '\0';
	status = strtol(num, &ep, 10);
	if (*ep != '\0' || status < 100 || status > 999)
		goto bad;
	resp->hr_status = (int)status;
	if (len > 13) {
		vlen = len - 13;
		if (vlen >= sizeof(resp->hr_reason))
			vlen = sizeof(resp->hr_reason) - 1;
		memcpy(resp->hr_reason, line + 13, vlen);
		resp->hr_reason[vlen] = '\0';
	}
	for (line = eol + 1; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			eol = end;
		len = (size_t)(eol - line);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0)
			break;
		colon = memchr(line, ':', len);
		if (colon == NULL)
			continue;
		v = colon + 1;
		while (v < line + len && (*v == ' ' || *v == '\t'))
			v++;
		vlen = (size_t)(line + len - v);
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if ((size_t)(colon - line) == 14 &&
		    strncasecmp(line, "Content-Length", 14) == 0) {
			if (vlen == 0 || vlen >= sizeof(num) ||
			    strspn(v, "0123456789") < vlen)
				goto bad;
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			*clen = strtoll(num, NULL, 10);
		} else if ((size_t)(colon - line) == 17 &&
		    strncasecmp(line, "Transfer-Encoding", 17) == 0) {
			if (vlen >= 7 && strncasecmp(v + vlen - 7, "chunked",
			    7) == 0)
				*chunked = 1;
		} else if ((size_t)(colon - line) == 12 &&
		    strncasecmp(line, "Content-Type", 12) == 0) {
			if (vlen >= sizeof(resp->hr_ctype))
				vlen = sizeof(resp->hr_ctype) - 1;
			memcpy(resp->hr_ctype, v, vlen);
			resp->hr_ctype[vlen] = '\0';
		}
	}
	return (0);
bad:
	seterr(err, errlen, "malformed response header");
	return (-1);
}

/*
 * Decode a chunked body.  Returns 1 when it is complete (the decoded
 * bytes are in out, when out is not NULL), 0 when more input is needed,
 * -1 when it is malformed.
 */
static int
dechunk(const char *p, size_t n, struct hbuf *out)
{
	const char	*end, *eol;
	char		*ep;
	char		 hex[32];
	unsigned long long size;
	size_t		 len;

	end = p + n;
	for (;;) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			return (0);
		len = strspn(p, "0123456789abcdefABCDEF");
		if (len == 0 || len >= sizeof(hex) || p + len > eol)
			return (-1);
		memcpy(hex, p, len);
		hex[len] = '\0';
		size = strtoull(hex, &ep, 16);
		if (*ep != '\0' || size > HTTPC_MAX_BODY)
			return (-1);
		p = eol + 1;
		if (size == 0)
			break;
		if ((size_t)(end - p) < size + 1)
			return (0);
		if (out != NULL && hbuf_add(out, p, (size_t)size) == -1)
			return (-1);
		p += size;
		if (*p == '\r') {
			if (end - p < 2)
				return (0);
			p++;
		}
		if (*p != '\n')
			return (-1);
		p++;
	}
	/* Trailers, up to an empty line. */
	for (;;) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			return (0);
		if (eol == p || (eol == p + 1 && *p == '\r'))
			return (1);
		p = eol + 1;
	}
}

int
httpc_do(const struct httpc_request *hq, struct httpc_response *resp,
    char *err, size_t errlen)
{
	struct url	 u;
	struct hbuf	 req, in, body;
	const char	*eoh;
	char		*cred, *b64;
	char		 chunk[16384];
	long long	 deadline, clen;
	size_t		 bodyoff, credlen;
	ssize_t		 r;
	int		 fd, chunked, rc, ret, eof;

	memset(resp, 0, sizeof(*resp));
	memset(&req, 0, sizeof(req));
	memset(&in, 0, sizeof(in));
	memset(&body, 0, sizeof(body));
	req.hb_max = HTTPC_MAX_BODY + HTTPC_MAX_HEADERS;
	in.hb_max = HTTPC_MAX_BODY + HTTPC_MAX_HEADERS;
	body.hb_max = HTTPC_MAX_BODY;
	fd = -1;
	ret = -1;
	cred = b64 = NULL;

	if (url_parse(hq->hq_url, &u, err, errlen) == -1)
		return (-1);
	deadline = now_ms() + (hq->hq_timeout > 0 ? hq->hq_timeout : 30000);

	if (hbuf_printf(&req, "%s %s%s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: ecsctl\r\nAccept: application/json\r\n"
	    "Connection: close\r\n", hq->hq_method, u.u_prefix, hq->hq_path,
	    u.u_hosthdr) == -1)
		goto nomem;
	if (hq->hq_user != NULL && hq->hq_password != NULL) {
		credlen = strlen(hq->hq_user) + 1 + strlen(hq->hq_password);
		cred = malloc(credlen + 1);
		if (cred == NULL)
			goto nomem;
		snprintf(cred, credlen + 1, "%s:%s", hq->hq_user,
		    hq->hq_password);
		b64 = httpc_base64((unsigned char *)cred, credlen);
		explicit_bzero(cred, credlen);
		if (b64 == NULL)
			goto nomem;
		if (hbuf_printf(&req, "Authorization: Basic %s\r\n", b64) == -1)
			goto nomem;
		explicit_bzero(b64, strlen(b64));
	}
	if (hq->hq_body != NULL && hq->hq_ctype != NULL)
		if (hbuf_printf(&req, "Content-Type: %s\r\n",
		    hq->hq_ctype) == -1)
			goto nomem;
	if (hq->hq_body != NULL || strcmp(hq->hq_method, "POST") == 0 ||
	    strcmp(hq->hq_method, "PUT") == 0)
		if (hbuf_printf(&req, "Content-Length: %zu\r\n",
		    hq->hq_body != NULL ? hq->hq_bodylen : 0) == -1)
			goto nomem;
	if (hbuf_add(&req, "\r\n", 2) == -1)
		goto nomem;
	if (hq->hq_body != NULL &&
	    hbuf_add(&req, hq->hq_body, hq->hq_bodylen) == -1)
		goto nomem;

	fd = tcp_connect(&u, deadline, err, errlen);
	if (fd == -1)
		goto done;
	if (send_all(fd, req.hb_data, req.hb_len, deadline, err, errlen) == -1)
		goto done;

	eoh = NULL;
	bodyoff = 0;
	clen = -1;
	chunked = 0;
	eof = 0;
	for (;;) {
		if (!eof) {
			r = recv(fd, chunk, sizeof(chunk), 0);
			if (r == -1 && errno == EINTR)
				continue;
			if (r == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK)) {
				if (wait_fd(fd, POLLIN, deadline, err,
				    errlen) == -1)
					goto done;
				continue;
			}
			if (r == -1) {
				seterr(err, errlen, "recv: %s",
				    strerror(errno));
				goto done;
			}
			if (r == 0)
				eof = 1;
			else if (hbuf_add(&in, chunk, (size_t)r) == -1) {
				seterr(err, errlen, "response too large");
				goto done;
			}
		}
		if (eoh == NULL) {
			eoh = find_eoh(in.hb_data, in.hb_len, &bodyoff);
			if (eoh == NULL) {
				if (in.hb_len > HTTPC_MAX_HEADERS) {
					seterr(err, errlen,
					    "response header too large");
					goto done;
				}
				if (eof) {
					seterr(err, errlen, in.hb_len == 0 ?
					    "connection closed without a "
					    "response" :
					    "truncated response header");
					goto done;
				}
				continue;
			}
			if (parse_head(in.hb_data, bodyoff, resp, &clen,
			    &chunked, err, errlen) == -1)
				goto done;
			if (resp->hr_status >= 100 && resp->hr_status < 200) {
				/* Interim response: drop it and go on. */
				memmove(in.hb_data, in.hb_data + bodyoff,
				    in.hb_len - bodyoff);
				in.hb_len -= bodyoff;
				eoh = NULL;
				continue;
			}
		}
		if (resp->hr_status == 204 || resp->hr_status == 304 ||
		    strcmp(hq->hq_method, "HEAD") == 0)
			break;
		if (chunked) {
			rc = dechunk(in.hb_data + bodyoff, in.hb_len - bodyoff,
			    NULL);
			if (rc == -1) {
				seterr(err, errlen, "malformed chunked body");
				goto done;
			}
			if (rc == 1) {
				if (dechunk(in.hb_data + bodyoff,
				    in.hb_len - bodyoff, &body) != 1)
					goto nomem;
				break;
			}
		} else if (clen >= 0) {
			if (clen > HTTPC_MAX_BODY) {
				seterr(err, errlen, "response too large");
				goto done;
			}
			if (in.hb_len - bodyoff >= (size_t)clen) {
				if (hbuf_add(&body, in.hb_data + bodyoff,
				    (size_t)clen) == -1)
					goto nomem;
				break;
			}
		} else if (eof) {
			if (hbuf_add(&body, in.hb_data + bodyoff,
			    in.hb_len - bodyoff) == -1)
				goto nomem;
			break;
		}
		if (eof) {
			seterr(err, errlen, "truncated response body");
			goto done;
		}
	}
	if (body.hb_data == NULL && hbuf_add(&body, "", 0) == -1)
		goto nomem;
	resp->hr_body = body.hb_data;
	resp->hr_bodylen = body.hb_len;
	body.hb_data = NULL;
	ret = 0;
	goto done;
nomem:
	seterr(err, errlen, "out of memory");
done:
	if (fd != -1)
		close(fd);
	if (req.hb_data != NULL)
		explicit_bzero(req.hb_data, req.hb_len);
	hbuf_free(&req);
	hbuf_free(&in);
	hbuf_free(&body);
	free(cred);
	free(b64);
	if (ret == -1)
		resp->hr_status = 0;
	return (ret);
}

void
httpc_response_free(struct httpc_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->hr_body);
	resp->hr_body = NULL;
	resp->hr_bodylen = 0;
}

char *
httpc_base64(const unsigned char *p, size_t n)
{
	static const char	 alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char			*out, *o;
	unsigned long		 v;
	size_t			 i;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return (NULL);
	out = malloc((n + 2) / 3 * 4 + 1);
	if (out == NULL)
		return (NULL);
	o = out;
	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		*o++ = alphabet[(v >> 18) & 63];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned long)p[i] << 16;
		*o++ = alphabet[(v >> 18) & 63];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		*o++ = alphabet[(v >> 18) & 63];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = '\0';
	return (out);
}
