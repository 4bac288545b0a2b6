// The storage of a state's values: 64-byte aligned, so that each head's recurrent matrix starts on a
// cache line and the recurrence can write the next state with streaming stores (kernels/wkv.cpp).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace rwkvrt {

template <class T>
struct CacheLineAllocator {
    using value_type = T;
    CacheLineAllocator() = default;
    template <class U>
    CacheLineAllocator(const CacheLineAllocator<U> &) noexcept {}
    T *allocate(size_t n) { return static_cast<T *>(::operator new(n * sizeof(T), std::align_val_t(64))); }
    void deallocate(T *p, size_t) noexcept { ::operator delete(p, std::align_val_t(64)); }
    friend bool operator==(const CacheLineAllocator &, const CacheLineAllocator &) { return true; }
};

using StateValues = std::vector<float, CacheLineAllocator<float>>;

} // namespace rwkvrt
