#include "session_store.h"

#include <hiredis/hiredis.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <random>
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
    void check() override {}
    std::string describe() const override { return "memory"; }

private:
    RamCache ram_;
};

std::string errno_text() { return std::strerror(errno); }

// One file per conversation (<dir>/<id>.state), replaced atomically: written beside it, flushed, renamed.
// The RAM copy of a file is used only while the file is the one it was read from or written as (same
// inode, size and modification time): workers that share the folder see each other's turns.
class FolderStore : public SessionStore {
public:
    // Refuses to start on a folder that cannot take a conversation, rather than fail the first turn.
    FolderStore(std::string dir, size_t ram) : dir_(std::move(dir)), ram_(ram) { check(); }

    void check() override {
        const std::string probe = dir_ + "/.rwkvrt-write-test" + std::to_string(::getpid());
        const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) throw StoreError("--state-store " + dir_ + ": cannot write there: " + errno_text());
        ::close(fd);
        ::unlink(probe.c_str());
    }

    std::optional<std::string> get(const std::string &id) override {
        const std::string file = path(id);
        struct stat st{};
        if (::stat(file.c_str(), &st) != 0) {
            if (errno == ENOENT) { // removed (expired by its operator): so is what RAM holds of it
                ram_.erase(id);
                return std::nullopt;
            }
            throw StoreError("cannot read " + file + ": " + errno_text());
        }
        const std::string stamp = stamp_of(st);
        if (auto hit = ram_.get(id); hit && hit->compare(0, stamp.size(), stamp) == 0) return hit->substr(stamp.size());
        const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) return std::nullopt;
            throw StoreError("cannot read " + file + ": " + errno_text()); // out of descriptors, EIO: 503, not 404
        }
        struct stat opened{};
        std::string bytes;
        bool ok = ::fstat(fd, &opened) == 0;
        if (ok) {
            bytes.resize(size_t(opened.st_size));
            for (size_t done = 0; ok && done < bytes.size();) {
                const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
                if (n < 0 && errno == EINTR) continue;
                ok = n > 0;
                done += ok ? size_t(n) : 0;
            }
        }
        const std::string why = errno_text();
        ::close(fd);
        if (!ok) throw StoreError("cannot read " + file + ": " + why);
        ram_.put(id, stamp_of(opened) + bytes);
        return bytes;
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
        struct stat st{};
        if (::fsync(fd) != 0 || ::fstat(fd, &st) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
            const std::string why = errno_text();
            ::unlink(tmp.c_str());
            throw StoreError("cannot save " + final_path + ": " + why);
        }
        if (const int d = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
            ::fsync(d);
            ::close(d);
        }
        ram_.put(id, stamp_of(st) + bytes);
    }

    void forget_cached(const std::string &id) override { ram_.erase(id); }
    std::string describe() const override { return "folder " + dir_; }

private:
    std::string path(const std::string &id) const { return dir_ + "/" + id + ".state"; }
    // Which file a RAM copy came from: a rename gives a new inode, a rewrite a new time or size.
    static std::string stamp_of(const struct stat &st) {
        const uint64_t fields[] = {uint64_t(st.st_ino), uint64_t(st.st_size), uint64_t(st.st_mtim.tv_sec), uint64_t(st.st_mtim.tv_nsec)};
        return std::string(reinterpret_cast<const char *>(fields), sizeof fields);
    }
    std::string dir_;
    RamCache ram_;
    std::atomic<uint64_t> counter_{0};
};

// Conversations as Redis strings under "rwkvrt:session:<id>". Connections are pooled, one per thread
// that needs one at a time, and made again after an error.
struct RedisAddress {
    std::string host, user, password; // user and password empty: no AUTH
    int port = 6379, db = 0;
};

class RedisStore : public SessionStore {
public:
    // Refuses to start without a store that answers commands (reachable, password accepted).
    explicit RedisStore(RedisAddress address) : a_(std::move(address)) { check(); }
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
    void check() override { command({"PING"}); }
    // Without the password.
    std::string describe() const override { return "redis://" + a_.host + ":" + std::to_string(a_.port) + "/" + std::to_string(a_.db); }

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
        Conn c(redisConnectWithTimeout(a_.host.c_str(), a_.port, timeout));
        if (!c) throw StoreError("cannot reach Redis at " + describe());
        if (c->err) throw StoreError("cannot reach Redis at " + describe() + ": " + c->errstr);
        redisSetTimeout(c.get(), timeout);
        if (!a_.password.empty()) {
            Reply r(static_cast<redisReply *>(a_.user.empty() ? redisCommand(c.get(), "AUTH %b", a_.password.data(), a_.password.size())
                                                              : redisCommand(c.get(), "AUTH %b %b", a_.user.data(), a_.user.size(),
                                                                             a_.password.data(), a_.password.size())));
            if (!r) throw StoreError("Redis at " + describe() + " did not answer AUTH: " + c->errstr);
            if (r->type == REDIS_REPLY_ERROR) throw StoreError("Redis at " + describe() + " refused the password: " + std::string(r->str, r->len));
        }
        if (a_.db != 0) {
            Reply r(static_cast<redisReply *>(redisCommand(c.get(), "SELECT %d", a_.db)));
            if (!r || r->type == REDIS_REPLY_ERROR) throw StoreError("Redis refused SELECT " + std::to_string(a_.db));
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

    // GET and SET are safe to send twice, but only when the first did not reach Redis: a command that
    // timed out may still be waiting there, and would be applied when Redis resumes.
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
            const int error = errno;
            // A pooled connection fails when Redis restarted since its last use (closed or reset, so the
            // command never ran), and so would the others in the pool: they are dropped, and the
            // command goes again on a new connection. A timeout is not retried (see above).
            if (!r) {
                const bool timed_out = c->err == REDIS_ERR_IO && (error == EAGAIN || error == EWOULDBLOCK || error == ETIMEDOUT);
                if (timed_out) throw StoreError("Redis at " + describe() + " did not answer within 5 s");
                drop_idle();
                c.reset();
            }
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

    RedisAddress a_;
    std::mutex mu_;
    std::vector<redisContext *> idle_;
};

} // namespace

std::unique_ptr<SessionStore> open_session_store(const std::string &spec, size_t ram_bytes) {
    if (spec == "memory") return std::make_unique<MemoryStore>(ram_bytes);
    if (spec.rfind("redis://", 0) == 0) { // redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
        std::string rest = spec.substr(8);
        RedisAddress a;
        if (const size_t at = rest.rfind('@'); at != std::string::npos) {
            const std::string credentials = rest.substr(0, at);
            const size_t colon = credentials.find(':');
            if (colon == std::string::npos) throw StoreError("--state-store: write the Redis password as redis://:PASSWORD@HOST");
            a.user = credentials.substr(0, colon);
            a.password = credentials.substr(colon + 1);
            rest.erase(0, at + 1);
        }
        if (const size_t slash = rest.find('/'); slash != std::string::npos) {
            try {
                a.db = std::stoi(rest.substr(slash + 1));
            } catch (const std::exception &) {
                throw StoreError("bad database number in --state-store " + rest);
            }
            rest.resize(slash);
        }
        a.host = rest;
        if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
            a.host = rest.substr(0, colon);
            try {
                a.port = std::stoi(rest.substr(colon + 1));
            } catch (const std::exception &) {
                throw StoreError("bad port in --state-store " + rest);
            }
        }
        if (a.host.empty()) throw StoreError("no host in --state-store redis://" + rest);
        return std::make_unique<RedisStore>(std::move(a));
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
