//! `.vstpreset` files, the VST3 SDK's preset format (what every VST3 host
//! and plugin writes): a 48-byte header (`VST3`, version, the class id as
//! 32 ASCII hex digits, the chunk list's offset), data chunks, and a chunk
//! list (`List`, a count, then id/offset/size per chunk). `Comp` holds
//! the component's state, `Cont` the controller's, `Prog` one program's
//! data for the component's `IProgramListData` (the list id as i32 LE,
//! then the data). Read and written here rather than through a crate: no
//! maintained crate reads them, and the format is a few fixed fields. Any
//! thread (pure parsing).

/// The states a `.vstpreset` holds.
#[derive(Debug, PartialEq, Eq)]
pub struct VstPreset<'a> {
    /// The class id it was saved from, 32 hex digits as written.
    pub class_id: &'a str,
    /// The component's state (`Comp`).
    pub component: &'a [u8],
    /// The controller's state (`Cont`), empty when absent.
    pub controller: &'a [u8],
    /// One program's data (`Prog`): its program list's id and the data.
    pub program: Option<(i32, &'a [u8])>,
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
    let mut program = None;
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
            b"Prog" => {
                let list = data
                    .get(..4)
                    .ok_or("its program data (`Prog` chunk) has no list id")?;
                program = Some((
                    i32::from_le_bytes(list.try_into().expect("4 bytes")),
                    &data[4..],
                ));
            }
            _ => {}
        }
    }
    if component.is_none() && program.is_none() {
        return Err(
            "it holds neither a component state (`Comp` chunk) nor program data (`Prog`)".into(),
        );
    }
    Ok(VstPreset {
        class_id,
        component: component.unwrap_or_default(),
        controller,
        program,
    })
}

/// A `.vstpreset` as the SDK writes it: header, the chunks present (`Comp`
/// and `Cont` when not empty, `Prog` when given), the chunk list.
/// `class_id`: 32 hex digits. Any thread.
pub fn write(preset: &VstPreset<'_>) -> Vec<u8> {
    let mut chunks: Vec<([u8; 4], Vec<u8>)> = Vec::new();
    if !preset.component.is_empty() {
        chunks.push((*b"Comp", preset.component.to_vec()));
    }
    if !preset.controller.is_empty() {
        chunks.push((*b"Cont", preset.controller.to_vec()));
    }
    if let Some((list, data)) = preset.program {
        let mut chunk = list.to_le_bytes().to_vec();
        chunk.extend_from_slice(data);
        chunks.push((*b"Prog", chunk));
    }
    let mut f = b"VST3".to_vec();
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(preset.class_id.as_bytes());
    let list = HEADER + chunks.iter().map(|(_, c)| c.len()).sum::<usize>();
    f.extend_from_slice(&(list as u64).to_le_bytes());
    let mut entries = Vec::new();
    for (id, chunk) in &chunks {
        entries.push((*id, f.len(), chunk.len()));
        f.extend_from_slice(chunk);
    }
    f.extend_from_slice(b"List");
    f.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (id, at, len) in entries {
        f.extend_from_slice(&id);
        f.extend_from_slice(&(at as u64).to_le_bytes());
        f.extend_from_slice(&(len as u64).to_le_bytes());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as the SDK writes it: header, Comp, Cont, list.
    fn file(class: &str, comp: &[u8], cont: &[u8]) -> Vec<u8> {
        write(&VstPreset {
            class_id: class,
            component: comp,
            controller: cont,
            program: None,
        })
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
                program: None,
            })
        );
    }

    #[test]
    fn program_data_reads_back_with_its_list() {
        let preset = VstPreset {
            class_id: CLASS,
            component: b"",
            controller: b"",
            program: Some((7, b"level")),
        };
        let f = write(&preset);
        assert_eq!(parse(&f), Ok(preset));
        let empty = write(&VstPreset {
            program: None,
            ..parse(&f).unwrap()
        });
        assert!(parse(&empty).unwrap_err().contains("neither"));
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
