//! Calendar folders: rows of `folders`, always scoped by owner.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use store::{Change, ComponentSet, DeadProperty, Folder, FolderId, FolderKind, FolderPatch, NewFolder, StoreError};

use crate::db::{is_unique_violation, to_store_error};
use crate::state;

const COLUMNS: &str =
    "id, name, incarnation, display_name, description, color, sort_order, timezone, components, modseq, kind";

/// What the item code needs of a folder it works in.
pub(crate) struct FolderRow {
    pub id: i64,
    pub incarnation: String,
    pub modseq: i64,
    pub pruned_below: i64,
    pub kind: FolderKind,
}

/// `folders.kind`: 0 (the column's default, all rows before v4) a calendar, 1 a plain
/// collection, 2 the schedule inbox.
fn encode_kind(kind: FolderKind) -> i64 {
    match kind {
        FolderKind::Calendar => 0,
        FolderKind::Collection => 1,
        FolderKind::ScheduleInbox => 2,
    }
}

fn decode_kind(code: i64) -> FolderKind {
    match code {
        1 => FolderKind::Collection,
        2 => FolderKind::ScheduleInbox,
        _ => FolderKind::Calendar,
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Folder> {
    let id: i64 = row.get(0)?;
    let incarnation: String = row.get(2)?;
    let modseq: i64 = row.get(9)?;
    Ok(Folder {
        id: FolderId::new(id.to_string()),
        name: row.get(1)?,
        kind: decode_kind(row.get(10)?),
        display_name: row.get(3)?,
        description: row.get(4)?,
        color: row.get(5)?,
        order: row.get(6)?,
        timezone: row.get(7)?,
        components: decode_components(row.get(8)?),
        state: state::encode(&incarnation, modseq),
        read_only: false,
        properties: Vec::new(),
    })
}

/// The dead properties of the folders `statement` selects (its rows: folder id, namespace,
/// name, xml), filled into `folders`. Most folders have none: one indexed probe that usually
/// returns nothing.
fn with_properties(
    conn: &Connection,
    mut folders: Vec<Folder>,
    statement: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Vec<Folder>, StoreError> {
    if folders.is_empty() {
        return Ok(folders);
    }
    let mut statement = conn.prepare_cached(statement).map_err(to_store_error)?;
    let rows = statement
        .query_map([key], |row| {
            Ok((row.get::<_, i64>(0)?, DeadProperty { namespace: row.get(1)?, name: row.get(2)?, xml: row.get(3)? }))
        })
        .map_err(to_store_error)?;
    for row in rows {
        let (id, property) = row.map_err(to_store_error)?;
        let id = id.to_string();
        if let Some(folder) = folders.iter_mut().find(|f| f.id.as_str() == id) {
            folder.properties.push(property);
        }
    }
    Ok(folders)
}

/// The properties of every folder of an owner: a join on the owner, not a list of ids (the
/// `json_each` list this replaced was 12% of a calendar-home poll, issue 12).
const OWNER_PROPERTIES: &str = "SELECT p.folder, p.namespace, p.name, p.xml FROM folder_properties p
     JOIN folders f ON f.id = p.folder WHERE f.owner = ?1 ORDER BY p.namespace, p.name";

const FOLDER_PROPERTIES: &str =
    "SELECT folder, namespace, name, xml FROM folder_properties WHERE folder = ?1 ORDER BY namespace, name";

fn with_properties_one(conn: &Connection, folder: Folder) -> Result<Folder, StoreError> {
    let id: i64 = folder.id.as_str().parse().map_err(|_| StoreError::NotFound)?;
    with_properties(conn, vec![folder], FOLDER_PROPERTIES, &id)?.pop().ok_or(StoreError::NotFound)
}

fn encode_components(set: ComponentSet) -> i64 {
    i64::from(set.event) | (i64::from(set.todo) << 1) | (i64::from(set.journal) << 2) | (i64::from(set.freebusy) << 3)
}

fn decode_components(bits: i64) -> ComponentSet {
    ComponentSet { event: bits & 1 != 0, todo: bits & 2 != 0, journal: bits & 4 != 0, freebusy: bits & 8 != 0 }
}

pub(crate) fn list(conn: &Connection, owner: &str) -> Result<Vec<Folder>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM folders WHERE owner = ?1 ORDER BY name");
    let mut statement = conn.prepare_cached(&sql).map_err(to_store_error)?;
    let rows = statement.query_map([owner], from_row).map_err(to_store_error)?;
    let folders = rows.collect::<Result<Vec<_>, _>>().map_err(to_store_error)?;
    with_properties(conn, folders, OWNER_PROPERTIES, &owner)
}

fn by_id(conn: &Connection, owner: &str, id: i64) -> Result<Folder, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM folders WHERE owner = ?1 AND id = ?2");
    let folder = conn
        .query_row(&sql, params![owner, id], from_row)
        .optional()
        .map_err(to_store_error)?
        .ok_or(StoreError::NotFound)?;
    with_properties_one(conn, folder)
}

/// The folder's row, if `owner` owns it: another user's folder id is simply not found.
pub(crate) fn resolve(conn: &Connection, owner: &str, folder: &FolderId) -> Result<FolderRow, StoreError> {
    let id: i64 = folder.as_str().parse().map_err(|_| StoreError::NotFound)?;
    // Every request resolves its folder: the statement is prepared once per connection.
    conn.prepare_cached("SELECT id, incarnation, modseq, pruned_below, kind FROM folders WHERE owner = ?1 AND id = ?2")
        .map_err(to_store_error)?
        .query_row(params![owner, id], |row| {
            Ok(FolderRow {
                id: row.get(0)?,
                incarnation: row.get(1)?,
                modseq: row.get(2)?,
                pruned_below: row.get(3)?,
                kind: decode_kind(row.get(4)?),
            })
        })
        .optional()
        .map_err(to_store_error)?
        .ok_or(StoreError::NotFound)
}

pub(crate) fn create(tx: &Transaction<'_>, owner: &str, spec: &NewFolder) -> Result<Folder, StoreError> {
    if spec.name.is_empty() {
        return Err(StoreError::Rejected("empty folder name".into()));
    }
    tx.execute(
        "INSERT INTO folders (owner, name, incarnation, display_name, description, color, sort_order, timezone,
                              components, kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            owner,
            spec.name,
            state::new_incarnation(),
            spec.display_name,
            spec.description,
            spec.color,
            spec.order,
            spec.timezone,
            encode_components(spec.components),
            encode_kind(spec.kind)
        ],
    )
    .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists } else { to_store_error(e) })?;
    let id = tx.last_insert_rowid();
    for property in &spec.properties {
        set_property(tx, id, &property.namespace, &property.name, Some(&property.xml))?;
    }
    by_id(tx, owner, id)
}

