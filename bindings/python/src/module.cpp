// The extension module rwkvrt._rwkvrt; the package rwkvrt re-exports it (bindings/python/rwkvrt).
#include "common.h"

PYBIND11_MODULE(_rwkvrt, m) {
    using namespace rwkvrt_py;
    m.doc() = "The compiled part of rwkvrt: a thin layer over the C API of librwkvrt.";
    Interruptible::record_main_thread();
    m.attr("__version__") = rwkvrt_version();
    m.def(
        "system_info", [] { return std::string(rwkvrt_system_info()); },
        "The instruction sets the kernels use on this CPU (after RWKVRT_MAX_CPU_ISA), as one line,\n"
        "e.g. 'kernels: AVX3 (Highway); int8 products: AVX512-VNNI; bf16 products: AVX512-BF16'.");

    ModelClass model(m, "Model");
    StateClass state(m, "State");
    TokenizerClass tokenizer(m, "Tokenizer");
    SamplerClass sampler(m, "Sampler");
    GenerationClass generation(m, "Generation");
    PrefixCacheClass prefix_cache(m, "PrefixCache");
    bind_model(model);
    bind_state(state);
    bind_tokenizer(tokenizer);
    bind_sampler(sampler);
    bind_generation(generation, model);
    bind_prefix_cache(prefix_cache);
    // Users (and pickles) find the classes in the package, which re-exports them.
    for (py::handle cls : {model.ptr(), state.ptr(), tokenizer.ptr(), sampler.ptr(), generation.ptr(), prefix_cache.ptr()})
        cls.attr("__module__") = "rwkvrt";
}
