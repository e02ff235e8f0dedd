//! IMAP modified UTF-7 (RFC 3501 section 5.1.3), the encoding of mailbox names on the wire.
//!
//! Printable ASCII stands for itself except `&`, written `&-`; anything else is UTF-16BE in
//! base64 (`,` instead of `/`, no padding) between `&` and `-`. None of QQ, NetEase or Outlook
//! accept UTF-8 names, so every name we send goes through [`encode`].
//!
//! [`decode`] is strict and never panics: servers and archives are untrusted input. Use
//! [`decode_lossy`] where showing the raw name beats failing.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Base64 with `,` for `/`, no padding, and zero trailing bits required (RFC 2152).
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Why a wire name is not valid modified UTF-7; `at` is the byte offset in the wire name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mutf7Error {
    #[error("byte {byte:#04x} at {at} must be base64-encoded")]
    RawByte { at: usize, byte: u8 },
    #[error("'&' at {at} is never closed by '-'")]
    Unterminated { at: usize },
    #[error("invalid base64 in the sequence at {at}")]
    BadBase64 { at: usize },
    #[error("the sequence at {at} holds an odd number of bytes, not UTF-16")]
    OddLength { at: usize },
    #[error("the sequence at {at} holds an unpaired UTF-16 surrogate")]
    UnpairedSurrogate { at: usize },
    #[error("the sequence at {at} encodes printable ASCII, which must stand for itself")]
    EncodedAscii { at: usize },
}

fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Encodes a UTF-8 name (with the server's delimiter already in place) for the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            flush(&mut out, &mut pending);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    B64.encode_string(&bytes, out);
    out.push('-');
    pending.clear();
}

/// Decodes a wire name to UTF-8. Errors on anything RFC 3501 forbids, including raw 8-bit
/// bytes (a server sending UTF-8 names) and base64 that encodes printable ASCII.
pub fn decode(wire: &str) -> Result<String, Mutf7Error> {
    let bytes = wire.as_bytes();
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'&' {
            if !(0x20..=0x7e).contains(&b) {
                return Err(Mutf7Error::RawByte { at: i, byte: b });
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let start = i;
        let Some(len) = bytes[start + 1..].iter().position(|&c| c == b'-') else {
            return Err(Mutf7Error::Unterminated { at: start });
        };
        let end = start + 1 + len;
        i = end + 1;
        if len == 0 {
            out.push('&');
            continue;
        }
        let b64 = &wire[start + 1..end];
        let raw = B64
            .decode(b64)
            .map_err(|_| Mutf7Error::BadBase64 { at: start })?;
        if raw.len() % 2 != 0 {
            return Err(Mutf7Error::OddLength { at: start });
        }
        let units = raw
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]));
        for c in char::decode_utf16(units) {
            let c = c.map_err(|_| Mutf7Error::UnpairedSurrogate { at: start })?;
            if is_direct(c) {
                return Err(Mutf7Error::EncodedAscii { at: start });
            }
            out.push(c);
        }
    }
    Ok(out)
}

