//! The JPEG file structure, read once and used three ways: the frame's real geometry (what
//! decoding will allocate), a walk of the entropy-coded data (does it really hold every block
//! the header declares?), and the list of segments the stripped original keeps.

use std::ops::Range;

/// One marker segment of the primary image, in file order. For a scan (SOS), `entropy` is the
/// coded data after its header, restart markers included.
#[derive(Debug, Clone)]
pub struct Segment {
    pub marker: u8,
    /// The whole segment, from its 0xFF to the end of its body.
    pub span: Range<usize>,
    /// The body, after the two length bytes.
    pub body: Range<usize>,
    pub entropy: Range<usize>,
}

#[derive(Debug, Clone, Copy)]
pub struct Component {
    pub id: u8,
    pub h: u8,
    pub v: u8,
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub marker: u8,
    pub precision: u8,
    pub width: u32,
    pub height: u32,
    pub components: Vec<Component>,
}

impl Frame {
    pub fn progressive(&self) -> bool {
        self.marker == 0xC2
    }

    fn max_sampling(&self) -> (u32, u32) {
        let h = self.components.iter().map(|c| u32::from(c.h)).max().unwrap_or(1);
        let v = self.components.iter().map(|c| u32::from(c.v)).max().unwrap_or(1);
        (h, v)
    }

    /// A component's size in 8×8 blocks, padded to whole MCUs as decoders allocate it.
    pub fn padded_blocks(&self, c: &Component) -> (u32, u32) {
        let (hmax, vmax) = self.max_sampling();
        let mcus_x = self.width.div_ceil(8 * hmax);
        let mcus_y = self.height.div_ceil(8 * vmax);
        (mcus_x * u32::from(c.h), mcus_y * u32::from(c.v))
    }

    /// A component's size in blocks that hold image data (what a one-component scan codes).
    fn blocks(&self, c: &Component) -> (u32, u32) {
        let (hmax, vmax) = self.max_sampling();
        let w = (u64::from(self.width) * u64::from(c.h)).div_ceil(u64::from(hmax));
        let h = (u64::from(self.height) * u64::from(c.v)).div_ceil(u64::from(vmax));
        (w.div_ceil(8) as u32, h.div_ceil(8) as u32)
    }
}

/// The primary image: its segments from SOI up to its EOI. Whatever follows the EOI (MPF
/// secondary images, appended data) is not part of the photo and is not listed.
#[derive(Debug)]
pub struct Structure {
    pub segments: Vec<Segment>,
    pub frame: Frame,
}

impl Structure {
    /// The first EXIF block before the first scan, without its "Exif\0\0" prefix.
    pub fn exif<'a>(&self, data: &'a [u8]) -> Option<&'a [u8]> {
        self.segments
            .iter()
            .take_while(|s| s.marker != 0xDA)
            .filter(|s| s.marker == 0xE1)
            .find_map(|s| data[s.body.clone()].strip_prefix(b"Exif\0\0"))
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// Reads the primary image's segments up to its EOI. Errors say, for the user, what is wrong.
pub fn parse(data: &[u8]) -> Result<Structure, String> {
    const CUT: &str = "it ends before the end-of-image marker";
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err("no start-of-image marker".into());
    }
    let mut segments = Vec::new();
    let mut frame = None;
    let mut at = 2;
    loop {
        let start = at;
        if *data.get(at).ok_or(CUT)? != 0xFF {
            return Err(format!("unexpected bytes at offset {at} where a marker should be"));
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while *data.get(at).ok_or(CUT)? == 0xFF {
            at += 1;
        }
        let marker = data[at];
        at += 1;
        match marker {
            0xD9 => break,
            0xD8 | 0x00 => return Err(format!("a misplaced marker 0x{marker:02X} at offset {start}")),
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = usize::from(be16(data, at).ok_or(CUT)?);
        if len < 2 {
            return Err(format!("a segment at offset {start} has an impossible length"));
        }
        let body = at + 2..at + len;
        if body.end > data.len() {
            return Err(CUT.into());
        }
        at = body.end;
        let mut entropy = at..at;
        if marker == 0xDA {
            // Coded data runs to the first marker that is neither stuffing (FF 00) nor a
            // restart (FF D0–D7); fill bytes (FF FF) belong to the marker that follows.
            let mut end = at;
            loop {
                let i = end + data.get(end..).ok_or(CUT)?.iter().position(|b| *b == 0xFF).ok_or(CUT)?;
                let mut j = i + 1;
                while *data.get(j).ok_or(CUT)? == 0xFF {
                    j += 1;
                }
                if matches!(data[j], 0x00 | 0xD0..=0xD7) {
                    end = j + 1;
                } else {
                    end = i;
                    break;
                }
            }
            entropy = at..end;
            at = end;
        }
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            if frame.is_some() {
                return Err("more than one frame header".into());
            }
            frame = Some(parse_frame(marker, &data[body.clone()])?);
        }
        segments.push(Segment { marker, span: start..body.end, body, entropy });
    }
    let frame = frame.ok_or("no frame header")?;
    Ok(Structure { segments, frame })
}

