// The storage of a state's values: 64-byte aligned, so that each head's recurrent matrix starts on a
// cache line and the recurrence can write the next state with streaming stores (kernels/wkv.cpp). A
// state of 2 MiB or more starts on a huge page and asks for huge pages (core/page_buffer.h): a decoding
// step reads and writes all of it, and in small pages each of its 4 KiB costs a TLB miss (0.4B F16, the
// recurrence of a head: 3.2 µs in small pages, 2.6 in huge ones). Its last part, under 2 MiB, keeps small
// pages, so a state takes no more memory than its size.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "core/page_buffer.h"

namespace rwkvrt {

template <class T>
struct StateAllocator {
    using value_type = T;
    StateAllocator() = default;
    template <class U>
    StateAllocator(const StateAllocator<U> &) noexcept {}
    T *allocate(size_t n) {
        if (n * sizeof(T) >= kHugePage) return static_cast<T *>(map_huge_aligned(n * sizeof(T)));
        return static_cast<T *>(::operator new(n * sizeof(T), std::align_val_t(64)));
    }
    void deallocate(T *p, size_t n) noexcept {
        if (n * sizeof(T) >= kHugePage) unmap_huge_aligned(p, n * sizeof(T));
        else ::operator delete(p, std::align_val_t(64));
    }
    friend bool operator==(const StateAllocator &, const StateAllocator &) { return true; }
};

using StateValues = std::vector<float, StateAllocator<float>>;

} // namespace rwkvrt
