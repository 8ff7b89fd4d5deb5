// The README's five-line client. usage: echo_client [URI]
#include <syncws/syncws.hpp>
#include <iostream>

int main(int argc, char** argv) {
    auto ws = syncws::connect(argc > 1 ? argv[1] : "ws://localhost:8765/");
    ws.send("hello");
    std::cout << ws.recv().data << "\n";
}
