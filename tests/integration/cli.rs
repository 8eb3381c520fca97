//! The binary's own options: `--color` / NO_COLOR in `analyze`'s text.

use std::path::Path;
use std::process::{Command, Output};

fn tcpladder(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tcpladder"));
    cmd.args(args).env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

fn capture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/client-close.pcap")
        .display()
        .to_string()
}

const ESC: char = '\x1b';

#[test]
fn analyze_colours_only_when_asked_or_on_a_terminal() {
    let cap = capture();
    let plain = stdout(&tcpladder(&["analyze", &cap], &[]));
    assert!(plain.contains("TIME-WAIT") && !plain.contains(ESC));
    let never = stdout(&tcpladder(&["analyze", &cap, "--color", "never"], &[]));
    assert_eq!(never, plain);
    let always = stdout(&tcpladder(&["--color", "always", "analyze", &cap], &[]));
    assert!(always.contains("\x1b[1;35mTIME-WAIT\x1b[0m"), "{always}");
    assert_ne!(always, plain);
    // `always` is the user's word for this run: it wins over NO_COLOR.
    let no_color = [("NO_COLOR", "1")];
    let both = stdout(&tcpladder(&["analyze", &cap, "--color=always"], &no_color));
    assert_eq!(both, always);
    // JSON is never coloured.
    let json = stdout(&tcpladder(
        &["analyze", &cap, "--json", "--color", "always"],
        &[],
    ));
    assert!(!json.contains(ESC));
}

/// `auto` on a terminal (a pseudo-terminal from util-linux's `script`).
#[test]
fn analyze_on_a_terminal_colours_unless_no_color_is_set() {
    let cap = capture();
    let on_terminal = |no_color: Option<&str>| {
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c"])
            .arg(format!("{} analyze {cap}", env!("CARGO_BIN_EXE_tcpladder")))
            .arg("/dev/null")
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        stdout(&cmd.output().expect("script (util-linux) runs"))
    };
    let coloured = on_terminal(None);
    assert!(
        coloured.contains("\x1b[1;36mSYN-SENT\x1b[0m"),
        "{coloured:?}"
    );
    let off = on_terminal(Some("1"));
    assert!(off.contains("SYN-SENT") && !off.contains(ESC), "{off:?}");
    // An empty NO_COLOR counts as unset.
    assert!(on_terminal(Some("")).contains(ESC));
}