fn set_property(
    tx: &Transaction<'_>,
    folder: i64,
    namespace: &str,
    name: &str,
    xml: Option<&str>,
) -> Result<(), StoreError> {
    match xml {
        Some(xml) => tx.execute(
            "INSERT INTO folder_properties (folder, namespace, name, xml) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (folder, namespace, name) DO UPDATE SET xml = excluded.xml",
            params![folder, namespace, name, xml],
        ),
        None => tx.execute(
            "DELETE FROM folder_properties WHERE folder = ?1 AND namespace = ?2 AND name = ?3",
            params![folder, namespace, name],
        ),
    }
    .map_err(to_store_error)?;
    Ok(())
}

pub(crate) fn update(
    tx: &Transaction<'_>,
    owner: &str,
    folder: &FolderId,
    patch: &FolderPatch,
) -> Result<Folder, StoreError> {
    let row = resolve(tx, owner, folder)?;
    let current = by_id(tx, owner, row.id)?;
    let text = |change: &Change<String>, value: Option<String>| change.apply(value);
    tx.execute(
        "UPDATE folders SET display_name = ?2, description = ?3, color = ?4, sort_order = ?5, timezone = ?6,
         modseq = modseq + 1 WHERE id = ?1",
        params![
            row.id,
            text(&patch.display_name, current.display_name),
            text(&patch.description, current.description),
            text(&patch.color, current.color),
            patch.order.apply(current.order),
            text(&patch.timezone, current.timezone),
        ],
    )
    .map_err(to_store_error)?;
    for change in &patch.properties {
        set_property(tx, row.id, &change.namespace, &change.name, change.xml.as_deref())?;
    }
    by_id(tx, owner, row.id)
}

pub(crate) fn delete(tx: &Transaction<'_>, owner: &str, folder: &FolderId) -> Result<(), StoreError> {
    let row = resolve(tx, owner, folder)?;
    tx.execute("DELETE FROM folders WHERE id = ?1", [row.id]).map_err(to_store_error)?;
    Ok(())
}

/// Advances the folder's modification sequence; returns the new value.
pub(crate) fn bump(tx: &Transaction<'_>, folder: i64) -> Result<i64, StoreError> {
    tx.query_row("UPDATE folders SET modseq = modseq + 1 WHERE id = ?1 RETURNING modseq", [folder], |row| row.get(0))
        .map_err(to_store_error)
}
