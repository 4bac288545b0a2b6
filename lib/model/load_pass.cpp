#include "model/load_pass.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <numeric>
#include <unordered_map>
#include <vector>
#include <xxhash.h>
#include <xxh_x86dispatch.h> // XXH3 with AVX2 or AVX-512 where the CPU has them: 3× the SSE2 build's speed

#include "core/error.h"
#include "exec/thread_pool.h"

namespace rwkvrt {

namespace {

// A piece is read, checked, hashed and written as lanes while it is in the core's L2 (1–2 MiB).
constexpr size_t kPieceBytes = size_t(256) << 10;
constexpr size_t kNone = std::numeric_limits<size_t>::max();

struct FreeXxh {
    void operator()(XXH3_state_t *s) const { XXH3_freeState(s); }
};
using XxhState = std::unique_ptr<XXH3_state_t, FreeXxh>;

XxhState new_xxh() {
    XxhState s(XXH3_createState());
    if (!s) throw std::bad_alloc();
    XXH3_64bits_reset(s.get());
    return s;
}

// A tensor's name (with its zero), type and shape.
void hash_fields(XXH3_state_t *h, const TensorView &t) {
    XXH3_64bits_update(h, t.name.data(), t.name.size() + 1);
    const uint8_t dtype = static_cast<uint8_t>(t.dtype);
    XXH3_64bits_update(h, &dtype, 1);
    for (int64_t d : t.shape) XXH3_64bits_update(h, &d, sizeof d);
}

std::vector<size_t> in_name_order(const std::vector<TensorView> &tensors) {
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors[a].name < tensors[b].name; });
    return order;
}

uint64_t combine(const std::vector<TensorView> &tensors, const std::vector<uint64_t> &digests) {
    const XxhState h = new_xxh();
    for (size_t i : in_name_order(tensors)) {
        hash_fields(h.get(), tensors[i]);
        XXH3_64bits_update(h.get(), &digests[i], sizeof digests[i]);
    }
    return XXH3_64bits_digest(h.get());
}

struct Outcome {
    uint64_t digest = 0;
    size_t nonfinite = kNone; // the first NaN or infinite element
    int read_error = 0;       // MappedFile::read_bytes's
};

class Pass {
public:
    Pass(TensorFile &file, const LoadPlan &plan, ThreadPool &pool)
        : file_(file), plan_(plan), pool_(pool), tensors_(file.tensors()), outcomes_(tensors_.size()) {
        for (const Matrix &m : plan.lanes) lanes_at_.emplace(m.data, &m);
        for (int t = 0; t < pool.size(); ++t) hashes_.push_back(new_xxh());
    }

    uint64_t run() {
        // A task per tensor, or per run of tensors whose bytes overlap (a file may store tied weights
        // once); the largest first, so that the threads finish together.
        std::vector<size_t> by_address(tensors_.size());
        std::iota(by_address.begin(), by_address.end(), size_t(0));
        std::sort(by_address.begin(), by_address.end(), [&](size_t a, size_t b) { return tensors_[a].data < tensors_[b].data; });
        std::vector<std::vector<size_t>> tasks;
        size_t run = kNone; // the task of the run the next tensor may overlap
        const uint8_t *end = nullptr;
        for (size_t i : by_address) {
            const TensorView &t = tensors_[i];
            if (t.nbytes == 0) {
                tasks.push_back({i});
                continue;
            }
            if (run == kNone || t.data >= end) {
                run = tasks.size();
                tasks.emplace_back();
                end = t.data;
            }
            tasks[run].push_back(i);
            end = std::max(end, t.data + t.nbytes);
        }
        const auto bytes = [&](const std::vector<size_t> &task) {
            size_t n = 0;
            for (size_t i : task) n += tensors_[i].nbytes;
            return n;
        };
        std::stable_sort(tasks.begin(), tasks.end(), [&](const auto &a, const auto &b) { return bytes(a) > bytes(b); });
        pool_.run(int64_t(tasks.size()), pool_.size(), [&](int64_t task, int thread) {
            const std::vector<size_t> &members = tasks[size_t(task)];
            if (members.size() == 1) one_tensor(members[0], thread);
            else shared_bytes(members);
        });
        for (size_t i = 0; i < tensors_.size(); ++i) {
            const TensorView &t = tensors_[i];
            const Outcome &o = outcomes_[i];
            if (o.read_error)
                fail(RWKVRT_ERR_IO, "cannot read '", file_.path(), "' (tensor '", t.name, "'): ", MappedFile::read_failure(o.read_error));
            // A NaN or infinite weight would turn every state it touches into NaN for good.
            if (o.nonfinite != kNone)
                fail(RWKVRT_ERR_CORRUPT, "'", file_.path(), "': tensor '", t.name, "' ", t.shape_str(),
                     " holds a NaN or infinite value (element ", o.nonfinite, "); the model is damaged or diverged in training");
        }
        file_.finish_reading();
        std::vector<uint64_t> digests;
        for (const Outcome &o : outcomes_) digests.push_back(o.digest);
        return combine(tensors_, digests);
    }

private:
    bool needed_in_memory(const TensorView &t) const { return !plan_.copied || !plan_.copied->count(t.name); }

