//! What the kernel says about a traced program's sockets, read while the
//! program is stopped: `/proc/TID/fd/FD` names the socket's inode
//! (`socket:[INODE]`), and `/proc/TID/net/tcp` and `tcp6` (the tables of
//! the tracee's own network namespace) give that inode's local and remote
//! address and its state. Also the decoding of a `struct sockaddr` read out
//! of the tracee's memory.
//!
//! The fast, exact way comes first ([`Peek`]): a copy of the tracee's fd
//! taken with `pidfd_getfd` (Linux 5.6+), asked `getsockname` and
//! `getpeername`, and closed again before the tracee runs on (the socket
//! has one more reference only while the tracee is stopped, so its close
//! still sends the FIN). Reading the TCP tables scans every socket of the
//! namespace (a millisecond or more on a busy host, during which other
//! tracees wait to be seen), so it is the fallback.
//!
//! This module only reads `/proc`, copies fds and parses bytes: it may not
//! stop, resume or signal a process, nor do anything with a copied fd but
//! ask its addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One row of a kernel TCP table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Linux's state number (`0A` = LISTEN).
    pub state: u8,
    pub inode: u64,
}

impl TcpRow {
    pub fn listening(&self) -> bool {
        self.state == 0x0A
    }
}

/// The socket inode behind `fd` of task `tid`, or `None` when the fd is
/// not a socket (or no longer open).
pub fn socket_inode(tid: i32, fd: i32) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let link = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()?;
    let text = link.to_str()?;
    text.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// What a socket's own fd says of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockView {
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub listening: bool,
    /// An IPv4 or IPv6 stream socket.
    pub tcp: bool,
}

impl From<TcpRow> for SockView {
    fn from(r: TcpRow) -> SockView {
        SockView {
            local: Some(r.local),
            remote: (r.remote.port() != 0).then_some(r.remote),
            listening: r.listening(),
            tcp: true,
        }
    }
}

/// Copies of tracees' fds, through one pidfd per process.
#[derive(Debug, Default)]
pub struct Peek {
    pidfds: std::collections::HashMap<i32, Option<std::os::fd::OwnedFd>>,
    tgids: std::collections::HashMap<i32, i32>,
}

impl Peek {
    /// The addresses of `fd` of task `tid`; `None` when the kernel gives no
    /// copy (before 5.6, or not allowed): then [`find`] is the way.
    pub fn view(&mut self, tid: i32, fd: i32) -> Option<SockView> {
        let tgid = match self.tgids.get(&tid) {
            Some(&g) => g,
            None => {
                let g = tgid(tid)?;
                self.tgids.insert(tid, g);
                g
            }
        };
        let pidfd = self
            .pidfds
            .entry(tgid)
            .or_insert_with(|| {
                let pid = rustix::process::Pid::from_raw(tgid)?;
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
            })
            .as_ref()?;
        let copy =
            rustix::process::pidfd_getfd(pidfd, fd, rustix::process::PidfdGetfdFlags::empty())
                .ok()?;
        let sock = socket2::Socket::from(copy);
        let addr = |a: std::io::Result<socket2::SockAddr>| {
            a.ok()
                .and_then(|a| a.as_socket())
                .map(normal)
                .filter(|a| a.port() != 0)
        };
        let inet = matches!(sock.domain(), Ok(d) if d == socket2::Domain::IPV4 || d == socket2::Domain::IPV6);
        let stream = matches!(sock.r#type(), Ok(t) if t == socket2::Type::STREAM);
        let view = SockView {
            local: addr(sock.local_addr()),
            remote: addr(sock.peer_addr()),
            listening: sock.is_listener().unwrap_or(false),
            tcp: inet && stream,
        };
        // `sock` (the copy) is closed here, before the tracee resumes.
        Some(view)
    }

    /// Forgets a task that exited (its id may be reused).
    pub fn forget(&mut self, tid: i32) {
        self.tgids.remove(&tid);
        self.pidfds.remove(&tid);
    }
}

/// A v4-mapped IPv6 address as IPv4, as the capture shows it.
fn normal(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        IpAddr::V4(_) => a,
    }
}

/// The process (thread group) a task belongs to.
pub fn tgid(tid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))?
        .trim()
        .parse()
        .ok()
}

/// The row of the TCP socket with this inode in `tid`'s namespace.
pub fn find(tid: i32, inode: u64) -> Option<TcpRow> {
    ["tcp", "tcp6"].iter().find_map(|t| {
        let text = std::fs::read_to_string(format!("/proc/{tid}/net/{t}")).ok()?;
        parse_table(&text).into_iter().find(|r| r.inode == inode)
    })
}

/// Every row of a `/proc/net/tcp` or `tcp6` text (the header skipped, bad
/// rows ignored).
pub fn parse_table(text: &str) -> Vec<TcpRow> {
    text.lines().skip(1).filter_map(parse_row).collect()
}

fn parse_row(line: &str) -> Option<TcpRow> {
    let f: Vec<&str> = line.split_whitespace().collect();
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    let local = parse_addr(f.get(1)?)?;
    let remote = parse_addr(f.get(2)?)?;
    let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
    let inode = f.get(9)?.parse().ok()?;
    Some(TcpRow {
        local,
        remote,
        state,
        inode,
    })
}

/// `0100007F:1F90` or a 32-hex-digit IPv6 address and a port. The kernel
/// prints each 32-bit word of the address as a host-order number.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(b);
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            }
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// A `struct sockaddr_in` or `sockaddr_in6` as the program passed it;
/// `None` for other families or a short buffer. A v4-mapped IPv6 address
/// is given as IPv4, as the capture shows it.
pub fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]);
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match i32::from(family) {
        nix::libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::new(Ipv4Addr::from(ip).into(), port))
        }
        nix::libc::AF_INET6 => {
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let v6 = Ipv6Addr::from(ip);
            let ip = match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            };
            Some(SocketAddr::new(ip, port))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D431 0100007F:2328 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn a_v4_table_gives_addresses_states_and_inodes() {
        let rows = parse_table(TCP);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].local, "127.0.0.1:9000".parse().unwrap());
        assert!(rows[0].listening());
        assert_eq!(rows[1].local, "127.0.0.1:54321".parse().unwrap());
        assert_eq!(rows[1].remote, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(rows[1].state, 1);
        assert_eq!(rows[1].inode, 4343);
    }

    #[test]
    fn a_v6_row_and_a_mapped_v4_row() {
        let text = "header
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 77 1
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:C000 01 0:0 0:0 0 0 0 78 1
";
        let rows = parse_table(text);
        assert_eq!(rows[0].local, "[::1]:8080".parse().unwrap());
        assert_eq!(rows[1].remote, "127.0.0.1:49152".parse().unwrap());
        assert_eq!(rows[1].inode, 78);
    }

    #[test]
    fn sockaddrs_of_both_families() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&(nix::libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&9000u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(parse_sockaddr(&v4), Some("127.0.0.1:9000".parse().unwrap()));
        let mut v6 = vec![0u8; 28];
        v6[..2].copy_from_slice(&(nix::libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&80u16.to_be_bytes());
        v6[23] = 1;
        assert_eq!(parse_sockaddr(&v6), Some("[::1]:80".parse().unwrap()));
        assert_eq!(parse_sockaddr(&v4[..6]), None);
        assert_eq!(parse_sockaddr(&[1, 0, 0, 0]), None);
    }
}
