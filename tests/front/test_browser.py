"""test_browser.py - the page at / in a real browser, used as a person would.

Debian's Chromium, headless, driven by selenium (python3-selenium with
chromium-driver), against a live stack (tests/front/stack.py: fake upstream,
a keyless worker - Open-Meteo and the built-in catalog, as out of the box -
the gateway, the private broker).  Each step types and clicks like a user
and asserts what the page shows:

  - a city search: place, temperature, genre, the tracks with their
    artists, the worker that answered, the Open-Meteo credit; the same
    city again: the "cached" badge;
  - the "degraded" badge when Spotify refuses the worker; with (the fake's)
    Spotify working, links to the tracks; "stale" when the weather provider
    fails after the cache entry expired;
  - the API's own message for an unknown city (404), bad input (400, and
    focus moves to the field at fault) and a provider failure (502);
  - hostile data from the reply is shown as text, never as markup;
  - "use my location" with a position mocked through the DevTools protocol
    (Emulation.setGeolocationOverride + Browser.grantPermissions), and a
    refused permission;
  - the keyboard alone: Tab to the field, type, Enter;
  - phone widths (390 and 360 px): nothing wider than the screen;
  - the gateway stopped after the page loaded: a clear message;
  - after every step, the console holds no error except the HTTP errors
    the step caused on purpose, and no Content-Security-Policy violation
    (a listener installed before the page's own script, proven to work by
    a deliberately blocked inline script).

Screenshots (desktop 1280x900, phone 390x844; on failure too) go to
$TEMPO_ARTIFACTS.  When no browser can start the test fails under CI=true
and is skipped (exit 77, CTest's SKIP_RETURN_CODE) elsewhere.
"""

import os
import shutil
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack as stk  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ARTIFACTS = os.environ.get("TEMPO_ARTIFACTS", os.path.join(tempfile.gettempdir(), "tempo-artifacts"))
WORKER_ID = "browser-test:1"
TTL_S = 2  # the worker's weather cache, short so that "stale" can be seen
SKIP = 77

# What the browser must not see: installed before any script of the page.
WATCH = """
window.__tempo = {csp: [], errors: []};
document.addEventListener('securitypolicyviolation', (e) => {
  window.__tempo.csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
window.addEventListener('error', (e) => { window.__tempo.errors.push(String(e.message)); });
window.addEventListener('unhandledrejection', (e) => {
  window.__tempo.errors.push('unhandled rejection: ' + String(e.reason));
});
"""


def chromium_binary():
    for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium"):
        if os.path.exists(p):
            return p
    return shutil.which("chromium") or "/usr/bin/chromium"


def start_browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium_binary()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--disable-extensions",
              f"--user-data-dir={profile}", "--window-size=1280,900", "--lang=en-US"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    log = os.path.join(ARTIFACTS, "chromedriver.log")
    if os.path.exists(log):
        os.unlink(log)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver",
                      service_args=["--log-level=WARNING"], log_path=log)
    return webdriver.Chrome(service=service, options=opts)


