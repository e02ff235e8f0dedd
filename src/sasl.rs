//! How a login proves who it is: a password (IMAP LOGIN, SASL PLAIN, POP3 USER/PASS) or an
//! OAuth2 bearer token (SASL XOAUTH2, or OAUTHBEARER of RFC 7628). Pure: the wire strings,
//! the choice of mechanism, and what a token says of itself.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// `auth:` in a profile account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// OAUTHBEARER or XOAUTH2 when the secret is a token (whichever the server offers, in that
    /// order), else the password login.
    #[default]
    Auto,
    Plain,
    Login,
    Xoauth2,
    Oauthbearer,
}

/// What a login will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// IMAP LOGIN / POP3 USER+PASS.
    Login,
    /// SASL PLAIN.
    Plain,
    Xoauth2,
    Oauthbearer,
}

impl Mechanism {
    /// The SASL name, as sent after AUTHENTICATE.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Login => "LOGIN",
            Mechanism::Plain => "PLAIN",
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::Oauthbearer => "OAUTHBEARER",
        }
    }

    pub fn is_oauth(self) -> bool {
        matches!(self, Mechanism::Xoauth2 | Mechanism::Oauthbearer)
    }

    /// The answer to a failure challenge, after which the server sends its final refusal:
    /// an empty line for XOAUTH2, `^A` for OAUTHBEARER (RFC 7628 section 3.2.3).
    pub fn failure_ack(self) -> &'static [u8] {
        match self {
            Mechanism::Oauthbearer => b"\x01",
            _ => b"",
        }
    }
}

/// Picks the mechanism. `offered` answers whether the server listed `AUTH=<name>` (IMAP) or
/// `SASL <name>` (POP3); `None` when it did not say (then XOAUTH2, the most widely served,
/// is tried for a token).
pub fn choose(
    method: AuthMethod,
    offered: Option<&dyn Fn(&str) -> bool>,
    secret: &str,
) -> Mechanism {
    match method {
        AuthMethod::Plain => Mechanism::Plain,
        AuthMethod::Login => Mechanism::Login,
        AuthMethod::Xoauth2 => Mechanism::Xoauth2,
        AuthMethod::Oauthbearer => Mechanism::Oauthbearer,
        AuthMethod::Auto if !looks_like_token(secret) => Mechanism::Login,
        AuthMethod::Auto => match offered {
            Some(has) if has("OAUTHBEARER") => Mechanism::Oauthbearer,
            Some(has) if has("XOAUTH2") => Mechanism::Xoauth2,
            // A token for a server that offers neither: LOGIN fails with its own words.
            Some(_) => Mechanism::Login,
            None => Mechanism::Xoauth2,
        },
    }
}

/// Whether a secret is an OAuth2 access token rather than a password: a JWT, or a long
/// string without spaces (Google's `ya29.` tokens, Microsoft's opaque ones). Authorization
/// codes (16 letters) and passwords are far shorter.
pub fn looks_like_token(secret: &str) -> bool {
    let s = secret.trim();
    jwt_claims(s).is_some() || (s.len() >= 100 && !s.contains(char::is_whitespace))
}

/// The token's expiry (`exp`, Unix seconds) when it is a JWT that says.
pub fn jwt_expiry(token: &str) -> Option<i64> {
    jwt_claims(token.trim())?.get("exp")?.as_i64()
}

fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .filter(serde_json::Value::is_object)
}

/// The client's first message for an OAuth mechanism, or SASL PLAIN.
pub fn initial_response(
    mechanism: Mechanism,
    user: &str,
    secret: &str,
    host: &str,
    port: u16,
) -> Vec<u8> {
    match mechanism {
        Mechanism::Xoauth2 => format!("user={user}\x01auth=Bearer {secret}\x01\x01").into_bytes(),
        Mechanism::Oauthbearer => format!(
            "n,a={},\x01host={host}\x01port={port}\x01auth=Bearer {secret}\x01\x01",
            gs2_escape(user)
        )
        .into_bytes(),
        Mechanism::Plain | Mechanism::Login => format!("\0{user}\0{secret}").into_bytes(),
    }
}

/// RFC 5801: `,` and `=` in the authorization identity are written `=2C` and `=3D`.
fn gs2_escape(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// A server's failure challenge (base64 JSON for XOAUTH2 and OAUTHBEARER), as words for the
/// user: `status` and `scope` when present, else the text.
pub fn describe_challenge(challenge: &[u8]) -> String {
    let text = String::from_utf8_lossy(challenge).trim().to_string();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => {
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            match (field("status"), field("scope")) {
                (Some(s), Some(scope)) => format!("status {s}, scope {scope}"),
                (Some(s), None) => format!("status {s}"),
                _ => text,
            }
        }
        Err(_) => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", e(r#"{"alg":"HS256"}"#), e(claims))
    }

    #[test]
    fn wire_formats_are_the_rfcs() {
        assert_eq!(
            initial_response(Mechanism::Xoauth2, "a@b.c", "T", "h", 993),
            b"user=a@b.c\x01auth=Bearer T\x01\x01"
        );
        assert_eq!(
            initial_response(Mechanism::Oauthbearer, "a,b=c", "T", "imap.x", 993),
            b"n,a=a=2Cb=3Dc,\x01host=imap.x\x01port=993\x01auth=Bearer T\x01\x01"
        );
        assert_eq!(Mechanism::Oauthbearer.failure_ack(), b"\x01");
        assert_eq!(Mechanism::Xoauth2.failure_ack(), b"");
    }

    #[test]
    fn tokens_are_told_from_passwords() {
        let token = jwt(r#"{"sub":"a","exp":1700000000}"#);
        assert!(looks_like_token(&token));
        assert_eq!(jwt_expiry(&token), Some(1_700_000_000));
        assert!(looks_like_token(&format!("ya29.{}", "a".repeat(150))));
        assert!(!looks_like_token("abcdefghijklmnop"));
        assert!(!looks_like_token("correct horse battery staple"));
        assert_eq!(jwt_expiry("a.b.c"), None);
    }

    #[test]
    fn auto_prefers_oauthbearer_then_xoauth2_for_tokens_only() {
        let token = jwt(r#"{"sub":"a","exp":1}"#);
        let both = |m: &str| m == "OAUTHBEARER" || m == "XOAUTH2";
        let x = |m: &str| m == "XOAUTH2";
        let none = |_: &str| false;
        assert_eq!(
            choose(AuthMethod::Auto, Some(&both), &token),
            Mechanism::Oauthbearer
        );
        assert_eq!(
            choose(AuthMethod::Auto, Some(&x), &token),
            Mechanism::Xoauth2
        );
        assert_eq!(choose(AuthMethod::Auto, None, &token), Mechanism::Xoauth2);
        assert_eq!(
            choose(AuthMethod::Auto, Some(&none), &token),
            Mechanism::Login
        );
        assert_eq!(
            choose(AuthMethod::Auto, Some(&both), "authcode1234"),
            Mechanism::Login
        );
        assert_eq!(
            choose(AuthMethod::Plain, Some(&both), &token),
            Mechanism::Plain
        );
    }

    #[test]
    fn failure_challenges_read_as_words() {
        assert_eq!(
            describe_challenge(br#"{"status":"401","schemes":"bearer","scope":"mail"}"#),
            "status 401, scope mail"
        );
        assert_eq!(describe_challenge(b"plain words"), "plain words");
    }
}
