// Runs one of this folder's SQL baselines in DuckDB (@duckdb/node-api, installed by
// setup.sh) over a JSON-lines file and writes its rows, one a line, columns joined by a
// space.
//   node duckdb_query.mjs QUERY.sql EVENTS.jsonl OUT [THREADS]
// Prints on stderr the rows and the time of the query (reading the JSON included,
// starting DuckDB and node not).
import { readFileSync, writeFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const [query, events, out, threads] = process.argv.slice(2);
if (!query || !events || !out) {
  console.error('usage: node duckdb_query.mjs QUERY.sql EVENTS.jsonl OUT [THREADS]');
  process.exit(2);
}
const literal = `'${events.replaceAll("'", "''")}'`;
const sql = readFileSync(query, 'utf8').replaceAll(':events_file', literal);

const instance = await DuckDBInstance.create(':memory:', threads ? { threads } : {});
const connection = await instance.connect();
const version = (await connection.runAndReadAll('SELECT version()')).getRows()[0][0];
const used = (await connection.runAndReadAll("SELECT current_setting('threads')")).getRows()[0][0];
const began = performance.now();
const rows = (await connection.runAndReadAll(sql)).getRows();
const secs = (performance.now() - began) / 1000;
writeFileSync(out, rows.map((r) => `${r.join(' ')}\n`).join(''));
console.error(`duckdb_query: ${rows.length} rows; ${secs.toFixed(3)} s ` +
              `(DuckDB ${version}, ${used} threads)`);
connection.closeSync();
