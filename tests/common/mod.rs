//! Helpers shared by the integration tests: `.pnr` reference files, [`cli`] for the
//! command-line tests and [`host`], the CLAP host of the `clap_*` tests. Each test file uses a
//! part of them.

#![allow(dead_code)]

pub mod cli;
pub mod host;

/// Parses a `.pnr` reference file (docs/FORMATS.md): (inputs, outputs) per frame; the
/// outputs are the gains and strengths, then (version 2) the presence.
pub fn parse_reference(bytes: &[u8]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let extra = match &bytes[..8] {
        b"PNREF001" => 0,
        b"PNREF002" => 1,
        m => panic!("not a .pnr file: {m:?}"),
    };
    let u = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
    let (frames, nf, nb) = (u(8), u(12), u(16));
    let cols = 2 * nb + extra;
    let floats: Vec<f32> = bytes[20..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(floats.len(), frames * (nf + cols), "reference file size");
    let (inputs, outputs) = floats.split_at(frames * nf);
    (
        inputs.chunks(nf).map(<[f32]>::to_vec).collect(),
        outputs.chunks(cols).map(<[f32]>::to_vec).collect(),
    )
}
