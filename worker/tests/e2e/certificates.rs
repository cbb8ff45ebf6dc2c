//! Certificates end to end: completing a course issues the certificate (a
//! `certificate_issue` job renders the PDF with typst, stores it, tells the
//! learner and mails the PDF), checked with tools that are not ours:
//! poppler (`pdftotext`, `pdffonts`, `pdftoppm`), zbar (`zbarimg`) and
//! Python's `email` package.

use std::{path::Path, process::Command, time::Duration};

use sha2::{Digest, Sha256};
use test_support::{SmtpSink, Tokens, WorkerProcess, app::json, eventually};

use crate::harness::Harness;

const WAIT: Duration = Duration::from_secs(90);
const PUBLIC_URL: &str = "https://launchpad.test";

struct Certs {
    h: Harness,
    sink: SmtpSink,
    customer: String,
    course: String,
    lesson: String,
}

impl Certs {
    async fn new() -> Self {
        let h = Harness::new().await;
        let sink = SmtpSink::start();
        let customer = h.app.create_customer(&h.admin, "acme").await;
        let r = h
            .app
            .post(
                "/api/v1/courses",
                &h.admin.access,
                &json!({"customer_id": customer, "title": "Lakehouse fundamentals", "level": "beginner"}),
            )
            .await;
        r.expect(201);
        let course = r.body["id"].as_str().unwrap().to_string();
        let r = h
            .app
            .post(
                &format!("/api/v1/courses/{course}/lessons"),
                &h.admin.access,
                &json!({"kind": "text", "title": "Only lesson", "body": "Read this."}),
            )
            .await;
        r.expect(201);
        let lesson = r.body["id"].as_str().unwrap().to_string();
        h.app
            .post(
                &format!("/api/v1/courses/{course}/publish"),
                &h.admin.access,
                &json!({}),
            )
            .await
            .expect(200);
        Self {
            h,
            sink,
            customer,
            course,
            lesson,
        }
    }

    fn worker(&self) -> WorkerProcess {
        let smtp = self.sink.url();
        let launchpad_domain::files::storage::StorageConfig::Local { dir } =
            &self.h.app.settings.files.storage
        else {
            panic!("local storage expected");
        };
        let dir = dir.display().to_string();
        self.h.worker_with(&[
            ("LAUNCHPAD_SMTP_URL", smtp.as_str()),
            ("LAUNCHPAD_STORAGE_DIR", dir.as_str()),
            ("LAUNCHPAD_PUBLIC_URL", PUBLIC_URL),
        ])
    }

    /// A learner of the customer named `name`.
    async fn learner(&self, email: &str, name: &str) -> Tokens {
        let password = "user-password-1234";
        self.h
            .app
            .post(
                "/api/v1/users",
                &self.h.admin.access,
                &json!({"email": email, "name": name, "password": password,
                        "roles": ["customer_member"], "customer_ids": [self.customer]}),
            )
            .await
            .expect(201);
        self.h.app.tokens(email, password).await
    }

    async fn complete(&self, who: &Tokens, status: &str) {
        self.h
            .app
            .put(
                &format!(
                    "/api/v1/me/progress/{}/lessons/{}",
                    self.course, self.lesson
                ),
                &who.access,
                &json!({"status": status}),
            )
            .await
            .expect(200);
    }

    /// The learner's one certificate, once its PDF is rendered.
    async fn certificate(&self, who: &Tokens) -> serde_json::Value {
        eventually(WAIT, "the certificate to be rendered", || async {
            let r = self.h.app.get("/api/v1/me/certificates", &who.access).await;
            r.expect(200);
            let items = r.body["items"].as_array().unwrap().clone();
            items.into_iter().find(|c| c.get("pdf_url").is_some())
        })
        .await
    }

