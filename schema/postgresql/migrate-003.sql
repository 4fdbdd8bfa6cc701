-- Version 3, as schema/sqlite/migrate-003.sql: the tables that name a
-- message (links, community_messages, events, auths) without ON DELETE
-- CASCADE on message_id; store.c deletes a message's rows itself before
-- the message.

ALTER TABLE links DROP CONSTRAINT links_message_id_fkey,
	ADD CONSTRAINT links_message_id_fkey
	FOREIGN KEY (message_id) REFERENCES messages(id);
ALTER TABLE community_messages
	DROP CONSTRAINT community_messages_message_id_fkey,
	ADD CONSTRAINT community_messages_message_id_fkey
	FOREIGN KEY (message_id) REFERENCES messages(id);
ALTER TABLE events DROP CONSTRAINT events_message_id_fkey,
	ADD CONSTRAINT events_message_id_fkey
	FOREIGN KEY (message_id) REFERENCES messages(id);
ALTER TABLE auths DROP CONSTRAINT auths_message_id_fkey,
	ADD CONSTRAINT auths_message_id_fkey
	FOREIGN KEY (message_id) REFERENCES messages(id);
