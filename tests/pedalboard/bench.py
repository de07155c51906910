#!/usr/bin/env python3
"""Time pedalboard (Spotify's JUCE-based host) rendering the peer-host
benchmark chain of `cargo xtask bench`: the VST3 probe playing a note every
1000 frames (key 36 + k % 48, velocity 1 + k % 127) into two VST3 gains,
offline at 48 kHz. Only the processing calls are timed (loading is not).

bench.py PROBE.vst3 GAIN.vst3 --block B --seconds S --runs N
Prints one JSON line: {"block": B, "seconds_audio": S, "render_s": median}.
"""
import argparse
import json
import statistics
import time

import pedalboard


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("probe")
    ap.add_argument("gain")
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    rate = 48000.0
    frames = int(a.seconds * rate)
    messages = [
        (bytes([0x90, 36 + k % 48, 1 + k % 127]), (k * 1000 + 0.25) / rate)
        for k in range(frames // 1000)
    ]
    times = []
    for _ in range(a.runs):
        probe = pedalboard.load_plugin(a.probe)
        board = pedalboard.Pedalboard(
            [pedalboard.load_plugin(a.gain), pedalboard.load_plugin(a.gain)]
        )
        start = time.perf_counter()
        audio = probe(
            messages,
            duration=frames / rate,
            sample_rate=rate,
            num_channels=2,
            buffer_size=a.block,
            reset=True,
        )
        out = board(audio, rate, buffer_size=a.block, reset=True)
        times.append(time.perf_counter() - start)
        assert out.shape[1] >= frames - a.block, out.shape
    print(json.dumps({
        "block": a.block,
        "seconds_audio": a.seconds,
        "render_s": statistics.median(times),
    }))


if __name__ == "__main__":
    main()
