//! [`FileJournal`]: the intake journal as append-only segment files.
//!
//! Each entry is one frame, written with one `write` call at the end of the
//! current segment file:
//!
//! ```text
//! [len: u32 LE][crc32c(seq ++ body): u32 LE][seq: u64 LE][body: len bytes]
//! ```
//!
//! Segments are named by the first sequence number they may hold
//! (`00000000000000000042.seg`) and roll over past 64 MiB. The
//! highest consumed sequence number lives in the file `consumed`; a segment
//! whose entries are all consumed is deleted. On opening, frames are read
//! back until the first torn or corrupt one (a crash in the middle of a
//! write, or power loss), and the segment is cut there.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use alertkit_core::traits::{JournalEntry, decode_receipts, encode_receipts};
use alertkit_core::{Journal, Receipt, StoreError};
use async_trait::async_trait;

/// A segment rolls over once it holds this many bytes.
const SEGMENT_BYTES: u64 = 64 << 20;

/// How often written data is flushed to the disk (`fdatasync`) off the
/// appends' path.
const SYNC_EVERY: Duration = Duration::from_millis(250);

const HEADER: usize = 16;
/// Slice-by-16 tables (16 KiB): the byte-wise default made the checksum the
/// slowest part of an append.
const CRC: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// The intake journal as append-only segment files in a directory.
///
/// An append is one `write` of one frame into the operating system's page
/// cache: no `fsync` and no checkpoint ever waits in an acknowledgement's
/// path. The durability is that of SQLite's `synchronous=NORMAL` WAL
/// mode, which the history store uses: an appended entry survives the
/// process crashing or being killed; on power loss, the entries of the
/// last moments may be lost (a background task `fdatasync`s written
/// segments every 250 ms) but never corrupt the rest, as frames are
/// checksummed and a torn tail is cut off when opening.
///
/// The [`Journal`] contract holds: sequence numbers grow across reopening
/// and consuming everything; appends validate what the history stores
/// would refuse (times out of range) and append nothing then.
///
/// ```no_run
/// # async fn demo() -> Result<(), alertkit_core::StoreError> {
/// use alertkit_store::FileJournal;
///
/// // The directory `alertkit.db.journal` beside the database.
/// let journal = FileJournal::open_beside("sqlite://alertkit.db").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileJournal {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    dir: PathBuf,
    /// The segment appends go to, open for writing.
    file: File,
    current: Segment,
    /// Older segments, oldest first.
    sealed: VecDeque<Segment>,
    next_seq: u64,
    consumed: u64,
    /// The `consumed` file.
    mark: File,
    /// The `lock` file, locked exclusively while the journal is open.
    _lock: File,
    /// Written but not yet flushed to the disk.
    unsynced: Vec<File>,
    dirty: bool,
    /// The last write failure, until a write succeeds.
    write_failed: Option<String>,
    /// The last flush failure, until a flush succeeds.
    flush_failed: Option<String>,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// The highest sequence number in it, if any.
    last: Option<u64>,
    bytes: u64,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("journal: {what} {}: {e}", path.display()).into())
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.seg"))
}

/// A segment's frames that read back whole (sequence number, body), and the
/// length of that valid prefix.
struct Frames {
    frames: Vec<(u64, Vec<u8>)>,
    valid: u64,
}

fn read_segment(path: &Path) -> Result<Frames, StoreError> {
    let bytes = fs::read(path).map_err(|e| io("cannot read", path, e))?;
    let mut frames = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let word = |i: usize| header[i..i + 4].try_into().map(u32::from_le_bytes);
        let (Ok(len), Ok(crc)) = (word(0), word(4)) else {
            break;
        };
        let Some(payload) = bytes.get(at + 8..at + HEADER + len as usize) else {
            break;
        };
        if CRC.checksum(payload) != crc {
            break;
        }
        let (seq, body) = payload.split_at(8);
        let Ok(seq) = seq.try_into().map(u64::from_le_bytes) else {
            break;
        };
        frames.push((seq, body.to_vec()));
        at += HEADER + len as usize;
    }
    Ok(Frames {
        frames,
        valid: at as u64,
    })
}

fn open_append(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io("cannot open", path, e))
}

impl FileJournal {
    /// The journal directory that belongs to the history database at
    /// `db_url`: the database's path with `.journal` appended. In-memory
    /// databases have none.
    pub fn path_beside(db_url: &str) -> Result<PathBuf, StoreError> {
        let db = crate::SqliteJournal::path_beside(db_url)?;
        let db = db.strip_suffix(".intake").unwrap_or(&db);
        Ok(PathBuf::from(format!("{db}.journal")))
    }

