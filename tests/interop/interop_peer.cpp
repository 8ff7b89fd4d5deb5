// The syncws side of the interop matrix: plays scenario.json (read it first: it says what is
// exchanged and how contents are made) against a real peer, as client or as server, and
// checks everything that arrives. matrix.py starts it together with python_peer.py or
// node_peer.js, which play the "peer" side of the same scenario with the same arguments:
//
//   interop_peer server SCENARIO --deflate on|off --expect-deflate yes|no [--cert F --key F]
//       Listens on 127.0.0.1, a port the OS chooses, prints "listening on ws://127.0.0.1:PORT"
//       (wss:// with --cert), serves the sessions, and exits when stdin ends: 0 if every
//       session was served and passed its checks, 1 otherwise.
//   interop_peer client SCENARIO URL --deflate on|off --expect-deflate yes|no [--ca F]
//       Runs the sessions in order against URL; exits 0 if all passed, 1 at the first failure.
//
// --deflate: whether this side offers (client) or accepts (server) permessage-deflate;
// --expect-deflate: whether the handshake must end with it negotiated. What went wrong goes to
// stderr, with one line per session saying what was negotiated.

// Boost 1.74's JSON parser includes the old boost/bind.hpp, which asks for this (or warns).
#define BOOST_BIND_GLOBAL_PLACEHOLDERS
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <syncws/syncws.hpp>

namespace {

// ------------------------------------------------------------------ the scenario

enum class side { syncws, peer };

struct step {
    enum class kind { message, fragments, ping, close } what = kind::message;
    side from = side::syncws;
    syncws::message_type type = syncws::message_type::text;
    std::vector<std::size_t> sizes;  // message: one size; fragments: one per frame; ping: payload
    std::uint16_t code = 0;          // close
    std::string reason;              // close
};

struct session {
    std::string path;
    std::vector<std::string> subprotocols;
    std::optional<std::string> expect_subprotocol;
    std::vector<step> steps;
    std::optional<int> reject_status;
    std::string reject_body;
};

struct scenario {
    std::size_t max_message_size = 0;
    std::chrono::milliseconds step_timeout{0};
    std::vector<std::string> text_units;
    std::vector<std::string> server_subprotocols;
    std::vector<session> sessions;
};

using boost::property_tree::ptree;

std::vector<std::string> strings(const ptree& list) {
    std::vector<std::string> out;
    for (const auto& item : list) out.push_back(item.second.data());
    return out;
}

step read_step(const ptree& node) {
    step s;
    const std::string from = node.get<std::string>("from");
    if (from != "syncws" && from != "peer") throw std::runtime_error("scenario: unknown side " + from);
    s.from = from == "syncws" ? side::syncws : side::peer;
    const auto type_of = [](const std::string& name) {
        if (name == "text") return syncws::message_type::text;
        if (name == "binary") return syncws::message_type::binary;
        throw std::runtime_error("scenario: unknown message type " + name);
    };
    if (const auto type = node.get_optional<std::string>("message")) {
        s.what = step::kind::message;
        s.type = type_of(*type);
        s.sizes.push_back(node.get<std::size_t>("size"));
    } else if (const auto type = node.get_optional<std::string>("fragments")) {
        s.what = step::kind::fragments;
        s.type = type_of(*type);
        for (const auto& size : node.get_child("sizes")) s.sizes.push_back(size.second.get_value<std::size_t>());
    } else if (const auto size = node.get_optional<std::size_t>("ping")) {
        s.what = step::kind::ping;
        s.sizes.push_back(*size);
    } else if (const auto code = node.get_optional<std::uint16_t>("close")) {
        s.what = step::kind::close;
        s.code = *code;
        s.reason = node.get<std::string>("reason");
    } else {
        throw std::runtime_error("scenario: a step without message, fragments, ping or close");
    }
    return s;
}

scenario read_scenario(const std::string& path) {
    ptree root;
    boost::property_tree::read_json(path, root);
    scenario sc;
    sc.max_message_size = root.get<std::size_t>("max_message_size");
    sc.step_timeout = std::chrono::milliseconds(root.get<long>("step_timeout_seconds") * 1000);
    sc.text_units = strings(root.get_child("text_units"));
    sc.server_subprotocols = strings(root.get_child("server_subprotocols"));
    for (const auto& item : root.get_child("sessions")) {
        const ptree& node = item.second;
        session s;
        s.path = node.get<std::string>("path");
        if (const auto reject = node.get_child_optional("reject")) {
            s.reject_status = reject->get<int>("status");
            s.reject_body = reject->get<std::string>("body");
        } else {
            s.subprotocols = strings(node.get_child("subprotocols"));
            if (const auto chosen = node.get_optional<std::string>("expect_subprotocol"))
                s.expect_subprotocol = *chosen;
            for (const auto& st : node.get_child("steps")) s.steps.push_back(read_step(st.second));
        }
        sc.sessions.push_back(std::move(s));
    }
    return sc;
}

// The contents of a message, as scenario.json defines them.
std::string content(const scenario& sc, syncws::message_type type, std::size_t size, std::size_t seed) {
    std::string out;
    out.reserve(size);
    if (type == syncws::message_type::binary) {
        for (std::size_t k = 0; k < size; ++k) out.push_back(static_cast<char>((seed + k) & 0xff));
        return out;
    }
    const std::size_t n = sc.text_units.size();
    std::string cycle;  // whole cycles first, so that 16 MiB takes a few appends
    for (std::size_t k = 0; k < n; ++k) cycle += sc.text_units[(seed + k) % n];
    while (out.size() + cycle.size() <= size) out += cycle;
    for (std::size_t k = 0;; ++k) {
        const std::string& unit = sc.text_units[(seed + k) % n];
        if (out.size() + unit.size() > size) break;
        out += unit;
    }
    out.append(size - out.size(), '.');
    return out;
}

const char* type_name(syncws::message_type t) { return t == syncws::message_type::text ? "text" : "binary"; }

std::string describe(const step& s) {
    const std::string who = s.from == side::syncws ? "syncws" : "peer";
    switch (s.what) {
        case step::kind::message:
            return who + " sends " + type_name(s.type) + " of " + std::to_string(s.sizes[0]) + " bytes";
        case step::kind::fragments: {
            std::string sizes;
            for (std::size_t z : s.sizes) sizes += (sizes.empty() ? "" : ", ") + std::to_string(z);
            return who + " sends " + type_name(s.type) + " in fragments of " + sizes + " bytes";
        }
        case step::kind::ping:
            return who + " pings with " + std::to_string(s.sizes[0]) + " bytes";
        case step::kind::close:
            return who + " closes with " + std::to_string(s.code);
    }
    return who;
}

// "expected 65536 bytes, got 65535; first difference at byte 17" rather than 64 KiB dumps.
std::string difference(std::string_view expected, std::string_view got) {
    std::size_t at = 0;
    while (at < expected.size() && at < got.size() && expected[at] == got[at]) ++at;
    return "expected " + std::to_string(expected.size()) + " bytes, got " + std::to_string(got.size()) +
           "; first difference at byte " + std::to_string(at);
}

void expect(bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error(what);
}

// ------------------------------------------------------------------ playing a session

class player {
public:
    player(const scenario& sc, syncws::connection& ws) : sc_(sc), ws_(ws) {}

