// syncws: a command-line WebSocket client and server on top of the blocking API.
//
// Three commands: `connect` (interactive client: stdin lines out, messages in), `serve` (echo
// or broadcast server) and `echo-client` (sends back whatever it receives; the conformance
// harness drives our client with it). The usage text below is the reference for the options
// and the output format. Exit status: 0 after a clean close (or when serve is stopped by a
// signal), 1 when the connection failed or closed with an error, 2 for a usage error.

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <syncws/syncws.hpp>

namespace {

constexpr std::string_view usage_text = R"(usage: syncws connect URL [--header 'NAME: VALUE']... [--subprotocol P]...
                      [--unix PATH] [--max-size BYTES] [--proxy URL]
                      [--ca FILE | --insecure] [--cert FILE [--key FILE]]
       syncws serve [--host H] [--port P | --unix PATH] (--echo | --broadcast)
                    [--max-size BYTES]
                    [--tls-cert FILE [--tls-key FILE] [--tls-client-ca FILE]]
       syncws echo-client URL [--header 'NAME: VALUE']... [--subprotocol P]...
                          [--unix PATH] [--max-size BYTES] [--proxy URL]
                          [--ca FILE | --insecure] [--cert FILE [--key FILE]]
       syncws --help

commands:
  connect      Sends each line of stdin as a text message (without its line end) and
               prints each message received on stdout, followed by a newline: text as it
               is, binary as "<binary N bytes>" followed by the hex of its first 64 bytes
               ("01 02 ff", then " ..." when there are more). At the end of stdin, closes
               with 1000 and still prints what arrives until the close completes.
  serve        Listens and prints one line, "listening on ws://HOST:PORT" (wss:// with
               --tls-cert; "listening on unix:PATH" with --unix); then echoes every
               message to its sender (--echo) or relays it to every connected client, the
               sender included (--broadcast). Stops gracefully on SIGINT or SIGTERM: open
               connections are closed with 1001. With --tls-cert it speaks wss:// only; a
               client's failed TLS handshake is not reported (it is the client's to see).
  echo-client  Connects and sends every message received back, with the same type, until
               the peer closes.

