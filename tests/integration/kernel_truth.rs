//! tcpladder's inferred state paths against the Linux kernel's own record.
//!
//! Every `captures/kernel/<scenario>/truth.json` (written by
//! `captures/record-kernel.sh`, see captures/README.md, "Kernel truth")
//! lists each endpoint of the scenario's connections with the RFC 9293
//! state path the kernel took (from the tracepoint
//! `sock:inet_sock_set_state`, or derived where the tracepoint is silent,
//! each change saying which) and when it entered TIME-WAIT. The scenario
//! was captured at up to three points of an emulated path at once: near
//! the client, half way and near the server (or on loopback).
//!
//! For every truth file, every capture point and every endpoint, the test
//! analyzes the capture, finds the connection by its 4-tuple, incarnation
//! (the n-th connection on that 4-tuple) and role, and requires
//!
//! * the same state path (exact sequence of RFC names; the capture's end
//!   adds nothing: tcpladder's lists end in TIME-WAIT when the capture ends
//!   during TIME-WAIT, and so do the kernel's, because the trace is cut at
//!   the capture's end), and
//! * when the kernel entered TIME-WAIT at `t_k`: a TIME-WAIT for that side
//!   entered within `d + extra + late + 2 ms` of `t_k`, where `d` is the
//!   emulated one-way delay between the capture point and that endpoint
//!   (from the truth file's `path.one_way_delay_ms`: a capture at distance
//!   `d` sees the segment that causes the change `d` before or after it
//!   reaches the endpoint), `extra` is the most any forwarder rule of the
//!   scenario held a segment back (`path.rules_extra_delay_ms`), `late` is
//!   the most the forwarders between the point and the endpoint sent a
//!   frame after its due time in that recording
//!   (`path.forwarder_max_late_ms`, measured by kernel_fwd.py, typically
//!   0.1–0.3 ms), and 2 ms is a margin for what remains: the kernel's
//!   processing between the capture tap and the state change (tens of µs)
//!   and the conversion of the trace clock to the capture clock (the
//!   recorder checks that the client's SYN is captured 20–300 µs after its
//!   SYN-SENT tracepoint).
//!
//! An endpoint is left out at a capture point only when its truth says so
//! (`"wire_visible": false` or `{"<point>": false}`, with `"why"`); those
//! are counted and printed. Every comparison the wire can show must agree:
//! the test fails on the first disagreement of a path or of a TIME-WAIT
//! entry, and also when fewer than [`MIN_COMPARED`] comparisons were made
//! (captures lost or truth files emptied).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tcpladder::analysis::{Filter, analyze_file};
use tcpladder::export::json::document;
use tcpladder::track::TrackConfig;

/// The number of (endpoint, capture point) comparisons the bundled truth
/// files make (345 of 57 files at the time of writing): fewer means
/// recordings went missing. Raise it when scenarios are added.
const MIN_COMPARED: usize = 345;

/// The margin on top of delay, rule holds and forwarder lateness, in
/// seconds (see above).
const MARGIN: f64 = 0.002;

const RFC_STATES: &[&str] = &[
    "CLOSED",
    "LISTEN",
    "SYN-SENT",
    "SYN-RECEIVED",
    "ESTABLISHED",
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "CLOSE-WAIT",
    "CLOSING",
    "LAST-ACK",
    "TIME-WAIT",
];

fn kernel_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/kernel")
}

fn point_name(point: &str) -> &'static str {
    match point {
        "client" => "near client",
        "mid" => "half way",
        "server" => "near server",
        "loopback" => "loopback",
        other => panic!("unknown capture point {other:?}"),
    }
}

/// One truth endpoint, checked for shape.
struct Endpoint {
    local: String,
    remote: String,
    role: String,
    incarnation: usize,
    path: Vec<String>,
    time_wait_entered: Option<f64>,
    /// The time of each change (path[i] -> path[i + 1]).
    change_times: Vec<f64>,
    /// Capture points where the wire cannot show this endpoint, with why.
    invisible: BTreeMap<String, String>,
}

