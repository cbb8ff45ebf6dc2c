//! A TCP proxy in front of Postgres that tests can cut and restore, to
//! simulate the database going away (connections refused, open ones
//! dropped) and coming back.

use std::{net::SocketAddr, sync::Arc};

use tokio::{
    net::TcpListener,
    sync::{Mutex, broadcast},
    task::JoinHandle,
};

pub struct TcpProxy {
    pub addr: SocketAddr,
    target: String,
    cut: broadcast::Sender<()>,
    acceptor: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl TcpProxy {
    /// Proxies a local port to `target` (host:port).
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let (cut, _) = broadcast::channel(4);
        let p = Self {
            addr,
            target,
            cut,
            acceptor: Arc::new(Mutex::new(None)),
        };
        p.accept_on(listener).await;
        p
    }

    async fn accept_on(&self, listener: TcpListener) {
        let target = self.target.clone();
        let cut = self.cut.clone();
        let h = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let mut cut_rx = cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.recv() => {}
                    }
                });
            }
        });
        *self.acceptor.lock().await = Some(h);
    }

    /// Closes the port (new connections are refused) and drops open ones.
    pub async fn cut(&self) {
        if let Some(h) = self.acceptor.lock().await.take() {
            h.abort();
            let _ = h.await;
        }
        let _ = self.cut.send(());
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind proxy port");
        self.accept_on(listener).await;
    }

    /// `url` with its host:port replaced by the proxy's.
    pub fn rewrite(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("url with scheme");
        let (auth_host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let auth = auth_host
            .rsplit_once('@')
            .map(|(a, _)| format!("{a}@"))
            .unwrap_or_default();
        format!("{scheme}://{auth}{}/{path}", self.addr)
    }
}

/// host:port of a postgres URL.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let auth_host = rest.split('/').next().unwrap_or(rest);
    let hp = auth_host
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(auth_host);
    if hp.contains(':') {
        hp.to_string()
    } else {
        format!("{hp}:5432")
    }
}
