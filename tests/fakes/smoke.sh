#!/usr/bin/env bash
# smoke.sh - black-box check of fake-upstream with curl: every endpoint,
# magic city, fault kind and control endpoint once.
# Usage: tests/fakes/smoke.sh path/to/fake-upstream
set -u

BIN=${1:?usage: smoke.sh path/to/fake-upstream}
OUT=$(mktemp)
fails=0
pid=

cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    rm -f "$OUT" "$OUT.body"
}
trap cleanup EXIT

"$BIN" --port 0 --slow-ms 300 --token-ttl-s 2 >"$OUT" &
pid=$!
for _ in $(seq 1 50); do
    grep -q '^READY ' "$OUT" && break
    sleep 0.1
done
port=$(awk '/^READY/ {print $2}' "$OUT")
[ -n "$port" ] || { echo "FAIL: no READY line"; exit 1; }
B="http://127.0.0.1:$port"
K="appid=test-key&units=metric"

# check NAME STATUS SUBSTRING curl-args...: status and body substring.
check() {
    local name=$1 want=$2 sub=$3 got
    shift 3
    got=$(curl -s -o "$OUT.body" -w '%{http_code}' "$@")
    if [ "$got" != "$want" ] || ! grep -qF -- "$sub" "$OUT.body"; then
        echo "FAIL $name: status $got (want $want), body: $(head -c 300 "$OUT.body")"
        fails=$((fails + 1))
    else
        echo "ok   $name"
    fi
}
# header NAME HEADER-LINE curl-args...: a response header is present.
header() {
    local name=$1 want=$2
    shift 2
    if curl -s -D - -o /dev/null "$@" | tr -d '\r' | grep -qiF -- "$want"; then
        echo "ok   $name"
    else
        echo "FAIL $name: no '$want'"
        fails=$((fails + 1))
    fi
}
token() {
    curl -s -u test-id:test-secret -d grant_type=client_credentials "$B/api/token" |
        sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}

# OpenWeatherMap
check owm.london 200 '"temp":12.4,' "$B/data/2.5/weather?q=London&$K"
check owm.kelvin 200 '"temp":285.55,' "$B/data/2.5/weather?q=London&appid=test-key"
check owm.badkey 401 '"cod":401' "$B/data/2.5/weather?q=London&appid=x&units=metric"
check owm.nokey 401 'Invalid API key' "$B/data/2.5/weather?q=London&units=metric"
check owm.springfield 200 '"country":"US"' "$B/data/2.5/weather?q=Springfield&$K"
check owm.springfield.au 200 '"temp":25.0,' "$B/data/2.5/weather?q=Springfield,AU&$K"
check owm.wrong.country 404 '"cod":"404"' "$B/data/2.5/weather?q=London,FR&$K"
check owm.temp 200 '"temp":30.01,' "$B/data/2.5/weather?q=Temp30.01&$K"
check owm.temp.neg 200 '"temp":-5.0,' "$B/data/2.5/weather?q=temp-5&$K"
check owm.hash 200 '"name":"London&appid=x"' "$B/data/2.5/weather?q=London%26appid%3Dx&$K"
check owm.coords.known 200 '"name":"Oslo"' "$B/data/2.5/weather?lat=59.91&lon=10.75&$K"
check owm.coords.other 200 '"temp":20.0,' "$B/data/2.5/weather?lat=40&lon=10&$K"
check owm.badlat 400 'wrong latitude' "$B/data/2.5/weather?lat=91&lon=0&$K"
check owm.badlon 400 'wrong longitude' "$B/data/2.5/weather?lat=1&lon=abc&$K"
check owm.nothing 400 'Nothing to geocode' "$B/data/2.5/weather?$K"
check owm.atlantis 404 'city not found' "$B/data/2.5/weather?q=atlantis&$K"
check owm.errorville 500 '"cod":500' "$B/data/2.5/weather?q=Errorville&$K"
check owm.garbage 200 '{"main": {"temp": ' "$B/data/2.5/weather?q=Garbage&$K"
check owm.wrongtype 200 '"temp":"hot"' "$B/data/2.5/weather?q=Wrongtype&$K"
check owm.ratelimit 429 '"cod":429' "$B/data/2.5/weather?q=Ratelimit&$K"
header owm.ratelimit.header 'Retry-After: 1' "$B/data/2.5/weather?q=Ratelimit&$K"
check owm.slowville 200 '"temp":18.0,' "$B/data/2.5/weather?q=Slowville&$K"
check owm.post 405 '"cod":405' -X POST "$B/data/2.5/weather?q=London&$K"

