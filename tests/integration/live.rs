//! Live capture end to end: when this process may capture (root) and can
//! make a network namespace, `tcpladder live --no-tui --json` watches a
//! listener and a client talk on the namespace's loopback, and the tracked
//! connection must be the one they made. Otherwise the test says it is
//! skipped, and why.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn can_capture() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root (live capture needs CAP_NET_RAW)".into());
    }
    for tool in ["ip", "python3"] {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("{tool} is not installed"));
        }
    }
    Ok(())
}

/// A namespace of our own, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Result<Netns, String> {
        // One a test: tests of one process run at once.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("tl-test-{}-{n}", std::process::id());
        let run = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    if s.success() {
                        Ok(())
                    } else {
                        Err(format!("ip {args:?} failed"))
                    }
                })
        };
        run(&["netns", "add", &name])?;
        let ns = Netns(name);
        run(&["-n", &ns.0, "link", "set", "lo", "up"])?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

impl Netns {
    /// The words that run a command inside the namespace, for a shell.
    fn exec_line(&self) -> String {
        format!("ip netns exec {}", self.0)
    }

    /// `TRAFFIC` inside the namespace: one connection, 127.0.0.1:40611 to
    /// :9611, to its end.
    fn run_traffic(&self) {
        let traffic = self
            .exec()
            .args(["python3", "-c", TRAFFIC])
            .status()
            .expect("run the client and server");
        assert!(traffic.success(), "the test traffic failed");
    }

    /// A command run inside the namespace.
    fn exec(&self) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]);
        c
    }

    /// `iptables RULE` (words apart by spaces) inside the namespace;
    /// whether it took.
    fn iptables(&self, rule: &str) -> bool {
        self.exec()
            .arg("iptables")
            .args(rule.split_whitespace())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// A namespace to capture in, or None once the test said why it is
/// skipped.
fn namespace(test: &str) -> Option<Netns> {
    if let Err(why) = can_capture() {
        println!("{test}: SKIPPED — {why}");
        return None;
    }
    match Netns::new() {
        Ok(ns) => Some(ns),
        Err(why) => {
            println!("{test}: SKIPPED — cannot create a network namespace: {why}");
            None
        }
    }
}

/// Waits for `tcpladder live` to end successfully: its stdout and stderr.
fn finished(child: std::process::Child) -> (Vec<u8>, String) {
    let out = child.wait_with_output().expect("tcpladder live ends");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    (out.stdout, stderr)
}

const TRAFFIC: &str = r#"
import socket, threading, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 9611))
srv.listen()
def serve():
    c, _ = srv.accept()
    c.recv(100)
    c.sendall(b"pong\n")
    c.recv(100)
    time.sleep(0.1)
    c.close()
t = threading.Thread(target=serve)
t.start()
c = socket.socket()
c.bind(("127.0.0.1", 40611))
c.connect(("127.0.0.1", 9611))
c.sendall(b"ping\n")
c.recv(100)
c.close()
t.join()
"#;

