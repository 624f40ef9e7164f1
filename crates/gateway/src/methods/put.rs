//! PUT of a calendar object resource (RFC 4791 §5.3.2), validated, or of a file into a plain
//! collection (RFC 4918 §9.7); written with its precondition checked inside the store.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use calendar::{ComponentKind, Violation};
use dav::path::ResourcePath;
use dav::Precondition;
use http::{header, HeaderMap, StatusCode};
use store::{Component, Expected, Folder, FolderKind, ItemName, NewItem, StoreError, Stored, TimeSpan};

use super::conditional;
use super::delete::expected;
use super::get::insert_etag;
use crate::error::GatewayError;
use crate::quirks;
use crate::resources::RequestContext;
use crate::scheduling::implicit;

pub async fn put(
    cx: &RequestContext,
    path: &ResourcePath,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    let ResourcePath::Object { calendar, item, .. } = path else {
        return Err(GatewayError::MethodNotAllowed { allow: super::options::allow(Some(path)) });
    };
    let expected = expected(&conditional(headers)?)?;
    // RFC 4918 §9.7.1: a PUT into a collection that does not exist is 409.
    let folder = match cx.session.folder(calendar).await {
        Err(StoreError::NotFound) => return Err(GatewayError::Status(StatusCode::CONFLICT)),
        other => other?,
    };
    let new_item = match folder.kind {
        FolderKind::Calendar => {
            check_content_type(headers)?;
            calendar_item(cx, &folder, item, body)?
        }
        FolderKind::Collection => {
            if body.len() as u64 > cx.app.limits().max_resource_size {
                return Err(GatewayError::Status(StatusCode::PAYLOAD_TOO_LARGE));
            }
            refuse_collection_name(cx, &folder, item).await?;
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            file_item(item, content_type, body)
        }
        // Only the server delivers into a schedule inbox (RFC 6638 §2.2).
        FolderKind::ScheduleInbox => return Err(GatewayError::Status(StatusCode::FORBIDDEN)),
    };
    let (stored, schedule_tag) = match folder.kind {
        FolderKind::Calendar => {
            let tag_condition = implicit::if_schedule_tag_match(headers)?;
            let create = expected == Expected::Absent;
            let outcome = match implicit::put_object(cx, &folder, new_item.clone(), expected, tag_condition.clone())
                .await
            {
                Err(GatewayError::Condition { condition: Precondition::NoUidConflict(href), .. }) if create => {
                    match quirks::accepted_from_mail::delivered_copy(cx, &folder, &new_item).await? {
                        Some((name, etag)) => {
                            tracing::info!(%href, "answer to a delivered invitation written onto its copy");
                            let onto = NewItem { name, ..new_item };
                            let mut outcome =
                                implicit::put_object(cx, &folder, onto, Expected::ETag(etag), tag_condition).await?;
                            // The ETag is the delivered copy's, not a resource at the request URL.
                            outcome.stored.verbatim = false;
                            outcome
                        }
                        None => return Err(GatewayError::forbidden(Precondition::NoUidConflict(href))),
                    }
                }
                other => other?,
            };
            (outcome.stored, outcome.schedule_tag.filter(|_| implicit::scheduling_enabled(cx)))
        }
        FolderKind::Collection | FolderKind::ScheduleInbox => {
            (store_item(cx, &folder, new_item, expected).await?, None)
        }
    };
    let status = if stored.created { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
    let mut response = status.into_response();
    // RFC 4791 §5.3.4: an ETag only when a GET would return exactly these bytes.
    if stored.verbatim {
        insert_etag(response.headers_mut(), stored.meta.etag.as_str());
    }
    // RFC 6638 §3.2.10: the Schedule-Tag of what is stored, even when the body was rewritten.
    if let Some(tag) = schedule_tag {
        implicit::insert_schedule_tag(response.headers_mut(), &tag);
    }
    Ok(response)
}

/// Writes `item` when `expected` holds, naming the holder of a conflicting UID.
pub async fn store_item(
    cx: &RequestContext,
    folder: &Folder,
    item: NewItem,
    expected: Expected,
) -> Result<Stored, GatewayError> {
    match cx.session.put(&folder.id, item, expected).await {
        Err(StoreError::UidConflict { existing, .. }) => {
            let href = dav::path::object_href(cx.user(), &folder.name, existing.as_str());
            Err(GatewayError::forbidden(Precondition::NoUidConflict(href)))
        }
        other => Ok(other?),
    }
}

/// A body checked as RFC 4791 §5.3.2.1 requires for `folder`, with its index span.
pub fn calendar_item(cx: &RequestContext, folder: &Folder, name: &str, body: Bytes) -> Result<NewItem, GatewayError> {
    if body.len() as u64 > cx.app.limits().max_resource_size {
        return Err(GatewayError::forbidden(Precondition::MaxResourceSize));
    }
    let object = calendar::validate_object(&body).map_err(|invalid| {
        tracing::info!(reason = %invalid, "invalid calendar object");
        GatewayError::forbidden(match invalid.precondition() {
            Violation::ValidCalendarData => Precondition::ValidCalendarData,
            Violation::ValidCalendarObjectResource => Precondition::ValidCalendarObjectResource,
            Violation::SupportedCalendarComponent => Precondition::SupportedCalendarComponent,
        })
    })?;
    let component = match object.component {
        ComponentKind::Event => Component::Event,
        ComponentKind::Todo => Component::Todo,
        ComponentKind::Journal => Component::Journal,
        ComponentKind::FreeBusy => Component::FreeBusy,
    };
    if !folder.components.contains(component) {
        return Err(GatewayError::forbidden(Precondition::SupportedCalendarComponent));
    }
    check_resource_counts(cx, &object.calendar)?;
    // RFC 4791 §5.3.2.1 CALDAV:max-instances, checked while computing the index span.
    let span =
        object.span(cx.app.limits().max_instances).map_err(|_| GatewayError::forbidden(Precondition::MaxInstances))?;
    let span = TimeSpan { start: span.start.map(|t| t.timestamp()), end: span.end.map(|t| t.timestamp()) };
    Ok(NewItem {
        name: ItemName::new(name),
        uid: object.uid,
        component: Some(component),
        content_type: None,
        body,
        span: Some(span),
    })
}

/// RFC 4791 §5.3.2.1 max-attendees-per-instance and the attachment limits of RFC 8607.
fn check_resource_counts(cx: &RequestContext, calendar: &calendar::Component) -> Result<(), GatewayError> {
    let limits = cx.app.limits();
    let counts = calendar::resource_counts(calendar);
    if counts.attendees_per_instance > limits.max_attendees_per_instance {
        return Err(GatewayError::forbidden(Precondition::MaxAttendeesPerInstance));
    }
    if counts.attachments > limits.max_attachments_per_resource {
        return Err(GatewayError::forbidden(Precondition::MaxAttachmentsPerResource));
    }
    if counts.largest_inline_attachment as u64 > limits.max_attachment_size {
        return Err(GatewayError::forbidden(Precondition::MaxAttachmentSize));
    }
    Ok(())
}

/// A file for a plain collection: any bytes, kept with the media type the client sent.
pub fn file_item(name: &str, content_type: Option<&str>, body: Bytes) -> NewItem {
    let content_type = content_type.map(str::trim).filter(|t| !t.is_empty()).unwrap_or("application/octet-stream");
    NewItem {
        name: ItemName::new(name),
        uid: name.to_owned(),
        component: None,
        content_type: Some(content_type.to_owned()),
        body,
        span: None,
    }
}

/// A file may not take the name of a collection in the same place (RFC 4918 §9.7.1: PUT
/// on a collection is not defined).
pub async fn refuse_collection_name(cx: &RequestContext, folder: &Folder, name: &str) -> Result<(), GatewayError> {
    match cx.session.folder(&format!("{}/{name}", folder.name)).await {
        Ok(_) => Err(GatewayError::MethodNotAllowed { allow: super::options::allow(None) }),
        Err(StoreError::NotFound) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// RFC 4791 §5.3.2.1 supported-calendar-data. A missing Content-Type is accepted: some
/// clients (older Evolution) omit it, and the body is validated anyway.
fn check_content_type(headers: &HeaderMap) -> Result<(), GatewayError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let media_type = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("text/calendar") {
        Ok(())
    } else {
        Err(GatewayError::condition(StatusCode::UNSUPPORTED_MEDIA_TYPE, Precondition::SupportedCalendarData))
    }
}
