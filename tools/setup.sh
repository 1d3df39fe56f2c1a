#!/usr/bin/env bash
# Install everything Multipas needs around an existing Odoo 18.0 install:
# Debian packages, a running PostgreSQL with a superuser role for us, our Python
# packages and the OCA wheels. Idempotent and silent about what is already there,
# so a second run takes seconds. Never prompts (CI runs it with no stdin).
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# Root runs apt/pg commands directly; anyone else goes through sudo
# (non-interactive when there is no terminal to type a password into).
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    if [ -t 0 ]; then SUDO=(sudo); else SUDO=(sudo -n); fi
else
    die "not root and sudo is missing: run this script as root once."
fi

# --- Debian packages ---------------------------------------------------------
# postgresql: the database; chromium(+driver): Odoo browser tests and tours;
# libldap2-dev libsasl2-dev: build deps of python-ldap (Odoo requirement);
# swig libpcsclite-dev: build pyscard; pcscd vsmartcard-vpcd: the PC/SC daemon and
# the virtual smart-card reader driver used by devices/ tests;
# gettext: msgmerge/msginit for `make pot`; poppler-utils: pdftotext/pdftoppm to
# check PDF reports; wkhtmltopdf: Odoo's PDF renderer (Debian's build, unpatched Qt:
# no repeated header/footer, the reports do not rely on them); fonts-dejavu-core:
# the Cyrillic font the transfer act and issuance sheets print with.
APT_PACKAGES=(
    postgresql chromium chromium-driver
    libldap2-dev libsasl2-dev swig libpcsclite-dev
    pcscd vsmartcard-vpcd
    gettext poppler-utils
    wkhtmltopdf fonts-dejavu-core
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    # dpkg-query is instant; apt-get is only started when something is missing.
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    # `env` because sudo does not pass our environment through.
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}"
else
    log "Debian packages already installed"
fi

# --- PostgreSQL ----------------------------------------------------------------
# Containers and CI machines have no systemd: start the Debian cluster by hand,
# creating it first when the package was installed without one.
if ! pg_isready -q; then
    if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
        pg_version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
        [ -n "$pg_version" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql."
        log "creating PostgreSQL $pg_version cluster 'main'"
        "${SUDO[@]}" pg_createcluster "$pg_version" main
    fi
    # Start every cluster that is down (normally just "15 main").
    pg_lsclusters -h | awk '$4 == "down" { print $1, $2 }' | while read -r version name; do
        log "starting PostgreSQL cluster $version/$name"
        "${SUDO[@]}" pg_ctlcluster "$version" "$name" start
    done
    for _ in $(seq 1 30); do pg_isready -q && break; sleep 1; done
    pg_isready -q || die "PostgreSQL does not answer after starting; see /var/log/postgresql/."
fi

# Odoo connects over the local socket as the current OS user: that role must exist
# and be allowed to create databases (tests create and drop throw-away ones).
me=$(id -un)
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "${SUDO[@]}" -u postgres "$@"; fi
}
can_create=$(psql -d postgres -Atqc \
    'SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user' 2>/dev/null || true)
if [ "$can_create" != "t" ]; then
    if [ -z "$(as_postgres psql -Atqc "SELECT 1 FROM pg_roles WHERE rolname = '$me'")" ]; then
        log "creating PostgreSQL superuser role '$me'"
        as_postgres createuser --superuser "$me"
    else
        log "making PostgreSQL role '$me' a superuser"
        as_postgres psql -qc "ALTER ROLE \"$me\" SUPERUSER"
    fi
fi

# --- Odoo -------------------------------------------------------------------------
# Odoo itself is a prerequisite, not something we install. Check its release module,
# not a bare `import odoo`: the OCA wheels create site-packages/odoo/addons/, which
# alone would let `import odoo` succeed as an empty namespace package.
if ! "$PYTHON" -c 'import odoo.release as r; assert r.version_info[0] == 18' >/dev/null 2>&1; then
    die "Odoo 18.0 is not importable by $PYTHON: install it first as the README's prerequisites say (Odoo's source install, or use docker/)."
fi

# --- Python packages -------------------------------------------------------------
mkdir -p var
# Some sdists (pyscard, evdev) still build with setuptools' pkg_resources, gone
# in setuptools 82. PIP_CONSTRAINT also reaches pip's isolated build environments;
# setting it replaces the machine-wide constraint file, so list that one too.
printf 'setuptools<82\n' > var/pip-build-constraints.txt
PIP_CONSTRAINT="$REPO/var/pip-build-constraints.txt"
if [ -f /etc/xdg/pip/constraints.txt ]; then
    PIP_CONSTRAINT="$PIP_CONSTRAINT /etc/xdg/pip/constraints.txt"
fi
export PIP_CONSTRAINT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

log "pip install -r requirements.txt"
"$PYTHON" -m pip install -q -r requirements.txt

log "pip install --no-deps -r requirements-oca.txt"
"$PYTHON" -m pip install -q --no-deps -r requirements-oca.txt

log "done"
