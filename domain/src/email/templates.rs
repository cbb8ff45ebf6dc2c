//! The e-mail templates in the repository (`domain/templates/email/`):
//! one subject line, one text and one HTML body each.

use super::{
    header_text,
    template::{
        ADDRESS, Escape, FIRST_NAME, RECIPIENT, SLOTS, TemplateError, UNSUBSCRIBE, Vars,
        escape_html, render, strip_slots,
    },
};

/// A message's subject and bodies, before they become MIME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Who a message is made out to ([`Rendered::personalise_for`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Recipient<'a> {
    /// Header text ([`header_text`]): their name, or their address.
    pub name: &'a str,
    pub address: &'a str,
    /// Their one-click unsubscribe URL (empty when the message has none).
    pub unsubscribe_url: &'a str,
}

impl Recipient<'_> {
    /// The first word of the name; the address's local part when the name
    /// is the address.
    pub fn first_name(&self) -> &str {
        if self.name.contains('@') {
            return self.name.split('@').next().unwrap_or_default();
        }
        self.name.split_whitespace().next().unwrap_or_default()
    }
}

impl Rendered {
    /// A message rendered with [`Vars::recipient_slot`] made out to one
    /// recipient: the slot becomes `recipient_name` (escaped in HTML). The
    /// same as rendering with the name set, for names that are header text
    /// ([`header_text`]: no control characters).
    pub fn personalise(&self, recipient_name: &str) -> Rendered {
        self.personalise_for(&Recipient {
            name: recipient_name,
            ..Recipient::default()
        })
    }

