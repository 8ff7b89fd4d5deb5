// The code of docs/proxies.md. docs/meson.build compiles it (C++17) but never runs it, and
// docs/check_snippets.py checks that every block of the guide is taken from here, so the
// guide cannot drift away from the headers. One function per section of the guide.
#include <iostream>

#include <syncws/syncws.hpp>

void from_the_environment() {
    // https_proxy=http://proxy.corp:3128 no_proxy=.corp,10.0.0.0/8 ./app
    auto ws = syncws::connect("wss://example.com/feed");   // goes through proxy.corp:3128
}

void named_in_the_options() {
    syncws::client_options options;
    options.proxy = "http://alice:secret@proxy.corp:3128";  // for every URI, no_proxy or not
    auto ws = syncws::connect("wss://example.com/feed", options);
}

void never_a_proxy() {
    syncws::client_options options;
    options.proxy = "";                                     // whatever the environment says
    auto ws = syncws::connect("ws://127.0.0.1:8765/", options);
}

void when_the_proxy_says_no() {
    syncws::client_options options;
    options.proxy = "http://proxy.corp:3128";
    try {
        auto ws = syncws::connect("wss://example.com/feed", options);
    } catch (const syncws::timeout_error& e) {
        std::cerr << "no tunnel within open_timeout: " << e.what() << "\n";
    } catch (const syncws::error& e) {
        // "the proxy http://proxy.corp:3128 refused the tunnel to example.com:443: 407 ..."
        std::cerr << e.what() << "\n";
    }
}

void following_redirects() {
    syncws::client_options options;
    options.max_redirects = 0;     // the 3xx answer is thrown as invalid_status instead
    try {
        auto ws = syncws::connect("ws://example.com/old-path", options);
    } catch (const syncws::invalid_status& e) {
        if (auto location = e.response().headers.get("Location"))
            std::cerr << "moved to " << *location << "\n";
    }
}

int main() {}
