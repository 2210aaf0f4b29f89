-- Search over documents (issue 13, docs/AUDIT.md): the subject folded — lower case, without
-- Vietnamese diacritics, đ as d, spaces collapsed — so that "cong van" finds "Công văn". The
-- server fills it for documents stored before this migration when it migrates. Indexes for
-- the searches by time, by sender and by recipient.
ALTER TABLE documents ADD COLUMN subject_folded TEXT;
CREATE INDEX documents_by_time ON documents (created_at);
CREATE INDEX documents_by_sender_time ON documents (sender, created_at);
CREATE INDEX recipient_states_by_recipient ON recipient_states (recipient, sender, document_id);