    void play(const session& s) {
        for (std::size_t i = 0; i < s.steps.size(); ++i) {
            try {
                if (s.steps[i].from == side::syncws)
                    act(s.steps[i], i);
                else
                    observe(s.steps[i], i);
            } catch (const std::exception& e) {
                throw std::runtime_error("step " + std::to_string(i) + " (" + describe(s.steps[i]) +
                                         "): " + e.what());
            }
        }
    }

private:
    void act(const step& s, std::size_t index) {
        switch (s.what) {
            case step::kind::message: {
                const std::string data = content(sc_, s.type, s.sizes[0], index);
                if (s.type == syncws::message_type::text)
                    ws_.send(std::string_view(data));
                else
                    ws_.send(syncws::binary(data));
                break;
            }
            case step::kind::fragments:
                // The streaming API: one frame per fragment, continuation frames after the first.
                for (std::size_t j = 0; j < s.sizes.size(); ++j)
                    ws_.send_fragment(content(sc_, s.type, s.sizes[j], index + j), j + 1 == s.sizes.size(), s.type);
                break;
            case step::kind::ping: {
                // The waiter ends only on a pong whose payload equals this ping's.
                const std::string payload = content(sc_, syncws::message_type::text, s.sizes[0], index);
                ws_.ping(payload).wait(sc_.step_timeout);
                break;
            }
            case step::kind::close: {
                ws_.close(s.code, s.reason);
                const auto echo = ws_.close_received();
                expect(echo.has_value(), "no close frame came back");
                expect(echo->code == s.code && echo->reason == s.reason,
                       "the peer answered the close with " + echo->to_string());
                break;
            }
        }
    }

