#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/tensor_file.h"
#include "testdata.h"

using namespace rwkvrt;

namespace {

std::string write_scratch(const std::string &name, const std::string &bytes) {
    const std::string path = testdata::scratch_dir() + "/" + name;
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return path;
}

// The 8-byte little-endian header length, the header, the data.
std::string make_safetensors(const std::string &header, const std::string &data, uint64_t header_len) {
    std::string out;
    for (int i = 0; i < 8; ++i) out += char(header_len >> (8 * i) & 0xff);
    return out + header + data;
}
std::string make_safetensors(const std::string &header, const std::string &data) {
    return make_safetensors(header, data, header.size());
}

// Reads a file with the safetensors reader (whatever its first bytes) and returns the status and message.
rwkvrt_status read_status(const std::string &path, std::string *message) {
    try {
        read_safetensors(std::make_unique<MappedFile>(path, true));
    } catch (const Error &e) {
        *message = e.what();
        return e.status();
    }
    return RWKVRT_OK;
}

#define CHECK_REFUSED(path, status, word)                                                                              \
    do {                                                                                                               \
        std::string message_;                                                                                          \
        CHECK(read_status(path, &message_) == (status));                                                               \
        CHECK_MESSAGE(message_.find(word) != std::string::npos, "'" << std::string(word) << "' not in: " << message_); \
    } while (0)

const char *const model_stems[] = {"tiny-rwkv-4v0-660K", "tiny-rwkv-5v1-730K", "tiny-rwkv-5v2-730K", "tiny-rwkv-6v0-3m",
                                   "tiny-rwkv-7v0-834K"};

} // namespace

TEST_CASE("safetensors: every test model opens, in file order and in place") {
    REQUIRE_TESTDATA();
    for (const char *stem : model_stems) {
        for (const char *kind : {"-bf16", "-fp32"}) {
            const std::string path = testdata::path(std::string("safetensors/") + stem + kind + ".safetensors");
            INFO(path);
            auto file = open_tensor_file(path, true);
            CHECK(file->format() == "safetensors");
            REQUIRE(!file->tensors().empty());
            CHECK(file->tensors().front().name == "emb.weight");
            CHECK(file->tensors().back().name == "head.weight");
            const uint8_t *begin = file->file().data(), *end = begin + file->file().size();
            const uint8_t *previous = begin;
            for (const TensorView &t : file->tensors()) {
                CHECK(t.dtype == (kind[1] == 'b' ? DType::BF16 : DType::F32));
                CHECK((t.data >= previous && t.data + t.nbytes <= end));
                previous = t.data + t.nbytes;
            }
        }
    }
    auto v7 = open_tensor_file(testdata::path("safetensors/tiny-rwkv-7v0-834K-bf16.safetensors"), false);
    REQUIRE(v7->find("blocks.0.att.r_k"));
    CHECK(v7->find("blocks.0.att.r_k")->shape == std::vector<int64_t>{1, 64});
    CHECK(v7->find("emb.weight")->shape == std::vector<int64_t>{256, 64});
    CHECK(v7->find("__metadata__") == nullptr);
}

TEST_CASE("safetensors and .pth of the same model agree byte for byte") {
    REQUIRE_TESTDATA();
    for (const char *stem : model_stems) {
        for (const char *kind : {"-bf16", "-fp32"}) {
            INFO((std::string(stem) + kind));
            auto pth = open_tensor_file(testdata::path(std::string("pth/") + stem + kind + ".pth"), true);
            auto st =
                open_tensor_file(testdata::path(std::string("safetensors/") + stem + kind + ".safetensors"), true);
            REQUIRE(pth->tensors().size() == st->tensors().size());
            for (const TensorView &t : pth->tensors()) {
                const TensorView *s = st->find(t.name);
                REQUIRE_MESSAGE(s, t.name << " missing");
                CHECK(s->dtype == t.dtype);
                CHECK(s->shape == t.shape);
                REQUIRE(s->nbytes == t.nbytes);
                CHECK_MESSAGE(std::memcmp(s->data, t.data, t.nbytes) == 0, t.name);
            }
        }
    }
}

