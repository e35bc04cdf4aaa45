-- SPDX-License-Identifier: Apache-2.0
-- wrk script: spreads requests over 100,000 user ids and the seed's seven endpoints, so both
-- versions get traffic in the share the router gives them. POSTs carry the user in a JSON body,
-- GETs in the query string, as the demo server expects.
--   wrk -t2 -c8 -d10s -s scripts/wrk-users.lua http://127.0.0.1:8080

local posts = {
  "/api/v2/recommend/personalized",
  "/api/v2/recommend/compare",
  "/api/v2/conversations/start",
  "/api/v2/conversations/s-%d/turn",
  "/api/v2/conversations/s-%d/close",
}
local gets = {
  "/api/v2/conversations/s-%d",
  "/api/v2/conversations",
}
local json_header = { ["Content-Type"] = "application/json" }

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

local n = 0
function request()
  n = n + 1
  -- A multiplicative step visits every id in a scattered order; threads start apart.
  local user = (n * 7919 + (thread_id or 0) * 15485863) % 100000
  local session = n % 1000
  if n % 4 == 0 then
    local path = string.format(gets[n % 8 == 0 and 1 or 2], session)
    return wrk.format("GET", path .. "?user_id=user-" .. user)
  end
  local path = string.format(posts[(n % #posts) + 1], session)
  return wrk.format("POST", path, json_header, '{"user_id": "user-' .. user .. '", "query": "wrk"}')
end
