# mdph_bridge — `make serve` runs the service, `make test` runs every check. Both set themselves up.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
# The pages' design system (@gouvfr/dsfr), copied from the locked npm package: no network at run time.
DSFR := node_modules/@gouvfr/dsfr/dist
ASSETS := mdph_bridge/web/static/dsfr
ASSETS_STAMP := $(ASSETS)/.built-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)
# The script that opens packages in the browser, bundled with the locked age and Ed25519 libraries.
BUNDLE := mdph_bridge/web/static/build/ouverture.json

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --constraint constraints.txt --editable '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create .venv and install the pinned dependencies

$(ASSETS_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(ASSETS) && mkdir -p $(ASSETS)/utility/icons
	cp -R $(DSFR)/dsfr.min.css $(DSFR)/dsfr.module.min.js $(DSFR)/fonts $(DSFR)/icons $(DSFR)/favicon $(ASSETS)/
	cp $(DSFR)/utility/icons/icons.min.css $(ASSETS)/utility/icons/
	touch $@

$(BUNDLE): $(ASSETS_STAMP) $(wildcard mdph_bridge/web/scripts/*.*js)
	node mdph_bridge/web/scripts/build.mjs

assets: $(ASSETS_STAMP) $(BUNDLE) ## Bundle the pages' design system (DSFR) and opening script from locked npm packages

PORT ?= 8000
serve: $(STAMP) $(ASSETS_STAMP) $(BUNDLE) ## Run web + worker + beat (embedded default: SQLite, local disk, demo 59 and 62); PORT=8001 for another port
	$(VENV)/bin/mdph-bridge serve --port $(PORT)

lint: $(STAMP) ## Check style with ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP) ## Check types with mypy (strict on domain/, services/ and schemas/)
	$(VENV)/bin/mypy

test: lint typecheck $(ASSETS_STAMP) $(BUNDLE) ## Lint, type-check, then unit, integration (PostgreSQL, Redis) and end-to-end (real worker) tests
	$(VENV)/bin/pytest

audit: $(STAMP) ## Scan the pinned dependencies for known vulnerabilities (pip-audit)
	$(VENV)/bin/python .ci/audit_dependencies.py

territoires: $(STAMP) $(ASSETS_STAMP) ## Rebuild the départements and postcodes file from the locked official data
	$(VENV)/bin/python scripts/build_territoires.py

LOCALE := mdph_bridge/client/locale/fr/LC_MESSAGES/mdph_bridge
locale: ## Compile the French of click's and argparse's messages (msgfmt, Debian package gettext)
	msgfmt --check --output-file=$(LOCALE).mo $(LOCALE).po

docs: $(STAMP) ## Regenerate docs/ERREURS.md from the error catalogue
	$(VENV)/bin/mdph-bridge error-codes > docs/ERREURS.md

lock: ## Re-pin every dependency after a change to pyproject.toml
	$(PYTHON) -m venv /tmp/mdph-lock && /tmp/mdph-lock/bin/pip install --quiet '.[dev]'
	/tmp/mdph-lock/bin/pip freeze --exclude-editable | grep -v '^mdph-bridge' > constraints.txt

.PHONY: help install assets serve lint typecheck test audit docs locale lock territoires
