// The server under test runs as a separate process (`syncws serve --echo`), so that its
// memory, threads and descriptors can be read from /proc/<pid> without the clients' own
// counting in.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace soak {

/// What /proc says about a process at one moment.
struct process_sample {
    long rss_kib = 0;       ///< VmRSS = RssAnon + RssFile + RssShmem
    long rss_anon_kib = 0;  ///< heap, stacks: what the process allocated
    long rss_file_kib = 0;  ///< code and data of the program and its libraries
    int threads = 0;
    int fds = 0;      ///< open descriptors
    int sockets = 0;  ///< of which sockets
};

/// Reads /proc/<pid>/status and /proc/<pid>/fd. Throws std::runtime_error if the process
/// is gone.
inline process_sample sample_process(pid_t pid) {
    const std::string base = "/proc/" + std::to_string(pid);
    process_sample s;
    std::ifstream status(base + "/status");
    if (!status) throw std::runtime_error("cannot read " + base + "/status: the process is gone");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stol(line.substr(6));
        if (line.rfind("RssAnon:", 0) == 0) s.rss_anon_kib = std::stol(line.substr(8));
        if (line.rfind("RssFile:", 0) == 0) s.rss_file_kib = std::stol(line.substr(8));
        if (line.rfind("Threads:", 0) == 0) s.threads = std::stoi(line.substr(8));
    }
    DIR* dir = ::opendir((base + "/fd").c_str());
    if (dir == nullptr) throw std::runtime_error("cannot list " + base + "/fd");
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        ++s.fds;
        char target[64] = {};
        const std::string link = base + "/fd/" + entry->d_name;
        if (::readlink(link.c_str(), target, sizeof target - 1) > 0 && std::strncmp(target, "socket:", 7) == 0)
            ++s.sockets;
    }
    ::closedir(dir);
    return s;
}

/// A child process whose first line of output says where it listens. Stopped (SIGTERM, then
/// SIGKILL) when destroyed, if stop() was not called. The soak echo server also ends when
/// the thread that started it does (PR_SET_PDEATHSIG, echo_server.cpp): start it from a
/// thread that outlives it.
/// Thread-safety: none, except kill_all(); one owner.
class server_process {
public:
    /// Starts program with arguments and the current environment plus extra_environment
    /// ("NAME=value"), its stderr going to log_path, and waits up to startup_timeout for
    /// its first line. Throws std::runtime_error if it does not start or says nothing.
    server_process(const std::string& program, const std::vector<std::string>& arguments,
                   const std::vector<std::string>& extra_environment, const std::string& log_path,
                   std::chrono::seconds startup_timeout) {
        int out[2];
        if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
        output_fd_ = out[0];

        std::vector<std::string> argv_storage{program};
        argv_storage.insert(argv_storage.end(), arguments.begin(), arguments.end());
        std::vector<char*> argv;
        for (auto& a : argv_storage) argv.push_back(a.data());
        argv.push_back(nullptr);
        // extra_environment replaces variables of the same name (getenv would find the first).
        std::vector<std::string> env_storage = extra_environment;
        for (char** e = environ; *e != nullptr; ++e) {
            const std::string entry = *e;
            const std::string name = entry.substr(0, entry.find('=') + 1);
            bool replaced = false;
            for (const auto& extra : extra_environment) replaced = replaced || extra.rfind(name, 0) == 0;
            if (!replaced) env_storage.push_back(entry);
        }
        std::vector<char*> envp;
        for (auto& e : env_storage) envp.push_back(e.data());
        envp.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        // Nothing else of ours: the client library's sockets are not close-on-exec, and a
        // server holding clients' sockets would count them as its own descriptors.
        posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
        const int rc = ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        ::close(out[1]);
        if (rc != 0) {
            ::close(output_fd_);
            throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
        }
        {
            std::lock_guard<std::mutex> lk(registry_mutex());
            registry().insert(pid_);
        }
        first_line_ = read_line(startup_timeout);
    }

    /// Kills every server process still running, for a program that must end at once.
    /// Thread-safety: safe from any thread.
    static void kill_all() noexcept {
        std::lock_guard<std::mutex> lk(registry_mutex());
        for (const pid_t pid : registry()) ::kill(pid, SIGKILL);
    }

    ~server_process() {
        if (pid_ > 0) stop(std::chrono::seconds(10));
        ::close(output_fd_);
    }

    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    pid_t pid() const { return pid_; }
    /// Sends sig and returns the next line the process prints, waiting up to timeout.
    std::string ask(int sig, std::chrono::seconds timeout) {
        ::kill(pid_, sig);
        return read_line(timeout);
    }
    const std::string& first_line() const { return first_line_; }
    process_sample sample() const { return sample_process(pid_); }

    /// Sends SIGTERM and waits up to timeout for the process to end, then kills it. Returns
    /// how it ended: "exit status 0", "exit status 1", "killed by signal 9" ...
    std::string stop(std::chrono::seconds timeout) {
        if (pid_ <= 0) return ended_;
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        int status = 0;
        for (;;) {
            const pid_t done = ::waitpid(pid_, &status, WNOHANG);
            if (done == pid_) break;
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                ended_ = "did not stop within " + std::to_string(timeout.count()) + " s of SIGTERM; killed";
                forget();
                return ended_;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        forget();
        if (WIFEXITED(status))
            ended_ = "exit status " + std::to_string(WEXITSTATUS(status));
        else
            ended_ = "killed by signal " + std::to_string(WTERMSIG(status));
        return ended_;
    }

private:
    static std::set<pid_t>& registry() {
        static std::set<pid_t> pids;
        return pids;
    }
    static std::mutex& registry_mutex() {
        static std::mutex m;
        return m;
    }
    void forget() {
        std::lock_guard<std::mutex> lk(registry_mutex());
        registry().erase(pid_);
        pid_ = -1;
    }

    std::string read_line(std::chrono::seconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::string line;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) throw std::runtime_error("the server printed no line within " +
                                                            std::to_string(timeout.count()) + " s");
            pollfd p{output_fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char c;
            const ssize_t n = ::read(output_fd_, &c, 1);
            if (n <= 0) throw std::runtime_error("the server ended before printing where it listens");
            if (c == '\n') return line;
            line += c;
        }
    }

    pid_t pid_ = -1;
    int output_fd_ = -1;
    std::string first_line_;
    std::string ended_;
};

}  // namespace soak