struct Truth {
    scenario: String,
    captures: Vec<(String, PathBuf)>,
    delay: BTreeMap<String, f64>,
    extra: f64,
    /// The forwarders' measured lateness (r1, r2), seconds.
    late: BTreeMap<String, f64>,
    endpoints: Vec<Endpoint>,
    /// The retry sysctls the scenario set, passed as a user who knows them
    /// would pass `--syn-retries`, `--retries2`, `--orphan-retries`.
    config: TrackConfig,
}

fn config_of(v: &Value) -> TrackConfig {
    let mut cfg = TrackConfig::default();
    let sides = v.get("sysctl").and_then(Value::as_object);
    for (_, m) in sides.into_iter().flatten() {
        let get = |k: &str| {
            m.get(k)
                .and_then(Value::as_u64)
                .and_then(|n| u8::try_from(n).ok())
        };
        if let Some(n) = get("net.ipv4.tcp_syn_retries") {
            cfg.syn_retries = n;
        }
        if let Some(n) = get("net.ipv4.tcp_retries2") {
            cfg.retries2 = n;
        }
        if let Some(n) = get("net.ipv4.tcp_orphan_retries") {
            cfg.orphan_retries = n;
        }
    }
    cfg
}

fn str_field<'a>(v: &'a Value, key: &str, ctx: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{ctx}: missing or non-string {key:?}"))
}

