//! `.npy` through `ndarray-npy`: arrays of the engine's types (bool as u8), any real dtype for
//! footprints and weights, and a check of the header against the file size before reading.

use super::{with_type, DynArray, Format, Image, Reason};
use crate::dtype::DType;
use ndarray::ArrayD;
use ndarray_npy::npy::header::Header as NpyHeader;
use ndarray_npy::{ReadNpyExt, WriteNpyError, WriteNpyExt};
use std::io::Write;

/// Checks the header against the file size, so that a forged shape cannot make the reader
/// allocate more than about 8× the file, and returns a description of the dtype.
fn check_header(bytes: &[u8]) -> Result<String, Reason> {
    header_fits(bytes, bytes.len() as u64)?;
    let mut rest = bytes;
    let header = NpyHeader::from_reader(&mut rest).map_err(|e| bad(e.to_string()))?;
    let elements = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match elements {
        Some(n) if n <= rest.len() => Ok(header.type_descriptor.to_string()),
        _ => Err(bad(format!(
            "the header's shape {:?} needs more data than the file holds",
            header.shape
        ))),
    }
}

fn bad(detail: String) -> Reason {
    Reason::Decode {
        format: Format::Npy,
        detail,
    }
}

/// The kind and size of a dtype as `check_header` shows it (`'<f8'` → `f8`), without its
/// byte order.
fn code(dtype: &str) -> &str {
    dtype
        .trim_matches('\'')
        .trim_start_matches(['<', '>', '|', '='])
}

/// Reads the array as the type whose code (`u1`, `f8`, …) is the file's, if one is listed.
/// (Only that one is tried: `ndarray-npy` allocates and zeroes a whole array of a multi-byte
/// type before it looks at the dtype, so trying each in turn cost four array-sized allocations
/// for an f64 file.)
macro_rules! read_as {
    ($bytes:expr, $dtype:expr, $($t:ty: $code:literal => $convert:expr),*) => {
        $(if code($dtype) == $code {
            return ArrayD::<$t>::read_npy($bytes).map($convert).map_err(|e| bad(e.to_string()));
        })*
    };
}

/// An array of an engine type; bool reads as u8 0/1.
pub(super) fn read(bytes: &[u8]) -> Result<DynArray, Reason> {
    let dtype = check_header(bytes)?;
    read_as!(bytes, &dtype,
        u8: "u1" => DynArray::U8, u16: "u2" => DynArray::U16, i16: "i2" => DynArray::I16,
        i32: "i4" => DynArray::I32, f32: "f4" => DynArray::F32, f64: "f8" => DynArray::F64,
        bool: "b1" => |a: ArrayD<bool>| DynArray::U8(a.mapv(u8::from)));
    Err(Reason::Unsupported(format!(
        "dtype {dtype} is not supported (u8, u16, i16, i32, f32, f64 and bool are; convert with numpy's astype)"
    )))
}

/// Any real dtype as f64, for footprints and weights. (64-bit integers round to the nearest
/// f64, which is exact for any sensible weight.)
pub(super) fn read_f64(bytes: &[u8]) -> Result<ArrayD<f64>, Reason> {
    let dtype = check_header(bytes)?;
    macro_rules! widen {
        ($($t:ty: $code:literal),*) => {
            read_as!(bytes, &dtype, $($t: $code => |a: ArrayD<$t>| a.mapv(|v| v as f64)),*)
        };
    }
    widen!(f64: "f8", f32: "f4", u8: "u1", u16: "u2", i16: "i2", i32: "i4", i8: "i1", u32: "u4",
        i64: "i8", u64: "u8");
    read_as!(bytes, &dtype, bool: "b1" => |a: ArrayD<bool>| a.mapv(|b| if b { 1.0 } else { 0.0 }));
    Err(Reason::Unsupported(format!(
        "dtype {dtype} is not a real number type"
    )))
}

/// Plain arrays as they are; images as `h × w × channels` (alpha last), or `h × w` for grey.
pub(super) fn write<W: Write>(out: W, image: &Image) -> Result<(), Reason> {
    with_type!(image.dtype(), T => {
        let result = match image.channels::<T>()?.as_slice() {
            [plane] => plane.write_npy(out),
            _ => image.stacked::<T>()?.write_npy(out),
        };
        result.map_err(|e| match e {
            WriteNpyError::Io(e) => Reason::Io(e),
            other => Reason::Encode(other.to_string()),
        })
    })
}

/// What row streaming needs of a `.npy` header: the engine type of its dtype (`None`: another
/// dtype, read whole and converted), its byte order, order and shape.
pub(super) struct Header {
    pub dtype: Option<DType>,
    pub big_endian: bool,
    pub fortran: bool,
    pub shape: Vec<usize>,
}

