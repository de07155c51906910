//! The plan: an immutable-shape description of what the audio thread runs,
//! compiled and allocated on the main thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::chain::{Chain, PanicOut, PanicSink, PanicStash, SlotSpec};
use super::is_silent;
use super::route::{route_event_to, HeldNotes, MidiFilter};
use super::shared::RackStatus;
use super::switch::{SwitchState, SwitchTable};
use super::workers::WorkerPool;
use super::{peak, ProcessorId, RackId};
use stagerack_core::midi::{EventBuffer, TimedEvent};
use stagerack_core::plugin::{AudioProcessor, Transport};

/// One rack as the main thread describes it to the [`PlanBuilder`].
pub struct RackSpec {
    /// Stable id across plans.
    pub id: RackId,
    /// What MIDI it takes.
    pub filter: MidiFilter,
    /// Linear output gains, left and right (pan, mute and solo included).
    pub gain: [f32; 2],
    /// Its processors, in order.
    pub slots: Vec<SlotSpec>,
    /// Meters, shared with the main thread.
    pub status: Arc<RackStatus>,
    /// The preset (setlist entry) the rack belongs to; 0 outside setlists.
    pub group: u16,
    /// MIDI-to-parameter mappings into this rack's slots.
    pub mappings: Vec<super::ParamMapping>,
    /// Its remote-controls knobs' pages, when it has them.
    pub paging: Option<super::RemotePaging>,
    /// Frames of delay added after the chain (latency alignment of layers).
    pub delay: u32,
    /// The rack whose plugins' MIDI output this rack plays instead of the
    /// MIDI inputs (an arpeggiator rack driving a synth rack), through its
    /// own `filter`; `None`: the inputs. A rack missing from the plan, or
    /// a loop of racks, leaves it silent.
    pub midi_from: Option<RackId>,
    /// The output it plays to (index into the plan's outputs; 0: the
    /// first). Its gains and pan apply there.
    pub output: usize,
    /// Its sends to other outputs.
    pub sends: Vec<SendSpec>,
    /// Mute and solo leave it silent (its pre-fader sends too).
    pub silenced: bool,
    /// The audio its chain starts from.
    pub input: RackInput,
    /// Its plugins start with the song (a backing-track player): it gets a
    /// MIDI Start on the sample its preset becomes current.
    pub cue: bool,
    /// Its plugins' extra outputs played straight to outputs of the plan.
    pub aux: Vec<AuxSpec>,
}

/// One extra output of a plugin (a drum sampler's kick pair) played to an
/// output of the plan (`outputs = { "Kick" = "IEM" }` on the plugin's
/// entry), after the rack's fader (gain, pan, mute and solo) but not
/// through the plugins after it in the chain. Main thread builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxSpec {
    /// The plugin (its slot in the rack).
    pub slot: ProcessorId,
    /// Which of its extra outputs (0: the first after the main one).
    pub port: usize,
    /// The output it plays to (index into the plan's outputs).
    pub output: usize,
}

/// An [`AuxSpec`] in a plan: the chunk's audio of that extra output, and
/// its latency-alignment delay line (as long as the rack's). Audio thread.
struct AuxBus {
    spec: AuxSpec,
    /// Index of the slot in the rack's chain.
    slot: usize,
    left: Vec<f32>,
    right: Vec<f32>,
    delay_left: Vec<f32>,
    delay_right: Vec<f32>,
}

/// MIDI Start: what a rack gets when its preset becomes current.
const START: stagerack_core::midi::Event = stagerack_core::midi::Event::Realtime { status: 0xFA };

/// The most outputs a plan mixes to (each a stereo or mono bus).
pub const MAX_OUTPUTS: usize = 16;

/// One output of the plan (`[[output]]` in a preset): which of the
/// driver's channels its bus goes to, and how. Main thread builds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputSpec {
    /// The driver channel (0-based) its left side goes to.
    pub left: usize,
    /// The driver channel its right side goes to; `None`: a mono output
    /// (left and right averaged).
    pub right: Option<usize>,
    /// Linear gain (0 when muted, or not soloed while another output is).
    pub gain: f32,
    /// The safety limiter guards it (NaN and infinity are always removed).
    pub limiter: bool,
}

impl OutputSpec {
    /// Driver channels 0 and 1, unity gain, limited: the one output of a
    /// plan that names none. Any thread.
    pub const MAIN: OutputSpec = OutputSpec {
        left: 0,
        right: Some(1),
        gain: 1.0,
        limiter: true,
    };
}

/// The audio a rack's chain starts from. Main thread builds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RackInput {
    /// The driver's first two input channels, when it has them (the
    /// `--audio-in` stereo input of a show without `[[input]]`).
    #[default]
    Main,
    /// These driver input channels (0-based): left, and right or `None`
    /// for a mono input played on both sides.
    Channels(usize, Option<usize>),
    /// Silence.
    None,
}

impl RackInput {
    /// The driver input channels it takes, when the driver has them.
    /// Audio thread.
    fn channels(self, available: usize) -> Option<(usize, usize)> {
        let (l, r) = match self {
            RackInput::Main => (0, 1),
            RackInput::Channels(l, r) => (l, r.unwrap_or(l)),
            RackInput::None => return None,
        };
        (l < available && r < available).then_some((l, r))
    }
}

/// A rack's send to another output (`sends = { IEM = -6.0 }`). Main
/// thread builds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SendSpec {
    /// The output (index into the plan's outputs).
    pub output: usize,
    /// Linear level of the send.
    pub gain: f32,
    /// Taken before the rack's fader (gain and pan): only mute, solo and a
    /// fault silence it. Else after: the rack's gains apply too.
    pub pre: bool,
}

/// One preset's master section, as the main thread describes it.
pub struct GroupSpec {
    /// Master chain.
    pub master: Vec<SlotSpec>,
    /// Master gain, linear.
    pub gain: f32,
    /// Tempo its plugins see.
    pub tempo: f64,
}

pub(crate) struct GroupPlan {
    pub(crate) master: Chain,
    gain: f32,
    tempo: f64,
    /// One stereo bus per output of the plan; the master chain runs on
    /// the first.
    buses: Vec<[Vec<f32>; 2]>,
    /// Some rack of the group was sounding this chunk.
    racks_sounding: bool,
    /// Frames the group's output has been silent for.
    quiet_frames: u64,
    /// Frames it may still ring after being switched away from.
    tail_left: u64,
}

