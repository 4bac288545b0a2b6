// Large, long-lived buffers (weights read or converted at load) in anonymous memory that asks for
// transparent huge pages: when a token streams every weight, 2 MiB pages read 25-35% faster than the
// 4 KiB pages of a mapped file or of malloc (docs/PERFORMANCE.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace rwkvrt {

constexpr size_t kHugePage = size_t(2) << 20;

// `bytes` of zeroed memory whose start is on a 2 MiB boundary, asking for huge pages: every whole 2 MiB
// of it can get one, the rest has small pages and costs nothing more than a plain mapping. Throws
// std::bad_alloc when the memory is not there; unmap_huge_aligned(p, bytes) gives it back.
void *map_huge_aligned(size_t bytes);
void unmap_huge_aligned(void *p, size_t bytes) noexcept;

class PageBuffer {
public:
    PageBuffer() = default;
    ~PageBuffer() { release(); }
    PageBuffer(PageBuffer &&other) noexcept { *this = static_cast<PageBuffer &&>(other); }
    PageBuffer &operator=(PageBuffer &&other) noexcept;
    PageBuffer(const PageBuffer &) = delete;
    PageBuffer &operator=(const PageBuffer &) = delete;

    // Replaces the contents with n zero bytes, starting on a 4 KiB page. Throws std::bad_alloc when the
    // memory is not there. Up to kSharedMax bytes come from a huge page shared with other small buffers
    // (the low-rank matrices), freed when the last of them is released.
    void allocate(size_t n);

    uint8_t *data() { return data_; }
    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }

    static constexpr size_t kSharedMax = kHugePage / 2;

private:
    void release();
    std::shared_ptr<void> shared_; // the shared huge page data_ lies in, or null: data_ is mapped alone
    uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

} // namespace rwkvrt