/// Checks the header's own length, from the file's first bytes `start`, against the file's
/// `size`: the reader allocates it before reading (versions 2 and 3 allow 4 GiB), so a 20-byte
/// file could ask for that much.
fn header_fits(start: &[u8], size: u64) -> Result<(), Reason> {
    let (at, len) = match start {
        [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => {
            (10, u16::from_le_bytes([*a, *b]) as u64)
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d, ..] => {
            (12, u32::from_le_bytes([*a, *b, *c, *d]) as u64)
        }
        _ => (0, 0),
    };
    if at + len > size {
        return Err(bad(format!(
            "the header claims {len} bytes but the file has only {} after it",
            size.saturating_sub(at)
        )));
    }
    Ok(())
}

/// Reads the header of a file of `size` bytes, leaving `r` at the first byte of data.
pub(super) fn header(r: &mut impl std::io::BufRead, size: u64) -> Result<Header, Reason> {
    header_fits(r.fill_buf().map_err(Reason::Io)?, size)?;
    let h = NpyHeader::from_reader(r).map_err(|e| bad(e.to_string()))?;
    let descr = h.type_descriptor.to_string();
    let code = descr.trim_matches(|c| c == '\'' || c == '"');
    let (order, kind) = code.split_at(code.len().min(1));
    let dtype = match kind {
        "u1" => Some(DType::U8),
        "u2" => Some(DType::U16),
        "i2" => Some(DType::I16),
        "i4" => Some(DType::I32),
        "f4" => Some(DType::F32),
        "f8" => Some(DType::F64),
        _ => None,
    };
    Ok(Header {
        dtype: dtype.filter(|_| matches!(order, "<" | ">" | "|" | "=")),
        big_endian: order == ">",
        fortran: h.layout.is_fortran(),
        shape: h.shape,
    })
}

/// A version 1 (or, for a long shape, 2) header for a C-order array of `shape` and `dtype`, in
/// the machine's byte order.
pub(super) fn header_bytes(shape: &[usize], dtype: DType) -> Vec<u8> {
    let order = if cfg!(target_endian = "little") {
        '<'
    } else {
        '>'
    };
    let code = match dtype {
        DType::U8 => "|u1".to_string(),
        DType::U16 => format!("{order}u2"),
        DType::I16 => format!("{order}i2"),
        DType::I32 => format!("{order}i4"),
        DType::F32 => format!("{order}f4"),
        DType::F64 => format!("{order}f8"),
    };
    header_of(shape, &code)
}

/// A version 1 (or, for a long shape, 2) header for a C-order array of `shape` and the numpy
/// type descriptor `code` (`<f8`, `|b1`).
fn header_of(shape: &[usize], code: &str) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!("{{'descr': '{code}', 'fortran_order': False, 'shape': {tuple}, }}");
    let v1 = (10 + dict.len() + 1).div_ceil(64) * 64 - 10 < 65536;
    let prefix = if v1 { 10 } else { 12 };
    let total = (prefix + dict.len() + 1).div_ceil(64) * 64;
    dict.push_str(&" ".repeat(total - prefix - dict.len() - 1));
    dict.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` of `descr` and shape (2, 3) holding `data` as given.
    fn file(descr: &str, data: &[u8]) -> Vec<u8> {
        let mut out = header_of(&[2, 3], descr);
        out.extend_from_slice(data);
        out
    }

    /// The six values 0, 1, 2, 3, 4, 250 in `size`-byte integers or floats, either byte order.
    fn values(size: usize, float: bool, big: bool) -> Vec<u8> {
        [0.0f64, 1.0, 2.0, 3.0, 4.0, 250.0]
            .iter()
            .flat_map(|&v| {
                let mut b = match (float, size) {
                    (true, 4) => (v as f32).to_le_bytes().to_vec(),
                    (true, _) => v.to_le_bytes().to_vec(),
                    (false, _) => (v as u64).to_le_bytes()[..size].to_vec(),
                };
                if big {
                    b.reverse();
                }
                b
            })
            .collect()
    }

    #[test]
    fn each_dtype_is_read_as_its_own_type_in_either_byte_order() {
        let want = [0.0, 1.0, 2.0, 3.0, 4.0, 250.0];
        for (code, size, float, name) in [
            ("u1", 1, false, "U8"),
            ("u2", 2, false, "U16"),
            ("i2", 2, false, "I16"),
            ("i4", 4, false, "I32"),
            ("f4", 4, true, "F32"),
            ("f8", 8, true, "F64"),
        ] {
            for (order, big) in [('<', false), ('>', true), ('|', false)] {
                if (size == 1) != (order == '|') {
                    continue;
                }
                let bytes = file(&format!("{order}{code}"), &values(size, float, big));
                let got = read(&bytes).unwrap_or_else(|e| panic!("{order}{code}: {e:?}"));
                let (kind, v): (&str, Vec<f64>) = match &got {
                    DynArray::U8(a) => ("U8", a.iter().map(|&x| x as f64).collect()),
                    DynArray::U16(a) => ("U16", a.iter().map(|&x| x as f64).collect()),
                    DynArray::I16(a) => ("I16", a.iter().map(|&x| x as f64).collect()),
                    DynArray::I32(a) => ("I32", a.iter().map(|&x| x as f64).collect()),
                    DynArray::F32(a) => ("F32", a.iter().map(|&x| x as f64).collect()),
                    DynArray::F64(a) => ("F64", a.iter().copied().collect()),
                };
                assert_eq!((kind, v.as_slice()), (name, &want[..]), "{order}{code}");
                let wide = read_f64(&bytes).unwrap();
                assert_eq!(
                    wide.iter().copied().collect::<Vec<_>>(),
                    want,
                    "{order}{code}"
                );
            }
        }
        // Booleans read as 0/1 bytes; 64-bit integers only as weights; complex not at all.
        let flags = read(&file("|b1", &[0, 1, 1, 0, 0, 1])).unwrap();
        assert!(matches!(flags, DynArray::U8(a) if a.iter().eq([0, 1, 1, 0, 0, 1].iter())));
        let wide = file("<i8", &values(8, false, false));
        assert!(matches!(read(&wide), Err(Reason::Unsupported(m)) if m.contains("'<i8'")));
        assert_eq!(
            read_f64(&wide).unwrap().iter().copied().collect::<Vec<_>>(),
            want
        );
        let complex = file("<c8", &[0; 48]);
        assert!(matches!(read(&complex), Err(Reason::Unsupported(_))));
        assert!(matches!(read_f64(&complex), Err(Reason::Unsupported(_))));
    }
}
