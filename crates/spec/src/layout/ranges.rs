//! Which byte ranges of a partial blob are on disk: the set, and its sidecar file.
//!
//! A blob downloaded in parallel ranges (RFC 9110 §14.2 `Range` requests) is written at
//! offsets into its partial file, so the file can hold bytes past a gap. The sidecar file
//! next to it (`<partial>.ranges`) records the ranges that are complete, so a later run
//! fetches only the rest. It is written atomically (temporary file, `fsync`, rename) after
//! each range, and it is only a hint: the blob's digest is still checked over all its
//! bytes before it is renamed into `blobs/`, so a sidecar that claims too much (after a
//! power cut, say) costs a download, never a corrupt blob.
//!
//! The format is text: a first line `ocipull-ranges 1 <size>`, then one `start end` line
//! (end exclusive) per range, sorted. Anything else makes the sidecar unreadable, and the
//! partial download starts over.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// The first word of a sidecar file, and its format version.
const MAGIC: &str = "ocipull-ranges 1";

/// The largest sidecar read: a blob's ranges merge as they complete, so even a blob of
/// thousands of chunks finishing in a bad order stays far below this.
const MAX_SIDECAR: u64 = 1 << 20;

/// Sorted, disjoint, non-adjacent byte ranges (end exclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet(Vec<Range<u64>>);

impl RangeSet {
    /// An empty set.
    pub fn new() -> RangeSet {
        RangeSet(Vec::new())
    }

    /// The ranges, sorted.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.0
    }

    /// Adds `range`, merging it with the ranges it overlaps or touches.
    pub fn insert(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let (mut start, mut end) = (range.start, range.end);
        let mut kept = Vec::with_capacity(self.0.len() + 1);
        for r in self.0.drain(..) {
            if r.end < start || r.start > end {
                kept.push(r);
            } else {
                start = start.min(r.start);
                end = end.max(r.end);
            }
        }
        let at = kept.partition_point(|r| r.start < start);
        kept.insert(at, start..end);
        self.0 = kept;
    }

    /// The end of the range starting at 0 (0 when there is none): the in-order prefix.
    pub fn prefix(&self) -> u64 {
        self.0.first().filter(|r| r.start == 0).map_or(0, |r| r.end)
    }

    /// Bytes covered.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|r| r.end - r.start).sum()
    }

    /// The gaps in `0..size`, in order.
    pub fn missing(&self, size: u64) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut at = 0;
        for r in &self.0 {
            if r.start > at {
                out.push(at..r.start.min(size));
            }
            at = at.max(r.end);
        }
        if at < size {
            out.push(at..size);
        }
        out.retain(|r| !r.is_empty());
        out
    }

    /// The sidecar text for a blob of `size` bytes.
    fn to_text(&self, size: u64) -> String {
        let mut out = format!("{MAGIC} {size}\n");
        for r in &self.0 {
            out.push_str(&format!("{} {}\n", r.start, r.end));
        }
        out
    }

    /// Parses sidecar text for a blob of `size` bytes; `None` when it is not one.
    fn from_text(text: &str, size: u64) -> Option<RangeSet> {
        let mut lines = text.lines();
        let header = lines.next()?.strip_prefix(MAGIC)?.trim();
        if header.parse::<u64>().ok()? != size {
            return None;
        }
        let mut set = RangeSet::new();
        let mut last_end = None;
        for line in lines {
            let (a, b) = line.split_once(' ')?;
            let (start, end): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            if start >= end || end > size || last_end.is_some_and(|e| start <= e) {
                return None;
            }
            last_end = Some(end);
            set.insert(start..end);
        }
        Some(set)
    }
}

/// The sidecar path of the partial file at `partial`.
pub(super) fn sidecar_path(partial: &Path) -> PathBuf {
    let mut name = partial.file_name().unwrap_or_default().to_owned();
    name.push(".ranges");
    partial.with_file_name(name)
}

/// What the sidecar of `partial` says, for a blob of `size` bytes whose partial file is
/// `file_len` bytes long: `Ok(None)` when there is none, `Err(())` when there is one that
/// cannot be trusted (malformed, for another size, or naming bytes past the file's end).
pub(super) fn read_sidecar(
    partial: &Path,
    size: u64,
    file_len: u64,
) -> Result<Option<RangeSet>, ()> {
    let path = sidecar_path(partial);
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(()),
        Ok(m) if m.len() > MAX_SIDECAR => return Err(()),
        Ok(_) => {}
    }
    let text = std::fs::read_to_string(&path).map_err(|_| ())?;
    let set = RangeSet::from_text(&text, size).ok_or(())?;
    if set.0.last().is_some_and(|r| r.end > file_len) {
        return Err(());
    }
    Ok(Some(set))
}

