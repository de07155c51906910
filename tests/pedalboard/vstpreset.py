#!/usr/bin/env python3
"""Save a VST3 plugin's state as a .vstpreset with pedalboard (Spotify's
JUCE-based host), for stagerack to load. Used by
tests/tests/vst3_pedalboard.rs.

vstpreset.py PLUGIN --set NAME=VALUE... --output FILE.vstpreset

NAME is pedalboard's parameter name, VALUE in the parameter's own units.
Prints one JSON line: every parameter's value as pedalboard shows it.
"""
import argparse
import json

import numpy as np
import pedalboard


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("plugin")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    plugin = pedalboard.load_plugin(a.plugin)
    for item in a.set:
        name, value = item.split("=", 1)
        setattr(plugin, name, float(value))
    # A DPF-built component learns parameter changes in process, as the
    # VST3 rules have it; its saved state holds them only after one.
    channels = getattr(plugin, "num_input_channels", None) or 1
    plugin.process(np.zeros((channels, 512), dtype=np.float32), 48000.0)
    with open(a.output, "wb") as f:
        f.write(plugin.preset_data)
    print(json.dumps({k: str(getattr(plugin, k)) for k in plugin.parameters}))


if __name__ == "__main__":
    main()
