// A persistent pool of worker threads, one per model: the forward passes' only source of parallelism.
//
// Why not OpenMP: libgomp's workers spin at every join, and a region cannot end until every thread of
// its team has arrived. On a machine whose other core is busy, a descheduled worker then stalls each
// of the ~150 regions of a token by a scheduler slice (a 37k-token prompt took 8x longer). Here a job
// is a counter of tasks that any thread may take; a worker that wakes after the tasks are gone simply
// goes back to sleep, so the caller waits only for tasks in progress, never for a thread that has not
// started. Workers spin for a few microseconds before they block, so back-to-back regions on an idle
// machine do not pay a wake-up each.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace rwkvrt {

class ThreadPool {
public:
    // n_threads ≥ 1 threads compute: the caller of run() and n_threads − 1 workers.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return n_threads_; }

    // Calls fn(task, thread) for every task in [0, n_tasks), handing tasks out one at a time to the
    // caller (thread 0) and up to max_threads − 1 workers (threads 1 …). Returns when all are done;
    // rethrows the first exception a task threw. `thread` indexes per-thread buffers.
    // One caller at a time: the model's Engine serialises the forward passes that use a pool.
    template <class Fn>
    void run(int64_t n_tasks, int max_threads, Fn &&fn) {
        if (n_tasks <= 0) return;
        if (max_threads <= 1 || n_threads_ == 1 || n_tasks == 1) {
            for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
            return;
        }
        auto call = [](void *ctx, int64_t task, int thread) { (*static_cast<Fn *>(ctx))(task, thread); };
        dispatch(n_tasks, max_threads, call, &fn);
    }

    // Calls fn(begin, end, thread) on pieces of at most `piece` ≥ 1 items that together cover [0, n_items)
    // once. [0, n_items) is cut into one stretch per thread, and each thread first takes the pieces of
    // its own stretch in order: one sequential stream per core, which the hardware prefetcher follows
    // across pieces (handed out round-robin, 64 KiB pieces streamed up to a third slower,
    // docs/PERFORMANCE.md). A thread that finishes helps with the others' stretches, a piece at a time,
    // and a stretch whose thread never starts (its core busy) is taken by the others.
    //
    // A thread claims from its own stretch half of what is left of it at a time (whole pieces, at
    // least one): each claim is an atomic add, which on x86 waits for the thread's loads in flight, and
    // a claim per 64 KiB piece cost a lone conversation's token 2–4% where memory was fast
    // (docs/PERFORMANCE.md, "Half a stretch a claim"). A thread stalled inside a claim holds back at
    // most that claim: half its stretch at first, then less.
    template <class Fn>
    void run_stretches(int64_t n_items, int64_t piece, int max_threads, Fn &&fn) {
        if (n_items <= 0) return;
        const int threads = std::min<int64_t>({max_threads, n_threads_, (n_items + piece - 1) / piece});
        if (threads <= 1) {
            for (int64_t b = 0; b < n_items; b += piece) fn(b, std::min(n_items, b + piece), 0);
            return;
        }
        const int64_t stretch = (n_items + threads - 1) / threads;
        for (int s = 0; s < threads; ++s) cursors_[size_t(s)].next.store(int64_t(s) * stretch, std::memory_order_relaxed);
        run(threads, threads, [&](int64_t task, int thread) {
            for (int k = 0; k < threads; ++k) {
                const int64_t s = (task + k) % threads, end = std::min(n_items, (s + 1) * stretch);
                std::atomic<int64_t> &next = cursors_[size_t(s)].next;
                for (;;) {
                    const int64_t claim = k > 0 ? piece : std::max(piece, (end - next.load(std::memory_order_relaxed)) / 2 / piece * piece);
                    const int64_t b = next.fetch_add(claim, std::memory_order_relaxed);
                    if (b >= end) break;
                    for (int64_t p = b, e = std::min(end, b + claim); p < e; p += piece) fn(p, std::min(e, p + piece), thread);
                }
            }
        });
    }

    // A buffer of at least `bytes` (64-byte aligned, contents undefined) owned by pool thread
    // `thread`, for use inside a task; free again at the next job. shared_buffer() gives more, for
    // data that all threads of a job read (taken before run()): one per `slot`, so that the products a
    // job runs together (kernels/matvec_job.h) each have their own.
    float *thread_buffer(int thread, size_t bytes) { return grow(buffers_[size_t(thread)], bytes); }
    float *shared_buffer(size_t bytes, size_t slot = 0) {
        if (shared_.size() <= slot) shared_.resize(slot + 1);
        return grow(shared_[slot], bytes);
    }

private:
    using TaskFn = void (*)(void *ctx, int64_t task, int thread);

    struct alignas(64) Buffer {
        void *data = nullptr;
        size_t bytes = 0;
    };
    static float *grow(Buffer &b, size_t bytes);

    void dispatch(int64_t n_tasks, int max_threads, TaskFn fn, void *ctx);
    void work_on(int thread);
    void worker(int thread);

    const int n_threads_;
    std::vector<std::thread> workers_;
    std::vector<Buffer> buffers_;
    struct alignas(64) Cursor {
        std::atomic<int64_t> next{0};
    };
    std::unique_ptr<Cursor[]> cursors_; // run_stretches(): the next item of each thread's stretch
    std::vector<Buffer> shared_;

    // The current job. job_id_ is odd while it is open; closing makes it even. A worker takes part
    // only if it registered in `inflight_` while the id it woke for was still current.
    std::atomic<uint64_t> job_id_{0};
    std::atomic<int> inflight_{0};
    std::atomic<int64_t> next_task_{0};
    int64_t n_tasks_ = 0;
    int max_threads_ = 0;
    TaskFn fn_ = nullptr;
    void *ctx_ = nullptr;
    std::mutex error_mutex_;
    std::exception_ptr error_;
    std::atomic<bool> stop_{false};
};

// Calls fn(t0, t1) on consecutive ranges of the T rows, on the pool's threads when the rows hold work
// enough to be worth waking them: the element-wise code between the matrix products of a prompt would
// otherwise run on one core while the others wait. Rows are independent, so the split changes no bit.
// Tasks of many rows, not one: each task costs a fetch_add on a line the cores share.
template <class Fn>
void for_rows(ThreadPool &pool, int64_t T, int64_t floats_per_row, Fn &&fn) {
    constexpr int64_t kFloatsPerTask = 1 << 15;
    const int64_t rows = std::max<int64_t>(1, kFloatsPerTask / std::max<int64_t>(1, floats_per_row));
    pool.run((T + rows - 1) / rows, pool.size(), [&](int64_t task, int) { fn(task * rows, std::min(T, (task + 1) * rows)); });
}

} // namespace rwkvrt
