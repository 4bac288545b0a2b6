#include "common.h"

#include <limits>
#include <thread>

namespace rwkvrt_py {

void raise_status(rwkvrt_status status, const std::string &message) {
    // rwkvrt/_errors.py maps status names to exception classes: the one place that mapping lives.
    py::object err = py::module_::import("rwkvrt._errors").attr("_make_error")(rwkvrt_status_name(status), message);
    PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(err.ptr())), err.ptr());
    throw py::error_already_set();
}

void raise_status(rwkvrt_status status) { raise_status(status, rwkvrt_last_error()); }

ReleasedGil::~ReleasedGil() noexcept(false) {
#if PY_VERSION_HEX >= 0x030D0000
    const bool exiting = Py_IsFinalizing();
#else
    const bool exiting = _Py_IsFinalizing();
#endif
    if (exiting)
        for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    // noexcept(false): should the exit begin just now, Python's ending of the thread unwinds from here.
    PyEval_RestoreThread(state_);
}

namespace {
unsigned long main_thread_ident = 0; // threading.main_thread().ident
} // namespace

void Interruptible::record_main_thread() {
    main_thread_ident = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
}

int Interruptible::poll(uint64_t, uint64_t, void *self_) {
    if (PyThread_get_thread_ident() != main_thread_ident) return 0;
    auto *self = static_cast<Interruptible *>(self_);
    const auto now = std::chrono::steady_clock::now();
    if (now - self->last_ < std::chrono::milliseconds(50)) return 0;
    self->last_ = now;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) self->raised_ = true;
    return self->raised_;
}

void Interruptible::check(rwkvrt_status status) {
    if (raised_) {
        raised_ = false;
        throw py::error_already_set();
    }
    rwkvrt_py::check(status);
}

Exclusive::Exclusive(std::atomic<bool> &busy, const char *what) : busy_(busy) {
    if (busy_.exchange(true))
        throw std::runtime_error(std::string("this ") + what +
                                 " is in use by another call (another thread's, or the one a signal handler "
                                 "interrupted); use one per thread");
}

Model::Model(std::string path_, int threads_, std::string weight_type_, bool mmap_, std::string activations_)
    : path(std::move(path_)), threads(threads_), weight_type(std::move(weight_type_)), mmap(mmap_),
      activations(std::move(activations_)) {
    rwkvrt_load_options options = rwkvrt_load_options_default();
    options.n_threads = threads;
    options.weight_type = weight_type.empty() ? nullptr : weight_type.c_str();
    options.use_mmap = mmap ? 1 : 0;
    if (!activations.empty()) options.activations = activations.c_str();
    rwkvrt_status status;
    {
        ReleasedGil nogil; // loading reads the whole file
        status = rwkvrt_model_load(path.c_str(), &options, &handle);
    }
    check(status);
}

State::State(std::shared_ptr<Model> model_) : model(std::move(model_)) {
    check(rwkvrt_state_new(model->handle, &handle));
}

std::shared_ptr<Tokenizer> Tokenizer::byte_level() {
    rwkvrt_tokenizer *handle = nullptr;
    check(rwkvrt_tokenizer_new_bytes(&handle));
    return std::make_shared<Tokenizer>(handle, std::string());
}

std::shared_ptr<Tokenizer> Tokenizer::of_model(const Model &model) {
    rwkvrt_tokenizer *handle = nullptr;
    const rwkvrt_status status = rwkvrt_tokenizer_from_model(model.handle, &handle);
    if (status == RWKVRT_ERR_UNSUPPORTED) return nullptr;
    check(status);
    return std::make_shared<Tokenizer>(handle, model.path, true);
}

Sampler::Sampler(const rwkvrt_sampler_options &options, int32_t n_vocab_) : n_vocab(n_vocab_) {
    check(rwkvrt_sampler_new(&options, n_vocab, &handle));
}

bool SamplingKeywords::any() const {
    return temperature || top_p || min_p || repetition_penalty || presence_penalty || frequency_penalty ||
           penalty_decay || top_k || seed;
}

rwkvrt_sampler_options SamplingKeywords::options() const {
    rwkvrt_sampler_options o = rwkvrt_sampler_options_default();
    if (temperature) o.temperature = *temperature;
    if (top_k) o.top_k = *top_k;
    if (top_p) o.top_p = *top_p;
    if (min_p) o.min_p = *min_p;
    if (repetition_penalty) o.repetition_penalty = *repetition_penalty;
    if (presence_penalty) o.presence_penalty = *presence_penalty;
    if (frequency_penalty) o.frequency_penalty = *frequency_penalty;
    if (penalty_decay) o.penalty_decay = *penalty_decay;
    if (seed) o.seed = *seed;
    return o;
}

