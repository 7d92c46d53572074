//! DICOM TLS (PS3.15 B.9) against real DCMTK on loopback, with certificates made by the
//! `openssl` command: DCMTK echoscu/storescu send to the node's TLS listener, the node sends
//! its results to DCMTK storescp listening with TLS, and clients without a certificate, with
//! an untrusted one or without TLS at all are refused while the node keeps serving.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::node::{free_port, hand_film, received, wait_for};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run a tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A test PKI in a folder: `ca`, `server` (SAN IP:127.0.0.1 and DNS:localhost), `client`
/// (all three RSA 2048, signed by the CA; `NAME.pem` and `NAME.key`) and `rogue`, a
/// self-signed client certificate the CA never saw.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let openssl = |args: &[&str]| {
            run(Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stdin(Stdio::null()))
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rajoints test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        let leaf_ext = "basicConstraints=critical,CA:FALSE\n\
                        keyUsage=critical,digitalSignature,keyEncipherment\n\
                        extendedKeyUsage=serverAuth,clientAuth\n";
        for (name, san) in [
            ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"),
            ("client", "subjectAltName=DNS:modality.test\n"),
        ] {
            std::fs::write(dir.join(format!("{name}.ext")), format!("{leaf_ext}{san}")).unwrap();
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                if name == "server" { "1001" } else { "1002" },
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ]);
        }
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "rogue.key",
            "-out",
            "rogue.pem",
            "-days",
            "2",
            "-subj",
            "/CN=client",
            "-addext",
            "extendedKeyUsage=serverAuth,clientAuth",
        ]);
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// DCMTK's TLS options: authenticated TLS with `name`'s key and certificate, trusting
    /// the test CA.
    fn dcmtk(&self, name: &str) -> Vec<String> {
        vec![
            "+tls".into(),
            self.path(&format!("{name}.key")),
            self.path(&format!("{name}.pem")),
            "+cf".into(),
            self.path("ca.pem"),
        ]
    }

    /// `--set` flags of a TLS listener with mutual TLS and of the sender's TLS.
    fn node_flags(&self) -> Vec<String> {
        [
            "node.tls.enabled=true".to_string(),
            "node.tls.listen=127.0.0.1:0".into(),
            format!("node.tls.certificate={}", self.path("server.pem")),
            format!("node.tls.private_key={}", self.path("server.key")),
            format!("node.tls.ca_certificates={}", self.path("ca.pem")),
            format!("node.sender.tls.ca_certificates={}", self.path("ca.pem")),
            format!("node.sender.tls.certificate={}", self.path("client.pem")),
            format!("node.sender.tls.private_key={}", self.path("client.key")),
        ]
        .into_iter()
        .flat_map(|s| ["--set".to_string(), s])
        .collect()
    }
}

