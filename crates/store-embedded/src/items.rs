//! Calendar objects and tombstones inside one folder.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use sha2::{Digest, Sha256};
use store::{
    CandidateQuery, Component, DeadProperty, DeadPropertyChange, ETag, Expected, FolderKind, Item, ItemMeta, ItemName,
    NewItem, StoreError, Stored,
};

use crate::db::to_store_error;
use crate::folders::{self, FolderRow};

/// Tombstones kept per folder. Older ones are pruned, and a sync token from before the
/// oldest kept one gets `Resync` (RFC 6578 §3.2 allows a server to expire tokens).
pub(crate) const MAX_TOMBSTONES: i64 = 10_000;

/// An item's meta, in the columns `meta_from_row` reads (a macro, so the statements that
/// select it stay constants).
macro_rules! meta_columns {
    () => {
        "name, etag, size, modified_ms, content_type"
    };
}

fn meta_from_row(row: &Row<'_>) -> rusqlite::Result<ItemMeta> {
    let modified_ms: i64 = row.get(3)?;
    Ok(ItemMeta {
        name: ItemName::new(row.get::<_, String>(0)?),
        etag: ETag::new(row.get::<_, String>(1)?),
        size: row.get::<_, i64>(2)?.try_into().unwrap_or(0),
        last_modified: UNIX_EPOCH + Duration::from_millis(modified_ms.try_into().unwrap_or(0)),
        content_type: row.get(4)?,
    })
}

/// Read from the covering index `items_listing` (schema v8), in its order.
const LIST: &str = concat!("SELECT ", meta_columns!(), " FROM items WHERE folder = ?1 ORDER BY name");

