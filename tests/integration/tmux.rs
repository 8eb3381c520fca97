//! Runs `tests/tui_tmux.sh`: the real binary in a real terminal (tmux),
//! keys sent, screens read, the terminal restored after `q`.

use std::process::Command;

#[test]
fn tui_in_a_real_terminal() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/tests/tui_tmux.sh"))
        .arg(env!("CARGO_BIN_EXE_tcpladder"))
        .output()
        .expect("run tests/tui_tmux.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("tui_tmux: ok") || stdout.contains("SKIPPED"),
        "{stdout}"
    );
}
