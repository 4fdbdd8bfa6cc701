-- Version 4: events without AUTOINCREMENT. An AUTOINCREMENT id costs a
-- read and a write of sqlite_sequence on every insert, once per message
-- for its event. Event ids are never shown and live only while an event
-- waits; a new event gets max(id) + 1, so a participant's events keep
-- their order.

CREATE TABLE events_new (
	id             INTEGER PRIMARY KEY,
	participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
	message_id     INTEGER NOT NULL REFERENCES messages(id),
	type           INTEGER NOT NULL
);
INSERT INTO events_new (id, participant_id, message_id, type)
	SELECT id, participant_id, message_id, type FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
DELETE FROM sqlite_sequence WHERE name IN ('events', 'events_new');
CREATE INDEX events_queue ON events(participant_id, id);
CREATE INDEX events_message ON events(message_id);
