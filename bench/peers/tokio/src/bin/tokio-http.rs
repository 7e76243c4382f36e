//! tokio-http: the Tokio peer of weft-http, an HTTP/1.1 plaintext server
//! written on raw TcpStream (no HTTP library), as the TechEmpower
//! "plaintext" test asks.
//!
//!   tokio-http [--addr 127.0.0.1:8080] [--workers N]
//!
//! GET /plaintext answers `Hello, World!` with Content-Length,
//! Content-Type and Date; any other path gets 404. Connections are kept
//! alive (HTTP/1.1 default; HTTP/1.0 only with `Connection: keep-alive`)
//! and pipelined requests are answered in order, all the responses to one
//! read going out in one write. A malformed request gets 400 and the
//! connection is closed; so does a header block over 8 KiB (431) or a
//! request body over 1 MiB (413).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;

const MAX_HEADER: usize = 8192;
const MAX_REQUEST: usize = 1 << 20;
const BODY: &[u8] = b"Hello, World!";

thread_local! {
    /// (second, formatted Date value) cached per thread.
    static DATE: RefCell<(u64, [u8; 29])> = RefCell::new((u64::MAX, [0; 29]));
}

/// Writes an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for `secs`.
fn format_date(secs: u64, out: &mut [u8; 29]) {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86400;
    let sod = secs % 86400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    let two = |v: u64, o: &mut [u8]| {
        o[0] = b'0' + (v / 10) as u8;
        o[1] = b'0' + (v % 10) as u8;
    };
    out[0..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    two(day as u64, &mut out[5..7]);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    let y = year as u64;
    two(y / 100, &mut out[12..14]);
    two(y % 100, &mut out[14..16]);
    out[16] = b' ';
    two(sod / 3600, &mut out[17..19]);
    out[19] = b':';
    two(sod / 60 % 60, &mut out[20..22]);
    out[22] = b':';
    two(sod % 60, &mut out[23..25]);
    out[25..29].copy_from_slice(b" GMT");
}

fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != now {
            let mut buf = [0u8; 29];
            format_date(now, &mut buf);
            *d = (now, buf);
        }
        out.extend_from_slice(&d.1);
    });
}

fn respond(out: &mut Vec<u8>, status: &[u8], body: &[u8], close: bool) {
    // The same header set, in the same order, as every other server of
    // the suite: with pipelining the client parses every byte.
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status);
    out.extend_from_slice(b"\r\nServer: tokio\r\nContent-Type: text/plain\r\nContent-Length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    push_date(out);
    if close {
        out.extend_from_slice(b"\r\nConnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

fn find_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// What one parsed request asks for.
struct Request {
    len: usize,          // header bytes plus body
    plaintext: bool,     // GET /plaintext
    keep_alive: bool,
}

/// Parses the request whose header block is buf[..end]; None: malformed.
fn parse(buf: &[u8], end: usize) -> Option<Request> {
    let head = std::str::from_utf8(&buf[..end - 4]).ok()?;
    let mut lines = head.split("\r\n");
    let mut req = lines.next()?.split(' ');
    let method = req.next()?;
    let path = req.next()?;
    let version = req.next()?;
    if req.next().is_some() || method.is_empty() || !path.starts_with('/') {
        return None;
    }
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return None,
    };
    let mut body = 0usize;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            body = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return None; // chunked request bodies are not supported
        }
    }
    Some(Request {
        len: end.checked_add(body)?,
        plaintext: method == "GET" && path == "/plaintext",
        keep_alive,
    })
}

async fn serve(mut conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let mut inbuf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        inbuf.extend_from_slice(&chunk[..n]);
        let mut pos = 0;
        let mut close = false;
        while let Some(end) = find_end(&inbuf[pos..]) {
            match parse(&inbuf[pos..], end) {
                Some(r) if r.len > MAX_REQUEST => {
                    respond(&mut out, b"413 Payload Too Large", b"", true);
                    close = true;
                    break;
                }
                Some(r) if inbuf.len() - pos >= r.len => {
                    if r.plaintext {
                        respond(&mut out, b"200 OK", BODY, !r.keep_alive);
                    } else {
                        respond(&mut out, b"404 Not Found", b"Not Found", !r.keep_alive);
                    }
                    pos += r.len;
                    if !r.keep_alive {
                        close = true;
                        break;
                    }
                }
                Some(_) => break, // body not fully read yet
                None => {
                    respond(&mut out, b"400 Bad Request", b"Bad Request", true);
                    close = true;
                    break;
                }
            }
        }
        inbuf.drain(..pos);
        if !close && inbuf.len() > MAX_HEADER && find_end(&inbuf).is_none() {
            respond(&mut out, b"431 Request Header Fields Too Large", b"", true);
            close = true;
        }
        if !out.is_empty() {
            if conn.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            let _ = conn.shutdown().await;
            return;
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: tokio-http [--addr HOST:PORT] [--workers N]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut addr = String::from("127.0.0.1:8080");
    let mut workers = 0usize;
    let mut i = 0;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--addr", Some(a)) => addr = a.clone(),
            ("--workers", Some(w)) => workers = w.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
        i += 2;
    }
    let rt = match workers {
        1 => Builder::new_current_thread().enable_all().build(),
        0 => Builder::new_multi_thread().enable_all().build(),
        n => Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("runtime");
    rt.block_on(async move {
        let lis = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
            eprintln!("tokio-http: bind {}: {}", addr, e);
            std::process::exit(1);
        });
        eprintln!("tokio-http: listening on {}", lis.local_addr().expect("local_addr"));
        loop {
            match lis.accept().await {
                Ok((conn, _)) => {
                    tokio::spawn(serve(conn));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    });
}