pub(crate) struct RackPlan {
    pub(crate) id: RackId,
    filter: MidiFilter,
    /// Where the gains are heading (this plan's values).
    gain_target: [f32; 2],

    pub(crate) chain: Chain,
    left: Vec<f32>,
    right: Vec<f32>,
    events: EventBuffer,
    pub(crate) held: HeldNotes,
    status: Arc<RackStatus>,
    group: u16,
    /// What survives a plan swap (taken over whole by the next plan).
    state: RackState,
    /// Delay line for latency alignment: `delay` frames per channel.
    delay_left: Vec<f32>,
    delay_right: Vec<f32>,
    delay_pos: usize,
    /// Processed in the current chunk (its events routed, its input in
    /// `left`/`right`, its first plugin maybe started early).
    runs: bool,
    /// The tempo its plugins see this chunk.
    tempo: f64,
    /// What its job (maybe on a worker thread) left for the mix: events
    /// lost to full lists, and caught panics.
    job_dropped: u32,
    job_panics: PanicStash,
    /// The rack's job took this long last time (ticks of the plugin
    /// clock): the heaviest racks are handed out first.
    job_cost: u64,
    /// Where its MIDI comes from (see [`RackSpec::midi_from`]).
    midi_from: MidiIn,
    /// The source rack as the main thread named it.
    midi_from_id: Option<RackId>,
    /// The audio its chain starts from.
    input: RackInput,
    /// See [`RackSpec::cue`].
    cue: bool,
    /// The output it plays to, and its sends.
    output: usize,
    sends: Vec<SendSpec>,
    silenced: bool,
    /// Its source changed under its held notes (another source, or the
    /// source's chain edited): they are ended at the next chunk's start,
    /// as the note-offs they wait for may never come.
    release_held: bool,
    /// 0 for a rack playing the inputs; one more than its source's for a
    /// rack playing another's output. Racks run level by level, so a
    /// source's output of a chunk reaches its listeners in the same chunk.
    level: u8,
    /// Its plugins' extra outputs routed to outputs.
    aux: Vec<AuxBus>,
}

/// A rack's running state: a new plan takes it over whole from the plan it
/// replaces (a live edit never restarts the gain glide, the quiet count or
/// the DC fault detector). Its held notes and latency delay line are
/// buffers, taken over beside it. Audio thread.
#[derive(Clone, Copy, Debug, PartialEq)]
struct RackState {
    /// Where the gains are now (gliding towards the plan's targets).
    gain_now: [f32; 2],
    /// Holds notes, or was not silent in the last [`QUIET_HOLD_SECONDS`].
    sounding: bool,
    /// Frames its output has been silent for.
    quiet_frames: u64,
    /// Frames its chain's output (before the latency delay) has been
    /// silent for: once past the delay's length, the delay holds silence.
    chain_quiet_frames: u64,
    /// Frames in a row whose blocks had a strong DC offset of one sign
    /// (+ or −), for the DC fault detector.
    dc_frames: u64,
    dc_sign: f32,
}

/// A rack whose every block has averaged beyond this (either sign) for
/// [`DC_FAULT_SECONDS`] is putting out DC, not music: it is muted and
/// reported like a rack producing NaN. Music and bass notes swing through
/// zero far sooner.
const DC_FAULT_LEVEL: f32 = 0.25;
/// See [`DC_FAULT_LEVEL`].
const DC_FAULT_SECONDS: f64 = 0.5;

/// A switched-away rack or group stops being processed once it holds no
/// notes and has been silent this long (a single quiet block — a zero
/// crossing at block size 1 — must not cut a tail).
const QUIET_HOLD_SECONDS: f64 = 0.05;

/// What the audio thread runs: racks, master chain, buffers, all allocated
/// up front. Built by [`PlanBuilder`] on the main thread; after it is sent,
/// only the audio thread touches it until it comes home.
pub struct Plan {
    pub(crate) racks: Vec<RackPlan>,
    pub(crate) groups: Vec<GroupPlan>,
    pub(crate) switch: SwitchTable,
    /// Select this group when the plan is swapped in (a setlist jump from
    /// the main thread).
    pub(crate) select: Option<u16>,
    /// The groups renumbered (a setlist reordered in place): each old
    /// group's new index (`u16::MAX`: gone), and the numbering's epoch.
    pub(crate) regroup: Option<(Vec<u16>, u32)>,
    pub(crate) max_block: usize,
    pub(crate) sample_rate: f64,
    /// Trigger points of the current chunk: (event index, group from there).
    switch_points: Vec<(usize, u16, bool)>,
    /// Processor panics caught since the engine last took the count.
    pub(crate) panics_caught: u32,
    /// The external MIDI clock's tempo, overriding every preset's while
    /// the clock runs (set by the engine each buffer).
    pub(crate) clock_tempo: Option<f64>,
    /// The racks that run in the current chunk, in plan order (the jobs
    /// handed to the worker pool).
    run_list: Vec<usize>,
    /// Rack levels in use (see [`RackPlan::level`]): 1 without `midi_from`.
    levels: u8,
    /// Scratch: a source rack's MIDI output on its way to a listener.
    relay: EventBuffer,
    /// Where each output's bus goes.
    pub(crate) outputs: Vec<OutputSpec>,
    /// The current preset's racks get a MIDI Start at the first chunk's
    /// first frame: the engine's first plan (not one taking over a
    /// running plan). A preset made current later gets its Start on the
    /// sample it becomes current.
    cue_first_chunk: bool,
    /// Scratch: one output's mix of every group, before its limiter.
    out_scratch: [Vec<f32>; 2],
}

/// Where a chunk's mix goes: the driver's channels (every one of them
/// whole buffers; the chunk is `start..end`), and each output's safety
/// limiter. Audio thread.
pub(crate) struct ChunkOut<'a, 'b> {
    pub(crate) channels: &'a mut [&'b mut [f32]],
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) limiters: &'a mut [super::safety::SafetyLimiter],
    pub(crate) limiter_off: bool,
    /// Frames any limiter turned down (added to).
    pub(crate) limited: u32,
}

