//! POST to the schedule outbox (RFC 6638 §5): a VFREEBUSY request answered with each
//! attendee's busy time in a `CALDAV:schedule-response`.
//!
//! Thunderbird (`CalDavFreeBusyRequest`), iOS, macOS and Evolution send it; Thunderbird also
//! sends `Originator` and `Recipient` headers, which RFC 6638 dropped from the protocol: the
//! body's ORGANIZER and ATTENDEEs decide, and an `Originator` that is not the user is refused
//! rather than ignored.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use calendar::freebusy_request::{
    freebusy_reply, mail_address, parse_freebusy_request, FreeBusyRequest, Recipient, RequestViolation,
};
use dav::response::{RecipientResponse, ScheduleResponse};
use dav::Precondition;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use store::StoreError;

use super::busy_time::busy_time;
use crate::error::GatewayError;
use crate::methods::report::evaluation_budget::EvaluationBudget;
use crate::resources::RequestContext;

/// Most attendees one request may ask about: each costs a directory lookup and a read of all
/// their calendars, so a request naming a whole company is refused (403 max-recipients)
/// instead of holding the gateway; client meeting dialogs ask about a handful.
pub const MAX_RECIPIENTS: usize = 100;

/// RFC 5546 §3.6 request statuses as RFC 6638 §5.1 uses them.
const SUCCESS: &str = "2.0;Success";
const INVALID_CALENDAR_USER: &str = "3.7;Invalid calendar user";
const SERVICE_UNAVAILABLE: &str = "5.1;Service unavailable";

pub async fn post(cx: &RequestContext, headers: &HeaderMap, body: &[u8]) -> Result<Response, GatewayError> {
    if !cx.scheduling() {
        return Err(GatewayError::Refused {
            status: StatusCode::FORBIDDEN,
            message: "scheduling and free-busy lookups are not available for this account".into(),
        });
    }
    if !is_calendar(headers) {
        return Err(GatewayError::forbidden(Precondition::SupportedCalendarData));
    }
    let request = parse_freebusy_request(body).map_err(|error| {
        tracing::info!(%error, "free-busy request refused");
        GatewayError::forbidden(match error.violation() {
            RequestViolation::ValidCalendarData => Precondition::ValidCalendarData,
            RequestViolation::ValidSchedulingMessage => Precondition::ValidSchedulingMessage,
            RequestViolation::ValidOrganizer => Precondition::ValidOrganizer,
            RequestViolation::RecipientSpecified => Precondition::RecipientSpecified,
        })
    })?;
    let own = own_address(cx);
    if own.as_deref() != Some(request.organizer_address.as_str()) {
        return Err(GatewayError::forbidden(Precondition::OrganizerAllowed));
    }
    if let Some(originator) = headers.get("originator") {
        let originator = originator.to_str().ok().and_then(mail_address);
        if originator.is_none() || originator != own {
            return Err(GatewayError::forbidden(Precondition::OriginatorAllowed));
        }
    }
    if request.attendees.len() > MAX_RECIPIENTS {
        return Err(GatewayError::forbidden(Precondition::MaxRecipients));
    }
    let mut budget = EvaluationBudget::new(Duration::from_millis(cx.app.limits().max_query_cpu_ms));
    let now = chrono::Utc::now();
    let mut answer = ScheduleResponse::default();
    for recipient in &request.attendees {
        answer.responses.push(respond(cx, &request, recipient, own.as_deref(), &mut budget, now).await?);
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"))],
        answer.to_xml(),
    )
        .into_response())
}

/// One recipient's answer. A recipient whose store cannot be read gets its own failure
/// status; only a request over its work budget fails as a whole.
async fn respond(
    cx: &RequestContext,
    request: &FreeBusyRequest,
    recipient: &Recipient,
    own: Option<&str>,
    budget: &mut EvaluationBudget,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RecipientResponse, GatewayError> {
    let href = recipient.property.value.trim();
    let max_instances = cx.app.limits().max_instances;
    let Some(address) = recipient.address.as_deref() else {
        return Ok(RecipientResponse::new(href, INVALID_CALENDAR_USER));
    };
    let busy = if Some(address) == own {
        busy_time(cx.session.as_ref(), &request.range, max_instances, budget).await
    } else {
        match colleague_session(cx, address).await {
            Ok(Some(session)) => busy_time(session.as_ref(), &request.range, max_instances, budget).await,
            Ok(None) => return Ok(RecipientResponse::new(href, INVALID_CALENDAR_USER)),
            Err(error) => Err(error.into()),
        }
    };
    match busy {
        Ok(periods) => {
            let mut response = RecipientResponse::new(href, SUCCESS);
            response.calendar_data = Some(freebusy_reply(request, recipient, &periods, now));
            Ok(response)
        }
        Err(GatewayError::Store(error)) => {
            tracing::warn!(%error, recipient = %address, "busy time of a recipient could not be read");
            Ok(RecipientResponse::new(href, SERVICE_UNAVAILABLE))
        }
        Err(other) => Err(other),
    }
}

/// A session of the other user of this mail system at `address`, if the backend can reach
/// other users (`store::Backend::directory`) and that user may schedule.
async fn colleague_session(
    cx: &RequestContext,
    address: &str,
) -> Result<Option<std::sync::Arc<dyn store::Session>>, StoreError> {
    let Some(directory) = cx.app.directory() else { return Ok(None) };
    let Some(principal) = directory.resolve(address).await? else { return Ok(None) };
    // Someone without scheduling is no calendar user for scheduling, the same answer as
    // for an unknown address, so the policy of another user's account is not revealed.
    if !cx.app.scheduling().allows(&principal) {
        return Ok(None);
    }
    match directory.open(&principal.user).await {
        Ok(session) => Ok(Some(session)),
        Err(StoreError::NotFound) => Ok(None),
        Err(other) => Err(other),
    }
}

/// The user's own calendar user address, bare and lower-cased.
fn own_address(cx: &RequestContext) -> Option<String> {
    cx.session.principal().email.as_deref().map(str::to_lowercase)
}

/// RFC 6638 §5: the body is `text/calendar`.
fn is_calendar(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    value.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/calendar")
}