fn load_truth(file: &Path) -> Truth {
    let ctx = file.display().to_string();
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{ctx}: malformed: {e}"));
    let dir = file.parent().unwrap();
    let scenario = str_field(&v, "scenario", &ctx).to_string();
    let caps = v
        .get("captures")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{ctx}: missing \"captures\""));
    assert!(!caps.is_empty(), "{ctx}: no captures");
    let mut captures = Vec::new();
    for (point, f) in caps {
        point_name(point);
        let f = f
            .as_str()
            .unwrap_or_else(|| panic!("{ctx}: capture {point} is not a file name"));
        let path = dir.join(f);
        assert!(path.is_file(), "{ctx}: capture {point} ({f}) is missing");
        captures.push((point.clone(), path));
    }
    let delays = v
        .pointer("/path/one_way_delay_ms")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{ctx}: missing path.one_way_delay_ms"));
    let mut delay = BTreeMap::new();
    for (k, d) in delays {
        let d = d
            .as_f64()
            .unwrap_or_else(|| panic!("{ctx}: delay {k} is not a number"));
        delay.insert(k.clone(), d / 1000.0);
    }
    for need in caps.keys().map(String::as_str).chain(["client", "server"]) {
        assert!(
            delay.contains_key(need),
            "{ctx}: path.one_way_delay_ms lacks {need:?}"
        );
    }
    let mut late = BTreeMap::new();
    if let Some(m) = v
        .pointer("/path/forwarder_max_late_ms")
        .and_then(Value::as_object)
    {
        for (r, x) in m {
            let x = x
                .as_f64()
                .unwrap_or_else(|| panic!("{ctx}: forwarder_max_late_ms.{r}"));
            late.insert(r.clone(), x / 1000.0);
        }
    }
    let extra = v
        .pointer("/path/rules_extra_delay_ms")
        .map(|x| {
            x.as_f64()
                .unwrap_or_else(|| panic!("{ctx}: rules_extra_delay_ms"))
        })
        .unwrap_or(0.0)
        / 1000.0;
    let eps = v
        .get("endpoints")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{ctx}: missing \"endpoints\""));
    assert!(!eps.is_empty(), "{ctx}: no endpoints");
    let mut endpoints = Vec::new();
    for (i, e) in eps.iter().enumerate() {
        let ectx = format!("{ctx}: endpoint {i}");
        let role = str_field(e, "role", &ectx).to_string();
        assert!(
            role == "client" || role == "server",
            "{ectx}: role {role:?}"
        );
        let path: Vec<String> = e
            .get("path")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{ectx}: missing \"path\""))
            .iter()
            .map(|s| {
                let s = s.as_str().unwrap_or_else(|| panic!("{ectx}: path entry"));
                assert!(
                    RFC_STATES.contains(&s),
                    "{ectx}: {s:?} is no RFC 9293 state"
                );
                s.to_string()
            })
            .collect();
        assert!(!path.is_empty(), "{ectx}: empty path");
        assert!(
            e.get("changes").and_then(Value::as_array).is_some(),
            "{ectx}: missing \"changes\""
        );
        let change_times: Vec<f64> = e["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c.get("to").is_some())
            .map(|c| {
                c["time"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{ectx}: a change without a time"))
            })
            .collect();
        assert_eq!(
            change_times.len(),
            path.len() - 1,
            "{ectx}: \"changes\" must hold one state change per step of \"path\""
        );
        let time_wait_entered = match e.get("time_wait_entered") {
            None | Some(Value::Null) => None,
            Some(t) => Some(
                t.as_f64()
                    .unwrap_or_else(|| panic!("{ectx}: time_wait_entered")),
            ),
        };
        assert_eq!(
            time_wait_entered.is_some(),
            path.iter().any(|s| s == "TIME-WAIT"),
            "{ectx}: time_wait_entered must be set exactly when the path has TIME-WAIT"
        );
        let mut invisible = BTreeMap::new();
        match e.get("wire_visible") {
            None | Some(Value::Bool(true)) => {}
            Some(w) => {
                let why = str_field(e, "why", &ectx).to_string();
                match w {
                    Value::Bool(false) => {
                        for p in caps.keys() {
                            invisible.insert(p.clone(), why.clone());
                        }
                    }
                    Value::Object(m) => {
                        for (p, b) in m {
                            assert!(caps.contains_key(p), "{ectx}: wire_visible names {p:?}");
                            match b {
                                Value::Bool(false) => {
                                    invisible.insert(p.clone(), why.clone());
                                }
                                Value::Bool(true) => {}
                                _ => panic!("{ectx}: wire_visible.{p} must be a boolean"),
                            }
                        }
                    }
                    _ => panic!("{ectx}: wire_visible must be a boolean or an object"),
                }
            }
        }
        endpoints.push(Endpoint {
            local: str_field(e, "local", &ectx).to_string(),
            remote: str_field(e, "remote", &ectx).to_string(),
            role,
            incarnation: e
                .get("incarnation")
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("{ectx}: incarnation")) as usize,
            path,
            time_wait_entered,
            change_times,
            invisible,
        });
    }
    Truth {
        scenario,
        captures,
        delay,
        extra,
        late,
        endpoints,
        config: config_of(&v),
    }
}

/// How far tcpladder's time of a change seen at `point` may be from the
/// kernel's for the endpoint `role` (see the module comment).
fn tolerance(truth: &Truth, point: &str, role: &str) -> f64 {
    let d = (truth.delay[point] - truth.delay[role]).abs();
    // the forwarders between the point and the endpoint
    let hops: &[&str] = match (point, role) {
        ("mid", "client") => &["r1"],
        ("mid", "server") => &["r2"],
        ("client", "server") | ("server", "client") => &["r1", "r2"],
        _ => &[],
    };
    let late: f64 = hops
        .iter()
        .map(|r| truth.late.get(*r).copied().unwrap_or(0.0))
        .sum();
    d + truth.extra + late + MARGIN
}

fn truth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let dir = kernel_dir();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = entry.expect("entry").path();
        if p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.') {
            let t = p.join("truth.json");
            assert!(t.is_file(), "{}: no truth.json", p.display());
            files.push(t);
        }
    }
    files.sort();
    files
}

