// Paths that name something other than a regular file: loads never block on a FIFO and say what the
// path is; saves never replace anything but a regular file; stale temporary files of killed saves are
// removed by the next save; an empty path is an argument error; a model read into memory (use_mmap = 0)
// does not depend on its file any more.
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/model_helpers.h"

namespace {

namespace fs = std::filesystem;

const char *const kTiny7 = "pth/tiny-rwkv-7v0-834K-fp32.pth";

std::string last_error() { return rwkvrt_last_error(); }

// A fresh folder of the scratch dir for one test case.
std::string folder(const std::string &name) {
    const std::string dir = testdata::scratch_dir() + "/" + name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

void write_text(const std::string &path, const std::string &text) {
    std::ofstream(path, std::ios::binary) << text;
}

std::string read_text(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every way to open a file by path, each expected to fail with `status` and a message containing `words`.
// Model files may also be folders (Hugging Face layout): `model_status` and `model_words` are what the
// model-file loaders (model, state-tuning file) say, when that differs.
void check_every_load(const th::ModelPtr &m, const std::string &path, rwkvrt_status status, const std::string &words,
                      rwkvrt_status model_status = RWKVRT_OK, std::string model_words = "") {
    if (model_status == RWKVRT_OK) {
        model_status = status;
        model_words = words;
    }
    // A load that blocks (as on a FIFO before the fix) ends the test process instead of hanging.
    ::alarm(30);
    rwkvrt_model *model = nullptr;
    CHECK(rwkvrt_model_load(path.c_str(), nullptr, &model) == model_status);
    CHECK(model == nullptr);
    CHECK_MESSAGE(last_error().find(model_words) != std::string::npos, last_error());
    rwkvrt_tokenizer *tok = nullptr;
    CHECK(rwkvrt_tokenizer_load(path.c_str(), &tok) == status);
    CHECK(tok == nullptr);
    CHECK_MESSAGE(last_error().find(words) != std::string::npos, last_error());
    th::StatePtr s = th::new_state(m.get());
    CHECK(rwkvrt_state_load(s.get(), path.c_str()) == status);
    CHECK_MESSAGE(last_error().find(words) != std::string::npos, last_error());
    CHECK(rwkvrt_state_load_initial(s.get(), path.c_str()) == model_status);
    CHECK_MESSAGE(last_error().find(model_words) != std::string::npos, last_error());
    ::alarm(0);
}

} // namespace

TEST_CASE("loading from a FIFO, a directory or a device fails at once, naming what the path is") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path(kTiny7));
    const std::string dir = folder("load-types");
    const std::string fifo = dir + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    check_every_load(m, fifo, RWKVRT_ERR_IO, "a FIFO");
    check_every_load(m, dir, RWKVRT_ERR_IO, "a directory", RWKVRT_ERR_FORMAT, "a folder without config.json");
    check_every_load(m, "/dev/null", RWKVRT_ERR_IO, "a character device");
    // A symbolic link to a FIFO is judged by what it points to.
    REQUIRE(::symlink(fifo.c_str(), (dir + "/link").c_str()) == 0);
    check_every_load(m, dir + "/link", RWKVRT_ERR_IO, "a FIFO");
}

TEST_CASE("an empty path is an argument error, not an I/O error") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path(kTiny7));
    check_every_load(m, "", RWKVRT_ERR_ARGUMENT, "empty");
    th::StatePtr s = th::new_state(m.get());
    CHECK(rwkvrt_state_save(s.get(), "") == RWKVRT_ERR_ARGUMENT);
}

