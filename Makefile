# Developer and CI entry points. Odoo 18.0 itself is a prerequisite (see README).
#   make setup                    Debian packages, PostgreSQL, Python packages, OCA wheels
#   make demo [DB=..] [PORT=..]   database with demo data, served on http://localhost:8069 (or PORT)
#   make box [DB=..] [PORT=..]    a box with a simulated till reader for that demo (while make demo runs)
#   make test                     every suite; closes with "N passed, N failed"
#   make lint                     ruff + pylint-odoo mandatory checks
#   make format                   let ruff fix import order and formatting
#   make pot                      export addons/*/i18n/<addon>.pot and merge into ru.po
#   make readme                   addons/*/README.rst from readme/*.md fragments

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# Each recipe runs as one bash script, so it can use variables and `if` over lines.
.ONESHELL:
.DEFAULT_GOAL := help

PYTHON ?= python3
DB ?= multipas_demo
PORT ?= 8069
# Installed with the addons though no manifest depends on them (see EXTRA_MODULES in
# tools/run_tests.py): the demo payment provider the parents' cabinet tops up with.
DEMO_EXTRA_MODULES := payment_demo
# Odoo runs from var/: `python -m` puts the current directory first on sys.path, and the
# repository root has folders (tools/, tests/) that must not shadow importable packages.
ODOO := cd var && $(PYTHON) -m odoo
LINT_DIRS := $(wildcard addons devices tests bench tools)
ADDON_DIRS := $(patsubst %/__manifest__.py,%,$(wildcard addons/*/__manifest__.py))

.PHONY: help setup demo box test lint format pot readme

help:
	@sed -n '2,9s/^# *//p' Makefile

setup:
	bash tools/setup.sh

test:
	$(PYTHON) tools/run_tests.py

# Runs every checker even when one fails, so one run shows everything to fix.
lint:
	@status=0
	echo "ruff check $(LINT_DIRS)"
	$(PYTHON) -m ruff check $(LINT_DIRS) || status=1
	echo "ruff format --check $(LINT_DIRS)"
	$(PYTHON) -m ruff format --check $(LINT_DIRS) || status=1
	$(PYTHON) tools/gen_addon_readme.py --check || status=1
	if [ -n "$(ADDON_DIRS)" ]; then
	    echo "pylint --rcfile=.pylintrc-mandatory $(ADDON_DIRS)"
	    $(PYTHON) -m pylint --rcfile=.pylintrc-mandatory $(ADDON_DIRS) || status=1
	fi
	exit $$status

format:
	$(PYTHON) -m ruff check --fix-only $(LINT_DIRS)
	$(PYTHON) -m ruff format $(LINT_DIRS)

# Idempotent: a new database gets base and every installable addon with demo data; an
# existing one is served as it is, after installing any addon it does not have yet.
demo:
	@mkdir -p var
	addons=$$($(PYTHON) tools/run_tests.py --list-addons)
	addons=$${addons:+$$addons,}$(DEMO_EXTRA_MODULES)
	addons_path=$$($(PYTHON) tools/run_tests.py --addons-path)
	if psql -d "$(DB)" -Atqc 'SELECT 1 FROM ir_module_module LIMIT 1' >/dev/null 2>&1; then
	    installed=$$(psql -d "$(DB)" -Atqc "SELECT name FROM ir_module_module WHERE state = 'installed'")
	    todo=
	    for addon in $${addons//,/ }; do
	        grep -qx "$$addon" <<<"$$installed" || todo=$$todo,$$addon
	    done
	    todo=$${todo#,}
	else
	    todo=base$${addons:+,$$addons}
	fi
	echo "make demo: database $(DB) on http://localhost:$(PORT)$${todo:+ (installing $$todo first)}"
	cd var
	# A new demo database speaks Russian, as the schools' people do (the demo
	# generator switches its logins to it when the language is loaded).
	exec $(PYTHON) -m odoo -d "$(DB)" --addons-path="$$addons_path" --db-filter='^$(DB)$$' \
	    --http-port=$(PORT) $${todo:+-i "$$todo" --load-language=ru_RU}

# The card-reader box of devices/ with a simulated till reader, talking to the demo
# served by `make demo` (run that first, in another terminal). tools/demo_box.py gives the
# demo canteen till a key and writes var/box/multipas-box.toml; the status page is
# http://127.0.0.1:8765/ and the taps show up in Odoo under Multipas › Devices.
box:
	$(PYTHON) tools/demo_box.py --db "$(DB)" --url "http://localhost:$(PORT)" --out "$(CURDIR)/var/box"
	cd devices/src
	exec $(PYTHON) -m multipas_box --foreground --config "$(CURDIR)/var/box/multipas-box.toml"

# Mechanics only: translating ru.po is someone else's work.
pot:
	@mkdir -p var
	addons=$$($(PYTHON) tools/run_tests.py --list-addons)
	if [ -z "$$addons" ]; then echo "make pot: no installable addon under addons/"; exit 0; fi
	addons_path=$$($(PYTHON) tools/run_tests.py --addons-path)
	root=$$(pwd)
	db=multipas_pot_$$$$
	data_dir=$$root/var/pot-data
	odoo_args=(-d "$$db" --addons-path="$$addons_path" --data-dir="$$data_dir" --log-level=warn)
	# The scratch database goes away whatever happens.
	trap '($(ODOO) db --data-dir="$$data_dir" drop "$$db" >/dev/null 2>&1 || true); rm -rf "$$data_dir"' EXIT
	echo "make pot: installing $$addons on scratch database $$db"
	# Without demo data: demo record names are not terms to translate.
	($(ODOO) "$${odoo_args[@]}" -i "$$addons" --without-demo=all --stop-after-init)
	for addon in $${addons//,/ }; do
	    i18n=$$root/addons/$$addon/i18n
	    mkdir -p "$$i18n"
	    ($(ODOO) "$${odoo_args[@]}" --i18n-export="$$i18n/$$addon.pot" --modules="$$addon")
	    if [ -f "$$i18n/ru.po" ]; then
	        msgmerge --quiet --update --no-fuzzy-matching --no-wrap --backup=none \
	            "$$i18n/ru.po" "$$i18n/$$addon.pot"
	    else
	        msginit --no-translator --no-wrap --locale=ru \
	            --input="$$i18n/$$addon.pot" --output-file="$$i18n/ru.po"
	    fi
	    echo "make pot: $$addon: i18n/$$addon.pot, i18n/ru.po"
	done

# addons/*/README.rst from their readme/*.md fragments (OCA layout).
readme:
	$(PYTHON) tools/gen_addon_readme.py
