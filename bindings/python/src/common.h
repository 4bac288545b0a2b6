// Shared by the binding files: the wrapper objects that own the C handles, status checking and the
// argument conversions every class needs.
//
// Ownership: every wrapper is held by std::shared_ptr, and whatever a C handle borrows is held by the
// wrapper that uses it (a State holds its Model, a Generation holds all four), so Python can drop its
// references in any order. The wrappers never touch Python objects, so they may die without the GIL.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "rwkvrt.h"

namespace py = pybind11;

namespace rwkvrt_py {

// Raises the rwkvrt.Error subclass for status, with this thread's rwkvrt_last_error() as the message.
// Call it right after the failing C call, on the same thread, with the GIL held.
[[noreturn]] void raise_status(rwkvrt_status status);
// Raises the rwkvrt.Error subclass for status with a message of the binding's own.
[[noreturn]] void raise_status(rwkvrt_status status, const std::string &message);

inline void check(rwkvrt_status status) {
    if (status != RWKVRT_OK) raise_status(status);
}

// Marks an object that the C API lets only one thread use at a time (a state, a sampler, a
// generator) as busy for one call, so that two Python threads sharing it get an exception instead
// of a data race. Taken and released with the GIL held.
class Exclusive {
public:
    Exclusive(std::atomic<bool> &busy, const char *what);
    ~Exclusive() { busy_.store(false); }
    Exclusive(const Exclusive &) = delete;
    Exclusive &operator=(const Exclusive &) = delete;

private:
    std::atomic<bool> &busy_;
};

// Releases the GIL for a C call, as py::gil_scoped_release, except when the interpreter began exiting
// meanwhile: Python would then end this (daemon) thread from inside the destructor, which C++ turns
// into std::terminate, so the thread waits for the process to end instead, as Python 3.14 does.
class ReleasedGil {
public:
    ReleasedGil() : state_(PyEval_SaveThread()) {}
    ~ReleasedGil() noexcept(false);
    ReleasedGil(const ReleasedGil &) = delete;
    ReleasedGil &operator=(const ReleasedGil &) = delete;

private:
    PyThreadState *state_;
};

// Makes a long C call interruptible by Ctrl-C: on Python's main thread, its progress callback takes
// the GIL every ~50 ms and runs Python's signal handlers. If one raises (KeyboardInterrupt), the call
// is cancelled, which leaves the state consistent (the tokens of whole steps fed), and check()
// re-raises the exception. Other threads never take the GIL there: Python runs handlers only on the
// main thread, and a thread that takes the GIL while the interpreter exits is ended by Python.
class Interruptible {
public:
    rwkvrt_progress_callback callback() const { return &Interruptible::poll; }
    void *user_data() { return this; }
    rwkvrt_feed_options feed_options() {
        rwkvrt_feed_options o = rwkvrt_feed_options_default();
        o.progress = callback();
        o.user_data = user_data();
        return o;
    }
    // With the GIL held, after the call: the handler's exception if it stopped the call, else the status.
    void check(rwkvrt_status status);

    // Called once, at import (with the GIL): which thread is Python's main thread.
    static void record_main_thread();

private:
    static int poll(uint64_t done, uint64_t total, void *self);
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
    bool raised_ = false;
};

struct Model {
    rwkvrt_model *handle = nullptr;
    std::string path; // absolute, file-system encoded: the model pickles as a reference to its file
    int threads = 0;
    std::string weight_type; // "" = as stored
    bool mmap = true;
    std::string activations; // "" = the library's default (auto)

    Model(std::string path, int threads, std::string weight_type, bool mmap, std::string activations);
    ~Model() { rwkvrt_model_free(handle); }
    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;
    int32_t n_vocab() const { return rwkvrt_model_n_vocab(handle); }
};

struct State {
    std::shared_ptr<Model> model;
    rwkvrt_state *handle = nullptr;
    std::atomic<bool> busy{false};

    explicit State(std::shared_ptr<Model> model);
    ~State() { rwkvrt_state_free(handle); }
    State(const State &) = delete;
    State &operator=(const State &) = delete;
};

struct Tokenizer {
    rwkvrt_tokenizer *handle = nullptr;
    std::string path; // "" for the byte tokenizer; the model file's for an embedded one
    bool embedded = false; // made from a model file's own vocabulary

    explicit Tokenizer(rwkvrt_tokenizer *handle, std::string path, bool embedded = false)
        : handle(handle), path(std::move(path)), embedded(embedded) {}
    ~Tokenizer() { rwkvrt_tokenizer_free(handle); }
    Tokenizer(const Tokenizer &) = delete;
    Tokenizer &operator=(const Tokenizer &) = delete;
    static std::shared_ptr<Tokenizer> byte_level();
    // The tokenizer the model's file carries; nullptr when it carries none.
    static std::shared_ptr<Tokenizer> of_model(const Model &model);
};

struct Sampler {
    rwkvrt_sampler *handle = nullptr;
    int32_t n_vocab = 0;
    std::atomic<bool> busy{false};