#[test]
fn live_capture_tracks_a_real_connection() {
    let Some(ns) = namespace("live capture test") else {
        return;
    };
    let saved = std::env::temp_dir().join(format!("tl-live-{}.pcap", std::process::id()));
    let _ = std::fs::remove_file(&saved);
    let child = ns
        .exec()
        .arg(env!("CARGO_BIN_EXE_tcpladder"))
        .args(["live", "-i", "lo", "-p", "9611", "--no-tui", "--json"])
        .args(["--duration", "4", "--no-kernel", "-w"])
        .arg(&saved)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpladder live");
    // Let libpcap open the device before the first SYN.
    std::thread::sleep(Duration::from_millis(1200));
    ns.run_traffic();
    let (stdout, stderr) = finished(child);
    let doc: serde_json::Value = serde_json::from_slice(&stdout).expect("live --json prints JSON");
    let conns = doc["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 1, "{doc:#}");
    let c = &conns[0];
    assert_eq!(c["client"], "127.0.0.1:40611");
    assert_eq!(c["server"], "127.0.0.1:9611");
    assert_eq!(c["opening"], "three-way");
    assert_eq!(c["closing"], "fin");
    assert_eq!(c["closed_by"], "client");
    let last = |k: &str| c[k].as_array().and_then(|v| v.last()).cloned();
    assert_eq!(last("client_states"), Some("TIME-WAIT".into()));
    assert_eq!(last("server_states"), Some("CLOSED".into()));
    assert_eq!(c["segments"].as_array().map(Vec::len), Some(11), "{c:#}");
    assert!(stderr.contains("kernel dropped 0"), "{stderr}");
    // `-w` kept every packet: the file analysed gives the same document.
    let again = Command::new(env!("CARGO_BIN_EXE_tcpladder"))
        .args(["analyze", "--json"])
        .arg(&saved)
        .output()
        .expect("analyze the saved capture");
    let _ = std::fs::remove_file(&saved);
    let from_file: serde_json::Value =
        serde_json::from_slice(&again.stdout).expect("analyze --json prints JSON");
    assert_eq!(from_file, doc, "the -w file replays differently");
}

/// A SYN rejected by an ICMP error: live capture takes the error in as
/// well (its filter passes ICMP errors), and the client ends CLOSED with
/// the errno connect() returned.
const REJECTED: &str = r#"
import socket, errno
c = socket.socket()
c.bind(("127.0.0.1", 40612))
try:
    c.connect(("127.0.0.1", 9612))
    print("connected")
except OSError as e:
    print(errno.errorcode[e.errno])
"#;

#[test]
fn live_capture_takes_an_icmp_error_that_ends_connect() {
    let has_iptables = Command::new("sh")
        .args(["-c", "command -v iptables"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_iptables {
        println!("live ICMP test: SKIPPED — iptables is not installed");
        return;
    }
    let Some(ns) = namespace("live ICMP test") else {
        return;
    };
    // In INPUT, so the SYN crosses lo (and the capture) before the reject.
    let rule = "-A INPUT -p tcp --dport 9612 -j REJECT --reject-with icmp-host-unreachable";
    assert!(ns.iptables(rule), "iptables in the test namespace failed");
    let child = ns
        .exec()
        .arg(env!("CARGO_BIN_EXE_tcpladder"))
        .args(["live", "-i", "lo", "-p", "9612", "--no-tui", "--json"])
        .args(["--duration", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpladder live");
    std::thread::sleep(Duration::from_millis(1200));
    let client = ns
        .exec()
        .args(["python3", "-c", REJECTED])
        .output()
        .expect("run the client");
    assert_eq!(
        String::from_utf8_lossy(&client.stdout).trim(),
        "EHOSTUNREACH"
    );
    let (stdout, _) = finished(child);
    let doc: serde_json::Value = serde_json::from_slice(&stdout).expect("live --json prints JSON");
    let c = &doc["connections"][0];
    assert_eq!(c["opening"], "unreachable", "{doc:#}");
    assert_eq!(
        c["client_states"],
        serde_json::json!(["CLOSED", "SYN-SENT", "CLOSED"])
    );
    // On loopback the first error may come back while connect() holds the
    // socket: Linux then only notes it and resends the SYN, so the error
    // that ended connect() is the last one.
    let icmp = c["icmp"]
        .as_array()
        .and_then(|v| v.last())
        .expect("an ICMP error");
    assert_eq!(icmp["meaning"], "host unreachable", "{c:#}");
    assert_eq!(icmp["errno"], "EHOSTUNREACH");
}

/// The client aborts (SO_LINGER 0) and a filter in the server's namespace
/// drops the RST after the capture saw it: the capture says the server is
/// CLOSED, its kernel keeps it ESTABLISHED.
const RST_DROPPED: &str = r#"
import socket, struct, threading, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 9613))
srv.listen()
def serve():
    c, _ = srv.accept()
    c.recv(100)
    time.sleep(3)
    c.close()
t = threading.Thread(target=serve)
t.start()
c = socket.create_connection(("127.0.0.1", 9613))
c.sendall(b"ping\n")
time.sleep(0.2)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
t.join()
"#;

/// As root with tracefs, `live` reads the kernel's own state changes of
/// the port's sockets beside the packets: they agree where the capture can
/// know, and the one place it cannot (an RST dropped behind the capture
/// point) is reported as a disagreement. The tracefs instance is gone
/// afterwards.
#[test]
fn live_reads_the_kernels_own_states_and_reports_where_they_part() {
    if !std::path::Path::new("/sys/kernel/tracing/instances").is_dir() {
        println!("live kernel test: SKIPPED — tracefs is not mounted");
        return;
    }
    let Some(ns) = namespace("live kernel test") else {
        return;
    };
    let rule = "-A INPUT -p tcp --dport 9613 --tcp-flags RST RST -j DROP";
    if !ns.iptables(rule) {
        println!("live kernel test: SKIPPED — iptables in the namespace failed");
        return;
    }
    // `ip netns exec` mounts a fresh /sys without tracefs: mount it in the
    // command's own mount namespace.
    let bin = env!("CARGO_BIN_EXE_tcpladder");
    let child = ns
        .exec()
        .args(["sh", "-c"])
        .arg(format!(
            "mount -t tracefs nodev /sys/kernel/tracing && exec {bin} live -i lo -p 9613 \
             --no-tui --json --duration 2.5"
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpladder live");
    std::thread::sleep(Duration::from_millis(1200));
    let traffic = ns
        .exec()
        .args(["python3", "-c", RST_DROPPED])
        .status()
        .expect("run the client and server");
    assert!(traffic.success(), "the test traffic failed");
    let (stdout, stderr) = finished(child);
    assert!(!stderr.contains("no kernel states"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&stdout).expect("live --json prints JSON");
    let c = &doc["connections"][0];
    let k = &c["kernel"];
    assert_eq!(k["client_states"], c["client_states"], "{c:#}");
    assert_eq!(
        k["server_states"],
        serde_json::json!(["LISTEN", "SYN-RECEIVED", "ESTABLISHED"]),
        "{k:#}"
    );
    assert_eq!(
        c["server_states"].as_array().and_then(|v| v.last()),
        Some(&"CLOSED".into())
    );
    let d = k["disagreements"].as_array().expect("disagreements");
    assert_eq!(d.len(), 1, "{k:#}");
    assert_eq!(
        (&d[0]["side"], &d[0]["kernel"], &d[0]["inferred"]),
        (&"server".into(), &"ESTABLISHED".into(), &"CLOSED".into())
    );
    let left = std::fs::read_dir("/sys/kernel/tracing/instances")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("tcpladder-"))
                .filter(|n| !std::path::Path::new("/proc").join(&n[10..]).exists())
                .count()
        })
        .unwrap_or(0);
    assert_eq!(left, 0, "a tracefs instance was left behind");
}

/// A connection storm (tests/programs/storm.c: two client threads making
/// connections one after another from their own loopback addresses, about
/// 200 k packets a second here) while `live` captures: every connection
/// made is seen, and the kernel dropped nothing.
#[test]
fn live_sees_every_connection_of_a_storm() {
    let dir = std::env::temp_dir().join(format!("tl-storm-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let exe = dir.join("storm");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/storm.c");
    let built = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .status();
    if !built.is_ok_and(|s| s.success()) {
        println!("live storm test: SKIPPED — no C compiler to build storm.c");
        return;
    }
    let Some(ns) = namespace("live storm test") else {
        return;
    };
    let child = ns
        .exec()
        .arg(env!("CARGO_BIN_EXE_tcpladder"))
        .args(["live", "-i", "lo", "-p", "9614", "--no-tui", "--no-kernel"])
        .args(["--duration", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpladder live");
    std::thread::sleep(Duration::from_millis(1200));
    let storm = ns
        .exec()
        .arg(&exe)
        .args(["9614", "1.5", "2"])
        .output()
        .expect("run the storm");
    let made: usize = String::from_utf8_lossy(&storm.stdout)
        .trim()
        .parse()
        .expect("the storm prints how many connections it made");
    let (_, stderr) = finished(child);
    let _ = std::fs::remove_dir_all(&dir);
    let summary = stderr.lines().last().unwrap_or_default();
    let seen: usize = summary
        .split(" connection(s)")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no connection count in {summary:?}"));
    assert!(made > 1000, "the storm made only {made} connections");
    assert_eq!(seen, made, "{summary}");
    assert!(
        summary.contains("kernel dropped 0 (interface 0)"),
        "{summary}"
    );
}

/// The live TUI spools what it captures to a temporary pcap file: `w`
/// saves everything so far (a capture that analyses to the connection the
/// screen shows), and the spool is gone once the UI quits.
#[test]
fn the_live_tui_spools_and_w_saves_the_capture() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("live spool test: SKIPPED — tmux is not installed");
        return;
    }
    let Some(ns) = namespace("live spool test") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("tl-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = format!("tl-spool-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &sock])
            .args(args)
            .output()
            .expect("tmux")
    };
    let screen = || String::from_utf8_lossy(&tmux(&["capture-pane", "-p"]).stdout).into_owned();
    let wait_for = |what: &str| {
        for _ in 0..50 {
            if screen().contains(what) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    };
    // The UI's own folder for what it saves, and TMPDIR for its spool.
    let cmd = format!(
        "cd {d} && TMPDIR={d} {ns} {bin} live -i lo -p 9611 --no-kernel; sleep 30",
        d = dir.display(),
        ns = ns.exec_line(),
        bin = env!("CARGO_BIN_EXE_tcpladder"),
    );
    tmux(&["new-session", "-d", "-x", "140", "-y", "40", &cmd]);
    assert!(wait_for("waiting for TCP segments"), "{}", screen());
    // The files in `dir` whose names begin with `prefix`.
    let named = |prefix: &str| -> Vec<PathBuf> {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect()
    };
    let spools = || named("tcpladder-live-");
    assert_eq!(spools().len(), 1, "one spool while capturing");
    ns.run_traffic();
    assert!(wait_for("TIME-WAIT"), "{}", screen());
    tmux(&["send-keys", "W"]);
    assert!(wait_for("saved "), "{}", screen());
    let saved = named("tcpladder-capture-");
    assert_eq!(saved.len(), 1, "{}", screen());
    // `w`: the selected connection's packets, copied from the spool.
    tmux(&["send-keys", "Escape", "w"]);
    assert!(wait_for("packets to "), "{}", screen());
    let one = named("tcpladder-connection-1-");
    assert_eq!(one.len(), 1, "{}", screen());
    tmux(&["send-keys", "q"]);
    std::thread::sleep(Duration::from_millis(1500));
    let left = spools();
    tmux(&["kill-server"]);
    let out = Command::new(env!("CARGO_BIN_EXE_tcpladder"))
        .args(["analyze", "--json"])
        .arg(&saved[0])
        .output()
        .expect("analyze the saved capture");
    let alone = Command::new(env!("CARGO_BIN_EXE_tcpladder"))
        .args(["analyze", "--json"])
        .arg(&one[0])
        .output()
        .expect("analyze the saved connection");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(left.is_empty(), "the spool is left behind: {left:?}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let conns = doc["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 1, "{doc:#}");
    assert_eq!(conns[0]["client"], "127.0.0.1:40611");
    assert_eq!(conns[0]["segments"].as_array().map(Vec::len), Some(11));
    // The connection saved alone is the same connection.
    let doc: serde_json::Value = serde_json::from_slice(&alone.stdout).expect("JSON");
    let conns = doc["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 1, "{doc:#}");
    assert_eq!(conns[0]["segments"].as_array().map(Vec::len), Some(11));
}
