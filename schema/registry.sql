-- The course registry plugin's own database (see registry(7)).
-- Version 1; PRAGMA user_version says which version a file has.
-- Participants are kept by their pid (from /sys/memberships) with the
-- name and a membership id (mid) to answer them at.

CREATE TABLE roles (
	pid		INTEGER NOT NULL,
	role		TEXT NOT NULL CHECK (role IN ('provider', 'trainer',
			    'employer', 'trainee', 'superadmin')),
	name		TEXT NOT NULL,
	granted_by	INTEGER,
	granted_at	INTEGER NOT NULL,
	PRIMARY KEY (pid, role)
);

CREATE TABLE offers (
	id		INTEGER PRIMARY KEY,
	provider_pid	INTEGER NOT NULL,
	provider_name	TEXT NOT NULL,
	provider_mid	INTEGER NOT NULL,
	status		TEXT NOT NULL CHECK (status IN ('pending', 'published',
			    'rejected', 'withdrawn')),
	data		TEXT NOT NULL,	-- the offer as last approved (or submitted)
	pending		TEXT,		-- an edit waiting for approval
	courselink_id	INTEGER,	-- campusconnect/courselinks message
	created		INTEGER NOT NULL,
	updated		INTEGER NOT NULL
);

CREATE TABLE applications (
	id		INTEGER PRIMARY KEY,
	offer_id	INTEGER NOT NULL REFERENCES offers (id),
	trainee_pid	INTEGER NOT NULL,
	trainee_name	TEXT NOT NULL,
	trainee_mid	INTEGER NOT NULL,
	email		TEXT,
	status		TEXT NOT NULL CHECK (status IN ('pending', 'confirmed',
			    'rejected', 'completed')),
	created		INTEGER NOT NULL,
	decided		INTEGER,
	UNIQUE (offer_id, trainee_pid)
);

CREATE TABLE ratings (
	application_id	INTEGER NOT NULL REFERENCES applications (id),
	target		TEXT NOT NULL CHECK (target IN ('course', 'provider',
			    'trainer')),
	score		INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
	opinion		TEXT,
	created		INTEGER NOT NULL,
	PRIMARY KEY (application_id, target)
);

CREATE TABLE announcements (
	id		INTEGER PRIMARY KEY,
	employer_pid	INTEGER NOT NULL,
	employer_name	TEXT NOT NULL,
	kind		TEXT NOT NULL CHECK (kind IN ('training', 'competency')),
	data		TEXT NOT NULL,
	created		INTEGER NOT NULL
);

CREATE TABLE credentials (
	id		TEXT PRIMARY KEY,	-- urn:uuid:...
	application_id	INTEGER NOT NULL REFERENCES applications (id),
	offer_id	INTEGER NOT NULL,
	trainee_pid	INTEGER NOT NULL,
	body		TEXT NOT NULL,
	issued		INTEGER NOT NULL,
	revoked		INTEGER NOT NULL DEFAULT 0,
	revoked_reason	TEXT,
	revoked_at	INTEGER
);

CREATE TABLE audit (
	id		INTEGER PRIMARY KEY,
	at		INTEGER NOT NULL,
	actor_pid	INTEGER,
	actor		TEXT,
	action		TEXT NOT NULL,
	object		TEXT,
	detail		TEXT
);

CREATE INDEX applications_offer ON applications (offer_id);
CREATE INDEX credentials_app ON credentials (application_id);

PRAGMA user_version = 1;