    /// Opens the journal beside the history database at `db_url` (see
    /// [`path_beside`](Self::path_beside)). Entries left in the SQLite
    /// journal earlier versions kept there ([`SqliteJournal`](crate::SqliteJournal),
    /// `alertkit.db.intake`) are moved into it first, so an upgrade loses
    /// nothing.
    pub async fn open_beside(db_url: &str) -> Result<Self, StoreError> {
        let journal = Self::open(Self::path_beside(db_url)?).await?;
        let legacy = crate::SqliteJournal::path_beside(db_url)?;
        if Path::new(&legacy).exists() {
            let old = crate::SqliteJournal::open(&legacy).await?;
            let entries = old.unconsumed().await?;
            if !entries.is_empty() {
                tracing::info!(
                    entries = entries.len(),
                    from = %legacy,
                    "moving the SQLite journal's entries into the file journal"
                );
            }
            for e in entries {
                journal.append(&e.receipts).await?;
            }
            old.close().await;
            for suffix in ["", "-wal", "-shm"] {
                let path = format!("{legacy}{suffix}");
                if let Err(e) = fs::remove_file(&path)
                    && e.kind() != ErrorKind::NotFound
                {
                    return Err(io("cannot remove", Path::new(&path), e));
                }
            }
        }
        Ok(journal)
    }

    /// Opens (creating it if needed) the journal in directory `dir`.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let state = tokio::task::spawn_blocking(move || State::open(dir))
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))??;
        let state = Arc::new(Mutex::new(state));
        tokio::spawn(sync_loop(Arc::downgrade(&state)));
        Ok(Self { state })
    }

    /// Flushes what was written to the disk (`fdatasync`); for a clean
    /// shutdown.
    pub async fn close(&self) {
        let flushed = self
            .with_state(|s| {
                s.dirty = false;
                let path = s.current.path.clone();
                s.unsynced
                    .drain(..)
                    .chain(s.file.try_clone())
                    .try_for_each(|f| f.sync_data())
                    .map_err(|e| io("cannot flush", &path, e))
            })
            .await;
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "journal: cannot flush to the disk");
        }
    }

    /// Runs `f` on the state on a blocking thread (file I/O).
    async fn with_state<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let state = Arc::clone(&self.state);
        tokio::task::spawn_blocking(move || f(&mut lock(&state)))
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves the state as valid as any
    // failed write does (see `State::append`).
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Flushes written segments to the disk every [`SYNC_EVERY`] until the
/// journal is dropped.
async fn sync_loop(weak: Weak<Mutex<State>>) {
    let mut tick = tokio::time::interval(SYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(state) = weak.upgrade() else { return };
        let files = {
            let mut s = lock(&state);
            if !std::mem::take(&mut s.dirty) {
                continue;
            }
            let mut files = std::mem::take(&mut s.unsynced);
            match s.file.try_clone() {
                Ok(f) => files.push(f),
                Err(e) => tracing::warn!(error = %e, "journal: cannot flush the segment"),
            }
            files
        };
        drop(state);
        let synced =
            tokio::task::spawn_blocking(move || files.iter().try_for_each(File::sync_data)).await;
        let failed = match synced {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("journal: cannot flush a segment to the disk: {e}")),
            Err(e) => Some(format!("journal: the flush task failed: {e}")),
        };
        if let Some(e) = &failed {
            tracing::warn!(error = %e, "journal flush failed");
        }
        let Some(state) = weak.upgrade() else { return };
        lock(&state).flush_failed = failed;
    }
}

