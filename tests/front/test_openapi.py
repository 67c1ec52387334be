"""test_openapi.py - /openapi.json against itself and against the running stack.

The document (gateway/web/openapi.json, served by the gateway) must be
  - the repository's file, byte for byte;
  - OpenAPI 3.1 in structure (oas31-structure.schema.json beside this file:
    every object and fixed field tempo uses, no unknown field), with every
    Schema Object valid JSON Schema 2020-12 (Draft202012Validator's
    meta-schema), every $ref resolvable, unique operationIds, every example
    valid against its own schema, and the error codes those of
    common/errors.h;
  - complete: every path the gateway routes and every status SPEC section 2
    names (and 429).
Then real answers of a live stack (fake upstream, worker, gateway, the
private broker) - 200 for a city, a country, a point, cached, degraded,
stale; 304; 400; 404 city_not_found and not_found; 405; 502; 503 with no
worker and with no broker; 504; 429 when the gateway has rate limiting -
are validated against the document's own response objects: the status is
documented, the Content-Type is one of its media types, the body matches
its schema ($refs resolved in the document), and its headers match their
schemas (required ones present).

Needs Debian's python3-jsonschema (4.10).  Run by CTest (see
tests/integration/CMakeLists.txt), which provides the broker and the paths.
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest

import jsonschema
from jsonschema import Draft202012Validator, RefResolver

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack as stk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("TEMPO_SOURCE_DIR", os.path.join(HERE, "..", ".."))
DOC_FILE = os.path.join(SOURCE, "gateway", "web", "openapi.json")

# Every path routed by gateway/http.c, and what /weather can answer.
PATHS = ["/weather", "/healthz", "/readyz", "/metrics", "/", "/app.js",
         "/app.css", "/favicon.svg", "/openapi.json"]
WEATHER_STATUSES = {"200", "400", "404", "429", "500", "502", "503", "504"}

with open(DOC_FILE, "rb") as f:
    DOC_BYTES = f.read()
DOC = json.loads(DOC_BYTES)
RESOLVER = RefResolver.from_schema(DOC)


def deref(obj):
    """Follows a Reference Object (possibly several) within the document."""
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj:
        _, obj = RESOLVER.resolve(obj["$ref"])
        seen += 1
        assert seen < 10, "reference loop"
    return obj


def validator(schema):
    return Draft202012Validator(schema, resolver=RESOLVER,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors_of(schema, value):
    return sorted(validator(schema).iter_errors(value), key=lambda e: list(e.path))


def walk(node, path=()):
    """Yields (json path, node) for every dict in the document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def schemas_in_doc():
    """(where, schema) for every Schema Object outside components.schemas."""
    for path, node in walk(DOC):
        if "schemas" in path[:2]:
            continue
        if "schema" in node and path[-1:] != ("properties",):
            yield "/".join(map(str, path + ("schema",))), node["schema"]


