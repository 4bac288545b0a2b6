// PyTorch .pth (torch.save "zipfile" serialization): a ZIP archive of stored entries holding
// <prefix>/data.pkl, a pickle describing the state dict, and <prefix>/data/<key>, one raw blob per
// storage. A .pth is untrusted input and a pickle is a program, so the pickle is interpreted by a small
// stack machine that knows only the opcodes and GLOBALs a state dict needs and never runs anything.
#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cstring>
#include <deque>
#include <unordered_map>

#include "core/error.h"
#include "formats/tensor_file.h"

namespace rwkvrt {
namespace {

static_assert(std::endian::native == std::endian::little, "tensor data is used in place: little-endian hosts only");

uint16_t le16(const uint8_t *p) { return uint16_t(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t *p) { return uint32_t(le16(p)) | uint32_t(le16(p + 2)) << 16; }
uint64_t le64(const uint8_t *p) { return uint64_t(le32(p)) | uint64_t(le32(p + 4)) << 32; }

uint32_t crc32(const uint8_t *data, size_t n) {
    static const auto table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; ++i) c = table[(c ^ data[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

// ---------------------------------------------------------------------------------------------
// ZIP: only what torch.save writes (stored entries, optional ZIP64 records), every offset checked.

struct ZipEntry {
    const uint8_t *data; // into the file: the blob is used in place
    uint64_t size;
    uint32_t crc;
};

constexpr uint32_t kLocalHeaderSig = 0x04034b50, kCentralHeaderSig = 0x02014b50, kEndSig = 0x06054b50,
                   kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr size_t kLocalHeaderSize = 30, kCentralHeaderSize = 46, kEndSize = 22, kZip64EndSize = 56,
                 kZip64LocatorSize = 20;

// Where the central directory lies, from the end record (or its ZIP64 twin).
struct CentralDirectory {
    uint64_t offset, size, entries;
};

CentralDirectory find_central_directory(const MappedFile &file) {
    const uint8_t *p = file.data();
    const size_t n = file.size();
    if (n < kEndSize) fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': too short for a ZIP archive (", n, " bytes)");
    // The end record sits before a comment of at most 64 KiB; its length field must reach the end exactly.
    size_t end = n - kEndSize;
    const size_t lowest = n - kEndSize > 0xffff ? n - kEndSize - 0xffff : 0;
    while (!(le32(p + end) == kEndSig && end + kEndSize + le16(p + end + 20) == n)) {
        if (end == lowest)
            fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': no ZIP end-of-central-directory record (truncated file?)");
        --end;
    }
    CentralDirectory cd{le32(p + end + 16), le32(p + end + 12), le16(p + end + 10)};
    size_t directory_end = end;
    if (end >= kZip64LocatorSize && le32(p + end - kZip64LocatorSize) == kZip64LocatorSig) {
        const uint64_t record = le64(p + end - kZip64LocatorSize + 8);
        if (record > end - kZip64LocatorSize || end - kZip64LocatorSize - record < kZip64EndSize ||
            le32(p + record) != kZip64EndSig)
            fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': ZIP64 end record at offset ", record,
                 " is missing or damaged");
        const CentralDirectory zip64{le64(p + record + 48), le64(p + record + 40), le64(p + record + 32)};
        // torch writes both records; a 32-bit field not saturated to all ones must agree with its ZIP64 twin.
        if ((cd.offset != 0xffffffffu && cd.offset != zip64.offset) ||
            (cd.size != 0xffffffffu && cd.size != zip64.size) || (cd.entries != 0xffff && cd.entries != zip64.entries))
            fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': ZIP end record and ZIP64 end record disagree");
        cd = zip64;
        directory_end = size_t(record);
    } else if (cd.offset == 0xffffffffu || cd.size == 0xffffffffu || cd.entries == 0xffff) {
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': ZIP end record defers to a ZIP64 record that is missing");
    }
    if (cd.offset > directory_end || cd.size != directory_end - cd.offset)
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': ZIP central directory (offset ", cd.offset, ", ", cd.size,
             " bytes) does not end where the end record starts (offset ", directory_end, ")");
    return cd;
}

// Replaces the 32-bit fields saturated at 0xffffffff by their values in the ZIP64 extra field (id 1),
// which lists only those, in this order.
void apply_zip64_extra(const MappedFile &file, const std::string &name, const uint8_t *extra, size_t extra_size,
                       uint64_t *uncompressed, uint64_t *compressed, uint64_t *local_offset) {
    for (size_t at = 0; at + 4 <= extra_size;) {
        const uint16_t id = le16(extra + at), len = le16(extra + at + 2);
        if (len > extra_size - at - 4)
            fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': ZIP entry '", name,
                 "' has an extra field running past its end");
        if (id == 1) {
            size_t used = 0;
            for (uint64_t *field : {uncompressed, compressed, local_offset}) {
                if (*field != 0xffffffffu) continue;
                if (used + 8 > len)
                    fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': ZIP entry '", name, "' has a short ZIP64 field");
                *field = le64(extra + at + 4 + used);
                used += 8;
            }
            return;
        }
        at += 4 + size_t(len);
    }
    if (*uncompressed == 0xffffffffu || *compressed == 0xffffffffu || *local_offset == 0xffffffffu)
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': ZIP entry '", name, "' lacks its ZIP64 extra field");
}

std::unordered_map<std::string, ZipEntry> read_zip(const MappedFile &file) {
    const uint8_t *p = file.data();
    const std::string &path = file.path();
    const CentralDirectory cd = find_central_directory(file);
    std::unordered_map<std::string, ZipEntry> entries;
    size_t at = size_t(cd.offset);
    const size_t cd_end = size_t(cd.offset + cd.size);
    for (uint64_t i = 0; i < cd.entries; ++i) {
        if (cd_end - at < kCentralHeaderSize || le32(p + at) != kCentralHeaderSig)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': ZIP central directory entry ", i, " at offset ", at, " is damaged");
        const uint16_t flags = le16(p + at + 8), method = le16(p + at + 10);
        const uint32_t crc = le32(p + at + 16);
        uint64_t compressed = le32(p + at + 20), uncompressed = le32(p + at + 24), local = le32(p + at + 42);
        const size_t name_len = le16(p + at + 28), extra_len = le16(p + at + 30), comment_len = le16(p + at + 32);
        if (cd_end - at - kCentralHeaderSize < name_len + extra_len + comment_len)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': ZIP central directory entry ", i, " at offset ", at,
                 " runs past the directory");
        std::string name(reinterpret_cast<const char *>(p + at + kCentralHeaderSize), name_len);
        apply_zip64_extra(file, name, p + at + kCentralHeaderSize + name_len, extra_len, &uncompressed, &compressed,
                          &local);
        at += kCentralHeaderSize + name_len + extra_len + comment_len;

        if (flags & 1) fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': ZIP entry '", name, "' is encrypted");
        if (method != 0)
            fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': ZIP entry '", name, "' is compressed (method ", method,
                 "); rwkvrt reads .pth archives with stored entries only, as torch.save writes them");
        if (compressed != uncompressed)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': stored ZIP entry '", name, "' has compressed size ", compressed,
                 " != size ", uncompressed);
        // The local header repeats name and method; its own extra field (alignment padding) sets where data starts.
        if (local > cd.offset || cd.offset - local < kLocalHeaderSize || le32(p + local) != kLocalHeaderSig)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': ZIP entry '", name, "' has no local header at offset ", local);
        const size_t local_name_len = le16(p + local + 26), local_extra_len = le16(p + local + 28);
        const uint64_t data = local + kLocalHeaderSize + local_name_len + local_extra_len;
        if (data > cd.offset || cd.offset - data < uncompressed)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': ZIP entry '", name, "' (", uncompressed, " bytes at offset ", data,
                 ") runs past the end of the entry data (offset ", cd.offset, ")");
        if (local_name_len != name_len || std::memcmp(p + local + kLocalHeaderSize, name.data(), name_len) != 0 ||
            le16(p + local + 8) != method)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': ZIP local header at offset ", local, " does not match entry '", name,
                 "'");
        if (!entries.emplace(name, ZipEntry{p + data, uncompressed, crc}).second)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': ZIP entry '", name, "' appears twice");
    }
    if (at != cd_end)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': ZIP central directory holds more than its ", cd.entries, " entries");
    return entries;
}

