#include "core/page_buffer.h"

#include <new>
#include <sys/mman.h>

namespace rwkvrt {

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

} // namespace

PageBuffer &PageBuffer::operator=(PageBuffer &&other) noexcept {
    if (this != &other) {
        release();
        map_ = other.map_, map_size_ = other.map_size_, data_ = other.data_, size_ = other.size_;
        other.map_ = nullptr, other.map_size_ = 0, other.data_ = nullptr, other.size_ = 0;
    }
    return *this;
}

void PageBuffer::allocate(size_t n) {
    release();
    if (n == 0) return;
    // Below a huge page, plain pages; above, room to start at a 2 MiB boundary, which is where the
    // kernel can back the range with huge pages.
    const bool huge = n >= kHugePage;
    const size_t want = huge ? n + kHugePage : n;
    void *m = ::mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    map_ = m;
    map_size_ = want;
    auto *start = static_cast<uint8_t *>(m);
    if (huge) {
        start += (kHugePage - reinterpret_cast<uintptr_t>(start) % kHugePage) % kHugePage;
        ::madvise(start, n, MADV_HUGEPAGE); // a hint: without THP the pages stay small
    }
    data_ = start;
    size_ = n;
}

void PageBuffer::release() {
    if (map_) ::munmap(map_, map_size_);
    map_ = nullptr, map_size_ = 0, data_ = nullptr, size_ = 0;
}

} // namespace rwkvrt