fn parse_frame(marker: u8, body: &[u8]) -> Result<Frame, String> {
    if !matches!(marker, 0xC0..=0xC2) {
        return Err(format!(
            "it uses JPEG coding 0x{marker:02X} (lossless, hierarchical or arithmetic), which is not decoded here"
        ));
    }
    let bad = || "a damaged frame header".to_owned();
    let precision = *body.first().ok_or_else(bad)?;
    let height = u32::from(be16(body, 1).ok_or_else(bad)?);
    let width = u32::from(be16(body, 3).ok_or_else(bad)?);
    let count = usize::from(*body.get(5).ok_or_else(bad)?);
    let specs = body.get(6..6 + 3 * count).ok_or_else(bad)?;
    let components: Vec<Component> =
        specs.chunks_exact(3).map(|c| Component { id: c[0], h: c[1] >> 4, v: c[1] & 15 }).collect();
    let sampling_ok = components.iter().all(|c| (1..=4).contains(&c.h) && (1..=4).contains(&c.v));
    if !matches!(precision, 8 | 12) || !matches!(count, 1 | 3 | 4) || !sampling_ok {
        return Err(bad());
    }
    Ok(Frame { marker, precision, width, height, components })
}

/// A Huffman table in the form of the JPEG standard's DECODE procedure (F.2.2.3).
#[derive(Clone)]
struct Huffman {
    /// Per code length 1..=16: largest code of that length (or -1), and where its values start.
    max_code: [i32; 17],
    min_code: [i32; 17],
    first_value: [usize; 17],
    values: Vec<u8>,
    /// For each 8-bit prefix holding a whole code: (length << 8) | value; 0 when the code is
    /// longer. Most codes are short, so most symbols take one look-up.
    fast: [u16; 256],
}

impl Huffman {
    fn new(counts: &[u8], values: &[u8]) -> Result<Self, String> {
        let mut table = Self {
            max_code: [-1; 17],
            min_code: [0; 17],
            first_value: [0; 17],
            values: values.to_vec(),
            fast: [0; 256],
        };
        let (mut code, mut index) = (0i32, 0usize);
        for len in 1..=16 {
            let n = usize::from(counts[len - 1]);
            if n > 0 {
                table.first_value[len] = index;
                table.min_code[len] = code;
                code += n as i32;
                index += n;
                table.max_code[len] = code - 1;
            }
            if code > 1 << len {
                return Err("a Huffman table with more codes than fit".into());
            }
            code <<= 1;
        }
        for len in 1..=8usize {
            for code in table.min_code[len]..=table.max_code[len] {
                let Some(value) = table.values.get(table.first_value[len] + (code - table.min_code[len]) as usize)
                else {
                    continue;
                };
                let first = (code as usize) << (8 - len);
                for prefix in first..first + (1 << (8 - len)) {
                    table.fast[prefix] = ((len as u16) << 8) | u16::from(*value);
                }
            }
        }
        Ok(table)
    }
}