#[derive(Default)]
struct Tally {
    agree: usize,
    total: usize,
    excluded: usize,
}

#[test]
fn kernel_truth_paths_agree() {
    let files = truth_files();
    assert!(!files.is_empty(), "no truth files in captures/kernel");
    let mut overall = Tally::default();
    let mut per_point: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut disagreements = Vec::new();
    let mut exclusions: BTreeMap<String, usize> = BTreeMap::new();
    let mut times = (0usize, 0usize);
    let mut off_times = Vec::new();
    for file in &files {
        let truth = load_truth(file);
        for (point, pcap) in &truth.captures {
            let (conns, _) = analyze_file(pcap, Filter::default(), truth.config)
                .unwrap_or_else(|e| panic!("{}: {e}", pcap.display()));
            let doc = serde_json::to_value(document(&conns)).expect("json");
            let docs = doc["connections"].as_array().cloned().unwrap_or_default();
            let pname = point_name(point);
            let tally = per_point.entry(pname).or_default();
            for ep in &truth.endpoints {
                let who = format!("{} {} #{}", ep.role, ep.local, ep.incarnation);
                if let Some(why) = ep.invisible.get(point) {
                    tally.excluded += 1;
                    overall.excluded += 1;
                    *exclusions.entry(why.clone()).or_default() += 1;
                    continue;
                }
                tally.total += 1;
                overall.total += 1;
                let (client, server) = if ep.role == "client" {
                    (&ep.local, &ep.remote)
                } else {
                    (&ep.remote, &ep.local)
                };
                let on_tuple: Vec<&Value> = docs
                    .iter()
                    .filter(|c| {
                        let (a, b) = (c["client"].as_str(), c["server"].as_str());
                        (a == Some(client) && b == Some(server))
                            || (a == Some(server) && b == Some(client))
                    })
                    .collect();
                let kernel = ep.path.join(" > ");
                let Some(c) = on_tuple.get(ep.incarnation) else {
                    disagreements.push(format!(
                        "{} | {pname} | {who} | kernel: {kernel} | tcpladder: no such connection ({} on this 4-tuple)",
                        truth.scenario,
                        on_tuple.len()
                    ));
                    continue;
                };
                let ours_is_client = c["client"].as_str() == Some(ep.local.as_str());
                let ours_role = if ours_is_client { "client" } else { "server" };
                let states: Vec<String> = c[if ours_is_client {
                    "client_states"
                } else {
                    "server_states"
                }]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
                let ours = states.join(" > ");
                let mut problems = Vec::new();
                if ours_role != ep.role {
                    problems.push(format!("taken for the {ours_role}"));
                }
                if states != ep.path {
                    problems.push("path differs".to_string());
                }
                if let Some(tk) = ep.time_wait_entered {
                    // This side's entry: from its timeline (one entry per
                    // change); without one, from `time_wait` when it is
                    // this side's alone ("both" gives the earlier entry).
                    let timeline = &c[if ours_is_client {
                        "client_timeline"
                    } else {
                        "server_timeline"
                    }];
                    let entered = match timeline.as_array() {
                        Some(tl) => tl
                            .iter()
                            .find(|x| x["state"].as_str() == Some("TIME-WAIT"))
                            .and_then(|x| x["time"].as_f64()),
                        None => {
                            let tw = &c["time_wait"];
                            tw["entered"]
                                .as_f64()
                                .filter(|_| tw["side"].as_str() == Some(ours_role))
                        }
                    };
                    match entered {
                        None => problems.push("no TIME-WAIT for this side".to_string()),
                        Some(t) => {
                            let tol = tolerance(&truth, point, &ep.role);
                            if (t - tk).abs() > tol {
                                problems.push(format!(
                                    "TIME-WAIT entered {:+.3} ms from the kernel's (tolerance {:.1} ms)",
                                    (t - tk) * 1e3,
                                    tol * 1e3
                                ));
                            }
                        }
                    }
                }
                // Information, not asserted: the time of every change, where
                // the paths agree and tcpladder gives a timeline.
                let timeline = &c[if ours_is_client {
                    "client_timeline"
                } else {
                    "server_timeline"
                }];
                if let (Some(tl), true) = (timeline.as_array(), states == ep.path) {
                    let tol = tolerance(&truth, point, &ep.role);
                    for (i, tk) in ep.change_times.iter().enumerate() {
                        let Some(x) = tl.get(i + 1) else { break };
                        let t = x["time"].as_f64().unwrap_or(f64::NAN);
                        times.1 += 1;
                        if (t - tk).abs() <= tol {
                            times.0 += 1;
                        } else {
                            off_times.push(format!(
                                "{} | {pname} | {who} | {} {:+.1} ms from the kernel's (tolerance {:.1} ms, basis {})",
                                truth.scenario,
                                ep.path[i + 1],
                                (t - tk) * 1e3,
                                tol * 1e3,
                                x["basis"].as_str().unwrap_or("?")
                            ));
                        }
                    }
                }
                if problems.is_empty() {
                    tally.agree += 1;
                    overall.agree += 1;
                } else {
                    disagreements.push(format!(
                        "{} | {pname} | {who} | kernel: {kernel} | tcpladder: {ours} | {}",
                        truth.scenario,
                        problems.join("; ")
                    ));
                }
            }
        }
    }
    println!(
        "kernel truth: {}/{} endpoint paths agree ({} truth files)",
        overall.agree,
        overall.total,
        files.len()
    );
    for (p, t) in &per_point {
        println!(
            "kernel truth: {p}: {}/{} endpoint paths agree ({} excluded)",
            t.agree, t.total, t.excluded
        );
    }
    if overall.excluded > 0 {
        println!(
            "kernel truth: {} comparisons excluded as not visible on the wire:",
            overall.excluded
        );
        for (why, n) in &exclusions {
            println!("  {n} × {why}");
        }
    }
    println!(
        "kernel truth: {} disagreements (scenario | point | endpoint | kernel | tcpladder | why):",
        disagreements.len()
    );
    for d in &disagreements {
        println!("  {d}");
    }
    println!(
        "kernel truth: state times (information, not asserted): {}/{} changes of agreeing paths within tolerance; the others:",
        times.0, times.1
    );
    for t in &off_times {
        println!("  {t}");
    }
    assert!(
        overall.total >= MIN_COMPARED,
        "kernel truth: only {} comparisons made, fewer than MIN_COMPARED = {MIN_COMPARED}",
        overall.total
    );
    assert_eq!(
        overall.agree, overall.total,
        "kernel truth: {}/{} endpoint paths agree; every one the wire can show must (see the disagreements above)",
        overall.agree, overall.total
    );
}

/// The checks on the truth files themselves must catch broken ones.
#[test]
#[should_panic(expected = "is missing")]
fn a_truth_file_naming_a_missing_capture_fails() {
    let dir = std::env::temp_dir().join(format!("tcpladder-kt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("truth.json");
    std::fs::write(
        &file,
        r#"{"scenario": "x", "captures": {"client": "nope.pcap"},
            "path": {"one_way_delay_ms": {"client": 0, "server": 0}},
            "endpoints": [{"local": "1.2.3.4:1", "remote": "1.2.3.5:2", "role": "client",
                           "incarnation": 0, "path": ["CLOSED"], "changes": [],
                           "time_wait_entered": null}]}"#,
    )
    .unwrap();
    load_truth(&file);
}

#[test]
#[should_panic(expected = "malformed")]
fn a_malformed_truth_file_fails() {
    let dir = std::env::temp_dir().join(format!("tcpladder-kt-m-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("truth.json");
    std::fs::write(&file, "{\"scenario\": ").unwrap();
    load_truth(&file);
}
