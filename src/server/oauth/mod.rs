//! Gatehouse as an OAuth 2.1 and OpenID Connect provider: apps registered here sign people in with Gatehouse and call
//! its API with the access tokens they get.
//!
//! - [`apps`]: `/apps`, the apps a person allowed and the ones they registered (plain forms over [`registered`]:
//!   registering, re-keying and deleting one's own apps).
//! - [`clients`]: the apps, their redirect URIs and secrets (and `gatehouse clients …`).
//! - [`authorize`]: `GET /oauth/authorize`, the consent page, and the authorization codes it issues; pushed
//!   authorization requests (`POST /oauth/par`).
//! - [`token`]: `POST /oauth/token`, over [`exchange`] (authorization code, refresh token, client credentials).
//! - [`device`]: device authorization (RFC 8628) and the `/device` page.
//! - [`logout`]: RP-initiated logout (`end_session_endpoint`); [`backchannel`]: back-channel logout tokens sent to apps
//!   whenever an authorization ends.
//! - [`introspection`]: `POST /oauth/revoke` and `POST /oauth/introspect`; [`userinfo`]: `/oauth/userinfo`.
//! - [`issue`]: the client's request and authentication, the error answer, the tokens issued for a grant.
//! - [`grants`]: what a code was exchanged for (an authorization, the family of its refresh tokens), revocation.
//! - [`jwt`]: access tokens (RFC 9068) and ID tokens, issued and checked.
//! - [`keys`]: the ES256 and RS256 keys that sign them, sealed at rest, rotated.
//! - [`discovery`]: the metadata documents and the JWKS.
//! - [`scopes`]: what an app may ask for; [`wire`]: hashed secrets, form parameters, `no-store`.
//! - [`routes`]: the router: the browser's pages, and the machine endpoints any origin may call.
//!
//! Held to OAuth 2.1, RFC 9700 (PKCE S256 for every client, exact redirect URIs, `iss` on every authorization
//! response, single-use codes, refresh token rotation with reuse detection) and OpenID Connect Core.

pub mod apps;
pub mod authorize;
pub mod backchannel;
pub mod clients;
pub mod device;
pub mod discovery;
pub mod exchange;
pub mod grants;
pub mod introspection;
pub mod issue;
pub mod jwt;
pub mod keys;
pub mod logout;
pub mod page;
pub mod registered;
mod routes;
pub mod scopes;
pub mod token;
pub mod userinfo;
pub mod wire;

pub use self::routes::router;
