//! Certificate PDFs with typst (compiled in; fonts from typst-assets,
//! embedded and subset; never typst's `packages` feature): the template
//! `worker/templates/certificate.typ` with the certificate's variables, a
//! QR code (SVG) of the public verification URL, PDF/A-2b.

use launchpad_domain::lms::certificates::render::{Document, RenderError, Renderer};
use qrcode::{EcLevel, QrCode, render::svg};
use typst::{
    diag::SourceDiagnostic,
    foundations::{Bytes, Datetime, Dict, IntoValue, Smart},
};
use typst_as_lib::{
    TypstAsLibError, TypstEngine, TypstTemplateMainFile, typst_kit_options::TypstKitFontOptions,
};
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

/// The default template (tenants override its variables, not its text).
pub const TEMPLATE: &str = include_str!("../templates/certificate.typ");

pub struct TypstRenderer {
    engine: TypstEngine<TypstTemplateMainFile>,
}

impl TypstRenderer {
    pub fn new() -> Self {
        let engine = TypstEngine::builder()
            .main_file(TEMPLATE.to_string())
            .search_fonts_with(
                TypstKitFontOptions::default()
                    .include_system_fonts(false)
                    .include_embedded_fonts(true),
            )
            // Keep typst's memoisation cache from growing without bound.
            .comemo_evict_max_age(Some(3))
            .build();
        Self { engine }
    }
}

impl Default for TypstRenderer {
    fn default() -> Self {
        Self::new()
    }
}

