//! The root component with its routes. The HTML document around it is rendered by the server (`server::shell`).

use leptos::prelude::*;
use leptos_meta::{Link, Meta, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    ParamSegment, SsrMode, StaticSegment,
    components::{Route, Router, Routes},
};

use crate::{
    components::layout::Layout,
    pages::{
        admin::{AdminAuditPage, AdminPage, AdminPersonPage},
        apps::AppsPage,
        dashboard::DashboardPage,
        developers::DevelopersPage,
        home::HomePage,
        login::LoginPage,
        not_found::NotFound,
        password::{PasskeySignUpPage, ResetPasswordPage, ResetRequestPage, SignUpPage, VerifyEmailPage},
        profile::ProfilePage,
        two_step::{ChallengePage, ConfirmPage, EnrolPage, RecoveryCodesPage},
    },
};

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/gatehouse.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title formatter=|page: String| if page.is_empty() { "Gatehouse".to_owned() } else { format!("{page} · Gatehouse") }/>
        <Meta name="description" content="Gatehouse: sign in with the identity providers you already use, and keep control of your sessions and API tokens."/>
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    // Async: the server waits for each page's data and sends it complete, so pages (and the
                    // header's account area) work without JavaScript. The data is a few quick SQLite reads.
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("dashboard") view=DashboardPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("profile") view=ProfilePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("developers") view=DevelopersPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("apps") view=AppsPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("admin") view=AdminPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("audit")) view=AdminAuditPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("people"), ParamSegment("id")) view=AdminPersonPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("signup") view=SignUpPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("signup"), StaticSegment("passkey")) view=PasskeySignUpPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("login"), StaticSegment("mfa")) view=ChallengePage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("profile"), StaticSegment("two-step")) view=EnrolPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("profile"), StaticSegment("recovery-codes")) view=RecoveryCodesPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("confirm") view=ConfirmPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("verify-email") view=VerifyEmailPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("reset") view=ResetRequestPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("reset"), StaticSegment("new")) view=ResetPasswordPage ssr=SsrMode::Async/>
                </Routes>
            </Layout>
        </Router>
    }
}
