#include "state/state_file.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include "core/error.h"
#include "state/state.h"

namespace rwkvrt {

namespace {

std::string reason(int err) { return std::generic_category().message(err); }

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
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

// Creates a new file next to path, named <path>.tmp<pid>-<n>; O_EXCL never reuses an existing one.
int create_temporary(const std::string &path, std::string *tmp) {
    static std::atomic<unsigned> counter{0};
    for (;;) {
        *tmp = cat(path, ".tmp", ::getpid(), "-", counter++);
        const int fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) return fd;
        if (errno != EEXIST) fail(RWKVRT_ERR_IO, "cannot save '", path, "': cannot create '", *tmp, "': ", reason(errno));
    }
}

} // namespace

void write_file_atomically(const std::string &path, const uint8_t *data, size_t len) {
    std::string tmp;
    Fd fd(create_temporary(path, &tmp));
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
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) fail(RWKVRT_ERR_IO, "cannot open '", path, "': ", reason(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) fail(RWKVRT_ERR_IO, "cannot read '", path, "': ", reason(errno));
    if (!S_ISREG(st.st_mode)) fail(RWKVRT_ERR_IO, "cannot read '", path, "': not a regular file");
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