/// A running node; killed on drop.
struct NodeProc {
    child: Child,
    /// The plain listener's port; None when it is switched off.
    port: Option<u16>,
    tls_port: u16,
    http: u16,
    stderr: PathBuf,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProc {
    fn start(data: &Path, destinations: &[String], extra: &[String]) -> NodeProc {
        let (a, s) = common::test_models();
        let stderr = data.with_extension(format!("log{}", free_port()));
        let mut cmd = common::rajoints(&["serve", "--http", "127.0.0.1:0"]);
        // A --listen flag in `extra` wins over this.
        cmd.args(["--set", "node.listen=127.0.0.1:0"]);
        cmd.arg("--data-dir").arg(data);
        for d in destinations {
            cmd.args(["--destination", d]);
        }
        cmd.args(["--set", &format!("models.ankylosis={}", a.display())]);
        cmd.args(["--set", &format!("models.subluxation={}", s.display())]);
        cmd.args([
            "--set",
            "node.sender.retry_initial_s=0.2",
            "--set",
            "node.sender.retry_max_s=0.5",
        ]);
        cmd.args(extra);
        cmd.stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let mut child = cmd.spawn().expect("start rajoints serve");
        let out = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        assert!(
            line.starts_with("listening"),
            "node did not start: {line}\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        let port_of = |key: &str| -> Option<u16> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.rsplit(':').next()?.trim().parse().ok())
        };
        NodeProc {
            port: port_of("dicom="),
            tls_port: port_of("dicom_tls=").expect("no TLS listener"),
            http: port_of("http=").unwrap(),
            child,
            stderr,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn counter(&self, name: &str) -> u64 {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut m = String::new();
        s.read_to_string(&mut m).unwrap();
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("rajoints_{name}_total ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no counter {name} in\n{m}"))
    }
}

/// DCMTK storescp writing into `dir`, with `tls` options if any; killed on drop.
struct StoreScp {
    child: Child,
    log: PathBuf,
}

impl Drop for StoreScp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn storescp(dir: &Path, port: u16, ae: &str, tls: &[String]) -> StoreScp {
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.with_extension("log");
    // Debug output: it shows the TLS session and the peer's certificate.
    let child = Command::new("storescp")
        .args(["-d", "-aet", ae, "+xa", "-od"])
        .arg(dir)
        .args(tls)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("storescp (DCMTK) not runnable: run `make test`");
    // Listening once the port is taken (a probe connection would be a failed TLS
    // handshake in its log).
    wait_for("storescp listening", Duration::from_secs(30), || {
        TcpListener::bind(("127.0.0.1", port)).is_err()
    });
    StoreScp { child, log }
}

/// A DCMTK tool against the node's AE on `port`, with extra options first.
fn dcmtk(tool: &str, port: u16, options: &[String], files: &[&Path]) -> Output {
    Command::new(tool)
        .args(options)
        .args(["-aec", "RAJOINTS", "127.0.0.1", &port.to_string()])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (DCMTK) not runnable ({e}): run `make test`"))
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_refused(what: &str, out: &Output) {
    assert!(
        !out.status.success(),
        "{what} should have been refused:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn mutual_tls_in_and_results_out_over_tls_and_plain() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&dir.path().join("pki"));
    let hand = dir.path().join("hand.dcm");
    hand_film(&hand, "2.25.8001");

    // Two destinations: DCMTK storescp with TLS, requiring the node's client certificate,
    // and a plain one.
    let (tls_port, plain_port) = (free_port(), free_port());
    let tls_dir = dir.path().join("dest-tls");
    let mut scp_tls_opts = pki.dcmtk("server");
    scp_tls_opts.push("--require-peer-cert".into());
    let scp_tls = storescp(&tls_dir, tls_port, "DESTTLS", &scp_tls_opts);
    let plain_dir = dir.path().join("dest");
    let _scp = storescp(&plain_dir, plain_port, "DEST", &[]);
    let node = NodeProc::start(
        &dir.path().join("data"),
        &[
            format!("DESTTLS@127.0.0.1:{tls_port}+tls"),
            format!("DEST@127.0.0.1:{plain_port}"),
        ],
        &pki.node_flags(),
    );

    let client = pki.dcmtk("client");
    assert_ok(
        "echoscu over TLS",
        &dcmtk("echoscu", node.tls_port, &client, &[]),
    );
    assert_ok(
        "storescu over TLS",
        &dcmtk("storescu", node.tls_port, &client, &[&hand]),
    );
    wait_for(
        "SR and GSPS at both destinations",
        Duration::from_secs(120),
        || {
            [&tls_dir, &plain_dir]
                .iter()
                .all(|d| received(d, "SR").len() == 1 && received(d, "PS").len() == 1)
        },
    );
    // The TLS destination got them over TLS (storescp there speaks nothing else), from the
    // node's client certificate.
    let scp_log = std::fs::read_to_string(&scp_tls.log).unwrap_or_default();
    for line in [
        "Transport connection: TLS over TCP/IP",
        "Subject     : /CN=client",
        "Issued by   : /CN=rajoints test CA",
    ] {
        assert!(
            scp_log.contains(line),
            "{line} not in the storescp log:\n{scp_log}"
        );
    }
    // storescp writes a file before it answers: the node counts it a moment later.
    wait_for("4 deliveries counted", Duration::from_secs(30), || {
        node.counter("sent") == 4
    });
    assert_eq!(node.counter("received"), 1);
    let log = node.log();
    let accepted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("association accepted"))
        .collect();
    assert!(
        accepted.len() == 2 && accepted.iter().all(|l| l.contains("TLSv1_")),
        "{log}"
    );
    assert_eq!(node.counter("tls_handshake_failures"), 0);
    assert!(
        !log.contains("Test^Phantom") && !log.contains("PHANTOM-1") && !log.contains("2.25.8001"),
        "{log}"
    );
}

#[test]
fn refused_clients_leave_the_node_serving() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&dir.path().join("pki"));
    let hand = dir.path().join("hand.dcm");
    hand_film(&hand, "2.25.8101");
    let node = NodeProc::start(&dir.path().join("data"), &[], &pki.node_flags());
    let plain_port = node.port.expect("plain listener");

    // No client certificate (DCMTK anonymous TLS), a self-signed one, and no TLS at all.
    let anonymous = vec!["+tla".to_string(), "+cf".into(), pki.path("ca.pem")];
    assert_refused(
        "storescu without a client certificate",
        &dcmtk("storescu", node.tls_port, &anonymous, &[&hand]),
    );
    assert_refused(
        "storescu with a rogue certificate",
        &dcmtk("storescu", node.tls_port, &pki.dcmtk("rogue"), &[&hand]),
    );
    assert_refused(
        "plain storescu on the TLS port",
        &dcmtk("storescu", node.tls_port, &[], &[&hand]),
    );
    // After all that, both listeners still serve.
    assert_ok(
        "storescu with the CA's client certificate",
        &dcmtk("storescu", node.tls_port, &pki.dcmtk("client"), &[&hand]),
    );
    assert_ok(
        "plain storescu on the plain port",
        &dcmtk("storescu", plain_port, &[], &[&hand]),
    );
    assert_eq!(node.counter("tls_handshake_failures"), 3);
    assert_eq!(node.counter("associations"), 2);
    let log = node.log();
    assert!(log.contains("TLS handshake failed"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn tls_only_node_with_optional_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&dir.path().join("pki"));
    let mut flags = pki.node_flags();
    flags.extend(
        [
            "--listen",
            "",
            "--set",
            "node.tls.require_client_certificate=false",
            "--set",
            "node.read_timeout_s=2",
        ]
        .map(String::from),
    );
    let node = NodeProc::start(&dir.path().join("data"), &[], &flags);
    assert_eq!(node.port, None, "plain listener should be off");
    let anonymous = vec!["+tla".to_string(), "+cf".into(), pki.path("ca.pem")];
    assert_ok(
        "echoscu without a client certificate",
        &dcmtk("echoscu", node.tls_port, &anonymous, &[]),
    );
    assert_ok(
        "echoscu with a client certificate",
        &dcmtk("echoscu", node.tls_port, &pki.dcmtk("client"), &[]),
    );
    // TLS 1.3 and 1.2 are offered; 1.1 is refused by the node (the client is allowed to
    // try it, so the alert comes from the node).
    for (version, ok) in [("-tls1_3", true), ("-tls1_2", true), ("-tls1_1", false)] {
        let out = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", node.tls_port),
            ])
            .args([version, "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile"])
            .arg(pki.path("ca.pem"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let expected = format!("New, TLSv1.{}, Cipher is", &version[6..]);
        if ok {
            assert!(
                text.contains(&expected) && text.contains("Verify return code: 0 (ok)"),
                "{version}:\n{text}"
            );
        } else {
            assert!(
                text.contains("alert handshake failure") || text.contains("alert protocol version"),
                "{version}:\n{text}"
            );
        }
    }
    // A certificate that is sent is still verified.
    assert_refused(
        "echoscu with a rogue certificate",
        &dcmtk("echoscu", node.tls_port, &pki.dcmtk("rogue"), &[]),
    );
    // A connection that never starts the handshake is dropped after the read timeout.
    let before = node.counter("tls_handshake_failures");
    let t = Instant::now();
    let idle = std::net::TcpStream::connect(("127.0.0.1", node.tls_port)).unwrap();
    wait_for(
        "the idle connection dropped",
        Duration::from_secs(20),
        || node.counter("tls_handshake_failures") == before + 1,
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "dropped before the 2 s read timeout"
    );
    drop(idle);
    assert_ok(
        "echoscu after the idle connection",
        &dcmtk("echoscu", node.tls_port, &anonymous, &[]),
    );
}

#[test]
fn untrusted_destination_certificate_is_not_sent_to() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&dir.path().join("pki"));
    // The destination presents the rogue, self-signed certificate.
    let port = free_port();
    let dest = dir.path().join("dest");
    let _scp = storescp(
        &dest,
        port,
        "DESTTLS",
        &[
            "+tls".into(),
            pki.path("rogue.key"),
            pki.path("rogue.pem"),
            "+cf".into(),
            pki.path("ca.pem"),
        ],
    );
    let node = NodeProc::start(
        &dir.path().join("data"),
        &[format!("DESTTLS@127.0.0.1:{port}+tls")],
        &pki.node_flags(),
    );
    let hand = dir.path().join("hand.dcm");
    hand_film(&hand, "2.25.8201");
    assert_ok(
        "storescu over TLS",
        &dcmtk("storescu", node.tls_port, &pki.dcmtk("client"), &[&hand]),
    );
    wait_for("failed delivery attempts", Duration::from_secs(120), || {
        node.counter("retries") >= 2
    });
    assert_eq!(node.counter("sent"), 0);
    assert!(received(&dest, "SR").is_empty());
}

