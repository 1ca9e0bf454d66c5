//! Drawing a QR code in a terminal.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// Why a QR string could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot draw the qr code: {0}")]
pub struct QrError(String);

/// Draws `code` (the string of [`Event::Qr`](super::Event::Qr)) with Unicode
/// half blocks, two modules per character cell, with the quiet zone, for a
/// terminal with a dark background (light modules are drawn, dark ones are
/// left blank, so the phone sees dark-on-light).
///
/// ```
/// let art = wa_io_smol::client::render_qr("2@abc,def,ghi,jkl,1").unwrap();
/// assert!(art.lines().count() > 10);
/// assert!(art.contains('█'));
/// ```
pub fn render_qr(code: &str) -> Result<String, QrError> {
    let qr = QrCode::new(code.as_bytes()).map_err(|e| QrError(e.to_string()))?;
    Ok(qr
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}