class Page(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(ARTIFACTS, exist_ok=True)
        cls.stack = stk.Stack(
            "browser", workers=1,
            worker_env={"WORKER_ID": WORKER_ID, "PLAYLIST_SIZE": "10",
                        "WEATHER_CACHE_TTL_S": str(TTL_S),
                        "UPSTREAM_RETRIES": "1"})
        cls.stack.start()
        cls.profile = tempfile.mkdtemp(prefix="tempo-chromium-")
        try:
            cls.d = start_browser(cls.profile)
        except WebDriverException as e:
            cls.stack.stop()
            shutil.rmtree(cls.profile, ignore_errors=True)
            if os.environ.get("CI") == "true":
                raise
            print(f"SKIP: no browser could start: {e.msg}", file=sys.stderr)
            sys.exit(SKIP)
        cls.d.set_page_load_timeout(30)
        cls.d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
        cls.desktop()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.quit()
        finally:
            shutil.rmtree(cls.profile, ignore_errors=True)
            problems = cls.stack.stop()
            if problems:
                raise AssertionError("; ".join(problems))

    # ---- helpers ---------------------------------------------------------

    @classmethod
    def desktop(cls):
        cls.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                              {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                               "mobile": False})

    @classmethod
    def phone(cls, width=390, height=844):
        cls.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                              {"width": width, "height": height, "deviceScaleFactor": 1,
                               "mobile": True})

    def setUp(self):
        self.allowed = set()  # HTTP statuses this step provokes on purpose
        self.allow_unreachable = False

    def tearDown(self):
        if not getattr(self._outcome, "success", True):
            self.shot(f"failed-{self._testMethodName}")
        self.assert_console_clean()

    def shot(self, name):
        path = os.path.join(ARTIFACTS, f"{name}.png")
        self.d.save_screenshot(path)
        return path

    def open(self):
        self.d.get(self.stack.base + "/")
        WebDriverWait(self.d, 15).until(
            lambda d: d.execute_script("return document.readyState") == "complete")

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def text(self, css, root=None):
        """textContent (not the rendered text: CSS may capitalise)."""
        el = (root or self.d).find_element(By.CSS_SELECTOR, css)
        return el.get_property("textContent").strip()

    def search(self, city, country=""):
        c = self.d.find_element(By.ID, "city")
        c.clear()
        c.send_keys(city)
        k = self.d.find_element(By.ID, "country")
        k.clear()
        k.send_keys(country)
        self.d.find_element(By.ID, "go").click()

    def wait_result(self, place):
        """Until the result for place is shown; returns the result element."""
        def ready(d):
            r = d.find_element(By.ID, "result")
            if r.get_attribute("hidden") is not None or r.get_attribute("aria-busy"):
                return False
            h = r.find_elements(By.ID, "place")
            return r if h and h[0].get_property("textContent") == place else False
        try:
            return WebDriverWait(self.d, 15).until(ready)
        except Exception:
            raise AssertionError(f"no result for {place!r}; error box: "
                                 f"{self.text('#error') or '(empty)'}")

    def wait_error(self, title):
        def shown(d):
            box = d.find_elements(By.CSS_SELECTOR, "#error .error-box")
            return box[0] if box and self.text("h2", box[0]) == title else False
        try:
            return WebDriverWait(self.d, 15).until(shown)
        except Exception:
            raise AssertionError(f"no error {title!r}; error box: "
                                 f"{self.text('#error') or '(empty)'}")

    def api_message(self, query):
        r = self.stack.get("/weather?" + query)
        return r.status, r.json()["error"]["message"]

    def badges(self, result):
        return self.js("return [...arguments[0].querySelectorAll('.badge')]"
                       ".map(b => b.firstChild.textContent)", result)

    def assert_console_clean(self):
        logs = self.d.get_log("browser")
        bad = []
        for e in logs:
            msg = e.get("message", "")
            if e.get("source") == "network" and "/weather?" in msg:
                if any(f"status of {s} " in msg for s in self.allowed):
                    continue
                if self.allow_unreachable and "ERR_CONNECTION_REFUSED" in msg:
                    continue
            if e.get("level") in ("SEVERE", "WARNING"):
                bad.append(f"{e.get('level')} {e.get('source')}: {msg}")
        watch = self.js("return window.__tempo || {csp: ['listener missing'], errors: []}")
        self.assertEqual([], bad, "browser console")
        self.assertEqual([], watch["csp"], "Content-Security-Policy violations")
        self.assertEqual([], watch["errors"], "script errors")

    # ---- steps, in order ---------------------------------------------------

    def test_01_page_loads_under_its_policy(self):
        self.open()
        self.assertEqual("tempo: music for the weather", self.d.title)
        # The style sheet and the script are the gateway's, and applied.
        self.assertGreater(self.js("return document.styleSheets[0].cssRules.length"), 20)
        self.assertEqual([self.stack.base + "/app.js"],
                         self.js("return [...document.scripts].map(s => s.src)"))
        # Labels, hints and live regions a screen reader relies on.
        for field in ("city", "country"):
            self.assertEqual(1, self.js(f"return document.getElementById('{field}').labels.length"))
            self.assertTrue(self.js(f"return document.getElementById('{field}-hint').textContent"))
        self.assertEqual("polite", self.d.find_element(By.ID, "status").get_attribute("aria-live"))
        self.assertEqual("alert", self.d.find_element(By.ID, "error").get_attribute("role"))
        self.assertEqual("Use my location", self.text("#locate"))
        # The policy is enforced and the listener sees it: an inline script
        # inserted now is refused (and then forgotten, as is its log line).
        self.js("const s = document.createElement('script');"
                "s.textContent = 'window.__inline = 1'; document.body.append(s);")
        WebDriverWait(self.d, 5).until(lambda d: self.js("return window.__tempo.csp.length") > 0)
        self.assertIsNone(self.js("return window.__inline"))
        self.assertIn("script-src", self.js("return window.__tempo.csp[0]"))
        self.js("window.__tempo.csp = []")
        self.d.get_log("browser")

    def test_02_search_a_city(self):
        self.open()
        self.search("London")
        res = self.wait_result("London, GB")
        self.assertEqual([], self.badges(res))  # first time: not from the cache
        # The same city again, at once, comes from the worker's cache.
        self.search("London")
        WebDriverWait(self.d, 15).until(lambda d: self.badges(self.wait_result("London, GB"))
                                        == ["cached"])
        res = self.wait_result("London, GB")
        self.assertEqual("12.4 °C", self.text(".temperature dd", res))
        self.assertEqual("rock", self.text(".genre dd", res))
        self.assertEqual("Rock", res.find_element(By.CSS_SELECTOR, ".genre dd").text)
        self.assertEqual("51.5085° N, 0.1257° W", self.text(".coords", res))
        tracks = res.find_elements(By.CSS_SELECTOR, "ol.tracks > li")
        self.assertEqual(10, len(tracks))
        for t in tracks:
            # The built-in catalog has no Spotify links: names as text.
            self.assertTrue(self.text("span.track-name", t))
            self.assertTrue(self.text(".artists", t))
        self.assertEqual(["https://open-meteo.com/"],  # the only link: the credit
                         [a.get_attribute("href") for a in res.find_elements(By.TAG_NAME, "a")])
        self.assertIn(f"Answered by worker {WORKER_ID}", self.text(".meta", res))
        self.assertIn("weather: Open-Meteo", self.text(".meta", res))
        self.assertIn("music: built-in catalog", self.text(".meta", res))
        credit = res.find_element(By.CSS_SELECTOR, ".attribution a")
        self.assertEqual("Weather data by Open-Meteo.com", self.text(".attribution", res)
                         .replace(" (weather provider, opens in a new tab)", ""))
        self.assertEqual("https://open-meteo.com/", credit.get_attribute("href"))
        self.assertEqual("London, GB: 12.4 °C, rock. 10 tracks.", self.text("#status"))
        self.shot("desktop")

    def test_03_phone(self):
        self.phone()
        try:
            self.open()
            self.search("Lisbon")
            res = self.wait_result("Lisbon, PT")
            self.assertEqual("22.0 °C", self.text(".temperature dd", res))
            self.assertEqual(10, len(res.find_elements(By.CSS_SELECTOR, "ol.tracks > li")))
            for width in (390, 360):
                self.phone(width)
                self.assertLessEqual(self.js("return document.documentElement.scrollWidth"), width,
                                     f"wider than a {width} px screen")
                # Targets large enough for a finger.
                for b in self.d.find_elements(By.TAG_NAME, "button"):
                    self.assertGreaterEqual(b.size["height"], 44)
            self.phone()
            self.js("window.scrollTo(0, 0)")
            self.shot("phone")
        finally:
            self.desktop()

    def test_04_unknown_city_and_bad_input(self):
        self.allowed = {400, 404, 502}
        self.open()
        self.search("Atlantis")
        box = self.wait_error("Place not found")
        self.assertEqual((404, self.text(".error-message", box)), self.api_message("city=Atlantis"))
        self.assertTrue(self.d.find_element(By.ID, "result").get_attribute("hidden"))
        self.assertIn("city_not_found", self.text(".error-detail", box))

        self.search("London", "G1")
        box = self.wait_error("Please check what you typed")
        status, msg = self.api_message("city=London&country=G1")
        self.assertEqual((400, msg), (status, self.text(".error-message", box)))
        self.assertIn("country", msg)
        # Focus moves to the field at fault, marked for assistive technology.
        self.assertEqual("country", self.js("return document.activeElement.id"))
        country = self.d.find_element(By.ID, "country")
        self.assertEqual("true", country.get_attribute("aria-invalid"))
        self.assertIn("error", country.get_attribute("aria-describedby"))

        self.search("   ")
        box = self.wait_error("Please check what you typed")
        self.assertEqual((400, self.text(".error-message", box)), self.api_message("city="))
        self.assertEqual("city", self.js("return document.activeElement.id"))
        self.assertIsNone(self.d.find_element(By.ID, "country").get_attribute("aria-invalid"))

        self.search("Errorville")
        box = self.wait_error("The weather or music provider failed")
        self.assertEqual((502, self.text(".error-message", box)), self.api_message("city=Errorville"))
        self.shot("desktop-error")

    def test_05_reply_data_is_text(self):
        name = '<img src=x onerror="window.__pwned=1">&amp;'
        self.open()
        self.search(name)
        res = self.wait_result(name + ", XX")  # the fake's country for it
        self.assertEqual([], res.find_elements(By.TAG_NAME, "img"))
        self.assertIsNone(self.js("return window.__pwned"))

    def test_06_keyboard_only(self):
        self.open()
        self.assertEqual("body", self.js("return document.activeElement.tagName.toLowerCase()"))
        ActionChains(self.d).send_keys(Keys.TAB).perform()
        self.assertEqual("city", self.js("return document.activeElement.id"))
        ActionChains(self.d).send_keys("Paris").send_keys(Keys.TAB).send_keys("fr") \
            .send_keys(Keys.ENTER).perform()
        res = self.wait_result("Paris, FR")
        self.assertEqual("15.0 °C", self.text(".temperature dd", res))
        self.assertEqual("pop", self.text(".genre dd", res))
        # Focus stays in the form; the buttons, then the links of the
        # result follow in the tab order, each one visibly focused.
        order = []
        for _ in range(3):
            ActionChains(self.d).send_keys(Keys.TAB).perform()
            order.append(self.js("const a = document.activeElement;"
                                 "return a.id || a.parentNode.className"))
            outline = self.js("return getComputedStyle(document.activeElement).outlineStyle")
            self.assertNotEqual("none", outline, order[-1])
        self.assertEqual(["go", "locate", "attribution"], order)

    def test_07_use_my_location(self):
        origin = self.stack.base
        self.open()
        self.d.execute_cdp_cmd("Browser.grantPermissions",
                               {"origin": origin, "permissions": ["geolocation"]})
        self.d.execute_cdp_cmd("Emulation.setGeolocationOverride",
                               {"latitude": 38.71667, "longitude": -9.13333, "accuracy": 10})
        try:
            self.d.find_element(By.ID, "locate").click()
            res = self.wait_result("38.7167, -9.1333")
            self.assertEqual("22.0 °C", self.text(".temperature dd", res))
            self.assertEqual("pop", self.text(".genre dd", res))
            self.assertEqual(10, len(res.find_elements(By.CSS_SELECTOR, "ol.tracks > li")))
            self.assertEqual("38.7167° N, 9.1333° W", self.text(".coords", res))
            # The browser may refuse: the page says so and asks for a city.
            self.d.execute_cdp_cmd("Browser.setPermission",
                                   {"origin": origin, "permission": {"name": "geolocation"},
                                    "setting": "denied"})
            self.d.find_element(By.ID, "locate").click()
            box = self.wait_error("Cannot use your location")
            self.assertIn("type a city", self.text(".error-message", box))
        finally:
            self.d.execute_cdp_cmd("Emulation.clearGeolocationOverride", {})
            self.d.execute_cdp_cmd("Browser.resetPermissions", {})

    def test_08_spotify_degraded_and_stale(self):
        # Spotify refuses the worker (a wrong secret): the catalog answers.
        self.stack.restart_workers({"SPOTIFY_CLIENT_ID": "test-id",
                                    "SPOTIFY_CLIENT_SECRET": "wrong-secret"})
        self.open()
        self.search("Oslo")
        res = self.wait_result("Oslo, NO")
        self.assertEqual(["degraded"], self.badges(res))
        self.assertEqual("classical", self.text(".genre dd", res))
        self.assertIn("music: built-in catalog", self.text(".meta", res))
        self.assertEqual([], res.find_elements(By.CSS_SELECTOR, "a.track-name"))

        # With (the fake's) Spotify working: links to the tracks.
        self.stack.restart_workers({"SPOTIFY_CLIENT_SECRET": "test-secret"})
        self.search("Cairo")
        res = self.wait_result("Cairo, EG")
        self.assertEqual([], self.badges(res))
        self.assertEqual("party", self.text(".genre dd", res))
        self.assertIn("music: Spotify", self.text(".meta", res))
        links = res.find_elements(By.CSS_SELECTOR, "ol.tracks a.track-name")
        self.assertEqual(10, len(links))
        for link in links:
            self.assertTrue(link.get_attribute("href").startswith("https://open.spotify.com/"),
                            link.get_attribute("href"))
            self.assertEqual("noopener noreferrer", link.get_attribute("rel"))
            self.assertEqual("_blank", link.get_attribute("target"))
            self.assertTrue(link.text)

        # The weather provider fails after Berlin's cache entry expired.
        self.search("Berlin")
        self.wait_result("Berlin, DE")
        time.sleep(TTL_S + 0.5)
        self.stack.fake_post("/_fake/fault?path=/v1/search(geocoding)&status=500&count=50")
        try:
            self.search("Berlin")
            res = self.wait_result("Berlin, DE")
            WebDriverWait(self.d, 5).until(lambda d: "stale weather" in self.badges(res))
        finally:
            self.stack.fake_post("/_fake/reset")
        self.assertEqual(["cached", "stale weather"], self.badges(res))

    def test_09_gateway_unreachable(self):
        # Last: the page is loaded, then the gateway goes away.
        self.allow_unreachable = True
        self.open()
        self.assertEqual(0, self.stack.stop_gateway())
        self.search("London")
        box = self.wait_error("Cannot reach the tempo gateway")
        self.assertIn("Check that tempo is running", self.text(".error-detail", box))
        self.assertTrue(self.d.find_element(By.ID, "result").get_attribute("hidden"))
        self.shot("desktop-unreachable")


if __name__ == "__main__":
    unittest.main(verbosity=2)
