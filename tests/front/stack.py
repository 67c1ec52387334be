"""stack.py - the real tempo processes for the Python tests.

Starts the fake upstream, weather-service workers and the gateway against
the private RabbitMQ node that CTest's broker fixture started
(scripts/broker.sh, $TEMPO_BROKER_DIR/env), like tests/integration/harness.c
does for the C tests.  The binaries come from the environment CTest sets:
TEMPO_GATEWAY_BIN, TEMPO_WORKER_BIN, TEMPO_FAKE_BIN; logs go to
$TEMPO_TEST_LOGDIR/<name>/.  Every process is stopped with SIGTERM when the
stack stops (and SIGKILLed at exit if a test died first); gateway and
workers must then exit 0, so a sanitizer report fails the test.
"""

import atexit
import http.client
import json
import os
import signal
import socket
import subprocess
import time

_ALL = []  # every Popen started, killed at exit if still running


@atexit.register
def _kill_leftovers():
    for p in _ALL:
        if p.poll() is None:
            p.kill()
            p.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broker_url():
    path = os.path.join(os.environ["TEMPO_BROKER_DIR"], "env")
    with open(path) as f:
        for line in f:
            if line.startswith("BROKER_URL="):
                return line.strip().split("=", 1)[1]
    raise RuntimeError(f"no BROKER_URL in {path}: is the broker fixture running?")


def _base_env():
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    # Sanitizer builds: keep their settings for the daemons.
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def content_type(self):
        return self.headers.get("Content-Type")


def request(base_port, method, path, headers=None, timeout=20):
    """One HTTP request to 127.0.0.1:base_port; raises OSError if unreachable."""
    conn = http.client.HTTPConnection("127.0.0.1", base_port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return Response(r.status, r.headers, body)
    finally:
        conn.close()


class Stack:
    """fake upstream + N workers + gateway.  Use as a context manager."""

    def __init__(self, name, workers=1, worker_env=None, gateway_env=None,
                 fake_args=()):
        self.name = name
        self.nworkers = workers
        self.worker_env = dict(worker_env or {})
        self.gateway_env = dict(gateway_env or {})
        self.fake_args = list(fake_args)
        self.logdir = os.path.join(os.environ["TEMPO_TEST_LOGDIR"], name)
        self.fake = None
        self.fake_port = 0
        self.workers = []
        self.gateways = []  # (Popen, port); the first is the stack's own
        self.port = 0

    # ---- processes ----------------------------------------------------

    def _spawn(self, argv, env, log):
        out = open(os.path.join(self.logdir, log), "ab")
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        out.close()
        _ALL.append(p)
        return p

    def start_fake(self):
        argv = [os.environ["TEMPO_FAKE_BIN"], "--port", "0"] + self.fake_args
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        _ALL.append(p)
        line = p.stdout.readline().decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"fake-upstream did not say READY: {line!r}")
        p.stdout.close()
        self.fake = p
        self.fake_port = int(line.split()[1])

    @property
    def fake_url(self):
        return f"http://127.0.0.1:{self.fake_port}"

    def start_worker(self):
        env = _base_env()
        env.update({
            "AMQP_URL": broker_url(),
            "OPENWEATHER_URL": self.fake_url,
            "OPEN_METEO_URL": self.fake_url,
            "OPEN_METEO_GEOCODING_URL": self.fake_url,
            "SPOTIFY_API_URL": self.fake_url,
            "SPOTIFY_ACCOUNTS_URL": self.fake_url,
            "LOG_LEVEL": "debug",
        })
        env.update(self.worker_env)
        i = len(self.workers)
        self.workers.append(self._spawn([os.environ["TEMPO_WORKER_BIN"]], env,
                                        f"worker{i}.log"))

    def start_gateway(self, amqp_url=None, extra_env=None, wait_ready=True):
        """Starts a gateway on a free port and returns the port."""
        port = free_port()
        env = _base_env()
        env.update({
            "AMQP_URL": amqp_url or broker_url(),
            "GATEWAY_ADDR": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "LOG_LEVEL": "debug",
        })
        env.update(self.gateway_env)
        env.update(extra_env or {})
        n = len(self.gateways)
        p = self._spawn([os.environ["TEMPO_GATEWAY_BIN"]], env,
                        "gateway.log" if n == 0 else f"gateway{n}.log")
        self.gateways.append((p, port))
        want = (200,) if wait_ready else (200, 503)
        self.wait_status(port, "/readyz", want, 15)
        return port

    def start(self):
        os.makedirs(self.logdir, exist_ok=True)
        for f in os.listdir(self.logdir):
            if f.endswith(".log"):
                os.unlink(os.path.join(self.logdir, f))
        self.start_fake()
        for _ in range(self.nworkers):
            self.start_worker()
        self.port = self.start_gateway()
        if self.nworkers:
            self.wait_serving()
        return self

    @staticmethod
    def _stop(p, timeout=15):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return -9

    def stop_workers(self):
        codes = [self._stop(w) for w in self.workers]
        self.workers = []
        return codes

    def restart_workers(self, worker_env):
        """Replaces the workers by new ones with worker_env added."""
        codes = self.stop_workers()
        self.worker_env.update(worker_env)
        for _ in range(self.nworkers):
            self.start_worker()
        self.wait_serving()
        return codes

    def stop_gateway(self, port=None):
        """Stops the gateway on port (default: the stack's own); its exit code."""
        port = port or self.port
        for i, (p, pt) in enumerate(self.gateways):
            if pt == port:
                del self.gateways[i]
                return self._stop(p)
        raise KeyError(port)

    def stop(self):
        """Stops everything; returns a list of problems (empty when clean)."""
        problems = []
        for p, port in list(self.gateways):
            rc = self._stop(p)
            if rc != 0:
                problems.append(f"gateway on :{port} exited {rc}")
        self.gateways = []
        for i, rc in enumerate(self.stop_workers()):
            if rc != 0:
                problems.append(f"worker {i} exited {rc}")
        if self.fake is not None:
            self._stop(self.fake, 5)
            self.fake = None
        if problems:
            problems.append(f"logs in {self.logdir}")
        return problems

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        problems = self.stop()
        if problems and exc[0] is None:
            raise AssertionError("; ".join(problems))

    # ---- HTTP -----------------------------------------------------------

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def http(self, method, path, headers=None, port=None):
        return request(port or self.port, method, path, headers)

    def get(self, path, headers=None, port=None):
        return self.http("GET", path, headers, port)

    def wait_status(self, port, path, want, seconds):
        deadline = time.monotonic() + seconds
        last = None
        while time.monotonic() < deadline:
            try:
                r = request(port, "GET", path, timeout=5)
                last = r.status
                if r.status in want:
                    return r
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"GET :{port}{path} never answered {want} "
                             f"(last: {last}; logs in {self.logdir})")

    def wait_serving(self, seconds=20):
        """Until a worker answers (the gateway answers 503 until one consumes)."""
        return self.wait_status(self.port, "/weather?lat=0&lon=0", (200,),
                                seconds)

    def fake_post(self, path):
        r = request(self.fake_port, "POST", path)
        if r.status != 200:
            raise AssertionError(f"fake POST {path}: {r.status} {r.body!r}")
        return r.json()
