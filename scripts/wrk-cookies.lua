-- SPDX-License-Identifier: Apache-2.0
-- wrk script: GET requests whose `uid` cookie walks over 100,000 user ids, so that routing sees
-- many users (scripts/nginx-overhead.sh).
local n = 0
function request()
  n = n + 1
  return wrk.format("GET", nil, { ["Cookie"] = "uid=user-" .. ((n * 7919) % 100000) })
end
