/*
 * registry.h: the course registry plugin, shared declarations.
 *
 * registry.c	plugin descriptor, event handling, dispatch of the registry resources
 * reg_store.c	the registry's own SQLite database
 * reg_schema.c	the JSON Schema subset that validates offers
 * reg_badge.c	Open Badges 3.0 credentials, eddsa-rdfc-2022 proofs
 * reg_json.c	small helpers over yajl (tree in, generator out)
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <yajl_gen.h>
#include <yajl_tree.h>

/* --- reg_json.c ------------------------------------------------------- */

/* Member of an object, or NULL. */
yajl_val	 rj_get(yajl_val, const char *key);
/* String member, or NULL when absent or not a string. */
const char	*rj_str(yajl_val, const char *key);
/* Integer member: 0 and *vp set, -1 when absent or not an integer. */
int		 rj_int(yajl_val, const char *key, int64_t *vp);
/* Number member (integer or double): 0 and *vp set, or -1. */
int		 rj_num(yajl_val, const char *key, double *vp);
/* Boolean member: 0 and *vp set, or -1. */
int		 rj_bool(yajl_val, const char *key, int *vp);
/* Parse text (NUL-terminated); NULL on error. Free with yajl_tree_free. */
yajl_val	 rj_parse(const char *text);

/* A generator that never beautifies; NULL on memory exhaustion. */
yajl_gen	 rj_gen(void);
void		 rj_s(yajl_gen, const char *);	/* string, NULL: null */
void		 rj_k(yajl_gen, const char *key, const char *val);
void		 rj_ki(yajl_gen, const char *key, int64_t);
void		 rj_kd(yajl_gen, const char *key, double);
void		 rj_kb(yajl_gen, const char *key, int);
/* Copy a parsed value into a generator. */
void		 rj_copy(yajl_gen, yajl_val);
/* The generated text as a new string (caller frees); NULL on error. */
char		*rj_take(yajl_gen);

/* --- reg_schema.c ----------------------------------------------------- */

/* A list of field errors (JSON Pointer-ish paths and messages). */
struct reg_errs {
	char	**re_field;
	char	**re_msg;
	size_t	  re_n;
};

