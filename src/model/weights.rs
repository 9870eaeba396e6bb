//! The `.pnw` weights format (see `docs/FORMATS.md`): a versioned header with the layer
//! widths and the feature normalisation, then the tensors in a fixed order. Version 2 adds
//! a presence head (one dense unit on the trunk's output) after the last tensor of version 1.

use std::fmt;

/// File magic.
pub const MAGIC: &[u8; 8] = b"PNWEIGHT";
/// Newest format version this build reads (it reads 1 too; 2 adds the presence head).
pub const VERSION: u32 = 2;
/// The first version, without a presence head.
const VERSION_NO_PRESENCE: u32 = 1;
/// Largest tensor accepted (elements), so a corrupt header cannot ask for gigabytes.
const MAX_TENSOR: usize = 1 << 26;
/// Largest width accepted for any layer.
const MAX_WIDTH: u32 = 4096;

/// Why a weights file was rejected.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightsError {
    BadMagic,
    UnsupportedVersion(u32),
    Truncated {
        needed: usize,
        at: usize,
    },
    BadShape(String),
    TensorShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    NonFinite(String),
    TrailingBytes(usize),
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => write!(f, "not a percepnet weights file (bad magic)"),
            Self::UnsupportedVersion(v) => write!(
                f,
                "weights format version {v} is not supported (this build reads 1 to {VERSION})"
            ),
            Self::Truncated { needed, at } => write!(
                f,
                "weights file truncated: needed {needed} more bytes at offset {at}"
            ),
            Self::BadShape(s) => write!(f, "invalid network shape in weights header: {s}"),
            Self::TensorShape {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tensor {name} has shape {found:?}, the header implies {expected:?}"
                )
            }
            Self::NonFinite(name) => write!(f, "tensor {name} holds NaN or infinite values"),
            Self::TrailingBytes(n) => write!(f, "weights file has {n} unexpected trailing bytes"),
        }
    }
}

impl std::error::Error for WeightsError {}

/// Layer widths of the network, as stored in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub features: usize,
    pub bands: usize,
    pub dense: usize,
    pub conv1: usize,
    pub conv1_kernel: usize,
    pub conv2: usize,
    pub conv2_kernel: usize,
    pub gru: usize,
    pub gru_layers: usize,
    pub head_g: usize,
    pub head_r: usize,
}

impl Shape {
    const FIELDS: usize = 11;

    fn from_fields(v: [u32; Self::FIELDS]) -> Result<Self, WeightsError> {
        if let Some(bad) = v.iter().find(|&&x| x == 0 || x > MAX_WIDTH) {
            return Err(WeightsError::BadShape(format!(
                "width {bad} out of range 1..={MAX_WIDTH}"
            )));
        }
        let u = |i: usize| v[i] as usize;
        Ok(Self {
            features: u(0),
            bands: u(1),
            dense: u(2),
            conv1: u(3),
            conv1_kernel: u(4),
            conv2: u(5),
            conv2_kernel: u(6),
            gru: u(7),
            gru_layers: u(8),
            head_g: u(9),
            head_r: u(10),
        })
    }

    fn to_fields(self) -> [u32; Self::FIELDS] {
        [
            self.features,
            self.bands,
            self.dense,
            self.conv1,
            self.conv1_kernel,
            self.conv2,
            self.conv2_kernel,
            self.gru,
            self.gru_layers,
            self.head_g,
            self.head_r,
        ]
        .map(|x| x as u32)
    }

    /// The tensors in file order: name and dimensions.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut t = vec![
            ("dense.weight".into(), vec![self.dense, self.features]),
            ("dense.bias".into(), vec![self.dense]),
            (
                "conv1.weight".into(),
                vec![self.conv1, self.dense, self.conv1_kernel],
            ),
            ("conv1.bias".into(), vec![self.conv1]),
            (
                "conv2.weight".into(),
                vec![self.conv2, self.conv1, self.conv2_kernel],
            ),
            ("conv2.bias".into(), vec![self.conv2]),
        ];
        let gru = |t: &mut Vec<(String, Vec<usize>)>, name: &str, input: usize, hidden: usize| {
            t.push((format!("{name}.weight_ih"), vec![3 * hidden, input]));
            t.push((format!("{name}.weight_hh"), vec![3 * hidden, hidden]));
            t.push((format!("{name}.bias_ih"), vec![3 * hidden]));
            t.push((format!("{name}.bias_hh"), vec![3 * hidden]));
        };
        for l in 0..self.gru_layers {
            let input = if l == 0 { self.conv2 } else { self.gru };
            gru(&mut t, &format!("gru{l}"), input, self.gru);
        }
        gru(&mut t, "gru_g", self.gru, self.head_g);
        t.push(("dense_g.weight".into(), vec![self.bands, self.head_g]));
        t.push(("dense_g.bias".into(), vec![self.bands]));
        gru(&mut t, "gru_r", self.gru, self.head_r);
        t.push(("dense_r.weight".into(), vec![self.bands, self.head_r]));
        t.push(("dense_r.bias".into(), vec![self.bands]));
        t
    }

    /// Total number of weights.
    pub fn parameter_count(&self) -> usize {
        self.tensors()
            .iter()
            .map(|(_, d)| d.iter().product::<usize>())
            .sum()
    }
}

