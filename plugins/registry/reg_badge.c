/*
 * reg_badge.c: Open Badges 3.0 credentials of the registry and their
 * eddsa-rdfc-2022 Data Integrity proofs (Ed25519 through OpenSSL EVP).
 *
 * Canonicalization: the registry issues credentials of one fixed shape,
 * so instead of a general JSON-LD processor this file turns that shape
 * into RDF with a table of the terms the contexts define (no context is
 * fetched; the tables below are transcribed from the contexts), then runs
 * RDFC-1.0 on the result: blank nodes are labelled by their first-degree
 * hashes (Hash First Degree Quads); the shape never produces two blank
 * nodes with equal first-degree hashes, and if a document does, it is
 * refused rather than labelled by the N-degree algorithm, which is not
 * implemented. Unknown terms are refused too, so nothing a verifier reads
 * can escape the signature.
 *
 * Two profiles:
 *   VC1  credentials/v1 + ob_v3p0.jsonld + data-integrity/v1: the shape
 *        of the 1EdTech implementation guide's test vector, reproduced
 *        byte for byte by tests/unit/test_reg_badge.c;
 *   VC2  credentials/v2 + OB context-3.0.3.json: what the registry
 *        issues (VC Data Model 2.0).
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "registry.h"

#define OB	"https://purl.imsglobal.org/spec/vc/ob/vocab.html#"
#define CRED	"https://www.w3.org/2018/credentials#"
#define SEC	"https://w3id.org/security#"
#define XSD	"http://www.w3.org/2001/XMLSchema#"
#define XSDS	"https://www.w3.org/2001/XMLSchema#"
#define SDO	"https://schema.org/"
#define RDFTYPE	"http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

#define CTX_V1	"https://www.w3.org/2018/credentials/v1"
#define CTX_V2	"https://www.w3.org/ns/credentials/v2"
#define CTX_OB1	"https://purl.imsglobal.org/spec/ob/v3p0/context/ob_v3p0.jsonld"
#define CTX_OB3	"https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
#define CTX_DI1	"https://w3id.org/security/data-integrity/v1"

#define EQF_URL	"https://europa.eu/europass/en/description-eight-eqf-levels"

enum term_kind {
	T_LIT,		/* string: literal of t_dtype (NULL: plain) */
	T_ID,		/* string: IRI (@type @id) */
	T_VOCAB		/* string: IRI in the security vocabulary */
};

struct term {
	const char	*t_name;
	const char	*t_iri;
	enum term_kind	 t_kind;
	const char	*t_dtype;
};

struct typename {
	const char	*ty_name;
	const char	*ty_iri;
};

static const struct term terms_vc1[] = {
	{ "issuer", CRED "issuer", T_ID, NULL },
	{ "issuanceDate", CRED "issuanceDate", T_LIT, XSD "dateTime" },
	{ "expirationDate", CRED "expirationDate", T_LIT, XSD "dateTime" },
	{ "credentialSubject", CRED "credentialSubject", T_ID, NULL },
	{ "name", SDO "name", T_LIT, XSDS "string" },
	{ "description", SDO "description", T_LIT, XSDS "string" },
	{ "url", SDO "url", T_LIT, XSDS "anyURI" },
	{ "achievement", OB "Achievement", T_LIT, NULL },
	{ "criteria", OB "Criteria", T_LIT, NULL },
	{ "narrative", OB "narrative", T_LIT, XSDS "string" },
	{ "created", "http://purl.org/dc/terms/created", T_LIT,
	    XSD "dateTime" },
	{ "verificationMethod", SEC "verificationMethod", T_ID, NULL },
	{ "cryptosuite", SEC "cryptosuite", T_LIT, NULL },
	{ "proofPurpose", SEC "proofPurpose", T_VOCAB, NULL },
	{ NULL, NULL, T_LIT, NULL }
};

static const struct term terms_vc2[] = {
	{ "issuer", CRED "issuer", T_ID, NULL },
	{ "validFrom", CRED "validFrom", T_LIT, XSD "dateTime" },
	{ "validUntil", CRED "validUntil", T_LIT, XSD "dateTime" },
	{ "credentialSubject", CRED "credentialSubject", T_ID, NULL },
	{ "name", SDO "name", T_LIT, NULL },
	{ "description", SDO "description", T_LIT, NULL },
	{ "url", SDO "url", T_LIT, XSDS "anyURI" },
	{ "achievement", OB "achievement", T_LIT, NULL },
	{ "identifier", OB "identifier", T_LIT, NULL },
	{ "hashed", OB "hashed", T_LIT, XSDS "boolean" },
	{ "identityHash", OB "identityHash", T_LIT, NULL },
	{ "identityType", OB "identityType", T_LIT, NULL },
	{ "salt", OB "salt", T_LIT, NULL },
	{ "criteria", OB "Criteria", T_ID, NULL },
	{ "narrative", OB "narrative", T_LIT, NULL },
	{ "alignment", OB "alignment", T_LIT, NULL },
	{ "targetName", SDO "targetName", T_LIT, NULL },
	{ "targetUrl", SDO "targetUrl", T_LIT, XSDS "anyURI" },
	{ "targetCode", OB "targetCode", T_LIT, NULL },
	{ "targetFramework", SDO "targetFramework", T_LIT, NULL },
	{ "targetType", OB "targetType", T_LIT, NULL },
	{ "creditsAvailable", OB "creditsAvailable", T_LIT, XSDS "float" },
	{ "created", "http://purl.org/dc/terms/created", T_LIT,
	    XSD "dateTime" },
	{ "verificationMethod", SEC "verificationMethod", T_ID, NULL },
	{ "cryptosuite", SEC "cryptosuite", T_LIT, SEC "cryptosuiteString" },
	{ "proofPurpose", SEC "proofPurpose", T_VOCAB, NULL },
	{ NULL, NULL, T_LIT, NULL }
};

