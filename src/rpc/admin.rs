//! The server functions that read the admin area, and whether the header shows its link. Who may read it is decided
//! in `server::admin` (`ADMIN_EMAILS`, `ADMIN_ALLOWED_IPS`, a session that passed a second factor).

use leptos::prelude::*;

use crate::model::{
    admin::{AdminAudit, AdminOverview, AdminPerson, AuditFilter},
    error::AppError,
};

/// Whether this request's signed-in person is an operator on an address the admin area answers (the header's
/// "Admin" link). Everyone else is not told the area exists.
pub fn operator_signed_in() -> bool {
    #[cfg(feature = "ssr")]
    {
        use crate::server::{state::AppState, web::context};
        // Quietly false where there is no request (the route list is worked out by rendering the app once).
        let Some(signed_in) = context::caller().0 else { return false };
        let Some(state) = use_context::<AppState>() else { return false };
        crate::server::admin::service::operator(&state, &signed_in, context::client_addr()).is_some()
    }
    #[cfg(not(feature = "ssr"))]
    false
}

#[server(endpoint = "admin/overview")]
pub async fn get_admin_overview(query: Option<String>) -> Result<AdminOverview, AppError> {
    use crate::server::{admin::service, web::context};
    context::with_status(async {
        let (state, _admin) = service::require_from_context().await?;
        service::overview(&state, query.as_deref().unwrap_or_default()).await
    })
    .await
}

#[server(endpoint = "admin/person")]
pub async fn get_admin_person(id: String) -> Result<AdminPerson, AppError> {
    use crate::server::{admin::service, web::context};
    context::with_status(async {
        let (state, admin) = service::require_from_context().await?;
        service::person(&state, &admin, &id).await
    })
    .await
}

#[server(endpoint = "admin/audit")]
pub async fn get_admin_audit(filter: AuditFilter) -> Result<AdminAudit, AppError> {
    use crate::server::{admin::service, web::context};
    context::with_status(async {
        let (state, _admin) = service::require_from_context().await?;
        service::audit_page(&state, filter).await
    })
    .await
}
