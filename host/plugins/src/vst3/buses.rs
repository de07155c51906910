//! The plugin's audio buses as the engine's stereo rack sees them.

use vst3::Steinberg::Vst as sv;

pub(super) fn speaker_count(arr: sv::SpeakerArrangement) -> usize {
    arr.count_ones() as usize
}

/// One direction's audio buses, preallocated.
pub(super) struct Buses {
    /// Per bus: its channel buffers.
    pub(super) data: Vec<Vec<Vec<f32>>>,
    /// Per bus: pointers to its channel buffers.
    pub(super) ptrs: Vec<Vec<*mut f32>>,
    /// What `ProcessData` points at.
    pub(super) buses: Vec<sv::AudioBusBuffers>,
}

impl Buses {
    pub(super) fn new(channels: &[usize], frames: usize) -> Buses {
        let mut data: Vec<Vec<Vec<f32>>> = channels
            .iter()
            .map(|&c| (0..c).map(|_| vec![0.0f32; frames]).collect())
            .collect();
        let mut ptrs: Vec<Vec<*mut f32>> = data
            .iter_mut()
            .map(|bus| bus.iter_mut().map(|ch| ch.as_mut_ptr()).collect())
            .collect();
        let buses = ptrs
            .iter_mut()
            .map(|p| sv::AudioBusBuffers {
                numChannels: p.len() as i32,
                silenceFlags: 0,
                __field0: sv::AudioBusBuffers__type0 {
                    channelBuffers32: p.as_mut_ptr(),
                },
            })
            .collect();
        Buses { data, ptrs, buses }
    }

    /// Points every channel pointer `start` frames into its buffer (0: the
    /// buffers' starts again). Audio thread; `start` < the buffers' length.
    pub(super) fn offset(&mut self, start: usize) {
        for (p, d) in self.ptrs.iter_mut().zip(self.data.iter_mut()) {
            for (ptr, ch) in p.iter_mut().zip(d.iter_mut()) {
                *ptr = ch[start..].as_mut_ptr();
            }
        }
    }
}
