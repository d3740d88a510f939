#pragma once
/// @file
/// `ews::checkpoint_store`: what the library persists so that a restart
/// neither re-delivers nor misses.
///
/// Three kinds of record:
///  - the SyncFolderItems SyncState per (mailbox, folder), written by the sync
///    poller after the changes of a page were handed to the application;
///  - the keys of a dedupe window (opaque strings, e.g. the listener's
///    `dedupe_window::snapshot()`), one set per window name;
///  - the time of the last event seen per (mailbox, folder), so that after a
///    restart the listener can report a gap covering the downtime.
///
/// The methods return `ews::result`/`ews::status` rather than throwing: they
/// are called from the listener's and the poller's background work, where a
/// failure becomes an `error_info` for a callback. A record that exists but
/// cannot be trusted is `errc::checkpoint_corrupt` (the message names the
/// file): it is never silently treated as absent, since that would re-deliver
/// or skip a whole folder. Failed reads/writes are `errc::io_error`.
///
/// Every implementation is safe to use from several threads at once.

#include <ews/result.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ews {

/// A (mailbox, folder) pair as the library names it elsewhere: `mailbox` is
/// the SMTP address ("" = the authenticated user's own mailbox), `folder_id`
/// a folder id or a distinguished folder name ("inbox").
struct folder_key {
  std::string mailbox;
  std::string folder_id;

  friend bool operator==(const folder_key& a, const folder_key& b) {
    return a.mailbox == b.mailbox && a.folder_id == b.folder_id;
  }
  friend bool operator<(const folder_key& a, const folder_key& b) {
    return a.mailbox < b.mailbox || (a.mailbox == b.mailbox && a.folder_id < b.folder_id);
  }
};

/// The last-event time of one folder, as listed by the store.
struct folder_time {
  folder_key folder;
  std::chrono::system_clock::time_point last_event;
};

class checkpoint_store {
 public:
  /// The dedupe window name the listener uses by convention; the sync poller
  /// names its own window after the folder it polls.
  static constexpr std::string_view listener_window = "listener";

  virtual ~checkpoint_store() = default;

  // ---- SyncFolderItems state ------------------------------------------------

  /// The stored SyncState, or nullopt when none was saved (sync from the start).
  virtual result<std::optional<std::string>> load_sync_state(const folder_key& folder) = 0;
  /// Replaces the stored SyncState. Durable when this returns ok.
  virtual status save_sync_state(const folder_key& folder, std::string_view sync_state) = 0;
  /// Forgets the SyncState (after ErrorInvalidSyncStateData).
  virtual status clear_sync_state(const folder_key& folder) = 0;

  // ---- dedupe windows ---------------------------------------------------------

  /// The keys saved for `window` (oldest first, as saved), or an empty list.
  virtual result<std::vector<std::string>> load_dedupe_keys(std::string_view window) = 0;
  /// Replaces the keys of `window`.
  virtual status save_dedupe_keys(std::string_view window, const std::vector<std::string>& keys) = 0;

  // ---- last event seen --------------------------------------------------------

  virtual result<std::optional<std::chrono::system_clock::time_point>> load_last_event_time(
      const folder_key& folder) = 0;
  /// Records `when` for `folder`; an earlier time than the stored one is
  /// ignored, so concurrent writers cannot move it backwards.
  virtual status save_last_event_time(const folder_key& folder,
                                      std::chrono::system_clock::time_point when) = 0;
  /// Every folder with a stored last-event time (for restart gaps), ordered
  /// by folder_key.
  virtual result<std::vector<folder_time>> list_last_event_times() = 0;
};

/// A store that keeps everything in memory: for tests, and for applications
/// that do not persist (a restart then starts from nothing).
std::shared_ptr<checkpoint_store> make_memory_checkpoint_store();

/// A store in one directory (created if missing), one file per record.
///
/// Each write goes to a temporary file in the same directory, is flushed and
/// fsync'ed, renamed over the old file, and the directory is fsync'ed: a crash
/// at any point leaves either the old or the new record, never a mix. Every
/// file carries a format version and a SHA-256 checksum of its content; a
/// damaged file gives `errc::checkpoint_corrupt` naming it.
///
/// Threads: all calls may come from any thread (one mutex per store).
/// Processes: the store holds an exclusive `flock` on `<dir>/lock` for its
/// lifetime; opening a directory that another process (or another store
/// object) holds fails at once with `errc::io_error` instead of two writers
/// interleaving their checkpoints. The lock goes away with the process, so a
/// crashed owner never blocks a restart.
///
/// Throws ews::error (errc::io_error) when the directory cannot be created
/// or locked.
std::shared_ptr<checkpoint_store> make_file_checkpoint_store(const std::string& directory);

}  // namespace ews