# Open-Meteo
check geo.london 200 '"country_code":"GB"' "$B/v1/search?name=London&count=1&language=en&format=json"
check geo.springfield.au 200 '"latitude":-27.68' "$B/v1/search?name=Springfield&count=1&countryCode=AU"
check geo.temp 200 '"latitude":60.02' "$B/v1/search?name=Temp30.01&count=1"
check geo.atlantis 200 '{"generationtime_ms":0.2}' "$B/v1/search?name=Atlantis&count=1"
check geo.errorville 500 '"error":true' "$B/v1/search?name=Errorville&count=1"
check geo.garbage 200 '"latitude": ' "$B/v1/search?name=Garbage&count=1"
check geo.wrongtype 200 '"latitude":"51.5085"' "$B/v1/search?name=Wrongtype&count=1"
check geo.ratelimit 429 '"error":true' "$B/v1/search?name=Ratelimit&count=1"
check geo.noname 400 "Parameter 'name' is required" "$B/v1/search?count=1"
check fc.london 200 '"temperature_2m":12.4}' "$B/v1/forecast?latitude=51.5085&longitude=-0.1257&current=temperature_2m"
check fc.temp 200 '"temperature_2m":30.01}' "$B/v1/forecast?latitude=60.02&longitude=0&current=temperature_2m"
check fc.badlat 400 'Latitude must be in range of -90 to 90' "$B/v1/forecast?latitude=100&longitude=0&current=temperature_2m"
check fc.missing 400 "Parameter 'longitude' is required" "$B/v1/forecast?latitude=1&current=temperature_2m"

# Spotify
check tok.ok 200 '"token_type":"Bearer","expires_in":2' -u test-id:test-secret -d grant_type=client_credentials "$B/api/token"
check tok.badclient 400 '"error":"invalid_client"' -u test-id:nope -d grant_type=client_credentials "$B/api/token"
check tok.nogrant 400 'unsupported_grant_type' -u test-id:test-secret -d x=y "$B/api/token"
T=$(token)
A="Authorization: Bearer $T"
check search.ok 200 '"name":"Rock Song 3"' -H "$A" "$B/v1/search?q=genre:rock&type=track&limit=2&offset=2"
check search.ids 200 '"uri":"spotify:track:' -H "$A" "$B/v1/search?q=genre:rock&type=track&limit=10"
check search.notoken 401 '"status":401' "$B/v1/search?q=genre:rock&type=track&limit=2"
check search.badtoken 401 'Invalid access token' -H "Authorization: Bearer nope" "$B/v1/search?q=genre:rock&type=track"
check search.limit 400 'Invalid limit' -H "$A" "$B/v1/search?q=genre:rock&type=track&limit=11"
check search.offset 400 'Invalid offset' -H "$A" "$B/v1/search?q=genre:rock&type=track&limit=1&offset=1001"
curl -s -X POST "$B/_fake/expire-tokens" >/dev/null
check search.expired 401 'The access token expired' -H "$A" "$B/v1/search?q=genre:rock&type=track"
T=$(token)
sleep 2.1
check search.ttl 401 'The access token expired' -H "Authorization: Bearer $T" "$B/v1/search?q=genre:rock&type=track"
A="Authorization: Bearer $(token)"

# Faults and control
curl -s -X POST "$B/_fake/reset" >/dev/null
check fault.add 200 '"faults_pending":2' -X POST "$B/_fake/fault?path=/data/2.5/weather&status=503&count=2"
check fault.hit1 503 '"cod":503' "$B/data/2.5/weather?q=London&$K"
check fault.hit2 503 '"cod":503' "$B/data/2.5/weather?q=London&$K"
check fault.gone 200 '"temp":12.4' "$B/data/2.5/weather?q=London&$K"
curl -s -X POST "$B/_fake/fault?path=/v1/search(spotify)&status=429&retry_after=3" >/dev/null
check fault.label.other 200 '"results"' "$B/v1/search?name=London"
header fault.retry 'Retry-After: 3' -H "$A" "$B/v1/search?q=genre:pop&type=track"
curl -s -X POST "$B/_fake/fault?path=/api/token&body=garbage" >/dev/null
check fault.garbage 200 '{"access_token": "BQ' -u test-id:test-secret -d grant_type=client_credentials "$B/api/token"
curl -s -X POST "$B/_fake/fault?path=/v1/forecast&body=wrongtype" >/dev/null
check fault.wrongtype 200 '"temperature_2m":"warm"' "$B/v1/forecast?latitude=1&longitude=1&current=temperature_2m"
curl -s -X POST "$B/_fake/fault?path=/v1/search&status=500&count=2" >/dev/null
check fault.fifo.geo 500 '"reason":"Internal error"' "$B/v1/search?name=London"
check fault.fifo.spotify 500 '"status":500' -H "$A" "$B/v1/search?q=genre:pop&type=track"
curl -s -X POST "$B/_fake/fault?path=/data/2.5/weather&status=502&body=empty" >/dev/null
header fault.empty 'Content-Length: 0' "$B/data/2.5/weather?q=London&$K"
curl -s -X POST "$B/_fake/fault?path=/data/2.5/weather&delay_ms=200" >/dev/null
t=$(curl -s -o /dev/null -w '%{time_total}' "$B/data/2.5/weather?q=London&$K")
if awk "BEGIN {exit !($t >= 0.19)}"; then echo "ok   fault.delay"; else
    echo "FAIL fault.delay: $t s"; fails=$((fails + 1)); fi
