// A mat-vec as units of rows that any of the pool's threads may compute, in any order. Each mat-vec
// path prepares one (rounds x for integer products, picks its kernel), and run_matvecs() runs any
// number of them as one job on the pool. A decoding step's independent products then share one
// hand-off: RWKV-7's layer has eleven of them before its recurrence, most of them LoRA matrices of a
// few microseconds each, and with a hand-off apiece the threads spent more time handing off and
// waiting for each other at the end of each product than computing them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

namespace rwkvrt {

class ThreadPool;

class MatVecJob {
public:
    MatVecJob() = default;
    // `units` units of `unit_rows` output rows (the last one may have fewer) and `unit_bytes` bytes of
    // weights each; rows(u0, u1) computes the outputs of units [u0, u1). rows is copied into the job: a
    // lambda capturing pointers and small values by copy.
    template <class Rows>
    MatVecJob(int64_t units, int64_t unit_rows, size_t unit_bytes, const Rows &rows)
        : units_(units), unit_rows_(unit_rows), unit_bytes_(unit_bytes) {
        static_assert(sizeof(Rows) <= kCapacity && alignof(Rows) <= alignof(std::max_align_t) && std::is_trivially_copyable_v<Rows>,
                      "a MatVecJob holds a small lambda that captures by copy");
        ::new (static_cast<void *>(storage_)) Rows(rows);
        call_ = [](const void *fn, int64_t u0, int64_t u1) { (*static_cast<const Rows *>(fn))(u0, u1); };
    }

    int64_t units() const { return units_; }
    int64_t unit_rows() const { return unit_rows_; }
    size_t unit_bytes() const { return unit_bytes_; }
    void rows(int64_t u0, int64_t u1) const { call_(storage_, u0, u1); }
    // Output rows [r0, r1) on the calling thread, for a caller that goes on with them in the same job
    // (RWKV-7's heads, arch/rwkv7.cpp); r0 and r1 must lie on units' bounds: covers(r0, r1).
    bool covers(int64_t r0, int64_t r1) const { return r0 % unit_rows_ == 0 && r1 % unit_rows_ == 0; }
    void output_rows(int64_t r0, int64_t r1) const { rows(r0 / unit_rows_, std::min(units_, r1 / unit_rows_)); }

private:
    static constexpr size_t kCapacity = 96;
    int64_t units_ = 0, unit_rows_ = 1;
    size_t unit_bytes_ = 0;
    void (*call_)(const void *, int64_t, int64_t) = nullptr;
    alignas(std::max_align_t) unsigned char storage_[kCapacity];
};

constexpr size_t kMaxMatVecJobs = 8;

// Runs jobs[0 .. n ≤ kMaxMatVecJobs) as one job on the pool: their units, in order, are cut into pieces of about 64 KiB
// of weights, and each thread streams its own stretch of them first (ThreadPool::run_stretches). Under
// kMatVecOneThreadBytes of weights in all, they run on the calling thread alone.
void run_matvecs(const MatVecJob *jobs, size_t n, ThreadPool &pool);

} // namespace rwkvrt