pub(crate) fn list(conn: &Connection, folder: i64) -> Result<Vec<ItemMeta>, StoreError> {
    let mut statement = conn.prepare_cached(LIST).map_err(to_store_error)?;
    let rows = statement.query_map([folder], meta_from_row).map_err(to_store_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(to_store_error)
}

pub(crate) fn get(conn: &Connection, folder: i64, names: &[ItemName]) -> Result<Vec<Item>, StoreError> {
    let mut statement = conn
        .prepare_cached(
            "SELECT name, etag, size, modified_ms, content_type, body FROM items WHERE folder = ?1 AND name = ?2",
        )
        .map_err(to_store_error)?;
    let mut items = Vec::with_capacity(names.len());
    for name in names {
        let found = statement
            .query_row(params![folder, name.as_str()], |row| {
                Ok(Item {
                    meta: meta_from_row(row)?,
                    body: Bytes::from(row.get::<_, Vec<u8>>(5)?),
                    properties: Vec::new(),
                })
            })
            .optional()
            .map_err(to_store_error)?;
        items.extend(found);
    }
    with_properties(conn, folder, items)
}

/// Fills in the dead properties of `items`; most items have none, so this is one indexed
/// probe per folder that usually returns nothing.
fn with_properties(conn: &Connection, folder: i64, mut items: Vec<Item>) -> Result<Vec<Item>, StoreError> {
    if items.is_empty() {
        return Ok(items);
    }
    let mut statement = conn
        .prepare_cached(
            "SELECT item, namespace, name, xml FROM item_properties WHERE folder = ?1 ORDER BY namespace, name",
        )
        .map_err(to_store_error)?;
    let rows = statement
        .query_map([folder], |row| {
            Ok((row.get::<_, String>(0)?, DeadProperty { namespace: row.get(1)?, name: row.get(2)?, xml: row.get(3)? }))
        })
        .map_err(to_store_error)?;
    for row in rows {
        let (item, property) = row.map_err(to_store_error)?;
        if let Some(found) = items.iter_mut().find(|i| i.meta.name.as_str() == item) {
            found.properties.push(property);
        }
    }
    Ok(items)
}

/// Applies PROPPATCH changes to an existing item and marks it changed for sync.
pub(crate) fn set_properties(
    tx: &Transaction<'_>,
    folder: &FolderRow,
    name: &ItemName,
    changes: &[DeadPropertyChange],
) -> Result<(), StoreError> {
    if current_etag(tx, folder.id, name.as_str())?.is_none() {
        return Err(StoreError::NotFound);
    }
    for change in changes {
        match &change.xml {
            Some(xml) => tx.execute(
                "INSERT INTO item_properties (folder, item, namespace, name, xml) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (folder, item, namespace, name) DO UPDATE SET xml = excluded.xml",
                params![folder.id, name.as_str(), change.namespace, change.name, xml],
            ),
            None => tx.execute(
                "DELETE FROM item_properties WHERE folder = ?1 AND item = ?2 AND namespace = ?3 AND name = ?4",
                params![folder.id, name.as_str(), change.namespace, change.name],
            ),
        }
        .map_err(to_store_error)?;
    }
    let modseq = folders::bump(tx, folder.id)?;
    tx.execute(
        "UPDATE items SET modseq = ?3 WHERE folder = ?1 AND name = ?2",
        params![folder.id, name.as_str(), modseq],
    )
    .map_err(to_store_error)?;
    Ok(())
}

/// What a listing says of an existing item.
fn unchanged(tx: &Transaction<'_>, folder: i64, name: &str) -> Result<ItemMeta, StoreError> {
    tx.query_row(
        "SELECT name, etag, size, modified_ms, content_type FROM items WHERE folder = ?1 AND name = ?2",
        params![folder, name],
        meta_from_row,
    )
    .map_err(to_store_error)
}

/// The current ETag of an item, if it exists.
fn current_etag(tx: &Transaction<'_>, folder: i64, name: &str) -> Result<Option<ETag>, StoreError> {
    tx.query_row("SELECT etag FROM items WHERE folder = ?1 AND name = ?2", params![folder, name], |row| {
        row.get::<_, String>(0)
    })
    .optional()
    .map_err(to_store_error)
    .map(|e| e.map(ETag::new))
}

pub(crate) fn put(
    tx: &Transaction<'_>,
    folder: &FolderRow,
    item: NewItem,
    expected: &Expected,
) -> Result<Stored, StoreError> {
    let name = item.name.as_str();
    if name.is_empty() {
        return Err(StoreError::Rejected("empty item name".into()));
    }
    let current = current_etag(tx, folder.id, name)?;
    let created = current.is_none();
    expected.check(current.clone())?;
    let etag = content_etag(&item.body);
    if current.as_ref().is_some_and(|c| c.as_str() == etag) {
        // The bytes (and media type) it already has: nothing changes, neither the state nor
        // Last-Modified (the contract's rule, which a store of immutable messages keeps too).
        let meta = unchanged(tx, folder.id, name)?;
        if meta.content_type == item.content_type {
            return Ok(Stored { meta, created: false, verbatim: true });
        }
    }
    // RFC 4791 §5.3.2.1 no-uid-conflict; a schedule inbox keeps every iTIP message of a
    // meeting, one item each (RFC 6638 §2.2), so it has no such rule.
    if folder.kind != FolderKind::ScheduleInbox {
        let holder: Option<String> = tx
            .query_row(
                "SELECT name FROM items WHERE folder = ?1 AND uid = ?2 AND name <> ?3",
                params![folder.id, item.uid, name],
                |row| row.get(0),
            )
            .optional()
            .map_err(to_store_error)?;
        if let Some(existing) = holder {
            return Err(StoreError::UidConflict { uid: item.uid, existing: ItemName::new(existing) });
        }
    }
    let modseq = folders::bump(tx, folder.id)?;
    // A name re-created after a removal continues its run: a client that had the earlier
    // version must still hear of a later removal.
    let born: i64 = if created {
        tx.query_row("SELECT born FROM tombstones WHERE folder = ?1 AND name = ?2", params![folder.id, name], |row| {
            row.get(0)
        })
        .optional()
        .map_err(to_store_error)?
        .unwrap_or(modseq)
    } else {
        0 // kept: the update below leaves the column alone
    };
    let now = SystemTime::now();
    let modified_ms = now.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let modified_ms = i64::try_from(modified_ms).unwrap_or(i64::MAX);
    let size = item.body.len();
    let span = item.span.unwrap_or_default();
    tx.execute(
        "INSERT INTO items (folder, name, uid, component, etag, body, size, modseq, modified_ms,
                            indexed, span_start, span_end, content_type, born, span_short)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (folder, name) DO UPDATE SET uid = excluded.uid, component = excluded.component,
           etag = excluded.etag, body = excluded.body, size = excluded.size, modseq = excluded.modseq,
           modified_ms = excluded.modified_ms, indexed = excluded.indexed,
           span_start = excluded.span_start, span_end = excluded.span_end, content_type = excluded.content_type,
           span_short = excluded.span_short",
        params![
            folder.id,
            name,
            item.uid,
            item.component.map_or(0, component_code),
            etag,
            &item.body[..],
            size as i64,
            modseq,
            modified_ms,
            item.span.is_some(),
            span.start,
            span.end,
            item.content_type,
            born,
            span_short(span.start, span.end)
        ],
    )
    .map_err(to_store_error)?;
    tx.execute("DELETE FROM tombstones WHERE folder = ?1 AND name = ?2", params![folder.id, name])
        .map_err(to_store_error)?;
    // Millisecond precision in the row; report the same value a later read will give.
    let last_modified = UNIX_EPOCH + Duration::from_millis(modified_ms.try_into().unwrap_or(0));
    Ok(Stored {
        meta: ItemMeta {
            name: item.name,
            etag: ETag::new(etag),
            size: size as u64,
            last_modified,
            content_type: item.content_type,
        },
        created,
        verbatim: true,
    })
}

