//! UID sets for commands: ascending, de-duplicated, compressed into ranges and kept short.
//! QQ rejects descending ranges (`BAD UID parameters!`) and long lines break some servers.

/// Longest set text put in one command.
pub const MAX_SET_CHARS: usize = 900;

/// Splits UIDs into command-sized sets of at most `max_uids` each, every set ascending
/// (`1:5,9,12:14`) and shorter than [`MAX_SET_CHARS`].
pub fn chunks(uids: &[u32], max_uids: usize) -> Vec<(String, Vec<u32>)> {
    let mut sorted: Vec<u32> = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut members: Vec<u32> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        if members.len() >= max_uids {
            out.push((std::mem::take(&mut text), std::mem::take(&mut members)));
        }
        let room = max_uids - members.len();
        let start = sorted[i];
        let mut end = start;
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == end + 1 && j - i < room {
            end = sorted[j];
            j += 1;
        }
        let piece = if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        };
        if !members.is_empty() && text.len() + 1 + piece.len() > MAX_SET_CHARS {
            out.push((std::mem::take(&mut text), std::mem::take(&mut members)));
        }
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(&piece);
        members.extend_from_slice(&sorted[i..j]);
        i = j;
    }
    if !members.is_empty() {
        out.push((text, members));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_ascending_compressed_and_bounded() {
        let uids = vec![9, 1, 2, 3, 5, 3, 10, 11, 100];
        let c = chunks(&uids, 1000);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0, "1:3,5,9:11,100");
        assert_eq!(c[0].1, vec![1, 2, 3, 5, 9, 10, 11, 100]);
    }

    #[test]
    fn long_sparse_sets_split_under_the_limit_and_keep_every_uid() {
        // NetEase-sized UIDs, every other one, so nothing compresses.
        let uids: Vec<u32> = (0..5000).map(|i| 1_392_611_444 + 2 * i).collect();
        let c = chunks(&uids, 500);
        let mut back = Vec::new();
        for (text, members) in &c {
            assert!(text.len() <= MAX_SET_CHARS, "{}", text.len());
            assert!(members.len() <= 500);
            let mut prev = 0;
            for part in text.split(',') {
                let first: u32 = part.split(':').next().unwrap().parse().unwrap();
                assert!(first > prev, "descending set {text}");
                prev = first;
            }
            back.extend_from_slice(members);
        }
        assert_eq!(back, uids);
    }

    #[test]
    fn ranges_respect_the_count_limit() {
        let uids: Vec<u32> = (1..=1000).collect();
        let c = chunks(&uids, 300);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].0, "1:300");
        assert_eq!(c[3].0, "901:1000");
    }
}
