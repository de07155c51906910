//! The rack is stereo; a plugin's ports are whatever it declares. These two
//! adapters are the one place both formats (CLAP ports, VST3 buses) turn
//! one into the other, so a mono plugin or one with no audio output sits in
//! a rack the same way whatever its format. Audio thread: no allocation,
//! plain copies.

/// The rack's `left`/`right` into a plugin's main input `channels`: L and
/// R, or their mean for a mono port; any further channel silent. Each
/// channel buffer holds at least `left.len()` frames. Audio thread.
pub(crate) fn stereo_to_port<C: AsMut<[f32]>>(channels: &mut [C], left: &[f32], right: &[f32]) {
    let frames = left.len();
    match channels {
        [] => {}
        [mono] => {
            for ((d, l), r) in mono.as_mut()[..frames].iter_mut().zip(left).zip(right) {
                *d = 0.5 * (l + r);
            }
        }
        [l, r, rest @ ..] => {
            l.as_mut()[..frames].copy_from_slice(left);
            r.as_mut()[..frames].copy_from_slice(right);
            for c in rest {
                c.as_mut()[..frames].fill(0.0);
            }
        }
    }
}

/// A plugin's main output port back into the rack's `left`/`right`: L and
/// R, a mono port to both sides, a port without channels silent. A plugin
/// with no output port at all (`None`: a note effect) leaves the rack's
/// audio as it was. Each channel buffer holds at least `left.len()` frames.
/// Audio thread.
pub(crate) fn port_to_stereo<C: AsRef<[f32]>>(
    port: Option<&[C]>,
    left: &mut [f32],
    right: &mut [f32],
) {
    let frames = left.len();
    match port {
        None => {}
        Some([]) => {
            left.fill(0.0);
            right.fill(0.0);
        }
        Some([mono]) => {
            left.copy_from_slice(&mono.as_ref()[..frames]);
            right.copy_from_slice(&mono.as_ref()[..frames]);
        }
        Some([l, r, ..]) => {
            left.copy_from_slice(&l.as_ref()[..frames]);
            right.copy_from_slice(&r.as_ref()[..frames]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_reaches_every_port_shape_and_comes_back() {
        let (l, r) = ([1.0f32, 0.0], [0.0f32, 1.0]);
        let mut mono = [vec![9.0f32; 4]];
        stereo_to_port(&mut mono, &l, &r);
        assert_eq!(mono[0][..2], [0.5, 0.5]);
        let mut quad = [vec![9.0f32; 2], vec![9.0; 2], vec![9.0; 2], vec![9.0; 2]];
        stereo_to_port(&mut quad, &l, &r);
        assert_eq!(
            quad,
            [vec![1.0, 0.0], vec![0.0, 1.0], vec![0.0; 2], vec![0.0; 2]]
        );

        let (mut ol, mut or) = ([7.0f32; 2], [7.0f32; 2]);
        port_to_stereo::<Vec<f32>>(None, &mut ol, &mut or);
        assert_eq!(
            (ol, or),
            ([7.0; 2], [7.0; 2]),
            "no output port: passes through"
        );
        port_to_stereo(Some(&[vec![0.25f32, 0.5]][..]), &mut ol, &mut or);
        assert_eq!((ol, or), ([0.25, 0.5], [0.25, 0.5]), "mono to both sides");
        port_to_stereo(Some(&quad[..]), &mut ol, &mut or);
        assert_eq!((ol, or), ([1.0, 0.0], [0.0, 1.0]));
        port_to_stereo::<Vec<f32>>(Some(&[]), &mut ol, &mut or);
        assert_eq!(
            (ol, or),
            ([0.0; 2], [0.0; 2]),
            "a port without channels: silence"
        );
    }
}