/// The QR code of `url` as SVG (error correction M, with its quiet zone).
pub fn qr_svg(url: &str) -> Result<String, RenderError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| RenderError::Template(format!("QR code of the verify URL: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// Whether `b` looks like an image typst can place (PNG, JPEG, SVG).
fn is_image(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
        || b.starts_with(&[0xFF, 0xD8, 0xFF])
        || (b.len() < 2 * 1024 * 1024 && {
            let head = String::from_utf8_lossy(&b[..b.len().min(1024)]).to_ascii_lowercase();
            head.contains("<svg") || (head.contains("<?xml") && head.contains("svg"))
        })
}

fn inputs(doc: &Document, qr: &str, logo: Option<&[u8]>) -> Dict {
    let mut d = Dict::new();
    let mut put = |k: &str, v: typst::foundations::Value| {
        d.insert(k.into(), v);
    };
    put("recipient_name", doc.recipient_name.as_str().into_value());
    put("title", doc.title.as_str().into_value());
    put("subject_label", doc.subject_label.as_str().into_value());
    put("issued_on", doc.issued_on.as_str().into_value());
    put("issuer_name", doc.issuer_name.as_str().into_value());
    put("logo", logo.map(|l| Bytes::new(l.to_vec())).into_value());
    put("signatory_name", doc.signatory_name.as_deref().into_value());
    put(
        "signatory_title",
        doc.signatory_title.as_deref().into_value(),
    );
    put("primary", doc.primary_color.as_str().into_value());
    put("accent", doc.accent_color.as_str().into_value());
    put("paper", doc.paper.as_str().into_value());
    put("code", doc.verification_code.as_str().into_value());
    put("verify_url", doc.verify_url.as_str().into_value());
    put("qr", Bytes::new(qr.as_bytes().to_vec()).into_value());
    d
}

fn diagnostics(e: TypstAsLibError) -> String {
    match e {
        TypstAsLibError::TypstSource(diags) => join(&diags),
        other => other.to_string(),
    }
}

fn join(diags: &[SourceDiagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl TypstRenderer {
    fn compile(
        &self,
        doc: &Document,
        qr: &str,
        logo: Option<&[u8]>,
    ) -> Result<Vec<u8>, RenderError> {
        // The document type is typst_pdf's (inferred from its use below).
        let compiled = self
            .engine
            .compile_with_input(inputs(doc, qr, logo))
            .output
            .map_err(|e| RenderError::Template(diagnostics(e)))?;
        let at = doc.issued_at;
        use chrono::{Datelike, Timelike};
        let timestamp = Datetime::from_ymd_hms(
            at.year(),
            at.month() as u8,
            at.day() as u8,
            at.hour() as u8,
            at.minute() as u8,
            at.second() as u8,
        )
        .map(Timestamp::new_utc);
        let standards = PdfStandards::new(&[PdfStandard::A_2b])
            .map_err(|e| RenderError::Other(format!("PDF/A-2b: {}", e.message())))?;
        let options = PdfOptions {
            ident: Smart::Custom(doc.verification_code.clone()),
            creator: Smart::Custom(Some("Launchpad".into())),
            timestamp,
            standards,
            ..PdfOptions::default()
        };
        typst_pdf::pdf(&compiled, &options).map_err(|d| RenderError::Template(join(&d)))
    }
}

impl Renderer for TypstRenderer {
    fn render(&self, doc: &Document) -> Result<Vec<u8>, RenderError> {
        let qr = qr_svg(&doc.verify_url)?;
        let logo = doc.logo.as_deref().filter(|l| is_image(l));
        if doc.logo.is_some() && logo.is_none() {
            tracing::warn!(
                "the tenant's certificate logo is not a PNG, JPEG or SVG; rendering without it"
            );
        }
        match self.compile(doc, &qr, logo) {
            Err(e) if logo.is_some() => {
                // A logo typst cannot read must not stop the certificate.
                tracing::warn!(error = %e, "rendering with the tenant's logo failed; rendering without it");
                self.compile(doc, &qr, None)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use launchpad_domain::lms::certificates::render::{self, Paper};

    use super::*;

    fn doc(name: &str) -> Document {
        let issued_at = chrono::DateTime::parse_from_rfc3339("2026-12-08T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        Document {
            recipient_name: render::printable(name, 120),
            title: "Lakehouse fundamentals".into(),
            subject_label: "course".into(),
            issued_at,
            issued_on: render::long_date(issued_at),
            issuer_name: "Acme".into(),
            logo: None,
            signatory_name: None,
            signatory_title: None,
            primary_color: render::DEFAULT_PRIMARY.into(),
            accent_color: render::DEFAULT_ACCENT.into(),
            paper: Paper::UsLetter,
            verification_code: "0123456789ABCDEFGHJKMNPQRSTVWXYZ".into(),
            verify_url: "https://launchpad.test/verify/0123456789ABCDEFGHJKMNPQRSTVWXYZ".into(),
        }
    }

    /// pdfinfo's and pdftotext's view of a PDF (poppler-utils; None when not installed).
    fn poppler(pdf: &[u8]) -> Option<(String, String)> {
        let path = std::env::temp_dir().join(format!("lp-cert-{}.pdf", uuid::Uuid::new_v4()));
        std::fs::write(&path, pdf).unwrap();
        let info = Command::new("pdfinfo").arg(&path).output().ok()?;
        let text = Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .ok()?;
        let _ = std::fs::remove_file(&path);
        Some((
            String::from_utf8_lossy(&info.stdout).into_owned(),
            String::from_utf8_lossy(&text.stdout).into_owned(),
        ))
    }

    #[test]
    fn a_500_character_name_with_control_characters_stays_on_one_page() {
        let name = format!("Ada\u{0}\u{7}\tLovelace {}", "Byron-King ".repeat(45));
        assert!(name.chars().count() > 500);
        let pdf = TypstRenderer::new().render(&doc(&name)).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let Some((info, text)) = poppler(&pdf) else {
            panic!(
                "pdfinfo and pdftotext (Debian poppler-utils) are needed; scripts/test.sh installs them"
            );
        };
        assert!(info.contains("Pages:           1"), "{info}");
        assert!(text.contains("Ada Lovelace Byron-King"), "{text}");
        assert!(!text.contains('\u{7}'));
    }

    #[test]
    fn a_bad_template_variable_is_a_template_error() {
        let mut d = doc("Ada Lovelace");
        d.accent_color = "#zzz".into();
        match TypstRenderer::new().render(&d) {
            Err(RenderError::Template(m)) => assert!(!m.is_empty()),
            other => panic!("{:?}", other.map(|b| b.len())),
        }
    }

    #[test]
    fn an_unreadable_logo_is_left_out() {
        let mut d = doc("Ada Lovelace");
        d.logo = Some(b"\x89PNG\r\n\x1a\nnot really".to_vec());
        assert!(TypstRenderer::new().render(&d).is_ok());
    }
}