    void observe(const step& s, std::size_t index) {
        switch (s.what) {
            case step::kind::message: {
                const auto m = ws_.recv(sc_.step_timeout);
                expect(m.has_value(), "no message in time");
                expect(m->type == s.type, std::string("got a ") + type_name(m->type) + " message");
                const std::string expected = content(sc_, s.type, s.sizes[0], index);
                expect(m->data == expected, difference(expected, m->data));
                break;
            }
            case step::kind::fragments:
                observe_fragments(s, index);
                break;
            case step::kind::ping:
                break;  // answered by the connection on its own; the peer checks the pong
            case step::kind::close:
                try {
                    const auto m = ws_.recv(sc_.step_timeout);
                    expect(!m.has_value(), "got a message instead of the close");
                    throw std::runtime_error("no close in time");
                } catch (const syncws::connection_closed& e) {
                    expect(e.received().has_value(), std::string("closed without a close frame: ") + e.what());
                    expect(e.code() == s.code && e.reason() == s.reason,
                           "received close " + e.received()->to_string());
                    expect(e.received_then_sent(), "the close was not the peer's");
                    const auto sent = ws_.close_sent();
                    expect(sent && sent->code == s.code && sent->reason == s.reason,
                           "answered with " + (sent ? sent->to_string() : std::string("nothing")));
                }
                break;
        }
    }

    // Streaming receive: each frame is handed out as it completes.
    void observe_fragments(const step& s, std::size_t index) {
        std::vector<std::string> expected, got;
        for (std::size_t j = 0; j < s.sizes.size(); ++j)
            if (s.sizes[j] != 0) expected.push_back(content(sc_, s.type, s.sizes[j], index + j));
        for (bool fin = false; !fin;) {
            const auto f = ws_.recv_fragment(sc_.step_timeout);
            expect(f.has_value(), "no fragment in time (" + std::to_string(got.size()) + " so far)");
            expect(f->type == s.type, std::string("a fragment of a ") + type_name(f->type) + " message");
            if (!f->data.empty()) got.push_back(f->data);
            fin = f->fin;
        }
        std::string sizes;
        for (const auto& g : got) sizes += " " + std::to_string(g.size());
        expect(got.size() == expected.size(), "got non-empty fragments of" + sizes + " bytes");
        for (std::size_t j = 0; j < got.size(); ++j)
            expect(got[j] == expected[j], "fragment " + std::to_string(j) + ": " + difference(expected[j], got[j]));
    }