options:
  --header 'NAME: VALUE'  add a field to the opening request (repeatable)
  --subprotocol P         offer subprotocol P (repeatable, in order of preference)
  --unix PATH             use the Unix-domain socket PATH; for a client the URL still gives
                          the Host header and the resource (ws://localhost/)
  --host H                address to listen on (default 127.0.0.1; "::" for every interface)
  --port P                port to listen on (default 8765; 0 lets the OS choose)
  --max-size BYTES        largest message accepted (default: the library's, 16 MiB);
                          a larger one closes the connection with 1009
  --echo, --broadcast     what serve does with each message
  --proxy URL             connect through the HTTP CONNECT proxy at URL
                          (http://[USER:PASSWORD@]HOST:PORT; "" for none; by default the
                          environment decides: https_proxy, http_proxy, all_proxy, no_proxy)
  --ca FILE               wss://: trust the CA certificates in FILE (PEM), or in a directory
                          of hashed certificates, instead of the system's
  --insecure              wss://: skip certificate and host-name verification; the traffic
                          is encrypted, but anyone on the path can read it (for tests only)
  --cert FILE             wss://: present this client certificate (PEM, with its chain)...
  --key FILE              ...and this key (default: the key is in the --cert file)
  --tls-cert FILE         serve wss:// with this certificate chain (PEM, server first)...
  --tls-key FILE          ...and this key (default: the key is in the --tls-cert file)
  --tls-client-ca FILE    require client certificates issued by a CA in FILE (mutual TLS)

exit status: 0 after a clean close (1000 or 1001, started by either side) or when serve is
stopped by a signal; 1 when the connection failed or closed with an error; 2 for a usage
error.
)";

// Binary messages are shown as hex, but only their beginning: the point is to recognise
// them, and a 16 MiB message must not flood the terminal.
constexpr std::size_t hex_preview_bytes = 64;

constexpr std::string_view default_host = "127.0.0.1";
constexpr std::uint16_t default_port = 8765;

// ------------------------------------------------------------------ command line

enum class command { connect, serve, echo_client };
enum class serve_mode { none, echo, broadcast };

struct arguments {
    bool help = false;
    command cmd = command::connect;
    std::string url;
    syncws::core::http_headers headers;
    std::vector<std::string> subprotocols;
    std::optional<std::string> host;
    std::optional<std::uint16_t> port;
    std::string unix_path;
    serve_mode mode = serve_mode::none;
    std::size_t max_size = syncws::connection_settings{}.max_message_size;
    std::optional<std::string> proxy;
    syncws::tls_client_options client_tls;
    syncws::tls_server_options server_tls;
};

class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Which commands accept which option; the table is what makes "--host with connect" a
// usage error rather than an option silently ignored.
enum : unsigned { for_connect = 1, for_serve = 2, for_echo_client = 4 };
constexpr unsigned for_clients = for_connect | for_echo_client;
constexpr unsigned for_all = for_clients | for_serve;

struct option_spec {
    std::string_view name;
    bool takes_value;
    unsigned commands;
};

constexpr option_spec option_table[] = {
    {"--header", true, for_clients},    {"--subprotocol", true, for_clients},
    {"--unix", true, for_all},          {"--max-size", true, for_all},
    {"--host", true, for_serve},        {"--port", true, for_serve},
    {"--echo", false, for_serve},       {"--broadcast", false, for_serve},
    {"--proxy", true, for_clients},     {"--ca", true, for_clients},
    {"--insecure", false, for_clients}, {"--cert", true, for_clients},
    {"--key", true, for_clients},       {"--tls-cert", true, for_serve},
    {"--tls-key", true, for_serve},     {"--tls-client-ca", true, for_serve},
};

unsigned command_bit(command cmd) {
    switch (cmd) {
        case command::connect: return for_connect;
        case command::serve: return for_serve;
        case command::echo_client: return for_echo_client;
    }
    return 0;
}

command parse_command(std::string_view word) {
    if (word == "connect") return command::connect;
    if (word == "serve") return command::serve;
    if (word == "echo-client") return command::echo_client;
    throw usage_error("unknown command '" + std::string(word) + "'");
}

const option_spec& find_option(std::string_view name, command cmd) {
    for (const option_spec& spec : option_table) {
        if (spec.name != name) continue;
        if ((spec.commands & command_bit(cmd)) == 0)
            throw usage_error("option " + std::string(name) + " does not apply to this command");
        return spec;
    }
    throw usage_error("unknown option '" + std::string(name) + "'");
}

// A decimal number in [min, max]; the whole word must be digits.
std::uint64_t parse_number(std::string_view option, std::string_view text, std::uint64_t min,
                           std::uint64_t max) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
        value > max)
        throw usage_error(std::string(option) + " needs a number from " + std::to_string(min) +
                          " to " + std::to_string(max) + ", not '" + std::string(text) + "'");
    return value;
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

void add_header(syncws::core::http_headers& headers, std::string_view field) {
    const auto colon = field.find(':');
    const std::string_view name =
        colon == std::string_view::npos ? std::string_view() : trim(field.substr(0, colon));
    if (name.empty())
        throw usage_error("--header needs 'NAME: VALUE', not '" + std::string(field) + "'");
    headers.add(std::string(name), std::string(trim(field.substr(colon + 1))));
}

bool is_directory(std::string_view path) {
    struct stat status {};
    return ::stat(std::string(path).c_str(), &status) == 0 && S_ISDIR(status.st_mode);
}

// The TLS options: false when name is none of them.
bool apply_tls_option(arguments& args, std::string_view name, std::string_view value) {
    if (name == "--ca")
        (is_directory(value) ? args.client_tls.ca_path : args.client_tls.ca_file) = value;
    else if (name == "--insecure")
        args.client_tls.insecure = true;
    else if (name == "--cert")
        args.client_tls.cert_file = value;
    else if (name == "--key")
        args.client_tls.key_file = value;
    else if (name == "--tls-cert")
        args.server_tls.cert_file = value;
    else if (name == "--tls-key")
        args.server_tls.key_file = value;
    else if (name == "--tls-client-ca")
        args.server_tls.client_ca_file = value;
    else
        return false;
    return true;
}

