-- Version 2: passwords of identities for HTTP Basic (a PBKDF2 string:
-- pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>); NULL: none.
ALTER TABLE identities ADD COLUMN password TEXT;
