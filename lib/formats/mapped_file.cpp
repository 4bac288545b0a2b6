#include "formats/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"

namespace rwkvrt {

namespace {

// Reads n bytes of fd from offset into dst with pread: 0, the errno of a failed read, or -1 at an
// unexpected end of file.
int read_range(int fd, uint8_t *dst, size_t offset, size_t n) {
    while (n > 0) {
        const ssize_t got = ::pread(fd, dst, n, off_t(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return got == 0 ? -1 : errno;
        dst += got, offset += size_t(got), n -= size_t(got);
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
    const auto allocate = [&] {
        try {
            buffer_.allocate(size_); // its pages are faulted in as the bytes are read into them
        } catch (const std::bad_alloc &) {
            ::close(fd);
            throw;
        }
    };
    if (!use_mmap) allocate();
    void *m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
        map_ = m;
        data_ = static_cast<const uint8_t *>(m);
        if (use_mmap) ::close(fd);
        else fd_ = fd;
        return;
    }
    // Not mappable (some file systems): read whole now, with nothing left to read later.
    if (use_mmap) allocate();
    const int error = read_range(fd, buffer_.data(), 0, size_);
    ::close(fd);
    if (error != 0) fail(RWKVRT_ERR_IO, "cannot read '", path, "': ", read_failure(error));
    data_ = buffer_.data();
}

const char *MappedFile::read_failure(int error) { return error < 0 ? "unexpected end of file" : std::strerror(error); }

uint8_t *MappedFile::memory_for(const uint8_t *p) const {
    if (!reading()) return const_cast<uint8_t *>(p);
    return const_cast<uint8_t *>(buffer_.data()) + (p - data_);
}

int MappedFile::read_bytes(const uint8_t *p, size_t n, uint8_t *dst) const {
    if (!reading()) {
        std::memcpy(dst, p, n);
        return 0;
    }
    return read_range(fd_, dst, size_t(p - data_), n);
}

void MappedFile::finish_reading() {
    if (!reading()) return;
    ::close(fd_);
    fd_ = -1;
    ::munmap(map_, size_);
    map_ = nullptr;
    data_ = buffer_.data();
}

MappedFile::~MappedFile() {
    if (fd_ >= 0) ::close(fd_);
    if (map_) ::munmap(map_, size_);
}

} // namespace rwkvrt