static const struct typename types_all[] = {
	{ "VerifiableCredential", CRED "VerifiableCredential" },
	{ "OpenBadgeCredential", OB "OpenBadgeCredential" },
	{ "AchievementCredential", OB "OpenBadgeCredential" },
	{ "Profile", OB "Profile" },
	{ "AchievementSubject", OB "AchievementSubject" },
	{ "Achievement", OB "Achievement" },
	{ "IdentityObject", OB "IdentityObject" },
	{ "Alignment", SDO "AlignmentObject" },
	{ "Criteria", OB "Criteria" },
	{ "DataIntegrityProof", SEC "DataIntegrityProof" },
	{ NULL, NULL }
};

struct reg_key {
	EVP_PKEY	*k_pkey;
	unsigned char	 k_pub[32];
	char		 k_mb[64];
};

/* --- canonicalization ------------------------------------------------- */

struct quad {
	char	*q_s;
	char	*q_p;
	char	*q_o;
};

struct canon {
	const struct term	*c_terms;
	struct quad		*c_q;
	size_t			 c_n, c_cap;
	int			 c_bnodes;
	int			 c_proof;	/* canonicalizing proof options */
	char			*c_why;
	size_t			 c_whylen;
};

struct strbuf {
	char	*sb_p;
	size_t	 sb_n, sb_cap;
	int	 sb_err;
};

static void
sb_add(struct strbuf *b, const char *s, size_t n)
{
	char	*p;
	size_t	 cap;

	if (b->sb_err)
		return;
	if (b->sb_n + n + 1 > b->sb_cap) {
		cap = b->sb_cap ? b->sb_cap : 256;
		while (cap < b->sb_n + n + 1)
			cap *= 2;
		if ((p = realloc(b->sb_p, cap)) == NULL) {
			b->sb_err = 1;
			return;
		}
		b->sb_p = p;
		b->sb_cap = cap;
	}
	memcpy(b->sb_p + b->sb_n, s, n);
	b->sb_n += n;
	b->sb_p[b->sb_n] = '\0';
}

