//! The render hang that once made this suite run one test at a time, and why it cannot happen now.
//!
//! Cause: `leptos_axum::generate_route_list` renders the app with resources suppressed through a process-wide flag
//! (`IS_SUPPRESSING_RESOURCE_LOAD` in leptos_server 0.8). A resource first polled anywhere in the process while
//! that flag is up awaits `pending()` forever, so a page being rendered at that moment never finishes. Every test
//! app used to generate its route list at start-up while other apps were rendering. Gatehouse now generates the
//! list once per process (`startup::route_list`), before anything serves.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::helpers::spawn_app;

/// Many apps starting while others render, as the suite does when run in parallel: every render finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_starting_while_others_render_never_leave_a_render_waiting() {
    let mut renders = Vec::new();
    for _ in 0..8 {
        let app = spawn_app().await;
        renders.push(tokio::spawn(async move {
            for path in ["/", "/login", "/developers", "/missing"].repeat(10) {
                let response = tokio::time::timeout(Duration::from_secs(10), app.get(path))
                    .await
                    .unwrap_or_else(|_| panic!("GET {path} never finished"));
                assert!(response.status().is_success() || response.status() == 404, "{path}");
                response.text().await.expect("a complete body");
            }
        }));
    }
    for render in renders {
        render.await.expect("renders finish");
    }
}

/// The upstream behaviour itself, as a minimal reproduction for a report (leptos#4773): keep generating the route
/// list on one thread while rendering a page with a resource on another, and a render hangs. Not part of the suite
/// (it proves a bug in a dependency, and takes up to a minute):
/// `cargo test --features ssr --test api -- --ignored generating_the_route_list_stalls`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reproduces an upstream bug; run by hand"]
async fn generating_the_route_list_stalls_a_concurrent_render() {
    let app = spawn_app().await;
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Handle::current();
    let generating = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let _runtime = runtime.enter();
            while !stop.load(Ordering::Relaxed) {
                let _ = leptos_axum::generate_route_list(gatehouse::app::App);
            }
        }
    });
    let mut stalled = 0;
    for _ in 0..2_000 {
        if tokio::time::timeout(Duration::from_secs(2), app.get("/")).await.is_err() {
            stalled += 1;
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    generating.join().expect("generator stops");
    assert!(stalled > 0, "no render stalled: the upstream bug may be fixed, and startup::route_list can go");
}
