//! `Stagerack Nice Probe`: the probe test plugin written with `nice-plug`
//! (the nih-plug family), exported as VST3 and CLAP. A third, independent
//! VST3 implementation for the host's tests (beside the hand-written
//! `stagerack-vst3-probe` and the CLAP probe through clap-wrapper).
//!
//! Instrument, no audio input, one stereo output. The output is zero except,
//! at the exact sample of every note-on, an impulse of height
//! `velocity × level` on both channels (note-ons at one sample add up).
//! Parameter `level` (0..1, default 1, linear, no smoothing) is automated
//! sample-accurately: nice-plug splits the block at each change, so a change
//! at sample t applies to a note-on at t. Its id is nice-plug's hash of the
//! string id `level`; the host finds it by its name, `level`. State is
//! nice-plug's JSON of the parameters.
//!
//! Bundled by `cargo xtask bundle-vst3` as
//! `target/bundles/vst3/Stagerack Nice Probe.vst3`.

use std::sync::Arc;

use nice_plug::prelude::*;

/// The plugin. Created and driven by nice-plug's wrappers.
struct NiceProbe {
    params: Arc<ProbeParams>,
}

/// The parameters (main and audio thread, through nice-plug).
#[derive(Params)]
struct ProbeParams {
    /// Impulse height per unit of velocity.
    #[id = "level"]
    level: FloatParam,
}

impl Default for NiceProbe {
    fn default() -> Self {
        Self {
            params: Arc::new(ProbeParams {
                level: FloatParam::new("level", 1.0, FloatRange::Linear { min: 0.0, max: 1.0 }),
            }),
        }
    }
}

impl Plugin for NiceProbe {
    const NAME: &'static str = "Stagerack Nice Probe";
    const VENDOR: &'static str = "stagerack";
    const URL: &'static str = "https://example.invalid/stagerack";
    const EMAIL: &'static str = "stagerack@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[AudioIOLayout {
        main_input_channels: None,
        main_output_channels: NonZeroU32::new(2),
        ..AudioIOLayout::const_default()
    }];
    const MIDI_INPUT: MidiConfig = MidiConfig::Basic;
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type Editor = ();
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // Audio thread. With sample-accurate automation this is one
        // sub-block between parameter changes; event timings are relative
        // to it.
        let level = self.params.level.value();
        let frames = buffer.samples();
        let channels = buffer.as_slice();
        for ch in channels.iter_mut() {
            ch.fill(0.0);
        }
        while let Some(event) = context.next_event() {
            if let NoteEvent::NoteOn {
                timing, velocity, ..
            } = event
            {
                let t = (timing as usize).min(frames.saturating_sub(1));
                for ch in channels.iter_mut() {
                    if let Some(s) = ch.get_mut(t) {
                        *s += velocity * level;
                    }
                }
            }
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for NiceProbe {
    const CLAP_ID: &'static str = "org.stagerack.test.nice-probe";
    const CLAP_DESCRIPTION: Option<&'static str> = Some("stagerack's probe written with nice-plug");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[ClapFeature::Instrument];
}

impl Vst3Plugin for NiceProbe {
    const VST3_CLASS_ID: [u8; 16] = *b"StagerackNicePrb";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Instrument];
}

nice_export_clap!(NiceProbe);
nice_export_vst3!(NiceProbe);
