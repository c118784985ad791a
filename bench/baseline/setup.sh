#!/usr/bin/env bash
# Installs the DuckDB baseline's one dependency, @duckdb/node-api (prebuilt binaries from
# the npm registry, nothing else downloaded), into bench/baseline/node_modules.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  echo "setup.sh: npm is missing (apt-get install nodejs npm)" >&2
  exit 1
fi
want=$(node -p "require('./package.json').dependencies['@duckdb/node-api']")
have=$(node -p "try { require('./node_modules/@duckdb/node-api/package.json').version } catch (e) { '' }")
if [[ "$have" != "$want" ]]; then
  npm install --no-audit --no-fund --no-save --loglevel=error "@duckdb/node-api@$want" >&2
fi
node -e "import('@duckdb/node-api').then(() => {}, (e) => { console.error(e.message); process.exit(1); })"
