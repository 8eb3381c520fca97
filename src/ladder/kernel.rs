//! The kernel's own states beside the inferred ones, for the views: where
//! the kernel's record of an endpoint (`track::kernel`) says something the
//! capture's inference does not, as a [`Disagreement`] placed after the
//! segment row it belongs to. Pure: the record arrives as data.
//!
//! Two things the kernel never reports are not disagreements: a TIME-WAIT
//! mini-socket's end (the inferred CLOSED after TIME-WAIT runs out), and a
//! listener's request socket (a child socket enters SYN-RECEIVED only at
//! the final ACK, so its time there is not compared).

use crate::time::{Span, Timestamp};
use crate::track::kernel::{KernelStates, state_at};
use crate::track::{Basis, Connection, Side, State};

/// Slack on top of an endpoint's distance from the capture point before a
/// state entered at another time counts as a disagreement: the capture's
/// and the tracepoint's timestamps are taken at different places in the
/// stack.
const SLACK: Span = Span::from_nanos(5_000_000);

/// Where the kernel's record of one endpoint parts from the inference.
#[derive(Clone, Debug, PartialEq)]
pub struct Disagreement {
    pub side: Side,
    /// When the record and the inference part (the kernel's change, or the
    /// inferred one it never made).
    pub time: Timestamp,
    /// The last segment row at or before `time` (None: before the first).
    pub after_row: Option<usize>,
    /// The kernel's state of the endpoint then.
    pub kernel: State,
    /// The inferred state then.
    pub inferred: State,
    /// "the kernel entered FIN-WAIT-2 at +0.120 s; the capture shows TIME-WAIT".
    pub text: String,
}

/// The kernel's record of a connection and where it disagrees.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelView {
    pub states: KernelStates,
    /// In time order, one an endpoint at most: after the first parting the
    /// rest follows from it.
    pub disagreements: Vec<Disagreement>,
}

impl KernelView {
    /// The disagreements drawn on segment row `row` (one before the first
    /// row is drawn there).
    pub fn at_row(&self, row: usize) -> impl Iterator<Item = &Disagreement> {
        self.disagreements
            .iter()
            .filter(move |d| d.after_row.unwrap_or(0) == row)
    }
}

/// Each endpoint's state in the kernel's record just after segment row
/// `row` left or reached it (the capture time moved by the endpoint's
/// distance), None for an endpoint not on this host.
pub fn after_row(l: &super::Ladder, row: usize) -> Option<[Option<State>; 2]> {
    let k = l.kernel.as_ref()?;
    let r = l.rows.get(row)?;
    // Past the change the segment made (as far as the comparison lets the
    // two clocks differ), but not as far as the next segment.
    let gap = l
        .rows
        .get(row + 1)
        .map_or(Span::from_nanos(i64::MAX), |n| n.time - r.time);
    let settle = Span::from_nanos((gap.as_nanos() / 2).min(SLACK.as_nanos()));
    let at = |side: Side| {
        let d = l.distance[side.index()].unwrap_or_default();
        let t = if side == r.from {
            r.time - d
        } else {
            r.time + d
        };
        k.states.state_at(side, t + settle)
    };
    Some([at(Side::Client), at(Side::Server)])
}

/// Compares the kernel's record with `c`'s inferred states. `horizon`, for
/// a live capture, is how far both the record and the capture are complete:
/// nothing after it is compared.
pub fn compare(c: &Connection, k: &KernelStates, horizon: Option<Timestamp>) -> KernelView {
    let mut disagreements: Vec<Disagreement> = Side::BOTH
        .into_iter()
        .filter_map(|side| {
            let kernel = k.side(side)?;
            compare_side(c, side, kernel, horizon)
        })
        .collect();
    disagreements.sort_by_key(|d| d.time);
    let times: Vec<Timestamp> = c.segments.iter().map(|s| s.ts).collect();
    for d in &mut disagreements {
        d.after_row = times.partition_point(|&t| t <= d.time).checked_sub(1);
    }
    KernelView {
        states: k.clone(),
        disagreements,
    }
}

