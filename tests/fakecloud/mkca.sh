#!/bin/sh
# Creates a throw-away test CA and a server certificate signed by it, for the
# fake cloud's HTTPS listener.  Nothing here is ever trusted system-wide: the
# client is pointed at DIR/ca.pem (CLOUDROUTE_CA_BUNDLE, curl --cacert).
#   mkca.sh DIR [NAME_OR_IP...]
# writes DIR/ca.pem DIR/ca.key DIR/server.pem DIR/server.key.  The server
# certificate names localhost and 127.0.0.1 plus every extra argument (an
# IPv4/IPv6 address becomes an IP SAN, anything else a DNS SAN).
set -eu
[ $# -ge 1 ] || { echo "usage: mkca.sh DIR [NAME_OR_IP...]" >&2; exit 64; }
dir=$1; shift
mkdir -p "$dir"
umask 077

san="DNS:localhost,IP:127.0.0.1"
for n in "$@"; do
	case $n in
	*[!0-9.]*)
		case $n in
		*:*) san="$san,IP:$n" ;;	# IPv6
		*) san="$san,DNS:$n" ;;
		esac ;;
	*) san="$san,IP:$n" ;;
	esac
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 \
	-subj "/CN=cloudroute fakecloud test CA $$" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$dir/server.key" -out "$dir/server.csr" \
	-subj "/CN=localhost" 2>/dev/null

cat >"$dir/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san
EXT
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
	-CAcreateserial -out "$dir/server.pem" -days 2 \
	-extfile "$dir/server.ext" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
chmod 644 "$dir/ca.pem" "$dir/server.pem"
