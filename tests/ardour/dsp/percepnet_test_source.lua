ardour {
	["type"]    = "dsp",
	name        = "PercepNet Test Source",
	category    = "Utility",
	license     = "GPL-3.0-or-later",
	author      = "percepnet tests",
	description = [[Test signal generator for tests/ardour/vst3_check.lua. It replaces its input
with a signal that is a function of the engine's absolute sample clock, so that a capture placed
anywhere later in the same route knows exactly what was sent and when:
  Signal 0: silence.
  Signal 1: impulses. Channel c (1-based) gets one sample of amplitude 1/c at every absolute
            time t with (t - (c - 1) * Period / 2) % Period == 0; every other sample is 0.
  Signal 2: a voiced, syllable-modulated harmonic tone (f0 150 Hz) plus white noise.]]
}

function dsp_ioconfig ()
	return { { audio_in = -1, audio_out = -1 } }
end

function dsp_params ()
	return {
		{ ["type"] = "input", name = "Signal", min = 0, max = 2, default = 0, integer = true },
		{ ["type"] = "input", name = "Period", min = 64, max = 192000, default = 24000, integer = true },
	}
end

local rate = 48000
-- Absolute time (engine samples) of the next sample this processor produces.
local now = 0
local last_cycle_start = -1
-- State of the white-noise generator (a 32-bit linear congruential generator).
local seed = 22222

function dsp_init (sample_rate)
	rate = sample_rate
	-- [1] number of dsp_run calls, [2] absolute time of the last call's first sample.
	self:shmem():allocate(2)
	self:shmem():clear()
end

-- Uniform white noise in [-1, 1).
local function noise ()
	seed = (seed * 1664525 + 1013904223) & 0xffffffff
	return seed / 2147483648.0 - 1.0
end

-- The voiced test signal at absolute time t.
local function voice (t)
	local s = t / rate
	local tone = 0.0
	for k = 1, 20 do
		tone = tone + math.sin(2 * math.pi * 150 * k * s) / k
	end
	-- Four "syllables" a second, with gaps between them.
	local envelope = math.max(0.0, math.sin(2 * math.pi * 2 * s)) ^ 2
	return 0.1 * envelope * tone + 0.02 * noise()
end

function dsp_run (ins, outs, n_samples)
	-- The engine's clock at the start of this process cycle; a cycle split into several
	-- calls keeps counting from the previous call.
	local cycle_start = Session:engine():processed_samples()
	if cycle_start ~= last_cycle_start then
		now = cycle_start
		last_cycle_start = cycle_start
	end
	local shm = self:shmem()
	shm:atomic_set_int(0, shm:atomic_get_int(0) + 1)
	shm:atomic_set_int(1, now)

	local ctrl = CtrlPorts:array()
	local signal = math.floor(ctrl[1] + 0.5)
	local period = math.floor(ctrl[2] + 0.5)
	for c = 1, #outs do
		ARDOUR.DSP.memset(outs[c], 0, n_samples)
		local out = outs[c]:array()
		if signal == 1 then
			local phase = ((c - 1) * (period // 2)) % period
			for i = 1, n_samples do
				if (now + i - 1 - phase) % period == 0 then
					out[i] = 1.0 / c
				end
			end
		elseif signal == 2 then
			for i = 1, n_samples do
				out[i] = voice(now + i - 1)
			end
		end
	end
	now = now + n_samples
end
