//! The nexo seed's WhatsApp pairing pages on the health listener (`:8080`):
//! `GET /whatsapp/` lists the pending pairings, `GET /whatsapp/CODE` shows
//! one with its code as text and as a QR code (inline SVG, made with the
//! `qrcode` crate), and `POST /whatsapp/pair` (a form with `code=CODE`)
//! approves one. Rendering only: `nexo_agent.rs` owns the store and the
//! metrics, and hands these functions what they show.

use std::time::Duration;

use qrcode::render::svg;
use qrcode::QrCode;
use telemeter::server::{header, HeaderValue, HostRequest, HostResponse};

/// What a pairing's QR code carries: the channel and the code, as the
/// WhatsApp plugin's pairing link does.
pub fn qr_payload(code: u64) -> String {
    format!("nexo-pair:whatsapp:{code}")
}

/// The QR code of `code` as an inline `<svg>` element.
fn qr_svg(code: u64) -> String {
    match QrCode::new(qr_payload(code).as_bytes()) {
        Ok(qr) => {
            let image = qr
                .render::<svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build();
            // Inline in HTML: the element, without the XML declaration.
            match image.find("<svg") {
                Some(at) => image[at..].to_string(),
                None => image,
            }
        }
        // A payload of a few dozen bytes always fits a QR code; say so on
        // the page rather than panic if it ever does not.
        Err(e) => format!("<p class=\"error\">no QR code: {e}</p>"),
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n"
    )
}

fn approve_form(code: u64) -> String {
    format!(
        "<form method=\"post\" action=\"/whatsapp/pair\">\
         <input type=\"hidden\" name=\"code\" value=\"{code}\">\
         <button type=\"submit\">Approve {code}</button></form>"
    )
}

/// `GET /whatsapp/...`: the index, or one pairing's page; `pending` holds
/// the pending WhatsApp pairings as (code, age).
pub fn get(req: &HostRequest, pending: &[(u64, Duration)]) -> HostResponse {
    let rest = req.path().strip_prefix("/whatsapp/").unwrap_or("");
    if rest.is_empty() {
        return index(pending);
    }
    let Ok(code) = rest.parse::<u64>() else {
        return not_found(&format!(
            "no pairing page {:?}: pages are /whatsapp/CODE",
            req.path()
        ));
    };
    match pending.iter().find(|(c, _)| *c == code) {
        Some((_, age)) => HostResponse::html(page(
            &format!("WhatsApp pairing {code}"),
            &format!(
                "<p>Scan the code with the phone to pair, or approve it here.</p>\n\
                 <p>Pairing code: <code class=\"pairing-code\">{code}</code> \
                 (waiting {} s)</p>\n<div class=\"qr\">{}</div>\n{}",
                age.as_secs(),
                qr_svg(code),
                approve_form(code)
            ),
        )),
        None => not_found(&format!(
            "no pending WhatsApp pairing {code}: it was approved, expired, or never issued"
        )),
    }
}

fn index(pending: &[(u64, Duration)]) -> HostResponse {
    let mut items = String::new();
    for (code, age) in pending {
        items.push_str(&format!(
            "<li><a href=\"/whatsapp/{code}\">pairing <code class=\"pairing-code\">{code}</code></a> \
             (waiting {} s) {}</li>\n",
            age.as_secs(),
            approve_form(*code)
        ));
    }
    let body = if items.is_empty() {
        "<p class=\"empty\">No pairing is pending.</p>".to_string()
    } else {
        format!(
            "<p>{} pending:</p>\n<ul class=\"pending\">\n{items}</ul>",
            pending.len()
        )
    };
    HostResponse::html(page("WhatsApp pairing", &body))
}

fn not_found(why: &str) -> HostResponse {
    HostResponse::html(page("Not found", &format!("<p>{why}</p>"))).with_status(404)
}

/// The code a `POST /whatsapp/pair` form names, or why the form is bad.
pub fn code_of(req: &HostRequest) -> Result<u64, String> {
    let form = req.form().map_err(|e| e.to_string())?;
    let Some(code) = form.get("code") else {
        return Err("the form needs code=CODE".into());
    };
    code.trim()
        .parse()
        .map_err(|_| format!("code {code:?} is not a pairing code (a number)"))
}

/// The `400` for a bad approval form.
pub fn bad_form(why: &str) -> HostResponse {
    HostResponse::html(page("Bad request", &format!("<p>{}</p>", escape(why)))).with_status(400)
}

/// Text for the page: `<`, `>`, `&` and `"` escaped (a bad form's value
/// is the client's text).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The answer to an approval: `ok` goes back to the index (303), an
/// unknown code is 404 and an expired one 410.
pub fn approved(code: u64, result: &str) -> HostResponse {
    match result {
        "ok" => HostResponse::empty(303)
            .with_header(header::LOCATION, HeaderValue::from_static("/whatsapp/")),
        "expired" => HostResponse::html(page(
            "Expired",
            &format!("<p>pairing {code} expired before it was approved</p>"),
        ))
        .with_status(410),
        _ => not_found(&format!("no pending WhatsApp pairing {code}")),
    }
}
