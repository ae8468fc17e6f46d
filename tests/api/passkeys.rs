//! Passkeys, whole ceremonies without a browser: a software authenticator (the `passkey` crate) answers the options
//! Gatehouse sends, as a phone or a security key would, and the answers go back as a browser's
//! `PublicKeyCredential.toJSON()` sends them. Registering (after a recent confirmation), signing in without an
//! address and with one, the second step, confirming it is you; and each way an answer is refused: a bad signature,
//! another origin, another relying party id, a replayed or expired challenge, a counter that went back, someone
//! else's passkey, a device that did not verify its holder.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL};
use passkey::{
    authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod},
    client::{Client, DefaultClientData},
    crypto::rust_crypto::RustCryptoBackend,
    types::{
        Passkey as Held,
        ctap2::{Aaguid, Ctap2Error, get_assertion},
        webauthn as wire,
    },
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    helpers::{Browser, TestApp, location, spawn_app_on_localhost, spawn_app_with},
    provider::TestProvider,
    sessions::{self, sign_in_as},
    two_step,
};

/// The holder of a device: present, and verified by it (a fingerprint, a face, a PIN) when `verified`.
struct Holder {
    verified: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for Holder {
    type PasskeyItem = Held;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Held>,
        presence: bool,
        _verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck { presence, verification: self.verified })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(self.verified)
    }
}

/// An authenticator holding one passkey (a phone, a security key), cloneable to play a copied device.
#[derive(Clone)]
pub struct Device {
    held: Option<Held>,
    /// Whether it verifies its holder (false: the holder's fingerprint did not match, say).
    pub verifies: bool,
    /// Whether it counts its signatures (as most security keys do).
    counts: bool,
}

impl Device {
    pub fn new() -> Self {
        Self { held: None, verifies: true, counts: false }
    }

    /// A device that counts its signatures.
    fn counting() -> Self {
        Self { counts: true, ..Self::new() }
    }

    fn authenticator(&self) -> Authenticator<Option<Held>, Holder, RustCryptoBackend> {
        let mut authenticator = Authenticator::new(
            Aaguid::new_empty(),
            self.held.clone(),
            Holder { verified: self.verifies },
            RustCryptoBackend,
        );
        authenticator.set_make_credentials_with_signature_counter(self.counts);
        authenticator
    }

    /// `navigator.credentials.create` with `options` (the `publicKey` Gatehouse sent) at `origin`.
    pub async fn create(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let request: wire::CredentialCreationOptions =
            serde_json::from_value(json!({ "publicKey": options })).expect("creation options in WebAuthn's JSON");
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let origin = url::Url::parse(origin).expect("an origin");
        let created = client.register(&origin, request, DefaultClientData).await.map_err(|e| format!("{e:?}"))?;
        self.held = client.authenticator().store().clone();
        Ok(to_json(serde_json::to_value(created).expect("serialisable")))
    }

    /// `navigator.credentials.get` with `options` at `origin`.
    pub async fn get(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let mut options = options.clone();
        // A browser treats an empty list as none: any of this site's passkeys may answer.
        if options["allowCredentials"].as_array().is_some_and(Vec::is_empty) {
            options.as_object_mut().expect("an object").remove("allowCredentials");
        }
        let request: wire::CredentialRequestOptions =
            serde_json::from_value(json!({ "publicKey": options })).expect("request options in WebAuthn's JSON");
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let origin = url::Url::parse(origin).expect("an origin");
        let answer = client.authenticate(&origin, request, DefaultClientData).await.map_err(|e| format!("{e:?}"))?;
        self.held = client.authenticator().store().clone();
        Ok(to_json(serde_json::to_value(answer).expect("serialisable")))
    }

    /// An answer signed by the authenticator for relying party `rp_id`, with client data naming `origin`: what a
    /// browser would never send for this site, made by hand to see the server refuse it.
    async fn forged(&mut self, rp_id: &str, origin: &str, options: &Value) -> Value {
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": options["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut authenticator = self.authenticator();
        let response = authenticator
            .get_assertion(get_assertion::Request {
                rp_id: rp_id.to_owned(),
                client_data_hash: Sha256::digest(client_data.as_bytes()).to_vec().into(),
                allow_list: None,
                extensions: None,
                options: get_assertion::Options { up: true, uv: self.verifies },
                pin_auth: None,
                pin_protocol: None,
            })
            .await
            .expect("the authenticator signs");
        self.held = authenticator.store().clone();
        let id = BASE64URL.encode(self.held.as_ref().expect("a passkey").credential_id.as_slice());
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": BASE64URL.encode(client_data.as_bytes()),
                "authenticatorData": BASE64URL.encode(response.auth_data.to_vec()),
                "signature": BASE64URL.encode(response.signature.as_slice()),
                "userHandle": response.user.map(|user| BASE64URL.encode(user.id.as_slice())),
            },
            "clientExtensionResults": {},
        })
    }
}

