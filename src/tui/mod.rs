//! The terminal UI: app state and its update function (`app`, with the
//! filter's text in `search`), views that
//! only read it (`view`), colours (`theme`) and the terminal and event
//! loop (`terminal`).

pub mod app;
pub mod search;
pub mod terminal;
pub mod theme;
pub mod view;