// ---------------------------------------------------------------------------------------------
// Pickle: a stack machine over a closed set of values. Objects live in an arena owned by the machine,
// so shared and even cyclic references (memo, BINGET) need no ownership rules, and nothing recurses.

enum class Kind : uint8_t { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };

const char *kind_name(Kind k) {
    static const char *const names[] = {"None", "bool", "int",    "float",   "str",   "tuple",
                                        "list", "dict", "global", "storage", "tensor"};
    return names[int(k)];
}

// The only GLOBALs a .pth may name. Storage types are tags in persistent ids, never called.
enum class Global : uint8_t { OrderedDict, RebuildTensorV2, RebuildParameter, StorageType };

struct Object {
    Kind kind = Kind::None;
    Global global{};             // Global
    int64_t number = 0;          // Bool, Int; Storage: element count; Tensor: storage offset (elements)
    double real = 0;             // Float
    std::string text;            // String; Global: "module.name"; Storage: key of its data entry
    std::vector<Object *> items; // Tuple, List; Dict: key, value, key, value...; Storage: {type}; Tensor: {storage}
    std::vector<int64_t> shape, stride; // Tensor
};

// A state dict pickle takes ~100 bytes and ~15 objects per tensor (a few thousand tensors in the largest
// models); these bound the memory a hostile pickle can claim.
constexpr size_t kMaxPickleBytes = size_t(16) << 20;
constexpr size_t kMaxObjects = size_t(1) << 20; // also bounds the stack, the MARKs and the memo

