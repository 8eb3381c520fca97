//! Isolation for `demo`: network namespaces that belong to this process
//! alone, so the built-in client and server can send packets without
//! touching the host's network.
//!
//! A namespace is made by a thread of its own calling
//! `unshare(CLONE_NEWNET)` (the `nix` crate's safe wrapper): a network
//! namespace is a per-thread attribute on Linux, so the rest of the process
//! stays where it was. The namespace is never given a name (no `ip netns
//! add`, nothing under /run/netns): it is held only by the file descriptor
//! of `/proc/thread-self/ns/net` that [`Netns`] keeps and by the threads
//! that entered it with `setns`. When the process ends, however it ends
//! (normal exit, Ctrl-C, a panic, SIGKILL), the kernel drops the last
//! reference and removes the namespace with its interfaces and sockets, so
//! nothing can be left behind.
//!
//! As root that is all. As another user, [`prepare`] first moves the whole
//! process into a new user namespace (`unshare(CLONE_NEWUSER |
//! CLONE_NEWNET)`, which Linux allows only while the process has one
//! thread, so it must run before any thread is started), where the user is
//! root over the namespaces it makes from then on.
//!
//! This module may not send packets or start the programs; it only makes,
//! enters and configures namespaces (the `ip` binary brings up loopback and
//! adds addresses where no TUN device does it).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use nix::sched::{CloneFlags, setns, unshare};

use super::DemoError;

/// How the process is allowed to make namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// Running as root in the host's user namespace.
    Root,
    /// An unprivileged user, now root of a user namespace of its own.
    UserNamespace,
}

/// Makes namespace creation possible for this process: nothing to do as
/// root; otherwise a new user namespace (and a network namespace, so that
/// even the main thread leaves the host's network). Must be called before
/// the process starts any thread.
pub fn prepare() -> Result<Privilege, DemoError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(Privilege::Root);
    }
    if let Some(why) = userns_forbidden() {
        return Err(DemoError::Isolation(format!(
            "a private network namespace needs root or unprivileged user namespaces, and {why}"
        )));
    }
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET).map_err(|e| {
        DemoError::Isolation(format!(
            "a private network namespace needs root or unprivileged user namespaces: unshare(CLONE_NEWUSER) failed ({})",
            e.desc()
        ))
    })?;
    // Map the user to root inside; setgroups must be denied before an
    // unprivileged process may write gid_map.
    let maps = [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("0 {uid} 1")),
        ("/proc/self/gid_map", format!("0 {gid} 1")),
    ];
    for (path, text) in maps {
        std::fs::write(path, text).map_err(|e| {
            DemoError::Isolation(format!(
                "cannot write {path} in the new user namespace: {e}"
            ))
        })?;
    }
    Ok(Privilege::UserNamespace)
}

/// The sysctl that forbids unprivileged user namespaces here, if one does.
fn userns_forbidden() -> Option<String> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
    };
    if read("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
        return Some("kernel.unprivileged_userns_clone is 0 (set it to 1, or run as root)".into());
    }
    if read("/proc/sys/user/max_user_namespaces") == Some(0) {
        return Some("user.max_user_namespaces is 0 (raise it, or run as root)".into());
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
        return Some(
            "kernel.apparmor_restrict_unprivileged_userns is 1 (set it to 0, or run as root)"
                .into(),
        );
    }
    None
}

/// A network namespace of this process, alive while this (or a thread in
/// it) exists.
#[derive(Clone, Debug)]
pub struct Netns {
    fd: Arc<OwnedFd>,
}

impl Netns {
    /// Makes a new namespace on a thread of its own and runs `setup` in it
    /// (open a TUN device, set sysctls): what `setup` creates lives in the
    /// new namespace.
    pub fn create<T: Send + 'static>(
        setup: impl FnOnce() -> Result<T, DemoError> + Send + 'static,
    ) -> Result<(Netns, T), DemoError> {
        let worker = std::thread::Builder::new()
            .name("demo-netns".into())
            .spawn(move || -> Result<(OwnedFd, T), DemoError> {
                unshare(CloneFlags::CLONE_NEWNET).map_err(|e| {
                    DemoError::Isolation(format!(
                        "cannot make a network namespace: unshare(CLONE_NEWNET) failed ({}); it needs root or unprivileged user namespaces",
                        e.desc()
                    ))
                })?;
                let fd: OwnedFd = File::open("/proc/thread-self/ns/net")
                    .map_err(|e| {
                        DemoError::Isolation(format!("cannot open /proc/thread-self/ns/net: {e}"))
                    })?
                    .into();
                let made = setup()?;
                Ok((fd, made))
            })
            .map_err(|e| DemoError::Isolation(format!("cannot start a thread: {e}")))?;
        let (fd, made) = worker
            .join()
            .map_err(|_| DemoError::Isolation("the namespace thread panicked".into()))??;
        Ok((Netns { fd: Arc::new(fd) }, made))
    }

    /// Moves the calling thread into this namespace (and only that thread).
    pub fn enter(&self) -> Result<(), DemoError> {
        setns(&*self.fd, CloneFlags::CLONE_NEWNET).map_err(|e| {
            DemoError::Isolation(format!(
                "cannot enter the demo's network namespace: setns failed ({})",
                e.desc()
            ))
        })
    }

    /// Starts a thread in this namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<std::thread::JoinHandle<Result<T, DemoError>>, DemoError> {
        let ns = self.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                ns.enter()?;
                Ok(f())
            })
            .map_err(|e| DemoError::Isolation(format!("cannot start a thread: {e}")))
    }
}

/// Runs `ip ARGS` in the calling thread's namespace (a child process
/// inherits the namespace of the thread that forks it).
pub fn ip(args: &[&str]) -> Result<(), DemoError> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        DemoError::Isolation(format!(
            "the `ip` command (iproute2) is needed to set up the demo's namespace: {e}"
        ))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DemoError::Isolation(format!(
            "`ip {}` failed in the demo's namespace: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Sets a sysctl of the calling thread's network namespace (the files
/// under /proc/sys/net are those of the namespace of the thread that opens
/// them, so the host's value is untouched).
pub fn sysctl(name: &str, value: &str) -> Result<(), DemoError> {
    let path = Path::new("/proc/sys").join(name.replace('.', "/"));
    std::fs::write(&path, value).map_err(|e| {
        DemoError::Isolation(format!(
            "cannot set {name} in the demo's namespace ({}): {e}",
            path.display()
        ))
    })
}
