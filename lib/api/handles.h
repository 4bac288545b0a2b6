// The opaque C handles: thin owners of the C++ objects, shared by the shim files.
#pragma once

#include <memory>

#include "model/model.h"
#include "sampling/sampler.h"
#include "state/prefix_cache.h"
#include "state/state.h"
#include "tokenizers/tokenizer.h"

struct rwkvrt_model {
    std::unique_ptr<rwkvrt::Model> impl;
};

struct rwkvrt_state {
    std::unique_ptr<rwkvrt::State> impl;
};

struct rwkvrt_tokenizer {
    std::unique_ptr<rwkvrt::Tokenizer> impl;
};

struct rwkvrt_sampler {
    std::unique_ptr<rwkvrt::Sampler> impl;
};

struct rwkvrt_prefix_cache {
    std::unique_ptr<rwkvrt::PrefixCache> impl;
};
