-- Baseline for issue 17: the whole membership history (every entry and exit, as in the
-- changelog) of bench/count_baseline_bench.sh's count-window segment,
--   count play where genre = documentary in 30d >= 5   (no consent block: granted)
-- from the JSON lines `segflow gen media` writes, evaluated through the largest ts.
-- duckdb_query.mjs replaces :events_file with the file's path as a string literal.
--
-- Spec §5/§6: an event counts from its ts up to, not including, ts + 30d; with no
-- duration, exit_on or cooldown a user is a member exactly while the count is >= 5, so
-- the history is the instants where (count >= 5) flips. The count changes only at event
-- instants (+1) and expiry instants (-1): a running sum of those per user gives it.
-- Late records do not occur in the bench's data (the script checks that Segflow saw none).
WITH events AS (
  SELECT user_id, event, genre,
         CASE WHEN contains(ts, 'T') OR contains(ts, 't') THEN epoch_ms(CAST(ts AS TIMESTAMPTZ))
              ELSE CAST(ts AS BIGINT) END AS ts
  FROM read_json(:events_file, format = 'newline_delimited',
                 columns = {user_id: 'VARCHAR', event: 'VARCHAR', ts: 'VARCHAR', genre: 'VARCHAR'})
),
horizon AS (SELECT max(ts) AS t FROM events),
matching AS (SELECT user_id, ts FROM events WHERE event = 'play' AND genre = 'documentary'),
deltas AS (
  SELECT user_id, ts AS t, 1 AS delta FROM matching
  UNION ALL
  SELECT user_id, ts + 2592000000 AS t, -1 AS delta FROM matching
),
per_instant AS (SELECT user_id, t, sum(delta) AS delta FROM deltas GROUP BY user_id, t),
counted AS (
  SELECT user_id, t,
         sum(delta) OVER (PARTITION BY user_id ORDER BY t ROWS UNBOUNDED PRECEDING) >= 5 AS member
  FROM per_instant
),
flips AS (
  SELECT user_id, t, member,
         lag(member, 1, false) OVER (PARTITION BY user_id ORDER BY t) AS before
  FROM counted
)
SELECT user_id, flips.t, CASE WHEN member THEN 'entered' ELSE 'exited' END AS change
FROM flips CROSS JOIN horizon h
WHERE member <> before AND flips.t <= h.t
ORDER BY user_id, flips.t;
