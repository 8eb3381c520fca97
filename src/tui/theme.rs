//! Colours and symbols. Every role has a symbol as well as a colour, so the
//! ladder reads on a monochrome projector and for colour-blind viewers.

use ratatui::style::{Color, Modifier, Style};

use crate::ladder::Role;
use crate::track::State;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ThemeName {
    Dark,
    Light,
}

#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub name: ThemeName,
    pub base: Style,
    pub dim: Style,
    pub title: Style,
    pub selected: Style,
    pub border: Style,
    pub syn: Color,
    pub fin: Color,
    pub rst: Color,
    pub data: Color,
    pub ack: Color,
    pub state: Style,
    pub time_wait: Style,
    /// ICMP errors: their own colour, apart from every segment role.
    pub icmp: Style,
    /// Socket calls: a colour of their own, as they are not segments.
    pub call: Style,
    pub warn: Style,
}

impl Theme {
    pub fn new(name: ThemeName) -> Theme {
        match name {
            ThemeName::Dark => Theme {
                name,
                base: Style::new().fg(Color::Gray).bg(Color::Black),
                dim: Style::new().fg(Color::DarkGray).bg(Color::Black),
                title: Style::new()
                    .fg(Color::White)
                    .bg(Color::Black)
                    .add_modifier(Modifier::BOLD),
                selected: Style::new().fg(Color::Black).bg(Color::Cyan),
                border: Style::new().fg(Color::DarkGray).bg(Color::Black),
                syn: Color::LightGreen,
                fin: Color::LightBlue,
                rst: Color::LightRed,
                data: Color::LightYellow,
                ack: Color::Gray,
                state: Style::new()
                    .fg(Color::LightCyan)
                    .bg(Color::Black)
                    .add_modifier(Modifier::BOLD),
                time_wait: Style::new().fg(Color::LightMagenta).bg(Color::Black),
                icmp: Style::new().fg(Color::Rgb(255, 166, 87)).bg(Color::Black),
                call: Style::new().fg(Color::Rgb(255, 135, 175)).bg(Color::Black),
                warn: Style::new().fg(Color::LightRed).bg(Color::Black),
            },
            // Projectors wash out light colours: dark, saturated ones on white.
            ThemeName::Light => Theme {
                name,
                base: Style::new().fg(Color::Black).bg(Color::White),
                dim: Style::new().fg(Color::DarkGray).bg(Color::White),
                title: Style::new()
                    .fg(Color::Black)
                    .bg(Color::White)
                    .add_modifier(Modifier::BOLD),
                selected: Style::new().fg(Color::White).bg(Color::Blue),
                border: Style::new().fg(Color::DarkGray).bg(Color::White),
                syn: Color::Green,
                fin: Color::Blue,
                rst: Color::Red,
                data: Color::Rgb(150, 90, 0),
                ack: Color::DarkGray,
                state: Style::new()
                    .fg(Color::Blue)
                    .bg(Color::White)
                    .add_modifier(Modifier::BOLD),
                time_wait: Style::new().fg(Color::Magenta).bg(Color::White),
                icmp: Style::new().fg(Color::Rgb(194, 65, 12)).bg(Color::White),
                call: Style::new().fg(Color::Rgb(170, 30, 110)).bg(Color::White),
                warn: Style::new().fg(Color::Red).bg(Color::White),
            },
        }
    }

    /// The same theme with no colour at all (`--color never`, NO_COLOR):
    /// every foreground and background is the terminal's own, bold stays,
    /// and the selection is shown in reverse video.
    pub fn without_colour(self) -> Theme {
        let plain = |s: Style| {
            Style::new()
                .fg(Color::Reset)
                .bg(Color::Reset)
                .add_modifier(s.add_modifier)
        };
        Theme {
            name: self.name,
            base: plain(self.base),
            dim: plain(self.dim),
            title: plain(self.title),
            selected: plain(self.selected).add_modifier(Modifier::REVERSED),
            border: plain(self.border),
            syn: Color::Reset,
            fin: Color::Reset,
            rst: Color::Reset,
            data: Color::Reset,
            ack: Color::Reset,
            state: plain(self.state),
            time_wait: plain(self.time_wait),
            icmp: plain(self.icmp),
            call: plain(self.call),
            warn: plain(self.warn),
        }
    }

    pub fn role(&self, role: Role) -> Style {
        let fg = match role {
            Role::Syn | Role::SynAck => self.syn,
            Role::Fin => self.fin,
            Role::Rst => self.rst,
            Role::Data => self.data,
            Role::Ack => self.ack,
        };
        self.base.fg(fg)
    }

    pub fn state_style(&self, s: State) -> Style {
        match s {
            State::TimeWait => self.time_wait.add_modifier(Modifier::BOLD),
            State::Closed => self.state.fg(self.rst),
            _ => self.state,
        }
    }
}

/// Shaft and symbol of an arrow by role; retransmissions are dashed.
pub fn shaft(role: Role, retransmission: bool) -> char {
    if retransmission {
        return '╌';
    }
    match role {
        Role::Syn | Role::SynAck => '═',
        Role::Fin => '━',
        Role::Rst => '━',
        Role::Data => '─',
        Role::Ack => '┈',
    }
}

/// The symbol written before an arrow's label.
pub fn symbol(role: Role) -> char {
    match role {
        Role::Syn | Role::SynAck => '◆',
        Role::Fin => '■',
        Role::Rst => '✖',
        Role::Data => '●',
        Role::Ack => '○',
    }
}

/// The symbol before an ICMP error's label (its shaft is broken: ─ ─ ─).
pub const ICMP_SYMBOL: char = '△';

/// The legend shown in the help overlay.
pub const LEGEND: &[(Role, &str)] = &[
    (Role::Syn, "SYN, SYN,ACK (double line)"),
    (Role::Fin, "FIN (heavy line)"),
    (Role::Rst, "RST (heavy line)"),
    (Role::Data, "data (thin line)"),
    (Role::Ack, "pure ACK (dotted line)"),
];
