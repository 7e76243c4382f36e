//! tokio-echo: the Tokio peer of weft-echo, a TCP echo server.
//!
//!   tokio-echo [--addr 127.0.0.1:7000] [--workers N]
//!
//! Each connection reads up to 4096 bytes and writes them back until EOF.
//! --workers 1 runs on a current-thread runtime, more on a multi-thread
//! runtime with that many workers (default: one per CPU).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;

async fn serve(mut conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let mut buf = [0u8; 4096];
    loop {
        let n = match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if conn.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: tokio-echo [--addr HOST:PORT] [--workers N]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut addr = String::from("127.0.0.1:7000");
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
            eprintln!("tokio-echo: bind {}: {}", addr, e);
            std::process::exit(1);
        });
        eprintln!("tokio-echo: listening on {}", lis.local_addr().expect("local_addr"));
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
