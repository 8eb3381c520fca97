//! The binary's own commands and options: shell completions and the man
//! page made from the argument definitions, and `--color` / NO_COLOR in
//! `analyze`'s text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::CommandFactory;

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

/// Every command the definitions have.
fn commands() -> Vec<String> {
    let cli = tcpladder::cli::Cli::command();
    let names: Vec<String> = cli
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    assert!(names.len() >= 9, "{names:?}");
    names
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bash_completion_parses_names_every_command_and_completes() {
    let script = stdout(&tcpladder(&["completions", "bash"], &[]));
    for name in commands() {
        assert!(script.contains(&name), "the bash script lacks {name}");
    }
    let file = scratch("bash").join("tcpladder.bash");
    std::fs::write(&file, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // As bash calls it on `tcpladder ana<Tab>` and `tcpladder --color <Tab>`:
    // the words, and the command, the word being completed and the one
    // before as arguments.
    let complete = |words: &str, at: usize, cur: &str, prev: &str| {
        let run = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD={at}; \
             _tcpladder tcpladder '{cur}' '{prev}'; echo \"${{COMPREPLY[*]}}\"",
            file.display()
        );
        let out = Command::new("bash").args(["-c", &run]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(complete("tcpladder ana", 1, "ana", "tcpladder"), "analyze");
    let colours = complete("tcpladder --color ''", 2, "", "--color");
    assert_eq!(colours, "auto always never");
}

#[test]
fn zsh_and_fish_completions_name_every_command() {
    for shell in ["zsh", "fish"] {
        let script = stdout(&tcpladder(&["completions", shell], &[]));
        for name in commands() {
            assert!(script.contains(&name), "the {shell} script lacks {name}");
        }
    }
    let bad = tcpladder(&["completions", "tcsh"], &[]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_man_page_is_roff_and_names_every_command() {
    let page = stdout(&tcpladder(&["man"], &[]));
    assert!(page.contains("\n.TH tcpladder 1 "), "{page}");
    assert!(page.contains("\n.SH SYNOPSIS\n") && page.contains("\n.SH OPTIONS\n"));
    for name in commands() {
        // roff writes a hyphen as \-.
        let entry = format!("tcpladder\\-{name}(1)");
        assert!(page.contains(&entry), "the man page lacks {entry}");
        let sub = stdout(&tcpladder(&["man", &name], &[]));
        assert!(
            sub.contains(&format!("\n.TH tcpladder-{name} 1 ")),
            "{name}: {sub}"
        );
    }
    let export = stdout(&tcpladder(&["man", "export"], &[]));
    assert!(export.contains("\\-\\-title") && export.contains("\\-\\-font"));
    let bad = tcpladder(&["man", "nope"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("no command 'nope'") && err.contains("export"),
        "{err}"
    );
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