pub(crate) fn delete(
    tx: &Transaction<'_>,
    folder: &FolderRow,
    name: &ItemName,
    expected: &Expected,
) -> Result<(), StoreError> {
    let current = current_etag(tx, folder.id, name.as_str())?;
    if current.is_none() {
        return Err(StoreError::NotFound);
    }
    expected.check(current)?;
    let modseq = folders::bump(tx, folder.id)?;
    let born: i64 = tx
        .query_row("SELECT born FROM items WHERE folder = ?1 AND name = ?2", params![folder.id, name.as_str()], |row| {
            row.get(0)
        })
        .map_err(to_store_error)?;
    tx.execute("DELETE FROM items WHERE folder = ?1 AND name = ?2", params![folder.id, name.as_str()])
        .map_err(to_store_error)?;
    tx.execute("DELETE FROM item_properties WHERE folder = ?1 AND item = ?2", params![folder.id, name.as_str()])
        .map_err(to_store_error)?;
    tx.execute(
        "INSERT INTO tombstones (folder, name, modseq, born) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (folder, name) DO UPDATE SET modseq = excluded.modseq, born = excluded.born",
        params![folder.id, name.as_str(), modseq, born],
    )
    .map_err(to_store_error)?;
    prune_tombstones(tx, folder.id)
}

/// Keeps the newest `MAX_TOMBSTONES`; records the highest pruned modseq so older tokens resync.
fn prune_tombstones(tx: &Transaction<'_>, folder: i64) -> Result<(), StoreError> {
    let count: i64 = tx
        .query_row("SELECT COUNT(*) FROM tombstones WHERE folder = ?1", [folder], |row| row.get(0))
        .map_err(to_store_error)?;
    if count <= MAX_TOMBSTONES {
        return Ok(());
    }
    let cutoff: i64 = tx
        .query_row(
            "SELECT modseq FROM tombstones WHERE folder = ?1 ORDER BY modseq DESC LIMIT 1 OFFSET ?2",
            params![folder, MAX_TOMBSTONES],
            |row| row.get(0),
        )
        .map_err(to_store_error)?;
    tx.execute("DELETE FROM tombstones WHERE folder = ?1 AND modseq <= ?2", params![folder, cutoff])
        .map_err(to_store_error)?;
    tx.execute("UPDATE folders SET pruned_below = MAX(pruned_below, ?2) WHERE id = ?1", params![folder, cutoff])
        .map_err(to_store_error)?;
    Ok(())
}

