//! `GET /` answers "Hello, World!": the bare axum baseline that `make bench` divides every Gatehouse figure by.
//! Usage: `hello 127.0.0.1:PORT`. Runs on as many tokio workers as `TOKIO_WORKER_THREADS` says, like Gatehouse.

use axum::{Router, routing::get, serve::ListenerExt};

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3999".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("the address is free");
    // Gatehouse sets TCP_NODELAY too; the baseline must not be slower for want of it.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    axum::serve(listener, app).await.expect("serves until killed");
}