/// Compiles racks into a [`Plan`]. Main thread.
pub struct PlanBuilder {
    sample_rate: f64,
    max_block: usize,
    event_capacity: usize,
    racks: Vec<RackSpec>,
    groups: Vec<GroupSpec>,
    switch: SwitchTable,
    select: Option<u16>,
    regroup: Option<(Vec<u16>, u32)>,
    outputs: Vec<OutputSpec>,
}

impl PlanBuilder {
    /// A plan for blocks of at most `max_block` frames at `sample_rate`,
    /// with room for `event_capacity` events per rack per block. Main thread.
    pub fn new(sample_rate: f64, max_block: usize, event_capacity: usize) -> Self {
        Self {
            sample_rate,
            max_block: max_block.max(1),
            event_capacity: event_capacity.max(16),
            racks: Vec::new(),
            groups: Vec::new(),
            switch: SwitchTable::default(),
            select: None,
            regroup: None,
            outputs: vec![OutputSpec::MAIN],
        }
    }

    /// Sets the plan's outputs (at most [`MAX_OUTPUTS`]; none keeps
    /// [`OutputSpec::MAIN`]). Main thread.
    pub fn outputs(mut self, outputs: Vec<OutputSpec>) -> Self {
        if !outputs.is_empty() {
            self.outputs = outputs;
            self.outputs.truncate(MAX_OUTPUTS);
        }
        self
    }

    /// Sets the tempo plugins of group 0 see. Main thread.
    pub fn tempo(mut self, bpm: f64) -> Self {
        self.group0().tempo = bpm;
        self
    }

    fn group0(&mut self) -> &mut GroupSpec {
        if self.groups.is_empty() {
            self.groups.push(GroupSpec {
                master: Vec::new(),
                gain: 1.0,
                tempo: 120.0,
            });
        }
        &mut self.groups[0]
    }

    /// Adds a preset's master section; racks name it by its index (in
    /// call order). Main thread.
    pub fn group(mut self, group: GroupSpec) -> Self {
        self.groups.push(group);
        self
    }

    /// Sets how presets are switched. Main thread.
    pub fn switch(mut self, table: SwitchTable) -> Self {
        self.switch = table;
        self
    }

    /// Makes `group` current when this plan is swapped in. Main thread.
    pub fn select(mut self, group: u16) -> Self {
        self.select = Some(group);
        self
    }

    /// Renumbers the groups when this plan is swapped in: `map[old]` is
    /// the new index of the old plan's group `old` (`u16::MAX`: it is
    /// gone). The current group stays current under its new number, with
    /// no cue (its song goes on), and each group's ringing-out state goes
    /// with it. `epoch` names the new numbering in
    /// [`EngineShared::current_group_epoch`](crate::EngineShared::current_group_epoch)
    /// (greater than every earlier one). Main thread.
    pub fn regroup(mut self, map: Vec<u16>, epoch: u32) -> Self {
        self.regroup = Some((map, epoch));
        self
    }

    /// Adds a rack. Main thread.
    pub fn rack(mut self, rack: RackSpec) -> Self {
        self.racks.push(rack);
        self
    }

    /// Sets the master chain and gain (linear). Main thread.
    pub fn master(mut self, slots: Vec<SlotSpec>, gain: f32) -> Self {
        let g = self.group0();
        g.master = slots;
        g.gain = gain;
        self
    }

    /// Allocates everything. Main thread.
    pub fn build(mut self) -> Box<Plan> {
        let n = self.max_block;
        let cap = self.event_capacity;
        let groups_needed = self
            .racks
            .iter()
            .map(|r| usize::from(r.group) + 1)
            .max()
            .unwrap_or(1);
        while self.groups.len() < groups_needed {
            let tempo = self.group0().tempo;
            self.groups.push(GroupSpec {
                master: Vec::new(),
                gain: 1.0,
                tempo,
            });
        }
        let max_tail = self.switch.max_tail_frames;
        let rack_count = self.racks.len();
        let output_count = self.outputs.len();
        let (sources, levels) = midi_sources(&self.racks);
        let listened: Vec<bool> = (0..rack_count)
            .map(|i| sources.contains(&MidiIn::Rack(i)))
            .collect();
        let level_count = levels.iter().copied().max().map_or(1, |l| l + 1);
        Box::new(Plan {
            racks: self
                .racks
                .into_iter()
                .zip(sources.into_iter().zip(levels))
                .zip(listened)
                .map(|((r, (midi_from, level)), listened)| RackPlan {
                    aux: r
                        .aux
                        .iter()
                        .filter(|a| a.output < output_count)
                        .filter_map(|a| {
                            Some(AuxBus {
                                spec: *a,
                                slot: r.slots.iter().position(|s| s.id == a.slot)?,
                                left: vec![0.0; n],
                                right: vec![0.0; n],
                                delay_left: vec![0.0; r.delay as usize],
                                delay_right: vec![0.0; r.delay as usize],
                            })
                        })
                        .collect(),
                    id: r.id,
                    filter: r.filter,
                    gain_target: r.gain,
                    chain: {
                        let chain = Chain::with_mappings(r.slots, cap, r.mappings)
                            .with_paging(r.paging.map(|p| (p, r.status.clone())));
                        if listened {
                            chain.keeping_midi_out(cap)
                        } else {
                            chain
                        }
                    },
                    midi_from,
                    midi_from_id: r.midi_from,
                    output: r.output.min(output_count - 1),
                    sends: r
                        .sends
                        .into_iter()
                        .filter(|send| send.output < output_count)
                        .collect(),
                    silenced: r.silenced,
                    input: r.input,
                    cue: r.cue,
                    release_held: false,
                    level,
                    left: vec![0.0; n],
                    right: vec![0.0; n],
                    events: EventBuffer::with_capacity(cap),
                    held: HeldNotes::new(),
                    status: r.status,
                    group: r.group,
                    state: RackState {
                        gain_now: r.gain,
                        sounding: false,
                        quiet_frames: u64::MAX / 2,
                        chain_quiet_frames: u64::MAX / 2,
                        dc_frames: 0,
                        dc_sign: 0.0,
                    },
                    runs: false,
                    tempo: 120.0,
                    job_dropped: 0,
                    job_panics: PanicStash::new(),
                    job_cost: 0,
                    delay_left: vec![0.0; r.delay as usize],
                    delay_right: vec![0.0; r.delay as usize],
                    delay_pos: 0,
                })
                .collect(),
            groups: self
                .groups
                .into_iter()
                .map(|g| GroupPlan {
                    master: Chain::new(g.master, cap),
                    gain: g.gain,
                    tempo: g.tempo,
                    buses: (0..output_count)
                        .map(|_| [vec![0.0; n], vec![0.0; n]])
                        .collect(),
                    racks_sounding: false,
                    quiet_frames: u64::MAX / 2,
                    tail_left: max_tail,
                })
                .collect(),
            switch: self.switch,
            select: self.select,
            regroup: self.regroup,
            max_block: n,
            sample_rate: self.sample_rate,
            switch_points: Vec::with_capacity(64),
            run_list: Vec::with_capacity(rack_count),
            levels: level_count,
            relay: EventBuffer::with_capacity(cap),
            outputs: self.outputs,
            out_scratch: [vec![0.0; n], vec![0.0; n]],
            cue_first_chunk: true,
            panics_caught: 0,
            clock_tempo: None,
        })
    }
}

