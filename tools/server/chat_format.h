// The RWKV chat format of World and G1 models (../shared/docs/RWKV-INFERENCE.md §10.1):
//   System: {sys}\n\nUser: {u1}\n\nAssistant: {a1}\n\nUser: {u2}\n\nAssistant:
// rendered as segments that are tokenized one by one, as the official chat loop feeds one turn at a
// time: a prompt then shares its tokens with the prompts of later turns of the same conversation, so the
// prefix-state cache can serve them.
#pragma once

#include <string>
#include <vector>

namespace rwkvrt_server {

struct Message {
    std::string role; // "system", "user" or "assistant"
    std::string content;
};

// G1's reasoning convention: the prompt ends "Assistant: <think" (on), "Assistant: <think>\n</think"
// (off: the model skips it), or just "Assistant:" (unset: plain World format).
enum class Think { unset, on, off };

// Text inside a turn: "\r\n" becomes "\n", runs of newlines become one (the blank line "\n\n" separates
// turns), surrounding white space is dropped.
std::string clean_turn(const std::string &text);

// The segments of messages followed by the assistant's cue. An assistant message is two segments,
// "Assistant:" and " {text}\n\n", so that a history a client sends back tokenizes like the prompt that
// produced it.
std::vector<std::string> render_chat(const std::vector<Message> &messages, Think think);

// What the prompt's cue already said of the reply ("<think" when thinking is on), returned with it.
std::string reply_prefix(Think think);

// The separator that closes a turn.
inline constexpr const char *kTurnSeparator = "\n\n";

} // namespace rwkvrt_server
