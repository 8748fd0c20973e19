//! `ChunkedFrame`: an encode target that splices large byte fields in by reference. A Fetch
//! response is mostly record batches; encoding it into one buffer would copy every batch
//! again (and hold it twice). The codec writes a `Bytes` field with one `put_slice` of
//! exactly that field's bytes, so when a `put_slice` is one of the fields we registered
//! (same address and length), the frame keeps it as a chunk of its own instead of copying
//! it. The connection then writes the chunks with vectored writes.
//!
//! Batches left in their segment file (`log::FileSlice`) go into the response as
//! *placeholders*: `Bytes` of the slice's length over a read-only, never-written anonymous
//! mapping (`placeholder`; zero pages, no memory behind them, each at its own address). The
//! frame turns a placeholder's `put_slice` into a `Chunk::File`, which the connection sends
//! with `sendfile` (plaintext) or reads on the blocking pool (TLS). A placeholder the
//! encoder did not write as one `put_slice` would send zeros, so the frame counts them and
//! `into_chunks` refuses a frame that missed one.
//!
//! Only message encoders write here; they append only. `seek`/`range` (used by the codec
//! for record *batch* encoding, never for messages) work on the bytes after the last
//! spliced chunk.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

use crate::log::FileSlice;

/// Fields shorter than this are copied: a separate chunk costs more than the copy. Also the
/// least a partition's batches must be to be sent from their file.
pub(crate) const SPLICE_MIN_BYTES: usize = 4096;

/// Address space reserved for placeholders: a slice longer than this minus its index in
/// the response is read into memory instead.
const PLACEHOLDER_REGION_BYTES: usize = 1 << 32;

/// One piece of an encoded frame.
#[derive(Debug, Clone)]
pub(crate) enum Chunk {
    Bytes(Bytes),
    File(FileSlice),
}

impl Chunk {
    pub(crate) fn len(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.len(),
            Chunk::File(f) => f.len(),
        }
    }
}

impl From<Bytes> for Chunk {
    fn from(bytes: Bytes) -> Self {
        Chunk::Bytes(bytes)
    }
}

/// A segment file slice and the placeholder standing for it in a response's `records`.
#[derive(Debug, Clone)]
pub(crate) struct FileRecords {
    pub placeholder: Bytes,
    pub slice: FileSlice,
}

/// The read-only anonymous mapping placeholders point into (`None` when it cannot be
/// mapped: batches are then read into memory). Mapped once; never written, so it stays
/// zero pages without memory behind them.
fn placeholder_region() -> Option<&'static [u8]> {
    static REGION: OnceLock<Option<usize>> = OnceLock::new();
    let base = (*REGION.get_or_init(|| {
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PLACEHOLDER_REGION_BYTES,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            tracing::warn!(error = %std::io::Error::last_os_error(), "no placeholder mapping: fetched batches are copied");
            None
        } else {
            Some(ptr as usize)
        }
    }))?;
    // SAFETY: the mapping is readable (zeros), PLACEHOLDER_REGION_BYTES long and never
    // unmapped, so a shared 'static slice of it is valid.
    Some(unsafe { std::slice::from_raw_parts(base as *const u8, PLACEHOLDER_REGION_BYTES) })
}

/// The placeholder for `slice` as the `index`-th of a response (`index` distinct per
/// slice of one response, so every placeholder has its own address); `None` when the
/// region cannot hold it.
pub(crate) fn placeholder(index: usize, slice: &FileSlice) -> Option<FileRecords> {
    let region = placeholder_region()?;
    let end = index.checked_add(slice.len())?;
    let bytes = region.get(index..end)?;
    Some(FileRecords {
        placeholder: Bytes::from_static(bytes),
        slice: slice.clone(),
    })
}

/// An encoded frame as chunks: owned encoder output with registered `Bytes` spliced in.
#[derive(Debug, Default)]
pub(crate) struct ChunkedFrame {
    chunks: Vec<Chunk>,
    /// Bytes in `chunks`.
    flushed: usize,
    tail: BytesMut,
    /// Fields that may be spliced instead of copied (by address and length).
    spliceable: Vec<Bytes>,
    /// Placeholders to replace by their file slices, and how many were.
    files: Vec<FileRecords>,
    files_spliced: usize,
}

/// A frame whose encoder wrote a placeholder other than in one piece.
#[derive(Debug, thiserror::Error)]
#[error("{missed} of {total} file-backed record fields were not spliced")]
pub(crate) struct PlaceholderMissed {
    missed: usize,
    total: usize,
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

    /// A frame that also sends `files` from their segment files where the encoder writes
    /// their placeholders.
    pub(crate) fn with_files(fields: Vec<Bytes>, files: Vec<FileRecords>) -> Self {
        Self {
            files,
            ..Self::new(fields)
        }
    }

    /// Total encoded length.
    pub(crate) fn len(&self) -> usize {
        self.flushed + self.tail.len()
    }

