//! The delayed path between the demo's two namespaces.
//!
//! This kernel has no `sch_netem`, so the delay is made in user space: the
//! client's namespace and the server's each get a TUN device (`tl0`, opened
//! while the thread is in that namespace, with the `tun` crate's safe
//! wrapper around the TUNSETIFF ioctl), with an address in 198.18.0.0/24
//! whose connected route sends everything for the peer into the device. The
//! file descriptors of both devices are held here, and for each direction a
//! reader thread takes every IP packet the kernel writes into one device,
//! stamps when it came, and queues it; a writer thread hands it to the other
//! device once it has waited the delay. The queue is first in, first out
//! and the delay constant, so packets keep their order.
//!
//! Two more addresses exist only in the forwarder, for the errors
//! `connect()` can meet: [`SILENT`] swallows every packet (a host that is
//! down: the SYN is never answered) and [`UNREACHABLE`] is answered, one
//! delay later (a round trip to a router half way), by an ICMP host
//! unreachable from [`ROUTER`] quoting the packet (what a router with no
//! route to the host sends).
//!
//! This module moves packets; it may not make namespaces or capture.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::DemoError;

/// The client's address.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The server's address.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// A host that never answers (its packets are dropped by the forwarder).
pub const SILENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
/// A host the "router" cannot reach: answered with ICMP host unreachable.
pub const UNREACHABLE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 4);
/// Where the ICMP errors come from.
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
/// The interface name in both namespaces.
pub const TUN_NAME: &str = "tl0";

/// How long a reader waits for a packet before looking at the stop flag.
const POLL: Duration = Duration::from_millis(20);
const MTU: u16 = 1500;
/// How long before a packet is due the writer stops sleeping and spins.
const SPIN: Duration = Duration::from_micros(300);

/// A TUN device with `addr`/24, up, in the calling thread's namespace.
pub fn open_tun(addr: Ipv4Addr) -> Result<tun::Device, DemoError> {
    let mut cfg = tun::Configuration::default();
    cfg.tun_name(TUN_NAME)
        .address(addr)
        .netmask(Ipv4Addr::new(255, 255, 255, 0))
        .mtu(MTU)
        .up();
    tun::create(&cfg).map_err(|e| {
        let text = e.to_string();
        let denied = text.contains("ermission") || text.contains("not permitted");
        if denied {
            DemoError::Isolation(format!(
                "a delayed path needs /dev/net/tun, which this user may not open ({text}); run as root, or use --delay 0 (plain loopback)"
            ))
        } else {
            DemoError::Isolation(format!(
                "cannot make the TUN device for the delayed path ({text}); /dev/net/tun and the tun module are needed, or use --delay 0"
            ))
        }
    })
}

/// The running forwarder.
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The most a packet left after it was due, in nanoseconds: how far
    /// the path's delay can be from the one asked for.
    late: Arc<AtomicU64>,
}

struct Held {
    due: Instant,
    packet: Vec<u8>,
}

impl Forwarder {
    /// Starts copying packets between the two devices, each held `delay`.
    pub fn start(
        client: tun::Device,
        server: tun::Device,
        delay: Duration,
    ) -> Result<Forwarder, DemoError> {
        let client = Arc::new(client);
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let (to_server, for_server) = channel::<Held>();
        let (to_client, for_client) = channel::<Held>();
        let mut threads = Vec::new();
        let mut spawn = |name: &str, f: Box<dyn FnOnce() + Send>| -> Result<(), DemoError> {
            let t = std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| DemoError::Isolation(format!("cannot start a thread: {e}")))?;
            threads.push(t);
            Ok(())
        };
        {
            let (dev, stop, fwd, back) = (
                Arc::clone(&client),
                Arc::clone(&stop),
                to_server.clone(),
                to_client.clone(),
            );
            spawn(
                "demo-c2s",
                Box::new(move || read_loop(&dev, &stop, delay, &fwd, Some(&back))),
            )?;
        }
        {
            let (dev, stop, fwd) = (Arc::clone(&server), Arc::clone(&stop), to_client);
            spawn(
                "demo-s2c",
                Box::new(move || read_loop(&dev, &stop, delay, &fwd, None)),
            )?;
        }
        drop(to_server);
        let late = Arc::new(AtomicU64::new(0));
        let (dev, l) = (Arc::clone(&server), Arc::clone(&late));
        spawn(
            "demo-to-server",
            Box::new(move || write_loop(&dev, &for_server, &l)),
        )?;
        let (dev, l) = (Arc::clone(&client), Arc::clone(&late));
        spawn(
            "demo-to-client",
            Box::new(move || write_loop(&dev, &for_client, &l)),
        )?;
        Ok(Forwarder {
            stop,
            threads,
            late,
        })
    }

    /// Stops the threads (packets still held are dropped with the devices)
    /// and returns the most any packet was late.
    pub fn stop(self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        Duration::from_nanos(self.late.load(Ordering::Relaxed))
    }
}

