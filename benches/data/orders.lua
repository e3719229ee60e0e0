-- wrk: POST /api/v1/orders with three random lines over prd_B1 … prd_B10000.
-- The token comes from the environment (ORDERS_TOKEN).
math.randomseed(2021)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ORDERS_TOKEN")
local line = '{"product_id":"prd_B%d","quantity":%d}'
request = function()
  local lines = {}
  for i = 1, 3 do
    lines[i] = string.format(line, math.random(1, 10000), math.random(1, 20))
  end
  local body = '{"lines":[' .. table.concat(lines, ",") ..
    '],"delivery":{"address":"广东省惠州市惠城区麦地路1号 食堂","contact_name":"王老师","phone":"0752-2222222"}}'
  return wrk.format(nil, "/api/v1/orders", nil, body)
end
