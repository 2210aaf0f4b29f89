-- The month's statistics kept as the changes happen (issue 13, docs/AUDIT.md "Statistics"), so
-- that every agency's month is read from a few rows per agency instead of recounted from a
-- million letters. A month is the Vietnam month (UTC+07:00) of the letter's acceptance, as
-- `yyyymm`; every number belongs to the month the letter was sent in, whenever it changed.
--
-- stats_counts: per month and agency, the letters it sent and received (deliveries of the
-- letters' first packets), those of its received letters raised overdue (either deadline, once),
-- and the letters it refused (its first 02 on each).
-- stats_times: one row per acknowledged delivery (`acknowledge`: from arrival to the taking)
-- and per first 03 of an agency on a letter (`assigned`), in the order of the medians, with
-- what its deadline depends on (priority, and for hỏa tốc hẹn giờ the appointed hour's
-- distance), so that "acknowledged within the deadline" follows the windows configured now.
-- `source` is the delivery's or the status report's number: a row is written once.
-- stats_recount: 0 until the server has counted the rows already there (at its next start
-- after this migration; setting it to 0 again recounts everything).
CREATE TABLE stats_counts (
    month    BIGINT  NOT NULL,
    agency   TEXT    NOT NULL,
    sent     BIGINT NOT NULL DEFAULT 0,
    received BIGINT NOT NULL DEFAULT 0,
    overdue  BIGINT NOT NULL DEFAULT 0,
    refused  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, agency)
);
CREATE TABLE stats_times (
    month           BIGINT  NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('acknowledge', 'assigned')),
    agency          TEXT    NOT NULL,
    micros          BIGINT  NOT NULL,
    source          BIGINT  NOT NULL,
    priority        BIGINT,
    appointed_after BIGINT,
    PRIMARY KEY (month, kind, agency, micros, source)
);
CREATE TABLE stats_recount (
    done SMALLINT NOT NULL CHECK (done IN (0, 1))
);
INSERT INTO stats_recount (done) VALUES (0);
