// The directory-backed checkpoint store. One file per record, each replaced
// atomically (temporary file, fsync, rename, fsync of the directory), each
// with a checksum; an exclusive flock on `<dir>/lock` keeps a second process
// out.

#include <ews/checkpoint_store.hpp>

#include "checkpoint/record_codec.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ews {
namespace {

namespace fs = std::filesystem;
using detail::checkpoint_record;
using sys_time = std::chrono::system_clock::time_point;

// Dedupe windows can be large; beyond this a file is not ours.
constexpr std::size_t max_file_bytes = 256 * 1024 * 1024;
constexpr std::string_view temp_marker = ".tmp-";

error_info io_failure(const std::string& what, const std::string& path, int err) {
  return make_error(errc::io_error, what + " " + path + ": " + std::strerror(err), true);
}

// RAII for a POSIX file descriptor.
class unique_fd {
 public:
  explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // close() reports errors (a deferred write failure on some filesystems).
  int close() noexcept { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

int open_retrying(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// A stable, filesystem-safe file name for a record: the kind, then a digest
// of the identifying fields (folder ids are long base64 with '/' and '+').
// The fields themselves are stored inside and checked on load.
std::string file_name(std::string_view kind, const std::vector<std::string>& identity) {
  std::string joined;
  for (const auto& part : identity) {
    joined += std::to_string(part.size());
    joined += ':';
    joined += part;
  }
  return std::string(kind) + '-' + detail::sha256_hex(joined).substr(0, 32) + ".ckpt";
}

std::int64_t to_micros(sys_time t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

class file_checkpoint_store final : public checkpoint_store {
 public:
  explicit file_checkpoint_store(const std::string& directory) : dir_(directory) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) throw ews::error(make_error(errc::io_error, "cannot create checkpoint directory " + dir_.string() + ": " + ec.message()));
    const std::string lock_path = (dir_ / "lock").string();
    lock_ = unique_fd(open_retrying(lock_path.c_str(), O_RDWR | O_CREAT, 0600));
    if (!lock_) throw ews::error(io_failure("cannot open lock file", lock_path, errno));
    if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK) {
        throw ews::error(make_error(errc::io_error, "checkpoint directory " + dir_.string() +
                                                        " is in use by another store (lock file " + lock_path +
                                                        " is held)"));
      }
      throw ews::error(io_failure("cannot lock", lock_path, err));
    }
    remove_stale_temporaries();
  }

  result<std::optional<std::string>> load_sync_state(const folder_key& folder) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto record = read_record("sync", {folder.mailbox, folder.folder_id});
    if (!record) return std::move(record).error();
    if (!*record) return std::optional<std::string>{};
    return std::optional<std::string>{std::move((**record).fields[2])};
  }