/// Reads packets from `dev` and queues them for the other side. `back` is
/// given for the client's device: where the ICMP answers go.
fn read_loop(
    dev: &tun::Device,
    stop: &AtomicBool,
    delay: Duration,
    fwd: &Sender<Held>,
    back: Option<&Sender<Held>>,
) {
    let mut buf = vec![0u8; usize::from(MTU) + 64];
    while !stop.load(Ordering::Relaxed) {
        let n = match dev.recv_timeout(&mut buf, POLL) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let due = Instant::now() + delay;
        let packet = &buf[..n];
        let queued = match (back, ipv4_dst(packet)) {
            (Some(_), Some(SILENT)) => Ok(()),
            (Some(back), Some(UNREACHABLE)) => match icmp_host_unreachable(packet) {
                Some(p) => back.send(Held { due, packet: p }),
                None => Ok(()),
            },
            _ => fwd.send(Held {
                due,
                packet: packet.to_vec(),
            }),
        };
        if queued.is_err() {
            return;
        }
    }
}

/// Writes each queued packet into `dev` once it is due. Ends when every
/// reader has stopped.
fn write_loop(dev: &tun::Device, queue: &Receiver<Held>, late: &AtomicU64) {
    while let Ok(held) = queue.recv() {
        // The scheduler wakes a sleeper late by tens to hundreds of
        // microseconds; the last stretch is spun so the delay is what was
        // asked for, not that plus a wake-up.
        let now = Instant::now();
        if held.due > now + SPIN {
            std::thread::sleep(held.due - now - SPIN);
        }
        while Instant::now() < held.due {
            std::hint::spin_loop();
        }
        // A packet the kernel refuses is a packet lost on the path.
        let _ = dev.send(&held.packet);
        let by = Instant::now().saturating_duration_since(held.due);
        late.fetch_max(
            u64::try_from(by.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

fn ipv4_dst(p: &[u8]) -> Option<Ipv4Addr> {
    if p.len() >= 20 && p[0] >> 4 == 4 {
        Some(Ipv4Addr::new(p[16], p[17], p[18], p[19]))
    } else {
        None
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// ICMP destination unreachable, host unreachable (type 3 code 1), from
/// [`ROUTER`] to the sender of `packet`, quoting it as Linux's routers do
/// (the IP header and as much of the rest as fits in 576 bytes).
pub fn icmp_host_unreachable(packet: &[u8]) -> Option<Vec<u8>> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    let sender = [packet[12], packet[13], packet[14], packet[15]];
    let quote = &packet[..packet.len().min(576 - 28)];
    let mut icmp = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quote);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = u16::try_from(20 + icmp.len()).ok()?;
    let mut ip = vec![0x45u8, 0xc0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&ROUTER.octets());
    ip.extend_from_slice(&sender);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    Some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_header() {
        // RFC 1071's example words sum to 0xddf2, so the checksum is !0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn icmp_error_quotes_the_packet_and_checks_out() {
        let mut syn = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
        syn.extend_from_slice(&CLIENT.octets());
        syn.extend_from_slice(&UNREACHABLE.octets());
        syn.extend_from_slice(&[0x9c, 0x40, 0x25, 0x1e, 0, 0, 0, 7, 0, 0, 0, 0]);
        syn.extend_from_slice(&[0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        let e = icmp_host_unreachable(&syn).unwrap();
        assert_eq!(&e[12..16], &ROUTER.octets());
        assert_eq!(&e[16..20], &CLIENT.octets());
        assert_eq!((e[20], e[21]), (3, 1));
        assert_eq!(&e[28..], &syn[..]);
        assert_eq!(checksum(&e[..20]), 0, "IP header checksum");
        assert_eq!(checksum(&e[20..]), 0, "ICMP checksum");
        assert_eq!(usize::from(u16::from_be_bytes([e[2], e[3]])), e.len());
    }
}