/// Reads the bits of one restart interval's coded data, stuffing removed. Reading past the
/// end does not pad with zeros as decoders do: it is counted, so a scan too short for the
/// blocks it must code is found out.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
    acc: u64,
    held: u32,
    overrun: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0, acc: 0, held: 0, overrun: 0 }
    }

    fn fill(&mut self) {
        while self.held <= 56 {
            let byte = match self.data.get(self.at) {
                Some(0xFF) if self.data.get(self.at + 1) == Some(&0x00) => {
                    self.at += 2;
                    0xFF
                }
                Some(0xFF) | None => {
                    self.overrun += 8;
                    0
                }
                Some(b) => {
                    self.at += 1;
                    *b
                }
            };
            self.acc |= u64::from(byte) << (56 - self.held);
            self.held += 8;
        }
    }

    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.held < n {
            self.fill();
        }
        let v = (self.acc >> (64 - n)) as u32;
        self.acc <<= n;
        self.held -= n;
        v
    }

    fn decode(&mut self, table: &Huffman) -> Result<u8, String> {
        if self.held < 8 {
            self.fill();
        }
        let fast = table.fast[(self.acc >> 56) as usize];
        if fast != 0 {
            let len = u32::from(fast >> 8);
            self.acc <<= len;
            self.held -= len;
            return Ok(fast as u8);
        }
        let mut code = self.bits(1) as i32;
        for len in 1..=16 {
            if code <= table.max_code[len] {
                let i = table.first_value[len] + (code - table.min_code[len]) as usize;
                return table.values.get(i).copied().ok_or_else(|| "a Huffman code without a value".to_owned());
            }
            code = (code << 1) | self.bits(1) as i32;
        }
        Err("an invalid Huffman code".into())
    }

    /// Whether bits were taken beyond the data (not counting what was only buffered ahead;
    /// one byte of slack for encoders that end a scan sloppily).
    fn overran(&self) -> bool {
        self.overrun > self.held + 8
    }
}

fn restart_pieces(coded: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(coded);
    std::iter::from_fn(move || {
        let piece = rest?;
        let cut = piece.windows(2).position(|w| w[0] == 0xFF && matches!(w[1], 0xD0..=0xD7));
        match cut {
            Some(i) => {
                rest = Some(&piece[i + 2..]);
                Some(&piece[..i])
            }
            None => {
                rest = None;
                Some(piece)
            }
        }
    })
}

/// More scans than any encoder writes (libjpeg's most detailed progressive script has ten).
const MAX_SCANS: usize = 100;

