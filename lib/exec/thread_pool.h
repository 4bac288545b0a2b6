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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
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

    // A buffer of at least `bytes` (64-byte aligned, contents undefined) owned by pool thread
    // `thread`, for use inside a task; free again at the next job. shared_buffer() is one more, for
    // data that all threads of a job read (it must be taken before run()).
    float *thread_buffer(int thread, size_t bytes) { return grow(buffers_[size_t(thread)], bytes); }
    float *shared_buffer(size_t bytes) { return grow(shared_, bytes); }

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
    Buffer shared_;

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

} // namespace rwkvrt