static void
sb_str(struct strbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Take the text of b (never NULL unless out of memory); b is emptied. */
static char *
sb_take(struct strbuf *b)
{
	char	*p;

	if (b->sb_err) {
		free(b->sb_p);
		b->sb_p = NULL;
		return NULL;
	}
	if (b->sb_p == NULL)
		return strdup("");
	p = b->sb_p;
	b->sb_p = NULL;
	b->sb_n = b->sb_cap = 0;
	return p;
}

static int
why(struct canon *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
why(struct canon *c, const char *fmt, ...)
{
	va_list	 ap;

	if (c->c_why != NULL && c->c_why[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(c->c_why, c->c_whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "<iri>" when s is an absolute IRI N-Quads can carry, else NULL. */
static char *
iri_term(const char *s)
{
	const char	*p;
	char		*t;
	size_t		 n = strlen(s);

	if (strchr(s, ':') == NULL || n == 0)
		return NULL;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || strchr("<>\"{}|^`\\", *p))
			return NULL;
	if ((t = malloc(n + 3)) == NULL)
		return NULL;
	t[0] = '<';
	memcpy(t + 1, s, n);
	t[n + 1] = '>';
	t[n + 2] = '\0';
	return t;
}

/* A literal in canonical N-Quads form (RDFC-1.0 escaping). */
static char *
lit_term(const char *s, const char *dtype)
{
	struct strbuf		 b = { NULL, 0, 0, 0 };
	const unsigned char	*p;
	char			 esc[8];

	sb_str(&b, "\"");
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '\\': sb_str(&b, "\\\\"); break;
		case '"': sb_str(&b, "\\\""); break;
		case '\n': sb_str(&b, "\\n"); break;
		case '\r': sb_str(&b, "\\r"); break;
		case '\t': sb_str(&b, "\\t"); break;
		case '\b': sb_str(&b, "\\b"); break;
		case '\f': sb_str(&b, "\\f"); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04X", *p);
				sb_str(&b, esc);
			} else
				sb_add(&b, (const char *)p, 1);
		}
	}
	sb_str(&b, "\"");
	if (dtype != NULL) {
		sb_str(&b, "^^<");
		sb_str(&b, dtype);
		sb_str(&b, ">");
	}
	return sb_take(&b);
}

/* The canonical xsd:double form of JSON-LD (2.5 -> "2.5E0"). */
static void
double_form(double v, char *out, size_t len)
{
	char	 m[40], *e, *z;
	int	 exp;

	snprintf(m, sizeof(m), "%.15e", v);
	if ((e = strchr(m, 'e')) == NULL) {
		snprintf(out, len, "%s", m);
		return;
	}
	exp = atoi(e + 1);
	*e = '\0';
	z = e - 1;
	while (z > m && *z == '0' && z[-1] != '.')
		*z-- = '\0';
	snprintf(out, len, "%.30sE%d", m, exp);
}

static int
add_quad(struct canon *c, const char *s, const char *p, char *o)
{
	struct quad	*q;
	size_t		 cap;

	if (o == NULL)
		return why(c, "%s", "out of memory");
	if (c->c_n == c->c_cap) {
		cap = c->c_cap ? 2 * c->c_cap : 32;
		if ((q = reallocarray(c->c_q, cap, sizeof(*q))) == NULL) {
			free(o);
			return why(c, "%s", "out of memory");
		}
		c->c_q = q;
		c->c_cap = cap;
	}
	q = &c->c_q[c->c_n];
	q->q_s = strdup(s);
	q->q_p = strdup(p);
	q->q_o = o;
	if (q->q_s == NULL || q->q_p == NULL) {
		free(q->q_s);
		free(q->q_p);
		free(o);
		return why(c, "%s", "out of memory");
	}
	c->c_n++;
	return 0;
}

static const struct term *
find_term(const struct term *t, const char *name)
{
	for (; t->t_name != NULL; t++)
		if (strcmp(t->t_name, name) == 0)
			return t;
	return NULL;
}

static int	node_rdf(struct canon *, yajl_val, char **);

/* One value of a property of subject s. */
static int
value_rdf(struct canon *c, const char *s, const struct term *t, yajl_val v)
{
	char	 num[64], *o, *sub;

	if (YAJL_IS_OBJECT(v)) {
		if (node_rdf(c, v, &sub) != 0)
			return -1;
		o = sub;
	} else if (YAJL_IS_STRING(v)) {
		if (t->t_kind == T_ID) {
			if ((o = iri_term(v->u.string)) == NULL)
				return why(c, "not an IRI: %s", v->u.string);
		} else if (t->t_kind == T_VOCAB) {
			if (strchr(v->u.string, ':') != NULL)
				o = iri_term(v->u.string);
			else {
				snprintf(num, sizeof(num), "%s%s", SEC,
				    v->u.string);
				o = iri_term(num);
			}
			if (o == NULL)
				return why(c, "bad value of %s", t->t_name);
		} else
			o = lit_term(v->u.string, t->t_dtype);
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		o = lit_term(YAJL_IS_TRUE(v) ? "true" : "false",
		    t->t_dtype ? t->t_dtype : XSD "boolean");
	} else if (YAJL_IS_INTEGER(v)) {
		snprintf(num, sizeof(num), "%lld",
		    (long long)YAJL_GET_INTEGER(v));
		o = lit_term(num, t->t_dtype ? t->t_dtype : XSD "integer");
	} else if (YAJL_IS_DOUBLE(v)) {
		if (floor(v->u.number.d) == v->u.number.d &&
		    fabs(v->u.number.d) < 1e15 && t->t_dtype != NULL &&
		    strcmp(t->t_dtype, XSD "double") != 0)
			snprintf(num, sizeof(num), "%lld",
			    (long long)v->u.number.d);
		else
			double_form(v->u.number.d, num, sizeof(num));
		o = lit_term(num, t->t_dtype ? t->t_dtype : XSD "double");
	} else
		return why(c, "unsupported value of %s", t->t_name);
	return add_quad(c, s, t->t_iri, o);
}

static int
type_rdf(struct canon *c, const char *s, yajl_val v)
{
	const struct typename	*ty;
	yajl_val		 e;
	size_t			 i, n;

	n = YAJL_IS_ARRAY(v) ? v->u.array.len : 1;
	for (i = 0; i < n; i++) {
		e = YAJL_IS_ARRAY(v) ? v->u.array.values[i] : v;
		if (!YAJL_IS_STRING(e))
			return why(c, "%s", "type is not a string");
		for (ty = types_all; ty->ty_name != NULL; ty++)
			if (strcmp(ty->ty_name, e->u.string) == 0)
				break;
		if (ty->ty_name == NULL)
			return why(c, "unknown type %s", e->u.string);
		if (add_quad(c, s, RDFTYPE, iri_term(ty->ty_iri)) != 0)
			return -1;
	}
	return 0;
}

/* The RDF of a node object; *subjp is its subject term (caller frees). */
static int
node_rdf(struct canon *c, yajl_val obj, char **subjp)
{
	const struct term	*t;
	const char		*id = rj_str(obj, "id"), *k;
	yajl_val		 v;
	char			*s, lbl[32];
	size_t			 i, j;

	if (rj_get(obj, "id") != NULL && id == NULL)
		return why(c, "%s", "id is not a string");
	if (id != NULL) {
		if ((s = iri_term(id)) == NULL)
			return why(c, "id is not an IRI: %s", id);
	} else {
		snprintf(lbl, sizeof(lbl), "_:b%d", c->c_bnodes++);
		if ((s = strdup(lbl)) == NULL)
			return why(c, "%s", "out of memory");
	}
	for (i = 0; i < obj->u.object.len; i++) {
		k = obj->u.object.keys[i];
		v = obj->u.object.values[i];
		if (strcmp(k, "@context") == 0 || strcmp(k, "id") == 0 ||
		    strcmp(k, "proof") == 0 ||
		    (c->c_proof && strcmp(k, "proofValue") == 0))
			continue;
		if (strcmp(k, "type") == 0) {
			if (type_rdf(c, s, v) != 0)
				goto fail;
			continue;
		}
		if ((t = find_term(c->c_terms, k)) == NULL) {
			why(c, "unknown term %s", k);
			goto fail;
		}
		if (YAJL_IS_NULL(v))
			continue;
		if (YAJL_IS_ARRAY(v)) {
			for (j = 0; j < v->u.array.len; j++)
				if (value_rdf(c, s, t, v->u.array.values[j]))
					goto fail;
		} else if (value_rdf(c, s, t, v) != 0)
			goto fail;
	}
	*subjp = s;
	return 0;
fail:
	free(s);
	return -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
quad_line(const char *s, const char *p, const char *o)
{
	struct strbuf	 b = { NULL, 0, 0, 0 };

	sb_str(&b, s);
	sb_str(&b, " <");
	sb_str(&b, p);
	sb_str(&b, "> ");
	sb_str(&b, o);
	sb_str(&b, " .\n");
	return sb_take(&b);
}

/* Sort lines and join them; frees the lines. */
static char *
join_sorted(char **lines, size_t n)
{
	struct strbuf	 b = { NULL, 0, 0, 0 };
	size_t		 i;
	int		 bad = 0;

	for (i = 0; i < n; i++)
		if (lines[i] == NULL)
			bad = 1;
	if (!bad)
		qsort(lines, n, sizeof(*lines), cmp_str);
	for (i = 0; i < n; i++) {
		if (!bad)
			sb_str(&b, lines[i]);
		free(lines[i]);
	}
	free(lines);
	return bad ? (free(b.sb_p), NULL) : sb_take(&b);
}

static const char *
relabel(const char *term, const char *self, const char *as_self,
    const char *as_other)
{
	if (strncmp(term, "_:", 2) != 0)
		return term;
	return strcmp(term, self) == 0 ? as_self : as_other;
}

/* Hash First Degree Quads of blank node b (hex into out). */
static int
first_degree(struct canon *c, const char *b, char out[65])
{
	char	**lines;
	char	 *all;
	size_t	  i, n = 0;

	if ((lines = calloc(c->c_n + 1, sizeof(*lines))) == NULL)
		return -1;
	for (i = 0; i < c->c_n; i++) {
		if (strcmp(c->c_q[i].q_s, b) != 0 &&
		    strcmp(c->c_q[i].q_o, b) != 0)
			continue;
		lines[n++] = quad_line(relabel(c->c_q[i].q_s, b, "_:a", "_:z"),
		    c->c_q[i].q_p, relabel(c->c_q[i].q_o, b, "_:a", "_:z"));
	}
	if ((all = join_sorted(lines, n)) == NULL)
		return -1;
	reg_sha256_hex(all, strlen(all), out);
	free(all);
	return 0;
}

struct bnode {
	char	 bn_label[32];
	char	 bn_hash[65];
	char	 bn_canon[32];
};

static int
cmp_bnode(const void *a, const void *b)
{
	return strcmp(((const struct bnode *)a)->bn_hash,
	    ((const struct bnode *)b)->bn_hash);
}

static const char *
canon_label(const struct bnode *bn, int n, const char *term)
{
	int	 i;

	if (strncmp(term, "_:", 2) != 0)
		return term;
	for (i = 0; i < n; i++)
		if (strcmp(bn[i].bn_label, term) == 0)
			return bn[i].bn_canon;
	return term;
}

char *
reg_canon(yajl_val doc, enum reg_profile prof, int proof, char *whyp,
    size_t whylen)
{
	struct canon	 c;
	struct bnode	*bn = NULL;
	char		*root = NULL, **lines = NULL, *out = NULL;
	size_t		 i;
	int		 j;

	memset(&c, 0, sizeof(c));
	c.c_terms = prof == REG_PROFILE_VC1 ? terms_vc1 : terms_vc2;
	c.c_proof = proof;
	c.c_why = whyp;
	c.c_whylen = whylen;
	if (whyp != NULL && whylen > 0)
		whyp[0] = '\0';
	if (doc == NULL || !YAJL_IS_OBJECT(doc)) {
		why(&c, "%s", "not an object");
		goto done;
	}
	if (node_rdf(&c, doc, &root) != 0)
		goto done;
	if (c.c_bnodes > 0 &&
	    (bn = calloc((size_t)c.c_bnodes, sizeof(*bn))) == NULL)
		goto done;
	for (j = 0; j < c.c_bnodes; j++) {
		snprintf(bn[j].bn_label, sizeof(bn[j].bn_label), "_:b%d", j);
		if (first_degree(&c, bn[j].bn_label, bn[j].bn_hash) != 0)
			goto done;
	}
	qsort(bn, (size_t)c.c_bnodes, sizeof(*bn), cmp_bnode);
	for (j = 0; j < c.c_bnodes; j++) {
		if (j > 0 && strcmp(bn[j].bn_hash, bn[j - 1].bn_hash) == 0) {
			why(&c, "%s", "blank nodes with equal first-degree "
			    "hashes (N-degree hashing is not implemented)");
			goto done;
		}
		snprintf(bn[j].bn_canon, sizeof(bn[j].bn_canon), "_:c14n%d", j);
	}
	if ((lines = calloc(c.c_n + 1, sizeof(*lines))) == NULL)
		goto done;
	for (i = 0; i < c.c_n; i++)
		lines[i] = quad_line(canon_label(bn, c.c_bnodes, c.c_q[i].q_s),
		    c.c_q[i].q_p, canon_label(bn, c.c_bnodes, c.c_q[i].q_o));
	out = join_sorted(lines, c.c_n);
	lines = NULL;
	if (out == NULL)
		why(&c, "%s", "out of memory");
done:
	for (i = 0; i < c.c_n; i++) {
		free(c.c_q[i].q_s);
		free(c.c_q[i].q_p);
		free(c.c_q[i].q_o);
	}
	free(c.c_q);
	free(bn);
	free(root);
	return out;
}

static int
ctx_at(yajl_val ctx, size_t i, const char *want)
{
	yajl_val	 v;

	if (ctx == NULL || !YAJL_IS_ARRAY(ctx) || i >= ctx->u.array.len)
		return 0;
	v = ctx->u.array.values[i];
	return YAJL_IS_STRING(v) && strcmp(v->u.string, want) == 0;
}

int
reg_profile_of(yajl_val doc)
{
	yajl_val	 ctx = rj_get(doc, "@context");
	size_t		 n;

	if (ctx == NULL || !YAJL_IS_ARRAY(ctx))
		return -1;
	n = ctx->u.array.len;
	if (ctx_at(ctx, 0, CTX_V1) && ctx_at(ctx, 1, CTX_OB1) &&
	    (n == 2 || (n == 3 && ctx_at(ctx, 2, CTX_DI1))))
		return REG_PROFILE_VC1;
	if (ctx_at(ctx, 0, CTX_V2) && ctx_at(ctx, 1, CTX_OB3) && n == 2)
		return REG_PROFILE_VC2;
	return -1;
}

/* --- keys, hashes, base58 --------------------------------------------- */

void
reg_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 len = 0, i;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	for (i = 0; i < len && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

int
reg_random_hex(size_t n, char *out)
{
	unsigned char	 b[64];
	size_t		 i;

	if (n > sizeof(b) || RAND_bytes(b, (int)n) != 1)
		return -1;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * n] = '\0';
	return 0;
}

static const char b58[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

void
reg_b58enc(const unsigned char *src, size_t n, char *dst)
{
	unsigned char	 digits[256];
	size_t		 i, j, nd = 0, zeros = 0, k = 0;
	unsigned int	 carry;

	while (zeros < n && src[zeros] == 0)
		zeros++;
	for (i = zeros; i < n && n < 180; i++) {
		carry = src[i];
		for (j = 0; j < nd; j++) {
			carry += (unsigned int)digits[j] << 8;
			digits[j] = carry % 58;
			carry /= 58;
		}
		while (carry > 0) {
			digits[nd++] = carry % 58;
			carry /= 58;
		}
	}
	for (i = 0; i < zeros; i++)
		dst[k++] = '1';
	for (i = 0; i < nd; i++)
		dst[k++] = b58[digits[nd - 1 - i]];
	dst[k] = '\0';
}

int
reg_b58dec(const char *src, unsigned char *dst, size_t cap, size_t *np)
{
	unsigned char	 bytes[256];
	const char	*p;
	size_t		 nb = 0, zeros = 0, i;
	unsigned int	 carry;

	for (p = src; *p == '1'; p++)
		zeros++;
	for (; *p != '\0'; p++) {
		const char *d = strchr(b58, *p);

		if (d == NULL || *p == '\0')
			return -1;
		carry = (unsigned int)(d - b58);
		for (i = 0; i < nb; i++) {
			carry += (unsigned int)bytes[i] * 58;
			bytes[i] = carry & 0xff;
			carry >>= 8;
		}
		while (carry > 0) {
			if (nb == sizeof(bytes))
				return -1;
			bytes[nb++] = carry & 0xff;
			carry >>= 8;
		}
	}
	if (zeros + nb > cap)
		return -1;
	memset(dst, 0, zeros);
	for (i = 0; i < nb; i++)
		dst[zeros + i] = bytes[nb - 1 - i];
	*np = zeros + nb;
	return 0;
}

static struct reg_key *
key_wrap(EVP_PKEY *pk)
{
	struct reg_key	*k;
	unsigned char	 mc[34];
	size_t		 len = 32;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		EVP_PKEY_free(pk);
		return NULL;
	}
	k->k_pkey = pk;
	if (EVP_PKEY_get_raw_public_key(pk, k->k_pub, &len) != 1 ||
	    len != 32) {
		reg_key_free(k);
		return NULL;
	}
	mc[0] = 0xed;
	mc[1] = 0x01;
	memcpy(mc + 2, k->k_pub, 32);
	k->k_mb[0] = 'z';
	reg_b58enc(mc, sizeof(mc), k->k_mb + 1);
	return k;
}

struct reg_key *
reg_key_from_seed(const unsigned char seed[32])
{
	EVP_PKEY	*pk;

	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	return pk == NULL ? NULL : key_wrap(pk);
}

struct reg_key *
reg_key_load(const char *path, char *whyp, size_t whylen)
{
	EVP_PKEY_CTX	*pc = NULL;
	EVP_PKEY	*pk = NULL;
	FILE		*fp;
	int		 fd;

	if ((fp = fopen(path, "r")) != NULL) {
		pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
		if (pk == NULL || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
			EVP_PKEY_free(pk);
			snprintf(whyp, whylen, "%s: not an Ed25519 key", path);
			return NULL;
		}
		return key_wrap(pk);
	}
	if (errno != ENOENT) {
		snprintf(whyp, whylen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((pc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL)) == NULL ||
	    EVP_PKEY_keygen_init(pc) != 1 || EVP_PKEY_keygen(pc, &pk) != 1) {
		EVP_PKEY_CTX_free(pc);
		snprintf(whyp, whylen, "cannot generate an Ed25519 key");
		return NULL;
	}
	EVP_PKEY_CTX_free(pc);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    fchmod(fd, 0600) != 0 || (fp = fdopen(fd, "w")) == NULL) {
		snprintf(whyp, whylen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		EVP_PKEY_free(pk);
		return NULL;
	}
	if (PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		snprintf(whyp, whylen, "%s: cannot write the key", path);
		fclose(fp);
		unlink(path);
		EVP_PKEY_free(pk);
		return NULL;
	}
	fclose(fp);
	return key_wrap(pk);
}

void
reg_key_free(struct reg_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->k_pkey);
	free(k);
}

const char *
reg_key_multibase(const struct reg_key *k)
{
	return k->k_mb;
}

void
reg_key_pub(const struct reg_key *k, unsigned char pub[32])
{
	memcpy(pub, k->k_pub, 32);
}

int
reg_pub_from_multibase(const char *mb, unsigned char pub[32])
{
	unsigned char	 b[40];
	size_t		 n;

	if (mb[0] != 'z' || reg_b58dec(mb + 1, b, sizeof(b), &n) != 0 ||
	    n != 34 || b[0] != 0xed || b[1] != 0x01)
		return -1;
	memcpy(pub, b + 2, 32);
	return 0;
}

static void
hash_pair(const char *canon_proof, const char *canon_doc,
    unsigned char data[64])
{
	unsigned int	 len;

	EVP_Digest(canon_proof, strlen(canon_proof), data, &len,
	    EVP_sha256(), NULL);
	EVP_Digest(canon_doc, strlen(canon_doc), data + 32, &len,
	    EVP_sha256(), NULL);
}

char *
reg_sign(const struct reg_key *k, const char *canon_proof,
    const char *canon_doc, char *whyp, size_t whylen)
{
	EVP_MD_CTX	*mc;
	unsigned char	 data[64], sig[64];
	size_t		 siglen = sizeof(sig);
	char		*out;
	int		 ok;

	hash_pair(canon_proof, canon_doc, data);
	if ((mc = EVP_MD_CTX_new()) == NULL)
		return NULL;
	ok = EVP_DigestSignInit(mc, NULL, NULL, NULL, k->k_pkey) == 1 &&
	    EVP_DigestSign(mc, sig, &siglen, data, sizeof(data)) == 1 &&
	    siglen == 64;
	EVP_MD_CTX_free(mc);
	if (!ok) {
		snprintf(whyp, whylen, "Ed25519 signing failed");
		return NULL;
	}
	if ((out = malloc(2 * sizeof(sig) + 2)) == NULL)
		return NULL;
	out[0] = 'z';
	reg_b58enc(sig, sizeof(sig), out + 1);
	return out;
}

int
reg_verify_sig(const unsigned char pub[32], const char *canon_proof,
    const char *canon_doc, const char *proof_value)
{
	EVP_PKEY	*pk;
	EVP_MD_CTX	*mc;
	unsigned char	 data[64], sig[80];
	size_t		 n;
	int		 rc;

	if (proof_value[0] != 'z' ||
	    reg_b58dec(proof_value + 1, sig, sizeof(sig), &n) != 0 || n != 64)
		return 0;
	hash_pair(canon_proof, canon_doc, data);
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	if (pk == NULL)
		return -1;
	if ((mc = EVP_MD_CTX_new()) == NULL) {
		EVP_PKEY_free(pk);
		return -1;
	}
	rc = EVP_DigestVerifyInit(mc, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestVerify(mc, sig, 64, data, sizeof(data)) == 1;
	EVP_MD_CTX_free(mc);
	EVP_PKEY_free(pk);
	return rc;
}

/* --- issuing ---------------------------------------------------------- */

static void
gen_unsigned(yajl_gen g, const struct reg_award *a, const char *id,
    const char *idhash)
{
	char	 code[24];

	yajl_gen_map_open(g);
	rj_s(g, "@context");
	yajl_gen_array_open(g);
	rj_s(g, CTX_V2);
	rj_s(g, CTX_OB3);
	yajl_gen_array_close(g);
	rj_k(g, "id", id);
	rj_s(g, "type");
	yajl_gen_array_open(g);
	rj_s(g, "VerifiableCredential");
	rj_s(g, "OpenBadgeCredential");
	yajl_gen_array_close(g);
	rj_s(g, "issuer");
	yajl_gen_map_open(g);
	rj_k(g, "id", a->ra_issuer_id);
	rj_s(g, "type");
	yajl_gen_array_open(g);
	rj_s(g, "Profile");
	yajl_gen_array_close(g);
	rj_k(g, "name", a->ra_issuer_name);
	if (a->ra_issuer_url != NULL)
		rj_k(g, "url", a->ra_issuer_url);
	yajl_gen_map_close(g);
	rj_k(g, "validFrom", a->ra_valid_from);
	rj_k(g, "name", a->ra_name);
	rj_s(g, "credentialSubject");
	yajl_gen_map_open(g);
	rj_s(g, "type");
	yajl_gen_array_open(g);
	rj_s(g, "AchievementSubject");
	yajl_gen_array_close(g);
	rj_s(g, "identifier");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	rj_k(g, "type", "IdentityObject");
	rj_kb(g, "hashed", 1);
	rj_k(g, "identityHash", idhash);
	rj_k(g, "identityType", "emailAddress");
	rj_k(g, "salt", a->ra_salt);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	rj_s(g, "achievement");
	yajl_gen_map_open(g);
	rj_k(g, "id", a->ra_achievement_id);
	rj_s(g, "type");
	yajl_gen_array_open(g);
	rj_s(g, "Achievement");
	yajl_gen_array_close(g);
	rj_k(g, "name", a->ra_name);
	rj_k(g, "description", a->ra_description);
	rj_s(g, "criteria");
	yajl_gen_map_open(g);
	rj_k(g, "narrative", a->ra_criteria);
	yajl_gen_map_close(g);
	if (a->ra_eqf > 0) {
		snprintf(code, sizeof(code), "%lld", (long long)a->ra_eqf);
		rj_s(g, "alignment");
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		rj_s(g, "type");
		yajl_gen_array_open(g);
		rj_s(g, "Alignment");
		yajl_gen_array_close(g);
		rj_k(g, "targetName", "EQF level");
		rj_k(g, "targetUrl", EQF_URL);
		rj_k(g, "targetFramework", "European Qualifications Framework");
		rj_k(g, "targetCode", code);
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
	}
	if (a->ra_ects >= 0)
		rj_kd(g, "creditsAvailable", a->ra_ects);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

/* The identity hash of an email address: sha256$hex(lower(email)+salt). */
static int
identity_hash(const char *email, const char *salt, char *out, size_t len)
{
	char	*s, hex[65];
	size_t	 i, ne = strlen(email), ns = strlen(salt);

	if ((s = malloc(ne + ns + 1)) == NULL)
		return -1;
	for (i = 0; i < ne; i++)
		s[i] = (char)tolower((unsigned char)email[i]);
	memcpy(s + ne, salt, ns + 1);
	reg_sha256_hex(s, ne + ns, hex);
	free(s);
	snprintf(out, len, "sha256$%s", hex);
	return 0;
}

static void
now_iso(char *out, size_t len)
{
	time_t		 t = time(NULL);
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *
reg_badge_issue(const struct reg_key *k, const struct reg_award *a,
    char **idp, char *whyp, size_t whylen)
{
	yajl_gen	 g = NULL;
	yajl_val	 doc = NULL, pdoc = NULL;
	char		 uuid[33], id[64], idhash[80], vm[512], created[32];
	char		*text = NULL, *ptext = NULL, *cd = NULL, *cp = NULL;
	char		*pv = NULL, *out = NULL, *idc = NULL;

	if (reg_random_hex(16, uuid) != 0)
		return NULL;
	snprintf(id, sizeof(id), "urn:uuid:%.8s-%.4s-4%.3s-a%.3s-%.12s",
	    uuid, uuid + 8, uuid + 12, uuid + 15, uuid + 18);
	if (identity_hash(a->ra_email, a->ra_salt, idhash, sizeof(idhash)))
		return NULL;
	snprintf(vm, sizeof(vm), "%s#%s", a->ra_issuer_id, k->k_mb);
	now_iso(created, sizeof(created));

	if ((g = rj_gen()) == NULL)
		goto done;
	gen_unsigned(g, a, id, idhash);
	if ((text = rj_take(g)) == NULL || (doc = rj_parse(text)) == NULL)
		goto done;
	yajl_gen_free(g);
	if ((g = rj_gen()) == NULL)
		goto done;
	yajl_gen_map_open(g);
	rj_k(g, "type", "DataIntegrityProof");
	rj_k(g, "created", created);
	rj_k(g, "verificationMethod", vm);
	rj_k(g, "cryptosuite", "eddsa-rdfc-2022");
	rj_k(g, "proofPurpose", "assertionMethod");
	yajl_gen_map_close(g);
	if ((ptext = rj_take(g)) == NULL || (pdoc = rj_parse(ptext)) == NULL)
		goto done;
	if ((cd = reg_canon(doc, REG_PROFILE_VC2, 0, whyp, whylen)) == NULL ||
	    (cp = reg_canon(pdoc, REG_PROFILE_VC2, 1, whyp, whylen)) == NULL ||
	    (pv = reg_sign(k, cp, cd, whyp, whylen)) == NULL)
		goto done;
	/* The signed credential: the unsigned one plus "proof". */
	yajl_gen_free(g);
	if ((g = rj_gen()) == NULL)
		goto done;
	yajl_gen_map_open(g);
	{
		size_t	 i;

		for (i = 0; i < doc->u.object.len; i++) {
			rj_s(g, doc->u.object.keys[i]);
			rj_copy(g, doc->u.object.values[i]);
		}
	}
	rj_s(g, "proof");
	yajl_gen_map_open(g);
	{
		size_t	 i;

		for (i = 0; i < pdoc->u.object.len; i++) {
			rj_s(g, pdoc->u.object.keys[i]);
			rj_copy(g, pdoc->u.object.values[i]);
		}
	}
	rj_k(g, "proofValue", pv);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	if ((out = rj_take(g)) != NULL && (idc = strdup(id)) == NULL) {
		free(out);
		out = NULL;
	}
	if (out != NULL)
		*idp = idc;
done:
	if (g != NULL)
		yajl_gen_free(g);
	yajl_tree_free(doc);
	yajl_tree_free(pdoc);
	free(text);
	free(ptext);
	free(cd);
	free(cp);
	free(pv);
	return out;
}

/* --- verifying -------------------------------------------------------- */

static int
has_type(yajl_val obj, const char *want)
{
	yajl_val	 t = rj_get(obj, "type");
	size_t		 i;

	if (t == NULL)
		return 0;
	if (YAJL_IS_STRING(t))
		return strcmp(t->u.string, want) == 0;
	if (!YAJL_IS_ARRAY(t))
		return 0;
	for (i = 0; i < t->u.array.len; i++)
		if (YAJL_IS_STRING(t->u.array.values[i]) &&
		    strcmp(t->u.array.values[i]->u.string, want) == 0)
			return 1;
	return 0;
}

static int
check(struct reg_check *c, const char *step, int ok, const char *msg)
{
	c->rc_step = step;
	c->rc_ok = ok;
	snprintf(c->rc_msg, sizeof(c->rc_msg), "%s", msg);
	return ok;
}

static int
conformance(yajl_val cred, char *msg, size_t len)
{
	yajl_val	 sub = rj_get(cred, "credentialSubject"), ach;
	yajl_val	 iss = rj_get(cred, "issuer");

	if (reg_profile_of(cred) < 0)
		snprintf(msg, len, "unsupported @context");
	else if (rj_str(cred, "id") == NULL)
		snprintf(msg, len, "id missing");
	else if (!has_type(cred, "VerifiableCredential") ||
	    !(has_type(cred, "OpenBadgeCredential") ||
	    has_type(cred, "AchievementCredential")))
		snprintf(msg, len, "type must contain VerifiableCredential "
		    "and OpenBadgeCredential");
	else if (iss == NULL || !(YAJL_IS_STRING(iss) ||
	    rj_str(iss, "id") != NULL))
		snprintf(msg, len, "issuer missing");
	else if (reg_profile_of(cred) == REG_PROFILE_VC2 &&
	    rj_str(cred, "validFrom") == NULL)
		snprintf(msg, len, "validFrom missing");
	else if (sub == NULL || !YAJL_IS_OBJECT(sub))
		snprintf(msg, len, "credentialSubject missing");
	else if (rj_str(sub, "id") == NULL && rj_get(sub, "identifier") == NULL)
		snprintf(msg, len, "credentialSubject has neither id nor "
		    "identifier");
	else if ((ach = rj_get(sub, "achievement")) == NULL ||
	    rj_str(ach, "id") == NULL || !has_type(ach, "Achievement") ||
	    rj_str(ach, "name") == NULL || rj_get(ach, "criteria") == NULL)
		snprintf(msg, len, "achievement incomplete");
	else {
		snprintf(msg, len, "required properties present");
		return 1;
	}
	return 0;
}

static int
proof_check(const struct reg_key *k, yajl_val cred, char *msg, size_t len)
{
	yajl_val	 proof = rj_get(cred, "proof");
	const char	*vm, *pv, *hash;
	unsigned char	 pub[32], own[32];
	char		 why[200], *cd = NULL, *cp = NULL;
	int		 prof = reg_profile_of(cred), rc = 0;

	why[0] = '\0';
	if (proof != NULL && YAJL_IS_ARRAY(proof) && proof->u.array.len == 1)
		proof = proof->u.array.values[0];
	if (proof == NULL || !YAJL_IS_OBJECT(proof)) {
		snprintf(msg, len, "no embedded proof");
		return 0;
	}
	vm = rj_str(proof, "verificationMethod");
	pv = rj_str(proof, "proofValue");
	if (!has_type(proof, "DataIntegrityProof") ||
	    rj_str(proof, "cryptosuite") == NULL ||
	    strcmp(rj_str(proof, "cryptosuite"), "eddsa-rdfc-2022") != 0 ||
	    rj_str(proof, "proofPurpose") == NULL ||
	    strcmp(rj_str(proof, "proofPurpose"), "assertionMethod") != 0 ||
	    vm == NULL || pv == NULL) {
		snprintf(msg, len, "proof is not an eddsa-rdfc-2022 "
		    "DataIntegrityProof for assertionMethod");
		return 0;
	}
	if ((hash = strchr(vm, '#')) == NULL ||
	    reg_pub_from_multibase(hash + 1, pub) != 0) {
		snprintf(msg, len, "verificationMethod is not a Multikey "
		    "fragment");
		return 0;
	}
	reg_key_pub(k, own);
	if (memcmp(pub, own, 32) != 0) {
		snprintf(msg, len, "verificationMethod is not a key of this "
		    "issuer");
		return 0;
	}
	if ((cd = reg_canon(cred, (enum reg_profile)prof, 0, why,
	    sizeof(why))) == NULL ||
	    (cp = reg_canon(proof, (enum reg_profile)prof, 1, why,
	    sizeof(why))) == NULL) {
		snprintf(msg, len, "cannot canonicalize: %s", why);
		goto done;
	}
	if (reg_verify_sig(pub, cp, cd, pv) == 1) {
		snprintf(msg, len, "eddsa-rdfc-2022 signature valid");
		rc = 1;
	} else
		snprintf(msg, len, "signature does not match the document");
done:
	free(cd);
	free(cp);
	return rc;
}

int
reg_badge_verify(const struct reg_key *k, yajl_val cred, int revoked,
    const char *reason, const char *email,
    struct reg_check checks[REG_NCHECKS])
{
	yajl_val	 sub, ids, io;
	const char	*vf, *vu, *salt, *h;
	char		 msg[256], now[32], idhash[80];
	int		 all = 1, ok;
	size_t		 i;

	if (cred == NULL || !YAJL_IS_OBJECT(cred)) {
		check(&checks[0], "conformance", 0, "not a JSON object");
		check(&checks[1], "proof", -1, "not run");
		check(&checks[2], "refresh", -1, "not run");
		check(&checks[3], "status", -1, "not run");
		check(&checks[4], "recipient", -1, "not run");
		return 0;
	}
	ok = conformance(cred, msg, sizeof(msg));
	all &= check(&checks[0], "conformance", ok, msg);
	ok = ok ? proof_check(k, cred, msg, sizeof(msg)) :
	    (snprintf(msg, sizeof(msg), "not run: not conformant"), 0);
	all &= check(&checks[1], "proof", ok, msg);
	check(&checks[2], "refresh", -1, rj_get(cred, "refreshService") ?
	    "refreshService not supported" : "no refreshService");

	now_iso(now, sizeof(now));
	vf = rj_str(cred, "validFrom");
	vu = rj_str(cred, "validUntil");
	if (revoked == 1) {
		snprintf(msg, sizeof(msg), "revoked by the issuer%s%s",
		    reason && *reason ? ": " : "", reason ? reason : "");
		ok = 0;
	} else if (revoked < 0) {
		snprintf(msg, sizeof(msg), "not issued by this registry");
		ok = 0;
	} else if (vf != NULL && strcmp(now, vf) < 0) {
		snprintf(msg, sizeof(msg), "not yet valid (validFrom %s)", vf);
		ok = 0;
	} else if (vu != NULL && strcmp(now, vu) > 0) {
		snprintf(msg, sizeof(msg), "expired (validUntil %s)", vu);
		ok = 0;
	} else {
		snprintf(msg, sizeof(msg), "not revoked, within its validity");
		ok = 1;
	}
	all &= check(&checks[3], "status", ok, msg);

	if (email == NULL) {
		check(&checks[4], "recipient", -1, "no recipient given");
		return all;
	}
	ok = 0;
	snprintf(msg, sizeof(msg), "recipient does not match");
	sub = rj_get(cred, "credentialSubject");
	ids = rj_get(sub, "identifier");
	for (i = 0; ids != NULL && YAJL_IS_ARRAY(ids) &&
	    i < ids->u.array.len; i++) {
		io = ids->u.array.values[i];
		salt = rj_str(io, "salt");
		h = rj_str(io, "identityHash");
		if (salt == NULL || h == NULL)
			continue;
		if (identity_hash(email, salt, idhash, sizeof(idhash)) == 0 &&
		    strcmp(idhash, h) == 0) {
			ok = 1;
			snprintf(msg, sizeof(msg), "recipient matches the "
			    "salted email hash");
		}
	}
	all &= check(&checks[4], "recipient", ok, msg);
	return all;
}