/// Where a rack's MIDI comes from in a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MidiIn {
    /// The MIDI inputs (through the rack's filter).
    Inputs,
    /// What the plugins of the rack at this index emit.
    Rack(usize),
    /// Nothing: its source is not in the plan, or the sources loop.
    Nothing,
}

/// Each rack's MIDI source and level (see [`RackPlan::level`]). A source
/// that is not in the plan, or a loop, gives the rack no MIDI at all
/// rather than the inputs. Main thread.
fn midi_sources(racks: &[RackSpec]) -> (Vec<MidiIn>, Vec<u8>) {
    let direct: Vec<MidiIn> = racks
        .iter()
        .map(|r| match r.midi_from {
            None => MidiIn::Inputs,
            Some(id) => racks
                .iter()
                .position(|other| other.id == id)
                .map_or(MidiIn::Nothing, MidiIn::Rack),
        })
        .collect();
    let mut sources = direct.clone();
    let mut levels = vec![0u8; racks.len()];
    for (i, first) in direct.iter().enumerate() {
        // Walk up the sources to the inputs: more steps than racks loops.
        let mut at = *first;
        let mut depth = 0usize;
        while let MidiIn::Rack(j) = at {
            depth += 1;
            if depth > racks.len() {
                at = MidiIn::Nothing;
                break;
            }
            at = direct[j];
        }
        if at == MidiIn::Nothing {
            sources[i] = MidiIn::Nothing;
        } else {
            levels[i] = depth.min(usize::from(u8::MAX - 1)) as u8;
        }
    }
    (sources, levels)
}

impl Plan {
    /// Largest block this plan processes in one go.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Sample rate it was built for.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// Driver channels its outputs reach (the highest used, plus one; at
    /// least 2). Any thread holding the plan.
    pub fn channels_needed(&self) -> usize {
        self.outputs
            .iter()
            .map(|o| o.left.max(o.right.unwrap_or(0)) + 1)
            .max()
            .unwrap_or(2)
            .max(2)
    }

    /// Takes over, from `old` (the plan being replaced), every processor
    /// this plan refers to by id without carrying one, with its sleep and
    /// failure state, and the held notes of racks that continue. Returns the
    /// number of slots whose processor could not be found. Audio thread.
    pub(crate) fn take_over(&mut self, old: &mut Plan) -> u32 {
        // The song goes on: no Start for a plan replacing another, unless
        // the replaced plan never ran (the engine's first plan, replaced
        // before its first buffer: its Start is still due).
        self.cue_first_chunk = std::mem::take(&mut old.cue_first_chunk);
        // A jump the replaced plan never got to make (two commits between
        // buffers: a song change, then an edit) is made by this one, in
        // this plan's numbering of the presets.
        if self.select.is_none() {
            if let Some(g) = old.select.take() {
                self.select = match &self.regroup {
                    Some((map, _)) => map.get(usize::from(g)).copied().filter(|&n| n != u16::MAX),
                    None => Some(g),
                };
            }
        }
        let mut missing = 0;
        for chain in self
            .racks
            .iter_mut()
            .map(|r| &mut r.chain)
            .chain(self.groups.iter_mut().map(|g| &mut g.master))
        {
            for slot in chain.slots.iter_mut().filter(|s| s.processor.is_none()) {
                let found = old
                    .racks
                    .iter_mut()
                    .map(|r| &mut r.chain)
                    .chain(old.groups.iter_mut().map(|g| &mut g.master))
                    .find_map(|c| c.take_processor(slot.id));
                match found {
                    Some((p, state)) => {
                        slot.processor = Some(p);
                        slot.state = state;
                    }
                    None => missing += 1,
                }
            }
        }
        // A rack whose MIDI now comes from elsewhere (another rack, or the
        // inputs instead of a rack, or back), or from a source whose chain
        // changed (a plugin added, removed or bypassed: an arpeggiator's
        // pending note-offs may be gone) ends its notes.
        for i in 0..self.racks.len() {
            let Some(prev) = old.racks.iter().find(|r| r.id == self.racks[i].id) else {
                continue;
            };
            let source_changed = match self.racks[i].midi_from {
                MidiIn::Rack(source) => {
                    let source = &self.racks[source];
                    !old.racks
                        .iter()
                        .any(|r| r.id == source.id && r.chain.same_slots(&source.chain))
                }
                MidiIn::Inputs | MidiIn::Nothing => false,
            };
            self.racks[i].release_held = prev.release_held
                || source_changed
                || prev.midi_from_id != self.racks[i].midi_from_id;
        }
        for rack in &mut self.racks {
            if let Some(prev) = old.racks.iter().find(|r| r.id == rack.id) {
                rack.held.copy_from(&prev.held);
                // Gain changes glide from where the old plan was; the quiet
                // count and the DC detector go on counting.
                rack.state = prev.state;
                if rack.delay_left.len() == prev.delay_left.len() {
                    rack.delay_left.copy_from_slice(&prev.delay_left);
                    rack.delay_right.copy_from_slice(&prev.delay_right);
                    rack.delay_pos = prev.delay_pos;
                    for aux in &mut rack.aux {
                        if let Some(old) = prev
                            .aux
                            .iter()
                            .find(|a| a.spec.slot == aux.spec.slot && a.spec.port == aux.spec.port)
                        {
                            aux.delay_left.copy_from_slice(&old.delay_left);
                            aux.delay_right.copy_from_slice(&old.delay_right);
                        }
                    }
                }
            }
        }
        for (o, prev) in old.groups.iter().enumerate() {
            let n = match &self.regroup {
                Some((map, _)) => map.get(o).map_or(usize::MAX, |&n| usize::from(n)),
                None => o,
            };
            if let Some(new) = self.groups.get_mut(n) {
                new.quiet_frames = prev.quiet_frames;
                new.tail_left = prev.tail_left.min(new.tail_left);
            }
        }
        missing
    }

