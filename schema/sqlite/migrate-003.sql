-- Version 3: the tables that name a message (links, community_messages,
-- events, auths) without ON DELETE CASCADE on message_id. A cascade costs
-- SQLite a trigger program per table on every message delete, and a
-- temporary table for each WITHOUT ROWID one, even when there is nothing
-- to delete; store.c deletes a message's rows itself before the message.
-- SQLite cannot alter a foreign key: each table is made anew, copied,
-- dropped and the copy renamed (libecs/store_sqlite.c runs this with
-- foreign keys off and checks them before the commit).

CREATE TABLE links_new (
	membership_id INTEGER NOT NULL REFERENCES memberships(id) ON DELETE CASCADE,
	message_id    INTEGER NOT NULL REFERENCES messages(id),
	resource_id   INTEGER NOT NULL,
	PRIMARY KEY (membership_id, message_id)
) WITHOUT ROWID;
INSERT INTO links_new (membership_id, message_id, resource_id)
	SELECT membership_id, message_id, resource_id FROM links;
DROP TABLE links;
ALTER TABLE links_new RENAME TO links;
CREATE INDEX links_queue ON links(membership_id, resource_id, message_id);
CREATE INDEX links_message ON links(message_id);

CREATE TABLE community_messages_new (
	community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	message_id   INTEGER NOT NULL REFERENCES messages(id),
	PRIMARY KEY (community_id, message_id)
) WITHOUT ROWID;
INSERT INTO community_messages_new (community_id, message_id)
	SELECT community_id, message_id FROM community_messages;
DROP TABLE community_messages;
ALTER TABLE community_messages_new RENAME TO community_messages;
CREATE INDEX community_messages_message ON community_messages(message_id);

-- Event types: 1 created, 2 destroyed, 3 updated, 4 notlinked.
-- The AUTOINCREMENT counter goes along: event ids are never used again.
CREATE TABLE events_new (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
	message_id     INTEGER NOT NULL REFERENCES messages(id),
	type           INTEGER NOT NULL
);
INSERT INTO events_new (id, participant_id, message_id, type)
	SELECT id, participant_id, message_id, type FROM events;
DELETE FROM sqlite_sequence WHERE name = 'events_new';
INSERT INTO sqlite_sequence (name, seq)
	SELECT 'events_new', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_queue ON events(participant_id, id);
CREATE INDEX events_message ON events(message_id);

CREATE TABLE auths_new (
	message_id INTEGER PRIMARY KEY REFERENCES messages(id),
	hash       TEXT NOT NULL UNIQUE,
	eov        INTEGER NOT NULL
);
INSERT INTO auths_new (message_id, hash, eov)
	SELECT message_id, hash, eov FROM auths;
DROP TABLE auths;
ALTER TABLE auths_new RENAME TO auths;
CREATE INDEX auths_eov ON auths(eov);
