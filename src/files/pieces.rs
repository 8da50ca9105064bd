//! Piece hashes for file transfers: the sender announces a file's BLAKE3 hash together with the
//! chaining values (CVs) of its pieces, so the receiver can check each piece as it arrives and a
//! broken transfer resumes from the last verified piece instead of from the start.
//!
//! Pieces are power-of-two-sized, aligned spans of the file, so each one is a whole subtree of
//! BLAKE3's tree and the piece CVs combine into the standard `blake3::hash` of the file. That is
//! what lets a receiver tie the CV list to the announced hash before trusting any of it.

use blake3::Hasher;
use blake3::hazmat::{HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};
use std::io::{self, Read};
use std::ops::Range;

/// The most pieces a file is split into: the protocol's bound on an offer's piece hashes.
pub use crate::protocol::MAX_PIECES;

/// The smallest piece length: small files still get pieces big enough that per-piece overhead
/// (a request, a CV, a verification) stays negligible.
pub const MIN_PIECE_LEN: u64 = 256 * 1024;

/// How much `compute` reads at a time: large enough that BLAKE3's SIMD paths stay busy and
/// per-call overhead vanishes.
const READ_BUF_LEN: usize = 1 << 20;

/// Why an offer's piece hashes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PieceError {
    /// The sender used another piece length than this size implies; accepting it would let a
    /// peer pick a shape that does not match ours (or one that is not a BLAKE3 subtree at all).
    #[error("piece length {got} does not match the {expected} expected for this file size")]
    BadPieceLen {
        /// The piece length in the offer, for the log.
        got: u64,
        /// What [`PieceHashes::piece_len_for`] gives for the offered size.
        expected: u64,
    },
    /// The CV list does not have one entry per piece (none for a single-piece file).
    #[error("{got} piece hashes offered where {expected} were expected")]
    WrongCount {
        /// How many CVs the offer carried.
        got: usize,
        /// How many the size and piece length call for.
        expected: u64,
    },
    /// The CVs do not combine to the announced hash, so they cannot be trusted to check pieces.
    #[error("the piece hashes do not combine to the announced file hash")]
    Mismatch,
}

/// Hashes that let a receiver check a file piece by piece against its announced BLAKE3 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceHashes {
    /// The file's length in bytes: fixes the piece count and the length of the last piece.
    size: u64,
    /// Bytes per piece (the last may be shorter); a power of two so pieces are BLAKE3 subtrees.
    piece_len: u64,
    /// The non-root CV of each piece, checked against received data. Empty for a file of at most
    /// one piece: such a file is its own root, checked with `blake3::hash` instead.
    cvs: Vec<[u8; 32]>,
    /// The whole file's BLAKE3 hash, as announced with the offer.
    root: [u8; 32],
}

impl PieceHashes {
    /// The piece length for a file of this size: the smallest power of two ≥ [`MIN_PIECE_LEN`]
    /// giving at most [`MAX_PIECES`] pieces.
    pub fn piece_len_for(size: u64) -> u64 {
        let mut len = MIN_PIECE_LEN;
        // Terminates before overflow: at 2^53, even u64::MAX bytes are MAX_PIECES pieces.
        while size.div_ceil(len) > MAX_PIECES {
            len *= 2;
        }
        len
    }

    /// One pass over a file (any `Read`), computing piece CVs and the root.
    ///
    /// Fails with `UnexpectedEof` if the reader ends before `size` bytes and with `InvalidData`
    /// if it has more: hashes of some other length would describe a different file.
    pub fn compute(reader: impl Read, size: u64) -> io::Result<PieceHashes> {
        Self::compute_with(reader, size, Self::piece_len_for(size))
    }