    /// Stops every processor still in this plan. Audio thread.
    /// Every slot's status, racks then master chains. Audio thread (plain
    /// iteration, no allocation).
    fn slot_statuses(&self) -> impl Iterator<Item = (ProcessorId, &super::SlotStatus)> {
        self.racks
            .iter()
            .flat_map(|r| r.chain.slots.iter())
            .chain(self.groups.iter().flat_map(|g| g.master.slots.iter()))
            .map(|s| (s.id, &*s.status))
    }

    /// Starts a buffer's per-plugin timing. Audio thread.
    pub(crate) fn begin_buffer(&self) {
        for (_, s) in self.slot_statuses() {
            s.buffer_ns.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The processor that took the longest in this buffer, with its
    /// nanoseconds. Audio thread.
    pub(crate) fn heaviest(&self) -> Option<(ProcessorId, u64)> {
        self.slot_statuses()
            .map(|(id, s)| (id, s.buffer_ns.load(std::sync::atomic::Ordering::Relaxed)))
            .max_by_key(|(_, ns)| *ns)
            .filter(|(_, ns)| *ns > 0)
    }

    pub(crate) fn stop_all(&mut self, panics: &mut PanicSink) {
        for rack in &mut self.racks {
            rack.chain.stop_all(panics);
        }
        for g in &mut self.groups {
            g.master.stop_all(panics);
        }
    }

    /// Silences every processor and forgets held notes. Audio thread.
    pub(crate) fn reset_all(&mut self, panics: &mut PanicSink) {
        for rack in &mut self.racks {
            rack.chain.reset_all(panics);
            rack.held.clear();
        }
        for g in &mut self.groups {
            g.master.reset_all(panics);
        }
    }

    /// The processors this plan still owns, for deactivation on the main
    /// thread after it came home. Main thread.
    // Plans travel boxed through the queues; taking the box avoids a move
    // of the whole plan onto the stack by the caller.
    #[allow(clippy::boxed_local)]
    pub fn into_processors(self: Box<Self>) -> Vec<(ProcessorId, Box<dyn AudioProcessor>)> {
        let mut plan = *self;
        let mut out = Vec::new();
        for chain in plan
            .racks
            .iter_mut()
            .map(|r| &mut r.chain)
            .chain(plan.groups.iter_mut().map(|g| &mut g.master))
        {
            for slot in &mut chain.slots {
                if let Some(p) = slot.processor.take() {
                    out.push((slot.id, p));
                }
            }
        }
        out
    }

    /// Processes one chunk of at most `max_block` frames. `events` are the
    /// chunk's events with offsets relative to `base`; `input` is the
    /// driver's input channels (whole buffers; the chunk is `out.start..out.end`);
    /// `switch` the setlist position, moved by
    /// trigger events at their exact sample; `clock` times the plugins.
    /// Returns events dropped. Audio thread.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn process_chunk(
        &mut self,
        events: &[TimedEvent],
        base: u32,
        inputs: &[&[f32]],
        out: &mut ChunkOut<'_, '_>,
        transport: &Transport,
        switch: &mut SwitchState,
        panics: &mut PanicSink,
        clock: &quanta::Clock,
        mut workers: Option<&mut WorkerPool>,
    ) -> u32 {
        let frames = out.end - out.start;
        debug_assert!(frames <= self.max_block);
        let mut dropped = 0;
        let groups = self.groups.len() as u16;
        // A preset made current at the chunk's start (the engine's first
        // plan, a jump from the main thread) starts its song there.
        let mut cue_at_start = std::mem::take(&mut self.cue_first_chunk);
        if let Some(g) = self.select.take() {
            let g = g.min(groups.saturating_sub(1));
            cue_at_start |= g != switch.current;
            switch.current = g;
        }

        // Where the current preset changes inside this chunk.
        let start_group = switch.current;
        self.switch_points.clear();
        for (i, e) in events.iter().enumerate() {
            if let Some((g, consumed)) = switch.trigger(&self.switch, e) {
                let g = g.min(groups.saturating_sub(1));
                if self.switch_points.len() < self.switch_points.capacity() {
                    self.switch_points.push((i, g, consumed));
                }
                switch.current = g;
            }
        }
        let end_group = switch.current;
        let current_somewhere = |g: u16, points: &[(usize, u16, bool)]| {
            g == start_group || points.iter().any(|p| p.1 == g)
        };
        for g in 0..groups {
            let gp = &mut self.groups[usize::from(g)];
            if current_somewhere(g, &self.switch_points) {
                gp.tail_left = self.switch.max_tail_frames;
            }
            for [l, r] in &mut gp.buses {
                l[..frames].fill(0.0);
                r[..frames].fill(0.0);
            }
            gp.racks_sounding = false;
        }
        let hold = (QUIET_HOLD_SECONDS * self.sample_rate) as u64;

        let step = (self.sample_rate as f32 * GAIN_GLIDE_SECONDS)
            .max(1.0)
            .recip();
        // Level by level (racks playing the inputs, then racks playing
        // their output, ...; one level without `midi_from`): first every
        // rack's events and input, and each rack's first plugin started
        // where it can run elsewhere (a sandbox child): the children work
        // while the racks below are processed here. Then the level's jobs.
        for level in 0..self.levels {
            self.run_list.clear();
            for index in 0..self.racks.len() {
                if self.racks[index].level != level {
                    continue;
                }
                // A listener's MIDI: what its source's plugins emitted in this
                // chunk (its source is a level below, so it has run).
                self.relay.clear();
                if let MidiIn::Rack(source) = self.racks[index].midi_from {
                    for e in self.racks[source].chain.midi_out() {
                        self.relay.push(*e);
                    }
                }
                let rack = &mut self.racks[index];
                rack.runs = false;
                let group = &self.groups[usize::from(rack.group.min(groups - 1))];
                let active = current_somewhere(rack.group, &self.switch_points);
                if !active && (!rack.state.sounding || group.tail_left == 0) {
                    if rack.state.sounding {
                        // Its time to ring out is over: silence it for good.
                        rack.chain.reset_all(panics);
                        rack.held.clear();
                        rack.state.sounding = false;
                        rack.state.quiet_frames = hold;
                    }
                    rack.chain.forget_midi_out();
                    continue;
                }
                rack.events.clear();
                if std::mem::take(&mut rack.release_held) {
                    rack.held.release_all(0, &mut rack.events);
                }
                let mut notes = 0;
                let mut g = start_group;
                let mut next_point = 0;
                // Another rack's output: note-ons taken while its preset is
                // current anywhere in the chunk (its source's already were).
                for e in self.relay.as_slice() {
                    let offset = e.offset.min(frames as u32 - 1);
                    if route_event_to(
                        &rack.filter,
                        &mut rack.held,
                        offset,
                        e.event,
                        &mut rack.events,
                        active,
                    ) {
                        notes += 1;
                    }
                }
                let midi_inputs: &[TimedEvent] = if rack.midi_from == MidiIn::Inputs {
                    events
                } else {
                    &[]
                };
                for (i, e) in midi_inputs.iter().enumerate() {
                    let mut consumed = false;
                    while next_point < self.switch_points.len()
                        && self.switch_points[next_point].0 == i
                    {
                        g = self.switch_points[next_point].1;
                        consumed |= self.switch_points[next_point].2;
                        next_point += 1;
                    }
                    if consumed || !rack.filter.accepts_source(e.source) {
                        continue;
                    }
                    let offset = e.offset.saturating_sub(base).min(frames as u32 - 1);
                    if route_event_to(
                        &rack.filter,
                        &mut rack.held,
                        offset,
                        e.event,
                        &mut rack.events,
                        g == rack.group,
                    ) {
                        notes += 1;
                    }
                }
                // Its preset becomes current in this chunk: the song starts
                // there (a backing track, a sequencer), as with a MIDI Start.
                if rack.cue {
                    if rack.group == start_group && cue_at_start {
                        rack.events.push(TimedEvent::new(0, START));
                    }
                    for &(i, g, _) in &self.switch_points {
                        if g == rack.group {
                            let at = events[i].offset.saturating_sub(base).min(frames as u32 - 1);
                            rack.events.push(TimedEvent::new(at, START));
                        }
                    }
                    rack.events.sort_by_offset();
                }
                rack.held.rechannel(&rack.filter, &mut rack.events);
                if notes > 0 {
                    rack.status
                        .notes
                        .fetch_add(notes, std::sync::atomic::Ordering::Relaxed);
                }
                dropped += rack.events.take_dropped();
                let l = &mut rack.left[..frames];
                let r = &mut rack.right[..frames];
                let input = rack.input.channels(inputs.len());
                match input {
                    Some((il, ir)) => {
                        l.copy_from_slice(&inputs[il][out.start..out.end]);
                        r.copy_from_slice(&inputs[ir][out.start..out.end]);
                    }
                    None => {
                        l.fill(0.0);
                        r.fill(0.0);
                    }
                }
                let t = Transport {
                    tempo: self.clock_tempo.unwrap_or(group.tempo),
                    ..*transport
                };
                rack.chain.prepare(rack.events.as_slice());
                rack.chain.start_early(l, r, &t);
                // Every plugin asleep with nothing to wake one, no input, and
                // its latency delay holding only silence: its block is
                // silence, and it gets no job.
                if input.is_none()
                    && rack.state.chain_quiet_frames >= rack.delay_left.len() as u64
                    && rack.chain.asleep()
                {
                    let frames = frames as u64;
                    rack.state.dc_frames = 0;
                    rack.state.chain_quiet_frames =
                        rack.state.chain_quiet_frames.saturating_add(frames);
                    rack.state.quiet_frames = rack.state.quiet_frames.saturating_add(frames);
                    rack.state.sounding = rack.held.count() > 0 || rack.state.quiet_frames < hold;
                    for aux in &mut rack.aux {
                        aux.left[..frames as usize].fill(0.0);
                        aux.right[..frames as usize].fill(0.0);
                    }
                    rack.status
                        .asleep_blocks
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    rack.runs = true;
                    rack.tempo = t.tempo;
                    continue;
                }
                rack.runs = true;
                rack.tempo = t.tempo;
                if self.run_list.len() < self.run_list.capacity() {
                    self.run_list.push(index);
                }
            }
            // Then every running rack's chain: on the worker pool when there is
            // one (each rack is one job, on whichever thread takes it), else
            // here. A rack's job touches only that rack. The heaviest racks
            // go first (by their last cost), so no thread starts a long job
            // last while the others idle. (Insertion sort: a few racks, in
            // place, no allocation.)
            for i in 1..self.run_list.len() {
                let mut j = i;
                while j > 0
                    && self.racks[self.run_list[j - 1]].job_cost
                        < self.racks[self.run_list[j]].job_cost
                {
                    self.run_list.swap(j - 1, j);
                    j -= 1;
                }
            }
            let job = RackJob {
                racks: RackPtr(self.racks.as_mut_ptr()),
                frames,
                transport,
                clock,
                hold,
                dc_limit: DC_FAULT_SECONDS * self.sample_rate,
            };
            let list = &self.run_list;
            let run_one = |j: usize| {
                // SAFETY: `list` holds distinct indices into `racks` (one per
                // running rack), and the pool runs each job exactly once: no
                // two threads ever hold the same rack. `racks` is not touched
                // otherwise until every job is done.
                let rack = unsafe { &mut *job.racks.0.add(list[j]) };
                job.run(rack);
            };
            match workers.as_deref_mut() {
                Some(pool) => pool.run(list.len(), &run_one),
                None => (0..list.len()).for_each(run_one),
            }
        }
        // Then the mix, in plan order on this thread whatever thread ran
        // each rack: the output is the same bit for bit at any thread
        // count.
        for rack in &mut self.racks {
            if !rack.runs {
                continue;
            }
            let group = &mut self.groups[usize::from(rack.group.min(groups - 1))];
            let l = &mut rack.left[..frames];
            let r = &mut rack.right[..frames];
            dropped += std::mem::take(&mut rack.job_dropped);
            rack.job_panics.send_to(panics);
            self.panics_caught += std::mem::take(&mut rack.chain.panics_caught);
            group.racks_sounding |= rack.state.sounding;
            let fault = rack
                .status
                .fault_muted
                .load(std::sync::atomic::Ordering::Relaxed);
            let target = if fault { [0.0; 2] } else { rack.gain_target };
            let gains_before = rack.state.gain_now;
            let [bus_l, bus_r] = &mut group.buses[rack.output];
            mix_gliding(
                &mut bus_l[..frames],
                l,
                &mut rack.state.gain_now[0],
                target[0],
                step,
            );
            mix_gliding(
                &mut bus_r[..frames],
                r,
                &mut rack.state.gain_now[1],
                target[1],
                step,
            );
            let [gl, gr] = rack.state.gain_now;
            for send in &rack.sends {
                // Pre-fader: the rack's signal itself, unless muted or
                // faulty; post-fader: after its gains, as they are now.
                let [sl, sr] = if send.pre {
                    let on = if fault || rack.silenced { 0.0 } else { 1.0 };
                    [send.gain * on; 2]
                } else {
                    [send.gain * gl, send.gain * gr]
                };
                let [bus_l, bus_r] = &mut group.buses[send.output];
                add_scaled(&mut bus_l[..frames], l, sl);
                add_scaled(&mut bus_r[..frames], r, sr);
            }
            // Extra outputs after the fader, its glide spread over the
            // chunk as the main output's.
            for aux in &rack.aux {
                let [bus_l, bus_r] = &mut group.buses[aux.spec.output];
                add_ramped(
                    &mut bus_l[..frames],
                    &aux.left[..frames],
                    gains_before[0],
                    gl,
                );
                add_ramped(
                    &mut bus_r[..frames],
                    &aux.right[..frames],
                    gains_before[1],
                    gr,
                );
            }
            rack.status.peak_left.raise(gl * peak(l));
            rack.status.peak_right.raise(gr * peak(r));
        }

        for channel in out.channels.iter_mut() {
            if let Some(c) = channel.get_mut(out.start..out.end) {
                c.fill(0.0);
            }
        }
        // Each group's master chain on its first bus, then its quiet count.
        let mut groups_active = 0u128;
        for (gi, group) in self.groups.iter_mut().enumerate() {
            let gi = gi as u16;
            let active = current_somewhere(gi, &self.switch_points) || gi == end_group;
            if !active {
                let sounding = group.racks_sounding || group.quiet_frames < hold;
                if group.tail_left == 0 || !sounding {
                    continue;
                }
                group.tail_left = group.tail_left.saturating_sub(frames as u64);
            }
            groups_active |= 1u128 << (gi % 128);
            let [bus_l, bus_r] = &mut group.buses[0];
            let t = Transport {
                tempo: group.tempo,
                ..*transport
            };
            dropped += group.master.process(
                &mut bus_l[..frames],
                &mut bus_r[..frames],
                &[],
                &t,
                panics,
                clock,
            );
            self.panics_caught += std::mem::take(&mut group.master.panics_caught);
            // A master chain's own tail (a reverb) keeps the group awake.
            let silent = group
                .buses
                .iter()
                .all(|[l, r]| is_silent(&l[..frames]) && is_silent(&r[..frames]));
            if silent {
                group.quiet_frames = group.quiet_frames.saturating_add(frames as u64);
            } else {
                group.quiet_frames = 0;
            }
        }
        // Each output: the groups' buses summed (the master gain on the
        // first), its own gain, its limiter, then to its channels.
        for (o, spec) in self.outputs.iter().enumerate() {
            let [sl, sr] = &mut self.out_scratch;
            let (sl, sr) = (&mut sl[..frames], &mut sr[..frames]);
            sl.fill(0.0);
            sr.fill(0.0);
            for (gi, group) in self.groups.iter().enumerate() {
                if groups_active & (1u128 << (gi % 128)) == 0 {
                    continue;
                }
                let gain = spec.gain * if o == 0 { group.gain } else { 1.0 };
                add_scaled(sl, &group.buses[o][0][..frames], gain);
                add_scaled(sr, &group.buses[o][1][..frames], gain);
            }
            match out.limiters.get_mut(o) {
                Some(limiter) if spec.limiter && !out.limiter_off => {
                    out.limited += limiter.process(sl, sr);
                }
                _ => super::safety::zero_non_finite(sl, sr),
            }
            let range = out.start..out.end;
            match spec.right {
                Some(right) => {
                    if let Some(c) = out.channels.get_mut(spec.left) {
                        add_scaled(&mut c[range.clone()], sl, 1.0);
                    }
                    if let Some(c) = out.channels.get_mut(right) {
                        add_scaled(&mut c[range], sr, 1.0);
                    }
                }
                None => {
                    if let Some(c) = out.channels.get_mut(spec.left) {
                        add_scaled(&mut c[range.clone()], sl, 0.5);
                        add_scaled(&mut c[range], sr, 0.5);
                    }
                }
            }
        }
        dropped
    }

    /// The tempo of group `g`. Audio thread.
    pub(crate) fn tempo_of(&self, g: u16) -> f64 {
        self.clock_tempo
            .unwrap_or_else(|| self.groups.get(usize::from(g)).map_or(120.0, |x| x.tempo))
    }
}

/// A rack pointer the jobs share (see the SAFETY note where it is used).
#[derive(Clone, Copy)]
struct RackPtr(*mut RackPlan);

// SAFETY: each rack behind it is handed to exactly one job at a time.
unsafe impl Sync for RackPtr {}
// SAFETY: as above.
unsafe impl Send for RackPtr {}

/// One chunk's work for one rack: its chain, fault checks, latency delay
/// and quiet count. Runs on the callback thread or a worker; touches only
/// its rack. Audio thread.
struct RackJob<'a> {
    racks: RackPtr,
    frames: usize,
    transport: &'a Transport,
    clock: &'a quanta::Clock,
    hold: u64,
    dc_limit: f64,
}