void	 reg_errs_add(struct reg_errs *, const char *field, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
void	 reg_errs_free(struct reg_errs *);
/*
 * Validate doc against a JSON Schema (the subset documented in
 * registry(7)); every violation is added to errs. 0 when valid, 1 when
 * not, -1 when the schema itself uses something unsupported.
 */
int	 reg_validate(yajl_val schema, yajl_val doc, struct reg_errs *errs);
/* 0 when s is YYYY-MM-DD of a real calendar date; *tp its UTC midnight. */
int	 reg_parse_date(const char *s, int64_t *tp);

/* --- reg_badge.c ------------------------------------------------------ */

enum reg_profile {
	REG_PROFILE_VC1,	/* credentials/v1 + ob_v3p0.jsonld (+ DI v1) */
	REG_PROFILE_VC2		/* credentials/v2 + OB context-3.0.3 */
};

struct reg_key;			/* an Ed25519 key pair */

/*
 * Canonical N-Quads (RDFC-1.0) of a credential of the fixed shape the
 * registry issues (or of the published test vector's shape): the whole
 * document without "proof", or (proof != 0) the proof options
 * (doc is then the proof object, without proofValue). Returns a new
 * string or NULL with why filled in.
 */
char	*reg_canon(yajl_val doc, enum reg_profile, int proof, char *why,
	    size_t whylen);
/* Profile of a credential by its @context, -1 if not a supported one. */
int	 reg_profile_of(yajl_val doc);

/* Load the key from path, or create it (mode 0600) when absent. */
struct reg_key	*reg_key_load(const char *path, char *why, size_t whylen);
/* A key from a 32-byte seed (tests). */
struct reg_key	*reg_key_from_seed(const unsigned char seed[32]);
void		 reg_key_free(struct reg_key *);
/* "z6Mk..." multibase of the public key. */
const char	*reg_key_multibase(const struct reg_key *);

/* base58btc; dst must hold 2 * n + 2 bytes. */
void	 reg_b58enc(const unsigned char *src, size_t n, char *dst);
/* 0 and *np on success; dst holds up to cap bytes. */
int	 reg_b58dec(const char *src, unsigned char *dst, size_t cap,
	    size_t *np);

/*
 * The proofValue over proof options and document (their canonical forms),
 * as "z..." (caller frees); NULL with why.
 */
char	*reg_sign(const struct reg_key *, const char *canon_proof,
	    const char *canon_doc, char *why, size_t whylen);
/* 1 valid, 0 invalid, -1 error. pub is the 32-byte public key. */
int	 reg_verify_sig(const unsigned char pub[32], const char *canon_proof,
	    const char *canon_doc, const char *proof_value);
/* Public key bytes of a key. */
void	 reg_key_pub(const struct reg_key *, unsigned char pub[32]);
/* Public key from a "z6Mk..." multibase; 0 or -1. */
int	 reg_pub_from_multibase(const char *, unsigned char pub[32]);

/* sha256 hex of s (65 bytes out). */
void	 reg_sha256_hex(const void *, size_t, char out[65]);
/* Random lowercase hex of n bytes (2n + 1 out); 0 or -1. */
int	 reg_random_hex(size_t n, char *out);

/* What an issued credential says; strings are borrowed. */
struct reg_award {
	const char	*ra_issuer_id;
	const char	*ra_issuer_name;
	const char	*ra_issuer_url;
	const char	*ra_achievement_id;
	const char	*ra_name;		/* offer title */
	const char	*ra_description;
	const char	*ra_criteria;		/* narrative */
	const char	*ra_email;		/* recipient */
	const char	*ra_salt;
	const char	*ra_valid_from;		/* date-time */
	int64_t		 ra_eqf;		/* 0: none */
	double		 ra_ects;		/* < 0: none */
};

/*
 * A signed OpenBadgeCredential as JSON text (caller frees); *idp the
 * credential id (caller frees). NULL with why.
 */
char	*reg_badge_issue(const struct reg_key *, const struct reg_award *,
	    char **idp, char *why, size_t whylen);

/* The outcome of each verification step. */
struct reg_check {
	const char	*rc_step;
	int		 rc_ok;		/* 1 passed, 0 failed, -1 skipped */
	char		 rc_msg[256];
};
#define REG_NCHECKS	5

/*
 * Run the verification steps on a credential; revoked is the issuer's
 * verdict (1 revoked, 0 not, -1 unknown credential), email an optional
 * recipient to check. Returns 1 when every step that ran passed.
 */
int	 reg_badge_verify(const struct reg_key *, yajl_val cred, int revoked,
	    const char *revoked_reason, const char *email,
	    struct reg_check checks[REG_NCHECKS]);

/* --- reg_store.c ------------------------------------------------------ */

struct reg_store;

struct reg_store	*reg_store_open(const char *path, char *why,
			    size_t whylen);
void			 reg_store_close(struct reg_store *);



/* The registry's queries (their SQL is in reg_store.c). */
enum reg_query {
	Q_ROLE_SET, Q_ROLE_DEL, Q_ROLE_HAS, Q_ROLES_OF, Q_ROLE_PIDS,
	Q_ROLES_ALL,
	Q_OFFER_ADD, Q_OFFER_GET, Q_OFFER_EDIT, Q_OFFER_STATUS,
	Q_OFFER_APPROVE, Q_OFFER_DROP_PENDING, Q_OFFER_LINK, Q_OFFER_SEARCH,
	Q_OFFER_COUNT, Q_OFFERS_OF,
	Q_APP_ADD, Q_APP_GET, Q_APP_STATUS, Q_APP_COUNT, Q_APPS_OF_OFFER,
	Q_RATE_ADD, Q_RATE_AGG_OFFER, Q_RATE_AGG_PROVIDER, Q_RATE_AGG_TRAINER,
	Q_ANN_ADD, Q_ANN_LIST,
	Q_CRED_ADD, Q_CRED_GET, Q_CRED_REVOKE,
	Q_AUDIT, Q_AUDIT_LIST,
	Q_STATS_OFFER, Q_STATS_PROVIDER,
	Q__COUNT
};

/* Rows of a query: rr_n rows of rr_ncol cells (text or NULL). */
struct reg_rows {
	size_t	  rr_n, rr_ncol;
	char	**rr_cell;
};

/*
 * Run query q with parameters described by fmt ('i' int64_t, 't' const
 * char * or NULL, 'd' double, 'n' an int64_t bound as null). Rows go to out (may be NULL;
 * free with reg_rows_free), the new rowid to *rowidp (may be NULL).
 * 0 done, 1 constraint violated (duplicate), -1 error (logged in why).
 */
int		 reg_q(struct reg_store *, enum reg_query, struct reg_rows *out,
		    int64_t *rowidp, const char *fmt, ...);
const char	*reg_cell(const struct reg_rows *, size_t row, size_t col);
int64_t		 reg_cell_int(const struct reg_rows *, size_t row, size_t col);
double		 reg_cell_dbl(const struct reg_rows *, size_t row, size_t col);
void		 reg_rows_free(struct reg_rows *);
/* The text of the last error of the store. */
const char	*reg_store_error(const struct reg_store *);
#endif /* REGISTRY_H */
