//! The queue's tables, in the `git_webhook` schema, created and migrated by the program: each
//! migration runs once, in order, in one transaction, under a lock that makes concurrent first uses
//! wait for each other. `git_webhook.meta` holds the version reached.

use postgres::Client;

/// The migrations, oldest first: the schema's version is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: jobs, the delivery log, endpoint lanes, workers.
    "
    CREATE TABLE git_webhook.jobs (
        id uuid PRIMARY KEY,
        seq bigint NOT NULL,
        event uuid NOT NULL,
        repo text NOT NULL,
        endpoint text NOT NULL,
        refname text NOT NULL,
        state text NOT NULL CHECK (state IN ('queued', 'delivered', 'dead')),
        attempts integer NOT NULL,
        created_ms bigint NOT NULL,
        next_ms bigint NOT NULL,
        finished_ms bigint,
        claimed_by text,
        job jsonb NOT NULL
    );
    CREATE SEQUENCE git_webhook.job_order OWNED BY git_webhook.jobs.seq;
    CREATE INDEX jobs_queued ON git_webhook.jobs (repo, seq) WHERE state = 'queued';
    CREATE INDEX jobs_finished ON git_webhook.jobs (finished_ms) WHERE state <> 'queued';
    CREATE INDEX jobs_claimed ON git_webhook.jobs (claimed_by) WHERE claimed_by IS NOT NULL;
    CREATE TABLE git_webhook.attempts (
        seq bigserial PRIMARY KEY,
        time_ms bigint NOT NULL,
        repo text,
        job uuid NOT NULL,
        event uuid NOT NULL,
        refname text NOT NULL,
        endpoint text NOT NULL,
        format text NOT NULL,
        attempt integer NOT NULL,
        outcome text NOT NULL,
        status integer,
        duration_ms bigint,
        error text,
        next_ms bigint
    );
    CREATE INDEX attempts_time ON git_webhook.attempts (time_ms);
    CREATE INDEX attempts_job ON git_webhook.attempts (job);
    CREATE TABLE git_webhook.lanes (
        key text PRIMARY KEY,
        holder text,
        sent bigint[] NOT NULL DEFAULT '{}'
    );
    CREATE TABLE git_webhook.workers (
        name text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        started timestamptz NOT NULL DEFAULT now(),
        seen timestamptz NOT NULL DEFAULT now()
    );
    ",
    // 2: each endpoint's health (failures in a row, a pause).
    "ALTER TABLE git_webhook.lanes ADD COLUMN health jsonb;",
    // 3: the job's own schema version in a column, read without unpacking the stored job (every
    // claim and count asks it); its default, 1, is what programs before this version write, so
    // that they keep adding jobs while hosts are upgraded one by one. No index on `claimed_by`, so
    // that a claim touches no index (and can stay on its page) and a settle finds its jobs by id
    // rather than through the dead index entries of this worker's earlier claims.
    "
    ALTER TABLE git_webhook.jobs ADD COLUMN schema integer NOT NULL DEFAULT 1;
    UPDATE git_webhook.jobs SET schema = CASE
        WHEN jsonb_typeof(job->'schema') = 'number' AND job->>'schema' ~ '^[0-9]{1,9}$'
        THEN (job->>'schema')::integer ELSE 0 END
    WHERE job->'schema' IS DISTINCT FROM '1'::jsonb;
    DROP INDEX git_webhook.jobs_claimed;
    ",
    // 4: the waiting jobs by repository and due time, so that a worker finds the repositories with
    // work, and when each is due, with one index probe per repository rather than by reading every
    // waiting job.
    "CREATE INDEX jobs_due ON git_webhook.jobs (repo, next_ms) WHERE state = 'queued';",
    // 5: half of each page of jobs left free, so that a claim (which changes no indexed column)
    // writes the job's new version beside the old one, a heap-only update that touches no index:
    // on full pages each claimed job moved to another page with an entry in every index, and the
    // claims took more of the database's time than anything else a pass does.
    "ALTER TABLE git_webhook.jobs SET (fillfactor = 50);",
    // 6: the stored job compressed with lz4 where the server has it (PostgreSQL 14 and later, when
    // built with it), instead of pglz: a job of a small push is stored uncompressed, just short of
    // the size at which PostgreSQL compresses, and its claim (naming the worker) takes it past, so
    // every claim compressed its job, a tenth of the database's time in a drain; lz4 does it in a
    // fraction of that, and reads it back faster. Jobs stored before keep their compression, and
    // programs of every version read both.
    "
    DO $$
    BEGIN
      IF EXISTS (SELECT 1 FROM pg_settings
                 WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        EXECUTE 'ALTER TABLE git_webhook.jobs ALTER COLUMN job SET COMPRESSION lz4';
      END IF;
    END
    $$;
    ",
];

/// The version this program's queue code reads and writes.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// The schema's version in the database; 0 when it was never created.
pub fn version(client: &mut Client) -> Result<i32, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('git_webhook.meta') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_opt("SELECT version FROM git_webhook.meta", &[])?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// Brings the schema up to [`VERSION`]; returns the version it was at. A database newer than this
/// program is left alone (`Err` with what to do).
pub fn migrate(client: &mut Client) -> Result<i32, MigrateError> {
    let mut tx = client.transaction()?;
    // One migrator at a time: others wait here, then find the work done.
    tx.execute("SELECT pg_advisory_xact_lock(7411093020011)", &[])?;
    tx.batch_execute(
        "SET LOCAL statement_timeout = 0;
         CREATE SCHEMA IF NOT EXISTS git_webhook;
         CREATE TABLE IF NOT EXISTS git_webhook.meta (version integer NOT NULL);",
    )?;
    let from: i32 = match tx.query_opt("SELECT version FROM git_webhook.meta", &[])? {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO git_webhook.meta (version) VALUES (0)", &[])?;
            0
        }
    };
    if from > VERSION {
        return Err(MigrateError::Newer(from));
    }
    for sql in MIGRATIONS.iter().skip(usize::try_from(from).unwrap_or(0)) {
        tx.batch_execute(sql)?;
    }
    tx.execute("UPDATE git_webhook.meta SET version = $1", &[&VERSION])?;
    tx.commit()?;
    Ok(from)
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{}", super::connect::words(.0))]
    Db(#[from] postgres::Error),
    #[error("the database's queue schema is version {0}, newer than this program's {VERSION}: upgrade git-webhook")]
    Newer(i32),
}
