-- Loads the PercepNet VST3 plugin in Ardour, headless, and checks it the way a user's session
-- would use it. Run by tests/ardour_vst3.rs and scripts/ardour_vst3_check.sh:
--
--   ardour7-lua tests/ardour/vst3_check.lua WORKDIR
--
-- WORKDIR must exist; the session is created in WORKDIR/session (which must not exist yet).
-- The environment must already be prepared (the runners do it):
--   * VST3_PATH names a folder holding the percepnet.vst3 bundle, and Ardour's VST3 cache
--     for it is fresh (run `/usr/lib/ardour7/ardour-vst3-scanner -f BUNDLE` first: headless
--     Ardour only loads cached plugin descriptions, it never scans by itself);
--   * tests/ardour/dsp/*.lua are installed in $XDG_CONFIG_HOME/ardour7/scripts/ (the test
--     signal source and the capture processors used below).
--
-- Each route is: PercepNet Test Source -> PercepNet Test Capture (input) -> PercepNet (VST3)
-- -> PercepNet Test Capture (output). The captures record with the engine's absolute sample
-- clock, so output and input line up exactly whatever the host's scheduling.
--
-- Steps, on a mono and a stereo bus at once (48 kHz, Ardour's "None (Dummy)" backend):
--   1. default parameters, a voiced test signal with noise: output finite, peak and RMS;
--   2. default parameters, impulses: how far the output is from a plain delay (a control);
--   3. attenuation limit 0 dB (and post-filter 0.35): PercepNet must be an exact delay; the
--      delay of every impulse is measured against the latency the plugin reports;
--   4. the session is saved (the plugin's own state is decoded from the session file), closed
--      and loaded again: the routes, the plugin and its parameter values must come back;
--   5. step 3's measurement again on the reloaded session.
--
-- Everything the caller checks is printed on lines that start with "RESULT ", as
-- space-separated key=value pairs; the last one is "RESULT done=1". The script measures and
-- reports; the Rust test (tests/ardour_vst3.rs) decides what passes.

local SESSION_NAME = "percepnet_check"
local PLUGIN_NAME = "PercepNet"
local SOURCE_NAME = "PercepNet Test Source"
local CAPTURE_NAME = "PercepNet Test Capture"
local RATE = 48000
-- Impulse period of the test source in samples (must exceed the plugin's latency).
local PERIOD = 24000
-- Seconds recorded per take, and seconds at the start of a take left out of the analysis
-- (parameter smoothing, the plugin's latency, the previous signal draining out).
local TAKE_SECONDS = 3.0
local SETTLE_SECONDS = 0.5
-- Wall-clock limit for one take (the engine may run slower than real time on a busy machine).
local TAKE_TIMEOUT_SECONDS = 60
-- Values set before saving the session, expected back after reloading it.
local LIMIT_DB = 0.0
local POST_FILTER = 0.35

-- The routes under test: a mono and a stereo bus.
local LAYOUTS = {
	{ name = "mono", channels = 1 },
	{ name = "stereo", channels = 2 },
}

local function result (fields)
	print("RESULT " .. fields)
end

-- A token without spaces for the key=value lines.
local function token (s)
	return (tostring(s):gsub("%s", "_"))
end

local function fmt (x)
	return string.format("%.6g", x)
end

local workdir = arg and arg[1]
if not workdir or workdir == "" then
	result("error=usage_vst3_check.lua_WORKDIR")
	error("usage: ardour7-lua vst3_check.lua WORKDIR")
end
local session_dir = workdir .. "/session"

---------------------------------------------------------------------------------------------
-- Plugin discovery and route setup

-- The PluginInfo of the PercepNet VST3 (preferably the one under $VST3_PATH) or nil, and the
-- number of PercepNet VST3 plugins Ardour knows.
local function find_plugin ()
	local wanted = os.getenv("VST3_PATH")
	local found, count = nil, 0
	for info in ARDOUR.LuaAPI.list_plugins():iter() do
		if info.name == PLUGIN_NAME and info.type == ARDOUR.PluginType.VST3 then
			count = count + 1
			if not found or (wanted and info.path:sub(1, #wanted) == wanted) then
				found = info
			end
		end
	end
	return found, count
end

-- Control-parameter indices (as used by LuaAPI.set_processor_param) by parameter name.
local function parameter_indices (proc)
	local plugin = proc:to_insert():plugin(0)
	local indices, names = {}, {}
	local n = 0
	for j = 0, plugin:parameter_count() - 1 do
		if plugin:parameter_is_control(j) then
			if plugin:parameter_is_input(j) then
				local label = plugin:parameter_label(j)
				indices[label] = n
				names[#names + 1] = label
			end
			n = n + 1
		end
	end
	return indices, names
end

local function new_luaproc (name)
	local proc = ARDOUR.LuaAPI.new_luaproc(Session, name)
	if proc:isnil() then
		error("Lua DSP script '" .. name .. "' not found: install tests/ardour/dsp/*.lua in "
			.. "$XDG_CONFIG_HOME/ardour7/scripts/")
	end
	return proc
end

-- Adds a bus with source -> capture -> PercepNet -> capture; returns a table describing it.
local function add_route (layout, plugin_info)
	local route_name = "PercepNet " .. layout.name
	local routes = Session:new_audio_route(layout.channels, layout.channels, nil, 1, route_name,
		ARDOUR.PresentationInfo.Flag.AudioBus, ARDOUR.PresentationInfo.max_order)
	if routes:empty() then
		error("could not create the " .. layout.name .. " bus")
	end
	local route = routes:front()
	-- Strict I/O: the plugin gets as many outputs as the route has inputs (PercepNet's
	-- default VST3 bus is stereo; on a mono bus Ardour feeds and reads its first channel).
	route:set_strict_io(true)

	local plugin = ARDOUR.LuaAPI.new_plugin(Session, plugin_info.unique_id,
		ARDOUR.PluginType.VST3, "")
	local instantiated = not plugin:isnil()
	if not instantiated then
		result("insert layout=" .. layout.name .. " instantiated=0")
		error("could not instantiate " .. PLUGIN_NAME)
	end
	local source = new_luaproc(SOURCE_NAME)
	local capture_in = new_luaproc(CAPTURE_NAME)
	local capture_out = new_luaproc(CAPTURE_NAME)
	for i, proc in ipairs({ source, capture_in, plugin, capture_out }) do
		if route:add_processor_by_index(proc, i - 1, nil, true) ~= 0 then
			error("could not add processor " .. i .. " to " .. route_name)
		end
	end
	return { layout = layout, route = route, plugin = plugin, source = source,
		capture_in = capture_in, capture_out = capture_out }
end

-- Finds the processors of a route added by add_route (after a session reload).
local function find_route (layout)
	local route_name = "PercepNet " .. layout.name
	local route = Session:route_by_name(route_name)
	if route:isnil() then
		return nil
	end
	local procs = {}
	local i = 0
	while true do
		local proc = route:nth_plugin(i)
		if proc:isnil() then break end
		procs[#procs + 1] = proc
		i = i + 1
	end
	if #procs ~= 4 or procs[3]:name() ~= PLUGIN_NAME then
		return nil
	end
	return { layout = layout, route = route, source = procs[1], capture_in = procs[2],
		plugin = procs[3], capture_out = procs[4] }
end

local function describe_route (r, prefix)
	local insert = r.plugin:to_insert()
	result(string.format("%s layout=%s channels=%d instantiated=1 name=%s in=%d out=%d "
		.. "natural_in=%d natural_out=%d latency=%d active=%d path=%s",
		prefix, r.layout.name, r.layout.channels, token(r.plugin:name()),
		insert:input_streams():n_audio(), insert:output_streams():n_audio(),
		insert:natural_input_streams():n_audio(), insert:natural_output_streams():n_audio(),
		insert:signal_latency(), r.plugin:active() and 1 or 0,
		token(insert:plugin(0):get_info().path)))
	local order = {}
	local i = 0
	while true do
		local proc = r.route:nth_plugin(i)
		if proc:isnil() then break end
		order[#order + 1] = token(proc:name())
		i = i + 1
	end
	result(string.format("chain layout=%s order=%s", r.layout.name, table.concat(order, ",")))
end

local function print_parameters (r, prefix)
	local indices, names = parameter_indices(r.plugin)
	for _, name in ipairs(names) do
		local index = indices[name]
		local _, _, desc = ARDOUR.LuaAPI.plugin_automation(r.plugin, index)
		result(string.format("%s layout=%s index=%d name=%s value=%s min=%s max=%s default=%s",
			prefix, r.layout.name, index, token(name),
			fmt(ARDOUR.LuaAPI.get_processor_param(r.plugin, index, true)),
			fmt(desc.lower), fmt(desc.upper), fmt(desc.normal)))
	end
end

local function set_parameter (r, name, value)
	local indices = parameter_indices(r.plugin)
	local index = indices[name]
	local ok = index ~= nil and ARDOUR.LuaAPI.set_processor_param(r.plugin, index, value)
	result(string.format("set layout=%s name=%s value=%s ok=%d", r.layout.name, token(name),
		fmt(value), ok and 1 or 0))
	return ok
end

local function get_parameter (r, name)
	local index = parameter_indices(r.plugin)[name]
	if index == nil then
		return nil
	end
	return ARDOUR.LuaAPI.get_processor_param(r.plugin, index, true)
end

---------------------------------------------------------------------------------------------
-- Recording

local next_take = 0

local function shmem (proc)
	return proc:to_insert():plugin(0):to_luaproc():shmem()
end

local function set_source_signal (r, signal)
	ARDOUR.LuaAPI.set_processor_param(r.source, 0, signal)
	ARDOUR.LuaAPI.set_processor_param(r.source, 1, PERIOD)
end

-- A finished capture: { start = absolute time of sample 1, n = samples, channels = ...,
-- data = { [c] = 1-based float array } }.
local function read_capture (proc)
	local shm = shmem(proc)
	local header = shm:to_int(0):array()
	local capacity = header[5]
	local capture = { start = header[2], n = header[3], channels = header[4], data = {} }
	for c = 1, capture.channels do
		capture.data[c] = shm:to_float(8 + (c - 1) * capacity):array()
	end
	return capture
end

-- Records one take on the input and output captures of every route; returns, per route,
-- { input = capture, output = capture }, or nil on timeout.
local function record_take (routes)
	next_take = next_take + 1
	local length = math.floor(TAKE_SECONDS * RATE)
	for _, r in ipairs(routes) do
		for _, proc in ipairs({ r.capture_in, r.capture_out }) do
			ARDOUR.LuaAPI.set_processor_param(proc, 1, length)
			ARDOUR.LuaAPI.set_processor_param(proc, 0, next_take)
		end
	end
	local started = ARDOUR.LuaAPI.monotonic_time()
	while true do
		local done = true
		for _, r in ipairs(routes) do
			for _, proc in ipairs({ r.capture_in, r.capture_out }) do
				local header = shmem(proc):to_int(0):array()
				if header[1] ~= 2 or header[6] ~= next_take then
					done = false
				end
			end
		end
		if done then break end
		if ARDOUR.LuaAPI.monotonic_time() - started > TAKE_TIMEOUT_SECONDS * 1e6 then
			result("error=take_timeout take=" .. next_take)
			return nil
		end
		sleep(0.05)
	end
	local takes = {}
	for i, r in ipairs(routes) do
		takes[i] = { input = read_capture(r.capture_in), output = read_capture(r.capture_out) }
	end
	return takes
end

---------------------------------------------------------------------------------------------
-- Analysis

local function is_finite (x)
	return x == x and x ~= math.huge and x ~= -math.huge
end

-- Sample of `capture`, channel c, at absolute time t (nil outside the capture).
local function at (capture, c, t)
	local i = t - capture.start
	if i < 0 or i >= capture.n then
		return nil
	end
	return capture.data[c][i + 1]
end

-- First absolute time of a take that is analysed.
local function analysis_start (take)
	return math.max(take.input.start, take.output.start) + math.floor(SETTLE_SECONDS * RATE)
end

-- Level statistics of the output (finite over the whole take; peak and RMS after settling),
-- and of the input over the same span shifted back by `latency`.
local function analyse_signal (prefix, r, take, latency)
	for c = 1, r.layout.channels do
		local finite = 1
		for i = 1, take.output.n do
			if not is_finite(take.output.data[c][i]) then
				finite = 0
			end
		end
		local t0 = analysis_start(take)
		local t1 = take.output.start + take.output.n
		local peak, out_energy, in_energy, count = 0.0, 0.0, 0.0, 0
		for t = t0, t1 - 1 do
			local y = at(take.output, c, t)
			local x = at(take.input, c, t - latency) or 0.0
			if is_finite(y) then
				peak = math.max(peak, math.abs(y))
				out_energy = out_energy + y * y
			end
			in_energy = in_energy + x * x
			count = count + 1
		end
		count = math.max(count, 1)
		result(string.format("%s layout=%s ch=%d samples=%d analysed=%d finite=%d peak=%s rms=%s "
			.. "in_rms=%s", prefix, r.layout.name, c, take.output.n, count, finite, fmt(peak),
			fmt(math.sqrt(out_energy / count)), fmt(math.sqrt(in_energy / count))))
	end
end

-- Impulse response: finds the output impulses (channel c carries input impulses of amplitude
-- 1/c) and their delays from the input impulses, and the largest deviation of the output from
-- the input delayed by `latency` (the reported latency): 0 when the plugin is an exact delay.
local function analyse_impulses (prefix, r, take, latency)
	for c = 1, r.layout.channels do
		local amplitude = 1.0 / c
		local t0 = analysis_start(take)
		local t1 = take.output.start + take.output.n
		-- Input impulses anywhere in the input take, output peaks after settling.
		local inputs = {}
		for i = 1, take.input.n do
			if math.abs(take.input.data[c][i]) > 0.5 * amplitude then
				inputs[#inputs + 1] = take.input.start + i - 1
			end
		end
		local count, delay_min, delay_max, peak, max_abs = 0, math.huge, -math.huge, 0.0, 0.0
		local finite = 1
		for t = t0, t1 - 1 do
			local y = at(take.output, c, t)
			if not is_finite(y) then
				finite = 0
			else
				max_abs = math.max(max_abs, math.abs(y))
			end
			if is_finite(y) and math.abs(y) > 0.25 * amplitude then
				-- The delay from the latest input impulse at or before t.
				local source = nil
				for _, ti in ipairs(inputs) do
					if ti <= t then source = ti end
				end
				if source then
					local d = t - source
					count = count + 1
					delay_min = math.min(delay_min, d)
					delay_max = math.max(delay_max, d)
					peak = math.max(peak, math.abs(y))
				end
			end
		end
		local residual, compared = 0.0, 0
		for t = t0, t1 - 1 do
			local y = at(take.output, c, t)
			local x = at(take.input, c, t - latency)
			if y and x and is_finite(y) then
				residual = math.max(residual, math.abs(y - x))
				compared = compared + 1
			end
		end
		if count == 0 then
			delay_min, delay_max = -1, -1
		end
		result(string.format("%s layout=%s ch=%d count=%d delay_min=%d delay_max=%d amplitude=%s "
			.. "peak=%s max_abs=%s latency=%d residual=%s compared=%d finite=%d", prefix,
			r.layout.name, c, count, delay_min, delay_max, fmt(amplitude), fmt(peak),
			fmt(max_abs), latency, fmt(residual), compared, finite))
	end
end

---------------------------------------------------------------------------------------------
-- Saved state

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64_decode (s)
	local out, bits, nbits = {}, 0, 0
	for ch in s:gmatch("[%w%+/]") do
		bits = ((bits << 6) | (B64:find(ch, 1, true) - 1)) & 0xffffff
		nbits = nbits + 6
		if nbits >= 8 then
			nbits = nbits - 8
			out[#out + 1] = string.char((bits >> nbits) & 0xff)
		end
	end
	return table.concat(out)
end

-- Reads the plugin's own state (the VST3 component state Ardour stores base64-encoded in a
-- <chunk> element) back from the saved session file, per route.
local function report_saved_chunks (path)
	local file = io.open(path, "r")
	if not file then
		result("error=cannot_read_session_file")
		return
	end
	local xml = file:read("a")
	file:close()
	for _, layout in ipairs(LAYOUTS) do
		local route_name = "PercepNet " .. layout.name
		local route_at = xml:find('<Route [^>]-name="' .. route_name .. '"')
		local found, limit, post = 0, "nan", "nan"
		if route_at then
			local next_route = xml:find("<Route ", route_at + 1) or #xml
			local chunk_at, _, chunk = xml:find("<chunk>([^<]*)</chunk>", route_at)
			if chunk_at and chunk_at < next_route then
				local state = base64_decode(chunk)
				found = 1
				limit = state:match('"attenuation_limit"%s*:%s*{%s*"f32"%s*:%s*([-%d%.eE+]+)') or "nan"
				post = state:match('"post_filter"%s*:%s*{%s*"f32"%s*:%s*([-%d%.eE+]+)') or "nan"
			end
		end
		result(string.format("chunk layout=%s found=%d attenuation_limit=%s post_filter=%s",
			layout.name, found, limit, post))
	end
end

---------------------------------------------------------------------------------------------
-- The check

local function main ()
	if not create_session(session_dir, SESSION_NAME, RATE) then
		result("session created=0")
		error("could not create the session in " .. session_dir)
	end
	result(string.format("session created=1 rate=%d block=%d", Session:nominal_sample_rate(),
		Session:get_block_size()))

	-- (Ardour's plugin list is only usable once a session exists: listing it before
	-- crashes ardour7-lua.)
	local info, count = find_plugin()
	if not info then
		result("plugin found=0")
		error(PLUGIN_NAME .. " VST3 is not in Ardour's plugin list: is VST3_PATH set and the "
			.. "cache fresh (run ardour-vst3-scanner -f on the bundle)?")
	end
	result(string.format("plugin found=1 count=%d name=%s uid=%s path=%s", count,
		token(info.name), info.unique_id, token(info.path)))

	local routes = {}
	for _, layout in ipairs(LAYOUTS) do
		routes[#routes + 1] = add_route(layout, info)
	end
	for _, r in ipairs(routes) do
		describe_route(r, "insert")
		print_parameters(r, "param")
	end

	-- 1. Default parameters on a voiced test signal with noise.
	for _, r in ipairs(routes) do
		set_source_signal(r, 2)
	end
	local takes = record_take(routes)
	if not takes then error("take timed out") end
	for i, r in ipairs(routes) do
		analyse_signal("signal", r, takes[i], r.plugin:to_insert():signal_latency())
	end

	-- 2. Impulses at the default parameters: the denoiser is not a plain delay there (this is
	-- the control for step 3, which shows the parameter change reaching the plugin).
	for _, r in ipairs(routes) do
		set_source_signal(r, 1)
	end
	takes = record_take(routes)
	if not takes then error("take timed out") end
	for i, r in ipairs(routes) do
		analyse_impulses("impulse_default", r, takes[i], r.plugin:to_insert():signal_latency())
	end

	-- 3. Attenuation limit 0 dB: PercepNet is an exact delay; measure it with impulses.
	for _, r in ipairs(routes) do
		set_parameter(r, "Attenuation Limit", LIMIT_DB)
		set_parameter(r, "Post-Filter", POST_FILTER)
	end
	takes = record_take(routes)
	if not takes then error("take timed out") end
	for i, r in ipairs(routes) do
		analyse_impulses("impulse", r, takes[i], r.plugin:to_insert():signal_latency())
	end

	-- 4. Save, close and reload the session; the parameters must come back.
	local saved = Session:save_state("", false, false, false, false, false)
	local session_file = session_dir .. "/" .. SESSION_NAME .. ".ardour"
	result(string.format("saved ok=%d", saved == 0 and 1 or 0))
	report_saved_chunks(session_file)
	routes = nil
	takes = nil
	collectgarbage()
	close_session()
	if not load_session(session_dir, SESSION_NAME) then
		result("reload ok=0")
		error("could not reload the session")
	end
	result("reload ok=1")
	routes = {}
	for _, layout in ipairs(LAYOUTS) do
		local r = find_route(layout)
		if not r then
			result("reload layout=" .. layout.name .. " found=0")
			error("route or plugin missing after reload: PercepNet " .. layout.name)
		end
		routes[#routes + 1] = r
		describe_route(r, "reload")
		result(string.format("reload_state layout=%s found=1 attenuation_limit=%s post_filter=%s",
			layout.name, fmt(get_parameter(r, "Attenuation Limit")),
			fmt(get_parameter(r, "Post-Filter"))))
		print_parameters(r, "reload_param")
	end

	-- 5. The restored plugin must still be an exact delay (its limit is still 0 dB).
	for _, r in ipairs(routes) do
		set_source_signal(r, 1)
	end
	takes = record_take(routes)
	if not takes then error("take timed out") end
	for i, r in ipairs(routes) do
		analyse_impulses("impulse_reload", r, takes[i], r.plugin:to_insert():signal_latency())
	end
end

local ok, err = pcall(main)
if not ok then
	result("error=" .. token(err))
	error(err)
end
result("done=1")
