#include "kernels/matvec_job.h"

#include <algorithm>
#include <stdexcept>

#include "exec/thread_pool.h"
#include "kernels/matrix.h"

namespace rwkvrt {

namespace {
constexpr size_t kPieceBytes = size_t(64) << 10;
} // namespace

void run_matvecs(const MatVecJob *jobs, size_t n, ThreadPool &pool) {
    struct Cut {
        int64_t first_piece, units_per_piece;
    } cuts[kMaxMatVecJobs + 1];
    if (n > kMaxMatVecJobs) throw std::logic_error("run_matvecs: more than kMaxMatVecJobs jobs");
    int64_t pieces = 0;
    size_t bytes = 0;
    for (size_t j = 0; j < n; ++j) {
        const int64_t per = std::max<int64_t>(1, int64_t(kPieceBytes / std::max<size_t>(1, jobs[j].unit_bytes())));
        cuts[j] = {pieces, per};
        pieces += (jobs[j].units() + per - 1) / per;
        bytes += size_t(jobs[j].units()) * jobs[j].unit_bytes();
    }
    cuts[n] = {pieces, 1};
    const int threads = bytes < kMatVecOneThreadBytes ? 1 : pool.size();
    pool.run_stretches(pieces, 1, threads, [&](int64_t p0, int64_t p1, int) {
        for (int64_t p = p0; p < p1; ++p) {
            size_t j = 0;
            while (p >= cuts[j + 1].first_piece) ++j;
            const int64_t u0 = (p - cuts[j].first_piece) * cuts[j].units_per_piece;
            jobs[j].rows(u0, std::min(jobs[j].units(), u0 + cuts[j].units_per_piece));
        }
    });
}

} // namespace rwkvrt
