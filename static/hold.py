#!/usr/bin/env python3
"""Writes static/hold.wav: ten seconds of soft, looping arpeggios for callers
on hold (8 kHz, 16-bit mono PCM, which Twilio plays as is; about 160 kB).
Run from the repository root: python3 static/hold.py"""
import math
import struct
import wave

RATE = 8000
NOTE = 0.5  # seconds per note
# C major, A minor, F major, G major: four bars of four notes, then the first five again to end at home.
CHORDS = [(261.63, 329.63, 392.00, 523.25), (220.00, 261.63, 329.63, 440.00),
          (174.61, 220.00, 261.63, 349.23), (196.00, 246.94, 293.66, 392.00)]
notes = [f for chord in CHORDS for f in chord] + [261.63, 329.63, 392.00, 523.25]

samples = []
for freq in notes:
    for i in range(int(RATE * NOTE)):
        t = i / RATE
        envelope = min(1.0, t / 0.02) * math.exp(-3.0 * t)  # soft attack, bell-like decay
        tone = math.sin(2 * math.pi * freq * t) + 0.3 * math.sin(4 * math.pi * freq * t)
        samples.append(int(0.22 * 32767 * envelope * tone / 1.3))

with wave.open("static/hold.wav", "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(RATE)
    w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