/// Items changed and names removed after `since` (a modseq of this folder). A name whose run
/// began after `since` was never seen by the client: its removal is left out (RFC 6578
/// §3.5.2 allows either; the contract picks this).
pub(crate) fn changes_since(
    conn: &Connection,
    folder: i64,
    since: i64,
) -> Result<(Vec<ItemMeta>, Vec<ItemName>), StoreError> {
    let mut changed_statement = conn
        .prepare_cached(
            "SELECT name, etag, size, modified_ms, content_type FROM items WHERE folder = ?1 AND modseq > ?2
             ORDER BY modseq",
        )
        .map_err(to_store_error)?;
    let changed = changed_statement
        .query_map(params![folder, since], meta_from_row)
        .map_err(to_store_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(to_store_error)?;
    let mut removed_statement = conn
        .prepare_cached("SELECT name FROM tombstones WHERE folder = ?1 AND modseq > ?2 AND born <= ?2 ORDER BY modseq")
        .map_err(to_store_error)?;
    let removed = removed_statement
        .query_map(params![folder, since], |row| Ok(ItemName::new(row.get::<_, String>(0)?)))
        .map_err(to_store_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(to_store_error)?;
    Ok((changed, removed))
}

/// The longest span `span_short` (schema v8) calls short: a week. v8's migration filled the
/// column with this number; changing it needs a migration that fills it again.
pub(crate) const SHORT_SPAN_SECONDS: i64 = 604_800;

/// `span_short` of a row: whether its span is bounded and at most `SHORT_SPAN_SECONDS` long.
fn span_short(start: Option<i64>, end: Option<i64>) -> Option<bool> {
    Some(end?.saturating_sub(start?) <= SHORT_SPAN_SECONDS)
}

/// The candidates of one component in a window with an end (`?3` its start, may be NULL,
/// `?4` its end, `?5` the start minus `SHORT_SPAN_SECONDS`, or the smallest integer without
/// a start): three range scans of the covering index `items_by_component_span`, never of the
/// table. Short spans that can overlap the window start at most a week before it, so their
/// scan is bounded on both sides and costs what the window holds, not what the calendar
/// holds; long spans (recurring series) and open ones are bounded by the window's end alone.
const TIME_RANGE_CANDIDATES: &str = concat!(
    "SELECT ",
    meta_columns!(),
    " FROM items WHERE folder = ?1 AND component = ?2 AND span_short = 1
       AND span_start >= ?5 AND span_start < ?4 AND (?3 IS NULL OR span_end > ?3)
     UNION ALL SELECT ",
    meta_columns!(),
    " FROM items WHERE folder = ?1 AND component = ?2 AND span_short = 0
       AND span_start < ?4 AND (?3 IS NULL OR span_end > ?3)
     UNION ALL SELECT ",
    meta_columns!(),
    " FROM items WHERE folder = ?1 AND component = ?2 AND span_short IS NULL
       AND (span_start IS NULL OR span_start < ?4) AND (?3 IS NULL OR span_end IS NULL OR span_end > ?3)"
);

/// The candidates of one component in a window without an end (or no window: `?3` NULL), a
/// scan of the component's entries in `items_by_component_span`.
const COMPONENT_CANDIDATES: &str = concat!(
    "SELECT ",
    meta_columns!(),
    " FROM items WHERE folder = ?1 AND component = ?2 AND (?3 IS NULL OR span_end IS NULL OR span_end > ?3)"
);

/// The candidates of any component.
const ANY_CANDIDATES: &str = concat!(
    "SELECT ",
    meta_columns!(),
    " FROM items WHERE folder = ?1
       AND (indexed = 0 OR ((?3 IS NULL OR span_start IS NULL OR span_start < ?3)
                        AND (?2 IS NULL OR span_end IS NULL OR span_end > ?2)))"
);

/// Items that may match: of the component (if given), and unindexed or overlapping the range.
/// Rows without a span (unindexed, or stored before v2) have NULL in both span columns, which
/// the conditions read as unbounded, so they are always candidates.
pub(crate) fn candidates(conn: &Connection, folder: i64, query: &CandidateQuery) -> Result<Vec<ItemMeta>, StoreError> {
    let range = query.range.unwrap_or_default();
    let mut metas = match (query.component, range.end) {
        // The usual query: one component, a window with an end.
        (Some(component), Some(end)) => {
            let earliest_short = range.start.map_or(i64::MIN, |start| start.saturating_sub(SHORT_SPAN_SECONDS));
            let mut statement = conn.prepare_cached(TIME_RANGE_CANDIDATES).map_err(to_store_error)?;
            let rows = statement
                .query_map(params![folder, component_code(component), range.start, end, earliest_short], meta_from_row)
                .map_err(to_store_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(to_store_error)?
        }
        (Some(component), None) => {
            let mut statement = conn.prepare_cached(COMPONENT_CANDIDATES).map_err(to_store_error)?;
            let rows = statement
                .query_map(params![folder, component_code(component), range.start], meta_from_row)
                .map_err(to_store_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(to_store_error)?
        }
        (None, _) => {
            let mut statement = conn.prepare_cached(ANY_CANDIDATES).map_err(to_store_error)?;
            let rows =
                statement.query_map(params![folder, range.start, range.end], meta_from_row).map_err(to_store_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(to_store_error)?
        }
    };
    // In name order, as a listing is: answers come out in the same order whichever path ran.
    metas.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(metas)
}

/// A strong ETag from the bytes: equal bytes, equal tag; the tag never needs a lookup.
fn content_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    hex::encode(&digest[..16])
}

fn component_code(component: Component) -> i64 {
    match component {
        Component::Event => 1,
        Component::Todo => 2,
        Component::Journal => 4,
        Component::FreeBusy => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps = statement.query_map(params, |row| row.get::<_, String>(3)).unwrap();
        steps.collect::<Result<_, _>>().unwrap()
    }

    /// Issue 12: a month query must not visit the folder's rows (and their bodies), and its
    /// scan of short spans is bounded by the window's start as well as its end.
    #[test]
    fn time_range_candidates_are_read_from_the_covering_index_alone() {
        let plan = plan(TIME_RANGE_CANDIDATES, params![1, 1, 1000, 2000, 1000 - SHORT_SPAN_SECONDS]);
        let searches: Vec<&String> = plan.iter().filter(|step| step.starts_with("SEARCH")).collect();
        assert_eq!(searches.len(), 3, "{plan:?}");
        assert!(searches.iter().all(|s| s.contains("COVERING INDEX items_by_component_span")), "{plan:?}");
        assert!(searches[0].contains("span_start>? AND span_start<?"), "{plan:?}");
    }

    #[test]
    fn component_candidates_and_listings_are_read_from_covering_indexes() {
        let plan = plan(COMPONENT_CANDIDATES, params![1, 2, 1000]);
        assert!(plan.iter().any(|s| s.contains("COVERING INDEX items_by_component_span")), "{plan:?}");
        let listing = plan_of_listing();
        assert!(listing.iter().any(|s| s.contains("COVERING INDEX items_listing")), "{listing:?}");
        assert!(!listing.iter().any(|s| s.contains("TEMP B-TREE")), "{listing:?}");
    }

    fn plan_of_listing() -> Vec<String> {
        plan(LIST, params![1])
    }

    /// A short span is one of at most a week, as the query's lower bound relies on; a
    /// migrated row gets the same value as a written one.
    #[test]
    fn the_short_span_column_agrees_with_the_query_bound() {
        assert_eq!(span_short(Some(0), Some(SHORT_SPAN_SECONDS)), Some(true));
        assert_eq!(span_short(Some(0), Some(SHORT_SPAN_SECONDS + 1)), Some(false));
        assert_eq!(span_short(Some(i64::MIN), Some(i64::MAX)), Some(false));
        assert_eq!((span_short(Some(0), None), span_short(None, Some(0)), span_short(None, None)), (None, None, None));
        let conn = Connection::open_in_memory().unwrap();
        let migrated = |start: i64, end: i64| -> bool {
            conn.query_row("SELECT (?2 - ?1 <= 604800)", params![start, end], |row| row.get(0)).unwrap()
        };
        assert!(migrated(0, SHORT_SPAN_SECONDS) && !migrated(0, SHORT_SPAN_SECONDS + 1));
    }
}
