//! Colours, in one place so `--no-color` and `NO_COLOR` switch every one off.
//!
//! Depends on nothing in the crate. Invariant: without colour every style is plain or
//! bold, and series differ by marker (`marker`, `swatch`), never by colour alone.

use ratatui::style::{Color, Modifier, Style};

/// The styles the panels use.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// Colours on (`true`) or off.
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Ordinary text.
    pub fn text(self) -> Style {
        Style::new()
    }

    /// Labels and secondary text.
    pub fn dim(self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// Headings and key figures.
    pub fn strong(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// A panel's border, brighter when focused.
    pub fn border(self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
        } else {
            self.fg(Color::DarkGray)
        }
    }

    /// Something going wrong (errors, drops, the generator falling behind).
    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Something to notice (paused, stopping).
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// Healthy figures.
    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }

    /// Whether colours are on.
    pub fn colored(self) -> bool {
        self.color
    }

    /// How series of rank `rank` are plotted: without colour they differ by marker.
    pub fn marker(self, rank: usize) -> ratatui::symbols::Marker {
        use ratatui::symbols::Marker;
        if self.color {
            return Marker::Braille;
        }
        // The fifth (the server's time) shares the half block with `--baseline`'s level lines.
        [
            Marker::Braille,
            Marker::Dot,
            Marker::Bar,
            Marker::Block,
            Marker::HalfBlock,
        ][rank % 5]
    }

    /// The legend's sample of a series: a coloured line, or the marker it is drawn with.
    pub fn swatch(self, rank: usize) -> &'static str {
        if self.color {
            return "━";
        }
        ["⣀", "•", "▄", "█", "▀"][rank % 5]
    }

    /// A chart series' colour, by rank (0 = p50 / requests, then p90, p99, max, and the
    /// server's p99).
    pub fn series(self, rank: usize) -> Style {
        let colors = [
            Color::Cyan,
            Color::Green,
            Color::Yellow,
            Color::Magenta,
            Color::LightBlue,
        ];
        self.fg(colors[rank % colors.len()])
    }

    /// A status code's colour by class.
    pub fn status(self, code: u16) -> Style {
        match code / 100 {
            2 => self.fg(Color::Green),
            3 => self.fg(Color::Cyan),
            4 => self.fg(Color::Yellow),
            5 => self.fg(Color::Red),
            _ => self.fg(Color::Gray),
        }
    }
}
