//! The schema, versioned with `PRAGMA user_version` so later releases can migrate in place.

use rusqlite::Connection;

const VERSION: i64 = 8;

/// The UNIQUE constraints carry the rules: one folder name per user, one item name per
/// folder. (v1 to v5 also had one UID per folder here; v6 moved that rule into `items::put`,
/// since a schedule inbox holds several messages of one UID.)
const SCHEMA_V1: &str = "
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    display_name TEXT,
    email TEXT,
    password_hash TEXT NOT NULL
);
CREATE TABLE folders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    display_name TEXT,
    description TEXT,
    color TEXT,
    sort_order INTEGER,
    timezone TEXT,
    components INTEGER NOT NULL,
    modseq INTEGER NOT NULL DEFAULT 0,
    pruned_below INTEGER NOT NULL DEFAULT 0,
    UNIQUE (owner, name)
);
CREATE TABLE items (
    folder INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    component INTEGER NOT NULL,
    etag TEXT NOT NULL,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    PRIMARY KEY (folder, name),
    UNIQUE (folder, uid)
);
CREATE INDEX items_by_modseq ON items (folder, modseq);
CREATE TABLE tombstones (
    folder INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (folder, name)
);
CREATE INDEX tombstones_by_modseq ON tombstones (folder, modseq);
";

/// v2: the query index. `indexed = 0` (rows from v1, or written without a span) are always
/// candidates; otherwise NULL in span_start/span_end is unbounded on that side.
const SCHEMA_V2: &str = "
ALTER TABLE items ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN span_start INTEGER;
ALTER TABLE items ADD COLUMN span_end INTEGER;
CREATE INDEX items_by_span ON items (folder, component, span_start);
";

/// v3: dead properties of folders (RFC 4918 §4), in their order by name.
const SCHEMA_V3: &str = "
CREATE TABLE folder_properties (
    folder INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (folder, namespace, name)
);
";

/// v4: plain WebDAV collections (`kind` 1) holding files with a media type, and dead
/// properties of items, removed with their item.
const SCHEMA_V4: &str = "
ALTER TABLE folders ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN content_type TEXT;
CREATE TABLE item_properties (
    folder INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    item TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (folder, item, namespace, name)
);
";

/// v5: when a name's current run of versions began (`born`, a modseq), carried from item to
/// tombstone and back when the name is re-created, so a delta leaves out names created and
/// removed after the client's token (the contract's rule). 0 (rows from before): always
/// reported.
const SCHEMA_V5: &str = "
ALTER TABLE items ADD COLUMN born INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tombstones ADD COLUMN born INTEGER NOT NULL DEFAULT 0;
";

/// v6: a schedule inbox (`folders.kind` 2, RFC 6638 §2.2) holds several iTIP messages of one
/// UID, so UID uniqueness is checked by `items::put` for the other kinds (inside the write
/// transaction, so still atomic) and the UNIQUE (folder, uid) constraint goes. SQLite cannot
/// drop a constraint, hence the copy into a new table.
const SCHEMA_V6: &str = "
CREATE TABLE items_v6 (
    folder INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    component INTEGER NOT NULL,
    etag TEXT NOT NULL,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    indexed INTEGER NOT NULL DEFAULT 0,
    span_start INTEGER,
    span_end INTEGER,
    content_type TEXT,
    born INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (folder, name)
);
INSERT INTO items_v6 (folder, name, uid, component, etag, body, size, modseq, modified_ms,
                      indexed, span_start, span_end, content_type, born)
    SELECT folder, name, uid, component, etag, body, size, modseq, modified_ms,
           indexed, span_start, span_end, content_type, born FROM items;
DROP TABLE items;
ALTER TABLE items_v6 RENAME TO items;
CREATE INDEX items_by_modseq ON items (folder, modseq);
CREATE INDEX items_by_span ON items (folder, component, span_start);
CREATE INDEX items_by_uid ON items (folder, uid);
";

/// v7: the time-range candidates of one component read from an index alone (issue 12). The
/// query of v2's index had to visit every row of the folder, body and all, to read the span
/// columns stored after the body (2.2 ms at 1,000 events); with the span and the name in the
/// index it reads index entries only. It covers v2's index, which goes.
const SCHEMA_V7: &str = "
CREATE INDEX items_by_component_span ON items (folder, component, span_start, span_end, name);
DROP INDEX items_by_span;
";

/// v8 (issue 12): what listings, deltas and time-range queries report of an item (name,
/// ETag, size, modification time, media type), read from indexes alone, since the table's rows
/// hold the bodies before those columns:
/// - `items_listing`: the Depth:1 listing and the initial sync in name order (39% of a
///   listing of 1,000 went to stepping through the table's rows).
/// - `items_by_component_span` now also carries the meta and is led by `span_short` (1 for a
///   span of at most [`crate::items::SHORT_SPAN_SECONDS`], 0 for a longer one, NULL without
///   one; written by `items::put`, a plain column since SQLite reads no index on a virtual
///   generated column as covering), so the short spans, nearly all single events, are read as a range bounded on both
///   sides (they start at most that long before the window); only long and open spans are
///   still bounded by the window's end alone. v7's index scanned every entry of the
///   component starting before the window's end.
const SCHEMA_V8: &str = "
ALTER TABLE items ADD COLUMN span_short INTEGER;
UPDATE items SET span_short = (span_end - span_start <= 604800);
DROP INDEX items_by_component_span;
CREATE INDEX items_by_component_span ON items
    (folder, component, span_short, span_start, span_end, name, etag, size, modified_ms, content_type);
CREATE INDEX items_listing ON items (folder, name, etag, size, modified_ms, content_type);
";

pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current >= VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    if current < 1 {
        tx.execute_batch(SCHEMA_V1)?;
    }
    if current < 2 {
        tx.execute_batch(SCHEMA_V2)?;
    }
    if current < 3 {
        tx.execute_batch(SCHEMA_V3)?;
    }
    if current < 4 {
        tx.execute_batch(SCHEMA_V4)?;
    }
    if current < 5 {
        tx.execute_batch(SCHEMA_V5)?;
    }
    if current < 6 {
        tx.execute_batch(SCHEMA_V6)?;
    }
    if current < 7 {
        tx.execute_batch(SCHEMA_V7)?;
    }
    if current < 8 {
        tx.execute_batch(SCHEMA_V8)?;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()
}
