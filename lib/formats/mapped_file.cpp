#include "formats/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"

namespace rwkvrt {

namespace {

// Reads bytes [begin, end) of fd into dst + begin with pread: 0, the errno of a failed read, or -1 at an
// unexpected end of file. Nothing here allocates or throws: it also runs on a thread of its own.
int read_range(int fd, uint8_t *dst, size_t begin, size_t end) {
    while (begin < end) {
        const ssize_t n = ::pread(fd, dst + begin, end - begin, off_t(begin));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n == 0 ? -1 : errno;
        begin += size_t(n);
    }
    return 0;
}

} // namespace

bool MappedFile::give_back(const uint8_t *p, size_t n) {
    if (!data_ || p < data_ || n > size_ || p - data_ > std::ptrdiff_t(size_ - n)) return false;
    const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (begin < end) ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED); // a hint: failure costs memory only
    return true;
}

MappedFile::MappedFile(const std::string &path, bool use_mmap) : path_(path) {
    const int fd = open_regular_file(path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        fail(RWKVRT_ERR_IO, "cannot read '", path, "': ", std::strerror(err));
    }
    size_ = size_t(st.st_size);
    if (size_ == 0) {
        ::close(fd);
        return;
    }
    if (use_mmap) {
        void *m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            map_ = m;
            data_ = static_cast<const uint8_t *>(m);
            ::close(fd);
            return;
        }
    }
    try {
        buffer_.allocate(size_);
    } catch (const std::bad_alloc &) {
        ::close(fd);
        throw;
    }
    // Two threads, each reading half: filling fresh pages (the kernel zeroes each before the copy)
    // is work for the CPU, which one core does at about half the speed of two.
    const size_t half = size_ / 2;
    int second_error = 0;
    std::thread second;
    try {
        second = std::thread([&] { second_error = read_range(fd, buffer_.data(), half, size_); });
    } catch (const std::system_error &) {
        // no second thread: the first reads it all
    }
    int error = read_range(fd, buffer_.data(), 0, second.joinable() ? half : size_);
    if (second.joinable()) second.join();
    if (error == 0) error = second_error;
    if (error != 0) {
        ::close(fd);
        fail(RWKVRT_ERR_IO, "cannot read '", path, "': ", error < 0 ? "unexpected end of file" : std::strerror(error));
    }
    ::close(fd);
    data_ = buffer_.data();
}

MappedFile::~MappedFile() {
    if (map_) ::munmap(map_, size_);
}

} // namespace rwkvrt