class PickleMachine {
public:
    PickleMachine(const std::string &path, const std::string &entry, const uint8_t *data, size_t size)
        : path_(path), entry_(entry), data_(data), size_(size) {}

    const Object *run();

private:
    template <class... Parts>
    [[noreturn]] void bad(rwkvrt_status status, size_t at, Parts &&...parts) const {
        fail(status, "'", path_, "': ", entry_, " offset ", at, ": ", std::forward<Parts>(parts)...);
    }

    const uint8_t *take(size_t n) {
        if (n > size_ - pos_) bad(RWKVRT_ERR_FORMAT, op_at_, "truncated: needs ", n, " more bytes");
        pos_ += n;
        return data_ + pos_ - n;
    }
    std::string line() {
        const uint8_t *start = data_ + pos_;
        const void *nl = std::memchr(start, '\n', size_ - pos_);
        if (!nl) bad(RWKVRT_ERR_FORMAT, op_at_, "GLOBAL name without its newline");
        const size_t len = size_t(static_cast<const uint8_t *>(nl) - start);
        take(len + 1);
        return {reinterpret_cast<const char *>(start), len};
    }

    template <class Container>
    void check_room(const Container &c, const char *what) const {
        if (c.size() >= kMaxObjects) bad(RWKVRT_ERR_FORMAT, op_at_, "more than ", kMaxObjects, " ", what);
    }
    void push(Object *o) {
        check_room(stack_, "values on the stack");
        stack_.push_back(o);
    }
    Object *make(Kind kind) {
        check_room(arena_, "objects");
        Object &o = arena_.emplace_back();
        o.kind = kind;
        return &o;
    }
    Object *make_int(int64_t v, Kind kind = Kind::Int) {
        Object *o = make(kind);
        o->number = v;
        return o;
    }
    Object *make_string(uint64_t len) {
        if (len > size_ - pos_) bad(RWKVRT_ERR_FORMAT, op_at_, "string of ", len, " bytes runs past the end");
        Object *o = make(Kind::String);
        o->text.assign(reinterpret_cast<const char *>(take(size_t(len))), size_t(len));
        return o;
    }

