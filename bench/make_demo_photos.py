#!/usr/bin/env python3
"""Regenerates assets/demo/*.jpg: ten procedural landscapes, so the demo photos are license-clean.

Usage: pip install pillow && python3 bench/make_demo_photos.py assets/demo
"""
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

TITLES = [
    "dawn-ridge", "harbour-dusk", "desert-noon", "violet-peaks", "green-valley",
    "winter-lake", "red-canyon", "night-sky", "foggy-hills", "island-sunset",
]


def lerp(a, b, t):
    return tuple(int(a[i] + (b[i] - a[i]) * t) for i in range(3))


def landscape(seed, w=1024, h=768):
    rnd = random.Random(seed)
    top = tuple(rnd.randint(0, 255) for _ in range(3))
    bottom = tuple(rnd.randint(120, 255) for _ in range(3))
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    for y in range(h):
        draw.line([(0, y), (w, y)], fill=lerp(top, bottom, y / h))
    sun = (rnd.randint(100, w - 100), rnd.randint(60, h // 2))
    r = rnd.randint(30, 80)
    draw.ellipse([sun[0] - r, sun[1] - r, sun[0] + r, sun[1] + r], fill=(255, 240, 200))
    for layer in range(4):
        base = h * (0.45 + 0.13 * layer)
        colour = lerp((40, 60, 90), (10, 30, 20), layer / 3)
        points = [(0, h)]
        x = 0
        while x <= w:
            points.append((x, base - rnd.randint(0, int(h * 0.18))))
            x += rnd.randint(40, 140)
        points += [(w, base), (w, h)]
        draw.polygon(points, fill=colour)
    return img.filter(ImageFilter.SMOOTH)


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "assets/demo")
    out.mkdir(parents=True, exist_ok=True)
    for i, title in enumerate(TITLES):
        landscape(i + 1).save(out / f"{i:02d}-{title}.jpg", quality=82, optimize=True)


if __name__ == "__main__":
    main()