    /// The frame's chunks, in order; an error when a placeholder was not spliced (its
    /// zeros would have been sent).
    pub(crate) fn into_chunks(mut self) -> Result<Vec<Chunk>, PlaceholderMissed> {
        if self.files_spliced != self.files.len() {
            return Err(PlaceholderMissed {
                missed: self.files.len() - self.files_spliced,
                total: self.files.len(),
            });
        }
        if !self.tail.is_empty() {
            self.chunks.push(Chunk::Bytes(self.tail.split().freeze()));
        }
        Ok(self.chunks)
    }

    fn push_chunk(&mut self, chunk: Chunk) {
        if !self.tail.is_empty() {
            self.flushed += self.tail.len();
            self.chunks.push(Chunk::Bytes(self.tail.split().freeze()));
        }
        self.flushed += chunk.len();
        self.chunks.push(chunk);
    }

    fn file_candidate(&self, src: &[u8]) -> Option<FileSlice> {
        if self.files.is_empty() {
            return None;
        }
        self.files
            .iter()
            .find(|f| f.placeholder.as_ptr() == src.as_ptr() && f.placeholder.len() == src.len())
            .map(|f| f.slice.clone())
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
        if let Some(slice) = self.file_candidate(src) {
            self.files_spliced += 1;
            self.push_chunk(Chunk::File(slice));
            return;
        }
        match self.splice_candidate(src) {
            Some(field) => self.push_chunk(Chunk::Bytes(field)),
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
    use std::sync::Arc;

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

    /// The in-memory chunks of a frame that has no file chunks.
    fn memory_chunks(frame: ChunkedFrame) -> Vec<Bytes> {
        frame
            .into_chunks()
            .expect("no placeholders")
            .into_iter()
            .map(|c| match c {
                Chunk::Bytes(b) => b,
                Chunk::File(f) => panic!("unexpected file chunk {f:?}"),
            })
            .collect()
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
            let chunks = memory_chunks(chunked);
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
        let chunks = memory_chunks(frame);
        assert_eq!(chunks.len(), 2);
        assert!(
            chunks[0].as_ptr() != lookalike.as_ptr(),
            "the look-alike is copied"
        );
        assert_eq!(spliced_bytes(&chunks, &fields), registered.len());
    }

    #[test]
    fn file_slices_replace_their_placeholders_and_the_rest_is_unchanged() {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        let stored: Vec<u8> = (0..3 * SPLICE_MIN_BYTES).map(|i| (i % 251) as u8).collect();
        file.write_all(&stored).expect("write");
        let handle = Arc::new(file.reopen().expect("reopen"));
        let slices = [
            FileSlice::new(Arc::clone(&handle), file.path(), 0, SPLICE_MIN_BYTES),
            FileSlice::new(
                Arc::clone(&handle),
                file.path(),
                SPLICE_MIN_BYTES as u64,
                2 * SPLICE_MIN_BYTES,
            ),
        ];
        let files: Vec<FileRecords> = slices
            .iter()
            .enumerate()
            .map(|(i, s)| placeholder(i, s).expect("placeholder"))
            .collect();
        let small = Bytes::from_static(b"in memory");
        let records = vec![
            files[0].placeholder.clone(),
            small.clone(),
            files[1].placeholder.clone(),
        ];
        let r = response(&records);
        let real = response(&[
            Bytes::copy_from_slice(&stored[..SPLICE_MIN_BYTES]),
            small,
            Bytes::copy_from_slice(&stored[SPLICE_MIN_BYTES..]),
        ]);
        for version in [4i16, 12, 16, 17] {
            let mut flat = BytesMut::new();
            real.encode(&mut flat, version).expect("encode flat");
            let mut chunked = ChunkedFrame::with_files(records.clone(), files.clone());
            r.encode(&mut chunked, version).expect("encode chunked");
            assert_eq!(chunked.len(), flat.len(), "v{version}");
            let chunks = chunked.into_chunks().expect("every placeholder spliced");
            let file_chunks = chunks
                .iter()
                .filter(|c| matches!(c, Chunk::File(_)))
                .count();
            assert_eq!(
                file_chunks, 2,
                "both slices are sent from the file (v{version})"
            );
            let mut joined = Vec::new();
            for c in &chunks {
                match c {
                    Chunk::Bytes(b) => joined.extend_from_slice(b),
                    Chunk::File(f) => joined.extend_from_slice(&f.read().expect("read slice")),
                }
            }
            assert_eq!(
                joined,
                flat.to_vec(),
                "same bytes as the copied response (v{version})"
            );
        }
    }

    #[test]
    fn a_placeholder_written_in_pieces_is_refused_not_sent_as_zeros() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let handle = Arc::new(file.reopen().expect("reopen"));
        let slice = FileSlice::new(handle, file.path(), 0, SPLICE_MIN_BYTES);
        let files = vec![placeholder(0, &slice).expect("placeholder")];
        let mut frame = ChunkedFrame::with_files(Vec::new(), files.clone());
        let (a, b) = files[0].placeholder.split_at(10);
        frame.put_slice(a);
        frame.put_slice(b);
        assert!(
            frame.into_chunks().is_err(),
            "a missed placeholder fails the frame"
        );
    }
}