    // Values above the innermost MARK are all an opcode may consume.
    size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    Object *top() {
        if (stack_.size() <= floor()) bad(RWKVRT_ERR_FORMAT, op_at_, "stack underflow");
        return stack_.back();
    }
    Object *pop() {
        Object *o = top();
        stack_.pop_back();
        return o;
    }
    std::vector<Object *> pop_n(size_t n) {
        if (stack_.size() - floor() < n) bad(RWKVRT_ERR_FORMAT, op_at_, "stack underflow");
        std::vector<Object *> items(stack_.end() - std::ptrdiff_t(n), stack_.end());
        stack_.resize(stack_.size() - n);
        return items;
    }
    std::vector<Object *> pop_mark() {
        if (marks_.empty()) bad(RWKVRT_ERR_FORMAT, op_at_, "no MARK to pop to");
        std::vector<Object *> items(stack_.begin() + std::ptrdiff_t(marks_.back()), stack_.end());
        stack_.resize(marks_.back());
        marks_.pop_back();
        return items;
    }
    Object *container(Kind kind) {
        Object *o = top();
        if (o->kind != kind)
            bad(RWKVRT_ERR_FORMAT, op_at_, "expected a ", kind_name(kind), " below, found a ", kind_name(o->kind));
        return o;
    }

    Object *tuple(std::vector<Object *> items) {
        Object *o = make(Kind::Tuple);
        o->items = std::move(items);
        return o;
    }
    void memo_put(uint64_t index) {
        check_room(memo_, "memo entries");
        memo_[index] = top();
    }
    Object *memo_get(uint64_t index) {
        auto it = memo_.find(index);
        if (it == memo_.end()) bad(RWKVRT_ERR_FORMAT, op_at_, "memo index ", index, " was never stored");
        return it->second;
    }

    Object *global(const std::string &module, const std::string &name);
    Object *reduce(Object *callable, Object *args);
    Object *rebuild_tensor(const std::vector<Object *> &args);
    Object *persistent_load(Object *pid);

    const std::string &path_, &entry_;
    const uint8_t *data_;
    size_t size_, pos_ = 0, op_at_ = 0;
    std::deque<Object> arena_;
    std::vector<Object *> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, Object *> memo_;
};

const Object *PickleMachine::run() {
    while (true) {
        op_at_ = pos_;
        const uint8_t op = *take(1);
        switch (op) {
        case 0x80: // PROTO
            if (uint8_t v = *take(1); v < 2 || v > 5) bad(RWKVRT_ERR_UNSUPPORTED, op_at_, "pickle protocol ", int(v));
            break;
        case 0x95: take(8); break; // FRAME: a read-ahead hint; the whole pickle is in memory
        case '}': push(make(Kind::Dict)); break;
        case ')': push(make(Kind::Tuple)); break;
        case ']': push(make(Kind::List)); break;
        case '(':
            check_room(marks_, "MARKs");
            marks_.push_back(stack_.size());
            break;
        case 't': push(tuple(pop_mark())); break;
        case 0x85: push(tuple(pop_n(1))); break;
        case 0x86: push(tuple(pop_n(2))); break;
        case 0x87: push(tuple(pop_n(3))); break;
        case 'X': push(make_string(le32(take(4)))); break;
        case 0x8c: push(make_string(*take(1))); break;
        case 0x8d: push(make_string(le64(take(8)))); break;
        case 'J': push(make_int(int32_t(le32(take(4))))); break;
        case 'K': push(make_int(*take(1))); break;
        case 'M': push(make_int(le16(take(2)))); break;
        case 0x8a: { // LONG1: little-endian two's complement of n bytes
            const uint8_t n = *take(1);
            if (n > 8) bad(RWKVRT_ERR_FORMAT, op_at_, "integer of ", int(n), " bytes does not fit 64 bits");
            const uint8_t *b = take(n);
            uint64_t v = n && (b[n - 1] & 0x80) ? ~uint64_t(0) : 0;
            for (int i = n - 1; i >= 0; --i) v = v << 8 | b[i];
            push(make_int(int64_t(v)));
            break;
        }
        case 0x88: push(make_int(1, Kind::Bool)); break;
        case 0x89: push(make_int(0, Kind::Bool)); break;
        case 'N': push(make(Kind::None)); break;
        case 'G': { // BINFLOAT: big-endian IEEE double
            const uint8_t *b = take(8);
            uint64_t bits = 0;
            for (int i = 0; i < 8; ++i) bits = bits << 8 | b[i];
            Object *o = make(Kind::Float);
            o->real = std::bit_cast<double>(bits);
            push(o);
            break;
        }
        case 'c': {
            std::string module = line();
            push(global(module, line()));
            break;
        }
        case 0x93: { // STACK_GLOBAL
            Object *name = pop(), *module = pop();
            if (module->kind != Kind::String || name->kind != Kind::String)
                bad(RWKVRT_ERR_FORMAT, op_at_, "STACK_GLOBAL needs two strings");
            push(global(module->text, name->text));
            break;
        }
        case 'R': {
            Object *args = pop();
            Object *callable = pop();
            push(reduce(callable, args));
            break;
        }
        case 'b': { // BUILD: torch's state_dict() is an OrderedDict whose `_metadata` attribute arrives this way
            Object *state = pop();
            if (top()->kind != Kind::Dict || state->kind != Kind::Dict)
                bad(RWKVRT_ERR_UNSUPPORTED, op_at_, "BUILD of a ", kind_name(top()->kind), " from a ",
                    kind_name(state->kind), " (only attributes of a dict are accepted, and ignored)");
            break;
        }
        case 'Q': push(persistent_load(pop())); break;
        case 'q': memo_put(*take(1)); break;
        case 'r': memo_put(le32(take(4))); break;
        case 0x94: memo_put(memo_.size()); break;
        case 'h': push(memo_get(*take(1))); break;
        case 'j': push(memo_get(le32(take(4)))); break;
        case 's': {
            Object *value = pop(), *key = pop();
            Object *dict = container(Kind::Dict);
            dict->items.insert(dict->items.end(), {key, value});
            break;
        }
        case 'u': {
            std::vector<Object *> pairs = pop_mark();
            if (pairs.size() % 2) bad(RWKVRT_ERR_FORMAT, op_at_, "SETITEMS with an odd number of values");
            Object *dict = container(Kind::Dict);
            dict->items.insert(dict->items.end(), pairs.begin(), pairs.end());
            break;
        }
        case 'a': {
            Object *value = pop();
            container(Kind::List)->items.push_back(value);
            break;
        }
        case 'e': {
            std::vector<Object *> values = pop_mark();
            Object *list = container(Kind::List);
            list->items.insert(list->items.end(), values.begin(), values.end());
            break;
        }
        case '.': return pop();
        default:
            bad(RWKVRT_ERR_FORMAT, op_at_, "pickle opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
                " is not one a PyTorch state dict uses");
        }
    }
}

