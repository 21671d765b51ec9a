DROP TRIGGER IF EXISTS group_members_max_members ON group_members;
DROP FUNCTION IF EXISTS zynk_group_members_max_members();
ALTER TABLE group_members DROP COLUMN joined_seq;
DELETE FROM message_refs WHERE id IN (SELECT id FROM messages WHERE message_type = 'membership');
DELETE FROM messages WHERE message_type = 'membership';
ALTER TABLE messages DROP CONSTRAINT message_type_check;
ALTER TABLE messages ADD CONSTRAINT message_type_check CHECK (
    message_type IN ('text', 'image', 'file', 'audio', 'video', 'location')
);
