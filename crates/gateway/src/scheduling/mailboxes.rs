//! The schedule inbox and outbox (RFC 6638 §2.1, §2.2) among the other resources of a home.
//!
//! The inbox is a store folder of kind `ScheduleInbox` named `inbox`, so listing, GET,
//! calendar-multiget, sync-collection and DELETE of its messages are the ordinary handlers;
//! what differs is checked here, before any handler runs: nothing can be created below
//! either name, the inbox itself cannot be deleted, moved or copied, and for a user without
//! scheduling neither exists.

use dav::path::{ResourcePath, SCHEDULE_INBOX};
use http::StatusCode;
use store::{FolderKind, StoreError};

use crate::error::GatewayError;
use crate::resources::RequestContext;

/// Refuses what a request may not do to, or below, the inbox and outbox.
pub async fn guard(cx: &RequestContext, method: &str, path: &ResourcePath) -> Result<(), GatewayError> {
    let folder_name = match path {
        // POST is answered by the outbox itself, with a message when scheduling is off.
        ResourcePath::ScheduleOutbox { .. } if !cx.scheduling() && method != "POST" => {
            return Err(match method {
                "MKCALENDAR" | "MKCOL" => reserved(),
                _ => GatewayError::Status(StatusCode::NOT_FOUND),
            })
        }
        // RFC 4918 §9.3.1: the outbox exists.
        ResourcePath::ScheduleOutbox { .. } if matches!(method, "MKCALENDAR" | "MKCOL") => {
            return Err(GatewayError::MethodNotAllowed { allow: crate::methods::options::allow(Some(path)) })
        }
        ResourcePath::Calendar { calendar, .. } | ResourcePath::Object { calendar, .. } => calendar,
        _ => return Ok(()),
    };
    let top = folder_name.split('/').next().unwrap_or(folder_name);
    if !dav::path::is_reserved_folder(top) {
        return Ok(());
    }
    let is_collection_itself = matches!(path, ResourcePath::Calendar { calendar, .. } if calendar == top);
    if matches!(method, "MKCALENDAR" | "MKCOL") {
        if is_collection_itself && cx.scheduling() {
            // RFC 4918 §9.3.1: the collection exists.
            return Err(GatewayError::MethodNotAllowed { allow: crate::methods::options::allow(Some(path)) });
        }
        return Err(reserved());
    }
    if top != SCHEDULE_INBOX {
        return Ok(());
    }
    let inbox_exists = match cx.session.folder(SCHEDULE_INBOX).await {
        Ok(folder) => folder.kind == FolderKind::ScheduleInbox,
        Err(StoreError::NotFound) => false,
        Err(other) => return Err(other.into()),
    };
    if inbox_exists && !cx.scheduling() {
        return Err(GatewayError::Status(StatusCode::NOT_FOUND));
    }
    if inbox_exists && is_collection_itself && matches!(method, "DELETE" | "MOVE" | "COPY") {
        return Err(GatewayError::Refused {
            status: StatusCode::FORBIDDEN,
            message: "the schedule inbox cannot be deleted, moved or copied; its messages can".into(),
        });
    }
    Ok(())
}

/// A COPY or MOVE whose destination is, or is below, a reserved name: messages arrive in the
/// inbox only by delivery (RFC 6638 §2.2), and nothing is stored in the outbox.
pub fn refuse_reserved_destination(destination: &ResourcePath) -> Result<(), GatewayError> {
    let name = match destination {
        ResourcePath::Calendar { calendar, .. } | ResourcePath::Object { calendar, .. } => calendar,
        ResourcePath::ScheduleOutbox { .. } => return Err(reserved()),
        _ => return Ok(()),
    };
    if dav::path::is_reserved_folder(name.split('/').next().unwrap_or(name)) {
        return Err(reserved());
    }
    Ok(())
}

fn reserved() -> GatewayError {
    GatewayError::Refused {
        status: StatusCode::FORBIDDEN,
        message: "inbox and outbox are reserved for the scheduling inbox and outbox (RFC 6638 §2)".into(),
    }
}
