// The execution engine of one model: its thread pool, the activation buffer that every forward pass
// reuses (sized by the largest step so far, never per call), and the lock that makes forward passes
// of concurrent callers take turns, so the threads computing never exceed n_threads.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/page_buffer.h"
#include "exec/thread_pool.h"

namespace rwkvrt {

// Thrown by ExecContext::checkpoint() when the caller asked to stop; Model catches it.
struct Cancelled {};

struct ExecContext {
    ThreadPool &pool;
    PageBuffer &activations; // Scratch's backing store
    const std::function<bool()> &stop; // empty, or true to stop now

    // Called between layers: throws Cancelled if the caller asked to stop.
    void checkpoint() const {
        if (stop && stop()) throw Cancelled{};
    }
};

class Engine {
public:
    explicit Engine(int n_threads) : pool_(n_threads) {}

    int n_threads() const { return pool_.size(); }

    // Runs fn(ExecContext &) while no other forward pass of this model runs. A pass started from
    // inside another on the same thread (from its progress callback) is refused: it would wait on
    // itself forever.
    template <class Fn>
    void run(const std::function<bool()> &stop, Fn &&fn) {
        if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id())
            fail(RWKVRT_ERR_ARGUMENT, "this model is already running a feed on this thread: a progress callback "
                                      "(or a signal handler run from it) must not feed the same model");
        std::lock_guard<std::mutex> lock(mutex_);
        owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
        struct Release {
            std::atomic<std::thread::id> &owner;
            ~Release() { owner.store(std::thread::id(), std::memory_order_relaxed); }
        } release{owner_};
        ExecContext ctx{pool_, activations_, stop};
        fn(ctx);
    }

private:
    std::mutex mutex_;
    std::atomic<std::thread::id> owner_{}; // the thread in run(), if any
    ThreadPool pool_;
    PageBuffer activations_;
};

} // namespace rwkvrt
