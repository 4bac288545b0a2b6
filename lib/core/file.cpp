#include "core/file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace rwkvrt {

const char *file_type_name(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    default: return "not a regular file";
    }
}

namespace {

void check_not_empty(const std::string &path) {
    if (path.empty()) fail(RWKVRT_ERR_ARGUMENT, "the path is empty");
}

[[noreturn]] void not_regular(const std::string &path, mode_t mode, const char *action) {
    fail(RWKVRT_ERR_IO, action, " '", path, "': it is ", file_type_name(mode), ", not a regular file");
}

} // namespace

int open_regular_file(const std::string &path) {
    check_not_empty(path);
    struct stat st {};
    // Checked before opening, since opening a FIFO or a device can block or act on the device.
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) not_regular(path, st.st_mode, "cannot read");
    // Non-blocking (which regular files ignore), and checked again on the descriptor, in case the path was
    // replaced in between.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fail(RWKVRT_ERR_IO, "cannot open '", path, "': ", std::strerror(errno));
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const int err = errno;
        ::close(fd);
        if (!S_ISREG(st.st_mode) && st.st_mode) not_regular(path, st.st_mode, "cannot read");
        fail(RWKVRT_ERR_IO, "cannot read '", path, "': ", std::strerror(err));
    }
    return fd;
}

void check_replaceable(const std::string &path, const char *action) {
    check_not_empty(path);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        fail(RWKVRT_ERR_IO, action, " '", path, "': ", std::strerror(errno));
    }
    if (S_ISREG(st.st_mode)) return;
    if (S_ISLNK(st.st_mode))
        fail(RWKVRT_ERR_IO, action, " '", path, "': it is a symbolic link; a save replaces only a regular file, so ",
             "name the file it points to");
    not_regular(path, st.st_mode, action);
}

} // namespace rwkvrt