    // Piece by piece: read (into place, or for lanes into a buffer), checked, hashed, written as lanes.
    void one_tensor(size_t i, int thread) {
        const TensorView &t = tensors_[i];
        Outcome &out = outcomes_[i];
        const MappedFile *const from = file_.file_holding(t.data);
        uint8_t *const place = file_.memory_for(t.data);
        const bool read = from && from->reading() && needed_in_memory(t);
        const auto lanes_it = lanes_at_.find(place);
        const Matrix *const lanes = lanes_it == lanes_at_.end() ? nullptr : lanes_it->second;
        if (lanes && lanes->nbytes() != t.nbytes) fail(RWKVRT_ERR_INTERNAL, "tensor '", t.name, "' and its lanes differ in size");
        const size_t block_elems = size_t(dtype_info(t.dtype).block_elems), block_bytes = dtype_bytes(t.dtype, block_elems);
        const size_t unit = lanes ? size_t(kLaneRows) * lanes->row_bytes() : block_bytes;
        const size_t piece = std::max<size_t>(1, kPieceBytes / unit) * unit;
        uint8_t *const staging = lanes ? reinterpret_cast<uint8_t *>(pool_.thread_buffer(thread, piece)) : nullptr;
        XXH3_state_t *const h = hashes_[size_t(thread)].get();
        XXH3_64bits_reset(h);
        for (size_t off = 0; off < t.nbytes; off += piece) {
            const size_t len = std::min(piece, t.nbytes - off);
            const uint8_t *bytes = t.data + off;
            if (lanes || read) {
                uint8_t *const to = lanes ? staging : place + off;
                if (from) out.read_error = from->read_bytes(bytes, len, to);
                else std::memcpy(to, bytes, len);
                if (out.read_error) return;
                bytes = to;
            }
            const size_t n = len / block_bytes * block_elems, bad = first_nonfinite(t.dtype, bytes, n);
            if (bad < n) {
                out.nonfinite = off / block_bytes * block_elems + bad;
                return;
            }
            XXH3_64bits_update(h, bytes, len);
            if (lanes) write_rows_as_lanes(*lanes, int64_t(off / lanes->row_bytes()), int64_t((off + len) / lanes->row_bytes()), staging);
        }
        out.digest = XXH3_64bits_digest(h);
    }

    // Tensors sharing bytes: the bytes they span read at once, then each checked and hashed.
    void shared_bytes(const std::vector<size_t> &members) {
        const uint8_t *begin = tensors_[members[0]].data, *end = begin;
        bool needed = false;
        for (size_t i : members) {
            end = std::max(end, tensors_[i].data + tensors_[i].nbytes);
            needed |= needed_in_memory(tensors_[i]);
        }
        const MappedFile *const from = file_.file_holding(begin);
        const bool read = from && from->reading() && needed;
        if (read) {
            if (const int error = from->read_bytes(begin, size_t(end - begin), file_.memory_for(begin))) {
                outcomes_[members[0]].read_error = error;
                return;
            }
        }
        for (size_t i : members) {
            const TensorView &t = tensors_[i];
            const uint8_t *const bytes = read ? file_.memory_for(t.data) : t.data;
            const size_t n = size_t(t.numel()), bad = first_nonfinite(t.dtype, bytes, n);
            outcomes_[i].nonfinite = bad < n ? bad : kNone;
            outcomes_[i].digest = XXH3_64bits(bytes, t.nbytes);
        }
    }

    TensorFile &file_;
    const LoadPlan &plan_;
    ThreadPool &pool_;
    const std::vector<TensorView> &tensors_;
    std::vector<Outcome> outcomes_;
    std::unordered_map<const uint8_t *, const Matrix *> lanes_at_;
    std::vector<XxhState> hashes_; // one per pool thread
};

} // namespace

uint64_t load_tensors(TensorFile &file, const LoadPlan &plan, ThreadPool &pool) { return Pass(file, plan, pool).run(); }

uint64_t fingerprint_of(const TensorFile &file) {
    std::vector<uint64_t> digests;
    for (const TensorView &t : file.tensors()) digests.push_back(XXH3_64bits(t.data, t.nbytes));
    return combine(file.tensors(), digests);
}

uint64_t fingerprint_v1_of(const TensorFile &file) {
    const XxhState h = new_xxh();
    for (size_t i : in_name_order(file.tensors())) {
        const TensorView &t = file.tensors()[i];
        hash_fields(h.get(), t);
        XXH3_64bits_update(h.get(), t.data, t.nbytes);
    }
    return XXH3_64bits_digest(h.get());
}

} // namespace rwkvrt
