#include "chat_format.h"

namespace rwkvrt_server {

std::string clean_turn(const std::string &text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
        if (c == '\n' && !out.empty() && out.back() == '\n') continue;
        out.push_back(c);
    }
    const size_t b = out.find_first_not_of(" \t\n"), e = out.find_last_not_of(" \t\n");
    return b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
}

std::vector<std::string> render_chat(const std::vector<Message> &messages, Think think) {
    std::vector<std::string> seg;
    for (const Message &m : messages) {
        const std::string text = clean_turn(m.content);
        if (m.role == "assistant") {
            seg.push_back("Assistant:");
            seg.push_back(" " + text + kTurnSeparator);
        } else {
            seg.push_back((m.role == "system" ? "System: " : "User: ") + text + kTurnSeparator);
        }
    }
    seg.push_back("Assistant:" + std::string(think == Think::on ? " <think" : think == Think::off ? " <think>\n</think" : ""));
    return seg;
}

std::string reply_prefix(Think think) {
    return think == Think::on ? "<think" : think == Think::off ? "<think>\n</think" : "";
}

} // namespace rwkvrt_server
