-- batch100.lua - wrk: 100 track events per request (POST /v1/batch, Basic auth write key).
-- usage: wrk -t2 -c32 -d10s -s loadtest/batch100.lua http://127.0.0.1:8088
--        env SLUICE_WRITE_KEY (default "bench")
local key = os.getenv("SLUICE_WRITE_KEY") or "bench"
local function b64(s)
  local t = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  return ((s:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d?%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return t:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#s % 3 + 1])
end

local items = {}
for i = 1, 100 do
  items[i] = string.format('{"type":"track","userId":"user-%d","event":"Order Completed",' ..
    '"properties":{"revenue":%d.5,"currency":"EUR"},"timestamp":"2024-05-01T10:00:00.000Z"}', i, i)
end

wrk.method = "POST"
wrk.path = "/v1/batch"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. b64(key .. ":")
wrk.body = '{"batch":[' .. table.concat(items, ",") ..
  '],"context":{"library":{"name":"wrk","version":"1"}},"sentAt":"2024-05-01T10:00:00.000Z"}'

function done(summary, latency, requests)
  io.write(string.format("requests/s: %.0f, events/s: %.0f (non-2xx: %d)\n",
    summary.requests / (summary.duration / 1e6),
    100 * summary.requests / (summary.duration / 1e6), summary.errors.status))
end