impl State {
    fn open(dir: PathBuf) -> Result<Self, StoreError> {
        fs::create_dir_all(&dir).map_err(|e| io("cannot create", &dir, e))?;
        // One process at a time: two appending to one segment would
        // interleave their frames.
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(|e| io("cannot open", &lock_path, e))?;
        lock.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => StoreError::Backend(
                format!(
                    "journal: {} is in use by another process (another server on the same database?)",
                    dir.display()
                )
                .into(),
            ),
            fs::TryLockError::Error(e) => io("cannot lock", &lock_path, e),
        })?;
        let mark_path = dir.join("consumed");
        let mut mark = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&mark_path)
            .map_err(|e| io("cannot open", &mark_path, e))?;
        let mut word = [0u8; 8];
        // A missing or short mark means nothing is known to be consumed:
        // entries are replayed, which the stores make harmless.
        let consumed = match mark.read_exact(&mut word) {
            Ok(()) => u64::from_le_bytes(word),
            Err(_) => 0,
        };
        let mut firsts: Vec<u64> = fs::read_dir(&dir)
            .map_err(|e| io("cannot list", &dir, e))?
            .filter_map(|e| {
                let name = e.ok()?.file_name();
                name.to_str()?.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut sealed = VecDeque::new();
        let mut next_seq = consumed + 1;
        for first in firsts {
            let path = segment_path(&dir, first);
            let Frames { frames, valid } = read_segment(&path)?;
            let len = fs::metadata(&path)
                .map_err(|e| io("cannot read", &path, e))?
                .len();
            if valid < len {
                tracing::warn!(
                    segment = %path.display(),
                    cut_bytes = len - valid,
                    "journal: cutting a torn or corrupt tail (a crash or power loss while writing)"
                );
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(valid))
                    .map_err(|e| io("cannot cut", &path, e))?;
            }
            let last = frames.last().map(|(seq, _)| *seq);
            next_seq = next_seq.max(first).max(last.map_or(0, |l| l + 1));
            if last.is_none_or(|l| l <= consumed) {
                fs::remove_file(&path).map_err(|e| io("cannot remove", &path, e))?;
            } else {
                sealed.push_back(Segment {
                    path,
                    last,
                    bytes: valid,
                });
            }
        }
        let path = segment_path(&dir, next_seq);
        let file = open_append(&path)?;
        Ok(Self {
            dir,
            file,
            current: Segment {
                path,
                last: None,
                bytes: 0,
            },
            sealed,
            next_seq,
            consumed,
            mark,
            _lock: lock,
            unsynced: Vec::new(),
            dirty: true,
            write_failed: None,
            flush_failed: None,
        })
    }

    fn append(&mut self, body: &[u8]) -> Result<u64, StoreError> {
        let len = u32::try_from(body.len() + 8)
            .map_err(|_| StoreError::Invalid(format!("journal entry of {} bytes", body.len())))?;
        let seq = self.next_seq;
        let mut frame = Vec::with_capacity(HEADER + body.len());
        frame.extend_from_slice(&(len - 8).to_le_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&seq.to_le_bytes());
        frame.extend_from_slice(body);
        let crc = CRC.checksum(&frame[8..]);
        frame[4..8].copy_from_slice(&crc.to_le_bytes());
        if let Err(e) = self.file.write_all(&frame) {
            // Cut what may have been written, so a later frame never
            // follows a partial one.
            let _ = self.file.set_len(self.current.bytes);
            self.write_failed = Some(format!("journal: cannot write a segment: {e}"));
            return Err(io("cannot write", &self.current.path, e));
        }
        self.write_failed = None;
        self.next_seq += 1;
        self.current.last = Some(seq);
        self.current.bytes += frame.len() as u64;
        self.dirty = true;
        if self.current.bytes >= SEGMENT_BYTES {
            self.roll()?;
        }
        Ok(seq)
    }

    /// Seals the current segment and starts the next one.
    fn roll(&mut self) -> Result<(), StoreError> {
        let path = segment_path(&self.dir, self.next_seq);
        let file = open_append(&path)?;
        let old = std::mem::replace(&mut self.file, file);
        self.unsynced.push(old);
        let sealed = std::mem::replace(
            &mut self.current,
            Segment {
                path,
                last: None,
                bytes: 0,
            },
        );
        self.sealed.push_back(sealed);
        if let Ok(dir) = File::open(&self.dir) {
            self.unsynced.push(dir);
        }
        Ok(())
    }

    fn unconsumed(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let mut entries = Vec::new();
        for segment in self.sealed.iter().chain([&self.current]) {
            for (seq, body) in read_segment(&segment.path)?.frames {
                if seq > self.consumed {
                    entries.push(JournalEntry::new(seq, decode_receipts(&body)?));
                }
            }
        }
        Ok(entries)
    }

    fn consume(&mut self, seq: u64) -> Result<(), StoreError> {
        let seq = seq.min(self.next_seq.saturating_sub(1));
        if seq <= self.consumed {
            return Ok(());
        }
        self.consumed = seq;
        let mark = self.dir.join("consumed");
        self.mark
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.mark.write_all(&seq.to_le_bytes()))
            .map_err(|e| io("cannot write", &mark, e))?;
        while let Some(s) = self.sealed.front() {
            if s.last.is_some_and(|l| l > seq) {
                break;
            }
            if let Err(e) = fs::remove_file(&s.path)
                && e.kind() != ErrorKind::NotFound
            {
                return Err(io("cannot remove", &s.path, e));
            }
            self.sealed.pop_front();
        }
        // A large, fully consumed current segment rolls so it can go too.
        if self.current.bytes >= SEGMENT_BYTES / 4 && self.current.last.is_some_and(|l| l <= seq) {
            self.roll()?;
            let old = self.sealed.pop_back();
            if let Some(s) = old {
                let _ = fs::remove_file(&s.path);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Journal for FileJournal {
    async fn append(&self, receipts: &[Receipt]) -> Result<u64, StoreError> {
        crate::sql::check_times(receipts)?;
        let body = encode_receipts(receipts)?;
        self.with_state(move |s| s.append(&body)).await
    }

    async fn unconsumed(&self) -> Result<Vec<JournalEntry>, StoreError> {
        self.with_state(|s| s.unconsumed()).await
    }

    async fn consume(&self, seq: u64) -> Result<(), StoreError> {
        self.with_state(move |s| s.consume(seq)).await
    }

    /// Fails while the last write or flush failed, or when the segment
    /// appends go to is gone.
    async fn check(&self) -> Result<(), StoreError> {
        self.with_state(|s| {
            if let Some(e) = s.write_failed.as_ref().or(s.flush_failed.as_ref()) {
                return Err(StoreError::Unavailable(e.clone().into()));
            }
            // No path in the message: readiness details are public.
            fs::metadata(&s.current.path).map(drop).map_err(|e| {
                StoreError::Unavailable(
                    format!("journal: cannot find the segment appends go to: {e}").into(),
                )
            })
        })
        .await
    }
}
