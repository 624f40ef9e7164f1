//! A new user finds a calendar and a task list waiting, as with every mail provider's
//! calendar: clients such as DAVx5 and iOS show nothing useful for an empty account. A user
//! who may schedule also gets the schedule inbox (RFC 6638 §2.2), which Thunderbird needs to
//! exist before it offers scheduling at all.

use store::{ComponentSet, Folder, FolderKind, NewFolder, Session, StoreError};

use crate::config::CaldavConfig;

/// Everything a user needs at login, from one listing of their folders.
pub async fn provision(session: &dyn Session, config: &CaldavConfig, scheduling: bool) -> Result<(), StoreError> {
    if !config.provision_defaults && !scheduling {
        return Ok(());
    }
    let folders = session.folders().await?;
    if config.provision_defaults {
        default_folders(session, config, &folders).await?;
    }
    if scheduling {
        schedule_inbox(session, &folders).await?;
    }
    Ok(())
}

/// Creates the default calendar and task list when the user has no calendar folder at all
/// (the inbox does not count). A user who deleted only one of them keeps it deleted.
async fn default_folders(session: &dyn Session, config: &CaldavConfig, folders: &[Folder]) -> Result<(), StoreError> {
    if folders.iter().any(|f| f.kind != FolderKind::ScheduleInbox) {
        return Ok(());
    }
    let defaults = [
        (&config.default_calendar, &config.default_calendar_name, ComponentSet::EVENTS),
        (&config.default_tasks, &config.default_tasks_name, ComponentSet::TASKS),
    ];
    for (name, display_name, components) in defaults {
        let mut spec = NewFolder::named(name.clone(), components);
        spec.display_name = Some(display_name.clone());
        create(session, &spec).await?;
    }
    Ok(())
}

/// Creates the schedule inbox unless there is a folder of that name. A folder named `inbox`
/// of another kind (a calendar made before the name was reserved) is left alone: the user
/// then has no inbox, which clients handle as a server without one.
async fn schedule_inbox(session: &dyn Session, folders: &[Folder]) -> Result<(), StoreError> {
    if folders.iter().any(|f| f.name == dav::path::SCHEDULE_INBOX) {
        return Ok(());
    }
    let mut spec = NewFolder::named(dav::path::SCHEDULE_INBOX, ComponentSet::ALL);
    spec.kind = FolderKind::ScheduleInbox;
    spec.display_name = Some("Inbox".into());
    create(session, &spec).await
}

async fn create(session: &dyn Session, spec: &NewFolder) -> Result<(), StoreError> {
    match session.create_folder(spec).await {
        // Two first logins racing each other: the other one created it.
        Ok(_) | Err(StoreError::AlreadyExists) => Ok(()),
        Err(error) => Err(error),
    }
}