TEST_CASE("a save replaces only a regular file or nothing; symbolic links are refused, not followed") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path(kTiny7));
    th::StatePtr s = th::new_state(m.get());
    const std::string dir = folder("save-types");

    auto refused = [&](const std::string &path, const std::string &words) {
        for (const bool gguf : {false, true}) { // a state file, and a model written as GGUF
            CAPTURE(gguf);
            const fs::file_status before = fs::symlink_status(path);
            CHECK((gguf ? rwkvrt_model_save_gguf(m.get(), path.c_str(), nullptr) : rwkvrt_state_save(s.get(), path.c_str())) == RWKVRT_ERR_IO);
            CHECK_MESSAGE(last_error().find(words) != std::string::npos, last_error());
            CHECK(fs::symlink_status(path).type() == before.type()); // still what it was
            for (const auto &e : fs::directory_iterator(dir)) // and no temporary file left behind
                CHECK_MESSAGE(e.path().filename().string().find(".tmp") == std::string::npos, e.path());
        }
    };
    CHECK(rwkvrt_model_save_gguf(m.get(), "", nullptr) == RWKVRT_ERR_ARGUMENT); // it had written a temporary file, then failed to rename it

    const std::string fifo = dir + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    refused(fifo, "a FIFO");
    fs::create_directory(dir + "/sub");
    refused(dir + "/sub", "a directory");
    // A character device of our own (the null device's numbers), never the system's /dev/null: the
    // code before the fix would have replaced it. Needs root, as CI has.
    const std::string dev = dir + "/null-device";
    if (::mknod(dev.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0)
        refused(dev, "a character device");
    else
        MESSAGE("mknod not permitted (not root): the character device case is not checked");

    // A link to a regular file: neither the link nor its target changes.
    const std::string target = dir + "/target.rwkvstate", link = dir + "/link.rwkvstate";
    write_text(target, "previous content");
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    refused(link, "a symbolic link");
    CHECK(read_text(target) == "previous content");
    // A dangling link too: saving would create a file where the user expected the link's target.
    REQUIRE(::symlink((dir + "/nowhere").c_str(), (dir + "/dangling").c_str()) == 0);
    refused(dir + "/dangling", "a symbolic link");
    CHECK_FALSE(fs::exists(dir + "/nowhere"));

    // Regular files and new names are saved as before.
    CHECK(rwkvrt_state_save(s.get(), target.c_str()) == RWKVRT_OK);
    CHECK(read_text(target) != "previous content");
    CHECK(rwkvrt_state_save(s.get(), (dir + "/new.rwkvstate").c_str()) == RWKVRT_OK);
    CHECK(rwkvrt_state_load(s.get(), (dir + "/new.rwkvstate").c_str()) == RWKVRT_OK);
}

TEST_CASE("a save removes the temporary files that killed saves of the same path left behind") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path(kTiny7));
    th::StatePtr s = th::new_state(m.get());
    const std::string dir = folder("stale-temporaries");
    const std::string path = dir + "/chat.rwkvstate";
    // Left by killed processes: nobody holds them.
    const std::string stale1 = path + ".tmp999999-0", stale2 = path + ".tmp12-7";
    write_text(stale1, "half a state");
    write_text(stale2, "");
    // A save in progress in another process holds its lock: it must survive.
    const std::string live = path + ".tmp4242-1";
    write_text(live, "being written");
    const int live_fd = ::open(live.c_str(), O_RDONLY);
    REQUIRE(live_fd >= 0);
    REQUIRE(::flock(live_fd, LOCK_EX) == 0);
    const pid_t holder = ::fork(); // flock is per open file, so the lock must be held by another process
    if (holder == 0) {
        ::pause();
        ::_exit(0);
    }
    ::close(live_fd); // the child's copy of the descriptor keeps the lock
    // Files that only look similar belong to someone else.
    const std::vector<std::string> others = {dir + "/other.rwkvstate.tmp1-1", path + ".tmp", path + ".tmp1-",
                                             path + ".tmpx-1", path + ".tmp1-1.bak"};
    for (const std::string &f : others) write_text(f, "not ours");

    CHECK(rwkvrt_state_save(s.get(), path.c_str()) == RWKVRT_OK);
    CHECK_FALSE(fs::exists(stale1));
    CHECK_FALSE(fs::exists(stale2));
    CHECK(fs::exists(live));
    for (const std::string &f : others) CHECK_MESSAGE(fs::exists(f), f);
    ::kill(holder, SIGKILL);
    ::waitpid(holder, nullptr, 0);

    // Once its writer is gone, the next save removes it too.
    CHECK(rwkvrt_state_save(s.get(), path.c_str()) == RWKVRT_OK);
    CHECK_FALSE(fs::exists(live));
}

TEST_CASE("a model read into memory (use_mmap = 0, the default, and NULL options) is immune to its file changing") {
    REQUIRE_TESTDATA();
    CHECK(rwkvrt_load_options_default().use_mmap == 0);
    for (const bool null_options : {false, true}) {
        CAPTURE(null_options);
        const std::string dir = folder(null_options ? "mmap-off-null" : "mmap-off");
        const std::string copy = dir + "/model.pth";
        fs::copy_file(testdata::path(kTiny7), copy);
        const rwkvrt_load_options o = rwkvrt_load_options_default();
        rwkvrt_model *raw = nullptr;
        REQUIRE(rwkvrt_model_load(copy.c_str(), null_options ? nullptr : &o, &raw) == RWKVRT_OK);
        th::ModelPtr m(raw, rwkvrt_model_free);
        const std::vector<float> before = th::logits_after(m.get(), th::kPromptIn);
        // Overwritten in place, then truncated: a mapped model would compute with other weights, then
        // die of SIGBUS.
        {
            std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
            const std::string junk(1 << 16, '\x7f');
            f.seekp(4096);
            f.write(junk.data(), std::streamsize(junk.size()));
        }
        CHECK(th::max_abs_diff(th::logits_after(m.get(), th::kPromptIn), before) == 0.0);
        fs::resize_file(copy, 0);
        CHECK(th::max_abs_diff(th::logits_after(m.get(), th::kPromptIn), before) == 0.0);
    }
}
