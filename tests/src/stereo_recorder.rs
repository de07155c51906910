//! A JACK client that records a stereo pair cycle by cycle, with each
//! cycle's frame time, for sample-level checks of stagerack's output.

use std::sync::{Arc, Mutex};

use jack::{AudioIn, Client, Control, Port, ProcessScope};

/// One recorded cycle.
#[derive(Clone, Debug)]
pub struct Cycle {
    /// JACK's frame time at the cycle's start.
    pub frame: u32,
    /// Left samples.
    pub left: Vec<f32>,
    /// Right samples.
    pub right: Vec<f32>,
}

struct Record {
    left: Port<AudioIn>,
    right: Port<AudioIn>,
    /// Preallocated: (frame, left, right) per cycle, flat.
    frames: Vec<u32>,
    samples: Vec<f32>,
    out: Arc<Mutex<Recording>>,
}

#[derive(Default)]
struct Recording {
    frames: Vec<u32>,
    samples: Vec<f32>,
    period: usize,
}

impl jack::ProcessHandler for Record {
    fn process(&mut self, _: &Client, ps: &ProcessScope) -> Control {
        let (l, r) = (self.left.as_slice(ps), self.right.as_slice(ps));
        if self.samples.len() + 2 * l.len() <= self.samples.capacity() {
            self.frames.push(ps.last_frame_time());
            self.samples.extend_from_slice(l);
            self.samples.extend_from_slice(r);
        }
        // Hand over what was recorded when the test is not reading (a test
        // client: it never waits for the lock).
        if let Ok(mut out) = self.out.try_lock() {
            out.period = l.len();
            out.frames.append(&mut self.frames);
            out.samples.append(&mut self.samples);
        }
        Control::Continue
    }
}

/// The recorder. Stops on drop.
pub struct StereoRecorder {
    client: jack::AsyncClient<crate::jack::XrunLog, Record>,
    out: Arc<Mutex<Recording>>,
    xruns: Arc<Mutex<Vec<u32>>>,
}

impl StereoRecorder {
    /// Opens client `name` on `server` with ports `in_L`/`in_R` connected
    /// from `from_left` and `from_right`; room for `seconds` at 48 kHz.
    pub fn start(
        server: &str,
        name: &str,
        from_left: &str,
        from_right: &str,
        seconds: f64,
    ) -> StereoRecorder {
        let c = crate::jack::open_client(server, name);
        let left = c.register_port("in_L", AudioIn::default()).expect("in_L");
        let right = c.register_port("in_R", AudioIn::default()).expect("in_R");
        let room = (seconds * 48_000.0) as usize * 2;
        let out = Arc::new(Mutex::new(Recording {
            frames: Vec::with_capacity(room / 32),
            samples: Vec::with_capacity(room),
            period: 0,
        }));
        let xruns = Arc::new(Mutex::new(Vec::new()));
        let client = c
            .activate_async(
                crate::jack::XrunLog { at: xruns.clone() },
                Record {
                    left,
                    right,
                    frames: Vec::with_capacity(room / 32),
                    samples: Vec::with_capacity(room),
                    out: out.clone(),
                },
            )
            .expect("activate the recorder");
        for (from, to) in [(from_left, "in_L"), (from_right, "in_R")] {
            client
                .as_client()
                .connect_ports_by_name(from, &format!("{name}:{to}"))
                .unwrap_or_else(|e| panic!("connect {from} to the recorder: {e}"));
        }
        StereoRecorder { client, out, xruns }
    }

    /// Frame times at which JACK reported an xrun so far (reports arrive
    /// late on a loaded machine: tens of cycles after the cycle itself).
    /// Test thread.
    pub fn xruns(&self) -> Vec<u32> {
        self.xruns.lock().unwrap().clone()
    }

    /// JACK's estimate of the frame playing now: a mark in the recording
    /// (compare with [`Cycle::frame`]). Test thread.
    pub fn frame_now(&self) -> u32 {
        self.client.as_client().frame_time()
    }

    /// Every cycle recorded so far, in order. Test thread.
    pub fn cycles(&self) -> Vec<Cycle> {
        let out = self.out.lock().unwrap();
        let n = out.period;
        out.frames
            .iter()
            .enumerate()
            .map(|(i, &frame)| {
                let at = i * 2 * n;
                Cycle {
                    frame,
                    left: out.samples[at..at + n].to_vec(),
                    right: out.samples[at + n..at + 2 * n].to_vec(),
                }
            })
            .collect()
    }
}
