//! `ChunkedFrame`: an encode target that splices large byte fields in by reference. A Fetch
//! response is mostly record batches the log already read into `Bytes`; encoding it into one
//! buffer would copy every batch again (and hold it twice). The codec writes a `Bytes` field
//! with one `put_slice` of exactly that field's bytes, so when a `put_slice` is one of the
//! batches we registered (same address and length), the frame keeps a reference to it as a
//! chunk of its own instead of copying it. The connection then writes the chunks with
//! vectored writes.
//!
//! Only message encoders write here; they append only. `seek`/`range` (used by the codec
//! for record *batch* encoding, never for messages) work on the bytes after the last
//! spliced chunk.

use std::ops::Range;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

/// Fields shorter than this are copied: a separate chunk costs more than the copy.
pub(crate) const SPLICE_MIN_BYTES: usize = 4096;

/// An encoded frame as chunks: owned encoder output with registered `Bytes` spliced in.
#[derive(Debug, Default)]
pub(crate) struct ChunkedFrame {
    chunks: Vec<Bytes>,
    /// Bytes in `chunks`.
    flushed: usize,
    tail: BytesMut,
    /// Fields that may be spliced instead of copied (by address and length).
    spliceable: Vec<Bytes>,
}

impl ChunkedFrame {
    /// A frame that splices `fields` (each at least [`SPLICE_MIN_BYTES`] long to count)
    /// when the encoder writes them.
    pub(crate) fn new(fields: Vec<Bytes>) -> Self {
        Self {
            spliceable: fields
                .into_iter()
                .filter(|f| f.len() >= SPLICE_MIN_BYTES)
                .collect(),
            tail: BytesMut::with_capacity(256),
            ..Self::default()
        }
    }

    /// Total encoded length.
    pub(crate) fn len(&self) -> usize {
        self.flushed + self.tail.len()
    }

    /// The frame's chunks, in order.
    pub(crate) fn into_chunks(mut self) -> Vec<Bytes> {
        if !self.tail.is_empty() {
            self.chunks.push(self.tail.split().freeze());
        }
        self.chunks
    }

    fn splice_candidate(&self, src: &[u8]) -> Option<Bytes> {
        if src.len() < SPLICE_MIN_BYTES {
            return None;
        }
        self.spliceable
            .iter()
            .find(|f| f.as_ptr() == src.as_ptr() && f.len() == src.len())
            .cloned()
    }
}

// SAFETY: every method delegates to `tail`, a `BytesMut`, whose `BufMut` implementation
// upholds the trait's contract; `put_slice` only changes which buffer receives the bytes.
unsafe impl BufMut for ChunkedFrame {
    fn remaining_mut(&self) -> usize {
        self.tail.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialized `cnt` bytes of `chunk_mut()`, which is `tail`'s.
        unsafe { self.tail.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.tail.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        match self.splice_candidate(src) {
            Some(field) => {
                if !self.tail.is_empty() {
                    self.flushed += self.tail.len();
                    self.chunks.push(self.tail.split().freeze());
                }
                self.flushed += field.len();
                self.chunks.push(field);
            }
            None => self.tail.extend_from_slice(src),
        }
    }
}

impl ByteBufMut for ChunkedFrame {
    fn offset(&self) -> usize {
        self.len()
    }

    fn seek(&mut self, offset: usize) {
        debug_assert!(offset >= self.flushed, "seek into a spliced chunk");
        self.tail.resize(offset.saturating_sub(self.flushed), 0);
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        debug_assert!(r.start >= self.flushed, "range over a spliced chunk");
        let start = r.start.saturating_sub(self.flushed).min(self.tail.len());
        let end = r
            .end
            .saturating_sub(self.flushed)
            .clamp(start, self.tail.len());
        &mut self.tail[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{FetchResponse, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn response(records: &[Bytes]) -> FetchResponse {
        let mut topic = FetchableTopicResponse::default();
        topic.topic = TopicName(StrBytes::from_static_str("t"));
        topic.partitions = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut p = PartitionData::default();
                p.partition_index = i as i32;
                p.high_watermark = 7;
                p.records = Some(r.clone());
                p
            })
            .collect();
        let mut response = FetchResponse::default();
        response.responses = vec![topic];
        response
    }

    /// Bytes of `chunks` that are `fields` themselves (spliced in by reference, not copied).
    fn spliced_bytes(chunks: &[Bytes], fields: &[Bytes]) -> usize {
        chunks
            .iter()
            .filter(|c| {
                fields
                    .iter()
                    .any(|f| f.as_ptr() == c.as_ptr() && f.len() == c.len())
            })
            .map(Bytes::len)
            .sum()
    }

    #[test]
    fn a_chunked_fetch_response_has_the_same_bytes_and_splices_large_batches() {
        let big = Bytes::from(vec![7u8; 3 * SPLICE_MIN_BYTES]);
        let small = Bytes::from(vec![9u8; 10]);
        let other = Bytes::from(vec![5u8; SPLICE_MIN_BYTES]);
        let records = vec![big.clone(), small.clone(), other.clone()];
        for version in [4i16, 11, 12, 13, 16, 17] {
            let r = response(&records);
            let mut flat = BytesMut::new();
            r.encode(&mut flat, version).expect("encode flat");
            let mut chunked = ChunkedFrame::new(records.clone());
            r.encode(&mut chunked, version).expect("encode chunked");
            assert_eq!(chunked.len(), flat.len(), "v{version}");
            let chunks = chunked.into_chunks();
            assert_eq!(
                spliced_bytes(&chunks, &records),
                big.len() + other.len(),
                "v{version}"
            );
            assert!(
                chunks
                    .iter()
                    .any(|c| c.as_ptr() == big.as_ptr() && c.len() == big.len()),
                "the big batch is referenced, not copied (v{version})"
            );
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(joined, flat.to_vec(), "same bytes (v{version})");
        }
    }

    #[test]
    fn equal_bytes_elsewhere_are_copied_not_spliced() {
        // Same content, different allocation: only the registered field is spliced.
        let registered = Bytes::from(vec![1u8; SPLICE_MIN_BYTES]);
        let lookalike = Bytes::from(vec![1u8; SPLICE_MIN_BYTES]);
        let fields = vec![registered.clone()];
        let mut frame = ChunkedFrame::new(fields.clone());
        frame.put_slice(&lookalike);
        frame.put_slice(&registered);
        assert_eq!(frame.len(), 2 * SPLICE_MIN_BYTES);
        let chunks = frame.into_chunks();
        assert_eq!(chunks.len(), 2);
        assert!(
            chunks[0].as_ptr() != lookalike.as_ptr(),
            "the look-alike is copied"
        );
        assert_eq!(spliced_bytes(&chunks, &fields), registered.len());
    }
}
