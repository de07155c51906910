//! `.vstpreset` files, the VST3 SDK's preset format (what every VST3 host
//! and plugin writes): a 48-byte header (`VST3`, version, the class id as
//! 32 ASCII hex digits, the chunk list's offset), data chunks, and a chunk
//! list (`List`, a count, then id/offset/size per chunk). `Comp` holds
//! the component's state, `Cont` the controller's. Read here rather than
//! through a crate: no maintained crate reads them, and the format is a
//! few fixed fields. Any thread (pure parsing).

/// The states a `.vstpreset` holds.
#[derive(Debug, PartialEq, Eq)]
pub struct VstPreset<'a> {
    /// The class id it was saved from, 32 hex digits as written.
    pub class_id: &'a str,
    /// The component's state (`Comp`).
    pub component: &'a [u8],
    /// The controller's state (`Cont`), empty when absent.
    pub controller: &'a [u8],
}

/// True when `bytes` start like a `.vstpreset`. Any thread.
pub fn is_vstpreset(bytes: &[u8]) -> bool {
    bytes.starts_with(b"VST3") && bytes.len() >= HEADER
}

const HEADER: usize = 48;

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Reads a `.vstpreset`; Err says what is wrong with it. Never panics on
/// bad input. Any thread.
pub fn parse(bytes: &[u8]) -> Result<VstPreset<'_>, String> {
    if !is_vstpreset(bytes) {
        return Err("not a .vstpreset file (no `VST3` header)".into());
    }
    let class_id = std::str::from_utf8(&bytes[8..40])
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("its class id is not 32 hex digits")?;
    let list = usize::try_from(u64_at(bytes, 40).ok_or("truncated header")?)
        .map_err(|_| "its chunk list lies beyond the file")?;
    if bytes.get(list..list + 4) != Some(b"List") {
        return Err("no chunk list where its header says".into());
    }
    let count = u32_at(bytes, list + 4).ok_or("truncated chunk list")? as usize;
    let mut component = None;
    let mut controller: &[u8] = &[];
    for i in 0..count.min(64) {
        let entry = list + 8 + i * 20;
        let id = bytes.get(entry..entry + 4).ok_or("truncated chunk list")?;
        let offset = u64_at(bytes, entry + 4).ok_or("truncated chunk list")?;
        let size = u64_at(bytes, entry + 12).ok_or("truncated chunk list")?;
        let data = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, s)| bytes.get(o..o.checked_add(s)?))
            .ok_or_else(|| {
                format!(
                    "chunk `{}` lies beyond the file",
                    String::from_utf8_lossy(id)
                )
            })?;
        match id {
            b"Comp" => component = Some(data),
            b"Cont" => controller = data,
            _ => {}
        }
    }
    Ok(VstPreset {
        class_id,
        component: component.ok_or("it holds no component state (`Comp` chunk)")?,
        controller,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as the SDK writes it: header, Comp, Cont, list.
    fn file(class: &str, comp: &[u8], cont: &[u8]) -> Vec<u8> {
        let mut f = b"VST3".to_vec();
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(class.as_bytes());
        let list = (HEADER + comp.len() + cont.len()) as u64;
        f.extend_from_slice(&list.to_le_bytes());
        f.extend_from_slice(comp);
        f.extend_from_slice(cont);
        f.extend_from_slice(b"List");
        f.extend_from_slice(&2u32.to_le_bytes());
        for (id, at, len) in [
            (b"Comp", HEADER, comp.len()),
            (b"Cont", HEADER + comp.len(), cont.len()),
        ] {
            f.extend_from_slice(id);
            f.extend_from_slice(&(at as u64).to_le_bytes());
            f.extend_from_slice(&(len as u64).to_le_bytes());
        }
        f
    }

    const CLASS: &str = "0123456789ABCDEF0123456789abcdef";

    #[test]
    fn a_preset_file_gives_both_states_and_its_class() {
        let f = file(CLASS, b"component", b"ctl");
        assert_eq!(
            parse(&f),
            Ok(VstPreset {
                class_id: CLASS,
                component: b"component",
                controller: b"ctl",
            })
        );
    }

    #[test]
    fn damaged_files_are_refused_with_a_reason_never_a_panic() {
        let good = file(CLASS, b"component", b"ctl");
        assert!(parse(b"RIFF....").unwrap_err().contains("VST3"));
        let mut bad_class = good.clone();
        bad_class[8] = b'z';
        assert!(parse(&bad_class).unwrap_err().contains("class id"));
        // Every truncation is refused cleanly.
        for n in 0..good.len() {
            assert!(parse(&good[..n]).is_err(), "truncated at {n}");
        }
        // A chunk pointing past the end.
        let mut past = good.clone();
        let entry = good.len() - 40 + 4;
        past[entry..entry + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&past).unwrap_err().contains("beyond"));
    }
}
