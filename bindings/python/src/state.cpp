// rwkvrt.State: one conversation's recurrent state, with its snapshots and state files.
#include "common.h"

#include <pybind11/stl.h>

namespace rwkvrt_py {

namespace {

py::bytes snapshot(State &state) {
    Exclusive use(state.busy, "State");
    std::string buf(rwkvrt_state_snapshot_size(state.handle), '\0');
    check(rwkvrt_state_snapshot(state.handle, buf.data(), buf.size(), nullptr));
    return py::bytes(buf);
}

void restore(State &state, const py::buffer &data) {
    const ByteBuffer bytes(data);
    Exclusive use(state.busy, "State");
    check(rwkvrt_state_restore(state.handle, bytes.data(), bytes.size()));
}

std::shared_ptr<State> from_bytes(const std::shared_ptr<Model> &model, const py::buffer &data) {
    auto state = std::make_shared<State>(model);
    restore(*state, data);
    return state;
}

void save(State &state, const py::object &path, const std::string &value_type, Sampler *sampler) {
    const std::string file = fs_path(path);
    const std::string type = c_string(value_type, "value_type");
    rwkvrt_state_save_options options = rwkvrt_state_save_options_default();
    options.value_type = type.c_str();
    options.sampler = sampler ? sampler->handle : nullptr;
    Exclusive use(state.busy, "State");
    std::optional<Exclusive> use_sampler;
    if (sampler) use_sampler.emplace(sampler->busy, "Sampler");
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_state_save_ex(state.handle, file.c_str(), &options);
    }
    check(status);
}

std::shared_ptr<State> load(const std::shared_ptr<Model> &model, const py::object &path, Sampler *sampler) {
    const std::string file = fs_path(path);
    auto state = std::make_shared<State>(model);
    std::optional<Exclusive> use_sampler;
    if (sampler) use_sampler.emplace(sampler->busy, "Sampler");
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_state_load_ex(state->handle, file.c_str(), sampler ? sampler->handle : nullptr, nullptr);
    }
    check(status);
    return state;
}

std::shared_ptr<State> load_initial(const std::shared_ptr<Model> &model, const py::object &path) {
    const std::string file = fs_path(path);
    auto state = std::make_shared<State>(model);
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_state_load_initial(state->handle, file.c_str());
    }
    check(status);
    return state;
}

std::shared_ptr<State> copy(State &state) {
    auto out = std::make_shared<State>(state.model);
    Exclusive use(state.busy, "State");
    check(rwkvrt_state_copy(out->handle, state.handle));
    return out;
}

py::bytes get_metadata(State &state) {
    Exclusive use(state.busy, "State");
    const void *data = nullptr;
    size_t len = 0;
    check(rwkvrt_state_get_metadata(state.handle, &data, &len));
    return py::bytes(static_cast<const char *>(data), len);
}

void set_metadata(State &state, const py::object &value) {
    const std::string bytes = text_bytes(value, "metadata");
    Exclusive use(state.busy, "State");
    check(rwkvrt_state_set_metadata(state.handle, bytes.data(), bytes.size()));
}

} // namespace

void bind_state(StateClass &cls) {
    cls.doc() = R"(One conversation's recurrent state: a fixed size, however long the context.

A state belongs to the model it was made from, which it keeps alive. It is used
by one thread at a time (using one from two threads at once raises
RuntimeError); give each thread its own, e.g. with copy().

Example::

    state = model.new_state()            # or rwkvrt.State(model)
    model.feed(state, tokens)
    state.save("chat.state")
    later = rwkvrt.State.load(model, "chat.state")

bytes(state) is a snapshot (the state file format) that State.from_bytes(model,
data) or restore() reads back. Pickling stores the snapshot together with the
Model, which pickles as a reference to its file: unpickling loads the model again
from its path (once per pickle, shared by every state in it).)";

    cls.def(py::init([](std::shared_ptr<Model> model) { return std::make_shared<State>(std::move(model)); }),
            py::arg("model").none(false), "A fresh state (an empty context) for model; the same as model.new_state().")
        .def_property_readonly(
            "model", [](const State &s) { return s.model; }, "The model this state belongs to.")
        .def_property_readonly(
            "n_tokens", [](const State &s) { return rwkvrt_state_n_tokens(s.handle); },
            "The number of tokens fed since the state was made or reset, including those "
            "before the snapshot or file it was restored from.")
        .def_property("metadata", &get_metadata, &set_metadata,
                      R"(Application data kept with the state (e.g. a transcript), as bytes.

Saved in snapshots and state files. Assign bytes or str (stored as UTF-8).
reset() keeps it, copy() copies it, restore() and load() replace it.)")
        .def(
            "reset",
            [](State &s) {
                Exclusive use(s.busy, "State");
                check(rwkvrt_state_reset(s.handle));
            },
            "Returns to the state of an empty context (the metadata is kept).")
        .def("copy", &copy, "An independent copy of this state, of the same model.")
        .def("restore", &restore, py::arg("data"),
             R"(Replaces this state with a snapshot (bytes(state)) or a state file's bytes.

Raises:
    ModelMismatchError: the snapshot was taken on another model.
    CorruptStateError: its bytes were damaged or truncated.
    FormatError: the bytes are no snapshot at all.
    UnsupportedError: a newer library wrote it.
On failure the state is unchanged.)")
        .def_static("from_bytes", &from_bytes, py::arg("model").none(false), py::arg("data"),
                    "A new state of model restored from a snapshot (bytes(state)); the errors of restore().")
        .def("save", &save, py::arg("path"), py::kw_only(), py::arg("value_type") = "f32",
             py::arg("sampler") = py::none(),
             R"(Saves the state to a file, atomically (a failure leaves the file as it was).

Args:
    path: the file.
    value_type: "f32" (exact), or "f16" / "bf16" (half the size, slightly inexact).
    sampler: a Sampler whose whole state is saved too, so that generation
        resumes exactly (State.load(..., sampler=...)).

Raises:
    FileError: the system's reason (no space, permission, missing folder).)")
        .def_static("load", &load, py::arg("model").none(false), py::arg("path"), py::kw_only(), py::arg("sampler") = py::none(),
                    R"(Loads a state saved by save() on the same model (the same weights file).

Args:
    model: the model it was saved on.
    path: the file.
    sampler: a Sampler that receives the sampler state saved in the file, if
        there is one (else it is left unchanged).

Raises:
    FileError, FormatError, CorruptStateError, UnsupportedError, and
    ModelMismatchError (saved on another model: the message names both).)")
        .def_static("load_initial", &load_initial, py::arg("model").none(false), py::arg("path"),
                    R"(A state starting from a state-tuning file (blocks.<i>.att.time_state tensors).

Such files carry no fingerprint: use one with the exact model it was trained on.)")
        .def("__bytes__", &snapshot, "The snapshot of this state (the state file format).")
        .def("__copy__", &copy)
        .def(
            "__deepcopy__", [](State &s, py::handle) { return copy(s); }, py::arg("memo"))
        .def(py::pickle([](State &s) { return py::make_tuple(s.model, snapshot(s)); },
                        [](const py::tuple &t) {
                            return from_bytes(t[0].cast<std::shared_ptr<Model>>(), t[1].cast<py::buffer>());
                        }))
        .def("__repr__", [](const State &s) {
            return py::str("<rwkvrt.State {} n_tokens={}>")
                .format(rwkvrt_model_arch(s.model->handle), rwkvrt_state_n_tokens(s.handle));
        });
}

} // namespace rwkvrt_py
