ardour {
	["type"]    = "dsp",
	name        = "PercepNet Test Capture",
	category    = "Utility",
	license     = "GPL-3.0-or-later",
	author      = "percepnet tests",
	description = [[Capture for tests/ardour/vst3_check.lua: passes audio through unchanged and,
whenever "Take" changes to a new positive number, records "Length" samples of up to 2 channels
into its shared memory, with the engine's absolute time of the first recorded sample. Layout of
the shared memory: int [0] state (0 idle, 1 recording, 2 done), [1] absolute time of the first
recorded sample, [2] samples recorded, [3] channels, [4] capacity in samples per channel,
[5] take number; floats from index 8: channel c (0-based) at 8 + c * capacity.]]
}

local HEADER = 8
local MAX_CHANNELS = 2

function dsp_ioconfig ()
	return { { audio_in = -1, audio_out = -1 } }
end

function dsp_params ()
	return {
		{ ["type"] = "input", name = "Take", min = 0, max = 1000000, default = 0, integer = true },
		{ ["type"] = "input", name = "Length", min = 1, max = 240000, default = 96000, integer = true },
	}
end

local capacity = 0
local now = 0
local last_cycle_start = -1
local last_take = 0

function dsp_init (rate)
	capacity = math.floor(5 * rate)
	self:shmem():allocate(HEADER + MAX_CHANNELS * capacity)
	self:shmem():clear()
	self:shmem():atomic_set_int(4, capacity)
end

function dsp_run (ins, outs, n_samples)
	local cycle_start = Session:engine():processed_samples()
	if cycle_start ~= last_cycle_start then
		now = cycle_start
		last_cycle_start = cycle_start
	end

	for c = 1, #outs do
		if ins[c] ~= outs[c] then
			ARDOUR.DSP.copy_vector(outs[c], ins[c], n_samples)
		end
	end

	local shm = self:shmem()
	local ctrl = CtrlPorts:array()
	local take = math.floor(ctrl[1] + 0.5)
	local length = math.min(math.floor(ctrl[2] + 0.5), capacity)
	if take ~= last_take and take > 0 then
		shm:atomic_set_int(0, 0)
		shm:atomic_set_int(1, now)
		shm:atomic_set_int(2, 0)
		shm:atomic_set_int(3, math.min(#outs, MAX_CHANNELS))
		shm:atomic_set_int(5, take)
		shm:atomic_set_int(0, 1)
	end
	last_take = take

	if shm:atomic_get_int(0) == 1 then
		local written = shm:atomic_get_int(2)
		local n = math.min(n_samples, length - written)
		for c = 1, math.min(#outs, MAX_CHANNELS) do
			ARDOUR.DSP.copy_vector(shm:to_float(HEADER + (c - 1) * capacity + written), outs[c], n)
		end
		written = written + n
		shm:atomic_set_int(2, written)
		if written >= length then
			shm:atomic_set_int(0, 2)
		end
	end
	now = now + n_samples
end