class Document(unittest.TestCase):
    """The document on its own."""

    def test_structure(self):
        with open(os.path.join(HERE, "oas31-structure.schema.json")) as f:
            meta = json.load(f)
        Draft202012Validator.check_schema(meta)
        errs = list(Draft202012Validator(meta).iter_errors(DOC))
        self.assertEqual([], [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                              for e in errs])

    def test_schemas_are_json_schema_2020_12(self):
        checked = 0
        for name, schema in DOC["components"]["schemas"].items():
            with self.subTest(schema=name):
                Draft202012Validator.check_schema(schema)
                checked += 1
        for where, schema in schemas_in_doc():
            with self.subTest(schema=where):
                Draft202012Validator.check_schema(schema)
                checked += 1
        self.assertGreater(checked, 20)

    def test_refs_resolve(self):
        refs = [n["$ref"] for _, n in walk(DOC) if isinstance(n.get("$ref"), str)]
        self.assertGreater(len(refs), 50)
        for ref in set(refs):
            with self.subTest(ref=ref):
                RESOLVER.resolve(ref)

    def test_operation_ids_unique(self):
        ids = [op["operationId"] for item in DOC["paths"].values()
               for m, op in item.items() if isinstance(op, dict) and "responses" in op]
        self.assertEqual(len(ids), len(set(ids)))

    def test_examples_match_their_schemas(self):
        n = 0
        for path, node in walk(DOC):
            if "schema" not in node:
                continue
            examples = []
            if "example" in node:
                examples.append(("example", node["example"]))
            for k, ex in (node.get("examples") or {}).items():
                ex = deref(ex)
                if "value" in ex:
                    examples.append((k, ex["value"]))
            for k, value in examples:
                if path and path[-1] in ("headers",):
                    continue
                where = "/".join(map(str, path)) + f" example {k}"
                with self.subTest(example=where):
                    self.assertEqual([], [e.message for e in errors_of(node["schema"], value)])
                    n += 1
        self.assertGreater(n, 15)

    def test_every_path_and_status(self):
        self.assertEqual(set(PATHS), set(DOC["paths"]))
        for p in PATHS:
            self.assertIn("get", DOC["paths"][p], p)
        self.assertEqual(WEATHER_STATUSES, set(DOC["paths"]["/weather"]["get"]["responses"]))
        for name in ("NotFound", "MethodNotAllowed"):
            self.assertIn(name, DOC["components"]["responses"])
        names = {p["name"] for p in map(deref, DOC["paths"]["/weather"]["get"]["parameters"])}
        self.assertEqual({"city", "country", "lat", "lon"}, names)
        names = {p["name"] for p in map(deref, DOC["paths"]["/weather"]["parameters"])}
        self.assertEqual({"X-Request-Id", "traceparent", "tracestate"}, names)

    def test_error_codes_are_the_error_table(self):
        with open(os.path.join(SOURCE, "common", "errors.h")) as f:
            table = set(re.findall(r'X\(\w+,\s*\d+,\s*"(\w+)"', f.read()))
        self.assertIn("city_not_found", table)
        enum = set(DOC["components"]["schemas"]["ErrorCode"]["enum"])
        self.assertEqual(set(), table - enum, "codes missing from the document")
        # rate_limited belongs to issue 11's rate limiting (SPEC 7).
        self.assertEqual(set(), enum - table - {"rate_limited"}, "unknown codes")

    def test_genre_rule_is_in_the_schema(self):
        reply = DOC["paths"]["/weather"]["get"]["responses"]["200"]["content"][
            "application/json"]["examples"]["city"]["value"]
        schema = {"$ref": "#/components/schemas/WeatherReply"}
        for t, genre, ok in [(30.01, "party", True), (30.0, "pop", True),
                             (15.0, "pop", True), (14.99, "rock", True),
                             (10.0, "rock", True), (9.99, "classical", True),
                             (30.0, "party", False), (14.99, "pop", False),
                             (10.0, "classical", False), (35.0, "rock", False)]:
            with self.subTest(t=t, genre=genre):
                r = dict(reply, temperature_c=t, genre=genre)
                self.assertEqual(ok, not errors_of(schema, r))
        # Mistakes a worker could make.
        bad = [dict(reply, genre="jazz"), dict(reply, tracks=[]),
               dict(reply, sources={"weather": "bbc", "music": "catalog"}),
               {k: v for k, v in reply.items() if k != "worker"},
               dict(reply, location=dict(reply["location"], lat=91)),
               dict(reply, location=dict(reply["location"], country="gb")),
               dict(reply, tracks=[{"name": "x", "artists": []}]),
               dict(reply, tracks=[{"name": "x", "artists": ["y"], "url": "javascript:alert(1)"}]),
               dict(reply, degraded=True, sources={"weather": "open-meteo", "music": "spotify"}),
               dict(reply, stale=True, cached=False),
               dict(reply, sources={"weather": "open-meteo", "music": "spotify"})]
        for i, r in enumerate(bad):
            with self.subTest(bad=i):
                self.assertTrue(errors_of(schema, r))
        # Extra fields are allowed (SPEC section 2).
        self.assertFalse(errors_of(schema, dict(reply, mood="sunny")))


