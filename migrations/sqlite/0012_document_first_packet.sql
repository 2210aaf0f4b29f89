-- Statistics (issue 13): a letter's deliveries are those of its document's first packet; this
-- index lets a month's counts for one agency, or a scope, go from its deliveries to their
-- documents instead of scanning the month's documents for each delivery. Statuses by their
-- reporter, for the time to 03 of one agency.
CREATE INDEX documents_by_first_packet ON documents (first_packet_id);
CREATE INDEX status_history_by_reporter ON status_history (reporter, status_code);
