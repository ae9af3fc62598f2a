#!/usr/bin/env python3
"""Writes a photo-like JPEG of about TARGET_MB megabytes (default 19): make_big_jpeg.py OUT [TARGET_MB]"""
import io
import sys

from PIL import Image, ImageFilter

out = sys.argv[1]
target = float(sys.argv[2]) if len(sys.argv) > 2 else 19.0
w, h = 6000, 4000
noise = Image.effect_noise((w, h), 90).convert("RGB")
grad = Image.linear_gradient("L").resize((w, h)).convert("RGB")
img = Image.blend(noise, grad, 0.35).filter(ImageFilter.SMOOTH)
lo, hi = 50, 100
best = None
while lo <= hi:
    q = (lo + hi) // 2
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    size = buf.tell() / 1e6
    if size <= target:
        best = buf.getvalue()
        lo = q + 1
    else:
        hi = q - 1
with open(out, "wb") as f:
    f.write(best)
print(f"{out}: {len(best)/1e6:.1f} MB, {w}x{h}")