class Live(unittest.TestCase):
    """Real answers of a running stack against the document."""

    seen = set()  # (path template, status) validated

    @classmethod
    def setUpClass(cls):
        cls.stack = stk.Stack(
            "openapi", workers=1,
            worker_env={"SPOTIFY_CLIENT_ID": "test-id",
                        "SPOTIFY_CLIENT_SECRET": "test-secret",
                        "WEATHER_CACHE_TTL_S": "1", "PLAYLIST_SIZE": "5",
                        "UPSTREAM_TIMEOUT_MS": "10000", "UPSTREAM_RETRIES": "1"},
            gateway_env={"RPC_TIMEOUT_MS": "2500"},
            fake_args=["--slow-ms", "6000"])
        cls.stack.start()

    @classmethod
    def tearDownClass(cls):
        problems = cls.stack.stop()
        if problems:
            raise AssertionError("; ".join(problems))

    # ---- checking one answer ------------------------------------------

    def response_object(self, template, status):
        if status == 405:
            return deref(DOC["components"]["responses"]["MethodNotAllowed"])
        if template is None:
            self.assertEqual(404, status)
            return deref(DOC["components"]["responses"]["NotFound"])
        responses = DOC["paths"][template]["get"]["responses"]
        self.assertIn(str(status), responses,
                      f"{template} answered {status}, which the document does not list")
        return deref(responses[str(status)])

    def check(self, r, template, method="GET"):
        """Validates response r of a request to template against the document."""
        doc = self.response_object(template, r.status)
        where = f"{method} {template} -> {r.status}"
        for name, h in (doc.get("headers") or {}).items():
            h = deref(h)
            value = r.headers.get(name)
            if value is None:
                self.assertFalse(h.get("required"), f"{where}: no {name} header")
                continue
            schema = h["schema"]
            if deref(schema).get("type") == "integer":
                self.assertRegex(value, r"^[0-9]+$", f"{where}: {name}")
                value = int(value)
            self.assertEqual([], [e.message for e in errors_of(schema, value)],
                             f"{where}: header {name}: {value!r}")
        Live.seen.add((template, r.status))
        content = doc.get("content")
        if not content:
            self.assertEqual(b"", r.body, f"{where}: a body where none is documented")
            return None
        ctype = r.content_type
        self.assertIn(ctype, content, f"{where}: Content-Type {ctype!r}")
        if method == "HEAD":
            self.assertEqual(b"", r.body, f"{where}: HEAD with a body")
            return None
        schema = content[ctype]["schema"]
        if ctype.startswith("application/json"):
            value = json.loads(r.body)
        else:
            value = r.body.decode("utf-8")
        errs = errors_of(schema, value)
        self.assertEqual([], [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
                              for e in errs], f"{where}: {r.body[:300]!r}")
        if isinstance(value, dict) and "error" in value:
            self.assertEqual(r.status, value["error"]["status"], where)
        return value

    def get(self, path, template, headers=None, port=None):
        r = self.stack.get(path, headers, port)
        return r, self.check(r, template)

    # ---- scenarios -------------------------------------------------------

    def test_document_served_is_the_file(self):
        r, doc = self.get("/openapi.json", "/openapi.json")
        self.assertEqual(200, r.status)
        self.assertEqual(DOC_BYTES, r.body)
        self.assertEqual(DOC, doc)

    def test_weather_200(self):
        r, body = self.get("/weather?city=London", "/weather")
        self.assertEqual(200, r.status)
        self.assertEqual("London", body["location"]["name"])
        self.assertEqual({"weather": "open-meteo", "music": "spotify"}, body["sources"])
        self.assertTrue(all(t["url"].startswith("https://") for t in body["tracks"]))
        r, body = self.get("/weather?city=London", "/weather")
        self.assertTrue(body["cached"])
        r, body = self.get("/weather?city=Springfield&country=au", "/weather")
        self.assertEqual((200, "AU"), (r.status, body["location"]["country"]))
        r, body = self.get("/weather?lat=38.7167&lon=-9.1333", "/weather")
        self.assertEqual(200, r.status)
        self.assertEqual({"name": None, "country": None, "lat": 38.7167, "lon": -9.1333},
                         body["location"])
        r, body = self.get("/weather?city=Temp35.5", "/weather")
        self.assertEqual("party", body["genre"])
        r, body = self.get("/weather?city=S%C3%A3o%20Paulo", "/weather")
        self.assertEqual("São Paulo", body["location"]["name"])

    def test_weather_200_degraded_and_stale(self):
        # Spotify refuses a wrong secret: every answer falls back to the
        # catalog, whatever the worker keeps in its track pool.
        self.stack.restart_workers({"SPOTIFY_CLIENT_SECRET": "wrong-secret"})
        r, body = self.get("/weather?city=Oslo", "/weather")
        self.assertEqual(200, r.status)
        self.assertTrue(body.get("degraded"))
        self.assertEqual("catalog", body["sources"]["music"])
        r, body = self.get("/weather?city=Berlin", "/weather")
        self.assertEqual(200, r.status)
        time.sleep(1.5)  # WEATHER_CACHE_TTL_S=1: Berlin's entry expires
        self.stack.fake_post("/_fake/fault?path=/v1/search(geocoding)&status=500&count=50")
        try:
            r, body = self.get("/weather?city=Berlin", "/weather")
        finally:
            self.stack.fake_post("/_fake/reset")
        self.assertEqual(200, r.status)
        self.assertTrue(body.get("stale"))
        self.stack.restart_workers({"SPOTIFY_CLIENT_SECRET": "test-secret"})

    def test_weather_errors(self):
        for q in ["", "?city=", "?city=%20%20", "?city=London&lat=1&lon=2",
                  "?lat=91&lon=0", "?lat=1e3&lon=0", "?lat=1", "?city=London&country=G1",
                  "?country=GB", "?city=a&city=b", "?city=%FF", "?city=a%0Ab",
                  "?city=" + "x" * 201]:
            with self.subTest(q=q):
                r, body = self.get("/weather" + q, "/weather")
                self.assertEqual((400, "invalid_argument"), (r.status, body["error"]["code"]))
        r, body = self.get("/weather?city=Atlantis", "/weather")
        self.assertEqual((404, "city_not_found"), (r.status, body["error"]["code"]))
        r, body = self.get("/weather?city=Errorville", "/weather")
        self.assertEqual((502, "upstream_error"), (r.status, body["error"]["code"]))
        r, body = self.get("/weather?city=Slowville", "/weather")
        self.assertEqual((504, "timeout"), (r.status, body["error"]["code"]))

    def test_not_found_and_methods(self):
        for path in ["/nope", "/index.html", "/weather/", "/app.js/x", "//"]:
            with self.subTest(path=path):
                r, body = self.get(path, None)
                self.assertEqual((404, "not_found"), (r.status, body["error"]["code"]))
        for method, path in [("POST", "/weather"), ("PUT", "/"), ("DELETE", "/app.js"),
                             ("PATCH", "/openapi.json"), ("OPTIONS", "/healthz"),
                             ("POST", "/metrics")]:
            with self.subTest(method=method, path=path):
                r = self.stack.http(method, path)
                body = self.check(r, path, method)
                self.assertEqual((405, "method_not_allowed"), (r.status, body["error"]["code"]))

    def test_operations_and_page(self):
        rid = {"X-Request-Id": "openapi-check.1"}
        for path in ["/healthz", "/readyz", "/metrics", "/", "/app.js", "/app.css",
                     "/favicon.svg"]:
            with self.subTest(path=path):
                r, _ = self.get(path, path, rid)
                self.assertEqual(200, r.status)
                self.assertEqual("openapi-check.1", r.headers["X-Request-Id"])
                r2 = self.stack.http("HEAD", path)
                self.check(r2, path, "HEAD")
                self.assertEqual(200, r2.status)
        for path in ["/", "/app.js", "/app.css", "/favicon.svg", "/openapi.json"]:
            with self.subTest(path=path, conditional=True):
                tag = self.stack.get(path).headers["ETag"]
                r, _ = self.get(path, path, {"If-None-Match": tag})
                self.assertEqual(304, r.status)

    def test_z_no_worker_and_no_broker(self):
        # Last (unittest runs tests in name order): it stops the worker.
        self.assertEqual([0], self.stack.stop_workers())
        r = self.stack.wait_status(self.stack.port, "/weather?city=London", (503,), 15)
        body = self.check(r, "/weather")
        self.assertEqual("service_unavailable", body["error"]["code"])
        dead = f"amqp://guest:guest@127.0.0.1:{stk.free_port()}/"
        port = self.stack.start_gateway(amqp_url=dead, wait_ready=False)
        r, body = self.get("/readyz", "/readyz", port=port)
        self.assertEqual((503, "unavailable"), (r.status, body["status"]))
        r, body = self.get("/weather?city=London", "/weather", port=port)
        self.assertEqual((503, "service_unavailable"), (r.status, body["error"]["code"]))
        r, _ = self.get("/", "/", port=port)  # the page needs no broker
        self.assertEqual(200, r.status)
        self.assertEqual(0, self.stack.stop_gateway(port))

    def test_rate_limited(self):
        out = subprocess.run([os.environ["TEMPO_GATEWAY_BIN"], "--help"],
                             capture_output=True, text=True, timeout=10)
        if "RATE_LIMIT_RPS" not in out.stdout + out.stderr:
            self.skipTest("this gateway has no rate limiting yet (issue 11, part 3)")
        port = self.stack.start_gateway(extra_env={"RATE_LIMIT_RPS": "1",
                                                   "RATE_LIMIT_BURST": "1"})
        statuses = []
        for _ in range(10):
            r = self.stack.get("/weather?city=London", port=port)
            statuses.append(r.status)
            if r.status == 429:
                body = self.check(r, "/weather")
                self.assertEqual("rate_limited", body["error"]["code"])
                break
        self.assertIn(429, statuses)
        self.assertEqual(0, self.stack.stop_gateway(port))


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    suite.addTests(loader.loadTestsFromTestCase(Document))
    suite.addTests(loader.loadTestsFromTestCase(Live))
    return suite


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    ok = prog.result.wasSuccessful()
    want = {("/weather", s) for s in (200, 400, 404, 502, 503, 504)} | {
        (None, 404), ("/readyz", 503), ("/", 304), ("/", 405), ("/readyz", 200),
        ("/healthz", 200), ("/metrics", 200), ("/openapi.json", 200)}
    missing = want - Live.seen
    if ok and missing:
        print(f"FAIL: statuses never validated: {sorted(missing, key=str)}")
        ok = False
    sys.exit(0 if ok else 1)