  status save_sync_state(const folder_key& folder, std::string_view sync_state) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return write_record({"sync", {folder.mailbox, folder.folder_id, std::string(sync_state)}}, 2);
  }

  status clear_sync_state(const folder_key& folder) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return remove_record(file_name("sync", {folder.mailbox, folder.folder_id}));
  }

  result<std::vector<std::string>> load_dedupe_keys(std::string_view window) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto record = read_record("dedupe", {std::string(window)});
    if (!record) return std::move(record).error();
    if (!*record) return std::vector<std::string>{};
    auto& fields = (**record).fields;
    return std::vector<std::string>(std::make_move_iterator(fields.begin() + 1),
                                    std::make_move_iterator(fields.end()));
  }

  status save_dedupe_keys(std::string_view window, const std::vector<std::string>& keys) override {
    std::lock_guard<std::mutex> lock(mutex_);
    checkpoint_record record{"dedupe", {std::string(window)}};
    record.fields.insert(record.fields.end(), keys.begin(), keys.end());
    return write_record(record, 1);
  }

  result<std::optional<sys_time>> load_last_event_time(const folder_key& folder) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return load_last_event_locked(folder);
  }

  status save_last_event_time(const folder_key& folder, sys_time when) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto current = load_last_event_locked(folder);
    // A damaged record is replaced by the fresh time: the new value is the
    // truth from now on, and refusing would stall the listener's saves.
    if (current && *current && **current >= when) return ok;
    return write_record({"last-event", {folder.mailbox, folder.folder_id, std::to_string(to_micros(when))}}, 2);
  }

  result<std::vector<folder_time>> list_last_event_times() override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<folder_time> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind("last-event-", 0) != 0 || name.size() < 5 || name.compare(name.size() - 5, 5, ".ckpt") != 0) {
        continue;
      }
      auto record = read_file(it->path());
      if (!record) return std::move(record).error();
      if (!*record) continue;  // removed meanwhile
      auto parsed = parse_last_event(**record, it->path());
      if (!parsed) return std::move(parsed).error();
      out.push_back({{(**record).fields[0], (**record).fields[1]}, *parsed});
    }
    if (ec) return io_failure("cannot list", dir_.string(), ec.value());
    std::sort(out.begin(), out.end(), [](const folder_time& a, const folder_time& b) { return a.folder < b.folder; });
    return out;
  }

 private:
  result<std::optional<sys_time>> load_last_event_locked(const folder_key& folder) {
    auto record = read_record("last-event", {folder.mailbox, folder.folder_id});
    if (!record) return std::move(record).error();
    if (!*record) return std::optional<sys_time>{};
    auto parsed = parse_last_event(**record, dir_ / file_name("last-event", {folder.mailbox, folder.folder_id}));
    if (!parsed) return std::move(parsed).error();
    return std::optional<sys_time>{*parsed};
  }

  static result<sys_time> parse_last_event(const checkpoint_record& record, const fs::path& path) {
    const std::string& text = record.fields.at(2);
    std::int64_t micros = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), micros);
    if (ec != std::errc{} || ptr != text.data() + text.size()) {
      return make_error(errc::checkpoint_corrupt, "checkpoint file " + path.string() + " is damaged: bad time value");
    }
    return sys_time(std::chrono::duration_cast<sys_time::duration>(std::chrono::microseconds(micros)));
  }

  // Reads the record of `kind` identified by `identity` (its leading fields).
  // nullopt when there is none.
  result<std::optional<checkpoint_record>> read_record(const std::string& kind, const std::vector<std::string>& identity) {
    const fs::path path = dir_ / file_name(kind, identity);
    auto record = read_file(path);
    if (!record || !*record) return record;
    const auto& r = **record;
    const bool matches = r.kind == kind && r.fields.size() >= identity.size() &&
                         std::equal(identity.begin(), identity.end(), r.fields.begin()) &&
                         (kind == "dedupe" || r.fields.size() == identity.size() + 1);
    if (!matches) {
      return make_error(errc::checkpoint_corrupt,
                        "checkpoint file " + path.string() + " is damaged: it does not hold the expected " + kind + " record");
    }
    return record;
  }

  // The decoded file, nullopt if it does not exist.
  result<std::optional<checkpoint_record>> read_file(const fs::path& path) {
    unique_fd fd(open_retrying(path.c_str(), O_RDONLY));
    if (!fd) {
      if (errno == ENOENT) return std::optional<checkpoint_record>{};
      return io_failure("cannot open checkpoint file", path.string(), errno);
    }
    std::string bytes;
    char buffer[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_failure("cannot read checkpoint file", path.string(), errno);
      }
      if (n == 0) break;
      if (bytes.size() + static_cast<std::size_t>(n) > max_file_bytes) {
        return make_error(errc::checkpoint_corrupt, "checkpoint file " + path.string() + " is damaged: larger than " +
                                                        std::to_string(max_file_bytes) + " bytes");
      }
      bytes.append(buffer, static_cast<std::size_t>(n));
    }
    auto record = detail::decode_record(bytes);
    if (!record) {
      return make_error(errc::checkpoint_corrupt,
                        "checkpoint file " + path.string() + " is damaged: " + record.error().message +
                            "; move it aside to start this record over");
    }
    return std::optional<checkpoint_record>{std::move(*record)};
  }

  // Replaces the record's file atomically. `identity_fields` leading fields
  // name the file.
  status write_record(const checkpoint_record& record, std::size_t identity_fields) {
    const std::vector<std::string> identity(record.fields.begin(), record.fields.begin() + static_cast<std::ptrdiff_t>(identity_fields));
    const fs::path final_path = dir_ / file_name(record.kind, identity);
    const fs::path temp_path = final_path.string() + std::string(temp_marker) + std::to_string(::getpid()) + '-' + std::to_string(++temp_counter_);
    const std::string bytes = detail::encode_record(record);

    unique_fd fd(open_retrying(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600));
    if (!fd) return io_failure("cannot create", temp_path.string(), errno);
    if (!write_all(fd.get(), bytes) || ::fsync(fd.get()) != 0 || fd.close() != 0) {
      const int err = errno;
      ::unlink(temp_path.c_str());
      return io_failure("cannot write", temp_path.string(), err);
    }
    if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
      const int err = errno;
      ::unlink(temp_path.c_str());
      return io_failure("cannot rename over", final_path.string(), err);
    }
    return sync_directory();
  }

  status remove_record(const std::string& name) {
    const fs::path path = dir_ / name;
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return ok;
      return io_failure("cannot remove", path.string(), errno);
    }
    return sync_directory();
  }

  // Makes the rename (or unlink) itself durable.
  status sync_directory() {
    unique_fd dir(open_retrying(dir_.c_str(), O_RDONLY | O_DIRECTORY));
    if (!dir || ::fsync(dir.get()) != 0) return io_failure("cannot fsync directory", dir_.string(), errno);
    return ok;
  }

  // Temporaries left by a crash between write and rename. We hold the lock,
  // so no other writer can be using them.
  void remove_stale_temporaries() {
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.find(".ckpt" + std::string(temp_marker)) != std::string::npos) {
        std::error_code ignored;
        fs::remove(it->path(), ignored);
      }
    }
  }

  const fs::path dir_;
  unique_fd lock_;  // held for the store's lifetime
  std::mutex mutex_;
  std::uint64_t temp_counter_ = 0;
};

}  // namespace

std::shared_ptr<checkpoint_store> make_file_checkpoint_store(const std::string& directory) {
  if (directory.empty()) throw ews::error(make_error(errc::invalid_argument, "checkpoint directory is empty"));
  return std::make_shared<file_checkpoint_store>(directory);
}

}  // namespace ews
