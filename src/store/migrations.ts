/**
 * Versioned schema changes, applied in order inside one transaction each. Append only:
 * a released migration is never edited, a fix is a new version.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'workflows and audit chain',
    sql: `
      CREATE TABLE workflows (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        id           TEXT    NOT NULL UNIQUE,
        issue_type   TEXT    NOT NULL,
        severity     TEXT    NOT NULL,
        status       TEXT    NOT NULL,
        created_at   TEXT    NOT NULL,
        record       TEXT    NOT NULL,  -- the WorkflowRecord as JSON
        artifacts    TEXT    NOT NULL,  -- the generated files with their content, as JSON
        commit_sha   TEXT,
        commit_branch TEXT,
        committed_at TEXT
      );
      CREATE INDEX workflows_by_type ON workflows (issue_type, seq);
      CREATE INDEX workflows_by_status ON workflows (status, seq);

      CREATE TABLE audit (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        at           TEXT    NOT NULL,
        workflow_id  TEXT,
        operation    TEXT    NOT NULL,
        entry        TEXT    NOT NULL,  -- canonical JSON of the entry without hash
        prev_hash    TEXT    NOT NULL,
        hash         TEXT    NOT NULL
      );
      CREATE INDEX audit_by_workflow ON audit (workflow_id, seq);
      CREATE INDEX audit_by_operation ON audit (operation, seq);
    `,
  },
  {
    version: 2,
    name: 'idempotency keys',
    sql: `
      CREATE TABLE idempotency_keys (
        scope        TEXT    NOT NULL,  -- who: the API key id, "webhook" or "anonymous"
        key          TEXT    NOT NULL,  -- Idempotency-Key, or webhook-id for signed webhooks
        fingerprint  TEXT    NOT NULL,  -- sha256 of method, path, content type and raw body
        state        TEXT    NOT NULL,  -- running | done
        status       INTEGER,
        headers      TEXT,              -- the replayed headers as JSON
        body         TEXT,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
      );
      CREATE INDEX idempotency_by_expiry ON idempotency_keys (expires_at);
    `,
  },
  {
    version: 3,
    name: 'idempotent replays keep their audit facts',
    sql: `ALTER TABLE idempotency_keys ADD COLUMN audit TEXT;`,
  },
  {
    version: 4,
    name: 'audit filter columns derived from the hashed entry',
    sql: `
      ALTER TABLE audit RENAME TO audit_v1;
      DROP INDEX audit_by_workflow;
      DROP INDEX audit_by_operation;
      -- The filter columns are computed by SQLite from the hashed entry, so an UPDATE cannot
      -- make them disagree with it. prev_hash is in the entry already.
      CREATE TABLE audit (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        entry        TEXT    NOT NULL,  -- canonical JSON of the entry without hash: the bytes the hash covers
        hash         TEXT    NOT NULL,
        at           TEXT    GENERATED ALWAYS AS (json_extract(entry, '$.at')) STORED,
        workflow_id  TEXT    GENERATED ALWAYS AS (json_extract(entry, '$.workflow_id')) STORED,
        operation    TEXT    GENERATED ALWAYS AS (json_extract(entry, '$.operation')) STORED
      );
      INSERT INTO audit (seq, entry, hash) SELECT seq, entry, hash FROM audit_v1 ORDER BY seq;
      -- the high-water mark moves over too, so a seq freed by an earlier truncation is never reused
      UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'audit_v1')
        WHERE name = 'audit' AND seq < (SELECT seq FROM sqlite_sequence WHERE name = 'audit_v1');
      INSERT INTO sqlite_sequence (name, seq) SELECT 'audit', seq FROM sqlite_sequence
        WHERE name = 'audit_v1' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'audit');
      DROP TABLE audit_v1;
      CREATE INDEX audit_by_workflow ON audit (workflow_id, seq);
      CREATE INDEX audit_by_operation ON audit (operation, seq);
    `,
  },
  {
    version: 5,
    name: 'signed audit checkpoints',
    sql: `
      CREATE TABLE audit_checkpoints (
        id           INTEGER PRIMARY KEY,
        seq          INTEGER NOT NULL,
        hash         TEXT    NOT NULL,
        at           TEXT    NOT NULL,
        key_id       TEXT    NOT NULL,
        signature    TEXT    NOT NULL
      );
    `,
  },
  {
    // 10: the numbers between are left for the audit's migrations
    version: 10,
    name: 'grouped detections: occurrences and superseding',
    sql: `
      ALTER TABLE workflows ADD COLUMN group_key TEXT;          -- issue type + dedup_key: detections with one key group together
      ALTER TABLE workflows ADD COLUMN dedup_key TEXT;
      ALTER TABLE workflows ADD COLUMN superseded_by TEXT;
      ALTER TABLE workflows ADD COLUMN supersedes TEXT;
      ALTER TABLE workflows ADD COLUMN occurrence_count INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE workflows ADD COLUMN last_seen TEXT;
      ALTER TABLE workflows ADD COLUMN last_observed REAL;
      ALTER TABLE workflows ADD COLUMN highest_severity TEXT;
      CREATE INDEX workflows_open_by_group ON workflows (group_key, status, seq);
      CREATE TABLE occurrences (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        workflow_id  TEXT    NOT NULL,
        at           TEXT    NOT NULL,
        source       TEXT    NOT NULL,  -- issues | kpis
        observed     REAL    NOT NULL,
        severity     TEXT    NOT NULL,
        request_id   TEXT
      );
      CREATE INDEX occurrences_by_workflow ON occurrences (workflow_id, seq);
    `,
  },
  {
    version: 11,
    name: 'workflows keep the generator inputs; counts kept by triggers',
    sql: `
      -- A row made from now on keeps what the pure generator needs (the normalized opportunity) and
      -- each file's path, size and sha256, instead of the record and the files themselves (about
      -- 45 KB with the exports): reads regenerate them and check every digest. record and
      -- artifacts are then ''. Rows made before keep their record and files as they were.
      -- name is set from now on; older rows are not rewritten (a large database would be copied
      -- whole into the WAL before the service listens): lists read their name from the record.
      -- One way: a version before this one cannot read the rows it makes (record is '').
      ALTER TABLE workflows ADD COLUMN inputs TEXT;
      ALTER TABLE workflows ADD COLUMN name TEXT;

      -- GET /status reads these counts instead of counting every row on every call.
      CREATE TABLE workflow_counts (
        issue_type   TEXT    PRIMARY KEY,
        n            INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO workflow_counts (issue_type, n) SELECT issue_type, COUNT(*) FROM workflows GROUP BY issue_type;
      CREATE TRIGGER workflow_counts_insert AFTER INSERT ON workflows BEGIN
        INSERT INTO workflow_counts (issue_type, n) VALUES (NEW.issue_type, 1)
          ON CONFLICT (issue_type) DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER workflow_counts_delete AFTER DELETE ON workflows BEGIN
        UPDATE workflow_counts SET n = n - 1 WHERE issue_type = OLD.issue_type;
      END;
      CREATE TRIGGER workflow_counts_retype AFTER UPDATE OF issue_type ON workflows BEGIN
        UPDATE workflow_counts SET n = n - 1 WHERE issue_type = OLD.issue_type;
        INSERT INTO workflow_counts (issue_type, n) VALUES (NEW.issue_type, 1)
          ON CONFLICT (issue_type) DO UPDATE SET n = n + 1;
      END;
    `,
  },
  {
    version: 12,
    name: 'group keys as JSON',
    sql: `
      -- The group key was the issue type and the dedup_key joined by a NUL character, which
      -- PostgreSQL text cannot hold; it is now the JSON array [issue_type, dedup_key], as
      -- WorkflowService.groupKey writes it. Open workflows keep grouping across the upgrade.
      UPDATE workflows SET group_key = json_array(issue_type, COALESCE(dedup_key, '')) WHERE group_key IS NOT NULL;
    `,
  },
  {
    version: 13,
    name: 'occurrences keep what their detection said',
    sql: `
      -- A grouped detection's description, items, source and key were dropped: another caller's
      -- detection could vanish into a workflow. Each occurrence now keeps them; rows from before stay
      -- NULL. Caller text is kept as JSON, like inputs: PostgreSQL text cannot hold a NUL, JSON escapes it.
      ALTER TABLE occurrences ADD COLUMN said TEXT;              -- {description, affected_items: the first 100, source}
      ALTER TABLE occurrences ADD COLUMN affected_count INTEGER; -- how many items it named
      ALTER TABLE occurrences ADD COLUMN actor TEXT;             -- the API key's name, or webhook
      -- The union of the items a workflow's occurrences keep, each once, in the order first seen;
      -- the workflow counts it so a read shows the first 1000 and the count without a scan.
      ALTER TABLE workflows ADD COLUMN affected_item_count INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE affected_items (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        workflow_id  TEXT    NOT NULL,
        item         TEXT    NOT NULL   -- a JSON string, as said holds it
      );
      CREATE UNIQUE INDEX affected_items_once ON affected_items (workflow_id, item);
      CREATE INDEX affected_items_by_workflow ON affected_items (workflow_id, seq);
    `,
  },
  {
    version: 14,
    name: "an engine's own figure is kept apart from the metric's measured values",
    sql: `
      -- POST /issues's metric_value is the engine's own figure (527 for 527 abandoned carts); it was
      -- shown as last_observed beside the rates POST /kpis measures. It gets a column of its own.
      ALTER TABLE workflows ADD COLUMN last_reported_value REAL;
      UPDATE workflows SET last_reported_value = last_observed, last_observed = NULL
        WHERE (SELECT source FROM occurrences o WHERE o.workflow_id = workflows.id ORDER BY seq DESC LIMIT 1) = 'issues';
    `,
  },
]
