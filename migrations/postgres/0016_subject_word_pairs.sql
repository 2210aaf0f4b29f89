-- The word index holds pairs of neighbouring words too (issue 13, docs/AUDIT.md "Search"):
-- a phrase of common syllables ("tet nguyen dan ke hoach") is narrowed by its rarest pair
-- ("dan ke"). The index is emptied and every document marked not indexed; the server's
-- indexer fills it again from the oldest, in the writer's background lane, and until then
-- the documents not indexed yet are candidates of every narrowed search (the same answers).
DELETE FROM document_words;
DELETE FROM word_counts;
UPDATE documents SET words_indexed = 0;