/// The temporary file a sidecar is written through before its rename.
///
/// Its name is fixed, not random: only the holder of the partial file's lock writes its
/// sidecar, and a write cut short by a kill leaves a file the next write overwrites and
/// [`remove_sidecar`] deletes, rather than litter nothing would ever remove.
fn sidecar_tmp_path(partial: &Path) -> PathBuf {
    let mut name = sidecar_path(partial).into_os_string();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Writes the sidecar of `partial` atomically (temporary file, `fsync`, rename, then the
/// directory synced).
pub(super) fn write_sidecar(
    partial: &Path,
    size: u64,
    set: &RangeSet,
) -> Result<(), super::LayoutError> {
    use std::io::Write as _;
    let path = sidecar_path(partial);
    let tmp = sidecar_tmp_path(partial);
    use super::LayoutError;
    // `File::create` gives 0666 narrowed by the umask, like every file of the layout.
    let mut file = std::fs::File::create(&tmp).map_err(LayoutError::io(&tmp))?;
    file.write_all(set.to_text(size).as_bytes())
        .map_err(LayoutError::io(&tmp))?;
    file.sync_all().map_err(LayoutError::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(LayoutError::io(&path))?;
    let dir = path.parent().expect("partial files have a parent");
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LayoutError::io(dir))
}

/// Deletes the sidecar of `partial`, and a temporary one a killed write left, if any.
pub(super) fn remove_sidecar(partial: &Path) {
    let _ = std::fs::remove_file(sidecar_path(partial));
    let _ = std::fs::remove_file(sidecar_tmp_path(partial));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sidecar write cut short by a kill leaves its temporary file: the next write goes
    /// through the same file, and removing the sidecar removes it too.
    #[test]
    fn a_killed_sidecar_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join("sha256-ab");
        std::fs::write(sidecar_tmp_path(&partial), b"half a line").unwrap();
        let mut set = RangeSet::default();
        set.insert(0..10);
        write_sidecar(&partial, 100, &set).unwrap();
        std::fs::write(&partial, [0u8; 10]).unwrap();
        assert_eq!(read_sidecar(&partial, 100, 10), Ok(Some(set)));
        assert!(!sidecar_tmp_path(&partial).exists());
        std::fs::write(sidecar_tmp_path(&partial), b"cut short again").unwrap();
        remove_sidecar(&partial);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from("sha256-ab")]);
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // a set holding one range
    fn ranges_merge_and_leave_gaps() {
        let mut s = RangeSet::new();
        s.insert(10..20);
        s.insert(30..40);
        assert_eq!(s.prefix(), 0);
        assert_eq!(s.missing(50), vec![0..10, 20..30, 40..50]);
        s.insert(0..10);
        assert_eq!(s.prefix(), 20);
        s.insert(15..35);
        assert_eq!(s.ranges(), &[0..40]);
        assert_eq!(s.total(), 40);
        assert_eq!(s.missing(40), Vec::<Range<u64>>::new());
        s.insert(45..45);
        assert_eq!(s.ranges(), &[0..40]);
    }

    #[test]
    fn sidecar_text_round_trips_and_rejects_nonsense() {
        let mut s = RangeSet::new();
        s.insert(0..5);
        s.insert(8..10);
        let text = s.to_text(10);
        assert_eq!(RangeSet::from_text(&text, 10), Some(s));
        assert_eq!(RangeSet::from_text(&text, 11), None);
        for bad in [
            "",
            "ocipull-ranges 2 10\n",
            "ocipull-ranges 1 10\n5 3\n",
            "ocipull-ranges 1 10\n0 11\n",
            "ocipull-ranges 1 10\n5 8\n0 3\n",
            "ocipull-ranges 1 10\n0 3\n3 5\n",
            "ocipull-ranges 1 10\nx y\n",
        ] {
            assert_eq!(RangeSet::from_text(bad, 10), None, "{bad:?}");
        }
    }
}
