// The opaque C handles: thin owners of the C++ objects, shared by the shim files.
#pragma once

#include <memory>

#include "model/model.h"
#include "state/state.h"

struct rwkvrt_model {
    std::unique_ptr<rwkvrt::Model> impl;
};

struct rwkvrt_state {
    std::unique_ptr<rwkvrt::State> impl;
};
