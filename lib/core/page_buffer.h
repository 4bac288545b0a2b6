// Large, long-lived buffers (weights read or converted at load) in anonymous memory that asks for
// transparent huge pages: when a token streams every weight, 2 MiB pages read 25-35% faster than the
// 4 KiB pages of a mapped file or of malloc (docs/PERFORMANCE.md).
#pragma once

#include <cstddef>
#include <cstdint>

namespace rwkvrt {

class PageBuffer {
public:
    PageBuffer() = default;
    ~PageBuffer() { release(); }
    PageBuffer(PageBuffer &&other) noexcept { *this = static_cast<PageBuffer &&>(other); }
    PageBuffer &operator=(PageBuffer &&other) noexcept;
    PageBuffer(const PageBuffer &) = delete;
    PageBuffer &operator=(const PageBuffer &) = delete;

    // Replaces the contents with n zero bytes. Throws std::bad_alloc when the memory is not there.
    void allocate(size_t n);

    uint8_t *data() { return data_; }
    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }

private:
    void release();
    void *map_ = nullptr; // the whole mapping; data_ is its first 2 MiB boundary
    size_t map_size_ = 0;
    uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

} // namespace rwkvrt
