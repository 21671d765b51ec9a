ALTER TABLE conversation_participants DROP COLUMN request_state;
DROP TABLE user_blocks;
