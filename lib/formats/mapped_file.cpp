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
    size_t done = 0;
    while (done < size_) {
        const ssize_t n = ::read(fd, buffer_.data() + done, size_ - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            fail(RWKVRT_ERR_IO, "cannot read '", path, "': ", n == 0 ? "unexpected end of file" : std::strerror(err));
        }
        done += size_t(n);
    }
    ::close(fd);
    data_ = buffer_.data();
}

MappedFile::~MappedFile() {
    if (map_) ::munmap(map_, size_);
}

} // namespace rwkvrt
