-- bench/pipeline.lua - makes wrk send its requests in pipelined batches:
-- each write carries DEPTH copies of the request (default 16), and wrk
-- counts every response.
--
--   wrk -s bench/pipeline.lua http://127.0.0.1:PORT/plaintext -- 16

local batch

function init(args)
	local depth = tonumber(args[1]) or 16
	local one = wrk.format(nil, nil)
	batch = string.rep(one, depth)
end

function request()
	return batch
end
