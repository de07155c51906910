//! The headless (egui_kittest) window around an engine in the test's own
//! process, shared by the UI logic tests.
#![allow(dead_code)]

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use eframe::egui;
use egui_kittest::Harness;
use stagerack_session::runtime::Runtime;
use stagerack_ui::{Mode, RackApp};

/// An engine shared by the window (which pumps it each frame) and the test.
pub type Engine = Rc<RefCell<Runtime>>;

/// A window of `width`×`height` on `engine`, saving to `preset_path`,
/// stepped until it has the engine's state.
pub fn window_on(
    engine: Runtime,
    preset_path: impl Into<PathBuf>,
    width: f32,
    height: f32,
) -> (Engine, Harness<'static, RackApp>) {
    let engine = Rc::new(RefCell::new(engine));
    let client = engine.borrow_mut().connect();
    let app = RackApp::new(
        Box::new(client),
        Some(engine.clone()),
        Mode::InProcess { socket: None },
        preset_path.into(),
    );
    let mut h = Harness::builder()
        .with_size(egui::vec2(width, height))
        .build_ui_state(|ui, app: &mut RackApp| app.frame(ui), app);
    settle(&mut h);
    (engine, h)
}

/// Lets the engine and the window exchange commands and replies.
pub fn settle(h: &mut Harness<'_, RackApp>) {
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(5));
        h.step();
    }
}
