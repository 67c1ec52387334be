// app.js - the tempo page: asks the gateway's /weather for a city or the
// browser's position and shows the answer.  Served by the gateway itself
// under a strict Content-Security-Policy (default-src 'self'): no inline
// code, no external resources.  Every piece of the reply is put into the
// page as text (textContent, createElement), never parsed as HTML, and only
// https: links from the reply become links.
'use strict';

(function () {
  const TIMEOUT_MS = 30000; // the gateway answers 504 well before this

  const form = document.getElementById('search');
  const cityInput = document.getElementById('city');
  const countryInput = document.getElementById('country');
  const locateButton = document.getElementById('locate');
  const statusLine = document.getElementById('status');
  const errorRegion = document.getElementById('error');
  const result = document.getElementById('result');

  // Maps, not objects: keys come from the reply ("constructor" is no key).
  const TITLES = new Map([
    ['city_not_found', 'Place not found'],
    [400, 'Please check what you typed'],
    [404, 'Not found'],
    [429, 'Too many requests'],
    [500, 'Something went wrong in tempo'],
    [502, 'The weather or music provider failed'],
    [503, 'tempo is not available right now'],
    [504, 'tempo took too long to answer'],
  ]);
  const WEATHER_SOURCES = new Map([
    ['open-meteo', { label: 'Open-Meteo', credit: 'Open-Meteo.com', url: 'https://open-meteo.com/' }],
    ['openweathermap', { label: 'OpenWeather', credit: 'OpenWeather', url: 'https://openweathermap.org/' }],
  ]);
  const MUSIC_SOURCES = new Map([['spotify', 'Spotify'], ['catalog', 'built-in catalog']]);
  const BADGES = [
    ['cached', 'cached', 'The worker answered from its recent weather cache.'],
    ['stale', 'stale weather', 'The weather provider failed; this is the last known weather.'],
    ['degraded', 'degraded', 'Spotify failed; these tracks come from the built-in catalog.'],
  ];

  let current = null; // the request in flight: { controller, timer }

  // el('p', {className: 'x'}, 'text', child, ...): an element with text
  // children as text nodes.  Only known-safe properties are set.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === 'className') node.className = value;
      else if (key === 'href') node.href = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // A link that leaves the page: https only, no referrer, new tab.
  function externalLink(url, text, hint) {
    return el('a', { href: url, rel: 'noopener noreferrer', target: '_blank' },
      text, el('span', { className: 'visually-hidden' }, ` (${hint}, opens in a new tab)`));
  }

  function httpsUrl(value) {
    if (typeof value !== 'string') return null;
    try {
      const url = new URL(value);
      return url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function isNumber(v) {
    return typeof v === 'number' && Number.isFinite(v);
  }

  function setStatus(text) {
    statusLine.textContent = text;
  }

  function clearInvalid() {
    for (const input of [cityInput, countryInput]) {
      input.removeAttribute('aria-invalid');
      input.setAttribute('aria-describedby', `${input.id}-hint`);
    }
  }

  function clearError() {
    clear(errorRegion);
    clearInvalid();
  }

  // Shows an error box: a title, the message (the API's own when it sent
  // one) and a detail line.  invalid: the input to mark and focus.
  function showError(title, message, detail, invalid) {
    clear(errorRegion);
    errorRegion.append(el('div', { className: 'card error-box' },
      el('h2', {}, title),
      el('p', { className: 'error-message' }, message),
      detail ? el('p', { className: 'error-detail' }, detail) : null));
    result.hidden = true;
    result.removeAttribute('aria-busy');
    setStatus('');
    if (invalid) {
      invalid.setAttribute('aria-invalid', 'true');
      invalid.setAttribute('aria-describedby', `${invalid.id}-hint error`);
      invalid.focus();
    }
  }

  function showApiError(resp, err) {
    const status = resp.status;
    const parts = [`HTTP ${status}`];
    if (typeof err.code === 'string') parts.push(err.code);
    const rid = resp.headers.get('X-Request-Id');
    if (rid) parts.push(`request id ${rid}`);
    let detail = parts.join(' · ');
    if (status === 429) {
      const wait = parseInt(resp.headers.get('Retry-After') || '', 10);
      if (wait > 0) detail = `Try again in ${wait} s. ${detail}`;
    }
    let invalid = null;
    if (status === 400) {
      invalid = /^country/.test(err.message) ? countryInput : cityInput;
    }
    const title = TITLES.get(err.code) || TITLES.get(status) || `Unexpected answer (HTTP ${status})`;
    showError(title, err.message, detail, invalid);
  }

  function placeName(loc) {
    const name = typeof loc.name === 'string' && loc.name !== '' ? loc.name : null;
    const country = typeof loc.country === 'string' && loc.country !== '' ? loc.country : null;
    if (name) return country ? `${name}, ${country}` : name;
    if (isNumber(loc.lat) && isNumber(loc.lon)) return `${loc.lat.toFixed(4)}, ${loc.lon.toFixed(4)}`;
    return 'Somewhere';
  }

  function coordinates(loc) {
    if (!isNumber(loc.lat) || !isNumber(loc.lon)) return null;
    const lat = `${Math.abs(loc.lat).toFixed(4)}° ${loc.lat < 0 ? 'S' : 'N'}`;
    const lon = `${Math.abs(loc.lon).toFixed(4)}° ${loc.lon < 0 ? 'W' : 'E'}`;
    return `${lat}, ${lon}`;
  }

  function fact(label, value, className) {
    return el('div', { className: `fact ${className}` },
      el('dt', {}, label), el('dd', {}, value));
  }

  function trackItem(track) {
    const name = typeof track.name === 'string' ? track.name : '(untitled)';
    const artists = Array.isArray(track.artists)
      ? track.artists.filter((a) => typeof a === 'string').join(', ')
      : '';
    const url = httpsUrl(track.url);
    const title = url
      ? externalLink(url, name, 'Spotify')
      : el('span', {}, name);
    title.classList.add('track-name');
    return el('li', { className: 'track' },
      title, artists ? el('span', { className: 'artists' }, artists) : null);
  }

  // Renders a 200 answer (SPEC section 2).  Returns false if it is not one.
  function render(reply) {
    const loc = reply && typeof reply.location === 'object' && reply.location;
    if (!loc || !isNumber(reply.temperature_c) || typeof reply.genre !== 'string' ||
        !Array.isArray(reply.tracks)) {
      return false;
    }
    const place = placeName(loc);
    const temp = `${reply.temperature_c.toFixed(1)} °C`;
    const sources = reply.sources && typeof reply.sources === 'object' ? reply.sources : {};
    const weather = WEATHER_SOURCES.get(sources.weather);
    const music = MUSIC_SOURCES.get(sources.music);

    const badges = el('ul', { className: 'badges', 'aria-label': 'About this answer' });
    for (const [field, label, why] of BADGES) {
      if (reply[field] === true) {
        badges.append(el('li', { className: `badge badge-${field}`, title: why },
          label, el('span', { className: 'visually-hidden' }, `: ${why}`)));
      }
    }

    const tracks = el('ol', { className: 'tracks' });
    for (const t of reply.tracks) {
      if (t && typeof t === 'object') tracks.append(trackItem(t));
    }

    const meta = [];
    if (typeof reply.worker === 'string') meta.push(`Answered by worker ${reply.worker}`);
    if (weather || typeof sources.weather === 'string') {
      meta.push(`weather: ${weather ? weather.label : sources.weather}`);
    }
    if (music || typeof sources.music === 'string') {
      meta.push(`music: ${music || sources.music}`);
    }

    clear(result);
    const parts = [
      el('div', { className: 'result-head' },
        el('h2', { id: 'place' }, place),
        coordinates(loc) ? el('p', { className: 'coords' }, coordinates(loc)) : null),
      el('dl', { className: 'facts' },
        fact('Temperature', temp, 'temperature'),
        fact('Genre', reply.genre, `genre genre-${reply.genre.replace(/[^a-z]/g, '')}`)),
      badges.childElementCount > 0 ? badges : null,
      el('h3', { id: 'tracks-title' }, 'Tracks'),
      tracks,
      el('p', { className: 'meta' }, meta.join(' · ')),
      weather
        ? el('p', { className: 'attribution' }, 'Weather data by ',
          externalLink(weather.url, weather.credit, 'weather provider'))
        : null];
    result.append(...parts.filter((p) => p !== null));
    tracks.setAttribute('aria-labelledby', 'tracks-title');
    result.hidden = false;
    result.removeAttribute('aria-busy');
    const n = tracks.childElementCount;
    setStatus(`${place}: ${temp}, ${reply.genre}. ${n} ${n === 1 ? 'track' : 'tracks'}.`);
    return true;
  }

  // Asks /weather with params; what = words for the status line.
  async function ask(params, what) {
    if (current) {
      current.controller.abort();
      clearTimeout(current.timer);
    }
    const controller = new AbortController();
    const mine = { controller, timer: 0, timedOut: false };
    mine.timer = setTimeout(() => {
      mine.timedOut = true;
      controller.abort();
    }, TIMEOUT_MS);
    current = mine;
    clearError();
    result.setAttribute('aria-busy', 'true');
    setStatus(`Looking up ${what}…`);

    let resp;
    let body = null;
    try {
      resp = await fetch(`/weather?${params.toString()}`, {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
        signal: controller.signal,
      });
      try {
        body = await resp.json();
      } catch (e) {
        if (controller.signal.aborted) throw e;
        body = null;
      }
    } catch (e) {
      if (current !== mine) return; // replaced by a newer request
      current = null;
      clearTimeout(mine.timer);
      if (mine.timedOut) {
        showError('tempo took too long to answer',
          `No answer within ${TIMEOUT_MS / 1000} seconds.`, 'Try again in a moment.');
      } else {
        showError('Cannot reach the tempo gateway',
          'The gateway did not answer: it may be stopped, or the network is down.',
          'Check that tempo is running, then try again.');
      }
      return;
    }
    if (current !== mine) return;
    current = null;
    clearTimeout(mine.timer);
    if (resp.ok && render(body)) return;
    if (body && typeof body.error === 'object' && body.error &&
        typeof body.error.message === 'string') {
      showApiError(resp, body.error);
      return;
    }
    showError(`Unexpected answer (HTTP ${resp.status})`,
      'The gateway answered with something that is not a tempo reply.',
      resp.headers.get('X-Request-Id') ? `request id ${resp.headers.get('X-Request-Id')}` : null);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    const city = cityInput.value.trim();
    const country = countryInput.value.trim();
    params.set('city', city);
    if (country !== '') params.set('country', country);
    ask(params, city !== '' ? city : 'that city');
  });

  const GEO_ERRORS = new Map([
    [1, 'The browser did not allow tempo to know your location. Allow it for this page, or type a city.'],
    [2, 'The browser could not find your location. Type a city instead.'],
    [3, 'Finding your location took too long. Try again, or type a city.'],
  ]);

  locateButton.addEventListener('click', () => {
    clearError();
    if (!('geolocation' in navigator)) {
      showError('Location is not available', 'This browser cannot share its location. Type a city instead.');
      return;
    }
    if (!window.isSecureContext) {
      showError('Location is not available',
        'Browsers share the location only with secure pages (https:// or localhost). Type a city instead.');
      return;
    }
    setStatus('Asking the browser for your location…');
    navigator.geolocation.getCurrentPosition((pos) => {
      // Four decimals (about 10 m) is plenty for the weather.
      const params = new URLSearchParams({
        lat: pos.coords.latitude.toFixed(4),
        lon: pos.coords.longitude.toFixed(4),
      });
      ask(params, 'your location');
    }, (err) => {
      showError('Cannot use your location', GEO_ERRORS.get(err.code) || 'The browser could not tell tempo where you are.');
    }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 });
  });
}());
