-- Packets of at most 64 KiB (exchange::spool::INLINE_LIMIT) keep their exact bytes in their
-- row, written in the same transaction as the rest of what they do; NULL means the bytes are
-- in the blob store under blob_key (larger packets, and every packet accepted before this
-- migration).
ALTER TABLE packets ADD COLUMN content BLOB;
