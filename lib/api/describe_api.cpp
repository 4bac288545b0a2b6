// The C shim for describing model files (`rwkvrt info`).
#include <cstring>

#include "api/api_common.h"
#include "model/describe.h"

using rwkvrt::fail;
using rwkvrt::api::guard;
using rwkvrt::api::require;

extern "C" {

rwkvrt_status rwkvrt_model_describe(const char *path, char *buf, size_t cap, size_t *len) {
    return guard([&] {
        require(path, "path");
        require(len, "len");
        if (cap) require(buf, "buf");
        const std::string text = rwkvrt::describe_model_file(path);
        *len = text.size();
        if (text.size() + 1 > cap)
            fail(RWKVRT_ERR_BUFFER, "the description needs ", text.size() + 1, " bytes but the buffer holds ", cap);
        std::memcpy(buf, text.c_str(), text.size() + 1);
    });
}

} // extern "C"