impl RackJob<'_> {
    fn run(&self, rack: &mut RackPlan) {
        let started = self.clock.raw();
        let result = catch_unwind(AssertUnwindSafe(|| self.run_chain(rack)));
        rack.job_cost = self.clock.raw().saturating_sub(started);
        if let Err(payload) = result {
            // The host's own code failed in this rack: its block is
            // silence, the payload goes home with the rack's others.
            rack.left.fill(0.0);
            rack.right.fill(0.0);
            for aux in &mut rack.aux {
                aux.left.fill(0.0);
                aux.right.fill(0.0);
            }
            rack.chain.panics_caught += 1;
            rack.job_panics.caught(None, payload);
        }
    }

    fn run_chain(&self, rack: &mut RackPlan) {
        let frames = self.frames;
        let l = &mut rack.left[..frames];
        let r = &mut rack.right[..frames];
        let t = Transport {
            tempo: rack.tempo,
            ..*self.transport
        };
        rack.job_dropped = rack.chain.run(l, r, &t, &mut rack.job_panics, self.clock);
        // Its plugins' extra outputs, as they played; NaN or runaway there
        // mutes the rack as on its main output.
        for aux in &mut rack.aux {
            let (al, ar) = (&mut aux.left[..frames], &mut aux.right[..frames]);
            match rack.chain.aux_output(aux.slot, aux.spec.port, frames) {
                Some((pl, pr)) => {
                    al.copy_from_slice(pl);
                    ar.copy_from_slice(pr);
                    if !super::safety::output_is_sane(al, ar) {
                        al.fill(0.0);
                        ar.fill(0.0);
                        rack.chain.bad_output = true;
                    }
                }
                None => {
                    al.fill(0.0);
                    ar.fill(0.0);
                }
            }
        }
        // Sustained DC (a stuck plugin, a broken synth) counts as bad
        // output too.
        let mean = (super::sum(l) + super::sum(r)) / (2 * frames) as f32;
        if mean.abs() > DC_FAULT_LEVEL
            && (rack.state.dc_frames == 0 || mean.signum() == rack.state.dc_sign)
        {
            rack.state.dc_sign = mean.signum();
            rack.state.dc_frames += frames as u64;
            if rack.state.dc_frames as f64 > self.dc_limit {
                rack.status
                    .dc_fault
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                rack.chain.bad_output = true;
            }
        } else {
            rack.state.dc_frames = 0;
        }
        if std::mem::take(&mut rack.chain.bad_output) {
            // NaN or runaway output: the whole rack goes quiet (over the
            // usual glide) until its chain is edited; reported by the
            // main thread.
            rack.status
                .fault_muted
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let aux_silent = rack
            .aux
            .iter()
            .all(|a| is_silent(&a.left[..frames]) && is_silent(&a.right[..frames]));
        if !rack.delay_left.is_empty() {
            if is_silent(l) && is_silent(r) && aux_silent {
                rack.state.chain_quiet_frames =
                    rack.state.chain_quiet_frames.saturating_add(frames as u64);
            } else {
                rack.state.chain_quiet_frames = 0;
            }
            let pos = rack.delay_pos;
            rack.delay_pos = delay_through(l, r, &mut rack.delay_left, &mut rack.delay_right, pos);
            for aux in &mut rack.aux {
                delay_through(
                    &mut aux.left[..frames],
                    &mut aux.right[..frames],
                    &mut aux.delay_left,
                    &mut aux.delay_right,
                    pos,
                );
            }
        }
        let aux_silent = rack
            .aux
            .iter()
            .all(|a| is_silent(&a.left[..frames]) && is_silent(&a.right[..frames]));
        if is_silent(l) && is_silent(r) && aux_silent {
            rack.state.quiet_frames = rack.state.quiet_frames.saturating_add(frames as u64);
        } else {
            rack.state.quiet_frames = 0;
        }
        rack.state.sounding = rack.held.count() > 0 || rack.state.quiet_frames < self.hold;
    }
}

