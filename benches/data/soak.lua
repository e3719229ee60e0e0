-- wrk: the soak's mixed traffic, paced. Of every 10 requests 7 are searches (search/bench-queries.txt),
-- 2 are orders (a 3-line order of the demo canteen, or the offline payment of one it placed, so
-- the ledger grows) and 1 a report (progress or a breakdown of a demo scope). Each connection waits
-- SOAK_DELAY_MS between its answer and its next request, which fixes the rate.
-- Tokens: SOAK_BUYER (orders), SOAK_FINANCE (payments), SOAK_COORDINATOR (reports).
-- Non-ASCII bytes percent-encoded: wrk refuses a request whose URL has them.
local queries = {}
for line in io.lines("search/bench-queries.txt") do
  if line:sub(1, 1) ~= "#" and #line > 0 then
    queries[#queries + 1] = line:gsub("[^%w%+_=&%.%-]", function(c) return string.format("%%%02X", string.byte(c)) end)
  end
end
local buyer = "Bearer " .. os.getenv("SOAK_BUYER")
local finance = "Bearer " .. os.getenv("SOAK_FINANCE")
local coordinator = "Bearer " .. os.getenv("SOAK_COORDINATOR")
local pause = tonumber(os.getenv("SOAK_DELAY_MS") or "0")
-- 惠州's coordinator's own scopes (a coordinator sees those inside its region).
local reports = {
  "/api/v1/reports/progress?year=2021&scope_kind=donor&scope_id=441300",
  "/api/v1/reports/progress?year=2021&scope_kind=donor&scope_id=441302",
  "/api/v1/reports/breakdown?year=2021&scope_kind=donor&scope_id=441300&by=buyer_org",
  "/api/v1/reports/breakdown?year=2021&scope_kind=donor&scope_id=441300&by=recipient_county",
  "/api/v1/reports/progress?year=2021&scope_kind=donor&scope_id=441300&as_of=2021-09-30T16:00:00Z",
}
local line = '{"product_id":"prd_B%d","quantity":%d}'
local unpaid = {}
local n = 0

init = function(args)
  math.randomseed(2021 + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 1000)
end

delay = function()
  return pause
end

request = function()
  n = n + 1
  local k = math.random(1, 10)
  if k <= 7 then
    return wrk.format("GET", "/api/v1/search/products?" .. queries[math.random(1, #queries)], {})
  elseif k <= 9 then
    -- An order is paid two seconds or more after it was placed: `paid_at` has whole seconds, a
    -- payment may not be dated before its order, and `os.time()` reads the kernel's coarse clock,
    -- which may still say the last second a few milliseconds into the next (one refusal in 217,538
    -- requests when it waited one second).
    if #unpaid > 0 and unpaid[1][3] + 1 < os.time() and math.random(1, 2) == 1 then
      local o = table.remove(unpaid, 1)
      local body = string.format('{"amount_fen":%s,"reference":"SOAK-%s","paid_at":"%s"}', o[2], o[1],
        os.date("!%Y-%m-%dT%H:%M:%SZ"))
      return wrk.format("POST", "/api/v1/orders/" .. o[1] .. "/payments/offline",
        { ["Authorization"] = finance, ["Content-Type"] = "application/json" }, body)
    end
    local lines = {}
    for i = 1, 3 do
      lines[i] = string.format(line, math.random(1, 10000), math.random(1, 20))
    end
    local body = '{"lines":[' .. table.concat(lines, ",") ..
      '],"delivery":{"address":"广东省惠州市惠城区麦地路1号 食堂","contact_name":"王老师","phone":"0752-2222222"}}'
    return wrk.format("POST", "/api/v1/orders", { ["Authorization"] = buyer, ["Content-Type"] = "application/json" }, body)
  else
    return wrk.format("GET", reports[math.random(1, #reports)], { ["Authorization"] = coordinator })
  end
end

-- The first refusals of each thread go to SOAK_ERRORS (the script prints them), to say why.
local logged = 0
response = function(status, headers, body)
  if status >= 300 and logged < 5 and os.getenv("SOAK_ERRORS") then
    logged = logged + 1
    local f = io.open(os.getenv("SOAK_ERRORS"), "a")
    if f then f:write(status, " ", body:sub(1, 300), "\n"); f:close() end
  end
  -- A new order (nothing paid yet); a payment answers with its order too, paid.
  if status == 201 and #unpaid < 100 and not body:find('"paid_fen":[1-9]') then
    -- Keys come in alphabetical order: the order's own total follows its sub-orders' totals.
    local id = body:match('"id":"(ord_[^"]+)"')
    local total = nil
    for t in body:gmatch('"total_fen":(%d+)') do total = t end
    if id and total then unpaid[#unpaid + 1] = { id, total, os.time() } end
  end
end
