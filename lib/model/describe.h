// A model file described without loading its weights (`rwkvrt info`).
#pragma once

#include <string>

namespace rwkvrt {

// A JSON object: the file's format, architecture and dimensions, its tensors per storage type
// (count, bytes), its embedded vocabulary, its size on disk and the weights' size once loaded, the
// state's size, and a GGUF file's metadata. Reads the file's header and the small tensors the
// version needs for its shape; the large matrices' bytes stay unread (mapped, never touched).
// Throws Error like Model's constructor.
std::string describe_model_file(const std::string &path);

} // namespace rwkvrt