/// A parsed weights file.
#[derive(Clone, Debug)]
pub struct Weights {
    pub shape: Shape,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    /// Tensors in the order of [`Shape::tensors`].
    pub tensors: Vec<Vec<f32>>,
    /// The presence head (version 2): `dense_p.weight [1, gru]` and `dense_p.bias [1]`.
    pub presence: Option<(Vec<f32>, f32)>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WeightsError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(WeightsError::Truncated {
            needed: n - (self.bytes.len() - self.pos).min(n),
            at: self.pos,
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, WeightsError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32s(&mut self, n: usize, name: &str) -> Result<Vec<f32>, WeightsError> {
        let b = self.take(n * 4)?;
        let v: Vec<f32> = b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(WeightsError::NonFinite(name.into()));
        }
        Ok(v)
    }
}

impl Weights {
    /// Parses and validates a `.pnw` file.
    pub fn parse(bytes: &[u8]) -> Result<Self, WeightsError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(MAGIC.len()).map_err(|_| WeightsError::BadMagic)? != MAGIC {
            return Err(WeightsError::BadMagic);
        }
        let version = r.u32()?;
        if !(VERSION_NO_PRESENCE..=VERSION).contains(&version) {
            return Err(WeightsError::UnsupportedVersion(version));
        }
        let mut fields = [0u32; Shape::FIELDS];
        for f in fields.iter_mut() {
            *f = r.u32()?;
        }
        let shape = Shape::from_fields(fields)?;
        let mean = r.f32s(shape.features, "feature mean")?;
        let scale = r.f32s(shape.features, "feature scale")?;
        if scale.iter().any(|&s| s <= 0.0) {
            return Err(WeightsError::BadShape(
                "feature scale must be positive".into(),
            ));
        }
        let mut tensors = Vec::new();
        let presence_tensors = [
            ("dense_p.weight".to_string(), vec![1, shape.gru]),
            ("dense_p.bias".to_string(), vec![1]),
        ];
        let extra = if version == VERSION {
            &presence_tensors[..]
        } else {
            &[]
        };
        for (name, expected) in shape.tensors().into_iter().chain(extra.iter().cloned()) {
            let ndim = r.u32()? as usize;
            if ndim > 4 {
                return Err(WeightsError::TensorShape {
                    name,
                    expected,
                    found: vec![ndim],
                });
            }
            let mut found = Vec::with_capacity(ndim);
            for _ in 0..ndim {
                found.push(r.u32()? as usize);
            }
            if found != expected {
                return Err(WeightsError::TensorShape {
                    name,
                    expected,
                    found,
                });
            }
            let n: usize = found.iter().product();
            if n > MAX_TENSOR {
                return Err(WeightsError::BadShape(format!("tensor {name} too large")));
            }
            tensors.push(r.f32s(n, &name)?);
        }
        if r.pos != bytes.len() {
            return Err(WeightsError::TrailingBytes(bytes.len() - r.pos));
        }
        let presence = if version == VERSION {
            let bias = tensors.pop().expect("presence bias parsed")[0];
            Some((tensors.pop().expect("presence weight parsed"), bias))
        } else {
            None
        };
        Ok(Self {
            shape,
            mean,
            scale,
            tensors,
            presence,
        })
    }

    /// Serialises to the `.pnw` format (the inverse of [`Weights::parse`]): version 2 with a
    /// presence head, else 1.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        let version = if self.presence.is_some() {
            VERSION
        } else {
            VERSION_NO_PRESENCE
        };
        out.extend_from_slice(&version.to_le_bytes());
        for f in self.shape.to_fields() {
            out.extend_from_slice(&f.to_le_bytes());
        }
        let put = |out: &mut Vec<u8>, v: &[f32]| {
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()))
        };
        put(&mut out, &self.mean);
        put(&mut out, &self.scale);
        for ((_, dims), data) in self.shape.tensors().iter().zip(&self.tensors) {
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&(*d as u32).to_le_bytes());
            }
            put(&mut out, data);
        }
        if let Some((w, b)) = &self.presence {
            for (dims, data) in [(&[1, w.len()][..], &w[..]), (&[1][..], &[*b][..])] {
                out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
                for d in dims {
                    out.extend_from_slice(&(*d as u32).to_le_bytes());
                }
                put(&mut out, data);
            }
        }
        out
    }

    /// Prunes every GRU matrix (`W_ih` and `W_hh` of the trunk and both heads) to `density`
    /// of its blocks with [`crate::model::quant::sparse::prune_blocks`], the rule of the
    /// trainer's `--gru-density`.
    pub fn prune_gru_blocks(&mut self, density: f32) {
        for ((name, dims), t) in self.shape.tensors().iter().zip(&mut self.tensors) {
            if name.starts_with("gru") && name.contains(".weight_") {
                crate::model::quant::sparse::prune_blocks(t, dims[0], dims[1], density);
            }
        }
    }

    /// Deterministic pseudo-random weights of a given shape (for benchmarks and tests only:
    /// never shipped).
    pub fn pseudo_random(shape: Shape, seed: u32) -> Self {
        let mut s = seed.max(1);
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as f32 / u32::MAX as f32 - 0.5
        };
        let tensors = shape
            .tensors()
            .iter()
            .map(|(_, d)| {
                let fan_in = if d.len() > 1 {
                    d[1..].iter().product::<usize>()
                } else {
                    1
                };
                let k = 2.0 / (fan_in as f32).sqrt();
                (0..d.iter().product::<usize>())
                    .map(|_| next() * k)
                    .collect()
            })
            .collect();
        Self {
            shape,
            mean: vec![0.0; shape.features],
            scale: vec![1.0; shape.features],
            tensors,
            presence: None,
        }
    }
}
