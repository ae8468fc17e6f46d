//! The configuration read as a whole: defaults, each variable's checks, and that secrets never print.

use std::collections::HashMap;

use leptos::config::Env;

use crate::server::platform::config::*;

fn config(vars: &[(&'static str, &str)]) -> Result<Config, ConfigError> {
    let vars: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    Config::from_lookup(|key| Ok(vars.get(key).cloned()))
}

/// A valid `SECRET_KEY`.
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
fn secret_key_is_required_on_https_and_checked_and_never_echoed() {
    assert!(matches!(config(&[]).expect("http").secret_key, SecretKeySetting::Development));
    let https = config(&[("APP_URL", "https://login.example.com")]).expect_err("https needs a key");
    assert_eq!(https.var, "SECRET_KEY");
    assert!(https.problem.contains("gatehouse secret"), "{}", https.problem);
    let given = config(&[("APP_URL", "https://login.example.com"), ("SECRET_KEY", KEY)]).expect("given");
    assert!(matches!(given.secret_key, SecretKeySetting::Given { previous: None, .. }));
    assert!(!format!("{:?}", given.secret_key).contains("0a0b"), "never printed");

    let short = config(&[("SECRET_KEY", "abcd")]).expect_err("too short");
    assert_eq!(short.var, "SECRET_KEY");
    assert!(!short.problem.contains("abcd"));
    assert_eq!(error_var(&[("SECRET_KEY", KEY), ("SECRET_KEY_PREVIOUS", "zz")]), "SECRET_KEY_PREVIOUS");
    assert_eq!(error_var(&[("SECRET_KEY_PREVIOUS", KEY)]), "SECRET_KEY_PREVIOUS");
    let rotated = config(&[("SECRET_KEY", KEY), ("SECRET_KEY_PREVIOUS", &KEY.replace("00", "ff"))]).expect("rotation");
    assert!(matches!(rotated.secret_key, SecretKeySetting::Given { previous: Some(_), .. }));
}

fn error_var(vars: &[(&'static str, &str)]) -> &'static str {
    config(vars).expect_err("configuration should be refused").var
}

#[test]
fn operator_settings_are_checked_and_the_metrics_token_never_echoed() {
    let none = config(&[]).expect("defaults");
    assert!(none.operators.admin_emails.is_empty() && none.operators.metrics_token.is_none());
    assert!(none.operators.metrics_readable_from("127.0.0.5".parse().unwrap()));
    assert!(none.operators.metrics_readable_from("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!none.operators.metrics_readable_from("192.0.2.1".parse().unwrap()));
    assert!(none.operators.admin_reachable_from("192.0.2.1".parse().unwrap()));
    let set = config(&[
        ("ADMIN_EMAILS", " Ada@Example.com, grace@example.com "),
        ("ADMIN_ALLOWED_IPS", "10.0.0.0/8"),
        ("METRICS_TOKEN", "s3cret-metrics-token-of-enough-length"),
    ])
    .expect("valid");
    assert_eq!(set.operators.admin_emails, ["ada@example.com", "grace@example.com"]);
    assert!(!set.operators.metrics_readable_from("127.0.0.1".parse().unwrap()));
    assert!(!set.operators.admin_reachable_from("192.0.2.1".parse().unwrap()));
    assert!(set.operators.admin_reachable_from("10.1.2.3".parse().unwrap()));
    assert!(!format!("{set:?}").contains("s3cret"), "never printed");
    let bad = config(&[("ADMIN_EMAILS", "ada@example.com, grace")]).expect_err("not an address");
    assert_eq!(bad.var, "ADMIN_EMAILS");
    assert!(bad.problem.contains("\"grace\""), "{}", bad.problem);
    assert_eq!(config(&[("ADMIN_ALLOWED_IPS", "office")]).expect_err("bad").var, "ADMIN_ALLOWED_IPS");
    let short = config(&[("METRICS_TOKEN", "short-s3cret")]).expect_err("too short");
    assert_eq!(short.var, "METRICS_TOKEN");
    assert!(!short.problem.contains("s3cret"), "{}", short.problem);
}

#[test]
fn defaults_give_a_working_local_configuration() {
    let config = config(&[]).expect("defaults are valid");
    assert_eq!(config.app_url.origin(), "http://127.0.0.1:3000");
    assert!(!config.app_url.is_https());
    assert_eq!(config.database.url(), DEFAULT_DATABASE_URL);
    assert_eq!(config.log.format, LogFormat::Pretty);
    assert_eq!(config.leptos.site_addr, "127.0.0.1:3000".parse().expect("literal address"));
    assert_eq!(config.leptos.env, Env::PROD);
    assert_eq!(&*config.leptos.output_name, "gatehouse");
}

#[test]
fn api_settings_default_to_closed_and_refuse_what_is_not_an_origin() {
    let defaults = config(&[]).expect("defaults are valid");
    assert!(defaults.api.cors_origins.is_empty());
    assert!(!defaults.tokens.allow_non_expiring);

    let config = config(&[
        ("API_CORS_ORIGINS", "https://app.example.com, http://127.0.0.1:5173"),
        ("ALLOW_NON_EXPIRING_TOKENS", "true"),
    ])
    .expect("two origins");
    assert_eq!(config.api.cors_origins, ["https://app.example.com", "http://127.0.0.1:5173"]);
    assert!(config.tokens.allow_non_expiring);

    for bad in ["*", "https://app.example.com/", "https://app.example.com/path", "app.example.com", "ftp://x.y"] {
        assert_eq!(error_var(&[("API_CORS_ORIGINS", bad)]), "API_CORS_ORIGINS", "{bad} should be refused");
    }
    assert_eq!(error_var(&[("ALLOW_NON_EXPIRING_TOKENS", "yes")]), "ALLOW_NON_EXPIRING_TOKENS");
}

#[test]
fn passwords_are_on_when_mail_can_be_sent_and_mail_settings_are_checked() {
    let none = config(&[]).expect("defaults");
    assert!(!none.password_login && none.mail.is_none(), "no mail, no passwords");

    let on = config(&[("SMTP_URL", "smtp://127.0.0.1:1025")]).expect("a local catcher");
    assert!(on.password_login);
    assert_eq!(on.mail.as_ref().expect("mail").from, "Gatehouse <no-reply@localhost>");
    let https = config(&[
        ("SMTP_URL", "smtps://user:hunter2@mail.example.com"),
        ("APP_URL", "https://login.example.com"),
        ("SECRET_KEY", KEY),
    ])
    .expect("a relay with credentials");
    assert_eq!(https.mail.as_ref().expect("mail").from, "Gatehouse <no-reply@login.example.com>");
    assert!(!format!("{:?}", https.mail).contains("hunter2"), "the SMTP password never prints");
    let off = config(&[("SMTP_URL", "smtp://127.0.0.1:1025"), ("PASSWORD_LOGIN", "false")]).expect("off");
    assert!(!off.password_login);

    let wanted = config(&[("PASSWORD_LOGIN", "true")]).expect_err("passwords need mail");
    assert_eq!(wanted.var, "PASSWORD_LOGIN");
    assert!(wanted.problem.contains("SMTP_URL"), "{}", wanted.problem);
    assert_eq!(error_var(&[("PASSWORD_LOGIN", "yes")]), "PASSWORD_LOGIN");
    for bad in ["mail.example.com", "http://mail.example.com", "smtp://", "smtp://user:hunter2@/x"] {
        let error = config(&[("SMTP_URL", bad)]).expect_err(bad);
        assert_eq!(error.var, "SMTP_URL", "{bad}");
        assert!(!error.problem.contains("hunter2"), "never echoes the URL: {}", error.problem);
    }
    let from = config(&[("SMTP_URL", "smtp://127.0.0.1:1025"), ("MAIL_FROM", "not an address")]).expect_err("from");
    assert_eq!(from.var, "MAIL_FROM");
}

#[test]
fn rate_limits_default_to_on_and_bad_values_name_their_setting() {
    let defaults = config(&[]).expect("defaults");
    let limits = &defaults.rate_limits;
    assert_eq!(limits.sign_in.map(|r| (r.requests, r.per.as_secs())), Some((30, 60)));
    assert_eq!(limits.api.map(|r| r.requests), Some(600));
    assert_eq!((limits.block_after, limits.block_for.as_secs()), (50, 900));
    assert!(limits.redis_url.is_none());
    let off = config(&[("RATE_LIMIT_OAUTH", "off"), ("BLOCK_AFTER_FAILURES", "0")]).expect("off");
    assert!(off.rate_limits.oauth.is_none() && off.rate_limits.block_after == 0);

    for (var, value) in [
        ("RATE_LIMIT_SIGN_IN", "lots"),
        ("RATE_LIMIT_API", "0/1m"),
        ("BLOCK_AFTER_FAILURES", "-1"),
        ("BLOCK_DURATION", "2d"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
    ] {
        assert_eq!(config(&[(var, value)]).expect_err(value).var, var);
    }
    let secret = config(&[("REDIS_URL", "mysql://:hunter2@cache")]).expect_err("not redis");
    assert!(!secret.to_string().contains("hunter2"), "{secret}");
    let given = config(&[("REDIS_URL", "redis://:hunter2@cache:6379/2")]).expect("redis");
    assert!(!format!("{:?}", given.rate_limits).contains("hunter2"), "Debug never shows the password");
}

#[test]
fn blank_values_count_as_unset() {
    let config = config(&[("APP_URL", "  "), ("LOG_FORMAT", "")]).expect("blank means default");
    assert_eq!(config.app_url.origin(), DEFAULT_APP_URL);
}

#[test]
fn app_url_must_be_a_bare_http_origin() {
    for bad in [
        "127.0.0.1:3000",
        "ftp://example.com",
        "https://example.com/app",
        "https://example.com/?a=1",
        "https://u:p@example.com",
        "not a url",
    ] {
        assert_eq!(error_var(&[("APP_URL", bad)]), "APP_URL", "{bad} should be refused");
    }
    let config =
        config(&[("APP_URL", "https://login.example.com/"), ("SECRET_KEY", KEY)]).expect("trailing slash is fine");
    assert!(config.app_url.is_https());
    assert_eq!(config.app_url.join("/auth/callback/dev"), "https://login.example.com/auth/callback/dev");
}

#[test]
fn database_url_selects_sqlite_or_postgres_and_is_never_echoed() {
    let pg = config(&[("DATABASE_URL", "postgres://admin:hunter2@db/gatehouse")]).expect("postgres");
    assert_eq!(pg.database.kind(), DatabaseKind::Postgres);
    assert_eq!(pg.database.max_connections, 10);
    assert!(!format!("{pg:?}").contains("hunter2"), "Debug must not show the password");
    let also = config(&[("DATABASE_URL", "postgresql://db/gatehouse")]).expect("postgresql scheme");
    assert_eq!(also.database.kind(), DatabaseKind::Postgres);
    assert_eq!(config(&[]).expect("default").database.kind(), DatabaseKind::Sqlite);

    for bad in ["mysql://admin:hunter2@db/gatehouse", "admin:hunter2@db", "postgres://admin:hunter2@db:notaport/x"] {
        let err = config(&[("DATABASE_URL", bad)]).expect_err(bad);
        assert_eq!(err.var, "DATABASE_URL");
        assert!(!err.to_string().contains("hunter2"), "error must not echo the URL: {err}");
    }
    let err = config(&[("DATABASE_URL", "mysql://db/x")]).expect_err("mysql");
    assert!(err.to_string().contains("\"mysql\""), "names the scheme: {err}");
}

#[test]
fn database_pool_settings_are_checked() {
    let tuned = config(&[
        ("DATABASE_MAX_CONNECTIONS", "32"),
        ("DATABASE_CONNECT_TIMEOUT", "2s"),
        ("DATABASE_STATEMENT_TIMEOUT", "1m"),
    ])
    .expect("valid");
    assert_eq!(tuned.database.max_connections, 32);
    assert_eq!(tuned.database.connect_timeout, Duration::from_secs(2));
    assert_eq!(tuned.database.statement_timeout, Duration::from_secs(60));
    for (key, bad) in [
        ("DATABASE_MAX_CONNECTIONS", "0"),
        ("DATABASE_MAX_CONNECTIONS", "many"),
        ("DATABASE_CONNECT_TIMEOUT", "0s"),
        ("DATABASE_STATEMENT_TIMEOUT", "soon"),
    ] {
        assert_eq!(error_var(&[(key, bad)]), key, "{key}={bad} should be refused");
    }
}

#[test]
fn database_url_is_redacted_in_debug_output() {
    let config = config(&[("DATABASE_URL", "sqlite://secret-name.db")]).expect("valid");
    assert!(!format!("{config:?}").contains("secret-name"));
}

#[test]
fn each_invalid_variable_is_named() {
    assert_eq!(error_var(&[("LOG_FORMAT", "xml")]), "LOG_FORMAT");
    assert_eq!(error_var(&[("ACCESS_LOG", "sometimes")]), "ACCESS_LOG");
    assert_eq!(error_var(&[("RUST_LOG", "info,[")]), "RUST_LOG");
    assert_eq!(error_var(&[("LEPTOS_SITE_ADDR", "localhost")]), "LEPTOS_SITE_ADDR");
    assert_eq!(error_var(&[("LEPTOS_ENV", "staging")]), "LEPTOS_ENV");
    assert_eq!(error_var(&[("LEPTOS_RELOAD_PORT", "x")]), "LEPTOS_RELOAD_PORT");
}

#[test]
fn cargo_leptos_watch_means_development_unless_told_otherwise() {
    assert_eq!(config(&[("LEPTOS_WATCH", "true")]).expect("valid").leptos.env, Env::DEV);
    assert_eq!(config(&[("LEPTOS_WATCH", "true"), ("LEPTOS_ENV", "PROD")]).expect("valid").leptos.env, Env::PROD);
}

#[test]
fn durations_accept_units_and_refuse_nonsense() {
    assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
    assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
    for bad in ["", "0", "1w", "-5m", "h", "99999999999999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
    }
    assert_eq!(error_var(&[("SESSION_IDLE_TIMEOUT", "31d")]), "SESSION_IDLE_TIMEOUT", "longer than the lifetime");
    assert_eq!(error_var(&[("LOGIN_ATTEMPT_LIFETIME", "1h")]), "LOGIN_ATTEMPT_LIFETIME");
    assert_eq!(error_var(&[("PROVIDER_TIMEOUT", "30s")]), "PROVIDER_TIMEOUT");
}

#[test]
fn an_http_app_url_off_this_machine_needs_saying_so_in_production() {
    let refused = config(&[("APP_URL", "http://login.example.com")]).expect_err("refused");
    assert_eq!(refused.var, "APP_URL");
    assert!(refused.problem.contains("ALLOW_INSECURE_APP_URL"), "{}", refused.problem);
    assert!(config(&[("APP_URL", "http://login.example.com"), ("ALLOW_INSECURE_APP_URL", "true")]).is_ok());
    assert!(config(&[("APP_URL", "http://login.example.com"), ("LEPTOS_ENV", "DEV")]).is_ok(), "developing");
    for local in ["http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"] {
        assert!(config(&[("APP_URL", local)]).is_ok(), "{local}");
    }
    assert_eq!(error_var(&[("ALLOW_INSECURE_APP_URL", "yes")]), "ALLOW_INSECURE_APP_URL");
}

#[test]
fn googles_and_githubs_addresses_are_overridden_only_on_this_machine_or_on_purpose() {
    let google = |issuer: &str, allowed: &str| {
        config(&[
            ("GOOGLE_CLIENT_ID", "a"),
            ("GOOGLE_CLIENT_SECRET", "b"),
            ("GOOGLE_ISSUER_URL", issuer),
            ("ALLOW_PROVIDER_URL_OVERRIDES", allowed),
        ])
    };
    assert!(google("http://127.0.0.1:3900", "").is_ok(), "a stand-in on loopback");
    assert_eq!(google("https://accounts.evil.example", "").expect_err("refused").var, "GOOGLE_ISSUER_URL");
    assert!(google("https://accounts.evil.example", "true").is_ok(), "on purpose");
    let github = |key: &'static str| {
        config(&[("GITHUB_CLIENT_ID", "a"), ("GITHUB_CLIENT_SECRET", "b"), (key, "https://gh.evil.example")])
    };
    assert_eq!(github("GITHUB_URL").expect_err("refused").var, "GITHUB_URL");
    assert_eq!(github("GITHUB_API_URL").expect_err("refused").var, "GITHUB_API_URL");
    assert!(config(&[("GITHUB_CLIENT_ID", "a"), ("GITHUB_CLIENT_SECRET", "b")]).is_ok(), "the defaults");
}

#[test]
fn providers_need_both_halves_of_their_credentials() {
    assert_eq!(error_var(&[("GITHUB_CLIENT_ID", "abc")]), "GITHUB_CLIENT_SECRET");
    assert_eq!(error_var(&[("GOOGLE_CLIENT_SECRET", "abc")]), "GOOGLE_CLIENT_ID");
    assert_eq!(error_var(&[("OIDC_CLIENT_ID", "a"), ("OIDC_CLIENT_SECRET", "b")]), "OIDC_ISSUER_URL");
}

#[test]
fn issuers_must_be_https_except_on_loopback() {
    let oidc =
        |issuer: &str| config(&[("OIDC_CLIENT_ID", "a"), ("OIDC_CLIENT_SECRET", "b"), ("OIDC_ISSUER_URL", issuer)]);
    assert!(oidc("https://login.example.com").is_ok());
    for ok in ["http://localhost:8080", "http://127.0.0.1:3900", "http://[::1]:3900"] {
        assert!(oidc(ok).is_ok(), "{ok} is loopback");
    }
    for bad in ["http://login.example.com", "ftp://x", "https://x/?a=b"] {
        assert_eq!(oidc(bad).expect_err(bad).var, "OIDC_ISSUER_URL", "{bad}");
    }
}

#[test]
fn configured_providers_keep_their_order_labels_and_secrets() {
    let config = config(&[
        ("GITHUB_CLIENT_ID", "gh"),
        ("GITHUB_CLIENT_SECRET", "gh-secret-value"),
        ("OIDC_CLIENT_ID", "corp"),
        ("OIDC_CLIENT_SECRET", "corp-secret-value"),
        ("OIDC_ISSUER_URL", "https://sso.example.com"),
        ("OIDC_PROVIDER_NAME", "Example SSO"),
    ])
    .expect("valid");
    let ids: Vec<_> = config.providers.iter().map(|p| (p.id, p.label.as_str())).collect();
    assert_eq!(ids, [("oidc", "Example SSO"), ("github", "GitHub")]);
    assert_eq!(config.provider_origins, ["https://github.com", "https://sso.example.com"], "for form-action");
    let debug = format!("{config:?} {:?}", config.providers);
    assert!(!debug.contains("gh-secret-value") && !debug.contains("corp-secret-value"), "{debug}");
}

#[test]
fn the_dev_idp_is_refused_on_https_and_off_loopback() {
    assert!(config(&[("DEV_IDP_URL", "http://127.0.0.1:3900")]).is_ok());
    assert_eq!(
        error_var(&[("DEV_IDP_URL", "http://127.0.0.1:3900"), ("APP_URL", "https://login.example.com")]),
        "DEV_IDP_URL"
    );
    assert_eq!(error_var(&[("DEV_IDP_URL", "https://idp.example.com")]), "DEV_IDP_URL");
}

#[test]
fn json_logs_are_chosen_by_log_format() {
    assert_eq!(config(&[("LOG_FORMAT", "json")]).expect("valid").log.format, LogFormat::Json);
}

#[test]
fn the_access_log_holds_server_errors_unless_asked_for_more_or_none() {
    assert_eq!(config(&[]).expect("valid").log.access, AccessLog::Errors);
    assert_eq!(config(&[("ACCESS_LOG", "all")]).expect("valid").log.access, AccessLog::All);
    assert_eq!(config(&[("ACCESS_LOG", "off")]).expect("valid").log.access, AccessLog::Off);
}
