//! The admin area's changes, as plain form posts (`/admin/people/…`, `/admin/blocks/lift`, `/admin/audit/…`):
//! each checks the administrator (and a recent confirmation), calls one service in [`crate::server::admin::service`], and answers
//! with a redirect back (`?error=…` when something was wrong), so the area works without JavaScript.

use std::time::Duration;

use axum::{
    Extension,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::model::{
    admin::{AuditFilter, AuditRow},
    error::AppError,
};
use crate::server::{
    admin::service::{self, Admin, disable, enable, lift, require},
    people::{
        session::{Caller, ClientInfo},
        step_up::{self, Confirmed},
    },
    platform::clock,
    security::client_addr::ClientAddr,
    state::AppState,
};

/// The administrator for a change (disable, enable, lift, export), with this session's recent confirmation of
/// identity, or the response that refuses them (to `/confirm` and back to `back`, when the confirmation is old).
async fn confirmed_admin_for(
    state: &AppState,
    caller: &Caller,
    addr: Option<Extension<ClientAddr>>,
    back: &str,
) -> Result<(Admin, Confirmed), Response> {
    let admin = admin_for(state, caller, addr).await?;
    let Some(signed_in) = caller.signed_in() else { return Err(Redirect::to("/login?next=/admin").into_response()) };
    match step_up::require(&state.db, &signed_in.session).await {
        Ok(confirmed) => Ok((admin, confirmed)),
        Err(AppError::ConfirmIdentity) => {
            let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            Err(Redirect::to(&format!("/confirm?next={next}")).into_response())
        }
        Err(error) => Err(self::back(back, Err(error))),
    }
}

/// The administrator for a form post or a download, or the response that refuses them.
async fn admin_for(state: &AppState, caller: &Caller, addr: Option<Extension<ClientAddr>>) -> Result<Admin, Response> {
    let Some(signed_in) = caller.signed_in() else { return Err(Redirect::to("/login?next=/admin").into_response()) };
    let ip = addr.map(|Extension(ClientAddr(ip))| ip);
    require(state, signed_in, ip).await.map_err(|error| {
        let status = error.status();
        let message = match error {
            AppError::NotFound => "There is nothing here.".to_owned(),
            other => other.to_string(),
        };
        (status, crate::server::web::error_page::render("Admin", &message, ("Home", "/"))).into_response()
    })
}

#[derive(Deserialize)]
pub(super) struct PersonForm {
    user_id: String,
}

#[derive(Deserialize)]
pub(super) struct BlockForm {
    address: String,
}

/// Back to `to`, with the error in the URL (text only, shown, never interpreted).
fn back(to: &str, result: Result<(), AppError>) -> Response {
    match result {
        Ok(()) => Redirect::to(to).into_response(),
        Err(error) => {
            if matches!(error, AppError::Internal | AppError::Unavailable) {
                tracing::error!(%error, "admin action failed");
            }
            let message: String = url::form_urlencoded::byte_serialize(error.to_string().as_bytes()).collect();
            let glue = if to.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{to}{glue}error={message}")).into_response()
        }
    }
}

fn person_page(user_id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(user_id.as_bytes()).collect();
    format!("/admin/people/{id}")
}

/// What a form on a person's page asks for.
#[derive(Clone, Copy)]
pub(super) enum PersonAction {
    Disable,
    Enable,
}

pub(super) async fn person_form(
    action: PersonAction,
    State(state): State<AppState>,
    caller: Caller,
    addr: Option<Extension<ClientAddr>>,
    who: ClientInfo,
    axum::Form(form): axum::Form<PersonForm>,
) -> Response {
    let page = person_page(&form.user_id);
    let (admin, confirmed) = match confirmed_admin_for(&state, &caller, addr, &page).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let done = match action {
        PersonAction::Disable => disable(&state, &admin, &confirmed, &form.user_id, &who).await,
        PersonAction::Enable => enable(&state, &admin, &confirmed, &form.user_id, &who).await,
    };
    back(&person_page(&form.user_id), done)
}

pub(super) async fn lift_form(
    State(state): State<AppState>,
    caller: Caller,
    addr: Option<Extension<ClientAddr>>,
    who: ClientInfo,
    axum::Form(form): axum::Form<BlockForm>,
) -> Response {
    match confirmed_admin_for(&state, &caller, addr, "/admin").await {
        Ok((admin, confirmed)) => back("/admin#blocks", lift(&state, &admin, &confirmed, &form.address, &who).await),
        Err(refused) => refused,
    }
}

/// "Check now": a full check of the chain that starts after the press, then back to the viewer. Waited for up to
/// 10 s (a long chain takes longer: the viewer then shows the previous outcome until this one is in).
pub(super) async fn verify_form(
    State(state): State<AppState>,
    caller: Caller,
    addr: Option<Extension<ClientAddr>>,
) -> Response {
    match admin_for(&state, &caller, addr).await {
        Ok(_) => {
            let _ = tokio::time::timeout(Duration::from_secs(10), state.chain.check_now(&state.db)).await;
            Redirect::to("/admin/audit#chain").into_response()
        }
        Err(refused) => refused,
    }
}

#[derive(Deserialize)]
pub(super) struct ExportQuery {
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    filter: AuditFilter,
}

/// `POST /admin/audit/export` (`format=csv|json`, `kind`, …): the newest [`EXPORT_LIMIT`] events that match, as a
/// download. A POST, and after a recent confirmation of identity: it hands over many people's activity, and records
/// that it did.
pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    addr: Option<Extension<ClientAddr>>,
    who: ClientInfo,
    axum::Form(query): axum::Form<ExportQuery>,
) -> Response {
    let admin = match confirmed_admin_for(&state, &caller, addr, "/admin/audit").await {
        Ok((admin, _confirmed)) => admin,
        Err(refused) => return refused,
    };
    let result = service::export_events(&state, &admin, &who, &query.format, &query.filter).await;
    let (format, events) = match result {
        Ok(done) => done,
        Err(error) => return back("/admin/audit", Err(error)),
    };
    let stamp = chrono::DateTime::from_timestamp(clock::now(), 0).map(|t| t.format("%Y%m%d-%H%M%S").to_string());
    let name = format!("gatehouse-audit-{}.{format}", stamp.unwrap_or_default());
    let (body, content_type) = match format {
        "json" => (serde_json::to_string_pretty(&json!({ "events": events })).unwrap_or_default(), "application/json"),
        _ => (to_csv(&events), "text/csv; charset=utf-8"),
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// RFC 4180 CSV. A field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading `'`:
/// the events hold text people and programs chose (names, user agents).
fn to_csv(events: &[AuditRow]) -> String {
    fn field(text: &str) -> String {
        let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.into() };
        if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
    }
    let mut out = String::from("id,seq,time,kind,summary,user_id,person,ip,browser,detail\r\n");
    for e in events {
        let time = chrono::DateTime::from_timestamp(e.at, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
        let row = [
            e.id.to_string(),
            e.seq.map(|s| s.to_string()).unwrap_or_default(),
            time,
            e.kind.clone(),
            e.summary.clone(),
            e.user_id.clone().unwrap_or_default(),
            e.person.clone().unwrap_or_default(),
            e.ip.clone().unwrap_or_default(),
            e.browser.clone().unwrap_or_default(),
            e.detail.to_string(),
        ];
        out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_it_must_and_defuses_formulas() {
        let row = AuditRow {
            id: 7,
            seq: Some(7),
            at: 0,
            kind: "profile_updated".into(),
            summary: "Changed display name".into(),
            user_id: Some("u1".into()),
            person: Some("=HYPERLINK(\"x\")".into()),
            ip: Some("127.0.0.1".into()),
            browser: Some("Firefox, on Linux".into()),
            detail: json!({ "a": 1 }),
        };
        let csv = to_csv(&[row]);
        let line = csv.lines().nth(1).expect("a row");
        assert!(line.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{line}");
        assert!(line.contains("\"Firefox, on Linux\""), "{line}");
        assert!(line.contains("\"{\"\"a\"\":1}\""), "{line}");
    }
}
