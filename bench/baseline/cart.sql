-- Baseline for the capacity bench (issue #7): the members of jobs/cart.yaml's
-- `cart_abandoned` as of the largest ts, from the JSON lines `segflow gen cart` writes.
-- duckdb_query.mjs replaces :events_file with the file's path as a string literal.
--
-- The segment: absence of a purchase within 30m after an add_to_cart, membership
-- duration 24h, exit on purchase, consent (consent.granted, default granted).
-- The spec's membership machine (segment-language.md §6) has a closed form here: with no
-- cooldown, a user enters at each instant r where c(t) = absence(t) and consent(t) turns
-- true and leaves when it turns false or at r + 24h (exit_on purchase adds nothing: a
-- purchase at t already makes the absence false at t). So a user is a member at T iff
-- c(T) and T < r + 24h, where r is the start of c's current run of truth:
--   * absence holds at T iff the first add_to_cart after the last purchase (strictly
--     after: a purchase at the same ms cancels it) is at or before T - 30m; its run
--     started at that add_to_cart + 30m;
--   * consent at T is the latest consent event's boolean `granted` (the last record of
--     an instant wins; non-boolean ones change nothing); its run started at the first
--     consent instant after the last denial, or never ended when there was no denial.
-- Late records do not occur in the bench's data (cart_loop refuses them).
WITH events AS (
  SELECT row_number() OVER () AS seq,  -- file order = log order within a user
         user_id,
         event,
         CASE WHEN contains(ts, 'T') OR contains(ts, 't') THEN epoch_ms(CAST(ts AS TIMESTAMPTZ))
              ELSE CAST(ts AS BIGINT) END AS ts,
         CASE WHEN json_type(granted) = 'BOOLEAN' THEN CAST(granted AS BOOLEAN) END AS granted
  FROM read_json(:events_file, format = 'newline_delimited',
                 columns = {user_id: 'VARCHAR', event: 'VARCHAR', ts: 'VARCHAR', granted: 'JSON'})
),
horizon AS (SELECT max(ts) AS t FROM events),
last_purchase AS (
  SELECT user_id, max(ts) AS p FROM events WHERE event = 'purchase' GROUP BY user_id
),
open_cart AS (  -- absence holds from `since` on, until a purchase
  SELECT e.user_id, min(e.ts) + 1800000 AS since
  FROM events e LEFT JOIN last_purchase lp USING (user_id)
  WHERE e.event = 'add_to_cart' AND (lp.p IS NULL OR e.ts > lp.p)
  GROUP BY e.user_id
),
consent_at AS (  -- consent after each consent instant of a user
  SELECT user_id, ts, arg_max(granted, seq) AS granted
  FROM events WHERE event = 'consent' AND granted IS NOT NULL
  GROUP BY user_id, ts
),
consent AS (
  SELECT user_id, arg_max(granted, ts) AS granted_now,
         max(ts) FILTER (WHERE NOT granted) AS last_denied
  FROM consent_at GROUP BY user_id
),
consent_since AS (  -- start of the current granted run after a denial
  SELECT c.user_id, min(a.ts) AS since
  FROM consent c JOIN consent_at a ON a.user_id = c.user_id AND a.ts > c.last_denied
  WHERE c.granted_now
  GROUP BY c.user_id
)
SELECT o.user_id
FROM open_cart o
CROSS JOIN horizon h
LEFT JOIN consent c ON c.user_id = o.user_id
LEFT JOIN consent_since cs ON cs.user_id = o.user_id
WHERE o.since <= h.t
  AND coalesce(c.granted_now, true)
  AND h.t < greatest(o.since, coalesce(cs.since, o.since)) + 86400000
ORDER BY o.user_id;
