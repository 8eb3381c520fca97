//! BPF filters on capture files, with libpcap's own compiler and matcher
//! (the `pcap` crate), so an expression means here what it means to
//! tcpdump. A program is compiled for each link type a file's records
//! come with, when the first of them comes.
//!
//! libpcap's matcher is given the captured bytes as the packet's length
//! too: an expression on the original length (`len`, `greater`, `less`)
//! sees what the capture kept of a packet cut short by the snapshot
//! length.

use pcap::{BpfProgram, Capture};

use super::Record;

/// A filter expression, compiled per link type as records need it.
pub struct Bpf {
    expr: String,
    /// (link type, other byte order, its program or why there is none).
    programs: Vec<(u32, bool, Result<BpfProgram, String>)>,
}

impl std::fmt::Debug for Bpf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bpf({:?})", self.expr)
    }
}

/// Ethernet: where an expression is checked before any file is read.
const LINKTYPE_ETHERNET: u32 = 1;

impl Bpf {
    /// Checks `expr` the way tcpdump would on an Ethernet capture (its
    /// syntax, chiefly); a file of another link type may still refuse it.
    pub fn check(expr: &str) -> Result<Bpf, String> {
        let mut b = Bpf {
            expr: expr.to_string(),
            programs: Vec::new(),
        };
        b.program(LINKTYPE_ETHERNET, false)?;
        Ok(b)
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The program for `link`, compiled the first time.
    fn program(&mut self, link: u32, swapped: bool) -> Result<&BpfProgram, String> {
        let at = match self
            .programs
            .iter()
            .position(|(l, s, _)| (*l, *s) == (link, swapped))
        {
            Some(i) => i,
            None => {
                self.programs
                    .push((link, swapped, compile(&self.expr, link, swapped)));
                self.programs.len() - 1
            }
        };
        match &self.programs[at].2 {
            Ok(p) => Ok(p),
            Err(e) => Err(e.clone()),
        }
    }

    /// Whether `rec` matches; an error if the expression cannot apply to
    /// its link type (`ether host` on raw IP, say).
    pub fn matches(&mut self, rec: &Record<'_>) -> Result<bool, String> {
        Ok(self.program(rec.link, swapped(rec))?.filter(rec.data))
    }
}

/// BSD loopback (and OpenBSD's enc) begin with an address family in the
/// writer's byte order, which libpcap's compiler takes from the file: a
/// family that reads as a little number only big-endian was written so.
fn swapped(rec: &Record<'_>) -> bool {
    const NULL: u32 = 0;
    const ENC: u32 = 109;
    match (rec.link, rec.data.get(..4)) {
        (NULL | ENC, Some(&[a, b, c, d])) => {
            let le = u32::from_le_bytes([a, b, c, d]);
            le > 0xffff && u32::from_be_bytes([a, b, c, d]) <= 0xffff
        }
        _ => false,
    }
}

/// Compiles `expr` as libpcap does for a capture file of `link` (written
/// in the other byte order when `swapped`): on a handle opened on a file
/// that is only such a header. A handle made for a link type alone would
/// compile for this machine's own capture (BSD loopback's address family
/// numbers, say, are Linux's then, not the ones files carry).
fn compile(expr: &str, link: u32, swapped: bool) -> Result<BpfProgram, String> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("tcpladder-bpf-{}-{n}.pcap", std::process::id()));
    let mut header = Vec::with_capacity(24);
    let word = |v: u32| {
        if swapped {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let half = |v: u16| {
        if swapped {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    header.extend_from_slice(&word(0xa1b2_c3d4));
    header.extend_from_slice(&half(2));
    header.extend_from_slice(&half(4));
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&word(65_535));
    header.extend_from_slice(&word(link));
    let opened = std::fs::write(&path, &header)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|()| {
            Capture::from_file(&path)
                .map_err(|e| format!("libpcap cannot take link type {link}: {e}"))
        });
    let _ = std::fs::remove_file(&path);
    opened?.compile(expr, true).map_err(|e| {
        let why = e.to_string();
        if link == LINKTYPE_ETHERNET {
            format!("filter '{expr}': {why}")
        } else {
            format!("filter '{expr}' cannot be used on link type {link}: {why}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(link: u32, data: &[u8]) -> Record<'_> {
        Record {
            frame: 1,
            ts: crate::time::Timestamp::default(),
            link,
            data,
            orig_len: data.len() as u32,
            interface: 0,
            offset: 0,
            rereadable: false,
        }
    }

    /// IPv4 + a TCP header with the given flags, ports 1000 → 80.
    fn ipv4_tcp(flags: u8) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&1000u16.to_be_bytes());
        p.extend_from_slice(&80u16.to_be_bytes());
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p
    }

    #[test]
    fn an_expression_matches_as_tcpdump_reads_it_on_each_link_type() {
        let mut b = Bpf::check("tcp port 80 and tcp[tcpflags] & tcp-syn != 0").unwrap();
        let syn = ipv4_tcp(0x02);
        let ack = ipv4_tcp(0x10);
        // Raw IP (LINKTYPE 101).
        assert_eq!(b.matches(&rec(101, &syn)), Ok(true));
        assert_eq!(b.matches(&rec(101, &ack)), Ok(false));
        // The same behind an Ethernet header.
        let eth = |p: &[u8]| [&[0u8; 12][..], &[0x08, 0x00], p].concat();
        assert_eq!(b.matches(&rec(1, &eth(&syn))), Ok(true));
        assert_eq!(b.matches(&rec(1, &eth(&ack))), Ok(false));
        assert_eq!(b.programs.len(), 2, "one program a link type");
    }

    #[test]
    fn a_bad_expression_or_one_a_link_type_cannot_take_is_said() {
        let e = Bpf::check("tcp prot 80").unwrap_err();
        assert!(e.starts_with("filter 'tcp prot 80': "), "{e}");
        let mut b = Bpf::check("ether host 00:11:22:33:44:55").unwrap();
        let e = b.matches(&rec(101, &ipv4_tcp(2))).unwrap_err();
        assert!(e.contains("cannot be used on link type 101"), "{e}");
    }
}