void apply_option(arguments& args, std::string_view name, std::string_view value) {
    if (apply_tls_option(args, name, value)) return;
    if (name == "--header") {
        add_header(args.headers, value);
    } else if (name == "--subprotocol") {
        args.subprotocols.emplace_back(value);
    } else if (name == "--unix") {
        args.unix_path = value;
    } else if (name == "--max-size") {
        args.max_size = static_cast<std::size_t>(parse_number(name, value, 1, SIZE_MAX));
    } else if (name == "--host") {
        args.host = std::string(value);
    } else if (name == "--port") {
        args.port = static_cast<std::uint16_t>(parse_number(name, value, 0, 65535));
    } else if (name == "--proxy") {
        args.proxy = std::string(value);
    } else if (name == "--echo" || name == "--broadcast") {
        const serve_mode mode = name == "--echo" ? serve_mode::echo : serve_mode::broadcast;
        if (args.mode != serve_mode::none && args.mode != mode)
            throw usage_error("choose one of --echo and --broadcast");
        args.mode = mode;
    }
}

void check_complete(const arguments& args) {
    if (args.cmd == command::serve) {
        if (args.mode == serve_mode::none) throw usage_error("serve needs --echo or --broadcast");
        if (!args.unix_path.empty() && (args.host || args.port))
            throw usage_error("--unix cannot be combined with --host or --port");
        const syncws::tls_server_options& tls = args.server_tls;
        if (tls.cert_file.empty() && (!tls.key_file.empty() || !tls.client_ca_file.empty()))
            throw usage_error("--tls-key and --tls-client-ca need --tls-cert");
        return;
    }
    if (args.url.empty()) throw usage_error("missing URL");
    const syncws::tls_client_options& tls = args.client_tls;
    if (tls.insecure && !(tls.ca_file.empty() && tls.ca_path.empty()))
        throw usage_error("--insecure verifies nothing, so --ca has no use with it; choose one");
    if (tls.cert_file.empty() && !tls.key_file.empty()) throw usage_error("--key needs --cert");
}

// Options take their value as the next word or after '=' (--port=0).
arguments parse_arguments(int argc, char** argv) {
    const std::vector<std::string_view> words(argv + 1, argv + argc);
    arguments args;
    if (std::find(words.begin(), words.end(), "--help") != words.end() ||
        std::find(words.begin(), words.end(), "-h") != words.end()) {
        args.help = true;
        return args;
    }
    if (words.empty()) throw usage_error("missing command");
    args.cmd = parse_command(words[0]);
    for (std::size_t i = 1; i < words.size(); ++i) {
        const std::string_view word = words[i];
        if (word.substr(0, 2) != "--") {
            if (args.cmd == command::serve || !args.url.empty())
                throw usage_error("unexpected argument '" + std::string(word) + "'");
            args.url = word;
            continue;
        }
        const auto equals = word.find('=');
        const std::string_view name = word.substr(0, equals);
        const option_spec& spec = find_option(name, args.cmd);
        std::string_view value;
        if (equals != std::string_view::npos) {
            if (!spec.takes_value)
                throw usage_error("option " + std::string(name) + " takes no value");
            value = word.substr(equals + 1);
        } else if (spec.takes_value) {
            if (++i == words.size())
                throw usage_error("option " + std::string(name) + " needs a value");
            value = words[i];
        }
        apply_option(args, name, value);
    }
    check_complete(args);
    return args;
}

// ------------------------------------------------------------------ output

void print_error(std::string_view text) {
    // One write, so that lines from several threads do not interleave.
    const std::string line = "syncws: " + std::string(text) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string describe_binary(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text = "<binary " + std::to_string(bytes.size()) + " bytes>";
    for (const char c : bytes.substr(0, hex_preview_bytes)) {
        const auto byte = static_cast<unsigned char>(c);
        text += ' ';
        text += digits[byte >> 4];
        text += digits[byte & 0xf];
    }
    if (bytes.size() > hex_preview_bytes) text += " ...";
    return text;
}

void print_line(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);  // the user (or a script) waits for each message as it comes
}

