// The load pass (model/load_pass.h): what it reads, checks and hashes equals the file's stored tensors,
// whatever thread took which tensor, and its failures are clear errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/error.h"
#include "exec/thread_pool.h"
#include "formats/tensor_file.h"
#include "kernels/matrix.h"
#include "model/load_pass.h"
#include "testdata.h"

using namespace rwkvrt;

namespace {

// A file of `floats` f32 values, 0.5 each, with tensors "a" (the first half) and "b" (the second).
std::string write_floats(const std::string &name, size_t floats, const std::vector<std::pair<size_t, float>> &set = {}) {
    const std::string path = testdata::scratch_dir() + "/" + name;
    std::vector<float> v(floats, 0.5f);
    for (const auto &[i, x] : set) v[i] = x;
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char *>(v.data()), std::streamsize(v.size() * 4));
    return path;
}

void add_halves(TensorFile &file, size_t floats) {
    const uint8_t *const data = file.file().data();
    const int64_t half = int64_t(floats / 2);
    file.add(TensorView{"a", DType::F32, {half}, data, size_t(half) * 4});
    file.add(TensorView{"b", DType::F32, {half}, data + half * 4, size_t(half) * 4});
}

// Runs the pass on `file`, which must fail with `status` and a message holding every one of `needles`.
void expect_failure(TensorFile &file, rwkvrt_status status, std::initializer_list<std::string> needles) {
    ThreadPool pool(2);
    try {
        load_tensors(file, LoadPlan{}, pool);
        FAIL("no error");
    } catch (const Error &e) {
        CHECK(e.status() == status);
        const std::string what = e.what();
        for (const std::string &needle : needles) CHECK_MESSAGE(what.find(needle) != std::string::npos, what, " lacks ", needle);
    }
}

} // namespace

TEST_CASE("load pass: the fingerprint taken while reading on several threads is the one of the tensors as stored") {
    REQUIRE_TESTDATA();
    for (const char *rel : {"pth/tiny-rwkv-7v0-834K-bf16.pth", "safetensors/tiny-rwkv-6v0-3m-fp32.safetensors", "gguf/tiny-rwkv-7v0-834K-Q4_0.gguf"}) {
        CAPTURE(rel);
        const std::unique_ptr<TensorFile> mapped = open_tensor_file(testdata::path(rel), true);
        for (const bool use_mmap : {false, true}) {
            const std::unique_ptr<TensorFile> file = open_tensor_file(testdata::path(rel), use_mmap);
            ThreadPool pool(3);
            CHECK(load_tensors(*file, LoadPlan{}, pool) == fingerprint_of(*mapped));
            // Read into memory, every tensor now holds the file's bytes.
            for (const TensorView &t : file->tensors()) {
                const TensorView *stored = mapped->find(t.name);
                REQUIRE(stored);
                CHECK(std::memcmp(t.data, stored->data, t.nbytes) == 0);
            }
        }
        // Version 1's fingerprint (over the bytes themselves) is another value.
        CHECK(fingerprint_v1_of(*mapped) != fingerprint_of(*mapped));
    }
    // Tensors of many pieces each (those of the tiny models fit in one).
    const size_t floats = 3 << 20;
    std::vector<std::pair<size_t, float>> values;
    for (size_t i = 0; i < floats; i += 4099) values.emplace_back(i, float(i % 977));
    const std::string path = write_floats("many-pieces.bin", floats, values);
    TensorFile mapped(std::make_unique<MappedFile>(path, true), "test");
    add_halves(mapped, floats);
    TensorFile read(std::make_unique<MappedFile>(path, false), "test");
    add_halves(read, floats);
    ThreadPool pool(2);
    CHECK(load_tensors(read, LoadPlan{}, pool) == fingerprint_of(mapped));
    CHECK(std::memcmp(read.find("b")->data, mapped.find("b")->data, read.find("b")->nbytes) == 0);
}

TEST_CASE("load pass: a NaN is reported for the first tensor that has one, at its element") {
    const size_t floats = 2 << 20; // tensors of 4 MiB: many pieces each
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::string path = write_floats("two-nans.bin", floats, {{floats / 2 + 7, nan}, {floats / 2 - 1, -std::numeric_limits<float>::infinity()}});
    for (const bool use_mmap : {false, true}) {
        TensorFile file(std::make_unique<MappedFile>(path, use_mmap), "test");
        add_halves(file, floats);
        expect_failure(file, RWKVRT_ERR_CORRUPT, {"tensor 'a'", "element " + std::to_string(floats / 2 - 1)});
    }
}

TEST_CASE("load pass: a file cut short after it was opened is a read error naming the tensor, not a crash") {
    const size_t floats = 1 << 20;
    const std::string path = write_floats("cut-short.bin", floats);
    TensorFile file(std::make_unique<MappedFile>(path, /*use_mmap=*/false), "test");
    add_halves(file, floats);
    REQUIRE(::truncate(path.c_str(), off_t(floats * 4 / 2 + 4096)) == 0); // "b" loses most of its bytes
    expect_failure(file, RWKVRT_ERR_IO, {"tensor 'b'", "unexpected end of file"});
}

TEST_CASE("load pass: a matrix listed for the lanes layout is written in it as it is read, piece by piece") {
    const int64_t rows = 1024, cols = 320; // 1.25 MiB of f32: several pieces of whole groups
    std::vector<std::pair<size_t, float>> values;
    for (size_t i = 0; i < size_t(rows * cols); ++i) values.emplace_back(i, float(i % 1013) * 0.25f);
    const std::string path = write_floats("lanes.bin", size_t(rows * cols), values);
    TensorFile mapped(std::make_unique<MappedFile>(path, true), "test");
    mapped.add(TensorView{"w", DType::F32, {rows, cols}, mapped.file().data(), size_t(rows * cols) * 4});
    ThreadPool pool(2);
    Matrix stored;
    stored.rows = rows, stored.cols = cols, stored.data = mapped.find("w")->data;
    const Matrix want = to_lanes(stored, pool);
    for (const bool use_mmap_failed : {false, true}) { // read with pread, or bytes already in memory
        CAPTURE(use_mmap_failed);
        TensorFile file(std::make_unique<MappedFile>(path, false), "test");
        file.add(TensorView{"w", DType::F32, {rows, cols}, file.file().data(), size_t(rows * cols) * 4});
        if (use_mmap_failed) {
            ThreadPool one(1);
            load_tensors(file, LoadPlan{}, one); // now in memory: a second pass rewrites it where it lies
        }
        std::vector<Matrix> lanes(1);
        lanes[0].rows = rows, lanes[0].cols = cols, lanes[0].data = file.memory_for(file.find("w")->data);
        CHECK(load_tensors(file, LoadPlan{lanes}, pool) == fingerprint_of(mapped));
        CHECK(std::memcmp(file.find("w")->data, want.data, stored.nbytes()) == 0);
    }
}