/// Walks every scan's coded data and checks that it codes every block it must: every
/// coefficient of every component is in some scan (a baseline scan holds all 64; progressive
/// first scans share them out), and each walked scan holds all the blocks it declares. A file cut short and closed with an end-of-image marker,
/// or a header that declares far more pixels than the data holds, fails here; decoders would
/// silently paint the missing part grey.
///
/// Progressive AC refinement scans depend on earlier coefficients and are not walked; they
/// only add precision to coefficients the walked scans already cover.
pub fn check_coverage(data: &[u8], structure: &Structure) -> Result<(), String> {
    let frame = &structure.frame;
    // Every scan may revisit every block, with next to no data when it codes runs of empty
    // blocks: the number of scans bounds the work (encoders write about ten).
    let scans = structure.segments.iter().filter(|s| s.marker == 0xDA).count();
    if scans > MAX_SCANS {
        return Err(format!("it has {scans} scans; at most {MAX_SCANS} are accepted"));
    }
    let mut dc_tables: [Option<Huffman>; 4] = Default::default();
    let mut ac_tables: [Option<Huffman>; 4] = Default::default();
    let mut restart_interval = 0u32;
    // Per component, the coefficients (bit k for zig-zag index k) that some first scan codes.
    let mut coded = vec![0u64; frame.components.len()];
    for segment in &structure.segments {
        let body = &data[segment.body.clone()];
        match segment.marker {
            0xC4 => {
                let mut at = 0;
                while at < body.len() {
                    let class_id = body[at];
                    let counts = body.get(at + 1..at + 17).ok_or("a damaged Huffman table")?;
                    let n: usize = counts.iter().map(|c| usize::from(*c)).sum();
                    let values = body.get(at + 17..at + 17 + n).ok_or("a damaged Huffman table")?;
                    let table = Some(Huffman::new(counts, values)?);
                    let slot = usize::from(class_id & 15).min(3);
                    match class_id >> 4 {
                        0 => dc_tables[slot] = table,
                        1 => ac_tables[slot] = table,
                        _ => return Err("a damaged Huffman table".into()),
                    }
                    at += 17 + n;
                }
            }
            0xDD => restart_interval = u32::from(be16(body, 0).ok_or("a damaged restart interval")?),
            0xDA => {
                let scan = Scan::parse(body, frame, &dc_tables, &ac_tables)?;
                if let Some(scan) = scan {
                    scan.walk(&data[segment.entropy.clone()], frame, restart_interval)?;
                    if scan.approx_high == 0 {
                        let (from, to) = (u32::from(scan.spectral_start), u32::from(scan.spectral_end));
                        let band = (u64::MAX >> (63 - (to - from))) << from;
                        for (index, _) in &scan.components {
                            coded[*index] |= band;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if coded.iter().all(|c| *c == u64::MAX) {
        Ok(())
    } else {
        Err("its image data is missing for part of the picture".into())
    }
}

/// A scan component's DC and AC tables (absent when the file never defined them).
type Tables<'t> = (Option<&'t Huffman>, Option<&'t Huffman>);

struct Scan<'t> {
    /// (index into the frame's components, its tables).
    components: Vec<(usize, Tables<'t>)>,
    spectral_start: u8,
    spectral_end: u8,
    approx_high: u8,
    progressive: bool,
}

impl<'t> Scan<'t> {
    /// The scan, or `None` for a refinement scan, which is not walked.
    fn parse(
        body: &[u8],
        frame: &Frame,
        dc: &'t [Option<Huffman>; 4],
        ac: &'t [Option<Huffman>; 4],
    ) -> Result<Option<Self>, String> {
        let bad = || "a damaged scan header".to_owned();
        let count = usize::from(*body.first().ok_or_else(bad)?);
        let specs = body.get(1..1 + 2 * count).ok_or_else(bad)?;
        let tail = body.get(1 + 2 * count..4 + 2 * count).ok_or_else(bad)?;
        let (spectral_start, spectral_end, approx_high) = (tail[0], tail[1], tail[2] >> 4);
        let mut components = Vec::with_capacity(count);
        for spec in specs.chunks_exact(2) {
            let index = frame.components.iter().position(|c| c.id == spec[0]).ok_or_else(bad)?;
            let tables = (dc[usize::from(spec[1] >> 4).min(3)].as_ref(), ac[usize::from(spec[1] & 15).min(3)].as_ref());
            components.push((index, tables));
        }
        if components.is_empty() || spectral_start > spectral_end || spectral_end > 63 {
            return Err(bad());
        }
        let progressive = frame.progressive();
        if progressive && approx_high > 0 && spectral_start > 0 {
            return Ok(None);
        }
        if progressive && spectral_start > 0 && components.len() != 1 {
            return Err(bad());
        }
        Ok(Some(Self { components, spectral_start, spectral_end, approx_high, progressive }))
    }

    fn walk(&self, coded: &[u8], frame: &Frame, restart_interval: u32) -> Result<(), String> {
        // Units: MCUs of an interleaved scan, or single blocks of a one-component scan.
        let (units, per_unit): (u64, Vec<(usize, u32)>) = if self.components.len() == 1 {
            let (index, _) = self.components[0];
            let (bw, bh) = frame.blocks(&frame.components[index]);
            (u64::from(bw) * u64::from(bh), vec![(0, 1)])
        } else {
            let (hmax, vmax) = frame.max_sampling();
            let mcus = u64::from(frame.width.div_ceil(8 * hmax)) * u64::from(frame.height.div_ceil(8 * vmax));
            let blocks = self
                .components
                .iter()
                .enumerate()
                .map(|(i, (index, _))| {
                    let c = frame.components[*index];
                    (i, u32::from(c.h) * u32::from(c.v))
                })
                .collect();
            (mcus, blocks)
        };
        let interval = if restart_interval == 0 { units } else { u64::from(restart_interval) };
        // A restart marker (FF D0–D7) cannot occur inside coded data, so the intervals are
        // the pieces between them; each starts with fresh bits.
        let mut pieces = restart_pieces(coded);
        let mut done = 0u64;
        while done < units {
            let count = interval.min(units - done);
            let piece = pieces.next().ok_or_else(|| {
                format!("its image data ends early, after {done} of the {units} parts its header declares")
            })?;
            let mut bits = Bits::new(piece);
            let mut eob_run = 0u32;
            let mut left = count;
            while left > 0 {
                if eob_run > 0 {
                    // A band scan (one component, one block a unit) inside a run of empty
                    // blocks: the whole run is skipped at once.
                    let skip = u64::from(eob_run).min(left);
                    eob_run -= skip as u32;
                    left -= skip;
                    done += skip;
                    continue;
                }
                for (i, blocks) in &per_unit {
                    let (dc, ac) = self.components[*i].1;
                    for _ in 0..*blocks {
                        self.block(&mut bits, dc, ac, &mut eob_run, frame.precision)?;
                    }
                }
                if bits.overran() {
                    return Err(format!(
                        "its image data ends early, after {done} of the {units} parts its header declares"
                    ));
                }
                left -= 1;
                done += 1;
            }
        }
        Ok(())
    }

    fn block(
        &self,
        bits: &mut Bits<'_>,
        dc: Option<&Huffman>,
        ac: Option<&Huffman>,
        eob_run: &mut u32,
        precision: u8,
    ) -> Result<(), String> {
        let missing = || "a scan uses a Huffman table that was never defined".to_owned();
        let max_size = u32::from(precision) + 4;
        if self.spectral_start == 0 {
            if self.progressive && self.approx_high > 0 {
                bits.bits(1);
                return Ok(());
            }
            let size = u32::from(bits.decode(dc.ok_or_else(missing)?)?);
            if size > max_size {
                return Err("a coefficient out of range".into());
            }
            bits.bits(size);
            if self.progressive {
                return Ok(());
            }
        }
        // A run of empty blocks (`eob_run`) is skipped by the caller, a whole run at once.
        let ac = ac.ok_or_else(missing)?;
        let mut k = u32::from(self.spectral_start.max(1));
        while k <= u32::from(self.spectral_end) {
            let rs = bits.decode(ac)?;
            let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run == 15 {
                    k += 16;
                    continue;
                }
                if self.progressive {
                    *eob_run = (1 << run) - 1 + bits.bits(run);
                }
                break;
            }
            k += run;
            bits.bits(size);
            k += 1;
        }
        if k > u32::from(self.spectral_end) + 1 {
            return Err("a block with more than 64 coefficients".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

    /// A deterministic noisy picture, so every block codes real coefficients.
    fn encode(
        width: u16,
        height: u16,
        progressive: bool,
        restart: u16,
        sampling: SamplingFactor,
        grey: bool,
    ) -> Vec<u8> {
        let channels = if grey { 1 } else { 3 };
        let mut seed = 0x2545_F491u32;
        let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height) * channels)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((i % 251) as u8).wrapping_add((seed >> 26) as u8)
            })
            .collect();
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, 85);
        encoder.set_progressive(progressive);
        encoder.set_restart_interval(restart);
        encoder.set_sampling_factor(sampling);
        let colour = if grey { ColorType::Luma } else { ColorType::Rgb };
        encoder.encode(&pixels, width, height, colour).expect("encode");
        out
    }

    fn variants() -> Vec<(String, Vec<u8>)> {
        let mut all = Vec::new();
        for progressive in [false, true] {
            for restart in [0, 3] {
                for (sampling, name) in [(SamplingFactor::R_4_2_0, "420"), (SamplingFactor::R_4_4_4, "444")] {
                    for grey in [false, true] {
                        let label = format!("progressive={progressive} restart={restart} {name} grey={grey}");
                        all.push((label, encode(173, 91, progressive, restart, sampling, grey)));
                    }
                }
            }
        }
        all
    }

    fn check(data: &[u8]) -> Result<(), String> {
        check_coverage(data, &parse(data)?)
    }

    #[test]
    fn complete_files_are_covered() {
        for (label, data) in variants() {
            assert!(image::load_from_memory(&data).is_ok(), "{label}: the fixture itself decodes");
            assert_eq!(check(&data), Ok(()), "{label}");
        }
    }

    #[test]
    fn a_file_cut_short_and_closed_again_is_not_covered() {
        for (label, data) in variants() {
            let structure = parse(&data).expect("parses");
            let first_scan = structure.segments.iter().find(|s| s.marker == 0xDA).expect("a scan");
            let data_start = first_scan.entropy.start;
            for keep in [1, 2, 3] {
                // Cut in the middle of the coded data (all of it for a baseline file, the
                // scans after the first for a progressive one), then end the file properly.
                let cut = data_start + (data.len() - data_start) * keep / 4;
                let mut cut_file = data[..cut].to_vec();
                cut_file.extend_from_slice(&[0xFF, 0xD9]);
                assert!(check(&cut_file).is_err(), "{label}: cut at {keep}/4 accepted");
            }
        }
    }

    #[test]
    fn a_header_that_claims_more_pixels_than_the_data_holds_is_refused() {
        for (label, data) in variants() {
            let structure = parse(&data).expect("parses");
            let sof = structure.segments.iter().find(|s| matches!(s.marker, 0xC0 | 0xC2)).expect("frame");
            // Far larger, and just one MCU row or column more than the data codes.
            for (w, h) in [(10000u16, 5000u16), (200, 91), (173, 120)] {
                let mut lying = data.clone();
                lying[sof.body.start + 1..sof.body.start + 3].copy_from_slice(&h.to_be_bytes());
                lying[sof.body.start + 3..sof.body.start + 5].copy_from_slice(&w.to_be_bytes());
                assert!(check(&lying).is_err(), "{label}: {w}x{h} accepted");
            }
        }
    }

    #[test]
    fn structure_stops_at_the_primary_images_end() {
        let data = encode(16, 16, false, 0, SamplingFactor::R_4_4_4, false);
        let mut with_trailer = data.clone();
        with_trailer.extend_from_slice(b"\xFF\xD8\xFF\xE1\x00\x10Exif\0\0trailing");
        let structure = parse(&with_trailer).expect("parses");
        let last = structure.segments.last().expect("segments");
        assert!(last.entropy.end <= data.len() - 2, "nothing past the first EOI is listed");
        assert!(parse(&data[..data.len() - 2]).is_err(), "no EOI: refused");
        assert!(parse(b"\xFF\xD8\xFF\xD9").is_err(), "no frame: refused");
    }

    #[test]
    fn scans_beyond_the_limit_are_refused_before_any_walk() {
        let data = encode(16, 16, true, 0, SamplingFactor::R_4_4_4, true);
        let structure = parse(&data).expect("parses");
        let scan = structure.segments.iter().rev().find(|s| s.marker == 0xDA).expect("a scan").clone();
        // The last scan again and again, as a file may repeat cheap scans to make work.
        let mut padded = data[..scan.span.start].to_vec();
        for _ in 0..=MAX_SCANS {
            padded.extend_from_slice(&data[scan.span.start..scan.entropy.end]);
        }
        padded.extend_from_slice(&[0xFF, 0xD9]);
        let err = check(&padded).expect_err("too many scans");
        assert!(err.contains("scans"), "{err}");
    }
}
