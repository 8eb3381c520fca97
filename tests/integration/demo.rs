//! `tcpladder demo` end to end: each scenario is run for real (in the
//! demo's own namespaces) and its `--json` checked against the order the
//! socket tutorials give: connect() entered before the SYN and returned
//! after the SYN,ACK, accept() after the final ACK reached the server,
//! read() = 0 after the FIN, each failure's errno, and the states tcpladder
//! infers. The delayed path needs root (TUN devices); without it the tests
//! say they are skipped and why. Interrupting a run must leave no
//! namespace, interface, process or file behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const DELAY: f64 = 0.020;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcpladder")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Why the demo cannot run here, if it cannot.
fn skip() -> Option<String> {
    if !is_root() {
        return Some("not root: the demo's delayed path needs TUN devices".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    None
}

macro_rules! need_demo {
    () => {
        if let Some(why) = skip() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// A scratch folder for TMPDIR, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("tl-demo-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn files(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `demo SCENARIO --json ARGS` and returns its connections.
fn demo(scenario: &str, args: &[&str]) -> Vec<Value> {
    demo_doc(scenario, args)["connections"]
        .as_array()
        .unwrap()
        .clone()
}

/// Runs `demo SCENARIO --json ARGS` and returns its document.
fn demo_doc(scenario: &str, args: &[&str]) -> Value {
    let tmp = Scratch::new(scenario);
    let out = Command::new(bin())
        .args(["demo", scenario, "--json"])
        .args(args)
        .env("TMPDIR", &tmp.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo {scenario} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        tmp.files().is_empty(),
        "the temporary capture was left behind: {:?}",
        tmp.files()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn delayed(scenario: &str) -> Vec<Value> {
    demo(scenario, &["--delay", "20ms"])
}

fn only(conns: &[Value]) -> &Value {
    assert_eq!(conns.len(), 1, "{conns:#?}");
    &conns[0]
}

fn flags(s: &Value) -> Vec<&str> {
    s["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

/// The capture time of the first segment from `from` whose flags are
/// exactly `want` (and, with `data`, that carries payload or not).
fn seg(c: &Value, from: &str, want: &[&str], data: Option<bool>) -> f64 {
    c["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            let mut f = flags(s);
            f.sort_unstable();
            let mut w = want.to_vec();
            w.sort_unstable();
            s["from"] == from && f == w && data.is_none_or(|d| (s["len"].as_u64() > Some(0)) == d)
        })
        .unwrap_or_else(|| panic!("no {want:?} from the {from}: {:#?}", c["segments"]))["time"]
        .as_f64()
        .unwrap()
}

/// The `nth` (0-based) call `name` made by `side`.
fn call<'a>(c: &'a Value, side: &str, name: &str, nth: usize) -> &'a Value {
    c["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["side"] == side && x["call"] == name)
        .nth(nth)
        .unwrap_or_else(|| panic!("no {side} {name} #{nth}: {:#?}", c["calls"]))
}

fn t(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap()
}

fn states(c: &Value, side: &str) -> Vec<String> {
    c[format!("{side}_states")]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// connect() blocks for the handshake's first round trip, accept() until
/// the final ACK reached the server (a one-way delay after the capture at
/// the client saw it).
fn check_handshake(c: &Value) {
    let syn = seg(c, "client", &["SYN"], None);
    let synack = seg(c, "server", &["SYN", "ACK"], None);
    let ack = seg(c, "client", &["ACK"], Some(false));
    let connect = call(c, "client", "connect", 0);
    assert_eq!(connect["result"], "0");
    assert!(t(connect, "entered") < syn, "connect entered after the SYN");
    assert!(
        t(connect, "returned") > synack,
        "connect returned before the SYN,ACK"
    );
    assert!(
        synack - syn >= 2.0 * DELAY * 0.95,
        "the SYN,ACK came {:.6} s after the SYN: no delayed path",
        synack - syn
    );
    let accept = call(c, "server", "accept", 0);
    assert!(
        t(accept, "returned") >= ack + DELAY * 0.95,
        "accept returned {:.6} s after the final ACK left the client",
        t(accept, "returned") - ack
    );
}

#[test]
fn list_names_every_scenario_first() {
    let out = Command::new(bin())
        .args(["demo", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    for want in [
        "client-close",
        "server-close",
        "refused",
        "syn-timeout",
        "host-unreachable",
        "half-close",
        "linger-rst",
        "unread-rst",
        "backlog-full",
        "simultaneous-close",
        "reuse-time-wait",
    ] {
        assert!(names.contains(&want), "{want} missing from\n{text}");
    }
    for l in text.lines() {
        let name = l.split_whitespace().next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
        assert!(l.len() > name.len() + 10, "no description: {l}");
    }
}

#[test]
fn unknown_scenario_is_a_usage_error() {
    let out = Command::new(bin()).args(["demo", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("client-close"));
}

#[test]
fn client_close() {
    need_demo!();
    let doc = demo_doc("client-close", &["--delay", "20ms"]);
    assert_eq!(doc["demo"]["path"], "tun");
    assert_eq!(doc["demo"]["delay"], DELAY);
    assert!(doc["demo"]["late_max"].as_f64().unwrap() >= 0.0);
    let conns = doc["connections"].as_array().unwrap();
    let c = only(conns);
    check_handshake(c);
    let fin = seg(c, "client", &["FIN", "ACK"], None);
    let close = call(c, "client", "close", 0);
    assert!(t(close, "entered") < fin && fin < t(close, "returned") + 0.001);
    let eof = call(c, "server", "read", 1);
    assert_eq!(eof["result"], "0");
    assert!(
        t(eof, "returned") >= fin + DELAY * 0.95,
        "read() = 0 before the FIN arrived"
    );
    assert_eq!(states(c, "client").last().unwrap(), "TIME-WAIT");
    assert_eq!(states(c, "server").last().unwrap(), "CLOSED");
    assert_eq!(c["closed_by"], "client");
}

#[test]
fn server_close() {
    need_demo!();
    let conns = delayed("server-close");
    let c = only(&conns);
    check_handshake(c);
    let fin = seg(c, "server", &["FIN", "ACK"], None);
    let eof = call(c, "client", "read", 1);
    assert_eq!(eof["result"], "0");
    assert!(t(eof, "returned") > fin, "read() = 0 before the FIN");
    assert_eq!(states(c, "server").last().unwrap(), "TIME-WAIT");
    assert_eq!(c["closed_by"], "server");
}

#[test]
fn refused() {
    need_demo!();
    let conns = delayed("refused");
    let c = only(&conns);
    let syn = seg(c, "client", &["SYN"], None);
    let rst = seg(c, "server", &["RST", "ACK"], None);
    let connect = call(c, "client", "connect", 0);
    assert_eq!(connect["result"], "-1 ECONNREFUSED");
    assert!(t(connect, "entered") < syn && t(connect, "returned") > rst);
    assert_eq!(c["opening"], "refused");
    assert_eq!(states(c, "client"), ["CLOSED", "SYN-SENT", "CLOSED"]);
}

#[test]
fn syn_timeout() {
    need_demo!();
    let conns = delayed("syn-timeout");
    let c = only(&conns);
    let connect = call(c, "client", "connect", 0);
    assert_eq!(connect["result"], "-1 ETIMEDOUT");
    let blocked = t(connect, "returned") - t(connect, "entered");
    // tcp_syn_retries = 1: Linux gives up 3 s after the first SYN.
    assert!((2.5..6.0).contains(&blocked), "connect blocked {blocked} s");
    let syns = c["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| flags(s) == ["SYN"])
        .count();
    assert!(syns >= 2, "{syns} SYN(s)");
    assert!(t(connect, "entered") < seg(c, "client", &["SYN"], None));
    assert_eq!(c["opening"], "unanswered");
    assert_eq!(states(c, "client").last().unwrap(), "CLOSED");
}

#[test]
fn host_unreachable() {
    need_demo!();
    let conns = delayed("host-unreachable");
    let c = only(&conns);
    let connect = call(c, "client", "connect", 0);
    assert_eq!(connect["result"], "-1 EHOSTUNREACH");
    let icmp = &c["icmp"][0];
    assert_eq!(icmp["errno"], "EHOSTUNREACH");
    assert!(t(connect, "returned") > t(icmp, "time"));
    assert!(t(connect, "entered") < seg(c, "client", &["SYN"], None));
    assert_eq!(c["opening"], "unreachable");
}

#[test]
fn half_close() {
    need_demo!();
    let conns = delayed("half-close");
    let c = only(&conns);
    check_handshake(c);
    let fin = seg(c, "client", &["FIN", "ACK"], None);
    let shutdown = call(c, "client", "shutdown", 0);
    assert_eq!(shutdown["detail"], "SHUT_WR");
    assert!(t(shutdown, "entered") < fin);
    let eof = call(c, "server", "read", 1);
    assert_eq!(eof["result"], "0");
    assert!(t(eof, "returned") >= fin + DELAY * 0.95);
    // The reply travels after the client's FIN.
    let reply = seg(c, "server", &["PSH", "ACK"], Some(true));
    assert!(reply > fin);
    assert_eq!(c["half_close"], true);
    let client_eof = call(c, "client", "read", 1);
    assert_eq!(client_eof["result"], "0");
    assert!(t(client_eof, "returned") > seg(c, "server", &["FIN", "ACK"], None));
}

#[test]
fn linger_rst() {
    need_demo!();
    let conns = delayed("linger-rst");
    let c = only(&conns);
    check_handshake(c);
    let opt = call(c, "client", "setsockopt", 0);
    assert_eq!(opt["detail"], "SO_LINGER {on, 0}");
    let rst = seg(c, "client", &["RST", "ACK"], None);
    let close = call(c, "client", "close", 0);
    assert!(t(close, "entered") < rst);
    let read = call(c, "server", "read", 1);
    assert_eq!(read["result"], "-1 ECONNRESET");
    assert!(t(read, "returned") >= rst + DELAY * 0.95);
    assert_eq!(c["closing"], "reset");
}

#[test]
fn unread_rst() {
    need_demo!();
    let conns = delayed("unread-rst");
    let c = only(&conns);
    check_handshake(c);
    // The request was never read: only peeked at.
    assert!(
        c["calls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| !(x["side"] == "server" && x["call"] == "read"))
    );
    let rst = seg(c, "server", &["RST", "ACK"], None);
    let read = call(c, "client", "read", 0);
    assert_eq!(read["result"], "-1 ECONNRESET");
    assert!(t(read, "returned") > rst);
    assert_eq!(c["closing"], "reset");
}

#[test]
fn backlog_full() {
    need_demo!();
    let conns = delayed("backlog-full");
    assert_eq!(conns.len(), 3, "{conns:#?}");
    let listen = call(&conns[0], "server", "listen", 0);
    assert_eq!(listen["detail"], "backlog 1");
    for c in &conns[..2] {
        assert_eq!(call(c, "client", "connect", 0)["result"], "0");
        assert_eq!(c["opening"], "three-way");
    }
    let third = &conns[2];
    assert_eq!(
        call(third, "client", "connect", 0)["result"],
        "-1 ETIMEDOUT"
    );
    assert_eq!(third["opening"], "unanswered");
    // Nobody called accept(): the queue only fills.
    for c in &conns {
        assert!(
            c["calls"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["call"] != "accept")
        );
    }
}

#[test]
fn simultaneous_close() {
    need_demo!();
    let conns = delayed("simultaneous-close");
    let c = only(&conns);
    check_handshake(c);
    for side in ["client", "server"] {
        let s = states(c, side);
        assert!(s.contains(&"CLOSING".to_string()), "{side}: {s:?}");
        assert_eq!(s.last().unwrap(), "TIME-WAIT");
    }
    assert_eq!(c["closing"], "simultaneous");
}

#[test]
fn reuse_time_wait() {
    need_demo!();
    let conns = delayed("reuse-time-wait");
    assert_eq!(conns.len(), 2, "{conns:#?}");
    assert_eq!(conns[0]["client"], conns[1]["client"], "not the same port");
    assert_eq!(conns[0]["time_wait"]["side"], "server");
    assert_eq!(conns[0]["time_wait"]["ended_early"], true);
    let second = &conns[1];
    let refused_bind = second["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["side"] == "server" && x["call"] == "bind")
        .unwrap();
    assert_eq!(refused_bind["result"], "-1 EADDRINUSE");
    check_handshake(second);
}

#[test]
fn no_delay_is_plain_loopback() {
    need_demo!();
    let doc = demo_doc("client-close", &["--delay", "0"]);
    assert_eq!(doc["demo"]["path"], "loopback");
    let conns = doc["connections"].as_array().unwrap();
    let c = only(conns);
    let syn = seg(c, "client", &["SYN"], None);
    let synack = seg(c, "server", &["SYN", "ACK"], None);
    assert!(
        synack - syn < 0.010,
        "{} s round trip on loopback",
        synack - syn
    );
    assert!(t(call(c, "client", "connect", 0), "returned") > synack);
    assert_eq!(states(c, "client").last().unwrap(), "TIME-WAIT");
}

/// Whether `nobody` can run the test binary (it may sit in a folder only
/// root can read).
fn nobody_can_run() -> bool {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin(),
            "--version",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn unprivileged_user() {
    if !is_root() || !nobody_can_run() {
        eprintln!("skipped: needs root to switch to nobody, and setpriv");
        return;
    }
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                bin(),
                "demo",
            ])
            .args(args)
            .env("TMPDIR", "/tmp")
            .output()
            .unwrap()
    };
    let out = as_nobody(&["client-close", "--delay", "0", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let c = &doc["connections"][0];
        assert_eq!(call(c, "client", "connect", 0)["result"], "0");
    } else {
        // No unprivileged user namespaces here: one line saying what is needed.
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("root"), "{err}");
    }
    // /dev/net/tun is root's here: the delayed path says so in one line.
    if std::fs::metadata("/dev/net/tun").is_ok_and(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o006 == 0
    }) {
        let out = as_nobody(&["client-close", "--json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("--delay 0"), "{err}");
    }
}

/// The network namespaces a process's threads are in, as `net:[inode]`.
fn netns_of(pid: u32) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(l) = std::fs::read_link(t.path().join("ns/net")) {
                out.push(l.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The network namespaces a process holds open as file descriptors.
fn netns_fds(pid: u32) -> Vec<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|f| std::fs::read_link(f.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.starts_with("net:["))
        .collect()
}

/// Whether any process still holds `ns` (a thread in it, or an open fd).
fn held_anywhere(ns: &str) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if netns_of(pid).iter().any(|n| n == ns) {
            return true;
        }
        if netns_fds(pid).iter().any(|n| n == ns) {
            return true;
        }
    }
    false
}

#[test]
fn ctrl_c_leaves_nothing_behind() {
    need_demo!();
    let tmp = Scratch::new("interrupt");
    let own = netns_of(std::process::id());
    let mut child = Command::new(bin())
        .args(["demo", "syn-timeout", "--json"])
        .env("TMPDIR", &tmp.0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-run: the SYN is being retried, the capture is being written.
    std::thread::sleep(Duration::from_millis(1200));
    let mut theirs: Vec<String> = netns_of(child.id())
        .into_iter()
        .chain(netns_fds(child.id()))
        .filter(|n| !own.contains(n))
        .collect();
    theirs.sort();
    theirs.dedup();
    assert!(theirs.len() >= 2, "the demo made no namespaces: {theirs:?}");
    assert!(!tmp.files().is_empty(), "no capture being written");
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(tmp.files().is_empty(), "left behind: {:?}", tmp.files());
    for ns in &theirs {
        assert!(!held_anywhere(ns), "{ns} is still held");
    }
    let link = Command::new("ip")
        .args(["link", "show", "tl0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        !link.is_ok_and(|s| s.success()),
        "tl0 exists outside the namespaces"
    );
}

#[test]
fn keeps_the_capture_and_exports() {
    need_demo!();
    let tmp = Scratch::new("keep");
    let pcap = tmp.0.join("run.pcap");
    let txt = tmp.0.join("run.txt");
    let out = Command::new(bin())
        .args(["demo", "server-close", "--delay", "5ms", "-w"])
        .arg(&pcap)
        .arg("--export")
        .arg(&txt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ladder = std::fs::read_to_string(&txt).unwrap();
    assert!(ladder.contains("TIME-WAIT"), "{ladder}");
    assert!(ladder.contains("198.18.0.2:9502"), "{ladder}");
    // The kept capture is an ordinary one.
    let analyzed = Command::new(bin())
        .arg("analyze")
        .arg(&pcap)
        .arg("--json")
        .output()
        .unwrap();
    assert!(analyzed.status.success());
    let doc: Value = serde_json::from_slice(&analyzed.stdout).unwrap();
    assert_eq!(doc["connections"][0]["closed_by"], "server");
    // An existing file is not overwritten without --force.
    let again = Command::new(bin())
        .args(["demo", "server-close", "--json", "-w"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `demo --export` draws the calls: in the text ladder, each where it
/// returned, on its own side; in the SVG, as labels.
#[test]
fn export_draws_the_calls() {
    need_demo!();
    let tmp = Scratch::new("calls");
    let txt = tmp.0.join("run.txt");
    let svg = tmp.0.join("run.svg");
    for out in [&txt, &svg] {
        let run = Command::new(bin())
            .args(["demo", "client-close", "--export"])
            .arg(out)
            .env("TMPDIR", &tmp.0)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let ladder = std::fs::read_to_string(&txt).unwrap();
    let lines: Vec<&str> = ladder.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{ladder}"))
    };
    // The tutorials' order: connect() returns after the SYN,ACK, accept()
    // after the final ACK, read() = 0 after the FIN.
    assert!(at("SYN,ACK seq=0 ack=1") < at("connect() = 0"), "{ladder}");
    assert!(at("── ACK seq=1 ack=1") < at("accept() ="), "{ladder}");
    assert!(at("FIN,ACK seq=") < at("read() = 0 (EOF)"), "{ladder}");
    // Client calls hang off the client's lifeline, server calls off the
    // server's.
    assert!(
        lines[at("connect() = 0")].contains(" connect() = 0  "),
        "{ladder}"
    );
    assert!(
        lines[at("accept() =")].trim_end().ends_with('┫'),
        "{ladder}"
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.contains("connect() = 0") && svg.contains("accept() = "),
        "{svg}"
    );
}

#[test]
fn json_is_the_analyze_document_plus_calls() {
    need_demo!();
    let tmp = Scratch::new("same");
    let pcap = tmp.0.join("run.pcap");
    let out = Command::new(bin())
        .args(["demo", "half-close", "--json", "--delay", "5ms", "-w"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demo: Value = serde_json::from_slice(&out.stdout).unwrap();
    let analyzed = Command::new(bin())
        .arg("analyze")
        .arg(&pcap)
        .arg("--json")
        .output()
        .unwrap();
    let plain: Value = serde_json::from_slice(&analyzed.stdout).unwrap();
    let mut with = demo["connections"][0].as_object().unwrap().clone();
    assert!(with.remove("calls").unwrap().as_array().unwrap().len() >= 10);
    assert!(with.remove("listener").unwrap()["backlog"] == 5);
    // The kernel's own states: an object as root, null otherwise.
    let kernel = with.remove("kernel").unwrap();
    assert!(kernel.is_object() || kernel.is_null(), "{kernel}");
    assert_eq!(Value::Object(with), plain["connections"][0]);
    // The document's own fields come first, in analyze's order.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.find("\"number\"").unwrap() < text.find("\"calls\"").unwrap());
}

/// As root the demo reads the kernel's own state changes of its sockets
/// (`sock:inet_sock_set_state`) and puts them beside the inferred ones;
/// for these scenarios both endpoints' paths are the same. The private
/// tracefs instance is gone afterwards.
#[test]
fn the_kernels_own_states_agree_with_the_inferred_ones() {
    need_demo!();
    if !is_root() || !std::path::Path::new("/sys/kernel/tracing/instances").is_dir() {
        eprintln!("skipped: the kernel's states need root and tracefs");
        return;
    }
    for scenario in [
        "client-close",
        "server-close",
        "simultaneous-close",
        "linger-rst",
    ] {
        let doc = demo_doc(scenario, &["--delay", "20ms"]);
        assert!(doc["demo"]["kernel"].is_null(), "{}", doc["demo"]);
        let c = only(doc["connections"].as_array().unwrap());
        let k = &c["kernel"];
        assert_eq!(k["client_states"], c["client_states"], "{scenario}: {k}");
        assert_eq!(k["server_states"], c["server_states"], "{scenario}: {k}");
    }
    // Other tests run demos at the same time: only an instance whose
    // process is gone was left behind.
    let left: Vec<_> = std::fs::read_dir("/sys/kernel/tracing/instances")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix("tcpladder-")
                .is_some_and(|pid| !std::path::Path::new("/proc").join(pid).exists())
        })
        .collect();
    assert!(left.is_empty(), "tracefs instances left behind: {left:?}");
}
