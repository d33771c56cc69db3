"""The ledger's schema, as numbered migrations run in order; a ledger newer than this code
is refused (an older bridge must not write into a schema it does not know)."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE runs (id INTEGER PRIMARY KEY, command TEXT, started REAL, ended REAL,
                       status TEXT);
    CREATE TABLE files (id INTEGER PRIMARY KEY, flow TEXT NOT NULL, path TEXT NOT NULL,
                        size INTEGER NOT NULL, sha256 TEXT NOT NULL, state TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0, issues INTEGER NOT NULL DEFAULT 0,
                        reason TEXT, replay_of INTEGER REFERENCES files(id),
                        run_id INTEGER REFERENCES runs(id), created REAL, updated REAL);
    CREATE INDEX files_identity ON files(flow, path, size, sha256);
    CREATE INDEX files_state ON files(flow, state);
    CREATE TABLE events (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id),
                         state TEXT NOT NULL, at REAL NOT NULL, detail TEXT);
    CREATE INDEX events_file ON events(file_id);
    CREATE TABLE outputs (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id),
                          target TEXT NOT NULL, folder TEXT NOT NULL, name TEXT NOT NULL,
                          sha256 TEXT, rows INTEGER, state TEXT NOT NULL);
    CREATE UNIQUE INDEX outputs_name ON outputs(folder, name);
    CREATE INDEX outputs_file ON outputs(file_id);
    CREATE TABLE observations (flow TEXT, path TEXT, size INTEGER, mtime REAL,
                               first_seen REAL, stable_since REAL, PRIMARY KEY (flow, path));
    CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE sent_keys (flow TEXT, key TEXT, file_id INTEGER, PRIMARY KEY (flow, key));
    """,
    # 2: the issues of each file, so `bridge show` can tell them (the first ones only)
    """
    CREATE TABLE issues (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id),
                         line INTEGER, record TEXT, field TEXT, code TEXT NOT NULL, value TEXT,
                         message TEXT);
    CREATE INDEX issues_file ON issues(file_id);
    """,
    # 3: the figures of each file, for reconciliation reports
    """
    ALTER TABLE files ADD COLUMN rows_in INTEGER;
    ALTER TABLE files ADD COLUMN rows_out INTEGER;
    ALTER TABLE files ADD COLUMN money_in TEXT;
    ALTER TABLE files ADD COLUMN money_out TEXT;
    """,
    # 4: files left in place once done are remembered, not read again each pass
    """
    ALTER TABLE observations ADD COLUMN done_id INTEGER;
    """,
    # 5: delta sync: the fingerprint of what was sent for each business key, with history
    """
    CREATE TABLE fingerprints (flow TEXT NOT NULL, key TEXT NOT NULL,
                               fingerprint TEXT NOT NULL, file_id INTEGER NOT NULL);
    CREATE INDEX fingerprints_key ON fingerprints(flow, key);
    """,
    # 6: a file is the bytes claimed: its mtime and private name at the source; retries
    # with a time for the next try; approvals kept as a flag; readiness on monotonic clocks;
    # an output name may come back once the ERP has taken the file that had it
    """
    ALTER TABLE files ADD COLUMN mtime REAL;
    ALTER TABLE files ADD COLUMN held_as TEXT;
    ALTER TABLE files ADD COLUMN approved INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE files ADD COLUMN next_try REAL;
    UPDATE files SET approved = 1 WHERE state = 'approved';
    UPDATE files SET state = 'retrying', next_try = updated WHERE state = 'failed';
    ALTER TABLE observations ADD COLUMN mono_first REAL;
    ALTER TABLE observations ADD COLUMN mono_stable REAL;
    ALTER TABLE observations ADD COLUMN boot TEXT;
    ALTER TABLE observations ADD COLUMN incomplete INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX files_claims ON files(flow, held_as);
    DROP INDEX outputs_name;
    CREATE INDEX outputs_name ON outputs(folder, name);
    """,
    # 7: where a finished file's bytes are kept (archive or quarantine), and what the
    # retention policy has pruned of it
    """
    ALTER TABLE files ADD COLUMN kept_at TEXT;
    ALTER TABLE files ADD COLUMN pruned_work REAL;
    ALTER TABLE files ADD COLUMN pruned_kept REAL;
    CREATE INDEX files_updated ON files(flow, state, updated);
    """,
    # 8: when a person last acknowledged a flow's refused files (`bridge ack`), so that
    # `status --check` speaks of the new ones only
    """
    CREATE TABLE acks (flow TEXT PRIMARY KEY, at REAL NOT NULL);
    """,
    # 9: the bytes of each output written, for the metrics of what went to each target
    """
    ALTER TABLE outputs ADD COLUMN bytes INTEGER;
    """,
    # 10: business facts of each file sent (an order's amounts, agent and commission; a
    # cancellation), for the commission and sales reports
    """
    CREATE TABLE facts (file_id INTEGER NOT NULL REFERENCES files(id), flow TEXT NOT NULL,
                        kind TEXT NOT NULL, at REAL NOT NULL, data TEXT NOT NULL);
    CREATE INDEX facts_file ON facts(file_id);
    CREATE INDEX facts_kind ON facts(kind, at);
    """,
    # 11: the rows of a held file an operator left out when approving the rest (`bridge
    # approve ID --rows/--except`), with the reason: recorded with the approval, before
    # any output is planned, so that every later attempt leaves out the same rows
    """
    CREATE TABLE row_decisions (file_id INTEGER NOT NULL REFERENCES files(id),
                                line INTEGER NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL,
                                PRIMARY KEY (file_id, line));
    """,
    # 12: the reference tables a file left in its folder was read with (a digest of their
    # bytes): when they change, the file is read again (a changed article master is sent)
    """
    ALTER TABLE files ADD COLUMN refs TEXT;
    """,
    # 13: keys every worker of a ledger shares (the key of temporary names, so that a
    # worker finds and removes what another worker, killed, left half-written)
    """
    CREATE TABLE keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 14: a file's sent keys and fingerprints found by the file: a plan made again replaces
    # the file's own fingerprints, an operator's reject forgets its keys; without these
    # each read all of its flow's (every plan of a delta flow; millions of keys)
    """
    CREATE INDEX sent_keys_file ON sent_keys(file_id);
    CREATE INDEX fingerprints_file ON fingerprints(file_id);
    """,
    # 15: a file's (flow, state) found by files_updated (flow, state, updated), which
    # starts with it: the index of schema 1 was one more to change at every state change
    # (four or five a file), and about an eighth of the ledger's writes
    """
    DROP INDEX IF EXISTS files_state;
    """,
    # 16: a replay that sends only the business keys no file holds (`bridge replay ID
    # --unsent`: the orders a later file skipped for a file since rejected): the original's
    # keys count as sent on every attempt, a run that resumes it after a crash included
    """
    ALTER TABLE files ADD COLUMN unsent_only INTEGER NOT NULL DEFAULT 0;
    """,
    # 17: the business keys of a file held for an operator (its orders), recorded as it is
    # held: a cancellation of one of them waits until the file is approved and written (or
    # rejected), never dropped as never sent. A file held (or approved, not planned yet)
    # before them has its keys unknown, NULL: a cancellation of its flow waits for it.
    """
    CREATE TABLE held_keys (flow TEXT NOT NULL, key TEXT,
                            file_id INTEGER NOT NULL REFERENCES files(id));
    CREATE INDEX held_keys_key ON held_keys(flow, key);
    CREATE INDEX held_keys_file ON held_keys(file_id);
    INSERT INTO held_keys (flow, key, file_id)
        SELECT flow, NULL, id FROM files WHERE state IN ('held', 'approved');
    """,
    # 18: when retention forgot the sender's values quoted in a finished file's issues
    # (`reports`), for every finished file, not only refused ones: the refused files whose
    # quarantine retention pruned already had theirs forgotten then
    """
    ALTER TABLE files ADD COLUMN pruned_values REAL;
    UPDATE files SET pruned_values = pruned_kept
        WHERE state = 'rejected' AND pruned_kept IS NOT NULL;
    """,
    # 19: the business keys a `dedupe keep: sent` of a file left out as never sent (a
    # cancellation of an order the ERP did not have), recorded with its plan: an older file
    # that would send one of them afterwards (retried once it failed before its plan) leaves
    # that order out, as cancelled, and the ERP never has an order without its cancellation
    """
    CREATE TABLE unsent_keys (flow TEXT NOT NULL, key TEXT NOT NULL,
                              file_id INTEGER NOT NULL REFERENCES files(id));
    CREATE INDEX unsent_keys_key ON unsent_keys(flow, key);
    CREATE INDEX unsent_keys_file ON unsent_keys(file_id);
    """,
]
