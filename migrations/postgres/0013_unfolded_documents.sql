-- The documents whose subject is not folded yet (stored before migration 0011): the server
-- folds them when it migrates, and this index lets it find them without reading every
-- document on each start (it is empty once they are folded).
CREATE INDEX documents_unfolded ON documents (sender, document_id) WHERE subject_folded IS NULL;
