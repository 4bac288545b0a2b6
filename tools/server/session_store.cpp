#include "session_store.h"

#include <hiredis/hiredis.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <list>
#include <mutex>
#include <random>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace rwkvrt_server {

namespace {

constexpr const char *kPrefix = "sess_";
constexpr size_t kHexDigits = 32;

// Conversations in RAM, the least recently used dropped past the budget.
class RamCache {
public:
    explicit RamCache(size_t budget) : budget_(budget) {}

    std::optional<std::string> get(const std::string &id) {
        std::lock_guard lock(mu_);
        auto it = index_.find(id);
        if (it == index_.end()) return std::nullopt;
        order_.splice(order_.begin(), order_, it->second);
        return it->second->second;
    }

    void put(const std::string &id, const std::string &bytes) {
        std::lock_guard lock(mu_);
        erase_locked(id);
        order_.emplace_front(id, bytes);
        index_[id] = order_.begin();
        used_ += bytes.size();
        while (used_ > budget_ && order_.size() > 1) {
            used_ -= order_.back().second.size();
            index_.erase(order_.back().first);
            order_.pop_back();
        }
    }

    void erase(const std::string &id) {
        std::lock_guard lock(mu_);
        erase_locked(id);
    }

private:
    void erase_locked(const std::string &id) {
        if (auto it = index_.find(id); it != index_.end()) {
            used_ -= it->second->second.size();
            order_.erase(it->second);
            index_.erase(it);
        }
    }

    std::mutex mu_;
    size_t budget_, used_ = 0;
    std::list<std::pair<std::string, std::string>> order_;
    std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator> index_;
};

class MemoryStore : public SessionStore {
public:
    explicit MemoryStore(size_t ram) : ram_(ram) {}
    std::optional<std::string> get(const std::string &id) override { return ram_.get(id); }
    void put(const std::string &id, const std::string &bytes) override { ram_.put(id, bytes); }
    void forget_cached(const std::string &id) override { ram_.erase(id); }
    std::string describe() const override { return "memory"; }

private:
    RamCache ram_;
};

std::string errno_text() { return std::strerror(errno); }

// One file per conversation (<dir>/<id>.state), replaced atomically: written beside it, flushed, renamed.
class FolderStore : public SessionStore {
public:
    FolderStore(std::string dir, size_t ram) : dir_(std::move(dir)), ram_(ram) {}

    std::optional<std::string> get(const std::string &id) override {
        if (auto hit = ram_.get(id)) return hit;
        std::ifstream in(path(id), std::ios::binary);
        if (!in) return std::nullopt;
        std::ostringstream bytes;
        bytes << in.rdbuf();
        if (!in.good() && !in.eof()) throw StoreError("cannot read " + path(id));
        std::string s = bytes.str();
        ram_.put(id, s);
        return s;
    }

    void put(const std::string &id, const std::string &bytes) override {
        const std::string final_path = path(id), tmp = final_path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(++counter_);
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) throw StoreError("cannot write " + tmp + ": " + errno_text());
        size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                const std::string why = errno_text();
                ::close(fd);
                ::unlink(tmp.c_str());
                throw StoreError("cannot write " + tmp + ": " + why);
            }
            done += size_t(n);
        }
        if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
            const std::string why = errno_text();
            ::unlink(tmp.c_str());
            throw StoreError("cannot save " + final_path + ": " + why);
        }
        if (const int d = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
            ::fsync(d);
            ::close(d);
        }
        ram_.put(id, bytes);
    }

    void forget_cached(const std::string &id) override { ram_.erase(id); }
    std::string describe() const override { return "folder " + dir_; }

private:
    std::string path(const std::string &id) const { return dir_ + "/" + id + ".state"; }
    std::string dir_;
    RamCache ram_;
    std::atomic<uint64_t> counter_{0};
};

// Conversations as Redis strings under "rwkvrt:session:<id>". Connections are pooled, one per thread
// that needs one at a time, and made again after an error.
class RedisStore : public SessionStore {
public:
    RedisStore(std::string host, int port, int db) : host_(std::move(host)), port_(port), db_(db) {
        Conn c = connect(); // refuse to start without the store
        release(std::move(c));
    }
    ~RedisStore() override {
        for (redisContext *c : idle_) redisFree(c);
    }

    std::optional<std::string> get(const std::string &id) override {
        const std::string key = "rwkvrt:session:" + id;
        Reply r = command({"GET", key});
        if (r->type == REDIS_REPLY_NIL) return std::nullopt;
        if (r->type != REDIS_REPLY_STRING) throw StoreError("Redis GET " + key + ": unexpected reply");
        return std::string(r->str, r->len);
    }

