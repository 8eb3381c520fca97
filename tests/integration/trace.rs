//! `trace` end to end, through the library: the Python server and client
//! of tests/programs/ run under ptrace on 127.0.0.1 while `lo` is captured,
//! and the calls are checked against the capture in the order the socket
//! tutorials give: connect() entered before the SYN and returned after the
//! SYN,ACK, accept() returned after the final ACK, recv() = 0 after the
//! FIN, each fd tied to the right four-tuple, a refused connect() giving
//! `-1 ECONNREFUSED`. Capturing on the host's `lo` needs root; without it
//! the tests say they are skipped. Each test has a port of its own, so
//! they can run in parallel.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tcpladder::analysis::{Filter, analyze_file};
use tcpladder::demo::Call;
use tcpladder::time::Timestamp;
use tcpladder::trace::{self, TraceConfig, TraceRun};
use tcpladder::track::{Connection, Side, TrackConfig};

fn program(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name)
        .display()
        .to_string()
}

fn skip() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root: capturing on lo needs root or CAP_NET_RAW");
    }
    if Command::new("python3").arg("-V").output().is_err() {
        return Some("python3 is missing");
    }
    None
}

macro_rules! need_root {
    () => {
        if let Some(why) = skip() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

fn spawn_cfg(argv: &[&str], port: u16) -> TraceConfig {
    TraceConfig {
        port: Some(port),
        ..TraceConfig::spawn(argv.iter().map(|s| s.to_string()).collect())
    }
}

fn analyze(run: &TraceRun) -> Vec<Connection> {
    analyze_file(&run.pcap, Filter::default(), TrackConfig::default())
        .unwrap()
        .0
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The capture time of the first segment matching `want`.
fn seg_time(
    c: &Connection,
    from: Side,
    want: impl Fn(tcpladder::decode::Flags) -> bool,
) -> Timestamp {
    c.segments
        .iter()
        .find(|s| s.from == from && want(s.flags))
        .unwrap_or_else(|| panic!("no such segment from the {from:?}"))
        .ts
}

fn one<'a>(calls: &'a [Call], side: Side, name: &[&str], result: Option<&str>) -> &'a Call {
    calls
        .iter()
        .find(|c| c.side == side && name.contains(&c.call) && result.is_none_or(|r| c.result == r))
        .unwrap_or_else(|| panic!("no {name:?} = {result:?} by the {side:?} in {calls:#?}"))
}

fn us(d: i64) -> f64 {
    d as f64 / 1000.0
}

fn gap(call: Timestamp, seg: Timestamp) -> i64 {
    (call - seg).as_nanos()
}

/// The order the tutorials give, on one connection with both programs
/// traced; returns the gaps (call return − the segment that woke it) in µs.
fn check_session(run: &TraceRun, port: u16) -> Vec<(&'static str, f64)> {
    let conns = analyze(run);
    assert_eq!(conns.len(), 1, "one connection expected: {conns:#?}");
    let c = &conns[0];
    assert_eq!(c.server, loopback(port));
    let calls = run.calls_for(c, &conns);
    let syn = seg_time(c, Side::Client, |f| f.syn() && !f.ack());
    let synack = seg_time(c, Side::Server, |f| f.syn() && f.ack());
    let final_ack = c
        .segments
        .iter()
        .find(|s| s.from == Side::Client && !s.flags.syn() && s.ts > synack)
        .unwrap()
        .ts;
    let client_fin = seg_time(c, Side::Client, |f| f.fin());

    let connect = one(&calls, Side::Client, &["connect"], Some("0"));
    assert!(connect.entered < syn, "connect() entered after the SYN");
    assert!(
        connect.returned > synack,
        "connect() returned before the SYN,ACK"
    );
    let accept = one(&calls, Side::Server, &["accept", "accept4"], None);
    assert!(
        accept.returned > final_ack,
        "accept() returned before the final ACK"
    );
    assert!(accept.result.parse::<i32>().unwrap() >= 0);
    let eof = one(
        &calls,
        Side::Server,
        &["read", "recvfrom", "recvmsg"],
        Some("0"),
    );
    assert!(
        eof.returned > client_fin,
        "recv() = 0 before the client's FIN"
    );
    let close = one(&calls, Side::Client, &["close"], Some("0"));
    assert!(close.entered < client_fin, "close() entered after its FIN");

    // The fds map to the connection's four-tuple, from the kernel's tables.
    let client_sock = &run.sockets[connect.socket];
    assert_eq!(client_sock.local, Some(c.client));
    assert_eq!(client_sock.remote, Some(c.server));
    let server_sock = &run.sockets[accept.socket];
    assert_eq!(server_sock.local, Some(c.server));
    assert_eq!(server_sock.remote, Some(c.client));
    // The listener's setup heads the server's lifeline.
    let listen = one(&calls, Side::Server, &["listen"], Some("0"));
    assert_eq!(listen.detail.as_deref(), Some("backlog 5"));
    let bind = one(&calls, Side::Server, &["bind"], Some("0"));
    assert_eq!(bind.detail, Some(loopback(port).to_string()));
    one(&calls, Side::Server, &["setsockopt"], Some("0"));
    vec![
        ("connect - SYN,ACK", us(gap(connect.returned, synack))),
        ("accept - final ACK", us(gap(accept.returned, final_ack))),
        ("recv()=0 - FIN", us(gap(eof.returned, client_fin))),
    ]
}

#[test]
fn one_program_forking_client_and_serving_in_a_thread() {
    need_root!();
    let port = 47311;
    let run = trace::run(&spawn_cfg(
        &["python3", &program("tcp_pair.py"), "47311"],
        port,
    ))
    .unwrap();
    assert_eq!(run.exit, Some(0));
    let gaps = check_session(&run, port);
    eprintln!("trace gaps (us): {gaps:?}");
    // Calls from three tasks at least: the main thread, the server thread
    // and the forked client.
    let mut pids: Vec<i32> = run.calls.iter().map(|c| c.pid).collect();
    pids.sort();
    pids.dedup();
    assert!(pids.len() >= 3, "calls from {pids:?}");
    // The forked client closes its copy of the listener: not the close
    // that releases it.
    let closes: Vec<&Call> = run
        .calls
        .iter()
        .filter(|c| c.call == "close" && run.sockets[c.socket].listener)
        .collect();
    assert_eq!(closes.len(), 2, "{closes:#?}");
    assert_eq!(
        closes[0].detail.as_deref(),
        Some("a copy: the socket stays open")
    );
    assert_eq!(closes[1].detail, None);
    // The JSON document carries the calls per connection.
    let conns = analyze(&run);
    let doc = serde_json::to_value(trace::trace_json(&conns, &run)).unwrap();
    let calls = doc["connections"][0]["calls"].as_array().unwrap();
    assert!(
        calls
            .iter()
            .any(|c| c["call"] == "connect" && c["side"] == "client")
    );
    assert_eq!(doc["trace"]["exit"], 0);
    // As root the kernel's own record of both sockets is there, and agrees.
    let c = &doc["connections"][0];
    if doc["trace"]["kernel"].is_null() {
        assert_eq!(c["kernel"]["client_states"], c["client_states"], "{c}");
        assert_eq!(c["kernel"]["server_states"], c["server_states"], "{c}");
    }
    let pcap = run.pcap.clone();
    drop(run);
    assert!(!pcap.exists(), "the temporary capture was left behind");
}

/// A server traced on its own, the client run untraced.
#[test]
fn a_server_alone_and_a_kept_capture() {
    need_root!();
    let port = 47312;
    let keep = std::env::temp_dir().join(format!("tl-trace-keep-{}.pcap", std::process::id()));
    let _ = std::fs::remove_file(&keep);
    let ready = std::env::temp_dir().join(format!("tl-trace-ready-{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    // No port filter: all TCP on lo is captured, other tests' too, and
    // `touched` keeps the connection the traced server's sockets made.
    let mut cfg = TraceConfig::spawn(
        [
            "python3",
            &program("tcp_server.py"),
            "47312",
            &ready.display().to_string(),
        ]
        .map(String::from)
        .to_vec(),
    );
    cfg.keep = Some(keep.clone());
    let run = run_with_client(&cfg, port, &ready);
    assert_eq!(run.exit, Some(0));
    let conns = run.touched(&analyze(&run));
    assert_eq!(conns.len(), 1, "{conns:#?}");
    assert_eq!(conns[0].server, loopback(port));
    assert_eq!(conns[0].id, 0);
    let calls = run.calls_for(&conns[0], &conns);
    assert!(calls.iter().all(|c| c.side == Side::Server), "{calls:#?}");
    one(&calls, Side::Server, &["accept", "accept4"], None);
    one(&calls, Side::Server, &["recvfrom", "read"], Some("0"));
    drop(run);
    assert!(keep.exists(), "-w FILE must be kept");
    let _ = std::fs::remove_file(&keep);
    let _ = std::fs::remove_file(&ready);
}

fn wait_for(path: &Path) {
    let until = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Traces `cfg` while the test client connects to `port` once the traced
/// server has written `ready`.
fn run_with_client(cfg: &TraceConfig, port: u16, ready: &Path) -> TraceRun {
    let ready = ready.to_path_buf();
    let client = std::thread::spawn(move || {
        wait_for(&ready);
        client_ok(port, &[]);
    });
    let run = trace::run(cfg).unwrap();
    client.join().unwrap();
    run
}

fn client_ok(port: u16, extra: &[&str]) {
    let st = Command::new("python3")
        .arg(program("tcp_client.py"))
        .arg(port.to_string())
        .args(extra)
        .status()
        .unwrap();
    assert!(st.success(), "the client failed: {st}");
}

#[test]
fn a_refused_connect_gives_econnrefused() {
    need_root!();
    let port = 47313;
    let run = trace::run(&spawn_cfg(
        &["python3", &program("tcp_client.py"), "47313"],
        port,
    ))
    .unwrap();
    assert_eq!(run.exit, Some(3), "the client did not see the refusal");
    let conns = analyze(&run);
    assert_eq!(conns.len(), 1, "{conns:#?}");
    let c = &conns[0];
    let rst = seg_time(c, Side::Server, |f| f.rst());
    let calls = run.calls_for(c, &conns);
    let connect = one(&calls, Side::Client, &["connect"], Some("-1 ECONNREFUSED"));
    assert!(connect.entered < c.first_ts);
    assert!(connect.returned > rst);
    eprintln!(
        "trace gap connect=-1 - RST: {} us",
        us(gap(connect.returned, rst))
    );
}

/// A non-blocking connect() against an untraced server, then the wait
/// for it to be writable: `how` is poll, select or epoll.
fn nonblocking(port: u16, how: &str, call: &str, detail: &str) {
    let ready = std::env::temp_dir().join(format!("tl-trace-ready-{how}-{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let mut server = Command::new("python3")
        .arg(program("tcp_server.py"))
        .arg(port.to_string())
        .arg(&ready)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&ready);
    let run = trace::run(&spawn_cfg(
        &[
            "python3",
            &program("tcp_client.py"),
            &port.to_string(),
            &format!("--nonblock={how}"),
        ],
        port,
    ))
    .unwrap();
    assert!(server.wait().unwrap().success());
    let _ = std::fs::remove_file(&ready);
    assert_eq!(run.exit, Some(0));
    let conns = analyze(&run);
    let c = &conns[0];
    let calls = run.calls_for(c, &conns);
    let connect = one(&calls, Side::Client, &["connect"], Some("-1 EINPROGRESS"));
    let synack = seg_time(c, Side::Server, |f| f.syn() && f.ack());
    let syn = seg_time(c, Side::Client, |f| f.syn() && !f.ack());
    assert!(connect.entered < syn);
    let wait = one(&calls, Side::Client, &[call], Some("1"));
    assert_eq!(wait.detail.as_deref(), Some(detail));
    assert!(wait.returned > synack);
    assert!(wait.entered > connect.returned);
    let nodelay = one(&calls, Side::Client, &["setsockopt"], Some("0"));
    assert_eq!(nodelay.detail.as_deref(), Some("TCP_NODELAY 1"));
}

#[test]
fn a_nonblocking_connect_and_its_poll() {
    need_root!();
    nonblocking(47314, "poll", "poll", "POLLOUT");
}

#[test]
fn a_nonblocking_connect_and_its_select() {
    need_root!();
    nonblocking(47316, "select", "select", "writable");
}

#[test]
fn a_nonblocking_connect_and_its_epoll_wait() {
    need_root!();
    nonblocking(47317, "epoll", "epoll_wait", "POLLOUT");
}

#[test]
fn attaching_to_a_sleeping_server() {
    need_root!();
    let port = 47315;
    let ready = std::env::temp_dir().join(format!("tl-trace-ready-pid-{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let mut server = Command::new("python3")
        .arg(program("tcp_server.py"))
        .arg(port.to_string())
        .arg(&ready)
        .spawn()
        .unwrap();
    wait_for(&ready);
    let pid = i32::try_from(server.id()).unwrap();
    let mut cfg = TraceConfig::attach(pid);
    cfg.port = Some(port);
    let tracer = std::thread::spawn(move || trace::run(&cfg));
    // Give the tracer time to seize the server blocked in accept().
    std::thread::sleep(Duration::from_millis(300));
    client_ok(port, &[]);
    let run = tracer.join().unwrap().unwrap();
    let _ = server.wait();
    let _ = std::fs::remove_file(&ready);
    assert_eq!(run.pid, pid);
    let conns = analyze(&run);
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    let calls = run.calls_for(c, &conns);
    let accept = one(&calls, Side::Server, &["accept", "accept4"], None);
    let final_ack = c.segments[2].ts;
    assert!(accept.returned > final_ack);
    assert_eq!(
        accept.detail.as_deref(),
        Some("blocked since before the trace began")
    );
    // The listener made before the attach is known from the kernel's table.
    let sock = &run.sockets[accept.socket];
    assert_eq!(sock.local, Some(loopback(port)));
    assert_eq!(sock.remote, Some(c.client));
    one(&calls, Side::Server, &["recvfrom", "read"], Some("0"));
}

#[test]
fn a_missing_program_is_named() {
    let err = trace::run(&TraceConfig::spawn(vec!["/nonexistent/prog".into()])).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/prog: not found"),
        "{err}"
    );
}

#[test]
fn detaching_leaves_an_attached_server_running() {
    need_root!();
    let port = 47318;
    let ready = std::env::temp_dir().join(format!("tl-trace-ready-det-{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let mut server = Command::new("python3")
        .arg(program("tcp_server.py"))
        .arg(port.to_string())
        .arg(&ready)
        .spawn()
        .unwrap();
    wait_for(&ready);
    let stop = Arc::new(AtomicBool::new(false));
    let mut cfg = TraceConfig::attach(i32::try_from(server.id()).unwrap());
    cfg.port = Some(port);
    cfg.stop = Some(stop.clone());
    let tracer = std::thread::spawn(move || trace::run(&cfg));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let run = tracer.join().unwrap().unwrap();
    assert_eq!(run.exit, None, "the server was left running");
    // Untraced now, it still serves.
    client_ok(port, &[]);
    assert!(server.wait().unwrap().success());
    let _ = std::fs::remove_file(&ready);
}

#[test]
fn isolated_in_a_namespace_of_its_own() {
    need_root!();
    // The same port as the forking test: the namespace's lo is another.
    let mut cfg = TraceConfig::spawn(
        ["python3", &program("tcp_pair.py"), "47311"]
            .map(String::from)
            .to_vec(),
    );
    cfg.isolated = true;
    let run = trace::run(&cfg).unwrap();
    assert_eq!(run.exit, Some(0));
    check_session(&run, 47311);
}

/// The tutorials' own C program (compiled here if `cc` exists): plain
/// read() and write().
#[test]
fn the_tutorial_c_program() {
    need_root!();
    let dir = std::env::temp_dir().join(format!("tl-trace-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("tutorial_pair");
    let built = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(program("tutorial_pair.c"))
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no C compiler");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let port = 47319;
    let run = trace::run(&spawn_cfg(&[&exe.display().to_string(), "47319"], port)).unwrap();
    // Without close(): the client's exit sends its FIN.
    let port2 = 47320;
    let noclose = trace::run(&spawn_cfg(
        &[&exe.display().to_string(), "47320", "noclose"],
        port2,
    ))
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(noclose.exit, Some(0));
    let conns = analyze(&noclose);
    let c = &conns[0];
    let calls = noclose.calls_for(c, &conns);
    assert!(
        !calls
            .iter()
            .any(|k| k.side == Side::Client && k.call == "close")
    );
    let exit = one(&calls, Side::Client, &["exit"], Some("0"));
    assert!(exit.entered < seg_time(c, Side::Client, |f| f.fin()));
    assert_eq!(noclose.sockets[exit.socket].local, Some(c.client));
    assert_eq!(run.exit, Some(0));
    let gaps = check_session(&run, port);
    eprintln!("trace gaps, C (us): {gaps:?}");
    let conns = analyze(&run);
    let calls = run.calls_for(&conns[0], &conns);
    one(&calls, Side::Server, &["read"], Some("0"));
    one(&calls, Side::Client, &["write"], Some("5"));
}

/// A traced listener's queues are sampled while the program runs: the
/// server waits before accept(), so the client's connection is seen in
/// the accept queue until accept() takes it, with the backlog listen()
/// asked for.
#[test]
fn a_traced_listeners_queues_are_sampled() {
    need_root!();
    let port = 47316;
    let ready = std::env::temp_dir().join(format!("tl-trace-queue-{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let cfg = spawn_cfg(
        &[
            "python3",
            &program("tcp_server.py"),
            "47316",
            &ready.display().to_string(),
            "1.0",
        ],
        port,
    );
    let run = run_with_client(&cfg, port, &ready);
    let _ = std::fs::remove_file(&ready);
    let conns = run.touched(&analyze(&run));
    assert_eq!(conns.len(), 1, "{conns:#?}");
    let doc = serde_json::to_value(trace::trace_json(&conns, &run)).unwrap();
    let l = &doc["connections"][0]["listener"];
    assert_eq!(l["backlog"], 5, "{l}");
    let samples = l["samples"].as_array().expect("samples");
    let accept_q: Vec<u64> = samples
        .iter()
        .map(|s| s["accept_queue"].as_u64().unwrap())
        .collect();
    // Empty before the handshake, one waiting, empty again once taken.
    let waited = accept_q
        .iter()
        .position(|&q| q == 1)
        .expect("a waiting connection");
    assert_eq!(accept_q[0], 0, "{samples:?}");
    assert!(accept_q[waited..].contains(&0), "{samples:?}");
    // It waited from the final ACK until accept() took it.
    let t = |i: usize| samples[i]["time"].as_f64().unwrap();
    let left = accept_q[waited..].iter().position(|&q| q == 0).unwrap() + waited;
    let c = &conns[0];
    let synack = seg_time(c, Side::Server, |f| f.syn() && f.ack());
    let final_ack = c
        .segments
        .iter()
        .find(|s| s.from == Side::Client && !s.flags.syn() && s.ts > synack)
        .unwrap()
        .ts
        .as_secs_f64();
    let calls = run.calls_for(c, &conns);
    let accept = one(&calls, Side::Server, &["accept", "accept4"], None);
    let entered = accept.entered.as_secs_f64();
    assert!(
        t(waited) >= final_ack - 0.001,
        "{samples:?} final ACK {final_ack}"
    );
    assert!(
        t(waited) < entered,
        "{samples:?} accept() entered {entered}"
    );
    assert!(
        t(left) >= entered - 0.001,
        "{samples:?} accept() entered {entered}"
    );
}