/// [`decode`], or the wire name unchanged when it is not valid modified UTF-7 (some servers
/// send raw UTF-8; a readable raw name is better than failing a listing).
pub fn decode_lossy(wire: &str) -> String {
    decode(wire).unwrap_or_else(|_| wire.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /work/shared/providers.md section 3.4, and the server transcripts it cites.
    const TABLE: &[(&str, &str)] = &[
        ("已发送", "&XfJT0ZAB-"),
        ("草稿箱", "&g0l6P3ux-"),
        ("已删除", "&XfJSIJZk-"),
        ("垃圾邮件", "&V4NXPpCuTvY-"),
        ("病毒文件夹", "&dcVr0mWHTvZZOQ-"),
        ("病毒邮件", "&dcVr0pCuTvY-"),
        ("广告邮件", "&Xn9USpCuTvY-"),
        ("订阅邮件", "&i6KWBZCuTvY-"),
        ("其他文件夹", "&UXZO1mWHTvZZOQ-"),
        ("QQ邮件订阅", "QQ&kK5O9ouilgU-"),
        ("其他文件夹/QQ邮件订阅", "&UXZO1mWHTvZZOQ-/QQ&kK5O9ouilgU-"),
        ("被感染项目", "&iKthH2fTmHl27g-"),
        ("我的文件夹", "&YhF2hGWHTvZZOQ-"),
        ("星标邮件", "&Zh9oB5CuTvY-"),
        ("垃圾箱", "&V4NXPnux-"),
        ("草稿", "&g0l6Pw-"),
        ("已删除邮件", "&XfJSIJZkkK5O9g-"),
        ("已发送邮件", "&XfJT0ZABkK5O9g-"),
        ("所有邮件", "&YkBnCZCuTvY-"),
        ("已发邮件", "&XfJT0ZCuTvY-"),
        ("已加星标", "&XfJSoGYfaAc-"),
        ("重要", "&kc2JgQ-"),
        ("归档", "&X1JoYw-"),
        ("商讯信息", "&VUaLr0,hYG8-"),
        ("网站通知", "&f1F62ZAad+U-"),
        ("[Gmail]/垃圾桶", "[Gmail]/&V4NXPmh2-"),
        ("其他文件夹/金笛", "&UXZO1mWHTvZZOQ-/&kdF7Gw-"),
    ];

    #[test]
    fn provider_folder_names_both_ways() {
        for (name, wire) in TABLE {
            assert_eq!(encode(name), *wire, "encode {name}");
            assert_eq!(decode(wire).as_deref(), Ok(*name), "decode {wire}");
        }
    }

    #[test]
    fn ascii_passes_through_and_ampersand_is_escaped() {
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(encode("Sent Messages"), "Sent Messages");
        assert_eq!(encode("&"), "&-");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(encode("~peter/mail/&"), "~peter/mail/&-");
        assert_eq!(decode("&-").as_deref(), Ok("&"));
        assert_eq!(decode("Tom &- Jerry").as_deref(), Ok("Tom & Jerry"));
        assert_eq!(decode("").as_deref(), Ok(""));
        assert_eq!(encode(""), "");
    }

    #[test]
    fn rfc3501_example() {
        let name = "~peter/mail/台北/日本語";
        let wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        assert_eq!(encode(name), wire);
        assert_eq!(decode(wire).as_deref(), Ok(name));
    }

    #[test]
    fn emoji_and_non_bmp_use_surrogate_pairs() {
        assert_eq!(encode("😀"), "&2D3eAA-");
        assert_eq!(decode("&2D3eAA-").as_deref(), Ok("😀"));
        let name = "旅行 ✈️ 2024 🏖/Ünïcödé & 𝄞";
        assert_eq!(decode(&encode(name)).as_deref(), Ok(name));
    }

    #[test]
    fn mixed_ascii_and_cjk_with_separators() {
        assert_eq!(
            encode("其他文件夹/报告 2024"),
            "&UXZO1mWHTvZZOQ-/&YqVUSg- 2024"
        );
        assert_eq!(
            decode("&UXZO1mWHTvZZOQ-/&YqVUSg- 2024").as_deref(),
            Ok("其他文件夹/报告 2024")
        );
    }

    #[test]
    fn control_characters_are_encoded() {
        assert_eq!(encode("a\tb"), "a&AAk-b");
        assert_eq!(decode("a&AAk-b").as_deref(), Ok("a\tb"));
    }

    fn random_name(rng: &mut fastrand::Rng) -> String {
        let len = rng.usize(0..12);
        (0..len)
            .map(|_| match rng.u8(0..6) {
                0 => rng.char(' '..='~'),
                1 => '&',
                2 => '/',
                3 => rng.char('\u{4e00}'..='\u{9fff}'),
                4 => rng.char('\u{1f300}'..='\u{1faff}'),
                _ => rng.char('\u{80}'..='\u{ffff}'),
            })
            .collect()
    }

    #[test]
    fn round_trips_generated_names() {
        let mut rng = fastrand::Rng::with_seed(0x6d61_696c_6665_7272);
        for _ in 0..20_000 {
            let name = random_name(&mut rng);
            let wire = encode(&name);
            assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{wire:?}");
            assert_eq!(decode(&wire).as_deref(), Ok(name.as_str()), "{wire:?}");
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        let cases: &[(&str, Mutf7Error)] = &[
            ("&XfJT0ZAB", Mutf7Error::Unterminated { at: 0 }),
            ("abc&", Mutf7Error::Unterminated { at: 3 }),
            ("&Jjo!-", Mutf7Error::BadBase64 { at: 0 }),
            ("&XfJT0ZAB=-", Mutf7Error::BadBase64 { at: 0 }),
            // `/` is plain base64, not the modified alphabet.
            ("&VUaLr0/hYG8-", Mutf7Error::BadBase64 { at: 0 }),
            // One base64 char cannot hold a byte.
            ("&A-", Mutf7Error::BadBase64 { at: 0 }),
            // Non-zero trailing bits.
            ("&AGF-", Mutf7Error::BadBase64 { at: 0 }),
            // Three bytes: not UTF-16.
            ("&AAAA-", Mutf7Error::OddLength { at: 0 }),
            // A lone high surrogate, then a lone low one.
            ("x&2D0-", Mutf7Error::UnpairedSurrogate { at: 1 }),
            ("&3gA-", Mutf7Error::UnpairedSurrogate { at: 0 }),
            // "a" must be written as itself.
            ("&AGE-", Mutf7Error::EncodedAscii { at: 0 }),
            // So must "&" (as "&-").
            ("&ACY-", Mutf7Error::EncodedAscii { at: 0 }),
            ("已发送", Mutf7Error::RawByte { at: 0, byte: 0xe5 }),
            ("a\tb", Mutf7Error::RawByte { at: 1, byte: b'\t' }),
        ];
        for (wire, err) in cases {
            assert_eq!(decode(wire).as_ref(), Err(err), "{wire:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet: Vec<char> = "&-+,/=AZaz09 ~\t已😀".chars().collect();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..50_000 {
            let len = rng.usize(0..16);
            let s: String = (0..len)
                .map(|_| alphabet[rng.usize(0..alphabet.len())])
                .collect();
            if let Ok(name) = decode(&s) {
                // Whatever decodes re-encodes to something that decodes the same.
                assert_eq!(decode(&encode(&name)).as_deref(), Ok(name.as_str()));
            }
            let _ = decode_lossy(&s);
        }
    }

    #[test]
    fn lossy_decoding_falls_back_to_the_raw_name() {
        assert_eq!(decode_lossy("&XfJT0ZAB-"), "已发送");
        assert_eq!(decode_lossy("已发送"), "已发送");
        assert_eq!(decode_lossy("&Jjo!-"), "&Jjo!-");
    }
}
