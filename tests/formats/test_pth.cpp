#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/tensor_file.h"
#include "testdata.h"

using namespace rwkvrt;
using namespace std::string_literals;

namespace {

void put16(std::string &s, uint32_t v) { s += char(v & 0xff), s += char(v >> 8 & 0xff); }
void put32(std::string &s, uint32_t v) { put16(s, v & 0xffff), put16(s, v >> 16); }
void put64(std::string &s, uint64_t v) { put32(s, uint32_t(v)), put32(s, uint32_t(v >> 32)); }
uint32_t get16(const std::string &s, size_t at) { return uint8_t(s[at]) | uint32_t(uint8_t(s[at + 1])) << 8; }
uint32_t get32(const std::string &s, size_t at) { return get16(s, at) | get16(s, at + 2) << 16; }

uint32_t crc32(const std::string &s) {
    uint32_t c = 0xffffffffu;
    for (char ch : s) {
        c ^= uint8_t(ch);
        for (int k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

struct ZipItem {
    std::string name, data;
    uint16_t method = 0; // 0 stored, 8 deflate (the data is left as is: only the header matters here)
};

// A ZIP archive as torch.save lays it out; with zip64 every size and offset goes through ZIP64 records.
std::string build_zip(const std::vector<ZipItem> &items, bool zip64 = false) {
    std::string out, cd;
    for (const ZipItem &e : items) {
        const uint64_t offset = out.size();
        const uint32_t crc = crc32(e.data), size = uint32_t(e.data.size());
        put32(out, 0x04034b50), put16(out, 20), put16(out, 0), put16(out, e.method), put32(out, 0), put32(out, crc);
        put32(out, size), put32(out, size), put16(out, uint32_t(e.name.size())), put16(out, 0);
        out += e.name + e.data;
        put32(cd, 0x02014b50), put16(cd, 45), put16(cd, 20), put16(cd, 0), put16(cd, e.method), put32(cd, 0);
        put32(cd, crc), put32(cd, zip64 ? 0xffffffffu : size), put32(cd, zip64 ? 0xffffffffu : size);
        put16(cd, uint32_t(e.name.size())), put16(cd, zip64 ? 28 : 0), put16(cd, 0), put16(cd, 0), put16(cd, 0);
        put32(cd, 0), put32(cd, zip64 ? 0xffffffffu : uint32_t(offset));
        cd += e.name;
        if (zip64) put16(cd, 1), put16(cd, 24), put64(cd, size), put64(cd, size), put64(cd, offset);
    }
    const uint64_t cd_offset = out.size(), n = items.size();
    out += cd;
    if (zip64) {
        const uint64_t record = out.size();
        put32(out, 0x06064b50), put64(out, 44), put16(out, 45), put16(out, 45), put32(out, 0), put32(out, 0);
        put64(out, n), put64(out, n), put64(out, cd.size()), put64(out, cd_offset);
        put32(out, 0x07064b50), put32(out, 0), put64(out, record), put32(out, 1);
    }
    put32(out, 0x06054b50), put16(out, 0), put16(out, 0);
    put16(out, zip64 ? 0xffff : uint32_t(n)), put16(out, zip64 ? 0xffff : uint32_t(n));
    put32(out, zip64 ? 0xffffffffu : uint32_t(cd.size())), put32(out, zip64 ? 0xffffffffu : uint32_t(cd_offset));
    put16(out, 0);
    return out;
}

// The entries of a well-formed (test data) archive without ZIP64 records or a comment.
std::vector<ZipItem> unzip(const std::string &zip) {
    const size_t end = zip.size() - 22;
    REQUIRE(get32(zip, end) == 0x06054b50);
    std::vector<ZipItem> items;
    size_t at = get32(zip, end + 16);
    for (uint32_t i = 0, n = get16(zip, end + 10); i < n; ++i) {
        const size_t name_len = get16(zip, at + 28), local = get32(zip, at + 42);
        const size_t data = local + 30 + get16(zip, local + 26) + get16(zip, local + 28);
        items.push_back({zip.substr(at + 46, name_len), zip.substr(data, get32(zip, at + 24))});
        at += 46 + name_len + get16(zip, at + 30) + get16(zip, at + 32);
    }
    return items;
}

std::string read_file(const std::string &path) {
    std::vector<char> bytes = testdata::read_bytes(path);
    return {bytes.begin(), bytes.end()};
}

std::string write_scratch(const std::string &name, const std::string &bytes) {
    const std::string path = testdata::scratch_dir() + "/" + name;
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return path;
}

// Opens a file and returns the status (RWKVRT_OK when it opened) and the error message.
rwkvrt_status open_status(const std::string &path, std::string *message = nullptr) {
    try {
        open_tensor_file(path, true);
    } catch (const Error &e) {
        if (message) *message = e.what();
        return e.status();
    }
    return RWKVRT_OK;
}

#define CHECK_REFUSED(path, status, word)                                                                              \
    do {                                                                                                               \
        std::string message_;                                                                                          \
        CHECK(open_status(path, &message_) == (status));                                                               \
        CHECK_MESSAGE(message_.find(word) != std::string::npos, "'" << std::string(word) << "' not in: " << message_); \
    } while (0)

// Pickle opcodes for hand-made state dicts, as torch.save (protocol 2) writes them.
struct Pickle {
    std::string bytes = "\x80\x02";

    Pickle &op(char c) { return bytes += c, *this; }
    Pickle &raw(const std::string &s) { return bytes += s, *this; }
    Pickle &str(const std::string &s) { return bytes += 'X', put32(bytes, uint32_t(s.size())), bytes += s, *this; }
    Pickle &integer(int32_t v) { return bytes += 'J', put32(bytes, uint32_t(v)), *this; }
    Pickle &global(const std::string &module, const std::string &name) {
        return raw("c" + module + "\n" + name + "\n");
    }
    Pickle &ints(const std::vector<int64_t> &v) {
        op('(');
        for (int64_t x : v) integer(int32_t(x));
        return op('t');
    }
    Pickle &ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
    Pickle &tensor(const std::string &storage_type, const std::string &key, int32_t storage_numel, int32_t offset,
                   const std::vector<int64_t> &shape, const std::vector<int64_t> &stride) {
        global("torch._utils", "_rebuild_tensor_v2").op('(');
        op('(').str("storage").global("torch", storage_type).str(key).str("cpu").integer(storage_numel).op('t').op('Q');
        return integer(offset).ints(shape).ints(stride).op('\x89').ordered_dict().op('t').op('R');
    }
};

std::string floats(const std::vector<float> &v) { return {reinterpret_cast<const char *>(v.data()), v.size() * 4}; }

// A .pth holding the given pickle and storage blobs (key -> bytes) under the folder "archive".
std::string make_pth(const std::string &pickle, const std::vector<std::pair<std::string, std::string>> &blobs) {
    std::vector<ZipItem> items{{"archive/data.pkl", pickle}};
    for (const auto &[key, data] : blobs) items.push_back({"archive/data/" + key, data});
    items.push_back({"archive/version", "3\n"});
    return build_zip(items);
}

// Two tensors sharing storage "0" (10 floats 0..9): "a" (2, 3) at 0 and "b" (4) at 6.
Pickle shared_storage_pickle() {
    Pickle p;
    p.op('}').op('(');
    p.str("a").tensor("FloatStorage", "0", 10, 0, {2, 3}, {3, 1});
    p.str("b").tensor("FloatStorage", "0", 10, 6, {4}, {1});
    return p.op('u').op('.');
}
const std::string ten_floats = floats({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

struct ModelInfo {
    const char *path; // without -bf16/-fp32.pth
    size_t tensors;
    int64_t channels;
    const char *tensor; // a version-specific tensor and its shape
    std::vector<int64_t> shape;
};

const std::vector<ModelInfo> models = {
    {"pth/tiny-rwkv-4v0-660K", 78, 128, "blocks.0.att.time_mix_k", {1, 1, 128}},
    {"pth/tiny-rwkv-5v1-730K", 246, 64, "blocks.0.att.time_decay", {8}},
    {"pth/tiny-rwkv-5v2-730K", 270, 64, "blocks.0.att.time_faaaa", {8, 8}},
    {"pth/tiny-rwkv-6v0-3m", 342, 128, "blocks.0.att.time_maa_w2", {5, 32, 128}},
    {"pth/tiny-rwkv-7v0-834K", 399, 64, "blocks.0.att.r_k", {1, 64}},
    {"random/random-rwkv6-h4", 90, 256, "blocks.0.att.time_faaaa", {4, 64}},
    {"random/random-rwkv7-h4", 102, 256, "blocks.0.att.r_k", {4, 64}},
};

} // namespace

TEST_CASE("pth: every test model opens with the expected tensors, in place") {
    REQUIRE_TESTDATA();
    for (const ModelInfo &m : models) {
        for (const char *kind : {"-bf16.pth", "-fp32.pth"}) {
            for (bool use_mmap : {true, false}) {
                const std::string path = testdata::path(std::string(m.path) + kind);
                INFO(path << (use_mmap ? " (mmap)" : " (read)"));
                auto file = open_tensor_file(path, use_mmap);
                CHECK(file->format() == "pth");
                CHECK(file->file().mapped() == use_mmap);
                CHECK(file->tensors().size() == m.tensors);
                const DType dtype = kind[1] == 'b' ? DType::BF16 : DType::F32;
                const uint8_t *begin = file->file().data(), *end = begin + file->file().size();
                for (const TensorView &t : file->tensors()) {
                    CHECK(t.dtype == dtype);
                    CHECK((t.data >= begin && t.data + t.nbytes <= end)); // no copy
                }
                const TensorView *emb = file->find("emb.weight");
                REQUIRE(emb);
                CHECK(emb->shape == std::vector<int64_t>{256, m.channels});
                REQUIRE(file->find("head.weight"));
                CHECK(file->find("head.weight")->shape == std::vector<int64_t>{256, m.channels});
                REQUIRE(file->find(m.tensor));
                CHECK(file->find(m.tensor)->shape == m.shape);
            }
        }
    }
}

TEST_CASE("pth: bf16 files hold the fp32 weights rounded to bf16") {
    REQUIRE_TESTDATA();
    for (const ModelInfo &m : models) {
        auto bf16 = open_tensor_file(testdata::path(std::string(m.path) + "-bf16.pth"), true);
        auto fp32 = open_tensor_file(testdata::path(std::string(m.path) + "-fp32.pth"), true);
        REQUIRE(bf16->tensors().size() == fp32->tensors().size());
        std::string worst;
        for (const TensorView &b : bf16->tensors()) {
            const TensorView *f = fp32->find(b.name);
            REQUIRE(f);
            REQUIRE(f->shape == b.shape);
            for (int64_t i = 0; i < b.numel() && worst.empty(); ++i) {
                uint16_t got;
                float want;
                std::memcpy(&got, b.data + 2 * i, 2);
                std::memcpy(&want, f->data + 4 * i, 4);
                if (std::abs(int(got) - int(f32_to_bf16(want))) > 1) worst = b.name + "[" + std::to_string(i) + "]";
            }
        }
        CHECK_MESSAGE(worst.empty(), std::string(m.path) << ": more than 1 bf16 ulp apart at " << worst);
    }
}

TEST_CASE("pth: hand-made state dicts") {
    SUBCASE("tensors sharing one storage at different offsets") {
        auto file = open_tensor_file(
            write_scratch("shared.pth", make_pth(shared_storage_pickle().bytes, {{"0", ten_floats}})), false);
        REQUIRE(file->tensors().size() == 2);
        const TensorView *a = file->find("a"), *b = file->find("b");
        REQUIRE((a && b));
        CHECK(a->shape == std::vector<int64_t>{2, 3});
        CHECK(b->shape == std::vector<int64_t>{4});
        CHECK(a->nbytes == 24);
        CHECK(b->nbytes == 16);
        float values[4];
        std::memcpy(values, b->data, 16);
        CHECK(values[0] == 6.0f);
        CHECK(values[3] == 9.0f);
        CHECK(b->data == a->data + 24);
    }
    SUBCASE("state_dict() form: OrderedDict with _metadata, parameters, size-1 dimension strides, protocol 4") {
        Pickle p;
        p.bytes = "\x80\x04\x95";
        put64(p.bytes, 0); // FRAME length: ignored
        p.raw("\x8c\x0b"s + "collections\x94\x8c\x0b" + "OrderedDict\x94\x93\x94").op(')').op('R').op('\x94').op('(');
        p.raw("\x8c\x01x"); // SHORT_BINUNICODE "x"
        p.global("torch._utils", "_rebuild_parameter");
        p.tensor("BFloat16Storage", "1", 4, 0, {1, 1, 4}, {7, 9, 1}).op('\x88').ordered_dict().op('\x87').op('R');
        p.raw("q\x10"); // BINPUT 16
        // A scalar at offset 1, then "z": the tensor of "x" again (BINGET 16).
        p.str("y").tensor("HalfStorage", "2", 3, 1, {}, {});
        p.str("z").raw("h\x10");
        p.op('u');
        p.op('}').str("_metadata").ordered_dict().op('(').str("").op('}').str("version").op('K').op('\x01').op('s');
        p.op('u').op('s').op('b').op('.');
        const std::string bf16(8, '\x3f'), f16 = "\x00\x3c\x00\x40\x00\x42"s;
        auto file = open_tensor_file(write_scratch("metadata.pth", make_pth(p.bytes, {{"1", bf16}, {"2", f16}})), true);
        REQUIRE(file->tensors().size() == 3);
        CHECK(file->find("x")->dtype == DType::BF16);
        CHECK(file->find("x")->shape == std::vector<int64_t>{1, 1, 4});
        const TensorView *y = file->find("y");
        CHECK(y->dtype == DType::F16);
        CHECK(y->shape.empty());
        uint16_t h;
        std::memcpy(&h, y->data, 2);
        CHECK(f16_to_f32(h) == 2.0f);
        CHECK(file->find("z")->data == file->find("x")->data);
    }
    SUBCASE("ZIP64 records and extra fields") {
        REQUIRE_TESTDATA();
        const std::string path = testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth");
        auto original = open_tensor_file(path, true);
        auto repacked = open_tensor_file(write_scratch("zip64.pth", build_zip(unzip(read_file(path)), true)), true);
        REQUIRE(repacked->tensors().size() == original->tensors().size());
        for (const TensorView &t : original->tensors()) {
            const TensorView *r = repacked->find(t.name);
            REQUIRE(r);
            CHECK(r->shape == t.shape);
            CHECK(std::memcmp(r->data, t.data, t.nbytes) == 0);
        }
    }
}

TEST_CASE("pth: the pickle may name only the known globals and opcodes") {
    SUBCASE("os.system") {
        Pickle p;
        p.global("os", "system").str("touch pwned").op('\x85').op('R').op('.');
        CHECK_REFUSED(write_scratch("os.pth", make_pth(p.bytes, {})), RWKVRT_ERR_UNSUPPORTED, "'os.system'");
    }
    SUBCASE("builtins.eval via STACK_GLOBAL") {
        Pickle p;
        p.raw("\x8c\x08"s + "builtins\x8c\x04" + "eval\x93").op('.');
        CHECK_REFUSED(write_scratch("eval.pth", make_pth(p.bytes, {})), RWKVRT_ERR_UNSUPPORTED, "'builtins.eval'");
    }
    SUBCASE("a torch function outside the list") {
        Pickle p;
        p.global("torch", "load").op('.');
        CHECK_REFUSED(write_scratch("torchload.pth", make_pth(p.bytes, {})), RWKVRT_ERR_UNSUPPORTED, "'torch.load'");
    }
    SUBCASE("a storage type called as a function") {
        Pickle p;
        p.global("torch", "FloatStorage").op(')').op('R').op('.');
        CHECK_REFUSED(write_scratch("callstorage.pth", make_pth(p.bytes, {})), RWKVRT_ERR_FORMAT, "not callable");
    }
    SUBCASE("an opcode outside the set: INST") {
        Pickle p;
        p.op('}').raw("ios\nsystem\n").op('.');
        CHECK_REFUSED(write_scratch("inst.pth", make_pth(p.bytes, {})), RWKVRT_ERR_FORMAT, "opcode 0x69");
        CHECK_REFUSED(write_scratch("inst.pth", make_pth(p.bytes, {})), RWKVRT_ERR_FORMAT, "offset 3");
    }
}

TEST_CASE("pth: hostile pickles fail cleanly") {
    struct Case {
        const char *what;
        std::string pickle;
        const char *word;
    };
    std::string huge_string = "\x80\x02X";
    put32(huge_string, 0xfffffff0u);
    const std::vector<Case> cases = {
        {"TUPLE without MARK", "\x80\x02t."s, "no MARK"},
        {"REDUCE on an empty stack", "\x80\x02R."s, "underflow"},
        {"pop below the MARK", "\x80\x02}(s."s, "underflow"},
        {"STOP on an empty stack", "\x80\x02."s, "underflow"},
        {"memo index never stored", "\x80\x02h\x05."s, "memo index 5 "},
        {"LONG_BINGET far out", "\x80\x02j\xff\xff\xff\xff."s, "memo index 4294967295"},
        {"string past the end", huge_string, "runs past the end"},
        {"no STOP", "\x80\x02}"s, "truncated"},
        {"GLOBAL without newline", "\x80\x02"s + "ccollections", "newline"},
        {"LONG1 too wide", "\x80\x02\x8a\x09"s + "123456789.", "64 bits"},
        {"protocol 6", "\x80\x06}."s, "protocol 6"},
        {"SETITEM on a list", "\x80\x02]K\x01K\x02s."s, "expected a dict"},
        {"BUILD on a list", "\x80\x02]}b."s, "BUILD of a list"},
        {"not a dict", "\x80\x02]."s, "not a state dict"},
        {"list inside itself", "\x80\x02]q\x00h\x00"s + "a.", "not a state dict"},
        {"key not a string", "\x80\x02}K\x01K\x02s."s, "not a name"},
        {"value not a tensor", "\x80\x02}X\x01\x00\x00\x00"s + "aK\x02s.", "'a' is a Python int"},
    };
    SUBCASE("malformed opcode streams") {
        for (const Case &c : cases) {
            INFO(std::string(c.what));
            const std::string what = c.what;
            const rwkvrt_status want =
                what == "protocol 6" || what == "BUILD on a list" ? RWKVRT_ERR_UNSUPPORTED : RWKVRT_ERR_FORMAT;
            CHECK_REFUSED(write_scratch("hostile.pth", make_pth(c.pickle, {})), want, c.word);
        }
    }
    SUBCASE("deep nesting does not recurse") {
        std::string p = "\x80\x02";
        for (int i = 0; i < 200000; ++i) p += "(";
        for (int i = 0; i < 200000; ++i) p += "t";
        p += ".";
        CHECK_REFUSED(write_scratch("deep.pth", make_pth(p, {})), RWKVRT_ERR_FORMAT, "not a state dict");
    }
    SUBCASE("object count is bounded") {
        std::string p = "\x80\x02(" + std::string(3 << 20, ')');
        CHECK_REFUSED(write_scratch("many.pth", make_pth(p, {})), RWKVRT_ERR_FORMAT, "objects");
    }
}

TEST_CASE("pth: tensors are checked against their storage") {
    auto refused = [](const char *file, const Pickle &p, const std::vector<std::pair<std::string, std::string>> &blobs,
                      rwkvrt_status status, const char *word) {
        INFO(std::string(file));
        CHECK_REFUSED(write_scratch(file, make_pth(p.bytes, blobs)), status, word);
    };
    auto one = [](const char *type, int32_t numel, int32_t offset, std::vector<int64_t> shape,
                  std::vector<int64_t> stride) {
        Pickle p;
        p.op('}').str("w").tensor(type, "0", numel, offset, shape, stride).op('s').op('.');
        return p;
    };
    refused("stride.pth", one("FloatStorage", 10, 0, {2, 3}, {1, 2}), {{"0", ten_floats}}, RWKVRT_ERR_UNSUPPORTED,
            "'w' (2, 3) is not contiguous");
    refused("double.pth", one("DoubleStorage", 5, 0, {5}, {1}), {{"0", ten_floats}}, RWKVRT_ERR_UNSUPPORTED,
            "'w' is stored as torch.DoubleStorage");
    refused("offset.pth", one("FloatStorage", 10, 8, {4}, {1}), {{"0", ten_floats}}, RWKVRT_ERR_FORMAT,
            "'w' (4 elements at offset 8) lies outside");
    refused("negoffset.pth", one("FloatStorage", 10, -1, {4}, {1}), {{"0", ten_floats}}, RWKVRT_ERR_FORMAT, "outside");
    refused("negdim.pth", one("FloatStorage", 10, 0, {-2, 3}, {3, 1}), {{"0", ten_floats}}, RWKVRT_ERR_FORMAT,
            "impossible shape");
    refused("numel.pth", one("FloatStorage", 11, 0, {4}, {1}), {{"0", ten_floats}}, RWKVRT_ERR_FORMAT,
            "declares 11 elements");
    refused("nostorage.pth", one("FloatStorage", 10, 0, {4}, {1}), {{"1", ten_floats}}, RWKVRT_ERR_FORMAT,
            "no entry 'archive/data/0'");
    Pickle strided = one("FloatStorage", 10, 0, {2, 3}, {3});
    refused("rank.pth", strided, {{"0", ten_floats}}, RWKVRT_ERR_FORMAT, "_rebuild_tensor_v2 expects");

    Pickle converted;
    converted.op('}').op('(').str("_strategy").str("cuda fp16").str("_version").str("0.7").op('u').op('.');
    refused("converted.pth", converted, {}, RWKVRT_ERR_UNSUPPORTED, "pre-converted ChatRWKV");
    Pickle version_only;
    version_only.op('}').str("_version").str("0.7").op('s').op('.');
    refused("version.pth", version_only, {}, RWKVRT_ERR_FORMAT, "'_version' is a Python str, not a tensor");
    Pickle twice;
    twice.op('}').op('(').str("w").tensor("FloatStorage", "0", 10, 0, {4}, {1});
    twice.str("w").tensor("FloatStorage", "0", 10, 4, {4}, {1}).op('u').op('.');
    refused("twice.pth", twice, {{"0", ten_floats}}, RWKVRT_ERR_FORMAT, "'w' appears twice");
}

TEST_CASE("pth: archive-level problems") {
    const std::string pickle = shared_storage_pickle().bytes;
    SUBCASE("empty file") {
        CHECK_REFUSED(write_scratch("empty.pth", ""), RWKVRT_ERR_FORMAT, "empty");
        std::string message;
        try {
            read_pth(std::make_unique<MappedFile>(write_scratch("empty.pth", ""), true));
        } catch (const Error &e) {
            message = e.what();
            CHECK(e.status() == RWKVRT_ERR_FORMAT);
        }
        CHECK(message.find("too short") != std::string::npos);
    }
    SUBCASE("compressed entry") {
        const std::string zip = build_zip({{"archive/data.pkl", pickle}, {"archive/data/0", ten_floats, 8}});
        CHECK_REFUSED(write_scratch("deflate.pth", zip), RWKVRT_ERR_UNSUPPORTED, "'archive/data/0' is compressed");
    }
    SUBCASE("damaged pickle") {
        std::string zip = make_pth(pickle, {{"0", ten_floats}});
        zip[30 + 16 + 5] ^= 1; // inside data.pkl, after its local header and name
        CHECK_REFUSED(write_scratch("crc.pth", zip), RWKVRT_ERR_CORRUPT, "CRC");
    }
    SUBCASE("no data.pkl, or two") {
        CHECK_REFUSED(write_scratch("nopkl.pth", build_zip({{"archive/data/0", ten_floats}})), RWKVRT_ERR_FORMAT,
                      "data.pkl");
        CHECK_REFUSED(write_scratch("twopkl.pth", build_zip({{"a/data.pkl", pickle}, {"b/data.pkl", pickle}})),
                      RWKVRT_ERR_FORMAT, "both");
    }
    SUBCASE("duplicate entry") {
        const std::string zip =
            build_zip({{"archive/data.pkl", pickle}, {"archive/data/0", ten_floats}, {"archive/data/0", ten_floats}});
        CHECK_REFUSED(write_scratch("dup.pth", zip), RWKVRT_ERR_FORMAT, "'archive/data/0' appears twice");
    }
    SUBCASE("big-endian data") {
        const std::string zip =
            build_zip({{"archive/data.pkl", pickle}, {"archive/byteorder", "big"}, {"archive/data/0", ten_floats}});
        CHECK_REFUSED(write_scratch("big.pth", zip), RWKVRT_ERR_UNSUPPORTED, "little-endian");
        const std::string little =
            build_zip({{"archive/data.pkl", pickle}, {"archive/byteorder", "little"}, {"archive/data/0", ten_floats}});
        CHECK(open_status(write_scratch("little.pth", little)) == RWKVRT_OK);
    }
}

TEST_CASE("pth: truncated copies of a real file") {
    REQUIRE_TESTDATA();
    const std::string whole = read_file(testdata::path("pth/tiny-rwkv-4v0-660K-bf16.pth"));
    const size_t end = whole.size() - 22, cd = get32(whole, end + 16);
    const std::vector<ZipItem> items = unzip(whole);
    REQUIRE(items[0].name.ends_with("/data.pkl"));
    const size_t pickle_middle = 30 + items[0].name.size() + 200, blob_middle = cd / 2;
    for (size_t cut : {size_t(4), pickle_middle, blob_middle, cd - 1, cd + 1, (cd + end) / 2, end, whole.size() - 1}) {
        CAPTURE(cut);
        CHECK_REFUSED(write_scratch("cut.pth", whole.substr(0, cut)), RWKVRT_ERR_FORMAT, "'");
    }
    // A well-formed archive around a cut pickle: the pickle reader itself must stop (before any blob is needed).
    const std::string pkl = items[0].data;
    for (size_t cut = 0; cut < pkl.size(); cut += 97) {
        CAPTURE(cut);
        CHECK_REFUSED(write_scratch("cutpkl.pth", build_zip({{items[0].name, pkl.substr(0, cut)}})), RWKVRT_ERR_FORMAT,
                      "data.pkl offset");
    }
}

TEST_CASE("pth: flipped bytes in the central directory") {
    REQUIRE_TESTDATA();
    const std::string whole = read_file(testdata::path("pth/tiny-rwkv-4v0-660K-bf16.pth"));
    // torch writes a ZIP64 end record (56 bytes) and its locator (20) before the end record in any case.
    // The first central directory entry is data.pkl.
    const size_t end = whole.size() - 22, zip64 = end - 20 - 56, cd = get32(whole, end + 16);
    struct Flip {
        size_t at;
        uint8_t mask; // xor
        rwkvrt_status status;
        const char *word;
    };
    const std::vector<Flip> flips = {
        {cd, 0xff, RWKVRT_ERR_FORMAT, "central directory entry 0"},
        {cd + 10, 8, RWKVRT_ERR_UNSUPPORTED, "data.pkl' is compressed (method 8)"},
        {cd + 16, 0x20, RWKVRT_ERR_CORRUPT, "CRC"},
        {cd + 24, 1, RWKVRT_ERR_FORMAT, "compressed size"},
        {cd + 42, 7, RWKVRT_ERR_FORMAT, "no local header at offset 7"},
        {cd + 46, 1, RWKVRT_ERR_FORMAT, "does not match"},
        {cd + 28, 0x40, RWKVRT_ERR_FORMAT, "'"},
        {end + 16, 1, RWKVRT_ERR_FORMAT, "disagree"},
        {end + 12, 1, RWKVRT_ERR_FORMAT, "disagree"},
        {end + 10, 0x10, RWKVRT_ERR_FORMAT, "disagree"},
        {end - 20 + 8, 1, RWKVRT_ERR_FORMAT, "ZIP64 end record at offset"},
        {zip64 + 48, 1, RWKVRT_ERR_FORMAT, "disagree"},
        {zip64 + 40, 1, RWKVRT_ERR_FORMAT, "disagree"},
        {zip64 + 32, 0x10, RWKVRT_ERR_FORMAT, "disagree"},
    };
    REQUIRE(get16(whole, end + 10) == 80);
    REQUIRE(get32(whole, zip64) == 0x06064b50);
    for (const Flip &f : flips) {
        CAPTURE(f.at);
        std::string bad = whole;
        bad[f.at] = char(uint8_t(bad[f.at]) ^ f.mask);
        CHECK_REFUSED(write_scratch("flip.pth", bad), f.status, f.word);
    }
}

TEST_CASE("pth: random corruption never crashes") {
    const std::string pickle = shared_storage_pickle().bytes;
    const std::string zip = make_pth(pickle, {{"0", ten_floats}});
    std::mt19937 rng(7);
    auto survives = [](const std::string &bytes, bool crc_ok) {
        const rwkvrt_status s = open_status(write_scratch("fuzz.pth", bytes));
        return s == RWKVRT_OK || s == RWKVRT_ERR_FORMAT || s == RWKVRT_ERR_UNSUPPORTED ||
               (!crc_ok && s == RWKVRT_ERR_CORRUPT);
    };
    for (size_t at = 0; at < zip.size(); ++at) {
        std::string bad = zip;
        bad[at] = char(uint8_t(bad[at]) ^ (1u << (rng() % 8)));
        CHECK_MESSAGE(survives(bad, false), "flip at " << at);
    }
    for (int i = 0; i < 500; ++i) {
        std::string bad = pickle;
        for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = char(rng());
        CHECK_MESSAGE(survives(make_pth(bad, {{"0", ten_floats}}), true), "pickle mutation " << i);
    }
}
