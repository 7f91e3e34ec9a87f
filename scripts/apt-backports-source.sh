#!/usr/bin/env bash
# Prints the apt source (deb822) for Debian bookworm-backports, derived from this machine's own
# configured Debian `bookworm` entry: the same URIs and the same keyring (Signed-By; also Trusted and
# Architectures when set), so a machine that uses its own Debian mirror or proxy keeps using it. It
# names no mirror itself.
#
#   scripts/apt-backports-source.sh [APT_DIR]     # APT_DIR: default /etc/apt
#
# Reads APT_DIR/sources.list and APT_DIR/sources.list.d/*.list (one-line format) and *.sources (deb822),
# as apt does (other file names are ignored). Of the enabled `deb` entries whose suites include
# `bookworm` and whose components include `main`, only a Debian archive counts (a third-party
# repository such as packages.microsoft.com also has a `bookworm main`): one signed by Debian's
# archive keyring (`Signed-By` names debian-archive-keyring), else one whose URI path ends in
# `/debian` (deb.debian.org, a mirror, or a proxy path to one). The first of the best kind is taken.
# Output and exit status:
#   0, the stanza on stdout   (write it to /etc/apt/sources.list.d/bookworm-backports.sources);
#   0, nothing on stdout      a bookworm-backports `deb` entry is already configured (a note on stderr);
#   1, a message on stderr    no such entry (or no sources at all): nothing to derive the entry from.
# DEBIAN_SUITE=<codename> derives <codename>-backports from <codename> instead of bookworm.
set -euo pipefail
DIR=${1:-/etc/apt}
SUITE=${DEBIAN_SUITE:-bookworm}

files=()
[ -f "$DIR/sources.list" ] && files+=("$DIR/sources.list")
for f in "$DIR"/sources.list.d/*; do
  case "$f" in *.list | *.sources) [ -f "$f" ] && files+=("$f") ;; esac
done
if [ ${#files[@]} -eq 0 ]; then
  echo "apt-backports-source: no apt sources in $DIR (sources.list, sources.list.d/*.list, *.sources)" >&2
  exit 1
fi

# POSIX awk (Debian's default is mawk).
exec awk -v suite="$SUITE" '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function has(list, word,   n, a, i) {
  n = split(list, a, /[ \t,]+/)
  for (i = 1; i <= n; i++) if (a[i] == word) return 1
  return 0
}
# 2: signed by the Debian archive keyring; 1: a URI path ending in /debian; 0: not a Debian archive.
function debian(uris, signed,   n, a, i) {
  if (signed ~ /debian-archive-keyring/) return 2
  n = split(uris, a, /[ \t\n]+/)
  for (i = 1; i <= n; i++) if (a[i] ~ /\/debian\/?$/) return 1
  return 0
}
function consider(types, uris, suites, comps, signed, trusted, arch, enabled,   score) {
  if (tolower(enabled) == "no" || !has(types, "deb")) return
  if (has(suites, suite "-backports") && debian(uris, signed) > 0) backports = 1
  if (!has(suites, suite) || !has(comps, "main")) return
  score = debian(uris, signed)
  if (score <= best) return
  best = score; found = 1; U = uris; K = signed; TR = trusted; AR = arch
}
function flush() {
  if (open) consider(S["types"], S["uris"], S["suites"], S["components"], S["signed-by"], S["trusted"], S["architectures"], S["enabled"])
  split("", S); open = 0; key = ""
}
FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
deb822 {
  if ($0 ~ /^#/) next
  if ($0 ~ /^[ \t]*$/) { flush(); next }
  if ($0 ~ /^[ \t]/) { if (key != "") S[key] = S[key] "\n" $0; next }   # continuation line (an inline key)
  i = index($0, ":")
  if (!i) next
  key = tolower(trim(substr($0, 1, i - 1))); S[key] = trim(substr($0, i + 1)); open = 1
  next
}
{
  line = $0; sub(/#.*/, "", line); line = trim(line)
  if (line == "") next
  type = line; sub(/[ \t].*/, "", type)
  rest = trim(substr(line, length(type) + 1)); opts = ""
  if (substr(rest, 1, 1) == "[") {
    j = index(rest, "]"); if (!j) next
    opts = substr(rest, 2, j - 2); rest = trim(substr(rest, j + 1))
  }
  n = split(rest, f, /[ \t]+/)
  if (n < 2) next
  comps = ""; for (i = 3; i <= n; i++) comps = comps " " f[i]
  signed = ""; trusted = ""; arch = ""
  m = split(opts, o, /[ \t]+/)
  for (i = 1; i <= m; i++) {
    if (o[i] ~ /^signed-by=/) { signed = substr(o[i], 11); gsub(/,/, " ", signed) }
    else if (o[i] ~ /^trusted=/) trusted = substr(o[i], 9)
    else if (o[i] ~ /^arch=/) { arch = substr(o[i], 6); gsub(/,/, " ", arch) }
  }
  consider(type, f[1], f[2], comps, signed, trusted, arch, "")
}
END {
  flush()
  if (backports) { print "apt-backports-source: a " suite "-backports entry is already configured" > "/dev/stderr"; exit 0 }
  if (!found) { print "apt-backports-source: no enabled Debian archive entry (deb.debian.org or a mirror: Signed-By debian-archive-keyring, or a URI ending in /debian) for " suite " main in the apt sources; add one, or the " suite "-backports entry by hand" > "/dev/stderr"; exit 1 }
  print "Types: deb"
  print "URIs: " U
  print "Suites: " suite "-backports"
  print "Components: main"
  if (AR != "") print "Architectures: " AR
  if (K ~ /^\n/) print "Signed-By:" K
  else if (K != "") print "Signed-By: " K
  if (TR != "") print "Trusted: " TR
}' "${files[@]}"