/// What `PublicKeyCredential.toJSON()` sends: every byte string base64url (the `passkey` crate writes arrays).
fn to_json(value: Value) -> Value {
    match value {
        Value::Array(items) if !items.is_empty() && items.iter().all(|i| i.as_u64().is_some_and(|n| n < 256)) => {
            let bytes: Vec<u8> = items.iter().filter_map(Value::as_u64).map(|n| n as u8).collect();
            Value::String(BASE64URL.encode(bytes))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
        other => other,
    }
}

/// A browser at the app, posting JSON from the app's pages.
async fn post(browser: &Browser, path: &str, body: Value) -> reqwest::Response {
    browser
        .client
        .post(format!("{}{path}", browser.address))
        .header("origin", &browser.address)
        .json(&body)
        .send()
        .await
        .expect("request reaches the app")
}

async fn body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An app on localhost signing in with the in-test OpenID Provider, `user-1` signed in in the app's own browser.
async fn signed_in(extra: &[(&'static str, &str)]) -> (TestProvider, TestApp, Browser) {
    let provider = TestProvider::start().await;
    let app = spawn_app_on_localhost(&sessions::provider_settings(&provider, extra)).await;
    let browser = app.main_browser();
    sign_in_as(&browser, &provider, "user-1").await;
    (provider, app, browser)
}

async fn status_of_me(browser: &Browser) -> u16 {
    browser.api(reqwest::Method::GET, "/me").send().await.expect("request").status().as_u16()
}

/// Adds a passkey from `device` to `browser`'s account, named `name`: returns the passkey as the app lists it.
async fn register(browser: &Browser, device: &mut Device, name: &str) -> Value {
    let (status, options) = body(post(browser, "/auth/passkey/register/options", json!({})).await).await;
    assert_eq!(status, 200, "{options}");
    let credential = device.create(&browser.address, &options["publicKey"]).await.expect("the device makes one");
    let (status, added) = body(
        post(
            browser,
            "/auth/passkey/register",
            json!({ "ceremony": options["ceremony"], "credential": credential, "name": name }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{added}");
    added
}

/// Starts a sign-in ceremony: its options.
async fn options(browser: &Browser, request: Value) -> Value {
    let (status, options) = body(post(browser, "/auth/passkey/options", request).await).await;
    assert_eq!(status, 200, "{options}");
    options
}

async fn finish(browser: &Browser, options: &Value, credential: Value, next: &str) -> (u16, Value) {
    body(
        post(
            browser,
            "/auth/passkey/finish",
            json!({ "ceremony": options["ceremony"], "credential": credential, "next": next }),
        )
        .await,
    )
    .await
}

async fn me(browser: &Browser) -> Value {
    browser.api(reqwest::Method::GET, "/me").send().await.expect("request").json().await.unwrap_or(Value::Null)
}

async fn kinds(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit")
}

/// The methods (`amr`) of every live session, sorted.
async fn amrs(app: &TestApp) -> Vec<String> {
    let mut all: Vec<String> =
        sqlx::query_scalar("SELECT amr FROM user_sessions").fetch_all(&app.sql).await.expect("sessions");
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_passkey_signs_in_without_an_address_as_two_factors() {
    let (_provider, app, browser) = signed_in(&[]).await;
    let mut phone = Device::new();
    let added = register(&browser, &mut phone, "  My phone ").await;
    assert_eq!(added["name"], "My phone");
    assert_eq!(added["synced"], true, "the software authenticator's passkeys are backup eligible");
    assert!(added["last_used_at"].is_null());
    let (stored, handle): (String, String) =
        sqlx::query_as("SELECT credential_id, user_handle FROM passkeys").fetch_one(&app.sql).await.expect("a row");
    assert_eq!(stored.len(), 22, "a 16-byte credential id, base64url");
    assert_eq!(handle.len(), 36, "a random UUID as the user handle, never the account id");
    assert!(kinds(&app).await.contains(&"passkey_added".to_owned()));

    // Signed out, in a new browser: the "Sign in with a passkey" button (no address).
    let stranger = app.browser();
    let options = options(&stranger, json!({})).await;
    assert!(options["publicKey"].get("allowCredentials").is_none(), "any of this site's passkeys: {options}");
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    let answer = phone.get(&stranger.address, &options["publicKey"]).await.expect("the phone answers");
    let (status, done) = finish(&stranger, &options, answer, "/profile").await;
    assert_eq!((status, &done), (200, &json!({ "redirect": "/profile" })));
    assert_eq!(me(&stranger).await["display_name"], me(&browser).await["display_name"], "the same person");
    assert_eq!(amrs(&app).await, ["fed", "swk user mfa"], "a verified passkey is two factors (RFC 8176)");
    let last_used: Option<i64> =
        sqlx::query_scalar("SELECT last_used_at FROM passkeys").fetch_one(&app.sql).await.expect("row");
    assert!(last_used.is_some(), "its last use is recorded");
    let providers: Vec<String> = sqlx::query_scalar("SELECT provider FROM user_sessions ORDER BY provider")
        .fetch_all(&app.sql)
        .await
        .expect("sessions");
    assert_eq!(providers, ["oidc", "passkey"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_passkey_options_stores_nothing_and_an_unknown_address_gets_stable_decoys() {
    let (_provider, app, browser) = signed_in(&[]).await;
    let mut phone = Device::new();
    register(&browser, &mut phone, "phone").await;
    let email: String = sqlx::query_scalar("SELECT email FROM users").fetch_one(&app.sql).await.expect("email");
    let (challenges, sessions) = (app.count("single_use").await, app.count("tower_sessions").await);

    let visitor = app.browser();
    for _ in 0..5 {
        options(&visitor, json!({})).await;
        options(&visitor, json!({ "email": "nobody@example.test" })).await;
    }
    assert_eq!(app.count("single_use").await, challenges, "starting a ceremony stores no row");
    assert_eq!(app.count("tower_sessions").await, sessions, "nor a session");

    // With an address: its passkeys for a person, stable decoys for an address without one; the same shape.
    let named = options(&visitor, json!({ "email": email.to_uppercase() })).await;
    let ids = |o: &Value| o["publicKey"]["allowCredentials"].as_array().expect("a list").clone();
    assert_eq!(ids(&named).len(), 1);
    let unknown = options(&visitor, json!({ "email": "nobody@example.test" })).await;
    assert_eq!(ids(&unknown), ids(&options(&visitor, json!({ "email": "nobody@example.test" })).await));
    assert!((1..=3).contains(&ids(&unknown).len()));
    assert_eq!(ids(&unknown)[0]["type"], "public-key");
    assert_eq!(named["publicKey"].as_object().map(|o| o.len()), unknown["publicKey"].as_object().map(|o| o.len()));

    // Address first: the person's passkey signs them in.
    let answer = phone.get(&visitor.address, &named["publicKey"]).await.expect("answers");
    assert_eq!(finish(&visitor, &named, answer, "/dashboard").await.0, 200);
    assert_eq!(me(&visitor).await["email"], email);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_passkey_needs_a_recent_confirmation_and_a_session() {
    let (_provider, app, browser) = signed_in(&[]).await;
    let anonymous = app.browser();
    assert_eq!(body(post(&anonymous, "/auth/passkey/register/options", json!({})).await).await.0, 401);

    let options = body(post(&browser, "/auth/passkey/register/options", json!({})).await).await.1;
    sqlx::query("UPDATE user_sessions SET confirmed_at = 1").execute(&app.sql).await.expect("age");
    let (status, refused) = body(post(&browser, "/auth/passkey/register/options", json!({})).await).await;
    assert_eq!((status, refused["error"].as_str()), (403, Some("confirm_identity")));
    // Nor can a ceremony started while confirmed be finished once the confirmation is old.
    let credential = Device::new().create(&browser.address, &options["publicKey"]).await.expect("made");
    let (status, _) = body(
        post(&browser, "/auth/passkey/register", json!({ "ceremony": options["ceremony"], "credential": credential }))
            .await,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(app.count("passkeys").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_started_in_another_session_or_replayed_is_refused() {
    let (provider, app, browser) = signed_in(&[]).await;
    let options = body(post(&browser, "/auth/passkey/register/options", json!({})).await).await.1;
    let mut device = Device::new();
    let credential = device.create(&browser.address, &options["publicKey"]).await.expect("made");

    // The same person in another browser cannot finish this browser's ceremony.
    let other = app.browser();
    sign_in_as(&other, &provider, "user-1").await;
    let request = json!({ "ceremony": options["ceremony"], "credential": credential, "name": "x" });
    let (status, refused) = body(post(&other, "/auth/passkey/register", request.clone()).await).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["message"].as_str().unwrap_or("").contains("another session"), "{refused}");

    assert_eq!(body(post(&browser, "/auth/passkey/register", request.clone()).await).await.0, 201);
    let (status, again) = body(post(&browser, "/auth/passkey/register", request).await).await;
    assert_eq!(status, 422, "a replayed registration: {again}");
    assert!(again["message"].as_str().unwrap_or("").contains("already used"), "{again}");
    assert_eq!(app.count("passkeys").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_answer_or_an_expired_ceremony_signs_nobody_in() {
    let (_provider, app, browser) = signed_in(&[]).await;
    let mut phone = Device::new();
    register(&browser, &mut phone, "phone").await;

    let first = app.browser();
    let options = options(&first, json!({})).await;
    let answer = phone.get(&first.address, &options["publicKey"]).await.expect("answers");
    assert_eq!(finish(&first, &options, answer.clone(), "/").await.0, 200);
    // Someone who saw the answer sends it again, from another browser.
    let thief = app.browser();
    let (status, replayed) = finish(&thief, &options, answer, "/").await;
    assert_eq!(status, 422, "{replayed}");
    assert!(replayed["message"].as_str().unwrap_or("").contains("already used"));
    assert_eq!(status_of_me(&thief).await, 401);

    // A ceremony past its five minutes: its sealed state no longer opens.
    let late = app.browser();
    let options = self::options(&late, json!({})).await;
    let answer = phone.get(&late.address, &options["publicKey"]).await.expect("answers");
    let sealed = BASE64URL.decode(options["ceremony"].as_str().expect("a token")).expect("base64url");
    let (status, expired) =
        finish(&late, &json!({ "ceremony": BASE64URL.encode(&sealed[..sealed.len() - 1]) }), answer.clone(), "/").await;
    assert_eq!(status, 422, "a changed ceremony: {expired}");
    let state = &app.state;
    let opened = state.sealer.open(
        gatehouse::server::platform::secret_key::Purpose::PasskeyCeremony,
        "passkey ceremony",
        &sealed,
    );
    let mut ceremony: Value = serde_json::from_slice(&opened.expect("opens")).expect("JSON");
    ceremony["expires_at"] = json!(1);
    let stale = BASE64URL.encode(state.sealer.seal(
        gatehouse::server::platform::secret_key::Purpose::PasskeyCeremony,
        "passkey ceremony",
        ceremony.to_string().as_bytes(),
    ));
    let (status, expired) = finish(&late, &json!({ "ceremony": stale }), answer, "/").await;
    assert_eq!(status, 422);
    assert!(expired["message"].as_str().unwrap_or("").contains("expired"), "{expired}");
    assert_eq!(status_of_me(&late).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_for_another_origin_or_relying_party_or_with_a_bad_signature_are_refused_and_recorded() {
    let (_provider, app, browser) = signed_in(&[]).await;
    let mut phone = Device::new();
    register(&browser, &mut phone, "phone").await;
    let visitor = app.browser();
    let port = url::Url::parse(&visitor.address).expect("address").port().expect("a port");

    // Signed for another origin (a look-alike site on another port of the same host).
    let options = options(&visitor, json!({})).await;
    let elsewhere = format!("http://localhost:{}", port + 1);
    let answer = phone.get(&elsewhere, &options["publicKey"]).await.expect("the phone answers the other site");
    let (status, refused) = finish(&visitor, &options, answer, "/").await;
    assert_eq!(status, 401, "{refused}");
    assert!(refused["message"].as_str().unwrap_or("").contains("another site"), "{refused}");

    // Signed for another relying party id, with client data naming this origin.
    let options = self::options(&visitor, json!({})).await;
    let answer = phone.forged("example.com", &visitor.address, &options["publicKey"]).await;
    assert_eq!(finish(&visitor, &options, answer, "/").await.0, 401);

    // A signature changed in transit.
    let options = self::options(&visitor, json!({})).await;
    let mut answer = phone.get(&visitor.address, &options["publicKey"]).await.expect("answers");
    let mut signature = BASE64URL.decode(answer["response"]["signature"].as_str().expect("signature")).expect("b64");
    let last = signature.len() - 1;
    signature[last] ^= 1;
    answer["response"]["signature"] = json!(BASE64URL.encode(signature));
    assert_eq!(finish(&visitor, &options, answer, "/").await.0, 401);

    // Not verified by the device (WebAuthn.setUserVerified(false) in a browser).
    let options = self::options(&visitor, json!({})).await;
    let mut unverified = phone.clone();
    unverified.verifies = false;
    let answer = unverified.forged("localhost", &visitor.address, &options["publicKey"]).await;
    assert_eq!(finish(&visitor, &options, answer, "/").await.0, 401);

    assert_eq!(status_of_me(&visitor).await, 401);
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'passkey_refused' ORDER BY id")
            .fetch_all(&app.sql)
            .await
            .expect("events");
    let reasons: Vec<String> = reasons
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).expect("JSON")["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(reasons, ["another_site", "another_site", "bad_signature", "not_verified"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_authenticator_whose_counter_goes_back_is_refused_and_recorded() {
    let (_provider, app, browser) = signed_in(&[]).await;
    let mut key = Device::counting();
    register(&browser, &mut key, "security key").await;
    let copy = key.clone();

    let visitor = app.browser();
    let options = options(&visitor, json!({})).await;
    let answer = key.get(&visitor.address, &options["publicKey"]).await.expect("answers");
    assert_eq!(finish(&visitor, &options, answer, "/").await.0, 200);
    let counter: i64 = sqlx::query_scalar("SELECT counter FROM passkeys").fetch_one(&app.sql).await.expect("row");
    assert_eq!(counter, 1);

    let mut copy = copy;
    let thief = app.browser();
    let options = self::options(&thief, json!({})).await;
    let answer = copy.get(&thief.address, &options["publicKey"]).await.expect("the copy answers");
    let (status, refused) = finish(&thief, &options, answer, "/").await;
    assert_eq!(status, 401);
    assert!(refused["message"].as_str().unwrap_or("").contains("copy"), "{refused}");
    assert_eq!(status_of_me(&thief).await, 401);
    let detail: String = sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'passkey_refused'")
        .fetch_one(&app.sql)
        .await
        .expect("recorded");
    assert!(detail.contains("counter_went_back"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_passkey_cannot_answer_for_an_address_or_a_second_step() {
    let (provider, app, ada) = signed_in(&[]).await;
    let mut adas_phone = Device::new();
    register(&ada, &mut adas_phone, "Ada's phone").await;
    let grace = app.browser();
    provider.set(|b| b.email = Some("grace@example.test".into()));
    sign_in_as(&grace, &provider, "user-2").await;
    let mut graces_phone = Device::new();
    register(&grace, &mut graces_phone, "Grace's phone").await;
    let adas_email: String = sqlx::query_scalar("SELECT email FROM users ORDER BY created_at LIMIT 1")
        .fetch_one(&app.sql)
        .await
        .expect("email");

    // Ada's address typed, Grace's passkey answering (her device ignores the list, as a forged client would).
    let visitor = app.browser();
    let options = options(&visitor, json!({ "email": adas_email })).await;
    let mut open = options["publicKey"].clone();
    open.as_object_mut().expect("object").remove("allowCredentials");
    let answer = graces_phone.get(&visitor.address, &open).await.expect("answers");
    let (status, refused) = finish(&visitor, &options, answer, "/").await;
    assert_eq!(status, 401, "{refused}");
    assert!(refused["message"].as_str().unwrap_or("").contains("not registered"), "{refused}");
    assert_eq!(status_of_me(&visitor).await, 401);

    // A user handle that is not the credential's owner's.
    let options = self::options(&visitor, json!({})).await;
    let mut answer = graces_phone.get(&visitor.address, &options["publicKey"]).await.expect("answers");
    let adas_handle: String = sqlx::query_scalar("SELECT user_handle FROM passkeys WHERE name = 'Ada''s phone'")
        .fetch_one(&app.sql)
        .await
        .expect("handle");
    let handle = uuid_bytes(&adas_handle);
    answer["response"]["userHandle"] = json!(BASE64URL.encode(handle));
    assert_eq!(finish(&visitor, &options, answer, "/").await.0, 401);
}

fn uuid_bytes(text: &str) -> Vec<u8> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_answers_the_second_step_and_confirms_it_is_you() {
    let (provider, app, browser) = signed_in(&[]).await;
    let (key, _codes) = two_step::enrol(&browser).await;
    let mut phone = Device::new();
    register(&browser, &mut phone, "phone").await;

    // A new sign-in at the provider stops at the second step; the passkey answers it instead of a code.
    let next = app.browser();
    let login = next.get("/auth/login/oidc?next=/profile").await;
    let query = provider.approve(&location(&login), "user-1");
    let callback = next.get(&format!("/auth/callback/oidc?{query}")).await;
    assert_eq!(location(&callback), "/login/mfa");
    let options = options(&next, json!({ "for": "second_step" })).await;
    assert_eq!(options["publicKey"]["allowCredentials"].as_array().map(Vec::len), Some(1), "only theirs");
    let answer = phone.get(&next.address, &options["publicKey"]).await.expect("answers");
    let (status, done) = finish(&next, &options, answer, "/ignored").await;
    assert_eq!((status, done["redirect"].as_str()), (200, Some("/profile")), "where the sign-in was headed");
    assert!(amrs(&app).await.contains(&"fed swk user mfa".to_owned()), "{:?}", amrs(&app).await);
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'sign_in' ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.sql)
            .await
            .expect("event");
    assert!(detail.contains("\"second_factor\":\"passkey\""), "{detail}");

    // Without a pending second step there is nothing to answer.
    let nobody = app.browser();
    assert_eq!(body(post(&nobody, "/auth/passkey/options", json!({ "for": "second_step" })).await).await.0, 422);

    // Confirming it is you (step-up) with the passkey, in the first browser, after its confirmation aged.
    sqlx::query("UPDATE user_sessions SET confirmed_at = 1").execute(&app.sql).await.expect("age");
    assert_eq!(body(post(&browser, "/auth/passkey/register/options", json!({})).await).await.0, 403);
    let options = self::options(&browser, json!({ "for": "confirm" })).await;
    let answer = phone.get(&browser.address, &options["publicKey"]).await.expect("answers");
    let (status, done) = finish(&browser, &options, answer, "/profile").await;
    assert_eq!((status, done["redirect"].as_str()), (200, Some("/profile")));
    assert_eq!(body(post(&browser, "/auth/passkey/register/options", json!({})).await).await.0, 200);
    assert!(kinds(&app).await.contains(&"step_up".to_owned()));
    let _ = key;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_ceremony_belongs_to_its_session() {
    let (provider, app, browser) = signed_in(&[]).await;
    let mut phone = Device::new();
    register(&browser, &mut phone, "phone").await;
    let other = app.browser();
    sign_in_as(&other, &provider, "user-1").await;

    let options = options(&browser, json!({ "for": "confirm" })).await;
    let answer = phone.get(&browser.address, &options["publicKey"]).await.expect("answers");
    let (status, refused) = finish(&other, &options, answer, "/profile").await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["message"].as_str().unwrap_or("").contains("another session"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_are_off_on_an_ip_address_with_a_reason() {
    let app = spawn_app_with(&[]).await;
    let (status, refused) = body(post(&app.browser(), "/auth/passkey/options", json!({})).await).await;
    assert_eq!(status, 403);
    assert!(refused["message"].as_str().unwrap_or("").contains("IP address"), "{refused}");
    assert_eq!(app.count("single_use").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_lists_passkeys_and_renames_and_removes_them() {
    let (_provider, app, browser) = signed_in(&[]).await;
    let mut phone = Device::new();
    let added = register(&browser, &mut phone, "Phone").await;
    let id = added["id"].as_str().expect("an id").to_owned();
    let page = browser.get("/profile").await.text().await.expect("page");
    assert!(page.contains("data-testid=\"passkeys-section\"") && page.contains(">Phone<"), "{page}");
    assert!(page.contains("synced"), "the software authenticator's passkey is synced");
    assert!(page.contains("src=\"/passkey.js\""), "the page loads the script that adds passkeys");

    // Renaming: the name is the person's label, checked and bounded.
    let renamed = browser.call("account/passkeys/rename", &[("id", &id), ("name", "  Pixel 9 ")]).await;
    assert_eq!(location(&renamed), "/profile?passkey=renamed#passkeys-title");
    let name: String = sqlx::query_scalar("SELECT name FROM passkeys").fetch_one(&app.sql).await.expect("row");
    assert_eq!(name, "Pixel 9");
    let long = "x".repeat(61);
    assert_eq!(browser.call("account/passkeys/rename", &[("id", &id), ("name", &long)]).await.status(), 400);
    let stranger = app.browser();
    assert_eq!(stranger.call("account/passkeys/rename", &[("id", &id), ("name", "mine")]).await.status(), 401);

    // The export lists it without its key or its credential id.
    let export = browser.get("/account/export").await.text().await.expect("export");
    let credential_id: String =
        sqlx::query_scalar("SELECT credential_id FROM passkeys").fetch_one(&app.sql).await.expect("row");
    let export: Value = serde_json::from_str(&export).expect("JSON");
    assert_eq!(export["passkeys"][0]["name"], "Pixel 9");
    assert!(!export.to_string().contains(&credential_id), "{export}");

    // Removing needs a recent confirmation, and never takes the last way in.
    sqlx::query("UPDATE user_sessions SET confirmed_at = 1").execute(&app.sql).await.expect("age");
    assert_eq!(browser.call("account/passkeys/remove", &[("id", &id)]).await.status(), 403);
    sqlx::query("UPDATE user_sessions SET confirmed_at = $1")
        .bind(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64)
        .execute(&app.sql)
        .await
        .expect("confirm");
    sqlx::query("DELETE FROM identities").execute(&app.sql).await.expect("only the passkey is left");
    let refused = browser.call("account/passkeys/remove", &[("id", &id)]).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(app.count("passkeys").await, 1);
    // With another way in, it goes; its owner is told in the activity.
    let mut laptop = Device::new();
    register(&browser, &mut laptop, "Laptop").await;
    let removed = browser.call("account/passkeys/remove", &[("id", &id)]).await;
    assert_eq!(location(&removed), "/profile?passkey=removed#passkeys-title");
    assert_eq!(app.count("passkeys").await, 1);
    let events = kinds(&app).await;
    assert!(events.contains(&"passkey_renamed".to_owned()) && events.contains(&"passkey_removed".to_owned()));
    // The removed passkey signs nobody in.
    let visitor = app.browser();
    let options = options(&visitor, json!({})).await;
    let mut only_phone = options["publicKey"].clone();
    only_phone.as_object_mut().expect("object").remove("allowCredentials");
    let answer = phone.get(&visitor.address, &only_phone).await.expect("the phone still holds it");
    assert_eq!(finish(&visitor, &options, answer, "/").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_deletes_its_passkeys() {
    let (_provider, app, browser) = signed_in(&[]).await;
    register(&browser, &mut Device::new(), "Phone").await;
    let email: String = sqlx::query_scalar("SELECT email FROM users").fetch_one(&app.sql).await.expect("email");
    let deleted = browser.call("account/delete", &[("confirm", &email)]).await;
    assert_eq!(location(&deleted), "/?deleted=1");
    assert_eq!(app.count("passkeys").await, 0);
    let detail: String = sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'account_deleted'")
        .fetch_one(&app.sql)
        .await
        .expect("event");
    assert!(detail.contains("\"passkeys\":1"), "{detail}");
}

// ---------------------------------------------------------------------------------------------------------------
// Accounts that live on passkeys: sign-up with an address and a passkey, recovery by email
// ---------------------------------------------------------------------------------------------------------------

const EMAIL: &str = "ada@example.test";

/// An app on localhost with mail going to a fresh catcher.
async fn app_with_mail() -> (crate::mail::MailCatcher, TestApp) {
    let mail = crate::mail::MailCatcher::start().await;
    let app = spawn_app_on_localhost(&[("SMTP_URL", mail.url.as_str())]).await;
    (mail, app)
}

/// Asks for a passkey sign-up link for `email` from the sign-up page's form.
async fn ask_for_sign_up_link(browser: &Browser, email: &str) {
    let sent = browser.call("auth/passkey/sign-up", &[("email", email), ("display_name", "Ada Lovelace")]).await;
    assert_eq!(location(&sent), "/signup?sent=passkey");
}

/// The link (path and query) in the `nth` mail (from 1) to `to` that starts with `path`.
async fn mailed_link(app: &TestApp, mail: &crate::mail::MailCatcher, to: &str, nth: usize, path: &str) -> String {
    let messages = mail.wait_for(to, nth).await;
    messages[nth - 1].link(&app.address, path).unwrap_or_else(|| panic!("a {path} link in {:?}", messages[nth - 1]))
}

/// The token in a link's query.
fn token_of(link: &str) -> String {
    link.split_once("token=").expect("a token").1.to_owned()
}

/// Makes the passkey on `device` from a sign-up link's token, in `browser`: the finishing answer.
async fn create_account(browser: &Browser, device: &mut Device, link: &str) -> (u16, Value) {
    let (status, options) = body(post(browser, "/auth/passkey/sign-up/options", json!({ "link": link })).await).await;
    if status != 200 {
        return (status, options);
    }
    assert_eq!(options["publicKey"]["authenticatorSelection"]["userVerification"], "required", "{options}");
    assert!(options["publicKey"]["excludeCredentials"].as_array().is_none_or(Vec::is_empty));
    let credential = device.create(&browser.address, &options["publicKey"]).await.expect("the device makes one");
    body(
        post(browser, "/auth/passkey/sign-up", json!({ "ceremony": options["ceremony"], "credential": credential }))
            .await,
    )
    .await
}

/// A passkey account for `EMAIL`, signed in in the app's main browser: the device holding its passkey.
async fn passkey_account(app: &TestApp, mail: &crate::mail::MailCatcher) -> Device {
    let browser = app.main_browser();
    ask_for_sign_up_link(&browser, EMAIL).await;
    let link = mailed_link(app, mail, EMAIL, 1, "/signup/passkey?token=").await;
    let mut phone = Device::new();
    let (status, done) = create_account(&browser, &mut phone, &token_of(&link)).await;
    assert_eq!((status, done["redirect"].as_str()), (201, Some("/profile?passkey=created#passkeys-title")));
    phone
}

/// Signs in with `device`'s passkey in a new browser.
async fn sign_in_with(app: &TestApp, device: &mut Device) -> (u16, Browser) {
    let browser = app.browser();
    let options = options(&browser, json!({})).await;
    let answer = device.get(&browser.address, &options["publicKey"]).await.expect("the device answers");
    let status = finish(&browser, &options, answer, "/dashboard").await.0;
    (status, browser)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_up_with_a_passkey_stores_nothing_until_the_mailed_link_makes_the_passkey() {
    let (mail, app) = app_with_mail().await;
    let browser = app.main_browser();
    let signup = browser.get("/signup").await.text().await.expect("page");
    assert!(signup.contains("data-testid=\"passkey-sign-up-form\""), "the sign-up page offers it");

    ask_for_sign_up_link(&browser, EMAIL).await;
    let link = mailed_link(&app, &mail, EMAIL, 1, "/signup/passkey?token=").await;
    assert_eq!(mail.to(EMAIL)[0].subject(), "Create your Gatehouse passkey");
    assert_eq!(app.count("users").await, 0, "a stranger's sign-up stores nothing");
    assert_eq!(app.count("email_tokens").await, 0, "the link is sealed, not stored");
    let page = browser.get(&link).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("page").contains("data-testid=\"create-passkey-form\""));

    // A link that was changed does not work; nothing is made.
    let token = token_of(&link);
    let mut changed = token.clone().into_bytes();
    changed[30] = if changed[30] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(changed).expect("text");
    let (status, refused) = create_account(&browser, &mut Device::new(), &changed).await;
    assert_eq!((status, refused["error"].as_str()), (422, Some("invalid_body")), "{refused}");

    // The link's page makes the passkey: the account exists, its address proved, and it is signed in with two
    // factors (the passkey verified its holder).
    let mut phone = Device::new();
    let (status, done) = create_account(&browser, &mut phone, &token).await;
    assert_eq!(status, 201, "{done}");
    let me = me(&browser).await;
    assert_eq!((me["email"].as_str(), me["display_name"].as_str()), (Some(EMAIL), Some("Ada Lovelace")));
    assert_eq!(amrs(&app).await, ["swk user mfa"]);
    let verified: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email_verified").fetch_one(&app.sql).await.expect("count");
    assert_eq!(verified, 1, "the link came to the address");
    assert_eq!(app.count("passwords").await, 0, "no password");
    assert_eq!(app.count("passkeys").await, 1);
    assert_eq!(kinds(&app).await, ["account_created", "email_verified", "passkey_added", "sign_in"]);

    // The link made one account: opened again, it says the address has one.
    let (status, again) = create_account(&app.browser(), &mut Device::new(), &token).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(app.count("users").await, 1);

    // Signing up again with the address mails its owner how they sign in, and creates nothing.
    ask_for_sign_up_link(&app.browser(), &EMAIL.to_uppercase()).await;
    let recover = mailed_link(&app, &mail, EMAIL, 2, "/reset").await;
    assert_eq!(recover, "/reset");
    assert!(mail.to(EMAIL)[1].text.contains("signs in with a passkey"), "{:?}", mail.to(EMAIL)[1]);
    assert_eq!(app.count("users").await, 1);

    // The passkey signs the account in, anywhere.
    let (status, elsewhere) = sign_in_with(&app, &mut phone).await;
    assert_eq!(status, 200);
    assert_eq!(self::me(&elsewhere).await["email"], EMAIL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_passkey_is_replaced_from_an_emailed_link_and_everything_else_ends() {
    let (mail, app) = app_with_mail().await;
    let mut lost = passkey_account(&app, &mail).await;
    let browser = app.main_browser();
    assert_eq!(status_of_me(&browser).await, 200);

    // "Forgot your password?" with the address: a passkey account gets a link to recover it.
    let stranger = app.browser();
    let asked = stranger.call("auth/password/forgot", &[("email", EMAIL)]).await;
    assert_eq!(location(&asked), "/reset?sent=1");
    let link = mailed_link(&app, &mail, EMAIL, 2, "/reset/new?token=").await;
    assert_eq!(mail.to(EMAIL)[1].subject(), "Recover your Gatehouse account");
    let token = token_of(&link);

    // A new passkey on a new device, from the link.
    let mut laptop = Device::new();
    let (status, options) =
        body(post(&stranger, "/auth/passkey/recover/options", json!({ "link": token })).await).await;
    assert_eq!(status, 200, "{options}");
    let excluded = options["publicKey"]["excludeCredentials"].as_array().map(Vec::len);
    assert_eq!(excluded, Some(1), "the account's passkey is excluded: a device holding it says so");
    let credential = laptop.create(&stranger.address, &options["publicKey"]).await.expect("made");
    let recover = json!({ "link": token, "ceremony": options["ceremony"], "credential": credential });
    let (status, done) = body(post(&stranger, "/auth/passkey/recover", recover.clone()).await).await;
    assert_eq!((status, done["redirect"].as_str()), (200, Some("/login?recovered=1")), "{done}");
    assert_eq!(status_of_me(&browser).await, 401, "every session ended");
    assert_eq!(app.count("passkeys").await, 2);
    assert!(kinds(&app).await.contains(&"account_recovered".to_owned()));
    let told = mail.wait_for(EMAIL, 3).await;
    assert_eq!(told[2].subject(), "Your Gatehouse account was recovered with a new passkey");

    // The link worked once.
    let (status, _) = body(post(&stranger, "/auth/passkey/recover/options", json!({ "link": token })).await).await;
    assert_eq!(status, 422);
    assert_eq!(body(post(&stranger, "/auth/passkey/recover", recover).await).await.0, 422);
    assert_eq!(app.count("passkeys").await, 2);

    // The new passkey signs in (and the old one still would: removing it is the person's choice, on the profile).
    assert_eq!(sign_in_with(&app, &mut laptop).await.0, 200);
    assert_eq!(sign_in_with(&app, &mut lost).await.0, 200);

    // A second link, used for a password instead: the account gets its first password.
    stranger.call("auth/password/forgot", &[("email", EMAIL)]).await;
    let link = mailed_link(&app, &mail, EMAIL, 4, "/reset/new?token=").await;
    let reset = stranger
        .call("auth/password/reset", &[("token", &token_of(&link)), ("password", "a new long passphrase")])
        .await;
    assert_eq!(location(&reset), "/login?reset=1");
    let signed_in =
        stranger.call("auth/password/sign-in", &[("email", EMAIL), ("password", "a new long passphrase")]).await;
    assert_eq!(location(&signed_in), "/dashboard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovering_with_a_passkey_asks_for_the_second_step_when_it_is_on() {
    let (mail, app) = app_with_mail().await;
    passkey_account(&app, &mail).await;
    let (_key, codes) = two_step::enrol(&app.main_browser()).await;
    let stranger = app.browser();
    stranger.call("auth/password/forgot", &[("email", EMAIL)]).await;
    let link = mailed_link(&app, &mail, EMAIL, 3, "/reset/new?token=").await;
    let token = token_of(&link);
    let ask = |code: Option<&str>| json!({ "link": token, "code": code });

    // The link alone is not enough: it proves the address, not the second factor.
    let (status, needed) = body(post(&stranger, "/auth/passkey/recover/options", ask(None)).await).await;
    assert_eq!((status, needed["error"].as_str()), (400, Some("code_needed")), "{needed}");
    let (status, wrong) = body(post(&stranger, "/auth/passkey/recover/options", ask(Some("123456"))).await).await;
    assert_eq!(status, 401, "{wrong}");
    assert!(kinds(&app).await.contains(&"mfa_failed".to_owned()));

    // A recovery code lets the new passkey be made, and is used up.
    let (status, options) = body(post(&stranger, "/auth/passkey/recover/options", ask(Some(&codes[0]))).await).await;
    assert_eq!(status, 200, "{options}");
    let mut laptop = Device::new();
    let credential = laptop.create(&stranger.address, &options["publicKey"]).await.expect("made");
    let (status, _) = body(
        post(
            &stranger,
            "/auth/passkey/recover",
            json!({ "link": token, "ceremony": options["ceremony"], "credential": credential }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NOT NULL")
        .fetch_one(&app.sql)
        .await
        .expect("count");
    assert_eq!(used, 1);
    assert_eq!(sign_in_with(&app, &mut laptop).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ceremony_started_on_one_instance_finishes_on_another_once() {
    // Two servers of one site behind a load balancer: the same APP_URL, SECRET_KEY and database.
    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let provider = TestProvider::start().await;
    let first = spawn_app_on_localhost(&sessions::provider_settings(&provider, &[("SECRET_KEY", KEY)])).await;
    let site = first.address.clone();
    let second = spawn_app_on_localhost(&sessions::provider_settings(
        &provider,
        &[("SECRET_KEY", KEY), ("DATABASE_URL", &first.database_url), ("APP_URL", &site)],
    ))
    .await;
    sign_in_as(&first.main_browser(), &provider, "user-1").await;
    let mut phone = Device::new();
    register(&first.main_browser(), &mut phone, "phone").await;

    // One browser; the balancer sends each of its requests to either server.
    let client = first.browser().client;
    let to = |server: &TestApp, path: &str, body: Value| {
        client.post(format!("{}{path}", server.address)).header("origin", &site).json(&body).send()
    };
    let (status, options) = body(to(&second, "/auth/passkey/options", json!({})).await.expect("request")).await;
    assert_eq!(status, 200, "{options}");
    let answer = phone.get(&site, &options["publicKey"]).await.expect("the phone answers");
    let finish = json!({ "ceremony": options["ceremony"], "credential": answer, "next": "/dashboard" });
    let (status, done) = body(to(&first, "/auth/passkey/finish", finish.clone()).await.expect("request")).await;
    assert_eq!((status, done["redirect"].as_str()), (200, Some("/dashboard")), "{done}");
    // The same answer again, at the other server: its challenge is spent, for both.
    let (status, again) = body(to(&second, "/auth/passkey/finish", finish).await.expect("request")).await;
    assert_eq!(status, 422, "{again}");
    assert!(again["message"].as_str().is_some_and(|m| m.contains("already used")), "{again}");
}