bool is_identifier(const std::string &s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Object *PickleMachine::global(const std::string &module, const std::string &name) {
    Object *o = make(Kind::Global);
    o->text = module + "." + name;
    if (o->text == "collections.OrderedDict") {
        o->global = Global::OrderedDict;
    } else if (o->text == "torch._utils._rebuild_tensor_v2") {
        o->global = Global::RebuildTensorV2;
    } else if (o->text == "torch._utils._rebuild_parameter") {
        o->global = Global::RebuildParameter;
    } else if (module == "torch" && name.ends_with("Storage") && is_identifier(name)) {
        o->global = Global::StorageType; // any element type here; unsupported ones are refused per tensor
    } else {
        bad(RWKVRT_ERR_UNSUPPORTED, op_at_, "refusing pickle global '", o->text,
            "': a .pth may name only OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter and torch "
            "storage types (rwkvrt never runs code from a file)");
    }
    return o;
}

Object *PickleMachine::reduce(Object *callable, Object *args) {
    if (callable->kind != Kind::Global || args->kind != Kind::Tuple)
        bad(RWKVRT_ERR_FORMAT, op_at_, "REDUCE of a ", kind_name(callable->kind), " with a ", kind_name(args->kind));
    const std::vector<Object *> &a = args->items;
    switch (callable->global) {
    case Global::OrderedDict:
        if (!a.empty()) bad(RWKVRT_ERR_FORMAT, op_at_, "OrderedDict() with arguments");
        return make(Kind::Dict);
    case Global::RebuildTensorV2: return rebuild_tensor(a);
    case Global::RebuildParameter: // (tensor, requires_grad, backward_hooks)
        if (a.size() != 3 || a[0]->kind != Kind::Tensor || a[1]->kind != Kind::Bool || a[2]->kind != Kind::Dict ||
            !a[2]->items.empty())
            bad(RWKVRT_ERR_FORMAT, op_at_, "_rebuild_parameter expects (tensor, bool, empty OrderedDict)");
        return a[0];
    case Global::StorageType: break;
    }
    bad(RWKVRT_ERR_FORMAT, op_at_, "REDUCE calls '", callable->text, "', which is not callable here");
}

bool ints_of(const Object *tuple, std::vector<int64_t> *out) {
    if (tuple->kind != Kind::Tuple) return false;
    for (const Object *o : tuple->items) {
        if (o->kind != Kind::Int) return false;
        out->push_back(o->number);
    }
    return true;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).
// Only the types are checked here; bounds and layout are checked once the tensor's name is known.
Object *PickleMachine::rebuild_tensor(const std::vector<Object *> &a) {
    Object *t = make(Kind::Tensor);
    if (a.size() < 6 || a.size() > 7 || a[0]->kind != Kind::Storage || a[1]->kind != Kind::Int ||
        !ints_of(a[2], &t->shape) || !ints_of(a[3], &t->stride) || t->shape.size() != t->stride.size() ||
        a[4]->kind != Kind::Bool || a[5]->kind != Kind::Dict)
        bad(RWKVRT_ERR_FORMAT, op_at_,
            "_rebuild_tensor_v2 expects (storage, offset, size, stride, requires_grad, hooks[, metadata])");
    if (!a[5]->items.empty()) bad(RWKVRT_ERR_UNSUPPORTED, op_at_, "tensor with backward hooks");
    if (a.size() == 7 && (a[6]->kind != Kind::Dict || !a[6]->items.empty()))
        bad(RWKVRT_ERR_UNSUPPORTED, op_at_, "tensor with metadata (", kind_name(a[6]->kind), ")");
    t->items = {a[0]};
    t->number = a[1]->number;
    return t;
}

// torch's persistent id of a storage: ('storage', <storage type>, key, location, element count).
Object *PickleMachine::persistent_load(Object *pid) {
    const std::vector<Object *> &f = pid->items;
    if (pid->kind != Kind::Tuple || f.size() != 5 || f[0]->kind != Kind::String || f[0]->text != "storage" ||
        f[1]->kind != Kind::Global || f[1]->global != Global::StorageType || f[2]->kind != Kind::String ||
        f[3]->kind != Kind::String || f[4]->kind != Kind::Int || f[4]->number < 0)
        bad(RWKVRT_ERR_FORMAT, op_at_, "persistent id is not ('storage', storage type, key, location, count)");
    Object *s = make(Kind::Storage);
    s->text = f[2]->text;
    s->number = f[4]->number;
    s->items = {f[1]};
    return s;
}

// ---------------------------------------------------------------------------------------------

bool storage_dtype(const std::string &storage_type, DType *out) {
    static const std::pair<const char *, DType> known[] = {
        {"torch.FloatStorage", DType::F32}, {"torch.HalfStorage", DType::F16}, {"torch.BFloat16Storage", DType::BF16}};
    for (const auto &[name, dtype] : known) {
        if (storage_type == name) {
            *out = dtype;
            return true;
        }
    }
    return false;
}

TensorView tensor_view(const std::string &path, const std::string &prefix, const std::string &name, const Object &t,
                       const std::unordered_map<std::string, ZipEntry> &entries) {
    const Object &storage = *t.items[0];
    const std::string &storage_type = storage.items[0]->text;
    TensorView view;
    view.name = name;
    if (!storage_dtype(storage_type, &view.dtype))
        fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': tensor '", name, "' is stored as ", storage_type,
             "; rwkvrt reads FloatStorage, HalfStorage and BFloat16Storage");
    const size_t elsize = size_t(dtype_info(view.dtype).block_bytes);

    const std::string entry_name = prefix + "/data/" + storage.text;
    auto entry = entries.find(entry_name);
    if (entry == entries.end())
        fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor '", name, "' refers to storage '", storage.text,
             "' but there is no entry '", entry_name, "'");
    if (entry->second.size % elsize != 0 || entry->second.size / elsize != uint64_t(storage.number))
        fail(RWKVRT_ERR_FORMAT, "'", path, "': storage '", storage.text, "' of tensor '", name, "' declares ",
             storage.number, " elements of ", elsize, " bytes but its entry holds ", entry->second.size, " bytes");

    int64_t numel = 1;
    for (int64_t d : t.shape)
        if (d < 0 || __builtin_mul_overflow(numel, d, &numel))
            fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor '", name, "' has an impossible shape");
    view.shape = t.shape;
    // Contiguous row-major as torch defines it: strides of size-1 dimensions do not matter.
    int64_t expected = 1;
    for (size_t i = t.shape.size(); i-- > 0 && numel > 0;) {
        if (t.shape[i] != 1 && t.stride[i] != expected)
            fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': tensor '", name, "' ", view.shape_str(),
                 " is not contiguous (stride ", t.stride[i], " in dimension ", i, " where ", expected,
                 " is needed); save it with .contiguous()");
        expected *= t.shape[i];
    }
    if (t.number < 0 || t.number > storage.number || numel > storage.number - t.number)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor '", name, "' (", numel, " elements at offset ", t.number,
             ") lies outside its storage '", storage.text, "' of ", storage.number, " elements");
    view.data = entry->second.data + size_t(t.number) * elsize;
    view.nbytes = size_t(numel) * elsize;
    return view;
}

} // namespace

