#!/usr/bin/env bash
# tls-certs.sh - makes a throw-away PKI for TLS tests with openssl, at run
# time (no key is ever committed):
#
#   scripts/tls-certs.sh DIR
#
#   DIR/ca.pem                 a test CA (the one to put in AMQP_CA_FILE)
#   DIR/server.pem, .key       the broker's certificate, signed by ca.pem,
#                              valid for the DNS name "localhost" only (so
#                              amqps://127.0.0.1 must fail the host check)
#   DIR/client.pem, .key       a client certificate signed by ca.pem,
#                              subject CN=tempo-test-client (mutual TLS)
#   DIR/other-ca.pem           an unrelated CA (an untrusted one)
#   DIR/other-client.pem, .key a client certificate signed by other-ca.pem
#
# EC P-256 keys, 2 days of validity.  Takes well under a second.
set -euo pipefail

dir=${1:?usage: tls-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
command -v openssl >/dev/null || { echo "tls-certs.sh: openssl is not installed" >&2; exit 1; }

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# ca NAME CN
ca() {
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# leaf NAME CN CA EXT...
leaf() {
    local name=$1 cn=$2 signer=$3
    shift 3
    key "$name.key"
    openssl req -new -key "$name.key" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "$@" >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA "$signer.pem" -CAkey "$signer.key" \
        -CAcreateserial -out "$name.pem" -days 2 -extfile "$name.ext" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
}

ca ca "tempo test CA"
ca other-ca "some other CA"
leaf server localhost ca "subjectAltName=DNS:localhost" "extendedKeyUsage=serverAuth"
leaf client tempo-test-client ca "extendedKeyUsage=clientAuth"
leaf other-client tempo-test-client other-ca "extendedKeyUsage=clientAuth"
rm -f ./*.srl
# The broker (and tests running as other users) must read them; they
# protect nothing but this test run.
chmod 644 ./*.pem ./*.key
