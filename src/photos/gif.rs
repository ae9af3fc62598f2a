//! The GIF block structure: read once, for the frames' real sizes (what decoding allocates)
//! and for the blocks a stripped original keeps.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// An extension block with its label (0xF9 graphic control, 0xFE comment, 0xFF
    /// application, 0x01 plain text).
    Extension(u8),
    /// An image: its rectangle on the logical screen.
    Image { left: u32, top: u32, width: u32, height: u32 },
}

#[derive(Debug)]
pub struct Block {
    pub kind: BlockKind,
    /// The whole block, sub-blocks and terminator included.
    pub span: Range<usize>,
}

#[derive(Debug)]
pub struct Structure {
    pub width: u32,
    pub height: u32,
    /// Header, logical screen descriptor and global colour table.
    pub head: Range<usize>,
    /// Up to the trailer (0x3B); what follows it is not part of the image.
    pub blocks: Vec<Block>,
}

pub fn parse(data: &[u8]) -> Result<Structure, String> {
    let cut = || "it ends before the GIF trailer".to_owned();
    let header = data.get(..13).ok_or_else(cut)?;
    let width = u32::from(u16::from_le_bytes([header[6], header[7]]));
    let height = u32::from(u16::from_le_bytes([header[8], header[9]]));
    let table = |flags: u8| if flags & 0x80 != 0 { 3 * (1usize << ((flags & 7) + 1)) } else { 0 };
    let mut at = 13 + table(header[10]);
    let head = 0..at;
    data.get(..at).ok_or_else(cut)?;
    // Length of the data sub-blocks starting at `from`, terminator included.
    let sub_blocks = |from: usize| -> Result<usize, String> {
        let mut at = from;
        loop {
            let len = usize::from(*data.get(at).ok_or_else(cut)?);
            at += 1 + len;
            if len == 0 {
                return Ok(at - from);
            }
        }
    };
    let mut blocks = Vec::new();
    loop {
        match *data.get(at).ok_or_else(cut)? {
            0x3B => return Ok(Structure { width, height, head, blocks }),
            0x21 => {
                let label = *data.get(at + 1).ok_or_else(cut)?;
                let end = at + 2 + sub_blocks(at + 2)?;
                data.get(..end).ok_or_else(cut)?;
                blocks.push(Block { kind: BlockKind::Extension(label), span: at..end });
                at = end;
            }
            0x2C => {
                let d = data.get(at..at + 10).ok_or_else(cut)?;
                let field = |i: usize| u32::from(u16::from_le_bytes([d[i], d[i + 1]]));
                let kind = BlockKind::Image { left: field(1), top: field(3), width: field(5), height: field(7) };
                let data_start = at + 10 + table(d[9]) + 1; // + LZW minimum code size
                let end = data_start + sub_blocks(data_start)?;
                data.get(..end).ok_or_else(cut)?;
                blocks.push(Block { kind, span: at..end });
                at = end;
            }
            other => return Err(format!("an unknown block 0x{other:02X} at offset {at}")),
        }
    }
}