TEST_CASE("safetensors: hand-made files") {
    const std::string data(24, '\0');
    auto st = [&](const std::string &name, const std::string &header) {
        return write_scratch(name, make_safetensors(header, data));
    };
    SUBCASE("a good one, with an empty tensor and a scalar") {
        auto file = open_tensor_file(
            st("good.safetensors",
               R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2,3],"data_offsets":[8,20]},)"
               R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"BF16","shape":[0,5],"data_offsets":[20,20]}})"),
            true);
        REQUIRE(file->tensors().size() == 3);
        CHECK(file->tensors()[0].name == "b");
        CHECK(file->find("b")->dtype == DType::F16);
        CHECK(file->find("a")->shape.empty());
        CHECK(file->find("e")->nbytes == 0);
        CHECK(file->find("b")->data == file->file().data() + file->file().size() - 24 + 8);
    }
    SUBCASE("empty file") { CHECK_REFUSED(write_scratch("empty.safetensors", ""), RWKVRT_ERR_FORMAT, "too short"); }
    SUBCASE("header length beyond the file") {
        const std::string path = write_scratch("long.safetensors", make_safetensors("{}", "", 1000));
        CHECK_REFUSED(path, RWKVRT_ERR_FORMAT, "header length 1000 exceeds the file");
        try {
            open_tensor_file(path, true); // detected as safetensors from its '{'
            FAIL("opened");
        } catch (const Error &e) {
            CHECK(e.status() == RWKVRT_ERR_FORMAT);
        }
    }
    SUBCASE("header length beyond any model (sparse file)") {
        const uint64_t len = 100'000'001;
        const std::string path = write_scratch("huge.safetensors", make_safetensors("{", "", len));
        std::filesystem::resize_file(path, 8 + len);
        CHECK_REFUSED(path, RWKVRT_ERR_FORMAT, "beyond");
        std::filesystem::remove(path);
    }
    SUBCASE("bad JSON") {
        CHECK_REFUSED(st("json.safetensors", R"({"a": {"dtype": "F32", )"), RWKVRT_ERR_FORMAT, "not valid JSON");
        CHECK_REFUSED(st("array.safetensors", "[1, 2]"), RWKVRT_ERR_FORMAT, "not a JSON object");
        CHECK_REFUSED(st("entry.safetensors", R"({"a": 5})"), RWKVRT_ERR_FORMAT, "'a' lacks");
        CHECK_REFUSED(st("nooffsets.safetensors", R"({"a": {"dtype": "F32", "shape": [1]}})"), RWKVRT_ERR_FORMAT,
                      "'a' lacks");
        CHECK_REFUSED(st("dtypeint.safetensors", R"({"a": {"dtype": 1, "shape": [1], "data_offsets": [0, 4]}})"),
                      RWKVRT_ERR_FORMAT, "'a' lacks");
    }
    SUBCASE("offsets and shapes") {
        struct Case {
            const char *entry;
            rwkvrt_status status;
            const char *word;
        };
        const Case cases[] = {
            {R"("dtype":"F32","shape":[2],"data_offsets":[0,1000])", RWKVRT_ERR_FORMAT, "within the 24 bytes of data"},
            {R"("dtype":"F32","shape":[2],"data_offsets":[8,0])", RWKVRT_ERR_FORMAT, "[8,0]"},
            {R"("dtype":"F32","shape":[2],"data_offsets":[0])", RWKVRT_ERR_FORMAT, "data_offsets [0]"},
            {R"("dtype":"F32","shape":[2],"data_offsets":[-4,4])", RWKVRT_ERR_FORMAT, "data_offsets"},
            {R"("dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615])", RWKVRT_ERR_FORMAT, "data_offsets"},
            {R"("dtype":"F32","shape":[3],"data_offsets":[0,8])", RWKVRT_ERR_FORMAT, "needs 3 elements"},
            {R"("dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0])", RWKVRT_ERR_FORMAT, "needs"},
            {R"("dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0])", RWKVRT_ERR_FORMAT,
             "impossible shape"},
            {R"("dtype":"F32","shape":[-1],"data_offsets":[0,4])", RWKVRT_ERR_FORMAT, "not a list of sizes"},
            {R"("dtype":"F32","shape":[1.0],"data_offsets":[0,4])", RWKVRT_ERR_FORMAT, "not a list of sizes"},
            {R"("dtype":"F32","shape":2,"data_offsets":[0,8])", RWKVRT_ERR_FORMAT, "not a list of sizes"},
            {R"("dtype":"I64","shape":[1],"data_offsets":[0,8])", RWKVRT_ERR_UNSUPPORTED, "'w' has dtype I64"},
            {R"("dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1])", RWKVRT_ERR_UNSUPPORTED, "F8_E4M3"},
        };
        for (const Case &c : cases) {
            INFO(std::string(c.entry));
            CHECK_REFUSED(st("offsets.safetensors", std::string(R"({"w":{)") + c.entry + "}}"), c.status, c.word);
        }
        CHECK_REFUSED(
            st("twice.safetensors",
               R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
            RWKVRT_ERR_FORMAT, "names 'w' twice");
    }
    SUBCASE("overlapping tensors") {
        CHECK_REFUSED(st("overlap.safetensors", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                                                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})"),
                      RWKVRT_ERR_FORMAT, "'a' and 'b' overlap");
        CHECK_REFUSED(st("same.safetensors", R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
                                             R"("a":{"dtype":"F16","shape":[4],"data_offsets":[4,12]}})"),
                      RWKVRT_ERR_FORMAT, "overlap");
        CHECK_REFUSED(st("inside.safetensors", R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},)"
                                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}})"),
                      RWKVRT_ERR_FORMAT, "overlap");
        // Adjacent tensors, and empty ones anywhere, share no byte.
        std::string adjacent_message;
        CHECK(read_status(st("adjacent.safetensors", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                                                     R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})"),
                          &adjacent_message) == RWKVRT_OK);
    }
    SUBCASE("deep nesting is refused as it is read, not after building it in memory") {
        // The probe's file: 20 MB of nested arrays took 775 MB of memory before it was refused (today's
        // size bound alone would refuse 20 MB, so 14 MB here).
        const size_t depth = 7'000'000;
        const std::string nested = R"({"__metadata__":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
        CHECK_REFUSED(write_scratch("nested.safetensors", make_safetensors(nested, "")), RWKVRT_ERR_FORMAT, "nests deeper");
        CHECK_REFUSED(st("nested5.safetensors", R"({"__metadata__":{"a":{"b":{"c":{"d":1}}}}})"), RWKVRT_ERR_FORMAT,
                      "nests deeper");
        // A header of 16 MB or more is refused before it is parsed.
        const std::string wide = "{" + std::string(16'000'000, ' ') + "}";
        CHECK_REFUSED(write_scratch("wide.safetensors", make_safetensors(wide, "")), RWKVRT_ERR_FORMAT, "beyond");
    }
}

TEST_CASE("safetensors: random corruption never crashes") {
    const std::string header =
        R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
        R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[16,24]}})";
    const std::string good = make_safetensors(header, std::string(24, '\x01'));
    std::mt19937 rng(11);
    for (int i = 0; i < 500; ++i) {
        std::string bad = good;
        for (int k = 0; k < 2; ++k) bad[rng() % bad.size()] = char(rng());
        std::string message;
        const rwkvrt_status s = read_status(write_scratch("fuzz.safetensors", bad), &message);
        CHECK_MESSAGE((s == RWKVRT_OK || s == RWKVRT_ERR_FORMAT || s == RWKVRT_ERR_UNSUPPORTED), message);
    }
}
