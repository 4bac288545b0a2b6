#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "exec/thread_pool.h"

using namespace rwkvrt;

TEST_CASE("thread pool: every task runs exactly once, on threads below max_threads") {
    for (int n_threads : {1, 2, 3, 8}) {
        ThreadPool pool(n_threads);
        CHECK(pool.size() == n_threads);
        for (int64_t n_tasks : {0, 1, 2, 7, 1000}) {
            for (int max_threads : {1, 2, n_threads}) {
                CAPTURE(n_threads);
                CAPTURE(n_tasks);
                CAPTURE(max_threads);
                std::vector<std::atomic<int>> runs(static_cast<size_t>(n_tasks));
                std::atomic<int> bad_thread{0};
                pool.run(n_tasks, max_threads, [&](int64_t t, int thread) {
                    runs[size_t(t)].fetch_add(1);
                    if (thread < 0 || thread >= std::min(max_threads, n_threads)) bad_thread.fetch_add(1);
                });
                int wrong = 0;
                for (auto &r : runs) wrong += r.load() != 1;
                CHECK(wrong == 0);
                CHECK(bad_thread.load() == 0);
            }
        }
    }
}

TEST_CASE("thread pool: run_stretches covers every item once, in pieces of at most `piece`") {
    for (int n_threads : {1, 2, 3, 8}) {
        ThreadPool pool(n_threads);
        for (int64_t n_items : {0, 1, 5, 100, 1001}) {
            for (int64_t piece : {1, 7, 64}) {
                for (int max_threads : {1, 2, n_threads}) {
                    CAPTURE(n_threads);
                    CAPTURE(n_items);
                    CAPTURE(piece);
                    CAPTURE(max_threads);
                    std::vector<std::atomic<int>> runs(static_cast<size_t>(n_items));
                    std::atomic<int> bad{0};
                    pool.run_stretches(n_items, piece, max_threads, [&](int64_t begin, int64_t end, int thread) {
                        if (begin < 0 || end > n_items || end <= begin || end - begin > piece) bad.fetch_add(1);
                        if (thread < 0 || thread >= std::min(max_threads, n_threads)) bad.fetch_add(1);
                        for (int64_t i = std::max<int64_t>(begin, 0); i < std::min(end, n_items); ++i) runs[size_t(i)].fetch_add(1);
                    });
                    int wrong = 0;
                    for (auto &r : runs) wrong += r.load() != 1;
                    CHECK(wrong == 0);
                    CHECK(bad.load() == 0);
                }
            }
        }
    }
}

TEST_CASE("thread pool: run_stretches hands a stalled thread's stretch to the others") {
    // The calling thread stalls in its first piece until the rest is done, as a descheduled core
    // would: the worker must take the caller's unclaimed pieces as well as its own. The caller's first
    // claim is half its stretch (16 of its 32 items), which it finishes once it runs again.
    ThreadPool pool(2);
    constexpr int64_t kItems = 64, kPiece = 4, kFirstClaim = 16;
    std::atomic<int64_t> done{0};
    std::atomic<bool> stalled{false};
    bool rest_done = false;
    const auto wait_until = [](auto &&condition) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!condition() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    pool.run_stretches(kItems, kPiece, 2, [&](int64_t begin, int64_t end, int thread) {
        // The worker waits for the caller's stall: a caller whose thread started late (under TSan, on a
        // busy host) found every piece taken, and never stalled.
        if (thread != 0) wait_until([&] { return stalled.load(); });
        if (thread == 0 && !stalled.exchange(true)) {
            wait_until([&] { return done.load() >= kItems - kFirstClaim; });
            rest_done = done.load() == kItems - kFirstClaim;
        }
        done.fetch_add(end - begin);
    });
    CHECK(rest_done);
    CHECK(done.load() == kItems);
}

TEST_CASE("thread pool: many short jobs in a row, as a token's layers make") {
    ThreadPool pool(2);
    std::atomic<int64_t> sum{0};
    for (int job = 0; job < 20000; ++job) pool.run(4, 2, [&](int64_t t, int) { sum.fetch_add(t); });
    CHECK(sum.load() == 20000 * 6);
}

TEST_CASE("thread pool: a task's exception reaches the caller, and the pool keeps working") {
    ThreadPool pool(3);
    CHECK_THROWS_AS(pool.run(100, 3, [](int64_t t, int) {
        if (t == 37) throw std::runtime_error("task 37");
    }),
                    std::runtime_error);
    std::atomic<int> n{0};
    pool.run(10, 3, [&](int64_t, int) { n.fetch_add(1); });
    CHECK(n.load() == 10);
}

TEST_CASE("thread pool: per-thread buffers are aligned and keep their size") {
    ThreadPool pool(2);
    float *a = pool.thread_buffer(1, 100);
    CHECK(reinterpret_cast<uintptr_t>(a) % 64 == 0);
    CHECK(pool.thread_buffer(1, 50) == a);
    float *s = pool.shared_buffer(1 << 20);
    CHECK(reinterpret_cast<uintptr_t>(s) % 64 == 0);
    s[(1 << 18) - 1] = 1.0f; // the whole size is usable
}
