//! A small HTTP/1.1 client for the review UI's tests: one request per connection, the
//! session cookie and CSRF token carried by [`Client`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..start + size]);
        b = &b[start + size + 2..];
    }
}

/// One request; `headers` are added to Host, Connection and Content-Length.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the node's HTTP port");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

/// A logged-in user.
pub struct Client {
    pub port: u16,
    pub cookie: String,
    pub csrf: String,
}

/// Posts the login form; the response (a redirect either way).
pub fn login(port: u16, user: &str, password: &str) -> Response {
    let body = format!("username={user}&password={password}");
    request(
        port,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &format!("http://127.0.0.1:{port}")),
        ],
        body.as_bytes(),
    )
}

impl Client {
    pub fn login(port: u16, user: &str, password: &str) -> Client {
        let r = login(port, user, password);
        assert_eq!(r.status, 303, "login of {user}: {r:?}");
        let set = r
            .header("set-cookie")
            .unwrap_or_else(|| panic!("no session cookie for {user}: {r:?}"));
        let cookie = set.split(';').next().unwrap().to_string();
        let mut c = Client {
            port,
            cookie,
            csrf: String::new(),
        };
        let me = c.get("/api/me");
        assert_eq!(me.status, 200, "{me:?}");
        c.csrf = me.json()["csrf"].as_str().unwrap().to_string();
        c
    }

    pub fn get(&self, path: &str) -> Response {
        request(self.port, "GET", path, &[("Cookie", &self.cookie)], b"")
    }

    /// A change with the session's CSRF token.
    pub fn send(&self, method: &str, path: &str, body: &serde_json::Value) -> Response {
        self.send_with_token(method, path, body, Some(&self.csrf))
    }

    pub fn send_with_token(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
        token: Option<&str>,
    ) -> Response {
        let mut h = vec![
            ("Cookie", self.cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        if let Some(t) = token {
            h.push(("X-CSRF-Token", t));
        }
        request(self.port, method, path, &h, body.to_string().as_bytes())
    }
}