    /// Fills every slot ([`SLOTS`]) with the recipient's values (escaped in
    /// HTML).
    pub fn personalise_for(&self, r: &Recipient<'_>) -> Rendered {
        let has = |t: &str| t.contains(SLOTS);
        if !(has(&self.subject) || has(&self.text) || has(&self.html)) {
            return self.clone();
        }
        // As `Vars::set` would have them.
        let name = strip_slots(r.name);
        let values = [
            (RECIPIENT, name.as_ref()),
            (FIRST_NAME, r.first_name()),
            (ADDRESS, r.address),
            (UNSUBSCRIBE, r.unsubscribe_url),
        ];
        let fill = |t: &str, html: bool| {
            let mut out = t.to_string();
            for (slot, value) in values {
                let value = strip_slots(value);
                let value = if html {
                    let mut e = String::with_capacity(value.len());
                    escape_html(&value, &mut e);
                    e
                } else {
                    value.into_owned()
                };
                let plain = slot.encode_utf8(&mut [0; 4]).to_string();
                if out.contains(&plain) {
                    out = out.replace(&plain, &value);
                }
            }
            out
        };
        Rendered {
            subject: header_text(&fill(&self.subject, false), HEADER_SUBJECT_MAX),
            text: fill(&self.text, false),
            html: fill(&self.html, true),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct EmailTemplate {
    /// Stored in `email_outbox.template`.
    pub name: &'static str,
    subject: &'static str,
    text: &'static str,
    html: &'static str,
}

/// Subjects of the templates are at most this long (characters), after rendering.
pub const SUBJECT_MAX: usize = 250;

/// A `Subject` header is at most this long (characters): RFC 5322's line
/// limit. Newsletter subjects longer than this are refused, never cut.
pub const HEADER_SUBJECT_MAX: usize = 998;

impl EmailTemplate {
    pub fn render(&self, vars: &Vars) -> Result<Rendered, TemplateError> {
        Ok(Rendered {
            subject: header_text(&render(self.subject, vars, Escape::None)?, SUBJECT_MAX),
            text: render(self.text, vars, Escape::None)?,
            html: render(self.html, vars, Escape::Html)?,
        })
    }
}

macro_rules! template {
    ($name:literal, $subject:literal) => {
        EmailTemplate {
            name: $name,
            subject: $subject,
            text: include_str!(concat!("../../templates/email/", $name, ".txt")),
            html: include_str!(concat!("../../templates/email/", $name, ".html")),
        }
    };
}

/// A registrant's invitation (iTIP REQUEST).
pub const EVENT_INVITE: EmailTemplate =
    template!("event_invite", "Invitation: {{title}} — {{when_short}}");
/// The event moved: an update to every registrant (REQUEST, higher SEQUENCE).
pub const EVENT_UPDATE: EmailTemplate =
    template!("event_update", "Updated: {{title}} — {{when_short}}");
/// The event was cancelled (CANCEL).
pub const EVENT_CANCELLED: EmailTemplate =
    template!("event_cancelled", "Cancelled: {{title}} — {{when_short}}");
/// The registrant was removed from the event (CANCEL to them alone).
pub const EVENT_UNREGISTERED: EmailTemplate = template!(
    "event_unregistered",
    "Registration cancelled: {{title}} — {{when_short}}"
);

/// A notification (`notifications::fanout`): its title, body and link.
pub const NOTIFICATION: EmailTemplate = template!("notification", "{{title}}");

/// A person's digest of unread notifications (`notifications::digest`);
/// `items` is a marker the digest replaces with its list.
pub const NOTIFICATION_DIGEST: EmailTemplate = template!(
    "notification_digest",
    "Your {{period}} Launchpad digest: {{count}} unread"
);

/// To a content item's owner: the item expired (`lms::library`).
pub const CONTENT_EXPIRED: EmailTemplate =
    template!("content_expired", "Content expired: {{title}}");
/// To a learner: their certificate, with the PDF attached (`lms::certificates`).
pub const CERTIFICATE_ISSUED: EmailTemplate =
    template!("certificate_issued", "Your certificate: {{title}}");
/// An invited user's link to choose their first password
/// (`auth::account`).
pub const ACCOUNT_INVITATION: EmailTemplate =
    template!("account_invitation", "Your invitation to Launchpad");
/// A password reset's link (`auth::account`).
pub const ACCOUNT_PASSWORD_RESET: EmailTemplate =
    template!("account_password_reset", "Reset your Launchpad password");
/// To a new address: the link that confirms it (`auth::account`).
pub const ACCOUNT_EMAIL_VERIFICATION: EmailTemplate = template!(
    "account_email_verification",
    "Confirm your new e-mail address for Launchpad"
);

/// The account e-mails (they share their variables; `inviter_name` and
/// `new_email` are empty where they do not apply).
pub const ACCOUNT: &[EmailTemplate] = &[
    ACCOUNT_INVITATION,
    ACCOUNT_PASSWORD_RESET,
    ACCOUNT_EMAIL_VERIFICATION,
];

/// The event templates (they share their variables).
pub const ALL: &[EmailTemplate] = &[
    EVENT_INVITE,
    EVENT_UPDATE,
    EVENT_CANCELLED,
    EVENT_UNREGISTERED,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(optional: bool) -> Vars {
        let mut v = Vars::new();
        v.set("recipient_name", "Zoë <script>alert(1)</script>")
            .set("title", "Q&A \"deep dive\"")
            .set(
                "when",
                "Thursday 3 December 2026, 16:00–17:00 (Europe/Paris)",
            )
            .set("when_short", "Thu 3 Dec 2026 16:00 Europe/Paris")
            .set("organizer_name", "Launchpad");
        for (k, val) in [
            ("cop_name", "Data CoP"),
            ("location", "Room 4"),
            ("join_url", "https://meet.example.com/x?a=1&b=2"),
            ("description", "Bring questions."),
        ] {
            v.set(k, if optional { val } else { "" });
        }
        v
    }

    #[test]
    fn every_template_renders_with_every_variable() {
        for t in ALL {
            for optional in [true, false] {
                let r = t
                    .render(&vars(optional))
                    .unwrap_or_else(|e| panic!("{}: {e}", t.name));
                assert!(
                    r.subject.contains("Q&A \"deep dive\""),
                    "{}: {}",
                    t.name,
                    r.subject
                );
                assert!(r.subject.contains('—'));
                assert!(r.text.contains("Zoë <script>"), "text is not escaped");
                assert!(
                    !r.html.contains("<script>"),
                    "{}: HTML must escape values",
                    t.name
                );
                assert!(r.html.contains("Zoë &lt;script&gt;"));
                assert!(r.html.contains("Q&amp;A &quot;deep dive&quot;"));
                assert_eq!(r.text.contains("Data CoP"), optional);
                assert!(!r.text.contains("{{") && !r.html.contains("{{"));
            }
        }
        let r = EVENT_INVITE.render(&vars(true)).unwrap();
        assert!(
            r.html
                .contains(r#"<a href="https://meet.example.com/x?a=1&amp;b=2">"#)
        );
        assert!(r.text.contains("Join:  https://meet.example.com/x?a=1&b=2"));
    }

    /// The variables of the event templates; `portal::invites` sets them all.
    const EVENT_VARS: &[&str] = &[
        "recipient_name",
        "title",
        "cop_name",
        "when",
        "when_short",
        "location",
        "join_url",
        "description",
        "organizer_name",
    ];

    #[test]
    fn the_event_variables_suffice() {
        let mut v = Vars::new();
        for name in EVENT_VARS {
            v.set(name, "x");
        }
        for t in ALL {
            t.render(&v).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        }
    }

    #[test]
    fn the_notification_templates_render_and_escape() {
        let mut v = Vars::new();
        v.set("recipient_name", "Ann <b>")
            .set("title", "New event in Data & AI")
            .set("body", "Line one\nLine <two>")
            .set("link", "https://portal.example.com/x?a=1&b=2")
            .set("preferences_url", "https://api.example.com/p")
            .set("organizer_name", "Launchpad");
        let r = NOTIFICATION.render(&v).unwrap();
        assert_eq!(r.subject, "New event in Data & AI");
        assert!(
            r.text
                .contains("Open: https://portal.example.com/x?a=1&b=2")
        );
        assert!(r.html.contains("Ann &lt;b&gt;") && r.html.contains("Line &lt;two&gt;"));
        assert!(
            r.html
                .contains(r#"href="https://portal.example.com/x?a=1&amp;b=2""#)
        );
        v.set("link", "");
        let r = NOTIFICATION.render(&v).unwrap();
        assert!(!r.text.contains("Open:") && !r.html.contains("Open in"));
        let mut d = Vars::new();
        d.set("recipient_name", "Ann")
            .set("period", "daily")
            .set("count", "3")
            .set("items", "ITEMS")
            .set("preferences_url", "https://api.example.com/p")
            .set("organizer_name", "Launchpad");
        let r = NOTIFICATION_DIGEST.render(&d).unwrap();
        assert_eq!(r.subject, "Your daily Launchpad digest: 3 unread");
        assert!(r.text.contains("ITEMS") && r.html.contains("ITEMS"));
        assert!(!r.text.contains("{{") && !r.html.contains("{{"));
    }

    #[test]
    fn the_account_emails_render_and_escape() {
        let mut v = Vars::new();
        v.set("recipient_name", "Zoë <b>")
            .set("email", "zoe@example.org")
            .set("new_email", "zoe+new@example.org")
            .set("inviter_name", "Ann & Co")
            .set("link", "https://portal.example/reset?token=abc&x=1")
            .set("token", "abc")
            .set("expires_at", "2026-12-07 19:00 UTC")
            .set("api_path", "/api/v1/auth/password-reset/confirm")
            .set("organizer_name", "Launchpad");
        for t in ACCOUNT {
            let r = t.render(&v).unwrap_or_else(|e| panic!("{}: {e}", t.name));
            assert!(r.subject.contains("Launchpad"), "{}", t.name);
            assert!(
                r.text
                    .contains("https://portal.example/reset?token=abc&x=1")
            );
            assert!(
                r.html
                    .contains(r#"href="https://portal.example/reset?token=abc&amp;x=1""#),
                "{}",
                t.name
            );
            assert!(r.html.contains("Zoë &lt;b&gt;") && !r.html.contains("<b>"));
            assert!(!r.text.contains("{{") && !r.html.contains("{{"));
        }
        let r = ACCOUNT_INVITATION.render(&v).unwrap();
        assert!(r.html.contains("Ann &amp; Co") && r.text.contains("Ann & Co"));
        let r = ACCOUNT_EMAIL_VERIFICATION.render(&v).unwrap();
        assert!(r.text.contains("zoe+new@example.org"));
    }

    #[test]
    fn rendering_once_then_personalising_is_rendering_per_recipient() {
        for t in ALL {
            let mut shared = vars(true);
            shared.recipient_slot("recipient_name");
            let once = t.render(&shared).unwrap();
            assert!(once.text.contains(RECIPIENT));
            for name in [
                "Zoë <script>alert(1)</script>",
                "Ann O'Neil & Co",
                "bob@example.org",
            ] {
                let mut each = vars(true);
                each.set("recipient_name", name);
                assert_eq!(
                    once.personalise(name),
                    t.render(&each).unwrap(),
                    "{}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn subjects_are_one_line() {
        let mut v = vars(true);
        v.set("title", "Hello\r\nBcc: victim@example.com");
        let r = EVENT_UPDATE.render(&v).unwrap();
        assert!(!r.subject.contains(['\r', '\n']));
        assert!(
            r.subject
                .starts_with("Updated: Hello Bcc: victim@example.com")
        );
    }
}