/// `rajoints serve` with `flags`: must exit non-zero with a message naming `expect`,
/// without panicking and before listening.
fn refuses_to_start(dir: &Path, flags: &[String], expect: &str) {
    let stderr = dir.join("refused.log");
    let mut child = common::rajoints(&["serve", "--http", ""])
        // A --listen flag in `flags` wins over this.
        .args(["--set", "node.listen=127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    // A configuration that is wrongly accepted would serve forever: bounded wait.
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{flags:?}: the node started");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(
        !status.success() && status.code().is_some(),
        "{flags:?}: {err}"
    );
    assert!(
        err.contains(expect),
        "{flags:?}: expected `{expect}` in:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_tls_configuration_stops_the_node_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&dir.path().join("pki"));
    let set = |kv: &[&str]| -> Vec<String> {
        let mut f = pki.node_flags();
        for s in kv {
            f.extend(["--set".to_string(), s.to_string()]);
        }
        f
    };
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    for (flags, expect) in [
        (
            set(&[&format!("node.tls.certificate={}", missing.display())]),
            format!("node.tls.certificate: cannot read {}", missing.display()),
        ),
        (
            set(&[&format!("node.tls.certificate={}", garbage.display())]),
            "node.tls.certificate".to_string(),
        ),
        (
            set(&[&format!("node.tls.private_key={}", pki.path("client.key"))]),
            "node.tls.private_key: the private key does not belong".to_string(),
        ),
        (
            set(&[&format!("node.tls.private_key={}", pki.path("server.pem"))]),
            "holds no unencrypted PEM private key".to_string(),
        ),
        (
            set(&[&format!("node.tls.ca_certificates={}", garbage.display())]),
            "node.tls.ca_certificates".to_string(),
        ),
        (set(&["node.tls.listen="]), "node.tls.listen".to_string()),
        (
            set(&["node.tls.ca_certificates="]),
            "node.tls.ca_certificates".to_string(),
        ),
        (
            set(&["node.sender.tls.private_key="]),
            "node.sender.tls.certificate".to_string(),
        ),
        (
            [
                "--listen",
                "",
                "--destination",
                "PACS@127.0.0.1:104+tls",
                "--set",
                "node.tls.enabled=true",
                "--set",
                "node.tls.listen=127.0.0.1:0",
                "--set",
                "node.tls.require_client_certificate=false",
                "--set",
                &format!("node.tls.certificate={}", pki.path("server.pem")),
                "--set",
                &format!("node.tls.private_key={}", pki.path("server.key")),
            ]
            .map(String::from)
            .to_vec(),
            "node.sender.tls.ca_certificates: is empty".to_string(),
        ),
        (
            ["--destination", "PACS@127.0.0.1:104+ssl"]
                .map(String::from)
                .to_vec(),
            "unknown suffix `+ssl`".to_string(),
        ),
        (
            ["--listen", ""].map(String::from).to_vec(),
            "node.listen".to_string(),
        ),
    ] {
        refuses_to_start(dir.path(), &flags, &expect);
    }
}
