// Where conversations live between turns: the state snapshot after each completed turn (the bytes of
// a state file, with the model's fingerprint and a checksum, so a state of another model or a damaged
// one is refused when restored, never used).
// - memory: RAM only, least recently used conversations dropped past a byte budget;
// - a folder: RAM in front of one file per conversation, written atomically (survives restarts; the
//   RAM copy is checked against the file, so workers may share the folder);
// - redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: a Redis server that any number of workers share; nothing is kept in RAM,
//   so a turn served by another worker is always seen.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace rwkvrt_server {

struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class SessionStore {
public:
    virtual ~SessionStore() = default;
    // The conversation's snapshot, or nothing if it is unknown. Throws StoreError when unreachable.
    virtual std::optional<std::string> get(const std::string &id) = 0;
    // Keeps the snapshot; returns once it is stored (on disk, or acknowledged by Redis).
    virtual void put(const std::string &id, const std::string &snapshot) = 0;
    // Drops what RAM holds of the conversation (a snapshot that did not restore), so that the next
    // get() reads the store behind it again (a folder's file, which its operator may have replaced).
    virtual void forget_cached(const std::string &id) = 0;
    // Throws StoreError when the store could not take a conversation now (for /health).
    virtual void check() = 0;
    virtual std::string describe() const = 0;
};

// spec: "memory", "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" or an existing, writable folder. ram_bytes: the RAM budget.
std::unique_ptr<SessionStore> open_session_store(const std::string &spec, size_t ram_bytes);

// A new conversation id: "sess_" and 32 hex digits from the system's random source.
std::string new_session_id();
// Whether id has that form (so it can name a file or a key and guess nothing).
bool valid_session_id(const std::string &id);

} // namespace rwkvrt_server
