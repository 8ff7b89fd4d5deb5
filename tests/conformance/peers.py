"""The implementations under test and how to run them: ours (`syncws serve --echo`,
`syncws echo-client URL`) and the two reference peers (peers/python_peer.py for Python
`websockets`, peers/node_peer.js for Node `ws`). A server prints "listening on ws://..." on
its first line; a client takes the URL to connect to and echoes until the server closes.
"""

import os
import queue
import re
import shutil
import signal
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"  # Debian's: python3-websockets is importable there
START_TIMEOUT = 10.0
EXIT_TIMEOUT = 5.0


class Agent:
    def __init__(self, name, title, server, client, available):
        self.name, self.title = name, title
        self._server, self._client, self._available = server, client, available

    def server_command(self, tool):
        return self._server(tool)

    def client_command(self, tool, url):
        return self._client(tool) + [url]

    def unavailable(self, tool):
        """Why the agent cannot run here, or None."""
        return self._available(tool)


def _tool_missing(tool):
    if not tool or not os.access(tool, os.X_OK):
        return f"the syncws tool was not found (--tool; tried {tool!r})"
    return None


def _websockets_missing(_tool):
    probe = subprocess.run([PYTHON, "-c", "import websockets"], capture_output=True)
    return None if probe.returncode == 0 else f"{PYTHON} cannot import websockets (python3-websockets)"


def _ws_missing(_tool):
    if not shutil.which("node"):
        return "node is not installed"
    module = os.environ.get("WS_MODULE") or os.path.join(HERE, "..", "interop", "node_modules", "ws")
    return None if os.path.isdir(module) else f"the ws module is missing ({module}; npm install in tests/interop)"


AGENTS = {
    "syncws": Agent("syncws", "syncws",
                    lambda tool: [tool, "serve", "--echo", "--port", "0"],
                    lambda tool: [tool, "echo-client"], _tool_missing),
    "websockets": Agent("websockets", "Python websockets 10.4",
                        lambda tool: [PYTHON, os.path.join(HERE, "peers", "python_peer.py"), "server"],
                        lambda tool: [PYTHON, os.path.join(HERE, "peers", "python_peer.py"), "client"],
                        _websockets_missing),
    "ws": Agent("ws", "Node ws 8",
                lambda tool: ["node", os.path.join(HERE, "peers", "node_peer.js"), "server"],
                lambda tool: ["node", os.path.join(HERE, "peers", "node_peer.js"), "client"],
                _ws_missing),
}
# --peer takes the language of the reference peer.
PEER_ALIASES = {"python": "websockets", "node": "ws"}


class PeerServer:
    """A running server under test. Use as a context manager; it is stopped (SIGTERM,
    then SIGKILL) on exit."""

    def __init__(self, command, log):
        self.command, self.log = command, log
        self.proc = None
        self.url = None

    def start(self):
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log)
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=START_TIMEOUT).decode(errors="replace")
        except queue.Empty:
            line = ""
        match = re.search(r"listening on (ws://[^\s/]+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"{' '.join(self.command)} did not print its address (got {line!r})")
        self.url = match.group(1) + "/"
        # Drain stdout so that the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def start_client(command, log):
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


def finish_client(proc):
    """The client's exit status once it has ended, or "killed" if it would not end."""
    try:
        return proc.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "killed"
