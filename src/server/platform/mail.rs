//! Outgoing mail: address verification, password resets, and notices to an account's owner. Plain text plus simple
//! HTML, over SMTP with lettre. Mail is sent after the request has answered, so a slow mail server neither delays
//! the page nor tells anyone (by its timing) which kind of message went out; a failure is logged, never shown.

use std::sync::Arc;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use crate::server::platform::config::MailSettings;

/// One message. Its text may hold a link with a token: it is never logged.
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// Paragraphs of plain text; the HTML part is made from them (with `link` as a button).
    pub paragraphs: Vec<String>,
    /// The link the message is about, and its button's label.
    pub link: Option<(String, String)>,
}

#[derive(Clone)]
pub struct Mailer {
    transport: Arc<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url())
            .map_err(|_| "SMTP_URL: is not a valid SMTP URL".to_owned())?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = settings.from.parse().map_err(|e| format!("MAIL_FROM: {e}"))?;
        Ok(Self { transport: Arc::new(transport), from })
    }

    /// Sends `mail` in the background. `what` names it in the log ("verify", "reset", …).
    pub fn send_later(&self, what: &'static str, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            match mailer.send(mail).await {
                Ok(()) => tracing::info!(what, "mail sent"),
                Err(error) => tracing::error!(what, %error, "mail could not be sent"),
            }
        });
    }

    pub async fn send(&self, mail: Mail) -> Result<(), String> {
        let to: Mailbox = mail.to.parse().map_err(|e| format!("the address is not valid: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(text(&mail), html(&mail)))
            .map_err(|e| format!("the message could not be built: {e}"))?;
        self.transport.send(message).await.map(drop).map_err(|e| format!("SMTP: {e}"))
    }
}

fn text(mail: &Mail) -> String {
    let mut body = mail.paragraphs.join("\n\n");
    if let Some((url, _)) = &mail.link {
        body.push_str(&format!("\n\n{url}\n"));
    }
    body.push_str("\n\n-- \nGatehouse\n");
    body
}

fn html(mail: &Mail) -> String {
    let mut body = String::from(
        "<!DOCTYPE html><html><body style=\"font-family: system-ui, sans-serif; line-height: 1.5; max-width: 36em\">",
    );
    for paragraph in &mail.paragraphs {
        body.push_str(&format!("<p>{}</p>", escape(paragraph)));
    }
    if let Some((url, label)) = &mail.link {
        let url = escape(url);
        body.push_str(&format!(
            "<p><a href=\"{url}\" style=\"display: inline-block; padding: 0.6em 1.2em; background: #1f5fbf; \
             color: #fff; border-radius: 6px; text-decoration: none\">{}</a></p><p style=\"color: #555\">Or open \
             this address: {url}</p>",
            escape(label)
        ));
    }
    body.push_str("<p style=\"color: #555\">— Gatehouse</p></body></html>");
    body
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_carry_the_text_and_the_link_and_html_is_escaped() {
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Confirm".into(),
            paragraphs: vec!["Hello <Ada> & co".into()],
            link: Some(("https://x.test/verify?token=a&b".into(), "Confirm".into())),
        };
        assert!(text(&mail).contains("Hello <Ada> & co\n\nhttps://x.test/verify?token=a&b"));
        let html = html(&mail);
        assert!(html.contains("Hello &lt;Ada&gt; &amp; co"));
        assert!(html.contains("href=\"https://x.test/verify?token=a&amp;b\""));
    }
}