check fault.bad 400 '"error"' -X POST "$B/_fake/fault?path=/x&status=42"
check latency.set 200 '"latency_ms":150' -X POST "$B/_fake/latency?ms=150"
t=$(curl -s -o /dev/null -w '%{time_total}' "$B/data/2.5/weather?q=London&$K")
if awk "BEGIN {exit !($t >= 0.14)}"; then echo "ok   latency.applied"; else
    echo "FAIL latency.applied: $t s"; fails=$((fails + 1)); fi
check requests 200 '"/v1/search(spotify)":2' "$B/_fake/requests"
check requests.last 200 '"/data/2.5/weather":"q=London&appid=test-key&units=metric"' "$B/_fake/requests"
check reset 200 '"ok":true' -X POST "$B/_fake/reset"
check requests.zero 200 '{"total":0,"paths":{},"last":{},"traceparent":{},"times":{},"faults_pending":0,"fault_windows":0,"latency_ms":0}' "$B/_fake/requests"

# Genre totals, realistic items, fault windows, arrival times (tokens live
# 2 s here: a fresh one per group)
A="Authorization: Bearer $(token)"
check search.total 200 '"total":1000,' -H "$A" "$B/v1/search?q=genre:pop&type=track&limit=1"
check search.markets 200 '"available_markets":["AR","AU",' -H "$A" "$B/v1/search?q=genre:pop&type=track&limit=1"
check genre.set 200 '"total":13' -X POST "$B/_fake/spotify?genre=Pop&total=13"
check genre.total 200 '"total":13,' -H "$A" "$B/v1/search?q=genre:pop&type=track&limit=1"
check genre.end 200 '"items":[]' -H "$A" "$B/v1/search?q=genre:pop&type=track&limit=10&offset=20"
check genre.other 200 '"total":1000,' -H "$A" "$B/v1/search?q=genre:rock&type=track&limit=1"
check genre.bad 400 '"error"' -X POST "$B/_fake/spotify?genre=pop&total=x"
A="Authorization: Bearer $(token)"
check window.add 200 '"faults_pending":0' -X POST "$B/_fake/fault?path=/v1/search(spotify)&status=429&retry_after=2&duration_ms=400"
check window.hit1 429 'API rate limit exceeded' -H "$A" "$B/v1/search?q=genre:rock&type=track"
check window.hit2 429 'API rate limit exceeded' -H "$A" "$B/v1/search?q=genre:rock&type=track"
check window.open 200 '"fault_windows":1' "$B/_fake/requests"
sleep 0.5
A="Authorization: Bearer $(token)"
check window.over 200 '"name":"Rock Song 0"' -H "$A" "$B/v1/search?q=genre:rock&type=track&limit=1"
check window.closed 200 '"fault_windows":0' "$B/_fake/requests"
check window.both 400 'not both' -X POST "$B/_fake/fault?path=/x&status=500&count=1&duration_ms=5"
check times 200 '"/v1/search(spotify)":[' "$B/_fake/requests"
check reset.total 200 '"ok":true' -X POST "$B/_fake/reset"
A="Authorization: Bearer $(token)"
check genre.reset 200 '"total":1000,' -H "$A" "$B/v1/search?q=genre:pop&type=track&limit=1"
check unknown 404 '"status":404' "$B/nope"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
if [ "$rc" -ne 0 ]; then echo "FAIL exit status $rc after SIGTERM"; fails=$((fails + 1)); fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
