//! The web remote's access token: 128 random bits, shown on the engine's
//! status line and in the window, required on every request when the web
//! remote listens beyond this machine (`?token=…` once, then a cookie).

use super::http::Head;

/// The cookie that carries the token after the first visit, for the web
/// remote on `port`: `stagerack_token_{port}` (cookies are shared by every
/// port of a host, so two engines on one machine each keep their own).
/// Any thread.
pub fn cookie_name(port: u16) -> String {
    format!("stagerack_token_{port}")
}

/// A random token. Any thread (plain data).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A new token from the system's random source. Any thread.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The token as text (32 hex digits). Any thread.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this token, compared in time independent of
    /// where they differ. Any thread.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// How `head` carries the token, if it carries this one: in the query,
    /// or in the cookie called `cookie` (see [`cookie_name`]). Any thread.
    pub fn carried_by(&self, head: &Head, cookie: &str) -> Option<Carried> {
        if head.query_param("token").is_some_and(|t| self.matches(t)) {
            return Some(Carried::Query);
        }
        head.cookies()
            .any(|(name, value)| name == cookie && self.matches(value))
            .then_some(Carried::Cookie)
    }
}

/// Where a request carried the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carried {
    /// `?token=…`: the page answers with the cookie and sends the browser
    /// on without the token in its address.
    Query,
    /// The cookie.
    Cookie,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_compared_whole() {
        let a = Token::random().unwrap();
        let b = Token::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(&a.as_str()[..31]));
        assert!(!a.matches(b.as_str()));
        assert!(!a.matches(""));
    }

    #[test]
    fn the_cookie_is_the_ports_own() {
        let t = Token::random().unwrap();
        let head = |cookie: &str| Head {
            headers: vec![("cookie".into(), format!("{cookie}={}", t.as_str()))],
            ..Head::default()
        };
        assert_eq!(cookie_name(8080), "stagerack_token_8080");
        assert_eq!(
            t.carried_by(&head("stagerack_token_8080"), &cookie_name(8080)),
            Some(Carried::Cookie)
        );
        assert_eq!(
            t.carried_by(&head("stagerack_token_8081"), &cookie_name(8080)),
            None
        );
        assert_eq!(
            t.carried_by(&head("stagerack_token"), &cookie_name(8080)),
            None
        );
    }
}
