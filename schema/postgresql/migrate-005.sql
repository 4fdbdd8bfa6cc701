-- Version 5: the message tables keep no foreign keys to the rows that
-- many batches name at once. A key check locks the row it reads (FOR KEY
-- SHARE), and when the batches of several connections lock the same
-- resource, sender, receiver membership and participant rows, the server
-- keeps shared row locks among transactions (multixacts): the key checks
-- of produce took a third of its time. The store now reads each row an
-- insert names in the same statement (NULL when it is gone, which NOT
-- NULL refuses as the key did); a batch that inserts such rows first takes
-- a shared advisory lock that a deletion of those rows takes exclusively,
-- and the deletion removes what names the row itself (store.c,
-- d_share_refs).
-- Community records name only the new message of their own batch, and a
-- message's deletion removes them first: their key to messages goes too,
-- and with it one of the checks every deletion of a message ran. The keys
-- from links, events and auths to messages stay: those can name an older
-- message, and the key is what keeps its concurrent deletion out.

ALTER TABLE messages DROP CONSTRAINT messages_resource_id_fkey,
	DROP CONSTRAINT messages_sender_id_fkey;
ALTER TABLE links DROP CONSTRAINT links_membership_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_participant_id_fkey;
ALTER TABLE community_messages
	DROP CONSTRAINT community_messages_community_id_fkey,
	DROP CONSTRAINT community_messages_message_id_fkey;
