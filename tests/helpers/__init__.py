"""Shared test helpers, one module a job: tiny files in each benchmark's layout (bench, tables, videos),
stub encoders (encoders), trainer data, configs and kills (train), index tables (index), a live uvicorn
server (server), tiny random-weight scorer folders (scorers), a headless browser (browser) and the
one-line CLI refusal (cli). Fixtures live in tests/conftest.py; bench/ and scripts/ import these modules
as `tests.helpers.*` with the repository root on sys.path."""
