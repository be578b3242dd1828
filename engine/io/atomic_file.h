#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace shears {

/// Replaces the file at `path` with what `writer` writes, atomically: readers see either the old
/// file or the complete new one, and a crash at any point never leaves a partial file at `path`.
///
/// The bytes go to `<path>.tmp.<pid>` in the same directory; the temporary file is flushed and
/// fsync'ed, renamed over `path`, and then the directory is fsync'ed so the rename survives a
/// power loss. The stream handed to `writer` writes raw bytes; `writer` must not close it.
///
/// On failure before the rename, the temporary file is removed and `path` keeps its old contents
/// (or stays absent). An exception thrown by `writer` propagates unchanged; an I/O failure
/// (create, write, fsync, close, rename) throws shears::Error naming `path`, the step that failed
/// and the system's errno text. A failed fsync of the directory after the rename also throws: the
/// new file is then in place but may not survive a power loss.
/// Two threads of one process must not write the same `path` at once (they share the temporary).
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer);

/// Removes the temporaries write_file_atomic leaves when the process is killed mid-write
/// (`<name>.tmp.<digits>` directly in `dir`); nothing else is touched, and errors are ignored.
void remove_stale_temporaries(const std::string& dir);

/// Appends `text` to the file at `path` (created when absent) and fsyncs it, so that a record
/// appended before a crash survives it. A crash during the append can leave a torn last line;
/// readers that need whole records (Trainer's metrics.jsonl on resume) drop it. Throws
/// shears::Error naming `path`, the step that failed and the system's errno text (a full disk, a
/// directory in the file's place, a file size limit).
void append_file_durable(const std::string& path, const std::string& text);

}  // namespace shears
