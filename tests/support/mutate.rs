//! Byte mutation for bounded fuzzing on stable Rust: a seeded generator that turns good inputs
//! into bad ones the way files rot and servers misbehave (flipped bits, cut and doubled runs,
//! inserted syntax), so every run of `cargo test` tries the same cases.

/// Tokens that steer a mutated input into the parser's interesting corners.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\0",
    b"{",
    b"}",
    b"{4294967295}",
    b"{99999999999999999999}",
    b"\"",
    b"\\",
    b"(",
    b")",
    b"[",
    b"]",
    b"<",
    b">",
    b"From ",
    b">From ",
    b"&",
    b"&-",
    b"&AAA",
    b"-",
    b":",
    b"\xff\xfe",
    b"\xe5\xb7\xa5",
    b"18446744073709551615",
    b"-1",
    b"NaN",
];

/// A seeded mutator.
pub struct Mutator(fastrand::Rng);

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator(fastrand::Rng::with_seed(seed))
    }

    /// A copy of `input` with one to eight mutations.
    pub fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..self.0.usize(1..=8) {
            self.once(&mut out);
        }
        out
    }

    fn once(&mut self, v: &mut Vec<u8>) {
        let at = |r: &mut fastrand::Rng, v: &Vec<u8>| r.usize(0..=v.len());
        match self.0.u8(0..8) {
            0 if !v.is_empty() => {
                let i = self.0.usize(0..v.len());
                v[i] ^= 1 << self.0.u8(0..8);
            }
            1 if !v.is_empty() => {
                let i = self.0.usize(0..v.len());
                v[i] = self.0.u8(..);
            }
            2 => {
                let i = at(&mut self.0, v);
                let t = TOKENS[self.0.usize(0..TOKENS.len())];
                v.splice(i..i, t.iter().copied());
            }
            3 if !v.is_empty() => {
                let a = self.0.usize(0..v.len());
                let b = (a + self.0.usize(0..64)).min(v.len());
                v.drain(a..b);
            }
            4 if !v.is_empty() => {
                let a = self.0.usize(0..v.len());
                let b = (a + self.0.usize(0..256)).min(v.len());
                let chunk = v[a..b].to_vec();
                let i = at(&mut self.0, v);
                v.splice(i..i, chunk);
            }
            5 => {
                let n = at(&mut self.0, v);
                v.truncate(n);
            }
            6 => {
                // A digit run replaced by a huge number: lengths and offsets.
                let from = at(&mut self.0, v).min(v.len());
                if let Some(i) = v[from..]
                    .iter()
                    .position(|b| b.is_ascii_digit())
                    .map(|i| from + i)
                {
                    let j = v[i..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(v.len(), |k| i + k);
                    let big: &[u8] = [
                        &b"18446744073709551615"[..],
                        b"18446744073709551000",
                        b"4294967295",
                        b"9223372036854775807",
                    ][self.0.usize(0..4)];
                    v.splice(i..j, big.iter().copied());
                }
            }
            _ => {
                let i = at(&mut self.0, v);
                let n = self.0.usize(0..16);
                let bytes: Vec<u8> = (0..n).map(|_| self.0.u8(..)).collect();
                v.splice(i..i, bytes);
            }
        }
    }
}
