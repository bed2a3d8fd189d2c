-- wrk script: one event per POST /publish, every event id unique across threads.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = (args[1] or "bench") .. "-" .. tid
  auth = "Bearer " .. (args[2] or "")
end

function request()
  counter = counter + 1
  local body = '{"topic":"single","event_id":"' .. prefix .. "-" .. counter .. '","payload":{"n":' .. counter .. '}}'
  return wrk.format("POST", "/publish", { ["Content-Type"] = "application/json", ["Authorization"] = auth }, body)
end
