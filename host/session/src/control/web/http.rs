//! The little HTTP/1.1 the web remote needs: one request head read with
//! bounded size and time (httparse does the parsing), and plain responses.
//! Each connection serves one request and closes (the page, or the
//! WebSocket upgrade that then owns the connection).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Longest request head accepted, in bytes.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most header lines accepted.
const MAX_HEADERS: usize = 32;
/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// A request head. Web connection thread.
#[derive(Clone, Debug, Default)]
pub struct Head {
    /// `GET`, ...
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query, without `?` (may be empty).
    pub query: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
}

/// Why a request head could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// Not HTTP.
    #[error("malformed HTTP request: {0}")]
    Malformed(String),
    /// Over [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`].
    #[error("request head too large")]
    TooLarge,
    /// The client closed or was too slow.
    #[error("the client sent no complete request: {0}")]
    Io(#[from] std::io::Error),
}

impl Head {
    /// A header's value (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's value (not percent-decoded: the values this
    /// server reads are hex).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Every cookie as (name, value).
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
    }

    /// Whether this asks for a WebSocket.
    pub fn is_websocket_upgrade(&self) -> bool {
        let has = |name, word: &str| {
            self.header(name)
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(word)))
        };
        has("upgrade", "websocket") && has("connection", "upgrade")
    }
}

/// Reads one request head from `stream` (which has a read timeout set);
/// returns it and any bytes read past it. Web connection thread.
pub fn read_head(stream: &mut impl Read) -> Result<(Head, Vec<u8>), HeadError> {
    read_head_within(stream, HEAD_TIMEOUT)
}

/// [`read_head`] with the whole head due within `timeout`, however the
/// bytes trickle in (a byte every read timeout or faster included). Web
/// connection thread.
pub fn read_head_within(
    stream: &mut impl Read,
    timeout: Duration,
) -> Result<(Head, Vec<u8>), HeadError> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if Instant::now() >= deadline {
            return Err(HeadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no whole request head within {} s", timeout.as_secs_f32()),
            )));
        }
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(HeadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(n) => n,
            Err(e) if crate::control::remote::nothing_yet(&e) && Instant::now() < deadline => {
                continue
            }
            Err(e) => return Err(e.into()),
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let target = req.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let head = Head {
                    method: req.method.unwrap_or("").to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                };
                return Ok((head, buf.split_off(len)));
            }
            Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD_BYTES => {}
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::TooLarge)
            }
            Err(e) => return Err(HeadError::Malformed(e.to_string())),
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Writes a whole response and flushes; the connection closes after it.
/// Web connection thread.
pub fn respond(
    stream: &mut impl Write,
    status: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// A plain-text response with `text` as its body. Web connection thread.
pub fn respond_text(stream: &mut impl Write, status: &str, text: &str) -> std::io::Result<()> {
    respond(
        stream,
        status,
        &[],
        "text/plain; charset=utf-8",
        format!("{text}\n").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_with_query_and_cookies() {
        let mut input: &[u8] = b"GET /ws?token=ab12&x=1 HTTP/1.1\r\nHost: a:1\r\n\
            Cookie: one=1; stagerack_token=cd34\r\nUpgrade: websocket\r\n\
            Connection: keep-alive, Upgrade\r\n\r\nextra";
        let (head, rest) = read_head(&mut input).unwrap();
        assert_eq!((head.method.as_str(), head.path.as_str()), ("GET", "/ws"));
        assert_eq!(head.query_param("token"), Some("ab12"));
        assert_eq!(head.header("host"), Some("a:1"));
        assert!(head.cookies().any(|c| c == ("stagerack_token", "cd34")));
        assert!(head.is_websocket_upgrade());
        assert_eq!(rest, b"extra");
    }

    #[test]
    fn garbage_and_oversized_heads_are_refused() {
        let mut garbage: &[u8] = b"\x00\x01\x02 nonsense\r\n\r\n";
        assert!(matches!(
            read_head(&mut garbage),
            Err(HeadError::Malformed(_))
        ));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert!(matches!(
            read_head(&mut big.as_bytes()),
            Err(HeadError::TooLarge)
        ));
        let mut short: &[u8] = b"GET / HTTP/1.1\r\n";
        assert!(matches!(read_head(&mut short), Err(HeadError::Io(_))));
    }

    /// A byte every 10 ms, never a whole head: a read never times out.
    struct Drip;

    impl Read for Drip {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_millis(10));
            buf[0] = b'a';
            Ok(1)
        }
    }

    #[test]
    fn a_head_trickling_in_ends_at_the_deadline() {
        let start = Instant::now();
        let e = read_head_within(&mut Drip, Duration::from_millis(300)).unwrap_err();
        let took = start.elapsed();
        assert!(
            matches!(&e, HeadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut),
            "{e}"
        );
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }
}