namespace {

int32_t checked_id(long long id) {
    if (id < std::numeric_limits<int32_t>::min() || id > std::numeric_limits<int32_t>::max())
        raise_status(RWKVRT_ERR_TOKEN, "token id " + std::to_string(id) + " does not fit in 32 bits");
    return static_cast<int32_t>(id);
}

// One Python int (not a bool) as a token id.
int32_t python_int_id(py::handle id) {
    if (PyBool_Check(id.ptr()) || !PyLong_Check(id.ptr()))
        throw py::type_error("tokens must be ints, got " + py::type::of(id).attr("__name__").cast<std::string>());
    int overflow = 0;
    const long long value = PyLong_AsLongLongAndOverflow(id.ptr(), &overflow);
    if (overflow) raise_status(RWKVRT_ERR_TOKEN, "token id " + py::str(id).cast<std::string>() + " is out of range");
    return checked_id(value);
}

} // namespace

std::vector<int32_t> token_ids(py::handle tokens) {
    if (PyLong_Check(tokens.ptr()) || PyBool_Check(tokens.ptr())) return {python_int_id(tokens)};
    py::array array = py::module_::import("numpy").attr("asarray")(tokens);
    if (array.ndim() > 1)
        throw py::type_error("tokens must be a flat sequence of ints, got " + std::to_string(array.ndim()) +
                             " dimensions");
    if (array.size() == 0) return {};
    std::vector<int32_t> out(size_t(array.size()));
    const char kind = array.dtype().kind();
    if (kind == 'O') { // ints past 64 bits, or a mix numpy could not type
        for (size_t i = 0; i < out.size(); ++i) out[i] = python_int_id(array.attr("__getitem__")(i));
        return out;
    }
    if (kind != 'i' && kind != 'u')
        throw py::type_error("tokens must be ints, got " + py::str(array.dtype()).cast<std::string>() +
                             (kind == 'U' || kind == 'S' ? " (encode text with a Tokenizer first)" : ""));
    // c_style: a strided view (a[::2], a[:, 0]) is copied into order, not read as if contiguous.
    if (kind == 'u') { // as unsigned, so that 2**64 − 1 is not read as −1
        auto ids = py::array_t<unsigned long long, py::array::c_style | py::array::forcecast>::ensure(array);
        const unsigned long long *p = ids.data();
        for (size_t i = 0; i < out.size(); ++i) {
            if (p[i] > uint64_t(std::numeric_limits<int32_t>::max()))
                raise_status(RWKVRT_ERR_TOKEN, "token id " + std::to_string(p[i]) + " does not fit in 32 bits");
            out[i] = int32_t(p[i]);
        }
        return out;
    }
    auto ids = py::array_t<long long, py::array::c_style | py::array::forcecast>::ensure(array);
    const long long *p = ids.data();
    for (size_t i = 0; i < out.size(); ++i) out[i] = checked_id(p[i]);
    return out;
}

std::string text_bytes(py::handle text, const char *what) {
    if (py::isinstance<py::str>(text)) return text.attr("encode")("utf-8").cast<std::string>();
    if (!PyObject_CheckBuffer(text.ptr()))
        throw py::type_error(std::string(what) + " must be str or bytes, got " +
                             py::type::of(text).attr("__name__").cast<std::string>());
    PyObject *bytes = PyBytes_FromObject(text.ptr());
    if (!bytes) throw py::error_already_set();
    return py::reinterpret_steal<py::bytes>(bytes).cast<std::string>();
}

ByteBuffer::ByteBuffer(py::handle object) {
    const auto refuse = [&] {
        throw py::type_error("expected bytes (a bytes-like object of single bytes), got " +
                             py::type::of(object).attr("__name__").cast<std::string>());
    };
    if (!PyObject_CheckBuffer(object.ptr())) refuse();
    if (PyObject_GetBuffer(object.ptr(), &view_, PyBUF_STRIDES | PyBUF_FORMAT) != 0) throw py::error_already_set();
    const std::string format = view_.format ? view_.format : "B";
    if (view_.itemsize != 1 || view_.ndim > 1 || (format != "B" && format != "b" && format != "c")) {
        PyBuffer_Release(&view_);
        refuse();
    }
    size_ = size_t(view_.len);
    if (PyBuffer_IsContiguous(&view_, 'C')) {
        data_ = view_.buf;
        return;
    }
    copy_.resize(size_);
    if (PyBuffer_ToContiguous(copy_.data(), &view_, view_.len, 'C') != 0) {
        PyBuffer_Release(&view_);
        throw py::error_already_set();
    }
    data_ = copy_.data();
}

ByteBuffer::~ByteBuffer() { PyBuffer_Release(&view_); }

std::string c_string(std::string s, const char *what) {
    if (s.find('\0') != std::string::npos)
        raise_status(RWKVRT_ERR_ARGUMENT, std::string(what) + " contains a NUL character, which the C API cannot take");
    return s;
}

std::string fs_path(py::handle path) {
    return c_string(py::module_::import("os").attr("fsencode")(path).cast<std::string>(), "the path");
}

std::string absolute_fs_path(py::handle path) {
    const std::string given = fs_path(path);
    return given.empty() ? given : fs_path(py::module_::import("os.path").attr("abspath")(path));
}

py::object fs_decode(const std::string &path) { return py::module_::import("os").attr("fsdecode")(py::bytes(path)); }

} // namespace rwkvrt_py
