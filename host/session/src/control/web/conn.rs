//! One web connection: its request head read, the token checked, then the
//! page, the WebSocket, or an error status. Web connection thread.

use std::net::{IpAddr, TcpStream};
use std::sync::atomic::Ordering;

use super::http::{self, HeadError};
use super::token::{cookie_name, Carried};
use super::{socket, Shared};

/// The page, HTML, CSS and JavaScript in one file (no build step); it
/// says `hello` with the protocol version put in for `__PROTOCOL_VERSION__`.
const PAGE: &str = include_str!("page.html");

/// Serves one connection from `peer` to its end; `id` is its number among
/// the connections still sending their head. Web connection thread.
pub(super) fn serve(mut stream: TcpStream, shared: &Shared, peer: IpAddr, id: u64) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
    let _ = stream.set_write_timeout(Some(http::HEAD_TIMEOUT));
    let head = http::read_head(&mut stream);
    shared.head_read(peer, id);
    let (head, read_ahead) = match head {
        Ok(h) => h,
        Err(e) => {
            shared.counters.malformed.fetch_add(1, Ordering::Relaxed);
            let status = match e {
                HeadError::Malformed(_) => "400 Bad Request",
                HeadError::TooLarge => "431 Request Header Fields Too Large",
                HeadError::Io(_) => return,
            };
            let _ = http::respond_text(&mut stream, status, &e.to_string());
            return;
        }
    };
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let cookie_name = cookie_name(shared.port);
    let carried = shared.token.carried_by(&head, &cookie_name);
    if shared.token_required && carried.is_none() {
        shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        let _ = http::respond_text(
            &mut stream,
            "401 Unauthorized",
            "stagerack: open the address with ?token=… that the engine printed (and the window \
             shows)",
        );
        return;
    }
    if let Err(why) = shared.host_allowed(&head) {
        shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        let _ = http::respond_text(&mut stream, "403 Forbidden", &why);
        return;
    }
    // Lax, not Strict: a browser sent here by a link from another site
    // (a chat message with the address) keeps the cookie on the 303 that
    // follows; another site's script still cannot use the WebSocket (the
    // Origin check).
    let cookie = format!(
        "{cookie_name}={}; Path=/; HttpOnly; SameSite=Lax",
        shared.token.as_str()
    );
    match (head.method.as_str(), head.path.as_str()) {
        ("GET", "/ws") if head.is_websocket_upgrade() => {
            let Some(key) = head.header("sec-websocket-key") else {
                let _ = http::respond_text(&mut stream, "400 Bad Request", "no Sec-WebSocket-Key");
                return;
            };
            let accept = tungstenite::handshake::derive_accept_key(key.trim().as_bytes());
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            if std::io::Write::write_all(&mut stream, response.as_bytes()).is_err() {
                return;
            }
            shared.counters.clients.fetch_add(1, Ordering::Relaxed);
            let ended = socket::serve(stream, read_ahead, &shared.connector, &shared.stop);
            shared.counters.clients.fetch_sub(1, Ordering::Relaxed);
            if ended == socket::Ended::Broken {
                shared.counters.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
        ("GET", "/") if carried == Some(Carried::Query) => {
            // The token leaves the address bar (and history) at once.
            let _ = http::respond(
                &mut stream,
                "303 See Other",
                &[("Location", "/"), ("Set-Cookie", &cookie)],
                "text/plain; charset=utf-8",
                b"",
            );
        }
        ("GET", "/") => {
            let _ = http::respond(
                &mut stream,
                "200 OK",
                &[(
                    "Content-Security-Policy",
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                     connect-src 'self'; img-src data:",
                )],
                "text/html; charset=utf-8",
                PAGE.replace(
                    "__PROTOCOL_VERSION__",
                    &crate::control::PROTOCOL_VERSION.to_string(),
                )
                .as_bytes(),
            );
        }
        ("GET" | "HEAD", _) => {
            let _ = http::respond_text(&mut stream, "404 Not Found", "no such page; open /");
        }
        _ => {
            let _ = http::respond_text(&mut stream, "405 Method Not Allowed", "GET only");
        }
    }
}
