-- A word index over the folded subjects (issue 13, docs/AUDIT.md "Search"): for each document,
-- each distinct word of its folded subject (the text between spaces) with the document's time
-- and key; and how many documents each word is in, so that a search uses the index only for
-- a rare word. The server's indexer fills both in the writer's background lane, from the
-- documents whose words are not indexed yet (a partial index finds them; it is nearly empty
-- while the indexer keeps up, and holds every older document right after this migration).
ALTER TABLE documents ADD COLUMN words_indexed INTEGER NOT NULL DEFAULT 0
    CHECK (words_indexed IN (0, 1));
CREATE INDEX documents_unindexed ON documents (created_at) WHERE words_indexed = 0;
CREATE TABLE document_words (
    word        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    sender      TEXT    NOT NULL,
    document_id TEXT    NOT NULL,
    PRIMARY KEY (word, created_at, sender, document_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE word_counts (
    word      TEXT    NOT NULL PRIMARY KEY,
    documents INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
