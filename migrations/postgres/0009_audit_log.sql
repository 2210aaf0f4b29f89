-- The audit log (issue 13, docs/AUDIT.md). migrations/sqlite/0009_audit_log.sql has the same.

-- An event: `seq` is its number, handed out before the change it records commits (a receipt
-- names it), unique and increasing, with gaps where a change did not commit; `body` is its
-- canonical bytes, the input of its Merkle leaf; `leaf` its position in the tree, set by the
-- integrator after the commit (NULL until then). `packet_id` names the packet it is about,
-- for the trace.
CREATE TABLE audit_events (
    seq       BIGINT NOT NULL PRIMARY KEY,
    at        BIGINT NOT NULL,
    kind      TEXT   NOT NULL,
    packet_id TEXT,
    body      BYTEA  NOT NULL,
    leaf      BIGINT
);
CREATE UNIQUE INDEX audit_events_by_leaf ON audit_events (leaf) WHERE leaf IS NOT NULL;
-- What the integrator has still to place: small, as events leave it within a second.
CREATE INDEX audit_events_waiting ON audit_events (seq) WHERE leaf IS NULL;
CREATE INDEX audit_events_by_packet ON audit_events (packet_id) WHERE packet_id IS NOT NULL;

-- The tree (RFC 9162 §2.1): the hash of every leaf (level 0), and of every complete subtree
-- of 256 leaves and more (level ≥ 8); the subtrees between are hashed again from their leaves
-- when a proof needs them. The leaf hashes are kept by position, apart from the events, so
-- that `audit verify` names an event whose bytes, or place, changed.
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL CHECK (level >= 0),
    idx   BIGINT  NOT NULL CHECK (idx >= 0),
    hash  BYTEA   NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Signed tree heads: C2SP tlog-checkpoint bodies in signed notes.
CREATE TABLE audit_checkpoints (
    size BIGINT NOT NULL PRIMARY KEY,
    root BYTEA  NOT NULL,
    at   BIGINT NOT NULL,
    note TEXT   NOT NULL
);

-- The next event number not handed out; nodes take numbers in blocks.
CREATE TABLE audit_numbers (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    next BIGINT  NOT NULL
);
INSERT INTO audit_numbers (id, next) VALUES (1, 1);
