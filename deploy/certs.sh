#!/usr/bin/env bash
# Test certificates for a secure local setup (docs/SECURITY.md): a CA, a certificate for the
# secure Kafka broker (in a PKCS12 keystore made with keytool, as Kafka reads it), one for
# the projector's HTTPS, and a second, unrelated CA that must NOT be trusted (the tests'
# "untrusted CA" case). Every certificate names localhost and 127.0.0.1.
#
#   deploy/certs.sh DIR     make them in DIR (kept when present: delete DIR to renew)
#
# Files in DIR: ca.pem ca.key; broker.keystore.p12 (password in keystore.password);
# projector.pem projector.key; other-ca.pem. Uses openssl and keytool (Debian's openssl and
# a JRE). For tests and trials only: a real deployment's certificates come from its own CA.
set -euo pipefail
dir=${1:?usage: deploy/certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
[[ -s ca.pem && -s broker.keystore.p12 && -s projector.pem && -s other-ca.pem ]] && exit 0
command -v openssl >/dev/null || { echo "certs.sh: openssl not found" >&2; exit 1; }
command -v keytool >/dev/null || { echo "certs.sh: keytool not found (a JRE)" >&2; exit 1; }
umask 077
days=825
san="subjectAltName=DNS:localhost,IP:127.0.0.1"

ca() { # ca NAME SUBJECT
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout "$1.key" -out "$1.pem" \
    -subj "$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
leaf() { # leaf NAME SUBJECT: a key and a certificate signed by ca
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
    -sha256 -out "$1.pem" -extfile <(printf '%s\nextendedKeyUsage=serverAuth\n' "$san") 2>/dev/null
  rm -f "$1.csr"
}

ca ca "/CN=evstore test CA"
ca other-ca "/CN=some other CA"
rm -f other-ca.key
leaf broker "/CN=localhost"
leaf projector "/CN=localhost"

# The broker's keystore: openssl bundles key and chain, keytool writes the store Kafka reads.
openssl rand -hex 16 >keystore.password
pw=$(cat keystore.password)
openssl pkcs12 -export -name broker -in broker.pem -inkey broker.key -certfile ca.pem \
  -out broker.bundle.p12 -passout "pass:$pw"
keytool -importkeystore -noprompt -srckeystore broker.bundle.p12 -srcstoretype PKCS12 \
  -srcstorepass "$pw" -destkeystore broker.keystore.p12 -deststoretype PKCS12 \
  -deststorepass "$pw" >/dev/null 2>&1
rm -f broker.bundle.p12 broker.key ca.srl
chmod 644 ca.pem other-ca.pem projector.pem
echo "certs.sh: CA, broker keystore and projector certificate in $dir"
