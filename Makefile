# TracCron: `make demo` runs a demo Trac with the plugin, `make test` runs
# the whole test suite. Both create .venv first when it is missing.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO := demo
DEMO_PORT ?= 8000
DEMO_USER := admin
DEMO_PASSWORD := admin

.PHONY: demo test egg wheel bench clean

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 'setuptools<82' wheel
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

egg: $(VENV)/.installed
	rm -rf build dist/TracCronPlugin-*.egg
	$(PY) setup.py --quiet bdist_egg --dist-dir dist

# pip install dist/traccronplugin-*.whl brings Trac and setuptools<82.
wheel: $(VENV)/.installed
	rm -rf build dist/traccronplugin-*.whl
	$(PY) setup.py --quiet bdist_wheel --dist-dir dist

# Several workers: the integration tests spend most of their time waiting
# for real instants. -rsP lists skip reasons and the figures tests print.
# TESTFLAGS="-m 'not field'" leaves out the slow field tests (gunicorn,
# Apache mod_wsgi, stock installs).
TESTFLAGS ?=
test: $(VENV)/.installed
	$(PY) -m pytest -n 4 -p no:logging -rsP $(TESTFLAGS) tests

# Every bench/*.py is a benchmark except the helpers (bench/_*.py); the
# bench-only packages (APScheduler, SQLAlchemy, matplotlib) come first.
# Each benchmark takes --smoke (tests/test_bench_smoke.py runs them so).
bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -r bench/requirements.txt
	for b in bench/*.py; do \
	  case $$(basename $$b) in _*) continue;; esac; \
	  echo "== $$b"; $(PY) $$b || exit 1; \
	done

demo: egg
	@if [ ! -d $(DEMO) ]; then \
	  $(VENV)/bin/trac-admin $(DEMO) initenv "TracCron demo" sqlite:db/trac.db >/dev/null && \
	  $(VENV)/bin/trac-admin $(DEMO) permission add $(DEMO_USER) TRAC_ADMIN && \
	  $(PY) -c "import base64, hashlib, sys; print('$(DEMO_USER):{SHA}' + base64.b64encode(hashlib.sha1(b'$(DEMO_PASSWORD)').digest()).decode())" > $(DEMO)/htpasswd; \
	fi
	rm -f $(DEMO)/plugins/TracCronPlugin-*.egg
	cp dist/TracCronPlugin-*.egg $(DEMO)/plugins/
	$(VENV)/bin/trac-admin $(DEMO) upgrade --no-backup
	$(VENV)/bin/trac-admin $(DEMO) config set logging log_type file
	$(VENV)/bin/trac-admin $(DEMO) config set logging log_level DEBUG
	$(VENV)/bin/trac-admin $(DEMO) config set traccron ticker_enabled true
	$(VENV)/bin/trac-admin $(DEMO) config set traccron heart_beat.hourly "0, 15, 30, 45"
	$(VENV)/bin/trac-admin $(DEMO) config set traccron heart_beat.hourly.arg "every quarter of an hour"
	$(VENV)/bin/trac-admin $(DEMO) config set traccron heart_beat.daily "21h19, 21h20"
	$(VENV)/bin/trac-admin $(DEMO) config set traccron heart_beat.cron "0 * * * * ?"
	$(VENV)/bin/trac-admin $(DEMO) config set traccron heart_beat.cron.arg "every minute"
	$(VENV)/bin/trac-admin $(DEMO) config set traccron sleeping_ticket.daily "08h00"
	@echo
	@echo "TracCron demo: http://127.0.0.1:$(DEMO_PORT)/$(DEMO)  (log in as $(DEMO_USER) / $(DEMO_PASSWORD))"
	@echo "Admin panel:   http://127.0.0.1:$(DEMO_PORT)/$(DEMO)/admin/traccron"
	@echo "Log:           $(DEMO)/log/trac.log    Stop with Ctrl-C."
	@echo
	$(VENV)/bin/tracd --hostname 127.0.0.1 --port $(DEMO_PORT) \
	  --basic-auth="$(DEMO),$(DEMO)/htpasswd,TracCron" $(DEMO)

clean:
	rm -rf build dist *.egg-info $(DEMO)