    void put(const std::string &id, const std::string &bytes) override {
        const std::string key = "rwkvrt:session:" + id;
        Reply r = command({"SET", key, bytes});
        if (r->type != REDIS_REPLY_STATUS) throw StoreError("Redis SET " + key + ": unexpected reply");
    }

    void forget_cached(const std::string &) override {} // nothing is kept in RAM
    std::string describe() const override { return "redis://" + host_ + ":" + std::to_string(port_) + "/" + std::to_string(db_); }

private:
    struct ContextFree {
        void operator()(redisContext *c) const { redisFree(c); }
    };
    struct ReplyFree {
        void operator()(redisReply *r) const { freeReplyObject(r); }
    };
    using Conn = std::unique_ptr<redisContext, ContextFree>;
    using Reply = std::unique_ptr<redisReply, ReplyFree>;

    Conn connect() {
        const timeval timeout{5, 0};
        Conn c(redisConnectWithTimeout(host_.c_str(), port_, timeout));
        if (!c) throw StoreError("cannot reach Redis at " + describe());
        if (c->err) throw StoreError("cannot reach Redis at " + describe() + ": " + c->errstr);
        redisSetTimeout(c.get(), timeout);
        if (db_ != 0) {
            Reply r(static_cast<redisReply *>(redisCommand(c.get(), "SELECT %d", db_)));
            if (!r || r->type == REDIS_REPLY_ERROR) throw StoreError("Redis refused SELECT " + std::to_string(db_));
        }
        return c;
    }

    void drop_idle() {
        std::lock_guard lock(mu_);
        for (redisContext *c : idle_) redisFree(c);
        idle_.clear();
    }

    void release(Conn c) {
        std::lock_guard lock(mu_);
        idle_.push_back(c.release());
    }

    // The commands (GET, SET) are safe to send twice.
    Reply command(const std::vector<std::string> &args) {
        std::vector<const char *> argv;
        std::vector<size_t> lens;
        for (const std::string &a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        const auto send = [&](redisContext *c) { return Reply(static_cast<redisReply *>(redisCommandArgv(c, int(argv.size()), argv.data(), lens.data()))); };
        Conn c;
        {
            std::lock_guard lock(mu_);
            if (!idle_.empty()) {
                c.reset(idle_.back());
                idle_.pop_back();
            }
        }
        Reply r;
        if (c) {
            r = send(c.get());
            // A pooled connection fails when Redis restarted since its last use, and so would the
            // others in the pool: they are dropped, and the command goes again on a new connection.
            if (!r) drop_idle(), c.reset();
        }
        if (!c) {
            c = connect();
            r = send(c.get());
        }
        if (!r) throw StoreError("Redis at " + describe() + ": " + c->errstr); // the connection is dropped
        if (r->type == REDIS_REPLY_ERROR) {
            const std::string why(r->str, r->len);
            release(std::move(c));
            throw StoreError("Redis at " + describe() + ": " + why);
        }
        release(std::move(c));
        return r;
    }

    std::string host_;
    int port_, db_;
    std::mutex mu_;
    std::vector<redisContext *> idle_;
};

} // namespace

std::unique_ptr<SessionStore> open_session_store(const std::string &spec, size_t ram_bytes) {
    if (spec == "memory") return std::make_unique<MemoryStore>(ram_bytes);
    if (spec.rfind("redis://", 0) == 0) {
        std::string rest = spec.substr(8), host;
        int port = 6379, db = 0;
        if (const size_t slash = rest.find('/'); slash != std::string::npos) {
            try {
                db = std::stoi(rest.substr(slash + 1));
            } catch (const std::exception &) {
                throw StoreError("bad database number in " + spec);
            }
            rest.resize(slash);
        }
        host = rest;
        if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
            host = rest.substr(0, colon);
            try {
                port = std::stoi(rest.substr(colon + 1));
            } catch (const std::exception &) {
                throw StoreError("bad port in " + spec);
            }
        }
        if (host.empty()) throw StoreError("no host in " + spec);
        return std::make_unique<RedisStore>(host, port, db);
    }
    struct stat st{};
    if (::stat(spec.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw StoreError("--state-store " + spec + ": not \"memory\", a redis:// address or an existing folder");
    return std::make_unique<FolderStore>(spec, ram_bytes);
}

std::string new_session_id() {
    std::random_device rd;
    static const char *hex = "0123456789abcdef";
    std::string id = kPrefix;
    for (size_t i = 0; i < kHexDigits; i += 8) {
        const uint32_t r = rd();
        for (int k = 0; k < 8; ++k) id += hex[(r >> (4 * k)) & 15];
    }
    return id;
}

bool valid_session_id(const std::string &id) {
    const size_t n = std::strlen(kPrefix);
    if (id.size() != n + kHexDigits || id.compare(0, n, kPrefix) != 0) return false;
    for (size_t i = n; i < id.size(); ++i)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return false;
    return true;
}

} // namespace rwkvrt_server
