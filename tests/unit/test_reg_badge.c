/*
 * test_reg_badge.c: the registry's eddsa-rdfc-2022 implementation against
 * the published test vector of the Open Badges 3.0 implementation guide
 * ("Linked Data Proof Test Vector for Open Badges 3.0", 1EdTech
 * openbadges-specification, ob_v3p0/impl/linked-data-proof-ob.md, commit
 * 47fa8253413f39715714647947ff4a992258298a): both canonical N-Quads
 * documents, both hashes, the signature and the proofValue must come out
 * byte for byte; then a round trip of a credential the registry issues,
 * and a tampered copy that must fail.  Prints TAP.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

static int	 failed, ntest;

static void
ok(int cond, const char *what)
{
	ntest++;
	printf("%sok %d - %s\n", cond ? "" : "not ", ntest, what);
	if (!cond)
		failed = 1;
}

static const char vec_doc[] =
"{\"@context\":[\"https://www.w3.org/2018/credentials/v1\","
"\"https://purl.imsglobal.org/spec/ob/v3p0/context/ob_v3p0.jsonld\","
"\"https://w3id.org/security/data-integrity/v1\"],"
"\"id\":\"http://example.com/credentials/3527\","
"\"type\":[\"VerifiableCredential\",\"OpenBadgeCredential\"],"
"\"issuer\":{\"id\":\"https://example.edu/issuers/565049\","
"\"type\":[\"Profile\"],\"url\":\"https://www.imsglobal.org\","
"\"name\":\"Example Corp\"},"
"\"issuanceDate\":\"2010-01-01T00:00:00Z\",\"name\":\"Teamwork Badge\","
"\"credentialSubject\":{\"id\":\"did:example:ebfeb1f712ebc6f1c276e12ec21\","
"\"type\":[\"AchievementSubject\"],\"achievement\":{"
"\"id\":\"https://example.com/achievements/21st-century-skills/teamwork\","
"\"type\":[\"Achievement\"],\"criteria\":{\"narrative\":\"Team members are "
"nominated for this badge by their peers and recognized upon review by "
"Example Corp management.\"},\"description\":\"This badge recognizes the "
"development of the capacity to collaborate within a group environment.\","
"\"name\":\"Teamwork\"}}}";

static const char vec_proof[] =
"{\"@context\":[\"https://www.w3.org/2018/credentials/v1\","
"\"https://purl.imsglobal.org/spec/ob/v3p0/context/ob_v3p0.jsonld\","
"\"https://w3id.org/security/data-integrity/v1\"],"
"\"type\":\"DataIntegrityProof\",\"created\":\"2010-01-01T19:23:24Z\","
"\"verificationMethod\":\"https://example.edu/issuers/565049#"
"z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi\","
"\"cryptosuite\":\"eddsa-rdfc-2022\",\"proofPurpose\":\"assertionMethod\"}";

static const char vec_proof_nq[] =
"_:c14n0 <http://purl.org/dc/terms/created> \"2010-01-01T19:23:24Z\"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n"
"_:c14n0 <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://w3id.org/security#DataIntegrityProof> .\n"
"_:c14n0 <https://w3id.org/security#cryptosuite> \"eddsa-rdfc-2022\" .\n"
"_:c14n0 <https://w3id.org/security#proofPurpose> <https://w3id.org/security#assertionMethod> .\n"
"_:c14n0 <https://w3id.org/security#verificationMethod> <https://example.edu/issuers/565049#z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi> .\n";

static const char vec_doc_nq[] =
"<did:example:ebfeb1f712ebc6f1c276e12ec21> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://purl.imsglobal.org/spec/vc/ob/vocab.html#AchievementSubject> .\n"
"<did:example:ebfeb1f712ebc6f1c276e12ec21> <https://purl.imsglobal.org/spec/vc/ob/vocab.html#Achievement> <https://example.com/achievements/21st-century-skills/teamwork> .\n"
"<http://example.com/credentials/3527> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://purl.imsglobal.org/spec/vc/ob/vocab.html#OpenBadgeCredential> .\n"
"<http://example.com/credentials/3527> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://www.w3.org/2018/credentials#VerifiableCredential> .\n"
"<http://example.com/credentials/3527> <https://schema.org/name> \"Teamwork Badge\"^^<https://www.w3.org/2001/XMLSchema#string> .\n"
"<http://example.com/credentials/3527> <https://www.w3.org/2018/credentials#credentialSubject> <did:example:ebfeb1f712ebc6f1c276e12ec21> .\n"
"<http://example.com/credentials/3527> <https://www.w3.org/2018/credentials#issuanceDate> \"2010-01-01T00:00:00Z\"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n"
"<http://example.com/credentials/3527> <https://www.w3.org/2018/credentials#issuer> <https://example.edu/issuers/565049> .\n"
"<https://example.com/achievements/21st-century-skills/teamwork> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://purl.imsglobal.org/spec/vc/ob/vocab.html#Achievement> .\n"
"<https://example.com/achievements/21st-century-skills/teamwork> <https://purl.imsglobal.org/spec/vc/ob/vocab.html#Criteria> _:c14n0 .\n"
"<https://example.com/achievements/21st-century-skills/teamwork> <https://schema.org/description> \"This badge recognizes the development of the capacity to collaborate within a group environment.\"^^<https://www.w3.org/2001/XMLSchema#string> .\n"
"<https://example.com/achievements/21st-century-skills/teamwork> <https://schema.org/name> \"Teamwork\"^^<https://www.w3.org/2001/XMLSchema#string> .\n"
"<https://example.edu/issuers/565049> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://purl.imsglobal.org/spec/vc/ob/vocab.html#Profile> .\n"
"<https://example.edu/issuers/565049> <https://schema.org/name> \"Example Corp\"^^<https://www.w3.org/2001/XMLSchema#string> .\n"
"<https://example.edu/issuers/565049> <https://schema.org/url> \"https://www.imsglobal.org\"^^<https://www.w3.org/2001/XMLSchema#anyURI> .\n"
"_:c14n0 <https://purl.imsglobal.org/spec/vc/ob/vocab.html#narrative> \"Team members are nominated for this badge by their peers and recognized upon review by Example Corp management.\"^^<https://www.w3.org/2001/XMLSchema#string> .\n";

#define VEC_SEED	"6241a409e6707bb640a0140a8a32bc3d193c33a661747284d6adfa4ed4180be4"
#define VEC_MB		"z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi"
#define VEC_DOC_HASH	"d994aebd5e53f4af4495dbe9e1155410bae683811107c26acf83671075c163b3"
#define VEC_PROOF_HASH	"3cf3c265b6c8ebb29b4d5ea310b87d2f31c79b633eff8af561d2e8c97a85c8cb"
#define VEC_SIG		"17a898a91832fa58bd66433e18dc8256522bcf84382994c395c23c26cba71ff8060a2587390e5ed20c4decec45c0c0c9eec1f7d2d1ce91e1ffc992983a74a300"
#define VEC_PV		"zUSD5bjo6mYV1n9i9E6ZwUiHuj4JyZDjCDfDqoJcPi9XJrc9LYstik9mdBvutdwBdquWXjWrwJDVGJrAarvRs8uD"

static void
unhex(const char *h, unsigned char *out, size_t n)
{
	size_t	 i;
	unsigned int b;

	for (i = 0; i < n; i++) {
		sscanf(h + 2 * i, "%2x", &b);
		out[i] = (unsigned char)b;
	}
}

static void
vector(void)
{
	struct reg_key	*k;
	yajl_val	 doc, proof;
	unsigned char	 seed[32], sig[80];
	char		 why[200], hex[65], sighex[129], *cd, *cp, *pv;
	size_t		 n, i;

	doc = rj_parse(vec_doc);
	proof = rj_parse(vec_proof);
	ok(doc != NULL && proof != NULL, "vector documents parse");
	ok(reg_profile_of(doc) == REG_PROFILE_VC1, "vector is profile VC1");
	cd = reg_canon(doc, REG_PROFILE_VC1, 0, why, sizeof(why));
	cp = reg_canon(proof, REG_PROFILE_VC1, 1, why, sizeof(why));
	ok(cd != NULL && strcmp(cd, vec_doc_nq) == 0,
	    "document canonical N-Quads match byte for byte");
	if (cd != NULL && strcmp(cd, vec_doc_nq) != 0)
		printf("# got:\n%s", cd);
	ok(cp != NULL && strcmp(cp, vec_proof_nq) == 0,
	    "proof canonical N-Quads match byte for byte");
	if (cp != NULL && strcmp(cp, vec_proof_nq) != 0)
		printf("# got:\n%s", cp);
	reg_sha256_hex(cd ? cd : "", cd ? strlen(cd) : 0, hex);
	ok(strcmp(hex, VEC_DOC_HASH) == 0, "document hash");
	reg_sha256_hex(cp ? cp : "", cp ? strlen(cp) : 0, hex);
	ok(strcmp(hex, VEC_PROOF_HASH) == 0, "proof hash");

	unhex(VEC_SEED, seed, 32);
	k = reg_key_from_seed(seed);
	ok(k != NULL && strcmp(reg_key_multibase(k), VEC_MB) == 0,
	    "publicKeyMultibase of the vector key");
	pv = (k && cd && cp) ? reg_sign(k, cp, cd, why, sizeof(why)) : NULL;
	ok(pv != NULL && strcmp(pv, VEC_PV) == 0, "proofValue");
	if (pv != NULL && reg_b58dec(pv + 1, sig, sizeof(sig), &n) == 0 &&
	    n == 64) {
		for (i = 0; i < 64; i++)
			snprintf(sighex + 2 * i, 3, "%02x", sig[i]);
		ok(strcmp(sighex, VEC_SIG) == 0, "signature bytes");
	} else
		ok(0, "signature bytes");
	{
		unsigned char	 pub[32];

		reg_key_pub(k, pub);
		ok(reg_verify_sig(pub, cp, cd, VEC_PV) == 1,
		    "vector proofValue verifies");
	}
	free(pv);
	free(cd);
	free(cp);
	reg_key_free(k);
	yajl_tree_free(doc);
	yajl_tree_free(proof);
}

static void
roundtrip(void)
{
	struct reg_award	 a;
	struct reg_check	 ch[REG_NCHECKS];
	struct reg_key		*k;
	unsigned char		 seed[32];
	yajl_val		 cred;
	char			 why[200], *text, *id = NULL, *p;

	memset(seed, 7, sizeof(seed));
	k = reg_key_from_seed(seed);
	memset(&a, 0, sizeof(a));
	a.ra_issuer_id = "https://registry.example.org/issuer";
	a.ra_issuer_name = "Registry \"test\"\nissuer";
	a.ra_issuer_url = "https://registry.example.org/";
	a.ra_achievement_id = "https://registry.example.org/offers/1";
	a.ra_name = "Welding basics";
	a.ra_description = "Learn to weld.";
	a.ra_criteria = "Completed the course.";
	a.ra_email = "Trainee@Example.org";
	a.ra_salt = "0123abcd";
	a.ra_valid_from = "2024-01-01T00:00:00Z";
	a.ra_eqf = 4;
	a.ra_ects = 2.5;
	text = reg_badge_issue(k, &a, &id, why, sizeof(why));
	ok(text != NULL, "issue a credential");
	if (text == NULL)
		printf("# %s\n", why);
	cred = text ? rj_parse(text) : NULL;
	ok(cred != NULL && reg_badge_verify(k, cred, 0, NULL,
	    "trainee@example.org", ch) == 1, "issued credential verifies");
	yajl_tree_free(cred);
	ok(cred != NULL && reg_badge_verify(k, (cred = rj_parse(text)), 1,
	    "fraud", NULL, ch) == 0 && ch[3].rc_ok == 0,
	    "revoked credential fails the status step");
	yajl_tree_free(cred);
	if (text != NULL && (p = strstr(text, "Welding basics")) != NULL)
		p[0] = 'w';
	cred = text ? rj_parse(text) : NULL;
	ok(cred != NULL && reg_badge_verify(k, cred, 0, NULL, NULL, ch) == 0 &&
	    ch[1].rc_ok == 0, "tampered credential fails the proof step");
	yajl_tree_free(cred);
	free(text);
	free(id);
	reg_key_free(k);
}

int
main(void)
{
	vector();
	roundtrip();
	printf("1..%d\n", ntest);
	return failed;
}
