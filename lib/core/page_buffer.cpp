#include "core/page_buffer.h"

#include <mutex>
#include <new>
#include <sys/mman.h>

namespace rwkvrt {

namespace {

constexpr size_t kPage = 4096;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Small buffers are cut from 2 MiB chunks on a huge page each, one after the other. A decoding step
// reads every layer's low-rank matrices, a few KiB of them per head; in small pages each of those pages
// costs a TLB miss, which under a hypervisor walks two page tables (0.4B F16, 2 threads: a head's rows
// of the four LoRA products took 2.1 µs in small pages, 1.6 in a shared huge page). A chunk is unmapped
// when its last buffer is released; the arena only remembers the chunk it is cutting.
struct SharedPages {
    std::mutex mutex;
    std::weak_ptr<void> chunk;
    size_t used = 0;

    std::shared_ptr<void> take(size_t n, uint8_t **data) {
        const size_t bytes = round_up(n, kPage);
        std::lock_guard<std::mutex> lock(mutex);
        std::shared_ptr<void> current = chunk.lock();
        if (!current || used + bytes > kHugePage) {
            current = std::shared_ptr<void>(map_huge_aligned(kHugePage), [](void *p) { unmap_huge_aligned(p, kHugePage); });
            chunk = current;
            used = 0;
        }
        *data = static_cast<uint8_t *>(current.get()) + used; // never handed out before: still zero
        used += bytes;
        return current;
    }
};

SharedPages &shared_pages() {
    static SharedPages pages;
    return pages;
}

} // namespace

void *map_huge_aligned(size_t bytes) {
    const size_t size = round_up(bytes, kPage);
    void *m = ::mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    // Keep the 2 MiB-aligned stretch, give the rest back.
    auto *base = static_cast<uint8_t *>(m);
    uint8_t *start = base + (kHugePage - reinterpret_cast<uintptr_t>(base) % kHugePage) % kHugePage;
    if (start > base) ::munmap(base, size_t(start - base));
    if (uint8_t *end = start + size; end < base + size + kHugePage) ::munmap(end, size_t(base + size + kHugePage - end));
    ::madvise(start, size, MADV_HUGEPAGE); // a hint: without THP the pages stay small
    return start;
}

void unmap_huge_aligned(void *p, size_t bytes) noexcept {
    if (p) ::munmap(p, round_up(bytes, kPage));
}

PageBuffer &PageBuffer::operator=(PageBuffer &&other) noexcept {
    if (this != &other) {
        release();
        shared_ = std::move(other.shared_);
        data_ = other.data_, size_ = other.size_;
        other.data_ = nullptr, other.size_ = 0;
    }
    return *this;
}

void PageBuffer::allocate(size_t n) {
    release();
    if (n == 0) return;
    if (n <= kSharedMax) shared_ = shared_pages().take(n, &data_);
    else data_ = static_cast<uint8_t *>(map_huge_aligned(n));
    size_ = n;
}

void PageBuffer::release() {
    if (shared_) shared_.reset();
    else unmap_huge_aligned(data_, size_);
    data_ = nullptr, size_ = 0;
}

} // namespace rwkvrt
