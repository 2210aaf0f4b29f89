-- Inbox entries of kind `status` say which status they carry: the inbox joins each delivery's
-- packet to its status_history row, by packet id.
CREATE INDEX status_history_by_packet ON status_history (packet_id);
