#include "state/state_file.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "state/state.h"

namespace rwkvrt {

namespace {

std::string reason(int err) { return std::generic_category().message(err); }

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    Fd &operator=(Fd &&other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }
    // Closes now, returning errno on failure (some file systems report a failed write only here).
    int close() {
        const int rc = ::close(fd_);
        fd_ = -1;
        return rc == 0 ? 0 : errno;
    }

private:
    int fd_;
};

std::string folder_of(const std::string &path) {
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string &path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Whether `name` is "<base>.tmp<digits>-<digits>", the name create_temporary() gives.
bool is_temporary_of(std::string_view name, const std::string &base) {
    const std::string prefix = base + ".tmp";
    if (!name.starts_with(prefix)) return false;
    name.remove_prefix(prefix.size());
    const size_t dash = name.find('-');
    auto digits = [](std::string_view s) {
        return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
    };
    return dash != std::string_view::npos && digits(name.substr(0, dash)) && digits(name.substr(dash + 1));
}

// Creates a new file next to path, named <path>.tmp<pid>-<n> (O_EXCL never reuses an existing one),
// with an exclusive flock held until *lock is closed: the lock is how a later save tells a live
// writer's temporary file from one left by a killed process.
int create_temporary(const std::string &path, std::string *tmp, Fd *lock) {
    static std::atomic<unsigned> counter{0};
    for (;;) {
        *tmp = cat(path, ".tmp", ::getpid(), "-", counter++);
        const int fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            fail(RWKVRT_ERR_IO, "cannot save '", path, "': cannot create '", *tmp, "': ", reason(errno));
        }
        int locked;
        while ((locked = ::flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
        }
        // A save that took the new file for stale between the open and the lock has unlinked it.
        struct stat st {};
        if (locked == 0 && ::fstat(fd, &st) == 0 && st.st_nlink > 0) {
            *lock = Fd(::dup(fd)); // the lock belongs to the open file, so it outlives fd's close
            return fd;
        }
        ::close(fd);
    }
}

// Removes temporary files of path that no live writer holds (left by a process killed mid-save).
// Best effort: anything unexpected leaves the file alone.
void remove_stale_temporaries(const std::string &path) {
    const std::string folder = folder_of(path), base = base_of(path);
    DIR *dir = ::opendir(folder.c_str());
    if (!dir) return;
    while (const dirent *entry = ::readdir(dir)) {
        if (!is_temporary_of(entry->d_name, base)) continue;
        const std::string tmp = folder + "/" + entry->d_name;
        Fd fd(::open(tmp.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        struct stat held {}, named {};
        if (fd.get() < 0 || ::fstat(fd.get(), &held) != 0 || !S_ISREG(held.st_mode)) continue;
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue; // its writer is alive
        // Still the same file under that name (not renamed into place and the name reused meanwhile).
        if (::lstat(tmp.c_str(), &named) == 0 && named.st_ino == held.st_ino && named.st_dev == held.st_dev)
            ::unlink(tmp.c_str());
    }
    ::closedir(dir);
}

} // namespace

void write_file_atomically(const std::string &path, const uint8_t *data, size_t len) {
    check_replaceable(path, "cannot save");
    remove_stale_temporaries(path);
    std::string tmp;
    Fd lock(-1);
    Fd fd(create_temporary(path, &tmp, &lock));
    auto give_up = [&](const char *what, int err) {
        ::unlink(tmp.c_str());
        fail(RWKVRT_ERR_IO, "cannot save '", path, "': ", what, " '", tmp, "' failed: ", reason(err),
             "; the previous file, if any, is unchanged");
    };
    for (size_t done = 0; done < len;) {
        const ssize_t n = ::write(fd.get(), data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) give_up("writing", n < 0 ? errno : ENOSPC);
        done += size_t(n);
    }
    if (::fsync(fd.get()) != 0) give_up("flushing", errno);
    if (const int err = fd.close()) give_up("closing", err);
    // Checked again just before the rename, which replaces whatever the path names by then.
    try {
        check_replaceable(path, "cannot save");
    } catch (const Error &) {
        ::unlink(tmp.c_str());
        throw;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("renaming", errno);
    // The rename is durable only once the folder is flushed. Some file systems cannot flush a folder
    // (EINVAL); the rename is then as durable as they make it.
    const std::string folder = folder_of(path);
    Fd dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0 || (::fsync(dir.get()) != 0 && errno != EINVAL))
        fail(RWKVRT_ERR_IO, "saved '", path, "', but flushing its folder '", folder, "' failed: ", reason(errno),
             "; after a power loss the file may be the previous one");
}

std::vector<uint8_t> read_whole_file(const std::string &path, std::string_view prefix) {
    Fd fd(open_regular_file(path));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) fail(RWKVRT_ERR_IO, "cannot read '", path, "': ", reason(errno));
    std::vector<uint8_t> out(std::max(size_t(st.st_size), prefix.size()));
    size_t done = 0;
    for (;;) {
        if (done == out.size()) out.resize(out.size() + 4096); // the file may have grown meanwhile
        // The prefix is read on its own, so that a wrong file costs no more than its first bytes.
        const size_t want = done < prefix.size() ? prefix.size() - done : out.size() - done;
        const ssize_t n = ::read(fd.get(), out.data() + done, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(RWKVRT_ERR_IO, "cannot read '", path, "': ", reason(errno));
        if (n == 0) break;
        done += size_t(n);
        if (done <= prefix.size() && std::memcmp(out.data(), prefix.data(), done) != 0) break;
    }
    out.resize(done);
    return out;
}

void save_state_file(const State &state, const std::string &path, const SnapshotExtras &extras) {
    std::vector<uint8_t> bytes(snapshot_size(state, extras));
    write_snapshot(state, bytes.data(), extras);
    write_file_atomically(path, bytes.data(), bytes.size());
}

Snapshot read_state_file(const Model &model, const std::string &path) {
    const std::vector<uint8_t> bytes = read_whole_file(path, kStateMagic);
    try {
        return parse_snapshot(model, bytes.data(), bytes.size());
    } catch (const Error &e) {
        throw Error(e.status(), cat("'", path, "': ", e.what()));
    }
}

} // namespace rwkvrt
