-- Groups (issue 10):
-- * messages.message_type also takes 'membership': a membership change of a group is a row of
--   the group conversation's history, written by the server (its body is a small JSON object,
--   not secret: the server knows membership). The CHECK of the partitioned table is replaced
--   (partitions inherit it).
-- * group_members.joined_seq: the sequence number of the event that added the member; a member
--   reads the group's history from there on.
-- * max_members is enforced by the database too: a trigger refuses a member beyond the group's
--   max_members (the add transaction locks the group row first, so concurrent adds count
--   correctly).
ALTER TABLE messages DROP CONSTRAINT message_type_check;
ALTER TABLE messages ADD CONSTRAINT message_type_check CHECK (
    message_type IN ('text', 'image', 'file', 'audio', 'video', 'location', 'membership')
);

ALTER TABLE group_members ADD COLUMN joined_seq BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION zynk_group_members_max_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT COUNT(*) FROM group_members WHERE group_id = NEW.group_id)
       >= (SELECT COALESCE(max_members, 256) FROM groups WHERE id = NEW.group_id) THEN
        RAISE EXCEPTION 'group_full: the group has reached max_members'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER group_members_max_members BEFORE INSERT ON group_members
    FOR EACH ROW EXECUTE FUNCTION zynk_group_members_max_members();
