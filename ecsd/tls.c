/*
 * tls.c: the HTTPS listener's TLS context and client certificates; with
 * libecs/ecc_http.c the only files that include openssl/ssl.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include "ecsd.h"
#include "util.h"

static void
tls_log_errors(const char *what)
{
	unsigned long	 e;
	char		 buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_warnx("%s: %s", what, buf);
	}
}

/* The server context: TLS 1.2 or later, modern ciphers, optional CA. */
void *
tls_server_ctx(const struct conf *c)
{
	SSL_CTX	*ctx;
	int	 mode;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_log_errors("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:"
	    "DHE+AESGCM:!aNULL:!MD5:!DSS") != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, c->c_tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, c->c_tls_key,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		tls_log_errors(c->c_tls_cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (c->c_tls_ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, c->c_tls_ca, NULL) !=
		    1) {
			tls_log_errors(c->c_tls_ca);
			SSL_CTX_free(ctx);
			return NULL;
		}
		mode = SSL_VERIFY_PEER;
		if (strcmp(c->c_tls_verify, "require") == 0)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ctx, mode, NULL);
		SSL_CTX_set_verify_depth(ctx, 8);
		SSL_CTX_set_client_CA_list(ctx,
		    SSL_load_client_CA_file(c->c_tls_ca));
	}
	return ctx;
}

void
tls_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

/* A connection accepted on the HTTPS listener (fd), as a bufferevent. */
struct bufferevent *
tls_bev_new(struct event_base *base, int fd, void *ctx)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(ctx)) == NULL) {
		tls_log_errors("SSL_new");
		return NULL;
	}
	/* On failure (out of memory) the SSL is left: libevent may
	 * have freed it with what it made. */
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	return bev;
}

/*
 * The identity names a verified client certificate may map to: its
 * SHA-256 fingerprint ("sha256:<hex>") and its subject DN (RFC 2253).
 * 1 when the connection has a verified certificate, 0 when none, -1 when
 * the certificate did not verify.
 */
int
tls_peer_identity(struct bufferevent *bev, char *fpr, size_t fprlen,
    char *dn, size_t dnlen)
{
	SSL			*ssl;
	X509			*cert;
	BIO			*bio;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	char			 hex[2 * EVP_MAX_MD_SIZE + 1];
	int			 n;

	if (bev == NULL || (ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		return 0;
	if ((cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return 0;
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		X509_free(cert);
		return -1;
	}
	X509_digest(cert, EVP_sha256(), md, &mdlen);
	util_hex(md, mdlen, hex);
	snprintf(fpr, fprlen, "sha256:%s", hex);
	dn[0] = '\0';
	if ((bio = BIO_new(BIO_s_mem())) != NULL) {
		X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
		    XN_FLAG_RFC2253);
		n = BIO_read(bio, dn, (int)dnlen - 1);
		dn[n > 0 ? n : 0] = '\0';
		BIO_free(bio);
	}
	X509_free(cert);
	return 1;
}