    Sampler(const rwkvrt_sampler_options &options, int32_t n_vocab);
    ~Sampler() { rwkvrt_sampler_free(handle); }
    Sampler(const Sampler &) = delete;
    Sampler &operator=(const Sampler &) = delete;
};

// The sampling keywords shared by Sampler(...) and Model.generate(...): None leaves an option at the
// library's default.
struct SamplingKeywords {
    std::optional<float> temperature;
    std::optional<int32_t> top_k;
    std::optional<float> top_p, min_p, repetition_penalty, presence_penalty, frequency_penalty, penalty_decay;
    std::optional<uint64_t> seed;

    bool any() const;
    rwkvrt_sampler_options options() const;
};

// Token ids from a Python int, a sequence of ints or a 1-D integer array. Ids that do not fit in
// int32 raise rwkvrt.TokenError; the C API checks the vocabulary range.
std::vector<int32_t> token_ids(py::handle tokens);
// Text as bytes: str is encoded as UTF-8, bytes-like objects are taken as they are. what names the
// argument in the TypeError for anything else.
std::string text_bytes(py::handle text, const char *what);
// The bytes of a bytes-like object of single bytes (bytes, bytearray, memoryview, uint8 array),
// borrowed where they lie when contiguous, copied into order when a strided view (a[::-1]).
// TypeError for anything else. Held with the GIL; data() stays valid while it lives.
class ByteBuffer {
public:
    explicit ByteBuffer(py::handle object);
    ~ByteBuffer();
    ByteBuffer(const ByteBuffer &) = delete;
    ByteBuffer &operator=(const ByteBuffer &) = delete;
    // Never NULL, even for no bytes: the C API wants a pointer.
    const void *data() const { return size_ ? data_ : &empty_; }
    size_t size() const { return size_; }

private:
    static constexpr char empty_ = 0;
    Py_buffer view_{};
    std::string copy_;
    const void *data_ = nullptr;
    size_t size_ = 0;
};
// s, checked to hold no NUL byte: the C API takes NUL-terminated strings, which would cut it short.
// what names it in the rwkvrt.ArgumentError otherwise.
std::string c_string(std::string s, const char *what);
// A path argument (str, bytes or os.PathLike) as the bytes the file system uses.
std::string fs_path(py::handle path);
// The same, absolute, so that an object pickled with its path still loads after a chdir. An empty
// path stays empty, for the library to refuse (abspath would make it the current folder).
std::string absolute_fs_path(py::handle path);
// Those bytes back as the str os.fsdecode() gives.
py::object fs_decode(const std::string &path);

// A running generation: the C generator and everything it borrows.
struct Generation {
    std::shared_ptr<Model> model;
    std::shared_ptr<State> state;
    std::shared_ptr<Tokenizer> tokenizer;
    std::shared_ptr<Sampler> sampler;
    rwkvrt_generator *handle = nullptr;
    std::atomic<bool> busy{false};
    std::string piece = std::string(256, '\0'); // grows when a piece does not fit
    bool done = false;
    Interruptible interrupt; // the generator's progress callback: Ctrl-C during any of its feeds

    Generation() = default;
    ~Generation() { rwkvrt_generator_free(handle); } // before the members it borrows
    Generation(const Generation &) = delete;
    Generation &operator=(const Generation &) = delete;
};

// The classes are declared first and filled in afterwards, so every signature in the docstrings
// names the Python classes, whatever order they refer to each other in.
using ModelClass = py::class_<Model, std::shared_ptr<Model>>;
using StateClass = py::class_<State, std::shared_ptr<State>>;
using TokenizerClass = py::class_<Tokenizer, std::shared_ptr<Tokenizer>>;
using SamplerClass = py::class_<Sampler, std::shared_ptr<Sampler>>;
using GenerationClass = py::class_<Generation, std::shared_ptr<Generation>>;

struct PrefixCache {
    std::shared_ptr<Model> model;
    rwkvrt_prefix_cache *handle = nullptr;

    PrefixCache(std::shared_ptr<Model> model, const rwkvrt_prefix_cache_options &options);
    ~PrefixCache() { rwkvrt_prefix_cache_free(handle); }
    PrefixCache(const PrefixCache &) = delete;
    PrefixCache &operator=(const PrefixCache &) = delete;
};
using PrefixCacheClass = py::class_<PrefixCache, std::shared_ptr<PrefixCache>>;
void bind_prefix_cache(PrefixCacheClass &cls);

void bind_model(ModelClass &cls);
void bind_state(StateClass &cls);
void bind_tokenizer(TokenizerClass &cls);
void bind_sampler(SamplerClass &cls);
// Generation, and Model.generate() which makes one.
void bind_generation(GenerationClass &cls, ModelClass &model_cls);

} // namespace rwkvrt_py
