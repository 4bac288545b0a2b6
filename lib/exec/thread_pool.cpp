#include "exec/thread_pool.h"

#include <cstdlib>
#include <new>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RWKVRT_PAUSE() _mm_pause()
#else
#define RWKVRT_PAUSE() std::this_thread::yield()
#endif

namespace rwkvrt {

namespace {
// About 10-20 µs of pause instructions: longer than the gap between a token's back-to-back regions,
// far shorter than a scheduler slice.
constexpr int kSpinIterations = 2000;
} // namespace

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(n_threads < 1 ? 1 : n_threads), buffers_(size_t(n_threads_)), cursors_(new Cursor[size_t(n_threads_)]) {
    workers_.reserve(size_t(n_threads_ - 1));
    try {
        for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
    } catch (...) {
        stop_.store(true);
        job_id_.fetch_add(2);
        job_id_.notify_all();
        for (std::thread &t : workers_) t.join();
        throw;
    }
}

ThreadPool::~ThreadPool() {
    stop_.store(true);
    job_id_.fetch_add(2);
    job_id_.notify_all();
    for (std::thread &t : workers_) t.join();
    for (Buffer &b : buffers_) std::free(b.data);
    for (Buffer &b : shared_) std::free(b.data);
}

float *ThreadPool::grow(Buffer &b, size_t bytes) {
    if (b.bytes < bytes) {
        std::free(b.data);
        b.data = nullptr;
        b.bytes = 0;
        const size_t rounded = (bytes + 63) / 64 * 64;
        b.data = std::aligned_alloc(64, rounded);
        if (!b.data) throw std::bad_alloc();
        b.bytes = rounded;
    }
    return static_cast<float *>(b.data);
}

void ThreadPool::work_on(int thread) {
    for (int64_t t; (t = next_task_.fetch_add(1, std::memory_order_relaxed)) < n_tasks_;) {
        try {
            fn_(ctx_, t, thread);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex_);
            if (!error_) error_ = std::current_exception();
            next_task_.store(n_tasks_, std::memory_order_relaxed); // skip the rest
        }
    }
}

void ThreadPool::dispatch(int64_t n_tasks, int max_threads, TaskFn fn, void *ctx) {
    n_tasks_ = n_tasks;
    max_threads_ = max_threads;
    fn_ = fn;
    ctx_ = ctx;
    error_ = nullptr;
    next_task_.store(0, std::memory_order_relaxed);
    const uint64_t id = job_id_.load() + 1; // odd: open
    job_id_.store(id);
    job_id_.notify_all();

    work_on(0);

    job_id_.store(id + 1); // closed: late workers turn back
    for (int spin = 0; inflight_.load() != 0; ++spin) {
        if (spin < kSpinIterations) {
            RWKVRT_PAUSE();
        } else {
            const int n = inflight_.load();
            if (n != 0) inflight_.wait(n);
        }
    }
    if (error_) std::rethrow_exception(error_);
}

void ThreadPool::worker(int thread) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t id = job_id_.load();
        for (int spin = 0; id == seen || (id & 1) == 0; ++spin) {
            if (stop_.load(std::memory_order_relaxed)) return;
            if (spin < kSpinIterations) {
                RWKVRT_PAUSE();
            } else {
                job_id_.wait(id);
                spin = 0;
            }
            id = job_id_.load();
        }
        seen = id;
        if (stop_.load(std::memory_order_relaxed)) return;
        inflight_.fetch_add(1);
        if (job_id_.load() == id && thread < max_threads_) work_on(thread);
        if (inflight_.fetch_sub(1) == 1) inflight_.notify_all();
    }
}

} // namespace rwkvrt