void print_message(const syncws::message& m) {
    if (m.is_binary())
        print_line(describe_binary(m.data));
    else
        print_line(m.data);
}

// ------------------------------------------------------------------ clients

syncws::client_options client_options_for(const arguments& args) {
    syncws::client_options options;
    options.settings.max_message_size = args.max_size;
    options.subprotocols = args.subprotocols;
    options.extra_headers = args.headers;
    options.unix_socket = args.unix_path;
    options.proxy = args.proxy;
    options.tls = args.client_tls;
    return options;
}

// Receives until the connection closes, handing each message to on_message. Returns how the
// connection failed, or nothing after a clean close (ours or the peer's). A send from
// on_message may be the call that finds the connection closed, so it is judged the same way.
std::optional<std::string> receive_until_closed(
    syncws::connection& ws, const std::function<void(const syncws::message&)>& on_message) {
    try {
        for (auto& m : ws) on_message(m);  // ends quietly at a clean close
        return std::nullopt;
    } catch (const syncws::connection_closed& e) {
        return "connection closed: " + std::string(e.what());
    } catch (const syncws::error& e) {
        return std::string(e.what());
    }
}

// Prints the failure, if any; returns the exit status.
int report(const std::optional<std::string>& failure) {
    if (!failure) return 0;
    print_error(*failure);
    return 1;
}