    /// A binary GET (200 expected).
    async fn download(&self, path: &str, who: &Tokens) -> Download {
        let r = reqwest::Client::new()
            .get(self.h.app.url(path))
            .bearer_auth(&who.access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        let headers = r.headers().clone();
        Download {
            headers,
            bytes: r.bytes().await.unwrap().to_vec(),
        }
    }

    /// `POST /courses/{id}/certificates` as the admin; the job once it succeeded.
    async fn issue_by_hand(&self, body: &serde_json::Value) -> serde_json::Value {
        let r = self
            .h
            .app
            .post(
                &format!("/api/v1/courses/{}/certificates", self.course),
                &self.h.admin.access,
                body,
            )
            .await;
        r.expect(202);
        self.h
            .wait_status(r.body["id"].as_str().unwrap(), "succeeded", WAIT)
            .await
    }

    async fn jobs_of_kind(&self) -> Vec<serde_json::Value> {
        let r = self
            .h
            .app
            .get(
                "/api/v1/jobs?kind=certificate_issue&limit=200",
                &self.h.admin.access,
            )
            .await;
        r.expect(200);
        r.body["items"].as_array().unwrap().clone()
    }
}

struct Download {
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Download {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} (scripts/test.sh installs it): {e}"));
    // poppler warns on stderr about harmless things: only the status counts.
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// NFC, by Python's `unicodedata` (not our code).
fn nfc(s: &str) -> String {
    let out = Command::new(test_support::smtp::python())
        .args([
            "-c",
            "import sys, unicodedata; sys.stdout.write(unicodedata.normalize('NFC', sys.stdin.read()))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .expect("python3");
    String::from_utf8(out.stdout).unwrap()
}

/// The page's text, whitespace collapsed and NFC-normalised.
fn pdf_text(pdf: &Path) -> String {
    let text = tool("pdftotext", &[pdf.to_str().unwrap(), "-"]);
    nfc(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Every font `pdffonts` lists, with its `emb` column.
fn fonts(pdf: &Path) -> Vec<(String, bool)> {
    let out = tool("pdffonts", &[pdf.to_str().unwrap()]);
    out.lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // name type [encoding...] emb sub uni object ID: emb is 5th from the end.
            let emb = cols[cols.len() - 5] == "yes";
            (cols[0].to_string(), emb)
        })
        .collect()
}

/// What `zbarimg` reads from the first page rendered by `pdftoppm`.
fn qr_of(pdf: &Path) -> String {
    let prefix = pdf.with_extension("page");
    tool(
        "pdftoppm",
        &[
            "-r",
            "150",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            pdf.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ],
    );
    let png = std::path::PathBuf::from(format!("{}.png", prefix.display()));
    tool("zbarimg", &["--raw", "-q", png.to_str().unwrap()])
        .trim_end_matches('\n')
        .to_string()
}

fn pages(pdf: &Path) -> u32 {
    let info = tool("pdfinfo", &[pdf.to_str().unwrap()]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo prints Pages")
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lp-certs-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[tokio::test]
async fn completing_a_course_issues_a_verifiable_pdf_mailed_to_the_learner() {
    let c = Certs::new().await;
    let _worker = c.worker();
    let names = [
        ("greek@acme.test", "Ζωή Παπαδοπούλου"),
        ("cyrillic@acme.test", "Дмитрий Шостакович"),
        // Decomposed: e + U+0308, e + U+0301.
        ("combining@acme.test", "Zoe\u{0308} Rene\u{0301}e Ołowska"),
    ];
    let mut learners = vec![];
    for (email, name) in names {
        let t = c.learner(email, name).await;
        c.complete(&t, "completed").await;
        learners.push((t, name));
    }

    for (who, name) in &learners {
        let cert = c.certificate(who).await;
        assert_eq!(cert["recipient_name"], *name);
        assert_eq!(cert["title"], "Lakehouse fundamentals");
        assert_eq!(cert["issuer_name"], "Customer acme");
        let code = cert["verification_code"].as_str().unwrap().to_string();
        let r = c.download(cert["pdf_url"].as_str().unwrap(), who).await;
        assert_eq!(r.header("content-type"), Some("application/pdf"));
        let disposition = r.header("content-disposition").unwrap().to_string();
        assert!(
            disposition
                .starts_with("attachment; filename=\"Certificate - Lakehouse fundamentals - "),
            "{disposition}"
        );
        assert!(disposition.contains("filename*=UTF-8''Certificate%20-%20Lakehouse"));
        let pdf = tmp("certificate.pdf");
        std::fs::write(&pdf, &r.bytes).unwrap();

        let text = pdf_text(&pdf);
        assert!(text.contains(&nfc(name)), "{name} not in: {text}");
        assert!(text.contains("Lakehouse fundamentals"), "{text}");
        assert!(text.contains(&code), "{text}");
        let issued =
            chrono::DateTime::parse_from_rfc3339(cert["issued_at"].as_str().unwrap()).unwrap();
        let date = issued.format("%-d %B %Y").to_string();
        assert!(text.contains(&date), "{date} not in: {text}");
        assert!(text.contains("Customer acme"), "{text}");

        let fonts = fonts(&pdf);
        assert!(!fonts.is_empty());
        assert!(fonts.iter().all(|(_, emb)| *emb), "{fonts:?}");
        assert_eq!(pages(&pdf), 1);
        assert_eq!(qr_of(&pdf), format!("{PUBLIC_URL}/verify/{code}"));

        // The e-mail carries the same PDF, as an attachment.
        let sha = hex::encode(Sha256::digest(&r.bytes));
        let mail = eventually(WAIT, "the certificate e-mail", || async {
            c.sink
                .inspect()
                .into_iter()
                .find(|m| m["to"][0]["address"] == who_email(&learners, who).as_str())
        })
        .await;
        assert_eq!(mail["subject"], "Your certificate: Lakehouse fundamentals");
        assert_eq!(mail["defects"], json!([]));
        let parts = leaves(&mail["mime"]);
        let attachment = parts
            .iter()
            .find(|p| p["content_type"] == "application/pdf")
            .unwrap_or_else(|| panic!("no PDF part: {mail:#}"));
        assert_eq!(attachment["disposition"], "attachment");
        assert!(
            attachment["filename"]
                .as_str()
                .unwrap()
                .starts_with("Certificate - Lakehouse fundamentals - "),
            "{attachment}"
        );
        assert_eq!(attachment["sha256"], sha.as_str());
        let text_part = parts
            .iter()
            .find(|p| p["content_type"] == "text/plain")
            .unwrap();
        assert!(
            text_part["content"]
                .as_str()
                .unwrap()
                .contains(&format!("{PUBLIC_URL}/verify/{code}"))
        );
    }

    // Completing again, and asking by hand without `reissue`, issue nothing new.
    let (first, _) = &learners[0];
    c.complete(first, "in_progress").await;
    c.complete(first, "completed").await;
    let job = c.issue_by_hand(&json!({"user_id": first.user_id})).await;
    assert_eq!(job["result"]["outcome"], "already_issued", "{job:#}");
    assert_eq!(c.h.app.count("SELECT count(*) FROM certificates").await, 3);
    assert_eq!(
        c.h.app
            .count("SELECT count(*) FROM files WHERE purpose = 'certificate'")
            .await,
        3
    );
    for j in c.jobs_of_kind().await {
        assert_eq!(j["status"], "succeeded", "{j:#}");
    }
    // The learner's notification (in-app; the PDF came by its own e-mail).
    assert_eq!(
        c.h.app
            .count("SELECT count(*) FROM notification_sources WHERE type = 'certificate_issued'")
            .await,
        3
    );
    assert_eq!(c.sink.count(), 3, "one e-mail per certificate");

    // Another tenant's people see none of it; the files API does not list
    // a learner's PDF to the rest of the tenant.
    let other_customer = c.h.app.create_customer(&c.h.admin, "other").await;
    let outsider =
        c.h.app
            .user(
                &c.h.admin,
                "exec@other.test",
                &["customer_exec"],
                &[&other_customer],
            )
            .await;
    let cert = c.certificate(first).await;
    let id = cert["id"].as_str().unwrap();
    c.h.app
        .get(&format!("/api/v1/certificates/{id}"), &outsider.access)
        .await
        .expect_problem(404);
    c.h.app
        .get(&format!("/api/v1/certificates/{id}/pdf"), &outsider.access)
        .await
        .expect_problem(404);
    let (second, _) = &learners[1];
    c.h.app
        .get(&format!("/api/v1/certificates/{id}/pdf"), &second.access)
        .await
        .expect_problem(404);
    let files = c.h.app.get("/api/v1/files", &second.access).await;
    files.expect(200);
    assert_eq!(files.body["items"], json!([]));
}

fn who_email(learners: &[(Tokens, &str)], who: &Tokens) -> String {
    let i = learners
        .iter()
        .position(|(t, _)| t.user_id == who.user_id)
        .unwrap();
    [
        "greek@acme.test",
        "cyrillic@acme.test",
        "combining@acme.test",
    ][i]
        .into()
}

/// The leaf parts of a MIME tree described by inspect_mail.py.
fn leaves(part: &serde_json::Value) -> Vec<serde_json::Value> {
    match part.get("parts").and_then(|p| p.as_array()) {
        Some(children) => children.iter().flat_map(leaves).collect(),
        None => vec![part.clone()],
    }
}

#[tokio::test]
async fn a_template_error_fails_for_good_and_a_missing_logo_is_left_out() {
    let c = Certs::new().await;
    let _worker = c.worker();
    let learner = c.learner("ada@acme.test", "Ada Lovelace").await;
    // A colour the template cannot read, and a logo whose object is gone.
    let logo: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO files (id, customer_id, purpose, filename, content_type, size, status)
         VALUES (gen_random_uuid(), $1::uuid, 'asset', 'logo.png', 'image/png', 1234, 'ready') RETURNING id",
    )
    .bind(&c.customer)
    .fetch_one(&c.h.app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO certificate_settings (customer_id, primary_color, logo_file_id, signatory_name, signatory_title)
         VALUES ($1::uuid, 'not a colour', $2, 'Grace Hopper', 'Head of Enablement')",
    )
    .bind(&c.customer)
    .bind(logo)
    .execute(&c.h.app.db.pool)
    .await
    .unwrap();
    c.complete(&learner, "completed").await;
    let job = eventually(WAIT, "the certificate job to fail", || async {
        c.jobs_of_kind()
            .await
            .into_iter()
            .find(|j| j["status"] == "failed")
    })
    .await;
    assert_eq!(
        job["error"]["code"], "certificate_template_error",
        "{job:#}"
    );
    assert_eq!(
        job["attempts"], 1,
        "a template error is not retried: {job:#}"
    );
    assert!(
        job["error"]["message"].as_str().unwrap().contains("colo"),
        "{job:#}"
    );

    // Fixed colour, logo still missing: issued without the logo.
    sqlx::query(
        "UPDATE certificate_settings SET primary_color = '#0b3d91' WHERE customer_id = $1::uuid",
    )
    .bind(&c.customer)
    .execute(&c.h.app.db.pool)
    .await
    .unwrap();
    let job = c.issue_by_hand(&json!({"user_id": learner.user_id})).await;
    assert_eq!(job["result"]["outcome"], "issued", "{job:#}");
    let cert = c.certificate(&learner).await;
    let r = c
        .download(cert["pdf_url"].as_str().unwrap(), &learner)
        .await;
    let pdf = tmp("c.pdf");
    std::fs::write(&pdf, &r.bytes).unwrap();
    let text = pdf_text(&pdf);
    assert!(text.contains("Grace Hopper"), "{text}");
    assert!(text.contains("Head of Enablement"), "{text}");
    assert!(text.contains("Ada Lovelace"), "{text}");

    // Re-issue: the standing certificate is superseded by a new one.
    let job = c
        .issue_by_hand(&json!({"user_id": learner.user_id, "reissue": true}))
        .await;
    assert_eq!(job["result"]["outcome"], "issued", "{job:#}");
    assert_ne!(job["result"]["certificate_id"], cert["id"]);
    let old =
        c.h.app
            .get(
                &format!("/api/v1/certificates/{}", cert["id"].as_str().unwrap()),
                &learner.access,
            )
            .await;
    old.expect(200);
    assert_eq!(old.body["status"], "revoked");
    assert_eq!(old.body["revocation_reason"], "superseded");
}