    const scenario& sc_;
    syncws::connection& ws_;
};

// What the opening handshake settled, seen from this side; both roles check the same.
std::string check_handshake(const syncws::connection& ws, const session& s, bool expect_deflate, bool server) {
    const auto extensions = ws.response().headers.get("Sec-WebSocket-Extensions");
    const bool deflate = extensions && extensions->rfind("permessage-deflate", 0) == 0;
    expect(deflate == expect_deflate,
           std::string("Sec-WebSocket-Extensions ") + (server ? "sent: " : "received: ") +
               (extensions ? std::string(*extensions) : "(none)"));
    expect(ws.subprotocol() == s.expect_subprotocol,
           "subprotocol " + ws.subprotocol().value_or("(none)") + ", expected " +
               s.expect_subprotocol.value_or("(none)"));
    if (server) {
        std::vector<std::string> offered;
        for (auto p : ws.request().headers.list("Sec-WebSocket-Protocol")) offered.emplace_back(p);
        expect(offered == s.subprotocols, "the client offered other subprotocols");
    }
    return "extensions: " + (extensions ? std::string(*extensions) : std::string("(none)")) +
           "; subprotocol: " + ws.subprotocol().value_or("(none)");
}

syncws::connection_settings settings_for(const scenario& sc) {
    syncws::connection_settings settings;
    settings.max_message_size = sc.max_message_size;
    settings.ping_interval = syncws::duration::zero();  // only the scenario's pings on the wire
    settings.open_timeout = sc.step_timeout;
    settings.close_timeout = sc.step_timeout;
    settings.send_timeout = sc.step_timeout;
    return settings;
}

// ------------------------------------------------------------------ the two roles

struct arguments {
    std::string role, scenario_path, url, cert, key, ca;
    bool deflate = true;
    bool expect_deflate = true;
};

int run_client(const scenario& sc, const arguments& args) {
    std::string base = args.url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    for (const session& s : sc.sessions) {
        try {
            syncws::client_options options;
            options.settings = settings_for(sc);
            options.subprotocols = s.subprotocols;
            options.compression.enabled = args.deflate;
            options.tls.ca_file = args.ca;
            options.proxy = "";
            if (s.reject_status) {
                try {
                    syncws::connect(base + s.path, options);
                    throw std::runtime_error("the server accepted the connection");
                } catch (const syncws::invalid_status& e) {
                    expect(e.response().status == *s.reject_status && e.response().body == s.reject_body,
                           std::string("the rejection differs: ") + e.what());
                    std::cerr << "syncws client, session " << s.path << ": rejected with " << e.response().status
                              << " and the expected body\n";
                }
                continue;
            }
            syncws::client_connection ws = syncws::connect(base + s.path, options);
            const std::string seen = check_handshake(ws, s, args.expect_deflate, false);
            player(sc, ws).play(s);
            std::cerr << "syncws client, session " << s.path << ": " << seen << "\n";
        } catch (const std::exception& e) {
            std::cerr << "syncws client, session " << s.path << ": FAILED: " << e.what() << "\n";
            return 1;
        }
    }
    return 0;
}

int run_server(const scenario& sc, const arguments& args) {
    std::map<std::string, const session*> by_path;
    for (const session& s : sc.sessions) by_path[s.path] = &s;

    std::mutex mutex;
    std::set<std::string> served;       // sessions that passed
    std::vector<std::string> failures;  // everything else
    const auto record = [&](const std::string& path, const std::string& failure) {
        std::lock_guard<std::mutex> lock(mutex);
        if (failure.empty())
            served.insert(path);
        else
            failures.push_back("session " + path + ": " + failure);
    };

    syncws::server_options options;
    options.host = "127.0.0.1";
    options.settings = settings_for(sc);
    options.subprotocols = sc.server_subprotocols;
    options.compression.enabled = args.deflate;
    options.tls.cert_file = args.cert;
    options.tls.key_file = args.key;
    options.process_request = [&](const syncws::core::http_request& request) -> std::optional<syncws::core::http_response> {
        const auto found = by_path.find(request.target);
        if (found == by_path.end() || !found->second->reject_status) return std::nullopt;
        syncws::core::http_response response;
        response.status = *found->second->reject_status;
        response.headers.add("Content-Type", "text/plain; charset=utf-8");
        response.body = found->second->reject_body;
        record(request.target, "");
        std::cerr << "syncws server, session " << request.target << ": rejected with " << response.status << "\n";
        return response;
    };

    syncws::server server(options, [&](syncws::server_connection& ws) {
        const std::string path = ws.request().target;
        try {
            const auto found = by_path.find(path);
            expect(found != by_path.end(), "no such session");
            const std::string seen = check_handshake(ws, *found->second, args.expect_deflate, true);
            player(sc, ws).play(*found->second);
            std::cerr << "syncws server, session " << path << ": " << seen << "\n";
            record(path, "");
        } catch (const std::exception& e) {
            std::cerr << "syncws server, session " << path << ": FAILED: " << e.what() << "\n";
            record(path, e.what());
        }
    });
    server.start();
    std::cout << "listening on " << (args.cert.empty() ? "ws" : "wss") << "://127.0.0.1:" << server.port()
              << std::endl;

    // matrix.py closes stdin once the client is done (and kills us if that never happens).
    for (std::string line; std::getline(std::cin, line);) {
    }
    server.shutdown(sc.step_timeout);

    std::lock_guard<std::mutex> lock(mutex);
    for (const session& s : sc.sessions)
        if (!served.count(s.path) && failures.empty()) failures.push_back("session " + s.path + " never came");
    for (const auto& f : failures) std::cerr << "syncws server: FAILED: " << f << "\n";
    return failures.empty() ? 0 : 1;
}

int usage() {
    std::cerr << "usage: interop_peer server SCENARIO --deflate on|off --expect-deflate yes|no [--cert F --key F]\n"
                 "       interop_peer client SCENARIO URL --deflate on|off --expect-deflate yes|no [--ca F]\n";
    return 2;
}

std::optional<arguments> parse(int argc, char** argv) {
    std::vector<std::string> a(argv + 1, argv + argc);
    arguments args;
    std::size_t i = 0;
    if (a.size() < 2) return std::nullopt;
    args.role = a[i++];
    args.scenario_path = a[i++];
    if (args.role == "client") {
        if (i == a.size()) return std::nullopt;
        args.url = a[i++];
    } else if (args.role != "server") {
        return std::nullopt;
    }
    for (; i + 1 < a.size(); i += 2) {
        const std::string& name = a[i];
        const std::string& value = a[i + 1];
        if (name == "--deflate" && (value == "on" || value == "off"))
            args.deflate = value == "on";
        else if (name == "--expect-deflate" && (value == "yes" || value == "no"))
            args.expect_deflate = value == "yes";
        else if (name == "--cert")
            args.cert = value;
        else if (name == "--key")
            args.key = value;
        else if (name == "--ca")
            args.ca = value;
        else
            return std::nullopt;
    }
    if (i != a.size()) return std::nullopt;
    return args;
}

}  // namespace

int main(int argc, char** argv) {
    const auto args = parse(argc, argv);
    if (!args) return usage();
    try {
        const scenario sc = read_scenario(args->scenario_path);
        return args->role == "client" ? run_client(sc, *args) : run_server(sc, *args);
    } catch (const std::exception& e) {
        std::cerr << "interop_peer " << args->role << ": " << e.what() << "\n";
        return 1;
    }
}
