//! Ids shared by every layer. Any thread.

/// A parameter's id, as the plugin numbers it.
pub type ParamId = u32;