fn compare_side(
    c: &Connection,
    side: Side,
    kernel: &[(State, Timestamp)],
    horizon: Option<Timestamp>,
) -> Option<Disagreement> {
    let within = |t: Timestamp| horizon.is_none_or(|h| t <= h);
    let mut inferred = c.timeline(side);
    // The kernel never reports a TIME-WAIT mini-socket's end.
    if let [
        ..,
        (State::TimeWait, _, _),
        (State::Closed, _, Basis::Timer),
    ] = inferred.as_slice()
    {
        inferred.pop();
    }
    let inferred: Vec<_> = inferred.into_iter().filter(|s| within(s.1)).collect();
    let inferred_path: Vec<(State, Timestamp)> = inferred.iter().map(|s| (s.0, s.1)).collect();
    let kernel: Vec<_> = kernel.iter().copied().filter(|s| within(s.1)).collect();
    // "+0.060374" or "-0.000021" (connect() enters SYN-SENT before the
    // SYN is captured).
    let at = |t: Timestamp| format!("{:+.6}", (t - c.first_ts).as_secs_f64());
    let part = |time: Timestamp, text: String| Disagreement {
        side,
        time,
        after_row: None,
        kernel: state_at(&kernel, time).unwrap_or(State::Closed),
        inferred: state_at(&inferred_path, time).unwrap_or(c.initial[side.index()]),
        text,
    };
    for i in 0..kernel.len().max(inferred.len()) {
        match (kernel.get(i), inferred.get(i)) {
            (Some(&(ks, kt)), Some(&(is, it, basis))) if is == ks => {
                // The same state: entered at the same time?
                let request_socket = side == Side::Server && ks == State::SynReceived;
                let seen = matches!(basis, Basis::Sent | Basis::Acknowledged | Basis::Received);
                let tol = c.distance(side).unwrap_or_default() + SLACK;
                let off = if kt > it { kt - it } else { it - kt };
                if i > 0 && !request_socket && seen && off > tol {
                    return Some(part(
                        kt.min(it),
                        format!(
                            "the kernel entered {ks} at {} s; the capture shows it from {} s",
                            at(kt),
                            at(it)
                        ),
                    ));
                }
            }
            // The kernel entered a state the inference has not there.
            (Some(&(ks, kt)), _) => {
                let is = state_at(&inferred_path, kt).unwrap_or(c.initial[side.index()]);
                return Some(part(
                    kt,
                    format!(
                        "the kernel entered {ks} at {} s; the capture shows {is}",
                        at(kt)
                    ),
                ));
            }
            // The inference has a state the kernel never entered.
            (None, Some(&(is, it, _))) => {
                let ks = kernel.last().map_or(State::Closed, |s| s.0);
                return Some(part(
                    it,
                    format!(
                        "the capture shows {is} from {} s; the kernel never entered it (still {ks})",
                        at(it)
                    ),
                ));
            }
            (None, None) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client-closed connection as the tracker sees it on loopback.
    fn client_close() -> Connection {
        crate::track::tests::client_close_connection()
    }

    fn kernel_of(c: &Connection, shift: Span) -> KernelStates {
        let path = |side: Side| {
            let mut v: Vec<(State, Timestamp)> = c
                .timeline(side)
                .iter()
                .map(|s| (s.0, s.1 + shift))
                .collect();
            if v.last().map(|s| s.0) == Some(State::Closed) && side == Side::Client {
                v.pop();
            }
            Some(v)
        };
        KernelStates {
            sides: [path(Side::Client), path(Side::Server)],
        }
    }

    #[test]
    fn the_same_path_at_the_same_times_agrees() {
        let c = client_close();
        let v = compare(&c, &kernel_of(&c, Span::default()), None);
        assert!(v.disagreements.is_empty(), "{:?}", v.disagreements);
    }

    #[test]
    fn a_state_the_inference_missed_is_marked_where_the_kernel_entered_it() {
        let c = client_close();
        let mut k = kernel_of(&c, Span::default());
        // The kernel kept the client in FIN-WAIT-1 (say, the ACK was lost).
        let client = k.sides[0].as_mut().unwrap();
        let fw2 = client.iter().position(|s| s.0 == State::FinWait2).unwrap();
        let t = client[fw2].1;
        client.truncate(fw2);
        client.push((State::Closing, t));
        let v = compare(&c, &k, None);
        assert_eq!(v.disagreements.len(), 1, "{:?}", v.disagreements);
        let d = &v.disagreements[0];
        assert_eq!(
            (d.side, d.kernel, d.inferred),
            (Side::Client, State::Closing, State::FinWait2)
        );
        assert!(d.after_row.is_some());
        assert!(d.text.contains("CLOSING"), "{}", d.text);
    }

    #[test]
    fn a_state_entered_much_later_than_the_capture_shows_is_marked() {
        let c = client_close();
        let v = compare(&c, &kernel_of(&c, Span::from_nanos(50_000_000)), None);
        assert_eq!(v.disagreements.len(), 2, "{:?}", v.disagreements);
        // Within the slack it agrees.
        let v = compare(&c, &kernel_of(&c, Span::from_nanos(2_000_000)), None);
        assert!(v.disagreements.is_empty(), "{:?}", v.disagreements);
    }

    #[test]
    fn nothing_after_the_horizon_is_compared() {
        let c = client_close();
        let mut k = kernel_of(&c, Span::default());
        // The record so far: the handshake only.
        for side in k.sides.iter_mut().flatten() {
            side.truncate(3);
        }
        let horizon = k.sides[0].as_ref().unwrap()[2].1;
        assert!(!compare(&c, &k, None).disagreements.is_empty());
        let v = compare(&c, &k, Some(horizon));
        assert!(v.disagreements.is_empty(), "{:?}", v.disagreements);
    }

    #[test]
    fn an_endpoint_not_on_this_host_is_not_compared() {
        let c = client_close();
        let mut k = kernel_of(&c, Span::default());
        k.sides[1] = Some(vec![(State::Listen, c.first_ts)]);
        k.sides[0] = None;
        let v = compare(&c, &k, None);
        assert_eq!(v.disagreements.len(), 1);
        assert_eq!(v.disagreements[0].side, Side::Server);
    }
}
