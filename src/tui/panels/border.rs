//! A panel's frame: its border and title, brighter when the panel has the focus.
//!
//! Depends on `theme` only. Every panel's block comes from here, so focus looks the same on
//! all of them.

use ratatui::text::{Line, Span};
use ratatui::widgets::Block;

use crate::tui::theme::Theme;

/// How the panel being drawn is framed: the theme, and whether it has the focus.
#[derive(Debug, Clone, Copy)]
pub struct Border {
    /// The colours (or none) to draw with.
    pub theme: Theme,
    /// Whether this panel has the focus.
    pub focused: bool,
}

impl Border {
    /// A bordered block titled `title`.
    pub fn titled(self, title: String) -> Block<'static> {
        Block::bordered()
            .title(Span::styled(title, self.theme.strong()))
            .border_style(self.theme.border(self.focused))
    }

    /// A chart's block: its title carries its legend, so every size has one (ratatui's own
    /// legend hides itself in all but the largest charts).
    pub fn chart(self, title: String, legend: Vec<Span<'static>>) -> Block<'static> {
        let mut spans = vec![Span::styled(title, self.theme.strong())];
        spans.extend(legend);
        Block::bordered()
            .title(Line::from(spans))
            .border_style(self.theme.border(self.focused))
    }
}