// A pipe whose read end becomes readable once notify() is called: it lets the receiver
// thread cut short the main thread's wait for stdin.
class wake_pipe {
public:
    wake_pipe() {
        if (::pipe(fds_) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    }
    ~wake_pipe() {
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    wake_pipe(const wake_pipe&) = delete;
    wake_pipe& operator=(const wake_pipe&) = delete;

    int read_fd() const { return fds_[0]; }
    void notify() {
        const char byte = 0;
        while (::write(fds_[1], &byte, 1) < 0 && errno == EINTR) {
        }
    }

private:
    int fds_[2] = {-1, -1};
};

// Reads stdin line by line with read(2) and poll(2) rather than std::getline, because the
// wait must end when the connection does, even if the user types nothing more.
class line_reader {
public:
    explicit line_reader(int wake_fd) : wake_fd_(wake_fd) {}

    /// The next line without its "\n" or "\r\n"; nothing at the end of stdin or once woken.
    std::optional<std::string> next() {
        for (;;) {
            const auto newline = buffer_.find('\n');
            if (newline != std::string::npos) return take(newline, 1);
            if (at_end_) {
                if (buffer_.empty()) return std::nullopt;
                return take(buffer_.size(), 0);  // a last line without a line end
            }
            if (!wait_for_input()) return std::nullopt;
            fill();
        }
    }

private:
    std::string take(std::size_t length, std::size_t terminator) {
        std::string line = buffer_.substr(0, length);
        buffer_.erase(0, length + terminator);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }

    // False when woken.
    bool wait_for_input() const {
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        while (::poll(fds, 2, -1) < 0) {
            if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
        }
        return fds[1].revents == 0;
    }

    void fill() {
        char chunk[4096];
        const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
        if (n > 0) {
            buffer_.append(chunk, static_cast<std::size_t>(n));
        } else if (n == 0) {
            at_end_ = true;
        } else if (errno != EINTR && errno != EAGAIN) {
            throw std::system_error(errno, std::generic_category(), "cannot read stdin");
        }
    }

    int wake_fd_;
    std::string buffer_;
    bool at_end_ = false;
};

// Sends each line as a text message until stdin ends or the connection does. A line that
// is not UTF-8 cannot be a text message; it is reported and skipped.
void send_lines(syncws::connection& ws, line_reader& input) {
    while (const auto line = input.next()) {
        try {
            ws.send(*line);
        } catch (const syncws::connection_closed&) {
            return;  // the receiver reports how it ended
        } catch (const syncws::protocol_error& e) {
            print_error("line not sent: " + std::string(e.what()));
        }
    }
}

int run_connect(const arguments& args) {
    syncws::client_connection ws = syncws::connect(args.url, client_options_for(args));
    wake_pipe connection_ended;
    std::optional<std::string> failure;
    // The receiver prints as messages come while this thread waits for stdin: send is safe
    // from any thread, and this is the only receiver.
    std::thread receiver([&] {
        failure = receive_until_closed(ws, print_message);
        connection_ended.notify();
    });
    std::optional<std::string> input_failure;
    try {
        line_reader input(connection_ended.read_fd());
        send_lines(ws, input);
    } catch (const std::exception& e) {
        input_failure = e.what();  // reported after the close, which must happen anyway
    }
    try {
        ws.close();  // returns at once if the peer closed first
    } catch (const syncws::error&) {
        // The receiver sees the same end of the connection and reports it.
    }
    receiver.join();
    if (input_failure) print_error(*input_failure);
    return std::max(report(failure), input_failure ? 1 : 0);
}

int run_echo_client(const arguments& args) {
    syncws::client_connection ws = syncws::connect(args.url, client_options_for(args));
    return report(receive_until_closed(ws, [&](const syncws::message& m) { ws.send(m); }));
}

// ------------------------------------------------------------------ server

// SIGINT and SIGTERM are blocked in every thread (threads inherit the mask of the thread
// that starts them, so this runs before any is started) and taken by sigwait() instead: a
// signal handler could not safely call server::shutdown().
sigset_t block_stop_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    if (const int rc = pthread_sigmask(SIG_BLOCK, &signals, nullptr); rc != 0)
        throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
    return signals;
}

syncws::server_options server_options_for(const arguments& args) {
    syncws::server_options options;
    if (args.unix_path.empty()) {
        options.host = args.host.value_or(std::string(default_host));
        options.port = args.port.value_or(default_port);
    }
    options.unix_socket = args.unix_path;
    options.settings.max_message_size = args.max_size;
    options.tls = args.server_tls;
    return options;
}

int run_serve(const arguments& args) {
    const sigset_t stop_signals = block_stop_signals();
    const bool broadcast = args.mode == serve_mode::broadcast;
    // The handler may refer to the server: no connection is accepted before serve_forever().
    syncws::server server(server_options_for(args), [&server, broadcast](auto& ws) {
        // How a connection ends is the client's business; the server just goes on.
        receive_until_closed(ws, [&](const syncws::message& m) {
            if (broadcast)
                server.broadcast(m);
            else
                ws.send(m);
        });
    });

    // Scripts wait for this line to learn the port (print_line flushes).
    const char* scheme = !args.unix_path.empty() ? "unix:" : args.server_tls.enabled() ? "wss://" : "ws://";
    print_line("listening on " + std::string(scheme) + server.address());

    std::thread stopper([&] {
        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
        server.shutdown();
    });
    std::optional<std::string> failure;
    try {
        server.serve_forever();
    } catch (const syncws::error& e) {
        failure = e.what();
        ::kill(::getpid(), SIGTERM);  // ends the stopper's wait (the signal is blocked everywhere)
    }
    stopper.join();
    return report(failure);
}

int run(const arguments& args) {
    switch (args.cmd) {
        case command::connect: return run_connect(args);
        case command::serve: return run_serve(args);
        case command::echo_client: return run_echo_client(args);
    }
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    arguments args;
    try {
        args = parse_arguments(argc, argv);
    } catch (const usage_error& e) {
        print_error(std::string(e.what()) + "\nTry 'syncws --help'.");
        return 2;
    }
    if (args.help) {
        std::fwrite(usage_text.data(), 1, usage_text.size(), stdout);
        return 0;
    }
    try {
        return run(args);
    } catch (const syncws::invalid_uri& e) {
        print_error(e.what());
        return 2;  // the URL on the command line is wrong
    } catch (const std::exception& e) {
        print_error(e.what());
        return 1;
    }
}