/// Delays `left`/`right` through a delay line (`line_*`, equally long,
/// not empty) starting at `pos`; returns where the next block starts.
/// Audio thread.
fn delay_through(
    left: &mut [f32],
    right: &mut [f32],
    line_left: &mut [f32],
    line_right: &mut [f32],
    mut pos: usize,
) -> usize {
    let n = line_left.len();
    for (x, y) in left.iter_mut().zip(right.iter_mut()) {
        std::mem::swap(x, &mut line_left[pos]);
        std::mem::swap(y, &mut line_right[pos]);
        pos += 1;
        if pos == n {
            pos = 0;
        }
    }
    pos
}

/// `mix += src × gain`, the gain moving linearly from `from` to `to`
/// across the block (`to` on its last frame). Audio thread.
#[inline]
fn add_ramped(mix: &mut [f32], src: &[f32], from: f32, to: f32) {
    if from == to {
        add_scaled(mix, src, to);
        return;
    }
    let step = (to - from) / mix.len().max(1) as f32;
    for (i, (m, x)) in mix.iter_mut().zip(src.iter()).enumerate() {
        *m += (from + step * (i + 1) as f32) * x;
    }
}

/// `mix += src × gain`. Audio thread.
#[inline]
fn add_scaled(mix: &mut [f32], src: &[f32], gain: f32) {
    if gain == 0.0 {
        return;
    }
    for (m, x) in mix.iter_mut().zip(src.iter()) {
        *m += gain * x;
    }
}

/// How long a rack gain change (gain, pan, mute, solo) takes to glide, so
/// it never clicks.
const GAIN_GLIDE_SECONDS: f32 = 0.005;

/// `mix += src × gain`, with `gain` moving toward `target` by at most
/// `step` (a fraction of full scale) per sample. Audio thread.
#[inline]
fn mix_gliding(mix: &mut [f32], src: &[f32], gain: &mut f32, target: f32, step: f32) {
    if *gain == target {
        let g = target;
        for (m, x) in mix.iter_mut().zip(src.iter()) {
            *m += g * x;
        }
        return;
    }
    for (m, x) in mix.iter_mut().zip(src.iter()) {
        let d = target - *gain;
        *gain = if d.abs() <= step {
            target
        } else {
            *gain + step.copysign(d)
        };
        *m += *gain * x;
    }
}
