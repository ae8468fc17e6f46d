//! The operator's commands, run with the server's configuration: `gatehouse clients add|list|remove` registers apps
//! without the web pages, `gatehouse keys rotate` replaces the token-signing key now. Output is JSON (clients, with
//! RFC 7591's field names) or one line, so scripts can read it. `gatehouse risc register` asks Google to push its
//! security events here.

use crate::server::{
    oauth::{clients, keys},
    people::session::ClientInfo,
    platform::config::Config,
    security::audit,
    startup::open_for_command,
};

/// One line, for refusals.
pub const SHORT_USAGE: &str = "usage: gatehouse [secret | clients add|list|remove | keys rotate | audit verify | risc register | help] \
     (`gatehouse help` explains each)";

/// Whether `word` starts one of these commands (checked before the configuration is read).
pub fn is_command(word: &str) -> bool {
    matches!(word, "clients" | "keys" | "audit" | "risc")
}

pub const USAGE: &str = "usage:
  gatehouse                      serve
  gatehouse secret               print a new SECRET_KEY
  gatehouse clients add --name NAME --redirect-uri URI [--redirect-uri URI …] [--post-logout-redirect-uri URI …]
                        [--public] [--scope \"SCOPE …\"] [--allowed-ip CIDR …]
                        [--backchannel-logout-uri URI [--backchannel-logout-session-required]]
                        [--id-token-signed-response-alg RS256|ES256] [--require-pushed-authorization-requests]
  gatehouse clients list
  gatehouse clients remove CLIENT_ID
  gatehouse keys rotate          new signing keys now (ES256 and RS256); the old ones stay published until their
                                 tokens expire
  gatehouse audit verify         check the security activity's hash chain; exit 1 naming the first event
                                 changed, removed or inserted
  gatehouse risc register        ask Google to push Cross-Account Protection events here (GOOGLE_SERVICE_ACCOUNT_FILE:
                                 a service account's JSON key; GOOGLE_RISC=true; an https APP_URL)";

/// A command that did not succeed: the message for standard error, and the exit code.
#[derive(Debug)]
pub enum Failure {
    /// A wrong command, option or setting, or a database that cannot be opened: exit 2.
    Usage(String),
    /// The command ran and found a problem (a broken audit chain): exit 1.
    Found(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::Usage(message)
    }
}

/// Runs a command.
pub async fn run(config: &Config, args: &[String]) -> Result<String, Failure> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["clients", "add", options @ ..] => add_client(config, options).await.map_err(Failure::from),
        ["clients", "list"] => {
            let (db, _) = open_for_command(config).await.map_err(|e| e.to_string())?;
            let list = clients::list(&db, None).await.map_err(|e| format!("DATABASE_URL: {e}"))?;
            let list: Vec<_> = list.iter().map(clients::Client::metadata).collect();
            Ok(serde_json::to_string_pretty(&list).expect("metadata serialises"))
        }
        ["clients", "remove", client_id] => {
            let (db, _) = open_for_command(config).await.map_err(|e| e.to_string())?;
            match clients::remove(&db, client_id, None).await.map_err(|e| format!("DATABASE_URL: {e}"))? {
                true => Ok(format!("removed {client_id}: its codes, tokens and consents are gone")),
                false => Err(format!("no client {client_id:?}").into()),
            }
        }
        ["keys", "rotate"] => {
            let (db, sealer) = open_for_command(config).await.map_err(|e| e.to_string())?;
            let kids =
                keys::rotate(&db, &sealer, keys::keep_retired(&config.oauth)).await.map_err(|e| e.to_string())?;
            Ok(format!(
                "new signing keys {} (ES256, RS256); the previous ones stay published until their tokens expire",
                kids.join(", ")
            ))
        }
        ["audit", "verify"] => verify_audit(config).await,
        ["risc", "register"] => {
            let key_file = std::env::var("GOOGLE_SERVICE_ACCOUNT_FILE")
                .map_err(|_| "GOOGLE_SERVICE_ACCOUNT_FILE: set it to the service account's JSON key file".to_owned())?;
            if !config.providers.iter().any(|p| p.risc) {
                return Err("GOOGLE_RISC: set it to true (with GOOGLE_CLIENT_ID) so that the events are received"
                    .to_owned()
                    .into());
            }
            crate::server::auth::risc::register(&config.app_url.origin(), &key_file).await.map_err(Failure::from)
        }
        _ => Err(format!("unknown command {:?}; {SHORT_USAGE}", args.join(" ")).into()),
    }
}

async fn verify_audit(config: &Config) -> Result<String, Failure> {
    let (db, _) = open_for_command(config).await.map_err(|e| e.to_string())?;
    // Only reads: sealing events from before the chain happens once, at the server's first start on that release.
    let report = audit::chain::verify(&db).await.map_err(|e| format!("DATABASE_URL: {e}"))?;
    if let Some(problem) = report.problem {
        return Err(Failure::Found(format!("the security activity does not verify: {problem}")));
    }
    let start = match report.starts_after {
        0 => String::new(),
        after => format!(", continuing after purged event #{after}"),
    };
    Ok(match report.head {
        None => format!("the security activity verifies: no events yet{start}"),
        Some((seq, hash)) => format!(
            "the security activity verifies: {} events up to #{seq}{start}, {} of them anonymised; newest hash {hash}",
            report.events, report.anonymised
        ),
    })
}

async fn add_client(config: &Config, options: &[&str]) -> Result<String, String> {
    let (mut name, mut redirects, mut logouts, mut public, mut scope) = (None, vec![], vec![], false, String::new());
    let mut allowed_ips = Vec::new();
    let (mut backchannel_logout_uri, mut session_required) = (String::new(), false);
    let mut id_token_alg = String::new();
    let mut require_par = false;
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let mut value = || rest.next().map(|v| (*v).to_owned()).ok_or_else(|| format!("{option} needs a value"));
        match *option {
            "--name" => name = Some(value()?),
            "--redirect-uri" => redirects.push(value()?),
            "--post-logout-redirect-uri" => logouts.push(value()?),
            "--scope" => scope = format!("{scope} {}", value()?),
            "--public" => public = true,
            "--allowed-ip" => allowed_ips.push(value()?),
            "--backchannel-logout-uri" => backchannel_logout_uri = value()?,
            "--backchannel-logout-session-required" => session_required = true,
            "--id-token-signed-response-alg" => id_token_alg = value()?,
            "--require-pushed-authorization-requests" => require_par = true,
            other => return Err(format!("unknown option {other:?}; {SHORT_USAGE}")),
        }
    }
    let name = name.ok_or("--name is required")?;
    let new = clients::NewClient::parse(&name, &redirects, &logouts, !public, &scope, &allowed_ips.join(","))
        .and_then(|new| new.with_backchannel_logout(&backchannel_logout_uri, session_required))
        .and_then(|new| new.with_id_token_alg(&id_token_alg))
        .map(|new| new.with_par_required(require_par))
        .map_err(|e| e.to_string())?;
    let (db, _) = open_for_command(config).await.map_err(|e| e.to_string())?;
    let created = clients::create(&db, None, new, &ClientInfo::default()).await.map_err(|e| e.to_string())?;
    Ok(serde_json::to_string_pretty(&created).expect("metadata serialises"))
}
