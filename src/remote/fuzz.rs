//! What a peer's bytes can reach in task values, for the fuzz target (only with `--cfg fuzzing`).

use super::batch::Batch;
use super::block::Block;
use super::codec::{decode, decode_owned};
use super::numbers::Owned;
use super::segments::Parts;

/// Decodes `data` as task values of several types (vectors of numbers in their own form, and
/// structs, options and nested vectors in `format`), and as a batch whose items are read as
/// them. None may panic or allocate more than the input justifies.
pub(crate) fn decode_values(data: &[u8]) {
    fn each_form(bytes: &[u8]) {
        let _ = decode::<Vec<u32>>(bytes);
        let _ = decode::<Vec<f64>>(bytes);
        let _ = decode::<Vec<i16>>(bytes);
        let _ = decode::<Box<[i8]>>(bytes);
        let _ = decode::<Vec<[f32; 3]>>(bytes);
        let _ = decode::<Box<[[u64; 16]]>>(bytes);
        let _ = decode::<Option<Vec<i16>>>(bytes);
        let _ = decode::<Vec<Vec<u32>>>(bytes);
        let _ = decode::<(String, f64, Vec<f64>, Vec<u32>, Option<char>, bool)>(bytes);
        let _ = decode::<std::collections::BTreeMap<u16, Vec<[i8; 4]>>>(bytes);
    }
    each_form(data);
    let _ = decode_owned::<Vec<u64>>(Owned::Bytes(data.to_vec()));
    // As a detached value arrives: in a block of the alignment its frame gave, which becomes
    // the vector only where length and alignment fit.
    let in_block = |align: usize| {
        let mut block = Block::new(data.len(), align).ok()?;
        block.fill(data).then_some(Owned::Numbers(Box::new(block)))
    };
    for align in [1, 2, 4, 8, 16] {
        if let Some(owned) = in_block(align) {
            let _ = decode_owned::<Vec<f64>>(owned);
        }
        if let Some(owned) = in_block(align) {
            let _ = decode_owned::<Vec<[u16; 3]>>(owned);
        }
        if let Some(owned) = in_block(align) {
            let _ = decode_owned::<String>(owned);
        }
        if let Some(owned) = in_block(align) {
            let _ = decode_owned::<(u8, Vec<u32>)>(owned);
        }
    }
    // As a value received in parts (see `segments`): its other bytes, and segments at places
    // the input gives (the first byte says how many, two bytes each say where and how long).
    if let [count, rest @ ..] = data {
        let count = usize::from(*count % 4);
        if rest.len() >= 2 * count {
            let (places, mut body) = rest.split_at(2 * count);
            let mut segments = Vec::new();
            for place in places.chunks_exact(2) {
                let len = usize::from(place[1]).min(body.len());
                let (kept, segment) = body.split_at(body.len() - len);
                body = kept;
                let align = [1, 2, 4, 8][usize::from(place[0] & 3)];
                if let Ok(mut block) = Block::new(len, align) {
                    block.fill(segment);
                    segments.push((usize::from(place[0] >> 2), block));
                }
            }
            if let Ok(mut main) = Block::new(body.len(), 1) {
                main.fill(body);
                let parts = || {
                    let segments = segments.clone();
                    Owned::Parts(Box::new(Parts { main: main.clone(), segments, intact: true }))
                };
                let _ = decode_owned::<(String, f64, Vec<f64>, Vec<u32>, Option<char>, bool)>(parts());
                let _ = decode_owned::<Vec<Vec<u32>>>(parts());
                let _ = decode_owned::<(Vec<[f32; 3]>, Vec<u8>)>(parts());
                let _ = decode_owned::<Vec<f64>>(parts());
            }
        }
    }
    if let Ok(batch) = postcard::from_bytes::<Batch>(data) {
        // The first items only: a batch of zero-width items may declare billions of them, and
        // the point here is what each item decodes to (every reader bounds its walk by the count
        // of items it expects).
        batch.items().take(64).map_while(|item| item).for_each(each_form);
    }
}
