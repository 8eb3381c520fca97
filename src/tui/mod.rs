//! The terminal UI: app state and its update function (`app`), views that
//! only read it (`view`), colours (`theme`) and the terminal and event
//! loop (`terminal`).

pub mod app;
pub mod terminal;
pub mod theme;
pub mod view;
