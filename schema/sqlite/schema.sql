-- ecsd schema, version 1 (PRAGMA user_version = 1).
-- Applied by libecs/store_sqlite.c in one transaction on a fresh database.
-- Times are seconds since the epoch (UTC).

CREATE TABLE organizations (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	name        TEXT NOT NULL UNIQUE,
	abbr        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE participants (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	name            TEXT NOT NULL UNIQUE,
	description     TEXT NOT NULL DEFAULT '',
	dns             TEXT NOT NULL DEFAULT '',
	email           TEXT NOT NULL DEFAULT '',
	organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
	selfrouting     INTEGER NOT NULL DEFAULT 0,
	events          INTEGER NOT NULL DEFAULT 1,
	ptype           TEXT,
	ttl             INTEGER,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);
CREATE INDEX participants_org ON participants(organization_id);

CREATE TABLE identities (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	name           TEXT NOT NULL UNIQUE,
	description    TEXT NOT NULL DEFAULT '',
	participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE
);
CREATE INDEX identities_participant ON identities(participant_id);

CREATE TABLE communities (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	name        TEXT NOT NULL UNIQUE,
	description TEXT
);

CREATE TABLE memberships (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
	community_id   INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	UNIQUE (participant_id, community_id)
);
CREATE INDEX memberships_community ON memberships(community_id, participant_id);

CREATE TABLE resources (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	namespace TEXT NOT NULL,
	name      TEXT NOT NULL,
	postroute INTEGER NOT NULL DEFAULT 0,
	events    INTEGER NOT NULL DEFAULT 1,
	UNIQUE (namespace, name)
);

CREATE TABLE messages (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	resource_id  INTEGER NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
	sender_id    INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
	content_type TEXT NOT NULL,
	body         BLOB NOT NULL,
	removed      INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX messages_sender ON messages(sender_id, resource_id, id);
CREATE INDEX messages_resource ON messages(resource_id);

-- Receiver links. resource_id is a copy of the message's, so that a queue
-- pop is one index seek: (membership, resource) ordered by message id.
CREATE TABLE links (
	membership_id INTEGER NOT NULL REFERENCES memberships(id) ON DELETE CASCADE,
	message_id    INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	resource_id   INTEGER NOT NULL,
	PRIMARY KEY (membership_id, message_id)
) WITHOUT ROWID;
CREATE INDEX links_queue ON links(membership_id, resource_id, message_id);
CREATE INDEX links_message ON links(message_id);

CREATE TABLE community_messages (
	community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	PRIMARY KEY (community_id, message_id)
) WITHOUT ROWID;
CREATE INDEX community_messages_message ON community_messages(message_id);

-- Event types: 1 created, 2 destroyed, 3 updated, 4 notlinked.
CREATE TABLE events (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
	message_id     INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	type           INTEGER NOT NULL
);
CREATE INDEX events_queue ON events(participant_id, id);
CREATE INDEX events_message ON events(message_id);

CREATE TABLE auths (
	message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
	hash       TEXT NOT NULL UNIQUE,
	eov        INTEGER NOT NULL
);
CREATE INDEX auths_eov ON auths(eov);

CREATE TABLE subparticipants (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	participant_id INTEGER NOT NULL UNIQUE REFERENCES participants(id) ON DELETE CASCADE,
	parent_id      INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
	realm          TEXT
);
CREATE INDEX subparticipants_parent ON subparticipants(parent_id);

-- Seed data (protocol section 2.13).
INSERT INTO organizations (name, abbr, description)
	VALUES ('not available', 'n/a', 'for anonymous participants');
INSERT INTO organizations (name, abbr, description) VALUES ('system', 'sys', '');
INSERT INTO participants (name, description, organization_id, ptype, created_at, updated_at)
	VALUES ('ecs', 'system participant', 2, NULL, strftime('%s','now'), strftime('%s','now'));
INSERT INTO communities (name, description) VALUES ('public', 'Public community');
INSERT INTO resources (namespace, name, postroute, events) VALUES ('sys', 'auths', 0, 0);
