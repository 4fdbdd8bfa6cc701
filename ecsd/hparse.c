/*
 * hparse.c: HTTP/1.1 request heads, split in place (RFC 9112).
 *
 * Pure functions on a buffer, apart from the request they fill in: conn.c
 * reads the bytes, tests/fuzz/fuzz_http.c feeds them anything.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "ecsd.h"

/*
 * Where the header block in p (len bytes) ends, after its empty line
 * (CRLF or a bare LF), looking from offset from on; 0 when it does not.
 */
size_t
hparse_end(const unsigned char *p, size_t len, size_t from)
{
	size_t	 i;

	for (i = from; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < len && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int
is_tchar(unsigned char ch)
{
	/* strchr() would find the NUL too. */
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Does the comma list v have token tok (any case)? */
static int
has_token(const char *v, const char *tok)
{
	size_t	 n = strlen(tok), k;

	while (*v != '\0') {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		k = strcspn(v, ",");
		while (k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'))
			k--;
		if (k == n && strncasecmp(v, tok, n) == 0)
			return 1;
		v += strcspn(v, ",");
	}
	return 0;
}

/* The methods ecsd knows, by name and by evhttp's EVHTTP_REQ_* type. */
static const struct {
	const char	*name;
	int		 type;
} methods[] = {
	{ "GET", EVHTTP_REQ_GET }, { "POST", EVHTTP_REQ_POST },
	{ "PUT", EVHTTP_REQ_PUT }, { "DELETE", EVHTTP_REQ_DELETE },
	{ "HEAD", EVHTTP_REQ_HEAD }, { "OPTIONS", EVHTTP_REQ_OPTIONS },
	{ "PATCH", EVHTTP_REQ_PATCH }, { "TRACE", EVHTTP_REQ_TRACE },
	{ "CONNECT", EVHTTP_REQ_CONNECT },
};

static int
method_of(const char *m)
{
	size_t	 i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i].name) == 0)
			return methods[i].type;
	return 0;
}

/* A method's name, for the access log; "OTHER" for none read. */
const char *
hparse_method_name(int type)
{
	size_t	 i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].type == type)
			return methods[i].name;
	return "OTHER";
}

/* Append a header to rq's list: 0, or -1 when out of memory. */
static int
add_header(struct req *rq, const char *name, const char *value)
{
	struct req_hdr	*v;
	size_t		 cap;

	if (rq->rq_nhv == rq->rq_hvcap) {
		cap = rq->rq_hvcap ? rq->rq_hvcap * 2 : 16;
		if ((v = reallocarray(rq->rq_hv, cap, sizeof(*v))) == NULL)
			return -1;
		rq->rq_hv = v;
		rq->rq_hvcap = cap;
	}
	rq->rq_hv[rq->rq_nhv].h_name = name;
	rq->rq_hv[rq->rq_nhv].h_value = value;
	rq->rq_nhv++;
	return 0;
}

/*
 * Split the header block s (len bytes, NUL terminated, ending in an empty
 * line) in place into rq's method, target, version and headers: 0, or the
 * status to refuse it with and *why.
 */
int
hparse_head(struct req *rq, char *s, size_t len, const char **why)
{
	char	*line, *next, *sp, *v, *e;
	int	 first = 1;

	*why = "Bad request";
	if (memchr(s, '\0', len) != NULL)
		return 400;
	for (line = s; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) == NULL)
			return 400;
		*next++ = '\0';
		if (next - line >= 2 && next[-2] == '\r')
			next[-2] = '\0';
		if (*line == '\0')
			break;
		if (first) {
			first = 0;
			if ((sp = strchr(line, ' ')) == NULL)
				return 400;
			*sp++ = '\0';
			rq->rq_uri = sp;
			if ((sp = strchr(sp, ' ')) == NULL)
				return 400;
			*sp++ = '\0';
			if (*rq->rq_uri == '\0' || strchr(sp, ' ') != NULL)
				return 400;
			if (strncmp(sp, "HTTP/", 5) != 0 ||
			    sp[5] < '0' || sp[5] > '9' || sp[6] != '.' ||
			    sp[7] < '0' || sp[7] > '9' || sp[8] != '\0') {
				*why = "Bad HTTP version";
				return 400;
			}
			rq->rq_major = sp[5] - '0';
			rq->rq_minor = sp[7] - '0';
			if (rq->rq_major != 1) {
				*why = "HTTP version not supported";
				return 505;
			}
			if ((rq->rq_method = method_of(line)) == 0) {
				*why = "Unknown method";
				return 400;
			}
			if (rq->rq_method == EVHTTP_REQ_TRACE ||
			    rq->rq_method == EVHTTP_REQ_CONNECT) {
				*why = "Method not implemented";
				return 501;
			}
			continue;
		}
		/* No folded lines (RFC 9112, 5.2), no space before ':'. */
		if (*line == ' ' || *line == '\t')
			return 400;
		for (v = line; *v != ':'; v++)
			if (!is_tchar((unsigned char)*v))
				return 400;
		if (v == line)
			return 400;	/* no name */
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		e = v + strlen(v);
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (add_header(rq, line, v) != 0) {
			*why = "Out of memory";
			return 503;
		}
	}
	if (first)
		return 400;
	return 0;
}

/*
 * What the headers say about the body and the connection (rq_close,
 * rq_chunked, rq_clen, rq_expect): 0, or the status to refuse the request
 * with and *why. Bodies over max_body are refused.
 */
int
hparse_framing(struct req *rq, int64_t max_body, const char **why)
{
	const char	*te = NULL, *conn = NULL, *expect = NULL;
	const char	*name, *v;
	int64_t		 cl = -1, n;
	size_t		 i;

	*why = "Bad request";
	for (i = 0; i < rq->rq_nhv; i++) {
		name = rq->rq_hv[i].h_name;
		v = rq->rq_hv[i].h_value;
		switch (name[0]) {
		case 'c':
		case 'C':
			if (strcasecmp(name, "Content-Length") == 0) {
				if (*v == '\0' || strlen(v) > 18 ||
				    v[strspn(v, "0123456789")] != '\0') {
					*why = "Bad Content-Length";
					return 400;
				}
				n = strtoll(v, NULL, 10);
				if (cl != -1 && n != cl) {
					*why = "Conflicting Content-Length";
					return 400;
				}
				cl = n;
			} else if (strcasecmp(name, "Connection") == 0)
				conn = v;
			break;
		case 'e':
		case 'E':
			if (strcasecmp(name, "Expect") == 0)
				expect = v;
			break;
		case 't':
		case 'T':
			if (strcasecmp(name, "Transfer-Encoding") == 0) {
				if (te != NULL) {
					*why = "Repeated Transfer-Encoding";
					return 400;
				}
				te = v;
			}
			break;
		}
	}
	if (rq->rq_minor == 0)
		rq->rq_close = conn == NULL || !has_token(conn, "keep-alive");
	else
		rq->rq_close = conn != NULL && has_token(conn, "close");
	if (te != NULL) {
		if (strcasecmp(te, "chunked") != 0) {
			*why = "Transfer-Encoding not supported";
			return 501;
		}
		rq->rq_chunked = 1;
		cl = -1;
	}
	if (cl > max_body) {
		*why = "Request body too large";
		return 413;
	}
	rq->rq_clen = cl < 0 ? 0 : cl;
	if (expect != NULL) {
		if (strcasecmp(expect, "100-continue") != 0) {
			*why = "Expectation failed";
			return 417;
		}
		rq->rq_expect = rq->rq_minor >= 1 &&
		    (rq->rq_chunked || rq->rq_clen > 0);
	}
	return 0;
}
