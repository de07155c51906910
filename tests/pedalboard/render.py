#!/usr/bin/env python3
"""Render audio through a VST3 plugin with pedalboard (Spotify's JUCE-based
host), for comparison with stagerack. Used by tests/tests/vst3_pedalboard.rs.

Effect:      render.py PLUGIN --input IN.f32 --channels C --output OUT.f32 [--rate R] [--block B]
Instrument:  render.py PLUGIN --notes "FRAME:KEY:VEL,..." --frames N --output OUT.f32 [--rate R] [--block B]
Either may add --param NAME=NORMALIZED (repeatable).

Audio files are raw float32 little-endian, planar (all of channel 0, then
channel 1...). Prints one JSON line describing the plugin.
"""
import argparse
import json
import sys

import numpy as np
import pedalboard


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("plugin")
    ap.add_argument("--input")
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--notes")
    ap.add_argument("--frames", type=int)
    ap.add_argument("--output", required=True)
    ap.add_argument("--rate", type=float, default=48000.0)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--param", action="append", default=[],
                    help="NAME=NORMALIZED: set a parameter's normalized value first")
    a = ap.parse_args()

    plugin = pedalboard.load_plugin(a.plugin)
    for item in a.param:
        name, value = item.split("=")
        plugin.parameters[name].raw_value = float(value)
    if a.notes is not None:
        messages = []
        for item in filter(None, a.notes.split(",")):
            frame, key, vel = (int(x) for x in item.split(":"))
            # The middle of the frame, so rounding and truncation agree.
            messages.append((bytes([0x90, key, vel]), (frame + 0.25) / a.rate))
        out = plugin(
            messages,
            duration=a.frames / a.rate,
            sample_rate=a.rate,
            num_channels=2,
            buffer_size=a.block,
            reset=True,
        )
    else:
        raw = np.fromfile(a.input, dtype="<f4")
        x = raw.reshape(a.channels, -1)
        out = plugin.process(x, a.rate, buffer_size=a.block, reset=True)
    out = np.ascontiguousarray(out, dtype="<f4")
    out.tofile(a.output)
    info = {
        "name": plugin.name,
        "channels": int(out.shape[0]),
        "frames": int(out.shape[1]),
        "latency": int(getattr(plugin, "reported_latency_samples", 0) or 0),
    }
    print(json.dumps(info))


if __name__ == "__main__":
    sys.exit(main())