    /// `compute` with a chosen piece length, so tests can build deep trees from little data.
    fn compute_with(mut reader: impl Read, size: u64, piece_len: u64) -> io::Result<PieceHashes> {
        let pieces = piece_count(size, piece_len);
        let mut cvs = Vec::with_capacity(if pieces > 1 { pieces as usize } else { 0 });
        let mut buf = vec![0u8; READ_BUF_LEN.min(usize::try_from(size).unwrap_or(usize::MAX))];
        let mut hasher = Hasher::new();
        let mut pos = 0u64;
        let mut piece_end = piece_len.min(size);
        while pos < size {
            // Never ask for more than the file has left, so a long reader is caught by the probe
            // below rather than by half-consumed data.
            let want = buf
                .len()
                .min(usize::try_from(size - pos).unwrap_or(usize::MAX));
            let n = match reader.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("file ended after {pos} of {size} bytes"),
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut data = &buf[..n];
            while !data.is_empty() {
                let left_in_piece = usize::try_from(piece_end - pos).unwrap_or(usize::MAX);
                let take = data.len().min(left_in_piece);
                hasher.update(&data[..take]);
                data = &data[take..];
                pos += take as u64;
                if pos == piece_end && pieces > 1 {
                    cvs.push(hasher.finalize_non_root());
                    hasher = Hasher::new();
                    if pos < size {
                        hasher.set_input_offset(pos);
                        piece_end = pos + piece_len.min(size - pos);
                    }
                }
            }
        }
        loop {
            match reader.read(&mut [0u8; 1]) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("file is longer than the expected {size} bytes"),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let root = if pieces > 1 {
            root_from_cvs(size, piece_len, &cvs)
        } else {
            *hasher.finalize().as_bytes()
        };
        Ok(PieceHashes {
            size,
            piece_len,
            cvs,
            root,
        })
    }

    /// From an offer received over the network: checks `piece_len` is the one
    /// [`piece_len_for`](Self::piece_len_for) gives, that the CV count matches, and that the CVs
    /// combine to `root`. A single-piece file has no CVs; its one piece is checked against `root`.
    pub fn from_offer(
        size: u64,
        piece_len: u64,
        cvs: Vec<[u8; 32]>,
        root: [u8; 32],
    ) -> Result<PieceHashes, PieceError> {
        let expected = Self::piece_len_for(size);
        if piece_len != expected {
            return Err(PieceError::BadPieceLen {
                got: piece_len,
                expected,
            });
        }
        let pieces = piece_count(size, piece_len);
        let expected_cvs = if pieces > 1 { pieces } else { 0 };
        if cvs.len() as u64 != expected_cvs {
            return Err(PieceError::WrongCount {
                got: cvs.len(),
                expected: expected_cvs,
            });
        }
        if pieces > 1 && root_from_cvs(size, piece_len, &cvs) != root {
            return Err(PieceError::Mismatch);
        }
        // An empty file has no piece to check later: its hash is checked now.
        if size == 0 && blake3::hash(b"").as_bytes() != &root {
            return Err(PieceError::Mismatch);
        }
        Ok(PieceHashes {
            size,
            piece_len,
            cvs,
            root,
        })
    }

    /// The file's length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes per piece; the last piece may be shorter.
    pub fn piece_len(&self) -> u64 {
        self.piece_len
    }

    /// The whole file's BLAKE3 hash.
    pub fn root(&self) -> [u8; 32] {
        self.root
    }

    /// The whole file's BLAKE3 hash as lowercase hex, as `b3sum` prints it.
    pub fn root_hex(&self) -> String {
        blake3::Hash::from_bytes(self.root).to_hex().to_string()
    }

    /// The piece CVs, in file order; empty for a file of at most one piece.
    pub fn cvs(&self) -> &[[u8; 32]] {
        &self.cvs
    }

    /// How many pieces the file has: at least 1 (an empty file is one empty piece).
    pub fn pieces(&self) -> u64 {
        piece_count(self.size, self.piece_len)
    }

    /// The byte range of piece `index` within the file.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`pieces`](Self::pieces).
    pub fn piece_range(&self, index: u64) -> Range<u64> {
        assert!(
            index < self.pieces(),
            "piece {index} of a file with {} pieces",
            self.pieces()
        );
        // start + remaining, rather than (index + 1) * piece_len, cannot overflow near u64::MAX.
        let start = index * self.piece_len;
        start..start + self.piece_len.min(self.size - start)
    }

    /// True if `data` is exactly piece `index`.
    pub fn verify_piece(&self, index: u64, data: &[u8]) -> bool {
        if index >= self.pieces() {
            return false;
        }
        let range = self.piece_range(index);
        if data.len() as u64 != range.end - range.start {
            return false;
        }
        if self.cvs.is_empty() {
            return *blake3::hash(data).as_bytes() == self.root;
        }
        let cv = Hasher::new()
            .set_input_offset(range.start)
            .update(data)
            .finalize_non_root();
        cv == self.cvs[index as usize]
    }
}

/// Pieces in a file of `size` bytes; an empty file still has its one (empty) piece.
fn piece_count(size: u64, piece_len: u64) -> u64 {
    size.div_ceil(piece_len).max(1)
}

/// The root hash of a file of more than one piece, rebuilt from its piece CVs along BLAKE3's tree.
/// The caller guarantees `cvs.len()` is the piece count and that it is at least 2.
fn root_from_cvs(size: u64, piece_len: u64, cvs: &[[u8; 32]]) -> [u8; 32] {
    debug_assert!(cvs.len() >= 2 && cvs.len() as u64 == piece_count(size, piece_len));
    let left = left_pieces(cvs.len());
    let l = subtree_cv(&cvs[..left]);
    let r = subtree_cv(&cvs[left..]);
    *merge_subtrees_root(&l, &r, Mode::Hash).as_bytes()
}

/// The non-root CV of the subtree made of these consecutive pieces.
fn subtree_cv(cvs: &[[u8; 32]]) -> [u8; 32] {
    if cvs.len() == 1 {
        return cvs[0];
    }
    let left = left_pieces(cvs.len());
    merge_subtrees_non_root(
        &subtree_cv(&cvs[..left]),
        &subtree_cv(&cvs[left..]),
        Mode::Hash,
    )
}

/// How many of `n ≥ 2` pieces go to the left subtree: the largest power of two below `n`.
///
/// With power-of-two pieces of at least a chunk this is exactly `left_subtree_len(len) /
/// piece_len` for the span's byte length `len` (tested below). Counting pieces rather than bytes
/// keeps a hostile offer's size near `u64::MAX` from overflowing `left_subtree_len`.
fn left_pieces(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use blake3::hazmat::left_subtree_len;

    /// Deterministic pseudo-random bytes (splitmix64), so failures reproduce.
    fn content(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// A reader that hands out data in uneven bursts and is sometimes interrupted, so piece
    /// boundaries fall in the middle of reads.
    struct Choppy<'a> {
        data: &'a [u8],
        calls: usize,
    }

    impl Read for Choppy<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(5) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = [1, 7, 1000, 4099, 65_536, 300_001][self.calls % 6]
                .min(buf.len())
                .min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn flip(mut v: Vec<u8>, at: usize) -> Vec<u8> {
        v[at] ^= 0x40;
        v
    }

    /// Everything a receiver relies on, for one file and piece length.
    fn check(data: &[u8], piece_len: u64) {
        let size = data.len() as u64;
        let hashes = PieceHashes::compute_with(data, size, piece_len).unwrap();
        assert_eq!(hashes.root(), *blake3::hash(data).as_bytes(), "size {size}");
        assert_eq!(hashes.root_hex(), blake3::hash(data).to_hex().as_str());
        assert_eq!(hashes.size(), size);
        assert_eq!(hashes.piece_len(), piece_len);
        let pieces = hashes.pieces();
        assert_eq!(pieces, size.div_ceil(piece_len).max(1));
        let expected_cvs = if pieces > 1 { pieces as usize } else { 0 };
        assert_eq!(hashes.cvs().len(), expected_cvs);

        let choppy = Choppy { data, calls: 0 };
        assert_eq!(
            PieceHashes::compute_with(choppy, size, piece_len).unwrap(),
            hashes
        );

        let mut covered = 0;
        for i in 0..pieces {
            let range = hashes.piece_range(i);
            assert_eq!(range.start, covered);
            covered = range.end;
            let piece = &data[range.start as usize..range.end as usize];
            assert!(hashes.verify_piece(i, piece), "size {size} piece {i}");
            if !piece.is_empty() {
                let at = piece.len() / 2;
                assert!(!hashes.verify_piece(i, &flip(piece.to_vec(), at)));
                assert!(!hashes.verify_piece(i, &piece[..piece.len() - 1]));
            }
            let mut longer = piece.to_vec();
            longer.push(0);
            assert!(!hashes.verify_piece(i, &longer));
            if i > 0 {
                // Same length as the real piece, but from elsewhere in the file.
                let other = hashes.piece_range(i - 1);
                let other = &data[other.start as usize..][..piece.len()];
                assert!(!hashes.verify_piece(i, other));
            }
        }
        assert_eq!(covered, size);
        assert!(!hashes.verify_piece(pieces, &[]));
    }

    #[test]
    fn roots_and_pieces_match_blake3_at_the_real_piece_length() {
        let m = MIN_PIECE_LEN;
        let sizes = [
            0,
            1,
            1023,
            1024,
            1025,
            m - 1,
            m,
            m + 1,
            2 * m,
            3 * m + 17,
            5 * m - 1,
        ];
        for (seed, size) in sizes.into_iter().enumerate() {
            let data = content(size as usize, seed as u64);
            assert_eq!(PieceHashes::piece_len_for(size), MIN_PIECE_LEN);
            check(&data, MIN_PIECE_LEN);
            let hashes = PieceHashes::compute(&data[..], size).unwrap();
            assert_eq!(hashes.root(), *blake3::hash(&data).as_bytes());
        }
    }

    #[test]
    fn roots_and_pieces_match_blake3_in_deep_trees() {
        // Small pieces give many of them from little data, covering uneven tree shapes up to
        // MAX_PIECES, and piece lengths above a chunk stand in for the larger real ones.
        for (piece_len, pieces) in [(1024, 37), (2048, 64), (4096, 5), (1024, MAX_PIECES)] {
            for size in [
                piece_len * pieces,
                piece_len * pieces - 1,
                piece_len * (pieces - 1) + 1,
            ] {
                check(&content(size as usize, size), piece_len);
            }
        }
    }

    #[test]
    fn offers_are_checked() {
        let m = MIN_PIECE_LEN;
        for (seed, size) in [0, 1, 1025, m, m + 1, 2 * m, 3 * m + 17]
            .into_iter()
            .enumerate()
        {
            let data = content(size as usize, 100 + seed as u64);
            let h = PieceHashes::compute(&data[..], size).unwrap();
            let offer = |piece_len, cvs: Vec<[u8; 32]>, root| {
                PieceHashes::from_offer(size, piece_len, cvs, root)
            };
            assert_eq!(
                offer(h.piece_len(), h.cvs().to_vec(), h.root()),
                Ok(h.clone())
            );

            for bad_len in [0, h.piece_len() / 2, h.piece_len() * 2, h.piece_len() + 1] {
                assert_eq!(
                    offer(bad_len, h.cvs().to_vec(), h.root()),
                    Err(PieceError::BadPieceLen {
                        got: bad_len,
                        expected: h.piece_len()
                    })
                );
            }

            let mut more = h.cvs().to_vec();
            more.push([7; 32]);
            assert!(matches!(
                offer(h.piece_len(), more, h.root()),
                Err(PieceError::WrongCount { .. })
            ));

            let mut wrong_root = h.root();
            wrong_root[31] ^= 1;
            if h.pieces() > 1 {
                let fewer = h.cvs()[1..].to_vec();
                assert!(matches!(
                    offer(h.piece_len(), fewer, h.root()),
                    Err(PieceError::WrongCount { .. })
                ));
                assert_eq!(
                    offer(h.piece_len(), h.cvs().to_vec(), wrong_root),
                    Err(PieceError::Mismatch)
                );
                for i in 0..h.cvs().len() {
                    let mut cvs = h.cvs().to_vec();
                    cvs[i][i % 32] ^= 0x10;
                    assert_eq!(
                        offer(h.piece_len(), cvs, h.root()),
                        Err(PieceError::Mismatch)
                    );
                }
                let mut swapped = h.cvs().to_vec();
                swapped.swap(0, 1);
                assert_eq!(
                    offer(h.piece_len(), swapped, h.root()),
                    Err(PieceError::Mismatch)
                );
            } else if size == 0 {
                // An empty file has no piece to check later, so its hash is checked at once.
                assert_eq!(
                    offer(h.piece_len(), vec![], wrong_root),
                    Err(PieceError::Mismatch)
                );
            } else {
                // A single piece carries no CVs to check the root against; its data is checked
                // against the root instead, so a wrong root fails there.
                let bad = offer(h.piece_len(), vec![], wrong_root).unwrap();
                assert!(!bad.verify_piece(0, &data));
            }
        }
    }

    #[test]
    fn compute_refuses_a_reader_of_the_wrong_length() {
        for size in [
            0u64,
            1,
            1024,
            MIN_PIECE_LEN,
            MIN_PIECE_LEN + 1,
            3 * MIN_PIECE_LEN + 17,
        ] {
            let data = content(size as usize + 1, size);
            let long = PieceHashes::compute(&data[..], size).unwrap_err();
            assert_eq!(long.kind(), io::ErrorKind::InvalidData, "size {size}");
            if size > 0 {
                let short = PieceHashes::compute(&data[..size as usize - 1], size).unwrap_err();
                assert_eq!(short.kind(), io::ErrorKind::UnexpectedEof, "size {size}");
            }
            let short = PieceHashes::compute(&data[..0], size + 1).unwrap_err();
            assert_eq!(short.kind(), io::ErrorKind::UnexpectedEof);
        }
    }

    #[test]
    fn piece_len_grows_to_keep_the_piece_count_bounded() {
        let m = MIN_PIECE_LEN;
        assert_eq!(PieceHashes::piece_len_for(0), m);
        assert_eq!(PieceHashes::piece_len_for(MAX_PIECES * m), m);
        assert_eq!(PieceHashes::piece_len_for(MAX_PIECES * m + 1), 2 * m);
        assert_eq!(PieceHashes::piece_len_for(MAX_PIECES * 2 * m), 2 * m);
        assert_eq!(PieceHashes::piece_len_for(MAX_PIECES * 2 * m + 1), 4 * m);
        assert_eq!(PieceHashes::piece_len_for(u64::MAX), 1 << 53);
        let mut size = 1u64;
        while size < u64::MAX / 3 {
            for s in [size - 1, size, size + 1, size * 3 - 1] {
                let len = PieceHashes::piece_len_for(s);
                assert!(len.is_power_of_two() && len >= m);
                assert!(s.div_ceil(len) <= MAX_PIECES);
                assert!(
                    len == m || s.div_ceil(len / 2) > MAX_PIECES,
                    "not the smallest for {s}"
                );
            }
            size = size * 2 + 1;
        }
    }

    #[test]
    fn huge_offers_are_handled_without_overflow() {
        for size in [
            MAX_PIECES * MIN_PIECE_LEN + 1,
            1 << 40,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let piece_len = PieceHashes::piece_len_for(size);
            let pieces = size.div_ceil(piece_len);
            let cvs = vec![[3; 32]; pieces as usize];
            assert_eq!(
                PieceHashes::from_offer(size, piece_len, cvs.clone(), [0; 32]),
                Err(PieceError::Mismatch)
            );
            // Accept a consistent (made-up) offer to look at its shape.
            let root = root_from_cvs(size, piece_len, &cvs);
            let h = PieceHashes::from_offer(size, piece_len, cvs, root).unwrap();
            assert_eq!(h.pieces(), pieces);
            assert_eq!(h.piece_range(pieces - 1).end, size);
            assert!(!h.verify_piece(0, &[]));
        }
    }

    #[test]
    fn left_pieces_matches_blake3s_split() {
        for piece_len in [1024u64, 2048, MIN_PIECE_LEN, 1 << 40] {
            for n in 2..=300u64 {
                for len in [piece_len * (n - 1) + 1, piece_len * n - 1, piece_len * n] {
                    assert_eq!(
                        left_pieces(n as usize) as u64 * piece_len,
                        left_subtree_len(len),
                        "piece_len {piece_len}, len {len}"
                    );
                }
            }
        }
    }
}