std::unique_ptr<TensorFile> read_pth(std::unique_ptr<MappedFile> file) {
    const std::string path = file->path();
    const std::unordered_map<std::string, ZipEntry> entries = read_zip(*file);

    // torch.save names the top folder after the file (or "archive"); there is exactly one.
    const std::string *pickle_name = nullptr;
    for (const auto &[name, entry] : entries) {
        const size_t slash = name.find('/');
        if (slash == 0 || slash == std::string::npos || name.substr(slash) != "/data.pkl") continue;
        if (pickle_name)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': archive holds both '", *pickle_name, "' and '", name, "'");
        pickle_name = &name;
    }
    if (!pickle_name)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': ZIP archive without a <folder>/data.pkl: not a PyTorch file");
    const std::string prefix = pickle_name->substr(0, pickle_name->find('/'));
    const ZipEntry &pickle = entries.at(*pickle_name);

    const auto order = entries.find(prefix + "/byteorder"); // written by recent PyTorch versions
    if (order != entries.end() &&
        std::string_view(reinterpret_cast<const char *>(order->second.data), order->second.size) != "little")
        fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': tensors are not stored little-endian ('", prefix, "/byteorder')");
    if (pickle.size > kMaxPickleBytes)
        fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': '", *pickle_name, "' is ", pickle.size,
             " bytes, more than a state dict needs");
    // The pickle decides every shape and offset, so a damaged one is caught here rather than misread.
    if (crc32(pickle.data, size_t(pickle.size)) != pickle.crc)
        fail(RWKVRT_ERR_CORRUPT, "'", path, "': '", *pickle_name, "' fails its CRC-32 check: the file is damaged");

    PickleMachine machine(path, *pickle_name, pickle.data, size_t(pickle.size));
    const Object *root = machine.run();
    if (root->kind != Kind::Dict)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': the pickle holds a Python ", kind_name(root->kind),
             ", not a state dict");
    const std::vector<Object *> &items = root->items;
    for (size_t i = 0; i < items.size(); i += 2) {
        if (items[i]->kind != Kind::String)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': state dict key ", i / 2, " is a Python ", kind_name(items[i]->kind),
                 ", not a name");
        if (items[i]->text == "_strategy")
            fail(RWKVRT_ERR_UNSUPPORTED, "'", path,
                 "': pre-converted ChatRWKV file (it has '_strategy'); use the original .pth checkpoint");
    }

    auto out = std::make_unique<TensorFile>(std::move(file), "pth");
    for (size_t i = 0; i < items.size(); i += 2) {
        const std::string &name = items[i]->text;
        if (items[i + 1]->kind != Kind::Tensor)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': state dict entry '", name, "' is a Python ",
                 kind_name(items[i + 1]->kind), ", not a tensor");
        out->add(tensor_view(path, prefix, name, *items[i + 1], entries));
    }
    return out;
}

} // namespace rwkvrt
