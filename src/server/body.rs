//! The response body's data: a static or small owned body, or an encoded
//! scrape body shared with every other response that sends it.
//!
//! A scrape body is an `Arc<Vec<u8>>` the scraper reuses for a later
//! encode once no response holds it. Handing it to hyper as [`Bytes`] would
//! allocate a `Bytes` control block per scrape (`Bytes::from(Vec)` whose
//! length is not its capacity), so responses carry this [`Buf`] instead,
//! which only clones the `Arc`.
#![forbid(unsafe_code)]

use std::sync::Arc;

use bytes::{Buf, Bytes};

/// An encoded body, shared by every response that sends it. Its buffer
/// goes back to the scraper for the next encode once no response holds it.
pub(crate) type Body = Arc<Vec<u8>>;

/// What a response sends. hyper reads it through [`Buf`].
#[derive(Debug)]
pub(crate) enum Chunk {
    /// A fixed or handler-built body.
    Bytes(Bytes),
    /// An encoded scrape body, from `pos` on.
    Shared { body: Body, pos: usize },
}

impl Chunk {
    pub(crate) fn shared(body: Body) -> Self {
        Chunk::Shared { body, pos: 0 }
    }
}

impl<T: Into<Bytes>> From<T> for Chunk {
    fn from(b: T) -> Self {
        Chunk::Bytes(b.into())
    }
}

impl Buf for Chunk {
    fn remaining(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.remaining(),
            Chunk::Shared { body, pos } => body.len() - *pos,
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            Chunk::Bytes(b) => b.chunk(),
            Chunk::Shared { body, pos } => &body[*pos..],
        }
    }

    fn advance(&mut self, cnt: usize) {
        match self {
            Chunk::Bytes(b) => b.advance(cnt),
            Chunk::Shared { body, pos } => {
                assert!(
                    cnt <= body.len() - *pos,
                    "advance past the end of a body: {cnt} > {}",
                    body.len() - *pos
                );
                *pos += cnt;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_chunk_reads_like_its_bytes() {
        let text = b"# TYPE x counter\nx 1\n".to_vec();
        let mut shared = Chunk::shared(Arc::new(text.clone()));
        let mut owned = Chunk::from(text.clone());
        for step in [0, 3, 10, 0, 8] {
            assert_eq!(shared.remaining(), owned.remaining());
            assert_eq!(shared.chunk(), owned.chunk());
            shared.advance(step);
            owned.advance(step);
        }
        assert_eq!(shared.remaining(), 0);
        assert!(shared.chunk().is_empty());
        assert_eq!(
            Chunk::shared(Arc::new(text.clone())).copy_to_bytes(text.len()),
            text
        );
    }

    #[test]
    #[should_panic(expected = "advance past the end")]
    fn advancing_past_the_end_is_refused() {
        Chunk::shared(Arc::new(vec![1, 2, 3])).advance(4);
    }
}
