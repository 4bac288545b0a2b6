// Where weights, small matrices and states are placed: the huge pages they ask for need 2 MiB
// boundaries, and small buffers share a huge page that must outlive each of them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/page_buffer.h"
#include "state/state_values.h"

using namespace rwkvrt;

namespace {

uintptr_t address(const void *p) { return reinterpret_cast<uintptr_t>(p); }
bool all_zero(const uint8_t *p, size_t n) { return std::all_of(p, p + n, [](uint8_t b) { return b == 0; }); }

} // namespace

TEST_CASE("page buffers: small ones share a huge page, page-aligned, zeroed, apart, each alive after the others") {
    std::vector<PageBuffer> small(6);
    const size_t sizes[] = {1, 4096, 5000, 64 << 10, 100, 300 << 10};
    for (size_t i = 0; i < small.size(); ++i) {
        small[i].allocate(sizes[i]);
        REQUIRE(small[i].size() == sizes[i]);
        CHECK(address(small[i].data()) % 4096 == 0);
        CHECK(all_zero(small[i].data(), sizes[i]));
        std::fill_n(small[i].data(), sizes[i], uint8_t(i + 1));
    }
    // Cut one after the other from a 2 MiB chunk: the arena may start a fresh chunk for the second
    // buffer, when what an earlier test left is too short, but then the third lies right after it.
    const auto next_after = [&](size_t i) {
        return address(small[i + 1].data()) == address(small[i].data()) + (sizes[i] + 4095) / 4096 * 4096 &&
               address(small[i].data()) / kHugePage == address(small[i + 1].data()) / kHugePage;
    };
    CHECK((next_after(0) || next_after(1)));
    for (size_t i = 0; i < small.size(); ++i) // no buffer overwrote another
        CHECK(std::all_of(small[i].data(), small[i].data() + sizes[i], [&](uint8_t b) { return b == i + 1; }));

    // Released in any order, the others keep their bytes; a moved buffer keeps its place.
    small[1] = PageBuffer();
    small[3].allocate(10); // replaced: zero again
    CHECK(all_zero(small[3].data(), 10));
    PageBuffer moved = std::move(small[2]);
    CHECK(small[2].data() == nullptr);
    CHECK(std::all_of(moved.data(), moved.data() + sizes[2], [](uint8_t b) { return b == 3; }));
    CHECK(std::all_of(small[5].data(), small[5].data() + sizes[5], [](uint8_t b) { return b == 6; }));
}

TEST_CASE("page buffers: a large one starts on a 2 MiB boundary, zeroed") {
    for (size_t n : {PageBuffer::kSharedMax + 1, kHugePage, 3 * kHugePage + 12345}) {
        CAPTURE(n);
        PageBuffer b;
        b.allocate(n);
        CHECK(address(b.data()) % kHugePage == 0);
        CHECK(all_zero(b.data(), n));
        b.data()[n - 1] = 1; // the whole size is mapped
    }
}

TEST_CASE("state values: 2 MiB or more start on a huge page, smaller ones on a cache line") {
    StateValues large(kHugePage / sizeof(float) + 777, 1.5f), small(1000, 2.5f);
    CHECK(address(large.data()) % kHugePage == 0);
    CHECK(address(small.data()) % 64 == 0);
    CHECK(large.back() == 1.5f);
    StateValues copy = large; // a second state of the size, as feed_batch's buffers are
    CHECK(address(copy.data()) % kHugePage == 0);
    CHECK(copy == large);
    large.swap(small);
    CHECK(address(small.data()) % kHugePage == 0);
}
