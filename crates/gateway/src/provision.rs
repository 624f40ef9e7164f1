//! A new user finds a calendar and a task list waiting, as with every mail provider's
//! calendar: clients such as DAVx5 and iOS show nothing useful for an empty account.

use store::{ComponentSet, NewFolder, Session, StoreError};

use crate::config::CaldavConfig;

/// Creates the default calendar and task list when the user has no calendar folder at all.
/// A user who deleted only one of them keeps it deleted.
pub async fn default_folders(session: &dyn Session, config: &CaldavConfig) -> Result<(), StoreError> {
    if !session.folders().await?.is_empty() {
        return Ok(());
    }
    let defaults = [
        (&config.default_calendar, &config.default_calendar_name, ComponentSet::EVENTS),
        (&config.default_tasks, &config.default_tasks_name, ComponentSet::TASKS),
    ];
    for (name, display_name, components) in defaults {
        let mut spec = NewFolder::named(name.clone(), components);
        spec.display_name = Some(display_name.clone());
        match session.create_folder(&spec).await {
            // Two first logins racing each other: the other one created it.
            Ok(_) | Err(StoreError::AlreadyExists) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
